//! Owns "Ports & firewall": the view the window shows for the Runtime's and the proxy's inbound
//! ports (the two headsets need, and the signaling port they don't), per firewall. Windows
//! (`windows`, `verdict`): the Windows Firewall read by the engine (`cxr_gate_core::firewall`: the
//! model, the verdict on the headsets' network, the fix plan) and the one elevated step that fixes
//! it: this app re-run as administrator with `firewall-fix` (`fixcmd`, also the installer's), only
//! from a folder users cannot write to (`elevation`), its result read back from a file (`result`).
//! Linux (`linux`, `ufw`): ufw's verdict in rule order and commands to copy, or which other
//! firewall (firewalld, nftables) is running. Pure view-building functions are unit-tested everywhere.

use serde::Serialize;

#[cfg(any(windows, test))]
mod elevation;
pub mod fixcmd;
#[cfg(any(not(windows), test))]
mod linux;
pub mod result;
#[cfg(any(not(windows), test))]
mod ufw;
#[cfg(any(windows, test))]
mod verdict;
#[cfg(windows)]
mod windows;

use cxr_gate_core::firewall::{Proto, Role, RuleSpec};
#[cfg(not(windows))]
pub use linux::{add_rules, status};
#[cfg(windows)]
pub use windows::{add_rules, open_network_settings, status};

/// Non-Windows: there is no Windows network settings page to open.
#[cfg(not(windows))]
pub fn open_network_settings() -> Result<(), String> {
    Err("Network categories are a Windows setting.".into())
}

/// One row of the Ports & firewall card's rule list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleView {
    /// Which row: "signaling", "media", "proxy".
    pub role: Role,
    pub name: String,
    pub proto: Proto,
    pub ports: String,
    /// Headsets must reach it from the LAN (the Runtime's signaling port: no).
    pub needed: bool,
    /// Some(true) open to the LAN, Some(false) missing or blocked, None unknown / only partly.
    pub present: Option<bool>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct FirewallView {
    /// "windows" (Windows Firewall), "ufw", "firewalld", "nftables", "none" (nothing found).
    pub system: String,
    /// One sentence for the card.
    pub summary: String,
    pub rules: Vec<RuleView>,
    /// Commands to copy and run by hand (Linux).
    pub commands: Vec<String>,
    /// The "Fix the firewall" button works here (Windows, with a change that opens a port).
    pub can_add: bool,
    /// The headsets' network, then each connected network with its own state.
    pub networks: Vec<String>,
    /// What the fix changes, one rule a line (named in the confirmation, too).
    pub changes: Vec<String>,
    /// What the user must change where no fix helps (no button for it).
    pub must_change: Vec<String>,
    /// The headsets' network is Public: offer Windows' network settings (making it Private is the user's choice).
    pub network_settings: bool,
    /// What the elevated fix did, line by line (each rule changed, or the exact error).
    pub result: Vec<String>,
}

fn rows(specs: &[RuleSpec], state: impl Fn(&RuleSpec) -> (Option<bool>, Option<String>)) -> Vec<RuleView> {
    specs
        .iter()
        .map(|s| {
            let (present, note) = state(s);
            RuleView {
                role: s.role,
                name: s.name.to_string(),
                proto: s.proto,
                ports: s.ports_text(),
                needed: s.needed,
                present,
                note,
            }
        })
        .collect()
}
