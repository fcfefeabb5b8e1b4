//! The firewall between the headsets and CXR Gate: which inbound ports headsets need (`rules`: the
//! gate's and the Runtime's media, never the Runtime's signaling), the Windows Firewall read
//! through its COM API and IP Helper (`windows`, `winnet`: Windows only), the verdict per port on the
//! network that carries the address in the QR code (`decide`, `evaluate`, `remote`: pure), who
//! listens on the Runtime's ports (`listener`), the fix and CXR Gate's own rules (`fix`), and the
//! `firewall-fix` command line (`args`). Shared by the desktop app (its Ports & firewall card, its
//! elevated `firewall-fix` run, the installer's calls) and the headless binary (the verdict at
//! start). `model` holds the data both sides agree on.

pub mod args;
pub mod decide;
pub mod evaluate;
pub mod fix;
pub mod listener;
pub mod model;
pub mod remote;
#[cfg(test)]
mod tests;
#[cfg(windows)]
pub mod windows;
#[cfg(windows)]
mod winnet;

use serde::Serialize;

pub use args::{FixAction, FixArgsError, FixRequest};
pub use decide::{Context, Runtime};
pub use evaluate::{evaluate, PortReport, Report};
pub use fix::{FixPlan, OurRule, GROUP};
pub use model::{FirewallState, Proto};

/// The ports in use (configured, so rules follow the settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub signaling: u16,
    pub media_first: u16,
    pub media_last: u16,
    pub proxy: u16,
}

/// What a port is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The Runtime's signaling (TCP 49100): headsets reach it through the gate, never directly.
    Signaling,
    /// The Runtime's media (UDP 47998-48012): headsets send video traffic straight to it.
    Media,
    /// The gate's own wss:// port (TCP 48322).
    Proxy,
}

/// One inbound port (or range) on this PC, and whether headsets must reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleSpec {
    pub role: Role,
    /// How the card and the reports name it.
    pub name: &'static str,
    pub proto: Proto,
    pub first: u16,
    pub last: u16,
    /// CXR Gate itself listens here (the proxy); else the CloudXR Runtime does.
    pub ours: bool,
    /// Headsets must reach it from the LAN (the signaling port: no, they use the gate).
    pub needed: bool,
}

impl RuleSpec {
    pub fn ports_text(&self) -> String {
        ports_text(self.first, self.last)
    }

    /// `TCP 48322`, `UDP 47998-48012`.
    pub fn label(&self) -> String {
        format!("{} {}", self.proto.upper(), self.ports_text())
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

/// The ports on this PC: the Runtime's signaling (not needed from the LAN), its media, the gate's.
pub fn rules(p: &Ports) -> Vec<RuleSpec> {
    let spec = |role, name, proto, first, last, ours, needed| RuleSpec { role, name, proto, first, last, ours, needed };
    vec![
        spec(Role::Signaling, "Runtime signaling", Proto::Tcp, p.signaling, p.signaling, false, false),
        spec(Role::Media, "Runtime media", Proto::Udp, p.media_first, p.media_last, false, true),
        spec(Role::Proxy, "CXR Gate wss:// proxy", Proto::Tcp, p.proxy, p.proxy, true, true),
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
