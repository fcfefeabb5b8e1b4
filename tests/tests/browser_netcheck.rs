//! The headset network check in real Chromium: accept the certificate like a Quest user, press
//! "Test my connection" on the trust page, run the test, and check that plausible figures reach both
//! the page and the gateway's status (what the desktop's Network panel shows). Loopback only.

use std::time::Duration;

use cxr_gate_core::demo::EchoServer;
use cxr_gate_tests::chromium::{accept_certificate, missing_tools, poll, run_flow, skip_without, target_dir, Browser};
use cxr_gate_tests::Harness;
use fantoccini::{Client, Locator};
use serde_json::Value;

async fn flow(c: &Client, origin: &str, shot: &std::path::Path) -> Result<Value, String> {
    accept_certificate(c, origin).await?;
    c.find(Locator::Css("#netcheck"))
        .await
        .map_err(|e| format!("no 'Test my connection' link: {e}"))?
        .click()
        .await
        .map_err(|e| e.to_string())?;
    poll(Duration::from_secs(10), || async { c.find(Locator::Css("#start")).await.ok() })
        .await
        .ok_or("the network check page did not open")?
        .click()
        .await
        .map_err(|e| e.to_string())?;
    let result = poll(Duration::from_secs(60), || async {
        let v = c.execute("return document.body.dataset.result || null", vec![]).await.ok()?;
        v.as_str().and_then(|s| serde_json::from_str::<Value>(s).ok())
    })
    .await
    .ok_or_else(|| "no result on the page within 60 s".to_string())?;
    if let Ok(png) = c.screenshot().await {
        let _ = std::fs::write(shot, png);
    }
    Ok(result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_check_runs_in_chromium_and_reaches_the_status() {
    if skip_without(missing_tools()) {
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let echo = EchoServer::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let h = Harness::start(echo.addr(), |_| {}).await.unwrap();
    let target = target_dir(env!("CARGO_TARGET_TMPDIR"));
    let browser = Browser::start(&target.join("browser-netcheck-chromedriver.log")).await.unwrap();
    let origin = format!("https://127.0.0.1:{}", h.port);
    let client = browser.client.clone();
    let shot = target.join("browser-netcheck.png");
    let page = run_flow(browser, Duration::from_secs(120), flow(&client, &origin, &shot))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("page result: {page}");
    assert!(page["down_mbps"].as_f64().unwrap_or(0.0) > 0.0, "{page}");
    assert!(page["up_mbps"].as_f64().unwrap_or(0.0) > 0.0, "{page}");
    let p50 = page["rtt_p50_ms"].as_f64().unwrap_or(-1.0);
    assert!(p50 > 0.0 && p50 < 50.0, "loopback RTT p50 {p50} ms");

    let st = h.gw.status().borrow().clone();
    assert_eq!(st.netchecks.len(), 1, "the result must reach the status");
    let r = &st.netchecks[0];
    assert!(r.client.starts_with("127.0.0.1:"));
    assert!(r.down_mbps > 0.0 && r.up_mbps > 0.0 && r.rtt_p50_ms < 50.0, "{r:?}");
    assert!(r.pings_answered > 50, "{r:?}");
    assert!(echo.requests().is_empty(), "the network check must never reach the runtime");
}
