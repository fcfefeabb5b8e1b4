//! Owns desktop notifications: runtime DOWN / back UP (transitions only, never the first verdict
//! for a backend) and the one-time "still running in the tray" hint. The transition logic is a
//! plain state machine with unit tests; sending goes through tauri-plugin-notification.

use cxr_gate_core::status::BackendState;
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
