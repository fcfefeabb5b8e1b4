//! Why a tunnelled session ended: which side ended it (the headset, the runtime, or the gate
//! itself) and how (its WebSocket Close, its connection ending, an error; or the gate's reason).
//! The tunnel decides it; the session log, the Headsets card and the short-session rule read it.
//! [`SessionEnd`]'s `Display` is the one place it becomes text. Plain data: depends on nothing in
//! the crate, so the status and the headset model can hold it.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionEnd {
    /// The headset (the client side of the tunnel) ended it.
    Headset(PeerEnd),
    /// The CloudXR Runtime (the backend) ended it.
    Runtime(PeerEnd),
    /// The gate closed it.
    Gate(GateEnd),
}

/// How a peer ended a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerEnd {
    /// It sent the session's first WebSocket Close frame.
    Close(CloseFrame),
    /// Its connection ended (no Close frame seen before).
    Closed,
    /// Reading from it or writing to it failed: the network, a reset, a crash. The error's text.
    Error(String),
}

/// What a WebSocket Close frame said (RFC 6455 §5.5.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseFrame {
    /// A status code, and the reason text: cut, with control and format characters dropped.
    Code { code: u16, text: String },
    /// An empty payload: allowed, and says nothing.
    NoCode,
    /// A 1-byte payload: a protocol error (a code takes two bytes).
    Malformed,
}

/// Why the gate closed a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateEnd {
    /// The health check marked the runtime DOWN.
    Health,
    /// The headset read nothing for this long (ms, `timeouts.write_stall`) while the gate had data
    /// for it.
    Stall { ms: u64 },
    /// No byte either way for this long (ms, `timeouts.tunnel_idle`).
    Idle { ms: u64 },
    /// The gateway stopped, or its settings closed the listener.
    Shutdown,
}

impl SessionEnd {
    /// `headset`, `runtime` or `gate`.
    pub fn closed_by(&self) -> &'static str {
        match self {
            SessionEnd::Headset(_) => "headset",
            SessionEnd::Runtime(_) => "runtime",
            SessionEnd::Gate(_) => "gate",
        }
    }

    /// Ended by the runtime, or by the network failing on either side: what lost media looks like.
    /// A headset that closed (its user, its page) or the gate's own reasons say nothing about media.
    pub fn by_runtime_or_network(&self) -> bool {
        matches!(self, SessionEnd::Runtime(_) | SessionEnd::Headset(PeerEnd::Error(_)))
    }
}

impl fmt::Display for SessionEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (who, how) = match self {
            SessionEnd::Headset(how) => ("headset", how),
            SessionEnd::Runtime(how) => ("runtime", how),
            SessionEnd::Gate(why) => {
                f.write_str("closed by the gate: ")?;
                return match why {
                    GateEnd::Health => f.write_str("the health check marked the runtime DOWN"),
                    GateEnd::Stall { ms } => write!(f, "the headset read nothing for {}", duration(*ms)),
                    GateEnd::Idle { ms } => write!(f, "no data either way for {}", duration(*ms)),
                    GateEnd::Shutdown => f.write_str("shutting down"),
                };
            }
        };
        match how {
            PeerEnd::Close(CloseFrame::Code { code, text }) => {
                write!(f, "closed by the {who}: WebSocket Close {code}")?;
                if let Some(name) = code_name(*code) {
                    write!(f, " {name}")?;
                }
                if !text.is_empty() {
                    // Quoted with escapes: the text cannot close the quote or pass for the gate's words.
                    write!(f, " {text:?}")?;
                }
                Ok(())
            }
            PeerEnd::Close(CloseFrame::NoCode) => write!(f, "closed by the {who}: WebSocket Close without a code"),
            PeerEnd::Close(CloseFrame::Malformed) => {
                write!(f, "closed by the {who}: a malformed WebSocket Close (1-byte payload, a protocol error)")
            }
            PeerEnd::Closed => write!(f, "closed by the {who}: connection closed"),
            PeerEnd::Error(e) => write!(f, "the connection to the {who} failed: {e}"),
        }
    }
}

/// "1 h", "5 min", "60 s", "1.5 s", "400 ms": the configured limits read as they were set.
fn duration(ms: u64) -> String {
    match ms {
        m if m >= 3_600_000 && m % 3_600_000 == 0 => format!("{} h", m / 3_600_000),
        m if m >= 60_000 && m % 60_000 == 0 => format!("{} min", m / 60_000),
        m if m >= 1000 => format!("{} s", m as f64 / 1000.0),
        m => format!("{m} ms"),
    }
}

/// RFC 6455 §7.4.1 and the IANA registry's names for the codes a peer may send.
fn code_name(code: u16) -> Option<&'static str> {
    Some(match code {
        1000 => "normal",
        1001 => "going away",
        1002 => "protocol error",
        1003 => "unsupported data",
        1007 => "invalid data",
        1008 => "policy violation",
        1009 => "message too big",
        1010 => "extension required",
        1011 => "internal error",
        1012 => "service restart",
        1013 => "try again later",
        1014 => "bad gateway",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(code: u16, text: &str) -> PeerEnd {
        PeerEnd::Close(CloseFrame::Code { code, text: text.into() })
    }

    #[test]
    fn each_end_reads_as_who_and_how() {
        let cases = [
            (SessionEnd::Headset(close(1000, "")), "closed by the headset: WebSocket Close 1000 normal"),
            (
                SessionEnd::Runtime(close(1011, "oops")),
                "closed by the runtime: WebSocket Close 1011 internal error \"oops\"",
            ),
            (SessionEnd::Headset(close(4321, "")), "closed by the headset: WebSocket Close 4321"),
            (
                SessionEnd::Runtime(PeerEnd::Close(CloseFrame::NoCode)),
                "closed by the runtime: WebSocket Close without a code",
            ),
            (
                SessionEnd::Headset(PeerEnd::Close(CloseFrame::Malformed)),
                "closed by the headset: a malformed WebSocket Close (1-byte payload, a protocol error)",
            ),
            (SessionEnd::Runtime(PeerEnd::Closed), "closed by the runtime: connection closed"),
            (
                SessionEnd::Headset(PeerEnd::Error("connection reset by peer".into())),
                "the connection to the headset failed: connection reset by peer",
            ),
            (SessionEnd::Gate(GateEnd::Health), "closed by the gate: the health check marked the runtime DOWN"),
            (SessionEnd::Gate(GateEnd::Stall { ms: 60_000 }), "closed by the gate: the headset read nothing for 1 min"),
            (SessionEnd::Gate(GateEnd::Stall { ms: 1500 }), "closed by the gate: the headset read nothing for 1.5 s"),
            (SessionEnd::Gate(GateEnd::Idle { ms: 3_600_000 }), "closed by the gate: no data either way for 1 h"),
            (SessionEnd::Gate(GateEnd::Idle { ms: 400 }), "closed by the gate: no data either way for 400 ms"),
            (SessionEnd::Gate(GateEnd::Shutdown), "closed by the gate: shutting down"),
        ];
        for (end, text) in cases {
            assert_eq!(end.to_string(), text);
        }
    }

    #[test]
    fn a_reason_text_cannot_leave_its_quotes() {
        let end = SessionEnd::Headset(close(1000, "x\" closed by the gate: \\"));
        assert_eq!(
            end.to_string(),
            r#"closed by the headset: WebSocket Close 1000 normal "x\" closed by the gate: \\""#
        );
    }

    #[test]
    fn only_the_runtime_and_the_network_count_as_lost_media() {
        assert!(SessionEnd::Runtime(PeerEnd::Closed).by_runtime_or_network());
        assert!(SessionEnd::Runtime(close(1011, "")).by_runtime_or_network());
        assert!(SessionEnd::Headset(PeerEnd::Error("reset".into())).by_runtime_or_network());
        assert!(!SessionEnd::Headset(PeerEnd::Closed).by_runtime_or_network());
        assert!(!SessionEnd::Headset(close(1001, "")).by_runtime_or_network());
        for g in [GateEnd::Health, GateEnd::Stall { ms: 60_000 }, GateEnd::Idle { ms: 5000 }, GateEnd::Shutdown] {
            assert!(!SessionEnd::Gate(g).by_runtime_or_network(), "{g:?}");
        }
    }
}
