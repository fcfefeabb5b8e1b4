//! The checker's lifecycle on a paused clock, with a scripted connector that never dials anything
//! but a listener of its own on loopback.

use std::collections::HashSet;
use std::io;
use std::sync::Mutex as StdMutex;

use super::*;
use crate::connector::ConnectFuture;
use crate::status::Status;

/// Backends listed as down are refused without dialling; the others get a stream to a listener of
/// the test's own, made (and accepted) synchronously so the paused clock cannot overtake it.
struct Scripted {
    down: StdMutex<HashSet<BackendAddr>>,
    listener: std::net::TcpListener,
}

impl Scripted {
    fn new() -> Arc<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        Arc::new(Self { down: StdMutex::new(HashSet::new()), listener })
    }
    fn set_down(&self, addr: &BackendAddr, down: bool) {
        let mut d = self.down.lock().unwrap();
        if down {
            d.insert(addr.clone());
        } else {
            d.remove(addr);
        }
    }
}

impl Connector for Scripted {
    fn connect<'a>(&'a self, addr: &'a BackendAddr, _timeout: Duration) -> ConnectFuture<'a> {
        let down = self.down.lock().unwrap().contains(addr);
        let result = if down {
            Err(io::Error::from(io::ErrorKind::ConnectionRefused))
        } else {
            let to = self.listener.local_addr().unwrap();
            std::net::TcpStream::connect(to).and_then(|s| {
                // Taken off the backlog at once, so thousands of probes never fill it.
                drop(self.listener.accept()?);
                s.set_nonblocking(true)?;
                tokio::net::TcpStream::from_std(s)
            })
        };
        Box::pin(async move { result })
    }
}

fn cfg() -> HealthConfig {
    HealthConfig { interval: Duration::from_millis(100), rise: 2, fall: 3 }
}

fn start(connector: Arc<Scripted>) -> (Arc<Health>, StatusHub) {
    let hub = StatusHub::new(Status::default());
    let h = Health::new(hub.clone(), connector, BackendAddr::new("127.0.0.1", 49100), cfg(), CancellationToken::new());
    (h, hub)
}

fn routed(i: usize) -> BackendAddr {
    BackendAddr::new(format!("10.0.{}.{}", i / 250, i % 250 + 1), 49100)
}

async fn run_for(d: Duration) {
    tokio::time::sleep(d).await;
}

#[tokio::test(start_paused = true)]
async fn routed_backends_are_checked_only_once_leased_and_only_up_to_the_cap() {
    let (h, hub) = start(Scripted::new());
    // Asking about a target, even DOWN-checking it, starts nothing.
    for i in 0..1000 {
        assert_eq!(h.state(&routed(i)), BackendState::Unknown);
    }
    assert_eq!(h.checkers(), 1);
    let leases: Vec<Lease> = (0..MAX_ROUTED_CHECKERS + 40).map(|i| h.lease(&routed(i))).collect();
    assert_eq!(h.checkers(), 1 + MAX_ROUTED_CHECKERS);
    run_for(Duration::from_secs(1)).await;
    let st = hub.snapshot();
    assert_eq!(st.routed_backends.len(), MAX_ROUTED_CHECKERS, "the status lists only checked backends");
    assert!(st.routed_backends.iter().all(|b| b.state == BackendState::Up));
    let cap_lines = st.log.iter().filter(|l| l.msg.contains("(the cap)")).count();
    assert_eq!(cap_lines, 1, "the cap is logged once, not per request: {:?}", st.log);
    drop(leases);
}

#[tokio::test(start_paused = true)]
async fn a_routed_checker_stops_a_grace_period_after_its_last_session() {
    let (h, hub) = start(Scripted::new());
    let a = routed(1);
    let first = h.lease(&a);
    let second = h.lease(&a);
    assert_eq!(h.checkers(), 2);
    drop(first);
    run_for(ROUTED_GRACE * 2).await;
    assert_eq!(h.checkers(), 2, "a session still uses it");
    drop(second);
    run_for(ROUTED_GRACE / 2).await;
    assert_eq!(h.checkers(), 2, "kept during the grace period");
    assert_eq!(hub.snapshot().routed_backends.len(), 1);
    // A session within the grace period keeps the same checker.
    drop(h.lease(&a));
    run_for(ROUTED_GRACE / 2 + Duration::from_secs(1)).await;
    assert_eq!(h.checkers(), 2, "the grace period starts again from the last session");
    run_for(ROUTED_GRACE).await;
    assert_eq!(h.checkers(), 1);
    assert!(hub.snapshot().routed_backends.is_empty());
    // The configured backend is never retired.
    assert_eq!(h.state(&BackendAddr::new("127.0.0.1", 49100)), BackendState::Up);
}

async fn fires_within(lease: &mut Lease, within: Duration) -> bool {
    tokio::time::timeout(within, lease.down.marked_down()).await.is_ok()
}

#[tokio::test(start_paused = true)]
async fn changed_check_settings_keep_closing_sessions_when_the_backend_goes_down() {
    let c = Scripted::new();
    let (h, _hub) = start(c.clone());
    let main = BackendAddr::new("127.0.0.1", 49100);
    run_for(Duration::from_secs(1)).await;
    let mut lease = h.lease(&main);
    h.reconfigure(main.clone(), HealthConfig { interval: Duration::from_millis(50), rise: 1, fall: 2 });
    run_for(Duration::from_secs(1)).await;
    assert!(!fires_within(&mut lease, Duration::from_millis(500)).await, "UP: no signal");
    c.set_down(&main, true);
    assert!(fires_within(&mut lease, Duration::from_secs(2)).await, "settings change, then DOWN");
}

#[tokio::test(start_paused = true)]
async fn a_settings_change_while_the_backend_is_failing_still_ends_in_down() {
    let c = Scripted::new();
    let (h, _hub) = start(c.clone());
    let main = BackendAddr::new("127.0.0.1", 49100);
    run_for(Duration::from_secs(1)).await;
    let mut lease = h.lease(&main);
    c.set_down(&main, true);
    run_for(Duration::from_millis(150)).await; // one or two failures: not DOWN yet
    h.reconfigure(main.clone(), HealthConfig { interval: Duration::from_millis(200), rise: 2, fall: 3 });
    assert!(fires_within(&mut lease, Duration::from_secs(3)).await, "failing, settings change, then DOWN");
}

#[tokio::test(start_paused = true)]
async fn a_replaced_backend_is_checked_while_its_sessions_last() {
    let c = Scripted::new();
    let (h, hub) = start(c.clone());
    let old = BackendAddr::new("127.0.0.1", 49100);
    let new = BackendAddr::new("127.0.0.1", 49200);
    run_for(Duration::from_secs(1)).await;
    let mut lease = h.lease(&old);
    h.reconfigure(new.clone(), cfg());
    assert_eq!(h.checkers(), 2, "the old backend keeps a checker for its open session");
    run_for(Duration::from_secs(1)).await;
    let st = hub.snapshot();
    assert_eq!(st.backend.addr, "127.0.0.1:49200");
    assert_eq!(st.routed_backends.iter().map(|b| b.addr.as_str()).collect::<Vec<_>>(), ["127.0.0.1:49100"]);
    c.set_down(&old, true);
    assert!(fires_within(&mut lease, Duration::from_secs(2)).await, "backend changed, then the old one DOWN");
    drop(lease);
    run_for(ROUTED_GRACE + Duration::from_secs(1)).await;
    assert_eq!(h.checkers(), 1);
    // With no session open, a replaced backend is dropped at once.
    h.reconfigure(old.clone(), cfg());
    assert_eq!(h.checkers(), 1);
}

/// What the status shows: the configured backend, then the routed ones sorted, each (address, state).
fn shown(hub: &StatusHub) -> Vec<(String, BackendState)> {
    hub.read(|s| {
        let mut routed: Vec<(String, BackendState)> =
            s.routed_backends.iter().map(|b| (b.addr.clone(), b.state)).collect();
        routed.sort_by(|x, y| x.0.cmp(&y.0));
        routed.insert(0, (s.backend.addr.clone(), s.backend.state));
        routed
    })
}

/// Settings changed while probes run on other threads: every change must end with the status
/// telling the new configured backend and exactly the routed backends still checked, each with
/// its checker's verdict. A probe that started before a change must not publish after it (the old
/// backend's verdict over the new one's, a dropped routed backend listed again for good, or the
/// change's reset landing over a new loop's first verdict so that `unknown` stays).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rapid_reconfigures_never_leave_a_stale_verdict() {
    const CHANGES: usize = 300;
    let c = Scripted::new();
    let hub = StatusHub::new(Status::default());
    let a = BackendAddr::new("127.0.0.1", 49100);
    let b = BackendAddr::new("127.0.0.1", 49200);
    c.set_down(&b, true);
    let fast = |ms| HealthConfig { interval: Duration::from_millis(ms), rise: 1, fall: 1 };
    let h = Health::new(hub.clone(), c.clone(), a.clone(), fast(2), CancellationToken::new());
    // Sessions on routed backends: their checkers restart at every change.
    let leased: Vec<BackendAddr> = (0..8).map(routed).collect();
    let _leases: Vec<Lease> = leased.iter().map(|r| h.lease(r)).collect();
    let mut stale = Vec::new();
    for i in 0..CHANGES {
        // A routed backend whose session just ended: this change drops it, maybe mid-probe.
        drop(h.lease(&routed(100 + i)));
        let spin = std::time::Instant::now();
        while spin.elapsed() < Duration::from_micros((i % 50) as u64 * 4) {
            std::hint::spin_loop();
        }
        // The configured backend flips between an UP and a DOWN one (neither has a session, so
        // the replaced one is dropped), with new check settings each time.
        let (main, state) = if i % 2 == 0 { (&b, BackendState::Down) } else { (&a, BackendState::Up) };
        h.reconfigure(main.clone(), fast(2 + (i % 3) as u64));
        let mut want: Vec<(String, BackendState)> = leased.iter().map(|r| (r.to_string(), BackendState::Up)).collect();
        want.sort_by(|x, y| x.0.cmp(&y.0));
        want.insert(0, (main.to_string(), state));
        // Settled once the status agrees with the checkers; after a stale publish it never does.
        let settled = tokio::time::timeout(Duration::from_secs(1), async {
            while shown(&hub) != want {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        if settled.is_err() {
            stale.push((i, shown(&hub)));
        }
    }
    assert!(stale.is_empty(), "{} of {CHANGES} changes left a stale status, e.g. {:?}", stale.len(), stale.first());
}
