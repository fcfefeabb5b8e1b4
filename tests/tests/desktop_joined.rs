//! The real desktop app (under X, through `tauri-driver`, as tests/tests/desktop.rs) draws a headset
//! that is both on USB and on the network as one row: the fake adb server's Quest 3 reports the
//! Wi-Fi address 192.0.2.77, a client from that address refuses the gate's certificate, and the
//! Headsets card then shows the USB device inside that network headset's row, and nowhere else.
//!
//! A Wi-Fi address is never a loopback one (the adb parser drops those, as a headset's wlan0 never
//! has one), so the test runs itself again inside a network namespace of its own (`unshare -n`,
//! root): there lo also carries 192.0.2.1/24 (the PC, the demo's only LAN address: demo mode takes
//! documentation addresses only) and 192.0.2.77 (the headset). Nothing leaves that namespace; X is
//! the test's own Xvfb (unix socket in /tmp) and D-Bus its own session. Needs what desktop.rs
//! needs, plus `unshare` and `ip` (util-linux, iproute2).

#![cfg(target_os = "linux")]

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use cxr_gate_tests::adb::{FakeAdb, FakeDevice};
use cxr_gate_tests::chromium::{self, in_ci};
use cxr_gate_tests::desktop::{attr, eventually, save_screenshot, start_app, text, wait_runtime};
use cxr_gate_tests::{free_port, refuse_certificate};
use fantoccini::{Client, Locator};

/// Set in the copy of this test that runs inside the namespace.
const INSIDE: &str = "CXR_GATE_TEST_IN_NETNS";
const TEST: &str = "a_headset_on_usb_and_on_wifi_is_one_row";
const PC: &str = "192.0.2.1";
const HEADSET: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 77);
const SERIAL: &str = "2G0YC5ZGB5000J";

/// Brings lo up with the two addresses, then runs this test binary's one test.
const NAMESPACE: &str = r#"set -eu
ip link set lo up
ip addr add "$1/24" dev lo
ip addr add "$2/24" dev lo
exec "$3" --exact "$4" --nocapture --test-threads=1"#;

fn target_dir() -> PathBuf {
    chromium::target_dir(env!("CARGO_TARGET_TMPDIR"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headset_on_usb_and_on_wifi_is_one_row() {
    if std::env::var_os(INSIDE).is_some() {
        return inside().await;
    }
    // The tools are looked for here first, so that a machine without them skips as desktop.rs does.
    if let Err(why) = cxr_gate_tests::desktop::tools(&target_dir()) {
        assert!(!in_ci(), "desktop e2e cannot run: {why}");
        eprintln!("SKIPPED desktop e2e (set CI=true to make this a failure): {why}");
        return;
    }
    let me = std::env::current_exe().expect("this test's binary");
    let status = tokio::process::Command::new("unshare")
        .args(["-n", "bash", "-c", NAMESPACE, "netns", PC, &HEADSET.to_string()])
        .arg(&me)
        .arg(TEST)
        .env(INSIDE, "1")
        // Ours inside: the X server's abstract socket and the bus may not be reachable from there.
        .env_remove("DISPLAY")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .status()
        .await;
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("the test inside its network namespace failed ({s}); its output is above"),
        Err(e) if in_ci() => panic!("unshare: {e} (util-linux, and root, are needed)"),
        Err(e) => eprintln!("SKIPPED: unshare: {e}"),
    }
}

async fn inside() {
    let Some((app, driver, display, _xvfb)) = cxr_gate_tests::desktop::setup(&target_dir()) else { return };
    let data = tempfile::tempdir().expect("temp dir");
    let home = tempfile::tempdir().expect("temp home");
    let port = free_port();
    let args = ["--demo".to_string(), "--listen".into(), format!("0.0.0.0:{port}"), "--data-dir".into()]
        .into_iter()
        .chain([data.path().display().to_string()])
        .collect::<Vec<_>>();
    let adb =
        FakeAdb::start(vec![FakeDevice::quest3(SERIAL, &format!("{HEADSET}/24"))]).await.expect("fake adb server");
    let adb_port = adb.port().to_string();
    let envs = [("CXR_GATE_FAKE_LAN_IPS", PC), ("ANDROID_ADB_SERVER_PORT", adb_port.as_str())];
    let session = start_app(&app, &driver, &display, home.path(), &args, &envs).await.unwrap_or_else(|e| panic!("{e}"));
    let result = checks(&session.client, port).await;
    let _ = session.client.clone().close().await;
    if let Err(e) = result {
        panic!("{e}");
    }
}

async fn count(c: &Client, css: &str) -> Result<usize, String> {
    Ok(c.find_all(Locator::Css(css)).await.map_err(|e| e.to_string())?.len())
}

async fn checks(c: &Client, port: u16) -> Result<(), String> {
    wait_runtime(c, "up", Duration::from_secs(30)).await;
    let usb = format!("[data-testid=usb-row][data-serial='{SERIAL}']");
    let joined = format!("[data-testid=headset-row][data-ip='{HEADSET}'] {usb}");
    // Before the headset reaches the gate over Wi-Fi: a USB row of its own.
    eventually(Duration::from_secs(15), "the Quest on USB, ready", || async {
        Ok((text(c, &format!("{usb} [data-k=usb-chip]")).await? == "ready").then_some(()))
    })
    .await;
    assert_eq!(count(c, &joined).await?, 0, "joined before the book has the headset");
    // The headset's browser, from its Wi-Fi address, refuses the certificate.
    let gate = std::net::SocketAddr::new(PC.parse().map_err(|e| format!("{PC}: {e}"))?, port);
    let refused = refuse_certificate(HEADSET, gate).await.map_err(|e| e.to_string())?;
    println!("the headset's client: {refused}");
    eventually(Duration::from_secs(15), "the USB device inside the network headset's row", || async {
        Ok((count(c, &joined).await? == 1).then_some(()))
    })
    .await;
    assert_eq!(count(c, &usb).await?, 1, "the USB device is drawn once, inside the headset's row");
    let state = attr(c, &format!("[data-testid=headset-row][data-ip='{HEADSET}']"), "data-state").await?;
    assert_eq!(state.as_deref(), Some("refused"), "the network headset's state");
    // What to do names the address it reached, the PC's on its Wi-Fi subnet.
    let sentence = text(c, &format!("[data-testid=headset-row][data-ip='{HEADSET}'] [data-k=sentence]")).await?;
    assert!(sentence.contains(&format!("open https://{PC}:{port}/")), "sentence: {sentence}");
    let details = text(c, &format!("{joined} [data-k=usb-details]")).await?;
    assert!(details.contains(&format!("Wi-Fi {HEADSET}/24")), "details: {details}");
    let _ = c.execute("document.getElementById('headsets').scrollIntoView(); return true;", vec![]).await;
    save_screenshot(c, &target_dir().join("desktop-usb-joined.png")).await?;
    Ok(())
}
