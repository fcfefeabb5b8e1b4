//! Gateway configuration: one serde struct with defaults, its parse helpers, and the HAProxy
//! container's env vars applied from the settings table (`table`, which also gives the flags shared
//! by the headless binary and the desktop app: `cli`). Every parse error names the setting (typed:
//! `setting::SettingName`), the value and what is accepted.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub mod allowlist;
pub mod cli;
pub mod saved;
pub mod setting;
pub mod table;
pub mod webapp;
pub use allowlist::{format_allowlist, parse_allowlist, AllowedBackend};
pub use cli::CliOverrides;
pub use saved::{desktop_settings_paths, saved_cert_names, SETTINGS_FILE};
pub use setting::{Setting, SettingName, Via};
pub use table::{SettingSpec, SETTINGS};
pub use webapp::{canonical_lenient, check_web_root, check_web_root_apart, validate_app_query, DEFAULT_APP_QUERY};

pub const DEFAULT_PROXY_PORT: u16 = 48322;
pub const DEFAULT_BACKEND_PORT: u16 = 49100;
pub const MEDIA_PORTS: std::ops::RangeInclusive<u16> = 47998..=48012;

/// A bad setting: which one, the value given, and what would be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {setting} {value:?}: {expected}")]
pub struct ConfigError {
    pub setting: SettingName,
    pub value: String,
    pub expected: String,
}

impl ConfigError {
    pub fn new(setting: SettingName, value: impl Into<String>, expected: impl Into<String>) -> Self {
        Self { setting, value: value.into(), expected: expected.into() }
    }
}

/// `host:port` of a CloudXR Runtime (host is a name or an IP; IPv6 in brackets when printed).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BackendAddr {
    pub host: String,
    pub port: u16,
}

impl BackendAddr {
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self { host: host.into(), port }
    }

    /// Parses `host`, `host:port`, `[v6]` or `[v6]:port`; a missing port means `default_port`.
    pub fn parse(s: &str, default_port: u16, setting: SettingName) -> Result<Self, ConfigError> {
        let bad = |why: &str| ConfigError::new(setting, s, why);
        let s_trim = s.trim();
        if s_trim.is_empty() {
            return Err(bad("expected HOST or HOST:PORT, e.g. localhost:49100"));
        }
        let (host, port) = if let Some(rest) = s_trim.strip_prefix('[') {
            let (h, after) = rest.split_once(']').ok_or_else(|| bad("unclosed '[' in IPv6 address"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(bad("expected [IPv6]:PORT")),
            };
            (h.to_string(), port)
        } else if s_trim.matches(':').count() > 1 {
            // A bare IPv6 address without a port.
            (s_trim.to_string(), None)
        } else {
            match s_trim.split_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (s_trim.to_string(), None),
            }
        };
        let port = match port {
            Some(p) => parse_port(p, setting)?,
            None => default_port,
        };
        validate_host(&host).map_err(|why| bad(&why))?;
        Ok(Self { host, port })
    }

    /// The host as an IPv4 address, with `localhost` read as 127.0.0.1 (names are never resolved here).
    pub fn ipv4(&self) -> Option<Ipv4Addr> {
        if self.host.eq_ignore_ascii_case("localhost") {
            Some(Ipv4Addr::LOCALHOST)
        } else {
            self.host.parse().ok()
        }
    }

    pub fn is_loopback(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost")
            || self.host.parse::<IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
    }
}

impl fmt::Display for BackendAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl TryFrom<String> for BackendAddr {
    type Error = ConfigError;
    fn try_from(s: String) -> Result<Self, ConfigError> {
        BackendAddr::parse(&s, DEFAULT_BACKEND_PORT, Setting::Backend.via(Via::Name))
    }
}

impl From<BackendAddr> for String {
    fn from(b: BackendAddr) -> String {
        b.to_string()
    }
}

fn validate_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("host name is empty".into());
    }
    if host.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let ok = host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                && !label.starts_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err("expected an IP address or a DNS host name (letters, digits, '-', '.')".into())
    }
}

pub fn parse_port(s: &str, setting: SettingName) -> Result<u16, ConfigError> {
    match s.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(ConfigError::new(setting, s, "expected a TCP port from 1 to 65535")),
    }
}

/// Parses durations the way HAProxy does: `2s`, `500ms`, `1m`, `1h`, `250us`; a bare number is milliseconds.
pub fn parse_duration(s: &str, setting: SettingName) -> Result<Duration, ConfigError> {
    let t = s.trim();
    let bad =
        || ConfigError::new(setting, s, "expected a duration like 2s, 500ms or 1m (a bare number is milliseconds)");
    let split = t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let ms = match unit.trim() {
        "" | "ms" => n,
        "us" => n / 1000.0,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        "h" => n * 3_600_000.0,
        "d" => n * 86_400_000.0,
        _ => return Err(bad()),
    };
    if !ms.is_finite() || ms < 0.0 {
        return Err(bad());
    }
    Ok(Duration::from_micros((ms * 1000.0).round() as u64))
}

pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms > 0 && ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

mod duration_str {
    use super::*;
    use serde::{Deserializer, Serializer};
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        // A field of `Config` itself (tests and tools read configs from JSON), not a user setting.
        parse_duration(&s, SettingName::Other("duration")).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthConfig {
    #[serde(with = "duration_str")]
    pub interval: Duration,
    pub rise: u32,
    pub fall: u32,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self { interval: Duration::from_secs(2), rise: 2, fall: 3 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Timeouts {
    /// TLS handshake must finish within this.
    #[serde(with = "duration_str")]
    pub tls_handshake: Duration,
    /// The whole request head must arrive within this (else 408).
    #[serde(with = "duration_str")]
    pub request_head: Duration,
    /// Backend TCP connect (HAProxy `timeout connect`).
    #[serde(with = "duration_str")]
    pub connect: Duration,
    /// A tunnel with no bytes either way for this long is closed (HAProxy `timeout tunnel`).
    #[serde(with = "duration_str")]
    pub tunnel_idle: Duration,
    /// A write to a client that moves no byte for this long fails and closes the connection: a
    /// client that stops reading must not hold its `max_connections` slot for ever.
    #[serde(with = "duration_str")]
    pub write_stall: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            tls_handshake: Duration::from_secs(10),
            request_head: Duration::from_secs(10),
            connect: Duration::from_secs(5),
            tunnel_idle: Duration::from_secs(3600),
            write_stall: Duration::from_secs(60),
        }
    }
}

/// A user-supplied certificate: a PEM chain plus a key file, or one combined PEM (HAProxy's `server.pem`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomCert {
    pub cert: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address and port the TLS listener binds.
    pub listen: SocketAddr,
    /// The CloudXR Runtime's signaling endpoint.
    pub backend: BackendAddr,
    /// Holds the generated certificate and key (and the desktop app's settings and logs).
    pub data_dir: PathBuf,
    /// Extra certificate names (DNS names or IPs) beyond the automatic ones.
    pub cert_hostnames: Vec<String>,
    /// Use this certificate instead of a generated one.
    pub custom_cert: Option<CustomCert>,
    pub health: HealthConfig,
    /// `host:port` targets that `/{ip}:{port}/…` path routing may reach besides the configured backend.
    pub allowed_backends: Vec<AllowedBackend>,
    pub max_connections: usize,
    pub timeouts: Timeouts,
    /// How often the LAN interfaces are re-scanned.
    #[serde(with = "duration_str")]
    pub lan_scan_interval: Duration,
    /// A built web client (a folder with `index.html`) served at `/app/`; none by default.
    pub web_root: Option<PathBuf>,
    /// Appended to `/app/` in the QR code and the trust page's link (see `config::webapp`).
    pub app_query: String,
    /// The folder holding `adb` (Google's platform-tools) for headsets on USB; none: searched for.
    pub adb_dir: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], DEFAULT_PROXY_PORT)),
            backend: BackendAddr::new("localhost", DEFAULT_BACKEND_PORT),
            data_dir: default_data_dir(),
            cert_hostnames: Vec::new(),
            custom_cert: None,
            health: HealthConfig::default(),
            allowed_backends: Vec::new(),
            max_connections: 1024,
            timeouts: Timeouts::default(),
            lan_scan_interval: Duration::from_secs(10),
            web_root: None,
            app_query: DEFAULT_APP_QUERY.to_string(),
            adb_dir: None,
        }
    }
}

/// Per-user data directory: `%APPDATA%\CXR Gate` on Windows, `$XDG_DATA_HOME/cxr-gate` or `~/.local/share/cxr-gate` elsewhere.
pub fn default_data_dir() -> PathBuf {
    #[cfg(windows)]
    {
        if let Some(d) = std::env::var_os("APPDATA") {
            return PathBuf::from(d).join("CXR Gate");
        }
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("cxr-gate");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(h).join(".local/share/cxr-gate");
    }
    PathBuf::from("cxr-gate-data")
}

impl Config {
    /// Checks the values that types alone don't; the error names the setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let named = |s: Setting| s.via(Via::Name);
        if self.listen.port() == 0 {
            return Err(ConfigError::new(
                named(Setting::Listen),
                self.listen.to_string(),
                "expected a port from 1 to 65535",
            ));
        }
        let h = &self.health;
        if h.interval < Duration::from_millis(10) || h.interval > Duration::from_secs(3600) {
            return Err(ConfigError::new(
                named(Setting::HealthInterval),
                format_duration(h.interval),
                "expected 10ms to 1h",
            ));
        }
        if !(1..=100).contains(&h.rise) {
            return Err(ConfigError::new(
                named(Setting::HealthRise),
                h.rise.to_string(),
                "expected a count from 1 to 100",
            ));
        }
        if !(1..=100).contains(&h.fall) {
            return Err(ConfigError::new(
                named(Setting::HealthFall),
                h.fall.to_string(),
                "expected a count from 1 to 100",
            ));
        }
        if self.max_connections == 0 {
            return Err(ConfigError::new(named(Setting::MaxConnections), "0", "expected at least 1"));
        }
        for name in &self.cert_hostnames {
            validate_cert_name(name, named(Setting::CertHostnames))?;
        }
        // Only the template: a web root that is missing is reported where it is set and while serving.
        validate_app_query(&self.app_query, named(Setting::AppQuery))?;
        Ok(())
    }

    /// Whether `ip:port` is the configured backend itself (an IPv4 literal, or `localhost` as 127.0.0.1).
    pub fn is_backend(&self, ip: Ipv4Addr, port: u16) -> bool {
        port == self.backend.port && self.backend.ipv4() == Some(ip)
    }

    /// The configured backend and `allowed_backends` entries: the only `ip:port` path routing may reach.
    pub fn routing_allowed(&self, ip: Ipv4Addr, port: u16) -> bool {
        self.is_backend(ip, port) || self.allowed_backends.iter().any(|a| a.allows(ip, port, self.backend.port))
    }

    /// Applies the HAProxy container's variables, read through `get` (so tests need no process env).
    /// All or nothing: on an error the config is left as it was.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let mut next = self.clone();
        next.apply_env_inner(get)?;
        *self = next;
        Ok(())
    }

    fn apply_env_inner(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        for spec in SETTINGS {
            let Some(var) = spec.env else { continue };
            // Empty values count as unset, like the container's `${VAR:+x}` checks.
            if let Some(v) = get(var).filter(|v| !v.trim().is_empty()) {
                (spec.set)(self, std::ffi::OsStr::new(&v), spec.id.via(Via::Env))?;
            }
        }
        Ok(())
    }
}

pub fn parse_count(s: &str, setting: SettingName) -> Result<u32, ConfigError> {
    match s.trim().parse::<u32>() {
        Ok(n) if (1..=100).contains(&n) => Ok(n),
        _ => Err(ConfigError::new(setting, s, "expected a whole number from 1 to 100")),
    }
}

/// A certificate name: an IP address or a DNS name (a leading `*.` wildcard allowed).
pub fn validate_cert_name(name: &str, setting: SettingName) -> Result<(), ConfigError> {
    let n = name.strip_prefix("*.").unwrap_or(name);
    validate_host(n).map_err(|why| ConfigError::new(setting, name, why))
}

/// Splits a comma- or space-separated list, validating each entry.
pub fn parse_list(
    s: &str,
    setting: SettingName,
    check: impl Fn(&str, SettingName) -> Result<(), ConfigError>,
) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    for item in s.split([',', ' ', '\n', '\t']).map(str::trim).filter(|i| !i.is_empty()) {
        check(item, setting)?;
        if !out.iter().any(|o: &String| o.eq_ignore_ascii_case(item)) {
            out.push(item.to_string());
        }
    }
    Ok(out)
}

/// `ADDR:PORT`, `[v6]:PORT`, or a bare `PORT` (all interfaces).
pub fn parse_listen(s: &str, setting: SettingName) -> Result<SocketAddr, ConfigError> {
    let t = s.trim();
    if let Ok(port) = t.parse::<u16>() {
        if port > 0 {
            return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
        }
    }
    match SocketAddr::from_str(t) {
        Ok(a) if a.port() > 0 => Ok(a),
        _ => {
            Err(ConfigError::new(setting, s, "expected ADDR:PORT such as 0.0.0.0:48322, [::]:48322 or 127.0.0.1:48322"))
        }
    }
}

/// Reads the process environment into a map once (keeps `apply_env` pure for tests).
pub fn process_env() -> BTreeMap<String, String> {
    std::env::vars().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const X: SettingName = SettingName::Other("x");

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_match_the_haproxy_container() {
        let c = Config::default();
        assert_eq!(c.listen.to_string(), "0.0.0.0:48322");
        assert_eq!(c.backend.to_string(), "localhost:49100");
        assert_eq!(c.health, HealthConfig { interval: Duration::from_secs(2), rise: 2, fall: 3 });
        assert_eq!(c.timeouts.connect, Duration::from_secs(5));
        assert_eq!(c.timeouts.tunnel_idle, Duration::from_secs(3600));
        assert_eq!(c.max_connections, 1024);
        c.validate().unwrap();
    }

    #[test]
    fn durations_parse_like_haproxy() {
        assert_eq!(parse_duration("2s", X).unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("500ms", X).unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("250", X).unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1m", X).unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("1.5s", X).unwrap(), Duration::from_millis(1500));
        let e = parse_duration("two seconds", Setting::HealthInterval.via(Via::Env)).unwrap_err();
        assert_eq!(e.setting, "HEALTH_CHECK_INTERVAL");
        assert_eq!(
            e.to_string(),
            "invalid HEALTH_CHECK_INTERVAL \"two seconds\": expected a duration like 2s, 500ms or 1m (a bare number is milliseconds)"
        );
        assert!(parse_duration("5x", X).is_err());
        assert!(parse_duration("-1s", X).is_err());
        assert_eq!(format_duration(Duration::from_secs(2)), "2s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
    }

    #[test]
    fn env_vars_of_the_haproxy_container_apply() {
        let mut c = Config::default();
        c.apply_env(env(&[
            ("BACKEND_HOST", "10.0.0.5"),
            ("BACKEND_PORT", "49200"),
            ("PROXY_PORT", "8443"),
            ("CERT_HOSTNAMES", "vr.lab, 10.0.0.9 ,vr.lab"),
            ("HEALTH_CHECK_INTERVAL", "500ms"),
            ("HEALTH_CHECK_RISE", "4"),
            ("HEALTH_CHECK_FALL", "5"),
            ("ALLOWED_BACKENDS", "10.0.0.6,10.0.0.7:49101-49102"),
        ]))
        .unwrap();
        assert_eq!(c.backend.to_string(), "10.0.0.5:49200");
        assert_eq!(c.listen.port(), 8443);
        assert_eq!(c.cert_hostnames, vec!["vr.lab", "10.0.0.9"]);
        assert_eq!(c.health, HealthConfig { interval: Duration::from_millis(500), rise: 4, fall: 5 });
        assert_eq!(format_allowlist(&c.allowed_backends), "10.0.0.6, 10.0.0.7:49101-49102");
        // Empty values count as unset, like the container's `${VAR:+x}` checks.
        let mut d = Config::default();
        d.apply_env(env(&[("BACKEND_PORT", " ")])).unwrap();
        assert_eq!(d.backend.port, 49100);
    }

    #[test]
    fn bad_env_values_name_the_variable_the_value_and_what_is_accepted() {
        let cases = [
            ("BACKEND_PORT", "abc", "invalid BACKEND_PORT \"abc\": expected a TCP port from 1 to 65535"),
            ("PROXY_PORT", "70000", "invalid PROXY_PORT \"70000\": expected a TCP port from 1 to 65535"),
            ("HEALTH_CHECK_RISE", "0", "invalid HEALTH_CHECK_RISE \"0\": expected a whole number from 1 to 100"),
            ("HEALTH_CHECK_FALL", "x", "invalid HEALTH_CHECK_FALL \"x\": expected a whole number from 1 to 100"),
            ("BACKEND_HOST", "bad host!", "invalid BACKEND_HOST \"bad host!\": expected an IP address or a DNS host name (letters, digits, '-', '.')"),
            ("BACKEND_HOST", "runtime:49100", "invalid BACKEND_HOST \"runtime:49100\": expected a host name or IP only; set the port with BACKEND_PORT"),
        ];
        for (k, v, msg) in cases {
            let mut c = Config::default();
            let before = c.clone();
            let e = c.apply_env(env(&[(k, v)])).unwrap_err();
            assert_eq!(e.to_string(), msg);
            assert_eq!(c, before, "{k} must change nothing when rejected");
        }
    }

    #[test]
    fn flags_override_and_report_their_own_names() {
        let mut c = Config::default();
        let o = CliOverrides::default()
            .with(Setting::Listen, "127.0.0.1:9443")
            .with(Setting::Backend, "[::1]:5000")
            .with(Setting::CertHostnames, "a.lan,b.lan")
            .with(Setting::HealthInterval, "100ms")
            .with(Setting::HealthRise, "1")
            .with(Setting::HealthFall, "1");
        o.apply(&mut c).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:9443");
        assert_eq!(c.backend.to_string(), "[::1]:5000");
        assert!(c.backend.is_loopback());
        assert_eq!(c.cert_hostnames, vec!["a.lan", "b.lan"]);
        assert_eq!(c.health.interval, Duration::from_millis(100));

        let bad = |o: CliOverrides| o.apply(&mut Config::default()).unwrap_err().to_string();
        assert_eq!(
            bad(CliOverrides::default().with(Setting::Listen, "nowhere")),
            "invalid --listen \"nowhere\": expected ADDR:PORT such as 0.0.0.0:48322, [::]:48322 or 127.0.0.1:48322"
        );
        assert!(bad(CliOverrides::default().with(Setting::Backend, "host:0")).starts_with("invalid --backend \"0\""));
        assert!(bad(CliOverrides::default().with(Setting::HealthRise, "many")).starts_with("invalid --rise \"many\""));
        assert!(bad(CliOverrides::default().with(Setting::CertHostnames, "ok.lan,bad!name"))
            .starts_with("invalid --cert-hostnames \"bad!name\""));
        assert_eq!(parse_listen("48322", Setting::Listen.via(Via::Flag)).unwrap().to_string(), "0.0.0.0:48322");
    }

    #[test]
    fn validation_catches_out_of_range_values() {
        let mut c = Config::default();
        c.health.interval = Duration::from_millis(1);
        assert_eq!(c.validate().unwrap_err().setting, "health interval");
        let c = Config { max_connections: 0, ..Config::default() };
        assert_eq!(c.validate().unwrap_err().setting, "max connections");
    }

    #[test]
    fn only_the_backend_and_listed_host_ports_are_routable() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        let c = Config {
            allowed_backends: parse_allowlist("10.0.0.7, 10.0.0.9:6000-6001", X).unwrap(),
            ..Config::default()
        };
        // The backend (localhost:49100) is reachable as 127.0.0.1:49100, and nothing else on loopback.
        assert!(c.routing_allowed(Ipv4Addr::LOCALHOST, 49100));
        assert!(!c.routing_allowed(Ipv4Addr::LOCALHOST, 9222));
        assert!(!c.routing_allowed(ip("127.9.9.9"), 49100));
        assert!(c.routing_allowed(ip("10.0.0.7"), 49100));
        assert!(!c.routing_allowed(ip("10.0.0.7"), 22));
        assert!(c.routing_allowed(ip("10.0.0.9"), 6001));
        assert!(!c.routing_allowed(ip("10.0.0.9"), 49100));
        assert!(!c.routing_allowed(ip("10.0.0.8"), 49100));
        assert!(!c.routing_allowed(ip("0.0.0.0"), 49100));
        // A backend given by name is never resolved here, so only plain paths reach it.
        let named = Config { backend: BackendAddr::new("runtime.lab", 49100), ..Config::default() };
        assert!(!named.routing_allowed(Ipv4Addr::LOCALHOST, 49100));
    }

    #[test]
    fn allowlist_flags_and_env_name_themselves() {
        let e = CliOverrides::default()
            .with(Setting::AllowedBackends, "10.0.0.7:99999")
            .apply(&mut Config::default())
            .unwrap_err();
        assert_eq!(e.setting, "--allowed-backends");
        let e = Config::default().apply_env(env(&[("ALLOWED_BACKENDS", "render-1")])).unwrap_err();
        assert_eq!(e.setting, "ALLOWED_BACKENDS");
        assert!(e.to_string().contains("host names are never looked up"), "{e}");
    }

    #[test]
    fn config_round_trips_through_json_with_readable_durations() {
        let c = Config::default();
        let j = serde_json::to_value(&c).unwrap();
        assert_eq!(j["health"]["interval"], "2s");
        assert_eq!(j["backend"], "localhost:49100");
        let back: Config = serde_json::from_value(j).unwrap();
        assert_eq!(back, c);
        // Missing fields take defaults.
        let partial: Config = serde_json::from_str(r#"{"backend":"10.1.1.1:49100"}"#).unwrap();
        assert_eq!(partial.listen, c.listen);
        assert!(serde_json::from_str::<Config>(r#"{"backend":"bad host!"}"#).is_err());
    }

    #[test]
    fn web_app_settings_come_from_env_and_flags_and_old_files_load() {
        let mut c = Config::default();
        assert_eq!((c.web_root.as_deref(), c.app_query.as_str()), (None, "?serverIP={ip}&port={port}"));
        c.apply_env(env(&[("WEB_ROOT", "/srv/app"), ("APP_QUERY", "?server={wss}")])).unwrap();
        assert_eq!(c.web_root.as_deref(), Some(std::path::Path::new("/srv/app")));
        assert_eq!(c.app_query, "?server={wss}");
        let o = CliOverrides::default().with(Setting::WebRoot, "/opt/app").with(Setting::AppQuery, "");
        o.apply(&mut c).unwrap();
        assert_eq!(c.web_root.as_deref(), Some(std::path::Path::new("/opt/app")));
        assert_eq!(c.app_query, "", "an empty flag means no query");
        c.validate().unwrap();

        let e = Config::default().apply_env(env(&[("APP_QUERY", "?ip={host}")])).unwrap_err();
        assert_eq!(e.setting, "APP_QUERY");
        let e = CliOverrides::default().with(Setting::AppQuery, "?a b").apply(&mut Config::default()).unwrap_err();
        assert_eq!(e.setting, "--app-query");
        let bad = Config { app_query: "{nope}".into(), ..Config::default() };
        assert_eq!(bad.validate().unwrap_err().setting, "app query");
        // Files written before these settings existed still load, with the defaults.
        let old: Config = serde_json::from_str(r#"{"backend":"10.1.1.1:49100"}"#).unwrap();
        assert_eq!((old.web_root, old.app_query), (None, DEFAULT_APP_QUERY.to_string()));
    }
}
