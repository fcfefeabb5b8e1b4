//! Debian's Chromium driven through chromedriver (fantoccini), for the headset flows: a fresh profile,
//! no `--ignore-certificate-errors`, background networking off, and a resolver that knows only
//! loopback. Also the steps every flow starts with: meeting the certificate interstitial and proceeding,
//! and the gate the in-process flows run against.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use cxr_gate_core::demo::EchoServer;
use cxr_gate_core::status::BackendState;
use cxr_gate_core::{Config, Gateway};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub fn in_ci() -> bool {
    std::env::var("CI").map(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false")).unwrap_or(false)
}

pub fn chromium_bin() -> String {
    std::env::var("CHROMIUM_BIN").unwrap_or_else(|_| CHROMIUM.into())
}

fn driver_bin() -> String {
    std::env::var("CHROMEDRIVER_BIN").unwrap_or_else(|_| CHROMEDRIVER.into())
}

/// `Some(reason)` when the browser tooling is missing (a failure under CI, a skip elsewhere).
pub fn missing_tools() -> Option<String> {
    let missing: Vec<String> = [chromium_bin(), driver_bin()].into_iter().filter(|p| !Path::new(p).exists()).collect();
    if missing.is_empty() {
        None
    } else {
        Some(format!(
            "{} not found: run `bash scripts/setup.sh` (apt packages chromium, chromium-driver)",
            missing.join(" and ")
        ))
    }
}

/// Whether a browser test must stop here: `why` is the missing tooling (from [`missing_tools`] or
/// the test's own needs). Under CI that is a failure, never a silent pass; elsewhere a printed skip.
#[track_caller]
pub fn skip_without(why: Option<String>) -> bool {
    let Some(why) = why else { return false };
    assert!(!in_ci(), "browser e2e cannot run: {why}");
    eprintln!("SKIPPED browser e2e: {why}");
    true
}

/// `target/` of this build (the parent of the tests' `CARGO_TARGET_TMPDIR`, passed in by the caller).
pub fn target_dir(cargo_target_tmpdir: &str) -> PathBuf {
    let tmp = Path::new(cargo_target_tmpdir);
    tmp.parent().unwrap_or(tmp).to_path_buf()
}

pub async fn wait_port(port: u16, within: Duration) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Polls `f` until it returns `Some` or `within` passes.
pub async fn poll<T, F, Fut>(within: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let end = Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn body_text(c: &Client) -> String {
    match c.find(Locator::Css("body")).await {
        Ok(b) => b.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// What a session starts with beyond the defaults.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// `HOME` for the browser: Chromium on Linux reads the NSS database `$HOME/.pki/nssdb`, so a
    /// test can hand it one that trusts a CA (see [`nss_trust`]). Default: the caller's HOME.
    pub home: Option<PathBuf>,
    /// Host names the browser resolves to 127.0.0.1 (every other name still fails to resolve).
    pub loopback_names: Vec<String>,
    /// The User-Agent the browser sends instead of its own (a headset's, say).
    pub user_agent: Option<String>,
}

/// The browser's command line for a fresh `profile` (also for a Chromium started without the driver).
pub fn browser_args(profile: &Path, opts: &Options) -> Vec<String> {
    let maps: String = opts.loopback_names.iter().map(|n| format!("MAP {n} 127.0.0.1, ")).collect();
    let mut args = vec![
        "--headless=new".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-dev-shm-usage".into(),
        format!("--user-data-dir={}", profile.display()),
        "--no-first-run".into(),
        "--no-default-browser-check".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-quic".into(),
        "--disable-default-apps".into(),
        "--disable-extensions".into(),
        "--disable-domain-reliability".into(),
        "--disable-client-side-phishing-detection".into(),
        "--safebrowsing-disable-auto-update".into(),
        "--metrics-recording-only".into(),
        "--password-store=basic".into(),
        "--no-proxy-server".into(),
        // Only loopback exists for this browser: any other name fails to resolve.
        format!("--host-resolver-rules={maps}MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"),
        "--window-size=1280,900".into(),
    ];
    if let Some(ua) = &opts.user_agent {
        args.push(format!("--user-agent={ua}"));
    }
    args
}

fn capabilities(profile: &Path, opts: &Options) -> serde_json::Map<String, Value> {
    let args = browser_args(profile, opts);
    let mut m = serde_json::Map::new();
    m.insert("browserName".into(), json!("chrome"));
    // The whole point: the self-signed certificate must meet the real interstitial.
    m.insert("acceptInsecureCerts".into(), json!(false));
    m.insert("goog:chromeOptions".into(), json!({ "binary": chromium_bin(), "args": args }));
    m
}

/// chromedriver on loopback with one Chromium session in a fresh profile.
pub struct Browser {
    pub client: Client,
    driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// `log` receives chromedriver's log (kept for failures).
    pub async fn start(log: &Path) -> Result<Browser, String> {
        Self::start_with(log, &Options::default()).await
    }

    pub async fn start_with(log: &Path, opts: &Options) -> Result<Browser, String> {
        let port = crate::free_port();
        let mut cmd = tokio::process::Command::new(driver_bin());
        if let Some(home) = &opts.home {
            // chromedriver hands its environment to the browser it starts.
            cmd.env("HOME", home);
        }
        let mut driver = cmd
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .arg(format!("--log-path={}", log.display()))
            .arg("--log-level=INFO")
            .arg("--enable-chrome-logs")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("chromedriver: {e}"))?;
        if !wait_port(port, Duration::from_secs(20)).await {
            let _ = driver.kill().await;
            return Err(format!("chromedriver did not listen on 127.0.0.1:{port}"));
        }
        let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
        let client = ClientBuilder::rustls()
            .map_err(|e| e.to_string())?
            .capabilities(capabilities(profile.path(), opts))
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .map_err(|e| format!("Chromium session via chromedriver: {e}"))?;
        Ok(Browser { client, driver, _profile: profile })
    }

    /// Ends the browser and the driver; every call bounded (a dead browser leaves answers hanging).
    pub async fn close(mut self, dump_source: bool) {
        let bounded = Duration::from_secs(15);
        if dump_source {
            if let Ok(Ok(src)) = tokio::time::timeout(bounded, self.client.source()).await {
                eprintln!("--- page source at failure ---\n{src}");
            }
        }
        let _ = tokio::time::timeout(bounded, self.client.clone().close()).await;
        let _ = self.driver.kill().await;
    }
}

/// What a headset user does first: open the trust URL, meet Chromium's certificate interstitial,
/// click "Advanced" and "Proceed", and land on "Certificate accepted". Returns the page text.
pub async fn accept_certificate(c: &Client, origin: &str) -> Result<String, String> {
    if let Err(e) = c.goto(&format!("{origin}/")).await {
        // Some chromedriver versions report the interstitial's net error; the page is still there.
        eprintln!("goto reported: {e}");
    }
    let details = poll(Duration::from_secs(20), || async { c.find(Locator::Css("#details-button")).await.ok() })
        .await
        .ok_or("no certificate interstitial (#details-button) at the trust URL: was the certificate trusted without asking?")?;
    let title = c.title().await.map_err(|e| e.to_string())?;
    let text = body_text(c).await;
    if !(title.contains("Privacy error") || text.contains("not private")) {
        return Err(format!("expected Chromium's privacy-error interstitial, got title {title:?}: {text}"));
    }
    details.click().await.map_err(|e| format!("Advanced: {e}"))?;
    let proceed = poll(Duration::from_secs(10), || async { c.find(Locator::Css("#proceed-link")).await.ok() })
        .await
        .ok_or("no #proceed-link after clicking Advanced")?;
    proceed.click().await.map_err(|e| format!("Proceed: {e}"))?;
    poll(Duration::from_secs(20), || async {
        let t = body_text(c).await;
        t.contains("Certificate accepted").then_some(t)
    })
    .await
    .ok_or_else(|| "the \"Certificate accepted\" page did not appear after Proceed".to_string())
}

/// Makes `$home/.pki/nssdb` (the NSS database Chromium and Chrome read on Linux) trust the CA in
/// `ca_pem` for TLS servers, with Debian's `certutil` (package libnss3-tools).
pub fn nss_trust(home: &Path, ca_pem: &Path, nickname: &str) -> Result<(), String> {
    let db = home.join(".pki/nssdb");
    std::fs::create_dir_all(&db).map_err(|e| format!("{}: {e}", db.display()))?;
    let db_arg = format!("sql:{}", db.display());
    let run = |args: &[&str]| -> Result<(), String> {
        let out = std::process::Command::new("certutil")
            .args(args)
            .output()
            .map_err(|e| format!("certutil (apt package libnss3-tools): {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("certutil {args:?}: {}", String::from_utf8_lossy(&out.stderr)))
        }
    };
    if !db.join("cert9.db").exists() {
        run(&["-N", "-d", &db_arg, "--empty-password"])?;
    }
    let ca = ca_pem.display().to_string();
    run(&["-A", "-d", &db_arg, "-n", nickname, "-t", "C,,", "-i", &ca])
}

/// The in-process gate the browser flows use: the echo server as the runtime and a
/// [`Harness`](crate::Harness) gateway moved to 127.0.0.1:`port`, returned once it listens with the
/// runtime UP.
pub struct LoopbackGate {
    pub gw: Gateway,
    pub echo: EchoServer,
    pub port: u16,
    pub data: tempfile::TempDir,
}

impl LoopbackGate {
    /// `tweak` changes the config before the start (a web root, say).
    pub async fn start(port: u16, tweak: impl FnOnce(&mut Config)) -> Result<LoopbackGate, String> {
        let echo = EchoServer::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .map_err(|e| format!("echo server: {e}"))?;
        let started = crate::Harness::start(echo.addr(), |c| {
            c.listen = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            tweak(c);
        })
        .await;
        let h = match started {
            Ok(h) => h,
            Err(e) => {
                echo.stop().await;
                return Err(format!("gateway: {e:#}"));
            }
        };
        if let Err(e) = h.wait_backend(BackendState::Up).await {
            h.gw.shutdown().await;
            echo.stop().await;
            return Err(format!("gateway not ready: {e:#}"));
        }
        let crate::Harness { gw, port, dir: data, .. } = h;
        Ok(LoopbackGate { gw, echo, port, data })
    }

    pub async fn stop(self) {
        self.gw.shutdown().await;
        self.echo.stop().await;
    }
}

/// Runs `flow` for at most `limit`, then closes the browser, pass or fail (with the page source
/// when it failed).
pub async fn run_flow<T>(
    browser: Browser,
    limit: Duration,
    flow: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    let result = match tokio::time::timeout(limit, flow).await {
        Ok(r) => r,
        Err(_) => Err(format!("the flow did not finish within {} s", limit.as_secs())),
    };
    browser.close(result.is_err()).await;
    result
}
