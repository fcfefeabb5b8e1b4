//! The verdict: rules + profiles + networks → for each port, on the network that carries the
//! address in the QR code (Windows applies each adapter's own profile), which rule lets a headset
//! in or keeps it out; a line per connected network with its own state; and the fix, offered only
//! where it opens a port on the headsets' network — else what the user must change. A network
//! that cannot be told is unknown unless every profile agrees. Pure; tests in `tests/`.

use std::net::IpAddr;

use super::decide::{decide, is_program, live, Context, Decision};
use super::fix::{is_ours, Disable, FixPlan, OurRule};
use super::model::{Action, FirewallState, ModifyState, Network, Profile};
use super::remote::Lan;
use super::{ports_text, Role, RuleSpec};

/// The verdict for one port (or range) on the headsets' network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortReport {
    pub spec: RuleSpec,
    /// Some(true) a LAN headset gets in, Some(false) it does not, None: only some do, or unknown.
    pub open: Option<bool>,
    /// "allowed by rule …", "47998-48005 blocked by …; 48006-48012 no rule: blocked by default".
    pub verdict: String,
    pub notes: Vec<String>,
}

/// The whole view: the headsets' network, every network's state, a verdict per port, the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// "Headsets' network: Wi-Fi ("Home"), Private (firewall on; inbound default: block)".
    pub profile_line: String,
    /// One line per connected network: "vEthernet (WSL) ("Unidentified network"), Public: blocked —
    /// headsets don't use it".
    pub networks: Vec<String>,
    pub ports: Vec<PortReport>,
    pub fix: FixPlan,
    /// What the fix changes, one line per rule, for the confirmation.
    pub changes: Vec<String>,
    /// What the user must change where no fix can help (block-all, another program's or a port's
    /// block rule, Group Policy, a Public network, an unknown network).
    pub must_change: Vec<String>,
    /// The headsets' network is Public: offer Windows' network settings (the category is the user's choice).
    pub network_settings: bool,
}

/// Where the headsets are: the network carrying the address in the QR code, or why not known.
enum Target<'a> {
    Network(&'a Network, Lan),
    Unknown { why: String, lan: Option<Lan> },
}

fn target(st: &FirewallState, primary: Option<IpAddr>) -> Target<'_> {
    let Some(ip) = primary else {
        return Target::Unknown { why: "this PC has no LAN address".into(), lan: None };
    };
    let carrying: Vec<(&Network, u8)> = st.networks.iter().filter_map(|n| n.carries(ip).map(|p| (n, p))).collect();
    match carrying.as_slice() {
        [(n, p)] => Target::Network(n, Lan { ip, prefix: Some(*p) }),
        [] => Target::Unknown {
            why: format!("no connected network in Windows' list carries {ip}"),
            lan: Some(Lan { ip, prefix: None }),
        },
        [(n, p), rest @ ..] if rest.iter().all(|(m, _)| m.category == n.category) => {
            Target::Network(n, Lan { ip, prefix: Some(*p) })
        }
        _ => Target::Unknown {
            why: format!("{ip} is on several networks of different categories"),
            lan: Some(Lan { ip, prefix: None }),
        },
    }
}

/// One port range in one profile: open, and the text (runs of ports with the same verdict).
fn in_profile(
    st: &FirewallState,
    spec: &RuleSpec,
    profile: Profile,
    cx: &Context<'_>,
    lan: Option<&Lan>,
) -> (Option<bool>, String) {
    let mut open = Some(true);
    let mut runs: Vec<(u16, u16, String)> = Vec::new();
    for port in spec.first..=spec.last {
        let d = decide(st, spec, port, profile, cx, lan);
        open = match (open, d.open()) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (None, _) | (_, None) => None,
            _ => Some(true),
        };
        let text = d.text(profile, cx);
        match runs.last_mut() {
            Some(run) if run.2 == text => run.1 = port,
            _ => runs.push((port, port, text)),
        }
    }
    let text = if runs.len() == 1 {
        runs.remove(0).2
    } else {
        runs.iter().map(|(a, b, t)| format!("{} {t}", ports_text(*a, *b))).collect::<Vec<_>>().join("; ")
    };
    (open, text)
}

/// The verdict on the profiles the headsets may be on: one, or all three when the network is unknown
/// (then it stands only if they all agree).
fn port_verdict(
    st: &FirewallState,
    spec: &RuleSpec,
    profiles: &[Profile],
    cx: &Context<'_>,
    lan: Option<&Lan>,
) -> (Option<bool>, String) {
    let each: Vec<(Profile, Option<bool>, String)> = profiles
        .iter()
        .map(|p| {
            let (o, t) = in_profile(st, spec, *p, cx, lan);
            (*p, o, t)
        })
        .collect();
    let (_, open, text) = &each[0];
    if each.iter().all(|(_, o, t)| o == open && t == text) {
        return (*open, text.clone());
    }
    let all = each.iter().map(|(p, _, t)| format!("{}: {t}", p.name())).collect::<Vec<_>>().join(" | ");
    (None, format!("unknown: it depends on the headsets' network ({all})"))
}

/// Notes on rules that would matter but don't apply here: disabled allow rules, other profiles.
fn notes(st: &FirewallState, spec: &RuleSpec, profiles: &[Profile]) -> Vec<String> {
    let mut out = Vec::new();
    let hits = st.rules.iter().filter(|r| {
        r.direction == super::model::Direction::In
            && r.applies_to_proto(spec.proto)
            && (spec.first..=spec.last).any(|p| r.covers_port(p))
            && (r.application.trim().is_empty() || r.action == Action::Allow)
    });
    for r in hits {
        let verb = if r.action == Action::Allow { "allow" } else { "block" };
        let line = if !r.enabled {
            if r.action == Action::Block {
                continue;
            }
            format!("rule \"{}\" would {verb} it but is disabled", r.name)
        } else if !profiles.iter().any(|p| r.applies_to_profile(*p)) {
            format!(
                "rule \"{}\" would {verb} it on {} networks, not on {} ones",
                r.name,
                Profile::mask_text(r.profiles),
                profiles.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
            )
        } else {
            continue;
        };
        if !out.contains(&line) {
            out.push(line);
        }
    }
    out
}

fn profile_state(st: &FirewallState, p: Profile) -> String {
    match st.profile(p) {
        Some(s) if !s.enabled => format!("{} (firewall off)", p.name()),
        Some(s) => format!(
            "{} (firewall on; inbound default: {})",
            p.name(),
            if s.default_inbound_block { "block" } else { "allow" }
        ),
        None => p.name().to_string(),
    }
}

fn state_word(opens: &[Option<bool>]) -> &'static str {
    if opens.iter().all(|o| *o == Some(true)) {
        "open"
    } else if opens.contains(&Some(false)) {
        "blocked"
    } else {
        "partly open or unknown"
    }
}

/// Rules + profiles + networks → the report. `specs` in the order of `super::rules`.
pub fn evaluate(st: &FirewallState, specs: &[RuleSpec], cx: &Context<'_>) -> Report {
    let target = target(st, cx.primary);
    let (profiles, lan, profile_line) = match &target {
        Target::Network(n, lan) => (
            vec![n.category],
            Some(*lan),
            format!("Headsets' network: {}, {}", n.label(), profile_state(st, n.category)),
        ),
        Target::Unknown { why, lan } => (
            Profile::ALL.to_vec(),
            *lan,
            format!("Headsets' network: unknown ({why}); the verdict stands only where every profile agrees"),
        ),
    };
    let ports: Vec<PortReport> = specs
        .iter()
        .map(|s| {
            let (open, verdict) = port_verdict(st, s, &profiles, cx, lan.as_ref());
            PortReport { spec: s.clone(), open, verdict, notes: notes(st, s, &profiles) }
        })
        .collect();
    // Group Policy decides and rules on this PC do not apply: what they say is not the answer.
    let ports = if st.modify_state == ModifyState::GroupPolicy {
        ports
            .into_iter()
            .map(|p| PortReport {
                open: None,
                verdict: format!(
                    "unknown: Windows Firewall is managed by your organisation (Group Policy), and rules made on \
                     this PC do not apply (they say: {})",
                    p.verdict
                ),
                ..p
            })
            .collect()
    } else {
        ports
    };
    let needed: Vec<&RuleSpec> = specs.iter().filter(|s| s.needed).collect();
    let networks = st
        .networks
        .iter()
        .map(|n| {
            let opens: Vec<Option<bool>> = needed
                .iter()
                .map(|s| in_profile(st, s, n.category, cx, n.carries_lan(lan.as_ref()).as_ref()).0)
                .collect();
            let role = match &target {
                Target::Network(t, lan) if std::ptr::eq(*t, n) => {
                    format!("the headsets' network ({}, the address in the QR code)", lan.ip)
                }
                Target::Network(..) => "headsets don't use it".to_string(),
                Target::Unknown { .. } => "headsets may use it".to_string(),
            };
            format!("{}, {}: {} — {role}", n.label(), n.category.name(), state_word(&opens))
        })
        .collect();
    let mut report = Report {
        profile_line,
        networks,
        ports,
        fix: FixPlan::default(),
        changes: Vec::new(),
        must_change: Vec::new(),
        network_settings: false,
    };
    if report.ports.iter().all(|p| !p.spec.needed || p.open == Some(true)) {
        return report;
    }
    match &target {
        _ if st.modify_state == ModifyState::GroupPolicy => report.must_change.push(format!(
            "Windows Firewall is managed by your organisation (Group Policy): rules made on this PC do not take \
             effect, so CXR Gate offers no fix. If headsets cannot connect, ask your IT department to allow \
             inbound {} on the headsets' network.",
            needed.iter().map(|s| s.label()).collect::<Vec<_>>().join(" and ")
        )),
        Target::Unknown { why, .. } => report.must_change.push(format!(
            "CXR Gate cannot tell which network the headsets use ({why}), so it offers no change. Check again \
             once this PC is connected to the headsets' network."
        )),
        Target::Network(n, _) if n.category == Profile::Public => {
            report.network_settings = true;
            report.must_change.push(format!(
                "{} is a Public network: Windows keeps headsets out there, and CXR Gate opens its ports on \
                 Private and Domain networks only. If it is your home or office network, make it Private in \
                 Network settings…, then check again.",
                n.label()
            ));
        }
        Target::Network(n, lan) => plan(st, specs, cx, n.category, lan, &mut report),
    }
    report
}

impl Network {
    /// `lan` when this network carries it (the headsets' verdict uses its scope; others don't).
    fn carries_lan(&self, lan: Option<&Lan>) -> Option<Lan> {
        lan.filter(|l| self.carries(l.ip).is_some()).copied()
    }
}

/// The fix on the headsets' network (`profile`): disable block rules bound to this program that
/// keep a needed port closed, add our rules for ports still closed; keep only the changes that open
/// a port; for the rest, say what must change.
fn plan(st: &FirewallState, specs: &[RuleSpec], cx: &Context<'_>, profile: Profile, lan: &Lan, report: &mut Report) {
    let this = cx.programs.get(..1).unwrap_or(&[]);
    let program = cx.exe;
    let closed: Vec<&RuleSpec> =
        specs.iter().filter(|s| s.needed && in_profile(st, s, profile, cx, Some(lan)).0 != Some(true)).collect();
    for spec in closed {
        let blockers: Vec<Disable> = st
            .rules
            .iter()
            .filter(|r| {
                r.action == Action::Block
                    && spec.ours
                    && is_program(r, this, cx.var)
                    && (spec.first..=spec.last).any(|p| live(r, spec, p, profile))
            })
            .map(Disable::of)
            .collect();
        let add = match spec.role {
            Role::Proxy => OurRule::proxy(spec.first),
            _ => OurRule::media(spec.first, spec.last),
        };
        let step = FixPlan { add: vec![add], disable: blockers };
        let after = step.apply_to(st, program, this, cx.var);
        let (open, _) = in_profile(&after, spec, profile, cx, Some(lan));
        if open == Some(true) {
            for d in &step.disable {
                for r in st.rules.iter().filter(|r| d.matches(r) && is_program(r, this, cx.var)) {
                    report.changes.push(format!("Disable \"{}\" ({})", r.name, r.shape()));
                }
            }
            let a = &step.add[0];
            let old: Vec<String> =
                st.rules.iter().filter(|r| is_ours(r) && r.name == a.name()).map(|r| r.shape()).collect();
            report.changes.push(if old.is_empty() {
                format!("Add \"{}\": {}", a.name(), a.describe(program))
            } else {
                format!("Replace CXR Gate's \"{}\" ({}) with: {}", a.name(), old.join("; "), a.describe(program))
            });
            report.fix.disable.extend(step.disable);
            report.fix.add.extend(step.add);
        } else {
            let still = (spec.first..=spec.last)
                .map(|p| decide(&after, spec, p, profile, cx, Some(lan)))
                .find(|d| d.open() != Some(true));
            if let Some(d) = still {
                let line = must_change(&d, spec, profile, cx);
                if !report.must_change.contains(&line) {
                    report.must_change.push(line);
                }
            }
        }
    }
}

/// What the user must change when our rules cannot open `spec` on `profile` networks.
fn must_change(d: &Decision<'_>, spec: &RuleSpec, profile: Profile, cx: &Context<'_>) -> String {
    let advanced = "in Windows Defender Firewall with Advanced Security → Inbound Rules";
    let p = profile.name();
    match d {
        Decision::ShieldsUp => format!(
            "Turn off \"Blocks all incoming connections, including those in the list of allowed apps\" for {p} \
             networks (Windows Security → Firewall & network protection → {p} network): while it is on, no rule \
             lets headsets in."
        ),
        Decision::Blocked(r) | Decision::PartlyBlocked(r) if !r.application.trim().is_empty() => format!(
            "Rule \"{}\" ({}) keeps headsets off {}: it blocks that program, and a block rule beats every allow \
             rule. Disable it {advanced}{} (CXR Gate changes only its own program's rules).",
            r.name,
            r.shape(),
            spec.label(),
            if super::decide::is_prompt_rule(r) {
                "; Windows made it when the program's first-run prompt was cancelled or answered without ticking \
                 this kind of network"
            } else {
                ""
            }
        ),
        Decision::Blocked(r) | Decision::PartlyBlocked(r) => format!(
            "Rule \"{}\" ({}) blocks {}, and a block rule beats every allow rule: disable it or narrow it {advanced}.",
            r.name,
            r.shape(),
            spec.label()
        ),
        Decision::Unless(_, rules) => format!(
            "Start the CloudXR Runtime and check again: {}, and block rule {} would keep headsets out if it is \
             the Runtime's.",
            super::decide::unknown_listener(cx),
            rules.iter().map(|r| format!("\"{}\"", r.name)).collect::<Vec<_>>().join(", ")
        ),
        Decision::Unreadable(_, us) => format!(
            "{}: CXR Gate cannot tell whether it lets headsets reach {}; look at it {advanced}.",
            us.iter().map(|u| u.label()).collect::<Vec<_>>().join(", "),
            spec.label()
        ),
        other => format!("{}: {}.", spec.label(), other.text(profile, cx)),
    }
}

impl Report {
    /// The few lines the headless binary prints at start.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!("Windows Firewall: {}", self.profile_line)];
        out.extend(self.networks.iter().map(|n| format!("  {n}")));
        for p in &self.ports {
            let mark = match (p.spec.needed, p.open) {
                (false, Some(false)) => "not open (headsets don't need it)",
                (false, _) => "open, though headsets don't need it",
                (_, Some(true)) => "ok",
                (_, Some(false)) => "BLOCKED",
                (_, None) => "partly or unknown",
            };
            out.push(format!("  {} ({}): {mark}: {}", p.spec.label(), p.spec.name, p.verdict));
        }
        if !self.changes.is_empty() {
            out.push("  to fix (as administrator): ".to_string() + &self.changes.join("; "));
        }
        out.extend(self.must_change.iter().map(|m| format!("  to change: {m}")));
        out
    }
}
