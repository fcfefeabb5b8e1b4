//! Harness for the desktop end-to-end tests (tests/tests/desktop.rs): finds the app, tauri-driver and
//! an X display (its own Xvfb when none is set), starts a WebDriver session with the real app, and
//! the small WebDriver steps the tests use. Only loopback is contacted (tauri-driver, WebKitWebDriver).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::chromium::wait_port;
use crate::free_port;

/// The workspace root (the parent of this crate).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new(".")).to_path_buf()
}

pub fn find_app(target: &Path) -> Result<PathBuf, String> {
    if let Ok(p) = std::env::var("CXR_GATE_APP") {
        let p = PathBuf::from(p);
        return if p.is_file() { Ok(p) } else { Err(format!("CXR_GATE_APP={} does not exist", p.display())) };
    }
    let candidates = [target.join("debug/cxr-gate"), workspace().join("target/debug/cxr-gate")];
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        format!(
            "desktop app binary not found at {}: run `cargo build -p cxr-gate` first (or set CXR_GATE_APP)",
            candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" or ")
        )
    })
}

pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

pub fn find_tauri_driver() -> Result<PathBuf, String> {
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
pub fn tools(target: &Path) -> Result<(PathBuf, PathBuf), String> {
    let app = find_app(target)?;
    let driver = find_tauri_driver()?;
    if which("WebKitWebDriver").is_none() {
        return Err("WebKitWebDriver not found: apt-get install webkit2gtk-driver".into());
    }
    if std::env::var_os("DISPLAY").is_none() && which("Xvfb").is_none() {
        return Err("no DISPLAY and no Xvfb: apt-get install xvfb (or run under xvfb-run -a)".into());
    }
    Ok((app, driver))
}

/// The app, tauri-driver, an X display and our own Xvfb's guard, or None when the test is skipped:
/// a missing tool fails the test under CI and skips it (loudly) otherwise.
pub fn setup(target: &Path) -> Option<(PathBuf, PathBuf, String, Option<Group>)> {
    let (app, driver) = match tools(target) {
        Ok(t) => t,
        Err(why) if crate::chromium::in_ci() => panic!("desktop e2e cannot run: {why}"),
        Err(why) => {
            eprintln!("SKIPPED desktop e2e (set CI=true to make this a failure): {why}");
            return None;
        }
    };
    let (display, xvfb) = start_xvfb().unwrap_or_else(|e| panic!("desktop e2e: {e}"));
    Some((app, driver, display, xvfb))
}

/// A child process group killed (TERM, then KILL) on drop, so nothing outlives the test.
pub struct Group(Child);

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

pub fn spawn_group(cmd: &mut Command) -> std::io::Result<Group> {
    cmd.process_group(0).spawn().map(Group)
}

/// Our own X server when there is no DISPLAY: returns (display, guard).
pub fn start_xvfb() -> Result<(String, Option<Group>), String> {
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
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut probe: F) -> T
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

pub async fn attr(c: &Client, css: &str, name: &str) -> Result<Option<String>, String> {
    let e = c.find(Locator::Css(css)).await.map_err(|e| format!("{css}: {e}"))?;
    e.attr(name).await.map_err(|e| format!("{css}@{name}: {e}"))
}

pub async fn text(c: &Client, css: &str) -> Result<String, String> {
    let e = c.find(Locator::Css(css)).await.map_err(|e| format!("{css}: {e}"))?;
    e.text().await.map_err(|e| format!("{css} text: {e}"))
}

pub async fn click(c: &Client, id: &str) -> Result<(), String> {
    let e = c.find(Locator::Id(id)).await.map_err(|e| format!("#{id}: {e}"))?;
    e.click().await.map_err(|e| format!("click #{id}: {e}"))
}

pub async fn click_css(c: &Client, css: &str) -> Result<(), String> {
    let e = c.find(Locator::Css(css)).await.map_err(|e| format!("{css}: {e}"))?;
    e.click().await.map_err(|e| format!("click {css}: {e}"))
}

pub async fn type_into(c: &Client, id: &str, value: &str) -> Result<(), String> {
    let e = c.find(Locator::Id(id)).await.map_err(|e| format!("#{id}: {e}"))?;
    e.clear().await.map_err(|e| format!("clear #{id}: {e}"))?;
    e.send_keys(value).await.map_err(|e| format!("type into #{id}: {e}"))
}

pub async fn wait_runtime(c: &Client, want: &str, within: Duration) {
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

/// Saves what the window shows, as PNG, once WebKit has painted the latest DOM (its snapshot is the
/// last composited frame).
pub async fn save_screenshot(c: &Client, path: &Path) -> Result<(), String> {
    let settle = "const done = arguments[arguments.length - 1]; \
                  requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(done, 300)));";
    if let Err(e) = c.execute_async(settle, vec![]).await {
        eprintln!("desktop e2e: could not wait for a paint: {e}");
    }
    let png = c.screenshot().await.map_err(|e| format!("screenshot: {e}"))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, png).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("desktop e2e: screenshot {}", path.display());
    Ok(())
}

/// The app under tauri-driver in a WebDriver session; dropping it ends the driver and the app.
pub struct Session {
    pub client: Client,
    _driver: Group,
}

/// Starts tauri-driver (with its own D-Bus session when there is none) on `display`, which starts
/// the app with `args` and the driver's environment plus `envs`; `home` is the app's HOME.
pub async fn start_app(
    app: &Path,
    driver: &Path,
    display: &str,
    home: &Path,
    args: &[String],
    envs: &[(&str, &str)],
) -> Result<Session, String> {
    let (driver_port, native_port) = (free_port(), free_port());
    let mut cmd = if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() && which("dbus-run-session").is_some() {
        let mut c = Command::new("dbus-run-session");
        c.arg("--").arg(driver);
        c
    } else {
        Command::new(driver)
    };
    cmd.args(["--port", &driver_port.to_string(), "--native-port", &native_port.to_string()])
        .env("DISPLAY", display)
        .env("NO_AT_BRIDGE", "1")
        .env("HOME", home)
        .env("RUST_LOG", "info")
        .envs(envs.iter().copied())
        .stdout(Stdio::null());
    let guard = spawn_group(&mut cmd).map_err(|e| format!("could not start {}: {e}", driver.display()))?;
    if !wait_port(driver_port, Duration::from_secs(20)).await {
        return Err(format!("tauri-driver did not listen on 127.0.0.1:{driver_port}"));
    }
    // tauri-driver starts WebKitWebDriver beside itself and relays to it; a session asked for before
    // that one listens is dropped (seen once in CI: "client error (SendRequest)" 0.35 s in).
    if !wait_port(native_port, Duration::from_secs(20)).await {
        return Err(format!("WebKitWebDriver (started by tauri-driver) did not listen on 127.0.0.1:{native_port}"));
    }
    // fantoccini's rustls client needs a process-wide crypto provider (plain http to loopback anyway).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("wry"));
    caps.insert("tauri:options".into(), json!({ "application": app, "args": args }));
    // WebKitWebDriver waits for ever for an app that exited at its start: bounded here.
    let url = format!("http://127.0.0.1:{driver_port}");
    let mut builder = ClientBuilder::rustls().map_err(|e| format!("rustls client: {e}"))?;
    let connect = builder.capabilities(caps).connect(&url);
    let client = tokio::time::timeout(Duration::from_secs(90), connect)
        .await
        .map_err(|_| format!("no WebDriver session with {} in 90 s: did it exit? (its log is above)", app.display()))?
        .map_err(|e| format!("WebDriver session with {} failed: {e}", app.display()))?;
    Ok(Session { client, _driver: guard })
}
