//! Headsets on USB as the window shows them: plain data with one sentence to act on per adb state,
//! and whether adb itself is there. No I/O here (`watch` fills it, `view` joins it with the book).

use serde::{Deserialize, Serialize};

use super::devices::{AdbState, DeviceEntry};
use super::locate::PLATFORM_TOOLS_URL;
use super::props::DeviceInfo;

/// Whether adb can be asked at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AdbAvailability {
    /// Not looked for yet (the window has not been shown).
    #[default]
    Unknown,
    /// The server answers.
    Ready,
    /// No server runs and no adb was found to start one.
    NotFound,
    /// An adb was found but its server would not start or answer.
    Failed,
}

/// The last thing done to a headset from the window, and how it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionNote {
    pub ok: bool,
    pub message: String,
    pub at_ms: u64,
}

/// One device the adb server lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsbHeadset {
    pub serial: String,
    pub state: AdbState,
    /// The state as adb printed it.
    pub adb_state: String,
    /// The short word for the chip ("ready", "not allowed yet"…).
    pub chip: String,
    /// One sentence saying what to do.
    pub sentence: String,
    /// From its properties once it is authorized; adb's listing's model until then.
    pub model: Option<String>,
    pub manufacturer: Option<String>,
    pub os: Option<String>,
    /// The browser "Open on headset" uses (its name), when one is known.
    pub browser: Option<String>,
    /// Its Wi-Fi address (`ip addr` on wlan0) with the prefix, e.g. `192.168.1.50/24`.
    pub wifi: Option<String>,
    /// Reached over the network (wireless debugging) rather than a cable.
    pub network: bool,
    /// "Open on headset" can work now.
    pub can_open: bool,
    pub last_action: Option<ActionNote>,
}

impl UsbHeadset {
    /// A device as listed, before (or without) asking it anything.
    pub fn listed(e: &DeviceEntry) -> UsbHeadset {
        let (chip, sentence) = advice(e.state, &e.state_text);
        UsbHeadset {
            serial: e.serial.clone(),
            state: e.state,
            adb_state: e.state_text.clone(),
            chip: chip.to_string(),
            sentence,
            model: e.model.as_ref().map(|m| m.replace('_', " ")),
            manufacturer: None,
            os: None,
            browser: None,
            wifi: None,
            network: e.is_network(),
            can_open: e.state == AdbState::Device,
            last_action: None,
        }
    }

    /// Adds what the device said about itself.
    pub fn with_info(mut self, info: &DeviceInfo, browser: Option<&str>, wifi: Option<String>) -> UsbHeadset {
        if info.model.is_some() {
            self.model = info.model.clone();
        }
        self.manufacturer = info.manufacturer.clone();
        self.os = info.os.clone();
        self.browser = browser.map(str::to_string);
        self.wifi = wifi;
        if self.state == AdbState::Device && browser.is_none() {
            self.sentence = "Ready. No Quest or PICO browser was found on it: \"Open on headset\" uses its default \
                             browser."
                .into();
        }
        self
    }

    /// "Quest 3 (2G0YC5ZGB5000J)".
    pub fn name(&self) -> String {
        match &self.model {
            Some(m) => format!("{m} ({})", self.serial),
            None => format!("The device {}", self.serial),
        }
    }

    /// The Wi-Fi address without its prefix.
    pub fn wifi_ip(&self) -> Option<&str> {
        self.wifi.as_deref().map(|w| w.split('/').next().unwrap_or(w))
    }
}

/// The chip word and the sentence for a state (`text`: adb's own words, for the unknown ones).
pub fn advice(state: AdbState, text: &str) -> (&'static str, String) {
    match state {
        AdbState::Device => ("ready", "Ready: \"Open on headset\" opens the page in its browser.".into()),
        AdbState::Unauthorized => {
            ("not allowed yet", "Put on the headset and allow USB debugging for this computer.".into())
        }
        AdbState::Authorizing => (
            "asking",
            "The headset is asking whether to allow USB debugging: put it on and allow it for this computer.".into(),
        ),
        AdbState::Offline => (
            "offline",
            "adb lost contact with the headset: unplug the cable and plug it in again; if it stays offline, restart the \
             headset."
                .into(),
        ),
        AdbState::NoPermissions => (
            "no permission",
            "Linux does not let you open this USB device: add a udev rule for it (Debian's \
             android-sdk-platform-tools-common package, or a rule for Meta's USB vendor id 2833), then plug the cable \
             in again."
                .into(),
        ),
        AdbState::Connecting => ("connecting", "adb is connecting to the headset; wait a moment.".into()),
        AdbState::Bootloader | AdbState::Recovery | AdbState::Sideload | AdbState::Rescue => (
            "not running",
            format!("The headset is in its {text} mode, not running its system: restart it normally."),
        ),
        AdbState::Other => ("unknown", format!("adb reports \"{text}\": unplug the cable and plug it in again.")),
    }
}

/// Everything the Headsets card shows about USB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct UsbStatus {
    pub adb: AdbAvailability,
    /// What to do about adb, when it is not ready (where to get it; why the server failed).
    pub message: Option<String>,
    pub devices: Vec<UsbHeadset>,
}

/// The sentence when no adb is found.
pub fn not_found_message() -> String {
    format!(
        "To see a headset on a USB cable, install Google's Android SDK Platform-Tools ({PLATFORM_TOOLS_URL}) or \
         choose its folder in Settings (adb folder); Meta Quest Developer Hub and SideQuest bring one too."
    )
}
