//! What decides one port in one profile, in Windows Firewall's order: the firewall off lets all
//! in; "block all incoming" keeps all out; a matching block rule beats every allow rule; then an
//! allow rule; then the profile's default. A program rule counts when that program is what listens:
//! this program on the gate's port, the program found listening on the Runtime's ports (when the
//! Runtime is not running, a program's block rule is named as a possibility, never read as
//! "allowed"). A rule's remote addresses count by how much of the headsets' network they cover;
//! a rule that could not be read makes an otherwise open or closed port unknown. Pure.

use std::net::IpAddr;

use super::model::{normalize_program, Action, Direction, FirewallState, Profile, Rule, UnreadableRule};
use super::remote::{Coverage, Lan, Remote};
use super::RuleSpec;

/// Who listens on the CloudXR Runtime's ports (TCP 49100, UDP 47998-48012).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runtime {
    /// This program (its full path, as Windows reports it).
    Program(String),
    /// Nothing listens there: the Runtime is not running.
    NotRunning,
    /// It could not be found out (why).
    Unknown(String),
}

/// Inputs of the evaluation besides the firewall.
pub struct Context<'a> {
    /// This program's path as Windows reports it (the gate's rule is bound to it).
    pub exe: &'a str,
    /// Our programs, normalized (`normalize_program`): the first is the one listening on the proxy
    /// port (this program).
    pub programs: &'a [String],
    /// `%VAR%` lookup for program paths in rules.
    pub var: &'a dyn Fn(&str) -> Option<String>,
    /// The address in the QR code (the primary LAN address): its network is the headsets'.
    pub primary: Option<IpAddr>,
    pub runtime: &'a Runtime,
}

/// What decides one port in one profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<'a> {
    /// The firewall is off for the profile.
    Off,
    /// "Block all incoming connections" is on for the profile.
    ShieldsUp,
    Blocked(&'a Rule),
    /// A block rule for some of the headsets' network (or for addresses it may hold).
    PartlyBlocked(&'a Rule),
    Allowed(&'a Rule),
    /// An allow rule that covers only some headsets (remote addresses) or maybe another program.
    Partial(&'a Rule, String),
    Default {
        block: bool,
    },
    /// Open, unless the Runtime turns out to be a program these block rules are for.
    Unless(Box<Decision<'a>>, Vec<&'a Rule>),
    /// Rules that could not be read may turn the decision (the one read without them).
    Unreadable(Box<Decision<'a>>, Vec<&'a UnreadableRule>),
}

impl Decision<'_> {
    /// Some(true) a headset on the network gets in, Some(false) it does not, None: some, or unknown.
    pub fn open(&self) -> Option<bool> {
        match self {
            Decision::Off | Decision::Allowed(_) | Decision::Default { block: false } => Some(true),
            Decision::ShieldsUp | Decision::Blocked(_) | Decision::Default { block: true } => Some(false),
            Decision::PartlyBlocked(_) | Decision::Partial(..) | Decision::Unless(..) | Decision::Unreadable(..) => {
                None
            }
        }
    }

    pub fn text(&self, profile: Profile, cx: &Context<'_>) -> String {
        match self {
            Decision::Off => format!("allowed: the firewall is off for {} networks", profile.name()),
            Decision::ShieldsUp => format!(
                "blocked: \"Block all incoming connections\" is on for {} networks, whatever the rules say",
                profile.name()
            ),
            Decision::Blocked(r) => {
                let mut s = format!("blocked by rule \"{}\" ({})", r.name, r.shape());
                if is_prompt_rule(r) {
                    s.push_str(&format!(
                        ". Windows made it when its first-run prompt for this program was answered without \
                         ticking {} networks, or cancelled",
                        profile.name()
                    ));
                }
                s
            }
            Decision::PartlyBlocked(r) => format!("partly blocked by rule \"{}\" ({})", r.name, r.shape()),
            Decision::Allowed(r) => match r.remote() {
                Remote::LocalSubnet => format!("allowed by rule \"{}\" (local subnet)", r.name),
                Remote::Only(list) => format!("allowed by rule \"{}\" (from {list})", r.name),
                Remote::Any => format!("allowed by rule \"{}\"", r.name),
            },
            Decision::Partial(r, why) => format!("partly allowed by rule \"{}\": {why}", r.name),
            Decision::Default { block: true } => "no rule: blocked by default".into(),
            Decision::Default { block: false } => {
                format!("no rule: allowed ({} networks let in what no rule blocks)", profile.name())
            }
            Decision::Unless(base, rules) => {
                let why = unknown_listener(cx);
                let each: Vec<String> = rules.iter().map(|r| format!("\"{}\" ({})", r.name, r.shape())).collect();
                format!(
                    "{}, unless the Runtime is a program that block rule {} is for: {why}",
                    base.text(profile, cx),
                    each.join(", ")
                )
            }
            Decision::Unreadable(base, rules) => {
                let each: Vec<String> = rules.iter().map(|u| u.label()).collect();
                format!("unknown: {} may decide it (read without it: {})", each.join(", "), base.text(profile, cx))
            }
        }
    }
}

/// Why the program on the Runtime's ports is not known.
pub fn unknown_listener(cx: &Context<'_>) -> String {
    match cx.runtime {
        Runtime::Unknown(e) => format!("which program listens here could not be found out ({e})"),
        _ => "the CloudXR Runtime is not running, so which program listens here is unknown".into(),
    }
}

/// The shape of the rule Windows' first-run prompt ("Allow … to communicate on these networks")
/// makes: a program, TCP or UDP, any port, any address, no group.
pub fn is_prompt_rule(r: &Rule) -> bool {
    !r.application.trim().is_empty()
        && r.grouping.trim().is_empty()
        && (r.protocol == 6 || r.protocol == 17)
        && r.covers_port(1)
        && r.covers_port(u16::MAX)
        && r.remote() == Remote::Any
}

/// The rule is for one of `programs` (normalized paths).
pub fn is_program(r: &Rule, programs: &[String], var: &dyn Fn(&str) -> Option<String>) -> bool {
    !r.application.trim().is_empty() && programs.contains(&normalize_program(&r.application, var))
}

/// Whether a rule's program is what listens on the port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fits {
    Yes,
    No,
    /// The Runtime's program is not known: it may be.
    Maybe,
}

fn fits(r: &Rule, spec: &RuleSpec, cx: &Context<'_>) -> Fits {
    if r.application.trim().is_empty() {
        return Fits::Yes;
    }
    if spec.ours {
        return if is_program(r, cx.programs.get(..1).unwrap_or(&[]), cx.var) { Fits::Yes } else { Fits::No };
    }
    match cx.runtime {
        Runtime::Program(p) => {
            if is_program(r, &[normalize_program(p, cx.var)], cx.var) {
                Fits::Yes
            } else {
                Fits::No
            }
        }
        // Our own programs never listen on the Runtime's ports.
        _ if is_program(r, cx.programs, cx.var) => Fits::No,
        _ => Fits::Maybe,
    }
}

/// The rule applies to `port` of `spec` in `profile` (enabled, inbound, protocol, port).
pub fn live(r: &Rule, spec: &RuleSpec, port: u16, profile: Profile) -> bool {
    r.enabled
        && r.direction == Direction::In
        && r.applies_to_profile(profile)
        && r.applies_to_proto(spec.proto)
        && r.covers_port(port)
}

pub fn decide<'a>(
    st: &'a FirewallState,
    spec: &RuleSpec,
    port: u16,
    profile: Profile,
    cx: &Context<'_>,
    lan: Option<&Lan>,
) -> Decision<'a> {
    let ps = st.profile(profile);
    if ps.is_some_and(|p| !p.enabled) {
        return Decision::Off;
    }
    if ps.is_some_and(|p| p.block_all_inbound) {
        return Decision::ShieldsUp;
    }
    let mut part_block = None;
    let mut allowed = None;
    let mut partial = None;
    let mut maybe = Vec::new();
    for r in st.rules.iter().filter(|r| live(r, spec, port, profile)) {
        let fit = fits(r, spec, cx);
        let cov = r.remote().coverage(lan);
        if fit == Fits::No || cov == Coverage::None {
            continue;
        }
        match (r.action, fit, cov) {
            (Action::Block, Fits::Yes, Coverage::All) => return with_unreadable(st, Decision::Blocked(r)),
            (Action::Block, Fits::Yes, _) => {
                part_block.get_or_insert(Decision::PartlyBlocked(r));
            }
            (Action::Block, _, _) => maybe.push(r),
            (Action::Allow, Fits::Yes, Coverage::All) => {
                allowed.get_or_insert(Decision::Allowed(r));
            }
            (Action::Allow, Fits::Yes, cov) => {
                let list = r.remote_addresses.trim();
                let why = if cov == Coverage::Some {
                    format!("only from {list}; a headset at another address is blocked")
                } else {
                    format!("only from {list}, which may not hold every headset")
                };
                partial.get_or_insert(Decision::Partial(r, why));
            }
            (Action::Allow, _, _) => {
                partial.get_or_insert(Decision::Partial(
                    r,
                    format!("only for the program {} (counts if that is what listens here)", r.application),
                ));
            }
        }
    }
    let base = part_block
        .or(allowed)
        .or(partial)
        .unwrap_or(Decision::Default { block: ps.is_none_or(|p| p.default_inbound_block) });
    let base =
        if !maybe.is_empty() && base.open() == Some(true) { Decision::Unless(Box::new(base), maybe) } else { base };
    with_unreadable(st, base)
}

/// A block by a rule that was read stands; otherwise a rule that could not be read and could
/// turn the decision makes it unknown.
fn with_unreadable<'a>(st: &'a FirewallState, d: Decision<'a>) -> Decision<'a> {
    if matches!(d, Decision::Off | Decision::ShieldsUp | Decision::Blocked(_)) {
        return d;
    }
    let turns: Vec<&UnreadableRule> = st
        .unreadable
        .iter()
        .filter(|u| match d.open() {
            Some(true) => u.may_be(Action::Block),
            Some(false) => u.may_be(Action::Allow),
            None => u.may_be(Action::Block) || u.may_be(Action::Allow),
        })
        .collect();
    if turns.is_empty() {
        d
    } else {
        Decision::Unreadable(Box::new(d), turns)
    }
}
