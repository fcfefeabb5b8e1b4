//! The evaluation, the fix and the `firewall-fix` command line, with fixtures shaped like real
//! Windows rule sets (`fixtures`): the rule pairs Windows' first-run prompt leaves, rules named in
//! other languages (nothing is parsed from text, so names never matter), overlapping ranges,
//! remote-address scopes. `cases` holds the cases of issue 26 (a verdict per network, the
//! Runtime's own rules, a fix only when it helps, Group Policy, unreadable rules); `args` the
//! command line, the installer's rule plan and the uninstaller's.

mod args;
mod cases;
mod fixtures;

use fixtures::*;

use super::decide::{is_prompt_rule, Runtime};
use super::fix::{Disable, MEDIA_RULE, PROXY_RULE};
use super::model::{normalize_program, Action, Profile, Rule};
use super::our_programs;

/// The port rules NVIDIA's guide has users make, on all profiles.
fn nvidia_three() -> Vec<Rule> {
    vec![
        rule("CloudXR Signaling", Action::Allow, ALL, 6, "49100"),
        rule("CloudXR Media", Action::Allow, ALL, 17, "47998-48012"),
        rule("CloudXR wss:// Proxy", Action::Allow, ALL, 6, "48322"),
    ]
}

#[test]
fn the_first_run_prompt_block_rule_decides_on_a_public_network_and_its_allow_on_a_private_one() {
    let mut rs = nvidia_three();
    rs.extend(first_run_prompt(EXE));
    let r = eval(&one_network(Profile::Public, rs.clone()));
    assert_eq!(r.profile_line, "Headsets' network: Wi-Fi (\"Home\"), Public (firewall on; inbound default: block)");
    assert_eq!(
        r.networks,
        ["Wi-Fi (\"Home\"), Public: blocked — the headsets' network (192.168.1.20, the address in the QR code)"]
    );
    // Only the proxy port is ours: the program rule does not touch the Runtime's ports.
    assert_eq!(r.ports[1].verdict, "allowed by rule \"CloudXR Media\"");
    let proxy = &r.ports[2];
    assert_eq!(proxy.open, Some(false));
    assert!(
        proxy.verdict.starts_with(
            "blocked by rule \"CXR Gate\" (Block, Public, TCP, any port, C:\\Program Files\\CXR Gate\\cxr-gate.exe)"
        ),
        "{}",
        proxy.verdict
    );
    assert!(proxy.verdict.contains("first-run prompt") && proxy.verdict.contains("without ticking Public"));
    // A Public network: no rule of ours opens it (ours are Private and Domain only); the network's
    // category is the user's to change.
    assert!(r.fix.is_empty() && r.changes.is_empty(), "{:?}", r.changes);
    assert!(r.network_settings);
    assert!(r.must_change[0].starts_with("Wi-Fi (\"Home\") is a Public network"), "{:?}", r.must_change);
    // On Private the prompt's allow rule lets it in.
    let private = eval(&one_network(Profile::Private, first_run_prompt(EXE)));
    assert_eq!(private.ports[2].verdict, "allowed by rule \"CXR Gate\"");
    assert_eq!(private.ports[1].verdict, "no rule: blocked by default");
    assert!(private.fix.disable.is_empty(), "the Public block rule is not the headsets' business on a Private network");
    assert_eq!(private.fix.add.iter().map(|a| a.name()).collect::<Vec<_>>(), [MEDIA_RULE]);
    assert!(!private.network_settings);
}

#[test]
fn a_cancelled_prompt_on_all_profiles_blocks_and_the_fix_disables_the_tcp_rule_and_adds_ours() {
    let mut rs: Vec<Rule> = first_run_prompt(EXE).into_iter().filter(|r| r.action == Action::Block).collect();
    for r in &mut rs {
        r.profiles = ALL;
        // A rule stored with an environment variable in its path.
        r.application = r"%ProgramFiles%\CXR Gate\cxr-gate.exe".into();
    }
    assert!(is_prompt_rule(&rs[0]));
    let r = eval(&one_network(Profile::Private, rs));
    assert_eq!(r.ports[2].open, Some(false));
    assert!(
        r.ports[2].verdict.starts_with("blocked by rule \"CXR Gate\" (Block, all profiles, TCP"),
        "{}",
        r.ports[2].verdict
    );
    // The UDP one blocks nothing the gate listens on: it stays.
    assert_eq!(r.fix.disable, [Disable { name: "CXR Gate".into(), protocol: 6, profiles: ALL }]);
    assert_eq!(r.fix.add.iter().map(|a| a.name()).collect::<Vec<_>>(), [MEDIA_RULE, PROXY_RULE]);
    assert_eq!(
        r.changes,
        [
            "Add \"CXR Gate: CloudXR Runtime media\": allow UDP 47998-48012 in, on Private and Domain networks",
            "Disable \"CXR Gate\" (Block, all profiles, TCP, any port, %ProgramFiles%\\CXR Gate\\cxr-gate.exe)",
            "Add \"CXR Gate: headsets to the wss:// proxy\": allow TCP 48322 in for C:\\Program Files\\CXR Gate\\cxr-gate.exe, on Private and Domain networks",
        ]
    );
    // The headless binary's block rule does not block the desktop's listener; another program's is none of ours.
    for other in [r"C:\Program Files\CXR Gate\cxr-gate-proxy.exe", r"C:\Games\other.exe"] {
        let r = eval(&one_network(Profile::Public, prompt_pair(other, "x", PRIVATE, ALL)));
        assert!(r.ports[2].verdict.starts_with("no rule"), "{other}: {}", r.ports[2].verdict);
    }
}

#[test]
fn names_in_other_languages_do_not_matter() {
    let rs = vec![
        rule("CloudXR-Signalisierung (eingehend)", Action::Allow, ALL, 6, "49100"),
        rule("CloudXR メディア", Action::Allow, ALL, 17, "47998-48012"),
        rule("Proxy wss:// de CloudXR (entrant)", Action::Allow, PRIVATE | PUBLIC, 6, "48322"),
    ];
    let r = eval(&one_network(Profile::Private, rs));
    assert_eq!(
        verdicts(&r),
        [
            (Some(true), "allowed by rule \"CloudXR-Signalisierung (eingehend)\"".to_string()),
            (Some(true), "allowed by rule \"CloudXR メディア\"".to_string()),
            (Some(true), "allowed by rule \"Proxy wss:// de CloudXR (entrant)\"".to_string()),
        ]
    );
    assert!(r.fix.is_empty() && r.changes.is_empty() && r.must_change.is_empty());
}

#[test]
fn overlapping_ranges_and_lists_cover_the_media_range_together() {
    let rs = vec![
        rule("media low", Action::Allow, ALL, 17, "47990-48005"),
        rule("media high", Action::Allow, ALL, 17, "48000-48010,48011,48012"),
    ];
    let r = eval(&one_network(Profile::Private, rs));
    assert_eq!(r.ports[1].open, Some(true));
    assert_eq!(
        r.ports[1].verdict,
        "47998-48005 allowed by rule \"media low\"; 48006-48012 allowed by rule \"media high\""
    );
    // Half a range: which ports are open and which are not.
    let r = eval(&one_network(Profile::Private, vec![rule("half", Action::Allow, ALL, 17, "47998-48005")]));
    assert_eq!(r.ports[1].open, Some(false));
    assert_eq!(r.ports[1].verdict, "47998-48005 allowed by rule \"half\"; 48006-48012 no rule: blocked by default");
    assert_eq!(r.fix.add.iter().map(|a| a.name()).collect::<Vec<_>>(), [MEDIA_RULE, PROXY_RULE]);
    // Keywords such as RPC cover none of our ports.
    let r = eval(&one_network(Profile::Private, vec![rule("rpc", Action::Allow, ALL, 6, "RPC-EPMap")]));
    assert_eq!(r.ports[2].verdict, "no rule: blocked by default");
}

#[test]
fn profile_mismatch_and_disabled_rules_are_named_in_the_notes() {
    let mut rs = nvidia_three();
    rs[2].profiles = PUBLIC; // Public only, on a Private network
    rs[1].enabled = false;
    let r = eval(&one_network(Profile::Private, rs));
    assert_eq!(r.ports[2].verdict, "no rule: blocked by default");
    assert_eq!(
        r.ports[2].notes,
        ["rule \"CloudXR wss:// Proxy\" would allow it on Public networks, not on Private ones"]
    );
    assert_eq!(r.ports[1].verdict, "no rule: blocked by default");
    assert_eq!(r.ports[1].notes, ["rule \"CloudXR Media\" would allow it but is disabled"]);
}

#[test]
fn program_rules_apply_to_the_program_that_listens() {
    // An allow rule for our own program opens the proxy port but not the Runtime's ports.
    let mut ours = rule("CXR Gate", Action::Allow, ALL, 6, "*");
    ours.application = EXE.to_lowercase();
    let mut runtime = rule("CloudXR Runtime", Action::Allow, ALL, 17, "*");
    runtime.application = RUNTIME_EXE.into();
    let st = one_network(Profile::Private, vec![ours.clone(), runtime.clone()]);
    let r = eval(&st);
    assert_eq!(r.ports[2].verdict, "allowed by rule \"CXR Gate\"");
    assert_eq!(r.ports[1].verdict, "allowed by rule \"CloudXR Runtime\"", "the Runtime listens from that path");
    // Another program listens on the Runtime's ports: that rule is not its.
    let r = eval_with(&st, &Runtime::Program(r"D:\other\server.exe".into()), Some(QR_IP));
    assert_eq!(r.ports[1].verdict, "no rule: blocked by default");
    // The Runtime is not running: its rule may be the one, or not.
    let r = eval_with(&st, &Runtime::NotRunning, Some(QR_IP));
    assert_eq!(r.ports[1].open, None);
    assert_eq!(
        r.ports[1].verdict,
        format!("partly allowed by rule \"CloudXR Runtime\": only for the program {RUNTIME_EXE} (counts if that is what listens here)")
    );
}

#[test]
fn any_protocol_rules_cover_tcp_and_udp() {
    let r = eval(&one_network(Profile::Private, vec![rule("everything", Action::Allow, ALL, 256, "*")]));
    assert!(r.ports.iter().all(|p| p.open == Some(true)), "{:?}", verdicts(&r));
    let rs = vec![rule("nothing", Action::Block, ALL, 256, "*"), rule("tcp", Action::Allow, ALL, 6, "*")];
    let r = eval(&one_network(Profile::Private, rs));
    assert!(r.ports.iter().all(|p| p.open == Some(false)), "{:?}", verdicts(&r));
    // Another IP protocol (GRE, 47) covers neither.
    let r = eval(&one_network(Profile::Private, vec![rule("gre", Action::Allow, ALL, 47, "")]));
    assert!(r.ports.iter().all(|p| p.open == Some(false)));
}

#[test]
fn remote_address_scopes() {
    let mut lan = rule("proxy lan", Action::Allow, ALL, 6, "48322");
    lan.remote_addresses = "LocalSubnet".into();
    let mut one = rule("media one pc", Action::Allow, ALL, 17, "47998-48012");
    one.remote_addresses = "192.168.1.50/255.255.255.255".into();
    let mut block_far = rule("no guests", Action::Block, ALL, 17, "*");
    block_far.remote_addresses = "10.0.0.0/255.0.0.0".into();
    let r = eval(&one_network(Profile::Private, vec![lan, one, block_far]));
    assert_eq!(r.ports[2].verdict, "allowed by rule \"proxy lan\" (local subnet)");
    assert_eq!(r.ports[1].open, None);
    assert_eq!(
        r.ports[1].verdict,
        "partly allowed by rule \"media one pc\": only from 192.168.1.50/255.255.255.255; a headset at another address is blocked"
    );
    // A partial allow is not enough: the fix adds the LAN-wide rule (a block for 10/8 holds no headset here).
    assert_eq!(r.fix.add.iter().map(|a| a.name()).collect::<Vec<_>>(), [MEDIA_RULE]);
}

#[test]
fn firewall_off_and_default_allow_let_in() {
    let mut st = one_network(Profile::Private, Vec::new());
    st.profiles[1].enabled = false;
    let r = eval(&st);
    assert_eq!(r.ports[2].verdict, "allowed: the firewall is off for Private networks");
    assert_eq!(r.profile_line, "Headsets' network: Wi-Fi (\"Home\"), Private (firewall off)");
    assert!(r.fix.is_empty() && r.must_change.is_empty());
    let mut st = one_network(Profile::Private, Vec::new());
    st.profiles[1].default_inbound_block = false;
    assert_eq!(eval(&st).ports[2].open, Some(true));
}

#[test]
fn the_headless_lines_are_few_and_say_the_verdict() {
    let mut rs = nvidia_three();
    rs.extend(first_run_prompt(EXE));
    let lines = eval(&one_network(Profile::Public, rs)).lines();
    assert!(lines.len() <= 7, "{lines:#?}");
    assert_eq!(
        lines[0],
        "Windows Firewall: Headsets' network: Wi-Fi (\"Home\"), Public (firewall on; inbound default: block)"
    );
    assert!(lines[1].starts_with("  Wi-Fi (\"Home\"), Public: blocked"), "{}", lines[1]);
    assert_eq!(
        lines[2],
        "  TCP 49100 (Runtime signaling): open, though headsets don't need it: allowed by rule \"CloudXR Signaling\""
    );
    assert!(
        lines[4].starts_with("  TCP 48322 (CXR Gate wss:// proxy): BLOCKED: blocked by rule \"CXR Gate\""),
        "{}",
        lines[4]
    );
    assert!(lines[5].starts_with("  to change: Wi-Fi (\"Home\") is a Public network"), "{}", lines[5]);
}

#[test]
fn program_paths_compare_like_windows_does() {
    assert_eq!(
        normalize_program(r"%ProgramFiles%\CXR Gate\cxr-gate.exe", &var),
        r"c:\program files\cxr gate\cxr-gate.exe"
    );
    assert_eq!(normalize_program("%Unknown%\\a.exe", &var), "%unknown%\\a.exe");
    assert_eq!(normalize_program("C:/x/100%.exe", &var), "c:\\x\\100%.exe");
    assert_eq!(
        our_programs(std::path::Path::new(EXE)),
        [r"c:\program files\cxr gate\cxr-gate.exe", r"c:\program files\cxr gate\cxr-gate-proxy.exe"]
    );
}

/// Windows (and wine in the Windows stage): the real read (COM, the network list, the adapters, the
/// socket tables) answers, or says it could not read the firewall, within the hang guard; what it
/// read evaluates. Prints how long it took.
#[cfg(windows)]
#[test]
fn the_firewall_read_answers_or_says_why_without_hanging() {
    use super::windows::{read_within, FirewallError};
    let t = std::time::Instant::now();
    let read = read_within(std::time::Duration::from_secs(20));
    let ms = t.elapsed().as_millis();
    match &read {
        Ok(st) => {
            println!(
                "firewall read in {ms} ms: {} profiles, {} inbound rules ({} unreadable), {} networks, policy {:?}",
                st.profiles.len(),
                st.rules.len(),
                st.unreadable.len(),
                st.networks.len(),
                st.modify_state
            );
            for l in eval(st).lines() {
                println!("  {l}");
            }
        }
        Err(e) => println!("firewall read in {ms} ms: {e}"),
    }
    if let Err(e) = read {
        assert!(!matches!(e, FirewallError::TimedOut(_)), "the read hung: {e}");
        assert!(e.to_string().starts_with("could not read the firewall ("), "{e}");
    }
}
