//! How the engine opens TCP connections to backends, for tunnels and health checks alike.
//! Injectable so tests can record every attempt and prove a refused route never dials out.
//!
//! The real connector resolves a backend to addresses and races them (Happy Eyeballs, RFC 8305):
//! on Windows `localhost` is `::1` first and a refused connect to `::1` takes about 2 s (Windows
//! retries the SYN), so trying addresses one after another made a runtime that listens on IPv4
//! only look dead to the health checks and cost every tunnel 2 s. The resolving and racing are plain
//! functions with an injectable dialer, tested the same on every platform.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::net::TcpStream;

use crate::config::BackendAddr;

pub type ConnectFuture<'a> = Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send + 'a>>;

pub trait Connector: Send + Sync + 'static {
    /// Opens a TCP connection to `addr` within `timeout` (a timeout is `io::ErrorKind::TimedOut`).
    fn connect<'a>(&'a self, addr: &'a BackendAddr, timeout: Duration) -> ConnectFuture<'a>;
}

/// RFC 8305's recommended "Connection Attempt Delay": how long one attempt runs alone before the
/// next address is tried beside it.
pub const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// The real one: resolves the host ([`resolve`]), races the addresses ([`race`]), `TCP_NODELAY` on.
#[derive(Debug, Default, Clone, Copy)]
pub struct TcpConnector;

impl Connector for TcpConnector {
    fn connect<'a>(&'a self, addr: &'a BackendAddr, timeout: Duration) -> ConnectFuture<'a> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + timeout;
            let timed_out = || {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("timed out after {}", crate::config::format_duration(timeout)),
                )
            };
            let addrs =
                tokio::time::timeout_at(deadline, resolve(&addr.host, addr.port)).await.map_err(|_| timed_out())??;
            match race(&addrs, ATTEMPT_DELAY, deadline, TcpStream::connect).await {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    Ok(stream)
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(timed_out()),
                Err(e) => Err(e),
            }
        })
    }
}

/// The addresses to try for `host`, in the order to try them. A numeric IP is itself and
/// `localhost` is the loopback addresses, IPv4 first (RFC 6761: never asked of a resolver, which a
/// minimal container may not even have); other names go to the system resolver and come back in
/// RFC 8305 order ([`interleave`]).
pub async fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    if let Some(addrs) = resolve_locally(host, port) {
        return Ok(addrs);
    }
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
    if found.is_empty() {
        return Err(io::Error::new(io::ErrorKind::NotFound, "no such host"));
    }
    Ok(interleave(found))
}

/// What [`resolve`] answers without a resolver: numeric IPs (IPv6 with or without brackets) and
/// `localhost` or a name under it, in any case, with or without the trailing dot.
pub fn resolve_locally(host: &str, port: u16) -> Option<Vec<SocketAddr>> {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Some(vec![SocketAddr::new(ip, port)]);
    }
    let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return Some(vec![
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port),
        ]);
    }
    None
}

/// RFC 8305 §4: alternate the address families, starting with the family the resolver put first;
/// within a family the resolver's order is kept. Duplicates are dropped.
pub fn interleave(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let mut unique: Vec<SocketAddr> = Vec::with_capacity(addrs.len());
    for a in addrs {
        if !unique.contains(&a) {
            unique.push(a);
        }
    }
    let first_v6 = unique.first().is_some_and(SocketAddr::is_ipv6);
    let (mut first, mut second): (Vec<_>, Vec<_>) = unique.into_iter().partition(|a| a.is_ipv6() == first_v6);
    first.reverse();
    second.reverse();
    let mut out = Vec::with_capacity(first.len() + second.len());
    loop {
        match (first.pop(), second.pop()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b)),
        }
    }
}

/// Races connection attempts to `addrs` (RFC 8305 §5): the first starts at once; each next one
/// starts when the previous attempt failed or after `delay` without an answer, whichever is
/// first; the first success wins and the other attempts are dropped. All failed, or `deadline`
/// reached: the first error that came back ("connection refused" says more than a timeout that
/// only a slow family ran into), else `TimedOut`.
/// `dial` opens one connection; tests give one that delays or refuses chosen addresses.
pub async fn race<S, F, Fut>(
    addrs: &[SocketAddr],
    delay: Duration,
    deadline: tokio::time::Instant,
    mut dial: F,
) -> io::Result<S>
where
    F: FnMut(SocketAddr) -> Fut,
    Fut: Future<Output = io::Result<S>>,
{
    let mut next = addrs.iter().copied();
    let mut running = FuturesUnordered::new();
    let mut first_error: Option<io::Error> = None;
    let stagger = tokio::time::sleep(delay);
    tokio::pin!(stagger);
    let give_up = tokio::time::sleep_until(deadline);
    tokio::pin!(give_up);
    loop {
        if running.is_empty() {
            let Some(sa) = next.next() else {
                return Err(
                    first_error.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address to connect to"))
                );
            };
            running.push(dial(sa));
            stagger.as_mut().reset(tokio::time::Instant::now() + delay);
        }
        let more = next.len() > 0;
        tokio::select! {
            Some(result) = running.next() => match result {
                Ok(stream) => return Ok(stream),
                Err(e) => {
                    first_error.get_or_insert(e);
                    // A failure starts the next attempt at once (the loop top, when none runs).
                    if !running.is_empty() {
                        if let Some(sa) = next.next() {
                            running.push(dial(sa));
                            stagger.as_mut().reset(tokio::time::Instant::now() + delay);
                        }
                    }
                }
            },
            () = &mut give_up => {
                return Err(first_error.unwrap_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "timed out")));
            }
            () = &mut stagger, if more => {
                if let Some(sa) = next.next() {
                    running.push(dial(sa));
                }
                stagger.as_mut().reset(tokio::time::Instant::now() + delay);
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::time::Instant;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    const V4: &str = "127.0.0.1:49100";
    const V6: &str = "[::1]:49100";

    #[test]
    fn numeric_ips_and_localhost_never_reach_the_resolver() {
        assert_eq!(resolve_locally("10.0.0.5", 80), Some(vec![sa("10.0.0.5:80")]));
        assert_eq!(resolve_locally("::1", 80), Some(vec![sa("[::1]:80")]));
        assert_eq!(resolve_locally("[fe80::1]", 80), Some(vec![sa("[fe80::1]:80")]));
        // RFC 6761: localhost is loopback, IPv4 first (Windows' resolver says ::1 first).
        for name in ["localhost", "LocalHost", "localhost.", "runtime.localhost"] {
            assert_eq!(resolve_locally(name, 49100), Some(vec![sa(V4), sa(V6)]), "{name}");
        }
        assert_eq!(resolve_locally("localhost.example.com", 80), None);
        assert_eq!(resolve_locally("gate.lan", 80), None);
    }

    #[tokio::test]
    async fn resolve_answers_localhost_itself() {
        assert_eq!(resolve("LOCALHOST", 7).await.unwrap(), vec![sa("127.0.0.1:7"), sa("[::1]:7")]);
        assert_eq!(resolve("127.0.0.2", 7).await.unwrap(), vec![sa("127.0.0.2:7")]);
    }

    #[test]
    fn interleave_alternates_families_from_the_resolvers_first() {
        let got = interleave(vec![sa("[::1]:1"), sa("[::2]:1"), sa("[::3]:1"), sa("10.0.0.1:1"), sa("10.0.0.2:1")]);
        let want = [sa("[::1]:1"), sa("10.0.0.1:1"), sa("[::2]:1"), sa("10.0.0.2:1"), sa("[::3]:1")];
        assert_eq!(got, want);
        let got = interleave(vec![sa("10.0.0.1:1"), sa("10.0.0.1:1"), sa("10.0.0.2:1"), sa("[::1]:1")]);
        assert_eq!(got, [sa("10.0.0.1:1"), sa("[::1]:1"), sa("10.0.0.2:1")]);
        assert_eq!(interleave(vec![]), Vec::<SocketAddr>::new());
    }

    /// How an injected dial to one address behaves: answer after `after`, or never.
    #[derive(Clone, Copy)]
    enum Plan {
        Accept(Duration),
        Refuse(Duration),
        Hang,
    }

    /// A dialer that follows `plans` and records when each address was dialled (virtual time).
    #[allow(clippy::type_complexity)]
    fn dialer(
        plans: Vec<(SocketAddr, Plan)>,
    ) -> (
        impl FnMut(SocketAddr) -> Pin<Box<dyn Future<Output = io::Result<SocketAddr>>>>,
        Arc<Mutex<Vec<(SocketAddr, Duration)>>>,
    ) {
        let t0 = Instant::now();
        let log = Arc::new(Mutex::new(Vec::new()));
        let seen = log.clone();
        let dial = move |a: SocketAddr| -> Pin<Box<dyn Future<Output = io::Result<SocketAddr>>>> {
            seen.lock().unwrap().push((a, t0.elapsed()));
            let plan = plans.iter().find(|(p, _)| *p == a).map(|(_, plan)| *plan).unwrap_or(Plan::Hang);
            Box::pin(async move {
                match plan {
                    Plan::Accept(after) => {
                        tokio::time::sleep(after).await;
                        Ok(a)
                    }
                    Plan::Refuse(after) => {
                        tokio::time::sleep(after).await;
                        Err(io::Error::new(io::ErrorKind::ConnectionRefused, format!("{a} refused")))
                    }
                    Plan::Hang => std::future::pending().await,
                }
            })
        };
        (dial, log)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(3600)
    }

    #[tokio::test(start_paused = true)]
    async fn at_the_deadline_a_refusal_beats_a_timeout() {
        // The runtime is down: 127.0.0.1 refuses at once, ::1 would take ~2 s (Windows).
        let (dial, _) = dialer(vec![(sa(V4), Plan::Refuse(ms(0))), (sa(V6), Plan::Refuse(ms(2000)))]);
        let err = race(&[sa(V4), sa(V6)], ATTEMPT_DELAY, Instant::now() + ms(1000), dial).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
        // Nothing answers at all: a timeout.
        let (dial, _) = dialer(vec![]);
        let err = race(&[sa(V4), sa(V6)], ATTEMPT_DELAY, Instant::now() + ms(1000), dial).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_refusal_on_one_family_does_not_hold_up_the_other() {
        // Windows: ::1 refused only after ~2 s of SYN retries; the runtime listens on IPv4 only.
        let (dial, log) = dialer(vec![(sa(V6), Plan::Refuse(ms(2000))), (sa(V4), Plan::Accept(ms(1)))]);
        let t0 = Instant::now();
        let won = race(&[sa(V6), sa(V4)], ATTEMPT_DELAY, far(), dial).await.unwrap();
        assert_eq!(won, sa(V4));
        assert_eq!(*log.lock().unwrap(), [(sa(V6), ms(0)), (sa(V4), ATTEMPT_DELAY)]);
        assert!(t0.elapsed() < ms(2000), "waited for the slow family: {:?}", t0.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn a_quick_refusal_starts_the_next_attempt_at_once() {
        let (dial, log) = dialer(vec![(sa(V4), Plan::Refuse(ms(0))), (sa(V6), Plan::Accept(ms(0)))]);
        assert_eq!(race(&[sa(V4), sa(V6)], ATTEMPT_DELAY, far(), dial).await.unwrap(), sa(V6));
        assert_eq!(*log.lock().unwrap(), [(sa(V4), ms(0)), (sa(V6), ms(0))]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_address_still_wins_if_it_answers_first() {
        // The preferred address is slow but fine; the second one, started beside it, hangs.
        let (dial, log) = dialer(vec![(sa(V4), Plan::Accept(ms(400))), (sa(V6), Plan::Hang)]);
        assert_eq!(race(&[sa(V4), sa(V6)], ATTEMPT_DELAY, far(), dial).await.unwrap(), sa(V4));
        assert_eq!(log.lock().unwrap().len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_are_staggered_in_order_and_all_failing_gives_the_first_reason() {
        let addrs = [sa("[::1]:1"), sa("127.0.0.1:1"), sa("[::2]:1")];
        let (dial, log) = dialer(addrs.iter().map(|a| (*a, Plan::Refuse(ms(1000)))).collect());
        let err = race(&addrs, ATTEMPT_DELAY, far(), dial).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        assert_eq!(err.to_string(), "[::1]:1 refused");
        let starts: Vec<Duration> = log.lock().unwrap().iter().map(|(_, t)| *t).collect();
        assert_eq!(starts, [ms(0), ms(250), ms(500)]);

        let (dial, _) = dialer(vec![]);
        assert_eq!(race(&[], ATTEMPT_DELAY, far(), dial).await.unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn tcp_connector_reaches_an_ipv4_only_listener_by_localhost() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let s = TcpConnector.connect(&BackendAddr::new("localhost", port), Duration::from_secs(5)).await.unwrap();
        assert_eq!(s.peer_addr().unwrap(), SocketAddr::from(([127, 0, 0, 1], port)));
        assert!(s.nodelay().unwrap());
        drop(l);
        for host in ["127.0.0.1", "localhost"] {
            let err = TcpConnector.connect(&BackendAddr::new(host, port), Duration::from_secs(5)).await.unwrap_err();
            assert_eq!(describe_io_error(&err), "connection refused", "{host}");
        }
    }
}
