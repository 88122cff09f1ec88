//! What the proxy says itself: JSON errors (unknown environment or service,
//! backend down, loop) and the HTML landing page listing every route.

use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{Either, Full};
use hyper::body::Bytes;
use hyper::body::Incoming;
use serde_json::json;

use warren_core::routes::route_url;

use crate::table::{EnvRoutes, RouteTable};

/// Body of every response: streamed from a backend, or made here.
pub type Body = Either<Incoming, Full<Bytes>>;

fn json_response(status: StatusCode, value: serde_json::Value) -> Response<Body> {
    let body = serde_json::to_vec_pretty(&value).unwrap_or_default();
    let mut resp = Response::new(Either::Right(Full::new(Bytes::from(body))));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// 404: no environment of that name has routes.
pub fn unknown_environment(env: &str, table: &RouteTable) -> Response<Body> {
    let names = table.env_names();
    let known = if names.is_empty() {
        "no environment has routes right now".to_string()
    } else {
        format!("known: {}", names.join(", "))
    };
    json_response(
        StatusCode::NOT_FOUND,
        json!({
            "error": "unknown_environment",
            "message": format!("no environment named `{env}` has routes; {known}"),
            "environment": env,
            "environments": names,
        }),
    )
}

/// 404: the environment exists but has no such service.
pub fn unknown_service(env: &str, service: &str, routes: &EnvRoutes) -> Response<Body> {
    let services = routes.service_names();
    json_response(
        StatusCode::NOT_FOUND,
        json!({
            "error": "unknown_service",
            "message": format!(
                "environment `{env}` has no service `{service}`; its services: {}",
                services.join(", ")
            ),
            "environment": env,
            "service": service,
            "services": services,
        }),
    )
}

/// 502: the backend did not answer.
pub fn bad_gateway(env: &str, service: &str, target: &str, why: &str) -> Response<Body> {
    json_response(
        StatusCode::BAD_GATEWAY,
        json!({
            "error": "bad_gateway",
            "message": format!(
                "service `{service}` of environment `{env}` at {target} did not answer: {why}; is its dev server running?"
            ),
            "environment": env,
            "service": service,
            "target": target,
        }),
    )
}

/// 508: the request has looped through the proxy too often.
pub fn loop_detected(hops: usize) -> Response<Body> {
    json_response(
        StatusCode::LOOP_DETECTED,
        json!({
            "error": "loop_detected",
            "message": format!(
                "the request already went through {hops} warren proxies; a route probably points back at the proxy"
            ),
            "hops": hops,
        }),
    )
}

/// Identity and health of this proxy (answered on the proxy's own names).
pub fn status(pid: u32, port: u16, started_at: i64, table: &RouteTable) -> Response<Body> {
    json_response(
        StatusCode::OK,
        json!({
            "proxy": "warren",
            "version": env!("CARGO_PKG_VERSION"),
            "pid": pid,
            "port": port,
            "started_at": started_at,
            "routes": table.routes().len(),
            "environments": table.env_names(),
        }),
    )
}

/// The landing page: every route as a link.
pub fn landing(table: &RouteTable, port: u16) -> Response<Body> {
    let mut rows = String::new();
    let mut last_env = "";
    for r in table.routes() {
        let default = last_env != r.env;
        last_env = &r.env;
        let svc_url = route_url(Some(&r.service), &r.env, port);
        let env_cell = if default {
            let env_url = route_url(None, &r.env, port);
            format!("<a href=\"{0}/\">{1}</a>", escape(&env_url), escape(&r.env))
        } else {
            String::new()
        };
        let label = r
            .label
            .as_deref()
            .map(|l| format!(" <small>({})</small>", escape(l)))
            .unwrap_or_default();
        rows.push_str(&format!(
            "<tr><td>{env_cell}</td><td>{svc}{label}</td><td><a href=\"{url}/\">{url}</a></td><td><code>{target}</code></td></tr>\n",
            svc = escape(&r.service),
            url = escape(&svc_url),
            target = escape(&r.target()),
        ));
    }
    for (r, why) in table.skipped() {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td colspan=\"2\">unusable: {}</td></tr>\n",
            escape(&r.env),
            escape(&r.service),
            escape(why)
        ));
    }
    let body = if rows.is_empty() {
        "<p>No environment has routes right now. Start one with <code>warren run</code>.</p>"
            .to_string()
    } else {
        format!(
            "<table>\n<tr><th>environment</th><th>service</th><th>URL</th><th>backend</th></tr>\n{rows}</table>"
        )
    };
    let html = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>warren proxy</title>\n\
<style>body{{font-family:system-ui,sans-serif;margin:2rem}}td,th{{padding:.2rem .8rem;text-align:left}}</style>\n\
</head><body>\n<h1>warren proxy</h1>\n{body}\n</body></html>\n"
    );
    let mut resp = Response::new(Either::Right(Full::new(Bytes::from(html))));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_escaping() {
        assert_eq!(
            route_url(Some("web"), "otter", 8080),
            "http://web.otter.localhost:8080"
        );
        assert_eq!(route_url(None, "otter", 80), "http://otter.localhost");
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
