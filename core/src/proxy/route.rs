//! Where an upgrade request goes: the configured backend, or — like NVIDIA's nginx example —
//! the server named by a first path segment `/{ipv4}` or `/{ipv4}:{port}`, with that segment stripped.
//! Only hosts in the allow list can be reached, so the gateway never becomes an open proxy.

use std::net::Ipv4Addr;

use crate::config::{BackendAddr, Config, DEFAULT_BACKEND_PORT};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Forward to `backend` with `path_and_query` as the request target.
    Forward { backend: BackendAddr, path_and_query: String, routed: bool },
    /// A routing segment naming a host that is not allowed.
    Refused { host: String },
}

/// Splits `/{ipv4}[:port]/rest?query` into the target and the rest; `None` when the first segment is no IPv4.
pub fn parse_routing_segment(path_and_query: &str) -> Option<(Ipv4Addr, u16, String)> {
    let rest = path_and_query.strip_prefix('/')?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (seg, tail) = rest.split_at(end);
    let (host, port) = match seg.split_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().ok().filter(|p| *p > 0)?),
        None => (seg, DEFAULT_BACKEND_PORT),
    };
    // Strict dotted quad: "1.2.3" or "01.2.3.4" style oddities are not routes.
    let ip: Ipv4Addr = host.parse().ok()?;
    let tail = if tail.is_empty() {
        "/".to_string()
    } else if tail.starts_with('?') {
        format!("/{tail}")
    } else {
        tail.to_string()
    };
    Some((ip, port, tail))
}

pub fn route(cfg: &Config, path_and_query: &str) -> Route {
    match parse_routing_segment(path_and_query) {
        None => {
            Route::Forward { backend: cfg.backend.clone(), path_and_query: path_and_query.to_string(), routed: false }
        }
        Some((ip, port, rest)) => {
            let host = ip.to_string();
            if cfg.routing_allowed(&host) {
                Route::Forward { backend: BackendAddr::new(host, port), path_and_query: rest, routed: true }
            } else {
                Route::Refused { host }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(allowed: &[&str]) -> Config {
        Config { allowed_backends: allowed.iter().map(|s| s.to_string()).collect(), ..Config::default() }
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
        assert_eq!(
            parse_routing_segment("/192.168.1.20:49100/sign_in?x=1"),
            Some(("192.168.1.20".parse().unwrap(), 49100, "/sign_in?x=1".into()))
        );
        assert_eq!(parse_routing_segment("/10.0.0.7"), Some(("10.0.0.7".parse().unwrap(), 49100, "/".into())));
        assert_eq!(parse_routing_segment("/10.0.0.7?a=b"), Some(("10.0.0.7".parse().unwrap(), 49100, "/?a=b".into())));
        assert_eq!(parse_routing_segment("/127.0.0.1:5000/"), Some(("127.0.0.1".parse().unwrap(), 5000, "/".into())));
        assert_eq!(parse_routing_segment("/sign_in"), None);
        assert_eq!(parse_routing_segment("/1.2.3/x"), None);
        assert_eq!(parse_routing_segment("/1.2.3.4:0/x"), None);
        assert_eq!(parse_routing_segment("/1.2.3.4:99999/x"), None);
        assert_eq!(parse_routing_segment("/999.2.3.4/x"), None);
    }

    #[test]
    fn loopback_and_allowed_hosts_route_others_are_refused() {
        let c = cfg(&["192.168.1.20"]);
        assert!(matches!(route(&c, "/127.0.0.1:6000/a"), Route::Forward { routed: true, .. }));
        assert!(matches!(route(&c, "/192.168.1.20/a"), Route::Forward { routed: true, .. }));
        assert_eq!(route(&c, "/192.168.1.21:49100/a"), Route::Refused { host: "192.168.1.21".into() });
        assert_eq!(route(&c, "/8.8.8.8/a"), Route::Refused { host: "8.8.8.8".into() });
        // The configured backend's own IP is allowed without listing it.
        let c2 = Config { backend: BackendAddr::new("10.1.1.1", 49100), ..Config::default() };
        assert!(matches!(route(&c2, "/10.1.1.1/a"), Route::Forward { routed: true, .. }));
    }
}
