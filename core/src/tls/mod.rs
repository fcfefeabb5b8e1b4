//! TLS for the gateway listener: the rustls server configuration (ring provider, TLS 1.2 and 1.3,
//! ALPN `http/1.1`) and the certificate manager, which keeps a local CA and the serving certificate
//! it issues in the data dir (or serves a user-supplied one) and hot-swaps it into running listeners.
//! `cert` is certificate material, `ca` the local CA, `policy` when to (re)issue, `store` the files,
//! `lock` the data dir's lock, `manager` the state that ties them together, `resolver` the hot swap.

mod ca;
mod cert;
mod error;
mod lock;
mod manager;
mod policy;
mod resolver;
mod store;

use std::path::Path;
use std::sync::Arc;

use rustls::server::ResolvesServerCert;
use rustls::ServerConfig;

pub use error::TlsError;
pub use manager::{CertEvent, CertManager};
/// The data dir's secret and state file names, which `/app/` never serves.
pub(crate) use store::{CA_KEY_COPY_FILE, CA_KEY_FILE, KEY_FILE, STATE_FILE};

use crate::config::CustomCert;
use crate::status::CertInfo;

/// rustls ServerConfig: ring provider chosen explicitly (rustls::crypto::ring::default_provider(),
/// never the process default), protocol versions TLS 1.2 + TLS 1.3 only, the provider's default
/// cipher suites, ALPN exactly ["http/1.1"], no TLS 1.2 session tickets (no ticketer), cert chosen
/// by `resolver` (so a new cert can be hot-swapped).
pub fn server_config(resolver: Arc<dyn ResolvesServerCert>) -> Result<Arc<ServerConfig>, TlsError> {
    // Explicit provider: the process default may be unset, or another crate's choice.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    // WebSocket upgrades are HTTP/1.1 only; a client offering only h2 is refused during the handshake.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // Every suite on offer is AEAD with ECDHE; choosing from our order (AES-GCM first, where
    // headsets have hardware AES) rather than the client's makes the choice ours to audit.
    config.ignore_client_order = true;
    // The builder's ticketer never issues tickets (TLS 1.2 resumption stays stateful, via the
    // session cache); no ticketer keeps a ticket key to rotate or leak.
    debug_assert!(!config.ticketer.enabled());
    Ok(Arc::new(config))
}

/// Check a user-chosen certificate before applying it (used by the desktop's file dialog): parses,
/// checks key/cert match, returns its info (origin Custom). Error says what is wrong with which file.
pub fn inspect_custom(cert: &Path, key: Option<&Path>) -> Result<CertInfo, TlsError> {
    let custom = CustomCert { cert: cert.to_path_buf(), key: key.map(Path::to_path_buf) };
    manager::inspect_custom(&custom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    use rustls::pki_types::ServerName;
    use rustls::{ClientConfig, RootCertStore};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio_rustls::client::TlsStream;
    use tokio_rustls::{TlsAcceptor, TlsConnector};

    fn client(
        trusted_der: &[u8],
        versions: &[&'static rustls::SupportedProtocolVersion],
        alpn: &[&[u8]],
    ) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        roots.add(trusted_der.to_vec().into()).unwrap();
        let mut cfg = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        TlsConnector::from(Arc::new(cfg))
    }

    /// A loopback TLS echo server on the given config; returns its port.
    async fn echo_server(config: Arc<ServerConfig>) -> u16 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = TlsAcceptor::from(config);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = [0u8; 64];
                    while let Ok(n) = tls.read(&mut buf).await {
                        if n == 0 || tls.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        port
    }

    async fn connect(connector: &TlsConnector, port: u16, name: &str) -> std::io::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await?;
        let name = ServerName::try_from(name.to_string()).unwrap();
        connector.connect(name, tcp).await
    }

    async fn echo(tls: &mut TlsStream<TcpStream>, msg: &[u8]) -> Vec<u8> {
        tls.write_all(msg).await.unwrap();
        let mut buf = vec![0u8; msg.len()];
        tls.read_exact(&mut buf).await.unwrap();
        buf
    }

    fn peer_leaf(tls: &TlsStream<TcpStream>) -> Vec<u8> {
        tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
    }

    #[test]
    fn server_config_settings() {
        let dir = tempfile::tempdir().unwrap();
        let mgr = CertManager::new(dir.path(), None, vec![]);
        let cfg = server_config(mgr.resolver()).unwrap();
        assert_eq!(cfg.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(!cfg.ticketer.enabled(), "no TLS 1.2 session tickets");
        let ring = rustls::crypto::ring::default_provider();
        let suites =
            |p: &rustls::crypto::CryptoProvider| -> Vec<_> { p.cipher_suites.iter().map(|s| s.suite()).collect() };
        assert_eq!(suites(cfg.crypto_provider()), suites(&ring));
        // Protocol versions are private fields; their Debug text is the only view.
        let dbg = format!("{cfg:?}");
        assert!(dbg.contains("TLSv1_2") && dbg.contains("TLSv1_3"), "{dbg}");
    }

    #[tokio::test]
    async fn loopback_handshake_and_hot_swap() {
        let dir = tempfile::tempdir().unwrap();
        let mgr = CertManager::new(dir.path(), None, vec![]);
        let first = mgr.ensure(&[Ipv4Addr::new(192, 168, 1, 20)]).unwrap();
        let first_der = mgr.cert_der().unwrap();
        let ca_der = mgr.ca_der().unwrap();
        let port = echo_server(server_config(mgr.resolver()).unwrap()).await;

        // Trusting only the local CA: TLS 1.3 and 1.2 both work; the SANs 127.0.0.1, localhost and
        // the LAN IP verify (the name is only checked, nothing is sent there); ALPN is http/1.1.
        let tls13 = client(&ca_der, &[&rustls::version::TLS13], &[b"h2", b"http/1.1"]);
        let mut old = connect(&tls13, port, "127.0.0.1").await.unwrap();
        assert_eq!(old.get_ref().1.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
        assert_eq!(old.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
        assert_eq!(echo(&mut old, b"ping").await, b"ping");
        assert!(connect(&tls13, port, "192.168.1.20").await.is_ok());
        assert!(connect(&tls13, port, "192.168.1.21").await.is_err(), "not a SAN");

        let tls12 = client(&ca_der, &[&rustls::version::TLS12], &[]);
        let mut s12 = connect(&tls12, port, "localhost").await.unwrap();
        assert_eq!(s12.get_ref().1.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_2));
        assert_eq!(echo(&mut s12, b"v12").await, b"v12");

        // A client that only speaks h2 is refused (ALPN exactly http/1.1).
        let h2_only = client(&ca_der, &[&rustls::version::TLS13], &[b"h2"]);
        assert!(connect(&h2_only, port, "127.0.0.1").await.is_err());

        // Re-issued: the next handshake gets the new certificate, the open session keeps working,
        // and a client that trusts the CA trusts the new one without being told.
        let second = mgr.regenerate(&[], "test").unwrap();
        assert_ne!(first.fingerprint_sha256, second.fingerprint_sha256);
        let second_der = mgr.cert_der().unwrap();
        let fresh = client(&ca_der, &[&rustls::version::TLS13], &[]);
        let new = connect(&fresh, port, "127.0.0.1").await.unwrap();
        assert_eq!(peer_leaf(&new), second_der);
        assert_eq!(peer_leaf(&old), first_der);
        assert_eq!(echo(&mut old, b"still here").await, b"still here");

        // A new CA: clients that trusted the old one must install the new one.
        mgr.rotate_ca(&[], "test").unwrap();
        let stale = client(&ca_der, &[&rustls::version::TLS13], &[]);
        assert!(connect(&stale, port, "127.0.0.1").await.is_err());
        let rotated = client(&mgr.ca_der().unwrap(), &[&rustls::version::TLS13], &[]);
        assert!(connect(&rotated, port, "127.0.0.1").await.is_ok());
    }

    #[tokio::test]
    async fn no_certificate_yet_refuses_handshake() {
        let dir = tempfile::tempdir().unwrap();
        let mgr = CertManager::new(dir.path(), None, vec![]);
        let port = echo_server(server_config(mgr.resolver()).unwrap()).await;
        let other_dir = tempfile::tempdir().unwrap();
        let other = CertManager::new(other_dir.path(), None, vec![]);
        other.ensure(&[]).unwrap();
        let c = client(&other.ca_der().unwrap(), &[&rustls::version::TLS13], &[]);
        assert!(connect(&c, port, "127.0.0.1").await.is_err());
    }

    #[test]
    fn inspect_custom_reports_custom_origin() {
        let dir = tempfile::tempdir().unwrap();
        let mgr = CertManager::new(dir.path(), None, vec![]);
        let generated = mgr.ensure(&[]).unwrap();
        let info = inspect_custom(&dir.path().join("cert.pem"), Some(&dir.path().join("key.pem"))).unwrap();
        assert_eq!(info.origin, crate::status::CertOrigin::Custom);
        assert_eq!(info.fingerprint_sha256, generated.fingerprint_sha256);
        assert!(info.sans.contains(&"127.0.0.1".to_string()));
        let err = inspect_custom(&dir.path().join("key.pem"), None).unwrap_err();
        assert!(err.to_string().starts_with("no PEM certificate in"), "{err}");
    }
}
