//! `cxr-gate-proxy --open-on-headset [SERIAL]`: "Open on headset" once, for scripts and labs without
//! the window. Finds the server (starting it with the adb found), picks the device, opens the page and
//! says what happened; each way it can fail has its own exit code (docs/HEADLESS.md).

use std::path::Path;
use std::time::Duration;

use super::client::Server;
use super::devices::{AdbState, DeviceEntry};
use super::locate;
use super::model::{advice, not_found_message};
use super::open::{open, OpenError, Opened, Page};
use super::wire::AdbError;

/// Why nothing was opened.
#[derive(Debug, thiserror::Error)]
pub enum OneShotError {
    #[error("no adb server runs and no adb was found. {0}")]
    NoAdb(String),
    #[error("{0}")]
    Server(String),
    #[error("no headset is connected to adb (is the cable in, and developer mode on?)")]
    NoDevice,
    #[error("adb knows no device {0:?}; connected: {1}")]
    NotFound(String, String),
    #[error("several devices are connected ({0}): name one, e.g. --open-on-headset {1}")]
    Several(String, String),
    #[error("{0} has not allowed USB debugging for this computer: put on the headset and allow it")]
    Unauthorized(String),
    #[error("{serial} is {state}: {sentence}")]
    NotReady { serial: String, state: String, sentence: String },
    #[error("{0}")]
    Failed(String),
}

impl OneShotError {
    /// The exit code (0 is success; 1 and 2 keep their meanings for the binary).
    pub fn exit_code(&self) -> u8 {
        match self {
            OneShotError::Failed(_) => 1,
            OneShotError::NoAdb(_) | OneShotError::Server(_) => 3,
            OneShotError::NoDevice | OneShotError::NotFound(..) => 4,
            OneShotError::Several(..) => 5,
            OneShotError::Unauthorized(_) => 6,
            OneShotError::NotReady { .. } => 7,
        }
    }
}

/// The device to use: `serial`, or the only one listed.
pub fn pick<'a>(devices: &'a [DeviceEntry], serial: Option<&str>) -> Result<&'a DeviceEntry, OneShotError> {
    let names = || devices.iter().map(|d| format!("{} ({})", d.serial, d.state_text)).collect::<Vec<_>>().join(", ");
    let d = match serial {
        Some(s) => devices.iter().find(|d| d.serial == s).ok_or_else(|| {
            OneShotError::NotFound(s.to_string(), if devices.is_empty() { "none".into() } else { names() })
        })?,
        None => match devices {
            [] => return Err(OneShotError::NoDevice),
            [one] => one,
            [first, ..] => return Err(OneShotError::Several(names(), first.serial.clone())),
        },
    };
    match d.state {
        AdbState::Device => Ok(d),
        AdbState::Unauthorized | AdbState::Authorizing => Err(OneShotError::Unauthorized(d.serial.clone())),
        other => Err(OneShotError::NotReady {
            serial: d.serial.clone(),
            state: d.state_text.clone(),
            sentence: advice(other, &d.state_text).1,
        }),
    }
}

/// Opens `page` on the device `serial` (or the only one), starting adb's server if needed.
pub async fn open_once(
    server: &Server,
    adb_dir: Option<&Path>,
    serial: Option<&str>,
    page: &Page,
) -> Result<Opened, OneShotError> {
    let devices = match server.devices().await {
        Ok(d) => d,
        Err(AdbError::NoServer(_)) => {
            let adb = locate::find(adb_dir).ok_or_else(|| OneShotError::NoAdb(not_found_message()))?;
            locate::start_server(&adb, server, Duration::from_secs(15)).await.map_err(OneShotError::Server)?;
            server.devices().await.map_err(|e| OneShotError::Server(format!("{} started, but: {e}", adb.display())))?
        }
        Err(e) => return Err(OneShotError::Server(e.to_string())),
    };
    let d = pick(&devices, serial)?;
    match open(server, &d.serial, page).await {
        Ok(o) => Ok(o),
        Err(OpenError::Adb(e)) if e.is_device_gone() => {
            Err(OneShotError::Failed(format!("{} went away before the page was opened (unplugged?): {e}", d.serial)))
        }
        Err(e) => Err(OneShotError::Failed(e.to_string())),
    }
}
