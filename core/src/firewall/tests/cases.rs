//! The cases of issue 26, each a fixture of what Windows really reports: two networks (a Private
//! Wi-Fi and WSL's Public vEthernet) with the first-run pair, the Runtime's own block pair, block-all
//! and port block rules (no fix offered), a user's same-named rule, Group Policy, the mask form of a
//! subnet, a rule that could not be read.

use super::fixtures::*;
use crate::firewall::decide::Runtime;
use crate::firewall::fix::{OurRule, MEDIA_RULE, PROXY_RULE};
use crate::firewall::model::{Action, ModifyState, Profile, Rule, UnreadableRule};
use crate::firewall::PortReport;

/// What the installer adds (the gate's rule for our program, the Runtime's media rule).
fn installed() -> Vec<Rule> {
    vec![OurRule::proxy(48322).rule(EXE), OurRule::media(47998, 48012).rule(EXE)]
}

fn opens(ports: &[PortReport]) -> Vec<Option<bool>> {
    ports.iter().map(|p| p.open).collect()
}

#[test]
fn two_networks_the_verdict_is_the_one_of_the_network_in_the_qr_code() {
    let mut rs = first_run_prompt(EXE);
    rs.push(OurRule::media(47998, 48012).rule(EXE));
    let st = two_networks(rs);
    let r = eval(&st);
    assert_eq!(r.profile_line, "Headsets' network: Wi-Fi (\"Home\"), Private (firewall on; inbound default: block)");
    assert_eq!(
        r.networks,
        [
            "Wi-Fi (\"Home\"), Private: open — the headsets' network (192.168.1.20, the address in the QR code)",
            "vEthernet (WSL) (\"Unidentified network\"), Public: blocked — headsets don't use it",
        ]
    );
    assert_eq!(opens(&r.ports)[1..], [Some(true), Some(true)], "{:?}", verdicts(&r));
    assert_eq!(r.ports[2].verdict, "allowed by rule \"CXR Gate\"");
    // Nothing to fix on the headsets' network; the Public block stays, and no Network settings.
    assert!(r.fix.is_empty() && r.changes.is_empty() && r.must_change.is_empty(), "{:?}", r.changes);
    assert!(!r.network_settings, "WSL's Public network is no headset's");

    // Without the media rule: the fix adds ours and never disables the Public block rule.
    let st = two_networks(first_run_prompt(EXE));
    let r = eval(&st);
    assert_eq!(r.ports[1].open, Some(false));
    assert!(r.fix.disable.is_empty(), "{:?}", r.fix.disable);
    assert_eq!(r.fix.add.iter().map(|a| a.name()).collect::<Vec<_>>(), [MEDIA_RULE]);
    assert_eq!(
        r.changes,
        ["Add \"CXR Gate: CloudXR Runtime media\": allow UDP 47998-48012 in, on Private and Domain networks"]
    );

    // The QR code on WSL's address: that Public network is the headsets', with its Network settings.
    let r = eval_with(&st, &Runtime::Program(RUNTIME_EXE.into()), Some("172.23.80.1"));
    assert_eq!(r.ports[2].open, Some(false));
    assert!(r.network_settings && r.fix.is_empty());
    assert_eq!(r.networks[1], "vEthernet (WSL) (\"Unidentified network\"), Public: blocked — the headsets' network (172.23.80.1, the address in the QR code)");

    // An address no listed network carries: the profiles disagree, so unknown, and no fix.
    let r = eval_with(&st, &Runtime::Program(RUNTIME_EXE.into()), Some("10.9.9.9"));
    assert_eq!(r.ports[2].open, None);
    assert!(
        r.ports[2].verdict.starts_with("unknown: it depends on the headsets' network (Domain: no rule"),
        "{}",
        r.ports[2].verdict
    );
    assert!(r.profile_line.contains("no connected network in Windows' list carries 10.9.9.9"), "{}", r.profile_line);
    assert!(r.fix.is_empty() && !r.network_settings);
    assert!(r.must_change[0].starts_with("CXR Gate cannot tell which network the headsets use"));
    assert_eq!(r.networks[0], "Wi-Fi (\"Home\"), Private: blocked — headsets may use it");
    // Where every profile agrees, the verdict stands all the same.
    let everywhere = two_networks(installed().into_iter().map(|r| Rule { profiles: ALL, ..r }).collect());
    let r = eval_with(&everywhere, &Runtime::Program(RUNTIME_EXE.into()), Some("10.9.9.9"));
    assert_eq!(opens(&r.ports)[1..], [Some(true), Some(true)], "{:?}", verdicts(&r));
}

#[test]
fn the_runtimes_own_block_pair_keeps_headsets_out_and_is_named_when_it_is_not_running() {
    // The Runtime's first-run prompt cancelled on a Private network; NVIDIA's port rule for media.
    let mut rs = installed();
    rs.extend(prompt_pair(RUNTIME_EXE, "NVIDIA CloudXR Server", 0, PRIVATE));
    rs.push(rule("CloudXR Media", Action::Allow, ALL, 17, "47998-48012"));
    let st = one_network(Profile::Private, rs);
    let r = eval(&st);
    assert_eq!(r.ports[1].open, Some(false), "{}", r.ports[1].verdict);
    assert!(
        r.ports[1].verdict.starts_with(&format!(
            "blocked by rule \"NVIDIA CloudXR Server\" (Block, Private, UDP, any port, {RUNTIME_EXE}). Windows made it"
        )),
        "{}",
        r.ports[1].verdict
    );
    // Not our program: no button; the user is told which rule to disable.
    assert!(r.fix.is_empty(), "{:?}", r.fix);
    assert_eq!(r.must_change.len(), 1, "{:?}", r.must_change);
    assert!(
        r.must_change[0].starts_with("Rule \"NVIDIA CloudXR Server\" (Block, Private, UDP"),
        "{}",
        r.must_change[0]
    );
    assert!(r.must_change[0].contains("Disable it in Windows Defender Firewall with Advanced Security → Inbound Rules"));

    // The Runtime not running: not "allowed", but a warning naming the block rule.
    let r = eval_with(&st, &Runtime::NotRunning, Some(QR_IP));
    assert_eq!(r.ports[1].open, None);
    assert_eq!(
        r.ports[1].verdict,
        format!(
            "allowed by rule \"CXR Gate: CloudXR Runtime media\", unless the Runtime is a program that block rule \"NVIDIA CloudXR Server\" \
             (Block, Private, UDP, any port, {RUNTIME_EXE}) is for: the CloudXR Runtime is not running, so which program \
             listens here is unknown"
        )
    );
    assert!(r.fix.is_empty());
    assert_eq!(
        r.must_change,
        [
            "Start the CloudXR Runtime and check again: the CloudXR Runtime is not running, so which program listens \
             here is unknown, and block rule \"NVIDIA CloudXR Server\" would keep headsets out if it is the Runtime's."
        ]
    );
    // The socket table unreadable: said so, the same way.
    let r = eval_with(&st, &Runtime::Unknown("error 5".into()), Some(QR_IP));
    assert!(
        r.ports[1].verdict.ends_with("is for: which program listens here could not be found out (error 5)"),
        "{}",
        r.ports[1].verdict
    );
    // Another program's rule stops counting once the Runtime is found elsewhere.
    let r = eval_with(&st, &Runtime::Program(r"D:\CloudXR\other.exe".into()), Some(QR_IP));
    assert_eq!(r.ports[1].verdict, "allowed by rule \"CXR Gate: CloudXR Runtime media\"");
}

#[test]
fn block_all_and_port_block_rules_get_no_fix_button_but_what_to_change() {
    let mut st = one_network(Profile::Private, Vec::new());
    st.profiles[1].block_all_inbound = true;
    let r = eval(&st);
    assert!(r.ports.iter().all(|p| p.open == Some(false)));
    assert!(r.ports[2].verdict.contains("\"Block all incoming connections\" is on for Private networks"));
    assert!(r.fix.is_empty() && r.changes.is_empty());
    assert_eq!(r.must_change.len(), 1, "{:?}", r.must_change);
    assert!(r.must_change[0].starts_with("Turn off \"Blocks all incoming connections, including those in the list of allowed apps\" for Private networks"));

    // A port-level block rule beats any rule we could add: no button for that port.
    let mut rs = installed();
    rs.push(rule("Kein Zugriff 48322", Action::Block, ALL, 6, "48000-49000"));
    let r = eval(&one_network(Profile::Private, rs));
    assert_eq!(r.ports[2].open, Some(false));
    assert!(r.ports[2]
        .verdict
        .starts_with("blocked by rule \"Kein Zugriff 48322\" (Block, all profiles, TCP, port 48000-49000)"));
    assert!(!r.ports[2].verdict.contains("first-run"), "a port rule is not the prompt's");
    assert!(r.fix.is_empty(), "{:?}", r.fix);
    assert_eq!(
        r.must_change,
        ["Rule \"Kein Zugriff 48322\" (Block, all profiles, TCP, port 48000-49000) blocks TCP 48322, and a block rule \
          beats every allow rule: disable it or narrow it in Windows Defender Firewall with Advanced Security → Inbound Rules."]
    );
}

#[test]
fn a_users_same_named_rule_is_left_alone_and_block_rules_are_matched_by_path() {
    // The user's "CloudXR Media" (NVIDIA's name) disabled, and a rule of theirs that happens to have
    // our proxy rule's name but not our group; our program's block rule under another name.
    let mut media = rule("CloudXR Media", Action::Allow, ALL, 17, "47998-48012");
    media.enabled = false;
    let mut look_alike = rule(PROXY_RULE, Action::Allow, PUBLIC, 6, "48322");
    look_alike.description = "mine".into();
    let mut by_path = rule("Some other name", Action::Block, PRIVATE, 6, "*");
    by_path.application = EXE.to_uppercase();
    // Another program's block rule that bears the prompt's name: not ours by path, so not touched.
    let mut named_like_ours = rule("CXR Gate", Action::Block, PRIVATE, 6, "*");
    named_like_ours.application = r"C:\Tools\old-gate\gate.exe".into();
    let st = one_network(Profile::Private, vec![media.clone(), look_alike.clone(), by_path, named_like_ours]);
    let r = eval(&st);
    assert_eq!(r.fix.add.iter().map(|a| a.name()).collect::<Vec<_>>(), [MEDIA_RULE, PROXY_RULE]);
    assert_eq!(
        r.fix.disable.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
        ["Some other name"],
        "by path, not by name"
    );
    assert!(
        r.changes[2].starts_with("Add \"CXR Gate: headsets to the wss:// proxy\""),
        "not a Replace of the user's: {:?}",
        r.changes
    );
    // After the fix: theirs are as they were, ours are added beside them.
    let programs = crate::firewall::our_programs(std::path::Path::new(EXE));
    let after = r.fix.apply_to(&st, EXE, &programs[..1], &var);
    assert!(after.rules.contains(&media) && after.rules.contains(&look_alike));
    assert_eq!(after.rules.iter().filter(|r| r.name == PROXY_RULE).count(), 2);
    assert_eq!(opens(&eval(&after).ports)[1..], [Some(true), Some(true)]);
    // Ours already there (an upgrade, or a disabled one): replaced, never doubled.
    let mut old = OurRule::proxy(9443).rule(EXE);
    old.enabled = false;
    let st = one_network(Profile::Private, vec![old, OurRule::media(47998, 48012).rule(EXE)]);
    let r = eval(&st);
    assert_eq!(
        r.changes,
        [format!(
            "Replace CXR Gate's \"{PROXY_RULE}\" (Allow, Domain, Private, TCP, port 9443, {EXE}) with: allow TCP 48322 \
             in for {EXE}, on Private and Domain networks"
        )]
    );
    let after = r.fix.apply_to(&st, EXE, &programs[..1], &var);
    assert_eq!(after.rules.iter().filter(|r| r.name == PROXY_RULE).count(), 1);
}

#[test]
fn group_policy_means_managed_by_your_organisation_and_no_fix() {
    let mut st = one_network(Profile::Domain, Vec::new());
    st.modify_state = ModifyState::GroupPolicy;
    let r = eval(&st);
    assert_eq!(r.ports[2].open, None, "the local rules are not what applies");
    assert_eq!(
        r.ports[2].verdict,
        "unknown: Windows Firewall is managed by your organisation (Group Policy), and rules made on this PC do not \
         apply (they say: no rule: blocked by default)"
    );
    assert!(r.fix.is_empty() && r.changes.is_empty());
    assert_eq!(
        r.must_change,
        ["Windows Firewall is managed by your organisation (Group Policy): rules made on this PC do not take effect, \
          so CXR Gate offers no fix. If headsets cannot connect, ask your IT department to allow inbound UDP \
          47998-48012 and TCP 48322 on the headsets' network."]
    );
    // Even where the local rules would open the ports.
    st.rules = installed();
    let r = eval(&st);
    assert!(r.ports.iter().all(|p| p.open.is_none()) && r.fix.is_empty() && r.must_change.len() == 1);
    // Locally managed, the same PC gets the fix.
    st.rules.clear();
    st.modify_state = ModifyState::Local;
    assert_eq!(eval(&st).fix.add.len(), 2);
}

#[test]
fn the_mask_form_windows_reports_counts_as_the_subnet_it_is() {
    let mut allow = OurRule::media(47998, 48012).rule(EXE);
    allow.name = "media from the LAN".into();
    allow.remote_addresses = "192.168.0.0/255.255.0.0".into();
    let mut block = rule("no LAN on the proxy", Action::Block, ALL, 6, "48322");
    block.remote_addresses = "192.168.0.0/255.255.0.0".into();
    let r = eval(&one_network(Profile::Private, vec![allow, block, OurRule::proxy(48322).rule(EXE)]));
    assert_eq!(r.ports[1].verdict, "allowed by rule \"media from the LAN\" (from 192.168.0.0/255.255.0.0)");
    assert_eq!(r.ports[1].open, Some(true));
    assert_eq!(r.ports[2].open, Some(false));
    assert!(r.ports[2].verdict.starts_with("blocked by rule \"no LAN on the proxy\""), "{}", r.ports[2].verdict);
}

#[test]
fn a_rule_that_could_not_be_read_counts_as_unknown_not_absent() {
    let mut st = one_network(Profile::Private, installed());
    st.unreadable.push(UnreadableRule {
        name: "Contoso agent".into(),
        enabled: Some(true),
        direction: None,
        action: None,
        error: "LocalPorts: 0x80070005".into(),
    });
    let r = eval(&st);
    assert_eq!(opens(&r.ports)[1..], [None, None]);
    assert_eq!(
        r.ports[2].verdict,
        "unknown: rule \"Contoso agent\" (could not read LocalPorts: 0x80070005) may decide it (read without it: allowed by rule \"CXR Gate: headsets to the wss:// proxy\")"
    );
    assert!(r.fix.is_empty());
    assert!(
        r.must_change[0]
            .starts_with("rule \"Contoso agent\" (could not read LocalPorts: 0x80070005): CXR Gate cannot tell"),
        "{:?}",
        r.must_change
    );
    // One known to be an allow rule cannot close what is open; one known to be disabled counts for nothing.
    st.unreadable[0].action = Some(Action::Allow);
    assert_eq!(opens(&eval(&st).ports)[1..], [Some(true), Some(true)]);
    st.unreadable[0].action = None;
    st.unreadable[0].enabled = Some(false);
    assert_eq!(opens(&eval(&st).ports)[1..], [Some(true), Some(true)]);
}

#[test]
fn the_networks_and_their_adapters_are_joined_on_the_adapter_guid() {
    let st = two_networks(Vec::new());
    assert_eq!(st.networks[0].label(), "Wi-Fi (\"Home\")");
    assert_eq!(st.networks[0].carries(QR_IP.parse().unwrap()), Some(24));
    assert_eq!(st.networks[1].carries("172.23.80.1".parse().unwrap()), Some(20));
    assert_eq!(st.networks[1].carries(QR_IP.parse().unwrap()), None);
    // An adapter the address list lacks: the network stays, with no address (so not the headsets').
    let mut listed = listed();
    listed[0].adapter_ids = vec!["{00000000-0000-0000-0000-000000000001}".into()];
    let nets = crate::firewall::model::join_networks(listed, &adapters());
    assert!(nets[0].interfaces.is_empty());
    assert_eq!(nets[0].label(), "\"Home\"");
}
