//! The web app from the gate's own origin, in Debian's Chromium (chromedriver, no certificate
//! pre-trusted): `cxr-gate-proxy --web-root` serves a tiny test client (written here, in a temp
//! folder) that reads `serverIP` and `port` from its query and opens `wss://{serverIP}:{port}/` to
//! an echo backend through the gate.
//!
//! Two first visits, each in a fresh profile:
//! 1. the usual one: the trust page, "Advanced" → "Proceed", "Certificate accepted", whose
//!    "Open the web app" link carries the query; then `/app/?serverIP=127.0.0.1&port=<port>` and
//!    its echo (`webapp::app_echo`, reusable by any session that already trusts the gate);
//! 2. straight to the `/app/` link the QR code carries: the interstitial appears there, and after
//!    "Proceed" the app itself loads and gets its echo — one acceptance covers page and socket.
//!
//! Loopback only; fails when CI is set and Chromium is missing, skips otherwise.

use std::path::Path;
use std::time::Duration;

use cxr_gate_core::demo::EchoServer;
use cxr_gate_tests::chromium::{accept_certificate, missing_tools, run_flow, skip_without, target_dir, Browser};
use cxr_gate_tests::https_get;
use cxr_gate_tests::proxy::ProxyProcess;
use cxr_gate_tests::webapp::{app_echo, proceed_at, wait_for_report, write_test_client, SIGN_IN_PATH};
use fantoccini::{Client, Locator};

/// Flow 1: trust page first, then the web app.
async fn trust_page_then_app(c: &Client, port: u16) -> Result<(), String> {
    let origin = format!("https://127.0.0.1:{port}");
    accept_certificate(c, &origin).await?;
    let query = format!("?serverIP=127.0.0.1&port={port}");
    let href = c
        .find(Locator::Css("#open-app"))
        .await
        .map_err(|e| format!("no \"Open the web app\" link on the trust page: {e}"))?
        .attr("href")
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    if href != format!("/app/{query}") {
        return Err(format!("the trust page links to {href:?}, expected /app/{query}"));
    }
    let report = app_echo(c, &origin, &query).await?;
    eprintln!("web app after the trust page: {report}");
    Ok(())
}

/// Flow 2: the QR code's link straight away.
async fn app_first(c: &Client, port: u16) -> Result<(), String> {
    let origin = format!("https://127.0.0.1:{port}");
    proceed_at(c, &format!("{origin}/app/?serverIP=127.0.0.1&port={port}")).await?;
    let report = wait_for_report(c, &origin).await?;
    eprintln!("web app opened first: {report}");
    Ok(())
}

#[derive(Clone, Copy, Debug)]
enum Flow {
    TrustPageFirst,
    AppFirst,
}

/// One flow in its own fresh Chromium profile; the browser is always closed.
async fn in_fresh_browser(flow: Flow, port: u16) -> Result<(), String> {
    let log = target_dir(env!("CARGO_TARGET_TMPDIR")).join(format!("browser-webapp-{flow:?}.log"));
    let browser = Browser::start(&log).await?;
    let c = browser.client.clone();
    let run = async {
        match flow {
            Flow::TrustPageFirst => trust_page_then_app(&c, port).await,
            Flow::AppFirst => app_first(&c, port).await,
        }
    };
    run_flow(browser, Duration::from_secs(90), run).await.map_err(|e| format!("{flow:?}: {e}"))
}

async fn wait_runtime_up(p: &ProxyProcess) -> Result<(), String> {
    for _ in 0..200 {
        if let Ok((_, body)) = https_get(&p.tls, p.port, "/health").await {
            if String::from_utf8_lossy(&body).contains("\"state\": \"up\"") {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("the runtime (echo server) was not UP within 20 s".into())
}

fn check_echo_saw(echo: &EchoServer, origin: &str, count: usize) -> Result<(), String> {
    let seen: Vec<_> = echo.requests().into_iter().filter(|r| r.path == SIGN_IN_PATH).collect();
    if seen.len() != count {
        return Err(format!("the echo backend saw {} sessions on {SIGN_IN_PATH}, expected {count}", seen.len()));
    }
    match seen.iter().find(|r| r.header("origin") != Some(origin)) {
        Some(r) => Err(format!("a session came with Origin {:?}, not the gate's {origin}", r.header("origin"))),
        None => Ok(()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_app_from_the_gates_origin_connects_in_chromium() {
    if skip_without(missing_tools()) {
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let app = tempfile::tempdir().expect("temp dir");
    write_test_client(app.path()).expect("test client");
    let echo = EchoServer::start("127.0.0.1:0".parse().expect("addr")).await.expect("echo server");
    let root = app.path().display().to_string();
    let p = ProxyProcess::start(echo.addr(), &["--web-root", &root, "--health-interval", "100ms"])
        .await
        .unwrap_or_else(|e| panic!("cxr-gate-proxy: {e:#}"));
    if let Err(e) = wait_runtime_up(&p).await {
        panic!("{e}\n{}", p.stderr());
    }
    let origin = format!("https://127.0.0.1:{}", p.port);
    let port = p.port;

    let result = async {
        in_fresh_browser(Flow::TrustPageFirst, port).await?;
        check_echo_saw(&echo, &origin, 1)?;
        in_fresh_browser(Flow::AppFirst, port).await?;
        check_echo_saw(&echo, &origin, 2)
    }
    .await;
    if let Err(e) = result {
        panic!("{e}\n--- cxr-gate-proxy log ---\n{}", p.stderr());
    }
    assert!(Path::new(&root).join("index.html").is_file());
    echo.stop().await;
}
