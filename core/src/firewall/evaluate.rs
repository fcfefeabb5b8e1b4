//! The verdict: rules + profiles → for each port CXR Gate needs, in each profile in effect now,
//! which rule lets a headset in or keeps it out ("allowed by rule X", "blocked by rule Y", "no rule:
//! blocked by default"), a line per network, and the fix (the allow rules to add, the program block
//! rules to disable). Windows Firewall's order: the firewall off lets all in; "block all incoming"
//! keeps all out; a matching block rule beats every allow rule; then an allow rule; then the
//! profile's default. Pure; unit-tested on every platform (tests.rs).

use super::fix::{AllowSpec, FixPlan};
use super::model::{Action, Direction, FirewallState, Profile, Remote, Rule};
use super::{ports_text, RuleSpec};

/// What decides one port in one profile.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision<'a> {
    /// The firewall is off for the profile.
    Off,
    /// "Block all incoming connections" is on for the profile.
    ShieldsUp,
    Blocked(&'a Rule),
    Allowed(&'a Rule),
    /// An allow rule that covers only some headsets (remote addresses) or another program.
    Partial(&'a Rule, String),
    Default {
        block: bool,
    },
}

impl Decision<'_> {
    fn open(&self) -> Option<bool> {
        match self {
            Decision::Off | Decision::Allowed(_) => Some(true),
            Decision::ShieldsUp | Decision::Blocked(_) | Decision::Default { block: true } => Some(false),
            Decision::Default { block: false } => Some(true),
            Decision::Partial(..) => None,
        }
    }

    fn text(&self, profile: Profile, ours: &[String], var: &dyn Fn(&str) -> Option<String>) -> String {
        match self {
            Decision::Off => format!("allowed: the firewall is off for {} networks", profile.name()),
            Decision::ShieldsUp => format!(
                "blocked: \"Block all incoming connections\" is on for {} networks, whatever the rules say",
                profile.name()
            ),
            Decision::Blocked(r) => {
                let mut s = format!("blocked by rule \"{}\" ({})", r.name, r.shape());
                if is_prompt_rule(r, ours, var) {
                    s.push_str(&format!(
                        ". Windows made it when its first-run prompt for this program was answered without \
                         ticking {} networks, or cancelled",
                        profile.name()
                    ));
                }
                s
            }
            Decision::Allowed(r) => match r.remote() {
                Remote::LocalSubnet => format!("allowed by rule \"{}\" (local subnet)", r.name),
                _ => format!("allowed by rule \"{}\"", r.name),
            },
            Decision::Partial(r, why) => format!("partly allowed by rule \"{}\": {why}", r.name),
            Decision::Default { block: true } => "no rule: blocked by default".into(),
            Decision::Default { block: false } => {
                format!("no rule: allowed ({} networks let in what no rule blocks)", profile.name())
            }
        }
    }

    /// Same verdict (for grouping ports): the same kind and rule.
    fn key(&self) -> (u8, Option<&str>) {
        match self {
            Decision::Off => (0, None),
            Decision::ShieldsUp => (1, None),
            Decision::Blocked(r) => (2, Some(&r.name)),
            Decision::Allowed(r) => (3, Some(&r.name)),
            Decision::Partial(r, _) => (4, Some(&r.name)),
            Decision::Default { block } => (5 + u8::from(*block), None),
        }
    }
}

/// The shape of the rule Windows' first-run prompt ("Allow … to communicate on these networks")
/// makes: one of our programs, TCP or UDP, any port, any address, no group.
pub fn is_prompt_rule(r: &Rule, ours: &[String], var: &dyn Fn(&str) -> Option<String>) -> bool {
    is_our_program(r, ours, var)
        && r.grouping.trim().is_empty()
        && (r.protocol == 6 || r.protocol == 17)
        && r.covers_port(1)
        && r.covers_port(u16::MAX)
        && r.remote() == Remote::Any
}

fn is_our_program(r: &Rule, ours: &[String], var: &dyn Fn(&str) -> Option<String>) -> bool {
    !r.application.trim().is_empty() && {
        let app = super::model::normalize_program(&r.application, var);
        ours.contains(&app)
    }
}

/// Inputs of the evaluation besides the firewall.
pub struct Context<'a> {
    /// Our programs, normalized (`normalize_program`): the first is the one listening on the proxy
    /// port; all of them are candidates for "disable the program block rules".
    pub programs: &'a [String],
    /// `%VAR%` lookup for program paths in rules.
    pub var: &'a dyn Fn(&str) -> Option<String>,
}

fn decide<'a>(st: &'a FirewallState, spec: &RuleSpec, port: u16, profile: Profile, cx: &Context<'_>) -> Decision<'a> {
    let ps = st.profile(profile);
    if ps.is_some_and(|p| !p.enabled) {
        return Decision::Off;
    }
    if ps.is_some_and(|p| p.block_all_inbound) {
        return Decision::ShieldsUp;
    }
    let listener = if spec.ours { cx.programs.get(..1).unwrap_or(&[]) } else { &[] };
    let live = st.rules.iter().filter(|r| {
        r.enabled
            && r.direction == Direction::In
            && r.applies_to_profile(profile)
            && r.applies_to_proto(spec.proto)
            && r.covers_port(port)
    });
    // A program rule applies when the program is the one listening. For the Runtime's ports we
    // don't know its program: its rules count as partial allows and as no blocks.
    let program_applies = |r: &Rule| r.application.trim().is_empty() || is_our_program(r, listener, cx.var);
    let mut partial = None;
    let mut allowed = None;
    for r in live {
        match r.action {
            Action::Block if program_applies(r) && r.remote().covers_lan() => return Decision::Blocked(r),
            Action::Block => {}
            Action::Allow if program_applies(r) => match r.remote() {
                Remote::Only(list) => {
                    partial.get_or_insert(Decision::Partial(
                        r,
                        format!("only from {list}; a headset at another address is blocked"),
                    ));
                }
                _ => {
                    allowed.get_or_insert(Decision::Allowed(r));
                }
            },
            Action::Allow => {
                // Our own program does not listen on the Runtime's ports.
                if !spec.ours && !is_our_program(r, cx.programs, cx.var) {
                    partial.get_or_insert(Decision::Partial(
                        r,
                        format!("only for the program {} (counts if that is what listens here)", r.application),
                    ));
                }
            }
        }
    }
    allowed.or(partial).unwrap_or(Decision::Default { block: ps.is_none_or(|p| p.default_inbound_block) })
}

/// Notes on rules that would matter but don't apply: disabled, another profile, remote-scoped blocks.
fn notes(st: &FirewallState, spec: &RuleSpec, current: &[Profile]) -> Vec<String> {
    let mut out = Vec::new();
    let hits = st.rules.iter().filter(|r| {
        r.direction == Direction::In
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
        } else if !current.iter().any(|p| r.applies_to_profile(*p)) {
            format!(
                "rule \"{}\" would {verb} it on {} networks, not on {} ones",
                r.name,
                Profile::mask_text(r.profiles),
                current.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
            )
        } else if let (Action::Block, Remote::Only(list)) = (r.action, r.remote()) {
            format!("rule \"{}\" blocks it from {list}", r.name)
        } else {
            continue;
        };
        if !out.contains(&line) {
            out.push(line);
        }
    }
    out
}

/// The verdict for one port (or range).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortReport {
    pub spec: RuleSpec,
    /// Some(true) a LAN headset gets in, Some(false) it does not, None: only some do.
    pub open: Option<bool>,
    /// "allowed by rule …", "Public: 47998-48005 blocked by …; 48006-48012 no rule: blocked by default".
    pub verdict: String,
    pub notes: Vec<String>,
}

/// The whole view: profiles, networks, a verdict per port, and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// "Current profile: Public (firewall on; inbound default: block)".
    pub profile_line: String,
    /// "'Home' is Public", one per connected network.
    pub networks: Vec<String>,
    pub ports: Vec<PortReport>,
    pub fix: FixPlan,
    /// What the fix changes, one line per rule, for the confirmation.
    pub changes: Vec<String>,
    /// A connected network is Public (the user may make it Private in Windows' settings).
    pub public_network: bool,
}

fn port_report(st: &FirewallState, spec: &RuleSpec, current: &[Profile], cx: &Context<'_>) -> PortReport {
    let mut parts: Vec<(Profile, String)> = Vec::new();
    let mut open = Some(true);
    for &profile in current {
        let ds: Vec<(u16, Decision<'_>)> =
            (spec.first..=spec.last).map(|p| (p, decide(st, spec, p, profile, cx))).collect();
        // Runs of ports with the same verdict.
        let mut runs: Vec<(u16, u16, &Decision<'_>)> = Vec::new();
        for (p, d) in &ds {
            match runs.last_mut() {
                Some(run) if run.2.key() == d.key() => run.1 = *p,
                _ => runs.push((*p, *p, d)),
            }
            open = match (open, d.open()) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (None, _) | (_, None) => None,
                _ => Some(true),
            };
        }
        let text = if runs.len() == 1 {
            runs[0].2.text(profile, cx.programs, cx.var)
        } else {
            runs.iter()
                .map(|(a, b, d)| format!("{} {}", ports_text(*a, *b), d.text(profile, cx.programs, cx.var)))
                .collect::<Vec<_>>()
                .join("; ")
        };
        parts.push((profile, text));
    }
    let verdict = if parts.iter().all(|(_, t)| *t == parts[0].1) {
        parts[0].1.clone()
    } else {
        parts.iter().map(|(p, t)| format!("{}: {t}", p.name())).collect::<Vec<_>>().join(" | ")
    };
    PortReport { spec: spec.clone(), open, verdict, notes: notes(st, spec, current) }
}

fn category_line(st: &FirewallState) -> Vec<String> {
    st.networks.iter().map(|n| format!("Network \"{}\" is {}", n.name, n.category.name())).collect()
}

fn profile_line(st: &FirewallState, current: &[Profile]) -> String {
    let each: Vec<String> = current
        .iter()
        .map(|p| match st.profile(*p) {
            Some(s) if !s.enabled => format!("{} (firewall off)", p.name()),
            Some(s) => format!(
                "{} (firewall on; inbound default: {})",
                p.name(),
                if s.default_inbound_block { "block" } else { "allow" }
            ),
            None => p.name().to_string(),
        })
        .collect();
    let label = if current.len() == 1 { "Current profile" } else { "Current profiles" };
    format!("{label}: {}", each.join(", "))
}

/// Rules + profiles → the report.
pub fn evaluate(st: &FirewallState, specs: &[RuleSpec], cx: &Context<'_>) -> Report {
    let current = st.current();
    let ports: Vec<PortReport> = specs.iter().map(|s| port_report(st, s, &current, cx)).collect();
    // The fix: disable every enabled inbound block rule for one of our programs (any profile: the
    // PC moves between networks), then add an allow rule for each port still not open.
    let blockers: Vec<&Rule> = st
        .rules
        .iter()
        .filter(|r| {
            r.enabled
                && r.direction == Direction::In
                && r.action == Action::Block
                && is_our_program(r, cx.programs, cx.var)
        })
        .collect();
    let mut after = st.clone();
    for r in after.rules.iter_mut() {
        if blockers.iter().any(|b| *b == r) {
            r.enabled = false;
        }
    }
    let mut fix = FixPlan::default();
    let mut changes = Vec::new();
    for r in &blockers {
        if !fix.disable.contains(&r.name) {
            fix.disable.push(r.name.clone());
        }
        changes.push(format!("Disable \"{}\" ({})", r.name, r.shape()));
    }
    for s in specs {
        if port_report(&after, s, &current, cx).open != Some(true) {
            fix.allow.push(AllowSpec { name: s.name.to_string(), proto: s.proto, first: s.first, last: s.last });
            changes.push(format!(
                "Add \"{}\": allow {} {} in, all profiles, local subnet",
                s.name,
                s.proto.upper(),
                ports_text(s.first, s.last)
            ));
        }
    }
    Report {
        profile_line: profile_line(st, &current),
        networks: category_line(st),
        ports,
        fix,
        changes,
        public_network: st.networks.iter().any(|n| n.category == Profile::Public),
    }
}

impl Report {
    /// The few lines the headless binary prints at start.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!("Windows Firewall: {}", self.profile_line)];
        out.extend(self.networks.iter().map(|n| format!("  {n}")));
        for p in &self.ports {
            let mark = match p.open {
                Some(true) => "ok",
                Some(false) => "BLOCKED",
                None => "partly",
            };
            out.push(format!(
                "  {} {} ({}): {mark}: {}",
                p.spec.proto.upper(),
                ports_text(p.spec.first, p.spec.last),
                p.spec.name,
                p.verdict
            ));
        }
        if !self.changes.is_empty() {
            out.push("  to fix (as administrator): ".to_string() + &self.changes.join("; "));
        }
        out
    }
}
