//! The desktop's live list of headsets on USB. While the window is shown (`active`) it holds adb's
//! `track-devices` connection, so the server tells of every change and nothing polls; a new or newly
//! authorized device is asked once for its model, OS, Wi-Fi address and browser. Hidden, it drops the
//! connection and does nothing. Without a server it starts one with the adb it finds, once per showing
//! of the window or press of "Look again"; without adb it says so once and waits for those.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use super::client::Server;
use super::devices::{AdbState, DeviceEntry};
use super::locate;
use super::model::{not_found_message, ActionNote, AdbAvailability, UsbHeadset, UsbStatus};
use super::open::ask_wifi_and_browser;
use super::props::{parse_getprop, DeviceInfo};
use super::wire::AdbError;
use crate::status::now_ms;

/// Where the server is and which folder the user picked for adb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchConfig {
    pub server: Server,
    pub adb_dir: Option<PathBuf>,
}

/// The handle the desktop keeps: the list, "look again", notes of what was done, the adb folder.
#[derive(Clone)]
pub struct UsbWatch {
    status: watch::Sender<UsbStatus>,
    config: watch::Sender<WatchConfig>,
    kick: Arc<Notify>,
}

impl UsbWatch {
    /// Starts the watcher on the current tokio runtime; it works only while `active` is true.
    pub fn start(config: WatchConfig, active: watch::Receiver<bool>) -> UsbWatch {
        let w = UsbWatch {
            status: watch::Sender::new(UsbStatus::default()),
            config: watch::Sender::new(config),
            kick: Arc::new(Notify::new()),
        };
        tokio::spawn(run(w.clone(), active));
        w
    }

    pub fn subscribe(&self) -> watch::Receiver<UsbStatus> {
        self.status.subscribe()
    }

    pub fn status(&self) -> UsbStatus {
        self.status.borrow().clone()
    }

    pub fn server(&self) -> Server {
        self.config.borrow().server
    }

    /// The adb folder the user picked in Settings, if any.
    pub fn adb_dir(&self) -> Option<PathBuf> {
        self.config.borrow().adb_dir.clone()
    }

    /// "Look again": asks every device again, and starts adb's server if none runs.
    pub fn refresh(&self) {
        self.kick.notify_one();
    }

    /// A new adb folder from the settings.
    pub fn set_adb_dir(&self, dir: Option<PathBuf>) {
        self.config.send_if_modified(|c| {
            let changed = c.adb_dir != dir;
            c.adb_dir = dir;
            changed
        });
    }

    /// Records what was just done to a device, shown on its row until the next action.
    pub fn note(&self, serial: &str, ok: bool, message: String) {
        let note = ActionNote { ok, message, at_ms: now_ms() };
        self.status.send_modify(|s| {
            if let Some(d) = s.devices.iter_mut().find(|d| d.serial == serial) {
                d.last_action = Some(note);
            }
        });
    }

    fn publish(&self, f: impl FnOnce(&mut UsbStatus)) {
        self.status.send_modify(f);
    }
}

/// Said in the log once per run: the card keeps saying it.
static TOLD_NOT_FOUND: AtomicBool = AtomicBool::new(false);

/// Makes sure a server answers: starts one with the adb found when none does.
async fn ensure_server(cfg: &WatchConfig) -> Result<(), (AdbAvailability, String)> {
    match cfg.server.version().await {
        Ok(_) => return Ok(()),
        Err(AdbError::NoServer(_)) => {}
        Err(e) => return Err((AdbAvailability::Failed, format!("The adb server at {} fails: {e}", cfg.server.addr))),
    }
    let Some(adb) = locate::find(cfg.adb_dir.as_deref()) else {
        if !TOLD_NOT_FOUND.swap(true, Ordering::Relaxed) {
            tracing::info!("adb not found: headsets on USB are not shown ({})", locate::PLATFORM_TOOLS_URL);
        }
        let msg = match &cfg.adb_dir {
            Some(d) => format!("No adb in {} (the adb folder in Settings). {}", d.display(), not_found_message()),
            None => not_found_message(),
        };
        return Err((AdbAvailability::NotFound, msg));
    };
    tracing::info!("starting the adb server with {}", adb.display());
    if let Err(why) = locate::start_server(&adb, &cfg.server, Duration::from_secs(15)).await {
        return Err((AdbAvailability::Failed, why));
    }
    match cfg.server.version().await {
        Ok(_) => Ok(()),
        Err(e) => {
            Err((AdbAvailability::Failed, format!("{} started, but its server does not answer: {e}", adb.display())))
        }
    }
}

/// Asks an authorized device about itself.
async fn details(server: &Server, e: &DeviceEntry) -> UsbHeadset {
    let row = UsbHeadset::listed(e);
    if e.state != AdbState::Device {
        return row;
    }
    let props = match server.shell(&e.serial, &["getprop"]).await {
        Ok(out) => parse_getprop(&out.stdout),
        Err(err) => {
            tracing::debug!("adb: {}: getprop: {err}", e.serial);
            return row;
        }
    };
    let info = DeviceInfo::from_props(&props);
    match ask_wifi_and_browser(server, &e.serial).await {
        Ok((wifi, browser)) => row.with_info(&info, browser.map(|b| b.1), wifi.map(|w| w.to_string())),
        Err(err) => {
            tracing::debug!("adb: {}: {err}", e.serial);
            row.with_info(&info, None, None)
        }
    }
}

/// Waits until the window is shown again, "Look again" is pressed or the settings change.
async fn wait_for_another_look(
    w: &UsbWatch,
    active: &mut watch::Receiver<bool>,
    cfg: &mut watch::Receiver<WatchConfig>,
) {
    tokio::select! {
        _ = w.kick.notified() => {}
        _ = cfg.changed() => {}
        _ = async {
            let _ = active.wait_for(|a| !*a).await;
            let _ = active.wait_for(|a| *a).await;
        } => {}
    }
}

async fn run(w: UsbWatch, mut active: watch::Receiver<bool>) {
    let mut cfg_rx = w.config.subscribe();
    loop {
        if !*active.borrow_and_update() {
            tokio::select! {
                r = active.wait_for(|a| *a) => if r.is_err() { return },
                _ = w.kick.notified() => {}
            }
        }
        let cfg = cfg_rx.borrow_and_update().clone();
        match ensure_server(&cfg).await {
            Ok(()) => {}
            Err((availability, message)) => {
                w.publish(|s| {
                    s.adb = availability;
                    s.message = Some(message);
                    s.devices.clear();
                });
                wait_for_another_look(&w, &mut active, &mut cfg_rx).await;
                continue;
            }
        };
        let mut tracker = match cfg.server.track_devices().await {
            Ok(t) => t,
            Err(e) => {
                w.publish(|s| {
                    s.adb = AdbAvailability::Failed;
                    s.message = Some(format!("The adb server at {} fails: {e}", cfg.server.addr));
                });
                wait_for_another_look(&w, &mut active, &mut cfg_rx).await;
                continue;
            }
        };
        w.publish(|s| {
            s.adb = AdbAvailability::Ready;
            s.message = None;
        });
        let mut known: HashMap<String, UsbHeadset> = HashMap::new();
        let mut last: Vec<DeviceEntry> = Vec::new();
        loop {
            let refresh_all = tokio::select! {
                list = tracker.next() => match list {
                    Ok(list) => { last = list; false }
                    Err(e) => {
                        tracing::info!("adb: the server stopped answering ({e})");
                        w.publish(|s| {
                            s.adb = AdbAvailability::Failed;
                            s.message = Some(format!("The adb server at {} stopped: {e}", cfg.server.addr));
                            s.devices.clear();
                        });
                        // Not at once: a server that restarts needs a moment; the next look starts it.
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        break;
                    }
                },
                r = active.changed() => if r.is_err() || !*active.borrow() { break } else { continue },
                _ = w.kick.notified() => true,
                _ = cfg_rx.changed() => break,
            };
            let mut rows = Vec::with_capacity(last.len());
            for e in &last {
                let reuse = known.get(&e.serial).filter(|k| !refresh_all && k.state == e.state).cloned();
                let row = match reuse {
                    Some(r) => r,
                    None => details(&cfg.server, e).await,
                };
                rows.push(row);
            }
            let notes: HashMap<String, ActionNote> = w
                .status
                .borrow()
                .devices
                .iter()
                .filter_map(|d| d.last_action.clone().map(|n| (d.serial.clone(), n)))
                .collect();
            known = rows.iter().map(|r| (r.serial.clone(), r.clone())).collect();
            w.publish(|s| {
                s.devices = rows
                    .into_iter()
                    .map(|mut r| {
                        r.last_action = notes.get(&r.serial).cloned();
                        r
                    })
                    .collect();
            });
        }
    }
}
