//! End-to-end test of the real desktop app (`cxr-gate`, src-tauri) under X, driven through
//! `tauri-driver` + WebKitWebDriver with fantoccini.
//!
//! The app starts with a loopback backend that is NOT running yet, its own data dir (holding a
//! damaged settings.json) and a 200 ms health interval. Then: the window shows the settings notice
//! and the runtime DOWN; the QR code, 127.0.0.1 in the address picker and in the certificate's
//! names are there; an echo server (standing in for the CloudXR Runtime) starts → UP (the
//! certificate's unchanged list is not redrawn, the relative time moves on); a bad proxy
//! port in Settings gets its message next to the field; a web app folder is refused while missing
//! and, once real, served at /app/ with the QR code pointing there; the echo server stops → DOWN again.
//! A screenshot goes to `<workspace>/target/desktop-e2e.png`.
//!
//! Needs: the app binary (`CXR_GATE_APP`, else `<target>/debug/cxr-gate`: `cargo build -p cxr-gate`),
//! `tauri-driver` (`TAURI_DRIVER`, PATH or ~/.cargo/bin), `WebKitWebDriver` (webkit2gtk-driver) and
//! an X display: `DISPLAY` if set (e.g. under `xvfb-run -a`), else the test starts its own `Xvfb`.
//! A D-Bus session is started with `dbus-run-session` when none is set. Missing tools fail the test
//! when CI is set, and skip it (loudly) otherwise. Only loopback is contacted.

#![cfg(target_os = "linux")]

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cxr_gate_core::demo::EchoServer;
use cxr_gate_tests::chromium::{self, in_ci, wait_port};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new(".")).to_path_buf()
}

/// `target/` of this build (the parent of `CARGO_TARGET_TMPDIR`), which honours CARGO_TARGET_DIR.
fn target_dir() -> PathBuf {
    chromium::target_dir(env!("CARGO_TARGET_TMPDIR"))
}

fn find_app() -> Result<PathBuf, String> {
    if let Ok(p) = std::env::var("CXR_GATE_APP") {
        let p = PathBuf::from(p);
        return if p.is_file() { Ok(p) } else { Err(format!("CXR_GATE_APP={} does not exist", p.display())) };
    }
    let candidates = [target_dir().join("debug/cxr-gate"), workspace().join("target/debug/cxr-gate")];
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        format!(
            "desktop app binary not found at {}: run `cargo build -p cxr-gate` first (or set CXR_GATE_APP)",
            candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" or ")
        )
    })
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

fn find_tauri_driver() -> Result<PathBuf, String> {
    if let Ok(p) = std::env::var("TAURI_DRIVER") {
        return Ok(PathBuf::from(p));
    }
    which("tauri-driver")
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/tauri-driver")).filter(|p| p.is_file())
        })
        .ok_or_else(|| {
            "tauri-driver not found: `cargo install tauri-driver --locked` (scripts/setup.sh does)".to_string()
        })
}

/// All the tools, or why not.
fn tools() -> Result<(PathBuf, PathBuf), String> {
    let app = find_app()?;
    let driver = find_tauri_driver()?;
    if which("WebKitWebDriver").is_none() {
        return Err("WebKitWebDriver not found: apt-get install webkit2gtk-driver".into());
    }
    if std::env::var_os("DISPLAY").is_none() && which("Xvfb").is_none() {
        return Err("no DISPLAY and no Xvfb: apt-get install xvfb (or run under xvfb-run -a)".into());
    }
    Ok((app, driver))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

/// A child process group killed (TERM, then KILL) on drop, so nothing outlives the test.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let pgid = self.0.id() as i32;
        unsafe {
            libc::kill(-pgid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.0.wait();
    }
}

fn spawn_group(cmd: &mut Command) -> std::io::Result<Group> {
    cmd.process_group(0).spawn().map(Group)
}

/// Our own X server when there is no DISPLAY: returns (display, guard).
fn start_xvfb() -> Result<(String, Option<Group>), String> {
    if let Ok(d) = std::env::var("DISPLAY") {
        if !d.is_empty() {
            return Ok((d, None));
        }
    }
    let n = (90..200)
        .find(|n| {
            !Path::new(&format!("/tmp/.X{n}-lock")).exists() && !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
        })
        .ok_or("no free X display number")?;
    let display = format!(":{n}");
    let g = spawn_group(
        Command::new("Xvfb")
            .args([display.as_str(), "-screen", "0", "1400x1000x24", "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .map_err(|e| format!("could not start Xvfb: {e}"))?;
    let socket = format!("/tmp/.X11-unix/X{n}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !Path::new(&socket).exists() {
        if Instant::now() > deadline {
            return Err(format!("Xvfb {display} did not come up"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((display, Some(g)))
}

/// Polls `probe` until it returns Some, or fails with `what` and the last thing seen.
async fn eventually<T, F, Fut>(within: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, String>>,
{
    let deadline = Instant::now() + within;
    let mut last = String::new();
    loop {
        match probe().await {
            Ok(Some(v)) => return v,
            Ok(None) => {}
            Err(e) => last = e,
        }
        if Instant::now() > deadline {
            panic!("timed out after {within:?} waiting for {what} (last: {last})");
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

async fn attr(c: &Client, css: &str, name: &str) -> Result<Option<String>, String> {
    let e = c.find(Locator::Css(css)).await.map_err(|e| format!("{css}: {e}"))?;
    e.attr(name).await.map_err(|e| format!("{css}@{name}: {e}"))
}

async fn text(c: &Client, css: &str) -> Result<String, String> {
    let e = c.find(Locator::Css(css)).await.map_err(|e| format!("{css}: {e}"))?;
    e.text().await.map_err(|e| format!("{css} text: {e}"))
}

async fn click(c: &Client, id: &str) -> Result<(), String> {
    let e = c.find(Locator::Id(id)).await.map_err(|e| format!("#{id}: {e}"))?;
    e.click().await.map_err(|e| format!("click #{id}: {e}"))
}

async fn click_css(c: &Client, css: &str) -> Result<(), String> {
    let e = c.find(Locator::Css(css)).await.map_err(|e| format!("{css}: {e}"))?;
    e.click().await.map_err(|e| format!("click {css}: {e}"))
}

async fn type_into(c: &Client, id: &str, value: &str) -> Result<(), String> {
    let e = c.find(Locator::Id(id)).await.map_err(|e| format!("#{id}: {e}"))?;
    e.clear().await.map_err(|e| format!("clear #{id}: {e}"))?;
    e.send_keys(value).await.map_err(|e| format!("type into #{id}: {e}"))
}

async fn wait_runtime(c: &Client, want: &str, within: Duration) {
    eventually(within, &format!("runtime state {want}"), || async {
        let state = attr(c, "[data-testid=runtime-state]", "data-state").await?;
        let shown = text(c, "[data-testid=runtime-state]").await?;
        if state.as_deref() == Some(want) && shown.eq_ignore_ascii_case(want) {
            Ok(Some(()))
        } else {
            Err(format!("data-state={state:?}, text={shown:?}"))
        }
    })
    .await
}

async fn save_screenshot(c: &Client) -> Option<PathBuf> {
    // Let WebKit paint the latest DOM first (its snapshot is the last composited frame).
    let settle = "const done = arguments[arguments.length - 1]; \
                  requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(done, 300)));";
    if let Err(e) = c.execute_async(settle, vec![]).await {
        eprintln!("desktop e2e: could not wait for a paint: {e}");
    }
    let png = match c.screenshot().await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("desktop e2e: screenshot failed: {e}");
            return None;
        }
    };
    let dir = workspace().join("target");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("desktop-e2e.png");
    match std::fs::write(&path, png) {
        Ok(()) => Some(path),
        Err(e) => {
            eprintln!("desktop e2e: could not write {}: {e}", path.display());
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desktop_app_shows_runtime_state_qr_and_certificate() {
    let (app, driver) = match tools() {
        Ok(t) => t,
        Err(why) if in_ci() => panic!("desktop e2e cannot run: {why}"),
        Err(why) => {
            eprintln!("SKIPPED desktop e2e (set CI=true to make this a failure): {why}");
            return;
        }
    };
    let (display, _xvfb) = match start_xvfb() {
        Ok(x) => x,
        Err(e) => panic!("desktop e2e: {e}"),
    };

    let data = tempfile::tempdir().expect("temp dir");
    // A damaged settings file: the app must keep it as .bak, use defaults and say so.
    std::fs::write(data.path().join("settings.json"), "{ \"proxy_port\": ").expect("write settings.json");
    let backend_port = free_port();
    let backend: SocketAddr = ([127, 0, 0, 1], backend_port).into();
    let listen_port = free_port();
    let (driver_port, native_port) = (free_port(), free_port());
    // The app's HOME: "Trust on this PC" writes the CA into $HOME/.pki/nssdb, here a fresh one.
    let home = tempfile::tempdir().expect("temp home");

    let mut cmd = if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() && which("dbus-run-session").is_some() {
        let mut c = Command::new("dbus-run-session");
        c.arg("--").arg(&driver);
        c
    } else {
        Command::new(&driver)
    };
    cmd.args(["--port", &driver_port.to_string(), "--native-port", &native_port.to_string()])
        .env("DISPLAY", &display)
        .env("NO_AT_BRIDGE", "1")
        .env("HOME", home.path())
        .env("RUST_LOG", "info")
        .stdout(Stdio::null());
    let _driver = spawn_group(&mut cmd).unwrap_or_else(|e| panic!("could not start {}: {e}", driver.display()));
    assert!(
        wait_port(driver_port, Duration::from_secs(20)).await,
        "tauri-driver did not listen on 127.0.0.1:{driver_port}"
    );
    // tauri-driver starts WebKitWebDriver beside itself and relays to it; a session asked for before
    // that one listens is dropped (seen once in CI: "client error (SendRequest)" 0.35 s in).
    assert!(
        wait_port(native_port, Duration::from_secs(20)).await,
        "WebKitWebDriver (started by tauri-driver) did not listen on 127.0.0.1:{native_port}"
    );

    let args = [
        "--backend".to_string(),
        backend.to_string(),
        "--listen".into(),
        format!("127.0.0.1:{listen_port}"),
        "--data-dir".into(),
        data.path().display().to_string(),
        "--health-interval".into(),
        "200ms".into(),
    ];
    // fantoccini's rustls client needs a process-wide crypto provider (plain http to loopback anyway).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("wry"));
    caps.insert("tauri:options".into(), json!({ "application": app, "args": args }));
    let client = ClientBuilder::rustls()
        .expect("rustls client")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .unwrap_or_else(|e| panic!("WebDriver session with {} failed: {e}", app.display()));

    let result = run_checks(&client, data.path(), home.path(), backend, listen_port).await;
    let _ = client.close().await;
    if let Err(e) = result {
        panic!("{e}");
    }
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
    match save_screenshot(c).await {
        Some(p) => eprintln!("desktop e2e: screenshot {}", p.display()),
        None if in_ci() => return Err("no screenshot".into()),
        None => {}
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
                (Some(r), Some(k)) => {
                    Ok(Some((r.text().await.unwrap_or_default(), k.text().await.unwrap_or_default())))
                }
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
