//! Shared harness for the black-box tests and the benchmark: a gateway on a free loopback port with
//! its own data dir, a real TLS WebSocket client that trusts only the generated certificate (and so
//! checks its SAN for 127.0.0.1), raw HTTPS requests, and a connector that records every dial.
//! Only loopback addresses are ever contacted.

pub mod adb;
pub mod chromium;
#[cfg(target_os = "linux")]
pub mod desktop;
pub mod proxy;
pub mod sys;
pub mod webapp;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use cxr_gate_core::connector::{ConnectFuture, Connector, TcpConnector};
use cxr_gate_core::{BackendAddr, Config, Gateway, Status};
use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue, Response};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

pub type Wss = WebSocketStream<TlsStream<TcpStream>>;

/// A free TCP port on 127.0.0.1 (bound then released).
/// Where the tests save the README's pictures (`docs/screenshot.png`, `docs/trust-page.png`):
/// the folder in `CXR_GATE_SCREENSHOTS`, relative to the workspace (`scripts/screenshots.sh` sets
/// `docs`); unset or empty, nowhere.
pub fn screenshots_dir() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("CXR_GATE_SCREENSHOTS").filter(|d| !d.is_empty())?;
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new("."));
    Some(workspace.join(dir))
}

/// A Quest 3's User-Agent: Meta's example agent ("Browser Specs",
/// developers.meta.com/horizon/documentation/web/browser-specs/).
pub const QUEST_3: &str = "Mozilla/5.0 (X11; Linux x86_64; Quest 3) AppleWebKit/537.36 (KHTML, like Gecko) \
                           OculusBrowser/39.2.0.0.56.754450099 Chrome/136.0.7103.177 VR Safari/537.36";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

/// A config for tests: loopback listener on a free port, short health interval, own data dir.
pub fn test_config(data_dir: &Path, backend: SocketAddr) -> Config {
    let mut c = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], free_port())),
        backend: BackendAddr::new(backend.ip().to_string(), backend.port()),
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    c.health.interval = Duration::from_millis(100);
    // A scan per test run is plenty.
    c.lan_scan_interval = Duration::from_secs(3600);
    c
}

/// Waits until `pred` holds for the status (or fails after `within`).
pub async fn wait_for(
    rx: &mut watch::Receiver<Status>,
    within: Duration,
    what: &str,
    pred: impl Fn(&Status) -> bool,
) -> Result<Status> {
    let r = tokio::time::timeout(within, async {
        loop {
            {
                let s = rx.borrow_and_update();
                if pred(&s) {
                    return Ok::<Status, anyhow::Error>(s.clone());
                }
            }
            rx.changed().await.map_err(|_| anyhow!("status channel closed"))?;
        }
    })
    .await;
    match r {
        Ok(x) => x,
        Err(_) => bail!("timed out after {within:?} waiting for {what}; last status: {:#?}", rx.borrow().backend),
    }
}

/// Waits (up to `within`) until the book's headset at `ip` is in `state`; returns its record, or
/// why not, with the book as it was.
pub async fn headset_in(
    rx: &mut watch::Receiver<Status>,
    ip: &str,
    state: cxr_gate_core::headsets::HeadsetState,
    within: Duration,
) -> std::result::Result<cxr_gate_core::headsets::Headset, String> {
    let found = tokio::time::timeout(within, async {
        loop {
            let hit = rx.borrow_and_update().headsets.iter().find(|h| h.ip == ip).cloned();
            if let Some(h) = hit.filter(|h| h.advice.state == state) {
                return Some(h);
            }
            rx.changed().await.ok()?;
        }
    })
    .await;
    match found {
        Ok(Some(h)) => Ok(h),
        _ => Err(format!("the headset at {ip} never reached {state:?}; book: {:#?}", rx.borrow().headsets)),
    }
}

/// rustls client config trusting exactly the PEM certificate(s) at `cert_pem`.
pub fn client_tls(cert_pem: &Path) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert_pem).context("reading cert.pem")? {
        roots.add(c.context("parsing cert.pem")?).context("adding root")?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// TLS to 127.0.0.1:`port`, verifying the certificate for the IP 127.0.0.1.
pub async fn tls_connect(tls: &Arc<rustls::ClientConfig>, port: u16) -> Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::IpAddress(IpAddr::from([127, 0, 0, 1]).into());
    Ok(TlsConnector::from(tls.clone()).connect(name, tcp).await?)
}

/// A wss:// client handshake through the proxy; `headers` are added to the upgrade request.
pub async fn wss_connect(
    tls: &Arc<rustls::ClientConfig>,
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(Wss, Response<Option<Vec<u8>>>)> {
    let stream = tls_connect(tls, port).await?;
    let mut req = format!("wss://127.0.0.1:{port}{path}").into_client_request()?;
    for (k, v) in headers {
        req.headers_mut().append(HeaderName::from_bytes(k.as_bytes())?, HeaderValue::from_str(v)?);
    }
    let (ws, resp) = tokio_tungstenite::client_async(req, stream).await?;
    Ok((ws, resp))
}

/// Sends raw request bytes over TLS and reads the whole answer until the server closes (or `within`).
pub async fn https_raw(tls: &Arc<rustls::ClientConfig>, port: u16, request: &[u8], within: Duration) -> Result<String> {
    let mut s = tls_connect(tls, port).await?;
    s.write_all(request).await?;
    s.flush().await?;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(within, s.read_to_end(&mut out)).await;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// TLS from `source` (a 127.x.y.z address) to the gate at 127.0.0.1:`port` by a client that trusts
/// no certificate at all, as a fresh headset browser: it refuses the certificate with an alert.
/// Returns the client's error.
pub async fn refuse_certificate_from(source: std::net::Ipv4Addr, port: u16) -> Result<String> {
    refuse_certificate(source, SocketAddr::from(([127, 0, 0, 1], port))).await
}

/// As [`refuse_certificate_from`], to the gate at `gate` (an address of this host, or of the test's
/// own network namespace).
pub async fn refuse_certificate(source: std::net::Ipv4Addr, gate: SocketAddr) -> Result<String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
    let tcp = sock.connect(gate).await?;
    let name = ServerName::IpAddress(gate.ip().into());
    match TlsConnector::from(Arc::new(cfg)).connect(name, tcp).await {
        Ok(_) => bail!("a client without roots accepted the certificate"),
        Err(e) => Ok(e.to_string()),
    }
}

/// `GET path` with `Connection: close`; returns (status line + headers, body).
pub async fn https_get(tls: &Arc<rustls::ClientConfig>, port: u16, path: &str) -> Result<(String, Vec<u8>)> {
    let mut s = tls_connect(tls, port).await?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await??;
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| anyhow!("no head end"))?;
    Ok((String::from_utf8_lossy(&out[..split]).into_owned(), out[split + 4..].to_vec()))
}

/// Header lookup in a raw response head (case-insensitive name).
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Records every connection attempt; dials only loopback, and only while `accepting` is on.
/// A non-loopback target is refused without a packet, so a routing bug cannot reach the network.
#[derive(Default)]
pub struct RecordingConnector {
    pub attempts: Mutex<Vec<BackendAddr>>,
    pub refuse_all: AtomicBool,
}

impl RecordingConnector {
    pub fn attempts_to(&self, host: &str) -> usize {
        self.attempts.lock().map(|a| a.iter().filter(|b| b.host == host).count()).unwrap_or(0)
    }

    pub fn attempts_to_addr(&self, host: &str, port: u16) -> usize {
        self.attempts.lock().map(|a| a.iter().filter(|b| b.host == host && b.port == port).count()).unwrap_or(0)
    }
}

impl Connector for RecordingConnector {
    fn connect<'a>(&'a self, addr: &'a BackendAddr, timeout: Duration) -> ConnectFuture<'a> {
        Box::pin(async move {
            if let Ok(mut a) = self.attempts.lock() {
                a.push(addr.clone());
            }
            if !addr.is_loopback() {
                return Err(io::Error::new(io::ErrorKind::PermissionDenied, "test connector: not loopback"));
            }
            if self.refuse_all.load(Ordering::SeqCst) {
                return Err(io::Error::new(io::ErrorKind::ConnectionRefused, "refused by test switch"));
            }
            TcpConnector.connect(addr, timeout).await
        })
    }
}

/// A started gateway with what tests need next to it.
pub struct Harness {
    pub gw: Gateway,
    pub port: u16,
    pub tls: Arc<rustls::ClientConfig>,
    pub dir: tempfile::TempDir,
}

impl Harness {
    /// Starts a gateway for `backend` (tweak the config first) and waits until it listens.
    pub async fn start(backend: SocketAddr, tweak: impl FnOnce(&mut Config)) -> Result<Harness> {
        Self::start_with(backend, tweak, Arc::new(TcpConnector)).await
    }

    pub async fn start_with(
        backend: SocketAddr,
        tweak: impl FnOnce(&mut Config),
        connector: Arc<dyn Connector>,
    ) -> Result<Harness> {
        let dir = tempfile::tempdir()?;
        let mut cfg = test_config(dir.path(), backend);
        tweak(&mut cfg);
        // A custom certificate is served from where it is; a generated one from the data dir.
        let trust = cfg.custom_cert.as_ref().map(|c| c.cert.clone()).unwrap_or_else(|| dir.path().join("cert.pem"));
        let gw = Gateway::start_with(cfg, connector).await?;
        if let Some(e) = gw.listen_error() {
            bail!("gateway not listening: {e}");
        }
        let port = gw.local_addr().await.map(|a| a.port()).ok_or_else(|| anyhow!("no local addr"))?;
        let tls = client_tls(&trust)?;
        Ok(Harness { gw, port, tls, dir })
    }

    pub async fn wait_backend(&self, state: cxr_gate_core::BackendState) -> Result<Status> {
        let mut rx = self.gw.status();
        wait_for(&mut rx, Duration::from_secs(10), &format!("backend {state:?}"), |s| s.backend.state == state).await
    }
}

/// Plays a headset's part in the network check (`/netcheck/ws`): echoes pings, times the download,
/// uploads for the asked time; returns the final message (`result`, `busy` or `error`).
pub async fn netcheck_headset(ws: &mut Wss) -> Result<Value> {
    let (mut first, mut last, mut got) = (None::<Instant>, Instant::now(), 0u64);
    loop {
        let m = match tokio::time::timeout(Duration::from_secs(30), ws.next()).await? {
            Some(m) => m?,
            None => bail!("closed"),
        };
        match m {
            Message::Binary(b) => {
                let now = Instant::now();
                if first.is_none() {
                    first = Some(now);
                } else {
                    got += b.len() as u64;
                }
                last = now;
            }
            Message::Text(t) if t.as_str().starts_with("p:") => ws.send(Message::Text(t)).await?,
            Message::Text(t) => {
                let v: Value = serde_json::from_str(t.as_str())?;
                match v["type"].as_str() {
                    Some("down_end") => {
                        let ms = first.map(|f| last.duration_since(f).as_secs_f64() * 1000.0).unwrap_or(0.0);
                        ws.send(Message::text(json!({"type": "down_result", "bytes": got, "ms": ms}).to_string()))
                            .await?;
                    }
                    Some("phase") if v["phase"] == "up" => {
                        let end = Instant::now() + Duration::from_secs_f64(v["seconds"].as_f64().unwrap_or(1.0));
                        let chunk = vec![7u8; 64 * 1024];
                        while Instant::now() < end {
                            ws.send(Message::binary(chunk.clone())).await?;
                        }
                        ws.send(Message::text(r#"{"type":"up_end"}"#)).await?;
                    }
                    Some("phase") => {}
                    _ => return Ok(v),
                }
            }
            Message::Close(_) => bail!("closed"),
            _ => {}
        }
    }
}

/// A LAN the test scripts: interfaces appear and disappear when the test says so.
#[derive(Default)]
pub struct ScriptedLan {
    /// (name, address); the first one is the default-route interface.
    pub ifaces: Mutex<Vec<(String, std::net::Ipv4Addr)>>,
}

impl ScriptedLan {
    pub fn set(&self, list: &[(&str, [u8; 4])]) {
        if let Ok(mut l) = self.ifaces.lock() {
            *l = list.iter().map(|(n, ip)| (n.to_string(), std::net::Ipv4Addr::from(*ip))).collect();
        }
    }
}

impl cxr_gate_core::net::LanSource for ScriptedLan {
    fn scan(&self) -> Vec<cxr_gate_core::status::LanInterface> {
        let list = self.ifaces.lock().map(|l| l.clone()).unwrap_or_default();
        let primary = list.first().map(|(_, ip)| IpAddr::V4(*ip));
        cxr_gate_core::net::lan::classify_and_sort(list, primary)
    }
}

/// The process's live tokio tasks and open sockets, to compare before and after a scenario.
pub fn tasks_and_sockets() -> (usize, usize) {
    let tasks = tokio::runtime::Handle::current().metrics().num_alive_tasks();
    // Windows cannot tell sockets from other handles: all handles there (a leak shows either way).
    let sockets = sys::open_sockets(None).or_else(|| sys::open_handles(None));
    (tasks, sockets.expect("this platform cannot count open sockets or handles"))
}

/// Scenarios that measure timing take turns: run side by side on two cores they would measure
/// each other. `let _turn = SERIAL.lock().await;` at the top of such a test.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Sends `text` and waits (up to 10 s) for the echo server to send it back.
pub async fn echo_once(ws: &mut Wss, text: &str) -> Result<()> {
    ws.send(Message::text(text)).await?;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await? {
            Some(Ok(Message::Text(t))) if t.as_str() == text => return Ok(()),
            Some(Ok(Message::Text(t))) => bail!("echo returned {t:?}, sent {text:?}"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => bail!("closed"),
        }
    }
}

/// Whole milliseconds, for figures.
pub fn ms(d: Duration) -> u128 {
    d.as_millis()
}
