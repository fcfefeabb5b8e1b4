//! One health probe: a TCP connect to the backend, closed at once (what HAProxy's plain `check` does).

use std::time::Duration;

use crate::config::BackendAddr;
use crate::connector::{describe_io_error, Connector};

/// A failed probe; shows as the short reason the status and the log give ("connection refused").
#[derive(Debug, thiserror::Error)]
#[error("{}", describe_io_error(.0))]
pub struct ProbeFailed(#[source] pub std::io::Error);

/// `Ok` when the backend accepted a TCP connection within `timeout`.
pub async fn check_tcp(connector: &dyn Connector, addr: &BackendAddr, timeout: Duration) -> Result<(), ProbeFailed> {
    let stream = connector.connect(addr, timeout).await.map_err(ProbeFailed)?;
    drop(stream);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::TcpConnector;

    #[tokio::test]
    async fn open_port_passes_and_closed_port_is_refused() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let up = BackendAddr::new("127.0.0.1", port);
        assert!(check_tcp(&TcpConnector, &up, Duration::from_secs(1)).await.is_ok());
        drop(l);
        let err = check_tcp(&TcpConnector, &up, Duration::from_secs(1)).await.unwrap_err();
        assert_eq!(err.to_string(), "connection refused");
        assert_eq!(err.0.kind(), std::io::ErrorKind::ConnectionRefused);
    }
}
