//! Building answers: the body type every handler returns, plain-text and typed responses, the CORS
//! headers every answer carries (HAProxy's `http-response set-header` lines plus Private Network
//! Access), and the canned raw answers for connections hyper never sees. The leaf of the data path:
//! the HTTP layer, pages, tunnel, web app and network check all build their answers here.

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};

pub type Body = BoxBody<Bytes, hyper::Error>;
/// HAProxy's `http-response set-header` lines, plus Private Network Access.
pub const CORS_HEADERS: [(&str, &str); 6] = [
    ("access-control-allow-origin", "*"),
    ("access-control-allow-headers", "*"),
    ("access-control-allow-methods", "GET, POST, PUT, DELETE, OPTIONS"),
    ("access-control-expose-headers", "*"),
    ("access-control-max-age", "600"),
    ("access-control-allow-private-network", "true"),
];

pub fn set_cors(h: &mut HeaderMap) {
    for (k, v) in CORS_HEADERS {
        h.insert(k, HeaderValue::from_static(v));
    }
}

pub fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into()).map_err(|never| match never {}).boxed()
}

pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

pub fn with_type(body: impl Into<Bytes>, ctype: &'static str) -> Response<Body> {
    let mut r = Response::new(full(body));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r
}

/// A complete canned HTTP/1.1 response with CORS headers and `Connection: close`.
pub fn canned_response(status: &str, body: &str) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in CORS_HEADERS {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r.push_str(body);
    r.into_bytes()
}
