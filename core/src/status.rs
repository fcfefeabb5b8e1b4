//! The one status snapshot the engine publishes on a `tokio::sync::watch` channel.
//! Every part of the engine writes its own field through [`StatusHub::update`]; the shells only read.

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

pub const LOG_LINES: usize = 200;
pub const RECENT_SESSIONS: usize = 50;

/// Milliseconds since the Unix epoch (what the UI and `/health` show as times).
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackendState {
    #[default]
    Unknown,
    Up,
    Down,
}

impl BackendState {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendState::Unknown => "unknown",
            BackendState::Up => "up",
            BackendState::Down => "down",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct BackendStatus {
    /// `host:port`
    pub addr: String,
    pub state: BackendState,
    /// When the state last changed (ms since epoch).
    pub since_ms: u64,
    /// The last failed check's reason, e.g. "connection refused" (cleared when the backend is UP).
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ListenerState {
    #[default]
    Starting,
    Listening,
    Failed,
    Stopped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ListenerStatus {
    pub state: ListenerState,
    /// The configured listen address, e.g. `0.0.0.0:48322`.
    pub addr: String,
    pub port: u16,
    /// Why it is not listening, e.g. "port 48322 is already in use by another program".
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CertOrigin {
    #[default]
    Generated,
    Custom,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CertInfo {
    pub origin: CertOrigin,
    /// SHA-256 of the leaf certificate's DER, upper-case hex pairs joined by ':'.
    pub fingerprint_sha256: String,
    /// Subject alternative names as text (`DNS:…` stripped: just names and IPs).
    pub sans: Vec<String>,
    pub not_before_ms: u64,
    pub not_after_ms: u64,
    /// Current LAN IPs (and configured names) the certificate does not cover.
    pub missing: Vec<String>,
    /// The fingerprint differs from the one served on the previous run: headsets must trust it again.
    pub changed_since_last_run: bool,
    /// Where the certificate lives on disk.
    pub cert_path: String,
    /// Why it was (re)generated on this run, if it was.
    pub regenerated_reason: Option<String>,
    /// The local CA that issued it (generated certificates only; `None` for a custom certificate).
    #[serde(default)]
    pub ca: Option<CaInfo>,
    /// Wanted names the CA's name constraints do not allow, so the certificate cannot cover them
    /// (a new CA made now would include them).
    #[serde(default)]
    pub outside_ca: Vec<String>,
    /// Something the user must hear about the certificate this run, e.g. the one-time switch to the
    /// local CA.
    #[serde(default)]
    pub notice: Option<String>,
    /// The files on disk are not the certificate in use and cannot be rewritten (why), while that
    /// lasts: the next start would not find it.
    #[serde(default)]
    pub unsaved: Option<String>,
}

/// The local certificate authority that signs the serving certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CaInfo {
    /// "CXR Gate CA on <host>", what trust dialogs show.
    pub common_name: String,
    pub fingerprint_sha256: String,
    pub not_before_ms: u64,
    pub not_after_ms: u64,
    /// Where `ca.pem` is on disk.
    pub cert_path: String,
    /// The serial number, lower-case hex (how Windows' certificate store finds it).
    pub serial_hex: String,
    /// What it may sign for (its name constraints): networks and DNS names.
    pub permitted: Vec<String>,
    /// Not the CA of the previous run: devices that installed the old one must install this one.
    pub changed_since_last_run: bool,
    /// Why `ca.pem`/`ca-key.pem` on disk are not this CA, while that lasts (a pair that does not
    /// match is rewritten from memory at the next check; a rewrite that failed stays here).
    #[serde(default)]
    pub damaged: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LanInterface {
    pub name: String,
    pub ip: String,
    /// Carries the default route.
    pub primary: bool,
    /// vEthernet/WSL/Hyper-V, VirtualBox, VMware, Docker, VPN/TAP/Tailscale/ZeroTier…
    pub virtual_adapter: bool,
    /// 169.254.0.0/16
    pub link_local: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PortState {
    #[default]
    Unknown,
    /// Something is listening / bound (what we want for the runtime's ports and ours).
    Open,
    /// Nothing is there.
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PortChecks {
    /// TCP 49100 (or the configured backend port): runtime accepting connections.
    pub signaling_port: u16,
    pub signaling: PortState,
    /// UDP 47998–48012: how many are bound (by the runtime).
    pub media_first: u16,
    pub media_last: u16,
    pub media_bound: u16,
    /// TCP 48322 (or the configured proxy port): bound by us.
    pub proxy_port: u16,
    pub proxy: PortState,
    pub proxy_error: Option<String>,
    pub checked_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SessionInfo {
    pub id: u64,
    /// `ip:port` of the headset.
    pub client: String,
    pub path: String,
    pub backend: String,
    pub started_ms: u64,
    /// Client → backend.
    pub bytes_up: u64,
    /// Backend → client.
    pub bytes_down: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct EndedSession {
    #[serde(flatten)]
    pub session: SessionInfo,
    pub ended_ms: u64,
    /// Why it ended, as text (`SessionEnd`'s): "closed by the headset: WebSocket Close 1001 going
    /// away", "closed by the gate: the headset read nothing for 1 min"…
    pub reason: String,
}

/// How loud a status log line is (serialized as `info` / `warn` / `error`, what the window styles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub ts_ms: u64,
    pub level: LogLevel,
    pub msg: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Status {
    pub version: String,
    pub started_ms: u64,
    pub listener: ListenerStatus,
    /// The configured backend.
    pub backend: BackendStatus,
    /// Path-routed backends in use (health-checked too).
    pub routed_backends: Vec<BackendStatus>,
    pub cert: Option<CertInfo>,
    /// Why no certificate could be made or loaded.
    pub cert_error: Option<String>,
    /// The local CA's files are damaged and no kept copy matches: nothing is served until they
    /// are put back or a new CA is made on purpose (`cert_error` says how). A new CA is never made
    /// on its own, since every device that installed this one would have to install it again.
    #[serde(default)]
    pub ca_lost: bool,
    pub lan: Vec<LanInterface>,
    pub ports: PortChecks,
    pub sessions: Vec<SessionInfo>,
    /// Newest first.
    pub recent_sessions: VecDeque<EndedSession>,
    /// Newest last, at most [`LOG_LINES`].
    pub log: VecDeque<LogLine>,
    /// Headset network checks, newest first (at most 20).
    pub netchecks: VecDeque<crate::netcheck::model::NetCheckResult>,
    /// The web app served at `/app/`.
    pub web_app: WebAppStatus,
    /// The headset book: every client that reached the gate, most recently seen first (at most
    /// `headsets::CAP`).
    #[serde(default)]
    pub headsets: Vec<crate::headsets::model::Headset>,
}

/// The web app served at `/app/` (`web_root`), and why it cannot be served, if it cannot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct WebAppStatus {
    /// The configured folder; `None` when no web app is configured.
    pub root: Option<String>,
    /// The query template links to `/app/` carry.
    pub query: String,
    /// Why `/app/` answers 503 now (folder gone, no `index.html`…).
    pub error: Option<String>,
}

impl Status {
    /// The primary LAN IPv4 (default route), else the first non-virtual one, else any.
    pub fn primary_ip(&self) -> Option<&str> {
        primary_of(&self.lan)
    }
}

/// The primary LAN IPv4 of `lan` (default route), else the first non-virtual one, else any.
pub fn primary_of(lan: &[LanInterface]) -> Option<&str> {
    lan.iter()
        .find(|i| i.primary)
        .or_else(|| lan.iter().find(|i| !i.virtual_adapter && !i.link_local))
        .or_else(|| lan.first())
        .map(|i| i.ip.as_str())
}

/// Owns the sender; cheap to clone; every engine part publishes through it.
#[derive(Clone)]
pub struct StatusHub {
    tx: watch::Sender<Status>,
}

impl StatusHub {
    pub fn new(initial: Status) -> Self {
        let (tx, _rx) = watch::channel(initial);
        Self { tx }
    }

    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.tx.subscribe()
    }

    pub fn snapshot(&self) -> Status {
        self.tx.borrow().clone()
    }

    /// Reads one part of the status without cloning the whole snapshot. `f` must not call
    /// [`StatusHub::update`] (the snapshot is locked for reading while it runs).
    pub fn read<T>(&self, f: impl FnOnce(&Status) -> T) -> T {
        f(&self.tx.borrow())
    }

    /// Changes the snapshot in place and wakes the receivers (even with none subscribed).
    pub fn update(&self, f: impl FnOnce(&mut Status)) {
        self.tx.send_modify(f);
    }

    /// Adds a line to the status log (and to `tracing`, by the caller).
    pub fn log(&self, level: LogLevel, msg: impl Into<String>) {
        let line = LogLine { ts_ms: now_ms(), level, msg: msg.into() };
        self.update(|s| {
            s.log.push_back(line);
            while s.log.len() > LOG_LINES {
                s.log.pop_front();
            }
        });
    }
}

/// Logs through `tracing` and into the status log in one call.
#[macro_export]
macro_rules! status_log {
    ($hub:expr, info, $($arg:tt)*) => {{ let m = format!($($arg)*); tracing::info!("{m}"); $hub.log($crate::status::LogLevel::Info, m); }};
    ($hub:expr, warn, $($arg:tt)*) => {{ let m = format!($($arg)*); tracing::warn!("{m}"); $hub.log($crate::status::LogLevel::Warn, m); }};
    ($hub:expr, error, $($arg:tt)*) => {{ let m = format!($($arg)*); tracing::error!("{m}"); $hub.log($crate::status::LogLevel::Error, m); }};
}
