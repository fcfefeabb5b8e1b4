//! Owns the status pump: the one way data flows from the engine to the user. It follows the
//! engine's status (a watch channel) and drives the `status` event to the window, the tray icon
//! and tooltip (via `tray`), and DOWN/UP notifications.

use std::time::Duration;

use cxr_gate_core::Status;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tokio::sync::watch;

use crate::state::{lock, AppState, MAIN_WINDOW};
use crate::{notify, tray, view};

pub const STATUS_EVENT: &str = "status";

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
