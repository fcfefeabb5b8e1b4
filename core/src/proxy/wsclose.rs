//! Who closed a WebSocket session, and with which code: follows the frame boundaries of one
//! direction of a relayed session (headers only; payloads are skipped, never copied, but for the
//! Close frame's at most 125 bytes) until the first Close frame.
//!
//! Why: the side whose TCP ends first is not the answer. After a headset's Close the runtime
//! answers and closes TCP first (RFC 6455 §7.1.1), so a session the headset ended read "closed by
//! the runtime". Anything that does not parse as frames stops the watch; it never guesses.

use std::sync::OnceLock;

/// Which way a frame went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Backend,
}

/// The first Close frame of a session: who sent it, its status code (none when the payload is
/// empty) and its reason text (cut, control characters dropped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirstClose {
    pub side: Side,
    pub code: Option<u16>,
    pub text: String,
}

/// The session's first Close frame, whichever direction saw it first.
pub type FirstCloseCell = OnceLock<FirstClose>;

/// The session-log reason for a session whose TCP ended cleanly after `close`: the sender's side
/// first ("client closed" / "backend closed", which say who closed), then the WebSocket's code.
pub fn reason(close: &FirstClose) -> String {
    let who = match close.side {
        Side::Client => "client closed",
        Side::Backend => "backend closed",
    };
    let mut s = match close.code {
        Some(code) => match code_name(code) {
            Some(name) => format!("{who}: WebSocket {code} {name}"),
            None => format!("{who}: WebSocket {code}"),
        },
        None => format!("{who}: WebSocket close (no code)"),
    };
    if !close.text.is_empty() {
        s.push_str(&format!(" \"{}\"", close.text));
    }
    s
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

/// The reason text kept: enough to read in a log line or the Headsets card.
const MAX_TEXT: usize = 60;
/// A control frame's payload is at most 125 bytes (RFC 6455 §5.5).
const MAX_CONTROL: usize = 125;
const OP_CLOSE: u8 = 0x8;

#[derive(Debug)]
enum State {
    /// Reading a frame header; `have` bytes of it in `hdr`.
    Header,
    /// Skipping (or, for a Close, keeping) `left` payload bytes.
    Payload { left: u64, close: bool, at: usize },
    /// A Close was seen, or the stream is not frames: nothing more to do.
    Done,
}

/// One direction's frame follower.
#[derive(Debug)]
pub struct CloseWatch {
    side: Side,
    state: State,
    hdr: [u8; 14],
    have: usize,
    mask: Option<[u8; 4]>,
    payload: [u8; MAX_CONTROL],
}

impl CloseWatch {
    pub fn new(side: Side) -> Self {
        CloseWatch { side, state: State::Header, hdr: [0; 14], have: 0, mask: None, payload: [0; MAX_CONTROL] }
    }

    /// False once a Close was seen or the stream stopped parsing: the caller can stop feeding.
    pub fn watching(&self) -> bool {
        !matches!(self.state, State::Done)
    }

    /// Follows `data`, the next bytes of this direction; returns the Close frame when it ends in them.
    pub fn feed(&mut self, mut data: &[u8]) -> Option<FirstClose> {
        loop {
            match self.state {
                State::Done => return None,
                State::Header => {
                    let need = if self.have < 2 { 2 } else { header_len(self.hdr[1]) };
                    if self.have < need {
                        if data.is_empty() {
                            return None;
                        }
                        let take = (need - self.have).min(data.len());
                        self.hdr[self.have..self.have + take].copy_from_slice(&data[..take]);
                        self.have += take;
                        data = &data[take..];
                        continue;
                    }
                    if let Some(close) = self.header_done(need) {
                        return Some(close);
                    }
                }
                State::Payload { left, close, at } => {
                    if data.is_empty() {
                        return None;
                    }
                    let take = left.min(data.len() as u64) as usize;
                    if close {
                        for (i, b) in data[..take].iter().enumerate() {
                            let k = self.mask.map_or(0, |m| m[(at + i) % 4]);
                            self.payload[at + i] = b ^ k;
                        }
                    }
                    data = &data[take..];
                    let left = left - take as u64;
                    if left > 0 {
                        self.state = State::Payload { left, close, at: at + take };
                    } else if close {
                        self.state = State::Done;
                        return Some(self.close_frame(at + take));
                    } else {
                        self.state = State::Header;
                    }
                }
            }
        }
    }

    /// A whole header of `len` bytes is in `hdr`: on to its payload.
    fn header_done(&mut self, len: usize) -> Option<FirstClose> {
        let (b0, b1) = (self.hdr[0], self.hdr[1]);
        let size = match b1 & 0x7f {
            126 => u64::from(u16::from_be_bytes([self.hdr[2], self.hdr[3]])),
            127 => {
                let mut n = [0u8; 8];
                n.copy_from_slice(&self.hdr[2..10]);
                u64::from_be_bytes(n)
            }
            n => u64::from(n),
        };
        self.mask = (b1 & 0x80 != 0).then(|| {
            let mut m = [0u8; 4];
            m.copy_from_slice(&self.hdr[len - 4..len]);
            m
        });
        self.have = 0;
        let close = b0 & 0x0f == OP_CLOSE;
        // Not frames (a length with its top bit set, a Close longer than a control frame may be):
        // stop rather than guess.
        if size >> 63 != 0 || (close && size > MAX_CONTROL as u64) {
            self.state = State::Done;
            return None;
        }
        if size == 0 {
            if close {
                self.state = State::Done;
                return Some(self.close_frame(0));
            }
            self.state = State::Header;
            return None;
        }
        self.state = State::Payload { left: size, close, at: 0 };
        None
    }

    fn close_frame(&self, len: usize) -> FirstClose {
        let p = &self.payload[..len];
        let code = (p.len() >= 2).then(|| u16::from_be_bytes([p[0], p[1]]));
        let text: String = String::from_utf8_lossy(p.get(2..).unwrap_or_default())
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_TEXT)
            .collect();
        FirstClose { side: self.side, code, text }
    }
}

/// The header's length from its first two bytes: extended length and masking key included.
fn header_len(b1: u8) -> usize {
    let ext = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame as a peer sends it: masked when `mask` is given (a client's frames always are).
    fn frame(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut f = vec![0x80 | opcode];
        let m = if mask.is_some() { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => f.push(m | n as u8),
            n if n <= 0xffff => {
                f.push(m | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(m | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        match mask {
            Some(k) => {
                f.extend_from_slice(&k);
                f.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
            }
            None => f.extend_from_slice(payload),
        }
        f
    }

    fn close_payload(code: u16, text: &str) -> Vec<u8> {
        let mut p = code.to_be_bytes().to_vec();
        p.extend_from_slice(text.as_bytes());
        p
    }

    /// Text, binary (16- and 64-bit lengths), a ping, then the Close, then bytes after it.
    fn session(mask: Option<[u8; 4]>) -> Vec<u8> {
        let mut s = frame(0x1, b"hello runtime", mask);
        s.extend(frame(0x2, &vec![7u8; 300], mask));
        s.extend(frame(0x2, &vec![9u8; 70_000], mask));
        s.extend(frame(0x9, b"", mask));
        s.extend(frame(0x8, &close_payload(1001, "tab closed"), mask));
        s.extend(frame(0x1, b"never read", mask));
        s
    }

    #[test]
    fn finds_the_close_in_any_split_masked_or_not() {
        for mask in [None, Some([0x12, 0x34, 0x56, 0x78])] {
            let bytes = session(mask);
            let want = FirstClose { side: Side::Client, code: Some(1001), text: "tab closed".into() };
            // Whole, and split at every place in the first frames and around the Close.
            let close_at = bytes.len() - frame(0x1, b"never read", mask).len() - 14;
            let cuts: Vec<usize> = (0..40).chain(300..340).chain(close_at.saturating_sub(20)..close_at + 14).collect();
            for cut in std::iter::once(bytes.len()).chain(cuts) {
                let mut w = CloseWatch::new(Side::Client);
                let first = w.feed(&bytes[..cut]);
                let got = first.or_else(|| w.feed(&bytes[cut..]));
                assert_eq!(got.as_ref(), Some(&want), "mask {mask:?}, cut at {cut}");
                assert!(!w.watching());
                assert_eq!(w.feed(&bytes), None, "after the Close nothing more");
            }
            // One byte at a time.
            let mut w = CloseWatch::new(Side::Client);
            let got: Vec<_> = bytes.iter().filter_map(|b| w.feed(std::slice::from_ref(b))).collect();
            assert_eq!(got, vec![want]);
        }
    }

    #[test]
    fn a_close_without_a_code_and_a_long_reason() {
        let mut w = CloseWatch::new(Side::Backend);
        assert_eq!(
            w.feed(&frame(0x8, b"", None)),
            Some(FirstClose { side: Side::Backend, code: None, text: String::new() })
        );
        let long = "é\u{7}".repeat(60);
        let mut w = CloseWatch::new(Side::Backend);
        let got = w.feed(&frame(0x8, &close_payload(4000, &long[..120]), None)).expect("a close");
        assert_eq!(got.code, Some(4000));
        assert!(got.text.chars().all(|c| c == 'é'), "control characters dropped: {:?}", got.text);
        assert!(got.text.chars().count() <= MAX_TEXT);
    }

    #[test]
    fn what_is_not_frames_stops_the_watch_without_an_answer() {
        // A 64-bit length with its top bit set.
        let mut w = CloseWatch::new(Side::Client);
        assert_eq!(w.feed(&[0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]), None);
        assert!(!w.watching());
        assert_eq!(w.feed(&frame(0x8, &close_payload(1000, ""), None)), None);
        // A Close longer than a control frame may be.
        let mut w = CloseWatch::new(Side::Client);
        assert_eq!(w.feed(&frame(0x8, &[0u8; 200], None)), None);
        assert!(!w.watching());
        // Noise: never a panic, whatever it is.
        let mut seed = 0x2545_f491_u32;
        for _ in 0..2000 {
            let mut w = CloseWatch::new(Side::Backend);
            let noise: Vec<u8> = (0..64)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    seed as u8
                })
                .collect();
            for chunk in noise.chunks(7) {
                let _ = w.feed(chunk);
            }
        }
    }

    #[test]
    fn reasons_say_who_and_which_code() {
        let c = |side, code, text: &str| FirstClose { side, code, text: text.into() };
        assert_eq!(reason(&c(Side::Client, Some(1000), "")), "client closed: WebSocket 1000 normal");
        assert_eq!(
            reason(&c(Side::Backend, Some(1011), "oops")),
            "backend closed: WebSocket 1011 internal error \"oops\""
        );
        assert_eq!(reason(&c(Side::Client, Some(4321), "")), "client closed: WebSocket 4321");
        assert_eq!(reason(&c(Side::Backend, None, "")), "backend closed: WebSocket close (no code)");
    }
}
