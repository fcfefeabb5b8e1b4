//! "Install once" in a real browser. Debian's Chromium, with a fresh profile and a fresh NSS
//! database (`$HOME/.pki/nssdb`, what Chromium reads on Linux) that trusts the gate's local CA —
//! made with Debian's `certutil`, as a user would — opens the trust page with no certificate
//! interstitial; after the serving certificate is re-issued for a new name, opens that name with
//! none either; runs a `wss://` echo through the gateway from that page; and opens the web app at
//! `/app/`, whose own `wss://` echo works with no warning anywhere. The same flows without the CA
//! meet the interstitial and proceed: `browser.rs`, `browser_webapp.rs`.
//!
//! Loopback only: Chromium resolves `localhost`, `127.0.0.1` and the test's `gate.lan` (mapped to
//! 127.0.0.1), nothing else.

use std::time::Duration;

use cxr_gate_core::Gateway;
use cxr_gate_tests::chromium::{
    body_text, missing_tools, nss_trust, poll, run_flow, skip_without, target_dir, Browser, LoopbackGate, Options,
};
use cxr_gate_tests::{free_port, webapp};
use fantoccini::{Client, Locator};
use serde_json::json;

const NEW_NAME: &str = "gate.lan";

/// Opens `url` and requires the trust page to show without an interstitial.
async fn opens_without_warning(c: &Client, url: &str) -> Result<String, String> {
    if let Err(e) = c.goto(url).await {
        eprintln!("goto {url} reported: {e}");
    }
    let text = poll(Duration::from_secs(20), || async {
        let t = body_text(c).await;
        (t.contains("Certificate accepted") || t.contains("not private")).then_some(t)
    })
    .await
    .ok_or_else(|| format!("{url}: neither the trust page nor an interstitial appeared"))?;
    let interstitial = c.find(Locator::Css("#details-button")).await.is_ok();
    let title = c.title().await.map_err(|e| e.to_string())?;
    if interstitial || title.contains("Privacy error") || !text.contains("Certificate accepted") {
        return Err(format!("{url}: a certificate warning although the CA is trusted (title {title:?}): {text}"));
    }
    Ok(text)
}

async fn wss_echo(c: &Client, url: &str) -> Result<(), String> {
    let script = r#"
        const url = arguments[0], done = arguments[arguments.length - 1];
        const t = setTimeout(() => done({ ok: false, error: "timeout" }), 15000);
        let ws;
        try { ws = new WebSocket(url); } catch (e) { clearTimeout(t); done({ ok: false, error: String(e) }); return; }
        ws.onopen = () => ws.send("installed once");
        ws.onmessage = (e) => { clearTimeout(t); ws.close(); done({ ok: true, data: String(e.data) }); };
        ws.onerror = () => { clearTimeout(t); done({ ok: false, error: "WebSocket error" }); };
    "#;
    let r = c.execute_async(script, vec![json!(url)]).await.map_err(|e| format!("WebSocket script: {e}"))?;
    if r["ok"] != json!(true) || r["data"] != json!("installed once") {
        return Err(format!("no echo through {url}: {r}"));
    }
    Ok(())
}

async fn flow(c: &Client, gw: &Gateway, port: u16) -> Result<(), String> {
    // (1) No interstitial, first time: the CA vouches for the serving certificate.
    let text = opens_without_warning(c, &format!("https://127.0.0.1:{port}/")).await?;
    let status = gw.status().borrow().clone();
    let ca = status.cert.as_ref().and_then(|c| c.ca.clone()).ok_or("no CA in the status")?;
    if !text.contains(&ca.fingerprint_sha256) {
        return Err(format!("the page does not show the CA fingerprint {}: {text}", ca.fingerprint_sha256));
    }

    // (2) Re-issued for a new name: a certificate the browser has never seen, still no warning.
    let before = status.cert.map(|c| c.fingerprint_sha256).unwrap_or_default();
    let mut cfg = gw.config();
    cfg.cert_hostnames = vec![NEW_NAME.to_string()];
    gw.apply_config(cfg).await.map_err(|e| e.to_string())?;
    let mut rx = gw.status();
    let reissued = tokio::time::timeout(
        Duration::from_secs(10),
        rx.wait_for(|s| {
            s.cert.as_ref().is_some_and(|c| c.fingerprint_sha256 != before && c.sans.iter().any(|n| n == NEW_NAME))
        }),
    )
    .await
    .map(|r| r.is_ok())
    .unwrap_or(false);
    if !reissued {
        return Err(format!("the certificate was not re-issued for {NEW_NAME}"));
    }
    opens_without_warning(c, &format!("https://{NEW_NAME}:{port}/")).await?;

    // (3) The CloudXR signaling socket from that page, through the gateway.
    wss_echo(c, &format!("wss://{NEW_NAME}:{port}/sign_in?peer=quest")).await?;

    // (4) The web app from the same origin, never accepted by hand: its page and its socket.
    let origin = format!("https://{NEW_NAME}:{port}");
    let report = webapp::app_echo(c, &origin, &format!("?serverIP={NEW_NAME}&port={port}")).await?;
    if c.find(Locator::Css("#details-button")).await.is_ok() {
        return Err(format!("a certificate warning on /app/: {report}"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_installed_the_ca_never_sees_a_warning() {
    let certutil = std::process::Command::new("certutil").arg("-H").output().is_ok();
    let why = missing_tools().or_else(|| (!certutil).then(|| "certutil not found: apt package libnss3-tools".into()));
    if skip_without(why) {
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let app = tempfile::tempdir().unwrap();
    webapp::write_test_client(app.path()).expect("test client");
    let gate = LoopbackGate::start(free_port(), |c| c.web_root = Some(app.path().to_path_buf()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // The user's "Install once", on Linux: the CA into the NSS database of a fresh HOME.
    let home = tempfile::tempdir().unwrap();
    nss_trust(home.path(), &gate.data.path().join("ca.pem"), "CXR Gate CA (test)").unwrap_or_else(|e| panic!("{e}"));
    let opts = Options {
        home: Some(home.path().to_path_buf()),
        loopback_names: vec![NEW_NAME.to_string()],
        ..Default::default()
    };
    let log = target_dir(env!("CARGO_TARGET_TMPDIR")).join("browser-ca-chromedriver.log");
    let browser = Browser::start_with(&log, &opts).await.unwrap_or_else(|e| panic!("{e}"));
    let client = browser.client.clone();
    let result = run_flow(browser, Duration::from_secs(120), flow(&client, &gate.gw, gate.port)).await;
    gate.stop().await;
    if let Err(e) = result {
        panic!("{e}");
    }
}
