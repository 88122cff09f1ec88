//! What the proxy says itself: the errors (unknown environment or service,
//! backend down, loop) and the landing page. Each is an HTML page with links
//! for browsers and JSON for programs, chosen by the request's `Accept`
//! ([`Format`]). Every name shown comes from the store or the request, so
//! HTML escapes all of it.

use std::fmt::Write as _;

use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use http_body_util::{Either, Full};
use hyper::body::Bytes;
use hyper::body::Incoming;
use serde_json::json;

use warren_core::routes::route_url;

use warren_core::EnvState;

use crate::limit::Limiter;
use crate::table::{EnvRoutes, Recorded, RouteTable};

/// Body of every response: streamed from a backend, or made here.
pub type Body = Either<Incoming, Full<Bytes>>;

/// Who an answer is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A person in a browser: a page with links.
    Html,
    /// A program (curl's `*/*`, API clients): JSON.
    Json,
}

impl Format {
    /// The format for an error answer: HTML only when `Accept` ranks
    /// `text/html` above `application/json`, as browsers' navigations do
    /// (`text/html,…,*/*;q=0.8`); a tie (`*/*`, no `Accept`) stays JSON so
    /// scripts keep getting what they parse.
    pub fn for_error(headers: &HeaderMap) -> Format {
        let (html, json) = preferences(headers);
        if html > json {
            Format::Html
        } else {
            Format::Json
        }
    }

    /// The format for the landing page: a page unless JSON is asked for
    /// outright (`Accept: application/json`).
    pub fn for_page(headers: &HeaderMap) -> Format {
        let (html, json) = preferences(headers);
        if json > html {
            Format::Json
        } else {
            Format::Html
        }
    }
}

/// `(q of text/html, q of application/json)` in thousandths, each from the
/// most specific media range that matches it (RFC 9110 section 12.5.1).
fn preferences(headers: &HeaderMap) -> (u16, u16) {
    let mut html = (0u8, 0u16);
    let mut json = (0u8, 0u16);
    for value in headers.get_all(header::ACCEPT) {
        for range in value.as_bytes().split(|&b| b == b',') {
            let mut parts = range.split(|&b| b == b';');
            let media = parts.next().unwrap_or_default().trim_ascii();
            let q = parts
                .filter_map(|p| {
                    let p = p.trim_ascii();
                    let v = p.strip_prefix(b"q=").or_else(|| p.strip_prefix(b"Q="))?;
                    Some(qvalue(v))
                })
                .next()
                .unwrap_or(1000);
            for (target, best) in [
                (&b"text/html"[..], &mut html),
                (b"application/json", &mut json),
            ] {
                let specificity = match_media(media, target);
                if specificity > best.0 {
                    *best = (specificity, q);
                }
            }
        }
    }
    (html.1, json.1)
}

/// How specifically `range` (`type/sub`, `type/*`, `*/*`) matches `media`:
/// 3 exact, 2 type wildcard, 1 full wildcard, 0 not at all.
fn match_media(range: &[u8], media: &[u8]) -> u8 {
    if range.eq_ignore_ascii_case(media) {
        return 3;
    }
    if range == b"*/*" {
        return 1;
    }
    match (range.split(|&b| b == b'/').next(), range.ends_with(b"/*")) {
        (Some(ty), true) => {
            let media_ty = media.split(|&b| b == b'/').next().unwrap_or_default();
            if ty.eq_ignore_ascii_case(media_ty) {
                2
            } else {
                0
            }
        }
        _ => 0,
    }
}

/// A `qvalue` (`0`, `0.8`, `1.000`) in thousandths; unreadable = 0.
fn qvalue(v: &[u8]) -> u16 {
    let text = std::str::from_utf8(v).unwrap_or("0");
    let q: f32 = text.trim().parse().unwrap_or(0.0);
    (q.clamp(0.0, 1.0) * 1000.0).round() as u16
}

/// The landing page's address on the proxy's own name.
pub fn landing_url(port: u16) -> String {
    if port == 80 {
        "http://localhost/".to_string()
    } else {
        format!("http://localhost:{port}/")
    }
}

fn respond(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response<Body> {
    let mut resp = Response::new(Either::Right(Full::new(Bytes::from(body))));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The same URL answers a browser and a script differently.
    h.insert(header::VARY, HeaderValue::from_static("accept"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut body = serde_json::to_vec_pretty(value).unwrap_or_default();
    // So the shell prompt after `curl URL` starts on its own line.
    body.push(b'\n');
    respond(status, "application/json", body)
}

/// An HTML page under construction: a title, paragraphs, lists of links,
/// and a link back to the landing page at the bottom.
struct Page {
    /// `<title>` (plain text).
    title: String,
    /// Extra elements for `<head>` (HTML).
    head: String,
    body: String,
}

impl Page {
    /// `title` is plain text.
    fn new(title: &str) -> Page {
        let mut body = String::with_capacity(1024);
        let _ = writeln!(body, "<h1>{}</h1>", escape(title));
        Page {
            title: title.to_string(),
            head: String::new(),
            body,
        }
    }

    /// A paragraph of HTML the caller has escaped.
    fn html(&mut self, html: &str) {
        let _ = writeln!(self.body, "<p>{html}</p>");
    }

    /// A command to copy, after a plain-text lead-in.
    fn command(&mut self, lead: &str, command: &str) {
        let _ = writeln!(
            self.body,
            "<p>{}</p>\n<pre><code>{}</code></pre>",
            escape(lead),
            escape(command)
        );
    }

    /// A heading and a list of `(text, url)` links (nothing when empty).
    fn links(&mut self, heading: &str, links: impl IntoIterator<Item = (String, String)>) {
        let mut items = String::new();
        for (text, url) in links {
            let _ = writeln!(
                items,
                "<li><a href=\"{}\">{}</a></li>",
                escape(&url),
                escape(&text)
            );
        }
        if !items.is_empty() {
            let _ = write!(
                self.body,
                "<h2>{}</h2>\n<ul>\n{items}</ul>\n",
                escape(heading)
            );
        }
    }

    fn finish(mut self, status: StatusCode, port: u16) -> Response<Body> {
        let landing = landing_url(port);
        let _ = writeln!(
            self.body,
            "<p class=\"home\"><a href=\"{0}\">All environments</a> ({0})</p>",
            escape(&landing)
        );
        let html = format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width\">{}<title>{} · warren</title>\n\
<style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:50rem;line-height:1.4}}\
pre{{background:#f4f4f4;padding:.5rem .8rem}}td,th{{padding:.2rem .8rem;text-align:left}}\
.home{{margin-top:2rem;color:#666}}</style>\n</head><body>\n{}</body></html>\n",
            self.head,
            escape(&self.title),
            self.body
        );
        let mut resp = respond(status, "text/html; charset=utf-8", html.into_bytes());
        // The pages have no scripts: should a name ever slip through
        // unescaped, the browser still runs nothing.
        resp.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
        );
        resp
    }
}

/// Links to every service of `env`, the default first.
fn service_links(env: &EnvRoutes, port: u16) -> Vec<(String, String)> {
    env.services
        .iter()
        .map(|b| {
            (
                format!("{}.{}", b.service, env.name),
                format!("{}/", route_url(Some(&b.service), &env.name, port)),
            )
        })
        .collect()
}

/// Links to every known environment's own URL (its default service, or
/// the page that says why it has none), with its state when not routed.
fn env_links(table: &RouteTable, port: u16) -> Vec<(String, String)> {
    table
        .known()
        .map(|e| {
            let text = if e.routed() {
                e.name.clone()
            } else {
                format!("{} ({})", e.name, not_routed_words(e).state)
            };
            (text, format!("{}/", route_url(None, &e.name, port)))
        })
        .collect()
}

/// 404: no environment of that name, neither in the store nor in the routes.
pub fn unknown_environment(
    env: &str,
    table: &RouteTable,
    port: u16,
    format: Format,
) -> Response<Body> {
    let names = table.known_names();
    let status = StatusCode::NOT_FOUND;
    match format {
        Format::Json => {
            let known = if names.is_empty() {
                "there are no environments right now".to_string()
            } else {
                format!("known: {}", names.join(", "))
            };
            json_response(
                status,
                &json!({
                    "error": "unknown_environment",
                    "message": format!("no environment named `{env}`; {known}"),
                    "environment": env,
                    "environments": names,
                }),
            )
        }
        Format::Html => {
            let mut page = Page::new(&format!("No environment named “{env}”"));
            if names.is_empty() {
                page.html("There are no environments right now.");
                page.command(
                    "Start one from your project's checkout:",
                    "warren run --name NAME",
                );
            }
            page.links("Environments", env_links(table, port));
            page.finish(status, port)
        }
    }
}

/// What to say about an environment that is known but not routed: the
/// `error` code, a sentence, and the command that helps (if one does).
struct NotRouted {
    error: &'static str,
    state: String,
    message: String,
    hint: Option<(&'static str, String)>,
    /// Worth reloading by itself: the state is on its way to `running`.
    transient: bool,
}

fn not_routed_words(env: &EnvRoutes) -> NotRouted {
    let name = env.name.as_str();
    let (error, message, hint, transient) = match &env.recorded {
        Recorded::State(EnvState::Stopped) => (
            "environment_stopped",
            format!("environment `{name}` is stopped"),
            Some(("Start it:", format!("warren start {name}"))),
            false,
        ),
        Recorded::State(EnvState::Gone) => (
            "environment_gone",
            format!(
                "environment `{name}` is gone: its container or sandbox no longer exists (removed outside warren, or the machine restarted); `warren start {name}` creates it again on the same worktree, `warren rm {name}` removes it"
            ),
            Some((
                "Create it again on the same worktree (or remove it with `warren rm`):",
                format!("warren start {name}"),
            )),
            false,
        ),
        Recorded::State(EnvState::Failed) => (
            "environment_failed",
            format!("environment `{name}` failed while it was being created"),
            Some((
                "See what went wrong, then remove it:",
                format!("warren logs {name}; warren rm {name}"),
            )),
            false,
        ),
        Recorded::State(EnvState::Creating) => (
            "environment_starting",
            format!("environment `{name}` is being created; its services are routed once it runs"),
            None,
            true,
        ),
        Recorded::State(EnvState::Running) | Recorded::RoutesOnly => (
            "no_routes",
            format!(
                "environment `{name}` is running but none of its services is routed (it is starting or stopping, or it declares no services)"
            ),
            Some(("See its services:", format!("warren ls {name}"))),
            true,
        ),
        Recorded::Unknown(state) => (
            "environment_unavailable",
            format!("environment `{name}` is `{state}` and has no routes"),
            Some(("See it:", format!("warren ls {name}"))),
            false,
        ),
    };
    let state = match &env.recorded {
        Recorded::State(s) => s.as_str().to_string(),
        Recorded::Unknown(s) => s.clone(),
        Recorded::RoutesOnly => "unknown".to_string(),
    };
    NotRouted {
        error,
        state,
        message,
        hint,
        transient,
    }
}

/// 503: the environment exists but nothing of it is routed: stopped (start
/// it), gone (create it again or remove it), failed, or not running yet.
pub fn not_routed(env: &EnvRoutes, port: u16, format: Format) -> Response<Body> {
    let words = not_routed_words(env);
    let status = StatusCode::SERVICE_UNAVAILABLE;
    let mut resp = match format {
        Format::Json => json_response(
            status,
            &json!({
                "error": words.error,
                "message": match &words.hint {
                    Some((_, cmd)) if words.error != "environment_gone" => {
                        format!("{}; `{cmd}`", words.message)
                    }
                    _ => words.message.clone(),
                },
                "environment": env.name,
                "state": words.state,
                "hint": words.hint.as_ref().map(|(_, cmd)| cmd),
            }),
        ),
        Format::Html => {
            let mut page = Page::new(&format!("{} is {}", env.name, words.state));
            page.html(&escape(&capitalise(&words.message)));
            if let Some((lead, cmd)) = &words.hint {
                page.command(lead, cmd);
            }
            if words.transient {
                page.html("This page reloads by itself every few seconds.");
                // No script needed: the browser reloads on its own.
                page.head
                    .push_str("<meta http-equiv=\"refresh\" content=\"3\">");
            }
            page.finish(status, port)
        }
    };
    if words.transient {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("3"));
    }
    resp
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// 404: the environment exists but has no such service.
pub fn unknown_service(
    env: &str,
    service: &str,
    routes: &EnvRoutes,
    port: u16,
    format: Format,
) -> Response<Body> {
    let services = routes.service_names();
    let status = StatusCode::NOT_FOUND;
    match format {
        Format::Json => json_response(
            status,
            &json!({
                "error": "unknown_service",
                "message": format!(
                    "environment `{env}` has no service `{service}`; its services: {}",
                    services.join(", ")
                ),
                "environment": env,
                "service": service,
                "services": services,
            }),
        ),
        Format::Html => {
            let mut page = Page::new(&format!("“{env}” has no service “{service}”"));
            page.html(&format!(
                "Environment <b>{}</b> has these services; the first is also at {}.",
                escape(&routes.name),
                link(&format!("{}/", route_url(None, &routes.name, port)))
            ));
            page.links("Services", service_links(routes, port));
            page.finish(status, port)
        }
    }
}

/// 502: the backend did not answer.
pub fn bad_gateway(
    env: &EnvRoutes,
    service: &str,
    target: &str,
    why: &str,
    port: u16,
    format: Format,
) -> Response<Body> {
    let name = env.name.as_str();
    let status = StatusCode::BAD_GATEWAY;
    match format {
        Format::Json => json_response(
            status,
            &json!({
                "error": "bad_gateway",
                "message": format!(
                    "service `{service}` of environment `{name}` at {target} did not answer: {why}; is its dev server running?"
                ),
                "environment": name,
                "service": service,
                "target": target,
            }),
        ),
        Format::Html => {
            let mut page = Page::new(&format!("{service}.{name} is not answering"));
            page.html(&format!(
                "Service <b>{}</b> of environment <b>{}</b> (at <code>{}</code>) did not answer: {}.",
                escape(service),
                escape(name),
                escape(target),
                escape(why)
            ));
            page.html("Is its dev server running? Reload this page once it is.");
            page.command(
                "What the environment printed lately:",
                &format!("warren logs {name}"),
            );
            page.links("Services of this environment", service_links(env, port));
            page.finish(status, port)
        }
    }
}

/// 400: the request cannot be routed as sent (two Hosts, a Host that
/// `Connection` would strip, no Host). Lists nothing.
pub fn bad_request(reason: &str, port: u16, format: Format) -> Response<Body> {
    let status = StatusCode::BAD_REQUEST;
    match format {
        Format::Json => json_response(
            status,
            &json!({ "error": "bad_request", "message": reason }),
        ),
        Format::Html => {
            let mut page = Page::new("Bad request");
            page.html(&escape(&capitalise(reason)));
            page.finish(status, port)
        }
    }
}

/// 405: `CONNECT`; this proxy routes by host name, it does not tunnel.
pub fn method_not_allowed(port: u16, format: Format) -> Response<Body> {
    let status = StatusCode::METHOD_NOT_ALLOWED;
    let message = "CONNECT is not supported: this proxy routes by host name (SERVICE.ENV.localhost), it does not tunnel";
    let mut resp = match format {
        Format::Json => json_response(
            status,
            &json!({ "error": "method_not_allowed", "message": message }),
        ),
        Format::Html => {
            let mut page = Page::new("Method not allowed");
            page.html(&escape(message));
            page.finish(status, port)
        }
    };
    resp.headers_mut().insert(
        header::ALLOW,
        HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
    );
    resp
}

/// 404 for a Host that is neither `*.localhost` nor the proxy's own name.
/// Plain text that names nothing: the asker may be a DNS-rebinding page
/// whose scripts read it.
pub fn foreign_host() -> Response<Body> {
    respond(
        StatusCode::NOT_FOUND,
        "text/plain; charset=utf-8",
        b"404 not found\n".to_vec(),
    )
}

/// 508: the request has looped through the proxy too often.
pub fn loop_detected(hops: usize, port: u16, format: Format) -> Response<Body> {
    let status = StatusCode::LOOP_DETECTED;
    let message = format!(
        "the request already went through {hops} warren proxies; a route probably points back at the proxy"
    );
    match format {
        Format::Json => json_response(
            status,
            &json!({ "error": "loop_detected", "message": message, "hops": hops }),
        ),
        Format::Html => {
            let mut page = Page::new("Loop detected");
            page.html(&escape(&format!(
                "The request already went through {hops} warren proxies: a route probably points back at the proxy."
            )));
            page.command("See where each route points:", "warren proxy status");
            page.finish(status, port)
        }
    }
}

/// Identity and health of this proxy (answered on the proxy's own names).
pub fn status(
    pid: u32,
    port: u16,
    started_at: i64,
    table: &RouteTable,
    limiter: &Limiter,
) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({
            "proxy": "warren",
            "version": env!("CARGO_PKG_VERSION"),
            "pid": pid,
            "port": port,
            "started_at": started_at,
            "routes": table.served(),
            "environments": table.env_names(),
            "connections": limiter.open(),
            "max_connections": limiter.max(),
        }),
    )
}

/// The landing page: every environment and its services, as links, and
/// what to do about the ones that are not routed. It names no backend
/// addresses: they are nobody's business but the proxy's.
pub fn landing(table: &RouteTable, port: u16, format: Format) -> Response<Body> {
    match format {
        Format::Json => {
            let envs: Vec<_> = table
                .known()
                .map(|e| {
                    let words = (!e.routed()).then(|| not_routed_words(e));
                    json!({
                        "name": e.name,
                        "state": words.as_ref().map_or("running", |w| w.state.as_str()),
                        "url": route_url(None, &e.name, port),
                        "services": e.services.iter().map(|b| json!({
                            "name": b.service,
                            "url": route_url(Some(&b.service), &e.name, port),
                        })).collect::<Vec<_>>(),
                        "message": words.as_ref().map(|w| &w.message),
                        "hint": words.as_ref().and_then(|w| w.hint.as_ref().map(|(_, c)| c)),
                    })
                })
                .collect();
            json_response(
                StatusCode::OK,
                &json!({ "proxy": "warren", "environments": envs }),
            )
        }
        Format::Html => {
            let mut rows = String::new();
            for e in table.known() {
                let env_url = format!("{}/", route_url(None, &e.name, port));
                let env_cell = link_text(&env_url, &e.name);
                if !e.routed() {
                    let words = not_routed_words(e);
                    let hint = words
                        .hint
                        .as_ref()
                        .map(|(_, cmd)| format!("<code>{}</code>", escape(cmd)))
                        .unwrap_or_default();
                    let _ = writeln!(
                        rows,
                        "<tr><td>{env_cell}</td><td><i>{}</i></td><td>{hint}</td></tr>",
                        escape(&words.state),
                    );
                    continue;
                }
                for (i, b) in e.services.iter().enumerate() {
                    let env_cell = if i == 0 { env_cell.as_str() } else { "" };
                    let label = b
                        .label
                        .as_deref()
                        .map(|l| format!(" <small>({})</small>", escape(l)))
                        .unwrap_or_default();
                    let url = format!("{}/", route_url(Some(&b.service), &e.name, port));
                    let _ = writeln!(
                        rows,
                        "<tr><td>{env_cell}</td><td>{}{label}</td><td>{}</td></tr>",
                        escape(&b.service),
                        link(&url),
                    );
                }
            }
            for (r, _) in table.skipped() {
                let _ = writeln!(
                    rows,
                    "<tr><td>{}</td><td>{}</td><td>not routed: its address is unusable (see <code>warren proxy status</code>)</td></tr>",
                    escape(&r.env),
                    escape(&r.service),
                );
            }
            let mut page = Page::new("warren proxy");
            if rows.is_empty() {
                page.html("There are no environments right now.");
                page.command(
                    "Start one from your project's checkout:",
                    "warren run --name NAME",
                );
            } else {
                let _ = write!(
                    page.body,
                    "<table>\n<tr><th>environment</th><th>service</th><th>URL</th></tr>\n{rows}</table>\n"
                );
            }
            page.finish(StatusCode::OK, port)
        }
    }
}

/// `<a href="url">url</a>`, escaped.
fn link(url: &str) -> String {
    link_text(url, url)
}

/// `<a href="url">text</a>`, escaped.
fn link_text(url: &str, text: &str) -> String {
    format!("<a href=\"{}\">{}</a>", escape(url), escape(text))
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

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn urls_and_escaping() {
        assert_eq!(
            route_url(Some("web"), "otter", 8080),
            "http://web.otter.localhost:8080"
        );
        assert_eq!(route_url(None, "otter", 80), "http://otter.localhost");
        assert_eq!(landing_url(80), "http://localhost/");
        assert_eq!(landing_url(8080), "http://localhost:8080/");
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn browsers_get_html_programs_get_json() {
        let browsers = [
            // Chrome, Firefox, Safari navigations.
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "text/*",
            "application/json;q=0.5, text/html",
        ];
        for a in browsers {
            assert_eq!(Format::for_error(&accept(a)), Format::Html, "{a}");
            assert_eq!(Format::for_page(&accept(a)), Format::Html, "{a}");
        }
        let programs = [
            "*/*",
            "application/json",
            "application/json, text/plain, */*",
            "text/html;q=0.5, application/json",
            "text/html;q=0, */*",
            "garbage",
        ];
        for a in programs {
            assert_eq!(Format::for_error(&accept(a)), Format::Json, "{a}");
        }
        assert_eq!(Format::for_error(&HeaderMap::new()), Format::Json);
        assert_eq!(Format::for_page(&HeaderMap::new()), Format::Html);
        assert_eq!(Format::for_page(&accept("*/*")), Format::Html);
        assert_eq!(Format::for_page(&accept("application/json")), Format::Json);
    }
}
