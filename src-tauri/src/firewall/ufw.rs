//! Linux's ufw: what to type to allow the rules, the parser of `ufw status`, and the view from one
//! run of it (the app cannot add rules here: that needs root, so the window shows the commands).
//! The parsers are pure and unit-tested on every platform; running ufw is Linux only.

#[cfg(not(windows))]
use tauri::{AppHandle, Runtime};

use super::{port_list_covers, rows, rules, FirewallView, Ports, Proto, RuleSpec};

impl Proto {
    /// ufw's spelling: `tcp`, `udp`.
    pub fn lower(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

impl RuleSpec {
    /// ufw style: `49100/tcp` or `47998:48012/udp`.
    pub fn ufw_spec(&self) -> String {
        if self.first == self.last {
            format!("{}/{}", self.first, self.proto.lower())
        } else {
            format!("{}:{}/{}", self.first, self.last, self.proto.lower())
        }
    }
}

/// What to type on Linux, one line per rule.
pub fn ufw_allow_commands(rules: &[RuleSpec]) -> Vec<String> {
    rules.iter().map(|r| format!("sudo ufw allow {}", r.ufw_spec())).collect()
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
            ports.chars().next().is_some_and(|c| c.is_ascii_digit()) && port_list_covers(ports, port, port, ':')
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
            commands: Vec::new(),
            can_add: false,
        },
        UfwRun::Failed(e) => FirewallView {
            system: "ufw".into(),
            summary: format!("Could not run ufw ({e}). If ufw is active, allow these ports:"),
            rules: rows(&specs, unknown),
            commands,
            can_add: false,
        },
        UfwRun::Output { ok, stdout, stderr } => match parse_ufw_status(stdout).filter(|_| ok) {
            Some(UfwStatus::Inactive) => FirewallView {
                system: "ufw".into(),
                summary: "ufw is installed but inactive: it blocks nothing. If you enable it, allow these ports:"
                    .into(),
                rules: rows(&specs, |_| (None, Some("ufw inactive".into()))),
                commands,
                can_add: false,
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
                    can_add: false,
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
                    can_add: false,
                }
            }
        },
    }
}

fn first_line(a: &str, b: &str) -> String {
    a.lines().chain(b.lines()).map(str::trim).find(|l| !l.is_empty()).unwrap_or("it printed nothing").to_string()
}

/// Reads the firewall state for the current ports (a few hundred ms: runs on demand, not per status tick).
#[cfg(not(windows))]
pub async fn status<R: Runtime>(app: &AppHandle<R>, ports: &Ports) -> FirewallView {
    // PATH first, then the sbin directories a desktop session's PATH often lacks.
    let Some(ufw) = crate::tools::find("ufw", &["/usr/sbin", "/sbin"]) else {
        return ufw_view(ports, UfwRun::NotInstalled);
    };
    match crate::tools::run(app, &ufw, vec!["status".into()]).await {
        Ok((ok, stdout, stderr)) => ufw_view(ports, UfwRun::Output { ok, stdout: &stdout, stderr: &stderr }),
        Err(e) => ufw_view(ports, UfwRun::Failed(e)),
    }
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
