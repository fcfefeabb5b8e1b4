//! End-to-end tests of the real desktop app (`cxr-gate`, src-tauri) under X, driven through
//! `tauri-driver` + WebKitWebDriver with fantoccini (harness: `cxr_gate_tests::desktop`).
//!
//! `desktop_app_shows_runtime_state_qr_and_certificate`: the app starts with a loopback backend that
//! is NOT running yet, its own data dir (holding a damaged settings.json) and a 200 ms health
//! interval. Then: the window shows the settings notice and the runtime DOWN; the QR code, 127.0.0.1
//! in the address picker and in the certificate's names are there; an echo server (standing in for
//! the CloudXR Runtime) starts → UP (the certificate's unchanged list is not redrawn, the relative
//! time moves on); a bad proxy port in Settings gets its message next to the field; a web app folder
//! is refused while missing and, once real, served at /app/ with the QR code pointing there; the echo
//! server stops → DOWN again. Given an adb folder without adb and no adb server, the Headsets card
//! says where to get Google's platform-tools. A screenshot goes to `<target>/desktop-e2e.png`.
//!
//! `demo_window_with_documentation_addresses`: the app in demo mode with `CXR_GATE_FAKE_LAN_IPS`
//! shows those addresses (and only those) in the picker, the links and the certificate; with a fake
//! adb server (`cxr_gate_tests::adb`) listing a Quest 3 on USB, the Headsets card shows it ready and
//! its "Open on headset" sends the primary trust URL to Quest Browser (the card then goes to
//! `<target>/desktop-usb.png`); after a minute with no
//! headset the checklist names the addresses; its window is the README's picture: saved to `<target>/desktop-demo.png`, and to
//! `$CXR_GATE_SCREENSHOTS/screenshot.png` when that is set (`scripts/screenshots.sh`). That run
//! listens on all interfaces, as the app does by default (it must, to offer LAN addresses); the test
//! itself talks to loopback only.
//!
//! Needs: the app binary (`CXR_GATE_APP`, else `<target>/debug/cxr-gate`: `cargo build -p cxr-gate`),
//! `tauri-driver` (`TAURI_DRIVER`, PATH or ~/.cargo/bin), `WebKitWebDriver` (webkit2gtk-driver) and
//! an X display: `DISPLAY` if set (e.g. under `xvfb-run -a`), else the test starts its own `Xvfb`.
//! A D-Bus session is started with `dbus-run-session` when none is set. Missing tools fail the test
//! when CI is set, and skip it (loudly) otherwise. Only loopback is contacted.

#![cfg(target_os = "linux")]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cxr_gate_core::demo::EchoServer;
use cxr_gate_tests::adb::{FakeAdb, FakeDevice};
use cxr_gate_tests::chromium::{self, in_ci};
use cxr_gate_tests::desktop::{
    attr, click, click_css, eventually, save_screenshot, start_app, text, type_into, wait_runtime,
};
use cxr_gate_tests::{free_port, screenshots_dir};
use fantoccini::{Client, Locator};

/// The two tests start a WebKit app each: one at a time, on 2 cores.
static ONE_APP: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `target/` of this build (the parent of `CARGO_TARGET_TMPDIR`), which honours CARGO_TARGET_DIR.
fn target_dir() -> PathBuf {
    chromium::target_dir(env!("CARGO_TARGET_TMPDIR"))
}

/// The tools and an X display, or None when the test is skipped (outside CI).
fn setup() -> Option<(PathBuf, PathBuf, String, Option<cxr_gate_tests::desktop::Group>)> {
    cxr_gate_tests::desktop::setup(&target_dir())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desktop_app_shows_runtime_state_qr_and_certificate() {
    let _one = ONE_APP.lock().await;
    let Some((app, driver, display, _xvfb)) = setup() else { return };

    let data = tempfile::tempdir().expect("temp dir");
    // A damaged settings file: the app must keep it as .bak, use defaults and say so.
    std::fs::write(data.path().join("settings.json"), "{ \"proxy_port\": ").expect("write settings.json");
    let backend_port = free_port();
    let backend: SocketAddr = ([127, 0, 0, 1], backend_port).into();
    let listen_port = free_port();
    // The app's HOME: "Trust on this PC" writes the CA into $HOME/.pki/nssdb, here a fresh one.
    let home = tempfile::tempdir().expect("temp home");
    // An adb folder without adb, and no adb server: the Headsets card says where to get adb, and
    // nothing starts a real adb server here.
    let no_adb = tempfile::tempdir().expect("temp dir");
    let args = [
        "--backend".to_string(),
        backend.to_string(),
        "--listen".into(),
        format!("127.0.0.1:{listen_port}"),
        "--data-dir".into(),
        data.path().display().to_string(),
        "--health-interval".into(),
        "200ms".into(),
        "--adb-dir".into(),
        no_adb.path().display().to_string(),
    ];
    let adb_port = free_port().to_string();
    let envs = [("ANDROID_ADB_SERVER_PORT", adb_port.as_str())];
    let session = start_app(&app, &driver, &display, home.path(), &args, &envs).await.unwrap_or_else(|e| panic!("{e}"));
    let result = run_checks(&session.client, data.path(), home.path(), backend, listen_port).await;
    let _ = session.client.clone().close().await;
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The addresses the README's window shows (RFC 5737 documentation addresses).
const FAKE_LAN: [&str; 2] = ["192.0.2.10", "192.0.2.20"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_window_with_documentation_addresses() {
    let _one = ONE_APP.lock().await;
    let Some((app, driver, display, _xvfb)) = setup() else { return };
    let data = tempfile::tempdir().expect("temp dir");
    let home = tempfile::tempdir().expect("temp home");
    // The default port when it is free (the picture then shows what a user sees), else any.
    let port = match std::net::TcpListener::bind(("0.0.0.0", 48322)) {
        Ok(_) => 48322,
        Err(_) => free_port(),
    };
    let args = [
        "--demo".to_string(),
        "--listen".into(),
        format!("0.0.0.0:{port}"),
        "--data-dir".into(),
        data.path().display().to_string(),
    ];
    let lan = FAKE_LAN.join(",");
    // A Quest 3 on USB, on a Wi-Fi subnet that is none of the fake LAN's: it gets the primary address.
    let adb = FakeAdb::start(vec![FakeDevice::quest3(USB_QUEST, "10.9.8.7/24")]).await.expect("fake adb server");
    let adb_port = adb.port().to_string();
    let envs = [("CXR_GATE_FAKE_LAN_IPS", lan.as_str()), ("ANDROID_ADB_SERVER_PORT", adb_port.as_str())];
    let session = start_app(&app, &driver, &display, home.path(), &args, &envs).await.unwrap_or_else(|e| panic!("{e}"));
    let result = demo_checks(&session.client, port, &adb).await;
    let _ = session.client.clone().close().await;
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The serial of the demo's Quest on USB (the fake adb server's).
const USB_QUEST: &str = "2G0YC5ZGB5000J";

async fn demo_checks(c: &Client, port: u16, adb: &FakeAdb) -> Result<(), String> {
    wait_runtime(c, "up", Duration::from_secs(30)).await;
    // No headset has come, but it is early: no checklist yet.
    assert!(attr(c, "[data-testid=headsets-checklist]", "hidden").await?.is_some(), "a checklist at start");
    assert_eq!(attr(c, "[data-testid=demo-badge]", "hidden").await?, None, "the demo badge is shown");
    // The picker offers the fake addresses, and only them (primary first): not this machine's LAN.
    let ips = eventually(Duration::from_secs(10), "the fake addresses in the picker", || async {
        let mut ips = Vec::new();
        for o in c.find_all(Locator::Css("[data-testid=ip-select] option")).await.map_err(|e| e.to_string())? {
            ips.push(o.attr("value").await.map_err(|e| e.to_string())?.unwrap_or_default());
        }
        Ok((!ips.is_empty()).then_some(ips))
    })
    .await;
    assert_eq!(ips, FAKE_LAN, "address picker");
    assert_eq!(text(c, "[data-testid=trust-url]").await?, format!("https://{}:{port}/", FAKE_LAN[0]));
    // The certificate was issued for them.
    for ip in FAKE_LAN {
        eventually(Duration::from_secs(10), &format!("{ip} covered by the certificate"), || async {
            let found = c
                .find_all(Locator::Css(&format!("[data-testid=cert-coverage] li.covered[data-ip='{ip}']")))
                .await
                .map_err(|e| e.to_string())?;
            Ok((!found.is_empty()).then_some(()))
        })
        .await;
    }
    eventually(Duration::from_secs(10), "the QR code", || async {
        let label = attr(c, "[data-testid=qr]", "aria-label").await?.unwrap_or_default();
        Ok(label.ends_with(&format!("https://{}:{port}/", FAKE_LAN[0])).then_some(()))
    })
    .await;
    // Settled: the CA's trust on this (fresh) PC has been checked.
    eventually(Duration::from_secs(15), "the CA's trust checked", || async {
        let t = attr(c, "[data-testid=ca-trust]", "data-trusted").await?;
        Ok((t.as_deref() == Some("no")).then_some(()))
    })
    .await;
    // Not trusting the CA on this PC is optional: told as neutral information beside its button.
    let class = attr(c, "[data-testid=ca-trust]", "class").await?.unwrap_or_default();
    assert!(class.contains("muted") && !class.contains("warn") && !class.contains("error"), "ca-trust class: {class}");
    assert_eq!(attr(c, "[data-testid=ca-trust-button]", "disabled").await?, None, "Trust on this PC is offered");
    // The CA's long "Signs for" list is folded behind a disclosure that says what it holds.
    assert_eq!(attr(c, "[data-testid=ca-permitted-box]", "open").await?, None, "Signs for is folded");
    let summary = text(c, "[data-testid=ca-permitted-summary]").await?;
    assert!(summary.contains("private and loopback networks") && summary.contains("local names"), "summary: {summary}");
    save_screenshot(c, &target_dir().join("desktop-demo.png")).await?;
    if let Some(dir) = screenshots_dir() {
        save_screenshot(c, &dir.join("screenshot.png")).await?;
    }
    // The Quest on USB: its row, ready, named by its properties; "Open on headset" sends the primary
    // trust URL to its Quest Browser as one argument.
    let row = format!("[data-testid=usb-row][data-serial='{USB_QUEST}']");
    let (chip, title) = eventually(Duration::from_secs(15), "the Quest on USB in the Headsets card", || async {
        let chip = text(c, &format!("{row} [data-k=usb-chip]")).await?;
        let title = text(c, &format!("{row} strong")).await?;
        Ok((chip == "ready").then_some((chip, title)))
    })
    .await;
    assert_eq!((chip.as_str(), title.as_str()), ("ready", "Quest 3"));
    let details = text(c, &format!("{row} [data-k=usb-details]")).await?;
    assert!(details.contains("Horizon OS v205") && details.contains("Wi-Fi 10.9.8.7/24"), "details: {details}");
    click_css(c, &format!("{row} [data-k=usb-open]")).await?;
    let want = format!("https://{}:{port}/", FAKE_LAN[0]);
    let note = eventually(Duration::from_secs(10), "Open on headset's result", || async {
        let t = text(c, &format!("{row} [data-k=usb-note]")).await?;
        Ok(t.starts_with("Opened").then_some(t))
    })
    .await;
    assert!(note.starts_with(&format!("Opened {want} in Quest Browser")), "note: {note}");
    // The card as it looks then, for review: `<target>/desktop-usb.png`.
    let _ = c.execute("document.getElementById('headsets').scrollIntoView(); return true;", vec![]).await;
    save_screenshot(c, &target_dir().join("desktop-usb.png")).await?;
    assert_eq!(
        adb.am_starts(),
        [["am", "start", "-a", "android.intent.action.VIEW", "-d", want.as_str(), "-p", "com.oculus.browser"]]
    );
    // A minute with nobody seen: the checklist, with this PC's addresses and the firewall's verdict.
    let list = eventually(Duration::from_secs(75), "the one-minute checklist", || async {
        if attr(c, "[data-testid=headsets-checklist]", "hidden").await?.is_some() {
            return Ok(None);
        }
        Ok(Some(text(c, "[data-testid=headsets-checklist]").await?))
    })
    .await;
    eprintln!("checklist:\n{list}");
    assert!(list.contains(&format!("({})", FAKE_LAN.join(", "))), "the addresses: {list}");
    assert!(list.contains("client isolation") && list.contains("Firewall: "), "{list}");
    // The Private-profile item is Windows's alone.
    assert_eq!(list.contains("network profile is Private"), cfg!(windows), "{list}");
    Ok(())
}

async fn run_checks(
    c: &Client,
    data_dir: &Path,
    home: &Path,
    backend: SocketAddr,
    listen_port: u16,
) -> Result<(), String> {
    // 1. The backend is not running: DOWN (after the first health checks).
    wait_runtime(c, "down", Duration::from_secs(45)).await;
    // No adb: one line in the Headsets card says where to get Google's platform-tools.
    let hint = eventually(Duration::from_secs(10), "the no-adb line", || async {
        let t = text(c, "[data-testid=usb-hint]").await?;
        Ok(t.contains("platform-tools").then_some(t))
    })
    .await;
    assert!(hint.contains("https://developer.android.com/tools/releases/platform-tools"), "hint: {hint}");

    // The damaged settings file was kept and the window says so.
    let notice = eventually(Duration::from_secs(5), "settings notice", || async {
        let hidden = attr(c, "[data-testid=notice]", "hidden").await?;
        let t = text(c, "#notice-text").await?;
        Ok((hidden.is_none() && !t.is_empty()).then_some(t))
    })
    .await;
    assert!(notice.contains("settings.json.bak"), "notice: {notice}");
    assert!(data_dir.join("settings.json.bak").is_file(), "settings.json.bak not kept");

    // 2. The QR code (an SVG from Rust) and the address to scan.
    eventually(Duration::from_secs(10), "QR code SVG", || async {
        let found = c.find_all(Locator::Css("[data-testid=qr] svg")).await.map_err(|e| e.to_string())?;
        Ok((!found.is_empty()).then_some(()))
    })
    .await;
    let options = c.find_all(Locator::Css("[data-testid=ip-select] option")).await.map_err(|e| e.to_string())?;
    let mut ips = Vec::new();
    for o in options {
        ips.push(o.attr("value").await.map_err(|e| e.to_string())?.unwrap_or_default());
    }
    assert!(
        ips.iter().any(|ip| ip == "127.0.0.1" || ip.parse::<std::net::Ipv4Addr>().is_ok()),
        "no LAN IP or 127.0.0.1 in the picker: {ips:?}"
    );
    let trust = text(c, "[data-testid=trust-url]").await?;
    assert!(trust.starts_with("https://127.0.0.1:"), "trust URL: {trust}");
    let wss = text(c, "[data-testid=wss-url]").await?;
    assert!(wss.starts_with("wss://127.0.0.1:"), "wss URL: {wss}");

    // 3. The certificate covers 127.0.0.1.
    eventually(Duration::from_secs(10), "127.0.0.1 in the certificate names", || async {
        let found = c
            .find_all(Locator::Css("[data-testid=cert-san][data-san='127.0.0.1']"))
            .await
            .map_err(|e| e.to_string())?;
        Ok((!found.is_empty()).then_some(()))
    })
    .await;
    let fp = text(c, "[data-testid=cert-fingerprint]").await?;
    assert_eq!(fp.split(':').count(), 32, "SHA-256 fingerprint: {fp}");

    // The local CA: shown, not trusted by this (fresh) PC yet; "Trust on this PC" puts it into the
    // NSS database the browsers here read, and the window then says so.
    let ca_name = text(c, "[data-testid=ca-name]").await?;
    assert!(ca_name.starts_with("CXR Gate CA"), "CA name: {ca_name}");
    let ca_fp = text(c, "[data-testid=ca-fingerprint]").await?;
    assert_eq!(ca_fp.split(':').count(), 32, "CA fingerprint: {ca_fp}");
    eventually(Duration::from_secs(15), "the CA not trusted yet", || async {
        let t = attr(c, "[data-testid=ca-trust]", "data-trusted").await?;
        Ok((t.as_deref() == Some("no")).then_some(()))
    })
    .await;
    click(c, "ca-trust-button").await?;
    eventually(Duration::from_secs(20), "the CA trusted on this PC", || async {
        let t = attr(c, "[data-testid=ca-trust]", "data-trusted").await?;
        let line = text(c, "[data-testid=ca-trust]").await?;
        if t.as_deref() == Some("yes") {
            Ok(Some(()))
        } else {
            Err(format!("{t:?}: {line}"))
        }
    })
    .await;
    let db = format!("sql:{}", home.join(".pki/nssdb").display());
    let listed = Command::new("certutil").args(["-L", "-d", &db]).output().map_err(|e| format!("certutil: {e}"))?;
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.contains(&ca_name) && listed.contains("C,,"), "NSS database after Trust on this PC:\n{listed}");

    // The Meta Web Launch switch turns the QR code into an oculus.com link to the trust page.
    click_css(c, "label.switch.meta").await?;
    eventually(Duration::from_secs(5), "QR code carrying a Meta Web Launch link", || async {
        let label = attr(c, "[data-testid=qr]", "aria-label").await?.unwrap_or_default();
        if label.contains("https://www.oculus.com/open_url/?url=https%3A%2F%2F127.0.0.1%3A") {
            Ok(Some(()))
        } else {
            Err(label)
        }
    })
    .await;
    click_css(c, "label.switch.meta").await?;

    // Extra host names go into the certificate.
    type_into(c, "cert-hostnames", "gate.lan").await?;
    click_css(c, "#hostnames-form button[type=submit]").await?;
    eventually(Duration::from_secs(10), "gate.lan in the certificate names", || async {
        let found =
            c.find_all(Locator::Css("[data-testid=cert-san][data-san='gate.lan']")).await.map_err(|e| e.to_string())?;
        Ok((!found.is_empty()).then_some(()))
    })
    .await;

    // Regenerate makes a new certificate (new fingerprint) and says headsets must trust it again.
    let before = text(c, "[data-testid=cert-fingerprint]").await?;
    click(c, "cert-regenerate").await?;
    eventually(Duration::from_secs(10), "a new fingerprint", || async {
        let now = text(c, "[data-testid=cert-fingerprint]").await?;
        let msg = text(c, "[data-testid=cert-msg]").await?;
        Ok((now != before && now.split(':').count() == 32 && msg.contains("trust page")).then_some(()))
    })
    .await;

    // 4. The runtime comes up: UP, through the status event (the page is already loaded).
    // A mark on a certificate name: the window redraws only the parts whose data changed, so the
    // certificate's list must be the same DOM node after the runtime's change.
    c.execute("document.querySelector('[data-testid=cert-san]').dataset.mark = 'kept'; return true;", vec![])
        .await
        .map_err(|e| format!("marking a certificate name: {e}"))?;
    let echo = EchoServer::start(backend).await.map_err(|e| format!("echo server on {backend}: {e}"))?;
    wait_runtime(c, "up", Duration::from_secs(20)).await;
    let proxy = attr(c, "[data-testid=proxy-state]", "data-state").await?;
    assert_eq!(proxy.as_deref(), Some("listening"), "proxy state");
    let mark = attr(c, "[data-testid=cert-san]", "data-mark").await?;
    assert_eq!(mark.as_deref(), Some("kept"), "the unchanged certificate names were redrawn");
    // The relative time beside the state moves on its own (seconds during the first minute). Read as
    // textContent: WebKitWebDriver's element text is empty for this clipped (ellipsis) span.
    let since_text = || async {
        let v = c
            .execute("return document.querySelector('[data-testid=runtime-since]').textContent;", vec![])
            .await
            .map_err(|e| format!("runtime since: {e}"))?;
        Ok::<String, String>(v.as_str().unwrap_or_default().to_string())
    };
    let since = since_text().await?;
    assert!(since.starts_with("since ") && since.ends_with(" s ago"), "runtime since: {since:?}");
    eventually(Duration::from_secs(5), "the relative time to move on", || async {
        let now = since_text().await?;
        Ok((now != since).then_some(()))
    })
    .await;
    if let Err(e) = save_screenshot(c, &target_dir().join("desktop-e2e.png")).await {
        if in_ci() {
            return Err(e);
        }
        eprintln!("desktop e2e: {e}");
    }

    // 4b. A headset runs "Test my connection": the result shows in the Network panel.
    let tls = cxr_gate_tests::client_tls(&data_dir.join("cert.pem")).map_err(|e| e.to_string())?;
    let (mut ws, _) = cxr_gate_tests::wss_connect(&tls, listen_port, "/netcheck/ws", &[])
        .await
        .map_err(|e| format!("netcheck: {e}"))?;
    let outcome = cxr_gate_tests::netcheck_headset(&mut ws).await.map_err(|e| format!("netcheck: {e}"))?;
    assert_eq!(outcome["type"], "result", "netcheck: {outcome}");
    let rows = eventually(Duration::from_secs(10), "network check result in the window", || async {
        let n = c.find_all(Locator::Css("#net-body tr[data-metric]")).await.map_err(|e| e.to_string())?.len();
        let verdict = text(c, "[data-testid=net-overall]").await?;
        Ok((n == 6 && !verdict.is_empty()).then_some(verdict))
    })
    .await;
    assert!(["pass", "marginal", "fail"].contains(&rows.as_str()), "overall verdict {rows:?}");
    let summary = text(c, "[data-testid=net-summary]").await?;
    assert!(summary.contains("127.0.0.1"), "summary: {summary}");

    // The media ports unbound with no session open (nothing runs a CloudXR runtime here): neutral.
    let media_pill = || async {
        let kind = attr(c, "[data-testid=port-media] [data-k=state] .pill", "class").await?.unwrap_or_default();
        let t = text(c, "[data-testid=port-media] [data-k=state] .pill").await?;
        Ok::<_, String>((kind, t))
    };
    let (idle_kind, idle_text) = media_pill().await?;
    let unbound = idle_text.starts_with("0 of ");
    if unbound {
        assert_eq!(idle_kind, "pill unknown", "no session open: unbound media ports are not an error");
    }

    // 4c. The Headsets card: a headset refusing the certificate (a client without roots from
    // 127.0.0.2) and a connected one (a wss:// session from 127.0.0.1), each a row with its chip.
    cxr_gate_tests::refuse_certificate_from([127, 0, 0, 2].into(), listen_port).await.map_err(|e| e.to_string())?;
    let (ws, _) =
        cxr_gate_tests::wss_connect(&tls, listen_port, "/sign_in", &[]).await.map_err(|e| format!("session: {e}"))?;
    let chips =
        eventually(Duration::from_secs(10), "a refused and a connected headset in the Headsets card", || async {
            let chip = |ip: &'static str, state: &'static str| async move {
                let css = format!("[data-testid=headset-row][data-ip='{ip}'][data-state={state}] [data-k=chip]");
                Ok::<_, String>(c.find(Locator::Css(&css)).await.ok())
            };
            match (chip("127.0.0.2", "refused").await?, chip("127.0.0.1", "connected").await?) {
                // A row redrawn between the find and the read is stale: look again.
                (Some(r), Some(k)) => match (r.text().await, k.text().await) {
                    (Ok(r), Ok(k)) => Ok(Some((r, k))),
                    _ => Ok(None),
                },
                _ => Ok(None),
            }
        })
        .await;
    assert_eq!(chips, ("refused the certificate".to_string(), "connected".to_string()));
    let sentence = text(c, "[data-testid=headset-row][data-ip='127.0.0.2'] [data-k=sentence]").await?;
    assert!(sentence.contains("does not trust this certificate"), "sentence: {sentence}");
    let tile = text(c, "[data-testid=headset-detail]").await?;
    assert!(tile.contains("1 refusing the certificate"), "tile: {tile}");
    if unbound {
        // A session is open and the runtime's media ports are still unbound: red.
        eventually(Duration::from_secs(10), "the media ports red while a session is open", || async {
            let (kind, t) = media_pill().await?;
            Ok((kind == "pill bad" && t.starts_with("0 of ")).then_some(()))
        })
        .await;
    } else {
        eprintln!("desktop e2e: UDP media ports are bound on this machine ({idle_text}); the red rule is not checked");
    }
    drop(ws);

    // 4c'. After its first minute the Headsets card counts minutes and redraws once a minute, not
    // every second (the session must have ended first: an open one counts its seconds). The page's
    // clock is moved 65 s on for 3.5 s, and its relative-time redraws are read from setTimeout.
    eventually(Duration::from_secs(10), "the session ended", || async {
        let css = "[data-testid=headset-row][data-ip='127.0.0.1'][data-state=ended]";
        Ok(c.find(Locator::Css(css)).await.ok().map(|_| ()))
    })
    .await;
    let on = r#"
        const t = window.__e2eClock = { now: Date.now, timeout: window.setTimeout, delays: [] };
        Date.now = () => t.now.call(Date) + 65000;
        window.setTimeout = (f, ms, ...a) => { t.delays.push(ms); return t.timeout.call(window, f, ms, ...a); };
        document.dispatchEvent(new Event("visibilitychange"));
        return [...document.querySelectorAll("[data-testid=headset-row] [data-k=seen]")].map((e) => e.textContent);
    "#;
    let off = r#"
        const t = window.__e2eClock;
        Date.now = t.now;
        window.setTimeout = t.timeout;
        document.dispatchEvent(new Event("visibilitychange"));
        return t.delays;
    "#;
    let seen = c.execute(on, vec![]).await.map_err(|e| format!("moving the page's clock: {e}"))?;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let delays = c.execute(off, vec![]).await.map_err(|e| format!("putting the page's clock back: {e}"))?;
    eprintln!("desktop e2e: a minute on, the Headsets card reads {seen}; timers set meanwhile (ms): {delays}");
    let seen = seen.as_array().cloned().unwrap_or_default();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for s in &seen {
        let s = s.as_str().unwrap_or_default();
        let mins = s.strip_prefix("last seen ").and_then(|r| r.strip_suffix(" min ago"));
        assert!(mins.is_some_and(|m| m.parse::<u32>().is_ok()), "whole minutes after the first: {s:?}");
    }
    // Counting seconds sets a ~1 s timer each second; a minute boundary of the runtime tile may fall
    // in these 3.5 s once.
    let short = delays.as_array().map_or(0, |d| d.iter().filter(|d| d.as_f64().is_some_and(|d| d <= 1100.0)).count());
    assert!(short <= 1, "the window redraws every second: {delays}");

    // 4d. The Ports & firewall card: the firewall was read (ufw, firewalld, nftables or none here)
    // and each port's Firewall cell holds a verdict.
    let fw = eventually(Duration::from_secs(10), "the firewall card filled in", || async {
        let s = text(c, "[data-testid=firewall-summary]").await?;
        Ok((!s.is_empty() && s != "Checking the firewall…").then_some(s))
    })
    .await;
    assert!(!fw.starts_with("Could not check the firewall"), "firewall card: {fw}");
    let pills = c.find_all(Locator::Css("#ports td[data-k=fw] .pill")).await.map_err(|e| e.to_string())?.len();
    assert_eq!(pills, 3, "a firewall verdict per port; summary {fw:?}");
    // Headsets reach the Runtime through the gate: its signaling port is never asked for.
    let signaling = text(c, "#port-signaling td[data-k=fw] .pill").await?;
    assert!(signaling.ends_with("not needed"), "the signaling port's firewall cell: {signaling:?}");
    eprintln!("desktop e2e: firewall card: {fw}");

    // 5. A bad value in Settings: a message next to the field, nothing saved.
    type_into(c, "proxy_port", "0").await?;
    click(c, "save-settings").await?;
    let msg = eventually(Duration::from_secs(5), "proxy port message", || async {
        let class = attr(c, "#msg-proxy_port", "class").await?.unwrap_or_default();
        let t = text(c, "#msg-proxy_port").await?;
        Ok(class.contains("err").then_some(t))
    })
    .await;
    assert!(msg.contains("proxy port") && msg.contains("1 to 65535"), "message: {msg}");
    click(c, "revert-settings").await?;
    // --listen overrides the proxy port for this run, and the form says so once reverted.
    let note = eventually(Duration::from_secs(5), "override note on the proxy port", || async {
        let class = attr(c, "#msg-proxy_port", "class").await?.unwrap_or_default();
        let t = text(c, "#msg-proxy_port").await?;
        Ok(class.contains("override").then_some(t))
    })
    .await;
    assert!(note.contains("command line"), "note: {note}");

    // A good value is saved to settings.json and applied; this run's flags are not saved.
    type_into(c, "health_fall", "4").await?;
    click(c, "save-settings").await?;
    eventually(Duration::from_secs(5), "settings saved", || async {
        let t = text(c, "[data-testid=settings-msg]").await?;
        if t.starts_with("Saved") {
            Ok(Some(()))
        } else {
            Err(format!("message {t:?}"))
        }
    })
    .await;
    let saved = std::fs::read_to_string(data_dir.join("settings.json")).map_err(|e| format!("settings.json: {e}"))?;
    let saved: serde_json::Value = serde_json::from_str(&saved).map_err(|e| format!("settings.json: {e}"))?;
    assert_eq!(saved["health_fall"], 4, "saved settings: {saved}");
    assert_eq!(saved["backend_port"], 49100, "--backend must not be saved: {saved}");
    assert_eq!(saved["proxy_port"], 48322, "--listen must not be saved: {saved}");

    // 5b. A web app folder: a missing one gets the headless binary's message on the field; a real
    // one is served at /app/, and the QR code and the app link carry /app/ with the query.
    let missing = data_dir.join("no-such-web-app");
    type_into(c, "web_root", &missing.display().to_string()).await?;
    click(c, "save-settings").await?;
    let msg = eventually(Duration::from_secs(5), "web app folder message", || async {
        let class = attr(c, "#msg-web_root", "class").await?.unwrap_or_default();
        let t = text(c, "#msg-web_root").await?;
        Ok(class.contains("err").then_some(t))
    })
    .await;
    assert!(msg.contains("invalid web app folder") && msg.contains("does not exist"), "message: {msg}");
    // A web app folder inside the data dir would serve the keys: refused at the field, naming both.
    let inside = data_dir.join("web-app");
    std::fs::create_dir_all(&inside).map_err(|e| e.to_string())?;
    std::fs::write(inside.join("index.html"), "<!doctype html>").map_err(|e| e.to_string())?;
    type_into(c, "web_root", &inside.display().to_string()).await?;
    click(c, "save-settings").await?;
    let msg = eventually(Duration::from_secs(5), "web app folder inside the data dir message", || async {
        let t = text(c, "#msg-web_root").await?;
        Ok(t.contains("lies inside the data dir").then_some(t))
    })
    .await;
    assert!(msg.contains(&inside.display().to_string()), "names the folder: {msg}");
    // Beside the data dir, in a folder of its own.
    let web = tempfile::tempdir().map_err(|e| e.to_string())?;
    let app_dir = web.path().join("web-app");
    std::fs::create_dir_all(&app_dir).map_err(|e| e.to_string())?;
    std::fs::write(app_dir.join("index.html"), "<!doctype html><title>desktop web app</title>")
        .map_err(|e| e.to_string())?;
    type_into(c, "web_root", &app_dir.display().to_string()).await?;
    click(c, "save-settings").await?;
    let want = format!("https://127.0.0.1:{listen_port}/app/?serverIP=127.0.0.1&port={listen_port}");
    eventually(Duration::from_secs(10), "the app link and a QR code carrying it", || async {
        let shown = text(c, "[data-testid=app-url]").await?;
        let qr = attr(c, "[data-testid=qr]", "aria-label").await?.unwrap_or_default();
        if shown == want && qr.ends_with(&want) {
            Ok(Some(()))
        } else {
            Err(format!("app-url {shown:?}, QR {qr:?}"))
        }
    })
    .await;
    let (head, body) =
        cxr_gate_tests::https_get(&tls, listen_port, "/app/").await.map_err(|e| format!("GET /app/: {e}"))?;
    assert!(head.starts_with("HTTP/1.1 200"), "GET /app/: {head}");
    assert_eq!(body, b"<!doctype html><title>desktop web app</title>");

    // 6. The runtime goes away: DOWN again.
    echo.stop().await;
    wait_runtime(c, "down", Duration::from_secs(20)).await;
    Ok(())
}
