//! How the engine opens TCP connections to backends, for tunnels and health checks alike.
//! Injectable so tests can record every attempt and prove a refused route never dials out.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::config::BackendAddr;

pub type ConnectFuture<'a> = Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send + 'a>>;

pub trait Connector: Send + Sync + 'static {
    /// Opens a TCP connection to `addr` within `timeout` (a timeout is `io::ErrorKind::TimedOut`).
    fn connect<'a>(&'a self, addr: &'a BackendAddr, timeout: Duration) -> ConnectFuture<'a>;
}

/// The real one: resolves the host, tries each address in turn, `TCP_NODELAY` on.
#[derive(Debug, Default, Clone, Copy)]
pub struct TcpConnector;

impl Connector for TcpConnector {
    fn connect<'a>(&'a self, addr: &'a BackendAddr, timeout: Duration) -> ConnectFuture<'a> {
        Box::pin(async move {
            let target = (addr.host.as_str(), addr.port);
            let attempt = async {
                let mut last = io::Error::new(io::ErrorKind::NotFound, "no such host");
                for sa in tokio::net::lookup_host(target).await? {
                    match TcpStream::connect(sa).await {
                        Ok(s) => {
                            let _ = s.set_nodelay(true);
                            return Ok(s);
                        }
                        Err(e) => last = e,
                    }
                }
                Err(last)
            };
            match tokio::time::timeout(timeout, attempt).await {
                Ok(r) => r,
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("timed out after {}", crate::config::format_duration(timeout)),
                )),
            }
        })
    }
}

/// A short human reason for a connect error: "connection refused", "timed out after 5s", "no such host".
pub fn describe_io_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::TimedOut => e.to_string(),
        io::ErrorKind::NotFound => "no such host".into(),
        io::ErrorKind::ConnectionReset => "connection reset".into(),
        io::ErrorKind::AddrNotAvailable => "address not available".into(),
        _ => {
            let s = e.to_string();
            // Resolver errors read like "failed to lookup address information: Name or service not known".
            if s.contains("lookup address") {
                "no such host".into()
            } else {
                s
            }
        }
    }
}
