//! Where an upgrade request goes: the configured backend, or — like NVIDIA's nginx example —
//! the server named by a first path segment `/{ipv4}` or `/{ipv4}:{port}`, with that segment stripped.
//! Only the configured backend and the `host:port` entries of the allowlist can be reached, so the
//! gateway never becomes an open proxy, not even to other services on the workstation's loopback.

use std::net::Ipv4Addr;

use crate::config::{BackendAddr, Config, DEFAULT_BACKEND_PORT};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Forward to `backend` with `path_and_query` as the request target.
    Forward { backend: BackendAddr, path_and_query: String, routed: bool },
    /// A routing segment naming an `ip:port` that is not allowed.
    Refused { target: String },
    /// A first segment that tries to name a target in a form this gateway does not take
    /// (host name, IPv6, encoded or non-canonical IPv4, bad port). Never resolved, never dialled.
    Invalid { segment: String, why: &'static str },
}

/// What the first path segment is, for routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// `/{ipv4}[:port]/rest?query`, with the rest.
    Target(Ipv4Addr, u16, String),
    /// An attempt at a target in a form not taken, and why.
    Invalid(&'static str),
    /// An ordinary path.
    Path,
}

/// Longest segment quoted back in an error.
const QUOTE_MAX: usize = 64;

fn first_segment(path_and_query: &str) -> Option<(&str, &str)> {
    let rest = path_and_query.strip_prefix('/')?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    Some(rest.split_at(end))
}

/// Classifies the first path segment.
pub fn classify(path_and_query: &str) -> Segment {
    let Some((seg, tail)) = first_segment(path_and_query) else {
        return Segment::Path;
    };
    if let Some(why) = look_alike(seg, 0) {
        return Segment::Invalid(why);
    }
    let (host, port) = match seg.split_once(':') {
        Some((h, p)) => match p.parse::<u16>() {
            Ok(p) if p > 0 => (h, p),
            _ => return Segment::Invalid("the port after ':' must be a number from 1 to 65535"),
        },
        None => (seg, DEFAULT_BACKEND_PORT),
    };
    let Ok(ip) = host.parse::<Ipv4Addr>() else {
        return if seg.contains(':') {
            Segment::Invalid("a routing target must be an IPv4 address (a.b.c.d:port); host names are never looked up")
        } else {
            Segment::Path
        };
    };
    let tail = if tail.is_empty() {
        "/".to_string()
    } else if tail.starts_with('?') {
        format!("/{tail}")
    } else {
        tail.to_string()
    };
    Segment::Target(ip, port, tail)
}

/// Forms a client could use to smuggle a target past a strict dotted-quad check: IPv6 literals,
/// percent-encoding, and the integer, hex, octal and short forms `inet_aton` would accept.
fn look_alike(seg: &str, depth: u8) -> Option<&'static str> {
    if seg.starts_with('[') || seg.matches(':').count() > 1 {
        return Some("IPv6 routing targets are not supported; use an IPv4 address (a.b.c.d:port)");
    }
    if seg.contains('%') {
        // A malformed escape or bytes that are not UTF-8: left as an ordinary path.
        let decoded = String::from_utf8(percent_decode(seg)?).ok()?;
        if depth < 3 && (decoded.contains(['.', ':', '[', '/']) || look_alike(&decoded, depth + 1).is_some()) {
            return Some("percent-encoded routing targets are not accepted; write the address as a.b.c.d:port");
        }
        return None;
    }
    let host = seg.split_once(':').map_or(seg, |(h, _)| h);
    if host.parse::<Ipv4Addr>().is_ok() || host.is_empty() {
        return None;
    }
    let numeric = host.bytes().all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b'x' || b == b'X')
        && host.bytes().next().is_some_and(|b| b.is_ascii_digit());
    if !numeric {
        return None;
    }
    let hex = host.starts_with("0x") || host.starts_with("0X") || host.contains(".0x") || host.contains(".0X");
    let dotted_digits = host.contains('.') && host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    // A bare integer reads as an address once it is past the first octet (16777216 = 1.0.0.0).
    let integer = host.bytes().all(|b| b.is_ascii_digit()) && host.parse::<u64>().is_ok_and(|n| n >= 1 << 24);
    (hex || dotted_digits || integer)
        .then_some("write the routing target as four decimal numbers a.b.c.d (no leading zeros, hex or integer forms)")
}

/// `%XX` decoding, once (also the web app's paths); `None` when a `%` does not start two hex digits.
pub(super) fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The first segment, shortened and stripped of control characters, for an error message.
pub fn quote_segment(path_and_query: &str) -> String {
    let seg = first_segment(path_and_query).map_or("", |(s, _)| s);
    let mut q: String = seg.chars().filter(|c| !c.is_control()).take(QUOTE_MAX).collect();
    if seg.chars().count() > QUOTE_MAX {
        q.push('…');
    }
    q
}

pub fn route(cfg: &Config, path_and_query: &str) -> Route {
    match classify(path_and_query) {
        Segment::Path => {
            Route::Forward { backend: cfg.backend.clone(), path_and_query: path_and_query.to_string(), routed: false }
        }
        Segment::Invalid(why) => Route::Invalid { segment: quote_segment(path_and_query), why },
        // The configured backend named by its address is the backend: same health checks, same sessions.
        Segment::Target(ip, port, rest) if cfg.is_backend(ip, port) => {
            Route::Forward { backend: cfg.backend.clone(), path_and_query: rest, routed: false }
        }
        Segment::Target(ip, port, rest) => {
            if cfg.routing_allowed(ip, port) {
                Route::Forward { backend: BackendAddr::new(ip.to_string(), port), path_and_query: rest, routed: true }
            } else {
                Route::Refused { target: format!("{ip}:{port}") }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(allowed: &[&str]) -> Config {
        Config { allowed_backends: allowed.iter().map(|s| s.parse().unwrap()).collect(), ..Config::default() }
    }

    #[test]
    fn plain_paths_go_to_the_configured_backend_unchanged() {
        let c = cfg(&[]);
        assert_eq!(
            route(&c, "/sign_in?x=1&y=2"),
            Route::Forward { backend: c.backend.clone(), path_and_query: "/sign_in?x=1&y=2".into(), routed: false }
        );
        assert_eq!(
            route(&c, "/"),
            Route::Forward { backend: c.backend.clone(), path_and_query: "/".into(), routed: false }
        );
    }

    #[test]
    fn segments_parse_like_the_nginx_example() {
        let target = |ip: &str, port, rest: &str| Segment::Target(ip.parse().unwrap(), port, rest.into());
        assert_eq!(classify("/192.168.1.20:49100/sign_in?x=1"), target("192.168.1.20", 49100, "/sign_in?x=1"));
        assert_eq!(classify("/10.0.0.7"), target("10.0.0.7", 49100, "/"));
        assert_eq!(classify("/10.0.0.7?a=b"), target("10.0.0.7", 49100, "/?a=b"));
        assert_eq!(classify("/127.0.0.1:5000/"), target("127.0.0.1", 5000, "/"));
        assert_eq!(classify("/sign_in"), Segment::Path);
        for p in ["/1.2.3/x", "/1.2.3.4:0/x", "/1.2.3.4:99999/x", "/999.2.3.4/x"] {
            assert!(matches!(classify(p), Segment::Invalid(_)), "{p}");
        }
    }

    #[test]
    fn look_alike_targets_are_invalid_not_paths() {
        let c = cfg(&[]);
        for p in [
            "/1.2.3/x",
            "/01.2.3.4/x",
            "/0177.0.0.1/",
            "/0x7f.0.0.1/",
            "/0x7f000001/",
            "/2130706433/",
            "/999.2.3.4/x",
            "/127.1:49100/",
            "/1.2.3.4:0/x",
            "/1.2.3.4:99999/x",
            "/1.2.3.4:/x",
            "/1.2.3.4:80x/",
            "/[::1]:49100/",
            "/[::ffff:10.0.0.1]/",
            "/::1/",
            "/example.com:49100/",
            "/localhost:49100/",
            "/%31%30.0.0.5/",
            "/10%2e0%2e0%2e5:80/",
            "/%2531%2530.0.0.5/",
            "/%5B%3A%3A1%5D/",
        ] {
            assert!(matches!(route(&c, p), Route::Invalid { .. }), "{p}: {:?}", route(&c, p));
        }
        // Ordinary paths stay ordinary, even with digits, dots or escapes in them.
        for p in
            ["/sign_in", "/app.js", "/v1/x", "/12345/x", "/a%20b", "/deadbeef", "/", "/?a=1:2", "/evil.example.com/x"]
        {
            assert!(matches!(route(&c, p), Route::Forward { routed: false, .. }), "{p}: {:?}", route(&c, p));
        }
    }

    #[test]
    fn quoted_segments_are_short_and_clean() {
        let long = format!("/{}:1/", "a".repeat(500));
        assert_eq!(quote_segment(&long).chars().count(), QUOTE_MAX + 1);
        assert_eq!(quote_segment("/a\u{7}b:1/x"), "ab:1");
    }

    #[test]
    fn only_the_backend_and_allowed_host_ports_route_others_are_refused() {
        let c = cfg(&["192.168.1.20", "192.168.1.30:5000-5001"]);
        // Loopback is not blanket-allowed: only the backend's own port (the backend is localhost:49100).
        assert_eq!(route(&c, "/127.0.0.1:6000/a"), Route::Refused { target: "127.0.0.1:6000".into() });
        assert_eq!(route(&c, "/127.0.0.1:9222/json"), Route::Refused { target: "127.0.0.1:9222".into() });
        assert_eq!(
            route(&c, "/127.0.0.1:49100/a?b"),
            Route::Forward { backend: c.backend.clone(), path_and_query: "/a?b".into(), routed: false }
        );
        assert_eq!(
            route(&c, "/192.168.1.20/a"),
            Route::Forward {
                backend: BackendAddr::new("192.168.1.20", 49100),
                path_and_query: "/a".into(),
                routed: true
            }
        );
        assert_eq!(route(&c, "/192.168.1.20:22/a"), Route::Refused { target: "192.168.1.20:22".into() });
        assert!(matches!(route(&c, "/192.168.1.30:5001/a"), Route::Forward { routed: true, .. }));
        assert_eq!(route(&c, "/192.168.1.30:5002/a"), Route::Refused { target: "192.168.1.30:5002".into() });
        assert_eq!(route(&c, "/192.168.1.21:49100/a"), Route::Refused { target: "192.168.1.21:49100".into() });
        assert_eq!(route(&c, "/8.8.8.8/a"), Route::Refused { target: "8.8.8.8:49100".into() });
        // The configured backend's own address and port route to it without listing it.
        let c2 = Config { backend: BackendAddr::new("10.1.1.1", 49100), ..Config::default() };
        assert!(matches!(route(&c2, "/10.1.1.1/a"), Route::Forward { routed: false, .. }));
        assert!(matches!(route(&c2, "/10.1.1.1:49101/a"), Route::Refused { .. }));
    }
}
