//! Owns the command line and the per-run overrides: the shared `CliOverrides` flags, `--demo`,
//! `--minimized`, `--quit` (and what a second launch asks of the running instance), the HAProxy env vars and the demo's fake LAN (`CXR_GATE_FAKE_LAN_IPS`). Builds the effective engine config with the precedence
//! defaults < settings file < env < flags (< demo backend), and says which settings a run overrides
//! (the settings table's rows with a `report`). Overrides are never written to settings.json.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use cxr_gate_core::config::{process_env, Setting, SETTINGS};
use cxr_gate_core::net::{parse_fake_ips, FixedLan};
use cxr_gate_core::{BackendAddr, CliOverrides, Config, ConfigError};

use crate::settings::Settings;

#[derive(Debug, Clone, Default, Parser)]
#[command(
    name = "cxr-gate",
    version,
    about = "CXR Gate: a wss:// gateway for the NVIDIA CloudXR Runtime, with a tray icon and a status window.",
    after_help = "Flags and the HAProxy container's env vars (BACKEND_HOST, BACKEND_PORT, PROXY_PORT, CERT_HOSTNAMES,\n\
HEALTH_CHECK_INTERVAL/RISE/FALL, ALLOWED_BACKENDS, DATA_DIR, WEB_ROOT, APP_QUERY) and ADB_DIR override the saved\n\
settings for this run only. Headsets on USB use the adb server on ANDROID_ADB_SERVER_PORT (default 5037)."
)]
pub struct Cli {
    #[command(flatten)]
    pub overrides: CliOverrides,
    /// Start a loopback WebSocket echo server that stands in for the CloudXR Runtime, and use it as the backend
    #[arg(long)]
    pub demo: bool,
    /// Start hidden in the tray
    #[arg(long)]
    pub minimized: bool,
    /// Close the running CXR Gate (the one with this data dir) cleanly, as its tray's Quit does, and
    /// exit; exits at once when none runs. The installer uses it before it replaces the program.
    #[arg(long)]
    pub quit: bool,
}

/// What a second launch asks of the running instance (the single-instance plugin hands it the
/// second command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondLaunch {
    /// The usual case (Start menu, desktop, autostart while running): show the window.
    Show,
    /// `--quit` (the installer, before an upgrade or an uninstall): quit cleanly.
    Quit,
}

impl SecondLaunch {
    /// From the second launch's arguments (`argv[0]` the program). A command line this version
    /// cannot read (a newer one's flags) still shows the window, as any start by hand does.
    pub fn from_args(argv: &[String]) -> Self {
        match Cli::try_parse_from(argv) {
            Ok(c) if c.quit => Self::Quit,
            _ => Self::Show,
        }
    }
}

/// Documentation addresses (192.0.2.x…) shown as this machine's LAN instead of its own, for
/// screenshots that show neither a real network nor a different one on every machine.
pub const FAKE_LAN_ENV: &str = "CXR_GATE_FAKE_LAN_IPS";

/// The fake LAN for this run: only in demo mode, where nothing real depends on the addresses;
/// without `--demo` the variable is ignored, with a warning.
pub fn fake_lan(demo: bool, value: Option<&str>) -> Result<Option<FixedLan>, String> {
    match value {
        None => Ok(None),
        Some(_) if !demo => {
            tracing::warn!("{FAKE_LAN_ENV} is ignored: it applies with --demo only");
            Ok(None)
        }
        Some(v) => parse_fake_ips(v).map(Some).map_err(|e| format!("invalid {FAKE_LAN_ENV} {v:?}: {e}")),
    }
}

/// Where a setting's value for this run came from, when not from settings.json.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Env,
    Flag,
    Demo,
}

/// Everything given at launch that overrides settings for this run.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    pub env: BTreeMap<String, String>,
    pub flags: CliOverrides,
    /// Set once the demo echo server is up.
    pub demo_backend: Option<SocketAddr>,
}

/// A setting replaced for this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub setting: Setting,
    pub source: Source,
    /// The value in effect, as text.
    pub value: String,
}

impl Override {
    /// The form field the note is shown at (a setting without one: its key, which the window ignores).
    pub fn field(&self) -> &'static str {
        let spec = self.setting.spec();
        spec.field.unwrap_or(spec.key)
    }

    /// For the window's "This run:" line: "health interval 500ms".
    pub fn summary(&self) -> String {
        let label = self.setting.spec().report.as_ref().map_or(self.setting.spec().name, |r| r.label);
        format!("{label} {}", self.value)
    }

    /// For the settings form: "This run uses 127.0.0.1:5555 (from --backend)".
    pub fn note(&self) -> String {
        let from = match self.source {
            Source::Env => "an environment variable",
            Source::Flag => "the command line",
            Source::Demo => "demo mode",
        };
        format!("This run uses {} (from {from}); the saved value applies next time.", self.value)
    }
}

impl Launch {
    pub fn from_process(cli: &Cli) -> Self {
        Self { env: process_env(), flags: cli.overrides.clone(), demo_backend: None }
    }

    /// The data dir for settings, certificate and logs, chosen explicitly by --data-dir or DATA_DIR.
    pub fn explicit_data_dir(&self) -> Option<PathBuf> {
        let var = Setting::DataDir.spec().env.unwrap_or_default();
        self.flags
            .path(Setting::DataDir)
            .or_else(|| self.env.get(var).filter(|v| !v.trim().is_empty()).map(PathBuf::from))
    }

    /// defaults < `settings` < env < flags < demo backend; validated. Also returns what was overridden.
    pub fn effective(&self, settings: &Settings) -> Result<(Config, Vec<Override>), ConfigError> {
        let mut cfg = Config::default();
        settings.apply_to(&mut cfg)?;
        let saved = cfg.clone();
        cfg.apply_env(|k| self.env.get(k).cloned())?;
        let after_env = cfg.clone();
        self.flags.apply(&mut cfg)?;
        let after_flags = cfg.clone();
        if let Some(d) = self.demo_backend {
            cfg.backend = BackendAddr::new(d.ip().to_string(), d.port());
        }
        cfg.validate()?;
        let mut overrides = Vec::new();
        for spec in SETTINGS {
            let Some(report) = &spec.report else { continue };
            let get = spec.get;
            let source = if get(&cfg) != get(&after_flags) {
                Source::Demo
            } else if get(&after_flags) != get(&after_env) {
                Source::Flag
            } else if get(&after_env) != get(&saved) {
                Source::Env
            } else {
                continue;
            };
            let value = report.shown.unwrap_or(get)(&cfg);
            overrides.push(Override { setting: spec.id, source, value });
        }
        Ok((cfg, overrides))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("cxr-gate").chain(args.iter().copied())).unwrap()
    }

    fn launch(args: &[&str], env: &[(&str, &str)]) -> Launch {
        Launch {
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            flags: cli(args).overrides,
            demo_backend: None,
        }
    }

    #[test]
    fn parses_shared_flags_and_app_flags() {
        let c = cli(&[
            "--backend",
            "127.0.0.1:5555",
            "--listen",
            "127.0.0.1:9443",
            "--health-interval",
            "200ms",
            "--demo",
            "--minimized",
        ]);
        assert!(c.demo && c.minimized);
        assert_eq!(c.overrides.get(Setting::Backend), Some(std::ffi::OsStr::new("127.0.0.1:5555")));
        assert!(Cli::try_parse_from(["cxr-gate", "--no-such-flag"]).is_err());
        let v = Cli::try_parse_from(["cxr-gate", "--version"]).unwrap_err();
        assert_eq!(v.kind(), clap::error::ErrorKind::DisplayVersion);
    }

    #[test]
    fn a_second_launch_with_quit_quits_and_any_other_shows_the_window() {
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(SecondLaunch::from_args(&argv(&["cxr-gate.exe", "--quit"])), SecondLaunch::Quit);
        assert_eq!(SecondLaunch::from_args(&argv(&["cxr-gate", "--data-dir", "/d", "--quit"])), SecondLaunch::Quit);
        assert_eq!(SecondLaunch::from_args(&argv(&["cxr-gate.exe"])), SecondLaunch::Show);
        assert_eq!(SecondLaunch::from_args(&argv(&["cxr-gate.exe", "--minimized"])), SecondLaunch::Show);
        // A flag this version does not know: a start all the same, never a quit.
        assert_eq!(SecondLaunch::from_args(&argv(&["cxr-gate.exe", "--quit", "--from-2030"])), SecondLaunch::Show);
        assert_eq!(SecondLaunch::from_args(&argv(&["cxr-gate.exe", "--quitx"])), SecondLaunch::Show);
        assert_eq!(SecondLaunch::from_args(&[]), SecondLaunch::Show);
    }

    #[test]
    fn precedence_defaults_settings_env_flags() {
        let settings =
            Settings { backend_host: "render-box".into(), proxy_port: 9000, health_rise: 5, ..Settings::default() };
        let l =
            launch(&["--rise", "7"], &[("PROXY_PORT", "9100"), ("HEALTH_CHECK_RISE", "6"), ("HEALTH_CHECK_FALL", "4")]);
        let (cfg, over) = l.effective(&settings).unwrap();
        assert_eq!(cfg.backend.host, "render-box", "settings beat defaults");
        assert_eq!(cfg.listen.port(), 9100, "env beats settings");
        assert_eq!(cfg.health.rise, 7, "flags beat env");
        assert_eq!(cfg.health.fall, 4);
        let by_field: BTreeMap<_, _> = over.iter().map(|o| (o.field(), o.source)).collect();
        assert_eq!(
            by_field,
            BTreeMap::from([("health_fall", Source::Env), ("health_rise", Source::Flag), ("proxy_port", Source::Env)])
        );
    }

    #[test]
    fn demo_backend_wins_and_is_reported() {
        let mut l = launch(&["--backend", "10.0.0.1:1"], &[]);
        l.demo_backend = Some("127.0.0.1:40001".parse().unwrap());
        let (cfg, over) = l.effective(&Settings::default()).unwrap();
        assert_eq!(cfg.backend.to_string(), "127.0.0.1:40001");
        let o = over.iter().find(|o| o.field() == "backend_port").unwrap();
        assert_eq!(o.source, Source::Demo);
        assert_eq!(o.note(), "This run uses 127.0.0.1:40001 (from demo mode); the saved value applies next time.");
    }

    #[test]
    fn e2e_style_flags_apply() {
        let l = launch(
            &[
                "--backend",
                "127.0.0.1:5555",
                "--listen",
                "127.0.0.1:9443",
                "--data-dir",
                "/tmp/x",
                "--health-interval",
                "200ms",
            ],
            &[],
        );
        let (cfg, _) = l.effective(&Settings::default()).unwrap();
        assert_eq!(cfg.listen.to_string(), "127.0.0.1:9443");
        assert_eq!(cfg.health.interval, Duration::from_millis(200));
        assert_eq!(cfg.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(l.explicit_data_dir(), Some(PathBuf::from("/tmp/x")));
    }

    #[test]
    fn bad_values_name_the_flag_or_variable() {
        let e = launch(&["--listen", "nope"], &[]).effective(&Settings::default()).unwrap_err();
        assert_eq!(e.setting, "--listen");
        let e = launch(&[], &[("BACKEND_PORT", "x")]).effective(&Settings::default()).unwrap_err();
        assert_eq!(e.setting, "BACKEND_PORT");
        assert!(e.to_string().starts_with("invalid BACKEND_PORT \"x\""), "{e}");
        let e = launch(&["--health-interval", "1ms"], &[]).effective(&Settings::default()).unwrap_err();
        assert_eq!(e.setting, "health interval");
    }

    #[test]
    fn web_app_flags_and_env_override_the_saved_folder() {
        let saved = Settings { web_root: Some("/saved/app".into()), ..Settings::default() };
        let (cfg, over) = launch(&["--web-root", "/flag/app"], &[("APP_QUERY", "?s={wss}")]).effective(&saved).unwrap();
        assert_eq!(cfg.web_root, Some(PathBuf::from("/flag/app")));
        assert_eq!(cfg.app_query, "?s={wss}");
        let by_field: BTreeMap<_, _> = over.iter().map(|o| (o.field(), (o.source, o.value.as_str()))).collect();
        assert_eq!(by_field["web_root"], (Source::Flag, "/flag/app"));
        assert_eq!(by_field["app_query"], (Source::Env, "?s={wss}"));
        let e = launch(&["--app-query", "?{x}"], &[]).effective(&Settings::default()).unwrap_err();
        assert_eq!(e.setting, "--app-query");
    }

    #[test]
    fn data_dir_from_env_counts_as_explicit() {
        assert_eq!(launch(&[], &[("DATA_DIR", "/srv/gate")]).explicit_data_dir(), Some(PathBuf::from("/srv/gate")));
        assert_eq!(launch(&[], &[("DATA_DIR", " ")]).explicit_data_dir(), None);
        assert_eq!(launch(&[], &[]).explicit_data_dir(), None);
    }

    #[test]
    fn the_help_names_every_environment_variable() {
        use clap::CommandFactory;
        let help = Cli::command().get_after_help().map(ToString::to_string).unwrap_or_default();
        let help = help
            .replace("HEALTH_CHECK_INTERVAL/RISE/FALL", "HEALTH_CHECK_INTERVAL HEALTH_CHECK_RISE HEALTH_CHECK_FALL");
        for var in SETTINGS.iter().filter_map(|s| s.env) {
            assert!(help.contains(var), "cxr-gate --help: {var}");
        }
    }

    #[test]
    fn every_reported_setting_is_told_with_its_label() {
        let l = launch(&["--max-connections", "8", "--health-interval", "500ms"], &[("BACKEND_PORT", "5000")]);
        let (_, over) = l.effective(&Settings::default()).unwrap();
        let lines: Vec<_> = over.iter().map(Override::summary).collect();
        assert_eq!(lines, ["backend localhost:5000", "health interval 500ms", "max connections 8"]);
        assert_eq!(over[2].field(), "max_connections", "no form field: the window shows it in the summary only");
    }

    #[test]
    fn fake_lan_only_in_demo_mode_and_named_when_wrong() {
        assert!(fake_lan(true, None).unwrap().is_none());
        assert!(fake_lan(false, Some("192.0.2.10")).unwrap().is_none(), "ignored without --demo");
        let lan = fake_lan(true, Some("192.0.2.10,192.0.2.20")).unwrap().unwrap();
        assert_eq!(lan.0.iter().map(|i| i.ip.as_str()).collect::<Vec<_>>(), ["192.0.2.10", "192.0.2.20"]);
        let e = fake_lan(true, Some("10.0.0.1")).unwrap_err();
        assert!(
            e.starts_with("invalid CXR_GATE_FAKE_LAN_IPS \"10.0.0.1\": 10.0.0.1 is not a documentation address"),
            "{e}"
        );
    }
}
