//! One health probe: a TCP connect to the backend, closed at once (what HAProxy's plain `check` does).

use std::time::Duration;

use crate::config::BackendAddr;
use crate::connector::{describe_io_error, Connector};

/// The longest a probe's connect may take: 1 s, or half the interval when that is shorter. Never
/// the whole interval (HAProxy's default): a connect that hangs or is refused slowly (Windows
/// retries a refused SYN for about 2 s) must fail before the next probe is due, not swallow it.
pub fn probe_timeout(interval: Duration) -> Duration {
    (interval / 2).min(Duration::from_secs(1))
}

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

    #[test]
    fn the_probe_timeout_is_shorter_than_the_interval() {
        let ms = Duration::from_millis;
        assert_eq!(probe_timeout(Duration::from_secs(2)), Duration::from_secs(1));
        assert_eq!(probe_timeout(Duration::from_secs(60)), Duration::from_secs(1));
        assert_eq!(probe_timeout(ms(500)), ms(250));
        assert_eq!(probe_timeout(ms(10)), ms(5));
    }

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

    /// Refuses every connect and records the timeout each probe was given.
    struct Recording(std::sync::Mutex<Vec<Duration>>);

    impl Connector for Recording {
        fn connect<'a>(&'a self, _: &'a BackendAddr, timeout: Duration) -> crate::connector::ConnectFuture<'a> {
            self.0.lock().unwrap().push(timeout);
            Box::pin(async { Err(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)) })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_checker_gives_each_probe_a_timeout_shorter_than_the_interval() {
        let rec = std::sync::Arc::new(Recording(Default::default()));
        let hub = crate::status::StatusHub::new(Default::default());
        let cfg = crate::config::HealthConfig::default();
        let interval = cfg.interval;
        let token = tokio_util::sync::CancellationToken::new();
        let health = crate::health::Health::new(hub, rec.clone(), BackendAddr::new("localhost", 1), cfg, token);
        while rec.0.lock().unwrap().len() < 2 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        health.stop();
        let seen = rec.0.lock().unwrap().clone();
        assert!(seen.iter().all(|t| *t < interval), "probe timeouts {seen:?} vs interval {interval:?}");
    }
}
