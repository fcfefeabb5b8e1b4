//! The `firewall-fix` command line (the window's fix, the installer's `--install-rules [--media]`,
//! the uninstaller's `--remove-rules`, `--result FILE`), and the rule plans they stand for.

use std::path::PathBuf;

use super::fixtures::*;
use crate::firewall::args::{parse_args, quote_windows_arg, windows_command_line, FixAction, FixArgsError, FixRequest};
use crate::firewall::fix::{install_plan, is_ours, FixPlan, OurRule, GROUP, MEDIA_RULE, OUR_NAMES, PROXY_RULE};
use crate::firewall::model::{Action, Direction, Profile, Rule};

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_install_plan_is_our_two_rules_on_private_and_domain_and_never_49100() {
    let plan = install_plan(48322, Some((47998, 48012)));
    let rules: Vec<Rule> = plan.iter().map(|r| r.rule(EXE)).collect();
    assert_eq!(rules.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), [PROXY_RULE, MEDIA_RULE]);
    for r in &rules {
        assert_eq!(r.grouping, GROUP);
        assert_eq!(Profile::in_mask(r.profiles), [Profile::Domain, Profile::Private], "{}: never Public", r.name);
        assert_eq!((r.direction, r.action, r.enabled), (Direction::In, Action::Allow, true));
        assert_eq!(r.remote_addresses, "*");
        assert!(
            !r.covers_port(49100),
            "{}: TCP 49100 stays closed: headsets reach the Runtime through the gate",
            r.name
        );
        assert!(is_ours(r));
    }
    assert_eq!((rules[0].protocol, rules[0].local_ports.as_str(), rules[0].application.as_str()), (6, "48322", EXE));
    assert_eq!(
        (rules[1].protocol, rules[1].local_ports.as_str(), rules[1].application.as_str()),
        (17, "47998-48012", "")
    );
    // Without --media: the gate's rule alone; with a saved port: that port.
    assert_eq!(install_plan(9443, None), [OurRule::proxy(9443)]);
    // Our names are none of NVIDIA's, nor the first-run prompt's, nor each other's.
    for n in OUR_NAMES {
        assert!(!n.starts_with("CloudXR") && n != "CXR Gate", "{n}");
    }
}

#[test]
fn installing_twice_replaces_ours_and_removing_takes_exactly_ours() {
    let mut st = one_network(Profile::Private, first_run_prompt(EXE));
    st.rules.push(rule("CloudXR Media", Action::Allow, ALL, 17, "47998-48012"));
    st.rules.push(Rule { grouping: GROUP.into(), ..rule("my own rule in that group", Action::Allow, ALL, 6, "80") });
    st.rules.push(rule(PROXY_RULE, Action::Allow, ALL, 6, "48322"));
    let theirs = st.rules.clone();
    let plan = FixPlan { add: install_plan(48322, Some((47998, 48012))), disable: Vec::new() };
    let programs = crate::firewall::our_programs(std::path::Path::new(EXE));
    let once = plan.apply_to(&st, EXE, &programs, &var);
    let twice = plan.apply_to(&once, EXE, &programs, &var);
    assert_eq!(once, twice, "an upgrade replaces ours, never doubles them");
    assert_eq!(twice.rules.iter().filter(|r| is_ours(r)).count(), 2);
    // The uninstaller's selection: ours (group and name), not a look-alike name or another rule in the group.
    let removed: Vec<&Rule> = twice.rules.iter().filter(|r| is_ours(r)).collect();
    assert_eq!(removed.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), [PROXY_RULE, MEDIA_RULE]);
    let kept: Vec<Rule> = twice.rules.iter().filter(|r| !is_ours(r)).cloned().collect();
    assert_eq!(kept, theirs);
}

#[test]
fn the_command_lines_round_trip() {
    let cases = [
        (
            FixRequest {
                action: FixAction::Install { media: true },
                result: Some(PathBuf::from(r"C:\Temp\fw result.txt")),
            },
            args(&["firewall-fix", "--install-rules", "--media", "--result", r"C:\Temp\fw result.txt"]),
        ),
        (
            FixRequest { action: FixAction::Install { media: false }, result: None },
            args(&["firewall-fix", "--install-rules"]),
        ),
        (FixRequest { action: FixAction::Remove, result: None }, args(&["firewall-fix", "--remove-rules"])),
    ];
    for (req, want) in cases {
        assert_eq!(req.to_args(), want);
        assert_eq!(parse_args(&want), Ok(req));
    }
    // The window's fix, with a rule name that needs quoting through Windows' command line.
    let mut st = one_network(Profile::Private, Vec::new());
    for name in ["CXR Gate", "CXR Gate \"beta\" C:\\dir\\"] {
        let mut r = rule(name, Action::Block, PRIVATE, 6, "*");
        r.application = EXE.into();
        st.rules.push(r);
    }
    let plan = eval(&st).fix;
    let req = FixRequest {
        action: FixAction::Fix(plan.clone()),
        result: Some(PathBuf::from(r"C:\Users\me\AppData\Roaming\CXR Gate\firewall-fix.txt")),
    };
    let a = req.to_args();
    assert_eq!(
        a,
        args(&[
            "firewall-fix",
            "--add",
            "media=47998-48012",
            "--add",
            "proxy=48322",
            "--disable-rule",
            "tcp:2:CXR Gate",
            "--disable-rule",
            "tcp:2:CXR Gate \"beta\" C:\\dir\\",
            "--result",
            r"C:\Users\me\AppData\Roaming\CXR Gate\firewall-fix.txt",
        ])
    );
    assert_eq!(parse_args(&a), Ok(req));
    let line = windows_command_line(&a);
    assert_eq!(split_windows_command_line(&line), a, "{line}");
    assert_eq!(quote_windows_arg("tcp:2:CXR Gate"), "\"tcp:2:CXR Gate\"");
    assert_eq!(quote_windows_arg(r#"a\"b"#), r#""a\\\"b""#);
    assert_eq!(quote_windows_arg(""), "\"\"");
}

#[test]
fn bad_fix_arguments_are_refused_with_the_reason() {
    let bad = |v: &[&str]| parse_args(&args(v)).unwrap_err().to_string();
    assert_eq!(bad(&[]), "expected `firewall-fix` first, got \"\"");
    assert_eq!(
        bad(&["firewall-fix"]),
        "nothing to do: give --install-rules, --remove-rules, or at least one --add or --disable-rule"
    );
    assert_eq!(bad(&["firewall-fix", "--add"]), "--add needs a value");
    assert_eq!(bad(&["firewall-fix", "--install-rules", "--result"]), "--result needs a value");
    assert!(bad(&["firewall-fix", "--allow", "x"])
        .starts_with("unknown argument \"--allow\" (use --install-rules [--media], --remove-rules"));
    assert_eq!(
        bad(&["firewall-fix", "--add", "signaling=49100"]),
        "--add \"signaling=49100\": \"signaling\" is neither proxy nor media (CXR Gate adds no other rule)"
    );
    assert_eq!(bad(&["firewall-fix", "--add", "proxy=0"]), "--add \"proxy=0\": \"0\" is not a port (1-65535)");
    assert_eq!(bad(&["firewall-fix", "--add", "proxy=1-2"]), "--add \"proxy=1-2\": the proxy is one port");
    assert_eq!(
        bad(&["firewall-fix", "--add", "media=48012-47998"]),
        "--add \"media=48012-47998\": the range 48012-47998 runs backwards"
    );
    assert_eq!(
        bad(&["firewall-fix", "--disable-rule", "CXR Gate"]),
        "--disable-rule \"CXR Gate\": expected PROTOCOL:PROFILES:NAME"
    );
    assert_eq!(
        bad(&["firewall-fix", "--disable-rule", "tcp:2:a\nb"]),
        "--disable-rule \"tcp:2:a\\nb\": the rule name has a control character or '|'"
    );
    assert_eq!(
        bad(&["firewall-fix", "--disable-rule", "icmp:2:x"]),
        "--disable-rule \"icmp:2:x\": \"icmp\" is not a protocol"
    );
    assert_eq!(
        bad(&["firewall-fix", "--install-rules", "--remove-rules"]),
        "--install-rules cannot be combined with --remove-rules"
    );
    assert_eq!(bad(&["firewall-fix", "--remove-rules", "--media"]), "--remove-rules cannot be combined with --media");
    assert_eq!(
        bad(&["firewall-fix", "--install-rules", "--add", "proxy=1"]),
        "--install-rules cannot be combined with --add"
    );
    assert_eq!(bad(&["firewall-fix", "--install-rules", "--install-rules"]), "--install-rules given twice");
    assert_eq!(bad(&["firewall-fix", "--remove-rules", "--result", "a", "--result", "b"]), "--result given twice");
    assert!(matches!(parse_args(&args(&["firewall-fix", "--add", "media=1-70000"])), Err(FixArgsError::BadAdd { .. })));
    assert_eq!(
        parse_args(&args(&["firewall-fix", "--disable-rule", "udp:7:A:B"])).map(|r| match r.action {
            FixAction::Fix(p) => p.disable[0].name.clone(),
            _ => String::new(),
        }),
        Ok("A:B".to_string())
    );
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
