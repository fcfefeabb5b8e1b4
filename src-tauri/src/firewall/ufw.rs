//! ufw's view: the parser of `ufw status verbose`; the verdict per port as ufw decides it (rules in
//! order, the first match wins; an ALLOW from one host or subnet is not "open to the LAN"); what to
//! type (`ufw insert N` before a DENY that comes first; the app cannot add rules: that needs root,
//! so the window shows the commands). Pure; unit-tested on every platform; `linux.rs` runs ufw.

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

/// What to type on Linux for a port that is not open: after a DENY that comes first, the ALLOW
/// goes in before it (`ufw insert N`); else it is appended.
pub fn ufw_allow_command(spec: &RuleSpec, verdict: &UfwVerdict) -> String {
    match verdict {
        UfwVerdict::Denied { number, .. } => format!("sudo ufw insert {number} allow {}", ufw_spec(spec)),
        _ => format!("sudo ufw allow {}", ufw_spec(spec)),
    }
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
    Active {
        /// In ufw's order (the first match decides a packet), IPv6 lines included, as `ufw status
        /// numbered` counts them.
        rules: Vec<UfwRule>,
        /// `Default: deny (incoming)` (from `ufw status verbose`): deny, reject or allow.
        incoming: Option<String>,
    },
}

/// Parses `ufw status verbose` (or `ufw status`); None when it isn't ufw's output at all.
pub fn parse_ufw_status(out: &str) -> Option<UfwStatus> {
    let mut lines = out.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next()?;
    let state = first.strip_prefix("Status:")?.trim();
    if state.eq_ignore_ascii_case("inactive") {
        return Some(UfwStatus::Inactive);
    }
    let mut rules = Vec::new();
    let mut incoming = None;
    for line in lines {
        if let Some(d) = line.strip_prefix("Default:") {
            incoming = d.split(',').find_map(|p| p.trim().strip_suffix("(incoming)").map(|v| v.trim().to_string()));
            continue;
        }
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
    Some(UfwStatus::Active { rules, incoming })
}

/// How a ufw rule meets one port of ours, for an IPv4 headset on the LAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meets {
    No,
    /// From anywhere: it decides for every headset.
    All,
    /// From some addresses only (a host, a subnet, a source port): it decides for some headsets.
    Some,
}

fn meets(r: &UfwRule, spec: &RuleSpec, port: u16) -> Meets {
    let dir_in = !r.action.ends_with(" OUT") && !r.action.ends_with(" FWD");
    let mut to: Vec<&str> = r.to.split_whitespace().collect();
    // "(v6)" rules are for IPv6 headsets; "on eth0" ones for one interface (which one the
    // headsets use is not known here: they count as some).
    if !dir_in || to.contains(&"(v6)") || r.from.contains("(v6)") {
        return Meets::No;
    }
    let on_iface = match to.iter().position(|t| *t == "on") {
        Some(i) => {
            to.truncate(i);
            true
        }
        None => false,
    };
    // A destination address, then the port spec; "Anywhere" alone: every port.
    let port_tok = to.iter().rev().find(|t| t.chars().next().is_some_and(|c| c.is_ascii_digit()) && !t.contains('.'));
    let covers = match port_tok {
        None => to.iter().all(|t| *t == "Anywhere" || t.contains('.')),
        Some(t) => {
            let (ports, proto) = t.split_once('/').map_or((*t, None), |(p, pr)| (p, Some(pr)));
            proto.is_none_or(|p| p.eq_ignore_ascii_case(spec.proto.lower())) && port_list_covers(ports, port)
        }
    };
    if !covers {
        return Meets::No;
    }
    let from_anywhere = r.from.trim() == "Anywhere";
    if from_anywhere && !on_iface {
        Meets::All
    } else {
        Meets::Some
    }
}

/// ufw's answer for one port range: rules in order, the first match decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UfwVerdict {
    Allowed {
        number: usize,
    },
    /// A DENY or REJECT from anywhere comes first.
    Denied {
        number: usize,
        rule: String,
    },
    /// No rule: the default incoming policy decides.
    Default {
        allow: bool,
    },
    /// Some headsets only (an ALLOW from one host or subnet, a DENY for some), or the default is unknown.
    Partly(String),
}

impl UfwVerdict {
    pub fn open(&self) -> Option<bool> {
        match self {
            UfwVerdict::Allowed { .. } | UfwVerdict::Default { allow: true } => Some(true),
            UfwVerdict::Denied { .. } | UfwVerdict::Default { allow: false } => Some(false),
            UfwVerdict::Partly(_) => None,
        }
    }

    pub fn note(&self) -> String {
        match self {
            UfwVerdict::Allowed { number } => format!("allowed by rule {number}"),
            UfwVerdict::Denied { number, rule } => {
                format!("denied by rule {number} ({rule}), which comes before any ALLOW")
            }
            UfwVerdict::Default { allow: true } => "no rule: the default incoming policy allows it".into(),
            UfwVerdict::Default { allow: false } => "no rule: denied by the default incoming policy".into(),
            UfwVerdict::Partly(why) => why.clone(),
        }
    }
}

fn rule_text(r: &UfwRule) -> String {
    format!("{} {} {}", r.to, r.action, r.from)
}

/// One port: the first rule from anywhere decides; rules for some addresses before it make it partial.
fn port_verdict(rules: &[UfwRule], incoming: Option<&str>, spec: &RuleSpec, port: u16) -> UfwVerdict {
    let mut some: Option<(usize, &UfwRule)> = None;
    let mut decided = None;
    for (i, r) in rules.iter().enumerate() {
        match meets(r, spec, port) {
            Meets::No => {}
            Meets::Some => {
                some.get_or_insert((i + 1, r));
            }
            Meets::All => {
                decided = Some(if r.action.starts_with("ALLOW") || r.action.starts_with("LIMIT") {
                    UfwVerdict::Allowed { number: i + 1 }
                } else {
                    UfwVerdict::Denied { number: i + 1, rule: rule_text(r) }
                });
                break;
            }
        }
    }
    let decided = decided.unwrap_or(match incoming {
        Some("allow") => UfwVerdict::Default { allow: true },
        Some("deny" | "reject") => UfwVerdict::Default { allow: false },
        other => UfwVerdict::Partly(format!(
            "no rule, and the default incoming policy is {}",
            other.map_or("unknown".to_string(), |p| format!("\"{p}\""))
        )),
    });
    match (some, decided.open()) {
        (Some((n, r)), Some(false)) if r.action.starts_with("ALLOW") || r.action.starts_with("LIMIT") => {
            UfwVerdict::Partly(if r.from.trim() == "Anywhere" {
                format!("allowed on one interface only (rule {n}: {}): not known to be the headsets'", r.to)
            } else {
                format!("allowed only from {} (rule {n}): not open to the LAN", r.from)
            })
        }
        (Some((n, r)), Some(true)) if r.action.starts_with("DENY") || r.action.starts_with("REJECT") => {
            UfwVerdict::Partly(format!("denied from {} by rule {n}, before it is allowed", r.from))
        }
        _ => decided,
    }
}

/// The verdict for a port range: each port's, the first that is not open standing for all.
pub fn ufw_verdict(rules: &[UfwRule], incoming: Option<&str>, spec: &RuleSpec) -> UfwVerdict {
    let each: Vec<UfwVerdict> = (spec.first..=spec.last).map(|p| port_verdict(rules, incoming, spec, p)).collect();
    each.iter()
        .find(|v| v.open() == Some(false))
        .or_else(|| each.iter().find(|v| v.open().is_none()))
        .unwrap_or(&each[0])
        .clone()
}

/// How one `ufw status` run went.
pub enum UfwRun<'a> {
    NotInstalled,
    Failed(String),
    Output { ok: bool, stdout: &'a str, stderr: &'a str },
}

/// `sudo ufw allow …` for each port headsets need (when ufw's rules could not be read).
fn allow_all(specs: &[RuleSpec]) -> Vec<String> {
    specs.iter().filter(|s| s.needed).map(|s| format!("sudo ufw allow {}", ufw_spec(s))).collect()
}

pub fn ufw_view(ports: &Ports, run: UfwRun<'_>) -> FirewallView {
    let specs = rules(ports);
    let commands = allow_all(&specs);
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
            Some(UfwStatus::Active { rules: found, incoming }) => {
                let verdict = |s: &RuleSpec| ufw_verdict(&found, incoming.as_deref(), s);
                let needed: Vec<&RuleSpec> = specs.iter().filter(|s| s.needed).collect();
                let closed: Vec<(&RuleSpec, UfwVerdict)> =
                    needed.iter().map(|s| (*s, verdict(s))).filter(|(_, v)| v.open() != Some(true)).collect();
                FirewallView {
                    system: "ufw".into(),
                    summary: if closed.is_empty() {
                        "ufw is active and lets headsets on the LAN reach the ports they need.".into()
                    } else {
                        format!(
                            "ufw is active and {} of the {} ports headsets need are not open to the LAN. Run in a \
                             terminal:",
                            closed.len(),
                            needed.len()
                        )
                    },
                    rules: rows(&specs, |s| {
                        let v = verdict(s);
                        (v.open(), Some(v.note()))
                    }),
                    commands: closed.iter().map(|(s, v)| ufw_allow_command(s, v)).collect(),
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

#[cfg(test)]
mod tests {
    use super::*;

    const PORTS: Ports = Ports { signaling: 49100, media_first: 47998, media_last: 48012, proxy: 48322 };

    const UFW_ACTIVE: &str =
        "Status: active\nLogging: on (low)\nDefault: deny (incoming), allow (outgoing), disabled (routed)\n\
New profiles: skip\n\nTo                         Action      From\n\
--                         ------      ----\n\
22/tcp                     ALLOW IN    Anywhere\n\
49100/tcp                  ALLOW IN    Anywhere\n\
47998:48012/udp            ALLOW IN    Anywhere\n\
22/tcp (v6)                ALLOW IN    Anywhere (v6)\n\
49100/tcp (v6)             ALLOW IN    Anywhere (v6)\n";

    fn active(body: &str) -> (Vec<UfwRule>, Option<String>) {
        let out = format!(
            "Status: active\nDefault: deny (incoming), allow (outgoing), disabled (routed)\n\n\
             To                         Action      From\n--                         ------      ----\n{body}"
        );
        match parse_ufw_status(&out) {
            Some(UfwStatus::Active { rules, incoming }) => (rules, incoming),
            other => panic!("not parsed: {other:?}"),
        }
    }

    #[test]
    fn the_ports_follow_the_settings_and_only_the_needed_ones_get_commands() {
        let r = rules(&Ports { proxy: 9443, signaling: 5000, ..PORTS });
        assert_eq!(r.iter().map(RuleSpec::ports_text).collect::<Vec<_>>(), ["5000", "47998-48012", "9443"]);
        assert_eq!(r.iter().map(ufw_spec).collect::<Vec<_>>(), ["5000/tcp", "47998:48012/udp", "9443/tcp"]);
        assert_eq!(
            allow_all(&r),
            ["sudo ufw allow 47998:48012/udp", "sudo ufw allow 9443/tcp"],
            "never the signaling port"
        );
    }

    #[test]
    fn ufw_status_parser() {
        assert_eq!(parse_ufw_status("Status: inactive\n"), Some(UfwStatus::Inactive));
        assert_eq!(parse_ufw_status("ERROR: You need to be root to run this script\n"), None);
        assert_eq!(parse_ufw_status(""), None);
        let Some(UfwStatus::Active { rules: found, incoming }) = parse_ufw_status(UFW_ACTIVE) else {
            panic!("not parsed")
        };
        assert_eq!(incoming.as_deref(), Some("deny"));
        assert_eq!(found.len(), 5);
        assert_eq!(found[1], UfwRule { to: "49100/tcp".into(), action: "ALLOW IN".into(), from: "Anywhere".into() });
        assert_eq!(found[3].to, "22/tcp (v6)");
        let r = rules(&PORTS);
        assert_eq!(
            ufw_verdict(&found, incoming.as_deref(), &r[1]),
            UfwVerdict::Allowed { number: 3 },
            "the 47998:48012 range"
        );
        assert_eq!(
            ufw_verdict(&found, incoming.as_deref(), &r[2]),
            UfwVerdict::Default { allow: false },
            "48322 is not allowed"
        );
        // Plain `ufw status` has no Default line: with no rule, the verdict is unknown.
        let Some(UfwStatus::Active { rules: plain, incoming: None }) =
            parse_ufw_status("Status: active\n\nTo Action From\n-- ------ ----\n22/tcp ALLOW Anywhere\n")
        else {
            panic!("not parsed")
        };
        assert_eq!(ufw_verdict(&plain, None, &r[2]).open(), None);
    }

    #[test]
    fn ufw_rule_order_counts_a_deny_before_the_allow_wins() {
        let (found, incoming) = active(
            "48322/tcp                  DENY IN     Anywhere\n\
             48322/tcp                  ALLOW IN    Anywhere\n\
             47998:48012/udp            ALLOW IN    Anywhere\n\
             48000/udp                  REJECT IN   Anywhere\n",
        );
        let r = rules(&PORTS);
        let proxy = ufw_verdict(&found, incoming.as_deref(), &r[2]);
        assert_eq!(proxy, UfwVerdict::Denied { number: 1, rule: "48322/tcp DENY IN Anywhere".into() });
        assert_eq!(proxy.note(), "denied by rule 1 (48322/tcp DENY IN Anywhere), which comes before any ALLOW");
        // The REJECT comes after the range's ALLOW: ufw never reaches it.
        assert_eq!(ufw_verdict(&found, incoming.as_deref(), &r[1]), UfwVerdict::Allowed { number: 3 });
        // The other way round: the ALLOW first wins.
        let (found, incoming) = active("48322/tcp ALLOW IN Anywhere\n48322/tcp DENY IN Anywhere\n");
        assert_eq!(ufw_verdict(&found, incoming.as_deref(), &r[2]), UfwVerdict::Allowed { number: 1 });
        // The view: what to type goes in before the DENY.
        let out = "Status: active\nDefault: deny (incoming), allow (outgoing), disabled (routed)\n\nTo Action From\n\
                   -- ------ ----\n22/tcp ALLOW IN Anywhere\n48322/tcp DENY IN Anywhere\n48322/tcp ALLOW IN Anywhere\n\
                   47998:48012/udp ALLOW IN Anywhere\n";
        let v = ufw_view(&PORTS, UfwRun::Output { ok: true, stdout: out, stderr: "" });
        assert_eq!(v.rules.iter().map(|r| r.present).collect::<Vec<_>>(), [Some(false), Some(true), Some(false)]);
        assert_eq!(v.commands, ["sudo ufw insert 2 allow 48322/tcp"]);
        assert_eq!(
            v.summary,
            "ufw is active and 1 of the 2 ports headsets need are not open to the LAN. Run in a terminal:"
        );
    }

    #[test]
    fn ufw_an_allow_from_one_host_is_not_open_to_the_lan() {
        let (found, incoming) = active(
            "48322/tcp                  ALLOW IN    192.168.1.50\n\
             47998:48012/udp            ALLOW IN    192.168.1.0/24\n\
             Anywhere                   ALLOW IN    10.0.0.7\n",
        );
        let r = rules(&PORTS);
        let proxy = ufw_verdict(&found, incoming.as_deref(), &r[2]);
        assert_eq!(proxy.open(), None);
        assert_eq!(proxy.note(), "allowed only from 192.168.1.50 (rule 1): not open to the LAN");
        assert_eq!(
            ufw_verdict(&found, incoming.as_deref(), &r[1]).note(),
            "allowed only from 192.168.1.0/24 (rule 2): not open to the LAN"
        );
        // An ALLOW from anywhere after it opens it; a DENY from one host before an ALLOW leaves it partial.
        let (found, incoming) = active("48322/tcp ALLOW IN 192.168.1.50\n48322/tcp ALLOW IN Anywhere\n");
        assert_eq!(ufw_verdict(&found, incoming.as_deref(), &r[2]), UfwVerdict::Allowed { number: 2 });
        let (found, incoming) = active("48322/tcp DENY IN 192.168.1.66\n48322/tcp ALLOW IN Anywhere\n");
        assert_eq!(
            ufw_verdict(&found, incoming.as_deref(), &r[2]).note(),
            "denied from 192.168.1.66 by rule 1, before it is allowed"
        );
        // On one interface, for IPv6, outbound or forwarded: not a verdict for the LAN's IPv4 headsets.
        let (found, incoming) = active(
            "48322/tcp on eth0          ALLOW IN    Anywhere\n48322/tcp (v6)             ALLOW IN    Anywhere (v6)\n\
             48322/tcp                  ALLOW OUT   Anywhere\n48322/tcp                  ALLOW FWD   Anywhere\n",
        );
        assert_eq!(ufw_verdict(&found, incoming.as_deref(), &r[2]).open(), None);
        // A bare port allows TCP and UDP; "Anywhere" as the destination is every port.
        let (found, incoming) = active("48322 ALLOW IN Anywhere\nAnywhere DENY IN Anywhere\n");
        assert_eq!(ufw_verdict(&found, incoming.as_deref(), &r[2]), UfwVerdict::Allowed { number: 1 });
        assert_eq!(ufw_verdict(&found, incoming.as_deref(), &r[1]).open(), Some(false));
    }

    #[test]
    fn ufw_views() {
        let none = ufw_view(&PORTS, UfwRun::NotInstalled);
        assert_eq!(none.summary, "No ufw found; make sure these ports are open in your firewall.");
        assert!(none.commands.is_empty());
        let v = ufw_view(&PORTS, UfwRun::Output { ok: true, stdout: UFW_ACTIVE, stderr: "" });
        assert_eq!(v.commands, ["sudo ufw allow 48322/tcp"]);
        assert_eq!(v.rules.iter().map(|r| r.present).collect::<Vec<_>>(), [Some(true), Some(true), Some(false)]);
        assert!(!v.rules[0].needed && v.rules[1].needed);
        assert!(v.summary.contains("1 of the 2"), "{}", v.summary);
        let root = ufw_view(
            &PORTS,
            UfwRun::Output { ok: false, stdout: "", stderr: "ERROR: You need to be root to run this script" },
        );
        assert!(root.summary.contains("needs root"), "{}", root.summary);
        assert_eq!(root.commands.len(), 2);
        let off = ufw_view(&PORTS, UfwRun::Output { ok: true, stdout: "Status: inactive", stderr: "" });
        assert!(off.summary.contains("inactive"));
        // ufw there but not runnable: say why, and still give the commands to type.
        let failed = ufw_view(&PORTS, UfwRun::Failed("Permission denied (os error 13)".into()));
        assert_eq!(
            failed.summary,
            "Could not run ufw (Permission denied (os error 13)). If ufw is active, allow these ports:"
        );
        assert_eq!(failed.commands.len(), 2);
        assert!(!failed.can_add && failed.rules.iter().all(|r| r.present.is_none()));
    }
}
