//! The LAN attack surface, through the headless binary as a LAN client meets it (docs/SECURITY.md
//! names these tests): routing by host:port, one TLS handshake deadline, a network check that
//! cannot be wedged, and the same answer (a reset) for every connection over the limit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use cxr_gate_core::demo::EchoServer;
use cxr_gate_tests::proxy::ProxyProcess;
use cxr_gate_tests::*;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fn upgrade(target: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: gate\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// A loopback service the gateway must not expose (think of a browser's remote-debugging port):
/// answers any connection with a secret over plain HTTP and counts the connections it got.
async fn loopback_service() -> Result<(u16, Arc<AtomicUsize>)> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let port = l.local_addr()?.port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nSECRET-DEVTLS").await;
            });
        }
    });
    Ok((port, accepted))
}

#[tokio::test]
async fn a_loopback_service_beside_the_runtime_is_refused_and_never_reached() -> Result<()> {
    let echo = EchoServer::start("127.0.0.1:0".parse()?).await?;
    let (svc, reached) = loopback_service().await?;
    let p = ProxyProcess::start(echo.addr(), &[]).await?;
    for target in [format!("/127.0.0.1:{svc}/json/version"), format!("/127.0.0.1:{svc}")] {
        let out = https_raw(&p.tls, p.port, upgrade(&target).as_bytes(), Duration::from_secs(3)).await?;
        assert!(out.starts_with("HTTP/1.1 403"), "{target}: {out}");
        assert!(out.contains(&format!("127.0.0.1:{svc}")) && out.contains("ALLOWED_BACKENDS"), "{out}");
        assert!(!out.contains("SECRET"), "{out}");
    }
    assert_eq!(reached.load(Ordering::SeqCst), 0, "the refused service was dialled");

    // The configured backend named by its own address and port is the backend.
    let (mut ws, _) = wss_connect(&p.tls, p.port, &format!("/127.0.0.1:{}/sign_in", echo.addr().port()), &[]).await?;
    echo_once(&mut ws, "to the runtime").await?;
    assert_eq!(echo.requests().pop().map(|r| r.path).as_deref(), Some("/sign_in"));

    // Listing exactly that host:port opens it (and so the check above could have seen a dial).
    let listed = format!("127.0.0.1:{svc}");
    let p2 = ProxyProcess::start(echo.addr(), &["--allowed-backends", &listed]).await?;
    let out = https_raw(&p2.tls, p2.port, upgrade(&format!("/{listed}/x")).as_bytes(), Duration::from_secs(3)).await?;
    assert!(out.contains("SECRET-DEVTLS"), "{out}");
    assert_eq!(reached.load(Ordering::SeqCst), 1);
    // …and not the port next to it.
    let next = format!("/127.0.0.1:{}/x", svc.wrapping_add(1).max(1));
    let out = https_raw(&p2.tls, p2.port, upgrade(&next).as_bytes(), Duration::from_secs(3)).await?;
    assert!(out.starts_with("HTTP/1.1 403"), "{out}");
    Ok(())
}

/// Reads until the server closes the connection; when it did, measured from `since`.
async fn closed_after(s: &mut TcpStream, since: Instant, within: Duration) -> Option<Duration> {
    let mut buf = [0u8; 1024];
    let end = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(end, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(since.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn the_tls_handshake_has_one_deadline_first_byte_included() -> Result<()> {
    let echo = EchoServer::start("127.0.0.1:0".parse()?).await?;
    let p = ProxyProcess::start(echo.addr(), &[]).await?;
    let t0 = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", p.port)).await?;
    // Quiet for 6 s, then the start of a TLS record that never completes: the 10 s handshake
    // deadline counts from the accept, not from the first byte.
    tokio::time::sleep(Duration::from_secs(6)).await;
    s.write_all(&[0x16, 0x03, 0x01, 0x02]).await?;
    let Some(closed) = closed_after(&mut s, t0, Duration::from_secs(20)).await else {
        bail!("the half-started handshake was still open after {:?}", t0.elapsed());
    };
    assert!(closed >= Duration::from_millis(9_500), "closed early, after {closed:?}");
    assert!(closed < Duration::from_millis(12_500), "closed after {closed:?}: the deadline applied twice");
    Ok(())
}

/// A network check whose headset stops reading: the proxy gives up at the phase deadline, and
/// both the check's flag and the connection's slot are free again.
#[tokio::test]
async fn a_network_check_that_stops_reading_is_ended_and_frees_its_slot() -> Result<()> {
    let echo = EchoServer::start("127.0.0.1:0".parse()?).await?;
    let p = ProxyProcess::start(echo.addr(), &["--max-connections", "1"]).await?;
    // The start-up probe's connection may still hold the only slot for a moment.
    let until = Instant::now() + Duration::from_secs(5);
    let (wedged, _) = loop {
        match wss_connect(&p.tls, p.port, "/netcheck/ws", &[]).await {
            Ok(c) => break c,
            Err(e) if Instant::now() > until => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let t0 = Instant::now();
    // Never read from `wedged`: pings pile up, then the download fills every buffer.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let over = https_get(&p.tls, p.port, "/test").await;
    assert!(over.is_err(), "the only slot is the wedged check's: {over:?}");

    // Ping (5.5 s) + download (3 s) + 2 s of slack, then the check is ended.
    let deadline = Instant::now() + Duration::from_secs(30);
    let ws = loop {
        if let Ok((ws, _)) = wss_connect(&p.tls, p.port, "/netcheck/ws", &[]).await {
            break ws;
        }
        if Instant::now() > deadline {
            bail!("the wedged check still held the slot after {:?}", t0.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let freed = t0.elapsed();
    let mut ws = ws;
    let v = netcheck_headset(&mut ws).await?;
    assert_eq!(v["type"], "result", "the busy flag was not cleared: {v}");
    assert!(freed < Duration::from_secs(20), "freed after {freed:?}");
    assert!(p.stderr().contains("the headset stopped reading"), "{}", p.stderr());
    drop(wedged);
    Ok(())
}

fn is_reset(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe)
}

/// What a connection over the limit gets.
async fn over_limit_answer(tls: &Arc<rustls::ClientConfig>, port: u16) -> &'static str {
    let tcp = match TcpStream::connect(("127.0.0.1", port)).await {
        Ok(t) => t,
        // The reset can come before this task got to see the connection established.
        Err(e) if is_reset(&e) => return "reset",
        Err(_) => return "refused",
    };
    let name = rustls::pki_types::ServerName::IpAddress(std::net::IpAddr::from([127, 0, 0, 1]).into());
    let hs =
        tokio::time::timeout(Duration::from_secs(5), tokio_rustls::TlsConnector::from(tls.clone()).connect(name, tcp));
    match hs.await {
        Err(_) => "hung",
        Ok(Err(e)) if is_reset(&e) => "reset",
        Ok(Err(_)) => "closed",
        Ok(Ok(mut s)) => {
            let _ = s.write_all(b"GET /test HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
            let mut out = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
            if out.starts_with(b"HTTP/1.1 503") {
                "503"
            } else if out.starts_with(b"HTTP/1.1 200") {
                "served"
            } else {
                "closed after handshake"
            }
        }
    }
}

#[tokio::test]
async fn every_connection_over_the_limit_is_reset_the_same_way() -> Result<()> {
    let echo = EchoServer::start("127.0.0.1:0".parse()?).await?;
    let p = ProxyProcess::start(echo.addr(), &["--max-connections", "2"]).await?;
    let (mut a, _) = wss_connect(&p.tls, p.port, "/", &[]).await?;
    let (mut b, _) = wss_connect(&p.tls, p.port, "/", &[]).await?;
    echo_once(&mut a, "a").await?;
    echo_once(&mut b, "b").await?;
    let answers = futures_util::future::join_all((0..150).map(|_| over_limit_answer(&p.tls, p.port))).await;
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for a in &answers {
        *counts.entry(a).or_default() += 1;
    }
    println!("over the limit: {counts:?}");
    assert_eq!(counts.get("reset"), Some(&150), "every extra connection must get a reset: {counts:?}");
    drop(b);
    // The freed slot serves again.
    let until = Instant::now() + Duration::from_secs(5);
    while over_limit_answer(&p.tls, p.port).await != "served" {
        assert!(Instant::now() < until, "a freed slot did not serve");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.close(None).await?;
    let _ = a.next().await;
    Ok(())
}
