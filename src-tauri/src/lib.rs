//! CXR Gate desktop app: the Tauri builder, plugins, setup and the app's lifetime. Parses the
//! command line, sets up logging (stderr + a file in the data dir), starts the gateway in-process,
//! the tray and the status pump, then the window (which may fail to open: see `webview`); closing
//! the window hides it to the tray, Quit shuts down.

mod cli;
mod commands;
mod console;
mod firewall;
mod lifecycle;
mod logging;
mod notify;
mod pump;
mod settings;
mod state;
mod tools;
mod tray;
mod trust;
mod view;
mod webview;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use clap::Parser;
use cxr_gate_core::adb;
use cxr_gate_core::adb::watch::{UsbWatch, WatchConfig};
use cxr_gate_core::demo::EchoServer;
use cxr_gate_core::{Gateway, Parts};
use tauri::{App, Manager, RunEvent, WindowEvent};
use tauri_plugin_autostart::ManagerExt as _;

use crate::cli::{Cli, Launch, SecondLaunch};
use crate::settings::Settings;
use crate::state::{AppState, MAIN_WINDOW};
use crate::view::AppInfo;

/// Must match tauri.conf.json; the single-instance name (D-Bus on Linux, a mutex on Windows) is derived from it.
const IDENTIFIER: &str = cxr_gate_core::config::saved::DESKTOP_IDENTIFIER;

/// The login item starts the app with this flag: hidden in the tray (a start by hand shows the window).
const AUTOSTART_ARG: &str = "--minimized";

/// Exit code for a bad flag or env value (as clap uses for usage errors).
const EXIT_USAGE: i32 = 2;

/// Runs the app; returns the process exit code.
pub fn run() -> i32 {
    #[cfg(windows)]
    console::accept_ctrl_c();
    // The elevated "Fix the firewall" step: this program re-run as administrator (firewall/fixcmd.rs).
    let args: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    if firewall::fixcmd::asked(&args) {
        return firewall::fixcmd::run(&args);
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // --help / --version print to stdout and succeed; real errors exit 2.
            console::attach_parent();
            let _ = e.print();
            return if e.use_stderr() { EXIT_USAGE } else { 0 };
        }
    };
    let launch = Launch::from_process(&cli);
    let instance = launch.explicit_data_dir().map_or_else(|| IDENTIFIER.to_string(), |d| instance_identifier(&d));
    // `--quit` with nothing to quit: done, before anything starts (no log, no data dir).
    if cli.quit && lifecycle::instance_running(&instance) == Some(false) {
        return 0;
    }
    // Flags and env vars are checked before any window opens (settings can't make them valid).
    let data_dir = match launch.effective(&Settings::default()) {
        Ok((cfg, _)) => cfg.data_dir,
        Err(e) => {
            console::attach_parent();
            eprintln!("cxr-gate: {e}");
            return EXIT_USAGE;
        }
    };
    // The log file only once this is the instance that runs (setup): a second launch must not rotate it.
    logging::init();

    let mut single =
        tauri_plugin_single_instance::Builder::new().callback(|app, argv, _cwd| match SecondLaunch::from_args(&argv) {
            SecondLaunch::Quit => {
                tracing::info!("CXR Gate was started with --quit (the installer, say): quitting");
                lifecycle::quit(app);
            }
            SecondLaunch::Show => {
                tracing::info!("CXR Gate was started again: showing this window instead");
                lifecycle::show_window(app);
            }
        });

    // Another data dir is another gateway (the e2e test's, say): it runs beside the usual one, as
    // an instance of its own. Linux keys the single-instance lock on the D-Bus name; Windows and
    // macOS on the app identifier (a named mutex there), so that changes too, and with it the
    // WebView's own data folder, which two processes must not share anyway.
    let mut context = tauri::generate_context!();
    if launch.explicit_data_dir().is_some() {
        single = single.dbus_id(instance.clone());
        if cfg!(not(target_os = "linux")) {
            context.config_mut().identifier = instance;
        }
    }
    let app = tauri::Builder::default()
        .plugin(single.build()) // first: a second launch must exit before anything else starts
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_shell::init())
        .plugin(tauri_plugin_opener::Builder::new().open_js_links_on_click(false).build())
        .plugin(tauri_plugin_autostart::Builder::new().arg(AUTOSTART_ARG).build())
        .invoke_handler(tauri::generate_handler![
            commands::get_status,
            commands::get_settings,
            commands::save_settings,
            commands::set_cert_hostnames,
            commands::dismiss_notice,
            commands::qr,
            commands::copy_text,
            commands::regenerate_cert,
            commands::choose_custom_cert,
            commands::choose_web_root,
            commands::use_generated_cert,
            commands::restart_proxy,
            commands::firewall_status,
            commands::add_firewall_rules,
            commands::open_network_settings,
            commands::ca_trust_status,
            commands::trust_ca,
            commands::rotate_ca,
            commands::usb_refresh,
            commands::usb_open,
            commands::usb_accept,
            commands::choose_adb_dir,
        ])
        .on_window_event(|window, event| {
            if let WindowEvent::CloseRequested { api, .. } = event {
                if window.label() == MAIN_WINDOW {
                    api.prevent_close();
                    lifecycle::close_to_tray(window.app_handle());
                }
            }
        })
        .setup({
            let data_dir = data_dir.clone();
            move |app| setup(app, &cli, launch.clone(), &data_dir)
        })
        .build(context);
    let app = match app {
        Ok(a) => a,
        Err(e) => {
            // Not a second launch (that exits in the single-instance plugin): this one's log.
            logging::attach(&data_dir);
            tracing::error!("could not start the window: {e}");
            console::attach_parent();
            eprintln!("cxr-gate: could not start: {e}");
            return 1;
        }
    };
    app.run_return(|app, event| match event {
        // The last window closed without Quit: keep running in the tray.
        // Without a window (it could not open, its process died, or it is being re-created) the gate keeps serving too.
        RunEvent::ExitRequested { code: None, api, .. }
            if (app.tray_by_id(tray::TRAY_ID).is_some() || webview::windowless(app) || webview::recreating(app))
                && !lifecycle::quitting(app) =>
        {
            api.prevent_exit();
        }
        RunEvent::Exit => {
            // Any way out (Quit, a signal from the session) shuts the gateway down first.
            tauri::async_runtime::block_on(lifecycle::shutdown(app));
            tracing::info!("CXR Gate stopped");
        }
        _ => {}
    })
}

fn setup(app: &mut App, cli: &Cli, mut launch: Launch, log_dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    // `--quit` got this far only when no instance ran (the plugin hands a second launch over and
    // exits before this): nothing to quit, nothing to start, no log file.
    if cli.quit {
        tracing::info!("--quit: no CXR Gate is running");
        tauri_plugin_single_instance::destroy(app);
        std::process::exit(0);
    }
    // Past the single-instance check (the plugin's own setup exits a second launch before this).
    let log_path = logging::attach(log_dir);
    tracing::info!("CXR Gate {} starting; data dir {}", env!("CARGO_PKG_VERSION"), log_dir.display());
    let handle = app.handle().clone();
    let settings_dir = match launch.explicit_data_dir() {
        Some(d) => d,
        None => app.path().app_config_dir()?,
    };
    let settings_path = settings::path_in(&settings_dir);
    let mut loaded = settings::load(&settings_path);
    if let Some(n) = &loaded.notice {
        tracing::warn!("{n}");
    }
    sync_login_item(&handle, launch.explicit_data_dir().is_some(), &settings_path, &mut loaded.settings);

    let demo = if cli.demo {
        let srv = tauri::async_runtime::block_on(EchoServer::start(([127, 0, 0, 1], 0).into()))
            .map_err(|e| format!("demo echo server: {e}"))?;
        tracing::info!("demo mode: echo server on {} stands in for the CloudXR Runtime", srv.addr());
        launch.demo_backend = Some(srv.addr());
        Some(srv)
    } else {
        None
    };
    let (cfg, overrides) = match launch.effective(&loaded.settings) {
        Ok(x) => x,
        Err(e) => fail_usage(&e.to_string()),
    };
    let data_dir = cfg.data_dir.clone();
    let mut parts = Parts::default();
    match cli::fake_lan(cli.demo, std::env::var(cli::FAKE_LAN_ENV).ok().as_deref()) {
        Ok(Some(lan)) => parts.lan = Arc::new(lan),
        Ok(None) => {}
        Err(e) => fail_usage(&e),
    }
    let gateway = match tauri::async_runtime::block_on(Gateway::start_parts(cfg, parts)) {
        Ok(g) => g,
        Err(e) => fail_usage(&e.to_string()),
    };
    let status = gateway.status();

    let tray_ok = match tray::create(&handle) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!("no tray icon ({e}); closing the window will quit");
            false
        }
    };
    let info = AppInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        demo: cli.demo,
        data_dir: data_dir.display().to_string(),
        settings_path: settings_path.display().to_string(),
        log_path: log_path.map(|p| p.display().to_string()).unwrap_or_default(),
        notice: loaded.notice,
        tray: tray_ok,
        overrides: state::describe_overrides(&overrides),
        platform: std::env::consts::OS.to_string(),
    };
    let start_minimized = start_hidden(cli.minimized, loaded.settings.start_minimized, tray_ok);
    let window_shown = tokio::sync::watch::Sender::new(false);
    // Headsets on USB: adb is asked only while the window is shown (or on "Look again").
    let usb_config = WatchConfig { server: adb::Server::from_env(), adb_dir: gateway.config().adb_dir };
    let usb = tauri::async_runtime::block_on(async { UsbWatch::start(usb_config, window_shown.subscribe()) });
    app.manage(AppState {
        gateway: tokio::sync::RwLock::new(Some(gateway)),
        status: status.clone(),
        launch,
        settings_path,
        settings: Mutex::new(loaded.settings),
        overrides: Mutex::new(overrides),
        info: Mutex::new(info),
        demo: Mutex::new(demo),
        quitting: AtomicBool::new(false),
        window_shown,
        apply_lock: tokio::sync::Mutex::new(()),
        usb,
    });

    tauri::async_runtime::spawn(pump::status_pump(handle.clone(), status));
    tauri::async_runtime::spawn(lifecycle::quit_on_signal(handle.clone()));
    // The window last: the gateway serves and the tray shows UP/DOWN whether it opens or not.
    match webview::open_main(&handle, !start_minimized, window_lost) {
        Ok(()) if !start_minimized => lifecycle::show_window(&handle),
        Ok(()) => {}
        Err(failure) => window_lost(&handle, failure, !start_minimized),
    }
    Ok(())
}

/// The login item at start-up: what "Start at login" says and whether to (re-)register the item.
/// The app's usual run (its own data dir) takes the item itself as the truth, so that the setting
/// says what Windows will do, whoever wrote or removed the item (this app's Settings, the
/// installer's "Start at login" option, the uninstaller, Task Manager's Startup tab); a registered
/// item is written again to point at this executable (an install in another folder). A run with a
/// data dir of its own never removes the item and only writes it when its own setting is on.
fn login_item_at_start(explicit_data_dir: bool, setting: bool, registered: Option<bool>) -> (bool, bool) {
    match (registered, explicit_data_dir) {
        (None, _) => (setting, false),
        (Some(reg), true) => (setting, setting && !reg),
        (Some(reg), false) => (reg, reg),
    }
}

fn sync_login_item<R: tauri::Runtime>(
    app: &tauri::AppHandle<R>,
    explicit_data_dir: bool,
    settings_path: &Path,
    settings: &mut Settings,
) {
    let al = app.autolaunch();
    let registered = match al.is_enabled() {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::warn!("start at login: the login item could not be read: {e}");
            None
        }
    };
    let (setting, enable) = login_item_at_start(explicit_data_dir, settings.start_at_login, registered);
    if enable {
        if let Err(e) = al.enable() {
            tracing::warn!("start at login: {e}");
        }
    }
    if setting != settings.start_at_login {
        tracing::info!(
            "start at login: the login item is {}; the setting now says so",
            if setting { "registered (the installer's option, say)" } else { "gone (removed outside the app)" }
        );
        settings.start_at_login = setting;
        if let Err(e) = settings::save(settings_path, settings) {
            tracing::warn!("start at login: could not save {}: {e}", settings_path.display());
        }
    }
}

/// The window could not open, or its webview died: the app carries on from the tray.
fn window_lost<R: tauri::Runtime>(app: &tauri::AppHandle<R>, failure: webview::WindowFailure, explain_now: bool) {
    tray::without_window(app);
    if app.tray_by_id(tray::TRAY_ID).is_none() {
        tracing::warn!("no window and no tray icon: the gateway serves until logout or Ctrl+C");
    }
    webview::run_without(app, failure, explain_now);
}

/// Whether the window starts hidden in the tray: at logon (the login item's flag) or when the user
/// chose "Start minimized to tray"; never without a tray to come back from.
fn start_hidden(minimized_flag: bool, start_minimized_setting: bool, tray: bool) -> bool {
    (minimized_flag || start_minimized_setting) && tray
}

/// A bad value that only shows once settings are merged: same treatment as a bad flag.
fn fail_usage(msg: &str) -> ! {
    tracing::error!("{msg}");
    console::attach_parent();
    eprintln!("cxr-gate: {msg}");
    std::process::exit(EXIT_USAGE)
}

/// The single-instance identity of a run with its own data dir: the app identifier plus a hash of
/// the directory, the same on every platform.
fn instance_identifier(data_dir: &Path) -> String {
    format!("{IDENTIFIER}.d{:016x}", fnv1a(data_dir.to_string_lossy().as_bytes()))
}

/// Stable across builds (unlike std's hasher), for the per-data-dir single-instance name.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_is_stable() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn each_data_dir_is_an_instance_of_its_own() {
        let a = instance_identifier(Path::new("/tmp/gate-a"));
        assert_eq!(a, format!("{IDENTIFIER}.d{:016x}", fnv1a(b"/tmp/gate-a")));
        assert_ne!(a, instance_identifier(Path::new("/tmp/gate-b")));
        assert_eq!(a, instance_identifier(Path::new("/tmp/gate-a")));
        // Still a valid identifier (reverse-DNS, as Tauri and D-Bus want it).
        assert!(a.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric())), "{a}");
    }

    #[test]
    fn identifier_matches_tauri_conf() {
        let conf: serde_json::Value = serde_json::from_str(include_str!("../tauri.conf.json")).unwrap();
        assert_eq!(conf["identifier"], IDENTIFIER);
        assert_ne!(conf["app"]["security"]["csp"], serde_json::Value::Null);
    }

    #[test]
    fn the_login_item_starts_hidden_and_a_start_by_hand_shows_the_window() {
        let at_logon = Cli::try_parse_from(["cxr-gate", AUTOSTART_ARG]).unwrap();
        assert!(start_hidden(at_logon.minimized, false, true));
        let by_hand = Cli::try_parse_from(["cxr-gate"]).unwrap();
        assert!(!start_hidden(by_hand.minimized, false, true));
        assert!(start_hidden(by_hand.minimized, true, true), "the user's own choice");
        assert!(!start_hidden(at_logon.minimized, true, false), "no tray: the window is the only way back");
    }

    #[test]
    fn the_window_is_created_by_the_app_after_the_gateway_and_no_bundler_claims_webview2() {
        let conf: serde_json::Value = serde_json::from_str(include_str!("../tauri.conf.json")).unwrap();
        let win = &conf["app"]["windows"][0];
        assert_eq!(win["label"], MAIN_WINDOW);
        // Tauri would build it before setup(), and a failure there ends the app.
        assert_eq!(win["create"], false);
        assert_eq!(win["visible"], false);
        // The Windows installer is this repository's own (installer/windows): it checks for the
        // WebView2 Runtime and carries no bootstrapper, and Tauri's bundler builds only the .deb.
        assert_eq!(conf["bundle"]["windows"], serde_json::Value::Null);
        assert_eq!(conf["bundle"]["targets"], serde_json::json!(["deb"]));
    }

    #[test]
    fn the_login_item_is_the_truth_for_the_usual_run_and_a_data_dir_run_only_adds_it() {
        // The usual run: the setting follows the item (the installer wrote it, or the uninstaller,
        // Task Manager or a user removed it); a registered item is rewritten for this executable.
        assert_eq!(login_item_at_start(false, false, Some(true)), (true, true));
        assert_eq!(login_item_at_start(false, true, Some(false)), (false, false));
        assert_eq!(login_item_at_start(false, true, Some(true)), (true, true));
        assert_eq!(login_item_at_start(false, false, Some(false)), (false, false));
        // Unreadable: nothing changes.
        assert_eq!(login_item_at_start(false, true, None), (true, false));
        assert_eq!(login_item_at_start(true, true, None), (true, false));
        // A run with its own data dir (a test's) never removes the real item nor adopts it.
        assert_eq!(login_item_at_start(true, false, Some(true)), (false, false));
        assert_eq!(login_item_at_start(true, true, Some(false)), (true, true));
        assert_eq!(login_item_at_start(true, true, Some(true)), (true, false));
    }
}
