//! Owns what the window is sent: the engine's `Status` as is, plus the few derived fields the UI
//! would otherwise compute (runtime verdict, headset counts, the addresses a headset can use with
//! their URLs, demo flag and app paths). Pure functions over a snapshot, unit-tested.

use std::net::{IpAddr, SocketAddr};

use cxr_gate_core::adb::model::{AdbAvailability, UsbHeadset, UsbStatus};
use cxr_gate_core::headsets::{Headset, HeadsetCounts};
use cxr_gate_core::qr;
use cxr_gate_core::status::{BackendState, LanInterface, ListenerState, WebAppStatus};
use cxr_gate_core::Status;
use serde::Serialize;

/// Facts about this run that don't change with the status (except the notice).
#[derive(Debug, Clone, Default, Serialize)]
pub struct AppInfo {
    pub version: String,
    /// Started with --demo: an echo server stands in for the CloudXR Runtime.
    pub demo: bool,
    pub data_dir: String,
    pub settings_path: String,
    pub log_path: String,
    /// A message for the top of the window (damaged settings file…), until dismissed.
    pub notice: Option<String>,
    /// The tray icon exists (closing the window hides it rather than quitting).
    pub tray: bool,
    /// Settings replaced for this run by flags, env vars or demo mode, e.g. "backend: --backend".
    pub overrides: Vec<String>,
    pub platform: String,
}

/// One address a headset can use, with its links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddressView {
    pub ip: String,
    pub name: String,
    pub primary: bool,
    pub virtual_adapter: bool,
    pub link_local: bool,
    /// Loopback or the only address the listener is bound to: reachable from this computer only.
    pub local_only: bool,
    pub trust_url: String,
    pub wss_url: String,
    /// The web app at `/app/` with its query for this address, when a web app folder is set
    /// (the QR code then carries it).
    pub app_url: Option<String>,
    /// Shown in the picker, e.g. "192.168.1.20 — eth0 (primary)".
    pub label: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusView {
    #[serde(flatten)]
    pub status: Status,
    pub app: AppInfo,
    /// "up", "down" or "checking".
    pub runtime: &'static str,
    pub listening: bool,
    /// The headset book in counts: seen, refusing the certificate, connected (the tray's tooltip).
    pub headset_counts: HeadsetCounts,
    /// Best first; never empty (127.0.0.1 when the machine has no LAN address).
    pub addresses: Vec<AddressView>,
    pub media_total: u16,
    /// Headsets on USB (adb), each joined to the book's record at its Wi-Fi address.
    pub usb: UsbView,
}

/// A headset on USB, and the network headset it is (the book's record at its Wi-Fi address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsbRow {
    #[serde(flatten)]
    pub device: UsbHeadset,
    /// The book's headset at this device's Wi-Fi address: the window shows the two as one row.
    pub book_ip: Option<String>,
}

/// The Headsets card's USB part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsbView {
    pub adb: AdbAvailability,
    /// What to do about adb when it is not ready.
    pub message: Option<String>,
    pub devices: Vec<UsbRow>,
}

/// Joins each USB device to the book's headset at its Wi-Fi address (when the book has it).
pub fn usb_view(usb: &UsbStatus, book: &[Headset]) -> UsbView {
    let devices = usb
        .devices
        .iter()
        .map(|d| UsbRow {
            book_ip: d.wifi_ip().filter(|ip| book.iter().any(|h| h.ip == *ip)).map(str::to_string),
            device: d.clone(),
        })
        .collect();
    UsbView { adb: usb.adb, message: usb.message.clone(), devices }
}

pub fn runtime_word(s: &Status) -> &'static str {
    match s.backend.state {
        BackendState::Up => "up",
        BackendState::Down => "down",
        BackendState::Unknown => "checking",
    }
}

fn rank(i: &LanInterface) -> u8 {
    match (i.primary, i.virtual_adapter, i.link_local) {
        (true, _, _) => 0,
        (false, false, false) => 1,
        (false, true, false) => 2,
        (false, _, true) => 3,
    }
}

fn address(i: &LanInterface, port: u16, local_only: bool, web: &WebAppStatus) -> AddressView {
    let mut tags = Vec::new();
    if i.primary {
        tags.push("primary");
    }
    if i.virtual_adapter {
        tags.push("virtual");
    }
    if i.link_local {
        tags.push("link-local");
    }
    if local_only {
        tags.push("this computer only");
    }
    // "loopback" says nothing that "this computer only" doesn't.
    let name = if i.name.is_empty() || local_only { String::new() } else { format!(" — {}", i.name) };
    let tags = if tags.is_empty() { String::new() } else { format!(" ({})", tags.join(", ")) };
    AddressView {
        ip: i.ip.clone(),
        name: i.name.clone(),
        primary: i.primary,
        virtual_adapter: i.virtual_adapter,
        link_local: i.link_local,
        local_only,
        trust_url: qr::trust_url(&i.ip, port),
        wss_url: qr::wss_url(&i.ip, port),
        app_url: web.root.as_ref().map(|_| qr::app_url(&i.ip, port, &web.query)),
        label: format!("{}{name}{tags}", i.ip),
    }
}

/// The addresses to offer: every LAN interface when listening on all of them (primary first,
/// virtual and link-local last); only the bound one when the listener is bound to one address.
pub fn addresses(s: &Status) -> Vec<AddressView> {
    let port = s.listener.port;
    let bound: Option<IpAddr> =
        s.listener.addr.parse::<SocketAddr>().ok().map(|a| a.ip()).filter(|ip| !ip.is_unspecified());
    if let Some(ip) = bound {
        let lan = s.lan.iter().find(|i| i.ip.parse::<IpAddr>().ok() == Some(ip));
        let iface = lan.cloned().unwrap_or(LanInterface {
            name: if ip.is_loopback() { "loopback".into() } else { String::new() },
            ip: ip.to_string(),
            primary: false,
            virtual_adapter: false,
            link_local: false,
        });
        return vec![address(&iface, port, ip.is_loopback(), &s.web_app)];
    }
    let mut lan: Vec<&LanInterface> = s.lan.iter().collect();
    lan.sort_by_key(|i| rank(i));
    let mut out: Vec<AddressView> = lan.into_iter().map(|i| address(i, port, false, &s.web_app)).collect();
    if out.is_empty() {
        let lo = LanInterface { name: "loopback".into(), ip: "127.0.0.1".into(), ..Default::default() };
        out.push(address(&lo, port, true, &s.web_app));
    }
    out
}

pub fn build(s: &Status, app: &AppInfo, usb: &UsbStatus) -> StatusView {
    StatusView {
        usb: usb_view(usb, &s.headsets),
        runtime: runtime_word(s),
        listening: s.listener.state == ListenerState::Listening,
        headset_counts: HeadsetCounts::of(&s.headsets),
        addresses: addresses(s),
        media_total: s.ports.media_last.saturating_sub(s.ports.media_first).saturating_add(1),
        app: app.clone(),
        status: s.clone(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn iface(name: &str, ip: &str, primary: bool, virt: bool, ll: bool) -> LanInterface {
        LanInterface { name: name.into(), ip: ip.into(), primary, virtual_adapter: virt, link_local: ll }
    }

    pub fn status(listen: &str, lan: Vec<LanInterface>) -> Status {
        let mut s = Status::default();
        s.listener.addr = listen.into();
        s.listener.port = listen.parse::<SocketAddr>().map(|a| a.port()).unwrap_or(48322);
        s.lan = lan;
        s
    }

    #[test]
    fn primary_first_virtual_and_link_local_last() {
        let s = status(
            "0.0.0.0:48322",
            vec![
                iface("vEthernet (WSL)", "172.20.0.1", false, true, false),
                iface("APIPA", "169.254.3.4", false, false, true),
                iface("Wi-Fi", "192.168.1.20", true, false, false),
                iface("eth1", "10.0.0.5", false, false, false),
            ],
        );
        let a = addresses(&s);
        assert_eq!(
            a.iter().map(|a| a.ip.as_str()).collect::<Vec<_>>(),
            ["192.168.1.20", "10.0.0.5", "172.20.0.1", "169.254.3.4"]
        );
        assert_eq!(a[0].label, "192.168.1.20 — Wi-Fi (primary)");
        assert_eq!(a[2].label, "172.20.0.1 — vEthernet (WSL) (virtual)");
        assert_eq!(a[3].label, "169.254.3.4 — APIPA (link-local)");
        assert_eq!(a[0].trust_url, "https://192.168.1.20:48322/");
        assert_eq!(a[0].wss_url, "wss://192.168.1.20:48322");
        assert_eq!(a[0].app_url, None, "no web app folder, no app link");
    }

    #[test]
    fn a_web_app_folder_gives_every_address_its_app_link() {
        let mut s = status("0.0.0.0:48322", vec![iface("eth0", "192.168.1.20", true, false, false)]);
        s.web_app =
            WebAppStatus { root: Some("/srv/app".into()), query: "?serverIP={ip}&port={port}".into(), error: None };
        assert_eq!(
            addresses(&s)[0].app_url.as_deref(),
            Some("https://192.168.1.20:48322/app/?serverIP=192.168.1.20&port=48322")
        );
        s.web_app.query = String::new();
        assert_eq!(addresses(&s)[0].app_url.as_deref(), Some("https://192.168.1.20:48322/app/"));
    }

    #[test]
    fn no_lan_falls_back_to_loopback() {
        let a = addresses(&status("0.0.0.0:48322", vec![]));
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].ip, "127.0.0.1");
        assert!(a[0].local_only);
    }

    #[test]
    fn bound_listener_offers_only_its_address() {
        let s = status("127.0.0.1:5555", vec![iface("eth0", "192.168.1.20", true, false, false)]);
        let a = addresses(&s);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].ip, "127.0.0.1");
        assert_eq!(a[0].wss_url, "wss://127.0.0.1:5555");
        assert_eq!(a[0].label, "127.0.0.1 (this computer only)");
        let s = status("192.168.1.20:48322", vec![iface("eth0", "192.168.1.20", true, false, false)]);
        assert_eq!(addresses(&s)[0].label, "192.168.1.20 — eth0 (primary)");
    }

    #[test]
    fn derived_fields() {
        let mut s = status("0.0.0.0:48322", vec![]);
        s.ports.media_first = 47998;
        s.ports.media_last = 48012;
        s.listener.state = ListenerState::Listening;
        s.backend.state = BackendState::Down;
        s.headsets.push(cxr_gate_core::headsets::Headset { sessions_open: 1, ..Default::default() });
        let v = build(&s, &AppInfo { demo: true, ..Default::default() }, &UsbStatus::default());
        assert_eq!((v.runtime, v.listening, v.headset_counts.connected, v.media_total), ("down", true, 1, 15));
        let json = serde_json::to_value(&v).unwrap();
        // The Status fields stay at the top level (flattened) next to the derived ones.
        assert_eq!(json["backend"]["state"], "down");
        assert_eq!(json["app"]["demo"], true);
        assert_eq!(json["runtime"], "down");
        // One "headsets" key: the book's list (a derived field of that name would collide in the flattening).
        assert!(json["headsets"].is_array());
        s.backend.state = BackendState::Unknown;
        assert_eq!(runtime_word(&s), "checking");
    }

    #[test]
    fn a_usb_headset_joins_the_book_at_its_wifi_address() {
        use cxr_gate_core::adb::devices::parse_devices;
        let listed = |line: &str| UsbHeadset::listed(&parse_devices(line)[0]);
        let on_wifi = |line: &str, wifi: &str| UsbHeadset { wifi: Some(wifi.into()), ..listed(line) };
        let usb = UsbStatus {
            adb: AdbAvailability::Ready,
            devices: vec![
                on_wifi("Q1\tdevice model:Quest_3\n", "192.168.1.50/24"),
                on_wifi("Q2\tdevice\n", "192.168.1.51/24"),
                listed("Q3\tunauthorized\n"),
            ],
            ..Default::default()
        };
        let book = vec![Headset { ip: "192.168.1.50".into(), ..Default::default() }];
        let v = usb_view(&usb, &book);
        let joined: Vec<_> = v.devices.iter().map(|d| (d.device.serial.as_str(), d.book_ip.as_deref())).collect();
        assert_eq!(joined, [("Q1", Some("192.168.1.50")), ("Q2", None), ("Q3", None)]);
        let json = serde_json::to_value(&v.devices[0]).unwrap();
        assert_eq!(
            (json["serial"].as_str(), json["book_ip"].as_str(), json["chip"].as_str()),
            (Some("Q1"), Some("192.168.1.50"), Some("ready"))
        );
    }
}
