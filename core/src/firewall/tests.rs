//! The evaluation and the fix's command line, with fixtures shaped like real Windows rule sets:
//! the block rule pair Windows' first-run prompt leaves, rules named in other languages (nothing
//! is parsed from text, so names never matter), overlapping ranges, remote-address scopes.

use super::evaluate::{evaluate, is_prompt_rule, Context, Report};
use super::fix::{parse_args, quote_windows_arg, windows_command_line, FixArgsError};
use super::model::{normalize_program, Action, Direction, FirewallState, Network, Profile, ProfileState, Rule};
use super::{our_programs, rules, Ports};

const PORTS: Ports = Ports { signaling: 49100, media_first: 47998, media_last: 48012, proxy: 48322 };
const EXE: &str = r"C:\Program Files\CXR Gate\cxr-gate.exe";
const ALL: u32 = 0x7FFF_FFFF;

fn rule(name: &str, action: Action, profiles: u32, protocol: i32, ports: &str) -> Rule {
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

/// What "Allow CXR Gate to communicate on these networks" leaves after Allow with only Private
/// ticked: Allow on Private and Block on Public, each for TCP and for UDP, for the program, any
/// port, any address, named after the program's description.
fn first_run_prompt(app: &str) -> Vec<Rule> {
    let mut v = Vec::new();
    for (action, profile) in [(Action::Allow, 2), (Action::Block, 4)] {
        for proto in [6, 17] {
            v.push(Rule {
                application: app.into(),
                description: "CXR Gate".into(),
                ..rule("CXR Gate", action, profile, proto, "*")
            });
        }
    }
    v
}

fn our_three() -> Vec<Rule> {
    vec![
        rule("CloudXR Signaling", Action::Allow, ALL, 6, "49100"),
        rule("CloudXR Media", Action::Allow, ALL, 17, "47998-48012"),
        rule("CloudXR wss:// Proxy", Action::Allow, ALL, 6, "48322"),
    ]
}

fn profiles() -> Vec<ProfileState> {
    Profile::ALL
        .into_iter()
        .map(|profile| ProfileState { profile, enabled: true, default_inbound_block: true, block_all_inbound: false })
        .collect()
}

fn state(current: u32, rules: Vec<Rule>) -> FirewallState {
    FirewallState {
        current_profiles: current,
        profiles: profiles(),
        networks: vec![Network { name: "Home".into(), category: Profile::Public }],
        rules,
    }
}

fn var(name: &str) -> Option<String> {
    (name.eq_ignore_ascii_case("ProgramFiles")).then(|| r"C:\Program Files".to_string())
}

fn eval(st: &FirewallState) -> Report {
    let programs = our_programs(std::path::Path::new(EXE));
    evaluate(st, &rules(&PORTS), &Context { programs: &programs, var: &var })
}

fn verdicts(r: &Report) -> Vec<(Option<bool>, String)> {
    r.ports.iter().map(|p| (p.open, p.verdict.clone())).collect()
}

#[test]
fn the_first_run_prompt_block_rule_beats_the_port_rules_on_a_public_network() {
    let mut rs = our_three();
    rs.extend(first_run_prompt(EXE));
    let r = eval(&state(4, rs));
    assert_eq!(r.profile_line, "Current profile: Public (firewall on; inbound default: block)");
    assert_eq!(r.networks, ["Network \"Home\" is Public"]);
    assert!(r.public_network);
    // Only the proxy port is ours: the program rule does not touch the Runtime's ports.
    assert_eq!(r.ports[0].open, Some(true));
    assert_eq!(r.ports[0].verdict, "allowed by rule \"CloudXR Signaling\"");
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
    assert!(
        proxy.verdict.contains("first-run prompt") && proxy.verdict.contains("without ticking Public"),
        "{}",
        proxy.verdict
    );
    // The fix disables the pair (one name) and adds nothing: the port rule allows once the block is gone.
    assert_eq!(r.fix.disable, ["CXR Gate"]);
    assert!(r.fix.allow.is_empty(), "{:?}", r.fix.allow);
    assert_eq!(r.changes.len(), 2, "the TCP and the UDP block rule, each named: {:?}", r.changes);
    assert!(r.changes[0].starts_with("Disable \"CXR Gate\" (Block, Public, TCP"), "{:?}", r.changes);
    assert!(r.changes[1].starts_with("Disable \"CXR Gate\" (Block, Public, UDP"), "{:?}", r.changes);
    // On Private the prompt's allow rule lets it in, and the fix leaves the Private allow alone.
    let private = eval(&state(2, first_run_prompt(EXE)));
    assert_eq!(private.ports[2].verdict, "allowed by rule \"CXR Gate\"");
    assert_eq!(private.ports[0].verdict, "no rule: blocked by default");
    assert_eq!(
        private.fix.disable,
        ["CXR Gate"],
        "the Public block is disabled for the day the PC is on a Public network"
    );
    assert_eq!(
        private.fix.allow.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        ["CloudXR Signaling", "CloudXR Media"]
    );
}

#[test]
fn a_cancelled_prompt_on_all_profiles_blocks_and_the_fix_adds_what_is_missing() {
    let mut rs: Vec<Rule> = first_run_prompt(EXE).into_iter().filter(|r| r.action == Action::Block).collect();
    for r in &mut rs {
        r.profiles = ALL;
        // A rule stored with an environment variable in its path.
        r.application = r"%ProgramFiles%\CXR Gate\cxr-gate.exe".into();
    }
    assert!(is_prompt_rule(&rs[0], &our_programs(std::path::Path::new(EXE)), &var));
    let r = eval(&state(4, rs));
    assert_eq!(r.ports[2].open, Some(false));
    assert!(
        r.ports[2].verdict.starts_with("blocked by rule \"CXR Gate\" (Block, all profiles, TCP"),
        "{}",
        r.ports[2].verdict
    );
    assert_eq!(r.fix.disable, ["CXR Gate"]);
    assert_eq!(r.fix.allow.len(), 3);
    assert_eq!(r.changes[2], "Add \"CloudXR Signaling\": allow TCP 49100 in, all profiles, local subnet");
    assert_eq!(r.changes[3], "Add \"CloudXR Media\": allow UDP 47998-48012 in, all profiles, local subnet");
    // The headless binary's block rule counts too, and so does the desktop's for the headless one.
    let headless = r"C:\Program Files\CXR Gate\cxr-gate-proxy.exe";
    let r = eval(&state(4, first_run_prompt(headless)));
    assert_eq!(r.fix.disable, ["CXR Gate"], "the sibling program's block rule is disabled too");
    assert!(
        r.ports[2].verdict.starts_with("no rule"),
        "but it does not block the desktop's listener: {}",
        r.ports[2].verdict
    );
    // Another program's block rule is none of ours.
    let other = eval(&state(4, first_run_prompt(r"C:\Games\other.exe")));
    assert!(other.fix.disable.is_empty());
}

#[test]
fn block_beats_allow_and_the_users_own_block_rules_are_left_alone() {
    let mut rs = our_three();
    rs.push(rule("Kein Zugriff 48322", Action::Block, ALL, 6, "48000-49000"));
    let r = eval(&state(4, rs));
    assert_eq!(r.ports[2].open, Some(false));
    assert!(
        r.ports[2]
            .verdict
            .starts_with("blocked by rule \"Kein Zugriff 48322\" (Block, all profiles, TCP, port 48000-49000)"),
        "{}",
        r.ports[2].verdict
    );
    assert!(!r.ports[2].verdict.contains("first-run"), "a port rule is not the prompt's");
    assert!(r.fix.disable.is_empty(), "not a program block rule: the fix does not touch it");
}

#[test]
fn names_in_other_languages_do_not_matter() {
    let rs = vec![
        rule("CloudXR-Signalisierung (eingehend)", Action::Allow, ALL, 6, "49100"),
        rule("CloudXR メディア", Action::Allow, ALL, 17, "47998-48012"),
        rule("Proxy wss:// de CloudXR (entrant)", Action::Allow, 2 | 4, 6, "48322"),
    ];
    let r = eval(&state(4, rs));
    assert_eq!(
        verdicts(&r),
        [
            (Some(true), "allowed by rule \"CloudXR-Signalisierung (eingehend)\"".to_string()),
            (Some(true), "allowed by rule \"CloudXR メディア\"".to_string()),
            (Some(true), "allowed by rule \"Proxy wss:// de CloudXR (entrant)\"".to_string()),
        ]
    );
    assert!(r.fix.is_empty() && r.changes.is_empty());
}

#[test]
fn overlapping_ranges_and_lists_cover_the_media_range_together() {
    let rs = vec![
        rule("media low", Action::Allow, ALL, 17, "47990-48005"),
        rule("media high", Action::Allow, ALL, 17, "48000-48010,48011,48012"),
    ];
    let r = eval(&state(4, rs));
    assert_eq!(r.ports[1].open, Some(true));
    assert_eq!(
        r.ports[1].verdict,
        "47998-48005 allowed by rule \"media low\"; 48006-48012 allowed by rule \"media high\""
    );
    // Half a range: which ports are open and which are not.
    let r = eval(&state(4, vec![rule("half", Action::Allow, ALL, 17, "47998-48005")]));
    assert_eq!(r.ports[1].open, Some(false));
    assert_eq!(r.ports[1].verdict, "47998-48005 allowed by rule \"half\"; 48006-48012 no rule: blocked by default");
    assert_eq!(
        r.fix.allow.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        ["CloudXR Signaling", "CloudXR Media", "CloudXR wss:// Proxy"]
    );
    // Keywords such as RPC cover none of our ports.
    let r = eval(&state(4, vec![rule("rpc", Action::Allow, ALL, 6, "RPC-EPMap")]));
    assert_eq!(r.ports[0].verdict, "no rule: blocked by default");
}

#[test]
fn profile_mismatch_and_disabled_rules_are_named_in_the_notes() {
    let mut rs = our_three();
    rs[0].profiles = 2; // Private only, on a Public network
    rs[1].enabled = false;
    let r = eval(&state(4, rs));
    assert_eq!(r.ports[0].verdict, "no rule: blocked by default");
    assert_eq!(r.ports[0].notes, ["rule \"CloudXR Signaling\" would allow it on Private networks, not on Public ones"]);
    assert_eq!(r.ports[1].verdict, "no rule: blocked by default");
    assert_eq!(r.ports[1].notes, ["rule \"CloudXR Media\" would allow it but is disabled"]);
    assert_eq!(r.ports[2].open, Some(true));
}

#[test]
fn program_rules_apply_to_that_program_only() {
    // An allow rule for our own program opens the proxy port but not the Runtime's ports.
    let mut ours = rule("CXR Gate", Action::Allow, ALL, 6, "*");
    ours.application = EXE.to_lowercase();
    // An allow rule for the Runtime's program: we cannot tell whether it is what listens.
    let mut runtime = rule("CloudXR Runtime", Action::Allow, ALL, 17, "*");
    runtime.application = r"C:\Program Files\NVIDIA\CloudXR\Server.exe".into();
    let r = eval(&state(4, vec![ours, runtime]));
    assert_eq!(r.ports[2].verdict, "allowed by rule \"CXR Gate\"");
    assert_eq!(r.ports[0].verdict, "no rule: blocked by default");
    assert_eq!(r.ports[1].open, None);
    assert_eq!(
        r.ports[1].verdict,
        "partly allowed by rule \"CloudXR Runtime\": only for the program C:\\Program Files\\NVIDIA\\CloudXR\\Server.exe (counts if that is what listens here)"
    );
}

#[test]
fn any_protocol_rules_cover_tcp_and_udp() {
    let r = eval(&state(4, vec![rule("everything", Action::Allow, ALL, 256, "*")]));
    assert!(r.ports.iter().all(|p| p.open == Some(true)), "{:?}", verdicts(&r));
    let r =
        eval(&state(4, vec![rule("nothing", Action::Block, ALL, 256, "*"), rule("tcp", Action::Allow, ALL, 6, "*")]));
    assert!(r.ports.iter().all(|p| p.open == Some(false)), "{:?}", verdicts(&r));
    // Another IP protocol (GRE, 47) covers neither.
    let r = eval(&state(4, vec![rule("gre", Action::Allow, ALL, 47, "")]));
    assert!(r.ports.iter().all(|p| p.open == Some(false)));
}

#[test]
fn remote_address_scopes() {
    let mut lan = rule("proxy lan", Action::Allow, ALL, 6, "48322");
    lan.remote_addresses = "LocalSubnet".into();
    let mut one = rule("proxy one pc", Action::Allow, ALL, 6, "49100");
    one.remote_addresses = "192.168.1.50/255.255.255.255".into();
    let mut block_one = rule("no guests", Action::Block, ALL, 17, "*");
    block_one.remote_addresses = "10.0.0.0/255.0.0.0".into();
    let r = eval(&state(4, vec![lan, one, block_one]));
    assert_eq!(r.ports[2].verdict, "allowed by rule \"proxy lan\" (local subnet)");
    assert_eq!(r.ports[0].open, None);
    assert_eq!(
        r.ports[0].verdict,
        "partly allowed by rule \"proxy one pc\": only from 192.168.1.50/255.255.255.255; a headset at another address is blocked"
    );
    // A block for some addresses only is not the verdict, but it is said.
    assert_eq!(r.ports[1].verdict, "no rule: blocked by default");
    assert_eq!(r.ports[1].notes, ["rule \"no guests\" blocks it from 10.0.0.0/255.0.0.0"]);
    // A partial allow is not enough: the fix adds the LAN-wide rule.
    assert!(r.fix.allow.iter().any(|a| a.name == "CloudXR Signaling"));
}

#[test]
fn profiles_off_shields_up_default_allow_and_two_networks() {
    let mut st = state(4, Vec::new());
    st.profiles[2].enabled = false;
    let r = eval(&st);
    assert_eq!(r.ports[0].verdict, "allowed: the firewall is off for Public networks");
    assert_eq!(r.profile_line, "Current profile: Public (firewall off)");
    assert!(r.fix.is_empty());
    let mut st = state(4, our_three());
    st.profiles[2].block_all_inbound = true;
    let r = eval(&st);
    assert!(r.ports.iter().all(|p| p.open == Some(false)));
    assert!(r.ports[0].verdict.contains("Block all incoming connections"));
    let mut st = state(4, Vec::new());
    st.profiles[2].default_inbound_block = false;
    assert_eq!(eval(&st).ports[0].open, Some(true));
    // Two networks, Domain and Public: each profile's verdict where they differ.
    let mut st = state(1 | 4, vec![rule("domain only", Action::Allow, 1, 6, "49100")]);
    st.networks.push(Network { name: "corp.example".into(), category: Profile::Domain });
    let r = eval(&st);
    assert_eq!(
        r.profile_line,
        "Current profiles: Domain (firewall on; inbound default: block), Public (firewall on; inbound default: block)"
    );
    assert_eq!(r.networks, ["Network \"Home\" is Public", "Network \"corp.example\" is Domain"]);
    assert_eq!(r.ports[0].open, Some(false));
    assert_eq!(r.ports[0].verdict, "Domain: allowed by rule \"domain only\" | Public: no rule: blocked by default");
    // No profile reported (no network): Windows treats that as Public.
    assert_eq!(
        eval(&state(0, Vec::new())).profile_line,
        "Current profile: Public (firewall on; inbound default: block)"
    );
}

#[test]
fn the_headless_lines_are_few_and_say_the_verdict() {
    let mut rs = our_three();
    rs.extend(first_run_prompt(EXE));
    let lines = eval(&state(4, rs)).lines();
    assert!(lines.len() <= 7, "{lines:#?}");
    assert_eq!(lines[0], "Windows Firewall: Current profile: Public (firewall on; inbound default: block)");
    assert_eq!(lines[1], "  Network \"Home\" is Public");
    assert_eq!(lines[2], "  TCP 49100 (CloudXR Signaling): ok: allowed by rule \"CloudXR Signaling\"");
    assert!(
        lines[4].starts_with("  TCP 48322 (CloudXR wss:// Proxy): BLOCKED: blocked by rule \"CXR Gate\""),
        "{}",
        lines[4]
    );
    assert!(lines[5].starts_with("  to fix (as administrator): Disable \"CXR Gate\""), "{}", lines[5]);
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

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_fix_command_line_round_trips() {
    let mut rs = our_three();
    rs.remove(1);
    rs.extend(first_run_prompt(EXE));
    rs.push(Rule { name: "CXR Gate \"beta\" C:\\dir\\".into(), ..first_run_prompt(EXE).remove(2) });
    let plan = eval(&state(4, rs)).fix;
    let a = plan.to_args();
    assert_eq!(
        a,
        args(&[
            "firewall-fix",
            "--allow",
            "CloudXR Media=udp:47998-48012",
            "--disable-rule",
            "CXR Gate",
            "--disable-rule",
            "CXR Gate \"beta\" C:\\dir\\"
        ])
    );
    assert_eq!(parse_args(&a), Ok(plan.clone()));
    // Through Windows' command line and back.
    let line = windows_command_line(&a);
    assert_eq!(split_windows_command_line(&line), a, "{line}");
    assert_eq!(quote_windows_arg("CloudXR wss:// Proxy=tcp:48322"), "\"CloudXR wss:// Proxy=tcp:48322\"");
    assert_eq!(quote_windows_arg(r#"a\"b"#), r#""a\\\"b""#);
    assert_eq!(quote_windows_arg(""), "\"\"");
}

#[test]
fn bad_fix_arguments_are_refused_with_the_reason() {
    let bad = |v: &[&str]| parse_args(&args(v)).unwrap_err().to_string();
    assert_eq!(bad(&[]), "expected `firewall-fix` first, got \"\"");
    assert_eq!(bad(&["firewall-fix"]), "nothing to do: give at least one --allow or --disable-rule");
    assert_eq!(bad(&["firewall-fix", "--allow"]), "--allow needs a value");
    assert_eq!(
        bad(&["firewall-fix", "--delete-rule", "x"]),
        "unknown argument \"--delete-rule\" (use --allow NAME=tcp|udp:PORT[-PORT] and --disable-rule NAME)"
    );
    assert_eq!(
        bad(&["firewall-fix", "--allow", "tcp:48322"]),
        "--allow \"tcp:48322\": expected NAME=tcp|udp:PORT[-PORT]"
    );
    assert_eq!(
        bad(&["firewall-fix", "--allow", "X=icmp:1"]),
        "--allow \"X=icmp:1\": protocol \"icmp\" is neither tcp nor udp"
    );
    assert_eq!(bad(&["firewall-fix", "--allow", "X=tcp:0"]), "--allow \"X=tcp:0\": \"0\" is not a port (1-65535)");
    assert_eq!(
        bad(&["firewall-fix", "--allow", "X=udp:48012-47998"]),
        "--allow \"X=udp:48012-47998\": the range 48012-47998 runs backwards"
    );
    assert_eq!(bad(&["firewall-fix", "--allow", "=tcp:1"]), "--allow \"=tcp:1\": the rule name is empty");
    assert_eq!(
        bad(&["firewall-fix", "--disable-rule", "a\nb"]),
        "--disable-rule \"a\\nb\": the rule name has a control character or '|'"
    );
    assert!(matches!(
        parse_args(&args(&["firewall-fix", "--allow", "X=tcp:70000"])),
        Err(FixArgsError::BadAllow { .. })
    ));
    assert_eq!(
        parse_args(&args(&["firewall-fix", "--allow", "A=B=UDP:5-6"])).map(|p| p.allow[0].name.clone()),
        Ok("A=B".to_string())
    );
}

/// Windows (and wine in the Windows stage): the real COM read answers, or says it could not read
/// the firewall, within the hang guard; what it read evaluates. Prints how long it took.
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
                "firewall read in {ms} ms: profiles {:#x}, {} inbound rules, {} networks",
                st.current_profiles,
                st.rules.len(),
                st.networks.len()
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

/// Splits a Windows command line the way `CommandLineToArgvW` does (arguments after the program
/// name): shows that [`windows_command_line`] round-trips.
fn split_windows_command_line(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    let mut started = false;
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            let mut n = 0;
            while i < chars.len() && chars[i] == '\\' {
                n += 1;
                i += 1;
            }
            if i < chars.len() && chars[i] == '"' {
                cur.extend(std::iter::repeat_n('\\', n / 2));
                if n % 2 == 1 {
                    cur.push('"');
                    i += 1;
                }
            } else {
                cur.extend(std::iter::repeat_n('\\', n));
            }
            started = true;
            continue;
        }
        if c == '"' {
            if in_quotes && chars.get(i + 1) == Some(&'"') {
                cur.push('"');
                i += 2;
                continue;
            }
            in_quotes = !in_quotes;
            started = true;
        } else if (c == ' ' || c == '\t') && !in_quotes {
            if started {
                args.push(std::mem::take(&mut cur));
                started = false;
            }
        } else {
            cur.push(c);
            started = true;
        }
        i += 1;
    }
    if started {
        args.push(cur);
    }
    args
}
