//! One probe loop per backend in use: the configured one for the gateway's life, and each routed
//! one (or a configured one replaced by a settings change) while sessions use it, plus a grace period.
//! Publishes verdicts on the status channel and, on a transition to DOWN, signals every tunnel to
//! that backend to close (HAProxy's `on-marked-down shutdown-sessions`). Routed checkers start only
//! once a target has answered a 101 and are capped, so requests alone cannot create probe loops.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::check_tcp::{check_tcp, probe_timeout};
use super::counter::Counter;
use crate::config::{BackendAddr, HealthConfig};
use crate::connector::Connector;
use crate::status::{now_ms, BackendState, BackendStatus, StatusHub};
use crate::status_log;

/// At most this many backends besides the configured one are checked (and listed in the status).
pub const MAX_ROUTED_CHECKERS: usize = 32;
/// A routed backend's checker stops this long after its last session ended.
pub const ROUTED_GRACE: Duration = Duration::from_secs(60);

struct Entry {
    state: BackendState,
    /// Bumped on every transition to DOWN; tunnels wait for a change. Kept across probe-loop
    /// restarts, so a settings change does not orphan the tunnels already waiting on it.
    down_epoch: watch::Sender<u64>,
    task: JoinHandle<()>,
    /// Which probe loop owns this entry; a replaced loop's last writes are ignored.
    generation: u64,
    /// Sessions using this backend now.
    leases: usize,
    /// The configured backend: checked for as long as the gateway runs.
    pinned: bool,
    /// When the last lease ended.
    idle_since: Option<Instant>,
}

struct State {
    main: BackendAddr,
    cfg: HealthConfig,
    entries: HashMap<BackendAddr, Entry>,
    next_generation: u64,
    /// The cap was hit and said so; said again only after it was left.
    cap_logged: bool,
}

pub struct Health {
    hub: StatusHub,
    connector: Arc<dyn Connector>,
    shutdown: CancellationToken,
    state: Arc<Mutex<State>>,
}

/// Resolves when the backend is marked DOWN (never, if the backend is not checked).
pub struct DownSignal(watch::Receiver<u64>);

impl DownSignal {
    pub async fn marked_down(&mut self) {
        if self.0.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    fn never() -> Self {
        // The sender is dropped at once, so `changed()` errs and the signal pends forever.
        DownSignal(watch::channel(0u64).1)
    }
}

/// A session's hold on its backend's checker: keeps it running, and tells the session when the
/// backend is marked DOWN. Dropping it starts the grace period once no session is left.
pub struct Lease {
    state: Option<Arc<Mutex<State>>>,
    addr: BackendAddr,
    pub down: DownSignal,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(state) = self.state.take() else { return };
        let mut st = lock(&state);
        if let Some(e) = st.entries.get_mut(&self.addr) {
            e.leases = e.leases.saturating_sub(1);
            if e.leases == 0 {
                e.idle_since = Some(Instant::now());
            }
        }
    }
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic elsewhere must not take health checking down with it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Health {
    pub fn new(
        hub: StatusHub,
        connector: Arc<dyn Connector>,
        main: BackendAddr,
        cfg: HealthConfig,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        let h = Arc::new(Self {
            hub,
            connector,
            shutdown,
            state: Arc::new(Mutex::new(State {
                main: main.clone(),
                cfg,
                entries: HashMap::new(),
                next_generation: 0,
                cap_logged: false,
            })),
        });
        h.hub.update(|s| {
            s.backend = unknown(&main);
            s.routed_backends.clear();
        });
        let mut st = lock(&h.state);
        let e = h.spawn_entry(&mut st, &main, watch::channel(0u64).0);
        st.entries.insert(main, Entry { pinned: true, ..e });
        drop(st);
        h
    }

    /// A new entry for `addr` (not inserted) with a running probe loop that signals through `tx`.
    fn spawn_entry(&self, st: &mut State, addr: &BackendAddr, tx: watch::Sender<u64>) -> Entry {
        st.next_generation += 1;
        let generation = st.next_generation;
        let task = tokio::spawn(probe_loop(
            self.hub.clone(),
            self.connector.clone(),
            self.state.clone(),
            addr.clone(),
            st.cfg.clone(),
            generation,
            self.shutdown.child_token(),
        ));
        Entry {
            state: BackendState::Unknown,
            down_epoch: tx,
            task,
            generation,
            leases: 0,
            pinned: false,
            idle_since: Some(Instant::now()),
        }
    }

    /// The last verdict on `addr`; `unknown` for a backend nobody checks.
    pub fn state(&self, addr: &BackendAddr) -> BackendState {
        lock(&self.state).entries.get(addr).map(|e| e.state).unwrap_or_default()
    }

    /// How many backends are being checked, the configured one included.
    pub fn checkers(&self) -> usize {
        lock(&self.state).entries.len()
    }

    /// Registers a session with `addr` (call it once the backend answered the 101): starts checking
    /// `addr` if nobody does yet and the cap allows, and returns the session's DOWN signal.
    pub fn lease(&self, addr: &BackendAddr) -> Lease {
        let mut st = lock(&self.state);
        if !st.entries.contains_key(addr) {
            let routed = st.entries.values().filter(|e| !e.pinned).count();
            if routed >= MAX_ROUTED_CHECKERS {
                if !st.cap_logged {
                    st.cap_logged = true;
                    drop(st);
                    status_log!(
                        self.hub,
                        warn,
                        "{MAX_ROUTED_CHECKERS} routed backends are checked already (the cap): {addr} is not \
                         health-checked, so its sessions will not be closed if it goes down"
                    );
                }
                return Lease { state: None, addr: addr.clone(), down: DownSignal::never() };
            }
            st.cap_logged = false;
            let e = self.spawn_entry(&mut st, addr, watch::channel(0u64).0);
            st.entries.insert(addr.clone(), e);
        }
        let Some(e) = st.entries.get_mut(addr) else {
            return Lease { state: None, addr: addr.clone(), down: DownSignal::never() };
        };
        e.leases += 1;
        e.idle_since = None;
        let down = DownSignal(e.down_epoch.subscribe());
        Lease { state: Some(self.state.clone()), addr: addr.clone(), down }
    }

    /// New configured backend or check settings. Probe loops restart with the new settings (their
    /// verdicts start over as `unknown`), but keep their DOWN notifiers: sessions opened before the
    /// change are still closed when their backend goes DOWN. A replaced backend is checked for as
    /// long as its sessions last, like a routed one.
    pub fn reconfigure(&self, main: BackendAddr, cfg: HealthConfig) {
        let mut st = lock(&self.state);
        if st.main == main && st.cfg == cfg {
            return;
        }
        st.main = main.clone();
        st.cfg = cfg;
        let old: Vec<(BackendAddr, Entry)> = st.entries.drain().collect();
        for (addr, e) in old {
            e.task.abort();
            let pinned = addr == main;
            if !pinned && e.leases == 0 {
                continue;
            }
            let fresh = self.spawn_entry(&mut st, &addr, e.down_epoch);
            st.entries.insert(addr, Entry { pinned, leases: e.leases, idle_since: e.idle_since, ..fresh });
        }
        if !st.entries.contains_key(&main) {
            let e = self.spawn_entry(&mut st, &main, watch::channel(0u64).0);
            st.entries.insert(main.clone(), Entry { pinned: true, ..e });
        }
        let kept: Vec<String> = st.entries.keys().filter(|a| **a != main).map(ToString::to_string).collect();
        // Still under the lock: a new loop's first verdict must come after this reset, not before it.
        self.hub.update(|s| {
            s.backend = unknown(&main);
            s.routed_backends.retain(|b| kept.contains(&b.addr));
            for b in &mut s.routed_backends {
                *b = unknown_named(&b.addr);
            }
            for a in &kept {
                if !s.routed_backends.iter().any(|b| &b.addr == a) {
                    s.routed_backends.push(unknown_named(a));
                }
            }
        });
    }

    pub fn stop(&self) {
        for (_, e) in lock(&self.state).entries.drain() {
            e.task.abort();
        }
    }
}

fn unknown(addr: &BackendAddr) -> BackendStatus {
    unknown_named(&addr.to_string())
}

fn unknown_named(addr: &str) -> BackendStatus {
    BackendStatus { addr: addr.to_string(), state: BackendState::Unknown, since_ms: now_ms(), last_error: None }
}

/// What the probe loop should do after a probe, decided under the lock.
enum After {
    Go,
    /// Replaced by a newer loop, or removed: stop quietly.
    Gone,
    /// An unused routed backend past its grace period: drop it and stop.
    Retire,
}

/// A probe's outcome, as its loop saw it.
struct Probe<'a> {
    transition: Option<BackendState>,
    /// The backend's state after this probe.
    state: BackendState,
    /// The probe's error; shown only while the backend is not UP.
    err: Option<&'a str>,
    /// How many checks in a row led to `transition`.
    streak: u32,
}

/// Records a probe and publishes it, all under the lock and only while `generation` still owns the
/// entry: a probe of a replaced backend (or of settings since changed) that finishes after the
/// change must not overwrite the new state, nor re-add a routed entry nothing would remove.
fn after_probe(
    state: &Mutex<State>,
    hub: &StatusHub,
    addr: &BackendAddr,
    generation: u64,
    probe: &Probe<'_>,
    last_error: &mut Option<String>,
) -> After {
    let mut st = lock(state);
    let is_main = st.main == *addr;
    let Some(e) = st.entries.get_mut(addr).filter(|e| e.generation == generation) else {
        return After::Gone;
    };
    if let Some(new) = probe.transition {
        e.state = new;
        if new == BackendState::Down {
            e.down_epoch.send_modify(|n| *n += 1);
        }
    }
    let expired = e.idle_since.is_some_and(|t| t.elapsed() >= ROUTED_GRACE);
    if !e.pinned && e.leases == 0 && expired {
        st.entries.remove(addr);
        // Under the lock, so a new checker for the same backend cannot have published yet.
        let name = addr.to_string();
        hub.update(|s| s.routed_backends.retain(|b| b.addr != name));
        return After::Retire;
    }
    publish(hub, addr, is_main, probe, last_error);
    After::Go
}

/// Logs a transition and puts the verdict in the status. Only what changed is published, so an
/// idle gateway does not wake the UI every interval. The caller holds the checker's lock.
fn publish(hub: &StatusHub, addr: &BackendAddr, is_main: bool, probe: &Probe<'_>, last_error: &mut Option<String>) {
    if let Some(new) = probe.transition {
        let n = probe.streak;
        let what = if new == BackendState::Down { "failed" } else { "successful" };
        let plural = if n == 1 { "" } else { "s" };
        if new == BackendState::Down {
            let why = probe.err.unwrap_or("unknown error");
            status_log!(hub, warn, "backend {addr} is DOWN ({n} {what} check{plural}: {why})");
        } else {
            status_log!(hub, info, "backend {addr} is UP ({n} {what} check{plural})");
        }
    }
    let shown_error = if probe.state == BackendState::Up { None } else { probe.err.map(str::to_string) };
    if probe.transition.is_none() && shown_error == *last_error {
        return;
    }
    last_error.clone_from(&shown_error);
    let name = addr.to_string();
    let snapshot = BackendStatus { addr: name.clone(), state: probe.state, since_ms: 0, last_error: shown_error };
    hub.update(|s| {
        let slot = if is_main {
            Some(&mut s.backend)
        } else {
            if !s.routed_backends.iter().any(|b| b.addr == name) {
                s.routed_backends.push(BackendStatus { since_ms: now_ms(), ..unknown_named(&name) });
            }
            s.routed_backends.iter_mut().find(|b| b.addr == name)
        };
        if let Some(b) = slot {
            let since = if probe.transition.is_some() { now_ms() } else { b.since_ms };
            *b = BackendStatus { since_ms: since, ..snapshot };
        }
        if is_main {
            s.ports.signaling = match s.backend.state {
                BackendState::Up => crate::status::PortState::Open,
                BackendState::Down => crate::status::PortState::Closed,
                BackendState::Unknown => crate::status::PortState::Unknown,
            };
        }
    });
}

async fn probe_loop(
    hub: StatusHub,
    connector: Arc<dyn Connector>,
    state: Arc<Mutex<State>>,
    addr: BackendAddr,
    cfg: HealthConfig,
    generation: u64,
    shutdown: CancellationToken,
) {
    let mut counter = Counter::new(cfg.rise, cfg.fall);
    let mut ticker = tokio::time::interval(cfg.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_error: Option<String> = None;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        // Its own connect timeout, shorter than the interval (see probe_timeout).
        let result = check_tcp(connector.as_ref(), &addr, probe_timeout(cfg.interval)).await;
        let err = result.as_ref().err().map(ToString::to_string);
        let transition = counter.record(result.is_ok());
        let streak = match transition {
            Some(BackendState::Down) => counter.failures(),
            _ => counter.successes(),
        };
        let probe = Probe { transition, state: counter.state(), err: err.as_deref(), streak };
        match after_probe(&state, &hub, &addr, generation, &probe, &mut last_error) {
            After::Go => {}
            After::Gone => return,
            After::Retire => {
                tracing::debug!("stopped checking {addr}: no session used it for {}s", ROUTED_GRACE.as_secs());
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests;
