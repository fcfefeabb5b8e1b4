//! Owns the running app's state and the gateway wiring: the in-process `Gateway` (on Tauri's async
//! runtime), the saved settings, the launch overrides, the demo echo server, and the status pump that
//! turns the engine's watch channel into `status` events, tray updates and notifications. Quit goes
//! through here so the gateway is always shut down.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use cxr_gate_core::demo::EchoServer;
use cxr_gate_core::{Config, Gateway, Status};
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tokio::sync::{watch, RwLock};

use crate::cli::{Launch, Override};
use crate::firewall::Ports;
use crate::settings::Settings;
use crate::view::{self, AppInfo, StatusView};
use crate::{notify, tray};

pub const STATUS_EVENT: &str = "status";
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

/// Sends the current view to the window now (after a change that isn't in the engine's status).
pub fn emit_status<R: Runtime>(app: &AppHandle<R>) {
    if let Some(st) = app.try_state::<AppState>() {
        let v = st.view();
        if let Err(e) = app.emit_to(MAIN_WINDOW, STATUS_EVENT, &v) {
            tracing::debug!("status event not sent: {e}");
        }
    }
}

/// Follows the engine's status: one `status` event per change (bursts coalesced to 10 per second),
/// the tray icon and tooltip, and DOWN/UP notifications.
pub async fn status_pump<R: Runtime>(app: AppHandle<R>, mut rx: watch::Receiver<Status>) {
    let mut tracker = notify::Tracker::default();
    let mut tray_look = None;
    loop {
        let s = rx.borrow_and_update().clone();
        let Some(st) = app.try_state::<AppState>() else {
            return;
        };
        let v = view::build(&s, &lock(&st.info));
        if let Err(e) = app.emit_to(MAIN_WINDOW, STATUS_EVENT, &v) {
            tracing::debug!("status event not sent: {e}");
        }
        let look = tray::look(&v);
        if tray_look.as_ref() != Some(&look) {
            tray::apply(&app, &look);
            tray_look = Some(look);
        }
        if let Some(t) = tracker.observe(&s.backend.addr, s.backend.state) {
            let (title, body) = notify::message(t, &s.backend.addr, s.backend.last_error.as_deref());
            tracing::info!("{title}: {body}");
            notify::show(&app, &title, &body);
        }
        if rx.changed().await.is_err() {
            return; // gateway gone
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Shows, unminimizes and focuses the main window.
pub fn show_window<R: Runtime>(app: &AppHandle<R>) {
    if let Some(w) = app.get_webview_window(MAIN_WINDOW) {
        let _ = w.show();
        let _ = w.unminimize();
        let _ = w.set_focus();
    }
}

/// Shuts the gateway and the demo server down, then exits. Safe to call twice.
pub fn quit<R: Runtime>(app: &AppHandle<R>) {
    let Some(st) = app.try_state::<AppState>() else {
        app.exit(0);
        return;
    };
    if st.quitting.swap(true, Ordering::SeqCst) {
        return;
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        shutdown(&app).await;
        app.exit(0);
    });
}

/// Stops the gateway (bounded: a stuck tunnel must not keep the app from quitting).
pub async fn shutdown<R: Runtime>(app: &AppHandle<R>) {
    let Some(st) = app.try_state::<AppState>() else {
        return;
    };
    let gw = st.gateway.write().await.take();
    if let Some(gw) = gw {
        tracing::info!("shutting down the gateway");
        if tokio::time::timeout(Duration::from_secs(5), gw.shutdown()).await.is_err() {
            tracing::warn!("gateway shutdown took over 5 s; exiting anyway");
        }
    }
    let demo = lock(&st.demo).take();
    if let Some(d) = demo {
        d.stop().await;
    }
}
