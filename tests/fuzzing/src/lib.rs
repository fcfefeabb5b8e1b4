//! Entry points for the cargo-fuzz targets in `fuzz/` and their replay in
//! `tests/tests/fuzz_regressions.rs`; a crate of its own, so the product library carries none of it:
//! the whole HTTP layer fed arbitrary bytes as one client connection, the path-routing parser, the
//! allowlist matcher, and the tunnel's WebSocket Close watcher. Each checks the gateway's promises on
//! every input: no panic, a well-formed answer, no connection to a target outside the allowlist,
//! and the same verdict on a stream however TCP cuts it.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::Notify;

use cxr_gate_core::config::{BackendAddr, Config, SettingName};
use cxr_gate_core::connector::{ConnectFuture, Connector};
use cxr_gate_core::proxy::route::{classify, route, Route, Segment};
use cxr_gate_core::proxy::wsclose::check_feeding;
use cxr_gate_core::Gateway;

/// The allowlist the fuzzed gateway runs with, besides its backend (127.0.0.1:9).
pub const ALLOWLIST: &str = "192.168.7.7:49100-49101, 127.0.0.1:5000";
/// A host in [`ALLOWLIST`] (on ports 49100 and 49101 only).
pub const ALLOWED_HOST: &str = "192.168.7.7";

/// The `ws_close` fuzz target: any bytes as one direction of a relayed session, from either side
/// and under each extension rule. The watch's own promise (`wsclose::check_feeding`): the same
/// verdict whole, one byte at a time, or cut where the input's first byte says; a Close's text
/// short and clean; a Close ends the watch.
pub fn fuzz_ws_close(data: &[u8]) {
    if let Err(e) = check_feeding(data) {
        panic!("{e}");
    }
}

/// The `route` fuzz target: any bytes as a request target. hyper only hands over origin-form
/// targets, so a missing leading '/' is added.
pub fn fuzz_route(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    if s.starts_with('/') {
        check_route(&s);
    } else {
        check_route(&format!("/{s}"));
    }
}

/// Checks `route()` and `classify()` on one path: a forwarded target is always allowed, an
/// ordinary path goes to the backend unchanged, a target keeps the rest of the path.
pub fn check_route(path_and_query: &str) {
    let cfg = config(std::env::temp_dir());
    match (classify(path_and_query), route(&cfg, path_and_query)) {
        (Segment::Path, Route::Forward { backend, path_and_query: pq, routed: false }) => {
            assert_eq!(backend, cfg.backend);
            assert_eq!(pq, path_and_query);
        }
        (Segment::Target(ip, port, rest), Route::Forward { backend, path_and_query: pq, routed }) => {
            assert!(cfg.routing_allowed(ip, port), "routed to {ip}:{port}, which is not allowed");
            if routed {
                assert_eq!((backend.host, backend.port), (ip.to_string(), port));
            } else {
                assert!(cfg.is_backend(ip, port) && backend == cfg.backend, "{ip}:{port} is not the backend");
            }
            assert!(port > 0 && pq == rest && pq.starts_with('/'));
            assert!(path_and_query.ends_with(rest.trim_start_matches('/')));
        }
        (Segment::Target(ip, port, _), Route::Refused { target }) => {
            assert_eq!(target, format!("{ip}:{port}"));
            assert!(!cfg.routing_allowed(ip, port));
        }
        (Segment::Invalid(why), Route::Invalid { segment, why: w }) => {
            assert_eq!(why, w);
            assert!(segment.chars().count() <= 65 && !segment.chars().any(char::is_control));
        }
        (seg, r) => panic!("classify gave {seg:?} but route gave {r:?} for {path_and_query:?}"),
    }
}

/// The `allowlist` fuzz target: the first line is an allowlist entry, the rest an `ip:port` target
/// (or, when it does not read as one, bytes turned into one). Checks that parsing never panics,
/// that an entry's normal form parses back to the same entry, and that a target it allows is in
/// its network and its ports as the entry's text states them.
pub fn fuzz_allowlist(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (entry, target) = text.split_once('\n').unwrap_or((&text, ""));
    let (ip, port) = match target.trim().split_once(':').map(|(i, p)| (i.parse::<Ipv4Addr>(), p.parse::<u16>())) {
        Some((Ok(ip), Ok(port))) => (ip, port),
        _ => {
            let b: Vec<u8> = data.iter().rev().take(6).copied().chain([0; 6]).collect();
            (Ipv4Addr::new(b[0], b[1], b[2], b[3]), u16::from_be_bytes([b[4], b[5]]))
        }
    };
    check_allowlist_entry(entry, ip, port, 49100);
}

/// The allowlist invariants for one entry and one target (see [`fuzz_allowlist`]).
pub fn check_allowlist_entry(entry: &str, ip: Ipv4Addr, port: u16, backend_port: u16) {
    use cxr_gate_core::config::AllowedBackend;
    let Ok(a) = AllowedBackend::parse(entry, FUZZING) else {
        return;
    };
    let normal = a.to_string();
    assert_eq!(AllowedBackend::parse(&normal, FUZZING).ok().as_ref(), Some(&a), "{entry:?} → {normal:?}");
    assert!(a.size() >= 1);
    if !a.allows(ip, port, backend_port) {
        return;
    }
    // Re-derive what the text says, independently of the parser's types.
    let (host, ports) = normal.split_once(':').unwrap_or((&normal, ""));
    let (lo, hi) = match ports.split_once('-') {
        Some((l, h)) => (l.parse::<u16>().unwrap_or(0), h.parse::<u16>().unwrap_or(0)),
        None if ports.is_empty() => (backend_port, backend_port),
        None => (ports.parse().unwrap_or(0), ports.parse().unwrap_or(0)),
    };
    assert!((lo..=hi).contains(&port), "{normal} allowed port {port}");
    let (net, len) = match host.split_once('/') {
        Some((n, l)) => (n.parse::<Ipv4Addr>().ok(), l.parse::<u32>().unwrap_or(99)),
        None if host == "localhost" => (Some(Ipv4Addr::LOCALHOST), 32),
        None => (host.parse().ok(), 32),
    };
    let net = net.unwrap_or_else(|| panic!("{normal}: no network in the normal form"));
    assert!(len <= 32, "{normal}");
    let shift = 32 - len;
    let same = |x: Ipv4Addr| if shift == 32 { 0 } else { u32::from(x) >> shift };
    assert_eq!(same(ip), same(net), "{normal} allowed {ip}");
}

/// A started gateway (no listener needed) that fuzz inputs are fed to as client connections.
pub struct HttpHarness {
    rt: tokio::runtime::Runtime,
    gw: Gateway,
    dials: Arc<Dials>,
    /// One connection at a time, so the dials recorded belong to the input that made them.
    serial: Mutex<()>,
    _dir: tempdir::Dir,
}

/// Request-line starts that `fuzz` feeds only as they are.
/// What fuzzed values are named in errors (they are no user setting).
const FUZZING: SettingName = SettingName::Other("fuzzing");

const METHODS: [&[u8]; 9] =
    [b"GET ", b"HEAD ", b"POST ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"CONNECT ", b"TRACE "];

impl HttpHarness {
    /// One per fuzzing process: makes a certificate and starts the engine once.
    pub fn new() -> io::Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let dir = tempdir::Dir::new()?;
        let dials = Arc::new(Dials::default());
        let cfg = config(dir.0.clone());
        let parts = cxr_gate_core::Parts { connector: dials.clone(), ..cxr_gate_core::Parts::default() };
        let gw = rt.block_on(Gateway::start_parts(cfg, parts)).map_err(io::Error::other)?;
        // The health checker's first probe of the backend dials too (right away, then hourly); let it
        // happen now so it is not taken for an input's dial.
        let probed = async {
            while dials.0.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        let _ = rt.block_on(async { tokio::time::timeout(Duration::from_secs(2), probed).await });
        dials.take();
        Ok(HttpHarness { rt, gw, dials, serial: Mutex::new(()), _dir: dir })
    }

    /// The `http_head` fuzz target: `data` as a connection and, unless it starts with a method, also
    /// after "GET /" — random bytes rarely form a request line, and this way mutations reach routing,
    /// pages and upgrade validation instead of stopping at the parser.
    pub fn fuzz(&self, data: &[u8]) {
        self.feed(data);
        if !METHODS.iter().any(|m| data.starts_with(m)) {
            self.feed(&[b"GET /", data].concat());
        }
    }

    /// Sends `data` as everything a client says, then reads the whole answer. Panics if a promise breaks.
    pub fn feed(&self, data: &[u8]) -> Vec<u8> {
        self.feed_dials(data).0
    }

    /// `feed`, also returning the backends the gateway tried to reach for this input.
    pub fn feed_dials(&self, data: &[u8]) -> (Vec<u8>, Vec<BackendAddr>) {
        let _one = self.serial.lock().unwrap_or_else(|p| p.into_inner());
        let (client, server) = tokio::io::duplex(64 * 1024);
        let peer = SocketAddr::from((Ipv4Addr::new(192, 168, 7, 50), 50000));
        let local = SocketAddr::from((Ipv4Addr::LOCALHOST, cxr_gate_core::config::DEFAULT_PROXY_PORT));
        let idle = Arc::new(Notify::new());
        let server = Tap { inner: server, read: 0, total: data.len(), idle: idle.clone() };
        let answer = self.rt.block_on(async {
            let serve = self.gw.serve_stream(server, peer, local);
            let (mut rx, mut tx) = tokio::io::split(client);
            // Read while writing: a long pipeline's answers could otherwise fill the pipe and stall both sides.
            let send = async {
                let _ = tx.write_all(data).await;
                // hyper drops a response still in the making when the client half-closes (its
                // half_close is off), so end the input only once the server has taken all of it and
                // waits for more, or has hung up: otherwise nearly every answer would be lost.
                let _ = tokio::time::timeout(Duration::from_secs(5), idle.notified()).await;
                let _ = tx.shutdown().await;
            };
            let receive = async {
                let mut out = Vec::new();
                let _ = tokio::time::timeout(Duration::from_secs(5), rx.read_to_end(&mut out)).await;
                out
            };
            let ((), out, ()) = tokio::join!(send, receive, serve);
            out
        });
        let cfg = self.gw.config();
        let dials = self.dials.take();
        for target in &dials {
            let allowed = *target == cfg.backend
                || target.host.parse::<Ipv4Addr>().is_ok_and(|ip| cfg.routing_allowed(ip, target.port));
            assert!(allowed, "dialled {target}, which is not allowed");
        }
        // hyper answers an HTTP/1.0 request in kind, so 1.0 is a well-formed answer too.
        if !answer.is_empty() {
            assert!(
                answer.starts_with(b"HTTP/1.1 ") || answer.starts_with(b"HTTP/1.0 "),
                "not an HTTP/1.x answer: {:?}",
                String::from_utf8_lossy(&answer)
            );
        }
        (answer, dials)
    }
}

/// The server's side of the connection: tells the client when the server has read every byte sent
/// and waits for more, or has dropped the connection.
struct Tap<S> {
    inner: S,
    read: usize,
    total: usize,
    idle: Arc<Notify>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tap<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        match r {
            Poll::Ready(Ok(())) => self.read += buf.filled().len() - before,
            Poll::Pending if self.read >= self.total => self.idle.notify_one(),
            _ => {}
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tap<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S> Drop for Tap<S> {
    fn drop(&mut self) {
        self.idle.notify_one();
    }
}

fn config(data_dir: std::path::PathBuf) -> Config {
    let mut c = Config {
        backend: BackendAddr::new("127.0.0.1", 9),
        allowed_backends: cxr_gate_core::config::parse_allowlist(ALLOWLIST, FUZZING).unwrap_or_default(),
        data_dir,
        ..Config::default()
    };
    // Health probes would only add noise to the recorded dials.
    c.health.interval = Duration::from_secs(3600);
    c.lan_scan_interval = Duration::from_secs(3600);
    c
}

/// Records every dial and refuses it: nothing leaves the fuzzing process.
#[derive(Default)]
struct Dials(Mutex<Vec<BackendAddr>>);

impl Dials {
    fn take(&self) -> Vec<BackendAddr> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Connector for Dials {
    fn connect<'a>(&'a self, addr: &'a BackendAddr, _timeout: Duration) -> ConnectFuture<'a> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(addr.clone());
        Box::pin(async { Err(io::Error::new(io::ErrorKind::ConnectionRefused, "fuzzing: no network")) })
    }
}

mod tempdir {
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A private data dir for the fuzzed gateway's certificate, removed on drop.
    pub struct Dir(pub std::path::PathBuf);

    impl Dir {
        pub fn new() -> std::io::Result<Self> {
            // Unique per harness: tests run several in one process, each removing its own on drop.
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let p = std::env::temp_dir().join(format!("cxr-gate-fuzz-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&p)?;
            Ok(Dir(p))
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
