//! Owns the main window's creation, after the gateway and the tray, its re-creation once when its
//! webview's browser process dies (WebView2's process-failed event: Task Manager, a GPU reset, an
//! update), and the app without a window: when the webview cannot be created (the WebView2
//! Runtime missing or damaged on Windows, WebKitGTK on Linux) or the re-created one fails too, the
//! gateway keeps serving, the log says why with the webview version found, a native message box
//! (no webview needed, on a thread of its own) explains, and the headset's QR code is written to
//! an HTML page the tray opens in the default browser. Texts and decisions are plain functions
//! tested on every platform; the Windows-only part (subscribing to the event) is small and behind
//! cfg(windows).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use cxr_gate_core::proxy::pages::html_escape;
use cxr_gate_core::qr;
use tauri::{AppHandle, Manager, Runtime, WebviewWindowBuilder};
use tauri_plugin_dialog::{DialogExt, MessageDialogKind};

use crate::state::{lock, AppState, MAIN_WINDOW};
use crate::view::StatusView;

/// Debug and test builds only: makes the window fail to open, as a missing WebView2 does.
pub const FAIL_WINDOW_ENV: &str = "CXR_GATE_TEST_FAIL_WINDOW";
/// Debug and test builds only: `N` makes the window's browser process "exit" a few seconds after
/// each of the first N window openings (the path WebView2's process-failed event takes).
pub const CRASH_WINDOW_ENV: &str = "CXR_GATE_TEST_CRASH_WINDOW";
/// How often in a run the window is re-created after its browser process died.
pub const RECREATE_LIMIT: u32 = 1;
/// Where the WebView2 Runtime is downloaded from.
pub const WEBVIEW2_URL: &str = "https://developer.microsoft.com/microsoft-edge/webview2/";
/// The QR code page for a run without a window, in the data dir.
pub const QR_PAGE: &str = "headset-qr.html";

/// Why the window is not there, and the webview runtime found (its version, or why none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowFailure {
    pub reason: String,
    pub runtime: Result<String, String>,
    pub loss: Loss,
}

/// When the window was lost: that decides the advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// It could not be created at start: the runtime is missing or damaged.
    AtStart,
    /// Its browser process died and the window, re-created once, died again or could not be made.
    AfterCrash,
}

/// Present (managed) once the app runs without its window.
pub struct NoWindow {
    /// A message box is open: clicking the tray again must not stack a second one.
    box_open: AtomicBool,
    loss: Loss,
}

/// The window's browser-process exits this run (managed at the first window opening).
#[derive(Default)]
struct Recovery {
    /// Exits so far (each one re-creates the window, up to [`RECREATE_LIMIT`]).
    exits: AtomicU32,
    /// The old window is being replaced: the app must not exit for want of a window meanwhile.
    recreating: AtomicBool,
    /// Injected exits so far ([`CRASH_WINDOW_ENV`]).
    injected: AtomicU32,
}

/// The webview runtime this platform's window needs, by name.
pub fn runtime_name() -> &'static str {
    if cfg!(windows) {
        "Microsoft Edge WebView2 Runtime"
    } else if cfg!(target_os = "macos") {
        "WKWebView"
    } else {
        "WebKitGTK"
    }
}

/// The log file's line for a failure.
pub fn log_line(f: &WindowFailure) -> String {
    let found = match &f.runtime {
        Ok(v) => format!("version {v} found"),
        Err(e) => format!("none found ({e})"),
    };
    let what = match f.loss {
        Loss::AtStart => "the window could not open",
        Loss::AfterCrash => "the window is lost (its browser process died; re-created once already)",
    };
    format!(
        "{what}: {}; {}: {found}. The gateway keeps serving; the tray menu has the QR code and the trust page",
        f.reason,
        runtime_name()
    )
}

/// The message box's title and text.
pub fn message(loss: Loss) -> (&'static str, String) {
    let runtime = if cfg!(windows) { format!("the {}", runtime_name()) } else { runtime_name().to_string() };
    let why = match loss {
        Loss::AtStart => format!("its window needs {runtime}, which is missing or damaged"),
        Loss::AfterCrash => {
            format!("its window closed: {runtime} stopped, and again after the window was reopened, so it is damaged")
        }
    };
    let fix = if cfg!(windows) {
        format!(
            "CXR Gate is running, but {why}.\n\nInstall it from {WEBVIEW2_URL} (the Evergreen Bootstrapper), then \
             start CXR Gate again."
        )
    } else {
        format!(
            "CXR Gate is running, but {why}.\n\nReinstall the CXR Gate package (it depends on the right \
             WebKitGTK), then start CXR Gate again."
        )
    };
    (
        "CXR Gate: no window",
        format!(
            "{fix}\n\nThe headset connection keeps working. The tray icon's menu has \"Show QR code\", \"Open trust \
             page\" and \"Copy trust page address\"; the log file says more."
        ),
    )
}

/// The injected failure (debug and test builds only; release builds ignore the variable).
pub fn injected_failure(value: Option<&str>) -> Option<String> {
    let v = value.filter(|v| !v.is_empty() && *v != "0")?;
    cfg!(debug_assertions).then(|| format!("{FAIL_WINDOW_ENV}={v} (a test's injected failure)"))
}

/// How many browser-process exits to inject (debug and test builds only): a count, else none.
pub fn injected_exits(value: Option<&str>) -> u32 {
    value.and_then(|v| v.parse().ok()).filter(|_| cfg!(debug_assertions)).unwrap_or(0)
}

/// Whether to try building the window at all, given the runtime check. On Windows a missing
/// runtime means no: Tauri's own "WebView2 not found" box (release builds) would block the main
/// thread, and with it the tray, until closed.
pub fn worth_trying(runtime: &Result<String, String>) -> bool {
    runtime.is_ok() || !cfg!(windows)
}

/// What the app does when the window is lost after it opened (lib.rs: the tray's menu, then
/// [`run_without`]); `true` asks for the message box now.
pub type OnLost<R> = fn(&AppHandle<R>, WindowFailure, bool);

/// Creates the main window from tauri.conf.json (which leaves its creation to us), shown or not.
/// If its browser process dies later (Windows), [`browser_exited`] re-creates it or calls `on_lost`.
pub fn open_main<R: Runtime>(app: &AppHandle<R>, show: bool, on_lost: OnLost<R>) -> Result<(), WindowFailure> {
    let runtime = tauri::webview_version().map_err(|e| e.to_string());
    let fail = |reason: String| WindowFailure { reason, runtime: runtime.clone(), loss: Loss::AtStart };
    if let Some(why) = injected_failure(std::env::var(FAIL_WINDOW_ENV).ok().as_deref()) {
        return Err(fail(why));
    }
    if !worth_trying(&runtime) {
        return Err(fail(format!("no {} is installed for this user", runtime_name())));
    }
    let conf = app
        .config()
        .app
        .windows
        .iter()
        .find(|w| w.label == MAIN_WINDOW)
        .ok_or_else(|| fail(format!("tauri.conf.json has no window \"{MAIN_WINDOW}\"")))?;
    let window = WebviewWindowBuilder::from_config(app, conf)
        .and_then(|b| b.visible(show).build())
        .map_err(|e| fail(e.to_string()))?;
    tracing::info!("window open; {}: {}", runtime_name(), runtime.as_deref().unwrap_or("version unknown"));
    app.manage(Recovery::default());
    #[cfg(windows)]
    process_failed::watch(&window, on_lost);
    #[cfg(not(windows))]
    let _ = window;
    inject_exit(app, on_lost);
    Ok(())
}

/// What to do when the window's browser process exited, the `exits`-th time this run (from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recover {
    /// A crash is not a missing runtime: a new window (a new browser process) usually just works.
    Recreate,
    /// It died again: the runtime is damaged. No window, and the advice.
    GiveUp,
}

/// The decision for the `exits`-th exit: a new window up to [`RECREATE_LIMIT`] times.
pub fn after_browser_exit(exits: u32) -> Recover {
    if exits <= RECREATE_LIMIT {
        Recover::Recreate
    } else {
        Recover::GiveUp
    }
}

/// The window's browser process exited (WebView2's event, or a test's injection): re-create the
/// window once in a run; after that the app carries on without it (`on_lost`, with the advice).
/// On the main thread.
pub fn browser_exited<R: Runtime>(app: &AppHandle<R>, reason: String, on_lost: OnLost<R>) {
    let Some(rec) = app.try_state::<Recovery>() else {
        return;
    };
    let exits = rec.exits.fetch_add(1, Ordering::SeqCst) + 1;
    let runtime = || tauri::webview_version().map_err(|e| e.to_string());
    if after_browser_exit(exits) == Recover::GiveUp {
        on_lost(app, WindowFailure { reason, runtime: runtime(), loss: Loss::AfterCrash }, true);
        return;
    }
    tracing::warn!("{reason}: re-creating the window");
    let shown = app.try_state::<AppState>().map(|st| *st.window_shown.borrow()).unwrap_or(true);
    rec.recreating.store(true, Ordering::SeqCst);
    if let Some(w) = app.get_webview_window(MAIN_WINDOW) {
        let _ = w.destroy();
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        // The label is free once the old window's Destroyed event is handled.
        for _ in 0..100 {
            if app.get_webview_window(MAIN_WINDOW).is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let h = app.clone();
        let _ = app.run_on_main_thread(move || {
            let opened = open_main(&h, shown, on_lost);
            if let Some(rec) = h.try_state::<Recovery>() {
                rec.recreating.store(false, Ordering::SeqCst);
            }
            // Built shown when the old one was (window_shown stays as it was); the page asks for the status.
            match opened {
                Ok(()) => tracing::info!("window re-created after its browser process exited"),
                Err(f) => on_lost(&h, WindowFailure { loss: Loss::AfterCrash, ..f }, true),
            }
        });
    });
}

/// The old window is being replaced by a new one.
pub fn recreating<R: Runtime>(app: &AppHandle<R>) -> bool {
    app.try_state::<Recovery>().is_some_and(|r| r.recreating.load(Ordering::SeqCst))
}

/// [`CRASH_WINDOW_ENV`]: a browser-process exit 3 s after this opening (the page loaded), while
/// the count allows.
fn inject_exit<R: Runtime>(app: &AppHandle<R>, on_lost: OnLost<R>) {
    let want = injected_exits(std::env::var(CRASH_WINDOW_ENV).ok().as_deref());
    let Some(rec) = app.try_state::<Recovery>() else {
        return;
    };
    if rec.injected.fetch_add(1, Ordering::SeqCst) >= want {
        return;
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let h = app.clone();
        let _ = app.run_on_main_thread(move || {
            browser_exited(&h, format!("{CRASH_WINDOW_ENV} (a test's injected browser-process exit)"), on_lost)
        });
    });
}

/// The app carries on without its window: logs why, writes the QR page, and explains in a
/// message box now when `explain` (a start by hand; a start at logon waits for a tray click).
pub fn run_without<R: Runtime>(app: &AppHandle<R>, failure: WindowFailure, explain_now: bool) {
    tracing::error!("{}", log_line(&failure));
    if let Some(w) = app.get_webview_window(MAIN_WINDOW) {
        let _ = w.destroy();
    }
    app.manage(NoWindow { box_open: AtomicBool::new(false), loss: failure.loss });
    if let Some(p) = write_qr_page(app) {
        tracing::info!("the headset's QR code is in {}", p.display());
    }
    if explain_now {
        explain(app);
    }
}

/// Shows the message box (once at a time). It runs on a thread of its own (tauri-plugin-dialog
/// through rfd): nothing waits for the user to close it.
pub fn explain<R: Runtime>(app: &AppHandle<R>) {
    let Some(nw) = app.try_state::<NoWindow>() else {
        return;
    };
    if nw.box_open.swap(true, Ordering::SeqCst) {
        return;
    }
    let (title, text) = message(nw.loss);
    tracing::info!("message box shown: {}", text.lines().next().unwrap_or_default());
    let handle = app.clone();
    app.dialog().message(text).title(title).kind(MessageDialogKind::Warning).show(move |_| {
        if let Some(nw) = handle.try_state::<NoWindow>() {
            nw.box_open.store(false, Ordering::SeqCst);
        }
    });
}

/// Running without the window.
pub fn windowless<R: Runtime>(app: &AppHandle<R>) -> bool {
    app.try_state::<NoWindow>().is_some()
}

/// The URL the headset's QR code carries: the web app when one is served, else the trust page
/// (as the headless proxy's banner).
pub fn qr_target(v: &StatusView) -> Option<String> {
    let a = v.addresses.first()?;
    Some(a.app_url.clone().unwrap_or_else(|| a.trust_url.clone()))
}

/// The QR page: the code for the primary address, then every address's links.
pub fn qr_page(v: &StatusView) -> String {
    let target = qr_target(v).unwrap_or_default();
    let code = qr::svg(&target).unwrap_or_else(|e| format!("<p>No QR code: {}</p>", html_escape(&e.to_string())));
    let rows: String = v
        .addresses
        .iter()
        .map(|a| {
            format!(
                "<li>{}: trust page <code>{}</code>, headsets connect to <code>{}</code></li>\n",
                html_escape(&a.label),
                html_escape(&a.trust_url),
                html_escape(&a.wss_url)
            )
        })
        .collect();
    format!(
        "<!doctype html>\n<meta charset=\"utf-8\">\n<title>CXR Gate: headset QR code</title>\n\
         <body style=\"font-family:sans-serif;max-width:40em;margin:2em auto\">\n<h1>Scan this with the \
         headset</h1>\n<div style=\"width:320px\">{code}</div>\n<p><code>{}</code></p>\n<p>All addresses \
         of this computer:</p>\n<ul>\n{rows}</ul>\n<p>Written by CXR Gate, which runs without its window \
         (see its log file). This page does not update: the tray menu's \"Show QR code\" writes it \
         again.</p>\n</body>\n",
        html_escape(&target)
    )
}

/// Writes the QR page into the data dir; its path, or None (logged) when it could not be written.
pub fn write_qr_page<R: Runtime>(app: &AppHandle<R>) -> Option<PathBuf> {
    let st = app.try_state::<AppState>()?;
    let path = Path::new(&lock(&st.info).data_dir).join(QR_PAGE);
    match std::fs::write(&path, qr_page(&st.view())) {
        Ok(()) => Some(path),
        Err(e) => {
            tracing::warn!("could not write {}: {e}", path.display());
            None
        }
    }
}

/// WebView2 reports its processes' failures through an event that neither wry nor Tauri forwards;
/// it is reached through the controller Tauri exposes (`with_webview`).
#[cfg(windows)]
mod process_failed {
    use tauri::{Manager, Runtime, WebviewWindow};
    use webview2_com::Microsoft::Web::WebView2::Win32::COREWEBVIEW2_PROCESS_FAILED_KIND;
    use webview2_com::ProcessFailedEventHandler;

    use super::{after_process_failed, Action, OnLost};

    pub fn watch<R: Runtime>(window: &WebviewWindow<R>, on_lost: OnLost<R>) {
        let app = window.app_handle().clone();
        let r = window.with_webview(move |wv| {
            let handler = ProcessFailedEventHandler::create(Box::new(move |_, args| {
                let mut kind = COREWEBVIEW2_PROCESS_FAILED_KIND(0);
                if let Some(a) = args {
                    // SAFETY: a COM getter writing into a local.
                    unsafe { a.ProcessFailedKind(&mut kind) }?;
                }
                let app = app.clone();
                match after_process_failed(kind.0) {
                    Action::Reload => {
                        tracing::warn!("the window's WebView2 page process failed (kind {}): reloading", kind.0);
                        if let Some(w) = app.get_webview_window(crate::state::MAIN_WINDOW) {
                            let _ = w.reload();
                        }
                    }
                    Action::WindowLost => {
                        let reason = format!("the WebView2 browser process exited (process-failed kind {})", kind.0);
                        // Not from inside the webview's own event: destroy it from the event loop.
                        let h = app.clone();
                        let _ = app.run_on_main_thread(move || super::browser_exited(&h, reason, on_lost));
                    }
                    Action::Ignore => tracing::debug!("WebView2 process failed (kind {}), not the window's", kind.0),
                }
                Ok(())
            }));
            let mut token = 0i64;
            // SAFETY: COM calls on the controller Tauri hands us, on the thread it calls us on.
            let added =
                unsafe { wv.controller().CoreWebView2().and_then(|c| c.add_ProcessFailed(&handler, &mut token)) };
            if let Err(e) = added {
                tracing::warn!("WebView2's process-failed event not watched: {e}");
            }
        });
        if let Err(e) = r {
            tracing::warn!("WebView2's process-failed event not watched: {e}");
        }
    }
}

/// What a WebView2 process failure means for the window.
#[cfg_attr(not(windows), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The page's renderer died or hangs: the window is still there, load the page again.
    Reload,
    /// The browser process is gone and the window with it ([`browser_exited`]).
    WindowLost,
    /// A helper process (GPU, utility…) that WebView2 restarts itself.
    Ignore,
}

/// COREWEBVIEW2_PROCESS_FAILED_KIND: 0 browser process exited, 1 render process exited, 2 render
/// process unresponsive, 3 frame render process exited, 4+ other helper processes.
#[cfg_attr(not(windows), allow(dead_code))]
pub fn after_process_failed(kind: i32) -> Action {
    match kind {
        0 => Action::WindowLost,
        1 | 2 => Action::Reload,
        _ => Action::Ignore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::tests::{iface, status};
    use crate::view::{build, AppInfo};

    #[test]
    fn the_log_line_names_the_reason_and_the_runtime_found_or_not() {
        let none = WindowFailure {
            reason: "x".into(),
            runtime: Err("Could not find the WebView2 Runtime".into()),
            loss: Loss::AtStart,
        };
        let line = log_line(&none);
        assert!(line.starts_with("the window could not open: x; "), "{line}");
        assert!(
            line.contains(&format!("{}: none found (Could not find the WebView2 Runtime)", runtime_name())),
            "{line}"
        );
        let found = WindowFailure { reason: "y".into(), runtime: Ok("120.0.2210.91".into()), loss: Loss::AfterCrash };
        assert!(log_line(&found).contains(": version 120.0.2210.91 found"), "{}", log_line(&found));
        assert!(log_line(&found).starts_with("the window is lost (its browser process died; re-created once"));
    }

    #[test]
    fn the_message_says_the_gate_runs_how_to_fix_and_where_the_qr_is() {
        let (title, text) = message(Loss::AtStart);
        assert!(title.contains("CXR Gate"));
        assert!(text.starts_with("CXR Gate is running, but its window needs "), "{text}");
        assert!(text.contains("missing or damaged") && text.contains("headset connection keeps working"), "{text}");
        assert!(text.contains("Show QR code") && text.contains("Open trust page"), "{text}");
        if cfg!(windows) {
            assert!(text.contains("needs the Microsoft Edge WebView2 Runtime, which") && text.contains(WEBVIEW2_URL));
        }
    }

    #[test]
    fn a_crash_recreates_the_window_once_and_only_a_second_one_gives_the_install_advice() {
        // The first browser-process exit: a new window, no message box (browser_exited).
        assert_eq!(after_browser_exit(1), Recover::Recreate);
        assert_eq!(after_browser_exit(RECREATE_LIMIT), Recover::Recreate);
        assert_eq!(after_browser_exit(RECREATE_LIMIT + 1), Recover::GiveUp);
        // Then the advice says what happened: not "missing".
        let (_, text) = message(Loss::AfterCrash);
        assert!(text.starts_with("CXR Gate is running, but its window closed: "), "{text}");
        assert!(
            text.contains("stopped, and again after the window was reopened") && !text.contains("missing"),
            "{text}"
        );
        assert!(text.contains("headset connection keeps working"), "{text}");
        if cfg!(windows) {
            assert!(text.contains(WEBVIEW2_URL), "{text}");
        }
    }

    #[test]
    fn injected_exits_are_a_count_in_debug_builds() {
        assert_eq!(injected_exits(None), 0);
        assert_eq!(injected_exits(Some("x")), 0);
        assert_eq!(injected_exits(Some("2")), if cfg!(debug_assertions) { 2 } else { 0 });
    }

    #[test]
    fn the_injected_failure_needs_a_value_and_a_debug_build() {
        assert_eq!(injected_failure(None), None);
        assert_eq!(injected_failure(Some("")), None);
        assert_eq!(injected_failure(Some("0")), None);
        // Unit tests are debug builds; a release build ignores the variable.
        assert_eq!(injected_failure(Some("1")).is_some(), cfg!(debug_assertions));
    }

    #[test]
    fn a_missing_runtime_is_not_tried_on_windows() {
        assert!(worth_trying(&Ok("120.0".into())));
        assert_eq!(worth_trying(&Err("none".into())), !cfg!(windows));
    }

    #[test]
    fn process_failures_reload_or_lose_the_window() {
        assert_eq!(after_process_failed(0), Action::WindowLost);
        assert_eq!(after_process_failed(1), Action::Reload);
        assert_eq!(after_process_failed(2), Action::Reload);
        assert_eq!(after_process_failed(3), Action::Ignore);
        assert_eq!(after_process_failed(7), Action::Ignore);
    }

    #[test]
    fn the_qr_page_carries_the_primary_address_and_lists_all() {
        let s = status(
            "0.0.0.0:48322",
            vec![iface("eth1", "10.0.0.5", false, false, false), iface("Wi-Fi", "192.168.1.20", true, false, false)],
        );
        let v = build(&s, &AppInfo::default(), &Default::default());
        assert_eq!(qr_target(&v).as_deref(), Some("https://192.168.1.20:48322/"));
        let page = qr_page(&v);
        assert!(page.contains("<svg"), "{page}");
        assert!(page.contains("<code>https://192.168.1.20:48322/</code>"), "{page}");
        assert!(page.contains("<code>wss://10.0.0.5:48322</code>"), "{page}");
        assert!(page.contains("192.168.1.20 — Wi-Fi (primary)"), "{page}");
        // The web app, when served, is what the code opens; its query is escaped in the text.
        let mut s = s;
        s.web_app.root = Some("/srv/app".into());
        s.web_app.query = "?a={ip}&b=1".into();
        let v = build(&s, &AppInfo::default(), &Default::default());
        assert_eq!(qr_target(&v).as_deref(), Some("https://192.168.1.20:48322/app/?a=192.168.1.20&b=1"));
        assert!(qr_page(&v).contains("/app/?a=192.168.1.20&amp;b=1</code>"));
    }
}
