//! The headset network check: the proxy terminates a WebSocket itself (`/netcheck/ws`, never forwarded)
//! and measures the headset's link against CloudXR's network table — round trip, jitter, throughput
//! both ways. [`model`] is what a check found (held by the status), [`stats`] the pure statistics
//! and verdicts, [`server`] the measuring protocol over an already upgraded WebSocket, [`page`] the
//! test page the headset opens. The HTTP side (answering the upgrade) is `proxy::netcheck`.

pub mod model;
pub mod page;
pub mod server;
pub mod stats;

pub use model::{NetCheckResult, Row, Verdict};
pub use stats::judge;
