//! Owns the running app's data: the in-process `Gateway` (on Tauri's async runtime), the saved
//! settings, the launch overrides, the demo echo server, whether the window is shown, and applying
//! settings to the gateway. The status pump (`pump.rs`) and the window/quit lifecycle
//! (`lifecycle.rs`) read and change it; it calls neither.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

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
    /// Serialises settings changes (form save, certificate buttons) so they can't interleave.
    pub apply_lock: tokio::sync::Mutex<()>,
}

/// A poisoned lock only means another thread panicked mid-update; the data is still usable.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AppState {
    pub fn view(&self) -> StatusView {
        let s = self.status.borrow().clone();
        view::build(&s, &lock(&self.info))
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

    /// Saves `next`, then applies settings + this run's overrides to the gateway.
    /// The caller holds `apply_lock`.
    pub async fn save_and_apply(&self, next: Settings) -> Result<(), String> {
        let (cfg, overrides) = self.launch.effective(&next).map_err(|e| e.to_string())?;
        crate::settings::save(&self.settings_path, &next)
            .map_err(|e| format!("Could not save {}: {e}", self.settings_path.display()))?;
        *lock(&self.settings) = next;
        self.set_overrides(overrides);
        self.apply(cfg).await
    }

    pub async fn apply(&self, cfg: Config) -> Result<(), String> {
        let gw = self.gateway.read().await;
        let gw = gw.as_ref().ok_or("CXR Gate is shutting down")?;
        gw.apply_config(cfg).await.map_err(|e| e.to_string())
    }

    pub fn set_overrides(&self, o: Vec<Override>) {
        lock(&self.info).overrides = describe_overrides(&o);
        *lock(&self.overrides) = o;
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
