//! Windows Defender Firewall through netsh: the argument vectors that show, add and delete a rule,
//! the one elevated PowerShell step (one UAC prompt) that recreates the missing ones, and the parser
//! of `show rule` output. Pure: `windows.rs` runs them; unit-tested on every platform.

use super::{port_list_covers, rows, rules, FirewallView, Ports, Proto, RuleSpec};

impl Proto {
    /// netsh's spelling: `TCP`, `UDP`.
    pub fn upper(self) -> &'static str {
        match self {
            Proto::Tcp => "TCP",
            Proto::Udp => "UDP",
        }
    }
}

/// `netsh advfirewall firewall show rule name="CloudXR Signaling"`
pub fn netsh_show_args(rule: &RuleSpec) -> Vec<String> {
    ["advfirewall", "firewall", "show", "rule"]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("name={}", rule.name)])
        .collect()
}

/// `netsh advfirewall firewall add rule name="…" dir=in action=allow protocol=TCP localport=49100`
pub fn netsh_add_args(rule: &RuleSpec) -> Vec<String> {
    vec![
        "advfirewall".into(),
        "firewall".into(),
        "add".into(),
        "rule".into(),
        format!("name={}", rule.name),
        "dir=in".into(),
        "action=allow".into(),
        format!("protocol={}", rule.proto.upper()),
        format!("localport={}", rule.netsh_ports()),
    ]
}

/// `netsh advfirewall firewall delete rule name="…"` (clears a rule left over for other ports).
pub fn netsh_delete_args(rule: &RuleSpec) -> Vec<String> {
    ["advfirewall", "firewall", "delete", "rule"]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("name={}", rule.name)])
        .collect()
}

/// An argument as cmd.exe passes it on to netsh: `name=CloudXR Signaling` → `name="CloudXR Signaling"`.
fn cmd_arg(a: &str) -> String {
    match a.split_once('=') {
        Some((k, v)) if v.contains(' ') => format!("{k}=\"{v}\""),
        _ => a.to_string(),
    }
}

fn cmd_line(args: &[String]) -> String {
    std::iter::once("netsh".to_string()).chain(args.iter().map(|a| cmd_arg(a))).collect::<Vec<_>>().join(" ")
}

/// One `cmd /c` line that (re)creates `rules`: each is deleted first so a rule left over for
/// other ports is replaced, not duplicated. Runs elevated, once, so one UAC prompt covers all.
pub fn netsh_cmd_chain(rules: &[RuleSpec]) -> String {
    rules
        .iter()
        .map(|r| format!("{} >nul 2>&1 & {}", cmd_line(&netsh_delete_args(r)), cmd_line(&netsh_add_args(r))))
        .collect::<Vec<_>>()
        .join(" & ")
}

/// Exit code PowerShell reports when the user declines the UAC prompt (ERROR_CANCELLED).
pub const UAC_DECLINED: i32 = 1223;

/// The PowerShell that runs [`netsh_cmd_chain`] elevated and hands back its exit code.
pub fn elevated_script(rules: &[RuleSpec]) -> String {
    let args = format!("/c {}", netsh_cmd_chain(rules)).replace('\'', "''");
    format!(
        "try {{ $p = Start-Process -FilePath 'cmd.exe' -ArgumentList '{args}' -Verb RunAs -WindowStyle Hidden -Wait -PassThru; exit $p.ExitCode }} catch {{ [Console]::Error.WriteLine($_.Exception.Message); exit {UAC_DECLINED} }}"
    )
}

/// `powershell -EncodedCommand <base64 UTF-16LE>`: no quoting rules to get wrong on the way.
pub fn powershell_args(script: &str) -> Vec<String> {
    let utf16: Vec<u8> = script.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
    ["-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-WindowStyle", "Hidden", "-EncodedCommand"]
        .iter()
        .map(|s| s.to_string())
        .chain([base64(&utf16)])
        .collect()
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// One rule from `netsh advfirewall firewall show rule` (English output; other fields ignored).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetshRule {
    pub name: String,
    pub enabled: bool,
    pub direction: String,
    pub protocol: String,
    pub local_port: String,
    pub action: String,
}

/// Parses `show rule` output; "No rules match the specified criteria." gives an empty list.
pub fn parse_netsh_rules(out: &str) -> Vec<NetshRule> {
    let mut rules: Vec<NetshRule> = Vec::new();
    for line in out.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("Rule Name") {
            rules.push(NetshRule { name: v.to_string(), ..NetshRule::default() });
            continue;
        }
        let Some(r) = rules.last_mut() else { continue };
        match k.to_ascii_lowercase().as_str() {
            "enabled" => r.enabled = v.eq_ignore_ascii_case("yes"),
            "direction" => r.direction = v.to_string(),
            "protocol" => r.protocol = v.to_string(),
            "localport" => r.local_port = v.to_string(),
            "action" => r.action = v.to_string(),
            _ => {}
        }
    }
    rules
}

/// Some enabled inbound allow rule among `found` covers `spec`'s protocol and ports.
pub fn netsh_covers(found: &[NetshRule], spec: &RuleSpec) -> bool {
    found.iter().any(|r| {
        r.enabled
            && r.direction.eq_ignore_ascii_case("in")
            && r.action.eq_ignore_ascii_case("allow")
            && (r.protocol.eq_ignore_ascii_case(spec.proto.upper()) || r.protocol.eq_ignore_ascii_case("any"))
            && port_list_covers(&r.local_port, spec.first, spec.last, '-')
    })
}

/// Turns one `show rule` run into the row's state and a note.
pub fn netsh_rule_state(spec: &RuleSpec, exit_ok: bool, stdout: &str) -> (Option<bool>, Option<String>) {
    let found = parse_netsh_rules(stdout);
    if found.is_empty() {
        if !exit_ok || stdout.contains("No rules match") {
            return (Some(false), None);
        }
        // Exit 0 but nothing we can read (a localized Windows): the rule exists, details unknown.
        return (Some(true), Some("rule exists (details not checked)".into()));
    }
    if netsh_covers(&found, spec) {
        return (Some(true), None);
    }
    let r = &found[0];
    let why = if !r.enabled {
        "rule exists but is disabled".to_string()
    } else if !r.action.eq_ignore_ascii_case("allow") {
        format!("rule exists but its action is {}", r.action)
    } else {
        format!("rule exists for {} {}, not {} {}", r.protocol, r.local_port, spec.proto.upper(), spec.netsh_ports())
    };
    (Some(false), Some(why))
}

/// The Windows view from one `show rule` run per rule: (exit ok, stdout) in `rules(ports)` order.
pub fn netsh_view(ports: &Ports, runs: &[Result<(bool, String), String>]) -> FirewallView {
    let specs = rules(ports);
    let rows = rows(&specs, |s| {
        let i = specs.iter().position(|x| x.name == s.name).unwrap_or(0);
        match runs.get(i) {
            Some(Ok((ok, out))) => netsh_rule_state(s, *ok, out),
            Some(Err(e)) => (None, Some(e.clone())),
            None => (None, None),
        }
    });
    let missing = rows.iter().filter(|r| r.present != Some(true)).count();
    FirewallView {
        system: "windows".into(),
        summary: if missing == 0 {
            "Windows Defender Firewall has inbound rules for all three.".into()
        } else {
            format!("{missing} of 3 inbound rules are missing. \"Add firewall rules\" creates them (one administrator prompt).")
        },
        rules: rows,
        commands: Vec::new(),
        can_add: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORTS: Ports = Ports { signaling: 49100, media_first: 47998, media_last: 48012, proxy: 48322 };

    #[test]
    fn netsh_argument_vectors() {
        let r = rules(&PORTS);
        assert_eq!(netsh_show_args(&r[0]), ["advfirewall", "firewall", "show", "rule", "name=CloudXR Signaling"]);
        assert_eq!(
            netsh_add_args(&r[1]),
            [
                "advfirewall",
                "firewall",
                "add",
                "rule",
                "name=CloudXR Media",
                "dir=in",
                "action=allow",
                "protocol=UDP",
                "localport=47998-48012"
            ]
        );
        assert_eq!(netsh_add_args(&r[2])[4], "name=CloudXR wss:// Proxy");
        assert_eq!(netsh_add_args(&r[2])[8], "localport=48322");
    }

    #[test]
    fn elevated_chain_recreates_each_rule_once() {
        let r = rules(&PORTS);
        let chain = netsh_cmd_chain(&r);
        assert_eq!(chain.matches("add rule").count(), 3);
        assert_eq!(chain.matches("delete rule").count(), 3);
        assert!(chain.contains(
            "netsh advfirewall firewall add rule name=\"CloudXR Signaling\" dir=in action=allow protocol=TCP localport=49100"
        ));
        assert!(chain.contains("protocol=UDP localport=47998-48012"));
        let script = elevated_script(&r[..1]);
        assert!(script.contains("-Verb RunAs"), "{script}");
        assert!(script.contains("-ArgumentList '/c netsh advfirewall firewall delete rule name=\"CloudXR Signaling\""));
        assert!(script.contains("exit 1223"));
    }

    #[test]
    fn powershell_gets_an_encoded_command() {
        let args = powershell_args("exit 0");
        assert_eq!(
            &args[..6],
            ["-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-WindowStyle", "Hidden"]
        );
        assert_eq!(args[6], "-EncodedCommand");
        // "exit 0" as UTF-16LE, base64 (as `[Convert]::ToBase64String([Text.Encoding]::Unicode.GetBytes('exit 0'))`).
        assert_eq!(args[7], "ZQB4AGkAdAAgADAA");
        assert_eq!(base64(b"Ma"), "TWE=");
        assert_eq!(base64(b"M"), "TQ==");
        assert_eq!(base64(b"Man"), "TWFu");
        assert_eq!(base64(b""), "");
    }

    const NO_MATCH: &str = "\r\nNo rules match the specified criteria.\r\n";
    const LISTING: &str = "\r\nRule Name:                            CloudXR Signaling\r\n\
----------------------------------------------------------------------\r\n\
Enabled:                              Yes\r\nDirection:                            In\r\n\
Profiles:                             Domain,Private,Public\r\nGrouping:                             \r\n\
LocalIP:                              Any\r\nRemoteIP:                             Any\r\n\
Protocol:                             TCP\r\nLocalPort:                            49100\r\n\
RemotePort:                           Any\r\nEdge traversal:                       No\r\n\
Action:                               Allow\r\nOk.\r\n\r\n";

    #[test]
    fn netsh_show_rule_parser() {
        assert_eq!(parse_netsh_rules(NO_MATCH), vec![]);
        let rules_found = parse_netsh_rules(LISTING);
        assert_eq!(
            rules_found,
            vec![NetshRule {
                name: "CloudXR Signaling".into(),
                enabled: true,
                direction: "In".into(),
                protocol: "TCP".into(),
                local_port: "49100".into(),
                action: "Allow".into()
            }]
        );
        let r = rules(&PORTS);
        assert!(netsh_covers(&rules_found, &r[0]));
        assert!(!netsh_covers(&rules_found, &r[2]), "48322 is not 49100");
        assert_eq!(netsh_rule_state(&r[0], true, LISTING), (Some(true), None));
        assert_eq!(netsh_rule_state(&r[0], false, NO_MATCH), (Some(false), None));
        let moved_rules = rules(&Ports { signaling: 5000, ..PORTS });
        let moved = netsh_rule_state(&moved_rules[0], true, LISTING);
        assert_eq!(moved, (Some(false), Some("rule exists for TCP 49100, not TCP 5000".into())));
        let disabled =
            LISTING.replace("Enabled:                              Yes", "Enabled:                              No");
        assert_eq!(netsh_rule_state(&r[0], true, &disabled).1.as_deref(), Some("rule exists but is disabled"));
    }

    #[test]
    fn netsh_ranges_and_lists() {
        let media = NetshRule {
            name: "CloudXR Media".into(),
            enabled: true,
            direction: "In".into(),
            protocol: "UDP".into(),
            local_port: "47998-48012".into(),
            action: "Allow".into(),
        };
        let r = rules(&PORTS);
        assert!(netsh_covers(std::slice::from_ref(&media), &r[1]));
        let partial = NetshRule { local_port: "47998-48000,48001".into(), ..media.clone() };
        assert!(!netsh_covers(&[partial], &r[1]));
        let any = NetshRule { local_port: "Any".into(), protocol: "Any".into(), ..media };
        assert!(netsh_covers(&[any], &r[1]));
    }

    #[test]
    fn netsh_view_counts_missing_rules() {
        let runs =
            vec![Ok((true, LISTING.to_string())), Ok((false, NO_MATCH.to_string())), Err("netsh failed".to_string())];
        let v = netsh_view(&PORTS, &runs);
        assert_eq!(v.rules.iter().map(|r| r.present).collect::<Vec<_>>(), [Some(true), Some(false), None]);
        assert!(v.summary.starts_with("2 of 3"), "{}", v.summary);
        assert!(v.can_add);
    }
}
