//! The headset network check: the proxy terminates a WebSocket itself (`/netcheck/ws`, never forwarded)
//! and measures the headset's link against CloudXR's network table — round trip, jitter, throughput
//! both ways. [`stats`] holds the pure statistics and verdicts, [`server`] the measuring protocol,
//! [`page`] the test page the headset opens.

pub mod page;
pub mod server;
pub mod stats;

pub use stats::{judge, NetCheckResult, Verdict};
