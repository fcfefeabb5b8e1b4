//! The Windows Firewall as data: profiles and their state, the connected networks, and the inbound
//! rules as `INetFwPolicy2` / `INetFwRule` report them (numbers and the firewall's own port and
//! address syntax, the same in every display language). Plain types, built by `windows.rs` on
//! Windows and by the tests' fixtures everywhere; `evaluate.rs` reads them.

use serde::Serialize;

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

/// A connected network as Windows' network list names and classifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub name: String,
    /// Its category: Public, Private or Domain (a domain-authenticated network).
    pub category: Profile,
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

    /// The rule has a remote-address scope other than "any".
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

fn is_any(list: &str) -> bool {
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

/// Who a rule's remote-address scope lets in, as far as headsets on the LAN go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    /// Every address.
    Any,
    /// The local subnet (`LocalSubnet`): headsets on the same LAN.
    LocalSubnet,
    /// Only the listed addresses or other keywords: a headset elsewhere is not covered.
    Only(String),
}

impl Remote {
    pub fn parse(list: &str) -> Remote {
        if is_any(list) {
            return Remote::Any;
        }
        let items: Vec<&str> = list.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        if items.contains(&"*") {
            return Remote::Any;
        }
        if items.iter().any(|i| i.eq_ignore_ascii_case("LocalSubnet")) {
            return Remote::LocalSubnet;
        }
        Remote::Only(items.join(", "))
    }

    /// The scope covers any headset on the LAN.
    pub fn covers_lan(&self) -> bool {
        matches!(self, Remote::Any | Remote::LocalSubnet)
    }
}

/// Everything read from the firewall and the network list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FirewallState {
    /// `CurrentProfileTypes`: the profiles of the connected networks (one or more bits).
    pub current_profiles: u32,
    pub profiles: Vec<ProfileState>,
    pub networks: Vec<Network>,
    pub rules: Vec<Rule>,
}

impl FirewallState {
    pub fn profile(&self, p: Profile) -> Option<&ProfileState> {
        self.profiles.iter().find(|s| s.profile == p)
    }

    /// The profiles in effect now; Public when Windows reports none (no network: it treats that as Public).
    pub fn current(&self) -> Vec<Profile> {
        let ps = Profile::in_mask(self.current_profiles);
        if ps.is_empty() {
            vec![Profile::Public]
        } else {
            ps
        }
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
