//! The Windows card from the engine's verdict (`cxr_gate_core::firewall::evaluate`), or from the
//! reason the firewall could not be read. Pure; `windows.rs` feeds it; tested on every platform.

use cxr_gate_core::firewall::Report;

use cxr_gate_core::firewall::RuleSpec;

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
        let Some(p) = report.ports.iter().find(|p| p.spec.name == s.name) else { return (None, None) };
        let mut note = p.verdict.clone();
        for n in &p.notes {
            note.push_str("; ");
            note.push_str(n);
        }
        (p.open, Some(note))
    });
    let closed = rules.iter().filter(|r| r.present == Some(false)).count();
    let partial = rules.iter().filter(|r| r.present.is_none()).count();
    let fix = if report.changes.is_empty() {
        String::new()
    } else {
        " \"Fix the firewall\" makes the changes listed (one administrator prompt).".to_string()
    };
    let summary = match (closed, partial) {
        (0, 0) => "Windows Firewall lets headsets on the local network reach all three.".to_string(),
        (0, n) => format!("{n} of 3 are open to some headsets only.{fix}"),
        (n, _) => format!("{n} of 3 are blocked for headsets.{fix}"),
    };
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
        public_network: report.public_network,
    }
}

/// The confirmation before the administrator prompt: each rule the fix changes, by name.
pub fn confirmation(changes: &[String]) -> String {
    let mut s = String::from("CXR Gate will make these changes to Windows Firewall (one administrator prompt):\n\n");
    for c in changes {
        s.push_str("• ");
        s.push_str(c);
        s.push('\n');
    }
    s.push_str("\nBlock rules are disabled, not deleted: you can turn them back on in Windows Defender Firewall.");
    s
}

#[cfg(test)]
mod tests {
    use cxr_gate_core::firewall::model::{Action, Direction, FirewallState, Network, Profile, ProfileState, Rule};
    use cxr_gate_core::firewall::{evaluate, rules, Context, Ports};

    use super::*;

    const PORTS: Ports = Ports { signaling: 49100, media_first: 47998, media_last: 48012, proxy: 48322 };

    #[test]
    fn the_card_names_the_block_rule_the_public_network_and_the_fix() {
        let exe = r"C:\Program Files\CXR Gate\cxr-gate.exe";
        let block = Rule {
            name: "CXR Gate".into(),
            description: "CXR Gate".into(),
            enabled: true,
            direction: Direction::In,
            action: Action::Block,
            profiles: 4,
            protocol: 6,
            local_ports: "*".into(),
            application: exe.into(),
            remote_addresses: "*".into(),
            grouping: String::new(),
        };
        let st = FirewallState {
            current_profiles: 4,
            profiles: Profile::ALL
                .into_iter()
                .map(|profile| ProfileState {
                    profile,
                    enabled: true,
                    default_inbound_block: true,
                    block_all_inbound: false,
                })
                .collect(),
            networks: vec![Network { name: "Home".into(), category: Profile::Public }],
            rules: vec![block],
        };
        let programs = cxr_gate_core::firewall::our_programs(std::path::Path::new(exe));
        let specs = rules(&PORTS);
        let report = evaluate(&st, &specs, &Context { programs: &programs, var: &|_| None });
        let v = windows_view(&specs, Ok(&report));
        assert_eq!(v.summary, "3 of 3 are blocked for headsets. \"Fix the firewall\" makes the changes listed (one administrator prompt).");
        assert_eq!(
            v.networks,
            ["Current profile: Public (firewall on; inbound default: block)", "Network \"Home\" is Public"]
        );
        assert!(v.public_network && v.can_add);
        assert!(
            v.rules[2].note.as_deref().is_some_and(|n| n.starts_with("blocked by rule \"CXR Gate\"")),
            "{:?}",
            v.rules[2]
        );
        assert_eq!(v.rules[0].note.as_deref(), Some("no rule: blocked by default"));
        assert_eq!(v.changes.len(), 4, "{:?}", v.changes);
        let text = confirmation(&v.changes);
        assert!(text.contains("• Disable \"CXR Gate\" (Block, Public, TCP"), "{text}");
        assert!(
            text.contains("• Add \"CloudXR Media\": allow UDP 47998-48012 in, all profiles, local subnet"),
            "{text}"
        );
        let failed = windows_view(&specs, Err("INetFwPolicy2: Class not registered (0x80040154)"));
        assert_eq!(
            failed.summary,
            "Could not read the firewall: INetFwPolicy2: Class not registered (0x80040154). Make sure these ports are allowed inbound."
        );
        assert!(!failed.can_add && failed.rules.iter().all(|r| r.present.is_none()));
    }
}
