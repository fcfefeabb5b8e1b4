//! The settings table: every user setting once, with the name messages use, its flag and help line,
//! its environment variable, its key in the desktop app's settings file and form, how a per-run
//! override of it is told, and how it is read from and written to `Config`. The shared flags (clap),
//! the env vars, the desktop app's settings file, form, field errors and override notes are derived
//! from [`SETTINGS`]: adding a setting is one row here plus its use.
//!
//! Rows follow the `--help` order of the flags, which is also the order env vars and flags are
//! applied in (the first bad one is reported) and the order of the window's "This run:" line.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::path::PathBuf;

use serde_json::{json, Value};

use super::{
    check_web_root, check_web_root_apart, format_allowlist, format_duration, parse_allowlist, parse_count,
    parse_duration, parse_list, parse_listen, parse_port, validate_app_query, validate_cert_name, BackendAddr, Config,
    ConfigError, CustomCert, Setting, SettingName, Via, DEFAULT_BACKEND_PORT,
};

/// Parses a value and stores it in a config; the error is named by the `SettingName`.
pub type Set = fn(&mut Config, &OsStr, SettingName) -> Result<(), ConfigError>;
/// Reads a saved JSON value into a config.
pub type FromJson = fn(&mut Config, &Value, SettingName) -> Result<(), ConfigError>;
/// Checks a value in a config against this machine.
pub type Check = fn(&Config, SettingName) -> Result<(), ConfigError>;

/// A setting's command-line flag.
#[derive(Debug)]
pub struct Flag {
    /// Without the dashes.
    pub long: &'static str,
    pub value_name: &'static str,
    /// The `--help` line.
    pub help: &'static str,
    /// Taken as a path (any OS string), not as UTF-8 text.
    pub path: bool,
    /// Only meaningful with this other flag: clap refuses it alone.
    pub requires: Option<Setting>,
}

/// How the desktop app saves a setting in `settings.json`, under the row's `key`.
#[derive(Debug)]
pub struct Saved {
    /// Edited in the window's settings form, in an input whose id is `key`.
    pub form: bool,
    /// The JSON value saved, from a config that holds the setting.
    pub to_json: fn(&Config) -> Value,
    /// Reads a saved value that is no text; `None`: the value read as text goes through `set`.
    pub from_json: Option<FromJson>,
}

/// How the window tells a per-run override (flag, env var, demo) of a saved setting.
#[derive(Debug)]
pub struct Report {
    /// "backend", as in "This run: backend 127.0.0.1:5555".
    pub label: &'static str,
    /// The value shown, when not `get`'s (both backend fields show the whole address).
    pub shown: Option<fn(&Config) -> String>,
}

/// One row of the settings table.
#[derive(Debug)]
pub struct SettingSpec {
    pub id: Setting,
    /// How messages about a saved, typed or combined value name it: "health interval".
    pub name: &'static str,
    /// snake_case identity: the `settings.json` key and the form input's id, when saved or in the form.
    pub key: &'static str,
    /// The `Config` field it sets, as a JSON path ("health.interval").
    pub config: &'static str,
    pub flag: Option<Flag>,
    pub env: Option<&'static str>,
    pub saved: Option<Saved>,
    /// The form field its errors and override notes are shown at; `None`: the whole form's message.
    pub field: Option<&'static str>,
    /// `None`: a per-run value of it is not reported as an override.
    pub report: Option<Report>,
    /// Its value in a config, as text; an override is a change of this text.
    pub get: fn(&Config) -> String,
    /// Parses a value and stores it in a config.
    pub set: Set,
    /// A check against this machine (a folder must exist), made where a person gives the value:
    /// the form's save, the headless binary's start.
    pub check: Option<Check>,
}

impl SettingSpec {
    /// The default value as text.
    pub fn default_text(&self) -> String {
        (self.get)(&Config::default())
    }

    /// In the desktop app's settings form.
    pub fn in_form(&self) -> bool {
        self.saved.as_ref().is_some_and(|s| s.form)
    }
}

fn text(v: &OsStr) -> Cow<'_, str> {
    v.to_string_lossy()
}

const fn flag(long: &'static str, value_name: &'static str, help: &'static str) -> Option<Flag> {
    Some(Flag { long, value_name, help, path: false, requires: None })
}

const fn path_flag(long: &'static str, value_name: &'static str, help: &'static str) -> Option<Flag> {
    Some(Flag { long, value_name, help, path: true, requires: None })
}

/// Saved as text or a number and edited in the form.
const fn in_form(to_json: fn(&Config) -> Value) -> Option<Saved> {
    Some(Saved { form: true, to_json, from_json: None })
}

const fn report(label: &'static str) -> Option<Report> {
    Some(Report { label, shown: None })
}

pub static SETTINGS: &[SettingSpec] = &[
    SettingSpec {
        id: Setting::Listen,
        name: "listen",
        key: "listen",
        config: "listen",
        flag: flag("listen", "ADDR:PORT", "Address and port to listen on, e.g. 0.0.0.0:48322 or [::]:48322"),
        // The container's PROXY_PORT sets the port only: the ProxyPort row.
        env: None,
        // The desktop app saves the port only (ProxyPort).
        saved: None,
        field: Some("proxy_port"),
        // Reported here rather than by ProxyPort: an address given by flag shows at the port field.
        report: report("listen address"),
        get: |c| c.listen.to_string(),
        set: |c, v, n| {
            c.listen = parse_listen(&text(v), n)?;
            Ok(())
        },
        check: None,
    },
    SettingSpec {
        id: Setting::Backend,
        name: "backend",
        key: "backend",
        config: "backend",
        flag: flag("backend", "HOST:PORT", "CloudXR Runtime signaling endpoint, e.g. localhost:49100"),
        // The container (and the form) take host and port apart: the next two rows.
        env: None,
        saved: None,
        field: Some("backend_host"),
        report: None,
        get: |c| c.backend.to_string(),
        set: |c, v, n| {
            c.backend = BackendAddr::parse(&text(v), DEFAULT_BACKEND_PORT, n)?;
            Ok(())
        },
        check: None,
    },
    SettingSpec {
        id: Setting::BackendHost,
        name: "backend host",
        key: "backend_host",
        config: "backend",
        // --backend sets host and port at once.
        flag: None,
        env: Some("BACKEND_HOST"),
        saved: in_form(|c| json!(c.backend.host)),
        field: Some("backend_host"),
        report: Some(Report { label: "backend", shown: Some(|c| c.backend.to_string()) }),
        get: |c| c.backend.host.clone(),
        set: set_backend_host,
        check: None,
    },
    SettingSpec {
        id: Setting::BackendPort,
        name: "backend port",
        key: "backend_port",
        config: "backend",
        flag: None,
        env: Some("BACKEND_PORT"),
        saved: in_form(|c| json!(c.backend.port)),
        field: Some("backend_port"),
        report: Some(Report { label: "backend", shown: Some(|c| c.backend.to_string()) }),
        get: |c| c.backend.port.to_string(),
        set: |c, v, n| {
            c.backend.port = parse_port(&text(v), n)?;
            Ok(())
        },
        check: None,
    },
    SettingSpec {
        id: Setting::ProxyPort,
        name: "proxy port",
        key: "proxy_port",
        config: "listen",
        // --listen takes the whole address.
        flag: None,
        env: Some("PROXY_PORT"),
        saved: in_form(|c| json!(c.listen.port())),
        field: Some("proxy_port"),
        // The Listen row reports the whole address.
        report: None,
        get: |c| c.listen.port().to_string(),
        set: |c, v, n| {
            c.listen.set_port(parse_port(&text(v), n)?);
            Ok(())
        },
        check: None,
    },
    SettingSpec {
        id: Setting::DataDir,
        name: "data dir",
        key: "data_dir",
        config: "data_dir",
        flag: path_flag("data-dir", "DIR", "Directory for the certificate, key (and the app's settings and logs)"),
        env: Some("DATA_DIR"),
        // It says where settings.json is, so it is never saved in it nor reported as overriding it.
        saved: None,
        field: None,
        report: None,
        get: |c| c.data_dir.display().to_string(),
        set: |c, v, _| {
            c.data_dir = PathBuf::from(v);
            Ok(())
        },
        check: None,
    },
    SettingSpec {
        id: Setting::CertHostnames,
        name: "certificate host name",
        key: "cert_hostnames",
        config: "cert_hostnames",
        flag: flag("cert-hostnames", "a,b", "Extra certificate names, comma-separated (IPs become IP SANs)"),
        env: Some("CERT_HOSTNAMES"),
        saved: in_form(|c| json!(c.cert_hostnames)),
        field: Some("cert_hostnames"),
        report: report("certificate names"),
        get: |c| c.cert_hostnames.join(", "),
        set: |c, v, n| {
            c.cert_hostnames = parse_list(&text(v), n, validate_cert_name)?;
            Ok(())
        },
        check: None,
    },
    SettingSpec {
        id: Setting::Cert,
        name: "certificate",
        key: "custom_cert",
        config: "custom_cert",
        flag: path_flag(
            "cert",
            "FILE",
            "Custom certificate: PEM chain, or a combined cert+key PEM (HAProxy server.pem)",
        ),
        // The container takes a mounted server.pem, never a variable.
        env: None,
        // Set by the window's certificate buttons, not typed into the form.
        saved: Some(Saved {
            form: false,
            // A path that is not UTF-8 cannot be saved (settings.json is text).
            to_json: |c| serde_json::to_value(&c.custom_cert).unwrap_or(Value::Null),
            from_json: Some(|c, v, n| {
                c.custom_cert = serde_json::from_value(v.clone())
                    .map_err(|e| ConfigError::new(n, v.to_string(), format!("expected a certificate file ({e})")))?;
                Ok(())
            }),
        }),
        field: None,
        // Shown as it always was (`Debug`); compared by `get`, which includes the key.
        report: Some(Report { label: "certificate", shown: Some(|c| format!("{:?}", c.custom_cert)) }),
        get: |c| match &c.custom_cert {
            None => String::new(),
            Some(CustomCert { cert, key: None }) => cert.display().to_string(),
            Some(CustomCert { cert, key: Some(k) }) => format!("{} (key {})", cert.display(), k.display()),
        },
        set: |c, v, _| {
            c.custom_cert = Some(CustomCert { cert: PathBuf::from(v), key: None });
            Ok(())
        },
        check: None,
    },
    SettingSpec {
        id: Setting::Key,
        name: "certificate key",
        key: "cert_key",
        config: "custom_cert",
        flag: Some(Flag {
            long: "key",
            value_name: "FILE",
            help: "Private key PEM for --cert (omit when --cert holds the key too)",
            path: true,
            requires: Some(Setting::Cert),
        }),
        env: None,
        // Saved inside custom_cert (the Cert row), which also reports it.
        saved: None,
        field: None,
        report: None,
        get: |c| {
            c.custom_cert.as_ref().and_then(|c| c.key.as_ref()).map(|k| k.display().to_string()).unwrap_or_default()
        },
        set: |c, v, _| {
            // Applied after --cert (table order), which it requires.
            if let Some(custom) = &mut c.custom_cert {
                custom.key = Some(PathBuf::from(v));
            }
            Ok(())
        },
        check: None,
    },
    SettingSpec {
        id: Setting::HealthInterval,
        name: "health interval",
        key: "health_interval",
        config: "health.interval",
        flag: flag("health-interval", "DURATION", "Time between backend health checks, e.g. 2s or 500ms"),
        env: Some("HEALTH_CHECK_INTERVAL"),
        saved: in_form(|c| json!(format_duration(c.health.interval))),
        field: Some("health_interval"),
        report: report("health interval"),
        get: |c| format_duration(c.health.interval),
        set: |c, v, n| {
            c.health.interval = parse_duration(&text(v), n)?;
            Ok(())
        },
        check: None,
    },
    SettingSpec {
        id: Setting::HealthRise,
        name: "health rise",
        key: "health_rise",
        config: "health.rise",
        flag: flag("rise", "N", "Consecutive successful checks to mark the backend UP"),
        env: Some("HEALTH_CHECK_RISE"),
        saved: in_form(|c| json!(c.health.rise)),
        field: Some("health_rise"),
        report: report("health rise"),
        get: |c| c.health.rise.to_string(),
        set: |c, v, n| {
            c.health.rise = parse_count(&text(v), n)?;
            Ok(())
        },
        check: None,
    },
    SettingSpec {
        id: Setting::HealthFall,
        name: "health fall",
        key: "health_fall",
        config: "health.fall",
        flag: flag("fall", "N", "Consecutive failed checks to mark the backend DOWN"),
        env: Some("HEALTH_CHECK_FALL"),
        saved: in_form(|c| json!(c.health.fall)),
        field: Some("health_fall"),
        report: report("health fall"),
        get: |c| c.health.fall.to_string(),
        set: |c, v, n| {
            c.health.fall = parse_count(&text(v), n)?;
            Ok(())
        },
        check: None,
    },
    SettingSpec {
        id: Setting::AllowedBackends,
        name: "allowed backends",
        key: "allowed_backends",
        config: "allowed_backends",
        flag: flag(
            "allowed-backends",
            "IP:PORT,…",
            "Other runtimes that /{ip}:{port}/ path routing may reach: IP:PORT, IP:LO-HI, NET/LEN:PORT or a bare IP \
             (the backend's port), comma-separated; by default only the backend itself",
        ),
        env: Some("ALLOWED_BACKENDS"),
        saved: in_form(|c| json!(c.allowed_backends.iter().map(ToString::to_string).collect::<Vec<_>>())),
        field: Some("allowed_backends"),
        report: report("allowed backends"),
        get: |c| format_allowlist(&c.allowed_backends),
        set: |c, v, n| {
            c.allowed_backends = parse_allowlist(&text(v), n)?;
            Ok(())
        },
        check: None,
    },
    SettingSpec {
        id: Setting::MaxConnections,
        name: "max connections",
        key: "max_connections",
        config: "max_connections",
        flag: flag("max-connections", "N", "Maximum concurrent client connections"),
        // The container sets maxconn in haproxy.cfg, not by a variable.
        env: None,
        // Not in the window.
        saved: None,
        field: None,
        report: report("max connections"),
        get: |c| c.max_connections.to_string(),
        set: |c, v, n| {
            let v = text(v);
            c.max_connections = match v.trim().parse::<usize>() {
                Ok(m) if m > 0 => m,
                _ => return Err(ConfigError::new(n, v, "expected a whole number of at least 1")),
            };
            Ok(())
        },
        check: None,
    },
    SettingSpec {
        id: Setting::WebRoot,
        name: "web app folder",
        key: "web_root",
        config: "web_root",
        flag: path_flag(
            "web-root",
            "DIR",
            "Serve your built CloudXR.js web client (a folder with index.html) at https://<ip>:<port>/app/",
        ),
        env: Some("WEB_ROOT"),
        saved: in_form(|c| json!(c.web_root)),
        field: Some("web_root"),
        report: report("web app folder"),
        get: |c| c.web_root.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "no web app".into()),
        set: |c, v, n| {
            c.web_root = if n.via() == Some(Via::Name) {
                // The form's (and file's) text: empty means no web app.
                let t = text(v);
                Some(t.trim()).filter(|t| !t.is_empty()).map(PathBuf::from)
            } else {
                Some(PathBuf::from(v))
            };
            Ok(())
        },
        check: Some(|c, n| {
            c.web_root.as_ref().map_or(Ok(()), |root| {
                check_web_root(root, n).and_then(|()| check_web_root_apart(root, &c.data_dir, n))
            })
        }),
    },
    SettingSpec {
        id: Setting::AppQuery,
        name: "app query",
        key: "app_query",
        config: "app_query",
        flag: flag(
            "app-query",
            "TEMPLATE",
            "Query the QR code and the trust page add to /app/, with {ip}, {port}, {wss} \
             [default: ?serverIP={ip}&port={port}]; \"\" for none",
        ),
        env: Some("APP_QUERY"),
        saved: in_form(|c| json!(c.app_query)),
        field: Some("app_query"),
        report: report("web app query"),
        get: |c| c.app_query.clone(),
        set: |c, v, n| {
            let v = text(v);
            // The form trims what was typed; a flag or variable is taken as given.
            let v: &str = if n.via() == Some(Via::Name) { v.trim() } else { &v };
            validate_app_query(v, n)?;
            c.app_query = v.to_string();
            Ok(())
        },
        check: None,
    },
    SettingSpec {
        id: Setting::AdbDir,
        name: "adb folder",
        key: "adb_dir",
        config: "adb_dir",
        flag: path_flag(
            "adb-dir",
            "DIR",
            "The folder holding adb (Google's platform-tools) for headsets on USB, when it is not on PATH, \
             in the Android SDK, Meta Quest Developer Hub or SideQuest",
        ),
        env: Some("ADB_DIR"),
        saved: in_form(|c| json!(c.adb_dir)),
        field: Some("adb_dir"),
        report: report("adb folder"),
        get: |c| c.adb_dir.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "searched for".into()),
        set: |c, v, n| {
            // The form's (and file's) text: empty means "search for it".
            c.adb_dir = if n.via() == Some(Via::Name) {
                let t = text(v);
                Some(t.trim()).filter(|t| !t.is_empty()).map(PathBuf::from)
            } else {
                Some(PathBuf::from(v))
            };
            Ok(())
        },
        check: Some(|c, n| c.adb_dir.as_ref().map_or(Ok(()), |dir| check_adb_dir(dir, n))),
    },
];

/// A folder picked for adb must hold it (or its `platform-tools` folder must).
fn check_adb_dir(dir: &std::path::Path, n: SettingName) -> Result<(), ConfigError> {
    let found = crate::adb::locate::candidates(Some(dir), cfg!(windows), &|_| None).iter().any(|p| p.is_file());
    if found {
        Ok(())
    } else {
        let exe = if cfg!(windows) { "adb.exe" } else { "adb" };
        Err(ConfigError::new(
            n,
            dir.display().to_string(),
            format!("expected a folder holding {exe} (Google's platform-tools)"),
        ))
    }
}

/// A host only: the container's BACKEND_HOST takes its port from BACKEND_PORT, the form from its Port field.
fn set_backend_host(c: &mut Config, v: &OsStr, n: SettingName) -> Result<(), ConfigError> {
    let v = text(v);
    if n.via() == Some(Via::Env) {
        // One colon means HOST:PORT (an IPv6 address has more).
        if v.matches(':').count() == 1 {
            let port = Setting::BackendPort.via(Via::Env);
            return Err(ConfigError::new(n, v, format!("expected a host name or IP only; set the port with {port}")));
        }
        c.backend.host = BackendAddr::parse(&v, c.backend.port, n)?.host;
    } else {
        // Port 0 stands for "none given": a port typed here would silently fight the Port field.
        let b = BackendAddr::parse(&v, 0, n)?;
        if b.port != 0 {
            return Err(ConfigError::new(n, v.trim(), "enter the port in the Port field"));
        }
        c.backend.host = b.host;
    }
    Ok(())
}

/// A saved JSON value as the form shows it: text as is, numbers written out, lists joined, null empty.
pub fn json_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(json_text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
