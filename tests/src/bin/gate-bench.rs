//! gate-bench: CXR Gate vs HAProxy (configured like NVIDIA's wss proxy container) vs a direct
//! ws:// connection, in one run, on loopback only.
//!
//! ```text
//! cargo build --release -p cxr-gate-core                       # the cxr-gate-proxy binary
//! cargo run --release -p cxr-gate-tests --bin gate-bench        # full run (~90 s on 2 cores)
//! cargo run --release -p cxr-gate-tests --bin gate-bench -- --quick   # short smoke run
//! ```
//!
//! Processes: the echo backend (`echo-server`, a separate process), `cxr-gate-proxy` (release
//! build, spawned), `/usr/sbin/haproxy -db` with a generated config that copies the container's
//! (same certificate and key as CXR Gate's data dir). Every address is 127.0.0.1.
//!
//! Workloads (each against CXR Gate, HAProxy and direct):
//! - session set-up: TCP connect + TLS handshake (full, no resumption) + WebSocket upgrade until
//!   the 101, sequential sessions, p50/p99;
//! - message round trip in one open session, 64 B and 16 KiB binary messages, p50/p99;
//! - echo throughput in one session: a stream of 1 MiB binary messages up while the echoes come
//!   down, MiB/s each way; the proxy's CPU time (utime+stime from /proc) per GB it tunnelled
//!   (up + down); the same with 1 KiB messages (a masked frame header every KiB for the tunnel's
//!   Close watcher to follow), and with raw bytes that are not frames after the 101 (`/raw`: the
//!   echo backend echoes bytes);
//! - N concurrent idle sessions: the proxy's VmRSS before and with them open, per-session memory;
//! - CXR Gate alone: `/app/` requests for many small files (the web root's 200 files of 1 KiB)
//!   over 8 keep-alive connections, requests per second; and in this process, the file lookup
//!   behind each (`webapp::lookup`) with the web root canonicalised once, and again per request as
//!   it was before.
//!
//! It is a benchmark, not a test: nothing here asserts timings. Loops are bounded; it stops by itself.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::WebSocketStream;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const MIB: u64 = 1 << 20;
const STREAM_MESSAGE: usize = 1 << 20;
/// The small-frame stream's messages: one frame header per KiB for the Close watcher.
const SMALL_MESSAGE: usize = 1 << 10;
/// The raw stream's writes.
const RAW_CHUNK: usize = 1 << 20;
/// Sessions opened at once while building up the idle set (keeps accept backlogs from overflowing).
const OPEN_CONCURRENCY: usize = 50;
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const WORKLOADS: [&str; 8] = ["setup", "rtt", "stream", "frames", "raw", "idle", "app", "lookup"];
/// The web root's small files, and the connections asking for them.
const APP_FILES: usize = 200;
const APP_CONNECTIONS: usize = 8;
const OP_TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Options

struct Opts {
    quick: bool,
    sessions: usize,
    rtt_messages: usize,
    stream_bytes: u64,
    idle_sessions: usize,
    rounds: usize,
    app_requests: usize,
    /// The workloads to run (all by default).
    only: Option<Vec<String>>,
    proxy_bin: PathBuf,
    echo_bin: PathBuf,
    haproxy_bin: PathBuf,
    keep_dir: bool,
}

const USAGE: &str = "\
gate-bench: CXR Gate vs HAProxy vs direct, on 127.0.0.1 only

usage: gate-bench [--quick] [--rounds N] [--sessions N] [--rtt-messages N] [--stream-mib N] [--idle N]
                  [--app-requests N] [--only W,W…] [--keep]

  --quick            short smoke run (1 round: 50 set-ups, 500 round trips, 16 MiB stream, 100 idle)
  --rounds N         rounds of the timed workloads, interleaved across the three targets (default 3)
  --sessions N       session set-ups to time per round (default 500)
  --rtt-messages N   round trips per message size per round (default 10000)
  --stream-mib N     MiB streamed each way per round in each throughput run (default 256)
  --idle N           concurrent idle sessions for the memory row (default 1000)
  --app-requests N   /app/ requests per round, CXR Gate only (default 20000)
  --only W,W…        run only these workloads: setup, rtt, stream, frames, raw, idle, app, lookup
  --keep             keep the work directory (configs, certificate, logs)

binaries: CXR_GATE_PROXY_BIN (default: next to this executable, i.e. target/release/cxr-gate-proxy;
build it with `cargo build --release -p cxr-gate-core`), ECHO_SERVER_BIN (default: next to this
executable), HAPROXY_BIN (default /usr/sbin/haproxy).";

impl Opts {
    fn runs(&self, workload: &str) -> bool {
        self.only.as_ref().is_none_or(|l| l.iter().any(|w| w == workload))
    }
}

fn parse_opts() -> Result<Opts> {
    let here = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target/release"));
    let bin = |env: &str, name: &str| std::env::var_os(env).map(PathBuf::from).unwrap_or_else(|| here.join(name));
    let mut o = Opts {
        quick: false,
        sessions: 500,
        rtt_messages: 10_000,
        stream_bytes: 256 * MIB,
        idle_sessions: 1000,
        rounds: 3,
        app_requests: 20_000,
        only: None,
        proxy_bin: bin("CXR_GATE_PROXY_BIN", "cxr-gate-proxy"),
        echo_bin: bin("ECHO_SERVER_BIN", "echo-server"),
        haproxy_bin: std::env::var_os("HAPROXY_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/sbin/haproxy")),
        keep_dir: false,
    };
    let mut args = std::env::args().skip(1);
    let num = |v: Option<String>, flag: &str| -> Result<usize> {
        let v = v.ok_or_else(|| anyhow!("{flag} needs a number"))?;
        match v.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => bail!("{flag} {v:?}: expected a whole number of at least 1"),
        }
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => {
                o.quick = true;
                o.sessions = 50;
                o.rtt_messages = 500;
                o.stream_bytes = 16 * MIB;
                o.idle_sessions = 100;
                o.rounds = 1;
                o.app_requests = 1000;
            }
            "--app-requests" => o.app_requests = num(args.next(), "--app-requests")?,
            "--only" => {
                let v = args.next().ok_or_else(|| anyhow!("--only needs a list of workloads"))?;
                let list: Vec<String> = v.split(',').map(|w| w.trim().to_string()).collect();
                if let Some(bad) = list.iter().find(|w| !WORKLOADS.contains(&w.as_str())) {
                    bail!("--only: {bad:?} is not a workload; choose from {}", WORKLOADS.join(", "));
                }
                o.only = Some(list);
            }
            "--sessions" => o.sessions = num(args.next(), "--sessions")?,
            "--rtt-messages" => o.rtt_messages = num(args.next(), "--rtt-messages")?,
            "--stream-mib" => o.stream_bytes = num(args.next(), "--stream-mib")? as u64 * MIB,
            "--idle" => o.idle_sessions = num(args.next(), "--idle")?,
            "--rounds" => o.rounds = num(args.next(), "--rounds")?,
            "--keep" => o.keep_dir = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n\n{USAGE}"),
        }
    }
    Ok(o)
}

// ---------------------------------------------------------------------------------------------
// Child processes

/// A spawned process that is killed (and reaped) when dropped, whatever happens.
struct Proc {
    name: &'static str,
    child: Child,
    log: Option<PathBuf>,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails (with the end of its log) if the process has exited.
    fn check_alive(&mut self) -> Result<()> {
        if let Some(st) = self.child.try_wait()? {
            bail!("{} exited early ({st}){}", self.name, self.log_tail());
        }
        Ok(())
    }

    fn log_tail(&self) -> String {
        let Some(p) = &self.log else {
            return String::new();
        };
        let text = std::fs::read_to_string(p).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        format!("\n--- last lines of {} ---\n{tail}", p.display())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_file(path: &Path) -> Result<(Stdio, Stdio)> {
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    Ok((Stdio::from(f.try_clone()?), Stdio::from(f)))
}

fn start_echo(opts: &Opts, work: &Path) -> Result<(Proc, SocketAddr)> {
    if !opts.echo_bin.exists() {
        bail!(
            "{} not found: build it with `cargo build --release -p cxr-gate-tests --bin echo-server` \
             (or set ECHO_SERVER_BIN)",
            opts.echo_bin.display()
        );
    }
    let log = work.join("echo-server.log");
    let (_, err) = log_file(&log)?;
    let mut child = Command::new(&opts.echo_bin)
        .args(["--listen", "127.0.0.1:0", "--stdin-lifetime"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(err)
        .spawn()
        .with_context(|| format!("starting {}", opts.echo_bin.display()))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut proc = Proc { name: "echo-server", child, log: Some(log) };
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).context("reading echo-server's address")?;
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| anyhow!("echo-server said {line:?}{}", proc.log_tail()))?;
    proc.check_alive()?;
    Ok((proc, addr))
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind((LOOPBACK, 0))?.local_addr()?.port())
}

fn start_gate(opts: &Opts, work: &Path, echo: SocketAddr, max_conn: usize) -> Result<(Proc, SocketAddr)> {
    if !opts.proxy_bin.exists() {
        bail!(
            "{} not found: build it first with `cargo build --release -p cxr-gate-core` \
             (or set CXR_GATE_PROXY_BIN)",
            opts.proxy_bin.display()
        );
    }
    let data = work.join("gate-data");
    std::fs::create_dir_all(&data)?;
    // The web app for the /app/ row: an index and many small files, as a built web client has.
    let app = work.join("app");
    std::fs::create_dir_all(&app)?;
    std::fs::write(app.join("index.html"), "<!doctype html><title>bench</title>")?;
    for i in 0..APP_FILES {
        std::fs::write(app.join(format!("f{i:03}.js")), vec![b'x'; 1024])?;
    }
    let port = free_port()?;
    let log = work.join("cxr-gate-proxy.log");
    let (out, err) = log_file(&log)?;
    let child = Command::new(&opts.proxy_bin)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--backend")
        .arg(echo.to_string())
        .arg("--data-dir")
        .arg(&data)
        .args(["--health-interval", "2s", "--rise", "2", "--fall", "3"])
        .arg("--max-connections")
        .arg(max_conn.to_string())
        .arg("--web-root")
        .arg(&app)
        // The container's variables must not leak in from the caller's environment.
        .env_remove("BACKEND_HOST")
        .env_remove("BACKEND_PORT")
        .env_remove("PROXY_PORT")
        .env_remove("CERT_HOSTNAMES")
        .env_remove("ALLOWED_BACKENDS")
        .env_remove("DATA_DIR")
        .env_remove("WEB_ROOT")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("starting {}", opts.proxy_bin.display()))?;
    Ok((Proc { name: "cxr-gate-proxy", child, log: Some(log) }, SocketAddr::new(LOOPBACK, port)))
}

/// The HAProxy config of NVIDIA's `Dockerfile.wss.proxy`, with loopback addresses, the same
/// certificate as CXR Gate, `nbthread 2` and a `maxconn` that fits the idle-session row.
fn haproxy_config(port: u16, pem: &Path, echo: SocketAddr, maxconn: usize) -> String {
    format!(
        r#"global
    log stdout local0 info
    stats timeout 30s
    maxconn {maxconn}
    nbthread 2
    ca-base /etc/ssl/certs
    crt-base /etc/ssl/private
    ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384
    ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256
    ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets

defaults
    log global
    option httplog
    option dontlognull
    option logasap
    maxconn {maxconn}
    timeout connect 5s
    timeout client 3600s
    timeout server 3600s
    timeout tunnel 3600s

frontend websocket_frontend
    log global
    bind 127.0.0.1:{port} ssl crt {pem}
    mode http
    capture request header Host len 32
    capture request header Upgrade len 32
    capture request header Connection len 32
    http-response set-header Access-Control-Allow-Origin "*"
    http-response set-header Access-Control-Allow-Headers "*"
    http-response set-header Access-Control-Allow-Methods "GET, POST, PUT, DELETE, OPTIONS"
    http-response set-header Access-Control-Expose-Headers "*"
    http-request return status 200 content-type "text/plain" string "OK" if METH_OPTIONS
    default_backend websocket_backend

backend websocket_backend
    log global
    mode http
    server local_websocket {echo} check inter 2s rise 2 fall 3 on-marked-down shutdown-sessions
"#,
        pem = pem.display()
    )
}

fn start_haproxy(
    opts: &Opts,
    work: &Path,
    gate_data: &Path,
    echo: SocketAddr,
    maxconn: usize,
) -> Result<(Proc, SocketAddr)> {
    if !opts.haproxy_bin.exists() {
        bail!(
            "{} not found: install it with `apt-get install haproxy` (or set HAPROXY_BIN)",
            opts.haproxy_bin.display()
        );
    }
    // HAProxy's `crt` takes one combined PEM: the same certificate and key CXR Gate serves.
    let cert = std::fs::read(gate_data.join("cert.pem")).context("reading CXR Gate's cert.pem")?;
    let key = std::fs::read(gate_data.join("key.pem")).context("reading CXR Gate's key.pem")?;
    let pem = work.join("haproxy-server.pem");
    let mut combined = cert;
    if !combined.ends_with(b"\n") {
        combined.push(b'\n');
    }
    combined.extend_from_slice(&key);
    std::fs::write(&pem, combined)?;
    let port = free_port()?;
    let cfg = work.join("haproxy.cfg");
    std::fs::write(&cfg, haproxy_config(port, &pem, echo, maxconn))?;
    let check = Command::new(&opts.haproxy_bin).arg("-c").arg("-f").arg(&cfg).output().context("running haproxy -c")?;
    if !check.status.success() {
        bail!(
            "haproxy rejected {}:\n{}{}",
            cfg.display(),
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
    }
    let log = work.join("haproxy.log");
    let (out, err) = log_file(&log)?;
    let child = Command::new(&opts.haproxy_bin)
        .arg("-f")
        .arg(&cfg)
        .arg("-db")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .with_context(|| format!("starting {}", opts.haproxy_bin.display()))?;
    Ok((Proc { name: "haproxy", child, log: Some(log) }, SocketAddr::new(LOOPBACK, port)))
}

fn command_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
            s.push_str(&String::from_utf8_lossy(&o.stderr));
            s.lines().next().unwrap_or("").trim().to_string()
        })
        .unwrap_or_else(|| format!("({cmd} not available)"))
}

// ---------------------------------------------------------------------------------------------
// /proc readings (Linux)

fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// utime + stime of the process, in seconds.
fn cpu_secs(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 (state) is f[0]; utime is field 14, stime field 15.
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / clock_ticks() as f64)
}

fn clock_ticks() -> i64 {
    #[cfg(unix)]
    {
        // SAFETY: sysconf has no preconditions.
        let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if t > 0 {
            return t;
        }
    }
    100
}

fn machine_info(opts: &Opts) -> Vec<(String, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown".into());
    let nproc = std::thread::available_parallelism().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().find_map(|l| l.strip_prefix("MemTotal:")).map(|v| v.trim().to_string()))
        .unwrap_or_default();
    vec![
        ("CPU".into(), format!("{model} ({nproc} logical CPUs available)")),
        ("memory".into(), mem),
        ("kernel".into(), command_line("uname", &["-srm"])),
        (
            "load average (1/5/15 min) at the end".into(),
            std::fs::read_to_string("/proc/loadavg")
                .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
                .unwrap_or_default(),
        ),
        ("haproxy".into(), command_line(&opts.haproxy_bin.to_string_lossy(), &["-v"])),
        ("cxr-gate-proxy".into(), command_line(&opts.proxy_bin.to_string_lossy(), &["--version"])),
    ]
}

// ---------------------------------------------------------------------------------------------
// TLS: trust exactly the certificate CXR Gate generated (HAProxy serves the same one).

#[derive(Debug)]
struct PinnedCert {
    der: Vec<u8>,
    provider: Arc<CryptoProvider>,
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
const PINNED_SUITE: &str = "TLS13_AES_128_GCM_SHA256";
const PINNED_GROUP: &str = "X25519";

fn tls_connector(cert_pem: &Path) -> Result<TlsConnector> {
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

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type Ws = WebSocketStream<Box<dyn Io>>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gate,
    Haproxy,
    Direct,
}

struct Target {
    kind: Kind,
    addr: SocketAddr,
    tls: Option<TlsConnector>,
    /// The proxy process (None for direct).
    pid: Option<u32>,
    /// Every (suite, key exchange) a session negotiated, to show both proxies were measured alike.
    negotiated: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl Target {
    fn label(&self) -> &'static str {
        match self.kind {
            Kind::Gate => "CXR Gate",
            Kind::Haproxy => "HAProxy",
            Kind::Direct => "direct",
        }
    }
}

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().max_message_size(Some(64 << 20)).max_frame_size(Some(64 << 20))
}

/// TCP connect, TLS handshake (for the proxies), WebSocket upgrade; returns once the 101 is in.
async fn open(t: &Target, path: &str) -> Result<Ws> {
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

async fn close(mut ws: Ws) {
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = ws.close(None).await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

/// Waits until a full session works: the listener is up and the backend is marked UP.
async fn wait_ready(t: &Target, proc: &mut Option<&mut Proc>) -> Result<()> {
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
struct Summary {
    p50: Duration,
    p99: Duration,
}

fn summarize(mut v: Vec<Duration>) -> Summary {
    v.sort_unstable();
    let n = v.len();
    let at = |q: usize| v[((n * q) / 100).min(n - 1)];
    Summary { p50: at(50), p99: at(99) }
}

async fn bench_setup(t: &Target, n: usize) -> Result<Vec<Duration>> {
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

async fn round_trip(ws: &mut Ws, payload: &Bytes) -> Result<()> {
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

async fn bench_rtt(t: &Target, size: usize, n: usize) -> Result<Vec<Duration>> {
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

struct Throughput {
    mib_per_s: f64,
    /// The proxy's CPU seconds (user + system) during the run.
    cpu_secs: Option<f64>,
    /// GB (10^9 bytes) through the proxy, up + down.
    gb: f64,
}

/// One session streaming `total` bytes up in `size`-byte binary messages while the echoes are read.
async fn bench_throughput(t: &Target, total: u64, size: usize) -> Result<Throughput> {
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
async fn bench_raw(t: &Target, total: u64) -> Result<Throughput> {
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

fn throughput(total: u64, elapsed: Duration, cpu0: Option<f64>, cpu1: Option<f64>) -> Throughput {
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
async fn bench_app(t: &Target, n: usize) -> Result<App> {
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
fn bench_lookup(app: &Path, data: &Path, n: usize) -> Result<(f64, f64)> {
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

struct App {
    per_s: f64,
    /// The proxy's CPU time (user + system) per request, µs.
    cpu_us: Option<f64>,
}

struct Idle {
    rss_before_kib: u64,
    rss_after_kib: u64,
    per_session_kib: f64,
}

async fn bench_idle(t: &Target, n: usize, pid: u32) -> Result<Idle> {
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

// ---------------------------------------------------------------------------------------------
// Report

#[derive(Default)]
struct Col {
    setup: Vec<Duration>,
    rtt_small: Vec<Duration>,
    rtt_large: Vec<Duration>,
    throughput: Vec<Throughput>,
    small_frames: Vec<Throughput>,
    raw: Vec<Throughput>,
    /// `/app/` requests, per round.
    app: Vec<App>,
    /// The lookup alone, µs: roots made per request, and once; per round.
    lookup: Vec<(f64, f64)>,
    idle: Option<Idle>,
}

impl Col {
    fn summary(v: &[Duration]) -> Option<Summary> {
        (!v.is_empty()).then(|| summarize(v.to_vec()))
    }

    /// The median round's throughput.
    fn mib_per_s(runs: &[Throughput]) -> Option<f64> {
        let mut v: Vec<f64> = runs.iter().map(|t| t.mib_per_s).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    }

    /// All rounds' CPU seconds over all rounds' GB.
    fn cpu_per_gb(runs: &[Throughput]) -> Option<f64> {
        let cpu: Option<f64> = runs.iter().map(|t| t.cpu_secs).sum();
        let gb: f64 = runs.iter().map(|t| t.gb).sum();
        cpu.filter(|_| gb > 0.0).map(|c| c / gb)
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

struct Row {
    name: String,
    values: [Option<f64>; 3],
    decimals: usize,
}

fn rows(cols: &[Col; 3], opts: &Opts) -> Vec<Row> {
    let pick = |f: &dyn Fn(&Col) -> Option<f64>| [f(&cols[0]), f(&cols[1]), f(&cols[2])];
    let mut out = Vec::new();
    let mut row = |name: String, decimals: usize, f: &dyn Fn(&Col) -> Option<f64>| {
        out.push(Row { name, values: pick(f), decimals })
    };
    let n_setup = cols[0].setup.len();
    let n_rtt = cols[0].rtt_small.len();
    row(format!("session set-up p50, ms (n={n_setup})"), 3, &|c| Col::summary(&c.setup).map(|s| ms(s.p50)));
    row(format!("session set-up p99, ms (n={n_setup})"), 3, &|c| Col::summary(&c.setup).map(|s| ms(s.p99)));
    row(format!("round trip 64 B p50, µs (n={n_rtt})"), 1, &|c| Col::summary(&c.rtt_small).map(|s| us(s.p50)));
    row(format!("round trip 64 B p99, µs (n={n_rtt})"), 1, &|c| Col::summary(&c.rtt_small).map(|s| us(s.p99)));
    row(format!("round trip 16 KiB p50, µs (n={n_rtt})"), 1, &|c| Col::summary(&c.rtt_large).map(|s| us(s.p50)));
    row(format!("round trip 16 KiB p99, µs (n={n_rtt})"), 1, &|c| Col::summary(&c.rtt_large).map(|s| us(s.p99)));
    row(
        format!(
            "echo throughput, MiB/s each way (median of {} × {} MiB in 1 MiB messages)",
            opts.rounds,
            opts.stream_bytes / MIB
        ),
        1,
        &|c| Col::mib_per_s(&c.throughput),
    );
    let mib = opts.stream_bytes / MIB;
    row(
        format!("echo throughput, MiB/s each way (median of {} × {mib} MiB in 1 KiB messages)", opts.rounds),
        1,
        &|c| Col::mib_per_s(&c.small_frames),
    );
    row(
        format!("echo throughput, MiB/s each way (median of {} × {mib} MiB of raw bytes, not frames)", opts.rounds),
        1,
        &|c| Col::mib_per_s(&c.raw),
    );
    row("proxy CPU seconds per GB tunnelled (up + down), 1 MiB messages".into(), 2, &|c| {
        Col::cpu_per_gb(&c.throughput)
    });
    row("proxy CPU seconds per GB tunnelled, 1 KiB messages".into(), 2, &|c| Col::cpu_per_gb(&c.small_frames));
    row("proxy CPU seconds per GB tunnelled, raw bytes".into(), 2, &|c| Col::cpu_per_gb(&c.raw));
    row("proxy RSS before, MiB".into(), 1, &|c| c.idle.as_ref().map(|i| i.rss_before_kib as f64 / 1024.0));
    row(format!("proxy RSS with {} idle sessions, MiB", opts.idle_sessions), 1, &|c| {
        c.idle.as_ref().map(|i| i.rss_after_kib as f64 / 1024.0)
    });
    row("memory per idle session, KiB".into(), 1, &|c| c.idle.as_ref().map(|i| i.per_session_kib));
    row(
        format!(
            "/app/ requests per second, {APP_FILES} files of 1 KiB, {APP_CONNECTIONS} keep-alive connections (median of {} × {})",
            opts.rounds, opts.app_requests
        ),
        0,
        &|c| median(c.app.iter().map(|a| a.per_s).collect()),
    );
    row("proxy CPU µs per /app/ request (median of the rounds)".into(), 1, &|c| {
        median(c.app.iter().filter_map(|a| a.cpu_us).collect())
    });
    row("/app/ file lookup, µs each, web root canonicalised per request (as before)".into(), 2, &|c| {
        median(c.lookup.iter().map(|l| l.0).collect())
    });
    row("/app/ file lookup, µs each, web root canonicalised once per configuration".into(), 2, &|c| {
        median(c.lookup.iter().map(|l| l.1).collect())
    });
    // Workloads left out by --only show no row.
    out.retain(|r| r.values.iter().any(Option::is_some));
    out
}

fn table(rows: &[Row]) -> String {
    let fmt = |v: Option<f64>, d: usize| match v {
        Some(x) => format!("{x:.d$}"),
        None => "—".into(),
    };
    let mut s = String::new();
    let _ = writeln!(s, "| workload | CXR Gate | HAProxy | direct | CXR Gate / HAProxy |");
    let _ = writeln!(s, "|---|---:|---:|---:|---:|");
    for r in rows {
        let ratio = match (r.values[0], r.values[1]) {
            (Some(a), Some(b)) if b.abs() > f64::EPSILON => format!("{:.2}", a / b),
            _ => "—".into(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            r.name,
            fmt(r.values[0], r.decimals),
            fmt(r.values[1], r.decimals),
            fmt(r.values[2], r.decimals),
            ratio
        );
    }
    s
}

// ---------------------------------------------------------------------------------------------

fn step(msg: &str) {
    eprintln!("[gate-bench] {msg}");
}

async fn run(opts: &Opts, work: &Path) -> Result<()> {
    // 1000 idle sessions need ~2000 descriptors in the proxy and 1000 here (the proxies inherit it).
    let fd_limit = cxr_gate_tests::sys::raise_fd_limit();
    let need = (opts.idle_sessions as u64) * 2 + 256;
    if let Some(lim) = fd_limit {
        if lim < need {
            bail!(
                "the open-file limit is {lim}; {} idle sessions need about {need}: raise it \
                 (`ulimit -n {need}`) or pass a smaller --idle",
                opts.idle_sessions
            );
        }
    }
    let maxconn = (opts.idle_sessions * 2 + 1000).max(4096);
    // The machine may be shared: the load before the run says how quiet it was.
    let load_at_start = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();

    step("starting the echo backend");
    let (mut echo, echo_addr) = start_echo(opts, work)?;
    step(&format!("echo backend on {echo_addr} (pid {})", echo.pid()));

    step("starting cxr-gate-proxy");
    let (mut gate, gate_addr) = start_gate(opts, work, echo_addr, maxconn)?;
    let gate_data = work.join("gate-data");
    let cert = gate_data.join("cert.pem");
    let deadline = Instant::now() + READY_TIMEOUT;
    while !(cert.exists() && gate_data.join("key.pem").exists()) {
        gate.check_alive()?;
        if Instant::now() > deadline {
            bail!("no cert.pem in {} after {READY_TIMEOUT:?}{}", gate_data.display(), gate.log_tail());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give the writer a moment to finish the files before reading them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let tls = tls_connector(&cert)?;
    let gate_t = Target {
        kind: Kind::Gate,
        addr: gate_addr,
        tls: Some(tls.clone()),
        pid: Some(gate.pid()),
        negotiated: Default::default(),
    };
    wait_ready(&gate_t, &mut Some(&mut gate)).await?;
    step(&format!("CXR Gate ready on wss://{gate_addr} (pid {})", gate.pid()));

    step("starting haproxy with the container's configuration");
    let (mut haproxy, haproxy_addr) = start_haproxy(opts, work, &gate_data, echo_addr, maxconn)?;
    let haproxy_pid = haproxy.pid();
    let haproxy_t = Target {
        kind: Kind::Haproxy,
        addr: haproxy_addr,
        tls: Some(tls),
        pid: Some(haproxy_pid),
        negotiated: Default::default(),
    };
    wait_ready(&haproxy_t, &mut Some(&mut haproxy)).await?;
    step(&format!("HAProxy ready on wss://{haproxy_addr} (pid {haproxy_pid})"));

    let direct_t = Target { kind: Kind::Direct, addr: echo_addr, tls: None, pid: None, negotiated: Default::default() };
    wait_ready(&direct_t, &mut Some(&mut echo)).await?;

    let targets = [&gate_t, &haproxy_t, &direct_t];
    let mut cols: [Col; 3] = Default::default();

    // Each workload runs against all three before the next workload starts, and the timed ones
    // repeat in rounds, so slow drifts of the machine affect the three alike.
    for round in 1..=opts.rounds {
        let r = format!("round {round}/{}", opts.rounds);
        let mib = opts.stream_bytes / MIB;
        for (i, t) in targets.iter().enumerate().filter(|_| opts.runs("setup")) {
            step(&format!("{r} {}: {} session set-ups", t.label(), opts.sessions));
            cols[i].setup.extend(bench_setup(t, opts.sessions).await?);
        }
        for (i, t) in targets.iter().enumerate().filter(|_| opts.runs("rtt")) {
            step(&format!("{r} {}: {} round trips of 64 B", t.label(), opts.rtt_messages));
            cols[i].rtt_small.extend(bench_rtt(t, 64, opts.rtt_messages).await?);
            step(&format!("{r} {}: {} round trips of 16 KiB", t.label(), opts.rtt_messages));
            cols[i].rtt_large.extend(bench_rtt(t, 16 << 10, opts.rtt_messages).await?);
        }
        for (i, t) in targets.iter().enumerate().filter(|_| opts.runs("stream")) {
            step(&format!("{r} {}: streaming {mib} MiB each way", t.label()));
            cols[i].throughput.push(bench_throughput(t, opts.stream_bytes, STREAM_MESSAGE).await?);
        }
        for (i, t) in targets.iter().enumerate().filter(|_| opts.runs("frames")) {
            step(&format!("{r} {}: streaming {mib} MiB each way in 1 KiB messages", t.label()));
            cols[i].small_frames.push(bench_throughput(t, opts.stream_bytes, SMALL_MESSAGE).await?);
        }
        for (i, t) in targets.iter().enumerate().filter(|_| opts.runs("raw")) {
            step(&format!("{r} {}: streaming {mib} MiB each way of raw bytes", t.label()));
            cols[i].raw.push(bench_raw(t, opts.stream_bytes).await?);
        }
        if opts.runs("lookup") {
            step(&format!("{r} /app/ lookups in this process, {} each way", opts.app_requests));
            cols[0].lookup.push(bench_lookup(&work.join("app"), &work.join("gate-data"), opts.app_requests)?);
        }
        if opts.runs("app") {
            step(&format!("{r} CXR Gate: {} /app/ requests", opts.app_requests));
            cols[0].app.push(bench_app(&gate_t, opts.app_requests).await?);
        }
    }
    for (i, t) in targets.iter().enumerate().filter(|_| opts.runs("idle")) {
        let Some(pid) = t.pid else { continue };
        step(&format!("{}: {} concurrent idle sessions", t.label(), opts.idle_sessions));
        cols[i].idle = Some(bench_idle(t, opts.idle_sessions, pid).await?);
    }
    gate.check_alive()?;
    haproxy.check_alive()?;
    echo.check_alive()?;

    println!();
    println!(
        "## gate-bench{} — loopback, one client process, echo backend in its own process",
        if opts.quick { " --quick" } else { "" }
    );
    println!();
    for (k, v) in machine_info(opts) {
        println!("- {k}: {v}");
    }
    println!(
        "- load average (1/5/15 min) at the start: {}",
        load_at_start.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    if let Some(l) = fd_limit {
        println!("- open-file limit: {l}");
    }
    println!();
    let negotiated =
        |t: &Target| t.negotiated.lock().map(|n| n.iter().cloned().collect::<Vec<_>>().join(" / ")).unwrap_or_default();
    let (gate_tls, haproxy_tls) = (negotiated(&gate_t), negotiated(&haproxy_t));
    let pinned = format!("{PINNED_SUITE} with {PINNED_GROUP}");
    print!("{}", table(&rows(&cols, opts)));
    println!(
        "| TLS negotiated by every session (client offers only {pinned}) | {gate_tls} | {haproxy_tls} | no TLS | — |"
    );
    println!();
    if gate_tls != pinned || haproxy_tls != pinned {
        bail!("the proxies negotiated {gate_tls:?} and {haproxy_tls:?}, not only {pinned:?}: the comparison is not like for like");
    }
    println!(
        "Lower is better except throughput. Set-up is TCP + TLS (full handshake, no resumption) + \
         WebSocket upgrade until the 101; direct has no TLS. Both proxies serve the same certificate."
    );
    drop(haproxy);
    drop(gate);
    drop(echo);
    Ok(())
}

fn main() {
    let opts = match parse_opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("gate-bench: {e:#}");
            std::process::exit(2);
        }
    };
    let work = std::env::temp_dir().join(format!("cxr-gate-bench-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&work) {
        eprintln!("gate-bench: creating {}: {e}", work.display());
        std::process::exit(1);
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let result = rt.block_on(run(&opts, &work));
    drop(rt);
    match result {
        Ok(()) => {
            if opts.keep_dir {
                eprintln!("[gate-bench] work directory kept: {}", work.display());
            } else {
                let _ = std::fs::remove_dir_all(&work);
            }
        }
        Err(e) => {
            eprintln!("gate-bench: {e:#}");
            eprintln!("[gate-bench] logs and configs kept in {}", work.display());
            std::process::exit(1);
        }
    }
}
