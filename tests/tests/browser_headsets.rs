//! The headset book with a real browser: Debian's Chromium, a fresh profile, the certificate not
//! trusted, sending a Quest 3's User-Agent. Its interstitial is recorded as a refusal (with the
//! alert Chromium sends), Advanced → Proceed as "trusted" with the trust page seen, a wss:// echo as
//! "connected", closing it as "ended" by the headset, and the log names it a Quest.
//!
//! Loopback only; needs /usr/bin/chromium and /usr/bin/chromedriver (fails under CI without them,
//! skipped otherwise).

use std::time::Duration;

use cxr_gate_core::headsets::{Headset, HeadsetState};
use cxr_gate_core::status::Status;
use cxr_gate_core::Gateway;
use cxr_gate_tests::chromium::{
    body_text, missing_tools, poll, run_flow, skip_without, target_dir, Browser, LoopbackGate, Options,
};
use cxr_gate_tests::{free_port, QUEST_3};
use fantoccini::{Client, Locator};
use serde_json::json;
use tokio::sync::watch;

const WITHIN: Duration = Duration::from_secs(20);

/// Waits until the headset at 127.0.0.1 (the browser) is in `state`; returns its record.
async fn headset_in(rx: &mut watch::Receiver<Status>, state: HeadsetState) -> Result<Headset, String> {
    cxr_gate_tests::headset_in(rx, "127.0.0.1", state, WITHIN).await
}

async fn flow(c: &Client, gw: &Gateway, port: u16) -> Result<(), String> {
    let mut rx = gw.status();
    let origin = format!("https://127.0.0.1:{port}");
    // (1) The interstitial: Chromium refused the certificate, and said so in the handshake.
    if let Err(e) = c.goto(&format!("{origin}/")).await {
        eprintln!("goto reported: {e}");
    }
    let details = poll(WITHIN, || async { c.find(Locator::Css("#details-button")).await.ok() })
        .await
        .ok_or("no certificate interstitial")?;
    let refused = headset_in(&mut rx, HeadsetState::Refused).await?;
    let alert = refused.tls.as_ref().and_then(|t| t.detail.clone()).unwrap_or_default();
    eprintln!("Chromium refused with alert {alert}: {}", refused.advice.sentence);
    if alert.is_empty() {
        return Err(format!("no alert recorded: {refused:#?}"));
    }

    // (2) Advanced → Proceed: trusted, the trust page seen, named a Quest by its agent.
    details.click().await.map_err(|e| format!("Advanced: {e}"))?;
    let proceed =
        poll(WITHIN, || async { c.find(Locator::Css("#proceed-link")).await.ok() }).await.ok_or("no #proceed-link")?;
    proceed.click().await.map_err(|e| format!("Proceed: {e}"))?;
    poll(WITHIN, || async { body_text(c).await.contains("Certificate accepted").then_some(()) })
        .await
        .ok_or("no \"Certificate accepted\" page")?;
    let trusted = headset_in(&mut rx, HeadsetState::Trusted).await?;
    if trusted.pages.trust_page_ms.is_none() || trusted.device != "Quest 3 / 3S" {
        return Err(format!("trusted without the trust page or not a Quest: {trusted:#?}"));
    }

    // (3) A wss:// echo from the page, kept open: connected.
    let open = r#"
        const url = arguments[0], done = arguments[arguments.length - 1];
        const t = setTimeout(() => done({ ok: false, error: "timeout" }), 15000);
        const ws = new WebSocket(url);
        window.__ws = ws;
        ws.onopen = () => ws.send("hello");
        ws.onmessage = (e) => { clearTimeout(t); done({ ok: true, data: String(e.data) }); };
        ws.onerror = () => { clearTimeout(t); done({ ok: false, error: "WebSocket error" }); };
    "#;
    let r = c
        .execute_async(open, vec![json!(format!("wss://127.0.0.1:{port}/sign_in?peer=quest"))])
        .await
        .map_err(|e| format!("WebSocket script: {e}"))?;
    if r["ok"] != json!(true) {
        return Err(format!("no echo: {r}"));
    }
    headset_in(&mut rx, HeadsetState::Connected).await?;

    // (4) Closing it: ended.
    c.execute("window.__ws.close(); return true;", vec![]).await.map_err(|e| format!("close: {e}"))?;
    let ended = headset_in(&mut rx, HeadsetState::Ended).await?;
    eprintln!("ended: {}", ended.advice.sentence);
    // The page's Close frame, not the runtime's TCP close that follows it, says who ended it.
    if !ended.advice.sentence.contains("closed by the headset") {
        return Err(format!("the page closed the session: {}", ended.advice.sentence));
    }

    // The log named it a Quest, one line per state.
    let log: Vec<String> = gw
        .status()
        .borrow()
        .log
        .iter()
        .map(|l| l.msg.clone())
        .filter(|m| m.starts_with("headset 127.0.0.1 "))
        .collect();
    eprintln!("headset log:\n{}", log.join("\n"));
    if !log.iter().any(|l| l.contains("(Quest 3 / 3S, Quest Browser 39.2)")) {
        return Err(format!("no log line names the Quest: {log:#?}"));
    }
    for state in
        ["refused the certificate", "trusts the certificate and saw the trust page", "connected", "last session ended"]
    {
        if !log.iter().any(|l| l.contains(state)) {
            return Err(format!("no log line for {state:?}: {log:#?}"));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_with_a_quest_agent_is_followed_through_the_book() {
    if skip_without(missing_tools()) {
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let gate = LoopbackGate::start(free_port(), |_| {}).await.unwrap_or_else(|e| panic!("{e}"));
    let opts = Options { user_agent: Some(QUEST_3.into()), ..Default::default() };
    let log = target_dir(env!("CARGO_TARGET_TMPDIR")).join("browser-headsets-chromedriver.log");
    let browser = Browser::start_with(&log, &opts).await.unwrap_or_else(|e| panic!("{e}"));
    let client = browser.client.clone();
    let result = run_flow(browser, Duration::from_secs(150), flow(&client, &gate.gw, gate.port)).await;
    gate.stop().await;
    if let Err(e) = result {
        panic!("{e}");
    }
}
