//! The headset book, black box: clients that refuse the certificate (a rustls client with no roots,
//! `openssl s_client -verify_return_error`) are named with their alert in the headless log, once,
//! and counted in `/health`; a flood of refusals from 3,000 loopback addresses keeps the book at its
//! cap, the log short and the memory flat; in-process, the status carries each state as a headset
//! meets it (refused, trusted with the trust page, connected, ended, plain http).

use std::net::Ipv4Addr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use cxr_gate_core::demo::EchoServer;
use cxr_gate_core::headsets::{HeadsetState, CAP};
use cxr_gate_core::session_end::{GateEnd, PeerEnd, SessionEnd};
use cxr_gate_core::status::Status;
use cxr_gate_tests::proxy::ProxyProcess;
use cxr_gate_tests::*;
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;

const T: Duration = Duration::from_secs(15);

/// `openssl s_client -verify_return_error` from `source`: it ends the handshake with an alert.
fn openssl_refuses(source: Ipv4Addr, port: u16) -> Result<String> {
    let out = std::process::Command::new("openssl")
        .args(["s_client", "-verify_return_error", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-bind", &format!("{source}:0")])
        .stdin(std::process::Stdio::null())
        .output()
        .context("running openssl")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        bail!("openssl accepted the certificate: {text}");
    }
    Ok(text)
}

/// Waits for a log line containing `needle`; returns the whole log then.
async fn log_shows(p: &ProxyProcess, needle: &str) -> Result<String> {
    let end = tokio::time::Instant::now() + T;
    loop {
        let log = p.stderr();
        if log.contains(needle) {
            return Ok(log);
        }
        if tokio::time::Instant::now() > end {
            bail!("no log line with {needle:?} within {T:?}:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn health(p: &ProxyProcess) -> Result<serde_json::Value> {
    health_of(p.port, &p.tls).await
}

fn lines_with(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

#[tokio::test]
async fn refusing_clients_are_named_once_in_the_log_and_counted_in_health() -> Result<()> {
    let echo = EchoServer::start("127.0.0.1:0".parse()?).await?;
    let p = ProxyProcess::start(echo.addr(), &[]).await?;
    let rustls_src = Ipv4Addr::new(127, 0, 0, 2);
    for _ in 0..5 {
        let err = refuse_certificate_from(rustls_src, p.port).await?;
        assert!(err.contains("UnknownIssuer") || err.contains("unknown"), "{err}");
    }
    let line = "headset 127.0.0.2 (browser not known yet) refused the certificate (alert unknown_ca)";
    log_shows(&p, line).await?;

    let openssl_src = Ipv4Addr::new(127, 0, 0, 3);
    for _ in 0..3 {
        let out = openssl_refuses(openssl_src, p.port)?;
        assert!(out.contains("verify error") || out.contains("Verify return code"), "{out}");
    }
    let log = log_shows(&p, "headset 127.0.0.3 (browser not known yet) refused the certificate (alert ").await?;
    let openssl_line = log.lines().find(|l| l.contains("headset 127.0.0.3")).unwrap_or_default();
    println!("openssl: {openssl_line}");
    assert!(
        ["unknown_ca", "bad_certificate", "certificate_unknown"].iter().any(|a| openssl_line.contains(a)),
        "{openssl_line}"
    );
    // Every refusal from .2 came before .3's line was written: five refusals, one line; three, one.
    assert_eq!(lines_with(&log, "headset 127.0.0.2 "), 1, "{log}");
    assert_eq!(lines_with(&log, "headset 127.0.0.3 "), 1, "{log}");
    assert!(log.contains("open https://127.0.0.1:") && log.contains("and accept it"), "{log}");

    let h = health(&p).await?;
    assert_eq!(h["headsets"], serde_json::json!({"seen": 2, "refused": 2, "connected": 0}), "{h}");
    let text = h.to_string();
    assert!(!text.contains("127.0.0.2") && !text.contains("127.0.0.3"), "/health shows addresses: {text}");
    Ok(())
}

#[tokio::test]
async fn refusals_from_3000_addresses_keep_the_book_log_and_memory_small() -> Result<()> {
    let echo = EchoServer::start("127.0.0.1:0".parse()?).await?;
    let p = ProxyProcess::start(echo.addr(), &[]).await?;
    // Warm up (the first handshakes allocate caches), then measure.
    refuse_certificate_from(Ipv4Addr::new(127, 9, 0, 1), p.port).await?;
    log_shows(&p, "headset 127.9.0.1 ").await?;
    let mem0 = sys::memory_kib(Some(p.pid()));
    let log0 = p.stderr().len();
    let sources: Vec<Ipv4Addr> =
        (0..3000u32).map(|i| Ipv4Addr::new(127, 10, (i / 250) as u8, (1 + i % 250) as u8)).collect();
    let started = std::time::Instant::now();
    for chunk in sources.chunks(50) {
        let mut set = tokio::task::JoinSet::new();
        for &src in chunk {
            let port = p.port;
            set.spawn(async move { refuse_certificate_from(src, port).await });
        }
        while let Some(r) = set.join_next().await {
            r??;
        }
    }
    let took = started.elapsed();
    // The flood's summary: the lines held back, said in one line.
    let log = log_shows(&p, "were not logged one by one").await?;
    let h = health(&p).await?;
    assert_eq!(h["headsets"]["seen"], CAP, "{h}");
    assert_eq!(h["headsets"]["refused"], CAP, "{h}");
    let mem1 = sys::memory_kib(Some(p.pid()));
    let grown = log.len() - log0;
    let headset_lines = log[log0..].lines().filter(|l| l.contains("headset")).count();
    println!(
        "3000 refused handshakes from 3000 addresses in {took:.1?}: book {} (cap {CAP}), log +{grown} bytes in \
         {headset_lines} headset lines, RSS {:?} → {:?} KiB",
        h["headsets"]["seen"],
        mem0.map(|m| m.resident),
        mem1.map(|m| m.resident),
    );
    assert!(headset_lines <= 40, "{headset_lines} lines:\n{}", &log[log0..]);
    assert!(grown < 16 * 1024, "log grew {grown} bytes");
    if let (Some(a), Some(b)) = (mem0, mem1) {
        assert!(b.resident < a.resident + 32 * 1024, "RSS grew from {} to {} KiB", a.resident, b.resident);
    }
    Ok(())
}

// A session makes no book events of its own: before, refusals from 64 other addresses dropped the
// connected headset from the book, and `/health`'s `connected` went from 1 to 0 with the session
// still open.
#[tokio::test]
async fn refusals_from_100_addresses_do_not_drop_a_connected_headset() -> Result<()> {
    let echo = EchoServer::start("127.0.0.1:0".parse()?).await?;
    let h = Harness::start(echo.addr(), |_| {}).await?;
    h.wait_backend(cxr_gate_core::BackendState::Up).await?;
    let (mut ws, _) = wss_connect(&h.tls, h.port, "/sign_in", &[("user-agent", QUEST_3)]).await?;
    echo_once(&mut ws, "hi").await?;
    wait_headset(&h, "connected", |s| state_of(s, "127.0.0.1") == Some(HeadsetState::Connected)).await?;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..100u8 {
        let port = h.port;
        set.spawn(async move { refuse_certificate_from(Ipv4Addr::new(127, 0, 1, 1 + i), port).await });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    let refused = |s: &Status| s.headsets.iter().filter(|r| r.advice.state == HeadsetState::Refused).count();
    let st = wait_headset(&h, "a full book", |s| s.headsets.len() == CAP && refused(s) == CAP - 1).await?;
    assert_eq!(state_of(&st, "127.0.0.1"), Some(HeadsetState::Connected));
    let health = health_of(h.port, &h.tls).await?;
    assert_eq!(health["headsets"], serde_json::json!({"seen": CAP, "refused": CAP - 1, "connected": 1}), "{health}");
    echo_once(&mut ws, "still there").await?;
    drop(ws);
    h.gw.shutdown().await;
    echo.stop().await;
    Ok(())
}

async fn health_of(port: u16, tls: &std::sync::Arc<rustls::ClientConfig>) -> Result<serde_json::Value> {
    let (_, body) = https_get(tls, port, "/health").await?;
    Ok(serde_json::from_slice(&body)?)
}

async fn wait_headset(h: &Harness, what: &str, pred: impl Fn(&Status) -> bool) -> Result<Status> {
    let mut rx = h.gw.status();
    wait_for(&mut rx, T, what, pred).await
}

fn state_of(s: &Status, ip: &str) -> Option<HeadsetState> {
    s.headsets.iter().find(|h| h.ip == ip).map(|h| h.advice.state)
}

#[tokio::test]
async fn the_status_follows_a_headset_from_refusal_to_an_ended_session() -> Result<()> {
    let echo = EchoServer::start("127.0.0.1:0".parse()?).await?;
    let h = Harness::start(echo.addr(), |_| {}).await?;
    refuse_certificate_from(Ipv4Addr::new(127, 0, 0, 1), h.port).await?;
    let st = wait_headset(&h, "a refusal", |s| state_of(s, "127.0.0.1") == Some(HeadsetState::Refused)).await?;
    let rec = &st.headsets[0];
    assert_eq!(rec.tls.as_ref().and_then(|t| t.detail.as_deref()), Some("unknown_ca"));
    assert!(rec.advice.sentence.contains("does not trust this certificate"), "{}", rec.advice.sentence);

    // The trust page with a Quest's agent: trusted, page seen, named a Quest.
    let req = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {QUEST_3}\r\nConnection: close\r\n\r\n");
    let page = https_raw(&h.tls, h.port, req.as_bytes(), Duration::from_secs(5)).await?;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let st = wait_headset(&h, "trusted", |s| state_of(s, "127.0.0.1") == Some(HeadsetState::Trusted)).await?;
    let rec = &st.headsets[0];
    assert_eq!(rec.device, "Quest 3 / 3S");
    assert!(rec.pages.trust_page_ms.is_some());
    assert_eq!(rec.trusted_fingerprint.as_deref(), st.cert.as_ref().map(|c| c.fingerprint_sha256.as_str()));

    let (mut ws, _) = wss_connect(&h.tls, h.port, "/sign_in", &[("user-agent", QUEST_3)]).await?;
    wait_headset(&h, "connected", |s| state_of(s, "127.0.0.1") == Some(HeadsetState::Connected)).await?;
    ws.send(Message::Text("hi".into())).await?;
    let _ = tokio::time::timeout(T, ws.next()).await?;
    // The headset goes away (a WebSocket close would have the runtime end the TCP connection first).
    drop(ws);
    let st = wait_headset(&h, "ended", |s| state_of(s, "127.0.0.1") == Some(HeadsetState::Ended)).await?;
    let last = st.headsets[0].last_session.clone().context("a last session")?;
    assert_eq!(last.end, SessionEnd::Headset(PeerEnd::Closed), "{last:?}");
    assert_eq!(st.headsets[0].sessions_total, 1);

    // http:// typed on the TLS port.
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", h.port)).await?;
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await?;
    let st = wait_headset(&h, "plain http", |s| state_of(s, "127.0.0.1") == Some(HeadsetState::PlainHttp)).await?;
    assert!(st.headsets[0].advice.sentence.contains("only https://"), "{}", st.headsets[0].advice.sentence);
    let log: Vec<&str> = st.log.iter().map(|l| l.msg.as_str()).filter(|m| m.starts_with("headset ")).collect();
    assert_eq!(log.len(), 5, "one line per state: {log:#?}");
    assert!(
        log[1].contains("(Quest 3 / 3S, Quest Browser 39.2) trusts the certificate and saw the trust page"),
        "{log:#?}"
    );
    Ok(())
}

/// A runtime that ends each session itself: after the first message, a WebSocket Close 1011.
async fn runtime_that_closes() -> Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    use tokio_tungstenite::tungstenite::protocol::frame::{coding::CloseCode, CloseFrame};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            // Health probes connect and close at once: their handshakes fail, and that is all.
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else { return };
                if let Some(Ok(_)) = ws.next().await {
                    let frame = CloseFrame { code: CloseCode::Error, reason: "runtime stopping".into() };
                    let _ = ws.close(Some(frame)).await;
                    while let Some(Ok(_)) = ws.next().await {}
                }
            });
        }
    });
    Ok((addr, task))
}

/// Reads until the stream ends (tungstenite answers a Close by itself).
async fn drain(ws: &mut Wss) -> Result<()> {
    tokio::time::timeout(T, async { while let Some(Ok(_)) = ws.next().await {} })
        .await
        .context("the session did not end")
}

/// The ended session's log reason, its end in the headset book, and the headset's sentence.
async fn last_session_of(h: &Harness) -> Result<(String, SessionEnd, String)> {
    let st = wait_headset(h, "ended", |s| state_of(s, "127.0.0.1") == Some(HeadsetState::Ended)).await?;
    let rec = &st.headsets[0];
    let last = rec.last_session.clone().context("a last session")?;
    let reason = st.recent_sessions.front().map(|r| r.reason.clone()).unwrap_or_default();
    Ok((reason, last.end, rec.advice.sentence.clone()))
}

fn close(code: u16, text: &str) -> PeerEnd {
    PeerEnd::Close(cxr_gate_core::session_end::CloseFrame::Code { code, text: text.into() })
}

// Who closed a session is who sent the first Close frame: after a headset's Close the runtime
// answers and ends TCP first, which alone read "closed by the runtime".
#[tokio::test]
async fn a_session_is_closed_by_whoever_sent_the_close_frame_with_its_code() -> Result<()> {
    use tokio_tungstenite::tungstenite::protocol::frame::{coding::CloseCode, CloseFrame};
    // The headset closes: Close 1000 "bye"; the echo runtime answers and drops the connection.
    let echo = EchoServer::start("127.0.0.1:0".parse()?).await?;
    let h = Harness::start(echo.addr(), |_| {}).await?;
    h.wait_backend(cxr_gate_core::BackendState::Up).await?;
    let (mut ws, _) = wss_connect(&h.tls, h.port, "/sign_in", &[("user-agent", QUEST_3)]).await?;
    echo_once(&mut ws, "hi").await?;
    ws.close(Some(CloseFrame { code: CloseCode::Normal, reason: "bye".into() })).await?;
    drain(&mut ws).await?;
    let (reason, last, sentence) = last_session_of(&h).await?;
    eprintln!("headset's close: {reason} / {sentence}");
    assert_eq!(reason, "closed by the headset: WebSocket Close 1000 normal \"bye\"");
    assert_eq!(last, SessionEnd::Headset(close(1000, "bye")));
    assert!(sentence.contains("closed by the headset"), "{sentence}");
    h.gw.shutdown().await;
    echo.stop().await;

    // The runtime closes: Close 1011 with its reason; the headset answers.
    let (runtime, task) = runtime_that_closes().await?;
    let h = Harness::start(runtime, |_| {}).await?;
    h.wait_backend(cxr_gate_core::BackendState::Up).await?;
    let (mut ws, _) = wss_connect(&h.tls, h.port, "/sign_in", &[("user-agent", QUEST_3)]).await?;
    ws.send(Message::Text("start".into())).await?;
    drain(&mut ws).await?;
    drop(ws);
    let (reason, last, sentence) = last_session_of(&h).await?;
    eprintln!("runtime's close: {reason} / {sentence}");
    assert_eq!(reason, "closed by the runtime: WebSocket Close 1011 internal error \"runtime stopping\"");
    assert_eq!(last, SessionEnd::Runtime(close(1011, "runtime stopping")));
    assert!(sentence.contains("1011 internal error") && sentence.contains("closed by the runtime"), "{sentence}");
    h.gw.shutdown().await;
    task.abort();
    Ok(())
}

/// A Close reason is someone else's text: the right-to-left override and the zero-width space
/// in it (which could make the log or the card read as something else) never reach either.
#[tokio::test]
async fn a_close_reason_reaches_the_log_and_the_card_without_format_characters() -> Result<()> {
    use tokio_tungstenite::tungstenite::protocol::frame::{coding::CloseCode, CloseFrame};
    let echo = EchoServer::start("127.0.0.1:0".parse()?).await?;
    let h = Harness::start(echo.addr(), |_| {}).await?;
    h.wait_backend(cxr_gate_core::BackendState::Up).await?;
    let (mut ws, _) = wss_connect(&h.tls, h.port, "/sign_in", &[("user-agent", QUEST_3)]).await?;
    echo_once(&mut ws, "hi").await?;
    ws.close(Some(CloseFrame { code: CloseCode::Normal, reason: "ok\u{202e}txt.exe\u{200b}".into() })).await?;
    drain(&mut ws).await?;
    let (_, end, sentence) = last_session_of(&h).await?;
    assert_eq!(end, SessionEnd::Headset(close(1000, "oktxt.exe")));
    assert!(sentence.contains("WebSocket Close 1000 normal \"oktxt.exe\""), "{sentence}");
    let st = h.gw.status().borrow().clone();
    let log: Vec<&str> = st.log.iter().map(|l| l.msg.as_str()).filter(|m| m.contains("txt.exe")).collect();
    assert!(log.iter().any(|m| m.contains("closed after")), "the session log line: {log:#?}");
    let everything = format!("{log:?} {sentence} {:?}", st.recent_sessions);
    for c in ['\u{202e}', '\u{200b}'] {
        assert!(!everything.contains(c), "{c:?} reached the log or the card: {everything}");
    }
    h.gw.shutdown().await;
    echo.stop().await;
    Ok(())
}

/// A headset that stops reading while the runtime keeps sending (a small receive buffer, as
/// abuse.rs's slow reader has): the gate gives up on it at the write-stall limit, and the session
/// ends as closed by the gate. The failed write to the headset used to read "backend error …
/// closed by the runtime", by the direction of the copy that noticed.
#[tokio::test]
async fn a_headset_that_stops_reading_is_closed_by_the_gate_not_the_runtime() -> Result<()> {
    let echo = EchoServer::start("127.0.0.1:0".parse()?).await?;
    let stall = Duration::from_secs(1);
    let h = Harness::start(echo.addr(), |c| c.timeouts.write_stall = stall).await?;
    h.wait_backend(cxr_gate_core::BackendState::Up).await?;
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.set_recv_buffer_size(4 * 1024)?;
    let tcp = sock.connect(std::net::SocketAddr::from(([127, 0, 0, 1], h.port))).await?;
    let name = rustls::pki_types::ServerName::IpAddress(std::net::IpAddr::from([127, 0, 0, 1]).into());
    let tls = tokio_rustls::TlsConnector::from(h.tls.clone()).connect(name, tcp).await?;
    let url = format!("wss://127.0.0.1:{}/sign_in", h.port);
    let (ws, _) = tokio_tungstenite::client_async(url, tls).await?;
    // The echoes come back and nothing reads them; the sender stops when the gate closes.
    let (mut sink, _unread) = ws.split();
    let sender = tokio::spawn(async move {
        let chunk = vec![0x5a_u8; 64 * 1024];
        while sink.send(Message::binary(chunk.clone())).await.is_ok() {}
    });
    let started = tokio::time::Instant::now();
    let (reason, end, sentence) = last_session_of(&h).await?;
    sender.abort();
    eprintln!("stalled reader: {reason} / {sentence} ({} ms)", started.elapsed().as_millis());
    let stalled = SessionEnd::Gate(GateEnd::Stall { ms: 1000 });
    assert_eq!(end, stalled, "{reason}");
    assert_eq!(reason, stalled.to_string());
    assert!(sentence.contains("closed by the gate: the headset read nothing for 1 s"), "{sentence}");
    h.gw.shutdown().await;
    echo.stop().await;
    Ok(())
}

/// A runtime that accepts permessage-deflate in its 101, reads what the headset sends, then ends
/// TCP (after a headset's Close, as a runtime does).
async fn runtime_with_deflate() -> Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut b = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut b).await {
                        Ok(0) | Err(_) => return, // a health probe
                        Ok(n) => head.extend_from_slice(&b[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head);
                let key = header(&text, "sec-websocket-key").unwrap_or("").trim().to_string();
                let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
                let answer = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                     Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
                );
                let _ = tcp.write_all(answer.as_bytes()).await;
                // The compressed message and the Close: then the runtime ends TCP first.
                let mut got = 0;
                while got < 2 * 6 + 7 + 2 {
                    match tcp.read(&mut b).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got += n,
                    }
                }
            });
        }
    });
    Ok((addr, task))
}

/// With permessage-deflate in the 101, a compressed message (RSV1 set) is a frame like any other:
/// the headset's Close after it still names the headset. Without the 101's extensions the watch
/// would stop at RSV1 and the session read as ended by the runtime, whose TCP ended first.
#[tokio::test]
async fn a_compressed_message_before_the_close_keeps_the_close_found() -> Result<()> {
    use tokio::io::AsyncReadExt;
    let (runtime, task) = runtime_with_deflate().await?;
    let h = Harness::start(runtime, |_| {}).await?;
    h.wait_backend(cxr_gate_core::BackendState::Up).await?;
    let mut tls = tls_connect(&h.tls, h.port).await?;
    let upgrade = "GET /sign_in HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                   Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
    tls.write_all(upgrade.as_bytes()).await?;
    let mut head = Vec::new();
    let mut b = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(T, tls.read(&mut b)).await??;
        anyhow::ensure!(n > 0, "closed before the 101");
        head.extend_from_slice(&b[..n]);
    }
    anyhow::ensure!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    // "Hello" deflated (RFC 7692 §7.2.3.1), RSV1 set; then Close 1000; both masked with a zero key.
    let mut frames = vec![0xc1, 0x87, 0, 0, 0, 0, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    frames.extend_from_slice(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]);
    tls.write_all(&frames).await?;
    let _ = tokio::time::timeout(T, async { while tls.read(&mut b).await.is_ok_and(|n| n > 0) {} }).await;
    let (reason, end, _) = last_session_of(&h).await?;
    assert_eq!(end, SessionEnd::Headset(close(1000, "")), "{reason}");
    h.gw.shutdown().await;
    task.abort();
    Ok(())
}

// A wss:// session on `/` (the bare `wss://host:48322` URL) and a preflight to `/` load no page:
// the book must not say the headset saw the trust page.
#[tokio::test]
async fn a_session_or_preflight_on_the_root_is_not_the_trust_page() -> Result<()> {
    let echo = EchoServer::start("127.0.0.1:0".parse()?).await?;
    let h = Harness::start(echo.addr(), |_| {}).await?;
    h.wait_backend(cxr_gate_core::BackendState::Up).await?;
    let preflight = "OPTIONS / HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://app.example\r\n\
                     Access-Control-Request-Method: GET\r\nConnection: close\r\n\r\n";
    let answer = https_raw(&h.tls, h.port, preflight.as_bytes(), Duration::from_secs(5)).await?;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (mut ws, _) = wss_connect(&h.tls, h.port, "/", &[("user-agent", QUEST_3)]).await?;
    echo_once(&mut ws, "hi").await?;
    let st = wait_headset(&h, "connected", |s| state_of(s, "127.0.0.1") == Some(HeadsetState::Connected)).await?;
    let rec = &st.headsets[0];
    assert_eq!(rec.pages.trust_page_ms, None, "{rec:#?}");
    drop(ws);
    h.gw.shutdown().await;
    echo.stop().await;
    Ok(())
}
