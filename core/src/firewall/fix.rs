//! The fix as data: the allow rules to add and the program block rules to disable, and its command
//! line (`firewall-fix --allow "NAME=tcp:48322" --disable-rule "NAME"…`): the desktop app re-runs
//! itself elevated with it (one UAC prompt) and the elevated run parses it back. Building,
//! parsing (bad arguments are refused with a message) and quoting for Windows' command line are
//! plain functions, tested on every platform.

use super::{ports_text, Proto};

/// The subcommand the elevated run is started with.
pub const SUBCOMMAND: &str = "firewall-fix";

/// One inbound allow rule to add (all profiles, local subnet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowSpec {
    pub name: String,
    pub proto: Proto,
    pub first: u16,
    pub last: u16,
}

impl AllowSpec {
    pub fn ports_text(&self) -> String {
        ports_text(self.first, self.last)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FixPlan {
    pub allow: Vec<AllowSpec>,
    /// Names of inbound program block rules to disable (each enabled one with the name).
    pub disable: Vec<String>,
}

impl FixPlan {
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.disable.is_empty()
    }

    /// The arguments after the program: `firewall-fix --allow NAME=tcp:48322 --disable-rule NAME`.
    pub fn to_args(&self) -> Vec<String> {
        let mut v = vec![SUBCOMMAND.to_string()];
        for a in &self.allow {
            v.push("--allow".into());
            v.push(format!("{}={}:{}", a.name, a.proto.lower(), a.ports_text()));
        }
        for d in &self.disable {
            v.push("--disable-rule".into());
            v.push(d.clone());
        }
        v
    }
}

/// Why a `firewall-fix` command line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FixArgsError {
    #[error("expected `{SUBCOMMAND}` first, got {0:?}")]
    NotTheSubcommand(String),
    #[error("{0} needs a value")]
    MissingValue(String),
    #[error("unknown argument {0:?} (use --allow NAME=tcp|udp:PORT[-PORT] and --disable-rule NAME)")]
    Unknown(String),
    #[error("--allow {value:?}: {why}")]
    BadAllow { value: String, why: String },
    #[error("--disable-rule {value:?}: {why}")]
    BadName { value: String, why: String },
    #[error("nothing to do: give at least one --allow or --disable-rule")]
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

/// `NAME=tcp:48322` or `NAME=udp:47998-48012`.
fn parse_allow(v: &str) -> Result<AllowSpec, String> {
    let (name, spec) = v.rsplit_once('=').ok_or("expected NAME=tcp|udp:PORT[-PORT]")?;
    check_name(name)?;
    let (proto, ports) = spec.split_once(':').ok_or("expected tcp:PORT or udp:PORT after '='")?;
    let proto = match proto.to_ascii_lowercase().as_str() {
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        other => return Err(format!("protocol {other:?} is neither tcp nor udp")),
    };
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
    Ok(AllowSpec { name: name.to_string(), proto, first, last })
}

/// Parses the arguments after the program (`args[0]` is the subcommand).
pub fn parse_args(args: &[String]) -> Result<FixPlan, FixArgsError> {
    let mut it = args.iter();
    match it.next() {
        Some(s) if s == SUBCOMMAND => {}
        other => return Err(FixArgsError::NotTheSubcommand(other.cloned().unwrap_or_default())),
    }
    let mut plan = FixPlan::default();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--allow" => {
                let v = it.next().ok_or_else(|| FixArgsError::MissingValue(flag.clone()))?;
                let a = parse_allow(v).map_err(|why| FixArgsError::BadAllow { value: v.clone(), why })?;
                plan.allow.push(a);
            }
            "--disable-rule" => {
                let v = it.next().ok_or_else(|| FixArgsError::MissingValue(flag.clone()))?;
                check_name(v).map_err(|why| FixArgsError::BadName { value: v.clone(), why })?;
                plan.disable.push(v.clone());
            }
            _ => return Err(FixArgsError::Unknown(flag.clone())),
        }
    }
    if plan.is_empty() {
        return Err(FixArgsError::Empty);
    }
    Ok(plan)
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
