//! Linux: ufw's view (what to type to allow the rules, the parser of `ufw status`, the view from
//! one run of it; the app cannot add rules here: that needs root, so the window shows the
//! commands), and when ufw is not what guards the PC, whether firewalld (`firewall-cmd --state`) or
//! nftables (`nft list ruleset`, or its service) is. The parsers are pure and unit-tested on every
//! platform; running the tools is Linux only.

#[cfg(not(windows))]
use tauri::{AppHandle, Runtime};

use cxr_gate_core::firewall::{rules, Ports, RuleSpec};

use super::{rows, FirewallView};

/// ufw style: `49100/tcp` or `47998:48012/udp`.
pub fn ufw_spec(r: &RuleSpec) -> String {
    if r.first == r.last {
        format!("{}/{}", r.first, r.proto.lower())
    } else {
        format!("{}:{}/{}", r.first, r.last, r.proto.lower())
    }
}

/// Whether a ufw port list (`49100`, `47998:48012`, `80,443`) includes `port`.
fn port_list_covers(list: &str, port: u16) -> bool {
    list.split(',').any(|i| match i.trim().split_once(':') {
        Some((a, b)) => {
            matches!((a.trim().parse::<u16>(), b.trim().parse::<u16>()), (Ok(a), Ok(b)) if (a..=b).contains(&port))
        }
        None => i.trim().parse::<u16>() == Ok(port),
    })
}

/// What to type on Linux, one line per rule.
pub fn ufw_allow_commands(rules: &[RuleSpec]) -> Vec<String> {
    rules.iter().map(|r| format!("sudo ufw allow {}", ufw_spec(r))).collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UfwRule {
    /// `49100/tcp`, `47998:48012/udp`, `80,443/tcp`, `22`, `OpenSSH`, `Anywhere`…
    pub to: String,
    pub action: String,
    pub from: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UfwStatus {
    Inactive,
    Active(Vec<UfwRule>),
}

/// Parses `ufw status` (or `ufw status verbose`); None when it isn't ufw's output at all.
pub fn parse_ufw_status(out: &str) -> Option<UfwStatus> {
    let mut lines = out.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next()?;
    let state = first.strip_prefix("Status:")?.trim();
    if state.eq_ignore_ascii_case("inactive") {
        return Some(UfwStatus::Inactive);
    }
    let mut rules = Vec::new();
    for line in lines {
        let toks: Vec<&str> = line.split_whitespace().collect();
        let Some(ai) = toks.iter().position(|t| matches!(*t, "ALLOW" | "DENY" | "REJECT" | "LIMIT")) else {
            continue;
        };
        if ai == 0 || toks[0] == "To" || toks[0].starts_with("--") {
            continue;
        }
        let mut rest = &toks[ai + 1..];
        let mut action = toks[ai].to_string();
        if let Some(dir) = rest.first().filter(|d| matches!(**d, "IN" | "OUT" | "FWD")) {
            action = format!("{action} {dir}");
            rest = &rest[1..];
        }
        rules.push(UfwRule { to: toks[..ai].join(" "), action, from: rest.join(" ") });
    }
    Some(UfwStatus::Active(rules))
}

/// An ALLOW (inbound) rule covers every port of `spec`, for its protocol or for both.
pub fn ufw_covers(rules: &[UfwRule], spec: &RuleSpec) -> bool {
    (spec.first..=spec.last).all(|port| {
        rules.iter().any(|r| {
            if !(r.action == "ALLOW" || r.action == "ALLOW IN") {
                return false;
            }
            // "49100/tcp (v6)" and "49100/tcp on eth0" count: we only need the port spec.
            let spec_txt = r.to.split_whitespace().next().unwrap_or("");
            let (ports, proto) = match spec_txt.split_once('/') {
                Some((p, proto)) => (p, Some(proto)),
                None => (spec_txt, None),
            };
            if proto.is_some_and(|p| !p.eq_ignore_ascii_case(spec.proto.lower())) {
                return false;
            }
            ports.chars().next().is_some_and(|c| c.is_ascii_digit()) && port_list_covers(ports, port)
        })
    })
}

/// How one `ufw status` run went.
pub enum UfwRun<'a> {
    NotInstalled,
    Failed(String),
    Output { ok: bool, stdout: &'a str, stderr: &'a str },
}

pub fn ufw_view(ports: &Ports, run: UfwRun<'_>) -> FirewallView {
    let specs = rules(ports);
    let commands = ufw_allow_commands(&specs);
    let unknown = |_: &RuleSpec| (None, None);
    match run {
        UfwRun::NotInstalled => FirewallView {
            system: "none".into(),
            summary: "No ufw found; make sure these ports are open in your firewall.".into(),
            rules: rows(&specs, unknown),
            ..FirewallView::default()
        },
        UfwRun::Failed(e) => FirewallView {
            system: "ufw".into(),
            summary: format!("Could not run ufw ({e}). If ufw is active, allow these ports:"),
            rules: rows(&specs, unknown),
            commands,
            ..FirewallView::default()
        },
        UfwRun::Output { ok, stdout, stderr } => match parse_ufw_status(stdout).filter(|_| ok) {
            Some(UfwStatus::Inactive) => FirewallView {
                system: "ufw".into(),
                summary: "ufw is installed but inactive: it blocks nothing. If you enable it, allow these ports:"
                    .into(),
                rules: rows(&specs, |_| (None, Some("ufw inactive".into()))),
                commands,
                ..FirewallView::default()
            },
            Some(UfwStatus::Active(found)) => {
                let missing = specs.iter().filter(|s| !ufw_covers(&found, s)).count();
                FirewallView {
                    system: "ufw".into(),
                    summary: if missing == 0 {
                        "ufw is active and allows all three.".into()
                    } else {
                        format!("ufw is active and {missing} of 3 are not allowed. Run in a terminal:")
                    },
                    rules: rows(&specs, |s| (Some(ufw_covers(&found, s)), None)),
                    commands,
                    ..FirewallView::default()
                }
            }
            None => {
                let why = if stderr.contains("root") {
                    "reading its rules needs root".to_string()
                } else {
                    first_line(stderr, stdout)
                };
                FirewallView {
                    system: "ufw".into(),
                    summary: format!("ufw is installed; {why}. If it is active, allow these ports:"),
                    rules: rows(&specs, unknown),
                    commands,
                    ..FirewallView::default()
                }
            }
        },
    }
}

fn first_line(a: &str, b: &str) -> String {
    a.lines().chain(b.lines()).map(str::trim).find(|l| !l.is_empty()).unwrap_or("it printed nothing").to_string()
}

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
    matches!(run, UfwRun::Output { ok: true, stdout, .. } if matches!(parse_ufw_status(stdout), Some(UfwStatus::Active(_))))
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
        Some(ufw) => Some(run(app, &ufw, vec!["status".into()]).await),
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

    const UFW_ACTIVE: &str = "Status: active\n\nTo                         Action      From\n\
--                         ------      ----\n\
22/tcp                     ALLOW       Anywhere\n\
49100/tcp                  ALLOW       Anywhere\n\
47998:48012/udp            ALLOW       Anywhere\n\
22/tcp (v6)                ALLOW       Anywhere (v6)\n\
49100/tcp (v6)             ALLOW       Anywhere (v6)\n";

    #[test]
    fn three_rules_follow_the_configured_ports() {
        let r = rules(&Ports { proxy: 9443, signaling: 5000, ..PORTS });
        assert_eq!(
            r.iter().map(|r| r.name).collect::<Vec<_>>(),
            ["CloudXR Signaling", "CloudXR Media", "CloudXR wss:// Proxy"]
        );
        assert_eq!(r.iter().map(RuleSpec::ports_text).collect::<Vec<_>>(), ["5000", "47998-48012", "9443"]);
        assert_eq!(r.iter().map(ufw_spec).collect::<Vec<_>>(), ["5000/tcp", "47998:48012/udp", "9443/tcp"]);
    }

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
                "sudo firewall-cmd --permanent --add-port=49100/tcp",
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

    #[test]
    fn ufw_status_parser() {
        assert_eq!(parse_ufw_status("Status: inactive\n"), Some(UfwStatus::Inactive));
        assert_eq!(parse_ufw_status("ERROR: You need to be root to run this script\n"), None);
        assert_eq!(parse_ufw_status(""), None);
        let Some(UfwStatus::Active(found)) = parse_ufw_status(UFW_ACTIVE) else { panic!("not parsed") };
        assert_eq!(found.len(), 5);
        assert_eq!(found[1], UfwRule { to: "49100/tcp".into(), action: "ALLOW".into(), from: "Anywhere".into() });
        assert_eq!(found[3].to, "22/tcp (v6)");
        let r = rules(&PORTS);
        assert!(ufw_covers(&found, &r[0]));
        assert!(ufw_covers(&found, &r[1]), "the 47998:48012 range");
        assert!(!ufw_covers(&found, &r[2]), "48322 is not allowed");
    }

    #[test]
    fn ufw_verbose_lists_bare_ports_and_deny() {
        let verbose =
            "Status: active\nLogging: on (low)\nDefault: deny (incoming), allow (outgoing), disabled (routed)\n\
New profiles: skip\n\nTo                         Action      From\n--                         ------      ----\n\
48322                      ALLOW IN    Anywhere\n49100/tcp                  DENY IN     Anywhere\n\
47998,47999/udp            ALLOW IN    Anywhere\n";
        let Some(UfwStatus::Active(found)) = parse_ufw_status(verbose) else { panic!("not parsed") };
        assert_eq!(found.len(), 3);
        let r = rules(&PORTS);
        assert!(ufw_covers(&found, &r[2]), "bare 48322 allows tcp and udp");
        assert!(!ufw_covers(&found, &r[0]), "DENY does not count");
        assert!(!ufw_covers(&found, &r[1]), "two of fifteen media ports");
    }

    #[test]
    fn ufw_views() {
        let none = ufw_view(&PORTS, UfwRun::NotInstalled);
        assert_eq!(none.summary, "No ufw found; make sure these ports are open in your firewall.");
        assert!(none.commands.is_empty());
        let v = ufw_view(&PORTS, UfwRun::Output { ok: true, stdout: UFW_ACTIVE, stderr: "" });
        assert_eq!(
            v.commands,
            ["sudo ufw allow 49100/tcp", "sudo ufw allow 47998:48012/udp", "sudo ufw allow 48322/tcp"]
        );
        assert_eq!(v.rules.iter().map(|r| r.present).collect::<Vec<_>>(), [Some(true), Some(true), Some(false)]);
        assert!(v.summary.contains("1 of 3"), "{}", v.summary);
        let root = ufw_view(
            &PORTS,
            UfwRun::Output { ok: false, stdout: "", stderr: "ERROR: You need to be root to run this script" },
        );
        assert!(root.summary.contains("needs root"), "{}", root.summary);
        assert_eq!(root.commands.len(), 3);
        let off = ufw_view(&PORTS, UfwRun::Output { ok: true, stdout: "Status: inactive", stderr: "" });
        assert!(off.summary.contains("inactive"));
        // ufw there but not runnable: say why, and still give the commands to type.
        let failed = ufw_view(&PORTS, UfwRun::Failed("Permission denied (os error 13)".into()));
        assert_eq!(
            failed.summary,
            "Could not run ufw (Permission denied (os error 13)). If ufw is active, allow these ports:"
        );
        assert_eq!(failed.commands.len(), 3);
        assert!(!failed.can_add && failed.rules.iter().all(|r| r.present.is_none()));
    }
}
