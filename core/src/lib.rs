//! cxr-gate-core: the CXR Gate engine. A TLS WebSocket gateway (`wss://<lan-ip>:48322` → `ws://localhost:49100`)
//! for the NVIDIA CloudXR Runtime, with certificate management, HAProxy-style health checks, LAN discovery
//! and port checks. One entry point ([`Gateway::start`] or [`run`]), one status channel, one shutdown.

pub mod adb;
pub mod addr;
pub mod config;
pub mod connector;
#[cfg(feature = "demo")]
pub mod demo;
pub mod firewall;
mod gateway;
pub mod headsets;
pub mod health;
pub mod net;
pub mod netcheck;
pub mod probe;
pub mod proxy;
pub mod qr;
pub mod session_end;
pub mod status;
pub mod tls;

pub use config::{BackendAddr, CliOverrides, Config, ConfigError};
pub use connector::{Connector, TcpConnector};
pub use gateway::{run, Gateway, GatewayError, Parts};
pub use status::{BackendState, CertInfo, Status};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
