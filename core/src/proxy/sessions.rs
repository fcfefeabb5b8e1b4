//! Open tunnels and the session log: one line when a tunnel opens, one when it ends (duration, bytes each
//! way, why). Live byte counters are atomics; the status snapshot is refreshed from them once a second.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::session_end::SessionEnd;
use crate::status::{now_ms, EndedSession, SessionInfo, StatusHub, RECENT_SESSIONS};
use crate::status_log;

pub struct Session {
    pub info: SessionInfo,
    pub up: AtomicU64,
    pub down: AtomicU64,
    started: Instant,
    /// Cancelled at gateway shutdown.
    pub shutdown: CancellationToken,
}

impl Session {
    fn snapshot(&self) -> SessionInfo {
        SessionInfo {
            bytes_up: self.up.load(Ordering::Relaxed),
            bytes_down: self.down.load(Ordering::Relaxed),
            ..self.info.clone()
        }
    }
}

pub struct Sessions {
    hub: StatusHub,
    next_id: AtomicU64,
    active: Mutex<HashMap<u64, Arc<Session>>>,
    shutdown: CancellationToken,
}

impl Sessions {
    pub fn new(hub: StatusHub, shutdown: CancellationToken) -> Arc<Self> {
        Arc::new(Self { hub, next_id: AtomicU64::new(1), active: Mutex::new(HashMap::new()), shutdown })
    }

    fn active(&self) -> MutexGuard<'_, HashMap<u64, Arc<Session>>> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn count(&self) -> usize {
        self.active().len()
    }

    pub fn open(&self, client: String, path: String, backend: String) -> Arc<Session> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let s = Arc::new(Session {
            info: SessionInfo { id, client, path, backend, started_ms: now_ms(), bytes_up: 0, bytes_down: 0 },
            up: AtomicU64::new(0),
            down: AtomicU64::new(0),
            started: Instant::now(),
            shutdown: self.shutdown.child_token(),
        });
        self.active().insert(id, s.clone());
        status_log!(self.hub, info, "session #{id} opened: {} → {} {}", s.info.client, s.info.backend, s.info.path);
        self.publish();
        s
    }

    pub fn close(&self, s: &Session, end: &SessionEnd) {
        if self.active().remove(&s.info.id).is_none() {
            return;
        }
        let info = s.snapshot();
        let reason = end.to_string();
        status_log!(
            self.hub,
            info,
            "session #{} closed after {}: {} ↑ {} ↓ {} ({reason})",
            info.id,
            fmt_duration(s.started.elapsed()),
            info.client,
            fmt_bytes(info.bytes_up),
            fmt_bytes(info.bytes_down)
        );
        let ended = EndedSession { session: info, ended_ms: now_ms(), reason };
        self.hub.update(|st| {
            st.recent_sessions.push_front(ended);
            st.recent_sessions.truncate(RECENT_SESSIONS);
        });
        self.publish();
    }

    /// Open sessions with their live counters, oldest first.
    fn list(&self) -> Vec<SessionInfo> {
        let mut list: Vec<SessionInfo> = self.active().values().map(|s| s.snapshot()).collect();
        list.sort_by_key(|s| s.id);
        list
    }

    /// Copies live counters into the status snapshot.
    pub fn publish(&self) {
        let list = self.list();
        self.hub.update(|st| st.sessions = list);
    }

    /// Refreshes byte counters every second while sessions are open; publishes nothing when idle.
    pub async fn refresh_loop(self: Arc<Self>) {
        let mut last: Vec<SessionInfo> = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let now = self.list();
            if now != last {
                self.hub.update(|st| st.sessions = now.clone());
                last = now;
            }
        }
    }
}

pub fn fmt_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

pub fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Status;

    #[tokio::test]
    async fn open_and_close_are_logged_and_listed() {
        let hub = StatusHub::new(Status::default());
        let sessions = Sessions::new(hub.clone(), CancellationToken::new());
        let s = sessions.open("10.0.0.5:5000".into(), "/sign_in?x=1".into(), "localhost:49100".into());
        assert_eq!(hub.snapshot().sessions.len(), 1);
        s.up.fetch_add(2048, Ordering::Relaxed);
        s.down.fetch_add(10, Ordering::Relaxed);
        let end = SessionEnd::Headset(crate::session_end::PeerEnd::Closed);
        sessions.close(&s, &end);
        sessions.close(&s, &end); // idempotent
        let st = hub.snapshot();
        assert!(st.sessions.is_empty());
        assert_eq!(st.recent_sessions.len(), 1);
        assert_eq!(st.recent_sessions[0].session.bytes_up, 2048);
        assert_eq!(st.recent_sessions[0].reason, "closed by the headset: connection closed");
        let log: Vec<_> = st.log.iter().map(|l| l.msg.clone()).collect();
        assert!(log[0].contains("opened: 10.0.0.5:5000 → localhost:49100 /sign_in?x=1"), "{log:?}");
        assert!(log[1].contains("↑ 2.0 KiB ↓ 10 B (closed by the headset: connection closed)"), "{log:?}");
    }

    #[test]
    fn formats() {
        assert_eq!(fmt_bytes(5 << 20), "5.0 MiB");
        assert_eq!(fmt_duration(Duration::from_secs(3725)), "1h02m05s");
        assert_eq!(fmt_duration(Duration::from_secs(61)), "1m01s");
    }
}
