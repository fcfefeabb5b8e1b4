//! The TCP listener: accepts, enforces the connection limit (a reset beyond it), answers plain HTTP
//! with a 400 that says "use https://", and completes the TLS handshake within one deadline before
//! handing over to hyper.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::io::{drain_and_answer, sniff, FirstBytes};
use super::pages::PLAIN_HTTP_BODY;
use super::response::canned_response;
use super::{ConnSlot, Shared};

pub struct Listener {
    pub local_addr: SocketAddr,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Listener {
    /// Binds `addr` and starts accepting. The error is the raw bind error (the caller words it).
    pub async fn bind(shared: Arc<Shared>, addr: SocketAddr) -> std::io::Result<Listener> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let cancel = shared.shutdown.child_token();
        let task = tokio::spawn(accept_loop(shared, listener, cancel.clone()));
        Ok(Listener { local_addr, cancel, task })
    }

    /// Stops accepting; connections already accepted go on.
    pub async fn close(self) {
        self.cancel.cancel();
        let _ = self.task.await;
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, cancel: CancellationToken) {
    loop {
        let (tcp, peer) = tokio::select! {
            _ = cancel.cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        match shared.conn_limit.try_take() {
            Some(permit) => {
                tokio::spawn(handle(shared.clone(), tcp, peer, ConnSlot::new(permit)));
            }
            None => refuse(tcp, peer),
        }
    }
}

/// Over the limit, every connection gets the same answer: a TCP reset at once. No TLS handshake,
/// no task, no buffer: a flood costs the gateway nothing it has to bound separately.
fn refuse(tcp: TcpStream, peer: SocketAddr) {
    tracing::debug!("connection limit reached: resetting {peer}");
    // SO_LINGER 0 turns the close into an RST; it cannot block, as nothing was written.
    let _ = tcp.set_zero_linger();
    drop(tcp);
}

/// `slot` is the connection's place under the limit, held for as long as any part of it lives.
async fn handle(shared: Arc<Shared>, tcp: TcpStream, peer: SocketAddr, slot: ConnSlot) {
    let cfg = shared.config.load_full();
    // One deadline for the whole handshake, the first-byte peek included.
    let deadline = tokio::time::Instant::now() + cfg.timeouts.tls_handshake;
    let local = match tcp.local_addr() {
        Ok(a) => a,
        Err(_) => return,
    };
    match tokio::time::timeout_at(deadline, sniff(&tcp)).await {
        Ok(Ok(FirstBytes::Tls)) => {}
        Ok(Ok(FirstBytes::PlainHttp)) => {
            tracing::debug!("plain HTTP from {peer} on the TLS port");
            shared.headsets.plain_http(peer, local);
            drain_and_answer(tcp, &canned_response("400 Bad Request", PLAIN_HTTP_BODY)).await;
            return;
        }
        _ => return,
    }
    let acceptor = TlsAcceptor::from(shared.tls.clone());
    let tls = match tokio::time::timeout_at(deadline, acceptor.accept(tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            // "certificate unknown" here usually means a LAN client reached an IP missing from the SANs.
            tracing::debug!("TLS handshake with {peer} failed: {e}");
            match handshake_failure(&e) {
                Some(Failure::Refused(alert)) => shared.headsets.tls_refused(peer, local, &alert),
                Some(Failure::Other(why)) => shared.headsets.tls_failed(peer, local, &why),
                None => {}
            }
            return;
        }
        Err(_) => {
            tracing::debug!("TLS handshake with {peer} timed out");
            return;
        }
    };
    // The certificate this connection's handshake was made with: its requests speak for it alone.
    let fingerprint = shared.certs.fingerprint();
    let handshake = shared.headsets.tls_trusted(peer, local, fingerprint.as_deref());
    super::http::serve(shared, tls, peer, local, handshake, slot).await;
}

/// Why a handshake failed, for the headset book.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    /// The client refused the certificate, with this alert (`certificate_unknown`…).
    Refused(String),
    Other(String),
}

/// The alert a client sends when it does not accept the certificate says so; a client that just
/// hung up mid-handshake (a browser's spare pre-connection, a port check) is no failure.
fn handshake_failure(e: &std::io::Error) -> Option<Failure> {
    use rustls::AlertDescription as A;
    let tls = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(rustls::Error::AlertReceived(alert)) => {
            let name = alert_name(*alert);
            Some(match alert {
                A::BadCertificate
                | A::UnsupportedCertificate
                | A::CertificateRevoked
                | A::CertificateExpired
                | A::CertificateUnknown
                | A::UnknownCA
                | A::AccessDenied => Failure::Refused(name),
                _ => Failure::Other(format!("alert {name}")),
            })
        }
        Some(other) => Some(Failure::Other(other.to_string())),
        None => match e.kind() {
            std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe => None,
            _ => Some(Failure::Other(e.to_string())),
        },
    }
}

/// `CertificateUnknown` → `certificate_unknown`, `UnknownCA` → `unknown_ca`: the RFC 8446 names.
fn alert_name(alert: rustls::AlertDescription) -> String {
    let debug = format!("{alert:?}");
    let mut out = String::with_capacity(debug.len() + 4);
    let mut prev_lower = false;
    for c in debug.chars() {
        if c.is_ascii_uppercase() && prev_lower {
            out.push('_');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::AlertDescription as A;

    fn io(e: rustls::Error) -> std::io::Error {
        // What tokio-rustls returns for a TLS error.
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }

    #[test]
    fn certificate_alerts_are_refusals_and_hang_ups_nothing() {
        for (alert, name) in [
            (A::CertificateUnknown, "certificate_unknown"),
            (A::BadCertificate, "bad_certificate"),
            (A::UnknownCA, "unknown_ca"),
        ] {
            assert_eq!(
                handshake_failure(&io(rustls::Error::AlertReceived(alert))),
                Some(Failure::Refused(name.into()))
            );
        }
        assert_eq!(
            handshake_failure(&io(rustls::Error::AlertReceived(A::ProtocolVersion))),
            Some(Failure::Other("alert protocol_version".into()))
        );
        assert_eq!(handshake_failure(&std::io::Error::from(std::io::ErrorKind::UnexpectedEof)), None);
    }
}
