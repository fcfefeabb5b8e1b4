//! The whole HTTP layer (head deadline, hyper, CORS, pages, upgrade validation, routing, tunnel
//! forward) fed arbitrary bytes as one client connection.
#![no_main]

use std::sync::OnceLock;

use cxr_gate_fuzzing::HttpHarness;
use libfuzzer_sys::fuzz_target;

// One engine per fuzzing process: starting it (certificate included) per input would dominate.
static HARNESS: OnceLock<HttpHarness> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    HARNESS.get_or_init(|| HttpHarness::new().expect("start the fuzzed gateway")).fuzz(data);
});
