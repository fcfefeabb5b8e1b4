//! The headset network check over the proxy's own WebSocket (`/netcheck/ws`), driven by a protocol
//! client written here (the page's JS is driven in real Chromium by `browser_netcheck`).

use std::time::Duration;

use anyhow::Result;
use cxr_gate_core::demo::EchoServer;
use cxr_gate_core::netcheck::Verdict;
use cxr_gate_core::status::BackendState;
use cxr_gate_tests::*;

#[tokio::test]
async fn network_check_measures_the_link_and_reports_to_the_status() -> Result<()> {
    let echo = EchoServer::start("127.0.0.1:0".parse()?).await?;
    let h = Harness::start(echo.addr(), |_| {}).await?;
    let (mut ws, resp) = wss_connect(&h.tls, h.port, "/netcheck/ws", &[]).await?;
    assert_eq!(resp.status(), 101);
    let v = netcheck_headset(&mut ws).await?;
    assert_eq!(v["type"], "result", "{v}");
    let r = &v["result"];
    assert!(r["down_mbps"].as_f64().unwrap_or(0.0) > 0.0, "{r}");
    assert!(r["up_mbps"].as_f64().unwrap_or(0.0) > 0.0, "{r}");
    let p50 = r["rtt_p50_ms"].as_f64().unwrap_or(-1.0);
    assert!(p50 > 0.0 && p50 < 50.0, "loopback p50 {p50}");
    assert!(r["pings_answered"].as_u64().unwrap_or(0) >= 100, "{r}");
    assert_eq!(r["rows"].as_array().map(|a| a.len()), Some(6));

    // The desktop's Network panel reads it from the status; the runtime never saw the test.
    let st = h.gw.status().borrow().clone();
    assert_eq!(st.netchecks.len(), 1);
    assert!(st.netchecks[0].client.starts_with("127.0.0.1:"));
    assert!(st.netchecks[0].overall.is_some());
    assert!(st.log.iter().any(|l| l.msg.starts_with("network check from 127.0.0.1:")));
    assert!(echo.requests().is_empty(), "netcheck traffic reached the backend");
    Ok(())
}

#[tokio::test]
async fn network_check_refuses_while_a_stream_runs_unless_confirmed() -> Result<()> {
    let echo = EchoServer::start("127.0.0.1:0".parse()?).await?;
    let h = Harness::start(echo.addr(), |_| {}).await?;
    h.wait_backend(BackendState::Up).await?;
    let (_stream, _) = wss_connect(&h.tls, h.port, "/sign_in", &[]).await?;
    let mut rx = h.gw.status();
    wait_for(&mut rx, Duration::from_secs(5), "session", |s| s.sessions.len() == 1).await?;

    let (mut ws, _) = wss_connect(&h.tls, h.port, "/netcheck/ws", &[]).await?;
    let v = netcheck_headset(&mut ws).await?;
    assert_eq!(v["type"], "busy", "{v}");
    assert!(v["message"].as_str().unwrap_or("").contains("CloudXR stream is running (1 headset connected)"));

    let (mut ws, _) = wss_connect(&h.tls, h.port, "/netcheck/ws?force=1", &[]).await?;
    let v = netcheck_headset(&mut ws).await?;
    assert_eq!(v["type"], "result", "{v}");
    Ok(())
}

#[test]
fn verdict_enum_is_lowercase_json() {
    assert_eq!(serde_json::to_string(&Verdict::Marginal).unwrap(), "\"marginal\"");
}
