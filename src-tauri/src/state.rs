//! Owns the running app's data: the in-process `Gateway` (on Tauri's async runtime), the saved
//! settings, the launch overrides, the demo echo server, whether the window is shown, and applying
//! settings to the gateway. The status pump (`pump.rs`) and the window/quit lifecycle
//! (`lifecycle.rs`) read and change it; it calls neither.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

use cxr_gate_core::adb::watch::UsbWatch;
use cxr_gate_core::demo::EchoServer;
use cxr_gate_core::{Config, Gateway, Status};
use tokio::sync::{watch, RwLock};

use crate::cli::{Launch, Override};
use crate::settings::Settings;
use crate::view::{self, AppInfo, StatusView};
use cxr_gate_core::firewall::Ports;

/// The window's label (tauri.conf.json).
pub const MAIN_WINDOW: &str = "main";

pub struct AppState {
    /// None once shut down.
    pub gateway: RwLock<Option<Gateway>>,
    pub status: watch::Receiver<Status>,
    pub launch: Launch,
    pub settings_path: PathBuf,
    pub settings: Mutex<Settings>,
    pub overrides: Mutex<Vec<Override>>,
    pub info: Mutex<AppInfo>,
    pub demo: Mutex<Option<EchoServer>>,
    pub quitting: AtomicBool,
    /// The window is shown (not hidden to the tray): the pump sends `status` events only then.
    pub window_shown: watch::Sender<bool>,
    /// Serialises settings changes (form save, certificate buttons): see [`AppState::begin_change`].
    pub apply_lock: tokio::sync::Mutex<()>,
    /// Headsets on USB (adb), followed while the window is shown.
    pub usb: UsbWatch,
}

/// A poisoned lock only means another thread panicked mid-update; the data is still usable.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AppState {
    pub fn view(&self) -> StatusView {
        let s = self.status.borrow().clone();
        view::build(&s, &lock(&self.info), &self.usb.status())
    }

    pub fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    pub fn firewall_ports(&self) -> Ports {
        let s = self.status.borrow();
        Ports {
            signaling: s.ports.signaling_port,
            media_first: s.ports.media_first,
            media_last: s.ports.media_last,
            proxy: s.listener.port,
        }
    }

    /// Starts a settings change. Changes run one at a time, each from reading the current
    /// settings to the engine running the new ones, so two quick saves cannot interleave (the file
    /// from one, the engine from the other).
    pub async fn begin_change(&self) -> SettingsChange<'_> {
        SettingsChange { st: self, _turn: self.apply_lock.lock().await }
    }

    /// Flags the "still running in the tray" notice as shown, once; true the first time. The
    /// file and the settings in memory change together, under the same lock as a save's.
    pub fn note_close_to_tray_notice(&self) -> bool {
        let mut s = lock(&self.settings);
        if s.close_to_tray_notified {
            return false;
        }
        s.close_to_tray_notified = true;
        if let Err(e) = crate::settings::save(&self.settings_path, &s) {
            tracing::warn!("could not save settings: {e}");
        }
        true
    }

    async fn apply(&self, cfg: Config) -> Result<(), String> {
        let gw = self.gateway.read().await;
        let gw = gw.as_ref().ok_or("CXR Gate is shutting down")?;
        gw.apply_config(cfg).await.map_err(|e| e.to_string())
    }

    pub fn set_overrides(&self, o: Vec<Override>) {
        lock(&self.info).overrides = describe_overrides(&o);
        *lock(&self.overrides) = o;
    }
}

/// A settings change holding its turn (see [`AppState::begin_change`]).
pub struct SettingsChange<'a> {
    st: &'a AppState,
    _turn: tokio::sync::MutexGuard<'a, ()>,
}

impl SettingsChange<'_> {
    /// The settings to base the change on: no other change can land before this one's.
    pub fn current(&self) -> Settings {
        self.st.settings()
    }

    /// Saves `next`, then applies it with this run's overrides to the gateway; ends the change.
    pub async fn save_and_apply(self, mut next: Settings) -> Result<(), String> {
        let st = self.st;
        let (cfg, overrides) = st.launch.effective(&next).map_err(|e| e.to_string())?;
        {
            // The file and memory change together; the tray notice's flag (set outside of
            // changes, when the window closes) is kept, not reverted by a form read before it.
            let mut held = lock(&st.settings);
            next.close_to_tray_notified |= held.close_to_tray_notified;
            crate::settings::save(&st.settings_path, &next)
                .map_err(|e| format!("Could not save {}: {e}", st.settings_path.display()))?;
            *held = next;
        }
        st.set_overrides(overrides);
        st.usb.set_adb_dir(cfg.adb_dir.clone());
        st.apply(cfg).await
    }
}

/// The "This run:" line's parts, each told by its settings table row's `report` label; the two
/// backend fields give one line.
pub fn describe_overrides(o: &[Override]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in o.iter().map(Override::summary) {
        if !out.contains(&line) {
            out.push(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    /// The app's state around a real gateway on loopback (a free port, its own data dir).
    async fn app_state(dir: &Path) -> AppState {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let listen = format!("127.0.0.1:{port}");
        let data = dir.to_string_lossy().to_string();
        let cli = Cli::try_parse_from(["cxr-gate", "--listen", &listen, "--data-dir", &data]).unwrap();
        let launch = Launch { flags: cli.overrides, ..Launch::default() };
        let settings = Settings { backend_host: "127.0.0.1".into(), ..Settings::default() };
        let (cfg, _) = launch.effective(&settings).unwrap();
        let gateway = Gateway::start(cfg).await.unwrap();
        let status = gateway.status();
        let info = AppInfo {
            version: String::new(),
            demo: false,
            data_dir: data.clone(),
            settings_path: String::new(),
            log_path: String::new(),
            notice: None,
            tray: false,
            overrides: Vec::new(),
            platform: String::new(),
        };
        AppState {
            gateway: RwLock::new(Some(gateway)),
            status,
            launch,
            settings_path: crate::settings::path_in(dir),
            settings: Mutex::new(settings),
            overrides: Mutex::new(Vec::new()),
            info: Mutex::new(info),
            demo: Mutex::new(None),
            quitting: AtomicBool::new(false),
            window_shown: watch::Sender::new(false),
            apply_lock: tokio::sync::Mutex::new(()),
            // Never shown: it asks nothing.
            usb: UsbWatch::start(
                cxr_gate_core::adb::watch::WatchConfig {
                    server: cxr_gate_core::adb::Server::on_port(1),
                    adb_dir: None,
                },
                watch::channel(false).1,
            ),
        }
    }

    /// Quick saves from several tasks at once: after each burst the file, the settings in memory
    /// and the engine all hold the change that ran last.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_saves_end_with_the_file_and_the_engine_on_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let st = Arc::new(app_state(dir.path()).await);
        for round in 0..25u16 {
            let order = Arc::new(Mutex::new(Vec::new()));
            let saves: Vec<_> = (0..4u16)
                .map(|i| {
                    let (st, order) = (st.clone(), order.clone());
                    tokio::spawn(async move {
                        let port = 40000 + round * 10 + i;
                        let change = st.begin_change().await;
                        lock(&order).push(port);
                        let next = Settings { backend_port: port, health_rise: 1 + i as u32, ..change.current() };
                        change.save_and_apply(next).await
                    })
                })
                .collect();
            for s in saves {
                s.await.unwrap().unwrap();
            }
            let last = *lock(&order).last().unwrap();
            let file = crate::settings::load(&st.settings_path);
            assert_eq!(file.notice, None);
            assert_eq!(file.settings, st.settings(), "round {round}: the file and memory differ");
            assert_eq!(file.settings.backend_port, last, "round {round}: not the last change");
            let engine = st.gateway.read().await.as_ref().unwrap().config();
            assert_eq!(engine.backend.port, last, "round {round}: the engine runs another change");
            assert_eq!(engine.health.rise, file.settings.health_rise, "round {round}");
            assert_eq!(st.status.borrow().backend.addr, format!("127.0.0.1:{last}"), "round {round}");
        }
        let gw = st.gateway.write().await.take();
        if let Some(gw) = gw {
            gw.shutdown().await;
        }
    }

    /// The window closing during a save: the file keeps both the save and the notice's flag.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_tray_notice_flag_and_a_save_do_not_undo_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let st = Arc::new(app_state(dir.path()).await);
        let change = st.begin_change().await;
        let next = Settings { backend_port: 41000, ..change.current() };
        // Set while the change holds a copy from before it.
        assert!(st.note_close_to_tray_notice());
        assert!(!st.note_close_to_tray_notice(), "only once");
        change.save_and_apply(next).await.unwrap();
        let file = crate::settings::load(&st.settings_path).settings;
        assert_eq!(file, st.settings());
        assert!(file.close_to_tray_notified && file.backend_port == 41000, "{file:?}");
        let gw = st.gateway.write().await.take();
        if let Some(gw) = gw {
            gw.shutdown().await;
        }
    }
}
