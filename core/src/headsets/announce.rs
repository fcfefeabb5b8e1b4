//! The headset log: one line per state change per headset, never one per request. Lines for
//! headsets not logged before are rate-limited on their own budget (an address flood), changes of
//! known ones on another; what is held back is counted and said in one summary line every ten seconds at most.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::model::{Headset, HeadsetState};

/// First-seen lines: a burst of this many, then one per [`NEW_EVERY`].
const NEW_BURST: f64 = 10.0;
const NEW_EVERY: Duration = Duration::from_secs(6);
/// State changes of headsets already logged: a burst, then one per [`CHANGE_EVERY`].
const CHANGE_BURST: f64 = 30.0;
const CHANGE_EVERY: Duration = Duration::from_secs(1);
/// Held-back lines are summed up at most this often (a flood costs six lines a minute).
pub const SUMMARY_EVERY: Duration = Duration::from_secs(10);

struct Bucket {
    tokens: f64,
    burst: f64,
    every: Duration,
    at: Instant,
}

impl Bucket {
    fn new(burst: f64, every: Duration, now: Instant) -> Bucket {
        Bucket { tokens: burst, burst, every, at: now }
    }

    fn take(&mut self, now: Instant) -> bool {
        let gained = now.saturating_duration_since(self.at).as_secs_f64() / self.every.as_secs_f64();
        self.tokens = (self.tokens + gained).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

pub struct Line {
    /// A warning (a refusal, a failure, short sessions) rather than news.
    pub warn: bool,
    pub msg: String,
}

pub struct Announcer {
    /// The state last logged (or held back) per headset IP; only IPs still in the book are kept.
    logged: HashMap<String, String>,
    new: Bucket,
    changes: Bucket,
    held_new: u64,
    held_changes: u64,
    since: Instant,
}

/// What makes a state worth a new line: the chip, and for a refusal the alert.
fn key(h: &Headset) -> String {
    match h.advice.state {
        HeadsetState::Refused => {
            format!("refused:{}", h.tls.as_ref().and_then(|t| t.detail.as_deref()).unwrap_or(""))
        }
        s => s.as_str().to_string(),
    }
}

fn warns(state: HeadsetState) -> bool {
    matches!(
        state,
        HeadsetState::Refused | HeadsetState::Failed | HeadsetState::ShortSessions | HeadsetState::PlainHttp
    )
}

pub fn line(h: &Headset) -> String {
    format!("headset {} ({}) {}", h.ip, h.label(), h.advice.summary)
}

impl Announcer {
    pub fn new(now: Instant) -> Announcer {
        Announcer {
            logged: HashMap::new(),
            new: Bucket::new(NEW_BURST, NEW_EVERY, now),
            changes: Bucket::new(CHANGE_BURST, CHANGE_EVERY, now),
            held_new: 0,
            held_changes: 0,
            since: now,
        }
    }

    /// Lines to log for `list` (the whole book) since the last call.
    pub fn lines(&mut self, list: &[Headset], now: Instant) -> Vec<Line> {
        let mut out = Vec::new();
        for h in list {
            let k = key(h);
            let first = match self.logged.get(&h.ip) {
                Some(prev) if *prev == k => continue,
                Some(_) => false,
                None => true,
            };
            self.logged.insert(h.ip.clone(), k);
            let allowed = if first { self.new.take(now) } else { self.changes.take(now) };
            match (allowed, first) {
                (true, _) => out.push(Line { warn: warns(h.advice.state), msg: line(h) }),
                (false, true) => self.held_new += 1,
                (false, false) => self.held_changes += 1,
            }
        }
        self.logged.retain(|ip, _| list.iter().any(|h| &h.ip == ip));
        if let Some(s) = self.summary(now) {
            out.push(s);
        }
        out
    }

    /// Whether a summary is waiting, and when it is due.
    pub fn summary_due(&self) -> Option<Instant> {
        (self.held_new + self.held_changes > 0).then_some(self.since + SUMMARY_EVERY)
    }

    /// The summary of held-back lines, at most once per [`SUMMARY_EVERY`].
    pub fn summary(&mut self, now: Instant) -> Option<Line> {
        if now < self.since + SUMMARY_EVERY && self.summary_due().is_some() {
            return None;
        }
        let held = (self.held_new, self.held_changes);
        self.held_new = 0;
        self.held_changes = 0;
        self.since = now;
        if held == (0, 0) {
            return None;
        }
        Some(Line {
            warn: true,
            msg: format!(
                "headsets: {} new addresses and {} changes were not logged one by one (too many at once); the \
                 book keeps the {} most recently seen",
                held.0,
                held.1,
                super::book::CAP
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headsets::model::{Advice, TlsOutcome, TlsResult};

    fn refused(ip: String) -> Headset {
        Headset {
            ip,
            tls: Some(TlsResult { outcome: TlsOutcome::Refused, detail: Some("unknown_ca".into()), at_ms: 1 }),
            advice: Advice {
                state: HeadsetState::Refused,
                summary: "refused the certificate".into(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn one_line_per_change_and_a_summary_under_a_flood() {
        let t0 = Instant::now();
        let mut a = Announcer::new(t0);
        let one = vec![refused("10.0.0.1".into())];
        let first = a.lines(&one, t0);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].msg, "headset 10.0.0.1 (browser not known yet) refused the certificate");
        // The same state again, however often: nothing.
        for _ in 0..100 {
            assert!(a.lines(&one, t0).is_empty());
        }
        let flood: Vec<Headset> = (0..3000).map(|i| refused(format!("10.1.{}.{}", i / 256, i % 256))).collect();
        let lines = a.lines(&flood, t0);
        assert_eq!(lines.len(), NEW_BURST as usize - 1, "{}", lines.len());
        let later = t0 + SUMMARY_EVERY;
        let summary = a.summary(later).expect("a summary");
        assert!(summary.msg.contains("2991 new addresses"), "{}", summary.msg);
        assert!(a.summary(later + SUMMARY_EVERY).is_none());
    }
}
