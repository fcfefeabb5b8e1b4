//! Owns desktop notifications: runtime DOWN / back UP (transitions only, never the first verdict
//! for a backend), a headset refusing the current certificate (once per headset per certificate,
//! at most [`REFUSALS_AT_ONCE`] a minute, the rest summed up) and the one-time "still running in the
//! tray" hint. The logic is plain state machines with an injected clock and unit tests; sending
//! goes through tauri-plugin-notification.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use cxr_gate_core::headsets::HeadsetState;
use cxr_gate_core::status::BackendState;
use cxr_gate_core::Status;
use tauri::{AppHandle, Runtime};
use tauri_plugin_notification::NotificationExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    WentDown,
    CameUp,
}

/// Remembers the last definite verdict (UP or DOWN) per backend address.
#[derive(Debug, Default)]
pub struct Tracker {
    addr: String,
    last: Option<BackendState>,
}

impl Tracker {
    /// Feeds one status; returns a transition worth telling the user about.
    /// "checking" (Unknown) is ignored; a new backend address starts over (its first verdict is silent).
    pub fn observe(&mut self, addr: &str, state: BackendState) -> Option<Transition> {
        if addr != self.addr {
            self.addr = addr.to_string();
            self.last = None;
        }
        if state == BackendState::Unknown {
            return None;
        }
        let prev = self.last.replace(state);
        match (prev, state) {
            (Some(BackendState::Up), BackendState::Down) => Some(Transition::WentDown),
            (Some(BackendState::Down), BackendState::Up) => Some(Transition::CameUp),
            _ => None,
        }
    }
}

/// Refusal notifications: at most this many per [`REFUSAL_WINDOW`]; more refusing headsets (a host
/// with a /24 of alias addresses, rotating IPv6 privacy addresses) are summed up in one
/// notification per window instead, for as long as they keep coming.
pub const REFUSALS_AT_ONCE: usize = 3;
pub const REFUSAL_WINDOW: Duration = Duration::from_secs(60);
/// Headsets remembered as told about the current certificate, the oldest forgotten first: a
/// headset the book dropped and that comes back is not told again, and no LAN can grow the set.
pub const TOLD_MAX: usize = 1024;

/// Remembers which headset was told about which certificate, and how many notifications went out
/// lately: one notification the first time a headset refuses the certificate in use, never again
/// for the same pair (within [`TOLD_MAX`] headsets), and at most [`REFUSALS_AT_ONCE`] a minute.
#[derive(Debug, Default)]
pub struct Refusals {
    /// The certificate `told` is about.
    fingerprint: String,
    told: HashSet<String>,
    /// `told` in the order told, to forget the oldest.
    order: VecDeque<String>,
    /// When the notifications of the last [`REFUSAL_WINDOW`] went out.
    sent: VecDeque<Instant>,
    /// Refusing headsets not told one by one, for the next summary.
    held: u64,
    last_summary: Option<Instant>,
}

impl Refusals {
    /// Title and body for each headset that newly refuses the current certificate, and the
    /// summary of the ones held back once it is due ([`Refusals::due`]).
    pub fn observe(&mut self, s: &Status, now: Instant) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(fp) = s.cert.as_ref().map(|c| c.fingerprint_sha256.as_str()) {
            if fp != self.fingerprint {
                // A new certificate: every headset that refuses it is news again.
                self.fingerprint = fp.to_string();
                self.told.clear();
                self.order.clear();
            }
            for h in s.headsets.iter().filter(|h| h.advice.state == HeadsetState::Refused) {
                if !self.remember(&h.ip) {
                    continue;
                }
                if self.flood(now) || !self.room(now) {
                    self.held += 1;
                } else {
                    self.sent.push_back(now);
                    out.push((format!("{} does not trust the certificate", h.name()), h.advice.sentence.clone()));
                }
            }
        }
        if self.held > 0 && self.due().is_some_and(|at| now >= at) && self.room(now) {
            let n = self.held;
            self.held = 0;
            self.last_summary = Some(now);
            self.sent.push_back(now);
            let title = if n == 1 {
                "1 more headset refuses the certificate".to_string()
            } else {
                format!("{n} more headsets refuse the certificate")
            };
            out.push((title, "The Headsets card lists each one with what to do on the headset.".into()));
        }
        out
    }

    /// When the summary of held-back refusals is due, if any are held.
    pub fn due(&self) -> Option<Instant> {
        if self.held == 0 {
            return None;
        }
        let quota = match self.sent.len() >= REFUSALS_AT_ONCE {
            true => self.sent.front().map(|t| *t + REFUSAL_WINDOW),
            false => None,
        };
        let summary = self.last_summary.map(|t| t + REFUSAL_WINDOW);
        Some(quota.into_iter().chain(summary).max().unwrap_or_else(Instant::now))
    }

    /// Notes `ip` as told; false if it was already.
    fn remember(&mut self, ip: &str) -> bool {
        if !self.told.insert(ip.to_string()) {
            return false;
        }
        self.order.push_back(ip.to_string());
        while self.order.len() > TOLD_MAX {
            if let Some(old) = self.order.pop_front() {
                self.told.remove(&old);
            }
        }
        true
    }

    /// Room under the quota, once notifications older than the window are let go.
    fn room(&mut self, now: Instant) -> bool {
        while self.sent.front().is_some_and(|t| now.saturating_duration_since(*t) >= REFUSAL_WINDOW) {
            self.sent.pop_front();
        }
        self.sent.len() < REFUSALS_AT_ONCE
    }

    /// Refusals are being summed up: held back ones wait, or the last summary is recent.
    fn flood(&self, now: Instant) -> bool {
        self.held > 0 || self.last_summary.is_some_and(|t| now < t + REFUSAL_WINDOW)
    }
}

/// Title and body for a transition.
pub fn message(t: Transition, addr: &str, reason: Option<&str>) -> (String, String) {
    match t {
        Transition::WentDown => (
            "CloudXR Runtime is DOWN".into(),
            match reason {
                Some(r) => format!("{addr} stopped answering ({r}). Headsets cannot connect until it is back."),
                None => {
                    format!("{addr} stopped answering. Headsets cannot connect until it is back.")
                }
            },
        ),
        Transition::CameUp => {
            ("CloudXR Runtime is UP".into(), format!("{addr} is answering again. Headsets can connect."))
        }
    }
}

pub fn show<R: Runtime>(app: &AppHandle<R>, title: &str, body: &str) {
    // No notification daemon (a bare X session, CI) is normal: log, don't fail.
    if let Err(e) = app.notification().builder().title(title).body(body).show() {
        tracing::debug!("notification not shown ({e}): {title}: {body}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BackendState::*;

    fn refusing(ip: &str) -> cxr_gate_core::headsets::Headset {
        use cxr_gate_core::headsets::model::Advice;
        cxr_gate_core::headsets::Headset {
            ip: ip.into(),
            device: "Quest 3 / 3S".into(),
            advice: Advice { state: HeadsetState::Refused, sentence: "accept it again".into(), ..Default::default() },
            ..Default::default()
        }
    }

    fn with_cert(fp: &str) -> Status {
        Status {
            cert: Some(cxr_gate_core::CertInfo { fingerprint_sha256: fp.into(), ..Default::default() }),
            ..Default::default()
        }
    }

    #[test]
    fn a_refusal_is_told_once_per_headset_and_certificate() {
        let t0 = Instant::now();
        let mut s = with_cert("AA");
        s.headsets = vec![refusing("192.168.1.50")];
        let mut r = Refusals::default();
        let told = r.observe(&s, t0);
        assert_eq!(
            told,
            vec![("Quest 3 / 3S (192.168.1.50) does not trust the certificate".into(), "accept it again".into())]
        );
        assert!(r.observe(&s, t0).is_empty(), "the same headset and certificate again");
        s.headsets.push(refusing("192.168.1.51"));
        assert_eq!(r.observe(&s, t0).len(), 1, "another headset");
        s.cert = with_cert("BB").cert;
        assert_eq!(r.observe(&s, t0 + REFUSAL_WINDOW).len(), 2, "a new certificate: both told again");
    }

    /// The status as the book shows it: at most its cap, the most recent first.
    fn book_of(ips: &[String]) -> Vec<cxr_gate_core::headsets::Headset> {
        ips.iter().rev().take(cxr_gate_core::headsets::CAP).map(|ip| refusing(ip)).collect()
    }

    // Before: one notification per refusing address, and again for each that the book dropped
    // and that came back.
    #[test]
    fn refusals_from_many_addresses_give_three_notifications_and_one_summary() {
        let t0 = Instant::now();
        let mut s = with_cert("AA");
        let mut r = Refusals::default();
        let ips: Vec<String> = (0..128).map(|i| format!("10.0.{}.{}", i / 250, 1 + i % 250)).collect();
        let mut told = Vec::new();
        // 64 refusing headsets, then another 64 (the book drops the first ones), 5 s apart.
        s.headsets = book_of(&ips[..64]);
        told.extend(r.observe(&s, t0));
        s.headsets = book_of(&ips);
        told.extend(r.observe(&s, t0 + Duration::from_secs(5)));
        assert_eq!(told.len(), REFUSALS_AT_ONCE, "{told:#?}");
        // The first 64 come back; then the pump wakes when the summary is due, and later.
        s.headsets = book_of(&ips[..64]);
        told.extend(r.observe(&s, t0 + Duration::from_secs(10)));
        let due = r.due().expect("a summary is due");
        assert_eq!(due, t0 + REFUSAL_WINDOW);
        assert!(r.observe(&s, due - Duration::from_millis(1)).is_empty(), "not before it is due");
        for k in 0..10 {
            told.extend(r.observe(&s, due + Duration::from_secs(30 * k)));
        }
        assert_eq!(told.len(), REFUSALS_AT_ONCE + 1, "{told:#?}");
        assert_eq!(told[3].0, format!("{} more headsets refuse the certificate", 128 - REFUSALS_AT_ONCE));
        assert_eq!(r.due(), None);

        // While refusals keep coming, one summary a minute at most; once they stop, single
        // notifications again.
        let more: Vec<String> = (0..600).map(|i| format!("10.1.{}.{}", i / 250, 1 + i % 250)).collect();
        let mut later = Vec::new();
        let t1 = due + Duration::from_secs(300);
        for (k, chunk) in more.chunks(20).enumerate() {
            s.headsets = book_of(chunk);
            later.extend(r.observe(&s, t1 + Duration::from_secs(10 * k as u64)));
        }
        let minutes = (more.len() / 20) as u32 * 10 / 60;
        assert!(later.len() <= REFUSALS_AT_ONCE + minutes as usize + 1, "{} in {minutes} min", later.len());
        let quiet = t1 + Duration::from_secs(3600);
        r.observe(&s, quiet);
        s.headsets = vec![refusing("10.9.0.1")];
        assert_eq!(r.observe(&s, quiet + REFUSAL_WINDOW).len(), 1, "a single refusal after the flood");
        // Memory: at most TOLD_MAX addresses remembered, whatever came.
        for k in 0..100u32 {
            let ips: Vec<String> = (0..64).map(|i| format!("10.2.{k}.{i}")).collect();
            s.headsets = book_of(&ips);
            r.observe(&s, quiet + REFUSAL_WINDOW + Duration::from_secs(u64::from(k)));
        }
        assert_eq!((r.told.len(), r.order.len()), (TOLD_MAX, TOLD_MAX));
    }

    #[test]
    fn first_verdict_is_silent_then_transitions_notify() {
        let mut t = Tracker::default();
        let a = "localhost:49100";
        assert_eq!(t.observe(a, Unknown), None);
        assert_eq!(t.observe(a, Down), None, "first verdict");
        assert_eq!(t.observe(a, Down), None, "no change");
        assert_eq!(t.observe(a, Up), Some(Transition::CameUp));
        assert_eq!(t.observe(a, Up), None);
        assert_eq!(t.observe(a, Unknown), None, "checking again is not a verdict");
        assert_eq!(t.observe(a, Down), Some(Transition::WentDown));
    }

    #[test]
    fn a_new_backend_starts_over() {
        let mut t = Tracker::default();
        assert_eq!(t.observe("a:1", Up), None);
        assert_eq!(t.observe("b:2", Down), None, "first verdict for b");
        assert_eq!(t.observe("b:2", Up), Some(Transition::CameUp));
    }

    #[test]
    fn messages_name_the_backend_and_reason() {
        let (title, body) = message(Transition::WentDown, "localhost:49100", Some("connection refused"));
        assert_eq!(title, "CloudXR Runtime is DOWN");
        assert!(body.contains("localhost:49100") && body.contains("connection refused"), "{body}");
        assert_eq!(message(Transition::CameUp, "x:1", None).0, "CloudXR Runtime is UP");
    }
}
