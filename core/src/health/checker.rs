//! One probe loop per backend in use (the configured one, plus path-routed ones once used).
//! Publishes verdicts on the status channel and, on a transition to DOWN, signals every tunnel
//! to that backend to close (HAProxy's `on-marked-down shutdown-sessions`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::check_tcp::{check_tcp, probe_timeout};
use super::counter::Counter;
use crate::config::{BackendAddr, HealthConfig};
use crate::connector::Connector;
use crate::status::{now_ms, BackendState, BackendStatus, StatusHub};
use crate::status_log;

struct Entry {
    state: BackendState,
    /// Bumped on every transition to DOWN; tunnels wait for a change.
    down_epoch: watch::Sender<u64>,
    task: JoinHandle<()>,
}

struct State {
    main: BackendAddr,
    cfg: HealthConfig,
    entries: HashMap<BackendAddr, Entry>,
}

pub struct Health {
    hub: StatusHub,
    connector: Arc<dyn Connector>,
    shutdown: CancellationToken,
    state: Arc<Mutex<State>>,
}

/// Resolves when the backend is marked DOWN (never, if its checker is replaced or stopped).
pub struct DownSignal(watch::Receiver<u64>);

impl DownSignal {
    pub async fn marked_down(&mut self) {
        if self.0.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// A new configured backend starts as `unknown`; routed ones are forgotten.
fn publish_unknown(hub: &StatusHub, main: &BackendAddr) {
    hub.update(|s| {
        s.backend = BackendStatus {
            addr: main.to_string(),
            state: BackendState::Unknown,
            since_ms: now_ms(),
            last_error: None,
        };
        s.routed_backends.clear();
    });
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
        publish_unknown(&hub, &main);
        let h = Arc::new(Self {
            hub,
            connector,
            shutdown,
            state: Arc::new(Mutex::new(State { main: main.clone(), cfg, entries: HashMap::new() })),
        });
        h.watch(&main);
        h
    }

    /// Starts checking `addr` if nobody does yet.
    pub fn watch(&self, addr: &BackendAddr) {
        let mut st = lock(&self.state);
        if st.entries.contains_key(addr) {
            return;
        }
        let (tx, _) = watch::channel(0u64);
        let task = tokio::spawn(probe_loop(
            self.hub.clone(),
            self.connector.clone(),
            self.state.clone(),
            addr.clone(),
            st.cfg.clone(),
            self.shutdown.child_token(),
        ));
        st.entries.insert(addr.clone(), Entry { state: BackendState::Unknown, down_epoch: tx, task });
    }

    pub fn state(&self, addr: &BackendAddr) -> BackendState {
        lock(&self.state).entries.get(addr).map(|e| e.state).unwrap_or_default()
    }

    pub fn down_signal(&self, addr: &BackendAddr) -> DownSignal {
        let st = lock(&self.state);
        match st.entries.get(addr) {
            Some(e) => DownSignal(e.down_epoch.subscribe()),
            // Unwatched: a sender dropped at once makes the signal pend forever.
            None => DownSignal(watch::channel(0u64).1),
        }
    }

    /// New backend or check settings: restart the probe loops (states start over as `unknown`).
    pub fn reconfigure(&self, main: BackendAddr, cfg: HealthConfig) {
        {
            let mut st = lock(&self.state);
            if st.main == main && st.cfg == cfg {
                return;
            }
            for (_, e) in st.entries.drain() {
                e.task.abort();
            }
            st.main = main.clone();
            st.cfg = cfg;
        }
        publish_unknown(&self.hub, &main);
        self.watch(&main);
    }

    pub fn stop(&self) {
        for (_, e) in lock(&self.state).entries.drain() {
            e.task.abort();
        }
    }
}

async fn probe_loop(
    hub: StatusHub,
    connector: Arc<dyn Connector>,
    state: Arc<Mutex<State>>,
    addr: BackendAddr,
    cfg: HealthConfig,
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
        let err = result.as_ref().err().cloned();
        let transition = counter.record(result.is_ok());
        let is_main = lock(&state).main == addr;
        if let Some(new) = transition {
            let msg = match new {
                BackendState::Down => format!(
                    "backend {addr} is DOWN ({} failed check{}: {})",
                    counter.failures(),
                    if counter.failures() == 1 { "" } else { "s" },
                    err.as_deref().unwrap_or("unknown error")
                ),
                _ => format!(
                    "backend {addr} is UP ({} successful check{})",
                    counter.successes(),
                    if counter.successes() == 1 { "" } else { "s" }
                ),
            };
            if new == BackendState::Down {
                status_log!(hub, warn, "{msg}");
            } else {
                status_log!(hub, info, "{msg}");
            }
            let mut st = lock(&state);
            if let Some(e) = st.entries.get_mut(&addr) {
                e.state = new;
                if new == BackendState::Down {
                    e.down_epoch.send_modify(|n| *n += 1);
                }
            }
        }
        // Publish only what changed, so an idle gateway does not wake the UI every interval.
        let shown_error = if counter.state() == BackendState::Up { None } else { err.clone() };
        if transition.is_some() || shown_error != last_error {
            last_error = shown_error.clone();
            let snapshot =
                BackendStatus { addr: addr.to_string(), state: counter.state(), since_ms: 0, last_error: shown_error };
            hub.update(|s| {
                let slot = if is_main {
                    Some(&mut s.backend)
                } else {
                    let name = addr.to_string();
                    if !s.routed_backends.iter().any(|b| b.addr == name) {
                        s.routed_backends.push(BackendStatus { since_ms: now_ms(), ..Default::default() });
                        if let Some(last) = s.routed_backends.last_mut() {
                            last.addr = name.clone();
                        }
                    }
                    s.routed_backends.iter_mut().find(|b| b.addr == name)
                };
                if let Some(b) = slot {
                    let since = if transition.is_some() { now_ms() } else { b.since_ms };
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
    }
}
