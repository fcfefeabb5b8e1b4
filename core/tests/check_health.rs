//! `cxr-gate-proxy --check-health [--ready]` as a container health check runs it: against a real
//! gate binary on loopback whose runtime (a loopback echo server) is up, then stopped; and with no
//! gate at all. Also `/health?ready=1` itself: 200 while the runtime is UP, 503 otherwise.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cxr_gate_core::demo::EchoServer;

const BIN: &str = env!("CARGO_BIN_EXE_cxr-gate-proxy");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Runs `--check-health` the way a HEALTHCHECK does: the port from PROXY_PORT, no other flags.
fn check(port: u16, extra: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .arg("--check-health")
        .args(extra)
        .env("PROXY_PORT", port.to_string())
        .env_remove("BACKEND_HOST")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), stdout)
}

/// Polls `--check-health` until its line contains `want` (the health checker needs `rise` or `fall`
/// intervals to change state); fails with the last line after a generous bound.
fn check_until(port: u16, extra: &[&str], want: &str) -> (i32, String) {
    let started = Instant::now();
    loop {
        let (code, line) = check(port, extra);
        if line.contains(want) {
            return (code, line);
        }
        assert!(started.elapsed() < Duration::from_secs(30), "never saw {want:?}; last: {code} {line}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Gate(Child);

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_gate(port: u16, backend: &str, dir: &std::path::Path) -> Gate {
    let mut child = Command::new(BIN)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--backend", backend])
        .args(["--data-dir", dir.to_str().unwrap(), "--health-interval", "100ms", "--rise", "1", "--fall", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The banner comes once the listener is up.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("listening on") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(20)).expect("banner");
    Gate(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveness_and_readiness_follow_the_listener_and_the_runtime() {
    let echo = EchoServer::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let backend = echo.addr().to_string();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let gate = start_gate(port, &backend, dir.path());

    let (code, line) = check_until(port, &["--ready"], "ready: ");
    assert_eq!(code, 0, "{line}");
    assert_eq!(line.trim(), format!("ready: runtime {backend} is up, 0 sessions"));
    let (code, line) = check(port, &[]);
    assert_eq!(code, 0, "{line}");
    assert_eq!(line.trim(), format!("ok: 127.0.0.1:{port} answers; runtime {backend} is up, 0 sessions"));

    // The runtime goes away: still alive, no longer ready, and the reason is the runtime's.
    echo.stop().await;
    let (code, line) = check_until(port, &["--ready"], "not ready: ");
    assert_eq!(code, 1, "{line}");
    assert!(line.starts_with(&format!("not ready: runtime {backend} is down (")), "{line}");
    let (code, line) = check(port, &[]);
    assert_eq!(code, 0, "{line}");
    assert!(line.contains(&format!("runtime {backend} is down")), "{line}");

    // The gate goes away: neither alive nor ready.
    drop(gate);
    for extra in [&[][..], &["--ready"][..]] {
        let (code, line) = check(port, extra);
        assert_eq!(code, 1, "{line}");
        assert!(line.starts_with(&format!("unhealthy: cannot connect to 127.0.0.1:{port}: ")), "{line}");
    }
}

#[test]
fn a_listener_that_is_not_a_gate_is_unhealthy() {
    // Accepts TCP and closes: no TLS handshake.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            drop(s);
        }
    });
    let (code, line) = check(port, &[]);
    assert_eq!(code, 1, "{line}");
    assert!(line.starts_with(&format!("unhealthy: TLS with 127.0.0.1:{port} failed: ")), "{line}");
}

#[test]
fn a_bad_setting_is_unhealthy_with_exit_1_not_2() {
    let out = Command::new(BIN).arg("--check-health").env("PROXY_PORT", "none").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "unhealthy: cxr-gate-proxy: invalid PROXY_PORT \"none\": expected a TCP port from 1 to 65535"
    );
}

#[test]
fn ready_needs_check_health() {
    let out = Command::new(BIN).arg("--ready").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--check-health"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_ready_1_is_503_unless_the_runtime_is_up() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // Nothing listens on the backend port: the runtime is DOWN after one failed check.
    let _gate = start_gate(port, &format!("127.0.0.1:{}", free_port()), dir.path());
    let (_, line) = check_until(port, &[], "is down");
    assert!(line.starts_with("ok: "), "{line}");
    let answer = raw_get(port, dir.path(), "/health?ready=1").await;
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(answer.contains("\"state\": \"down\""), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("access-control-allow-origin: *"), "{answer}");
    let answer = raw_get(port, dir.path(), "/health").await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
}

/// `GET path` over TLS to the gate, trusting only its generated certificate (from its data dir).
async fn raw_get(port: u16, dir: &std::path::Path, path: &str) -> String {
    use rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(dir.join("cert.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = ServerName::IpAddress(std::net::IpAddr::from([127, 0, 0, 1]).into());
    let mut s = tokio_rustls::TlsConnector::from(Arc::new(cfg)).connect(name, tcp).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}
