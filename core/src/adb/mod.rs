//! Headsets on a USB cable, through the adb server (its host protocol on 127.0.0.1:5037): find them,
//! say what each needs, open the gate's page in the headset's browser, and (where it works) get that
//! browser past the certificate warning for this gate alone.
//!
//! `wire` (framing, quoting for the device's shell) → `client` (the server's requests) → `devices`
//! and `props` (parsers of what adb and the headset print) → `model` (plain data and sentences) →
//! `open` (the URL and `am start`), `devtools` (the warning, over the browser's DevTools socket),
//! `locate` (finding adb, starting its server), `watch` (the desktop's live list), `oneshot` (the
//! headless `--open-on-headset`). A small client of our own rather than a crate: see
//! docs/ARCHITECTURE.md ("Headsets on USB").

pub mod client;
pub mod devices;
pub mod devtools;
pub mod locate;
pub mod model;
pub mod oneshot;
pub mod open;
pub mod props;
pub mod watch;
pub mod wire;

pub use client::Server;
pub use devices::{AdbState, DeviceEntry};
pub use model::{ActionNote, AdbAvailability, UsbHeadset, UsbStatus};
pub use open::{Opened, Page};
pub use wire::AdbError;

#[cfg(test)]
mod tests;
