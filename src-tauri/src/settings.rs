//! Owns the persisted settings (`settings.json`): the model, the string form the window edits,
//! validation with one message per field, load (a corrupt file is kept as `settings.json.bak`) and
//! atomic save, and how settings turn into the engine's `Config`. Plain functions, unit-tested.
//! Everything per setting comes from core's settings table (`cxr_gate_core::config::SETTINGS`): the
//! form's fields, how a saved value is read and written, and the messages, which so match the
//! headless binary's. Only the `Settings` struct names its fields (the file's schema; a test
//! checks it against the table).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use cxr_gate_core::config::table::json_text;
use cxr_gate_core::config::{
    format_duration, AllowedBackend, CustomCert, Setting, SettingName, SettingSpec, Via, SETTINGS,
};
use cxr_gate_core::{Config, ConfigError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const FILE_NAME: &str = cxr_gate_core::config::SETTINGS_FILE;
pub const BACKUP_NAME: &str = "settings.json.bak";

/// What `settings.json` holds. Missing keys take their defaults, unknown keys are ignored,
/// so files from older and newer versions still load. Each engine setting's key is its table row's
/// `key` (checked by a test); the rest are the app's own.
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
    /// The folder holding adb, for headsets on USB; none: searched for.
    pub adb_dir: Option<PathBuf>,
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
            adb_dir: c.adb_dir,
        }
    }
}

/// The settings form as the window edits it: text as typed, so a bad value gets a message, not a type error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SettingsForm {
    /// By field: the `key` of each table row in the form (lists comma- or space-separated, an empty
    /// web app folder or query for none).
    #[serde(flatten)]
    pub text: BTreeMap<String, String>,
    pub start_at_login: bool,
    pub start_minimized: bool,
}

impl SettingsForm {
    /// The text in `setting`'s field ("" when the window sent none).
    pub fn get(&self, setting: Setting) -> &str {
        self.text.get(setting.spec().key).map_or("", String::as_str)
    }

    /// This form with `value` in `setting`'s field.
    pub fn with(mut self, setting: Setting, value: impl Into<String>) -> Self {
        self.text.insert(setting.spec().key.to_string(), value.into());
        self
    }
}

/// The table rows the form edits, in table order.
pub fn form_rows() -> impl Iterator<Item = &'static SettingSpec> {
    SETTINGS.iter().filter(|s| s.in_form())
}

/// The form's text fields (input ids), for the window.
pub fn form_fields() -> Vec<&'static str> {
    form_rows().map(|s| s.key).collect()
}

/// Field name (as in [`SettingsForm`]) → what is wrong with it.
pub type FieldErrors = BTreeMap<String, String>;

impl Settings {
    /// The file's JSON object, by key.
    fn json(&self) -> Result<Map<String, Value>, serde_json::Error> {
        match serde_json::to_value(self)? {
            Value::Object(m) => Ok(m),
            _ => unreachable!("a struct serialises to an object"),
        }
    }

    pub fn to_form(&self) -> SettingsForm {
        // Without the custom certificate (no form field), whose path alone could fail to serialise.
        let json = Settings { custom_cert: None, ..self.clone() }.json().unwrap_or_default();
        SettingsForm {
            text: form_rows()
                .map(|s| (s.key.to_string(), json.get(s.key).map(json_text).unwrap_or_default()))
                .collect(),
            start_at_login: self.start_at_login,
            start_minimized: self.start_minimized,
        }
    }

    /// Writes these settings over `cfg` (which holds the defaults, or what came before).
    pub fn apply_to(&self, cfg: &mut Config) -> Result<(), ConfigError> {
        let json = self.json().map_err(|e| {
            let cert = self.custom_cert.as_ref().map(|c| c.cert.display().to_string()).unwrap_or_default();
            ConfigError::new(Setting::Cert.via(Via::Name), cert, format!("cannot be saved: {e}"))
        })?;
        for spec in SETTINGS {
            let (Some(saved), Some(v)) = (&spec.saved, json.get(spec.key)) else { continue };
            let name = spec.id.via(Via::Name);
            match saved.from_json {
                Some(read) => read(cfg, v, name)?,
                None => (spec.set)(cfg, OsStr::new(&json_text(v)), name)?,
            }
        }
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

/// The form field a `ConfigError` is about (its table row's `field`), or "form" for the whole form.
pub fn field_of(setting: &SettingName) -> &'static str {
    setting.setting().and_then(|s| s.spec().field).unwrap_or("form")
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
    // Without the custom certificate (no form field, kept as it is), whose path alone could fail to serialise.
    let mut json = Settings { custom_cert: None, ..current.clone() }.json().unwrap_or_default();
    for spec in form_rows() {
        let name = spec.id.via(Via::Name);
        let text = form.get(spec.id);
        // Each field alone on the defaults: its own parse, then the engine's bounds for it (the
        // health interval's 10ms to 1h), then the machine check (the web app folder must exist).
        let mut cfg = Config::default();
        let checked = (spec.set)(&mut cfg, OsStr::new(text), name)
            .and_then(|()| cfg.validate().map_err(|e| ConfigError::new(e.setting, text.trim(), e.expected)))
            .and_then(|()| match spec.check {
                Some(check) if check_folder => check(&cfg, name),
                _ => Ok(()),
            });
        match (checked, &spec.saved) {
            (Ok(()), Some(saved)) => {
                json.insert(spec.key.to_string(), (saved.to_json)(&cfg));
            }
            (Err(e), _) => {
                errs.insert(spec.key.to_string(), e.to_string());
            }
            (Ok(()), None) => unreachable!("form rows are saved"),
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let mut out: Settings = serde_json::from_value(Value::Object(json)).map_err(|e| {
        // Only a value the form cannot hold (a certificate path that is not UTF-8) lands here.
        FieldErrors::from([("form".to_string(), format!("The settings cannot be saved: {e}"))])
    })?;
    out.custom_cert = current.custom_cert.clone();
    out.start_at_login = form.start_at_login;
    out.start_minimized = form.start_minimized;
    Ok(out)
}

/// The web app folder against the data dir this run really uses (`--data-dir`, `DATA_DIR` or the
/// default): neither may hold the other, or `/app/` would serve the keys. The form checks each
/// field on the defaults, so the merged `cfg` is checked here; the error is the web app field's
/// and names both folders.
pub fn check_layout(cfg: &Config) -> Result<(), FieldErrors> {
    let Some(root) = &cfg.web_root else { return Ok(()) };
    let name = Setting::WebRoot.via(Via::Name);
    cxr_gate_core::config::check_web_root_apart(root, &cfg.data_dir, name).map_err(|e| one_error(&e))
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
        .partition(|a| AllowedBackend::parse(a, Setting::AllowedBackends.via(Via::Name)).is_ok());
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
    use Setting::*;

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
        let f = form()
            .with(BackendHost, "bad host!")
            .with(BackendPort, "0")
            .with(ProxyPort, "70000")
            .with(HealthInterval, "soon")
            .with(HealthRise, "0")
            .with(HealthFall, "x")
            .with(AllowedBackends, "10.0.0.7:5000, ok.example")
            .with(CertHostnames, "gate.lan, -bad");
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
        let f = form().with(BackendHost, "10.0.0.5:49100");
        let errs = validate_form(&f, &Settings::default()).unwrap_err();
        assert!(errs["backend_host"].contains("Port field"), "{}", errs["backend_host"]);

        let f = form().with(BackendHost, " ::1 ");
        assert_eq!(validate_form(&f, &Settings::default()).map(|s| s.backend_host), Ok("::1".to_string()));
        let f = form().with(BackendHost, "[fe80::1]");
        assert_eq!(validate_form(&f, &Settings::default()).map(|s| s.backend_host), Ok("fe80::1".to_string()));
    }

    #[test]
    fn health_interval_bounds_match_config_validate() {
        let f = form().with(HealthInterval, "5ms");
        let errs = validate_form(&f, &Settings::default()).unwrap_err();
        assert_eq!(errs["health_interval"], "invalid health interval \"5ms\": expected 10ms to 1h");
        let f = form().with(HealthInterval, "500");
        assert_eq!(validate_form(&f, &Settings::default()).map(|s| s.health_interval), Ok("500ms".to_string()));
    }

    #[test]
    fn lists_split_on_commas_and_spaces_and_dedupe() {
        let f = form()
            .with(AllowedBackends, "10.0.0.7, LOCALHOST:49101-49102  10.0.0.7")
            .with(CertHostnames, "gate.lan,*.studio.lan");
        let s = validate_form(&f, &Settings::default()).unwrap();
        assert_eq!(s.allowed_backends, ["10.0.0.7", "localhost:49101-49102"]);
        assert_eq!(s.cert_hostnames, ["gate.lan", "*.studio.lan"]);
        for bad in ["render-box", "10.0.0.7:0", "10.0.0.7:5001-5000"] {
            let f = form().with(AllowedBackends, bad);
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
        let f = form().with(WebRoot, missing.display().to_string()).with(AppQuery, "?s={server}");
        let errs = validate_form(&f, &Settings::default()).unwrap_err();
        let want = format!("invalid web app folder {:?}: the folder does not exist", missing.display().to_string());
        assert!(errs["web_root"].starts_with(&want), "{}", errs["web_root"]);
        assert!(errs["app_query"].contains("{server} is not a placeholder"), "{}", errs["app_query"]);
        fs::write(dir.path().join("index.html"), "<!doctype html>").unwrap();
        let f = form().with(WebRoot, format!(" {} ", dir.path().display())).with(AppQuery, "");
        let s = validate_form(&f, &Settings::default()).unwrap();
        assert_eq!(s.web_root.as_deref(), Some(dir.path()));
        assert_eq!(s.app_query, "", "empty means no query");
        let mut c = Config::default();
        s.apply_to(&mut c).unwrap();
        assert_eq!((c.web_root, c.app_query), (s.web_root.clone(), String::new()));
        let cleared = validate_form(&s.to_form().with(WebRoot, "  "), &s).unwrap();
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
        assert_eq!(field_of(&Listen.via(Via::Flag)), "proxy_port");
        assert_eq!(field_of(&CertHostnames.via(Via::Name)), "cert_hostnames");
        assert_eq!(field_of(&HealthRise.via(Via::Name)), "health_rise");
        assert_eq!(field_of(&WebRoot.via(Via::Flag)), "web_root");
        assert_eq!(field_of(&AppQuery.via(Via::Env)), "app_query");
        assert_eq!(field_of(&SettingName::Other("something else")), "form");
    }

    /// What `field_of` matched by string before the table: every name, flag and variable still
    /// prints the same and leads to the same field.
    #[test]
    fn field_of_covers_every_setting_as_before() {
        let before = [
            ("backend_host", &["backend host", "backend", "--backend", "BACKEND_HOST"][..]),
            ("backend_port", &["backend port", "BACKEND_PORT"]),
            ("proxy_port", &["proxy port", "listen", "--listen", "PROXY_PORT"]),
            ("health_interval", &["health interval", "--health-interval", "HEALTH_CHECK_INTERVAL"]),
            ("health_rise", &["health rise", "--rise", "HEALTH_CHECK_RISE"]),
            ("health_fall", &["health fall", "--fall", "HEALTH_CHECK_FALL"]),
            ("allowed_backends", &["allowed backends", "--allowed-backends", "ALLOWED_BACKENDS"]),
            ("cert_hostnames", &["certificate host name", "--cert-hostnames", "CERT_HOSTNAMES"]),
            ("web_root", &["web app folder", "--web-root", "WEB_ROOT"]),
            ("app_query", &["app query", "--app-query", "APP_QUERY"]),
        ];
        let mut seen = std::collections::BTreeSet::new();
        for spec in SETTINGS {
            for via in [Via::Name, Via::Flag, Via::Env] {
                let name = spec.id.via(via);
                let field = field_of(&name);
                assert_eq!(field, spec.field.unwrap_or("form"), "{name}");
                if let Some((f, _)) = before.iter().find(|(_, names)| names.contains(&name.to_string().as_str())) {
                    assert_eq!(field, *f, "{name}");
                    seen.insert(name.to_string());
                }
            }
        }
        let all: std::collections::BTreeSet<_> =
            before.iter().flat_map(|(_, n)| n.iter().map(|n| n.to_string())).collect();
        assert_eq!(seen, all, "every name field_of knew is still some setting's");
    }

    #[test]
    fn the_settings_file_keys_are_the_tables_plus_the_apps_own() {
        let json = Settings::default().json().unwrap();
        let keys: std::collections::BTreeSet<&str> = json.keys().map(String::as_str).collect();
        let mut want: std::collections::BTreeSet<&str> =
            SETTINGS.iter().filter(|s| s.saved.is_some()).map(|s| s.key).collect();
        want.extend(["start_at_login", "start_minimized", "close_to_tray_notified"]);
        assert_eq!(keys, want);
        // The defaults are the engine's.
        let defaults = Settings::default().to_form();
        for spec in form_rows() {
            let saved = (spec.saved.as_ref().unwrap().to_json)(&Config::default());
            assert_eq!(defaults.get(spec.id), json_text(&saved), "{}", spec.key);
        }
        let mut c = Config::default();
        Settings::default().apply_to(&mut c).unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn the_window_has_an_input_and_a_message_for_every_form_field() {
        // ui/cards/settings.js builds an input and its message line for each row of its FORM.
        let js = include_str!("../../ui/cards/settings.js");
        for key in form_fields() {
            assert!(js.contains(&format!("[\"{key}\", \"")), "ui/cards/settings.js: no FORM row for {key}");
        }
        // The window takes the field list from get_settings rather than keeping its own.
        assert!(js.contains("FIELDS = s.fields"));
    }

    #[test]
    fn the_form_reads_from_and_writes_to_json_with_the_same_keys() {
        let f = form().with(HealthRise, "4");
        let j = serde_json::to_value(&f).unwrap();
        assert_eq!(j["health_rise"], "4");
        assert_eq!(j["start_at_login"], false);
        let back: SettingsForm = serde_json::from_value(j).unwrap();
        assert_eq!(back, f);
        let partial: SettingsForm = serde_json::from_str(r#"{"proxy_port": "9443", "start_minimized": true}"#).unwrap();
        assert_eq!((partial.get(ProxyPort), partial.get(BackendHost), partial.start_minimized), ("9443", "", true));
    }

    #[test]
    fn a_web_app_folder_holding_the_data_dir_is_refused_at_the_web_root_field_naming_both() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(home.join("index.html"), "<!doctype html>").unwrap();
        let data = home.join("gate-data");
        let form = form().with(WebRoot, home.to_str().unwrap());
        let settings = validate_form(&form, &Settings::default()).unwrap();
        let mut cfg = Config::default();
        settings.apply_to(&mut cfg).unwrap();
        cfg.data_dir = data.clone();
        let errs = check_layout(&cfg).unwrap_err();
        let msg = &errs["web_root"];
        let real_home = std::fs::canonicalize(&home).unwrap();
        assert!(msg.starts_with(&format!("invalid web app folder {:?}", home.display().to_string())), "{msg}");
        assert!(msg.contains(&real_home.join("gate-data").display().to_string()), "names the data dir: {msg}");
        // Apart, both are fine; and no web app at all is fine.
        cfg.data_dir = dir.path().join("elsewhere");
        assert_eq!(check_layout(&cfg), Ok(()));
        cfg.web_root = None;
        cfg.data_dir = data;
        assert_eq!(check_layout(&cfg), Ok(()));
    }
}
