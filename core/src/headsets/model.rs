//! The headset book as the status carries it: one record per client IP, with its state as one
//! sentence and one action. Plain data that depends on nothing inside the crate but the plain
//! `session_end`, so the status can hold it without depending on the book.

use serde::{Deserialize, Serialize};

use crate::session_end::SessionEnd;

/// The last TLS handshake's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsOutcome {
    Trusted,
    /// The client ended the handshake with an alert about the certificate.
    Refused,
    /// Anything else: another alert, a protocol error, a timeout.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsResult {
    pub outcome: TlsOutcome,
    /// The alert received (`certificate_unknown`, `bad_certificate`, `unknown_ca`…) or why it failed.
    pub detail: Option<String>,
    pub at_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Pages {
    /// The trust page (`/`), last loaded.
    pub trust_page_ms: Option<u64>,
    /// `/app/`, last loaded.
    pub app_ms: Option<u64>,
    /// The last network check's overall verdict (`pass`, `marginal`, `fail`) and when.
    pub netcheck: Option<(u64, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastSession {
    pub ended_ms: u64,
    pub duration_ms: u64,
    /// Who ended it and how: the sender of the first WebSocket Close frame, else the side whose
    /// connection ended or failed, else the gate's reason.
    pub end: SessionEnd,
    /// The runtime was UP when it ended (a session the runtime ended while healthy points at media).
    pub runtime_up: bool,
}

/// The state chip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HeadsetState {
    #[default]
    Seen,
    Refused,
    Failed,
    PlainHttp,
    Trusted,
    Connected,
    Ended,
    ShortSessions,
}

impl HeadsetState {
    pub fn as_str(self) -> &'static str {
        match self {
            HeadsetState::Seen => "seen",
            HeadsetState::Refused => "refused",
            HeadsetState::Failed => "failed",
            HeadsetState::PlainHttp => "plain_http",
            HeadsetState::Trusted => "trusted",
            HeadsetState::Connected => "connected",
            HeadsetState::Ended => "ended",
            HeadsetState::ShortSessions => "short_sessions",
        }
    }
}

/// The one thing to do next, as the window offers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    #[default]
    None,
    /// Open this trust page on the headset and accept the certificate (the window shows its QR).
    AcceptCertificate { url: String },
    /// Open the web app (or the trust page with its link) on the headset and connect.
    OpenApp { url: String },
    /// Check the Ports & firewall card and the same-network checklist.
    CheckPorts,
    /// Type this https:// address instead.
    UseHttps { url: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Advice {
    pub state: HeadsetState,
    /// For the log: "refused the certificate (certificate_unknown)".
    pub summary: String,
    /// For the window: the whole sentence, naming the headset.
    pub sentence: String,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Headset {
    pub ip: String,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    /// From the last User-Agent; empty until one arrived (a refused handshake carries none).
    pub device: String,
    pub browser: String,
    pub chromium: Option<String>,
    /// An XR headset by its User-Agent.
    pub xr: bool,
    /// The address it reached the gate on (`192.168.1.10:48322`): links given to it use this.
    pub reached: String,
    pub tls: Option<TlsResult>,
    /// The certificate it last completed a handshake with (SHA-256, as `CertInfo` shows it) and when.
    pub trusted_fingerprint: Option<String>,
    pub trusted_ms: Option<u64>,
    pub pages: Pages,
    pub sessions_open: u32,
    pub sessions_total: u64,
    pub last_session: Option<LastSession>,
    /// Sessions in a row that the runtime or the network ended 20–45 s after opening while the
    /// runtime stayed UP.
    pub short_in_a_row: u32,
    /// When it last spoke plain HTTP to the TLS port.
    pub plain_http_ms: Option<u64>,
    pub advice: Advice,
}

impl Headset {
    /// "Quest 3 / 3S, Quest Browser 39.2", or "browser not known yet".
    pub fn label(&self) -> String {
        if self.device.is_empty() {
            "browser not known yet".into()
        } else {
            format!("{}, {}", self.device, self.browser)
        }
    }

    /// "Quest 3 / 3S (192.168.1.50)", or the IP alone.
    pub fn name(&self) -> String {
        if self.device.is_empty() || self.device == "Unknown device" {
            format!("The device at {}", self.ip)
        } else {
            format!("{} ({})", self.device, self.ip)
        }
    }
}

/// What `/health` may show: counts, never addresses or agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HeadsetCounts {
    /// Headsets in the book (at most its cap).
    pub seen: usize,
    /// Whose last handshake refused the certificate.
    pub refused: usize,
    /// With a session open now.
    pub connected: usize,
}

impl HeadsetCounts {
    pub fn of(list: &[Headset]) -> HeadsetCounts {
        HeadsetCounts {
            seen: list.len(),
            refused: list.iter().filter(|h| h.advice.state == HeadsetState::Refused).count(),
            connected: list.iter().filter(|h| h.sessions_open > 0).count(),
        }
    }
}
