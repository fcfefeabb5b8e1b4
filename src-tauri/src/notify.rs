//! Owns desktop notifications: runtime DOWN / back UP (transitions only, never the first verdict
//! for a backend), a headset refusing the current certificate (once per headset per certificate)
//! and the one-time "still running in the tray" hint. The transition logic is a
//! plain state machine with unit tests; sending goes through tauri-plugin-notification.

use std::collections::HashSet;

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

/// Remembers which headset was told about which certificate: one notification the first time a
/// headset refuses the certificate in use, never again for the same pair.
#[derive(Debug, Default)]
pub struct Refusals {
    told: HashSet<(String, String)>,
}

impl Refusals {
    /// Title and body for each headset that newly refuses the current certificate.
    pub fn observe(&mut self, s: &Status) -> Vec<(String, String)> {
        let Some(fp) = s.cert.as_ref().map(|c| c.fingerprint_sha256.as_str()) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for h in s.headsets.iter().filter(|h| h.advice.state == HeadsetState::Refused) {
            if self.told.insert((h.ip.clone(), fp.to_string())) {
                out.push((format!("{} does not trust the certificate", h.name()), h.advice.sentence.clone()));
            }
        }
        // Bounded by the book: headsets it dropped (and old certificates) are forgotten.
        self.told.retain(|(ip, f)| f == fp && s.headsets.iter().any(|h| &h.ip == ip));
        out
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

    #[test]
    fn a_refusal_is_told_once_per_headset_and_certificate() {
        use cxr_gate_core::headsets::model::Advice;
        use cxr_gate_core::headsets::Headset;
        let cert = |fp: &str| Some(cxr_gate_core::CertInfo { fingerprint_sha256: fp.into(), ..Default::default() });
        let mut s = Status { cert: cert("AA"), ..Default::default() };
        let refusing = |ip: &str| Headset {
            ip: ip.into(),
            device: "Quest 3 / 3S".into(),
            advice: Advice { state: HeadsetState::Refused, sentence: "accept it again".into(), ..Default::default() },
            ..Default::default()
        };
        s.headsets = vec![refusing("192.168.1.50")];
        let mut r = Refusals::default();
        let told = r.observe(&s);
        assert_eq!(
            told,
            vec![("Quest 3 / 3S (192.168.1.50) does not trust the certificate".into(), "accept it again".into())]
        );
        assert!(r.observe(&s).is_empty(), "the same headset and certificate again");
        s.headsets.push(refusing("192.168.1.51"));
        assert_eq!(r.observe(&s).len(), 1, "another headset");
        s.cert = cert("BB");
        assert_eq!(r.observe(&s).len(), 2, "a new certificate: both told again");
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
