//! The headset flow in a real browser: Debian's Chromium driven through chromedriver, with the
//! certificate NOT pre-trusted (no `--ignore-certificate-errors`, `acceptInsecureCerts: false`).
//!
//! Like a Quest user: open `https://127.0.0.1:<port>/`, meet Chromium's certificate interstitial,
//! click "Advanced" → "Proceed", see the "Certificate accepted" page, then from that origin open
//! `wss://…/sign_in?peer=quest&v=1` through the gateway to the echo backend; finally, from a second
//! local origin (`http://localhost:<other>`), `fetch` `/health` with a non-simple header (a CORS
//! preflight) and read the JSON and the CORS headers.
//!
//! Everything listens on and talks to loopback only; Chromium's resolver maps every other host
//! name to "not found". Needs /usr/bin/chromium and /usr/bin/chromedriver (scripts/setup.sh
//! installs them); without them it fails when CI is set and is skipped otherwise.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use cxr_gate_core::demo::EchoServer;
use cxr_gate_tests::chromium::{
    accept_certificate, missing_tools, run_flow, skip_without, target_dir, Browser, LoopbackGate,
};
use cxr_gate_tests::{free_port, screenshots_dir};
use fantoccini::{Client, Locator};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A second local origin for the cross-origin check: every GET gets one small HTML page.
async fn serve_app_page(listener: TcpListener) {
    const PAGE: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>CloudXR web app</title>\
                        </head><body><h1>CloudXR web app (test origin)</h1></body></html>";
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(2048);
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 * 1024 {
                match sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
                 Cache-Control: no-store\r\nConnection: close\r\n\r\n{PAGE}",
                PAGE.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
    }
}

struct Env<'a> {
    port: u16,
    app_port: u16,
    echo: &'a EchoServer,
    shot: PathBuf,
}

/// The README's picture of the trust page: the whole page as the headset shows it, with the Meta
/// Quest entry of *Install once* open (accept once first), in a window as tall as the page.
async fn readme_picture(c: &Client, path: &Path) -> Result<(), String> {
    let quest =
        c.find(Locator::Css("details[data-device=quest] summary")).await.map_err(|e| format!("Quest entry: {e}"))?;
    quest.click().await.map_err(|e| format!("open the Quest entry: {e}"))?;
    // As tall as the page: grown until nothing is left to scroll (its padding is in vh, so it grows
    // with the window too); at most 3000 px.
    let mut height = 900u64;
    for _ in 0..5 {
        c.set_window_size(1000, height as u32).await.map_err(|e| format!("window size: {e}"))?;
        let v = c
            .execute("return [document.documentElement.scrollHeight, window.innerHeight];", vec![])
            .await
            .map_err(|e| format!("page height: {e}"))?;
        let (page, view) = (v[0].as_u64().unwrap_or(0), v[1].as_u64().unwrap_or(0));
        if page <= view || height >= 3000 {
            break;
        }
        height = (height + page - view + 8).min(3000);
    }
    c.execute("window.scrollTo(0, 0); return true;", vec![]).await.map_err(|e| format!("scroll: {e}"))?;
    let png = c.screenshot().await.map_err(|e| format!("screenshot: {e}"))?;
    c.set_window_size(1280, 900).await.map_err(|e| format!("window size: {e}"))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, &png).map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("README picture of the trust page: {}", path.display());
    Ok(())
}

/// The user's steps. Returns an error (not a panic) so the caller can always close the browser.
async fn headset_flow(c: &Client, env: &Env<'_>) -> Result<(), String> {
    let port = env.port;
    let origin = format!("https://127.0.0.1:{port}");
    let wss = format!("wss://127.0.0.1:{port}");

    // (1) The trust URL from the QR code: Chromium's interstitial, "Advanced", "Proceed";
    // (2) the "Certificate accepted" page, showing the wss:// URL to use.
    let page = accept_certificate(c, &origin).await?;
    if !page.contains(&wss) {
        return Err(format!("the trust page does not show {wss}: {page}"));
    }
    let url_text = c
        .find(Locator::Css("#wss-url"))
        .await
        .map_err(|e| format!("#wss-url: {e}"))?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    if url_text.trim() != wss {
        return Err(format!("#wss-url shows {url_text:?}, expected {wss:?}"));
    }
    let png = c.screenshot().await.map_err(|e| format!("screenshot: {e}"))?;
    if let Some(dir) = env.shot.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&env.shot, &png).map_err(|e| format!("{}: {e}", env.shot.display()))?;
    eprintln!("trust page screenshot: {}", env.shot.display());
    if let Some(dir) = screenshots_dir() {
        readme_picture(c, &dir.join("trust-page.png")).await?;
    }

    // (3) CloudXR.js's signaling socket, from the page's origin, through the gateway.
    let ws_url = format!("{wss}/sign_in?peer=quest&v=1");
    let script = r#"
        const url = arguments[0], done = arguments[arguments.length - 1];
        const t = setTimeout(() => done({ ok: false, error: "timeout" }), 15000);
        let ws;
        try { ws = new WebSocket(url); } catch (e) { clearTimeout(t); done({ ok: false, error: String(e) }); return; }
        ws.onopen = () => ws.send("hello from the headset");
        ws.onmessage = (e) => { clearTimeout(t); ws.close(); done({ ok: true, data: String(e.data), origin: location.origin }); };
        ws.onerror = () => { clearTimeout(t); done({ ok: false, error: "WebSocket error" }); };
    "#;
    let r = c.execute_async(script, vec![json!(ws_url)]).await.map_err(|e| format!("WebSocket script: {e}"))?;
    eprintln!("WebSocket from the trust page: {r}");
    if r["ok"] != json!(true) || r["data"] != json!("hello from the headset") {
        return Err(format!("no echo through wss://…/sign_in?peer=quest&v=1: {r}"));
    }
    let reqs = env.echo.requests();
    let seen = reqs.iter().find(|q| q.path == "/sign_in?peer=quest&v=1").ok_or_else(|| {
        let paths: Vec<&str> = reqs.iter().map(|q| q.path.as_str()).collect();
        format!("the echo backend never saw /sign_in?peer=quest&v=1 (saw {paths:?})")
    })?;
    if seen.header("origin") != Some(origin.as_str()) {
        return Err(format!(
            "the backend got Origin {:?}, expected the page's {origin:?} (the head must pass through)",
            seen.header("origin")
        ));
    }

    // (4) A page on another origin (like a hosted CloudXR.js app) calls the gateway: a non-simple
    // header forces an OPTIONS preflight; the answer must carry the CORS headers.
    let app = format!("http://localhost:{}/", env.app_port);
    c.goto(&app).await.map_err(|e| format!("{app}: {e}"))?;
    let script = r#"
        const url = arguments[0], done = arguments[arguments.length - 1];
        fetch(url, { method: "GET", headers: { "X-Custom": "1" }, cache: "no-store" })
          .then(async (r) => done({
              ok: r.ok, status: r.status, body: await r.text(), origin: location.origin,
              allowOrigin: r.headers.get("access-control-allow-origin"),
          }))
          .catch((e) => done({ ok: false, error: String(e), origin: location.origin }));
    "#;
    let r = c
        .execute_async(script, vec![json!(format!("{origin}/health"))])
        .await
        .map_err(|e| format!("fetch script: {e}"))?;
    eprintln!("cross-origin fetch of /health: {r}");
    if r["origin"] != json!(format!("http://localhost:{}", env.app_port)) {
        return Err(format!("the fetch did not run on the second origin: {r}"));
    }
    if r["ok"] != json!(true) {
        return Err(format!("cross-origin GET /health with a preflight failed (CORS / OPTIONS): {r}"));
    }
    let health: Value = serde_json::from_str(r["body"].as_str().unwrap_or(""))
        .map_err(|e| format!("/health is not JSON ({e}): {r}"))?;
    if health["state"] != json!("up") {
        return Err(format!("/health does not say the backend is up: {health}"));
    }
    let allow = r["allowOrigin"].as_str().unwrap_or("");
    let app_origin = format!("http://localhost:{}", env.app_port);
    if allow != "*" && allow != app_origin {
        return Err(format!(
            "Access-Control-Allow-Origin is {:?} (expected \"*\", exposed by Access-Control-Expose-Headers: *)",
            r["allowOrigin"]
        ));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headset_trusts_certificate_and_connects_in_chromium() {
    if skip_without(missing_tools()) {
        return;
    }
    // rustls may be built with two crypto back ends in this test binary; pick one for everything.
    let _ = rustls::crypto::ring::default_provider().install_default();

    // The "CloudXR Runtime" and the gateway, in-process, on loopback. For the README's picture,
    // the default port when it is free (the page shows what a user sees).
    let port = match screenshots_dir().map(|_| std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 48322))) {
        Some(Ok(_)) => 48322,
        _ => free_port(),
    };
    let gate = LoopbackGate::start(port, |_| {}).await.unwrap_or_else(|e| panic!("{e}"));
    if let Some(cert) = &gate.gw.status().borrow().cert {
        eprintln!("gateway certificate {} for {:?}", cert.fingerprint_sha256, cert.sans);
    }

    // The second origin (http://localhost is a secure context, like a locally served app).
    let app = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let app_port = app.local_addr().unwrap().port();
    tokio::spawn(serve_app_page(app));
    // Chromium may try ::1 first for "localhost".
    if let Ok(app6) = TcpListener::bind((Ipv6Addr::LOCALHOST, app_port)).await {
        tokio::spawn(serve_app_page(app6));
    }

    // chromedriver on loopback, and a fresh Chromium profile.
    let browser = Browser::start(&target_dir(env!("CARGO_TARGET_TMPDIR")).join("browser-chromedriver.log"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let client = browser.client.clone();

    let env = Env {
        port,
        app_port,
        echo: &gate.echo,
        shot: target_dir(env!("CARGO_TARGET_TMPDIR")).join("browser-trust-page.png"),
    };
    let result = run_flow(browser, Duration::from_secs(120), headset_flow(&client, &env)).await;
    gate.stop().await;
    if let Err(e) = result {
        panic!("{e}");
    }
}
