//! The tunnel's WebSocket Close watcher (`proxy::wsclose`) on arbitrary session bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| cxr_gate_fuzzing::fuzz_ws_close(data));
