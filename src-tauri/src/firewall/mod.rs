//! Owns "Ports & firewall": the three inbound rules the runtime and the proxy need and the view the
//! window shows. The exact command lines that check and add them, and the parsers of their output,
//! live per firewall: `netsh` (Windows Defender Firewall) and `ufw` (Linux); they are plain
//! functions with unit tests, compiled on their own platform and in tests everywhere, so nothing
//! in them is dead code on either platform. `windows` runs netsh (and one elevated PowerShell
//! step); `ufw` runs ufw. Everything runs through tauri-plugin-shell from Rust with fixed
//! arguments (the webview has no shell permission).

use serde::Serialize;

#[cfg(any(windows, test))]
mod netsh;
#[cfg(any(not(windows), test))]
mod ufw;
#[cfg(windows)]
mod windows;

#[cfg(not(windows))]
pub use ufw::{add_rules, status};
#[cfg(windows)]
pub use windows::{add_rules, status};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

/// The ports in use (configured, so rules follow the settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub signaling: u16,
    pub media_first: u16,
    pub media_last: u16,
    pub proxy: u16,
}

/// One inbound allow rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleSpec {
    /// The Windows rule name (what NVIDIA's docs and our "Add firewall rules" use).
    pub name: &'static str,
    pub proto: Proto,
    pub first: u16,
    pub last: u16,
}

impl RuleSpec {
    /// netsh style: `49100` or `47998-48012`.
    pub fn netsh_ports(&self) -> String {
        if self.first == self.last {
            self.first.to_string()
        } else {
            format!("{}-{}", self.first, self.last)
        }
    }
}

pub const SIGNALING_RULE: &str = "CloudXR Signaling";
pub const MEDIA_RULE: &str = "CloudXR Media";
pub const PROXY_RULE: &str = "CloudXR wss:// Proxy";

pub fn rules(p: &Ports) -> Vec<RuleSpec> {
    vec![
        RuleSpec { name: SIGNALING_RULE, proto: Proto::Tcp, first: p.signaling, last: p.signaling },
        RuleSpec { name: MEDIA_RULE, proto: Proto::Udp, first: p.media_first, last: p.media_last },
        RuleSpec { name: PROXY_RULE, proto: Proto::Tcp, first: p.proxy, last: p.proxy },
    ]
}

/// Whether a port list (`49100`, `47998-48012`, `80,443`, `Any`) covers first..=last.
fn port_list_covers(list: &str, first: u16, last: u16, range_sep: char) -> bool {
    let items: Vec<(u16, u16)> = list
        .split(',')
        .filter_map(|i| {
            let i = i.trim();
            if i.eq_ignore_ascii_case("any") {
                return Some((1, u16::MAX));
            }
            match i.split_once(range_sep) {
                Some((a, b)) => Some((a.trim().parse().ok()?, b.trim().parse().ok()?)),
                None => i.parse().ok().map(|p| (p, p)),
            }
        })
        .collect();
    (first..=last).all(|p| items.iter().any(|&(a, b)| (a..=b).contains(&p)))
}

/// One row of the Ports & firewall card's rule list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleView {
    pub name: String,
    pub proto: Proto,
    pub ports: String,
    /// Some(true) allowed, Some(false) missing, None unknown / not applicable.
    pub present: Option<bool>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FirewallView {
    /// "windows" (Defender Firewall via netsh), "ufw", "none" (no firewall tool found).
    pub system: String,
    /// One sentence for the card.
    pub summary: String,
    pub rules: Vec<RuleView>,
    /// Commands to copy and run by hand (Linux).
    pub commands: Vec<String>,
    /// The "Add firewall rules" button works here (Windows).
    pub can_add: bool,
}

fn rows(specs: &[RuleSpec], state: impl Fn(&RuleSpec) -> (Option<bool>, Option<String>)) -> Vec<RuleView> {
    specs
        .iter()
        .map(|s| {
            let (present, note) = state(s);
            RuleView { name: s.name.to_string(), proto: s.proto, ports: s.netsh_ports(), present, note }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORTS: Ports = Ports { signaling: 49100, media_first: 47998, media_last: 48012, proxy: 48322 };

    #[test]
    fn three_rules_follow_the_configured_ports() {
        let r = rules(&Ports { proxy: 9443, signaling: 5000, ..PORTS });
        assert_eq!(
            r.iter().map(|r| r.name).collect::<Vec<_>>(),
            ["CloudXR Signaling", "CloudXR Media", "CloudXR wss:// Proxy"]
        );
        assert_eq!(r.iter().map(RuleSpec::netsh_ports).collect::<Vec<_>>(), ["5000", "47998-48012", "9443"]);
        assert_eq!(r.iter().map(RuleSpec::ufw_spec).collect::<Vec<_>>(), ["5000/tcp", "47998:48012/udp", "9443/tcp"]);
    }
}
