//! Owns the status pump: the one way data flows from the engine to the user. It follows the
//! engine's status (a watch channel) and whether the window is shown, and drives the `status`
//! event to the window, the tray icon and tooltip (via `tray`), DOWN/UP notifications and one
//! notification per headset refusing the current certificate. The USB headsets' list (adb) is
//! followed too and joined into the view.

use std::sync::Mutex;
use std::time::Duration;

use cxr_gate_core::Status;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tokio::sync::watch;

use crate::state::{lock, AppState, MAIN_WINDOW};
use crate::view::{self, StatusView};
use crate::{notify, tray};

pub const STATUS_EVENT: &str = "status";

/// The view the window was last sent. The engine republishes unchanged parts (the periodic LAN,
/// certificate and port checks), and an identical view would cost the window a render for nothing.
#[derive(Default)]
struct LastSent(Mutex<Option<serde_json::Value>>);

/// Sends `v` to the window, unless it is the view the window already has and `force` is false.
fn send<R: Runtime>(app: &AppHandle<R>, v: &StatusView, force: bool) {
    let json = match serde_json::to_value(v) {
        Ok(j) => j,
        Err(e) => {
            tracing::debug!("status view not serialised: {e}");
            return;
        }
    };
    let last = app.try_state::<LastSent>();
    // Held while emitting, so the pump and a command cannot record each other's view out of order.
    let mut last = last.as_ref().map(|l| lock(&l.0));
    if !force && last.as_ref().is_some_and(|l| l.as_ref() == Some(&json)) {
        return;
    }
    if let Err(e) = app.emit_to(MAIN_WINDOW, STATUS_EVENT, &json) {
        tracing::debug!("status event not sent: {e}");
    }
    if let Some(l) = last.as_mut() {
        **l = Some(json);
    }
}

/// Sends the current view to the window now (after a change that isn't in the engine's status).
pub fn emit_status<R: Runtime>(app: &AppHandle<R>) {
    if let Some(st) = app.try_state::<AppState>() {
        send(app, &st.view(), true);
    }
}

/// Follows the engine's status: the tray icon and tooltip, DOWN/UP notifications, and one `status`
/// event per change of what the window shows (bursts coalesced to 10 per second). While the window
/// is hidden it gets no events (nothing would see them); it gets the current view when shown again.
pub async fn status_pump<R: Runtime>(app: AppHandle<R>, mut rx: watch::Receiver<Status>) {
    let Some((mut shown, mut usb)) =
        app.try_state::<AppState>().map(|st| (st.window_shown.subscribe(), st.usb.subscribe()))
    else {
        return;
    };
    app.manage(LastSent::default());
    let mut tracker = notify::Tracker::default();
    let mut refusals = notify::Refusals::default();
    let mut tray_look = None;
    loop {
        let s = rx.borrow_and_update().clone();
        let visible = *shown.borrow_and_update();
        let Some(st) = app.try_state::<AppState>() else {
            return;
        };
        let u = usb.borrow_and_update().clone();
        let v = view::build(&s, &lock(&st.info), &u);
        if visible {
            send(&app, &v, false);
        } else if let Some(last) = app.try_state::<LastSent>() {
            *lock(&last.0) = None;
        }
        let look = tray::look(&v);
        if tray_look.as_ref() != Some(&look) {
            // In the log too: without a window, the tray is what the user sees.
            if app.tray_by_id(tray::TRAY_ID).is_some() {
                tracing::info!("tray: {}", look.tooltip);
            }
            tray::apply(&app, &look);
            tray_look = Some(look);
        }
        if let Some(t) = tracker.observe(&s.backend.addr, s.backend.state) {
            let (title, body) = notify::message(t, &s.backend.addr, s.backend.last_error.as_deref());
            tracing::info!("{title}: {body}");
            notify::show(&app, &title, &body);
        }
        for (title, body) in refusals.observe(&s, std::time::Instant::now()) {
            notify::show(&app, &title, &body);
        }
        // Held-back refusals are summed up when due, even if the status does not change.
        let due = refusals.due().map(tokio::time::Instant::from_std);
        tokio::select! {
            changed = rx.changed() => if changed.is_err() {
                return; // gateway gone
            },
            changed = shown.changed() => if changed.is_err() {
                return; // app state gone
            },
            _ = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)), if due.is_some() => {}
            changed = usb.changed() => if changed.is_err() {
                return; // app state gone
            },
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
