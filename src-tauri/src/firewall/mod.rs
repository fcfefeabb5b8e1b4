//! Owns "Ports & firewall": the view the window shows for the three inbound ports the runtime and
//! the proxy need, per firewall. Windows (`windows`): the Windows Firewall read through its COM API
//! by the engine (`cxr_gate_core::firewall`: the model, the verdict per port, the fix plan) and the
//! one elevated step that fixes it (this app re-run as administrator with `firewall-fix`, handled
//! by `fixcmd`). Linux (`ufw`): ufw's view and commands to copy, or which other firewall
//! (firewalld, nftables) is running. Pure view-building functions are unit-tested everywhere.

use serde::Serialize;

pub mod fixcmd;
#[cfg(any(not(windows), test))]
mod ufw;
#[cfg(any(windows, test))]
mod verdict;
#[cfg(windows)]
mod windows;

use cxr_gate_core::firewall::{Proto, RuleSpec};
#[cfg(not(windows))]
pub use ufw::{add_rules, status};
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
    pub name: String,
    pub proto: Proto,
    pub ports: String,
    /// Some(true) allowed, Some(false) missing or blocked, None unknown / only partly.
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
    /// The "Fix the firewall" button works here (Windows, with something to change).
    pub can_add: bool,
    /// Lines about the profile in effect and each connected network ("Network \"Home\" is Public").
    pub networks: Vec<String>,
    /// What the fix changes, one rule a line (named in the confirmation, too).
    pub changes: Vec<String>,
    /// A connected network is Public: offer Windows' network settings (making it Private is the user's choice).
    pub public_network: bool,
}

fn rows(specs: &[RuleSpec], state: impl Fn(&RuleSpec) -> (Option<bool>, Option<String>)) -> Vec<RuleView> {
    specs
        .iter()
        .map(|s| {
            let (present, note) = state(s);
            RuleView { name: s.name.to_string(), proto: s.proto, ports: s.ports_text(), present, note }
        })
        .collect()
}
