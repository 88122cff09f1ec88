//! Header rewriting: hop-by-hop headers (RFC 9110 section 7.6.1) and
//! `Proxy-*` stay on their connection; grants swap placeholders for
//! credentials.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::policy::CompiledGrant;

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Removes the headers that belong to one connection: the fixed list, and
/// whatever `Connection` names. Allocates only when `Connection` lists
/// names beyond `close`/`keep-alive`.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if headers.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|t| !t.eq_ignore_ascii_case("close") && !t.eq_ignore_ascii_case("keep-alive"))
            .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for name in [
        header::CONNECTION,
        KEEP_ALIVE,
        PROXY_CONNECTION,
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        headers.remove(name);
    }
}

/// Applies `grant` to a request's headers: the placeholder becomes the
/// secret in the grant's header and in `Authorization` (also inside a
/// `Basic` credential), and the grant's header is set to its value when the
/// request has none.
///
/// Only those two headers are rewritten, not every header: a response that
/// echoes some request header (an error page, a debug endpoint) would
/// otherwise hand the secret to the environment that merely named the
/// placeholder in, say, `X-Echo`.
pub(crate) fn apply_grant(headers: &mut HeaderMap, grant: &CompiledGrant) {
    replace_in(headers, &grant.header, grant);
    if grant.header != header::AUTHORIZATION {
        replace_in(headers, &header::AUTHORIZATION, grant);
    }
    if !headers.contains_key(&grant.header) {
        headers.insert(grant.header.clone(), grant.value.clone());
    }
}

fn replace_in(headers: &mut HeaderMap, name: &HeaderName, grant: &CompiledGrant) {
    // Values are rewritten in place; the common case (no placeholder) costs
    // a scan of each value and no allocation.
    if let header::Entry::Occupied(mut entry) = headers.entry(name) {
        for value in entry.iter_mut() {
            if let Some(new) = replaced(value.as_bytes(), grant) {
                *value = new;
            }
        }
    }
}

/// The value with the placeholder replaced, or `None` if it has none.
fn replaced(value: &[u8], grant: &CompiledGrant) -> Option<HeaderValue> {
    let ph = grant.placeholder.as_bytes();
    let text = std::str::from_utf8(value).ok()?;
    let out = if contains(value, ph) {
        text.replace(&grant.placeholder, &grant.secret)
    } else {
        // `Basic base64(user:password)`, as git sends it: the placeholder
        // is inside the encoding.
        let (scheme, cred) = text.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = B64.decode(cred.trim()).ok()?;
        if !contains(&decoded, ph) {
            return None;
        }
        let decoded = String::from_utf8(decoded).ok()?;
        let swapped = decoded.replace(&grant.placeholder, &grant.secret);
        format!("{scheme} {}", B64.encode(swapped))
    };
    let mut v = HeaderValue::from_str(&out).ok()?;
    v.set_sensitive(true);
    Some(v)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::policy::HostSet;

    fn grant(header: &str, value: &str) -> CompiledGrant {
        CompiledGrant {
            name: "g".into(),
            hosts: HostSet::default(),
            header: HeaderName::from_bytes(header.as_bytes()).unwrap(),
            value: HeaderValue::from_str(value).unwrap(),
            secret: "sk-real-secret".into(),
            placeholder: "warren-placeholder-g".into(),
        }
    }

    #[test]
    fn placeholder_is_replaced_and_missing_header_added() {
        let g = grant("x-api-key", "sk-real-secret");
        let mut h = HeaderMap::new();
        h.insert(
            "x-api-key",
            HeaderValue::from_static("warren-placeholder-g"),
        );
        h.insert("x-echo", HeaderValue::from_static("warren-placeholder-g"));
        apply_grant(&mut h, &g);
        assert_eq!(h["x-api-key"], "sk-real-secret");
        assert_eq!(h["x-echo"], "warren-placeholder-g");

        let mut h = HeaderMap::new();
        apply_grant(&mut h, &g);
        assert_eq!(h["x-api-key"], "sk-real-secret");

        // The environment's own different credential is left alone.
        let mut h = HeaderMap::new();
        h.insert("x-api-key", HeaderValue::from_static("sk-their-own"));
        apply_grant(&mut h, &g);
        assert_eq!(h["x-api-key"], "sk-their-own");
    }

    #[test]
    fn bearer_and_basic_credentials_are_rewritten() {
        let g = grant("authorization", "Bearer sk-real-secret");
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_static("Bearer warren-placeholder-g"),
        );
        apply_grant(&mut h, &g);
        assert_eq!(h["authorization"], "Bearer sk-real-secret");

        let basic = format!(
            "Basic {}",
            B64.encode("x-access-token:warren-placeholder-g")
        );
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_str(&basic).unwrap());
        apply_grant(&mut h, &g);
        let want = format!("Basic {}", B64.encode("x-access-token:sk-real-secret"));
        assert_eq!(h["authorization"], want.as_str());
        assert!(h["authorization"].is_sensitive());
    }

    #[test]
    fn hop_by_hop_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-secret-hop"),
        );
        h.insert("x-secret-hop", HeaderValue::from_static("1"));
        h.insert("proxy-authorization", HeaderValue::from_static("Basic x"));
        h.insert("proxy-connection", HeaderValue::from_static("keep-alive"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("accept", HeaderValue::from_static("*/*"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("accept"));
    }
}
