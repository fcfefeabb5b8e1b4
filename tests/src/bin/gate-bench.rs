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

// The parts, beside this file (a bin root looks for modules in src/bin/, where each file is a binary).
#[path = "gate-bench/clients.rs"]
mod clients;
#[path = "gate-bench/procs.rs"]
mod procs;
#[path = "gate-bench/report.rs"]
mod report;

use clients::*;
use procs::*;
use report::*;

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
