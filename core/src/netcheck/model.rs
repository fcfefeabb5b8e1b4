//! What a network check found, as the status and the window carry it: the figures, one row per
//! CloudXR requirement with its verdict, and the overall verdict. Plain data with no dependencies
//! inside the crate, so the status can hold results without depending on the check itself.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Marginal,
    Fail,
    /// Not measurable here (loss over TCP, the Wi-Fi band) or no threshold (upstream).
    Info,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub metric: String,
    /// What was measured, as shown ("3.2 ms", "not measurable over TCP").
    pub value: String,
    pub recommended: String,
    pub minimum: String,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct NetCheckResult {
    /// `ip:port` of the headset.
    pub client: String,
    pub at_ms: u64,
    pub rtt_p50_ms: f64,
    pub rtt_p95_ms: f64,
    pub jitter_ms: f64,
    pub pings_sent: u32,
    pub pings_answered: u32,
    pub down_mbps: f64,
    pub up_mbps: f64,
    pub rows: Vec<Row>,
    pub overall: Option<Verdict>,
}
