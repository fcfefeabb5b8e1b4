//! The path-routing parser (`classify` / `route`) on arbitrary request targets.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cxr_gate_fuzzing::fuzz_route(data));
