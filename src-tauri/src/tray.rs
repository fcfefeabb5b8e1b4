//! Owns the tray icon (id "main"): green = runtime UP, red = DOWN, grey = proxy not listening or
//! still checking; a tooltip like "CXR Gate — runtime UP · 1 headset · wss://192.168.1.20:48322";
//! the menu (Show window, Copy wss URL, Restart proxy, Quit); left click shows the window.
//! Without a window (see `webview`) the menu also opens the QR page and the trust page.
//! "Open on USB headset" does what the Headsets card's button does, for the one headset on a cable
//! (asked once, on the click: nothing polls), and says the outcome in a notification.
//! Driven by the status pump via [`look`] (pure, tested) and [`apply`].

use std::path::PathBuf;

use tauri::image::Image;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_clipboard_manager::ClipboardExt;
use tauri_plugin_opener::OpenerExt;

use crate::state::AppState;
use crate::view::{AddressView, StatusView};
use crate::{lifecycle, notify, webview};

pub const TRAY_ID: &str = "main";
const USB_OPEN: &str = "usb-open";

const ICON_UP: &[u8] = include_bytes!("../../icons/tray-up.png");
const ICON_DOWN: &[u8] = include_bytes!("../../icons/tray-down.png");
const ICON_OFF: &[u8] = include_bytes!("../../icons/tray-off.png");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayIcon {
    Up,
    Down,
    Off,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Look {
    pub icon: TrayIcon,
    pub tooltip: String,
}

/// Windows cuts tray tooltips at 127 characters; cut at a char boundary with an ellipsis instead.
fn clip(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        return s;
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

pub fn look(v: &StatusView) -> Look {
    let demo = if v.app.demo { " (demo)" } else { "" };
    if !v.listening {
        let why = v.status.listener.error.clone().unwrap_or_else(|| "starting…".into());
        return Look {
            icon: TrayIcon::Off,
            tooltip: clip(format!("CXR Gate{demo} — proxy not listening: {why}"), 127),
        };
    }
    let (icon, runtime) = match v.runtime {
        "up" => (TrayIcon::Up, "runtime UP"),
        "down" => (TrayIcon::Down, "runtime DOWN"),
        _ => (TrayIcon::Off, "checking runtime…"),
    };
    let c = &v.headset_counts;
    let mut headsets = match c.connected {
        1 => "1 headset connected".to_string(),
        n => format!("{n} headsets connected"),
    };
    if c.refused > 0 {
        headsets.push_str(&format!(", {} refusing the certificate", c.refused));
    }
    let url = v.addresses.first().map(|a| format!(" · {}", a.wss_url)).unwrap_or_default();
    Look { icon, tooltip: clip(format!("CXR Gate{demo} — {runtime} · {headsets}{url}"), 127) }
}

fn image(icon: TrayIcon) -> Option<Image<'static>> {
    let bytes = match icon {
        TrayIcon::Up => ICON_UP,
        TrayIcon::Down => ICON_DOWN,
        TrayIcon::Off => ICON_OFF,
    };
    match Image::from_bytes(bytes) {
        Ok(i) => Some(i),
        Err(e) => {
            tracing::warn!("tray icon image: {e}");
            None
        }
    }
}

pub fn apply<R: Runtime>(app: &AppHandle<R>, look: &Look) {
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        return;
    };
    if let Err(e) = tray.set_icon(image(look.icon)) {
        tracing::debug!("tray set_icon: {e}");
    }
    if let Err(e) = tray.set_tooltip(Some(&look.tooltip)) {
        tracing::debug!("tray set_tooltip: {e}");
    }
}

/// A link of the primary address (its wss:// URL, its trust page).
fn primary<R: Runtime>(app: &AppHandle<R>, link: impl Fn(&AddressView) -> String) -> Option<String> {
    let st = app.try_state::<AppState>()?;
    st.view().addresses.first().map(link)
}

/// The menu's items (id, label), None for a separator. Without the window, "Show window"
/// explains why there is none, and the QR code and the trust page are one click away.
pub fn menu_items(window: bool) -> Vec<Option<(&'static str, &'static str)>> {
    let mut v = vec![Some(("show", "Show window"))];
    if !window {
        v.extend([
            Some(("qr", "Show QR code")),
            Some(("open-trust", "Open trust page")),
            Some(("copy-trust", "Copy trust page address")),
        ]);
    }
    v.extend([
        Some((USB_OPEN, "Open on USB headset")),
        Some(("copy-wss", "Copy wss URL")),
        Some(("restart", "Restart proxy")),
        None,
        Some(("quit", "Quit CXR Gate")),
    ]);
    v
}

fn menu<R: Runtime>(app: &AppHandle<R>, window: bool) -> tauri::Result<Menu<R>> {
    let menu = Menu::new(app)?;
    for item in menu_items(window) {
        match item {
            Some((id, label)) => menu.append(&MenuItem::with_id(app, id, label, true, None::<&str>)?)?,
            None => menu.append(&PredefinedMenuItem::separator(app)?)?,
        }
    }
    Ok(menu)
}

/// The window is gone for this run: the menu without it.
pub fn without_window<R: Runtime>(app: &AppHandle<R>) {
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        return;
    };
    match menu(app, false) {
        Ok(m) => {
            if let Err(e) = tray.set_menu(Some(m)) {
                tracing::warn!("tray menu: {e}");
            }
        }
        Err(e) => tracing::warn!("tray menu: {e}"),
    }
}

fn copy<R: Runtime>(app: &AppHandle<R>, text: Option<String>) {
    if let Some(t) = text {
        if let Err(e) = app.clipboard().write_text(t) {
            tracing::warn!("clipboard: {e}");
        }
    }
}

/// What a menu item opens in the user's default program (the browser).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opens {
    Url(String),
    File(PathBuf),
}

/// Opens it through tauri-plugin-opener: from Rust no scope applies (the window holds no opener
/// permission), so a file path and an `https://[…]` URL open as any other.
fn open<R: Runtime>(app: &AppHandle<R>, what: Opens) {
    let (shown, r) = match &what {
        Opens::Url(u) => (u.clone(), app.opener().open_url(u, None::<&str>)),
        Opens::File(p) => (p.display().to_string(), app.opener().open_path(p.display().to_string(), None::<&str>)),
    };
    match r {
        Ok(()) => tracing::info!("tray: opened {shown}"),
        Err(e) => tracing::warn!("tray: could not open {shown}: {e}"),
    }
}

/// The tray's "Open on USB headset": the trust page (or `/app/`) on the one headset adb lists, as
/// `cxr-gate-proxy --open-on-headset` does (adb's server started when none runs). The outcome, or
/// why nothing opened (no adb, no headset, several, not allowed yet), in a notification; with
/// several headsets the window opens too, where each has its own button.
fn open_on_usb_headset<R: Runtime>(app: &AppHandle<R>) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let Some(st) = app.try_state::<AppState>() else {
            return;
        };
        let page = cxr_gate_core::adb::Page::from_status(&st.status.borrow());
        let (server, dir) = (st.usb.server(), st.usb.adb_dir());
        match cxr_gate_core::adb::oneshot::open_once(&server, dir.as_deref(), None, &page).await {
            Ok(opened) => {
                let msg = opened.message();
                tracing::info!("tray: {msg}");
                notify::show(&app, "Opened on the headset", &msg);
            }
            Err(e) => {
                tracing::info!("tray: open on USB headset: {e}");
                notify::show(&app, "Nothing opened on a headset", &e.to_string());
                if matches!(e, cxr_gate_core::adb::oneshot::OneShotError::Several(..)) {
                    lifecycle::show_window(&app);
                }
            }
        }
    });
}

/// Creates the tray icon. An error (no tray host on this desktop) is returned, and the app
/// then quits on window close instead of hiding to a tray that isn't there.
pub fn create<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let menu = menu(app, true)?;
    let mut b = TrayIconBuilder::with_id(TRAY_ID)
        .tooltip("CXR Gate — starting…")
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(|app, ev| match ev.id().as_ref() {
            "show" => lifecycle::show_window(app),
            "copy-wss" => copy(app, primary(app, |a| a.wss_url.clone())),
            "copy-trust" => copy(app, primary(app, |a| a.trust_url.clone())),
            "open-trust" => {
                if let Some(url) = primary(app, |a| a.trust_url.clone()) {
                    open(app, Opens::Url(url));
                }
            }
            "qr" => {
                if let Some(p) = webview::write_qr_page(app) {
                    open(app, Opens::File(p));
                }
            }
            USB_OPEN => open_on_usb_headset(app),
            "restart" => {
                let app = app.clone();
                tauri::async_runtime::spawn(async move {
                    if let Some(st) = app.try_state::<AppState>() {
                        if let Some(gw) = st.gateway.read().await.as_ref() {
                            gw.restart_listener().await;
                        }
                    }
                });
            }
            "quit" => lifecycle::quit(app),
            _ => {}
        })
        .on_tray_icon_event(|tray, ev| {
            if let TrayIconEvent::Click { button: MouseButton::Left, button_state: MouseButtonState::Up, .. } = ev {
                lifecycle::show_window(tray.app_handle());
            }
        });
    if let Some(i) = image(TrayIcon::Off) {
        b = b.icon(i);
    }
    b.build(app)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::tests::{iface, status};
    use crate::view::{build, AppInfo};
    use cxr_gate_core::headsets::Headset;
    use cxr_gate_core::status::{BackendState, ListenerState};

    fn v(state: BackendState, listening: bool, headsets: u32, demo: bool) -> StatusView {
        let mut s = status("0.0.0.0:48322", vec![iface("eth0", "192.168.1.20", true, false, false)]);
        s.backend.state = state;
        s.listener.state = if listening { ListenerState::Listening } else { ListenerState::Failed };
        s.listener.error = (!listening).then(|| "port 48322 is already in use by another program".to_string());
        s.headsets = (0..headsets)
            .map(|i| Headset { ip: format!("192.168.1.{}", 50 + i), sessions_open: 1, ..Default::default() })
            .collect();
        build(&s, &AppInfo { demo, ..Default::default() }, &Default::default())
    }

    #[test]
    fn icon_and_tooltip_follow_the_status() {
        let up = look(&v(BackendState::Up, true, 1, false));
        assert_eq!(up.icon, TrayIcon::Up);
        assert_eq!(up.tooltip, "CXR Gate — runtime UP · 1 headset connected · wss://192.168.1.20:48322");
        let down = look(&v(BackendState::Down, true, 0, false));
        assert_eq!(down.icon, TrayIcon::Down);
        assert_eq!(down.tooltip, "CXR Gate — runtime DOWN · 0 headsets connected · wss://192.168.1.20:48322");
        let checking = look(&v(BackendState::Unknown, true, 2, true));
        assert_eq!(checking.icon, TrayIcon::Off);
        assert_eq!(
            checking.tooltip,
            "CXR Gate (demo) — checking runtime… · 2 headsets connected · wss://192.168.1.20:48322"
        );
        let mut refusing = v(BackendState::Up, true, 1, false);
        refusing.headset_counts.refused = 2;
        assert_eq!(
            look(&refusing).tooltip,
            "CXR Gate — runtime UP · 1 headset connected, 2 refusing the certificate · wss://192.168.1.20:48322"
        );
    }

    #[test]
    fn not_listening_is_grey_with_the_reason() {
        let off = look(&v(BackendState::Up, false, 0, false));
        assert_eq!(off.icon, TrayIcon::Off);
        assert_eq!(off.tooltip, "CXR Gate — proxy not listening: port 48322 is already in use by another program");
    }

    #[test]
    fn long_tooltips_are_clipped_for_windows() {
        let t = clip("x".repeat(300), 127);
        assert_eq!(t.chars().count(), 127);
        assert!(t.ends_with('…'));
        assert_eq!(clip("short".into(), 127), "short");
    }

    #[test]
    fn without_the_window_the_menu_reaches_the_qr_code_and_the_trust_page() {
        let ids = |w| menu_items(w).into_iter().map(|i| i.map_or("-", |(id, _)| id)).collect::<Vec<_>>();
        assert_eq!(ids(true), ["show", "usb-open", "copy-wss", "restart", "-", "quit"]);
        assert_eq!(
            ids(false),
            ["show", "qr", "open-trust", "copy-trust", "usb-open", "copy-wss", "restart", "-", "quit"]
        );
        let labels: Vec<_> = menu_items(false).into_iter().flatten().map(|(_, l)| l).collect();
        assert!(labels.contains(&"Copy trust page address") && labels.contains(&"Open trust page"), "{labels:?}");
    }

    #[test]
    fn tray_pngs_decode() {
        for i in [TrayIcon::Up, TrayIcon::Down, TrayIcon::Off] {
            let img = image(i).expect("embedded tray png");
            assert!(img.width() >= 32 && img.width() == img.height());
        }
    }
}
