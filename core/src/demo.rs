//! A real WebSocket echo server on loopback standing in for the CloudXR Runtime: used by the
//! desktop app's `--demo` mode, the integration tests and the benchmark. It records each request
//! head, echoes every message, answers `/reject…` with HTTP 403, and can vanish on demand (`stop`).
//! After a 101 for `/raw…` it echoes raw bytes instead of frames: the benchmark's stream that is
//! not WebSocket frames (what the tunnel's Close watcher must not slow down).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_tungstenite::tungstenite::handshake::server::{Callback, ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{header, HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// Big enough for the benchmark's 16 KiB messages and bulk streams.
const MAX_MESSAGE: usize = 64 << 20;
/// A client that connects but never finishes its handshake is dropped after this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Request heads kept (oldest dropped) so a long benchmark does not grow memory without bound.
const MAX_RECORDED: usize = 10_000;
const REJECT_BODY: &str = "rejected by echo server";

/// One request head the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoRequest {
    /// Path and query, e.g. `/session?x=1`.
    pub path: String,
    /// In arrival order, names lowercased.
    pub headers: Vec<(String, String)>,
}

impl EchoRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<EchoRequest>>,
    open: AtomicUsize,
}

impl Shared {
    fn requests(&self) -> MutexGuard<'_, Vec<EchoRequest>> {
        // A panic while holding the lock cannot leave the Vec inconsistent, so poisoning is ignored.
        self.requests.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Counts an open WebSocket connection for as long as it lives.
struct OpenGuard(Arc<Shared>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

pub struct EchoServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl EchoServer {
    /// Binds `addr` (e.g. `127.0.0.1:0`) and serves WebSocket echo until [`stop`](Self::stop) or drop.
    pub async fn start(addr: SocketAddr) -> std::io::Result<EchoServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(accept_loop(listener, shared.clone(), shutdown.clone()));
        tracing::debug!("echo server listening on {addr}");
        Ok(EchoServer { addr, shared, shutdown, task: Some(task) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The request heads received so far (rejected ones included), newest last.
    pub fn requests(&self) -> Vec<EchoRequest> {
        self.shared.requests().clone()
    }

    /// Number of currently open WebSocket connections.
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    /// Stops accepting and closes every open connection at the TCP level (no WebSocket close
    /// frame: the "runtime" just goes away). Returns once all connections are gone.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                tracing::warn!("echo server task ended abnormally: {e}");
            }
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        // Without `stop`, still make the tasks end (and free the port) instead of serving forever.
        self.shutdown.cancel();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut conns = JoinSet::new();
    loop {
        // Reap finished connections so the set does not grow over a long run.
        while conns.try_join_next().is_some() {}
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                conns.spawn(serve(stream, peer, shared.clone(), shutdown.clone()));
            }
            Err(e) => {
                // E.g. out of file descriptors: back off briefly rather than spin.
                tracing::warn!("echo server accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    drop(listener);
    // Every connection task watches the same token, so this ends promptly.
    while conns.join_next().await.is_some() {}
}

async fn serve(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>, shutdown: CancellationToken) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!("echo server: TCP_NODELAY on {peer}: {e}");
    }
    let config = WebSocketConfig::default().max_message_size(Some(MAX_MESSAGE)).max_frame_size(Some(MAX_MESSAGE));
    let raw = Arc::new(AtomicBool::new(false));
    let recorder = Recorder { shared: shared.clone(), raw: raw.clone() };
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(stream, recorder, Some(config));
    let mut ws = tokio::select! {
        _ = shutdown.cancelled() => return,
        r = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake) => match r {
            Ok(Ok(ws)) => ws,
            Ok(Err(e)) => {
                tracing::debug!("echo server: handshake with {peer} ended: {e}");
                return;
            }
            Err(_) => {
                tracing::debug!("echo server: handshake with {peer} timed out");
                return;
            }
        },
    };
    shared.open.fetch_add(1, Ordering::SeqCst);
    let _open = OpenGuard(shared);
    if raw.load(Ordering::SeqCst) {
        // The client sends only after it read the 101, so nothing is left in the WebSocket's buffer.
        let mut tcp = ws.into_inner();
        let (r, mut w) = tcp.split();
        let mut r = tokio::io::BufReader::with_capacity(64 << 10, r);
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::io::copy_buf(&mut r, &mut w) => {}
        }
        return;
    }
    loop {
        let msg = tokio::select! {
            _ = shutdown.cancelled() => break,
            m = ws.next() => m,
        };
        let result = match msg {
            // tungstenite queues the Pong / Close reply itself; flushing sends it now.
            Some(Ok(Message::Ping(_))) | Some(Ok(Message::Close(_))) => ws.flush().await,
            Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => ws.send(m).await,
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(e),
            None => break,
        };
        if let Err(e) = result {
            tracing::debug!("echo server: connection from {peer} ended: {e}");
            break;
        }
    }
    // Dropping `ws` closes the TCP connection.
}

/// The handshake callback: records the request head, refuses `/reject…` with 403, notes `/raw…`,
/// and echoes the first offered subprotocol.
struct Recorder {
    shared: Arc<Shared>,
    raw: Arc<AtomicBool>,
}

impl Callback for Recorder {
    fn on_request(self, req: &Request, mut resp: Response) -> Result<Response, ErrorResponse> {
        let shared = &self.shared;
        let path = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".to_string());
        let headers = req
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_ascii_lowercase(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        {
            let mut list = shared.requests();
            if list.len() >= MAX_RECORDED {
                list.remove(0);
            }
            list.push(EchoRequest { path: path.clone(), headers });
        }

        self.raw.store(path.starts_with("/raw"), Ordering::SeqCst);
        if path.starts_with("/reject") {
            let mut err = ErrorResponse::new(Some(REJECT_BODY.to_string()));
            *err.status_mut() = StatusCode::FORBIDDEN;
            let h = err.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(REJECT_BODY.len()));
            h.insert(header::CONNECTION, HeaderValue::from_static("close"));
            return Err(err);
        }

        let first_protocol = req
            .headers()
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .find(|p| !p.is_empty());
        if let Some(Ok(value)) = first_protocol.map(HeaderValue::from_str) {
            resp.headers_mut().insert(header::SEC_WEBSOCKET_PROTOCOL, value);
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Error as WsError;

    async fn server() -> EchoServer {
        EchoServer::start("127.0.0.1:0".parse().unwrap()).await.unwrap()
    }

    async fn wait_for(mut cond: impl FnMut() -> bool) {
        for _ in 0..200 {
            if cond() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("condition not reached");
    }

    #[tokio::test]
    async fn echoes_text_binary_and_ping() {
        let srv = server().await;
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/s", srv.addr())).await.unwrap();
        ws.send(Message::text("hello")).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hello"));
        let big: Vec<u8> = (0..1_000_000u32).map(|i| i as u8).collect();
        ws.send(Message::binary(big.clone())).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::binary(big));
        ws.send(Message::Ping(b"p".to_vec().into())).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::Pong(b"p".to_vec().into()));
        wait_for(|| srv.open_connections() == 1).await;
        ws.close(None).await.unwrap();
        // The server answers the close; the stream then ends.
        while let Some(Ok(_)) = ws.next().await {}
        wait_for(|| srv.open_connections() == 0).await;
        srv.stop().await;
    }

    #[tokio::test]
    async fn records_requests_and_echoes_subprotocol() {
        let srv = server().await;
        let mut req = format!("ws://{}/cloudxr?v=1", srv.addr()).into_client_request().unwrap();
        let h = req.headers_mut();
        h.insert("X-Forwarded-For", HeaderValue::from_static("192.168.1.50"));
        h.insert("Sec-WebSocket-Protocol", HeaderValue::from_static("cloudxr-v1, other"));
        let (_ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
        assert_eq!(resp.headers().get("sec-websocket-protocol").unwrap(), "cloudxr-v1");
        let reqs = srv.requests();
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].path, "/cloudxr?v=1");
        assert_eq!(reqs[0].header("x-forwarded-for"), Some("192.168.1.50"));
        assert!(reqs[0].headers.iter().all(|(n, _)| *n == n.to_ascii_lowercase()));
        srv.stop().await;
    }

    #[tokio::test]
    async fn no_subprotocol_offered_none_returned() {
        let srv = server().await;
        let (_ws, resp) = tokio_tungstenite::connect_async(format!("ws://{}/", srv.addr())).await.unwrap();
        assert!(resp.headers().get("sec-websocket-protocol").is_none());
        srv.stop().await;
    }

    #[tokio::test]
    async fn reject_path_gets_403() {
        let srv = server().await;
        match tokio_tungstenite::connect_async(format!("ws://{}/reject/me", srv.addr())).await {
            Err(WsError::Http(resp)) => {
                assert_eq!(resp.status(), StatusCode::FORBIDDEN);
            }
            other => panic!("expected HTTP 403, got {other:?}"),
        }
        // The raw answer carries the body too.
        let mut tcp = TcpStream::connect(srv.addr()).await.unwrap();
        let head = "GET /reject HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                    Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        tcp.write_all(head.as_bytes()).await.unwrap();
        let mut out = String::new();
        tcp.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 403"), "{out}");
        assert!(out.ends_with("\r\n\r\nrejected by echo server"), "{out}");
        assert_eq!(srv.requests().len(), 2);
        assert_eq!(srv.open_connections(), 0);
        srv.stop().await;
    }

    #[tokio::test]
    async fn raw_paths_echo_bytes_not_frames() {
        let srv = server().await;
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/raw/bench", srv.addr())).await.unwrap();
        let mut tcp = ws.into_inner();
        let noise: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
        let (mut r, mut w) = tokio::io::split(&mut tcp);
        let (_, back) = tokio::join!(async { w.write_all(&noise).await.unwrap() }, async {
            let mut back = vec![0u8; noise.len()];
            r.read_exact(&mut back).await.unwrap();
            back
        });
        assert_eq!(back, noise);
        srv.stop().await;
    }

    #[tokio::test]
    async fn garbage_does_not_hurt() {
        let srv = server().await;
        let mut tcp = TcpStream::connect(srv.addr()).await.unwrap();
        tcp.write_all(b"\x00\x01garbage\r\n\r\n").await.unwrap();
        let mut buf = Vec::new();
        let _ = tcp.read_to_end(&mut buf).await;
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", srv.addr())).await.unwrap();
        ws.send(Message::text("still here")).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("still here"));
        srv.stop().await;
    }

    #[tokio::test]
    async fn stop_closes_open_clients() {
        let srv = server().await;
        let addr = srv.addr();
        let (mut a, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/a")).await.unwrap();
        let (mut b, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/b")).await.unwrap();
        wait_for(|| srv.open_connections() == 2).await;
        srv.stop().await;
        for ws in [&mut a, &mut b] {
            let end = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap();
            assert!(!matches!(end, Some(Ok(Message::Text(_) | Message::Binary(_)))), "{end:?}");
        }
        assert!(TcpStream::connect(addr).await.is_err(), "still accepting after stop");
    }
}
