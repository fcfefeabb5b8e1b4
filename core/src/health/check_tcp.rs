//! One health probe: a TCP connect to the backend, closed at once (what HAProxy's plain `check` does).

use std::time::Duration;

use crate::config::BackendAddr;
use crate::connector::{describe_io_error, Connector};

/// `Ok` when the backend accepted a TCP connection within `timeout`; else a short reason.
pub async fn check_tcp(connector: &dyn Connector, addr: &BackendAddr, timeout: Duration) -> Result<(), String> {
    match connector.connect(addr, timeout).await {
        Ok(stream) => {
            drop(stream);
            Ok(())
        }
        Err(e) => Err(describe_io_error(&e)),
    }
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
        assert_eq!(check_tcp(&TcpConnector, &up, Duration::from_secs(1)).await, Ok(()));
        drop(l);
        let err = check_tcp(&TcpConnector, &up, Duration::from_secs(1)).await.unwrap_err();
        assert_eq!(err, "connection refused");
    }
}
