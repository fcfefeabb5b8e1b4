//! The firewall between the headsets and CXR Gate: which inbound ports it needs (`rules`), the
//! Windows Firewall read through its COM API (`windows`, Windows only), the verdict per port for
//! the profile in effect (`evaluate`, pure) and the fix as a command line (`fix`, pure). Shared by
//! the desktop app (its Ports & firewall card and its elevated `firewall-fix` run) and the headless
//! binary (the verdict at start). `model` holds the data both sides agree on.

pub mod evaluate;
pub mod fix;
pub mod model;
#[cfg(test)]
mod tests;
#[cfg(windows)]
pub mod windows;

use serde::Serialize;

pub use evaluate::{evaluate, Context, PortReport, Report};
pub use fix::{FixArgsError, FixPlan};
pub use model::{FirewallState, Proto};

/// The ports in use (configured, so rules follow the settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub signaling: u16,
    pub media_first: u16,
    pub media_last: u16,
    pub proxy: u16,
}

/// One inbound port (or range) a headset must reach, and the name of the allow rule for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleSpec {
    /// The rule name (what NVIDIA's docs and our fix use).
    pub name: &'static str,
    pub proto: Proto,
    pub first: u16,
    pub last: u16,
    /// CXR Gate itself listens here (the proxy); else the CloudXR Runtime does.
    pub ours: bool,
}

impl RuleSpec {
    pub fn ports_text(&self) -> String {
        ports_text(self.first, self.last)
    }
}

/// `49100` or `47998-48012`: how rules, plans and reports write a port range.
pub fn ports_text(first: u16, last: u16) -> String {
    if first == last {
        first.to_string()
    } else {
        format!("{first}-{last}")
    }
}

pub const SIGNALING_RULE: &str = "CloudXR Signaling";
pub const MEDIA_RULE: &str = "CloudXR Media";
pub const PROXY_RULE: &str = "CloudXR wss:// Proxy";

pub fn rules(p: &Ports) -> Vec<RuleSpec> {
    vec![
        RuleSpec { name: SIGNALING_RULE, proto: Proto::Tcp, first: p.signaling, last: p.signaling, ours: false },
        RuleSpec { name: MEDIA_RULE, proto: Proto::Udp, first: p.media_first, last: p.media_last, ours: false },
        RuleSpec { name: PROXY_RULE, proto: Proto::Tcp, first: p.proxy, last: p.proxy, ours: true },
    ]
}

/// Our programs as the firewall compares them: this one first (it listens on the proxy port),
/// then its sibling (`cxr-gate.exe` beside `cxr-gate-proxy.exe` and the other way round).
/// String-wise, so a Windows path reads the same in the tests on every platform.
pub fn our_programs(exe: &std::path::Path) -> Vec<String> {
    let var = |_: &str| None;
    let path = model::normalize_program(&exe.display().to_string(), &var);
    let (dir, file) = path.rsplit_once('\\').map_or(("", path.as_str()), |(d, f)| (d, f));
    let sibling = match file {
        "cxr-gate.exe" => Some("cxr-gate-proxy.exe"),
        "cxr-gate-proxy.exe" => Some("cxr-gate.exe"),
        _ => None,
    };
    let mut v = vec![path.clone()];
    if let Some(s) = sibling {
        v.push(if dir.is_empty() { s.to_string() } else { format!("{dir}\\{s}") });
    }
    v
}
