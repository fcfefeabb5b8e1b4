//! The headset log: one line per state change per headset, never one per request. Lines for
//! headsets not logged before are rate-limited on their own budget (an address flood), changes of
//! known ones on another, and each headset has a budget of its own, so one address that flaps
//! cannot take the log from the others; what is held back is counted and said in one summary line
//! every ten seconds at most, and a headset's latest state is written once its budget allows.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::model::{Headset, HeadsetState};

/// First-seen lines: a burst of this many, then one per [`NEW_EVERY`].
const NEW_BURST: f64 = 10.0;
const NEW_EVERY: Duration = Duration::from_secs(6);
/// State changes of headsets already logged: a burst, then one per [`CHANGE_EVERY`].
const CHANGE_BURST: f64 = 30.0;
const CHANGE_EVERY: Duration = Duration::from_secs(1);
/// One headset's lines: a real headset's story (refused, trusted, connected, ended…) fits in the
/// burst; an address that flips between states gets one line per [`HEADSET_EVERY`] after it.
const HEADSET_BURST: f64 = 6.0;
const HEADSET_EVERY: Duration = Duration::from_secs(15);
/// A "trusts the certificate" line waits this long for the request that names the device (the
/// handshake is reported before the request that carries the User-Agent).
pub const DEVICE_WAIT: Duration = Duration::from_secs(2);
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

    fn refill(&mut self, now: Instant) {
        let gained = now.saturating_duration_since(self.at).as_secs_f64() / self.every.as_secs_f64();
        self.tokens = (self.tokens + gained).min(self.burst);
        self.at = now;
    }

    fn ready(&mut self, now: Instant) -> bool {
        self.refill(now);
        // At `ready_at` exactly (nanoseconds rounded), not a hair after.
        self.tokens >= 1.0 - 1e-6
    }

    fn take(&mut self, now: Instant) -> bool {
        let ok = self.ready(now);
        if ok {
            self.tokens = (self.tokens - 1.0).max(0.0);
        }
        ok
    }

    /// When the next token is there.
    fn ready_at(&self) -> Instant {
        self.at + self.every.mul_f64((1.0 - self.tokens).max(0.0))
    }
}

pub struct Line {
    /// A warning (a refusal, a failure, short sessions) rather than news.
    pub warn: bool,
    pub msg: String,
}

/// What makes a state worth a new line: the chip, and whether the device is known (once, when a
/// request names it). Not the alert or the agent's text: the client chooses those.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    state: HeadsetState,
    device_known: bool,
}

fn key(h: &Headset) -> Key {
    Key { state: h.advice.state, device_known: !h.device.is_empty() }
}

/// One headset as the log knows it.
struct Told {
    /// The last line written for it (`None`: none yet).
    written: Option<Key>,
    /// Its state in the last render, and whether that change was counted as held back (once).
    current: Key,
    counted: bool,
    budget: Bucket,
    /// Since when a "trusts" line has waited for the device (until a line is written).
    waiting: Option<Instant>,
}

impl Told {
    fn waits_for_device(&self) -> bool {
        self.current.state == HeadsetState::Trusted && !self.current.device_known
    }
}

pub struct Announcer {
    /// Per headset IP; only IPs still in the book are kept.
    told: HashMap<String, Told>,
    new: Bucket,
    changes: Bucket,
    held_new: u64,
    held_changes: u64,
    since: Instant,
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
            told: HashMap::new(),
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
            let t = self.told.entry(h.ip.clone()).or_insert_with(|| Told {
                written: None,
                current: k,
                counted: false,
                budget: Bucket::new(HEADSET_BURST, HEADSET_EVERY, now),
                waiting: None,
            });
            if t.current != k {
                t.current = k;
                t.counted = false;
            }
            if t.written == Some(k) {
                continue;
            }
            if t.waits_for_device() {
                let since = *t.waiting.get_or_insert(now);
                if now < since + DEVICE_WAIT {
                    continue;
                }
            }
            let first = t.written.is_none();
            let global = if first { &mut self.new } else { &mut self.changes };
            if t.budget.ready(now) && global.take(now) {
                t.budget.take(now);
                t.written = Some(k);
                t.waiting = None;
                out.push(Line { warn: warns(h.advice.state), msg: line(h) });
            } else if first {
                // Said in the summary; its later changes are changes.
                t.written = Some(k);
                t.waiting = None;
                self.held_new += 1;
            } else if !t.counted {
                t.counted = true;
                self.held_changes += 1;
            }
        }
        self.told.retain(|ip, _| list.iter().any(|h| &h.ip == ip));
        if let Some(s) = self.summary(now) {
            out.push(s);
        }
        out
    }

    /// When to call [`Announcer::lines`] again though the book did not change: a summary is
    /// waiting, a headset's latest state waits for its budget, or a line waits for the device.
    pub fn due(&self) -> Option<Instant> {
        let summary = (self.held_new + self.held_changes > 0).then_some(self.since + SUMMARY_EVERY);
        let pending = self.told.values().filter(|t| t.written != Some(t.current)).filter_map(|t| {
            let device = t.waiting.filter(|_| t.waits_for_device()).map(|since| since + DEVICE_WAIT);
            match t.written {
                // A first line is written or counted as soon as its wait is over.
                None => device,
                Some(_) => Some(t.budget.ready_at().max(self.changes.ready_at()).max(device.unwrap_or(self.since))),
            }
        });
        summary.into_iter().chain(pending).min()
    }

    /// The summary of held-back lines, at most once per [`SUMMARY_EVERY`].
    pub fn summary(&mut self, now: Instant) -> Option<Line> {
        if now < self.since + SUMMARY_EVERY && self.held_new + self.held_changes > 0 {
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

    use crate::headsets::advice::Context;
    use crate::headsets::book::{Book, Page};
    use crate::headsets::QUEST_3_UA;
    use std::net::SocketAddr;

    fn at(ip: &str) -> SocketAddr {
        format!("{ip}:50000").parse().unwrap()
    }
    const LOCAL: &str = "192.168.1.10:48322";
    const ALERTS: [&str; 7] = [
        "certificate_unknown",
        "bad_certificate",
        "unknown_ca",
        "certificate_expired",
        "certificate_revoked",
        "unsupported_certificate",
        "access_denied",
    ];

    // Before: the change budget was shared and the alert was part of the key, so one address that
    // flipped between refusing and trusting (or cycled alerts) wrote a line a second, and a real
    // headset's change fell into the summary.
    #[test]
    fn one_flapping_address_cannot_take_the_log_from_another_headset() {
        let book = Book::default();
        let local: SocketAddr = LOCAL.parse().unwrap();
        let (flap, real) = (at("10.0.0.66"), at("10.0.0.2"));
        let t0 = Instant::now();
        let mut a = Announcer::new(t0);
        book.tls_refused(real, local, "unknown_ca");
        book.tls_trusted(real, local, Some("AA"));
        let mut log = Vec::new();
        // 60 s, a render every 250 ms as the publisher does, one flip before each: the first half
        // refusal ↔ trust, the second half refusals with each of seven alerts in turn.
        for i in 0..240u32 {
            let now = t0 + Duration::from_millis(250 * u64::from(i));
            let alert = ALERTS[i as usize % ALERTS.len()];
            if i < 120 && i % 2 == 1 {
                let hs = book.tls_trusted(flap, local, Some("AA"));
                book.request(flap, local, &hs, Some(QUEST_3_UA), Page::Other);
            } else {
                book.tls_refused(flap, local, alert);
            }
            if i == 140 {
                book.tls_refused(real, local, "certificate_unknown");
            }
            log.extend(a.lines(&book.render(Context::default()), now).into_iter().map(|l| l.msg));
        }
        let flapping = log.iter().filter(|l| l.starts_with("headset 10.0.0.66 ")).count();
        println!("lines written for the flapping address in 60 s: {flapping}");
        assert!(flapping <= HEADSET_BURST as usize + 4, "{flapping} lines:\n{}", log.join("\n"));
        let real_refusal = log.iter().any(|l| l.starts_with("headset 10.0.0.2 ") && l.contains("refused"));
        assert!(real_refusal, "the other headset's refusal is not logged by name:\n{}", log.join("\n"));
    }

    // Its latest state is written once its budget allows, without another change to wake it.
    #[test]
    fn a_held_back_state_is_written_when_the_budget_allows() {
        let book = Book::default();
        let local: SocketAddr = LOCAL.parse().unwrap();
        let p = at("10.0.0.66");
        let t0 = Instant::now();
        let mut a = Announcer::new(t0);
        let mut now = t0;
        let mut lines = Vec::new();
        for i in 0..21 {
            if i % 2 == 0 {
                book.tls_refused(p, local, "unknown_ca");
            } else {
                let hs = book.tls_trusted(p, local, Some("AA"));
                book.request(p, local, &hs, Some(QUEST_3_UA), Page::Other);
            }
            now += Duration::from_millis(250);
            lines.extend(a.lines(&book.render(Context::default()), now).into_iter().map(|l| l.msg));
        }
        // The last line written was a trust (the budget ran out on it), the last event a refusal.
        // The publisher sleeps until `due` (a summary, the budget):
        // the trust is written within one refill, with no other event.
        let mut written = None;
        for _ in 0..4 {
            let due = a.due().expect("something is waiting");
            let out = a.lines(&book.render(Context::default()), due);
            if out.iter().any(|l| l.msg.starts_with("headset 10.0.0.66 ") && l.msg.contains("refused")) {
                written = Some(due);
                break;
            }
        }
        let at = written.expect("the latest state is written");
        assert!(at > now && at <= now + HEADSET_EVERY, "{:?}", at - now);
        assert_eq!(a.due(), None, "nothing waits once it is written and summed up");
    }

    // The handshake is reported before the request that carries the User-Agent: the "trusts" line
    // waits for it, and a device that becomes known later is named in a line of its own.
    #[test]
    fn the_trusts_line_names_the_device() {
        let book = Book::default();
        let local: SocketAddr = LOCAL.parse().unwrap();
        let p = at("10.0.0.1");
        let t0 = Instant::now();
        let mut a = Announcer::new(t0);
        book.tls_refused(p, local, "certificate_unknown");
        let first = a.lines(&book.render(Context::default()), t0);
        assert!(first[0].msg.contains("(browser not known yet) refused the certificate"), "{}", first[0].msg);
        let hs = book.tls_trusted(p, local, Some("AA"));
        let mut log: Vec<String> = a.lines(&book.render(Context::default()), t0).into_iter().map(|l| l.msg).collect();
        book.request(p, local, &hs, Some(QUEST_3_UA), Page::App);
        let later = t0 + Duration::from_millis(250);
        log.extend(a.lines(&book.render(Context::default()), later).into_iter().map(|l| l.msg));
        assert_eq!(log.len(), 1, "{log:#?}");
        assert!(log[0].contains("(Quest 3 / 3S, Quest Browser 39.2) trusts the certificate"), "{log:#?}");

        // No request follows: the line is written without the device, and the device later.
        let q = at("10.0.0.3");
        book.tls_refused(q, local, "certificate_unknown");
        let hs = book.tls_trusted(q, local, Some("AA"));
        let mut now = later;
        let mut log: Vec<String> = Vec::new();
        while now < later + DEVICE_WAIT + Duration::from_secs(1) {
            log.extend(a.lines(&book.render(Context::default()), now).into_iter().map(|l| l.msg));
            now += Duration::from_millis(250);
        }
        let q_lines: Vec<&String> = log.iter().filter(|l| l.starts_with("headset 10.0.0.3 ")).collect();
        assert!(q_lines.iter().any(|l| l.contains("(browser not known yet) trusts")), "{log:#?}");
        book.request(q, local, &hs, Some(QUEST_3_UA), Page::Other);
        let named: Vec<String> = a.lines(&book.render(Context::default()), now).into_iter().map(|l| l.msg).collect();
        assert!(named.iter().any(|l| l.starts_with("headset 10.0.0.3 (Quest 3 / 3S")), "{named:#?}");
    }
}
