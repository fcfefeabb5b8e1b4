//! The Windows Firewall as data: profiles and their state, the connected networks with their
//! adapters and addresses, whether local rules take effect, and the inbound rules as
//! `INetFwPolicy2` / `INetFwRule` report them (numbers and the firewall's own port and address
//! syntax, the same in every display language; a rule that could not be read is kept as such).
//! Plain types, built by `windows.rs` on Windows and by the tests' fixtures everywhere; `decide.rs`
//! and `evaluate.rs` read them.

use std::net::IpAddr;

use serde::Serialize;

pub use super::remote::Remote;

/// A firewall profile, with its `NET_FW_PROFILE_TYPE2` bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Profile {
    Domain,
    Private,
    Public,
}

impl Profile {
    pub const ALL: [Profile; 3] = [Profile::Domain, Profile::Private, Profile::Public];

    pub fn bit(self) -> u32 {
        match self {
            Profile::Domain => 1,
            Profile::Private => 2,
            Profile::Public => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Profile::Domain => "Domain",
            Profile::Private => "Private",
            Profile::Public => "Public",
        }
    }

    /// The profiles in a bitmask (`NET_FW_PROFILE2_ALL` is 0x7FFFFFFF: all three).
    pub fn in_mask(mask: u32) -> Vec<Profile> {
        Profile::ALL.into_iter().filter(|p| mask & p.bit() != 0).collect()
    }

    /// "Public", "Private, Public", "all profiles".
    pub fn mask_text(mask: u32) -> String {
        let ps = Profile::in_mask(mask);
        if ps.len() == 3 {
            return "all profiles".into();
        }
        if ps.is_empty() {
            return "no profile".into();
        }
        ps.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
    }
}

/// One profile's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileState {
    pub profile: Profile,
    /// The firewall is on for this profile.
    pub enabled: bool,
    /// What happens to inbound traffic no rule matches (Block unless someone changed it).
    pub default_inbound_block: bool,
    /// "Block all incoming connections, including those in the list of allowed apps".
    pub block_all_inbound: bool,
}

/// A connected network as Windows' network list names and classifies it, with the adapters it is
/// connected through (Windows applies the network's category as the profile of those adapters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub name: String,
    /// Its category: Public, Private or Domain (a domain-authenticated network).
    pub category: Profile,
    pub interfaces: Vec<Interface>,
}

/// A network adapter as `GetAdaptersAddresses` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Its friendly name ("Wi-Fi", "vEthernet (WSL)").
    pub name: String,
    /// Its unicast addresses with their on-link prefix lengths.
    pub addresses: Vec<(IpAddr, u8)>,
}

impl Network {
    /// The prefix of `ip` when one of this network's adapters carries it.
    pub fn carries(&self, ip: IpAddr) -> Option<u8> {
        self.interfaces.iter().flat_map(|i| &i.addresses).find(|(a, _)| *a == ip).map(|(_, p)| *p)
    }

    /// `Wi-Fi ("Home")`, `vEthernet (WSL) ("Unidentified network")`, or `"Home"` with no adapter known.
    pub fn label(&self) -> String {
        let adapters: Vec<&str> = self.interfaces.iter().map(|i| i.name.as_str()).filter(|n| !n.is_empty()).collect();
        if adapters.is_empty() {
            format!("\"{}\"", self.name)
        } else if adapters.len() == 1 && adapters[0] == self.name {
            self.name.clone()
        } else {
            format!("{} (\"{}\")", adapters.join(", "), self.name)
        }
    }
}

/// A connected network as `INetworkListManager` reports it: name, category, and the adapter GUID
/// of each of its connections (`INetworkConnection::GetAdapterId`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedNetwork {
    pub name: String,
    pub category: Profile,
    pub adapter_ids: Vec<String>,
}

/// An adapter as `GetAdaptersAddresses` reports it: `AdapterName` (its GUID in braces),
/// `FriendlyName`, and each unicast address with its `OnLinkPrefixLength`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adapter {
    pub id: String,
    pub name: String,
    pub addresses: Vec<(IpAddr, u8)>,
}

fn guid_key(s: &str) -> String {
    s.trim().trim_start_matches('{').trim_end_matches('}').to_ascii_uppercase()
}

/// The networks with their adapters and addresses: the two lists joined on the adapter GUID (as
/// text, braces and case aside). An adapter the address list lacks is left out.
pub fn join_networks(listed: Vec<ListedNetwork>, adapters: &[Adapter]) -> Vec<Network> {
    listed
        .into_iter()
        .map(|n| Network {
            interfaces: n
                .adapter_ids
                .iter()
                .filter_map(|id| adapters.iter().find(|a| guid_key(&a.id) == guid_key(id)))
                .map(|a| Interface { name: a.name.clone(), addresses: a.addresses.clone() })
                .collect(),
            name: n.name,
            category: n.category,
        })
        .collect()
}

/// `INetFwPolicy2::LocalPolicyModifyState`: whether a rule added locally takes effect.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ModifyState {
    /// `NET_FW_MODIFY_STATE_OK`.
    #[default]
    Local,
    /// `NET_FW_MODIFY_STATE_GP_OVERRIDE`: Group Policy decides; local rules do not take effect.
    GroupPolicy,
    /// `NET_FW_MODIFY_STATE_INBOUND_BLOCKED`: inbound traffic is blocked whatever the rules say.
    InboundBlocked,
    /// It could not be read (the reason).
    Unknown(String),
}

/// A rule some of whose properties could not be read: it may allow or block our ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableRule {
    /// Its name, when that much could be read.
    pub name: String,
    /// The properties that were read (None: that one failed).
    pub enabled: Option<bool>,
    pub direction: Option<Direction>,
    pub action: Option<Action>,
    /// Which property failed, and why.
    pub error: String,
}

impl UnreadableRule {
    /// It could be an enabled inbound rule with `action`.
    pub fn may_be(&self, action: Action) -> bool {
        self.enabled != Some(false) && self.direction != Some(Direction::Out) && self.action.is_none_or(|a| a == action)
    }

    pub fn label(&self) -> String {
        if self.name.is_empty() {
            format!("a rule whose name could not be read ({})", self.error)
        } else {
            format!("rule \"{}\" (could not read {})", self.name, self.error)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Allow,
    Block,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    In,
    Out,
}

/// A rule's protocol: `NET_FW_IP_PROTOCOL` (6 TCP, 17 UDP, 256 any) or another IP protocol number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn upper(self) -> &'static str {
        match self {
            Proto::Tcp => "TCP",
            Proto::Udp => "UDP",
        }
    }

    pub fn lower(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }

    /// The IP protocol number the firewall uses.
    pub fn number(self) -> i32 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
        }
    }
}

/// The protocol number meaning "any" in `INetFwRule::Protocol`.
pub const PROTO_ANY: i32 = 256;

/// One firewall rule, as read (only the fields that decide whether it applies to our ports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub direction: Direction,
    pub action: Action,
    /// `NET_FW_PROFILE_TYPE2` bits.
    pub profiles: u32,
    /// 6 TCP, 17 UDP, 256 any, or another IP protocol.
    pub protocol: i32,
    /// `*` (or empty) for any; else `80,443,47998-48012`, or keywords such as `RPC`.
    pub local_ports: String,
    /// The program the rule is for (a full path, possibly with %variables%); empty: any program.
    pub application: String,
    /// `*` (or empty) for any; else a list of addresses, ranges, subnets and keywords (`LocalSubnet`…).
    pub remote_addresses: String,
    /// The rule group (`@FirewallAPI.dll,-28502` or a plain name); the first-run prompt sets none.
    pub grouping: String,
}

impl Rule {
    pub fn applies_to_profile(&self, p: Profile) -> bool {
        self.profiles & p.bit() != 0
    }

    pub fn applies_to_proto(&self, p: Proto) -> bool {
        self.protocol == PROTO_ANY || self.protocol == p.number()
    }

    /// Whether the rule's local ports include `port` (keywords such as `RPC` include none of ours).
    pub fn covers_port(&self, port: u16) -> bool {
        port_list_covers(&self.local_ports, port)
    }

    /// The rule's remote-address scope.
    pub fn remote(&self) -> Remote {
        Remote::parse(&self.remote_addresses)
    }

    /// A short description: "Block, Public, TCP, any port, C:\…\cxr-gate.exe".
    pub fn shape(&self) -> String {
        let action = match self.action {
            Action::Allow => "Allow",
            Action::Block => "Block",
        };
        let proto = match self.protocol {
            6 => "TCP".to_string(),
            17 => "UDP".to_string(),
            PROTO_ANY => "any protocol".to_string(),
            n => format!("protocol {n}"),
        };
        let ports =
            if is_any(&self.local_ports) { "any port".to_string() } else { format!("port {}", self.local_ports) };
        let mut s = format!("{action}, {}, {proto}, {ports}", Profile::mask_text(self.profiles));
        if !self.application.is_empty() {
            s.push_str(&format!(", {}", self.application));
        }
        if let Remote::Only(list) = self.remote() {
            s.push_str(&format!(", from {list} only"));
        } else if self.remote() == Remote::LocalSubnet {
            s.push_str(", local subnet");
        }
        s
    }
}

pub(super) fn is_any(list: &str) -> bool {
    let t = list.trim();
    t.is_empty() || t == "*" || t.eq_ignore_ascii_case("any")
}

/// Whether a firewall port list (`*`, `49100`, `47998-48012`, `80,443`) includes `port`.
pub fn port_list_covers(list: &str, port: u16) -> bool {
    if is_any(list) {
        return true;
    }
    list.split(',').any(|item| {
        let item = item.trim();
        match item.split_once('-') {
            Some((a, b)) => match (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
                (Ok(a), Ok(b)) => (a..=b).contains(&port),
                _ => false,
            },
            None => item.parse::<u16>() == Ok(port),
        }
    })
}

/// Everything read from the firewall and the network list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FirewallState {
    pub profiles: Vec<ProfileState>,
    pub networks: Vec<Network>,
    pub rules: Vec<Rule>,
    /// Rules that could not be read whole: each may apply (counted as unknown, never as absent).
    pub unreadable: Vec<UnreadableRule>,
    pub modify_state: ModifyState,
}

impl FirewallState {
    pub fn profile(&self, p: Profile) -> Option<&ProfileState> {
        self.profiles.iter().find(|s| s.profile == p)
    }
}

/// `%ProgramFiles%\CXR Gate\cxr-gate.exe` with `%VAR%` replaced from `var`, lower-cased, `/` as `\`:
/// the form two program paths are compared in (Windows paths are case-insensitive).
pub fn normalize_program(path: &str, var: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = path.trim();
    while let Some(start) = rest.find('%') {
        let Some(len) = rest[start + 1..].find('%') else { break };
        let name = &rest[start + 1..start + 1 + len];
        out.push_str(&rest[..start]);
        match var(name) {
            Some(v) if !name.is_empty() => out.push_str(&v),
            _ => out.push_str(&rest[start..start + len + 2]),
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out.replace('/', "\\").to_lowercase()
}
