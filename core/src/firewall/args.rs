//! The `firewall-fix` command line, built and parsed (bad arguments are refused with the reason
//! before anything changes), and quoted for Windows' command line. Three forms:
//!
//! - `firewall-fix --add proxy=48322 --add media=47998-48012 --disable-rule tcp:2:NAME` — the
//!   window's "Fix the firewall", re-run elevated with exactly the changes its confirmation listed;
//! - `firewall-fix --install-rules [--media]` — the installer: our rules for the gate's port (and the
//!   Runtime's media ports);
//! - `firewall-fix --remove-rules` — the uninstaller: exactly our rules.
//!
//! Each takes `--result FILE`: where the result is written besides stdout/stderr.

use std::path::PathBuf;

use super::fix::{Disable, FixPlan, OurRule};
use super::Role;

/// The subcommand the elevated run is started with.
pub const SUBCOMMAND: &str = "firewall-fix";

/// What a `firewall-fix` run is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FixAction {
    Fix(FixPlan),
    /// The installer: the gate's rule, and with `media` the Runtime's media rule.
    Install {
        media: bool,
    },
    /// The uninstaller: remove our rules.
    Remove,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixRequest {
    pub action: FixAction,
    pub result: Option<PathBuf>,
}

/// Why a `firewall-fix` command line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FixArgsError {
    #[error("expected `{SUBCOMMAND}` first, got {0:?}")]
    NotTheSubcommand(String),
    #[error("{0} needs a value")]
    MissingValue(String),
    #[error(
        "unknown argument {0:?} (use --install-rules [--media], --remove-rules, or --add proxy=PORT / \
         --add media=PORT-PORT and --disable-rule tcp|udp|N:PROFILES:NAME; each with --result FILE)"
    )]
    Unknown(String),
    #[error("--add {value:?}: {why}")]
    BadAdd { value: String, why: String },
    #[error("--disable-rule {value:?}: {why}")]
    BadDisable { value: String, why: String },
    #[error("{0} cannot be combined with {1}")]
    Conflict(String, String),
    #[error("{0} given twice")]
    Twice(String),
    #[error("nothing to do: give --install-rules, --remove-rules, or at least one --add or --disable-rule")]
    Empty,
}

fn check_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("the rule name is empty".into());
    }
    if name.chars().count() > 200 {
        return Err("the rule name is longer than 200 characters".into());
    }
    if name.chars().any(char::is_control) || name.contains('|') {
        return Err("the rule name has a control character or '|'".into());
    }
    Ok(())
}

fn parse_port(s: &str) -> Result<u16, String> {
    match s.trim().parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("{s:?} is not a port (1-65535)")),
        Ok(p) => Ok(p),
    }
}

/// `proxy=48322` or `media=47998-48012`.
fn parse_add(v: &str) -> Result<OurRule, String> {
    let (role, ports) = v.split_once('=').ok_or("expected proxy=PORT or media=PORT-PORT")?;
    let (first, last) = match ports.split_once('-') {
        Some((a, b)) => (parse_port(a)?, parse_port(b)?),
        None => {
            let p = parse_port(ports)?;
            (p, p)
        }
    };
    if first > last {
        return Err(format!("the range {first}-{last} runs backwards"));
    }
    match role {
        "proxy" if first == last => Ok(OurRule::proxy(first)),
        "proxy" => Err("the proxy is one port".into()),
        "media" => Ok(OurRule::media(first, last)),
        other => Err(format!("{other:?} is neither proxy nor media (CXR Gate adds no other rule)")),
    }
}

/// `tcp:2:NAME` (the protocol as tcp, udp or a number, the profile bits, then the name).
fn parse_disable(v: &str) -> Result<Disable, String> {
    let mut parts = v.splitn(3, ':');
    let (Some(proto), Some(profiles), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("expected PROTOCOL:PROFILES:NAME".into());
    };
    let protocol = match proto.to_ascii_lowercase().as_str() {
        "tcp" => 6,
        "udp" => 17,
        n => n.parse::<i32>().ok().filter(|n| (0..=256).contains(n)).ok_or(format!("{proto:?} is not a protocol"))?,
    };
    let profiles = profiles.parse::<u32>().map_err(|_| format!("{profiles:?} is not a profile mask"))?;
    check_name(name)?;
    Ok(Disable { name: name.into(), protocol, profiles })
}

fn proto_word(n: i32) -> String {
    match n {
        6 => "tcp".into(),
        17 => "udp".into(),
        n => n.to_string(),
    }
}

impl FixRequest {
    /// The arguments after the program: `firewall-fix --add proxy=48322 … [--result FILE]`.
    pub fn to_args(&self) -> Vec<String> {
        let mut v = vec![SUBCOMMAND.to_string()];
        match &self.action {
            FixAction::Fix(plan) => {
                for a in &plan.add {
                    let role = if a.role == Role::Proxy { "proxy" } else { "media" };
                    v.push("--add".into());
                    v.push(format!("{role}={}", super::ports_text(a.first, a.last)));
                }
                for d in &plan.disable {
                    v.push("--disable-rule".into());
                    v.push(format!("{}:{}:{}", proto_word(d.protocol), d.profiles, d.name));
                }
            }
            FixAction::Install { media } => {
                v.push("--install-rules".into());
                if *media {
                    v.push("--media".into());
                }
            }
            FixAction::Remove => v.push("--remove-rules".into()),
        }
        if let Some(r) = &self.result {
            v.push("--result".into());
            v.push(r.display().to_string());
        }
        v
    }
}

/// Parses the arguments after the program (`args[0]` is the subcommand).
pub fn parse_args(args: &[String]) -> Result<FixRequest, FixArgsError> {
    let mut it = args.iter();
    match it.next() {
        Some(s) if s == SUBCOMMAND => {}
        other => return Err(FixArgsError::NotTheSubcommand(other.cloned().unwrap_or_default())),
    }
    let mut plan = FixPlan::default();
    let mut mode: Option<&str> = None;
    let mut media = false;
    let mut result = None;
    let value = |flag: &String, it: &mut std::slice::Iter<'_, String>| {
        it.next().cloned().ok_or_else(|| FixArgsError::MissingValue(flag.clone()))
    };
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--add" => {
                let v = value(flag, &mut it)?;
                plan.add.push(parse_add(&v).map_err(|why| FixArgsError::BadAdd { value: v.clone(), why })?);
            }
            "--disable-rule" => {
                let v = value(flag, &mut it)?;
                plan.disable.push(parse_disable(&v).map_err(|why| FixArgsError::BadDisable { value: v.clone(), why })?);
            }
            "--install-rules" | "--remove-rules" => {
                if let Some(m) = mode {
                    return Err(if m == flag {
                        FixArgsError::Twice(m.into())
                    } else {
                        FixArgsError::Conflict(m.into(), flag.clone())
                    });
                }
                mode = Some(if flag == "--install-rules" { "--install-rules" } else { "--remove-rules" });
            }
            "--media" => media = true,
            "--result" => {
                let v = value(flag, &mut it)?;
                if result.is_some() {
                    return Err(FixArgsError::Twice("--result".into()));
                }
                if v.trim().is_empty() {
                    return Err(FixArgsError::MissingValue("--result".into()));
                }
                result = Some(PathBuf::from(v));
            }
            _ => return Err(FixArgsError::Unknown(flag.clone())),
        }
    }
    let fix_flag = if !plan.add.is_empty() {
        Some("--add")
    } else if !plan.disable.is_empty() {
        Some("--disable-rule")
    } else {
        None
    };
    let action = match (mode, fix_flag) {
        (Some(m), Some(f)) => return Err(FixArgsError::Conflict(m.into(), f.into())),
        (Some("--remove-rules"), None) if media => {
            return Err(FixArgsError::Conflict("--remove-rules".into(), "--media".into()))
        }
        (Some("--remove-rules"), None) => FixAction::Remove,
        (Some(_), None) => FixAction::Install { media },
        (None, Some(f)) if media => return Err(FixArgsError::Conflict(f.into(), "--media".into())),
        (None, Some(_)) => FixAction::Fix(plan),
        (None, None) if media => return Err(FixArgsError::Unknown("--media (only with --install-rules)".into())),
        (None, None) => return Err(FixArgsError::Empty),
    };
    Ok(FixRequest { action, result })
}

/// One argument quoted for Windows' command line (the rules `CommandLineToArgvW` and the Rust
/// runtime parse it back with): quotes around it when needed, backslashes doubled before a quote.
pub fn quote_windows_arg(arg: &str) -> String {
    if !arg.is_empty() && !arg.contains([' ', '\t', '\n', '"']) {
        return arg.to_string();
    }
    let mut out = String::from("\"");
    let mut backslashes = 0;
    for c in arg.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                out.extend(std::iter::repeat_n('\\', backslashes * 2 + 1));
                out.push('"');
                backslashes = 0;
            }
            _ => {
                out.extend(std::iter::repeat_n('\\', backslashes));
                out.push(c);
                backslashes = 0;
            }
        }
    }
    out.extend(std::iter::repeat_n('\\', backslashes * 2));
    out.push('"');
    out
}

/// The parameters string `ShellExecuteExW` takes for the elevated run.
pub fn windows_command_line(args: &[String]) -> String {
    args.iter().map(|a| quote_windows_arg(a)).collect::<Vec<_>>().join(" ")
}
