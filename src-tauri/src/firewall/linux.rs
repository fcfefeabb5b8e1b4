//! Linux: which firewall guards the PC and its view: ufw when it is active (`ufw.rs`), else
//! firewalld (`firewall-cmd --state`) or nftables (`nft list ruleset`, or its service), else ufw's
//! view of why it could not tell. The detectors are pure and unit-tested on every platform; running
//! the tools is Linux only.

#[cfg(not(windows))]
use tauri::{AppHandle, Runtime};

use cxr_gate_core::firewall::{rules, Ports};

#[cfg(not(windows))]
use super::ufw::ufw_view;
use super::ufw::{parse_ufw_status, UfwRun, UfwStatus};
use super::{rows, FirewallView};

/// `firewall-cmd --state` says firewalld is running.
pub fn firewalld_running(ok: bool, stdout: &str) -> bool {
    ok && stdout.trim() == "running"
}

/// `nft list ruleset` printed at least one table (an empty ruleset filters nothing).
pub fn nft_has_rules(ok: bool, stdout: &str) -> bool {
    ok && stdout.lines().any(|l| l.trim_start().starts_with("table "))
}

/// `systemctl is-active nftables` says the service is active.
pub fn service_active(ok: bool, stdout: &str) -> bool {
    ok && stdout.trim() == "active"
}

/// ufw is active and its rules were read (its view is then the answer).
pub fn ufw_active(run: &UfwRun<'_>) -> bool {
    let UfwRun::Output { ok: true, stdout, .. } = run else { return false };
    matches!(parse_ufw_status(stdout), Some(UfwStatus::Active { .. }))
}

/// Another firewall is what runs here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Other {
    Firewalld,
    Nftables,
}

pub fn other_view(ports: &Ports, other: Other) -> FirewallView {
    let specs = rules(ports);
    match other {
        Other::Firewalld => {
            let mut commands: Vec<String> = specs
                .iter()
                .filter(|s| s.needed)
                .map(|r| format!("sudo firewall-cmd --permanent --add-port={}/{}", r.ports_text(), r.proto.lower()))
                .collect();
            commands.push("sudo firewall-cmd --reload".into());
            FirewallView {
                system: "firewalld".into(),
                summary: "firewalld is running (its zones are not read here). Allow these ports in the zone of your \
                          network, for example:"
                    .into(),
                rules: rows(&specs, |_| (None, Some("firewalld: not read".into()))),
                commands,
                ..FirewallView::default()
            }
        }
        Other::Nftables => FirewallView {
            system: "nftables".into(),
            summary: "nftables rules are loaded (not read here): make sure they accept these ports inbound.".into(),
            rules: rows(&specs, |_| (None, Some("nftables: not read".into()))),
            ..FirewallView::default()
        },
    }
}

/// Reads the firewall state for the current ports (a few hundred ms: runs on demand, not per status tick).
#[cfg(not(windows))]
pub async fn status<R: Runtime>(app: &AppHandle<R>, ports: &Ports) -> FirewallView {
    use crate::tools::{find, run};
    const SBIN: &[&str] = &["/usr/sbin", "/sbin"];
    // PATH first, then the sbin directories a desktop session's PATH often lacks.
    let ufw_out = match find("ufw", SBIN) {
        Some(ufw) => Some(run(app, &ufw, vec!["status".into(), "verbose".into()]).await),
        None => None,
    };
    let ufw_run = match &ufw_out {
        None => UfwRun::NotInstalled,
        Some(Ok((ok, stdout, stderr))) => UfwRun::Output { ok: *ok, stdout, stderr },
        Some(Err(e)) => UfwRun::Failed(e.clone()),
    };
    if ufw_active(&ufw_run) {
        return ufw_view(ports, ufw_run);
    }
    if let Some(fc) = find("firewall-cmd", SBIN) {
        if let Ok((ok, out, _)) = run(app, &fc, vec!["--state".into()]).await {
            if firewalld_running(ok, &out) {
                return other_view(ports, Other::Firewalld);
            }
        }
    }
    // Listing the ruleset needs root; the service's state does not.
    if let Some(nft) = find("nft", SBIN) {
        if let Ok((ok, out, _)) = run(app, &nft, vec!["list".into(), "ruleset".into()]).await {
            if nft_has_rules(ok, &out) {
                return other_view(ports, Other::Nftables);
            }
        }
    }
    if let Some(sc) = find("systemctl", &["/usr/bin", "/bin"]) {
        if let Ok((ok, out, _)) = run(app, &sc, vec!["is-active".into(), "nftables".into()]).await {
            if service_active(ok, &out) {
                return other_view(ports, Other::Nftables);
            }
        }
    }
    ufw_view(ports, ufw_run)
}

/// Adding rules needs root here: the window shows the commands to run instead.
#[cfg(not(windows))]
pub async fn add_rules<R: Runtime>(app: &AppHandle<R>, ports: &Ports) -> Result<FirewallView, String> {
    let _ = (app, ports);
    Err("Adding rules from the app works on Windows only; run the commands shown in a terminal.".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORTS: Ports = Ports { signaling: 49100, media_first: 47998, media_last: 48012, proxy: 48322 };

    #[test]
    fn firewalld_and_nftables_are_named_when_they_run() {
        assert!(firewalld_running(true, "running\n"));
        assert!(!firewalld_running(false, "not running\n"));
        assert!(!firewalld_running(true, ""));
        let ruleset =
            "table inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n\t}\n}\n";
        assert!(nft_has_rules(true, ruleset));
        assert!(!nft_has_rules(true, ""), "an empty ruleset filters nothing");
        assert!(!nft_has_rules(false, "Error: Operation not permitted\n"));
        assert!(service_active(true, "active\n"));
        assert!(!service_active(false, "inactive\n"));
        let active = UfwRun::Output { ok: true, stdout: "Status: active\n", stderr: "" };
        assert!(ufw_active(&active));
        assert!(!ufw_active(&UfwRun::Output { ok: true, stdout: "Status: inactive\n", stderr: "" }));
        assert!(!ufw_active(&UfwRun::NotInstalled));
        let fd = other_view(&PORTS, Other::Firewalld);
        assert_eq!(fd.system, "firewalld");
        assert!(fd.summary.starts_with("firewalld is running"), "{}", fd.summary);
        assert_eq!(
            fd.commands,
            [
                "sudo firewall-cmd --permanent --add-port=47998-48012/udp",
                "sudo firewall-cmd --permanent --add-port=48322/tcp",
                "sudo firewall-cmd --reload"
            ]
        );
        let nft = other_view(&PORTS, Other::Nftables);
        assert_eq!(nft.system, "nftables");
        assert_eq!(nft.rules[1].note.as_deref(), Some("nftables: not read"));
        assert!(!nft.can_add && nft.commands.is_empty());
    }
}
