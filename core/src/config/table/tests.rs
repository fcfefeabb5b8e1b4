//! The table against `Config`, clap, the messages users already see, and docs/HEADLESS.md.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;

use clap::{Args, Command, FromArgMatches};
use serde_json::Value;

use super::*;
use crate::config::CliOverrides;

/// A valid value that differs from the default, for each setting (a new one must add its own).
fn sample(s: Setting) -> &'static str {
    match s {
        Setting::Listen => "127.0.0.1:9443",
        Setting::Backend => "10.0.0.5:5000",
        Setting::BackendHost => "10.0.0.5",
        Setting::BackendPort => "5000",
        Setting::ProxyPort => "9443",
        Setting::DataDir => "/srv/gate",
        Setting::CertHostnames => "gate.lan, 10.8.0.2",
        Setting::Cert => "/etc/gate/server.pem",
        Setting::Key => "/etc/gate/server.key",
        Setting::HealthInterval => "500ms",
        Setting::HealthRise => "4",
        Setting::HealthFall => "5",
        Setting::AllowedBackends => "10.0.0.7:49100-49101",
        Setting::MaxConnections => "7",
        Setting::WebRoot => "/srv/app",
        Setting::AppQuery => "?s={wss}",
        Setting::AdbDir => "/opt/platform-tools",
    }
}

/// `Config` fields that are no user setting, and why.
const NOT_SETTINGS: &[(&str, &str)] = &[
    ("timeouts.tls_handshake", "fixed, like the timeouts in the HAProxy container's haproxy.cfg"),
    ("timeouts.request_head", "fixed, like the timeouts in the HAProxy container's haproxy.cfg"),
    ("timeouts.connect", "fixed, like the timeouts in the HAProxy container's haproxy.cfg"),
    ("timeouts.tunnel_idle", "fixed, like the timeouts in the HAProxy container's haproxy.cfg"),
    ("timeouts.write_stall", "fixed: how long a client may read nothing while the gate writes to it"),
    ("lan_scan_interval", "internal: how often the LAN interfaces are re-read"),
];

/// Settings without an environment variable, and why (the variables are the HAProxy container's).
const NO_ENV: &[(&str, &str)] = &[
    ("custom_cert", "the container takes a mounted server.pem, never a variable"),
    ("max_connections", "the container sets maxconn in its haproxy.cfg, not by a variable"),
];

/// Leaf paths of a config as JSON ("health.rise"); a null or a list is one leaf.
fn leaves(v: &Value, prefix: &str, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                leaves(v, &p, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

fn config_leaves(c: &Config) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    leaves(&serde_json::to_value(c).unwrap(), "", &mut out);
    out
}

/// What differs between two configs, by the default config's leaf paths.
fn changed(before: &Config, after: &Config) -> BTreeSet<String> {
    let (b, a) = (serde_json::to_value(before).unwrap(), serde_json::to_value(after).unwrap());
    let at = |v: &Value, path: &str| path.split('.').fold(v.clone(), |v, k| v.get(k).cloned().unwrap_or(Value::Null));
    config_leaves(&Config::default()).into_keys().filter(|p| at(&b, p) != at(&a, p)).collect()
}

#[test]
fn rows_are_in_the_order_of_the_ids() {
    for (i, spec) in SETTINGS.iter().enumerate() {
        assert_eq!(spec.id as usize, i, "{:?} is out of place", spec.id);
        assert!(std::ptr::eq(spec.id.spec(), spec));
        sample(spec.id);
    }
    assert_eq!(SETTINGS.len(), Setting::AdbDir as usize + 1, "every id has a row");
}

#[test]
fn names_keys_flags_and_variables_are_unique() {
    let unique = |what: &str, items: Vec<&str>| {
        let set: BTreeSet<_> = items.iter().collect();
        assert_eq!(set.len(), items.len(), "{what}: {items:?}");
    };
    unique("names", SETTINGS.iter().map(|s| s.name).collect());
    unique("keys", SETTINGS.iter().map(|s| s.key).collect());
    unique("flags", SETTINGS.iter().filter_map(|s| s.flag.as_ref().map(|f| f.long)).collect());
    unique("env vars", SETTINGS.iter().filter_map(|s| s.env).collect());
    for s in SETTINGS {
        if s.in_form() {
            assert_eq!(s.field, Some(s.key), "{:?}: a form row's errors show at its own field", s.id);
        }
    }
}

#[test]
fn every_config_field_is_in_the_table_with_a_flag_and_a_variable_or_a_reason() {
    let fields: BTreeSet<String> = config_leaves(&Config::default()).into_keys().collect();
    let explained: BTreeSet<String> = NOT_SETTINGS.iter().map(|(f, _)| f.to_string()).collect();
    let covered: BTreeSet<String> = SETTINGS.iter().map(|s| s.config.to_string()).collect();
    assert!(covered.is_subset(&fields), "rows name Config fields that do not exist: {:?}", &covered - &fields);
    assert_eq!(&fields - &explained, covered, "every Config field has a row, or a reason in NOT_SETTINGS");
    for field in &covered {
        let rows: Vec<_> = SETTINGS.iter().filter(|s| s.config == field).collect();
        assert!(rows.iter().any(|s| s.flag.is_some()), "{field} has no flag");
        let no_env = NO_ENV.iter().any(|(f, _)| f == field);
        assert_eq!(rows.iter().any(|s| s.env.is_some()), !no_env, "{field}: an env var, or a reason in NO_ENV");
    }
}

#[test]
fn each_row_sets_its_config_field_whichever_way_it_comes() {
    for spec in SETTINGS {
        let v = sample(spec.id);
        // --key means something only with --cert.
        let mut base = Config::default();
        let mut flags = CliOverrides::default();
        if let Some(r) = spec.flag.as_ref().and_then(|f| f.requires) {
            flags = flags.with(r, sample(r));
            flags.apply(&mut base).unwrap();
        }
        let want = BTreeSet::from([spec.config.to_string()]);

        let mut c = base.clone();
        (spec.set)(&mut c, OsStr::new(v), spec.id.via(Via::Name)).unwrap();
        assert_eq!(changed(&base, &c), want, "{:?} by name", spec.id);
        assert_ne!((spec.get)(&c), (spec.get)(&base), "{:?}: get shows the change", spec.id);
        if spec.flag.is_some() {
            let mut c = base.clone();
            flags.clone().with(spec.id, v).apply(&mut c).unwrap();
            assert_eq!(changed(&base, &c), want, "{:?} by flag", spec.id);
        }
        if let Some(var) = spec.env {
            let mut c = base.clone();
            c.apply_env(|k| (k == var).then(|| v.to_string())).unwrap();
            assert_eq!(changed(&base, &c), want, "{} by env", var);
        }
    }
}

#[test]
fn saved_values_read_back_as_they_were_written() {
    for spec in SETTINGS {
        let Some(saved) = &spec.saved else { continue };
        let mut c = Config::default();
        CliOverrides::default().with(Setting::Cert, "/c.pem").with(Setting::Key, "/c.key").apply(&mut c).unwrap();
        (spec.set)(&mut c, OsStr::new(sample(spec.id)), spec.id.via(Via::Name)).unwrap();
        let json = (saved.to_json)(&c);
        let mut back = Config::default();
        let n = spec.id.via(Via::Name);
        match saved.from_json {
            Some(read) => read(&mut back, &json, n).unwrap(),
            None => (spec.set)(&mut back, OsStr::new(&json_text(&json)), n).unwrap(),
        }
        assert_eq!((spec.get)(&back), (spec.get)(&c), "{:?} through {json}", spec.id);
    }
}

#[test]
fn settings_are_named_in_messages_as_they_always_were() {
    use Setting::*;
    let cases = [
        (Listen, Via::Name, "listen"),
        (Listen, Via::Flag, "--listen"),
        (Backend, Via::Name, "backend"),
        (Backend, Via::Flag, "--backend"),
        (BackendHost, Via::Name, "backend host"),
        (BackendHost, Via::Env, "BACKEND_HOST"),
        (BackendPort, Via::Name, "backend port"),
        (BackendPort, Via::Env, "BACKEND_PORT"),
        (ProxyPort, Via::Name, "proxy port"),
        (ProxyPort, Via::Env, "PROXY_PORT"),
        (DataDir, Via::Flag, "--data-dir"),
        (DataDir, Via::Env, "DATA_DIR"),
        (CertHostnames, Via::Name, "certificate host name"),
        (CertHostnames, Via::Flag, "--cert-hostnames"),
        (CertHostnames, Via::Env, "CERT_HOSTNAMES"),
        (Cert, Via::Flag, "--cert"),
        (Key, Via::Flag, "--key"),
        (HealthInterval, Via::Name, "health interval"),
        (HealthInterval, Via::Flag, "--health-interval"),
        (HealthInterval, Via::Env, "HEALTH_CHECK_INTERVAL"),
        (HealthRise, Via::Name, "health rise"),
        (HealthRise, Via::Flag, "--rise"),
        (HealthRise, Via::Env, "HEALTH_CHECK_RISE"),
        (HealthFall, Via::Name, "health fall"),
        (HealthFall, Via::Flag, "--fall"),
        (HealthFall, Via::Env, "HEALTH_CHECK_FALL"),
        (AllowedBackends, Via::Name, "allowed backends"),
        (AllowedBackends, Via::Flag, "--allowed-backends"),
        (AllowedBackends, Via::Env, "ALLOWED_BACKENDS"),
        (MaxConnections, Via::Name, "max connections"),
        (MaxConnections, Via::Flag, "--max-connections"),
        (WebRoot, Via::Name, "web app folder"),
        (WebRoot, Via::Flag, "--web-root"),
        (WebRoot, Via::Env, "WEB_ROOT"),
        (AppQuery, Via::Name, "app query"),
        (AppQuery, Via::Flag, "--app-query"),
        (AppQuery, Via::Env, "APP_QUERY"),
        (AdbDir, Via::Name, "adb folder"),
        (AdbDir, Via::Flag, "--adb-dir"),
        (AdbDir, Via::Env, "ADB_DIR"),
    ];
    for (s, via, want) in cases {
        assert_eq!(s.via(via).to_string(), want);
        assert_eq!(s.via(via), want);
    }
    assert_eq!(SettingName::Other("duration").to_string(), "duration");
    let e = ConfigError::new(HealthInterval.via(Via::Name), "5ms", "expected 10ms to 1h");
    assert_eq!(e.to_string(), "invalid health interval \"5ms\": expected 10ms to 1h");
}

#[test]
fn the_clap_arguments_are_the_tables_flags() {
    let cmd = CliOverrides::augment_args(Command::new("t").no_binary_name(true));
    let args: Vec<_> = cmd.get_arguments().collect();
    let rows: Vec<_> = SETTINGS.iter().filter_map(|s| s.flag.as_ref().map(|f| (s.id, f))).collect();
    assert_eq!(args.len(), rows.len());
    for (arg, (id, f)) in args.iter().zip(&rows) {
        assert_eq!(arg.get_long(), Some(f.long), "{id:?}");
        assert_eq!(arg.get_value_names().unwrap_or_default(), [f.value_name], "{id:?}");
        assert_eq!(arg.get_help().map(ToString::to_string).as_deref(), Some(f.help), "{id:?}");
        let mut given = vec![format!("--{}", f.long), sample(*id).to_string()];
        if let Some(r) = f.requires {
            given.extend([format!("--{}", r.spec().flag.as_ref().unwrap().long), sample(r).to_string()]);
            let alone = cmd.clone().try_get_matches_from([&given[0], &given[1]]);
            assert_eq!(alone.unwrap_err().kind(), clap::error::ErrorKind::MissingRequiredArgument, "{id:?}");
        }
        let m = cmd.clone().try_get_matches_from(&given).unwrap();
        let o = CliOverrides::from_arg_matches(&m).unwrap();
        assert_eq!(o.get(*id), Some(OsStr::new(sample(*id))), "{id:?}");
    }
    let none = CliOverrides::from_arg_matches(&cmd.clone().try_get_matches_from(Vec::<String>::new()).unwrap());
    assert_eq!(none.unwrap(), CliOverrides::default());
}

#[test]
fn a_key_without_a_certificate_changes_nothing() {
    let mut c = Config::default();
    CliOverrides::default().with(Setting::Key, "/k.pem").apply(&mut c).unwrap();
    assert_eq!(c, Config::default());
}

#[test]
fn checks_name_the_flag_or_the_variable_that_gave_the_value() {
    let c = Config { web_root: Some("/no/such/folder".into()), ..Config::default() };
    let by_env = CliOverrides::default().check_given(&c).unwrap_err();
    assert_eq!(by_env.setting, Setting::WebRoot.via(Via::Env));
    let by_flag = CliOverrides::default().with(Setting::WebRoot, "/no/such/folder").check_given(&c).unwrap_err();
    assert!(by_flag.to_string().starts_with("invalid --web-root \"/no/such/folder\": the folder does not exist"));
    CliOverrides::default().check_given(&Config::default()).unwrap();
}

#[test]
fn the_headless_doc_lists_every_flag_and_variable() {
    let doc = include_str!("../../../../docs/HEADLESS.md");
    let start = doc.find("## Settings: flags").expect("docs/HEADLESS.md's settings section");
    let section = &doc[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    for s in SETTINGS {
        if let Some(f) = &s.flag {
            let usage = format!("--{} {}", f.long, f.value_name);
            assert!(section.contains(&usage), "docs/HEADLESS.md: {usage}");
        }
        if let Some(var) = s.env {
            assert!(section.contains(&format!("`{var}`")), "docs/HEADLESS.md: {var}");
        }
    }
}

#[test]
fn json_text_reads_saved_values_as_the_form_shows_them() {
    assert_eq!(json_text(&serde_json::json!(null)), "");
    assert_eq!(json_text(&serde_json::json!(49100)), "49100");
    assert_eq!(json_text(&serde_json::json!(["a", "b"])), "a, b");
    assert_eq!(json_text(&serde_json::json!("2s")), "2s");
}
