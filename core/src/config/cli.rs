//! The command-line flags shared by `cxr-gate-proxy` and the desktop app, built from the settings
//! table: names, value names, help lines and `requires` come from each row's `flag`, so the parser
//! cannot drift from the table. Flattened into each binary's clap parser (`#[command(flatten)]`).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use clap::{value_parser, Arg, ArgAction, ArgMatches, Command};

use super::{Config, ConfigError, Setting, Via, SETTINGS};

/// The flags given, by setting. Each is an override on top of defaults, settings and env vars;
/// parse errors name the flag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CliOverrides {
    values: BTreeMap<Setting, OsString>,
}

impl CliOverrides {
    /// These flags plus `setting`'s with `value` (as if given on the command line).
    pub fn with(mut self, setting: Setting, value: impl Into<OsString>) -> Self {
        self.values.insert(setting, value.into());
        self
    }

    /// The value given for `setting`'s flag.
    pub fn get(&self, setting: Setting) -> Option<&OsStr> {
        self.values.get(&setting).map(OsString::as_os_str)
    }

    /// The value given for `setting`'s flag, as a path.
    pub fn path(&self, setting: Setting) -> Option<PathBuf> {
        self.get(setting).map(PathBuf::from)
    }

    /// All or nothing: on an error `cfg` is left as it was.
    pub fn apply(&self, cfg: &mut Config) -> Result<(), ConfigError> {
        let mut next = cfg.clone();
        for spec in SETTINGS {
            let (Some(flag), Some(v)) = (&spec.flag, self.values.get(&spec.id)) else { continue };
            // clap enforces `requires`; overrides built in code get the same meaning.
            if flag.requires.is_some_and(|r| !self.values.contains_key(&r)) {
                continue;
            }
            (spec.set)(&mut next, v, spec.id.via(Via::Flag))?;
        }
        *cfg = next;
        Ok(())
    }

    /// The table's checks against this machine (a web root must hold `index.html`) for the values in
    /// `cfg`, each named as given: by its flag when one was, else by its environment variable.
    pub fn check_given(&self, cfg: &Config) -> Result<(), ConfigError> {
        for spec in SETTINGS {
            if let Some(check) = spec.check {
                let via = if self.values.contains_key(&spec.id) { Via::Flag } else { Via::Env };
                check(cfg, spec.id.via(via))?;
            }
        }
        Ok(())
    }

    /// The clap arguments, one per row of the table that has a flag, in table order.
    pub fn args() -> impl Iterator<Item = Arg> {
        SETTINGS.iter().filter_map(|spec| {
            let f = spec.flag.as_ref()?;
            let arg = Arg::new(f.long).long(f.long).value_name(f.value_name).help(f.help).action(ArgAction::Set);
            let arg =
                if f.path { arg.value_parser(value_parser!(PathBuf)) } else { arg.value_parser(value_parser!(String)) };
            Some(match f.requires.and_then(|r| r.spec().flag.as_ref()) {
                Some(required) => arg.requires(required.long),
                None => arg,
            })
        })
    }
}

impl clap::Args for CliOverrides {
    fn augment_args(cmd: Command) -> Command {
        cmd.args(Self::args())
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl clap::FromArgMatches for CliOverrides {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut o = Self::default();
        o.update_from_arg_matches(m)?;
        Ok(o)
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        for spec in SETTINGS {
            let Some(f) = &spec.flag else { continue };
            let v = if f.path {
                m.get_one::<PathBuf>(f.long).map(|p| p.clone().into_os_string())
            } else {
                m.get_one::<String>(f.long).map(OsString::from)
            };
            if let Some(v) = v {
                self.values.insert(spec.id, v);
            }
        }
        Ok(())
    }
}
