//! Know every headset: who reached the gate, what failed, and the one thing to do next.
//! `book` (the bounded record per client IP, fed by the proxy) → `advice` (state → sentence +
//! action) → `announce` (the log: one line per state change). `agent` parses User-Agents; `model`
//! is the plain data the status carries. Nothing here names the status: `proxy::headsets`
//! publishes the book into it, so the status can hold the model without a cycle.

pub mod advice;
pub mod agent;
pub mod announce;
#[cfg(test)]
mod bench;
pub mod book;
pub mod model;

use std::time::{SystemTime, UNIX_EPOCH};

pub use book::{Book, Handshake, Page, CAP};
pub use model::{Headset, HeadsetCounts, HeadsetState};

/// A Quest 3's Quest Browser, for the tests.
#[cfg(test)]
pub(crate) const QUEST_3_UA: &str = "Mozilla/5.0 (X11; Linux x86_64; Quest 3) AppleWebKit/537.36 (KHTML, like Gecko) \
                                     OculusBrowser/39.2.0.0.56.754450099 Chrome/136.0.7103.177 VR Safari/537.36";

/// Milliseconds since the Unix epoch (as the status counts time).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
