//! The engine's entry point: wires config → listener, cert manager, health checker, LAN watcher →
//! one `Status` on a watch channel. The headless binary and the desktop shell are thin callers.

use std::future::Future;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError, MEDIA_PORTS};
use crate::connector::{Connector, TcpConnector};
use crate::health::Health;
use crate::net::{lan, ports, LanSource, SystemLan};
use crate::proxy::listener::Listener;
use crate::proxy::sessions::Sessions;
use crate::proxy::Shared;
use crate::status::{
    now_ms, CertInfo, LanInterface, ListenerState, ListenerStatus, LogLevel, PortChecks, PortState, Status, StatusHub,
};
use crate::status_log;
use crate::tls::CertManager;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("certificate: {0}")]
    Cert(#[from] crate::tls::TlsError),
    #[error("the gateway has shut down")]
    Stopped,
    #[error("the certificate work stopped: {0}")]
    Blocking(String),
}

/// Runs certificate work (the data dir's lock, file I/O, key generation) off the async workers.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, GatewayError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| GatewayError::Blocking(e.to_string()))
}

/// While the port is taken by someone else, binding is retried this often.
const LISTEN_RETRY: Duration = Duration::from_secs(2);

/// The parts a gateway talks to the outside world through; tests swap them for scripted ones.
#[derive(Clone)]
pub struct Parts {
    /// Every backend connection and health check.
    pub connector: Arc<dyn Connector>,
    /// The LAN interface list (certificate SANs, the headset links).
    pub lan: Arc<dyn LanSource>,
}

impl Default for Parts {
    fn default() -> Self {
        Parts { connector: Arc::new(TcpConnector), lan: Arc::new(SystemLan) }
    }
}

struct Inner {
    shared: Arc<Shared>,
    listener: tokio::sync::Mutex<Option<Listener>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// One `apply_config` at a time: each compares with the config the previous one left.
    applying: tokio::sync::Mutex<()>,
    shutdown: CancellationToken,
}

/// A running gateway. Dropping it without [`Gateway::shutdown`] stops it too, less gracefully.
pub struct Gateway {
    inner: Arc<Inner>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.inner.shutdown.cancel();
    }
}

fn initial_status(cfg: &Config) -> Status {
    Status {
        version: crate::VERSION.to_string(),
        started_ms: now_ms(),
        listener: ListenerStatus {
            state: ListenerState::Starting,
            addr: cfg.listen.to_string(),
            port: cfg.listen.port(),
            error: None,
        },
        ports: PortChecks {
            signaling_port: cfg.backend.port,
            media_first: *MEDIA_PORTS.start(),
            media_last: *MEDIA_PORTS.end(),
            proxy_port: cfg.listen.port(),
            ..Default::default()
        },
        ..Default::default()
    }
}

impl Gateway {
    /// Validates `config` and starts everything. A listener that cannot bind, or a certificate that
    /// cannot be loaded, is not an error here: it shows in `status()` (the desktop app keeps running
    /// and says why); see [`Gateway::listen_error`].
    pub async fn start(config: Config) -> Result<Gateway, GatewayError> {
        Self::start_with(config, Arc::new(TcpConnector)).await
    }

    /// As [`Gateway::start`], with the connector used for every backend connection and health check.
    pub async fn start_with(config: Config, connector: Arc<dyn Connector>) -> Result<Gateway, GatewayError> {
        Self::start_parts(config, Parts { connector, ..Parts::default() }).await
    }

    /// As [`Gateway::start`], with every outside-world part given.
    pub async fn start_parts(config: Config, parts: Parts) -> Result<Gateway, GatewayError> {
        let Parts { connector, lan: lan_source } = parts;
        config.validate()?;
        let hub = StatusHub::new(initial_status(&config));
        let shutdown = CancellationToken::new();
        let ls = lan_source.clone();
        let ifaces = tokio::task::spawn_blocking(move || ls.scan()).await.unwrap_or_default();
        hub.update(|s| s.lan = ifaces.clone());

        let certs =
            Arc::new(CertManager::new(&config.data_dir, config.custom_cert.clone(), config.cert_hostnames.clone()));
        let (c, h, i) = (certs.clone(), hub.clone(), ifaces.clone());
        blocking(move || refresh_cert(&c, &h, &i)).await?;
        let tls = crate::tls::server_config(certs.resolver())?;

        let health = Health::new(
            hub.clone(),
            connector.clone(),
            config.backend.clone(),
            config.health.clone(),
            shutdown.child_token(),
        );
        let sessions = Sessions::new(hub.clone(), shutdown.child_token());
        let shared = Arc::new(Shared {
            conn_limit: crate::proxy::limit::Limiter::new(config.max_connections),
            netcheck: Default::default(),
            headsets: Default::default(),
            web_roots: Default::default(),
            config: ArcSwap::from_pointee(config),
            hub: hub.clone(),
            health,
            certs,
            sessions: sessions.clone(),
            connector,
            tls,
            shutdown: shutdown.clone(),
        });
        let inner = Arc::new(Inner {
            shared: shared.clone(),
            listener: tokio::sync::Mutex::new(None),
            tasks: Mutex::new(Vec::new()),
            applying: tokio::sync::Mutex::new(()),
            shutdown: shutdown.clone(),
        });
        let t1 = tokio::spawn(sessions.refresh_loop());
        let t0 = tokio::spawn(crate::proxy::headsets::publish_loop(
            shared.headsets.clone(),
            hub.clone(),
            shutdown.child_token(),
        ));
        crate::proxy::webapp::refresh(&shared);
        check_ports(&shared).await;
        let t2 = tokio::spawn(lan_watch(shared.clone(), lan_source, ifaces));
        let t3 = tokio::spawn(listen_retry(inner.clone()));
        inner.tasks.lock().unwrap_or_else(|p| p.into_inner()).extend([t0, t1, t2, t3]);
        bind_listener(&inner, false).await;
        Ok(Gateway { inner })
    }

    pub fn status(&self) -> watch::Receiver<Status> {
        self.inner.shared.hub.subscribe()
    }

    pub fn config(&self) -> Config {
        (**self.inner.shared.config.load()).clone()
    }

    /// Why the listener is not listening, if it is not.
    pub fn listen_error(&self) -> Option<String> {
        let st = self.inner.shared.hub.snapshot();
        match st.listener.state {
            ListenerState::Listening => None,
            _ => Some(st.listener.error.unwrap_or_else(|| "not listening".into())),
        }
    }

    /// The address actually bound (useful with port 0).
    pub async fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.inner.listener.lock().await.as_ref().map(|l| l.local_addr)
    }

    async fn bind_listener(&self) {
        bind_listener(&self.inner, false).await;
    }

    /// Applies a new config, restarting only what changed (listener, health checks, certificate).
    /// `data_dir` is fixed for the gateway's life.
    pub async fn apply_config(&self, config: Config) -> Result<(), GatewayError> {
        if self.inner.shutdown.is_cancelled() {
            return Err(GatewayError::Stopped);
        }
        config.validate()?;
        let _turn = self.inner.applying.lock().await;
        let shared = &self.inner.shared;
        let old = shared.config.load_full();
        let mut config = config;
        config.data_dir = old.data_dir.clone();
        shared.config.store(Arc::new(config.clone()));
        let mut changed = Vec::new();
        if old.max_connections != config.max_connections {
            shared.conn_limit.resize(config.max_connections);
            changed.push("connection limit");
        }
        if old.backend != config.backend || old.health != config.health {
            shared.health.reconfigure(config.backend.clone(), config.health.clone());
            shared.hub.update(|s| s.ports.signaling_port = config.backend.port);
            changed.push("health checks");
        }
        if old.cert_hostnames != config.cert_hostnames || old.custom_cert != config.custom_cert {
            let (certs, hub) = (shared.certs.clone(), shared.hub.clone());
            let (custom, names) = (config.custom_cert.clone(), config.cert_hostnames.clone());
            blocking(move || {
                certs.reconfigure(custom, names);
                refresh_cert(&certs, &hub, &hub.snapshot().lan);
            })
            .await?;
            changed.push("certificate");
        }
        if old.allowed_backends != config.allowed_backends {
            changed.push("allowed backends");
        }
        if old.web_root != config.web_root || old.app_query != config.app_query {
            crate::proxy::webapp::refresh(shared);
            changed.push("web app");
        }
        let relisten =
            old.listen != config.listen || (changed.contains(&"certificate") && self.listen_error().is_some());
        if relisten {
            self.bind_listener().await;
            changed.push("listener");
        }
        if !changed.is_empty() {
            status_log!(shared.hub, info, "settings applied: {} restarted", changed.join(", "));
        }
        Ok(())
    }

    /// Issues a new serving certificate now (from the same local CA) and swaps it in without
    /// dropping sessions.
    pub async fn regenerate_cert(&self) -> Result<CertInfo, GatewayError> {
        let shared = &self.inner.shared;
        let ips = lan::cert_ips(&shared.hub.snapshot().lan);
        let certs = shared.certs.clone();
        let info = blocking(move || certs.regenerate(&ips, "requested by the user")).await??;
        status_log!(
            shared.hub,
            warn,
            "new certificate {}: devices that installed the CA keep trusting it, others open the trust page again",
            info.fingerprint_sha256
        );
        self.after_new_cert(info).await
    }

    /// Replaces the local CA and the certificate it issued, without dropping sessions. Every device
    /// that installed the old CA must install the new one.
    pub async fn rotate_ca(&self) -> Result<CertInfo, GatewayError> {
        let shared = &self.inner.shared;
        let ips = lan::cert_ips(&shared.hub.snapshot().lan);
        let certs = shared.certs.clone();
        let info = blocking(move || certs.rotate_ca(&ips, "requested by the user")).await??;
        let ca = info.ca.as_ref().map(|c| c.fingerprint_sha256.clone()).unwrap_or_default();
        status_log!(shared.hub, warn, "new local CA {ca}: every device must install it again (/ca.crt)");
        self.after_new_cert(info).await
    }

    async fn after_new_cert(&self, info: CertInfo) -> Result<CertInfo, GatewayError> {
        let shared = &self.inner.shared;
        shared.hub.update(|s| {
            s.cert = Some(info.clone());
            s.cert_error = None;
            s.ca_lost = false;
        });
        if self.listen_error().is_some() {
            self.bind_listener().await;
        }
        Ok(info)
    }

    /// Serves one client connection given as a byte stream: the fuzz harness's way in (no TCP, no
    /// TLS; tests/fuzzing). Not an interface for anything else.
    #[doc(hidden)]
    pub async fn serve_stream<S>(&self, io: S, peer: std::net::SocketAddr, local: std::net::SocketAddr)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let slot = crate::proxy::ConnSlot::default();
        let handshake = crate::headsets::Handshake::default();
        crate::proxy::http::serve(self.inner.shared.clone(), io, peer, local, handshake, slot).await;
    }

    /// Closes and re-binds the listener (tray "Restart proxy"); open tunnels stay up.
    pub async fn restart_listener(&self) {
        status_log!(self.inner.shared.hub, info, "restarting the listener");
        self.bind_listener().await;
    }

    /// Stops accepting, closes every tunnel (reason "shutdown") and waits briefly for them to finish.
    pub async fn shutdown(self) {
        let inner = self.inner.clone();
        drop(self);
        let shared = &inner.shared;
        if let Some(l) = inner.listener.lock().await.take() {
            l.close().await;
        }
        inner.shutdown.cancel();
        let deadline = Instant::now() + Duration::from_secs(3);
        while shared.sessions.count() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        shared.health.stop();
        let tasks = std::mem::take(&mut *inner.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for t in tasks {
            t.abort();
        }
        shared.hub.update(|s| {
            s.listener.state = ListenerState::Stopped;
            s.ports.proxy = PortState::Closed;
        });
        status_log!(shared.hub, info, "gateway stopped");
    }
}

/// (Re)binds the listener and publishes the outcome. A `retry` that fails the same way as before
/// stays quiet, so a port held for hours does not flood the log.
async fn bind_listener(inner: &Inner, retry: bool) {
    let shared = &inner.shared;
    let mut slot = inner.listener.lock().await;
    if retry && slot.is_some() {
        return;
    }
    if let Some(old) = slot.take() {
        old.close().await;
    }
    let addr = shared.config.load().listen;
    let before = shared.hub.snapshot().listener.error;
    let (state, error) = if shared.certs.info().is_none() {
        let why = shared.hub.snapshot().cert_error.unwrap_or_else(|| "no certificate".into());
        (ListenerState::Failed, Some(format!("no usable certificate: {why}")))
    } else {
        match Listener::bind(shared.clone(), addr).await {
            Ok(l) => {
                status_log!(shared.hub, info, "listening on {} (wss:// and https://)", l.local_addr);
                *slot = Some(l);
                (ListenerState::Listening, None)
            }
            Err(e) => {
                let why = ports::describe_bind_error(addr, &e);
                if !retry || before.as_ref() != Some(&why) {
                    status_log!(
                        shared.hub,
                        error,
                        "cannot listen on {addr}: {why} (retrying every {}s)",
                        LISTEN_RETRY.as_secs()
                    );
                }
                (ListenerState::Failed, Some(why))
            }
        }
    };
    let bound = slot.as_ref().map(|l| l.local_addr);
    shared.hub.update(|s| {
        s.listener = ListenerStatus {
            state,
            addr: bound.unwrap_or(addr).to_string(),
            port: bound.map(|b| b.port()).unwrap_or(addr.port()),
            error: error.clone(),
        };
        s.ports.proxy_port = s.listener.port;
        s.ports.proxy = if state == ListenerState::Listening { PortState::Open } else { PortState::Closed };
        s.ports.proxy_error = error;
    });
}

/// A port taken by another program (or a certificate not loadable yet) is retried until it
/// works, so freeing the port is enough: no restart, no click.
async fn listen_retry(inner: Arc<Inner>) {
    loop {
        tokio::select! {
            _ = inner.shutdown.cancelled() => return,
            _ = tokio::time::sleep(LISTEN_RETRY) => {}
        }
        if inner.shared.hub.snapshot().listener.state == ListenerState::Failed {
            bind_listener(&inner, true).await;
        }
    }
}

/// Loads or renews the certificate for the current LAN IPs and publishes the result. Runs at every
/// LAN scan, so damaged files and a renewed or broken custom certificate are noticed within one.
/// The certificate manager reports states (in its info) and events; what the user hears, and hears
/// once, is decided here by comparing with what the status already says.
fn refresh_cert(certs: &CertManager, hub: &StatusHub, ifaces: &[LanInterface]) {
    let ips: Vec<Ipv4Addr> = lan::cert_ips(ifaces);
    let shown = hub.snapshot();
    match certs.ensure(&ips) {
        Ok(info) => {
            let before = shown.cert.as_ref();
            if before.map(|b| &b.fingerprint_sha256) != Some(&info.fingerprint_sha256) {
                // The tls module traces a new certificate; the status log is what the window shows.
                if let Some(notice) = &info.notice {
                    hub.log(LogLevel::Warn, notice.clone());
                }
                if let Some(reason) = &info.regenerated_reason {
                    hub.log(
                        LogLevel::Warn,
                        format!("new certificate ({reason}); fingerprint {}", info.fingerprint_sha256),
                    );
                }
            }
            if !info.missing.is_empty() && before.map(|b| &b.missing) != Some(&info.missing) {
                status_log!(
                    hub,
                    warn,
                    "the certificate does not cover {}: headsets connecting there will reject it",
                    info.missing.join(", ")
                );
            }
            if !info.outside_ca.is_empty() && before.map(|b| &b.outside_ca) != Some(&info.outside_ca) {
                status_log!(
                    hub,
                    warn,
                    "the local CA may not sign for {} (outside its name constraints): make a new CA to include them, \
                     then install it on every device",
                    info.outside_ca.join(", ")
                );
            }
            if let Some(why) = info.unsaved.as_ref().filter(|w| before.and_then(|b| b.unsaved.as_ref()) != Some(w)) {
                status_log!(hub, error, "{why}");
            }
            let damaged = |c: &CertInfo| c.ca.as_ref().and_then(|ca| ca.damaged.clone());
            if let Some(why) = damaged(&info).filter(|w| before.and_then(damaged).as_ref() != Some(w)) {
                if info.unsaved.as_ref() != Some(&why) {
                    status_log!(hub, warn, "the local CA's files: {why}");
                }
            }
            hub.update(|s| {
                s.cert = Some(info);
                s.cert_error = None;
                s.ca_lost = false;
            });
        }
        Err(e) => {
            let lost = matches!(e, crate::tls::TlsError::CaLost { .. });
            let msg = e.to_string();
            if shown.cert_error.as_ref() != Some(&msg) {
                let keep = if certs.info().is_some() { "; still serving the last good certificate" } else { "" };
                status_log!(hub, error, "certificate problem: {msg}{keep}");
            }
            hub.update(|s| {
                s.cert = certs.info();
                s.cert_error = Some(msg);
                s.ca_lost = lost;
            });
        }
    }
    for event in certs.take_events() {
        match event {
            crate::tls::CertEvent::Repaired(what) => status_log!(hub, warn, "{what}"),
        }
    }
}

async fn check_ports(shared: &Shared) {
    let bound = tokio::task::spawn_blocking(|| ports::udp_ports_bound(MEDIA_PORTS)).await.unwrap_or(0);
    shared.hub.update(|s| {
        if s.ports.media_bound != bound || s.ports.checked_ms == 0 {
            s.ports.media_bound = bound;
            s.ports.checked_ms = now_ms();
        }
    });
}

/// Re-scans interfaces and ports, and checks the certificate (new LAN IPs, expiry, damaged files).
async fn lan_watch(shared: Arc<Shared>, source: Arc<dyn LanSource>, mut last: Vec<LanInterface>) {
    loop {
        let every = shared.config.load().lan_scan_interval;
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let src = source.clone();
        let now = tokio::task::spawn_blocking(move || src.scan()).await.unwrap_or_default();
        let lan_changed = now != last;
        if lan_changed {
            let ips: Vec<String> = now.iter().map(|i| format!("{} ({})", i.ip, i.name)).collect();
            status_log!(
                shared.hub,
                info,
                "LAN addresses changed: {}",
                if ips.is_empty() { "none".into() } else { ips.join(", ") }
            );
            shared.hub.update(|s| s.lan = now.clone());
            last = now;
        }
        let (certs, hub, ifaces) = (shared.certs.clone(), shared.hub.clone(), last.clone());
        // File reads, and key generation when the LAN changed: off the async workers.
        let _ = tokio::task::spawn_blocking(move || refresh_cert(&certs, &hub, &ifaces)).await;
        // A web app folder deleted (or restored) while running shows in the status without a request.
        crate::proxy::webapp::refresh(&shared);
        check_ports(&shared).await;
    }
}

/// rathole-style: run until `shutdown` resolves.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), GatewayError> {
    let gw = Gateway::start(config).await?;
    shutdown.await;
    gw.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests;
