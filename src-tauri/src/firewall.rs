//! Owns "Ports & firewall": the three inbound rules the runtime and the proxy need, the exact
//! command lines that check and add them (Windows `netsh`, Linux `ufw`), parsers of their output,
//! and the view the window shows. Builders and parsers are plain functions with unit tests; they run
//! through tauri-plugin-shell from Rust with fixed arguments (the webview has no shell permission).
//! Windows-only glue lives in `firewall_windows.rs`.

// Each platform runs half of these builders and parsers; all of them are unit-tested everywhere.
#![cfg_attr(windows, allow(dead_code))]

use serde::Serialize;
use tauri::{AppHandle, Runtime};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn lower(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
    #[cfg_attr(not(windows), allow(dead_code))]
    pub fn upper(self) -> &'static str {
        match self {
            Proto::Tcp => "TCP",
            Proto::Udp => "UDP",
        }
    }
}

/// The ports in use (configured, so rules follow the settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub signaling: u16,
    pub media_first: u16,
    pub media_last: u16,
    pub proxy: u16,
}

/// One inbound allow rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleSpec {
    /// The Windows rule name (what NVIDIA's docs and our "Add firewall rules" use).
    pub name: &'static str,
    pub proto: Proto,
    pub first: u16,
    pub last: u16,
}

impl RuleSpec {
    /// netsh style: `49100` or `47998-48012`.
    pub fn netsh_ports(&self) -> String {
        if self.first == self.last {
            self.first.to_string()
        } else {
            format!("{}-{}", self.first, self.last)
        }
    }
    /// ufw style: `49100/tcp` or `47998:48012/udp`.
    pub fn ufw_spec(&self) -> String {
        if self.first == self.last {
            format!("{}/{}", self.first, self.proto.lower())
        } else {
            format!("{}:{}/{}", self.first, self.last, self.proto.lower())
        }
    }
}

pub const SIGNALING_RULE: &str = "CloudXR Signaling";
pub const MEDIA_RULE: &str = "CloudXR Media";
pub const PROXY_RULE: &str = "CloudXR wss:// Proxy";

pub fn rules(p: &Ports) -> Vec<RuleSpec> {
    vec![
        RuleSpec { name: SIGNALING_RULE, proto: Proto::Tcp, first: p.signaling, last: p.signaling },
        RuleSpec { name: MEDIA_RULE, proto: Proto::Udp, first: p.media_first, last: p.media_last },
        RuleSpec { name: PROXY_RULE, proto: Proto::Tcp, first: p.proxy, last: p.proxy },
    ]
}

/// Whether a port list (`49100`, `47998-48012`, `80,443`, `Any`) covers first..=last.
fn port_list_covers(list: &str, first: u16, last: u16, range_sep: char) -> bool {
    let items: Vec<(u16, u16)> = list
        .split(',')
        .filter_map(|i| {
            let i = i.trim();
            if i.eq_ignore_ascii_case("any") {
                return Some((1, u16::MAX));
            }
            match i.split_once(range_sep) {
                Some((a, b)) => Some((a.trim().parse().ok()?, b.trim().parse().ok()?)),
                None => i.parse().ok().map(|p| (p, p)),
            }
        })
        .collect();
    (first..=last).all(|p| items.iter().any(|&(a, b)| (a..=b).contains(&p)))
}

// ---------------------------------------------------------------- Windows: netsh

/// Builders and parsers for Windows Defender Firewall via netsh (pure; run by firewall_windows.rs,
/// tested everywhere).
#[cfg_attr(not(windows), allow(dead_code))]
pub mod netsh {
    use super::*;

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

    pub(super) fn base64(data: &[u8]) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
        for c in data.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
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
            format!(
                "rule exists for {} {}, not {} {}",
                r.protocol,
                r.local_port,
                spec.proto.upper(),
                spec.netsh_ports()
            )
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
}

// ---------------------------------------------------------------- Linux: ufw

/// What to type on Linux, one line per rule.
pub fn ufw_allow_commands(rules: &[RuleSpec]) -> Vec<String> {
    rules.iter().map(|r| format!("sudo ufw allow {}", r.ufw_spec())).collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UfwRule {
    /// `49100/tcp`, `47998:48012/udp`, `80,443/tcp`, `22`, `OpenSSH`, `Anywhere`…
    pub to: String,
    pub action: String,
    pub from: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UfwStatus {
    Inactive,
    Active(Vec<UfwRule>),
}

/// Parses `ufw status` (or `ufw status verbose`); None when it isn't ufw's output at all.
pub fn parse_ufw_status(out: &str) -> Option<UfwStatus> {
    let mut lines = out.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next()?;
    let state = first.strip_prefix("Status:")?.trim();
    if state.eq_ignore_ascii_case("inactive") {
        return Some(UfwStatus::Inactive);
    }
    let mut rules = Vec::new();
    for line in lines {
        let toks: Vec<&str> = line.split_whitespace().collect();
        let Some(ai) = toks.iter().position(|t| matches!(*t, "ALLOW" | "DENY" | "REJECT" | "LIMIT")) else {
            continue;
        };
        if ai == 0 || toks[0] == "To" || toks[0].starts_with("--") {
            continue;
        }
        let mut rest = &toks[ai + 1..];
        let mut action = toks[ai].to_string();
        if let Some(dir) = rest.first().filter(|d| matches!(**d, "IN" | "OUT" | "FWD")) {
            action = format!("{action} {dir}");
            rest = &rest[1..];
        }
        rules.push(UfwRule { to: toks[..ai].join(" "), action, from: rest.join(" ") });
    }
    Some(UfwStatus::Active(rules))
}

/// An ALLOW (inbound) rule covers every port of `spec`, for its protocol or for both.
pub fn ufw_covers(rules: &[UfwRule], spec: &RuleSpec) -> bool {
    (spec.first..=spec.last).all(|port| {
        rules.iter().any(|r| {
            if !(r.action == "ALLOW" || r.action == "ALLOW IN") {
                return false;
            }
            // "49100/tcp (v6)" and "49100/tcp on eth0" count: we only need the port spec.
            let spec_txt = r.to.split_whitespace().next().unwrap_or("");
            let (ports, proto) = match spec_txt.split_once('/') {
                Some((p, proto)) => (p, Some(proto)),
                None => (spec_txt, None),
            };
            if proto.is_some_and(|p| !p.eq_ignore_ascii_case(spec.proto.lower())) {
                return false;
            }
            ports.chars().next().is_some_and(|c| c.is_ascii_digit()) && port_list_covers(ports, port, port, ':')
        })
    })
}

// ---------------------------------------------------------------- the view

/// One row of the Ports & firewall card's rule list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleView {
    pub name: String,
    pub proto: Proto,
    pub ports: String,
    /// Some(true) allowed, Some(false) missing, None unknown / not applicable.
    pub present: Option<bool>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FirewallView {
    /// "windows" (Defender Firewall via netsh), "ufw", "none" (no firewall tool found).
    pub system: String,
    /// One sentence for the card.
    pub summary: String,
    pub rules: Vec<RuleView>,
    /// Commands to copy and run by hand (Linux).
    pub commands: Vec<String>,
    /// The "Add firewall rules" button works here (Windows).
    pub can_add: bool,
}

fn rows(specs: &[RuleSpec], state: impl Fn(&RuleSpec) -> (Option<bool>, Option<String>)) -> Vec<RuleView> {
    specs
        .iter()
        .map(|s| {
            let (present, note) = state(s);
            RuleView { name: s.name.to_string(), proto: s.proto, ports: s.netsh_ports(), present, note }
        })
        .collect()
}

/// How one `ufw status` run went.
pub enum UfwRun<'a> {
    NotInstalled,
    Failed(String),
    Output { ok: bool, stdout: &'a str, stderr: &'a str },
}

pub fn ufw_view(ports: &Ports, run: UfwRun<'_>) -> FirewallView {
    let specs = rules(ports);
    let commands = ufw_allow_commands(&specs);
    let unknown = |_: &RuleSpec| (None, None);
    match run {
        UfwRun::NotInstalled => FirewallView {
            system: "none".into(),
            summary: "No ufw found; make sure these ports are open in your firewall.".into(),
            rules: rows(&specs, unknown),
            commands: Vec::new(),
            can_add: false,
        },
        UfwRun::Failed(e) => FirewallView {
            system: "ufw".into(),
            summary: format!("Could not run ufw ({e}). If ufw is active, allow these ports:"),
            rules: rows(&specs, unknown),
            commands,
            can_add: false,
        },
        UfwRun::Output { ok, stdout, stderr } => match parse_ufw_status(stdout).filter(|_| ok) {
            Some(UfwStatus::Inactive) => FirewallView {
                system: "ufw".into(),
                summary: "ufw is installed but inactive: it blocks nothing. If you enable it, allow these ports:"
                    .into(),
                rules: rows(&specs, |_| (None, Some("ufw inactive".into()))),
                commands,
                can_add: false,
            },
            Some(UfwStatus::Active(found)) => {
                let missing = specs.iter().filter(|s| !ufw_covers(&found, s)).count();
                FirewallView {
                    system: "ufw".into(),
                    summary: if missing == 0 {
                        "ufw is active and allows all three.".into()
                    } else {
                        format!("ufw is active and {missing} of 3 are not allowed. Run in a terminal:")
                    },
                    rules: rows(&specs, |s| (Some(ufw_covers(&found, s)), None)),
                    commands,
                    can_add: false,
                }
            }
            None => {
                let why = if stderr.contains("root") {
                    "reading its rules needs root".to_string()
                } else {
                    first_line(stderr, stdout)
                };
                FirewallView {
                    system: "ufw".into(),
                    summary: format!("ufw is installed; {why}. If it is active, allow these ports:"),
                    rules: rows(&specs, unknown),
                    commands,
                    can_add: false,
                }
            }
        },
    }
}

fn first_line(a: &str, b: &str) -> String {
    a.lines().chain(b.lines()).map(str::trim).find(|l| !l.is_empty()).unwrap_or("it printed nothing").to_string()
}

// ---------------------------------------------------------------- running them

/// Where ufw lives: PATH first, then the sbin dirs a desktop session's PATH often lacks.
#[cfg(not(windows))]
fn find_ufw() -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join("ufw"))
        .find(|p| p.metadata().map(|m| m.is_file()).unwrap_or(false))
}

/// Reads the firewall state for the current ports (a few hundred ms: runs on demand, not per status tick).
pub async fn status<R: Runtime>(app: &AppHandle<R>, ports: &Ports) -> FirewallView {
    #[cfg(windows)]
    {
        crate::firewall_windows::status(app, ports).await
    }
    #[cfg(not(windows))]
    {
        use tauri_plugin_shell::ShellExt;
        let Some(ufw) = find_ufw() else {
            return ufw_view(ports, UfwRun::NotInstalled);
        };
        let cmd = app.shell().command(ufw.to_string_lossy().to_string()).args(["status"]).env("LC_ALL", "C");
        match cmd.output().await {
            Ok(o) => {
                let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
                ufw_view(ports, UfwRun::Output { ok: o.status.success(), stdout: &out, stderr: &err })
            }
            Err(e) => ufw_view(ports, UfwRun::Failed(e.to_string())),
        }
    }
}

/// Adds the missing rules (Windows: one elevated step). Elsewhere the window shows commands instead.
pub async fn add_rules<R: Runtime>(app: &AppHandle<R>, ports: &Ports) -> Result<FirewallView, String> {
    #[cfg(windows)]
    {
        crate::firewall_windows::add_rules(app, ports).await
    }
    #[cfg(not(windows))]
    {
        let _ = (app, ports);
        Err("Adding rules from the app works on Windows only; run the commands shown in a terminal.".into())
    }
}

#[cfg(test)]
mod tests {
    use super::netsh::*;
    use super::*;

    const PORTS: Ports = Ports { signaling: 49100, media_first: 47998, media_last: 48012, proxy: 48322 };

    #[test]
    fn three_rules_follow_the_configured_ports() {
        let r = rules(&Ports { proxy: 9443, signaling: 5000, ..PORTS });
        assert_eq!(
            r.iter().map(|r| r.name).collect::<Vec<_>>(),
            ["CloudXR Signaling", "CloudXR Media", "CloudXR wss:// Proxy"]
        );
        assert_eq!(r.iter().map(RuleSpec::netsh_ports).collect::<Vec<_>>(), ["5000", "47998-48012", "9443"]);
        assert_eq!(r.iter().map(RuleSpec::ufw_spec).collect::<Vec<_>>(), ["5000/tcp", "47998:48012/udp", "9443/tcp"]);
    }

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

    const UFW_ACTIVE: &str = "Status: active\n\nTo                         Action      From\n\
--                         ------      ----\n\
22/tcp                     ALLOW       Anywhere\n\
49100/tcp                  ALLOW       Anywhere\n\
47998:48012/udp            ALLOW       Anywhere\n\
22/tcp (v6)                ALLOW       Anywhere (v6)\n\
49100/tcp (v6)             ALLOW       Anywhere (v6)\n";

    #[test]
    fn ufw_status_parser() {
        assert_eq!(parse_ufw_status("Status: inactive\n"), Some(UfwStatus::Inactive));
        assert_eq!(parse_ufw_status("ERROR: You need to be root to run this script\n"), None);
        assert_eq!(parse_ufw_status(""), None);
        let Some(UfwStatus::Active(found)) = parse_ufw_status(UFW_ACTIVE) else { panic!("not parsed") };
        assert_eq!(found.len(), 5);
        assert_eq!(found[1], UfwRule { to: "49100/tcp".into(), action: "ALLOW".into(), from: "Anywhere".into() });
        assert_eq!(found[3].to, "22/tcp (v6)");
        let r = rules(&PORTS);
        assert!(ufw_covers(&found, &r[0]));
        assert!(ufw_covers(&found, &r[1]), "the 47998:48012 range");
        assert!(!ufw_covers(&found, &r[2]), "48322 is not allowed");
    }

    #[test]
    fn ufw_verbose_lists_bare_ports_and_deny() {
        let verbose =
            "Status: active\nLogging: on (low)\nDefault: deny (incoming), allow (outgoing), disabled (routed)\n\
New profiles: skip\n\nTo                         Action      From\n--                         ------      ----\n\
48322                      ALLOW IN    Anywhere\n49100/tcp                  DENY IN     Anywhere\n\
47998,47999/udp            ALLOW IN    Anywhere\n";
        let Some(UfwStatus::Active(found)) = parse_ufw_status(verbose) else { panic!("not parsed") };
        assert_eq!(found.len(), 3);
        let r = rules(&PORTS);
        assert!(ufw_covers(&found, &r[2]), "bare 48322 allows tcp and udp");
        assert!(!ufw_covers(&found, &r[0]), "DENY does not count");
        assert!(!ufw_covers(&found, &r[1]), "two of fifteen media ports");
    }

    #[test]
    fn ufw_views() {
        let none = ufw_view(&PORTS, UfwRun::NotInstalled);
        assert_eq!(none.summary, "No ufw found; make sure these ports are open in your firewall.");
        assert!(none.commands.is_empty());
        let v = ufw_view(&PORTS, UfwRun::Output { ok: true, stdout: UFW_ACTIVE, stderr: "" });
        assert_eq!(
            v.commands,
            ["sudo ufw allow 49100/tcp", "sudo ufw allow 47998:48012/udp", "sudo ufw allow 48322/tcp"]
        );
        assert_eq!(v.rules.iter().map(|r| r.present).collect::<Vec<_>>(), [Some(true), Some(true), Some(false)]);
        assert!(v.summary.contains("1 of 3"), "{}", v.summary);
        let root = ufw_view(
            &PORTS,
            UfwRun::Output { ok: false, stdout: "", stderr: "ERROR: You need to be root to run this script" },
        );
        assert!(root.summary.contains("needs root"), "{}", root.summary);
        assert_eq!(root.commands.len(), 3);
        let off = ufw_view(&PORTS, UfwRun::Output { ok: true, stdout: "Status: inactive", stderr: "" });
        assert!(off.summary.contains("inactive"));
    }
}
