//! The routing allowlist matcher (`AllowedBackend::parse` / `allows`) on arbitrary entries and targets.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cxr_gate_fuzzing::fuzz_allowlist(data));
