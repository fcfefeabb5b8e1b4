use super::*;

const KEY: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

/// A frame as `side` sends it (a client masks, a server does not), with `b0`'s FIN, RSV and opcode.
fn raw_frame(side: Side, b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![b0];
    let m = if side == Side::Client { 0x80 } else { 0 };
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
    if side == Side::Client {
        f.extend_from_slice(&KEY);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ KEY[i % 4]));
    } else {
        f.extend_from_slice(payload);
    }
    f
}

/// A whole (FIN) frame with `opcode`.
fn frame(side: Side, opcode: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(side, 0x80 | opcode, payload)
}

fn close_payload(code: u16, text: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(text.as_bytes());
    p
}

fn code(code: u16, text: &str) -> CloseFrame {
    CloseFrame::Code { code, text: text.into() }
}

/// Text, binary (16- and 64-bit lengths), a message in two fragments with a ping between them,
/// then the Close, then bytes after it.
fn session(side: Side) -> Vec<u8> {
    let mut s = frame(side, 0x1, b"hello runtime");
    s.extend(frame(side, 0x2, &[7u8; 300]));
    s.extend(frame(side, 0x2, &vec![9u8; 70_000]));
    s.extend(raw_frame(side, 0x02, b"first half"));
    s.extend(frame(side, 0x9, b""));
    s.extend(raw_frame(side, 0x80, b"second half"));
    s.extend(frame(side, 0x8, &close_payload(1001, "tab closed")));
    s.extend(frame(side, 0x1, b"never read"));
    s
}

#[test]
fn finds_the_close_in_any_split_from_either_side() {
    for side in [Side::Client, Side::Backend] {
        let bytes = session(side);
        let want = FirstClose { side, frame: code(1001, "tab closed") };
        // Whole, and split at every place in the first frames and around the Close.
        let close_at = bytes.len() - frame(side, 0x1, b"never read").len() - 14;
        let cuts: Vec<usize> = (0..40).chain(300..340).chain(close_at.saturating_sub(60)..close_at + 14).collect();
        for cut in std::iter::once(bytes.len()).chain(cuts) {
            let mut w = CloseWatch::new(side, Rules::PLAIN);
            let first = w.feed(&bytes[..cut]);
            let got = first.or_else(|| w.feed(&bytes[cut..]));
            assert_eq!(got.as_ref(), Some(&want), "{side:?}, cut at {cut}");
            assert!(!w.watching());
            assert_eq!(w.feed(&bytes), None, "after the Close nothing more");
        }
        // One byte at a time.
        let mut w = CloseWatch::new(side, Rules::PLAIN);
        let got: Vec<_> = bytes.iter().filter_map(|b| w.feed(std::slice::from_ref(b))).collect();
        assert_eq!(got, vec![want]);
    }
}

#[test]
fn a_close_without_a_code_with_one_byte_and_with_a_long_reason() {
    let feed = |payload: &[u8]| CloseWatch::new(Side::Backend, Rules::PLAIN).feed(&frame(Side::Backend, 0x8, payload));
    assert_eq!(feed(b""), Some(FirstClose { side: Side::Backend, frame: CloseFrame::NoCode }));
    // A code takes two bytes: one is a protocol error, not "no code".
    assert_eq!(feed(&[0x03]), Some(FirstClose { side: Side::Backend, frame: CloseFrame::Malformed }));
    let long = "é\u{7}".repeat(60);
    let got = feed(&close_payload(4000, &long[..120])).expect("a close");
    let CloseFrame::Code { code: 4000, text } = got.frame else { panic!("{got:?}") };
    assert!(text.chars().all(|c| c == 'é'), "control characters dropped: {text:?}");
    assert!(text.chars().count() <= MAX_TEXT);
}

#[test]
fn format_characters_and_separators_are_dropped_from_the_reason() {
    // Right-to-left override and zero-width space (the spoof), a bidi isolate, a byte-order mark,
    // a soft hyphen, the line and paragraph separators.
    for (sent, kept) in [
        ("ok\u{202e}txt.exe\u{200b}", "oktxt.exe"),
        ("a\u{2066}b\u{2069}c\u{feff}d\u{ad}e", "abcde"),
        ("line\u{2028}two\u{2029}three\u{200f}", "linetwothree"),
        ("café, 東京, emoji 🙂 stay", "café, 東京, emoji 🙂 stay"),
    ] {
        let mut w = CloseWatch::new(Side::Client, Rules::PLAIN);
        let got = w.feed(&frame(Side::Client, 0x8, &close_payload(1000, sent)));
        assert_eq!(got, Some(FirstClose { side: Side::Client, frame: code(1000, kept) }), "{sent:?}");
    }
}

/// Each frame breaks RFC 6455 (under `rules`) when `side` sends it: the watch stops there and does
/// not report the Close that follows.
fn stops(side: Side, rules: Rules, bad: Vec<u8>, what: &str) {
    let mut bytes = frame(side, 0x1, b"fine");
    bytes.extend(bad);
    bytes.extend(frame(side, 0x8, &close_payload(1000, "")));
    let mut w = CloseWatch::new(side, rules);
    assert_eq!(w.feed(&bytes), None, "{what}");
    assert!(!w.watching(), "{what}");
    let mut w = CloseWatch::new(side, rules);
    assert_eq!(bytes.iter().find_map(|b| w.feed(std::slice::from_ref(b))), None, "{what}, byte by byte");
}

/// The same frame is fine under `rules`: the Close after it is found.
fn passes(side: Side, rules: Rules, ok: Vec<u8>, what: &str) {
    let mut bytes = ok;
    bytes.extend(frame(side, 0x8, &close_payload(1000, "")));
    let got = CloseWatch::new(side, rules).feed(&bytes);
    assert_eq!(got, Some(FirstClose { side, frame: code(1000, "") }), "{what}");
}

#[test]
fn what_rfc_6455_forbids_stops_the_watch_without_an_answer() {
    for side in [Side::Client, Side::Backend] {
        let other = if side == Side::Client { Side::Backend } else { Side::Client };
        let p = Rules::PLAIN;
        stops(side, p, frame(side, 0x3, b"x"), "a reserved data opcode");
        stops(side, p, frame(side, 0xb, b""), "a reserved control opcode");
        stops(side, p, raw_frame(side, 0xc1, b"x"), "RSV1 with no extension");
        stops(side, p, raw_frame(side, 0xa2, b"x"), "RSV2 with no extension");
        stops(side, Rules::DEFLATE, raw_frame(side, 0x92, b"x"), "RSV3 with permessage-deflate");
        stops(side, p, raw_frame(side, 0x09, b""), "a fragmented ping");
        stops(side, p, frame(side, 0x9, &[0u8; 126]), "a ping over 125 bytes");
        stops(side, p, frame(side, 0x8, &[0u8; 200]), "a Close over 125 bytes");
        stops(side, p, raw_frame(side, 0x80, b"x"), "a continuation with no message to continue");
        let mut twice = raw_frame(side, 0x01, b"x");
        twice.extend(frame(side, 0x1, b"y"));
        stops(side, p, twice, "a new message before the last one ended");
        let mut deflate_cont = raw_frame(side, 0x41, b"x");
        deflate_cont.extend(raw_frame(side, 0xc0, b"y"));
        stops(side, Rules::DEFLATE, deflate_cont, "RSV1 on a continuation (permessage-deflate)");
        stops(side, Rules::DEFLATE, raw_frame(side, 0xc9, b""), "RSV1 on a ping (permessage-deflate)");
        stops(side, p, frame(other, 0x2, b"x"), "a frame masked the other side's way");
        let mut huge = frame(side, 0x2, b"");
        huge[1] = (huge[1] & 0x80) | 127;
        huge.splice(2..2, [0x80, 0, 0, 0, 0, 0, 0, 0]);
        stops(side, p, huge, "a 64-bit length with its top bit set");

        passes(side, Rules::DEFLATE, raw_frame(side, 0xc2, b"compressed"), "RSV1 with permessage-deflate");
        let mut deflated = raw_frame(side, 0x41, b"x");
        deflated.extend(raw_frame(side, 0x80, b"y"));
        passes(side, Rules::DEFLATE, deflated, "a compressed message in two fragments");
        passes(side, Rules::ANY, raw_frame(side, 0xb3, b"x"), "RSV2, RSV3 and opcode 3 under an unknown extension");
    }
}

#[test]
fn the_101_says_which_extensions_hold() {
    assert_eq!(Rules::negotiated([]), Rules::PLAIN);
    assert_eq!(Rules::negotiated([""]), Rules::PLAIN);
    assert_eq!(Rules::negotiated(["permessage-deflate; client_max_window_bits=15"]), Rules::DEFLATE);
    assert_eq!(Rules::negotiated(["Permessage-Deflate", "permessage-deflate"]), Rules::DEFLATE);
    assert_eq!(Rules::negotiated(["permessage-deflate, x-webkit-foo"]), Rules::ANY);
    assert_eq!(Rules::negotiated(["x-custom"]), Rules::ANY);
}

/// xorshift32: the same noise on every run.
struct Noise(u32);

impl Noise {
    fn next(&mut self) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0 as u8
    }
}

#[test]
fn noise_and_damaged_sessions_get_the_same_verdict_however_fed() {
    let mut n = Noise(0x2545_f491);
    for _ in 0..1000 {
        let noise: Vec<u8> = (0..64).map(|_| n.next()).collect();
        check_feeding(&noise).unwrap();
    }
    // Real sessions of either side with a byte changed, a byte dropped, or cut short.
    for side in [Side::Client, Side::Backend] {
        let mut s = frame(side, 0x1, b"hi");
        s.extend(raw_frame(side, 0x02, b"part"));
        s.extend(frame(side, 0xa, b"pong"));
        s.extend(raw_frame(side, 0x80, b"rest"));
        s.extend(frame(side, 0x8, &close_payload(1011, "bye \u{202e}x")));
        check_feeding(&s).unwrap();
        for i in 0..s.len() {
            let mut changed = s.clone();
            changed[i] ^= n.next() | 1;
            check_feeding(&changed).unwrap();
            let mut dropped = s.clone();
            dropped.remove(i);
            check_feeding(&dropped).unwrap();
            check_feeding(&s[..i]).unwrap();
        }
    }
}
