//! The wss:// proxy, one way through: `listener` (TCP accept, connection `limit`, plain-HTTP
//! detection, TLS; `io`) → `http` (hyper, head limits, CORS, upgrade checks; it only dispatches) →
//! `pages` | `webapp` (`/app/`) | `netcheck` (`/netcheck/ws`) | `route` + `tunnel` (raw bytes after
//! the 101, `sessions` keeps the log) → `response` (bodies, CORS headers), which imports none of them.
//! Each step tells the headset book (`crate::headsets`) what it saw; `headsets` publishes it.

pub mod headsets;
pub mod http;
pub mod io;
pub mod limit;
pub mod listener;
pub mod netcheck;
pub mod pages;
pub mod response;
pub mod route;
pub mod sessions;
pub mod tunnel;
pub mod webapp;
pub mod wsclose;

use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::connector::Connector;
use crate::health::Health;
use crate::status::StatusHub;
use crate::tls::CertManager;

/// A connection's place under `max_connections`, held for as long as any part of it lives: the
/// HTTP connection, then the tunnel or network check it upgraded to (hyper hands the socket over
/// and returns, so the permit must travel with it).
#[derive(Clone, Default)]
pub struct ConnSlot(#[allow(dead_code)] Option<Arc<limit::Permit>>);

impl ConnSlot {
    pub fn new(permit: limit::Permit) -> Self {
        ConnSlot(Some(Arc::new(permit)))
    }
}

/// What every connection task needs; built once by the gateway.
pub struct Shared {
    pub config: ArcSwap<Config>,
    pub hub: StatusHub,
    pub health: Arc<Health>,
    pub certs: Arc<CertManager>,
    pub sessions: Arc<sessions::Sessions>,
    pub connector: Arc<dyn Connector>,
    pub tls: Arc<rustls::ServerConfig>,
    /// Concurrent client connections (`max_connections`); over it, a connection is reset at once.
    pub conn_limit: Arc<limit::Limiter>,
    /// The headset network checks (one at a time).
    pub netcheck: crate::netcheck::server::Checks,
    /// Every headset that reached the gate (the listener, http, tunnel and netcheck report to it).
    pub headsets: Arc<crate::headsets::Book>,
    /// The web root and data dir made canonical for the current configuration (`webapp::Roots`).
    pub web_roots: arc_swap::ArcSwapOption<webapp::Roots>,
    pub shutdown: CancellationToken,
}
