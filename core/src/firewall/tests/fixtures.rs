//! Plain data shaped like what Windows reports: `INetFwRule` fields (profile bits, protocol
//! numbers, the firewall's port and address syntax, the mask form Windows writes subnets in),
//! `INetworkListManager`'s networks with their adapter GUIDs, `GetAdaptersAddresses`' adapters, and
//! the rule pairs Windows' first-run prompt leaves behind.

use std::net::IpAddr;

use crate::firewall::decide::{Context, Runtime};
use crate::firewall::evaluate::{evaluate, Report};
use crate::firewall::model::{
    join_networks, Action, Adapter, Direction, FirewallState, ListedNetwork, ModifyState, Profile, ProfileState, Rule,
};
use crate::firewall::{our_programs, rules, Ports};

pub const PORTS: Ports = Ports { signaling: 49100, media_first: 47998, media_last: 48012, proxy: 48322 };
pub const EXE: &str = r"C:\Program Files\CXR Gate\cxr-gate.exe";
/// Where the CloudXR Runtime's server runs from (as `QueryFullProcessImageNameW` writes it).
pub const RUNTIME_EXE: &str = r"C:\Program Files\NVIDIA Corporation\CloudXR\Server\CloudXRService.exe";
/// `NET_FW_PROFILE2_ALL`.
pub const ALL: u32 = 0x7FFF_FFFF;
pub const PRIVATE: u32 = 2;
pub const PUBLIC: u32 = 4;
/// The address in the QR code (the Wi-Fi's).
pub const QR_IP: &str = "192.168.1.20";

pub fn rule(name: &str, action: Action, profiles: u32, protocol: i32, ports: &str) -> Rule {
    Rule {
        name: name.into(),
        description: String::new(),
        enabled: true,
        direction: Direction::In,
        action,
        profiles,
        protocol,
        local_ports: ports.into(),
        application: String::new(),
        remote_addresses: "*".into(),
        grouping: String::new(),
    }
}

/// What "Allow … to communicate on these networks" leaves for `app` after Allow with only
/// `allowed` ticked: Allow there and Block on `blocked`, each for TCP and for UDP, for the program,
/// any port, any address, no group, named after the program's description.
pub fn prompt_pair(app: &str, name: &str, allowed: u32, blocked: u32) -> Vec<Rule> {
    let mut v = Vec::new();
    for (action, profile) in [(Action::Allow, allowed), (Action::Block, blocked)] {
        if profile == 0 {
            continue;
        }
        for proto in [6, 17] {
            v.push(Rule {
                application: app.into(),
                description: name.into(),
                ..rule(name, action, profile, proto, "*")
            });
        }
    }
    v
}

/// Our program's prompt answered with Private ticked: Allow on Private, Block on Public.
pub fn first_run_prompt(app: &str) -> Vec<Rule> {
    prompt_pair(app, "CXR Gate", PRIVATE, PUBLIC)
}

pub fn profiles() -> Vec<ProfileState> {
    Profile::ALL
        .into_iter()
        .map(|profile| ProfileState { profile, enabled: true, default_inbound_block: true, block_all_inbound: false })
        .collect()
}

/// `GetAdaptersAddresses`: the Wi-Fi (192.168.1.20/24 and a link-local IPv6) and WSL's Hyper-V switch.
pub fn adapters() -> Vec<Adapter> {
    vec![
        Adapter {
            id: "{6F1B8C52-3B7E-4C1A-9D43-2C5A0F7E9B11}".into(),
            name: "Wi-Fi".into(),
            addresses: vec![(QR_IP.parse().unwrap(), 24), ("fe80::8d2c:1f4a:7b3e:9a10".parse().unwrap(), 64)],
        },
        Adapter {
            id: "{A3C4E5F6-0718-4293-A4B5-C6D7E8F90A1B}".into(),
            name: "vEthernet (WSL)".into(),
            addresses: vec![("172.23.80.1".parse().unwrap(), 20)],
        },
    ]
}

/// `INetworkListManager`: the home Wi-Fi (Private) and WSL's "Unidentified network" (Public), each
/// with its connection's adapter GUID (written without braces, in lower case, as a GUID prints).
pub fn listed() -> Vec<ListedNetwork> {
    vec![
        ListedNetwork {
            name: "Home".into(),
            category: Profile::Private,
            adapter_ids: vec!["6f1b8c52-3b7e-4c1a-9d43-2c5a0f7e9b11".into()],
        },
        ListedNetwork {
            name: "Unidentified network".into(),
            category: Profile::Public,
            adapter_ids: vec!["a3c4e5f6-0718-4293-a4b5-c6d7e8f90a1b".into()],
        },
    ]
}

/// Wi-Fi "Home" (Private) and vEthernet (WSL) (Public): both profiles in effect.
pub fn two_networks(rules: Vec<Rule>) -> FirewallState {
    FirewallState {
        profiles: profiles(),
        networks: join_networks(listed(), &adapters()),
        rules,
        unreadable: Vec::new(),
        modify_state: ModifyState::Local,
    }
}

/// One network: "Home" on the Wi-Fi, of `category`.
pub fn one_network(category: Profile, rules: Vec<Rule>) -> FirewallState {
    let mut st = two_networks(rules);
    st.networks.truncate(1);
    st.networks[0].category = category;
    st
}

pub fn var(name: &str) -> Option<String> {
    (name.eq_ignore_ascii_case("ProgramFiles")).then(|| r"C:\Program Files".to_string())
}

pub fn eval_with(st: &FirewallState, runtime: &Runtime, primary: Option<&str>) -> Report {
    let programs = our_programs(std::path::Path::new(EXE));
    let primary: Option<IpAddr> = primary.map(|p| p.parse().unwrap());
    evaluate(st, &rules(&PORTS), &Context { exe: EXE, programs: &programs, var: &var, primary, runtime })
}

/// The Runtime running from [`RUNTIME_EXE`], the QR code on the Wi-Fi's address.
pub fn eval(st: &FirewallState) -> Report {
    eval_with(st, &Runtime::Program(RUNTIME_EXE.into()), Some(QR_IP))
}

pub fn verdicts(r: &Report) -> Vec<(Option<bool>, String)> {
    r.ports.iter().map(|p| (p.open, p.verdict.clone())).collect()
}
