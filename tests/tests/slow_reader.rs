//! A slow reader (a headset on weak Wi-Fi: a small receive buffer, reads with pauses, about 1 MiB/s)
//! gets a whole 20 MiB answer through the headless binary, well past the 10 s request-head
//! deadline, and the same keep-alive connection then serves the next request: a file from `/app/`,
//! and a runtime's non-101 answer to an upgrade relayed with its body.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use cxr_gate_tests::proxy::ProxyProcess;
use cxr_gate_tests::*;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

const SIZE: usize = 20 << 20;
/// Bytes per second the reader takes: 20 MiB take about 20 s, twice the head deadline.
const RATE: f64 = (1 << 20) as f64;
const READ: usize = 16 * 1024;
const T: Duration = Duration::from_secs(30);

/// Content that shows a lost or repeated chunk, not only a short count.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ (i >> 16) as u8).collect()
}

/// TLS over a socket with a 16 KiB receive buffer, so the server's writes wait for our reads.
async fn slow_client(tls: &Arc<rustls::ClientConfig>, port: u16) -> Result<TlsStream<TcpStream>> {
    let sock = TcpSocket::new_v4()?;
    sock.set_recv_buffer_size(16 * 1024)?;
    let tcp = sock.connect(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let name = ServerName::IpAddress(std::net::IpAddr::from([127, 0, 0, 1]).into());
    Ok(TlsConnector::from(tls.clone()).connect(name, tcp).await?)
}

/// Reads one answer (head, then a Content-Length body) at about [`RATE`]; says how far it got if
/// the connection ends first.
async fn read_slowly<S: AsyncRead + Unpin>(s: &mut S) -> Result<(String, Vec<u8>)> {
    let started = Instant::now();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; READ];
    let mut want: Option<(usize, usize)> = None;
    loop {
        if want.is_none() {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                let len = header(&head, "content-length").and_then(|v| v.parse().ok()).context(head)?;
                want = Some((end + 4, len));
            }
        }
        if let Some((at, len)) = want {
            if buf.len() >= at + len {
                let head = String::from_utf8_lossy(&buf[..at - 4]).into_owned();
                let body = buf[at..at + len].to_vec();
                return Ok((head, body));
            }
        }
        let n = match tokio::time::timeout(T, s.read(&mut chunk)).await.context("no data for 30 s")? {
            Ok(n) if n > 0 => n,
            end => bail!(
                "the connection ended ({}) after {} of {} body bytes, {:.1} s in",
                end.err().map_or("closed".into(), |e| e.to_string()),
                buf.len().saturating_sub(want.map_or(buf.len(), |w| w.0)),
                want.map_or(0, |w| w.1),
                started.elapsed().as_secs_f64()
            ),
        };
        buf.extend_from_slice(&chunk[..n]);
        let due = Duration::from_secs_f64(buf.len() as f64 / RATE);
        tokio::time::sleep(due.saturating_sub(started.elapsed())).await;
    }
}

/// The next request on the same connection, read at full speed.
async fn next_request_is_served(s: &mut TlsStream<TcpStream>) -> Result<()> {
    s.write_all(b"GET /test HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.ends_with(b"WebSocket proxy ready\n") {
        let n = tokio::time::timeout(T, s.read(&mut chunk)).await??;
        ensure!(n > 0, "the keep-alive connection was closed: {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    }
    ensure!(buf.starts_with(b"HTTP/1.1 200"), "{:?}", String::from_utf8_lossy(&buf));
    Ok(())
}

#[tokio::test]
async fn a_slow_reader_gets_a_whole_app_file_then_the_next_answer() -> Result<()> {
    let root = tempfile::tempdir()?;
    std::fs::write(root.path().join("index.html"), "<!doctype html><title>app</title>")?;
    let content = pattern(SIZE);
    std::fs::write(root.path().join("big.bin"), &content)?;
    let backend = TcpListener::bind("127.0.0.1:0").await?;
    let gate = ProxyProcess::start(backend.local_addr()?, &["--web-root", &root.path().to_string_lossy()]).await?;

    let mut s = slow_client(&gate.tls, gate.port).await?;
    s.write_all(b"GET /app/big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await?;
    let started = Instant::now();
    let (head, body) = read_slowly(&mut s).await?;
    ensure!(head.starts_with("HTTP/1.1 200"), "{head}");
    ensure!(body == content, "the file arrived changed ({} bytes)", body.len());
    let secs = started.elapsed().as_secs_f64();
    next_request_is_served(&mut s).await?;
    figure!(
        "slow reader",
        "/app/ file of {} MiB read whole at {:.2} MiB/s in {secs:.1} s",
        SIZE >> 20,
        SIZE as f64 / secs / RATE
    );
    Ok(())
}

/// A runtime that refuses every upgrade with a large body (health probes just connect and close).
async fn refusing_with_a_large_body(content: Arc<Vec<u8>>) -> Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let content = content.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut b = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
                    match s.read(&mut b).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&b[..n]),
                    }
                }
                let answer = format!(
                    "HTTP/1.1 403 Forbidden\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
                    content.len()
                );
                let _ = s.write_all(answer.as_bytes()).await;
                let _ = s.write_all(&content).await;
                let _ = s.shutdown().await;
            });
        }
    });
    Ok(addr)
}

#[tokio::test]
async fn a_slow_reader_gets_a_whole_relayed_refusal_then_the_next_answer() -> Result<()> {
    let content = Arc::new(pattern(SIZE));
    let backend = refusing_with_a_large_body(content.clone()).await?;
    let gate = ProxyProcess::start(backend, &[]).await?;

    let mut s = slow_client(&gate.tls, gate.port).await?;
    s.write_all(
        b"GET /sign_in HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await?;
    let started = Instant::now();
    let (head, body) = read_slowly(&mut s).await?;
    ensure!(head.starts_with("HTTP/1.1 403"), "{head}");
    ensure!(body == *content, "the relayed body arrived changed ({} bytes)", body.len());
    let secs = started.elapsed().as_secs_f64();
    next_request_is_served(&mut s).await?;
    figure!(
        "slow reader",
        "relayed 403 body of {} MiB read whole at {:.2} MiB/s in {secs:.1} s",
        SIZE >> 20,
        SIZE as f64 / secs / RATE
    );
    Ok(())
}
