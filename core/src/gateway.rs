//! The engine's entry point: wires config → listener, cert manager, health checker, LAN watcher → status.
//! (skeleton: bodies land with the proxy work)

use std::future::Future;
use std::sync::Arc;

use tokio::sync::watch;

use crate::config::{Config, ConfigError};
use crate::connector::Connector;
use crate::status::{CertInfo, Status};

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("certificate: {0}")]
    Cert(String),
    #[error("the gateway has shut down")]
    Stopped,
}

/// A running gateway. Dropping it without [`Gateway::shutdown`] stops it too, less gracefully.
pub struct Gateway {
    _p: (),
}

impl Gateway {
    /// Validates `config` and starts everything. A listener that cannot bind is not an error here:
    /// it shows in `status().listener` (the desktop app keeps running); see [`Gateway::listen_error`].
    pub async fn start(config: Config) -> Result<Gateway, GatewayError> {
        Self::start_with(config, Arc::new(crate::connector::TcpConnector)).await
    }

    /// As [`Gateway::start`], with the connector used for every backend connection and health check.
    pub async fn start_with(_config: Config, _connector: Arc<dyn Connector>) -> Result<Gateway, GatewayError> {
        todo!()
    }

    pub fn status(&self) -> watch::Receiver<Status> {
        todo!()
    }

    pub fn config(&self) -> Config {
        todo!()
    }

    /// Why the listener is not listening, if it is not.
    pub fn listen_error(&self) -> Option<String> {
        todo!()
    }

    /// Applies a new config, restarting only what changed (listener, health checks, certificate).
    pub async fn apply_config(&self, _config: Config) -> Result<(), GatewayError> {
        todo!()
    }

    /// Makes a new self-signed certificate now and swaps it in without dropping sessions.
    pub async fn regenerate_cert(&self) -> Result<CertInfo, GatewayError> {
        todo!()
    }

    /// Closes and re-binds the listener (tray "Restart proxy"); open tunnels stay up.
    pub async fn restart_listener(&self) {
        todo!()
    }

    /// Stops accepting, closes every tunnel (reason "shutdown"), waits for the tasks to end.
    pub async fn shutdown(self) {
        todo!()
    }
}

/// rathole-style: run until `shutdown` resolves.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), GatewayError> {
    let gw = Gateway::start(config).await?;
    shutdown.await;
    gw.shutdown().await;
    Ok(())
}
