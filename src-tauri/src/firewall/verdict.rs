//! The Windows card from the engine's verdict (`cxr_gate_core::firewall::evaluate`) on the
//! headsets' network, or from the reason the firewall could not be read; the confirmation that
//! lists every change of the fix. Pure; `windows.rs` feeds it; tested on every platform.

use cxr_gate_core::firewall::{Report, RuleSpec};

use super::{rows, FirewallView};

pub fn windows_view(specs: &[RuleSpec], read: Result<&Report, &str>) -> FirewallView {
    let report = match read {
        Ok(r) => r,
        Err(e) => {
            return FirewallView {
                system: "windows".into(),
                summary: format!("Could not read the firewall: {e}. Make sure these ports are allowed inbound."),
                rules: rows(specs, |_| (None, None)),
                ..FirewallView::default()
            }
        }
    };
    let rules = rows(specs, |s| {
        let Some(p) = report.ports.iter().find(|p| p.spec.role == s.role) else { return (None, None) };
        let mut note = p.verdict.clone();
        for n in &p.notes {
            note.push_str("; ");
            note.push_str(n);
        }
        (p.open, Some(note))
    });
    let needed = rules.iter().filter(|r| r.needed).count();
    let closed = rules.iter().filter(|r| r.needed && r.present == Some(false)).count();
    let partial = rules.iter().filter(|r| r.needed && r.present.is_none()).count();
    let mut summary = match (closed, partial) {
        (0, 0) => "Windows Firewall lets headsets on their network reach the ports they need.".to_string(),
        (0, n) => format!("{n} of the {needed} ports headsets need are open to some headsets only, or unknown."),
        (n, _) => format!("{n} of the {needed} ports headsets need are blocked on the headsets' network."),
    };
    if !report.fix.is_empty() {
        summary.push_str(" \"Fix the firewall\" makes the changes listed (one administrator prompt).");
    }
    if !report.must_change.is_empty() {
        summary.push_str(" What to change is listed below.");
    }
    let mut networks = vec![report.profile_line.clone()];
    networks.extend(report.networks.iter().cloned());
    FirewallView {
        system: "windows".into(),
        summary,
        rules,
        commands: Vec::new(),
        can_add: !report.fix.is_empty(),
        networks,
        changes: report.changes.clone(),
        must_change: report.must_change.clone(),
        network_settings: report.network_settings,
        result: Vec::new(),
    }
}

/// The confirmation before the administrator prompt: each change the fix makes, by rule.
pub fn confirmation(changes: &[String]) -> String {
    let mut s = String::from("CXR Gate will make these changes to Windows Firewall (one administrator prompt):\n\n");
    for c in changes {
        s.push_str("• ");
        s.push_str(c);
        s.push('\n');
    }
    s.push_str(
        "\nNothing else is changed. Block rules are disabled, not deleted: you can turn them back on in Windows \
         Defender Firewall. The rules CXR Gate adds are in the group \"CXR Gate\"; uninstalling CXR Gate removes them.",
    );
    s
}

#[cfg(test)]
mod tests {
    use cxr_gate_core::firewall::fix::OurRule;
    use cxr_gate_core::firewall::model::{
        Action, Adapter, Direction, FirewallState, ListedNetwork, ModifyState, Profile, ProfileState, Rule,
    };
    use cxr_gate_core::firewall::{evaluate, rules, Context, Ports, Role, Runtime};

    use super::*;

    const PORTS: Ports = Ports { signaling: 49100, media_first: 47998, media_last: 48012, proxy: 48322 };
    const EXE: &str = r"C:\Program Files\CXR Gate\cxr-gate.exe";

    /// The first-run prompt's pair for our program (Allow Private, Block Public), on a Private Wi-Fi
    /// beside WSL's Public vEthernet.
    fn state() -> FirewallState {
        let rule = |action, profiles, protocol| Rule {
            name: "CXR Gate".into(),
            description: "CXR Gate".into(),
            enabled: true,
            direction: Direction::In,
            action,
            profiles,
            protocol,
            local_ports: "*".into(),
            application: EXE.into(),
            remote_addresses: "*".into(),
            grouping: String::new(),
        };
        let listed = vec![
            ListedNetwork {
                name: "Home".into(),
                category: Profile::Private,
                adapter_ids: vec!["{11111111-2222-3333-4444-555555555555}".into()],
            },
            ListedNetwork {
                name: "Unidentified network".into(),
                category: Profile::Public,
                adapter_ids: vec!["{66666666-2222-3333-4444-555555555555}".into()],
            },
        ];
        let adapters = vec![
            Adapter {
                id: "{11111111-2222-3333-4444-555555555555}".into(),
                name: "Wi-Fi".into(),
                addresses: vec![("192.168.1.20".parse().unwrap(), 24)],
            },
            Adapter {
                id: "{66666666-2222-3333-4444-555555555555}".into(),
                name: "vEthernet (WSL)".into(),
                addresses: vec![("172.23.80.1".parse().unwrap(), 20)],
            },
        ];
        FirewallState {
            profiles: Profile::ALL
                .into_iter()
                .map(|profile| ProfileState {
                    profile,
                    enabled: true,
                    default_inbound_block: true,
                    block_all_inbound: false,
                })
                .collect(),
            networks: cxr_gate_core::firewall::model::join_networks(listed, &adapters),
            rules: vec![
                rule(Action::Allow, 2, 6),
                rule(Action::Allow, 2, 17),
                rule(Action::Block, 4, 6),
                rule(Action::Block, 4, 17),
            ],
            unreadable: Vec::new(),
            modify_state: ModifyState::Local,
        }
    }

    fn view(st: &FirewallState) -> FirewallView {
        let programs = cxr_gate_core::firewall::our_programs(std::path::Path::new(EXE));
        let specs = rules(&PORTS);
        let runtime = Runtime::NotRunning;
        let cx = Context {
            exe: EXE,
            programs: &programs,
            var: &|_| None,
            primary: "192.168.1.20".parse().ok(),
            runtime: &runtime,
        };
        windows_view(&specs, Ok(&evaluate(st, &specs, &cx)))
    }

    #[test]
    fn the_card_gives_the_headsets_network_each_network_and_the_fix() {
        let v = view(&state());
        assert_eq!(
            v.summary,
            "1 of the 2 ports headsets need are blocked on the headsets' network. \"Fix the firewall\" makes the changes listed (one administrator prompt)."
        );
        assert_eq!(
            v.networks,
            [
                "Headsets' network: Wi-Fi (\"Home\"), Private (firewall on; inbound default: block)",
                "Wi-Fi (\"Home\"), Private: blocked — the headsets' network (192.168.1.20, the address in the QR code)",
                "vEthernet (WSL) (\"Unidentified network\"), Public: blocked — headsets don't use it",
            ]
        );
        assert!(v.can_add && !v.network_settings, "no Network settings for WSL's network: no headset uses it");
        assert_eq!(
            v.rules.iter().map(|r| (r.role, r.needed, r.present)).collect::<Vec<_>>(),
            [(Role::Signaling, false, Some(false)), (Role::Media, true, Some(false)), (Role::Proxy, true, Some(true)),]
        );
        assert_eq!(v.rules[2].note.as_deref(), Some("allowed by rule \"CXR Gate\""));
        assert_eq!(
            v.changes,
            ["Add \"CXR Gate: CloudXR Runtime media\": allow UDP 47998-48012 in, on Private and Domain networks"]
        );
        let text = confirmation(&v.changes);
        assert!(
            text.contains(
                "• Add \"CXR Gate: CloudXR Runtime media\": allow UDP 47998-48012 in, on Private and Domain networks\n"
            ),
            "{text}"
        );
        assert!(!text.contains("Disable"), "the Public block rule is not touched: {text}");
    }

    #[test]
    fn no_button_where_no_fix_helps() {
        let mut st = state();
        st.modify_state = ModifyState::GroupPolicy;
        let v = view(&st);
        assert!(!v.can_add && v.changes.is_empty());
        assert!(v.summary.ends_with("What to change is listed below."), "{}", v.summary);
        assert!(v.must_change[0].starts_with("Windows Firewall is managed by your organisation"));
        // Once our media rule is there, nothing is left to fix.
        let mut st = state();
        st.rules.push(OurRule::media(47998, 48012).rule(EXE));
        let v = view(&st);
        assert_eq!(v.summary, "Windows Firewall lets headsets on their network reach the ports they need.");
        assert!(!v.can_add && v.must_change.is_empty());
        let failed = windows_view(&rules(&PORTS), Err("INetFwPolicy2: Class not registered (0x80040154)"));
        assert_eq!(
            failed.summary,
            "Could not read the firewall: INetFwPolicy2: Class not registered (0x80040154). Make sure these ports are allowed inbound."
        );
        assert!(!failed.can_add && failed.rules.iter().all(|r| r.present.is_none()));
    }
}
