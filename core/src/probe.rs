//! The headless binary's self-probe (`cxr-gate-proxy --check-health [--ready]`): one HTTPS
//! `GET /health` (hyper's HTTP/1.1 client) to the gate's own listener on this host, for a
//! container's HEALTHCHECK in an image that has no curl. Owns the choice of address to dial, the
//! TLS client for it, reading the answer, and the one-line verdict the binary prints.
//!
//! Liveness (`--check-health`): the listener completes a TLS handshake and answers `/health`.
//! Readiness (`--ready`): it asks `/health?ready=1`, which is `503` unless the CloudXR Runtime is UP.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::{header, Request};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite};
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
    let tls = TlsConnector::from(Arc::new(config)).connect(name, tcp).await.map_err(tls_err)?;
    let path = if ready { "/health?ready=1" } else { "/health" };
    exchange(tls, addr, path).await
}

/// One `GET path` over `io` with hyper's HTTP/1.1 client, and the answer read into a [`Report`].
/// Generic over the stream so the answers a gate should never give can be tested without TLS.
async fn exchange<S>(io: S, addr: SocketAddr, path: &str) -> Result<Report, ProbeError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let bad = |what: String| ProbeError::Answer { addr, what };
    // hyper's errors say what was wrong with the answer; a TLS or socket failure underneath is Tls.
    let http_err = |e: hyper::Error| match std::error::Error::source(&e).and_then(|s| s.downcast_ref::<io::Error>()) {
        Some(io_err) => ProbeError::Tls { addr, source: io::Error::new(io_err.kind(), io_err.to_string()) },
        None => bad(format!("not an HTTP/1.1 answer to GET {path}: {e}")),
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await.map_err(http_err)?;
    // The connection task ends with the answer (Connection: close) or when dropped below.
    let conn = tokio::spawn(conn);
    let request = Request::get(path)
        .header(header::HOST, addr.to_string())
        .header(header::USER_AGENT, format!("cxr-gate-proxy/{} check-health", crate::VERSION))
        .header(header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| bad(format!("cannot build the request: {e}")))?;
    let result = async {
        let answer = sender.send_request(request).await.map_err(http_err)?;
        let status = answer.status().as_u16();
        let body = Limited::new(answer.into_body(), MAX_ANSWER).collect().await.map_err(|e| {
            match e.downcast::<hyper::Error>() {
                Ok(e) => http_err(*e),
                Err(_) => bad(format!("more than {MAX_ANSWER} bytes")),
            }
        })?;
        parse_answer(addr, status, &body.to_bytes())
    }
    .await;
    conn.abort();
    result
}

/// Judges the answer to `GET /health`: its status and its JSON body, as the gate sends them.
fn parse_answer(addr: SocketAddr, status: u16, body: &[u8]) -> Result<Report, ProbeError> {
    let bad = |what: String| ProbeError::Answer { addr, what };
    if status != 200 && status != 503 {
        return Err(bad(format!("HTTP {status} for /health")));
    }
    let body: HealthBody =
        serde_json::from_slice(body).map_err(|e| bad(format!("the /health body is not the expected JSON: {e}")))?;
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

    /// Runs the probe's exchange against a peer that reads the request and then writes `answer`
    /// and closes; returns the result and the request head the peer read.
    async fn answered_with(answer: Vec<u8>) -> (Result<Report, ProbeError>, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, mut server) = tokio::io::duplex(256 * 1024);
        let peer = tokio::spawn(async move {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match server.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = server.write_all(&answer).await;
            let _ = server.shutdown().await;
            String::from_utf8_lossy(&head).into_owned()
        });
        let result = exchange(client, addr(), "/health").await;
        (result, peer.await.unwrap_or_default())
    }

    fn http(status: &str, body: &str) -> Vec<u8> {
        format!("HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len())
            .into_bytes()
    }

    #[tokio::test]
    async fn answers_are_parsed_and_judged() {
        let body = r#"{"state":"down","backend":"127.0.0.1:49100","since_ms":1,"active_sessions":0,"version":"x","last_error":"connection refused"}"#;
        let (ok, request) = answered_with(http("200 OK", body)).await;
        let request = request.to_ascii_lowercase();
        assert!(request.starts_with("get /health http/1.1\r\n"), "{request}");
        assert!(request.contains("\r\nhost: 127.0.0.1:48322\r\n"), "{request}");
        assert!(request.contains(&format!("user-agent: cxr-gate-proxy/{} check-health", crate::VERSION)), "{request}");
        assert_eq!(ok.as_ref().map(|r| (r.status, r.state.as_str())).ok(), Some((200, "down")));
        assert_eq!(
            verdict(&ok, false),
            (
                true,
                "ok: 127.0.0.1:48322 answers; runtime 127.0.0.1:49100 is down (connection refused), 0 sessions".into()
            )
        );
        let (unready, _) = answered_with(http("503 Service Unavailable", body)).await;
        assert_eq!(
            verdict(&unready, true),
            (false, "not ready: runtime 127.0.0.1:49100 is down (connection refused)".into())
        );

        // No Content-Length: the body ends with the connection.
        let up = r#"{"state":"up","backend":"localhost:49100","active_sessions":1,"last_error":null}"#;
        let (up, _) = answered_with(format!("HTTP/1.1 200 OK\r\n\r\n{up}").into_bytes()).await;
        assert_eq!(verdict(&up, true), (true, "ready: runtime localhost:49100 is up, 1 session".into()));
    }

    #[tokio::test]
    async fn anything_else_is_unhealthy_with_a_reason() {
        let huge = format!("{{\"state\":\"up\",\"backend\":\"{}\"}}", "x".repeat(MAX_ANSWER));
        for (answer, want) in [
            (Vec::new(), "not an HTTP/1.1 answer to GET /health"),
            (http("404 Not Found", "<html>"), "HTTP 404 for /health"),
            (b"SSH-2.0-OpenSSH\r\n\r\n".to_vec(), "not an HTTP/1.1 answer to GET /health"),
            (http("200 OK", r#"{"nope":1}"#), "not the expected JSON"),
            (http("200 OK", &huge), "more than 65536 bytes"),
        ] {
            let shown = String::from_utf8_lossy(&answer[..answer.len().min(40)]).into_owned();
            let (r, _) = answered_with(answer).await;
            let (healthy, line) = verdict(&r, false);
            assert!(!healthy, "{shown:?}");
            assert!(line.starts_with("unhealthy: unexpected answer from 127.0.0.1:48322: "), "{line}");
            assert!(line.contains(want), "{shown:?}: {line}");
        }
    }
}
