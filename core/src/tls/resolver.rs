//! The certificate resolver the TLS listener uses: it hands every new handshake whatever certificate
//! is current, so a regenerated or reloaded certificate applies at once without a listener restart,
//! while sessions already established keep the one they were made with.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

#[derive(Debug, Default)]
pub(crate) struct SwapResolver {
    current: ArcSwapOption<CertifiedKey>,
}

impl SwapResolver {
    /// New handshakes get `key` from now on.
    pub(crate) fn store(&self, key: Arc<CertifiedKey>) {
        self.current.store(Some(key));
    }
}

impl ResolvesServerCert for SwapResolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let key = self.current.load_full();
        if key.is_none() {
            // rustls aborts the handshake; say why instead of leaving a bare alert.
            tracing::warn!("TLS handshake refused: no certificate is loaded yet");
        }
        key
    }
}
