//! The real LAN scan (netlink, through `local-ip-address`) and the certificate manager, against
//! adapters made in a private network namespace: a virtual adapter appearing (docker0, a VirtualBox
//! host-only network, a WireGuard tunnel) must not change the certificate; a new primary adapter
//! (the default route moving to it) must. Restarts over one data dir with only a virtual adapter up
//! (docker0 holding the default route, as Hyper-V's does on Windows before the Wi-Fi connects) keep
//! the certificate, and the Wi-Fi's address stays in it until a genuinely new one. Linux only; needs
//! root for `unshare -n` and `ip`. Nothing is sent anywhere: the namespace's adapters only get
//! addresses and routes, and the scan reads them.
#![cfg(target_os = "linux")]

use std::net::Ipv4Addr;
use std::process::Command;

use cxr_gate_core::net::{cert_ips, scan};
use cxr_gate_core::status::LanInterface;
use cxr_gate_core::tls::CertManager;

/// Set in the copy of this test that runs inside the namespace.
const INSIDE: &str = "CXR_GATE_TEST_IN_NETNS";

fn ip(args: &str) {
    let status = Command::new("ip").args(args.split_whitespace()).status().expect("running ip (iproute2)");
    assert!(status.success(), "ip {args} failed");
}

fn describe(lan: &[LanInterface]) -> String {
    let flag = |i: &LanInterface| match (i.primary, i.virtual_adapter) {
        (true, _) => " primary",
        (_, true) => " virtual",
        _ => "",
    };
    lan.iter().map(|i| format!("{} {}{}", i.name, i.ip, flag(i))).collect::<Vec<_>>().join(", ")
}

/// Scans the namespace's adapters and brings the certificate up to date, as the gateway's LAN watcher does.
fn rescan(mgr: &CertManager) -> (Vec<LanInterface>, String, Vec<String>) {
    let lan = scan();
    let info = mgr.ensure(&cert_ips(&lan)).expect("certificate");
    println!("adapters: {}\n  certificate {} names {:?}", describe(&lan), info.fingerprint_sha256, info.sans);
    (lan, info.fingerprint_sha256, info.sans)
}

fn has(lan: &[LanInterface], name: &str, addr: [u8; 4]) -> bool {
    lan.iter().any(|i| i.name == name && i.ip == Ipv4Addr::from(addr).to_string())
}

/// Runs inside the namespace (see the test below): builds the adapters and checks the certificate.
fn inside() {
    // A "physical" adapter with the default route (a veth pair stands in for the NIC: this
    // kernel has no dummy module; the peer end is only there to give it a carrier).
    ip("link set lo up");
    ip("link add eth7 type veth peer name eth7p");
    ip("addr add 10.200.0.2/24 dev eth7");
    ip("link set eth7 up");
    ip("link set eth7p up");
    ip("route add default via 10.200.0.1 dev eth7");
    let dir = tempfile::tempdir().unwrap();
    let mgr = CertManager::new(dir.path(), None, vec![]);
    let (lan, first, sans) = rescan(&mgr);
    assert!(lan.iter().any(|i| i.name == "eth7" && i.primary), "eth7 should be primary: {}", describe(&lan));
    assert!(sans.contains(&"10.200.0.2".to_string()), "{sans:?}");

    // Virtual adapters come up with addresses, as Docker, VirtualBox and a VPN do at boot.
    ip("link add docker0 type bridge");
    ip("addr add 172.17.0.1/16 dev docker0");
    ip("link set docker0 up");
    ip("link add vboxnet0 type veth peer name vboxnet0p");
    ip("addr add 192.168.56.1/24 dev vboxnet0");
    ip("link set vboxnet0 up");
    ip("link set vboxnet0p up");
    ip("link add wg0 type veth peer name wg0p");
    ip("addr add 10.66.0.2/24 dev wg0");
    ip("link set wg0 up");
    let (lan, fingerprint, sans) = rescan(&mgr);
    for (name, addr) in [("docker0", [172, 17, 0, 1]), ("vboxnet0", [192, 168, 56, 1]), ("wg0", [10, 66, 0, 2])] {
        assert!(has(&lan, name, addr), "the scan must show {name}: {}", describe(&lan));
        assert!(lan.iter().any(|i| i.name == name && i.virtual_adapter), "{name} is virtual: {}", describe(&lan));
        assert!(!sans.contains(&Ipv4Addr::from(addr).to_string()), "{name} in the certificate: {sans:?}");
    }
    assert_eq!(fingerprint, first, "a virtual adapter changed the certificate");
    // …and a virtual adapter's new address (the next boot) does not either.
    ip("addr flush dev docker0");
    ip("addr add 172.18.0.1/16 dev docker0");
    let (lan, fingerprint, _) = rescan(&mgr);
    assert!(has(&lan, "docker0", [172, 18, 0, 1]), "{}", describe(&lan));
    assert_eq!(fingerprint, first, "docker0's new address changed the certificate");

    // A new primary adapter: the default route moves to it.
    ip("link add eth8 type veth peer name eth8p");
    ip("addr add 10.201.0.2/24 dev eth8");
    ip("link set eth8 up");
    ip("link set eth8p up");
    ip("route replace default via 10.201.0.1 dev eth8");
    let (lan, fingerprint, sans) = rescan(&mgr);
    assert!(lan.iter().any(|i| i.name == "eth8" && i.primary), "eth8 should be primary: {}", describe(&lan));
    assert_ne!(fingerprint, first, "a new primary adapter must be in the certificate");
    assert!(sans.contains(&"10.201.0.2".to_string()) && sans.contains(&"10.200.0.2".to_string()), "{sans:?}");
}

#[test]
fn a_new_virtual_adapter_keeps_the_certificate_and_a_new_primary_changes_it() {
    in_own_netns("a_new_virtual_adapter_keeps_the_certificate_and_a_new_primary_changes_it", inside);
}

/// Brings up the "Wi-Fi": a veth with `addr`/24 and the default route through it.
fn wifi_up(addr: &str) {
    ip("link add wlan0 type veth peer name wlan0p");
    ip(&format!("addr add {addr}/24 dev wlan0"));
    ip("link set wlan0 up");
    ip("link set wlan0p up");
    let gateway = addr.rsplit_once('.').map(|(net, _)| format!("{net}.1")).unwrap();
    ip(&format!("route replace default via {gateway} dev wlan0"));
}

/// The Wi-Fi gone (its route goes with it).
fn wifi_down() {
    ip("link del wlan0");
}

/// A start where only Docker's bridge is up and holds the default route, as Hyper-V's or WSL's
/// adapter does on Windows before the Wi-Fi connects (a veth port gives the bridge a carrier).
fn docker_only() {
    ip("link add docker0 type bridge");
    ip("addr add 172.17.0.1/16 dev docker0");
    ip("link add vethd0 type veth peer name vethd0p");
    ip("link set vethd0 master docker0");
    ip("link set vethd0 up");
    ip("link set vethd0p up");
    ip("link set docker0 up");
    ip("route replace default via 172.17.0.2 dev docker0");
}

/// Runs inside the namespace: starts and restarts over one data dir while the adapters come and go.
fn inside_boots() {
    ip("link set lo up");
    let dir = tempfile::tempdir().unwrap();
    // Boot 1: the Wi-Fi is up; the certificate covers it.
    wifi_up("10.99.0.2");
    let (lan, first, sans) = rescan(&CertManager::new(dir.path(), None, vec![]));
    assert!(lan.iter().any(|i| i.name == "wlan0" && i.primary), "{}", describe(&lan));
    assert!(sans.contains(&"10.99.0.2".to_string()), "{sans:?}");

    // Boot 2: only docker0, holding the default route. Same certificate, and still after the
    // Wi-Fi connects with its usual address.
    wifi_down();
    docker_only();
    let mgr = CertManager::new(dir.path(), None, vec![]);
    let (lan, fingerprint, sans) = rescan(&mgr);
    assert!(lan.iter().any(|i| i.name == "docker0" && i.primary), "docker0 holds the route: {}", describe(&lan));
    assert_eq!(fingerprint, first, "a boot with only a virtual adapter up changed the certificate");
    assert!(sans.contains(&"10.99.0.2".to_string()), "{sans:?}");
    wifi_up("10.99.0.2");
    let (lan, fingerprint, _) = rescan(&mgr);
    assert!(lan.iter().any(|i| i.name == "wlan0" && i.primary), "{}", describe(&lan));
    assert_eq!(fingerprint, first, "the Wi-Fi's return changed the certificate");

    // Another network: a genuinely new address, covered at the first scan, the old one kept.
    ip("addr flush dev wlan0");
    ip("addr add 10.98.0.7/24 dev wlan0");
    ip("route replace default via 10.98.0.1 dev wlan0");
    let (_, moved, sans) = rescan(&mgr);
    assert_ne!(moved, first, "a new primary address must be covered within one scan");
    assert!(sans.contains(&"10.98.0.7".to_string()) && sans.contains(&"10.99.0.2".to_string()), "{sans:?}");
    drop(mgr);

    // Boot 3: docker0 first again, then home's Wi-Fi: nothing changes any more.
    wifi_down();
    ip("route replace default via 172.17.0.2 dev docker0");
    let mgr = CertManager::new(dir.path(), None, vec![]);
    let (_, fingerprint, _) = rescan(&mgr);
    assert_eq!(fingerprint, moved, "only docker0 up");
    wifi_up("10.99.0.2");
    let (_, fingerprint, _) = rescan(&mgr);
    assert_eq!(fingerprint, moved, "home's Wi-Fi again");
}

#[test]
fn boots_with_only_a_virtual_adapter_up_keep_the_certificate() {
    in_own_netns("boots_with_only_a_virtual_adapter_up_keep_the_certificate", inside_boots);
}

/// Runs the test `name` again in a fresh network namespace of its own, where it calls `inside`.
fn in_own_netns(name: &str, inside: fn()) {
    if std::env::var_os(INSIDE).is_some() {
        inside();
        return;
    }
    let me = std::env::current_exe().unwrap();
    let out = Command::new("unshare")
        .arg("--net")
        .arg(&me)
        .args(["--exact", name, "--nocapture", "--test-threads", "1"])
        .env(INSIDE, "1")
        .output();
    let unavailable = match &out {
        Err(e) => Some(format!("cannot run unshare: {e}")),
        Ok(o) if !o.status.success() && String::from_utf8_lossy(&o.stderr).starts_with("unshare:") => {
            Some(String::from_utf8_lossy(&o.stderr).trim().to_string())
        }
        Ok(_) => None,
    };
    if let Some(why) = unavailable {
        // CI runs as root and must run this; a developer without root is told, not failed.
        assert!(!in_ci(), "needs a network namespace under CI: {why}");
        eprintln!("SKIPPED (not CI): no private network namespace here ({why}); run as root to check");
        return;
    }
    let out = out.unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{text}");
    assert!(out.status.success(), "inside the namespace:\n{text}");
    assert!(text.contains("1 passed"), "the inner run did not run the test:\n{text}");
}

/// CI is on when `CI` is set to anything but empty, `0` or `false` (any case): the same truthiness
/// as the black-box tests' `cxr_gate_tests::chromium::in_ci` (that crate is not a dependency here).
fn in_ci() -> bool {
    std::env::var("CI").map(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false")).unwrap_or(false)
}
