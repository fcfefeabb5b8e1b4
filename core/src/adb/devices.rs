//! `adb devices -l` as the server lists it (`host:devices-l`, also each `host:track-devices-l`
//! update): one line per device, `SERIAL<spaces>STATE [devpath] [product:…] [model:…] [device:…]
//! transport_id:N`. The state is one word, except Linux's "no permissions (…); see [URL]".
//! Parsed against real listings (see `fixtures/README.md`); anything unknown is kept as text.

use serde::{Deserialize, Serialize};

/// A device's state as the adb server names it (adb's `connection_state_name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdbState {
    /// `device`: authorized and running; commands work.
    Device,
    /// The computer's key is not accepted yet: the headset shows "Allow USB debugging?".
    Unauthorized,
    /// The key exchange is under way.
    Authorizing,
    /// Known but not answering.
    Offline,
    /// Linux: the user may not open the USB device node (udev rules).
    NoPermissions,
    Connecting,
    Bootloader,
    Recovery,
    Sideload,
    Rescue,
    /// Any other word adb prints.
    Other,
}

impl AdbState {
    pub fn parse(word: &str) -> AdbState {
        match word {
            "device" => AdbState::Device,
            "unauthorized" => AdbState::Unauthorized,
            "authorizing" => AdbState::Authorizing,
            "offline" => AdbState::Offline,
            "connecting" => AdbState::Connecting,
            "bootloader" => AdbState::Bootloader,
            "recovery" => AdbState::Recovery,
            "sideload" => AdbState::Sideload,
            "rescue" => AdbState::Rescue,
            w if w.starts_with("no permissions") => AdbState::NoPermissions,
            _ => AdbState::Other,
        }
    }
}

/// One line of the listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceEntry {
    pub serial: String,
    pub state: AdbState,
    /// The state as adb printed it ("no permissions (…); see […]" whole).
    pub state_text: String,
    /// The USB port path (`usb:1-4.3`, or a bare path on macOS and Windows); none for network devices.
    pub usb: Option<String>,
    pub product: Option<String>,
    /// adb's form of `ro.product.model`, with `_` for anything not alphanumeric ("Quest_3").
    pub model: Option<String>,
    pub device: Option<String>,
    pub transport_id: Option<u64>,
}

impl DeviceEntry {
    /// Reached over the network (`adb connect`, wireless debugging) rather than a cable.
    pub fn is_network(&self) -> bool {
        self.usb.is_none() && (self.serial.contains(':') || self.serial.contains("._adb-tls-"))
    }
}

/// Parses a whole listing; the header, blank lines and the daemon's `* …` notes are skipped.
pub fn parse_devices(text: &str) -> Vec<DeviceEntry> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<DeviceEntry> {
    let line = line.trim_end_matches('\r');
    if line.trim().is_empty() || line.starts_with("List of devices") || line.starts_with('*') {
        return None;
    }
    let (serial, rest) = line.trim_start().split_once(['\t', ' '])?;
    let rest = rest.trim_start();
    let (state_text, rest) = if rest.starts_with("no permissions") {
        // "no permissions (…); see [http://…]" holds spaces: it runs to the closing bracket.
        match rest.find("see [").and_then(|s| rest[s..].find(']').map(|e| s + e + 1)) {
            Some(end) => (&rest[..end], &rest[end..]),
            None => known_fields_start(rest).map_or((rest, ""), |i| (&rest[..i], &rest[i..])),
        }
    } else {
        rest.split_once(' ').unwrap_or((rest, ""))
    };
    let mut e = DeviceEntry {
        serial: serial.to_string(),
        state: AdbState::parse(state_text.trim()),
        state_text: state_text.trim().to_string(),
        usb: None,
        product: None,
        model: None,
        device: None,
        transport_id: None,
    };
    for token in rest.split_whitespace() {
        match token.split_once(':') {
            Some(("usb", v)) => e.usb = Some(v.to_string()),
            Some(("product", v)) => e.product = Some(v.to_string()),
            Some(("model", v)) => e.model = Some(v.to_string()),
            Some(("device", v)) => e.device = Some(v.to_string()),
            Some(("transport_id", v)) => e.transport_id = v.parse().ok(),
            Some(_) => {}
            // The device path without "usb:" (macOS `2-1`, Windows `34603008X`).
            None => e.usb = Some(token.to_string()),
        }
    }
    Some(e)
}

/// Where the `key:value` fields start in a state text of unknown shape.
fn known_fields_start(s: &str) -> Option<usize> {
    ["usb:", "product:", "model:", "device:", "transport_id:"].iter().filter_map(|k| s.find(&format!(" {k}"))).min()
}
