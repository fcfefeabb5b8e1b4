//! Headsets on USB against the fake adb server (`cxr_gate_tests::adb`): the fake checked against
//! Debian's own adb client; "Open on headset" sends `am start` with the URL as one argument even
//! when it holds `&`, `;`, `'` and spaces (split by a real shell, as on the device); the live list
//! names every state (none, authorized, unauthorized, two, one pulled out mid-call) and is left alone
//! while the window is hidden; `cxr-gate-proxy --open-on-headset` exits with its documented codes.
//! Loopback only. Needs `adb` (Debian's package) and the built `cxr-gate-proxy` (failures under CI,
//! skips elsewhere).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use cxr_gate_core::adb::model::{AdbAvailability, UsbStatus};
use cxr_gate_core::adb::open::{open, Choice, OpenError, Page};
use cxr_gate_core::adb::watch::{UsbWatch, WatchConfig};
use cxr_gate_core::adb::{AdbState, Server};
use cxr_gate_core::status::LanInterface;
use cxr_gate_tests::adb::{FakeAdb, FakeDevice};
use cxr_gate_tests::chromium::{in_ci, target_dir};
use cxr_gate_tests::free_port;
use tokio::sync::watch;

const QUEST: &str = "2G0YC5ZGB5000J";
const OTHER: &str = "1WMHH835B11072";

fn adb_client() -> Option<PathBuf> {
    let found = ["/usr/bin/adb", "/usr/lib/android-sdk/platform-tools/adb"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(!in_ci(), "Debian's adb is missing: run `bash scripts/setup.sh` (apt package adb)");
        eprintln!("SKIPPED: no adb client (apt package adb)");
    }
    found
}

/// Debian's adb against the fake, with its own HOME (it keeps keys there) and the fake's port.
fn real_adb(adb: &PathBuf, fake: &FakeAdb, home: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(adb)
        .args(args)
        .env("ANDROID_ADB_SERVER_PORT", fake.port().to_string())
        .env("HOME", home)
        .env_remove("ANDROID_SERIAL")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run adb")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_answers_debians_adb_client() {
    let Some(adb) = adb_client() else { return };
    let devtools = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut quest = FakeDevice::quest3(QUEST, "192.168.1.50/24");
    quest.devtools = Some(devtools.local_addr().unwrap());
    let fake = FakeAdb::start(vec![quest, FakeDevice::unauthorized(OTHER)]).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let (fake, adb2, home2) = (std::sync::Arc::new(fake), adb.clone(), home.path().to_path_buf());
    let f = fake.clone();
    let run = move |args: &'static [&'static str]| {
        let (f, adb, home) = (f.clone(), adb2.clone(), home2.clone());
        tokio::task::spawn_blocking(move || real_adb(&adb, &f, &home, args))
    };

    let listed = run(&["devices", "-l"]).await.unwrap();
    let text = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.status.success(), "adb devices -l: {listed:?}; requests: {:?}", fake.requests());
    assert_eq!(
        text,
        format!(
            "List of devices attached\n{QUEST}         device usb:1-4.3 product:eureka model:Quest_3 device:eureka \
             transport_id:1\n{OTHER}         unauthorized usb:1-2 transport_id:2\n\n"
        )
    );
    // Our client reads the same list from the fake as the real client prints.
    let ours = fake.server().devices().await.unwrap();
    assert_eq!(ours, cxr_gate_core::adb::devices::parse_devices(&text));
    assert_eq!((ours[0].state, ours[1].state), (AdbState::Device, AdbState::Unauthorized));

    let model = run(&["-s", QUEST, "shell", "getprop", "ro.product.model"]).await.unwrap();
    assert!(model.status.success(), "{model:?}; requests: {:?}", fake.requests());
    assert_eq!(String::from_utf8_lossy(&model.stdout), "Quest 3\n");
    let refused = run(&["-s", OTHER, "shell", "getprop", "ro.product.model"]).await.unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("unauthorized"), "{refused:?}");

    // A forward as the real client asks for it: the port it prints is forwarded, and removed.
    let fwd = run(&["-s", QUEST, "forward", "tcp:0", "localabstract:chrome_devtools_remote"]).await.unwrap();
    let port = String::from_utf8_lossy(&fwd.stdout).trim().to_string();
    assert!(
        fwd.status.success() && fake.forwards() == [port.parse::<u16>().unwrap()],
        "{fwd:?}; {:?}",
        fake.requests()
    );
    let removed = Command::new(&adb)
        .args(["-s", QUEST, "forward", "--remove", &format!("tcp:{port}")])
        .env("ANDROID_ADB_SERVER_PORT", fake.port().to_string())
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert!(removed.status.success(), "{removed:?}");
    assert!(fake.forwards().is_empty());
    eprintln!("requests from Debian's adb: {:?}", fake.requests());
}

fn lan(list: &[(&str, &str, bool)]) -> Vec<LanInterface> {
    list.iter()
        .map(|(n, ip, p)| LanInterface { name: n.to_string(), ip: ip.to_string(), primary: *p, ..Default::default() })
        .collect()
}

#[tokio::test]
async fn a_url_with_shell_characters_arrives_as_one_argument() {
    let fake = FakeAdb::start(vec![FakeDevice::quest3(QUEST, "192.168.1.50/24")]).await.unwrap();
    let server = fake.server();
    let url = "https://192.168.1.20:48322/app/?a=1&b=2;true 'x' y";
    let out = server.shell(QUEST, &["am", "start", "-a", "android.intent.action.VIEW", "-d", url]).await.unwrap();
    assert_eq!(out.exit, Some(0), "{out:?}");
    assert_eq!(fake.am_starts().last().unwrap(), &["am", "start", "-a", "android.intent.action.VIEW", "-d", url]);

    // "Open on headset": the address on the headset's Wi-Fi subnet, the app with its query, Quest Browser.
    let page = Page {
        port: 48322,
        lan: lan(&[("eth0", "203.0.113.5", true), ("wlan0", "192.168.1.20", false)]),
        bound: None,
        app_query: Some("?serverIP={ip}&port={port}".into()),
    };
    let opened = open(&server, QUEST, &page).await.unwrap();
    let want = "https://192.168.1.20:48322/app/?serverIP=192.168.1.20&port=48322";
    assert_eq!(
        fake.am_starts().last().unwrap(),
        &["am", "start", "-a", "android.intent.action.VIEW", "-d", want, "-p", "com.oculus.browser"]
    );
    assert_eq!(opened.choice, Choice::SameSubnet { iface: "wlan0".into() });
    assert_eq!(
        opened.message(),
        format!("Opened {want} in Quest Browser (on the headset's Wi-Fi subnet (192.168.1.50/24), via wlan0).")
    );
    // Without a web app the trust page; a headset on another subnet gets the primary address.
    let mut elsewhere = FakeDevice::quest3(QUEST, "10.9.8.7/24");
    elsewhere.packages = "package:com.android.settings\n".into();
    fake.set_devices(vec![elsewhere]);
    let opened = open(&server, QUEST, &Page { app_query: None, ..page }).await.unwrap();
    assert_eq!(
        fake.am_starts().last().unwrap(),
        &["am", "start", "-a", "android.intent.action.VIEW", "-d", "https://203.0.113.5:48322/"]
    );
    assert_eq!((opened.choice, opened.browser), (Choice::Primary, None));
    fake.stop();
}

/// Waits until the watcher's status satisfies `pred`.
async fn status_where(rx: &mut watch::Receiver<UsbStatus>, what: &str, pred: impl Fn(&UsbStatus) -> bool) -> UsbStatus {
    let r = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if pred(&rx.borrow_and_update()) {
                return rx.borrow().clone();
            }
            rx.changed().await.expect("watcher alive");
        }
    })
    .await;
    r.unwrap_or_else(|_| panic!("timed out waiting for {what}; status: {:#?}", rx.borrow()))
}

#[tokio::test]
async fn the_card_names_every_state_and_waits_while_hidden() {
    let fake = FakeAdb::start(vec![]).await.unwrap();
    let (shown, active) = watch::channel(true);
    let w = UsbWatch::start(WatchConfig { server: fake.server(), adb_dir: None }, active);
    let mut rx = w.subscribe();
    // None.
    status_where(&mut rx, "adb ready, no device", |s| s.adb == AdbAvailability::Ready && s.devices.is_empty()).await;
    // One authorized: asked once for model, OS, Wi-Fi and browser.
    fake.set_devices(vec![FakeDevice::quest3(QUEST, "192.168.1.50/24")]);
    let s = status_where(&mut rx, "the Quest, asked", |s| s.devices.first().is_some_and(|d| d.os.is_some())).await;
    let q = &s.devices[0];
    assert_eq!(
        (q.chip.as_str(), q.model.as_deref(), q.os.as_deref()),
        ("ready", Some("Quest 3"), Some("Horizon OS v205"))
    );
    assert_eq!(
        (q.wifi.as_deref(), q.browser.as_deref(), q.can_open),
        (Some("192.168.1.50/24"), Some("Quest Browser"), true)
    );
    // Two, one unauthorized.
    fake.set_devices(vec![FakeDevice::quest3(QUEST, "192.168.1.50/24"), FakeDevice::unauthorized(OTHER)]);
    let s = status_where(&mut rx, "two devices", |s| s.devices.len() == 2).await;
    let u = s.devices.iter().find(|d| d.serial == OTHER).unwrap();
    assert_eq!(u.chip, "not allowed yet");
    assert_eq!(u.sentence, "Put on the headset and allow USB debugging for this computer.");
    assert!(!u.can_open);
    let asked = fake.shells().len();
    assert_eq!(asked, 3, "the Quest is asked once (getprop, ip, pm), not again when another device comes");

    // Hidden: the watcher lets go of the server; a change is seen only once shown again.
    shown.send(false).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let requests = fake.requests().len();
    fake.set_devices(vec![FakeDevice::unauthorized(OTHER)]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(w.status().devices.len(), 2, "hidden: nothing asked");
    assert_eq!(fake.requests().len(), requests, "hidden: no request at all");
    shown.send(true).unwrap();
    status_where(&mut rx, "the change once shown", |s| s.devices.len() == 1 && s.devices[0].serial == OTHER).await;

    // A device pulled out while it is being asked: it is dropped, nothing hangs.
    let mut pulled = FakeDevice::quest3(QUEST, "192.168.1.50/24");
    pulled.vanish_on_shell = true;
    fake.set_devices(vec![pulled, FakeDevice::unauthorized(OTHER)]);
    status_where(&mut rx, "the pulled device gone", |s| s.devices.len() == 1 && s.devices[0].serial == OTHER).await;
    fake.stop();
}

#[tokio::test]
async fn a_headset_pulled_out_during_open_is_named() {
    let mut pulled = FakeDevice::quest3(QUEST, "192.168.1.50/24");
    pulled.vanish_on_shell = true;
    let fake = FakeAdb::start(vec![pulled]).await.unwrap();
    let page = Page { port: 48322, lan: lan(&[("eth0", "203.0.113.5", true)]), bound: None, app_query: None };
    match open(&fake.server(), QUEST, &page).await {
        Err(OpenError::Adb(e)) if e.is_device_gone() => {
            assert!(e.to_string().contains("went away"), "{e}");
        }
        other => panic!("expected the device gone, got {other:?}"),
    }
    assert!(fake.devices().is_empty());
}

#[tokio::test]
async fn without_a_server_or_adb_the_card_says_where_to_get_it() {
    let empty = tempfile::tempdir().unwrap();
    let (_shown, active) = watch::channel(true);
    let server = Server::on_port(free_port());
    let w = UsbWatch::start(WatchConfig { server, adb_dir: Some(empty.path().to_path_buf()) }, active);
    let mut rx = w.subscribe();
    let s = status_where(&mut rx, "adb not found", |s| s.adb == AdbAvailability::NotFound).await;
    let msg = s.message.unwrap_or_default();
    assert!(msg.contains("https://developer.android.com/tools/releases/platform-tools"), "{msg}");
    assert!(msg.contains(&empty.path().display().to_string()), "names the folder looked in: {msg}");
}

fn proxy_bin() -> Option<PathBuf> {
    let p = std::env::var_os("CXR_GATE_PROXY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir(env!("CARGO_TARGET_TMPDIR")).join("debug/cxr-gate-proxy"));
    if p.is_file() {
        return Some(p);
    }
    assert!(!in_ci(), "{} missing: cargo build -p cxr-gate-core", p.display());
    eprintln!("SKIPPED: {} missing (cargo build -p cxr-gate-core)", p.display());
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_on_headset_exit_codes() {
    let Some(bin) = proxy_bin() else { return };
    let fake = FakeAdb::start(vec![]).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let no_path = tempfile::tempdir().unwrap();
    let run = |port: u16, serial: Option<&str>| {
        let mut c = Command::new(&bin);
        c.arg("--open-on-headset");
        if let Some(s) = serial {
            c.arg(s);
        }
        // A listener bound to one (documentation) address: the URL is fixed, whatever this machine's LAN.
        c.args(["--listen", "198.51.100.7:48322", "--data-dir"])
            .arg(data.path())
            .env("ANDROID_ADB_SERVER_PORT", port.to_string())
            // No adb to find: nothing may start a real adb server here.
            .env("PATH", no_path.path())
            .env("HOME", no_path.path())
            .env_remove("ANDROID_HOME")
            .env_remove("ANDROID_SDK_ROOT");
        let out = c.output().expect("run cxr-gate-proxy");
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    };
    let port = fake.port();
    let quest = FakeDevice::quest3(QUEST, "192.168.1.50/24");
    let offline = FakeDevice { serial: "OFF1".into(), state: "offline".into(), ..Default::default() };
    let cases: Vec<(Vec<FakeDevice>, Option<&str>, i32, &str)> = vec![
        (vec![], None, 4, "no headset is connected"),
        (vec![FakeDevice::unauthorized(OTHER)], None, 6, "allow"),
        (vec![quest.clone(), FakeDevice::unauthorized(OTHER)], None, 5, "--open-on-headset 2G0YC5ZGB5000J"),
        (vec![quest.clone(), FakeDevice::unauthorized(OTHER)], Some("NOPE"), 4, "connected: 2G0YC5ZGB5000J (device)"),
        (vec![offline], None, 7, "unplug the cable"),
        (
            vec![quest.clone(), FakeDevice::unauthorized(OTHER)],
            Some(QUEST),
            0,
            "Opened https://198.51.100.7:48322/ in Quest Browser",
        ),
    ];
    for (devices, serial, code, says) in cases {
        fake.set_devices(devices);
        let (got, text) = run(port, serial);
        assert_eq!(got, Some(code), "{serial:?}: {text}");
        assert!(text.contains(says), "{serial:?}: expected {says:?} in: {text}");
    }
    assert_eq!(
        fake.am_starts(),
        [[
            "am",
            "start",
            "-a",
            "android.intent.action.VIEW",
            "-d",
            "https://198.51.100.7:48322/",
            "-p",
            "com.oculus.browser"
        ]]
    );
    // No server and no adb to start one.
    let (got, text) = run(free_port(), None);
    assert_eq!(got, Some(3), "{text}");
    assert!(text.contains("platform-tools"), "{text}");
    fake.stop();
}
