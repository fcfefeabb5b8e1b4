//! `/health` through the headless binary while the status is as heavy as clients can make it (the
//! log and the recent sessions full of 15 KiB paths): its answer keeps its fields and never carries
//! the log or a session path, and 1,000 keep-alive clients polling it get answers at a rate printed
//! as a `FIGURE` line (requests/s and the proxy's CPU per 1,000 answers; no timed assertion).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use cxr_gate_core::demo::EchoServer;
use cxr_gate_tests::proxy::ProxyProcess;
use cxr_gate_tests::*;
use futures_util::future::join_all;
use futures_util::SinkExt;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const T: Duration = Duration::from_secs(30);
const CLIENTS: usize = 1000;
const POLL_FOR: Duration = Duration::from_secs(5);
/// Sessions opened and closed to fill the status: more than it keeps (50 ended sessions, 200 log lines).
const HEAVY_SESSIONS: usize = 110;
const MARKER: &str = "path-chosen-by-a-client";

/// A proxy whose status holds the longest paths a client can send, in its log and its session list.
async fn heavy_gate() -> Result<(EchoServer, ProxyProcess)> {
    let echo = EchoServer::start("127.0.0.1:0".parse()?).await?;
    let max = (CLIENTS + 100).to_string();
    let gate = ProxyProcess::start(echo.addr(), &["--max-connections", &max]).await?;
    // About 15 KiB: the head limit is 16 KiB.
    let path = format!("/sign_in?{MARKER}={}", "x".repeat(15 * 1024));
    for i in 0..HEAVY_SESSIONS {
        let (mut ws, _) = wss_connect(&gate.tls, gate.port, &format!("{path}{i}"), &[])
            .await
            .with_context(|| format!("session {i} with a 15 KiB path"))?;
        let _ = ws.send(Message::text("hi")).await;
        let _ = ws.close(None).await;
    }
    Ok((echo, gate))
}

/// Reads one answer (head and Content-Length body) off a keep-alive connection.
async fn read_answer<S: AsyncRead + Unpin>(s: &mut S, buf: &mut Vec<u8>) -> Result<(String, Vec<u8>)> {
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let len: usize = header(&head, "content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let body = buf[end + 4..end + 4 + len].to_vec();
                buf.drain(..end + 4 + len);
                return Ok((head, body));
            }
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            bail!("closed before a full answer");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn get_health<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, buf: &mut Vec<u8>) -> Result<(String, Vec<u8>)> {
    s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await?;
    tokio::time::timeout(T, read_answer(s, buf)).await?
}

#[tokio::test]
async fn health_keeps_its_fields_and_never_carries_the_log_or_session_paths() -> Result<()> {
    let (echo, gate) = heavy_gate().await?;
    let st = wait_for(&gate, |v| v["state"] == "up" && v["active_sessions"] == 0).await?;
    let mut s = tls_connect(&gate.tls, gate.port).await?;
    let mut buf = Vec::new();
    let (head, body) = get_health(&mut s, &mut buf).await?;
    ensure!(head.starts_with("HTTP/1.1 200"), "{head}");
    ensure!(header(&head, "content-type") == Some("application/json"), "{head}");
    ensure!(header(&head, "cache-control") == Some("no-store"), "{head}");
    let text = String::from_utf8_lossy(&body);
    ensure!(!text.contains(MARKER) && !text.contains("session #"), "the log or a session path leaked: {text}");
    ensure!(body.len() < 2048, "/health is {} bytes", body.len());
    let v: Value = serde_json::from_slice(&body)?;
    let mut keys: Vec<&str> = v.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
    keys.sort();
    assert_eq!(
        keys,
        [
            "active_sessions",
            "backend",
            "ca_damaged",
            "headsets",
            "last_error",
            "routed",
            "since_ms",
            "state",
            "version"
        ]
    );
    assert_eq!(v["ca_damaged"], false);
    // The headset book in counts only (tests/tests/headsets.rs checks them against refusals).
    let mut counts: Vec<&str> =
        v["headsets"].as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
    counts.sort();
    assert_eq!(counts, ["connected", "refused", "seen"]);
    assert_eq!(v["state"], "up");
    assert_eq!(v["backend"], echo.addr().to_string());
    assert_eq!(v["active_sessions"], 0);
    assert_eq!(v["version"], cxr_gate_core::VERSION);
    assert_eq!(v["last_error"], Value::Null);
    assert_eq!(v["routed"], serde_json::json!([]));
    assert_eq!(v["since_ms"], st["since_ms"], "the same answer twice while nothing changed");
    // The readiness form, on the same connection: 200 while the runtime is UP.
    s.write_all(b"GET /health?ready=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await?;
    let (head, _) = tokio::time::timeout(T, read_answer(&mut s, &mut buf)).await??;
    ensure!(head.starts_with("HTTP/1.1 200"), "{head}");
    Ok(())
}

/// Polls `/health` on fresh connections until `pred` holds.
async fn wait_for(gate: &ProxyProcess, pred: impl Fn(&Value) -> bool) -> Result<Value> {
    let deadline = Instant::now() + T;
    loop {
        let (_, body) = https_get(&gate.tls, gate.port, "/health").await?;
        let v: Value = serde_json::from_slice(&body)?;
        if pred(&v) {
            return Ok(v);
        }
        ensure!(Instant::now() < deadline, "/health never became what was waited for: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The proxy's CPU time so far (user + system), from /proc.
fn cpu_secs(pid: u32) -> Option<f64> {
    #[cfg(target_os = "linux")]
    {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split(' ').collect();
        let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        (hz > 0).then(|| ticks / hz as f64)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        None
    }
}

#[tokio::test]
async fn health_under_a_thousand_keep_alive_clients() -> Result<()> {
    let _turn = SERIAL.lock().await;
    sys::raise_fd_limit();
    let (_echo, gate) = heavy_gate().await?;
    wait_for(&gate, |v| v["state"] == "up").await?;
    // Each client polls from the moment it is connected (an idle one would meet the 10 s head
    // deadline while the others connect); answers count once all are connected.
    let connected = Arc::new(AtomicU64::new(0));
    let measuring = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(CLIENTS);
    for i in 0..CLIENTS {
        let (tls, port) = (gate.tls.clone(), gate.port);
        let (tally, measuring, answers, stop) = (connected.clone(), measuring.clone(), answers.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = tls_connect(&tls, port).await.with_context(|| format!("client {i}"))?;
            tally.fetch_add(1, Ordering::Relaxed);
            let mut buf = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let (head, body) = get_health(&mut s, &mut buf).await.with_context(|| format!("client {i}"))?;
                ensure!(head.starts_with("HTTP/1.1 200") && body.starts_with(b"{"), "{head}");
                if measuring.load(Ordering::Relaxed) {
                    answers.fetch_add(1, Ordering::Relaxed);
                }
            }
            anyhow::Ok(())
        }));
        // 50 handshakes in flight at most, so the accept backlog never overflows.
        while i as u64 + 1 - connected.load(Ordering::Relaxed) >= 50 {
            ensure!(!tasks.iter().any(|t| t.is_finished()), "a client failed while connecting");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let all_in = Instant::now() + T;
    while connected.load(Ordering::Relaxed) < CLIENTS as u64 {
        ensure!(Instant::now() < all_in, "only {} of {CLIENTS} clients connected", connected.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    measuring.store(true, Ordering::Relaxed);
    let cpu0 = cpu_secs(gate.pid());
    let started = Instant::now();
    tokio::time::sleep(POLL_FOR).await;
    let n = answers.load(Ordering::Relaxed);
    let cpu1 = cpu_secs(gate.pid());
    let secs = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in join_all(tasks).await {
        t??;
    }
    let cpu = match (cpu0, cpu1) {
        (Some(a), Some(b)) => format!("{:.1} ms of proxy CPU per 1,000 answers", (b - a) * 1e6 / n.max(1) as f64),
        _ => "proxy CPU not measurable on this platform".into(),
    };
    figure!(
        "health",
        "{CLIENTS} keep-alive clients polling /health for {secs:.1} s with {HEAVY_SESSIONS} sessions' 15 KiB paths in the status \
         (log and recent sessions full): {n} answers, {:.0} requests/s; {cpu}",
        n as f64 / secs
    );
    Ok(())
}
