//! End-to-end tests of the engine: a real TLS WebSocket client (trusting only the generated certificate,
//! so its 127.0.0.1 SAN is verified) through the gateway to a real WebSocket echo server, all on loopback.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use cxr_gate_core::config::{parse_allowlist, SettingName};
use cxr_gate_core::demo::EchoServer;
use cxr_gate_core::session_end::{GateEnd, PeerEnd, SessionEnd};
use cxr_gate_core::status::{BackendState, CertOrigin};
use cxr_gate_core::{BackendAddr, Config};
use cxr_gate_tests::*;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const T: Duration = Duration::from_secs(10);

async fn echo() -> Result<EchoServer> {
    Ok(EchoServer::start("127.0.0.1:0".parse()?).await?)
}

/// A loopback address where nothing listens.
fn dead_backend() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

async fn roundtrip(ws: &mut Wss, msg: Message) -> Result<Message> {
    ws.send(msg).await?;
    loop {
        match tokio::time::timeout(T, ws.next()).await? {
            Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => return Ok(m),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => anyhow::bail!("closed"),
        }
    }
}

/// Waits for the client side to see the tunnel end (close frame, error or EOF).
async fn expect_closed(ws: &mut Wss) -> Result<()> {
    tokio::time::timeout(T, async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn echo_round_trip_keeps_path_query_and_headers_and_adds_forwarding_headers() -> Result<()> {
    let echo = echo().await?;
    let h = Harness::start(echo.addr(), |_| {}).await?;
    h.wait_backend(BackendState::Up).await?;
    let (mut ws, resp) = wss_connect(
        &h.tls,
        h.port,
        "/sign_in?peer=quest&v=1",
        &[("Sec-WebSocket-Protocol", "cloudxr, other"), ("X-Forwarded-For", "203.0.113.9")],
    )
    .await?;
    assert_eq!(resp.status(), 101);
    assert_eq!(resp.headers().get("sec-websocket-protocol").map(|v| v.to_str().unwrap()), Some("cloudxr"));
    assert_eq!(roundtrip(&mut ws, Message::text("hello runtime")).await?, Message::text("hello runtime"));
    let blob: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(roundtrip(&mut ws, Message::binary(blob.clone())).await?, Message::binary(blob));

    let seen = echo.requests().pop().expect("echo saw the request");
    assert_eq!(seen.path, "/sign_in?peer=quest&v=1");
    let get = |n: &str| seen.headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(get("x-forwarded-for").as_deref(), Some("203.0.113.9, 127.0.0.1"));
    assert_eq!(get("x-forwarded-proto").as_deref(), Some("https"));
    assert_eq!(get("sec-websocket-protocol").as_deref(), Some("cloudxr, other"));
    assert!(get("sec-websocket-key").is_some());

    // The session is listed while open, with bytes counted both ways, and logged when it ends.
    let mut rx = h.gw.status();
    wait_for(&mut rx, T, "session listed", |s| s.sessions.len() == 1 && s.sessions[0].bytes_up > 70_000).await?;
    // The headset goes away (TCP closed): the reason says it was the client.
    drop(ws);
    let st = wait_for(&mut rx, T, "session ended", |s| s.sessions.is_empty() && !s.recent_sessions.is_empty()).await?;
    let ended = &st.recent_sessions[0];
    assert_eq!(ended.session.path, "/sign_in?peer=quest&v=1");
    assert!(ended.session.bytes_down > 70_000);
    assert_eq!(ended.reason, SessionEnd::Headset(PeerEnd::Closed).to_string());
    assert!(st.log.iter().any(|l| l.msg.contains("opened") && l.msg.contains("/sign_in?peer=quest&v=1")));
    h.gw.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn cors_headers_are_on_the_101_and_on_pages() -> Result<()> {
    let echo = echo().await?;
    let h = Harness::start(echo.addr(), |_| {}).await?;
    let (_ws, resp) = wss_connect(&h.tls, h.port, "/", &[]).await?;
    let hv = |n: &str| resp.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
    assert_eq!(hv("access-control-allow-origin").as_deref(), Some("*"));
    assert_eq!(hv("access-control-allow-headers").as_deref(), Some("*"));
    assert_eq!(hv("access-control-allow-methods").as_deref(), Some("GET, POST, PUT, DELETE, OPTIONS"));
    assert_eq!(hv("access-control-expose-headers").as_deref(), Some("*"));
    assert_eq!(hv("access-control-max-age").as_deref(), Some("600"));
    assert_eq!(hv("access-control-allow-private-network").as_deref(), Some("true"));
    for path in ["/test", "/health", "/nope"] {
        let (head, _) = https_get(&h.tls, h.port, path).await?;
        assert_eq!(header(&head, "access-control-allow-private-network"), Some("true"), "{path}: {head}");
        assert_eq!(header(&head, "access-control-allow-origin"), Some("*"), "{path}");
    }
    Ok(())
}

#[tokio::test]
async fn options_preflight_is_answered_without_touching_the_backend() -> Result<()> {
    let echo = echo().await?;
    let h = Harness::start(echo.addr(), |_| {}).await?;
    let before = echo.requests().len();
    let req = format!(
        "OPTIONS /sign_in HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nOrigin: https://example.github.io\r\n\
Access-Control-Request-Method: GET\r\nAccess-Control-Request-Private-Network: true\r\nConnection: close\r\n\r\n",
        h.port
    );
    let out = https_raw(&h.tls, h.port, req.as_bytes(), T).await?;
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    assert!(out.to_ascii_lowercase().contains("content-type: text/plain"), "{out}");
    assert!(out.ends_with("OK"), "{out}");
    assert_eq!(header(&out, "access-control-allow-private-network"), Some("true"));
    assert_eq!(echo.requests().len(), before);
    Ok(())
}

#[tokio::test]
async fn landing_page_names_the_reached_address_and_closes_the_connection() -> Result<()> {
    let h = Harness::start(dead_backend(), |_| {}).await?;
    // Keep-alive asked for, yet the page comes with Connection: close and the server closes.
    let req = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n", h.port);
    let out = https_raw(&h.tls, h.port, req.as_bytes(), T).await?;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert_eq!(header(&out, "connection"), Some("close"));
    assert!(header(&out, "content-type").unwrap_or("").starts_with("text/html"));
    assert!(out.contains("Certificate accepted"));
    assert!(out.contains(&format!("wss://127.0.0.1:{}", h.port)), "{out}");
    Ok(())
}

#[tokio::test]
async fn test_health_cert_and_404_pages() -> Result<()> {
    let echo = echo().await?;
    let h = Harness::start(echo.addr(), |_| {}).await?;
    h.wait_backend(BackendState::Up).await?;

    let (head, body) = https_get(&h.tls, h.port, "/test").await?;
    assert!(head.starts_with("HTTP/1.1 200"));
    assert_eq!(body, b"WebSocket proxy ready\n");

    let (head, body) = https_get(&h.tls, h.port, "/health").await?;
    assert_eq!(header(&head, "content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    assert_eq!(v["state"], "up");
    assert_eq!(v["backend"], echo.addr().to_string());
    assert_eq!(v["active_sessions"], 0);
    assert_eq!(v["version"], cxr_gate_core::VERSION);
    assert!(v["since_ms"].as_u64().unwrap_or(0) > 0);

    let (head, body) = https_get(&h.tls, h.port, "/cert.pem").await?;
    assert!(head.starts_with("HTTP/1.1 200"));
    let on_disk = std::fs::read(h.dir.path().join("cert.pem"))?;
    assert_eq!(body, on_disk);

    let (head, der) = https_get(&h.tls, h.port, "/cert.crt").await?;
    assert_eq!(header(&head, "content-type"), Some("application/x-x509-ca-cert"));
    let (_, cert) = x509_parser::parse_x509_certificate(&der)?;
    let sans = cert.subject_alternative_name()?.expect("SAN extension").value.general_names.len();
    assert!(sans >= 3);

    let (head, body) = https_get(&h.tls, h.port, "/no/such/page").await?;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("Not found"));
    Ok(())
}

#[tokio::test]
async fn upgrade_gets_a_readable_503_when_the_runtime_is_down() -> Result<()> {
    let backend = dead_backend();
    let h = Harness::start(backend, |_| {}).await?;
    // Before any verdict the connect itself fails: 503 at once, never a hang.
    let err = wss_connect(&h.tls, h.port, "/sign_in", &[]).await.unwrap_err().to_string();
    assert!(err.contains("503"), "{err}");
    h.wait_backend(BackendState::Down).await?;
    let req = "GET /sign_in HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    let out = https_raw(&h.tls, h.port, req.as_bytes(), Duration::from_secs(2)).await?;
    assert!(out.starts_with("HTTP/1.1 503"), "{out}");
    assert!(out.contains(&format!("CloudXR Runtime is not reachable at {backend} — is it running?")), "{out}");
    assert_eq!(header(&out, "access-control-allow-origin"), Some("*"));
    Ok(())
}

#[tokio::test]
async fn a_non_101_answer_from_the_backend_is_relayed() -> Result<()> {
    let echo = echo().await?;
    let h = Harness::start(echo.addr(), |_| {}).await?;
    let req = "GET /reject/me HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    let out = https_raw(&h.tls, h.port, req.as_bytes(), Duration::from_secs(2)).await?;
    assert!(out.starts_with("HTTP/1.1 403"), "{out}");
    assert!(out.contains("rejected by echo server"), "{out}");
    assert_eq!(header(&out, "access-control-allow-private-network"), Some("true"));
    Ok(())
}

/// A backend that answers every upgrade with a refusal that closes its connection.
async fn refusing_backend() -> Result<SocketAddr> {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 403 Forbidden\r\nConnection: close, x-hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nContent-Length: 3\r\n\r\nno\n")
                    .await;
            });
        }
    });
    Ok(addr)
}

#[tokio::test]
async fn a_relayed_refusal_does_not_close_the_clients_keep_alive_connection() -> Result<()> {
    let backend = refusing_backend().await?;
    let h = Harness::start(backend, |_| {}).await?;
    let upgrade = "GET /sign_in HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                   Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    // Two refusals then a page, pipelined on one connection: all three answered, in order.
    let pipelined = format!("{upgrade}{upgrade}GET /test HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let out = https_raw(&h.tls, h.port, pipelined.as_bytes(), Duration::from_secs(5)).await?;
    let statuses: Vec<&str> = out.lines().filter(|l| l.starts_with("HTTP/1.1 ")).collect();
    assert_eq!(statuses, ["HTTP/1.1 403 Forbidden", "HTTP/1.1 403 Forbidden", "HTTP/1.1 200 OK"], "{out}");
    assert!(out.ends_with("WebSocket proxy ready\n"), "{out}");
    // The backend's connection-level headers stayed with the backend's connection.
    let first = out.split("\r\n\r\n").next().unwrap_or("");
    assert_eq!(header(first, "x-hop"), None, "{first}");
    assert_eq!(header(first, "keep-alive"), None, "{first}");
    Ok(())
}

#[tokio::test]
async fn path_routing_reaches_allowed_host_ports_and_refuses_others_without_dialing() -> Result<()> {
    let echo = echo().await?;
    let rec = Arc::new(RecordingConnector::default());
    let echo_port = echo.addr().port();
    // The configured backend is dead; the echo server is only reachable through a routing segment.
    let allowed = format!("127.0.0.1:{echo_port}");
    let h = Harness::start_with(dead_backend(), |c| c.allowed_backends = vec![allowed.parse().unwrap()], rec.clone())
        .await?;
    let path = format!("/127.0.0.1:{echo_port}/sign_in?x=1");
    let (mut ws, _) = wss_connect(&h.tls, h.port, &path, &[]).await?;
    assert_eq!(roundtrip(&mut ws, Message::text("routed")).await?, Message::text("routed"));
    assert_eq!(echo.requests().pop().map(|r| r.path).as_deref(), Some("/sign_in?x=1"));

    // Other hosts, and other ports on loopback (a browser's debugging port, a notebook kernel).
    let other_port = if echo_port == 9222 { 9223 } else { 9222 };
    let loopback_other = format!("/127.0.0.1:{other_port}/json");
    for target in ["/192.168.77.5:49100/sign_in", "/10.20.30.40/x", "/8.8.8.8:443/", &loopback_other] {
        let err = wss_connect(&h.tls, h.port, target, &[]).await.unwrap_err().to_string();
        assert!(err.contains("403"), "{target}: {err}");
    }
    let req = "GET /192.168.77.5/x HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
               Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    let out = https_raw(&h.tls, h.port, req.as_bytes(), Duration::from_secs(2)).await?;
    assert!(out.contains("allowed_backends") && out.contains("192.168.77.5:49100"), "{out}");
    for host in ["192.168.77.5", "10.20.30.40", "8.8.8.8"] {
        assert_eq!(rec.attempts_to(host), 0, "dialed {host}");
    }
    assert_eq!(rec.attempts_to_addr("127.0.0.1", other_port), 0, "dialed loopback port {other_port}");
    assert!(rec.attempts_to_addr("127.0.0.1", echo_port) > 0);
    Ok(())
}

#[tokio::test]
async fn allowed_backends_extend_routing_by_host_and_port() -> Result<()> {
    let rec = Arc::new(RecordingConnector::default());
    let list = parse_allowlist("192.168.77.5:5000-5001, 192.168.77.7", SettingName::Other("test"))?;
    let h = Harness::start_with(dead_backend(), |c| c.allowed_backends = list, rec.clone()).await?;
    // Allowed: it is dialed (the recording connector refuses non-loopback, so nothing leaves).
    for target in ["/192.168.77.5:5000/x", "/192.168.77.5:5001/x"] {
        let err = wss_connect(&h.tls, h.port, target, &[]).await.unwrap_err().to_string();
        assert!(err.contains("503"), "{err}");
    }
    assert_eq!(rec.attempts_to_addr("192.168.77.5", 5000), 1, "dialed once, and no health check before a 101");
    assert_eq!(rec.attempts_to_addr("192.168.77.5", 5001), 1);
    // A bare host means the backend's port, as old settings files wrote it.
    let backend_port = h.gw.config().backend.port;
    let err = wss_connect(&h.tls, h.port, &format!("/192.168.77.7:{backend_port}/x"), &[]).await.unwrap_err();
    assert!(err.to_string().contains("503"), "{err}");
    assert_eq!(rec.attempts_to_addr("192.168.77.7", backend_port), 1);
    // Not allowed: never dialed.
    for target in ["/192.168.77.6:5000/x", "/192.168.77.5:5002/x", "/192.168.77.5:22/x", "/192.168.77.7:5000/x"] {
        let err = wss_connect(&h.tls, h.port, target, &[]).await.unwrap_err().to_string();
        assert!(err.contains("403"), "{target}: {err}");
    }
    assert_eq!(rec.attempts_to("192.168.77.6"), 0);
    assert_eq!(rec.attempts_to_addr("192.168.77.5", 5002) + rec.attempts_to_addr("192.168.77.5", 22), 0);
    assert_eq!(rec.attempts_to_addr("192.168.77.7", 5000), 0);
    Ok(())
}

#[tokio::test]
async fn rise_and_fall_count_consecutive_checks() -> Result<()> {
    let echo = echo().await?;
    let rec = Arc::new(RecordingConnector::default());
    let h = Harness::start_with(
        echo.addr(),
        |c| {
            c.health.rise = 3;
            c.health.fall = 4;
        },
        rec.clone(),
    )
    .await?;
    let mut rx = h.gw.status();
    assert_eq!(rx.borrow().backend.state, BackendState::Unknown);
    wait_for(&mut rx, T, "up", |s| s.backend.state == BackendState::Up).await?;
    let at_up = rec.attempts_to("127.0.0.1");
    assert!(at_up >= 3, "UP after {at_up} checks, rise is 3");

    rec.refuse_all.store(true, Ordering::SeqCst);
    let before = rec.attempts_to("127.0.0.1");
    let st = wait_for(&mut rx, T, "down", |s| s.backend.state == BackendState::Down).await?;
    let failed = rec.attempts_to("127.0.0.1") - before;
    assert!(failed >= 4, "DOWN after {failed} failed checks, fall is 4");
    assert!(
        st.log
            .iter()
            .any(|l| l.msg == format!("backend {} is DOWN (4 failed checks: connection refused)", echo.addr())),
        "{:?}",
        st.log
    );
    assert_eq!(st.backend.last_error.as_deref(), Some("connection refused"));

    rec.refuse_all.store(false, Ordering::SeqCst);
    let st = wait_for(&mut rx, T, "up again", |s| s.backend.state == BackendState::Up).await?;
    assert!(st.log.iter().any(|l| l.msg.contains("is UP (3 successful checks)")));
    Ok(())
}

#[tokio::test]
async fn tunnels_are_closed_when_the_backend_is_marked_down() -> Result<()> {
    let echo = echo().await?;
    let rec = Arc::new(RecordingConnector::default());
    let h = Harness::start_with(echo.addr(), |_| {}, rec.clone()).await?;
    h.wait_backend(BackendState::Up).await?;
    let (mut ws, _) = wss_connect(&h.tls, h.port, "/sign_in", &[]).await?;
    roundtrip(&mut ws, Message::text("x")).await?;
    // New connections fail, the open one stays healthy on the echo server: only the verdict can close it.
    rec.refuse_all.store(true, Ordering::SeqCst);
    expect_closed(&mut ws).await?;
    let mut rx = h.gw.status();
    let st = wait_for(&mut rx, T, "session ended", |s| !s.recent_sessions.is_empty()).await?;
    assert_eq!(st.backend.state, BackendState::Down);
    assert_eq!(st.recent_sessions[0].reason, SessionEnd::Gate(GateEnd::Health).to_string());
    Ok(())
}

#[tokio::test]
async fn idle_tunnels_time_out() -> Result<()> {
    let echo = echo().await?;
    let h = Harness::start(echo.addr(), |c| c.timeouts.tunnel_idle = Duration::from_millis(400)).await?;
    let (mut ws, _) = wss_connect(&h.tls, h.port, "/", &[]).await?;
    roundtrip(&mut ws, Message::text("x")).await?;
    expect_closed(&mut ws).await?;
    let mut rx = h.gw.status();
    let st = wait_for(&mut rx, T, "session ended", |s| !s.recent_sessions.is_empty()).await?;
    assert_eq!(st.recent_sessions[0].reason, SessionEnd::Gate(GateEnd::Idle { ms: 400 }).to_string());
    Ok(())
}

#[tokio::test]
async fn shutdown_closes_tunnels_with_a_reason() -> Result<()> {
    let echo = echo().await?;
    let h = Harness::start(echo.addr(), |_| {}).await?;
    let (mut ws, _) = wss_connect(&h.tls, h.port, "/", &[]).await?;
    roundtrip(&mut ws, Message::text("x")).await?;
    let mut rx = h.gw.status();
    let port = h.port;
    h.gw.shutdown().await;
    expect_closed(&mut ws).await?;
    let st = rx.borrow_and_update().clone();
    let shutdown = SessionEnd::Gate(GateEnd::Shutdown).to_string();
    assert_eq!(st.recent_sessions.front().map(|s| s.reason.as_str()), Some(shutdown.as_str()));
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err(), "still accepting after shutdown");
    Ok(())
}

#[tokio::test]
async fn oversized_heads_get_431() -> Result<()> {
    let h = Harness::start(dead_backend(), |_| {}).await?;
    let mut many = String::from("GET /test HTTP/1.1\r\nHost: x\r\n");
    for i in 0..101 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let out = https_raw(&h.tls, h.port, many.as_bytes(), T).await?;
    assert!(out.starts_with("HTTP/1.1 431"), "101 headers: {out}");

    let big = format!("GET /test HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(17 * 1024));
    let out = https_raw(&h.tls, h.port, big.as_bytes(), T).await?;
    assert!(out.starts_with("HTTP/1.1 431"), "17 KiB head: {out}");

    // Just under both limits is fine.
    let mut ok = String::from("GET /test HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for i in 0..90 {
        ok.push_str(&format!("X-H{i}: v\r\n"));
    }
    ok.push_str(&format!("X-Big: {}\r\n\r\n", "a".repeat(12 * 1024)));
    let out = https_raw(&h.tls, h.port, ok.as_bytes(), T).await?;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    Ok(())
}

#[tokio::test]
async fn a_slow_head_gets_408() -> Result<()> {
    let h = Harness::start(dead_backend(), |c| c.timeouts.request_head = Duration::from_millis(500)).await?;
    let mut s = tls_connect(&h.tls, h.port).await?;
    s.write_all(b"GET /test HTTP/1.1\r\nHost: x\r\n").await?;
    let mut out = Vec::new();
    let started = std::time::Instant::now();
    tokio::time::timeout(T, s.read_to_end(&mut out)).await??;
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    assert!(started.elapsed() >= Duration::from_millis(400), "408 came before the deadline");
    Ok(())
}

#[tokio::test]
async fn plain_http_on_the_tls_port_is_told_to_use_https() -> Result<()> {
    let h = Harness::start(dead_backend(), |_| {}).await?;
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", h.port)).await?;
    s.write_all(format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n", h.port).as_bytes()).await?;
    let mut out = Vec::new();
    tokio::time::timeout(T, s.read_to_end(&mut out)).await??;
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert!(out.contains("use https://"), "{out}");
    Ok(())
}

/// Whether a new connection gets through the TLS handshake (over the limit it is reset first).
async fn admitted(h: &Harness) -> bool {
    match tls_connect(&h.tls, h.port).await {
        Ok(mut s) => {
            let _ = s.write_all(b"GET /test HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
            let mut out = Vec::new();
            let _ = tokio::time::timeout(T, s.read_to_end(&mut out)).await;
            out.starts_with(b"HTTP/1.1 200")
        }
        Err(_) => false,
    }
}

#[tokio::test]
async fn connections_over_the_limit_are_reset_and_a_new_limit_counts_the_open_ones() -> Result<()> {
    let echo = echo().await?;
    let h = Harness::start(echo.addr(), |c| c.max_connections = 3).await?;
    h.wait_backend(BackendState::Up).await?;
    let mut open = Vec::new();
    for i in 0..3 {
        let (mut ws, _) = wss_connect(&h.tls, h.port, "/", &[]).await?;
        echo_once(&mut ws, &format!("hold {i}")).await?;
        open.push(ws);
    }
    assert!(!admitted(&h).await, "a 4th connection over a limit of 3");
    // A lower limit counts the tunnels opened before it.
    let mut cfg = h.gw.config();
    cfg.max_connections = 2;
    h.gw.apply_config(cfg).await?;
    assert!(!admitted(&h).await, "3 open, limit 2");
    open.pop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!admitted(&h).await, "2 open, limit 2");
    open.pop();
    let until = tokio::time::Instant::now() + T;
    while !admitted(&h).await {
        assert!(tokio::time::Instant::now() < until, "1 open, limit 2: not admitted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[tokio::test]
async fn settings_changes_keep_closing_old_tunnels_when_their_backend_goes_down() -> Result<()> {
    // Order 1: the check settings change, then the runtime goes DOWN.
    let first = echo().await?;
    let h = Harness::start(first.addr(), |_| {}).await?;
    h.wait_backend(BackendState::Up).await?;
    let (mut ws, _) = wss_connect(&h.tls, h.port, "/sign_in", &[]).await?;
    echo_once(&mut ws, "before").await?;
    let mut cfg = h.gw.config();
    cfg.health.interval = Duration::from_millis(150);
    cfg.health.fall = 2;
    h.gw.apply_config(cfg).await?;
    echo_once(&mut ws, "after the change").await?;
    first.stop().await;
    expect_closed(&mut ws).await?;
    let mut rx = h.gw.status();
    wait_for(&mut rx, T, "the close reason", |s| {
        s.recent_sessions.front().is_some_and(|e| e.reason == SessionEnd::Gate(GateEnd::Health).to_string())
    })
    .await?;

    // Order 2: the backend itself is replaced, then the old one goes DOWN: its tunnel still closes.
    let old = echo().await?;
    let new = echo().await?;
    let h = Harness::start(old.addr(), |_| {}).await?;
    h.wait_backend(BackendState::Up).await?;
    let (mut ws, _) = wss_connect(&h.tls, h.port, "/sign_in", &[]).await?;
    echo_once(&mut ws, "to the old runtime").await?;
    let mut cfg = h.gw.config();
    cfg.backend = BackendAddr::new("127.0.0.1", new.addr().port());
    h.gw.apply_config(cfg).await?;
    let mut rx = h.gw.status();
    wait_for(&mut rx, T, "the old backend listed while its session lasts", |s| {
        s.routed_backends.iter().any(|b| b.addr == old.addr().to_string())
    })
    .await?;
    echo_once(&mut ws, "still the old runtime").await?;
    old.stop().await;
    expect_closed(&mut ws).await?;
    wait_for(&mut rx, T, "the close reason", |s| {
        s.recent_sessions.front().is_some_and(|e| e.reason == SessionEnd::Gate(GateEnd::Health).to_string())
    })
    .await?;
    // New sessions go to the new backend.
    let (mut ws, _) = wss_connect(&h.tls, h.port, "/new", &[]).await?;
    echo_once(&mut ws, "new").await?;
    assert_eq!(new.requests().pop().map(|r| r.path).as_deref(), Some("/new"));
    Ok(())
}

#[tokio::test]
async fn shutdown_ends_a_running_network_check() -> Result<()> {
    let echo = echo().await?;
    let h = Harness::start(echo.addr(), |_| {}).await?;
    let (mut ws, _) = wss_connect(&h.tls, h.port, "/netcheck/ws", &[]).await?;
    let first = tokio::time::timeout(T, ws.next()).await?;
    assert!(matches!(first, Some(Ok(Message::Text(_)))), "{first:?}");
    let t0 = Instant::now();
    h.gw.shutdown().await;
    expect_closed(&mut ws).await?;
    assert!(t0.elapsed() < Duration::from_secs(3), "the check outlived the gateway by {:?}", t0.elapsed());
    Ok(())
}

#[tokio::test]
async fn port_in_use_is_reported_not_fatal() -> Result<()> {
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = taken.local_addr()?.port();
    let dir = tempfile::tempdir()?;
    let mut cfg = test_config(dir.path(), dead_backend());
    cfg.listen = SocketAddr::from(([127, 0, 0, 1], port));
    let gw = cxr_gate_core::Gateway::start(cfg).await?;
    let err = gw.listen_error().expect("must not be listening");
    assert_eq!(err, format!("port {port} is already in use by another program"));
    let st = gw.status().borrow().clone();
    assert_eq!(st.listener.error.as_deref(), Some(err.as_str()));
    // Freed: a restart of the listener picks it up.
    drop(taken);
    gw.restart_listener().await;
    assert_eq!(gw.listen_error(), None);
    gw.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn certificate_is_reused_across_restarts() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let cfg = test_config(dir.path(), dead_backend());
    let gw = cxr_gate_core::Gateway::start(cfg.clone()).await?;
    let first = gw.status().borrow().cert.clone().expect("cert");
    assert_eq!(first.origin, CertOrigin::Generated);
    assert!(first.sans.iter().any(|s| s == "127.0.0.1"));
    gw.shutdown().await;
    let mtime = std::fs::metadata(dir.path().join("cert.pem"))?.modified()?;

    let mut cfg2 = cfg;
    cfg2.listen.set_port(free_port());
    let gw = cxr_gate_core::Gateway::start(cfg2).await?;
    let second = gw.status().borrow().cert.clone().expect("cert");
    assert_eq!(second.fingerprint_sha256, first.fingerprint_sha256);
    assert!(!second.changed_since_last_run);
    assert_eq!(second.regenerated_reason, None);
    assert_eq!(std::fs::metadata(dir.path().join("cert.pem"))?.modified()?, mtime);
    gw.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_missing_name_regenerates_the_certificate_without_dropping_sessions() -> Result<()> {
    let echo = echo().await?;
    let h = Harness::start(echo.addr(), |_| {}).await?;
    let old = h.gw.status().borrow().cert.clone().expect("cert");
    let (mut ws, _) = wss_connect(&h.tls, h.port, "/", &[]).await?;
    roundtrip(&mut ws, Message::text("before")).await?;

    let mut cfg: Config = h.gw.config();
    cfg.cert_hostnames = vec!["10.99.0.1".into(), "vr-lab.local".into()];
    h.gw.apply_config(cfg).await?;
    let new = h.gw.status().borrow().cert.clone().expect("cert");
    assert_ne!(new.fingerprint_sha256, old.fingerprint_sha256);
    assert!(
        new.sans.iter().any(|s| s == "10.99.0.1") && new.sans.iter().any(|s| s == "vr-lab.local"),
        "{:?}",
        new.sans
    );
    assert!(new.regenerated_reason.as_deref().unwrap_or("").contains("10.99.0.1"), "{:?}", new.regenerated_reason);
    assert!(new.changed_since_last_run);

    // The open tunnel survived the swap; a new handshake gets the new certificate.
    assert_eq!(roundtrip(&mut ws, Message::text("after")).await?, Message::text("after"));
    let tls_new = client_tls(&h.dir.path().join("cert.pem"))?;
    let (_, der) = https_get(&tls_new, h.port, "/cert.crt").await?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)?;
    let san = format!("{:?}", cert.subject_alternative_name()?.expect("san").value.general_names);
    assert!(san.contains("vr-lab.local"), "{san}");
    Ok(())
}

#[tokio::test]
async fn a_custom_certificate_is_served_and_never_touched() -> Result<()> {
    // Make a certificate in one data dir, then hand it to a second gateway as HAProxy's combined server.pem.
    let src = tempfile::tempdir()?;
    let gw = cxr_gate_core::Gateway::start(test_config(src.path(), dead_backend())).await?;
    let made = gw.status().borrow().cert.clone().expect("cert");
    gw.shutdown().await;
    let custom_dir = tempfile::tempdir()?;
    let combined = custom_dir.path().join("server.pem");
    let mut pem = std::fs::read(src.path().join("cert.pem"))?;
    pem.extend(std::fs::read(src.path().join("key.pem"))?);
    std::fs::write(&combined, &pem)?;
    let mtime = std::fs::metadata(&combined)?.modified()?;

    let h = Harness::start(dead_backend(), |c| {
        c.custom_cert = Some(cxr_gate_core::config::CustomCert { cert: combined.clone(), key: None });
        c.cert_hostnames = vec!["not-covered.example".into()];
    })
    .await?;
    let st = h.gw.status().borrow().clone();
    let info = st.cert.expect("cert");
    assert_eq!(info.origin, CertOrigin::Custom);
    assert_eq!(info.fingerprint_sha256, made.fingerprint_sha256);
    assert!(info.missing.iter().any(|m| m == "not-covered.example"), "{:?}", info.missing);
    let (head, _) = https_get(&h.tls, h.port, "/test").await?;
    assert!(head.starts_with("HTTP/1.1 200"));
    assert!(h.gw.regenerate_cert().await.is_err(), "regenerating a custom certificate must be refused");
    assert_eq!(std::fs::read(&combined)?, pem);
    assert_eq!(std::fs::metadata(&combined)?.modified()?, mtime);
    Ok(())
}

#[tokio::test]
async fn an_unfinished_tls_handshake_is_dropped() -> Result<()> {
    let h = Harness::start(dead_backend(), |c| c.timeouts.tls_handshake = Duration::from_millis(300)).await?;
    for first in [&b"\x16\x03\x01"[..], &b""[..]] {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", h.port)).await?;
        s.write_all(first).await?;
        let started = std::time::Instant::now();
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(T, s.read(&mut buf)).await?.unwrap_or(0);
        assert_eq!(n, 0, "expected the server to hang up");
        assert!(started.elapsed() >= Duration::from_millis(250), "dropped before the deadline");
    }
    // A real client still gets through afterwards.
    let (head, _) = https_get(&h.tls, h.port, "/test").await?;
    assert!(head.starts_with("HTTP/1.1 200"));
    Ok(())
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_without_a_408() -> Result<()> {
    let h = Harness::start(dead_backend(), |c| c.timeouts.request_head = Duration::from_millis(500)).await?;
    let mut s = tls_connect(&h.tls, h.port).await?;
    s.write_all(b"GET /test HTTP/1.1\r\nHost: x\r\n\r\n").await?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(T, s.read(&mut buf)).await??;
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", String::from_utf8_lossy(&buf[..n]));
    let idle = std::time::Instant::now();
    let mut rest = Vec::new();
    tokio::time::timeout(T, s.read_to_end(&mut rest)).await??;
    assert!(rest.is_empty(), "an idle connection got {:?}", String::from_utf8_lossy(&rest));
    assert!(idle.elapsed() >= Duration::from_millis(400), "closed before the head timeout");
    Ok(())
}
