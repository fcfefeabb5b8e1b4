//! Owns the window's and the app's lifetime: show (tray, second launch, start-up), hide to the
//! tray (the close button), quit (tray menu, signals, a second launch with `--quit`) and the
//! bounded gateway shutdown that every way out goes through; whether an instance runs (for
//! `--quit`). Records whether the window is shown, for the status pump.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tauri::{AppHandle, Manager, Runtime};

use crate::state::{lock, AppState, MAIN_WINDOW};
use crate::{notify, webview};

/// The window was shown or hidden: the pump sends `status` events only while it is shown.
fn set_shown<R: Runtime>(app: &AppHandle<R>, shown: bool) {
    if let Some(st) = app.try_state::<AppState>() {
        st.window_shown.send_if_modified(|s| std::mem::replace(s, shown) != shown);
    }
}

/// Shows, unminimizes and focuses the main window; without one, explains why there is none.
pub fn show_window<R: Runtime>(app: &AppHandle<R>) {
    if webview::windowless(app) {
        webview::explain(app);
        return;
    }
    if let Some(w) = app.get_webview_window(MAIN_WINDOW) {
        let _ = w.show();
        let _ = w.unminimize();
        let _ = w.set_focus();
    }
    set_shown(app, true);
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

/// Quit is under way (the last window closing must not keep the app in the tray then).
pub fn quitting(app: &AppHandle) -> bool {
    app.try_state::<AppState>().map(|s| s.quitting.load(Ordering::SeqCst)).unwrap_or(false)
}

/// Ctrl+C in a terminal, or SIGTERM at logout: quit like the tray's Quit (the gateway closes cleanly).
pub async fn quit_on_signal(app: AppHandle) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    #[cfg(not(unix))]
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    tracing::info!("signal received: quitting");
    quit(&app);
}

/// Close button: hide to the tray (telling the user once), or quit when there is no tray.
pub fn close_to_tray(app: &AppHandle) {
    let Some(st) = app.try_state::<AppState>() else {
        app.exit(0);
        return;
    };
    if !lock(&st.info).tray || st.quitting.load(Ordering::SeqCst) {
        quit(app);
        return;
    }
    if let Some(w) = app.get_webview_window(MAIN_WINDOW) {
        let _ = w.hide();
    }
    set_shown(app, false);
    if st.note_close_to_tray_notice() {
        notify::show(
            app,
            "CXR Gate is still running",
            "The gateway keeps serving headsets. Open it from the tray icon; Quit is in its menu.",
        );
    }
}

/// Whether an instance with this single-instance identity runs, told the way the single-instance
/// plugin tells it: its named mutex `<identity>-sim` on Windows, its D-Bus name
/// `<identity>.SingleInstance` on Linux. `None` when it cannot be told (then `--quit` goes through
/// the plugin, which hands it over or finds nothing to quit).
pub fn instance_running(identity: &str) -> Option<bool> {
    #[cfg(windows)]
    {
        use windows_sys::Win32::Foundation::{CloseHandle, GetLastError, ERROR_FILE_NOT_FOUND};
        use windows_sys::Win32::System::Threading::{OpenMutexW, SYNCHRONIZATION_SYNCHRONIZE};
        let name: Vec<u16> = format!("{identity}-sim").encode_utf16().chain(std::iter::once(0)).collect();
        // SAFETY: a NUL-terminated UTF-16 name; the handle, when one is returned, is closed here.
        unsafe {
            let h = OpenMutexW(SYNCHRONIZATION_SYNCHRONIZE, 0, name.as_ptr());
            if !h.is_null() {
                CloseHandle(h);
                return Some(true);
            }
            // Another error (access denied: another user's instance in this session) means it exists.
            Some(GetLastError() != ERROR_FILE_NOT_FOUND)
        }
    }
    #[cfg(target_os = "linux")]
    {
        let name = format!("{identity}.SingleInstance");
        let conn = zbus::blocking::Connection::session().ok()?;
        let bus = zbus::blocking::fdo::DBusProxy::new(&conn).ok()?;
        bus.name_has_owner(name.as_str().try_into().ok()?).ok()
    }
    #[cfg(not(any(windows, target_os = "linux")))]
    {
        let _ = identity;
        None
    }
}
