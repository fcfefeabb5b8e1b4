//! gate-bench's clients: TLS that trusts exactly the certificate CXR Gate generated, WebSocket
//! sessions to the three targets, and each workload's measurement.

use super::*;

// ---------------------------------------------------------------------------------------------
// TLS: trust exactly the certificate CXR Gate generated (HAProxy serves the same one).

#[derive(Debug)]
pub(super) struct PinnedCert {
    pub(super) der: Vec<u8>,
    pub(super) provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.der.as_slice() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// The one suite and key exchange both proxies are measured with: the client offers nothing else,
/// so neither server's preference (CXR Gate orders AES-256 first, HAProxy AES-128) decides.
pub(super) const PINNED_SUITE: &str = "TLS13_AES_128_GCM_SHA256";
pub(super) const PINNED_GROUP: &str = "X25519";

pub(super) fn tls_connector(cert_pem: &Path) -> Result<TlsConnector> {
    let der = CertificateDer::from_pem_file(cert_pem)
        .with_context(|| format!("reading {}", cert_pem.display()))?
        .as_ref()
        .to_vec();
    let ring = rustls::crypto::ring::default_provider();
    let provider = Arc::new(CryptoProvider {
        cipher_suites: vec![rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256],
        kx_groups: vec![rustls::crypto::ring::kx_group::X25519],
        ..ring
    });
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedCert { der, provider }))
        .with_no_client_auth();
    // Every session is a full handshake, as for a headset connecting for the first time.
    cfg.resumption = rustls::client::Resumption::disabled();
    Ok(TlsConnector::from(Arc::new(cfg)))
}

// ---------------------------------------------------------------------------------------------
// Clients

pub(super) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub(super) type Ws = WebSocketStream<Box<dyn Io>>;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Gate,
    Haproxy,
    Direct,
}

pub(super) struct Target {
    pub(super) kind: Kind,
    pub(super) addr: SocketAddr,
    pub(super) tls: Option<TlsConnector>,
    /// The proxy process (None for direct).
    pub(super) pid: Option<u32>,
    /// Every (suite, key exchange) a session negotiated, to show both proxies were measured alike.
    pub(super) negotiated: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl Target {
    pub(super) fn label(&self) -> &'static str {
        match self.kind {
            Kind::Gate => "CXR Gate",
            Kind::Haproxy => "HAProxy",
            Kind::Direct => "direct",
        }
    }
}

pub(super) fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().max_message_size(Some(64 << 20)).max_frame_size(Some(64 << 20))
}

/// TCP connect, TLS handshake (for the proxies), WebSocket upgrade; returns once the 101 is in.
pub(super) async fn open(t: &Target, path: &str) -> Result<Ws> {
    let tcp = TcpStream::connect(t.addr).await?;
    tcp.set_nodelay(true)?;
    let (io, scheme): (Box<dyn Io>, &str) = match &t.tls {
        Some(c) => {
            let s = c.connect(ServerName::from(LOOPBACK), tcp).await?;
            let conn = s.get_ref().1;
            let suite = conn.negotiated_cipher_suite().map(|c| format!("{:?}", c.suite()));
            let group = conn.negotiated_key_exchange_group().map(|g| format!("{:?}", g.name()));
            let seen = format!("{} with {}", suite.unwrap_or_else(|| "?".into()), group.unwrap_or_else(|| "?".into()));
            if let Ok(mut n) = t.negotiated.lock() {
                n.insert(seen);
            }
            (Box::new(s), "wss")
        }
        None => (Box::new(tcp), "ws"),
    };
    let url = format!("{scheme}://{}{path}", t.addr);
    let (ws, resp) = tokio_tungstenite::client_async_with_config(url, io, Some(ws_config())).await?;
    if resp.status().as_u16() != 101 {
        bail!("expected 101, got {}", resp.status());
    }
    Ok(ws)
}

pub(super) async fn close(mut ws: Ws) {
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = ws.close(None).await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

/// Waits until a full session works: the listener is up and the backend is marked UP.
pub(super) async fn wait_ready(t: &Target, proc: &mut Option<&mut Proc>) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Some(p) = proc.as_deref_mut() {
            p.check_alive()?;
        }
        match tokio::time::timeout(Duration::from_secs(5), open(t, "/ready")).await {
            Ok(Ok(mut ws)) => {
                ws.send(Message::binary(b"ping".to_vec())).await?;
                if let Some(Ok(Message::Binary(b))) = ws.next().await {
                    if b.as_ref() == b"ping" {
                        close(ws).await;
                        return Ok(());
                    }
                }
                last = "no echo".into();
            }
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = "timed out".into(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let tail = proc.as_deref().map(|p| p.log_tail()).unwrap_or_default();
    bail!("{} not ready after {READY_TIMEOUT:?}: {last}{tail}", t.label())
}

#[derive(Clone, Copy)]
pub(super) struct Summary {
    pub(super) p50: Duration,
    pub(super) p99: Duration,
}

pub(super) fn summarize(mut v: Vec<Duration>) -> Summary {
    v.sort_unstable();
    let n = v.len();
    let at = |q: usize| v[((n * q) / 100).min(n - 1)];
    Summary { p50: at(50), p99: at(99) }
}

pub(super) async fn bench_setup(t: &Target, n: usize) -> Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let t0 = Instant::now();
        let ws = tokio::time::timeout(OP_TIMEOUT, open(t, "/bench/setup"))
            .await
            .map_err(|_| anyhow!("session {i} timed out"))?
            .with_context(|| format!("session {i}"))?;
        times.push(t0.elapsed());
        close(ws).await;
    }
    Ok(times)
}

pub(super) async fn round_trip(ws: &mut Ws, payload: &Bytes) -> Result<()> {
    ws.send(Message::Binary(payload.clone())).await?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => {
                if b.len() != payload.len() {
                    bail!("echo of {} bytes came back as {}", payload.len(), b.len());
                }
                return Ok(());
            }
            Some(Ok(Message::Close(c))) => bail!("session closed: {c:?}"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => bail!("session ended"),
        }
    }
}

pub(super) async fn bench_rtt(t: &Target, size: usize, n: usize) -> Result<Vec<Duration>> {
    let mut ws = open(t, "/bench/rtt").await?;
    let payload = Bytes::from((0..size).map(|i| i as u8).collect::<Vec<u8>>());
    let warmup = (n / 10).clamp(10, 500);
    for _ in 0..warmup {
        tokio::time::timeout(OP_TIMEOUT, round_trip(&mut ws, &payload))
            .await
            .map_err(|_| anyhow!("round trip timed out"))??;
    }
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        tokio::time::timeout(OP_TIMEOUT, round_trip(&mut ws, &payload))
            .await
            .map_err(|_| anyhow!("round trip timed out"))??;
        times.push(t0.elapsed());
    }
    close(ws).await;
    Ok(times)
}

pub(super) struct Throughput {
    pub(super) mib_per_s: f64,
    /// The proxy's CPU seconds (user + system) during the run.
    pub(super) cpu_secs: Option<f64>,
    /// GB (10^9 bytes) through the proxy, up + down.
    pub(super) gb: f64,
}

/// One session streaming `total` bytes up in `size`-byte binary messages while the echoes are read.
pub(super) async fn bench_throughput(t: &Target, total: u64, size: usize) -> Result<Throughput> {
    let ws = open(t, "/bench/stream").await?;
    let (mut sink, mut stream) = ws.split();
    let messages = total.div_ceil(size as u64) as usize;
    let total = messages as u64 * size as u64;
    let chunk = Bytes::from(vec![0x5a_u8; size]);
    let cpu0 = t.pid.and_then(cpu_secs);
    let t0 = Instant::now();
    let writer = tokio::spawn(async move {
        for _ in 0..messages {
            // Small messages share a write (tungstenite's buffer), as a busy client's would.
            if size < STREAM_MESSAGE {
                sink.feed(Message::Binary(chunk.clone())).await?;
            } else {
                sink.send(Message::Binary(chunk.clone())).await?;
            }
        }
        sink.flush().await?;
        anyhow::Ok(sink)
    });
    let mut received = 0u64;
    let deadline = t0 + Duration::from_secs(600);
    while received < total {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => received += b.len() as u64,
            Ok(Some(Ok(Message::Close(c)))) => bail!("stream closed after {received} bytes: {c:?}"),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => bail!("stream failed after {received} bytes: {e}"),
            Ok(None) => bail!("stream ended after {received} bytes"),
            Err(_) => bail!("stream timed out after {received} bytes"),
        }
    }
    let elapsed = t0.elapsed();
    let cpu1 = t.pid.and_then(cpu_secs);
    let sink = writer.await??;
    if let Ok(ws) = sink.reunite(stream) {
        close(ws).await;
    }
    Ok(throughput(total, elapsed, cpu0, cpu1))
}

/// One session that, after the 101, streams `total` raw bytes (no frames) up while the echo
/// backend's `/raw` mode sends them back.
pub(super) async fn bench_raw(t: &Target, total: u64) -> Result<Throughput> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let io = open(t, "/raw/bench").await?.into_inner();
    let (mut r, mut w) = tokio::io::split(io);
    let chunks = total.div_ceil(RAW_CHUNK as u64);
    let total = chunks * RAW_CHUNK as u64;
    let cpu0 = t.pid.and_then(cpu_secs);
    let t0 = Instant::now();
    let writer = tokio::spawn(async move {
        // Zeros: a frame parser that does not check the protocol reads them as endless empty
        // 2-byte frames, thousands per read.
        let chunk = vec![0u8; RAW_CHUNK];
        for _ in 0..chunks {
            w.write_all(&chunk).await?;
        }
        w.flush().await?;
        anyhow::Ok(w)
    });
    let mut received = 0u64;
    let mut buf = vec![0u8; 256 << 10];
    let deadline = t0 + Duration::from_secs(600);
    while received < total {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, r.read(&mut buf)).await {
            Ok(Ok(0)) => bail!("raw stream ended after {received} bytes"),
            Ok(Ok(n)) => received += n as u64,
            Ok(Err(e)) => bail!("raw stream failed after {received} bytes: {e}"),
            Err(_) => bail!("raw stream timed out after {received} bytes"),
        }
    }
    let elapsed = t0.elapsed();
    let cpu1 = t.pid.and_then(cpu_secs);
    let mut w = writer.await??;
    let _ = w.shutdown().await;
    Ok(throughput(total, elapsed, cpu0, cpu1))
}

pub(super) fn throughput(total: u64, elapsed: Duration, cpu0: Option<f64>, cpu1: Option<f64>) -> Throughput {
    Throughput {
        mib_per_s: total as f64 / MIB as f64 / elapsed.as_secs_f64(),
        cpu_secs: match (cpu0, cpu1) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        },
        gb: (2 * total) as f64 / 1e9,
    }
}

/// `/app/` requests for the small files over [`APP_CONNECTIONS`] keep-alive connections, each
/// answer read whole: requests per second, and the proxy's CPU time per request.
pub(super) async fn bench_app(t: &Target, n: usize) -> Result<App> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let tls = t.tls.clone().ok_or_else(|| anyhow!("/app/ is asked over TLS"))?;
    let per = n.div_ceil(APP_CONNECTIONS);
    let cpu0 = t.pid.and_then(cpu_secs);
    let t0 = Instant::now();
    let conns = (0..APP_CONNECTIONS).map(|c| {
        let tls = tls.clone();
        async move {
            let tcp = TcpStream::connect(t.addr).await?;
            tcp.set_nodelay(true)?;
            let mut s = BufReader::new(tls.connect(ServerName::from(LOOPBACK), tcp).await?);
            let mut body = vec![0u8; 64 << 10];
            for i in 0..per {
                let f = (c * per + i) % APP_FILES;
                let req = format!("GET /app/f{f:03}.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
                s.get_mut().write_all(req.as_bytes()).await?;
                let (mut status, mut len) = (String::new(), None);
                s.read_line(&mut status).await?;
                if !status.starts_with("HTTP/1.1 200") {
                    bail!("/app/f{f:03}.js: {status:?}");
                }
                loop {
                    let mut line = String::new();
                    if s.read_line(&mut line).await? == 0 {
                        bail!("the connection closed mid-answer");
                    }
                    if line == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        if k.eq_ignore_ascii_case("content-length") {
                            len = v.trim().parse::<usize>().ok();
                        }
                    }
                }
                let len = len.ok_or_else(|| anyhow!("no Content-Length"))?;
                s.read_exact(&mut body[..len]).await?;
            }
            anyhow::Ok(per)
        }
    });
    let done: usize = futures_util::future::try_join_all(conns).await?.into_iter().sum();
    let elapsed = t0.elapsed();
    let cpu = t.pid.and_then(cpu_secs).zip(cpu0).map(|(b, a)| b - a);
    Ok(App { per_s: done as f64 / elapsed.as_secs_f64(), cpu_us: cpu.map(|c| c * 1e6 / done as f64) })
}

/// The `/app/` file lookup alone, in this process, over the gate's web root: µs per lookup with
/// the roots made per request (what every request did before) and once (what it does now).
pub(super) fn bench_lookup(app: &Path, data: &Path, n: usize) -> Result<(f64, f64)> {
    use cxr_gate_core::proxy::webapp::{resolve, sanitize, Found, Roots};
    let asked: Vec<_> = (0..APP_FILES)
        .map(|i| sanitize(&format!("f{i:03}.js")).map_err(|r| anyhow!("{}", r.why)))
        .collect::<Result<_>>()?;
    let check = |f: Result<Found, _>| match f {
        Ok(Found::File(..)) => Ok(()),
        other => Err(anyhow!("lookup failed: {other:?}")),
    };
    let t0 = Instant::now();
    for i in 0..n {
        check(resolve(&Roots::new(app, data), &asked[i % APP_FILES]))?;
    }
    let per_request = t0.elapsed().as_secs_f64() * 1e6 / n as f64;
    let roots = Roots::new(app, data);
    let t0 = Instant::now();
    for i in 0..n {
        check(resolve(&roots, &asked[i % APP_FILES]))?;
    }
    let once = t0.elapsed().as_secs_f64() * 1e6 / n as f64;
    Ok((per_request, once))
}

pub(super) struct App {
    pub(super) per_s: f64,
    /// The proxy's CPU time (user + system) per request, µs.
    pub(super) cpu_us: Option<f64>,
}

pub(super) struct Idle {
    pub(super) rss_before_kib: u64,
    pub(super) rss_after_kib: u64,
    pub(super) per_session_kib: f64,
}

pub(super) async fn bench_idle(t: &Target, n: usize, pid: u32) -> Result<Idle> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before_kib = rss_kib(pid).ok_or_else(|| anyhow!("no VmRSS for pid {pid}"))?;
    let opened: Vec<Result<Ws>> = futures_util::stream::iter(0..n)
        .map(|i| async move {
            tokio::time::timeout(OP_TIMEOUT, open(t, &format!("/bench/idle/{i}")))
                .await
                .map_err(|_| anyhow!("idle session {i} timed out"))?
        })
        .buffer_unordered(OPEN_CONCURRENCY)
        .collect()
        .await;
    let mut sessions = Vec::with_capacity(n);
    for r in opened {
        sessions.push(r?);
    }
    // Let the sessions settle into idle (buffers released, allocator quiet).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after_kib = rss_kib(pid).ok_or_else(|| anyhow!("no VmRSS for pid {pid}"))?;
    // Prove they are still alive: one round trip on the last one.
    if let Some(ws) = sessions.last_mut() {
        round_trip(ws, &Bytes::from_static(b"alive")).await?;
    }
    futures_util::stream::iter(sessions).for_each_concurrent(OPEN_CONCURRENCY, close).await;
    Ok(Idle {
        rss_before_kib,
        rss_after_kib,
        per_session_kib: (rss_after_kib as f64 - rss_before_kib as f64) / n as f64,
    })
}
