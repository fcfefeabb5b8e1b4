//! The headless binary's self-probe (`cxr-gate-proxy --check-health [--ready]`): one HTTPS
//! `GET /health` to the gate's own listener on this host, for a container's HEALTHCHECK in an image
//! that has no curl. Owns the choice of address to dial, the TLS client for it, reading the answer,
//! and the one-line verdict the binary prints.
//!
//! Liveness (`--check-health`): the listener completes a TLS handshake and answers `/health`.
//! Readiness (`--ready`): it asks `/health?ready=1`, which is `503` unless the CloudXR Runtime is UP.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Largest answer read; `/health` is a few hundred bytes.
const MAX_ANSWER: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: SocketAddr, source: io::Error },
    #[error("TLS with {addr} failed: {source}")]
    Tls { addr: SocketAddr, source: io::Error },
    #[error("no complete answer from {addr} within {} ms", .within.as_millis())]
    Timeout { addr: SocketAddr, within: Duration },
    #[error("unexpected answer from {addr}: {what}")]
    Answer { addr: SocketAddr, what: String },
}

/// What `/health` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The address dialled.
    pub addr: SocketAddr,
    /// HTTP status: 200, or 503 for `?ready=1` while the runtime is not UP.
    pub status: u16,
    /// `up`, `down` or `unknown`.
    pub state: String,
    pub backend: String,
    pub active_sessions: usize,
    pub last_error: Option<String>,
}

#[derive(Deserialize)]
struct HealthBody {
    state: String,
    backend: String,
    #[serde(default)]
    active_sessions: usize,
    #[serde(default)]
    last_error: Option<String>,
}

/// Where the gate listening on `listen` answers on this host: loopback of the same family when it
/// listens on every interface, else the address it listens on.
pub fn target(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), listen.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), listen.port()),
        _ => listen,
    }
}

/// Accepts whatever certificate the gate serves, while still checking that the handshake is signed
/// by that certificate's key.
///
/// Why not verify it: the probe only dials the gate's own listen address on this host (loopback
/// unless the gate listens on one specific address), sends nothing secret and only reads a status.
/// Pinning the served certificate would add ways to fail a healthy gate (a certificate regenerated
/// for a new LAN IP or renewed by cert-manager between reading it and dialling; a data directory
/// the probe cannot read) while protecting nothing: whoever could answer on this host's loopback in
/// the gate's place already controls the host. Kubernetes' own HTTPS probes skip verification too.
#[derive(Debug)]
struct OwnListener(Arc<CryptoProvider>);

impl ServerCertVerifier for OwnListener {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn client_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(OwnListener(provider)))
        .with_no_client_auth())
}

/// Asks the gate listening on `listen` for `/health` (`/health?ready=1` when `ready`), all within `within`.
pub async fn check(listen: SocketAddr, ready: bool, within: Duration) -> Result<Report, ProbeError> {
    let addr = target(listen);
    match tokio::time::timeout(within, ask(addr, ready)).await {
        Ok(r) => r,
        Err(_) => Err(ProbeError::Timeout { addr, within }),
    }
}

async fn ask(addr: SocketAddr, ready: bool) -> Result<Report, ProbeError> {
    let tls_err = |source: io::Error| ProbeError::Tls { addr, source };
    let tcp = TcpStream::connect(addr).await.map_err(|source| ProbeError::Connect { addr, source })?;
    let config = client_config().map_err(|e| tls_err(io::Error::other(e)))?;
    let name = ServerName::IpAddress(addr.ip().into());
    let mut tls = TlsConnector::from(Arc::new(config)).connect(name, tcp).await.map_err(tls_err)?;
    let path = if ready { "/health?ready=1" } else { "/health" };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: cxr-gate-proxy/{} check-health\r\nConnection: close\r\n\r\n",
        crate::VERSION
    );
    tls.write_all(request.as_bytes()).await.map_err(tls_err)?;
    tls.flush().await.map_err(tls_err)?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tls.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.len() > MAX_ANSWER {
                    return Err(ProbeError::Answer { addr, what: format!("more than {MAX_ANSWER} bytes") });
                }
            }
            // A peer that closes without close_notify after a complete answer is fine here.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !answer.is_empty() => break,
            Err(e) => return Err(tls_err(e)),
        }
    }
    parse_answer(addr, &answer)
}

/// Parses an HTTP/1.1 answer to `GET /health` (a `Content-Length` body, as the gate sends it).
pub fn parse_answer(addr: SocketAddr, answer: &[u8]) -> Result<Report, ProbeError> {
    let bad = |what: String| ProbeError::Answer { addr, what };
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad(format!("no end of the HTTP head in {} bytes", answer.len())))?;
    let head = String::from_utf8_lossy(&answer[..split]);
    let status_line = head.lines().next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| bad(format!("status line {status_line:?}")))?;
    if status != 200 && status != 503 {
        return Err(bad(format!("HTTP {status} for /health")));
    }
    let body: HealthBody = serde_json::from_slice(&answer[split + 4..])
        .map_err(|e| bad(format!("the /health body is not the expected JSON: {e}")))?;
    Ok(Report {
        addr,
        status,
        state: body.state,
        backend: body.backend,
        active_sessions: body.active_sessions,
        last_error: body.last_error,
    })
}

/// The verdict: healthy or not, and one line saying why.
pub fn verdict(result: &Result<Report, ProbeError>, ready: bool) -> (bool, String) {
    let r = match result {
        Ok(r) => r,
        Err(e) => return (false, format!("unhealthy: {e}")),
    };
    let sessions = match r.active_sessions {
        1 => "1 session".to_string(),
        n => format!("{n} sessions"),
    };
    let runtime = match (&r.last_error, r.state.as_str()) {
        (Some(why), "down") => format!("runtime {} is down ({why})", r.backend),
        (_, state) => format!("runtime {} is {state}", r.backend),
    };
    match (ready, r.status) {
        (false, _) => (true, format!("ok: {} answers; {runtime}, {sessions}", r.addr)),
        (true, 200) => (true, format!("ready: {runtime}, {sessions}")),
        (true, _) => (false, format!("not ready: {runtime}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        "127.0.0.1:48322".parse().unwrap()
    }

    #[test]
    fn every_interface_means_loopback_of_the_same_family() {
        let t = |s: &str| target(s.parse().unwrap()).to_string();
        assert_eq!(t("0.0.0.0:48322"), "127.0.0.1:48322");
        assert_eq!(t("[::]:9443"), "[::1]:9443");
        assert_eq!(t("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(t("[::1]:5000"), "[::1]:5000");
    }

    #[test]
    fn answers_are_parsed_and_judged() {
        let body = r#"{"state":"down","backend":"127.0.0.1:49100","since_ms":1,"active_sessions":0,"version":"x","last_error":"connection refused"}"#;
        let answer = |status: &str| {
            format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
        };
        let ok = parse_answer(addr(), answer("200 OK").as_bytes());
        assert_eq!(ok.as_ref().map(|r| (r.status, r.state.as_str())).ok(), Some((200, "down")));
        assert_eq!(
            verdict(&ok, false),
            (
                true,
                "ok: 127.0.0.1:48322 answers; runtime 127.0.0.1:49100 is down (connection refused), 0 sessions".into()
            )
        );
        let unready = parse_answer(addr(), answer("503 Service Unavailable").as_bytes());
        assert_eq!(
            verdict(&unready, true),
            (false, "not ready: runtime 127.0.0.1:49100 is down (connection refused)".into())
        );

        let up = r#"{"state":"up","backend":"localhost:49100","active_sessions":1,"last_error":null}"#;
        let up = parse_answer(addr(), format!("HTTP/1.1 200 OK\r\n\r\n{up}").as_bytes());
        assert_eq!(verdict(&up, true), (true, "ready: runtime localhost:49100 is up, 1 session".into()));
    }

    #[test]
    fn anything_else_is_unhealthy_with_a_reason() {
        for (answer, want) in [
            ("", "no end of the HTTP head"),
            ("HTTP/1.1 404 Not Found\r\n\r\n<html>", "HTTP 404 for /health"),
            ("SSH-2.0-OpenSSH\r\n\r\n", "status line \"SSH-2.0-OpenSSH\""),
            ("HTTP/1.1 200 OK\r\n\r\n{\"nope\":1}", "not the expected JSON"),
        ] {
            let r = parse_answer(addr(), answer.as_bytes());
            let (healthy, line) = verdict(&r, false);
            assert!(!healthy, "{answer:?}");
            assert!(line.starts_with("unhealthy: unexpected answer from 127.0.0.1:48322: "), "{line}");
            assert!(line.contains(want), "{line}");
        }
    }
}
