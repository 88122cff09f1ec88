//! Host header grammar: `[<service>.]<env>.localhost[:port]` names a route;
//! the proxy's own names (`localhost`, `127.0.0.1`, `[::1]`) get the landing
//! page; everything else gets a bare 404 and is never forwarded (DNS
//! rebinding: a foreign name pointing at 127.0.0.1 must neither reach a dev
//! server nor read what the proxy knows).

/// What a Host header asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostTarget<'a> {
    /// `[service.]env.localhost`: forward. Labels are as written; the caller
    /// compares case-insensitively.
    Route {
        env: &'a str,
        service: Option<&'a str>,
    },
    /// The proxy itself: `localhost`, `127.0.0.1`, `[::1]`, or no Host
    /// (HTTP/1.0; an HTTP/1.1 request without one is refused earlier).
    Proxy,
    /// Any other name: never forwarded.
    Foreign,
}

const SUFFIX: &str = ".localhost";

/// Classifies a Host header value (`None` when the request had none).
pub fn classify(host: Option<&str>) -> HostTarget<'_> {
    let Some(host) = host else {
        return HostTarget::Proxy;
    };
    let name = strip_port(host);
    // A fully qualified name may end in a dot; it names the same host.
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.eq_ignore_ascii_case("localhost") || name == "127.0.0.1" || name == "[::1]" {
        return HostTarget::Proxy;
    }
    let split = name.len().checked_sub(SUFFIX.len());
    let Some(prefix) = split
        .filter(|&at| name.is_char_boundary(at) && name[at..].eq_ignore_ascii_case(SUFFIX))
        .map(|at| &name[..at])
    else {
        return HostTarget::Foreign;
    };
    // The environment is the label nearest `.localhost`; anything before it
    // is the service (it may itself contain dots and then simply won't match).
    let (service, env) = match prefix.rsplit_once('.') {
        Some((service, env)) => (Some(service), env),
        None => (None, prefix),
    };
    if env.is_empty() || service.is_some_and(str::is_empty) {
        return HostTarget::Foreign;
    }
    HostTarget::Route { env, service }
}

/// `name[:port]` or `[v6]:port` without the port.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::HostTarget::*;
    use super::*;

    fn route<'a>(service: Option<&'a str>, env: &'a str) -> HostTarget<'a> {
        Route { env, service }
    }

    #[test]
    fn grammar() {
        assert_eq!(
            classify(Some("web.otter.localhost:8080")),
            route(Some("web"), "otter")
        );
        assert_eq!(classify(Some("otter.localhost")), route(None, "otter"));
        assert_eq!(
            classify(Some("Web.Otter.LOCALHOST.")),
            route(Some("Web"), "Otter")
        );
        assert_eq!(
            classify(Some("a.b.otter.localhost")),
            route(Some("a.b"), "otter")
        );
        assert_eq!(
            classify(Some("3000.otter.localhost:80")),
            route(Some("3000"), "otter")
        );
        for own in [
            None,
            Some("localhost"),
            Some("localhost:8080"),
            Some("127.0.0.1:1"),
            Some("[::1]:8080"),
            Some("[::1]"),
        ] {
            assert_eq!(classify(own), Proxy, "{own:?}");
        }
        for foreign in [
            "evil.example",
            "otter.localhost.evil.example",
            "10.0.0.1:8080",
            ".localhost",
            "a..localhost",
            "localhost.com",
            "[fe80::1]:80",
            "ölocalhost",
        ] {
            assert_eq!(classify(Some(foreign)), Foreign, "{foreign}");
        }
    }
}
