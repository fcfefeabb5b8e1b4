//! Who closed a WebSocket session, and with which code: follows the frame boundaries of one
//! direction of a relayed session (headers only; payloads are skipped, never copied, but for the
//! Close frame's at most 125 bytes) until the first Close frame.
//!
//! Why: the side whose TCP ends first is not the answer. After a headset's Close the runtime
//! answers and closes TCP first (RFC 6455 §7.1.1), so a session the headset ended read "closed by
//! the runtime". It never guesses: the watch stops at the first thing RFC 6455 forbids (a reserved
//! opcode or RSV bit the 101's extensions do not allow, a fragmented or over-long control frame, a
//! continuation with no message to continue, an unmasked client frame, a masked server frame), so
//! bytes that are not frames cost two bytes' look, not a parse.

use std::sync::OnceLock;

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use crate::session_end::CloseFrame;

/// Which way a frame went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Headset → runtime: every frame is masked (RFC 6455 §5.3).
    Client,
    /// Runtime → headset: no frame is masked.
    Backend,
}

/// What the extensions negotiated in the 101 allow beyond RFC 6455 itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    /// RSV bits allowed on the first frame of a message (text, binary).
    first_rsv: u8,
    /// RSV bits allowed on continuation and control frames.
    other_rsv: u8,
    /// Reserved opcodes (3–7, 0xB–0xF) are an extension's to use.
    reserved_opcodes: bool,
}

impl Rules {
    /// No extension: RSV bits and reserved opcodes are errors.
    pub const PLAIN: Rules = Rules { first_rsv: 0, other_rsv: 0, reserved_opcodes: false };
    /// permessage-deflate (RFC 7692 §6): RSV1 on a message's first frame only.
    pub const DEFLATE: Rules = Rules { first_rsv: 0x40, other_rsv: 0, reserved_opcodes: false };
    /// An extension this watch does not know: anything it could define is let through.
    pub const ANY: Rules = Rules { first_rsv: 0x70, other_rsv: 0x70, reserved_opcodes: true };

    /// From the 101's `Sec-WebSocket-Extensions` values (a value that is not text counts as an
    /// unknown extension).
    pub fn negotiated<'a>(values: impl IntoIterator<Item = &'a str>) -> Rules {
        let mut rules = Rules::PLAIN;
        for name in values.into_iter().flat_map(|v| v.split(',')).map(|e| e.split(';').next().unwrap_or("").trim()) {
            if name.eq_ignore_ascii_case("permessage-deflate") {
                if rules == Rules::PLAIN {
                    rules = Rules::DEFLATE;
                }
            } else if !name.is_empty() {
                return Rules::ANY;
            }
        }
        rules
    }
}

/// The first Close frame of a session: who sent it and what it said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirstClose {
    pub side: Side,
    pub frame: CloseFrame,
}

/// The session's first Close frame, whichever direction saw it first.
pub type FirstCloseCell = OnceLock<FirstClose>;

/// The reason text kept: enough to read in a log line or the Headsets card.
const MAX_TEXT: usize = 60;
/// A control frame's payload is at most 125 bytes (RFC 6455 §5.5).
const MAX_CONTROL: usize = 125;
const OP_CONTINUATION: u8 = 0x0;
const OP_CLOSE: u8 = 0x8;

/// Whether a character of a peer's reason text is kept: none that moves or hides text (controls,
/// format characters such as U+202E and U+200B, which include the bidi controls, and the line and
/// paragraph separators), so the text cannot pass for other words in the log or the card.
pub fn shown(c: char) -> bool {
    !c.is_control()
        && !matches!(
            c.general_category(),
            GeneralCategory::Format | GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator
        )
}

#[derive(Debug)]
enum State {
    /// Reading a frame header; `have` bytes of it in `hdr`.
    Header,
    /// Skipping (or, for a Close, keeping) `left` payload bytes.
    Payload { left: u64, close: bool, at: usize },
    /// A Close was seen, or the stream broke the protocol: nothing more to do.
    Done,
}

/// One direction's frame follower.
#[derive(Debug)]
pub struct CloseWatch {
    side: Side,
    rules: Rules,
    state: State,
    /// A data message was started and not finished: a continuation frame may come.
    in_message: bool,
    hdr: [u8; 14],
    have: usize,
    mask: Option<[u8; 4]>,
    payload: [u8; MAX_CONTROL],
}

impl CloseWatch {
    pub fn new(side: Side, rules: Rules) -> Self {
        CloseWatch {
            side,
            rules,
            state: State::Header,
            in_message: false,
            hdr: [0; 14],
            have: 0,
            mask: None,
            payload: [0; MAX_CONTROL],
        }
    }

    /// False once a Close was seen or the stream broke the protocol: the caller can stop feeding.
    pub fn watching(&self) -> bool {
        !matches!(self.state, State::Done)
    }

    /// Follows `data`, the next bytes of this direction; returns the Close frame when it ends in them.
    pub fn feed(&mut self, mut data: &[u8]) -> Option<FirstClose> {
        loop {
            match self.state {
                State::Done => return None,
                State::Header => {
                    // A whole header in `data` (the common case) is read where it lies.
                    if self.have == 0 && data.len() >= 2 && data.len() >= header_len(data[1]) {
                        let (hdr, rest) = data.split_at(header_len(data[1]));
                        data = rest;
                        if let Some(close) = self.header_done(hdr, false) {
                            return Some(close);
                        }
                        continue;
                    }
                    let need = if self.have < 2 { 2 } else { header_len(self.hdr[1]) };
                    if self.have < need {
                        if data.is_empty() {
                            return None;
                        }
                        let take = (need - self.have).min(data.len());
                        self.hdr[self.have..self.have + take].copy_from_slice(&data[..take]);
                        self.have += take;
                        data = &data[take..];
                        // The first two bytes say most of what can be wrong: stop there.
                        if self.have == 2 && !self.allowed(self.hdr[0], self.hdr[1]) {
                            self.state = State::Done;
                            return None;
                        }
                        continue;
                    }
                    let hdr = self.hdr;
                    self.have = 0;
                    if let Some(close) = self.header_done(&hdr[..need], true) {
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

    /// Whether a frame starting with `b0 b1` may come here (RFC 6455 §5.2, §5.5, and the rules of
    /// the extensions negotiated); notes the start and end of fragmented messages.
    fn allowed(&mut self, b0: u8, b1: u8) -> bool {
        let (fin, rsv, op) = (b0 & 0x80 != 0, b0 & 0x70, b0 & 0x0f);
        if (b1 & 0x80 != 0) != (self.side == Side::Client) {
            return false;
        }
        match op {
            0x1 | 0x2 => {
                if self.in_message || rsv & !self.rules.first_rsv != 0 {
                    return false;
                }
                self.in_message = !fin;
            }
            OP_CONTINUATION => {
                if !self.in_message || rsv & !self.rules.other_rsv != 0 {
                    return false;
                }
                self.in_message = !fin;
            }
            // Control frames: whole (never fragmented) and at most 125 bytes.
            0x8..=0xa => return fin && b1 & 0x7f <= MAX_CONTROL as u8 && rsv & !self.rules.other_rsv == 0,
            _ => return self.rules.reserved_opcodes,
        }
        true
    }

    /// A whole header is `hdr` (its first two bytes already `checked` or not): on to its payload.
    fn header_done(&mut self, hdr: &[u8], checked: bool) -> Option<FirstClose> {
        let (b0, b1) = (hdr[0], hdr[1]);
        if !checked && !self.allowed(b0, b1) {
            self.state = State::Done;
            return None;
        }
        let size = match b1 & 0x7f {
            126 => u64::from(u16::from_be_bytes([hdr[2], hdr[3]])),
            127 => {
                let mut n = [0u8; 8];
                n.copy_from_slice(&hdr[2..10]);
                u64::from_be_bytes(n)
            }
            n => u64::from(n),
        };
        self.mask = (b1 & 0x80 != 0).then(|| {
            let mut m = [0u8; 4];
            m.copy_from_slice(&hdr[hdr.len() - 4..]);
            m
        });
        // A 64-bit length has its top bit clear (RFC 6455 §5.2).
        if size >> 63 != 0 {
            self.state = State::Done;
            return None;
        }
        let close = b0 & 0x0f == OP_CLOSE;
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
        let frame = match p {
            [] => CloseFrame::NoCode,
            [_] => CloseFrame::Malformed,
            [a, b, text @ ..] => CloseFrame::Code {
                code: u16::from_be_bytes([*a, *b]),
                text: String::from_utf8_lossy(text).chars().filter(|c| shown(*c)).take(MAX_TEXT).collect(),
            },
        };
        FirstClose { side: self.side, frame }
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

/// The watch's promise, checked by the `ws_close` fuzz target and the unit tests: for either side
/// and any extension rules, `data` gets the same verdict whether it comes whole, one byte at a
/// time, or cut in two (where its first byte says); a Close's text is short and only [`shown`]
/// characters; a Close ends the watch. `Err` says which promise broke.
pub fn check_feeding(data: &[u8]) -> Result<(), String> {
    let cut = data.first().map_or(0, |b| usize::from(*b) % (data.len() + 1));
    for side in [Side::Client, Side::Backend] {
        for rules in [Rules::PLAIN, Rules::DEFLATE, Rules::ANY] {
            let at = format!("{side:?}, {rules:?}");
            let whole = CloseWatch::new(side, rules).feed(data);
            let mut bytewise = CloseWatch::new(side, rules);
            let one_at_a_time = data.iter().find_map(|b| bytewise.feed(std::slice::from_ref(b)));
            if whole != one_at_a_time {
                return Err(format!("{at}: whole {whole:?}, byte by byte {one_at_a_time:?}"));
            }
            let mut split = CloseWatch::new(side, rules);
            let two = split.feed(&data[..cut]).or_else(|| split.feed(&data[cut..]));
            if whole != two {
                return Err(format!("{at}: whole {whole:?}, cut at {cut} {two:?}"));
            }
            let Some(c) = whole else { continue };
            if let CloseFrame::Code { text, .. } = &c.frame {
                if text.chars().count() > MAX_TEXT || !text.chars().all(shown) {
                    return Err(format!("{at}: the reason text {text:?} is long or not clean"));
                }
            }
            if split.watching() || bytewise.watching() {
                return Err(format!("{at}: still watching after the Close"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
