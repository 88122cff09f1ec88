//! Header rewriting between client and backend (RFC 9110 section 7.6.1):
//! hop-by-hop headers belong to one connection and are dropped, then the
//! proxy adds `X-Forwarded-*` and its hop counter. Host is left alone: dev
//! servers (Vite, Next) accept `*.localhost` and build links from it.
//!
//! The Host a request is routed on is the Host the backend gets: a request
//! with two, or one that `Connection` would strip, is refused
//! ([`request_host`]), and `Connection` cannot strip what the proxy owns
//! ([`PROTECTED`]).

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Counts how many times a request went through a warren proxy; a route
/// that points back at the proxy would otherwise loop forever.
pub const HOPS: HeaderName = HeaderName::from_static("x-warren-hops");
/// Requests that arrive having passed this many warren proxies get `508`.
pub const MAX_HOPS: usize = 8;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Hop counter values, so forwarding never formats a number.
const HOP_VALUES: [HeaderValue; MAX_HOPS + 1] = [
    HeaderValue::from_static("0"),
    HeaderValue::from_static("1"),
    HeaderValue::from_static("2"),
    HeaderValue::from_static("3"),
    HeaderValue::from_static("4"),
    HeaderValue::from_static("5"),
    HeaderValue::from_static("6"),
    HeaderValue::from_static("7"),
    HeaderValue::from_static("8"),
];

/// Headers a client's `Connection` cannot name away: the Host the request
/// is routed on (refused outright, see [`request_host`]), the forwarding
/// headers the proxy extends or sets, and its hop counter. Lowercase.
pub const PROTECTED: [&str; 5] = [
    "host",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-warren-hops",
];

/// Why a request's Host cannot be routed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadHost {
    /// More than one `Host` line (RFC 9112 section 3.2 says 400): routing
    /// on one while the backend reads the other would let a request reach
    /// an environment under another's name.
    Several,
    /// `Connection` names `Host`: stripping hop-by-hop headers would
    /// forward the request without the Host it was routed on.
    HopByHop,
    /// Not `name[:port]`.
    Invalid,
    /// An HTTP/1.1 request without a Host (RFC 9112 section 3.2 says 400).
    Missing,
}

impl BadHost {
    /// What was wrong, in words.
    pub fn reason(self) -> &'static str {
        match self {
            BadHost::Several => "the request has more than one Host header",
            BadHost::HopByHop => {
                "the request's Connection header names Host, which would remove it on the way"
            }
            BadHost::Invalid => "the request's Host is not a host name with an optional port",
            BadHost::Missing => "the request has no Host header",
        }
    }
}

/// The host a request asks for: the authority of an absolute-form target
/// (which wins over Host, RFC 9112 section 3.2.2), else its one `Host`
/// header; `None` only for an HTTP/1.0 request without either.
pub fn request_host<B>(req: &http::Request<B>) -> Result<Option<&str>, BadHost> {
    let headers = req.headers();
    let mut hosts = headers.get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(BadHost::Several);
    }
    if named_in_connection(headers, "host") {
        return Err(BadHost::HopByHop);
    }
    let value = match req.uri().authority() {
        Some(authority) => authority.as_str(),
        None => match host {
            Some(h) => h.to_str().map_err(|_| BadHost::Invalid)?,
            None if req.version() == http::Version::HTTP_10 => return Ok(None),
            None => return Err(BadHost::Missing),
        },
    };
    if value.is_empty() || !value.bytes().all(host_byte) {
        return Err(BadHost::Invalid);
    }
    Ok(Some(value))
}

/// Bytes of a host name, an IP literal and a port. Anything else (`@` of
/// userinfo, `,`, spaces, `<`) is refused before it can be routed on or
/// shown on a page.
fn host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':' | b'[' | b']')
}

/// Whether a `Connection` header lists `token`.
fn named_in_connection(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .any(|v| has_token(v, token))
}

/// The hop count a request arrived with (absent or unreadable = 0).
pub fn hops(headers: &HeaderMap) -> usize {
    headers
        .get(&HOPS)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The protocol a request asks to switch to (`Connection: upgrade` plus
/// `Upgrade: websocket`), if any.
pub fn upgrade_request(headers: &HeaderMap) -> Option<HeaderValue> {
    if named_in_connection(headers, "upgrade") {
        headers.get(header::UPGRADE).cloned()
    } else {
        None
    }
}

fn has_token(value: &HeaderValue, token: &str) -> bool {
    value
        .as_bytes()
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    let name = name.as_str();
    matches!(
        name,
        "connection" | "keep-alive" | "te" | "trailer" | "transfer-encoding" | "upgrade"
    ) || name.starts_with("proxy-")
}

/// Removes the hop-by-hop headers: those named by `Connection` (except the
/// [`PROTECTED`] ones), and the ones that are always hop-by-hop.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most requests carry none: one pass over the names instead of a
    // hashed removal per candidate. (Headers that `Connection` names only
    // matter when `Connection` itself is there.)
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    // Common case `Connection: keep-alive` names a header removed below
    // anyway; only allocate for the rare extra names.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|t| {
            !t.is_empty()
                && !t.eq_ignore_ascii_case(b"keep-alive")
                && !t.eq_ignore_ascii_case(b"close")
                && !t.eq_ignore_ascii_case(b"upgrade")
                && !PROTECTED
                    .iter()
                    .any(|p| t.eq_ignore_ascii_case(p.as_bytes()))
        })
        .filter_map(|t| HeaderName::from_bytes(t).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        KEEP_ALIVE,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        PROXY_CONNECTION,
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
    ] {
        headers.remove(name);
    }
    if headers.keys().any(|k| k.as_str().starts_with("proxy-")) {
        let proxy: Vec<HeaderName> = headers
            .keys()
            .filter(|k| k.as_str().starts_with("proxy-"))
            .cloned()
            .collect();
        for name in proxy {
            headers.remove(name);
        }
    }
}

/// Rewrites a request's headers for the backend: hop-by-hop headers out,
/// `X-Forwarded-For/-Host/-Proto` and the hop counter in, the upgrade (if
/// any) re-announced for the backend connection.
pub fn to_backend(
    headers: &mut HeaderMap,
    client_ip: &HeaderValue,
    hops: usize,
    upgrade: Option<HeaderValue>,
) {
    strip_hop_by_hop(headers);
    // hyper answers `Expect: 100-continue` itself when the body is first
    // read; forwarding it would make the backend send a second `100`.
    headers.remove(header::EXPECT);
    let xff = match headers.get(&X_FORWARDED_FOR) {
        Some(prev) => {
            let mut v = Vec::with_capacity(prev.len() + 2 + client_ip.len());
            v.extend_from_slice(prev.as_bytes());
            v.extend_from_slice(b", ");
            v.extend_from_slice(client_ip.as_bytes());
            HeaderValue::from_bytes(&v).unwrap_or_else(|_| client_ip.clone())
        }
        None => client_ip.clone(),
    };
    headers.insert(X_FORWARDED_FOR, xff);
    if let Some(host) = headers.get(header::HOST).cloned() {
        headers.insert(X_FORWARDED_HOST, host);
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    headers.insert(HOPS, HOP_VALUES[(hops + 1).min(MAX_HOPS)].clone());
    if let Some(proto) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, proto);
    }
}

/// Rewrites a response's headers for the client. A `101` keeps its
/// `Upgrade` so the client knows what it switched to.
pub fn to_client(headers: &mut HeaderMap, switched: bool) {
    let upgrade = if switched {
        headers.get(header::UPGRADE).cloned()
    } else {
        None
    };
    strip_hop_by_hop(headers);
    if let Some(proto) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, proto);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn strips_then_forwards() {
        let mut h = map(&[
            ("host", "web.otter.localhost:8080"),
            ("connection", "keep-alive, X-Secret"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("trailer", "x-sum"),
            ("proxy-authorization", "Basic x"),
            ("proxy-foo", "y"),
            ("upgrade", "h2c"),
            ("expect", "100-continue"),
            ("x-forwarded-for", "10.1.1.1"),
            ("x-warren-hops", "2"),
            ("accept", "*/*"),
        ]);
        let n = hops(&h);
        to_backend(&mut h, &HeaderValue::from_static("127.0.0.1"), n, None);
        let mut names: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "accept",
                "host",
                "x-forwarded-for",
                "x-forwarded-host",
                "x-forwarded-proto",
                "x-warren-hops"
            ]
        );
        assert_eq!(h["x-forwarded-for"], "10.1.1.1, 127.0.0.1");
        assert_eq!(h["x-forwarded-host"], "web.otter.localhost:8080");
        assert_eq!(h["host"], "web.otter.localhost:8080");
        assert_eq!(h["x-warren-hops"], "3");
    }

    #[test]
    fn connection_cannot_strip_what_the_proxy_owns() {
        let mut h = map(&[
            ("host", "web.otter.localhost"),
            (
                "connection",
                "close, X-Forwarded-For, x-forwarded-host, X-Forwarded-Proto, X-Warren-Hops, x-secret",
            ),
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-proto", "https"),
            ("x-warren-hops", "3"),
            ("x-secret", "1"),
        ]);
        let n = hops(&h);
        to_backend(&mut h, &HeaderValue::from_static("127.0.0.1"), n, None);
        assert_eq!(h["host"], "web.otter.localhost");
        assert_eq!(h["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
        assert_eq!(h["x-forwarded-host"], "web.otter.localhost");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-warren-hops"], "4");
        assert!(h.get("x-secret").is_none());
        assert!(h.get("connection").is_none());
    }

    #[test]
    fn the_host_routed_on_is_the_one_forwarded() {
        let req = |target: &str, version, pairs: &[(&str, &str)]| {
            let mut r = http::Request::builder()
                .uri(target)
                .version(version)
                .body(())
                .unwrap();
            *r.headers_mut() = map(pairs);
            r
        };
        let v11 = http::Version::HTTP_11;
        let ok = req("/", v11, &[("host", "web.otter.localhost:8080")]);
        assert_eq!(request_host(&ok), Ok(Some("web.otter.localhost:8080")));
        let two = req(
            "/",
            v11,
            &[("host", "a.localhost"), ("host", "b.localhost")],
        );
        assert_eq!(request_host(&two), Err(BadHost::Several));
        for conn in ["host", "close, Host", "keep-alive,HOST"] {
            let r = req("/", v11, &[("host", "a.localhost"), ("connection", conn)]);
            assert_eq!(request_host(&r), Err(BadHost::HopByHop), "{conn}");
        }
        for bad in [
            "a.localhost, b.localhost",
            "user@a.localhost",
            "<b>.localhost",
            "",
        ] {
            let r = req("/", v11, &[("host", bad)]);
            assert_eq!(request_host(&r), Err(BadHost::Invalid), "{bad}");
        }
        assert_eq!(request_host(&req("/", v11, &[])), Err(BadHost::Missing));
        let old = req("/", http::Version::HTTP_10, &[]);
        assert_eq!(request_host(&old), Ok(None));
        // Absolute form: the target's authority wins over Host.
        let abs = req("http://a.localhost:8080/x", v11, &[("host", "b.localhost")]);
        assert_eq!(request_host(&abs), Ok(Some("a.localhost:8080")));
        let userinfo = req("http://u@a.localhost/", v11, &[]);
        assert_eq!(request_host(&userinfo), Err(BadHost::Invalid));
    }

    #[test]
    fn upgrades_survive() {
        let mut h = map(&[
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-key", "k"),
        ]);
        let up = upgrade_request(&h);
        assert_eq!(up.as_ref().map(|v| v.as_bytes()), Some(&b"websocket"[..]));
        to_backend(&mut h, &HeaderValue::from_static("::1"), 0, up);
        assert_eq!(h["connection"], "upgrade");
        assert_eq!(h["upgrade"], "websocket");
        assert_eq!(h["sec-websocket-key"], "k");
        let mut r = map(&[
            ("connection", "upgrade"),
            ("upgrade", "websocket"),
            ("transfer-encoding", "chunked"),
        ]);
        to_client(&mut r, true);
        assert_eq!(r.len(), 2);
        assert!(upgrade_request(&map(&[("upgrade", "websocket")])).is_none());
    }
}
