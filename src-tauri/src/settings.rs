//! Owns the persisted settings (`settings.json`): the model, the string form the window edits,
//! validation with one message per field, load (a corrupt file is kept as `settings.json.bak`) and
//! atomic save, and how settings turn into the engine's `Config`. Plain functions, unit-tested;
//! messages come from `cxr_gate_core::config`'s parse helpers so they match the headless binary's.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use cxr_gate_core::config::{
    check_web_root, format_duration, parse_allowlist, parse_count, parse_duration, parse_list, parse_port,
    validate_app_query, validate_cert_name, AllowedBackend, CustomCert,
};
use cxr_gate_core::{BackendAddr, Config, ConfigError};
use serde::{Deserialize, Serialize};

pub const FILE_NAME: &str = "settings.json";
pub const BACKUP_NAME: &str = "settings.json.bak";

/// What `settings.json` holds. Missing keys take their defaults, unknown keys are ignored,
/// so files from older and newer versions still load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub backend_host: String,
    pub backend_port: u16,
    pub proxy_port: u16,
    /// HAProxy-style duration text, e.g. "2s".
    pub health_interval: String,
    pub health_rise: u32,
    pub health_fall: u32,
    /// Routing allowlist entries as text (`10.0.0.7:49100`, `10.0.0.7:49100-49110`; a bare IP means the
    /// backend's port, as files from before host:port entries wrote them).
    pub allowed_backends: Vec<String>,
    pub cert_hostnames: Vec<String>,
    /// Set by "Use my own certificate…", cleared by "Use generated certificate".
    pub custom_cert: Option<CustomCert>,
    pub start_at_login: bool,
    pub start_minimized: bool,
    /// The "still running in the tray" notification was shown once already.
    pub close_to_tray_notified: bool,
    /// A built web client served at `/app/` (a folder with `index.html`).
    pub web_root: Option<PathBuf>,
    /// The query the QR code and the trust page add to `/app/`.
    pub app_query: String,
}

impl Default for Settings {
    fn default() -> Self {
        let c = Config::default();
        Self {
            backend_host: c.backend.host,
            backend_port: c.backend.port,
            proxy_port: c.listen.port(),
            health_interval: format_duration(c.health.interval),
            health_rise: c.health.rise,
            health_fall: c.health.fall,
            allowed_backends: c.allowed_backends.iter().map(ToString::to_string).collect(),
            cert_hostnames: c.cert_hostnames,
            custom_cert: None,
            start_at_login: false,
            start_minimized: false,
            close_to_tray_notified: false,
            web_root: c.web_root,
            app_query: c.app_query,
        }
    }
}

/// The settings form as the window edits it: text as typed, so a bad value gets a message, not a type error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SettingsForm {
    pub backend_host: String,
    pub backend_port: String,
    pub proxy_port: String,
    pub health_interval: String,
    pub health_rise: String,
    pub health_fall: String,
    /// Comma- or space-separated.
    pub allowed_backends: String,
    /// Comma- or space-separated.
    pub cert_hostnames: String,
    pub start_at_login: bool,
    pub start_minimized: bool,
    /// A folder path, or empty for no web app.
    pub web_root: String,
    /// Empty for no query.
    pub app_query: String,
}

/// Field name (as in [`SettingsForm`]) → what is wrong with it.
pub type FieldErrors = BTreeMap<String, String>;

impl Settings {
    pub fn to_form(&self) -> SettingsForm {
        SettingsForm {
            backend_host: self.backend_host.clone(),
            backend_port: self.backend_port.to_string(),
            proxy_port: self.proxy_port.to_string(),
            health_interval: self.health_interval.clone(),
            health_rise: self.health_rise.to_string(),
            health_fall: self.health_fall.to_string(),
            allowed_backends: self.allowed_backends.join(", "),
            cert_hostnames: self.cert_hostnames.join(", "),
            start_at_login: self.start_at_login,
            start_minimized: self.start_minimized,
            web_root: self.web_root.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            app_query: self.app_query.clone(),
        }
    }

    /// Writes these settings over `cfg` (which holds the defaults, or what came before).
    pub fn apply_to(&self, cfg: &mut Config) -> Result<(), ConfigError> {
        cfg.backend = BackendAddr::new(self.backend_host.clone(), self.backend_port);
        cfg.listen.set_port(self.proxy_port);
        cfg.health.interval = parse_duration(&self.health_interval, "health interval")?;
        cfg.health.rise = self.health_rise;
        cfg.health.fall = self.health_fall;
        cfg.allowed_backends = self
            .allowed_backends
            .iter()
            .map(|a| AllowedBackend::parse(a, "allowed backends"))
            .collect::<Result<_, _>>()?;
        cfg.cert_hostnames = self.cert_hostnames.clone();
        cfg.custom_cert = self.custom_cert.clone();
        cfg.web_root = self.web_root.clone();
        cfg.app_query = self.app_query.clone();
        Ok(())
    }

    /// Checks a loaded file the way the form is checked (a hand-edited file can hold anything).
    pub fn check(&self) -> Result<(), FieldErrors> {
        // A web app folder deleted since it was saved is the status's business, not a damaged file.
        let mut form_settings = validate_fields(&self.to_form(), self, false)?;
        form_settings.custom_cert = self.custom_cert.clone();
        let mut cfg = Config::default();
        form_settings.apply_to(&mut cfg).map_err(|e| one_error(&e))?;
        cfg.validate().map_err(|e| one_error(&e))
    }
}

fn one_error(e: &ConfigError) -> FieldErrors {
    let mut m = FieldErrors::new();
    m.insert(field_of(&e.setting).to_string(), e.to_string());
    m
}

/// Maps a `ConfigError::setting` (from `Config::validate` or the parse helpers) to the form field it is about.
pub fn field_of(setting: &str) -> &'static str {
    match setting {
        "backend host" | "backend" | "--backend" | "BACKEND_HOST" => "backend_host",
        "backend port" | "BACKEND_PORT" => "backend_port",
        "proxy port" | "listen" | "--listen" | "PROXY_PORT" => "proxy_port",
        "health interval" | "--health-interval" | "HEALTH_CHECK_INTERVAL" | "duration" => "health_interval",
        "health rise" | "--rise" | "HEALTH_CHECK_RISE" => "health_rise",
        "health fall" | "--fall" | "HEALTH_CHECK_FALL" => "health_fall",
        "allowed backends" | "--allowed-backends" | "ALLOWED_BACKENDS" => "allowed_backends",
        "certificate host name" | "extra certificate names" | "--cert-hostnames" | "CERT_HOSTNAMES" => "cert_hostnames",
        "web app folder" | "--web-root" | "WEB_ROOT" => "web_root",
        "app query" | "--app-query" | "APP_QUERY" => "app_query",
        _ => "form",
    }
}

/// Validates every field of `form` (all messages at once, not just the first) and returns the new
/// settings; fields the form does not edit (custom certificate, notices) are kept from `current`.
pub fn validate_form(form: &SettingsForm, current: &Settings) -> Result<Settings, FieldErrors> {
    validate_fields(form, current, true)
}

/// [`validate_form`]; `check_folder`: whether the web app folder must exist now (a form being
/// saved) or only be a path (a file being loaded).
fn validate_fields(form: &SettingsForm, current: &Settings, check_folder: bool) -> Result<Settings, FieldErrors> {
    let mut errs = FieldErrors::new();
    let mut out = current.clone();
    let mut put = |field: &str, e: ConfigError| {
        errs.entry(field.to_string()).or_insert_with(|| e.to_string());
    };

    // The host field takes a host only: a port typed into it would silently fight the port field.
    match BackendAddr::parse(&form.backend_host, 0, "backend host") {
        Ok(b) if b.port != 0 => put(
            "backend_host",
            ConfigError::new("backend host", form.backend_host.trim(), "enter the port in the Port field"),
        ),
        Ok(b) => out.backend_host = b.host,
        Err(e) => put("backend_host", e),
    }
    match parse_port(&form.backend_port, "backend port") {
        Ok(p) => out.backend_port = p,
        Err(e) => put("backend_port", e),
    }
    match parse_port(&form.proxy_port, "proxy port") {
        Ok(p) => out.proxy_port = p,
        Err(e) => put("proxy_port", e),
    }
    match parse_duration(&form.health_interval, "health interval") {
        Ok(d) => {
            let cfg = Config {
                health: cxr_gate_core::config::HealthConfig { interval: d, ..Default::default() },
                ..Config::default()
            };
            match cfg.validate() {
                Ok(()) => out.health_interval = format_duration(d),
                Err(e) => {
                    put("health_interval", ConfigError::new("health interval", form.health_interval.trim(), e.expected))
                }
            }
        }
        Err(e) => put("health_interval", e),
    }
    match parse_count(&form.health_rise, "health rise") {
        Ok(n) => out.health_rise = n,
        Err(e) => put("health_rise", e),
    }
    match parse_count(&form.health_fall, "health fall") {
        Ok(n) => out.health_fall = n,
        Err(e) => put("health_fall", e),
    }
    match parse_allowlist(&form.allowed_backends, "allowed backends") {
        Ok(l) => out.allowed_backends = l.iter().map(ToString::to_string).collect(),
        Err(e) => put("allowed_backends", e),
    }
    match parse_list(&form.cert_hostnames, "certificate host name", validate_cert_name) {
        Ok(l) => out.cert_hostnames = l,
        Err(e) => put("cert_hostnames", e),
    }
    let root = form.web_root.trim();
    if root.is_empty() {
        out.web_root = None;
    } else {
        // Same check and wording as cxr-gate-proxy's --web-root at start.
        match check_web_root(Path::new(root), "web app folder") {
            Err(e) if check_folder => put("web_root", e),
            _ => out.web_root = Some(PathBuf::from(root)),
        }
    }
    match validate_app_query(form.app_query.trim(), "app query") {
        Ok(()) => out.app_query = form.app_query.trim().to_string(),
        Err(e) => put("app_query", e),
    }
    out.start_at_login = form.start_at_login;
    out.start_minimized = form.start_minimized;
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(errs)
    }
}

/// The result of reading the settings file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub settings: Settings,
    /// Shown in the window: the file was unreadable and was replaced by defaults.
    pub notice: Option<String>,
}

pub fn path_in(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Reads `settings.json`. Missing → defaults, silently. Corrupt or invalid → the file is renamed to
/// `settings.json.bak`, defaults are written in its place, and `notice` says what happened.
pub fn load(path: &Path) -> Loaded {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Loaded { settings: Settings::default(), notice: None };
        }
        Err(e) => {
            // Unreadable (permissions…): keep the file alone; it may be fine for another account.
            return Loaded {
                settings: Settings::default(),
                notice: Some(format!("Could not read {}: {e}. Using default settings.", path.display())),
            };
        }
    };
    let problem = match serde_json::from_str::<Settings>(&text) {
        Ok(mut s) => {
            let migrated = migrate_allowlist(&mut s);
            match s.check() {
                Ok(()) => {
                    if migrated.is_some() {
                        let _ = save(path, &s);
                    }
                    return Loaded { settings: s, notice: migrated };
                }
                Err(errs) => errs.into_values().collect::<Vec<_>>().join("; "),
            }
        }
        Err(e) => e.to_string(),
    };
    let backup = path.with_file_name(BACKUP_NAME);
    let settings = Settings::default();
    let mut notice = format!(
        "Your settings file was damaged ({problem}). It was renamed to {} and default settings are in use.",
        backup.display()
    );
    if let Err(e) = fs::rename(path, &backup) {
        notice = format!("Your settings file {} was damaged ({problem}) and could not be renamed ({e}). Default settings are in use.", path.display());
    } else if let Err(e) = save(path, &settings) {
        notice.push_str(&format!(" Writing new defaults failed: {e}."));
    }
    Loaded { settings, notice: Some(notice) }
}

/// Files from before host:port allowlist entries may list host names, which routing never matched
/// (targets are IPv4 addresses, never looked up). They are dropped with a notice naming them, so
/// the rest of the file still loads; bare IPs keep their meaning (the backend's port).
fn migrate_allowlist(s: &mut Settings) -> Option<String> {
    let (kept, dropped): (Vec<String>, Vec<String>) = std::mem::take(&mut s.allowed_backends)
        .into_iter()
        .partition(|a| AllowedBackend::parse(a, "allowed backends").is_ok());
    s.allowed_backends = kept;
    if dropped.is_empty() {
        return None;
    }
    Some(format!(
        "Allowed backends: removed {} — routing reaches IPv4 addresses only and host names are never looked up, \
         so they never matched. To route to those runtimes, add their IP:PORT in Settings.",
        dropped.join(", ")
    ))
}

/// Writes atomically (temp file + rename), so a crash never leaves half a file.
pub fn save(path: &Path, settings: &Settings) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let json = serde_json::to_string_pretty(settings).map_err(io::Error::other)?;
    let tmp = path.with_extension("json.tmp");
    fs::write(&tmp, json + "\n")?;
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cxr_gate_core::config::{DEFAULT_BACKEND_PORT, DEFAULT_PROXY_PORT};

    fn form() -> SettingsForm {
        Settings::default().to_form()
    }

    #[test]
    fn defaults_round_trip_through_the_form() {
        let s = Settings::default();
        assert_eq!(validate_form(&s.to_form(), &s), Ok(s.clone()));
        assert_eq!(s.backend_host, "localhost");
        assert_eq!((s.backend_port, s.proxy_port), (DEFAULT_BACKEND_PORT, DEFAULT_PROXY_PORT));
        assert_eq!(s.health_interval, "2s");
    }

    #[test]
    fn every_bad_field_gets_its_own_message() {
        let f = SettingsForm {
            backend_host: "bad host!".into(),
            backend_port: "0".into(),
            proxy_port: "70000".into(),
            health_interval: "soon".into(),
            health_rise: "0".into(),
            health_fall: "x".into(),
            allowed_backends: "10.0.0.7:5000, ok.example".into(),
            cert_hostnames: "gate.lan, -bad".into(),
            ..form()
        };
        let errs = validate_form(&f, &Settings::default()).unwrap_err();
        let keys: Vec<_> = errs.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "allowed_backends",
                "backend_host",
                "backend_port",
                "cert_hostnames",
                "health_fall",
                "health_interval",
                "health_rise",
                "proxy_port"
            ]
        );
        // Same wording as the headless binary (core's ConfigError).
        assert_eq!(errs["proxy_port"], "invalid proxy port \"70000\": expected a TCP port from 1 to 65535");
        assert!(errs["health_interval"].starts_with("invalid health interval \"soon\": expected a duration"));
        assert!(
            errs["allowed_backends"].contains("\"ok.example\": host names are never looked up"),
            "{}",
            errs["allowed_backends"]
        );
        assert!(errs["cert_hostnames"].contains("-bad"), "{}", errs["cert_hostnames"]);
    }

    #[test]
    fn host_field_rejects_a_port_and_accepts_ipv6() {
        let f = SettingsForm { backend_host: "10.0.0.5:49100".into(), ..form() };
        let errs = validate_form(&f, &Settings::default()).unwrap_err();
        assert!(errs["backend_host"].contains("Port field"), "{}", errs["backend_host"]);

        let f = SettingsForm { backend_host: " ::1 ".into(), ..form() };
        assert_eq!(validate_form(&f, &Settings::default()).map(|s| s.backend_host), Ok("::1".to_string()));
        let f = SettingsForm { backend_host: "[fe80::1]".into(), ..form() };
        assert_eq!(validate_form(&f, &Settings::default()).map(|s| s.backend_host), Ok("fe80::1".to_string()));
    }

    #[test]
    fn health_interval_bounds_match_config_validate() {
        let f = SettingsForm { health_interval: "5ms".into(), ..form() };
        let errs = validate_form(&f, &Settings::default()).unwrap_err();
        assert_eq!(errs["health_interval"], "invalid health interval \"5ms\": expected 10ms to 1h");
        let f = SettingsForm { health_interval: "500".into(), ..form() };
        assert_eq!(validate_form(&f, &Settings::default()).map(|s| s.health_interval), Ok("500ms".to_string()));
    }

    #[test]
    fn lists_split_on_commas_and_spaces_and_dedupe() {
        let f = SettingsForm {
            allowed_backends: "10.0.0.7, LOCALHOST:49101-49102  10.0.0.7".into(),
            cert_hostnames: "gate.lan,*.studio.lan".into(),
            ..form()
        };
        let s = validate_form(&f, &Settings::default()).unwrap();
        assert_eq!(s.allowed_backends, ["10.0.0.7", "localhost:49101-49102"]);
        assert_eq!(s.cert_hostnames, ["gate.lan", "*.studio.lan"]);
        for bad in ["render-box", "10.0.0.7:0", "10.0.0.7:5001-5000"] {
            let f = SettingsForm { allowed_backends: bad.into(), ..form() };
            assert!(validate_form(&f, &Settings::default()).is_err(), "{bad}");
        }
    }

    #[test]
    fn form_keeps_fields_it_does_not_edit() {
        let current = Settings {
            custom_cert: Some(CustomCert { cert: "/c.pem".into(), key: None }),
            close_to_tray_notified: true,
            ..Settings::default()
        };
        let f = SettingsForm { start_minimized: true, start_at_login: true, ..current.to_form() };
        let s = validate_form(&f, &current).unwrap();
        assert_eq!(s.custom_cert, current.custom_cert);
        assert!(s.close_to_tray_notified && s.start_minimized && s.start_at_login);
    }

    #[test]
    fn apply_to_config_sets_every_engine_field() {
        let s = Settings {
            backend_host: "10.1.2.3".into(),
            backend_port: 5000,
            proxy_port: 9443,
            health_interval: "250ms".into(),
            health_rise: 4,
            health_fall: 5,
            allowed_backends: vec!["10.0.0.9:5000-5001".into(), "10.0.0.8".into()],
            cert_hostnames: vec!["gate.lan".into()],
            custom_cert: Some(CustomCert { cert: "/x.pem".into(), key: Some("/x.key".into()) }),
            ..Settings::default()
        };
        let mut c = Config::default();
        s.apply_to(&mut c).unwrap();
        assert_eq!(c.backend.to_string(), "10.1.2.3:5000");
        assert_eq!(c.listen.to_string(), "0.0.0.0:9443");
        assert_eq!(c.health.interval, std::time::Duration::from_millis(250));
        assert_eq!((c.health.rise, c.health.fall), (4, 5));
        assert_eq!(cxr_gate_core::config::format_allowlist(&c.allowed_backends), "10.0.0.9:5000-5001, 10.0.0.8");
        assert_eq!(c.cert_hostnames, ["gate.lan"]);
        assert_eq!(c.custom_cert, s.custom_cert);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn old_allowlists_keep_bare_ips_and_drop_host_names_with_a_notice() {
        let dir = tempfile::tempdir().unwrap();
        let p = path_in(dir.path());
        fs::write(&p, r#"{"proxy_port": 9443, "allowed_backends": ["10.0.0.7", "render-box", "10.0.0.8"]}"#).unwrap();
        let l = load(&p);
        assert_eq!(l.settings.proxy_port, 9443, "the rest of the file is kept");
        assert_eq!(l.settings.allowed_backends, ["10.0.0.7", "10.0.0.8"]);
        let notice = l.notice.unwrap_or_default();
        assert!(notice.contains("removed render-box") && notice.contains("IP:PORT"), "{notice}");
        assert!(!p.with_file_name(BACKUP_NAME).exists(), "not treated as a damaged file");
        // Written back migrated: the notice is shown once.
        assert_eq!(load(&p).notice, None);
        let mut c = Config::default();
        l.settings.apply_to(&mut c).unwrap();
        let ip = |s: &str| s.parse::<std::net::Ipv4Addr>().unwrap();
        assert!(c.routing_allowed(ip("10.0.0.7"), c.backend.port), "a bare IP means the backend's port");
        assert!(!c.routing_allowed(ip("10.0.0.7"), 22));
    }

    #[test]
    fn missing_file_gives_defaults_without_notice() {
        let dir = tempfile::tempdir().unwrap();
        let l = load(&path_in(dir.path()));
        assert_eq!(l, Loaded { settings: Settings::default(), notice: None });
        assert!(!path_in(dir.path()).exists(), "loading must not create the file");
    }

    #[test]
    fn save_then_load_round_trips_and_tolerates_unknown_and_missing_keys() {
        let dir = tempfile::tempdir().unwrap();
        let p = path_in(&dir.path().join("nested"));
        let s = Settings { proxy_port: 9443, start_minimized: true, ..Settings::default() };
        save(&p, &s).unwrap();
        assert_eq!(load(&p), Loaded { settings: s, notice: None });
        fs::write(&p, r#"{"proxy_port": 1234, "from_the_future": [1,2]}"#).unwrap();
        let l = load(&p);
        assert_eq!(l.notice, None);
        assert_eq!(l.settings, Settings { proxy_port: 1234, ..Settings::default() });
    }

    #[test]
    fn corrupt_file_is_backed_up_and_replaced_by_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let p = path_in(dir.path());
        fs::write(&p, "{ this is not json").unwrap();
        let l = load(&p);
        assert_eq!(l.settings, Settings::default());
        let notice = l.notice.unwrap();
        assert!(notice.contains("settings.json.bak"), "{notice}");
        assert_eq!(fs::read_to_string(dir.path().join(BACKUP_NAME)).unwrap(), "{ this is not json");
        // The replacement is valid and loads quietly next time.
        assert_eq!(load(&p), Loaded { settings: Settings::default(), notice: None });
    }

    #[test]
    fn well_formed_but_invalid_values_count_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let p = path_in(dir.path());
        fs::write(&p, r#"{"proxy_port": 0, "health_interval": "2s"}"#).unwrap();
        let l = load(&p);
        let notice = l.notice.unwrap();
        assert!(notice.contains("proxy port"), "{notice}");
        assert!(dir.path().join(BACKUP_NAME).exists());
        fs::write(&p, r#"{"health_interval": "forever"}"#).unwrap();
        assert!(load(&p).notice.unwrap().contains("health interval"));
    }

    #[test]
    fn web_app_folder_and_query_are_checked_like_the_headless_flags() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("gone");
        let f = SettingsForm { web_root: missing.display().to_string(), app_query: "?s={server}".into(), ..form() };
        let errs = validate_form(&f, &Settings::default()).unwrap_err();
        let want = format!("invalid web app folder {:?}: the folder does not exist", missing.display().to_string());
        assert!(errs["web_root"].starts_with(&want), "{}", errs["web_root"]);
        assert!(errs["app_query"].contains("{server} is not a placeholder"), "{}", errs["app_query"]);
        fs::write(dir.path().join("index.html"), "<!doctype html>").unwrap();
        let f = SettingsForm { web_root: format!(" {} ", dir.path().display()), app_query: String::new(), ..form() };
        let s = validate_form(&f, &Settings::default()).unwrap();
        assert_eq!(s.web_root.as_deref(), Some(dir.path()));
        assert_eq!(s.app_query, "", "empty means no query");
        let mut c = Config::default();
        s.apply_to(&mut c).unwrap();
        assert_eq!((c.web_root, c.app_query), (s.web_root.clone(), String::new()));
        let cleared = validate_form(&SettingsForm { web_root: "  ".into(), ..s.to_form() }, &s).unwrap();
        assert_eq!(cleared.web_root, None);
        assert_eq!(Settings::default().app_query, "?serverIP={ip}&port={port}");
    }

    #[test]
    fn a_saved_web_app_folder_that_vanished_does_not_damage_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = path_in(dir.path());
        fs::write(&p, r#"{"proxy_port": 9443, "web_root": "/no/such/folder"}"#).unwrap();
        let l = load(&p);
        assert_eq!(l.notice, None);
        assert_eq!(l.settings.web_root.as_deref(), Some(Path::new("/no/such/folder")));
        assert_eq!(l.settings.proxy_port, 9443);
        fs::write(&p, r#"{"app_query": "?{bad}"}"#).unwrap();
        assert!(load(&p).notice.unwrap().contains("app query"));
    }

    #[test]
    fn field_of_maps_core_settings_to_form_fields() {
        assert_eq!(field_of("--listen"), "proxy_port");
        assert_eq!(field_of("certificate host name"), "cert_hostnames");
        assert_eq!(field_of("health rise"), "health_rise");
        assert_eq!(field_of("--web-root"), "web_root");
        assert_eq!(field_of("APP_QUERY"), "app_query");
        assert_eq!(field_of("something else"), "form");
    }
}
