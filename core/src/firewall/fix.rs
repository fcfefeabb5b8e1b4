//! CXR Gate's own firewall rules and the fix as data. Our rules have names of their own and the
//! rule group `CXR Gate`, so exactly they can be found, replaced and removed: the gate's TCP port
//! bound to this program, and the Runtime's UDP media ports, on Private and Domain networks only;
//! never TCP 49100 (headsets reach the Runtime through the gate). The fix adds or replaces our
//! rules and disables inbound block rules bound to this program's path; `apply_to` shows what a
//! plan does to a rule set, so the verdict after it is computed by the same code as before it.

use super::model::{Action, Direction, FirewallState, Rule};
use super::{ports_text, Proto, Role};

/// `INetFwRule::Grouping` of every rule CXR Gate adds.
pub const GROUP: &str = "CXR Gate";
/// Our rules' names: distinct from NVIDIA's "CloudXR …" names, from the first-run prompt's "CXR
/// Gate", and from what a user would call a rule.
pub const PROXY_RULE: &str = "CXR Gate: headsets to the wss:// proxy";
pub const MEDIA_RULE: &str = "CXR Gate: CloudXR Runtime media";
pub const OUR_NAMES: [&str; 2] = [PROXY_RULE, MEDIA_RULE];
pub const DESCRIPTION: &str =
    "Added by CXR Gate for headsets on the local network; removed when CXR Gate is uninstalled";
/// Private and Domain (`NET_FW_PROFILE2_PRIVATE | NET_FW_PROFILE2_DOMAIN`): never Public.
pub const OUR_PROFILES: u32 = 1 | 2;

/// One of CXR Gate's own allow rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OurRule {
    /// Proxy or Media (the signaling port gets no rule).
    pub role: Role,
    pub first: u16,
    pub last: u16,
}

impl OurRule {
    pub fn proxy(port: u16) -> OurRule {
        OurRule { role: Role::Proxy, first: port, last: port }
    }

    pub fn media(first: u16, last: u16) -> OurRule {
        OurRule { role: Role::Media, first, last }
    }

    pub fn name(&self) -> &'static str {
        match self.role {
            Role::Proxy => PROXY_RULE,
            _ => MEDIA_RULE,
        }
    }

    pub fn proto(&self) -> Proto {
        match self.role {
            Role::Proxy | Role::Signaling => Proto::Tcp,
            Role::Media => Proto::Udp,
        }
    }

    /// The rule as the firewall will hold it; the proxy's is bound to `program` (this exe).
    pub fn rule(&self, program: &str) -> Rule {
        Rule {
            name: self.name().into(),
            description: DESCRIPTION.into(),
            enabled: true,
            direction: Direction::In,
            action: Action::Allow,
            profiles: OUR_PROFILES,
            protocol: self.proto().number(),
            local_ports: ports_text(self.first, self.last),
            application: if self.role == Role::Proxy { program.into() } else { String::new() },
            remote_addresses: "*".into(),
            grouping: GROUP.into(),
        }
    }

    /// `allow TCP 48322 in for C:\…\cxr-gate.exe, on Private and Domain networks`.
    pub fn describe(&self, program: &str) -> String {
        let whom = if self.role == Role::Proxy { format!(" for {program}") } else { String::new() };
        format!(
            "allow {} {} in{whom}, on Private and Domain networks",
            self.proto().upper(),
            ports_text(self.first, self.last)
        )
    }
}

/// A rule is one of ours: our group and one of our names.
pub fn is_ours(r: &Rule) -> bool {
    r.grouping == GROUP && OUR_NAMES.contains(&r.name.as_str())
}

/// The rules `--install-rules [--media]` adds: the gate's port, and the media ports when asked.
pub fn install_plan(proxy_port: u16, media: Option<(u16, u16)>) -> Vec<OurRule> {
    let mut v = vec![OurRule::proxy(proxy_port)];
    if let Some((first, last)) = media {
        v.push(OurRule::media(first, last));
    }
    v
}

/// A block rule to disable, as the confirmation named it: the elevated run disables only an
/// enabled inbound block rule with this name, protocol and profiles bound to its own program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disable {
    pub name: String,
    pub protocol: i32,
    pub profiles: u32,
}

impl Disable {
    pub fn of(r: &Rule) -> Disable {
        Disable { name: r.name.clone(), protocol: r.protocol, profiles: r.profiles }
    }

    pub fn matches(&self, r: &Rule) -> bool {
        r.enabled
            && r.direction == Direction::In
            && r.action == Action::Block
            && r.name == self.name
            && r.protocol == self.protocol
            && r.profiles == self.profiles
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FixPlan {
    /// Our rules to add (replacing ours of the same name).
    pub add: Vec<OurRule>,
    pub disable: Vec<Disable>,
}

impl FixPlan {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.disable.is_empty()
    }

    /// The rule set after the plan: `disable` off where bound to one of `programs` (normalized),
    /// ours of the same names gone, ours added (the proxy's for `program`).
    pub fn apply_to(
        &self,
        st: &FirewallState,
        program: &str,
        programs: &[String],
        var: &dyn Fn(&str) -> Option<String>,
    ) -> FirewallState {
        let mut after = st.clone();
        for r in after.rules.iter_mut() {
            if self.disable.iter().any(|d| d.matches(r)) && super::decide::is_program(r, programs, var) {
                r.enabled = false;
            }
        }
        after.rules.retain(|r| !(is_ours(r) && self.add.iter().any(|a| a.name() == r.name)));
        after.rules.extend(self.add.iter().map(|a| a.rule(program)));
        after
    }
}
