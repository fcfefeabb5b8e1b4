//! The fuzz targets' seed corpora and every input that ever crashed them (fuzz/seeds/<target>/,
//! fuzz/regressions/<target>/), run through the same entry points as `scripts/fuzz.sh` uses, so CI
//! keeps them fixed without cargo-fuzz; plus hand-made handshakes with the answers they must get.

use std::path::{Path, PathBuf};

use cxr_gate_core::BackendAddr;
use cxr_gate_fuzzing::{fuzz_allowlist, fuzz_route, fuzz_ws_close, HttpHarness, ALLOWED_HOST};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Every input file of a target (seeds and regressions; README.md excepted), with its path.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut out = Vec::new();
    for dir in ["seeds", "regressions"] {
        let dir = fuzz.join(dir).join(target);
        for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = e.unwrap().path();
            if path.is_file() && path.file_name().is_some_and(|n| n != "README.md") {
                let data = std::fs::read(&path).unwrap();
                out.push((path, data));
            }
        }
    }
    out.sort();
    out
}

/// Runs `f` on each input, naming the file that fails.
fn each(target: &str, f: impl Fn(&[u8])) {
    let all = inputs(target);
    assert!(all.len() >= 10, "{target}: only {} inputs found", all.len());
    for (path, data) in all {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&data))).is_err() {
            panic!("fuzz input {} fails", path.display());
        }
    }
}

#[test]
fn route_seeds_and_regressions_keep_the_routing_invariants() {
    each("route", fuzz_route);
}

#[test]
fn ws_close_seeds_and_regressions_find_the_same_close_however_cut() {
    each("ws_close", fuzz_ws_close);
}

#[test]
fn http_head_seeds_and_regressions_keep_the_gateway_promises() {
    let h = HttpHarness::new().unwrap();
    each("http_head", |data| h.fuzz(data));
}

fn upgrade(target: &str, key: &str, version: &str) -> Vec<u8> {
    format!(
        "GET {target} HTTP/1.1\r\nHost: gate\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: {version}\r\n\r\n"
    )
    .into_bytes()
}

/// The answer's status line, and the backends dialled for it.
fn status(h: &HttpHarness, request: &[u8]) -> (String, Vec<BackendAddr>) {
    let (answer, dials) = h.feed_dials(request);
    let text = String::from_utf8_lossy(&answer);
    (text.lines().next().unwrap_or("").to_string(), dials)
}

#[test]
fn handshakes_get_the_answers_they_must() {
    let h = HttpHarness::new().unwrap();
    let no_dial: Vec<BackendAddr> = Vec::new();

    assert_eq!(status(&h, b"GET / HTTP/1.1\r\nHost: gate\r\n\r\n"), ("HTTP/1.1 200 OK".into(), no_dial.clone()));
    assert_eq!(status(&h, b"OPTIONS /x HTTP/1.1\r\nHost: gate\r\n\r\n").0, "HTTP/1.1 200 OK");
    assert_eq!(status(&h, b"GET /tes HTTP/1.0\r\n\r\n").0, "HTTP/1.0 404 Not Found");
    assert_eq!(status(&h, b"DELETE / HTTP/1.1\r\nHost: gate\r\n\r\n").0, "HTTP/1.1 405 Method Not Allowed");

    // Malformed handshakes are refused before anything is dialled.
    assert_eq!(status(&h, &upgrade("/", "short", "13")), ("HTTP/1.1 400 Bad Request".into(), no_dial.clone()));
    assert_eq!(status(&h, &upgrade("/", KEY, "8")), ("HTTP/1.1 426 Upgrade Required".into(), no_dial.clone()));
    let two_keys = String::from_utf8(upgrade("/", KEY, "13")).unwrap().replacen(
        "\r\n\r\n",
        &format!("\r\nSec-WebSocket-Key: {KEY}\r\n\r\n"),
        1,
    );
    assert_eq!(status(&h, two_keys.as_bytes()).0, "HTTP/1.1 400 Bad Request");

    // Routing: a host:port outside the allowlist is refused, a look-alike target is invalid; neither dials.
    assert_eq!(status(&h, &upgrade("/10.9.9.9:49100/", KEY, "13")), ("HTTP/1.1 403 Forbidden".into(), no_dial.clone()));
    for other_port in ["/127.0.0.1:9222/json", "/127.0.0.1:5001/", &format!("/{ALLOWED_HOST}:22/")] {
        assert_eq!(status(&h, &upgrade(other_port, KEY, "13")), ("HTTP/1.1 403 Forbidden".into(), no_dial.clone()));
    }
    for target in ["/%31%30.0.0.5/", "/[::1]:1/", "/2130706433/", "/0x7f.0.0.1/", "/example.com:49100/"] {
        assert_eq!(
            status(&h, &upgrade(target, KEY, "13")),
            ("HTTP/1.1 400 Bad Request".into(), no_dial.clone()),
            "{target}"
        );
    }

    // Valid handshakes dial their backend and nothing else (the harness refuses every dial: 503). A
    // routed backend is health-checked only after a 101, so a refused one is dialled exactly once.
    let (line, dials) = status(&h, &upgrade("/sign_in?x=1", KEY, "13"));
    assert_eq!(line, "HTTP/1.1 503 Service Unavailable");
    assert_eq!(dials, vec![BackendAddr::new("127.0.0.1", 9)]);
    let (line, dials) = status(&h, &upgrade(&format!("/{ALLOWED_HOST}:49100/sign_in"), KEY, "13"));
    assert_eq!(line, "HTTP/1.1 503 Service Unavailable");
    assert_eq!(dials, vec![BackendAddr::new(ALLOWED_HOST, 49100)]);
}

#[test]
fn allowlist_seeds_and_regressions_keep_the_matcher_invariants() {
    each("allowlist", fuzz_allowlist);
}
