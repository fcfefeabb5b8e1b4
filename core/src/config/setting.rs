//! Which setting a value belongs to and how the user named it. [`Setting`] is the id of a row of
//! the settings table ([`super::table::SETTINGS`]); [`SettingName`] is what a `ConfigError` carries
//! instead of a string: the row and the way the value came (flag, env var, or the settings file,
//! form and `Config::validate`), so a message names the setting as the user gave it (`--listen`,
//! `BACKEND_PORT`, `health interval`) and the window finds the field an error is about by lookup.

use std::fmt;

use super::table::SettingSpec;

/// A user setting: one row of the settings table each, in the table's order (checked by a test).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Setting {
    Listen,
    Backend,
    BackendHost,
    BackendPort,
    ProxyPort,
    DataDir,
    CertHostnames,
    Cert,
    Key,
    HealthInterval,
    HealthRise,
    HealthFall,
    AllowedBackends,
    MaxConnections,
    WebRoot,
    AppQuery,
    AdbDir,
}

impl Setting {
    /// This setting's row of the table.
    pub fn spec(self) -> &'static SettingSpec {
        &super::table::SETTINGS[self as usize]
    }

    /// This setting as named when it came `via` a flag, an env var or the settings.
    pub fn via(self, via: Via) -> SettingName {
        SettingName::Of(self, via)
    }
}

/// How a value reached the gate, which decides how a message names its setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Via {
    /// The desktop app's settings file or form, or the combined config: the setting's name in words.
    Name,
    /// A command-line flag: `--flag`.
    Flag,
    /// An environment variable (the HAProxy container's): `VAR`.
    Env,
}

/// The setting a `ConfigError` is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SettingName {
    /// A row of the table, named the way its value came.
    Of(Setting, Via),
    /// A value that is no user setting: a serde field of `Config`, a fuzz target, a test.
    Other(&'static str),
}

impl SettingName {
    pub fn setting(self) -> Option<Setting> {
        match self {
            SettingName::Of(s, _) => Some(s),
            SettingName::Other(_) => None,
        }
    }

    pub fn via(self) -> Option<Via> {
        match self {
            SettingName::Of(_, v) => Some(v),
            SettingName::Other(_) => None,
        }
    }
}

impl SettingName {
    /// The printed name as a prefix and a table string, so it can be compared without allocating.
    fn parts(self) -> (&'static str, &'static str) {
        match self {
            SettingName::Other(label) => ("", label),
            SettingName::Of(setting, via) => {
                let spec = setting.spec();
                // A row without that flag or variable is never given that way; its name still reads well.
                match (via, spec.flag.as_ref(), spec.env) {
                    (Via::Flag, Some(flag), _) => ("--", flag.long),
                    (Via::Env, _, Some(var)) => ("", var),
                    _ => ("", spec.name),
                }
            }
        }
    }
}

impl fmt::Display for SettingName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (prefix, name) = self.parts();
        write!(f, "{prefix}{name}")
    }
}

/// Compares with the name as printed, so `e.setting == "BACKEND_PORT"` reads like the message.
impl PartialEq<str> for SettingName {
    fn eq(&self, other: &str) -> bool {
        let (prefix, name) = self.parts();
        other.strip_prefix(prefix) == Some(name)
    }
}

impl PartialEq<&str> for SettingName {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}
