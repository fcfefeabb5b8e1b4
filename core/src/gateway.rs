//! The engine's entry point: wires config → listener, cert manager, health checker, LAN watcher →
//! one `Status` on a watch channel. The headless binary and the desktop shell are thin callers.

use std::future::Future;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError, MEDIA_PORTS};
use crate::connector::{Connector, TcpConnector};
use crate::health::Health;
use crate::net::{lan, ports};
use crate::proxy::listener::Listener;
use crate::proxy::sessions::Sessions;
use crate::proxy::Shared;
use crate::status::{
    now_ms, CertInfo, LanInterface, ListenerState, ListenerStatus, PortChecks, PortState, Status, StatusHub,
};
use crate::status_log;
use crate::tls::CertManager;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("certificate: {0}")]
    Cert(String),
    #[error("the gateway has shut down")]
    Stopped,
}

/// Connections over `max_connections` that still get a quick 503 instead of a reset.
const OVERFLOW_ANSWERS: usize = 64;
/// Even without a LAN change, the certificate's expiry is re-checked this often.
const CERT_RECHECK: Duration = Duration::from_secs(3600);

struct Inner {
    shared: Arc<Shared>,
    listener: tokio::sync::Mutex<Option<Listener>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
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
        config.validate()?;
        let hub = StatusHub::new(initial_status(&config));
        let shutdown = CancellationToken::new();
        let ifaces = lan::scan();
        hub.update(|s| s.lan = ifaces.clone());

        let certs =
            Arc::new(CertManager::new(&config.data_dir, config.custom_cert.clone(), config.cert_hostnames.clone()));
        refresh_cert(&certs, &hub, &ifaces);
        let tls = crate::tls::server_config(certs.resolver()).map_err(|e| GatewayError::Cert(e.to_string()))?;

        let health = Health::new(
            hub.clone(),
            connector.clone(),
            config.backend.clone(),
            config.health.clone(),
            shutdown.child_token(),
        );
        let sessions = Sessions::new(hub.clone(), shutdown.child_token());
        let shared = Arc::new(Shared {
            conn_limit: ArcSwap::from_pointee(Semaphore::new(config.max_connections)),
            overflow: Arc::new(Semaphore::new(OVERFLOW_ANSWERS)),
            netcheck_running: Default::default(),
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
            shutdown: shutdown.clone(),
        });
        let t1 = tokio::spawn(sessions.refresh_loop());
        check_ports(&shared).await;
        let t2 = tokio::spawn(lan_watch(shared.clone(), ifaces));
        inner.tasks.lock().unwrap_or_else(|p| p.into_inner()).extend([t1, t2]);
        let gw = Gateway { inner };
        gw.bind_listener().await;
        Ok(gw)
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
        let shared = &self.inner.shared;
        let mut slot = self.inner.listener.lock().await;
        if let Some(old) = slot.take() {
            old.close().await;
        }
        let addr = shared.config.load().listen;
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
                    status_log!(shared.hub, error, "cannot listen on {addr}: {why}");
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

    /// Applies a new config, restarting only what changed (listener, health checks, certificate).
    /// `data_dir` is fixed for the gateway's life.
    pub async fn apply_config(&self, config: Config) -> Result<(), GatewayError> {
        if self.inner.shutdown.is_cancelled() {
            return Err(GatewayError::Stopped);
        }
        config.validate()?;
        let shared = &self.inner.shared;
        let old = shared.config.load_full();
        let mut config = config;
        config.data_dir = old.data_dir.clone();
        shared.config.store(Arc::new(config.clone()));
        let mut changed = Vec::new();
        if old.max_connections != config.max_connections {
            shared.conn_limit.store(Arc::new(Semaphore::new(config.max_connections)));
            changed.push("connection limit");
        }
        if old.backend != config.backend || old.health != config.health {
            shared.health.reconfigure(config.backend.clone(), config.health.clone());
            shared.hub.update(|s| s.ports.signaling_port = config.backend.port);
            changed.push("health checks");
        }
        if old.cert_hostnames != config.cert_hostnames || old.custom_cert != config.custom_cert {
            shared.certs.reconfigure(config.custom_cert.clone(), config.cert_hostnames.clone());
            refresh_cert(&shared.certs, &shared.hub, &shared.hub.snapshot().lan);
            changed.push("certificate");
        }
        if old.allowed_backends != config.allowed_backends {
            changed.push("allowed backends");
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

    /// Makes a new self-signed certificate now and swaps it in without dropping sessions.
    pub async fn regenerate_cert(&self) -> Result<CertInfo, GatewayError> {
        let shared = &self.inner.shared;
        let ips = lan::cert_ips(&shared.hub.snapshot().lan);
        let info =
            shared.certs.regenerate(&ips, "requested by the user").map_err(|e| GatewayError::Cert(e.to_string()))?;
        status_log!(
            shared.hub,
            warn,
            "new certificate {}: headsets must open the trust page again",
            info.fingerprint_sha256
        );
        shared.hub.update(|s| {
            s.cert = Some(info.clone());
            s.cert_error = None;
        });
        if self.listen_error().is_some() {
            self.bind_listener().await;
        }
        Ok(info)
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

/// Loads or renews the certificate for the current LAN IPs and publishes the result.
fn refresh_cert(certs: &CertManager, hub: &StatusHub, ifaces: &[LanInterface]) {
    let ips: Vec<Ipv4Addr> = lan::cert_ips(ifaces);
    let before = certs.info().map(|i| i.fingerprint_sha256);
    match certs.ensure(&ips) {
        Ok(info) => {
            // The tls module already traces these; the status log is what the window shows.
            if before.as_ref() != Some(&info.fingerprint_sha256) {
                if let Some(reason) = &info.regenerated_reason {
                    hub.log("warn", format!("new certificate ({reason}); fingerprint {}", info.fingerprint_sha256));
                }
                if !info.missing.is_empty() {
                    hub.log("warn", format!("the certificate does not cover {}", info.missing.join(", ")));
                }
            }
            hub.update(|s| {
                s.cert = Some(info);
                s.cert_error = None;
            });
        }
        Err(e) => {
            hub.log("error", format!("certificate problem: {e}"));
            hub.update(|s| {
                s.cert = certs.info();
                s.cert_error = Some(e.to_string());
            });
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

/// Re-scans interfaces and ports; a LAN change (or time) triggers the certificate check.
async fn lan_watch(shared: Arc<Shared>, mut last: Vec<LanInterface>) {
    let mut last_cert_check = Instant::now();
    loop {
        let every = shared.config.load().lan_scan_interval;
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let now = tokio::task::spawn_blocking(lan::scan).await.unwrap_or_default();
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
        if lan_changed || last_cert_check.elapsed() >= CERT_RECHECK {
            last_cert_check = Instant::now();
            refresh_cert(&shared.certs, &shared.hub, &last);
        }
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
