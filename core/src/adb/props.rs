//! What a headset tells about itself over `adb shell`: the `getprop` listing (`[key]: [value]`
//! lines) read into a model and an OS version, `ip -4 addr show wlan0` into its Wi-Fi address, and
//! `pm list packages` into the browsers it has. Parsed against real outputs (`fixtures/README.md`).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// The `getprop` listing as key → value (lines that are not `[key]: [value]` are skipped).
pub fn parse_getprop(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        let Some(rest) = line.strip_prefix('[') else { continue };
        let Some((key, value)) = rest.split_once("]: [") else { continue };
        let Some(value) = value.strip_suffix(']') else { continue };
        out.insert(key.to_string(), value.to_string());
    }
    out
}

/// The headset as its properties name it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// "Oculus", "Meta", "Pico".
    pub manufacturer: Option<String>,
    /// "Quest 3", "Quest 3S", "PICO 4".
    pub model: Option<String>,
    /// "Horizon OS v205", "PICO OS 5.13.7".
    pub os: Option<String>,
    /// Android's version under it ("14").
    pub android: Option<String>,
}

impl DeviceInfo {
    pub fn from_props(p: &BTreeMap<String, String>) -> DeviceInfo {
        let get = |k: &str| p.get(k).map(|v| v.trim()).filter(|v| !v.is_empty()).map(str::to_string);
        // On a PICO `ro.product.model` is a code ("A8110"); its own property has the name WiVRn
        // and others match on ("PICO 4", "PICO 4 Ultra").
        let model = get("pxr.vendorhw.product.model").or_else(|| get("ro.product.model"));
        // Horizon OS numbers its releases in `ro.vros.build.version` (what Wolvic checks); PICO OS
        // in `ro.pui.build.version`.
        let os = get("ro.vros.build.version")
            .map(|v| format!("Horizon OS v{v}"))
            .or_else(|| get("ro.pui.build.version").map(|v| format!("PICO OS {v}")));
        DeviceInfo { manufacturer: get("ro.product.manufacturer"), model, os, android: get("ro.build.version.release") }
    }
}

/// An IPv4 address with its prefix length, as `ip addr` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IfAddr {
    pub ip: Ipv4Addr,
    pub prefix: u8,
}

impl IfAddr {
    /// Whether `other` is on this address's subnet.
    pub fn same_subnet(&self, other: Ipv4Addr) -> bool {
        let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(self.prefix.min(32))) };
        u32::from(self.ip) & mask == u32::from(other) & mask
    }
}

impl std::fmt::Display for IfAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.ip, self.prefix)
    }
}

/// The first global IPv4 address in `ip addr` output (`inet 192.168.1.50/24 … scope global wlan0`).
pub fn parse_inet(text: &str) -> Option<IfAddr> {
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        while let Some(w) = words.next() {
            if w == "inet" {
                let (ip, prefix) = words.next()?.split_once('/')?;
                let addr = IfAddr { ip: ip.parse().ok()?, prefix: prefix.parse().ok().filter(|p| *p <= 32)? };
                let global = !addr.ip.is_loopback() && !addr.ip.is_link_local() && !line.contains("scope host");
                return global.then_some(addr);
            }
        }
        None
    })
}

/// The browsers "Open on headset" knows, best first: Quest Browser, then PICO's (its package differs
/// between consumer, enterprise and PICO OS 6 units).
pub const BROWSERS: &[(&str, &str)] = &[
    ("com.oculus.browser", "Quest Browser"),
    ("com.pico.browser.overseas", "PICO Browser"),
    ("com.pico.browser", "PICO Browser"),
    ("com.picoxr.browser", "PICO Browser"),
];

/// The best known browser among `pm list packages` lines (`package:NAME`).
pub fn pick_browser(pm_list: &str) -> Option<(&'static str, &'static str)> {
    let installed: Vec<&str> = pm_list.lines().filter_map(|l| l.trim().strip_prefix("package:")).collect();
    BROWSERS.iter().copied().find(|(pkg, _)| installed.contains(pkg))
}

/// The abstract socket names in `/proc/net/unix` that are DevTools sockets (`@chrome_devtools_remote`,
/// `@<package>_devtools_remote`): what `chrome://inspect` looks for.
pub fn devtools_sockets(proc_net_unix: &str) -> Vec<String> {
    let mut out: Vec<String> = proc_net_unix
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .filter_map(|p| p.strip_prefix('@'))
        .filter(|n| n.ends_with("devtools_remote") || n.contains("_devtools_remote_"))
        .map(str::to_string)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The browser's DevTools socket among `sockets`: Chrome's own name first (Quest Browser uses it),
/// then one named after a browser in [`BROWSERS`]; never a WebView's (`webview_devtools_remote_<pid>`:
/// an app, not the browser).
pub fn browser_socket(sockets: &[String]) -> Option<String> {
    sockets
        .iter()
        .find(|s| *s == "chrome_devtools_remote")
        .cloned()
        .or_else(|| BROWSERS.iter().map(|(pkg, _)| format!("{pkg}_devtools_remote")).find(|own| sockets.contains(own)))
}
