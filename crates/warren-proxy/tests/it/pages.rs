//! What the proxy answers itself, as a browser and as a program sees it:
//! HTML pages with links (everything from the store escaped) when `Accept`
//! prefers HTML, JSON otherwise.

use crate::harness::*;

/// Asserts `page` is an HTML page containing every one of `needles`.
fn assert_page(
    what: &str,
    (code, ctype, body): &(u16, String, String),
    status: u16,
    needles: &[&str],
) {
    assert_eq!(*code, status, "{what}: {body}");
    assert_eq!(ctype, "text/html; charset=utf-8", "{what}");
    assert!(body.starts_with("<!doctype html>"), "{what}: {body}");
    for n in needles {
        assert!(body.contains(n), "{what}: no `{n}` in\n{body}");
    }
}

#[test]
fn browsers_get_pages_with_links_programs_get_json() {
    let mut t = TestContext::new("browsers_get_pages_with_links_programs_get_json");
    let echo = t.backend(echo_handler);
    let p = t.proxy().port;
    t.route("otter", "web", 0, echo);
    t.route("otter", "api", 1, echo);
    t.route("down", "web", 0, dead_port());
    let home = format!("<a href=\"http://localhost:{p}/\">");

    t.step("unknown environment");
    let url = format!("http://nope.localhost:{p}/");
    let page = get_as(&url, BROWSER_ACCEPT, &[]);
    assert_page(
        "unknown environment",
        &page,
        404,
        &[
            "No environment named “nope”",
            &format!("<a href=\"http://otter.localhost:{p}/\">otter</a>"),
            &format!("<a href=\"http://down.localhost:{p}/\">down</a>"),
            &home,
        ],
    );
    for accept in ["*/*", "application/json"] {
        let (code, ctype, body) = get_as(&url, accept, &[]);
        assert_eq!(
            (code, ctype.as_str()),
            (404, "application/json"),
            "{accept}"
        );
        assert_eq!(json(&body)["error"], "unknown_environment");
    }

    t.step("unknown service");
    let page = get_as(
        &format!("http://db.otter.localhost:{p}/"),
        BROWSER_ACCEPT,
        &[],
    );
    assert_page(
        "unknown service",
        &page,
        404,
        &[
            "“otter” has no service “db”",
            &format!("<a href=\"http://web.otter.localhost:{p}/\">web.otter</a>"),
            &format!("<a href=\"http://api.otter.localhost:{p}/\">api.otter</a>"),
            &home,
        ],
    );

    t.step("backend down");
    let page = get_as(&format!("http://down.localhost:{p}/"), BROWSER_ACCEPT, &[]);
    assert_page(
        "bad gateway",
        &page,
        502,
        &[
            "web.down is not answering",
            "refused",
            "warren logs down",
            &format!("<a href=\"http://web.down.localhost:{p}/\">web.down</a>"),
            &home,
        ],
    );
    let (code, ctype, body) = get_as(&format!("http://down.localhost:{p}/"), "*/*", &[]);
    assert_eq!((code, ctype.as_str()), (502, "application/json"));
    assert_eq!(json(&body)["error"], "bad_gateway");

    t.step("loop");
    t.route("loop", "web", 0, format!("127.0.0.1:{p}").parse().unwrap());
    let page = get_as(&format!("http://loop.localhost:{p}/"), BROWSER_ACCEPT, &[]);
    assert_page(
        "loop",
        &page,
        508,
        &["Loop detected", "warren proxy status", &home],
    );

    t.step("the landing page is a page for browsers and curl, JSON when asked");
    let landing = format!("http://localhost:{p}/");
    for accept in [BROWSER_ACCEPT, "*/*"] {
        let page = get_as(&landing, accept, &[]);
        assert_page(
            "landing",
            &page,
            200,
            &[&format!("<a href=\"http://api.otter.localhost:{p}/\">")],
        );
    }
    let (code, ctype, body) = get_as(&landing, "application/json", &[]);
    assert_eq!((code, ctype.as_str()), (200, "application/json"), "{body}");
    let v = json(&body);
    let otter = v["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "otter")
        .unwrap();
    assert_eq!(otter["url"], format!("http://otter.localhost:{p}"));
    assert_eq!(
        otter["services"][1]["url"],
        format!("http://api.otter.localhost:{p}")
    );
}

#[test]
fn pages_escape_names_from_the_store() {
    let mut t = TestContext::new("pages_escape_names_from_the_store");
    let echo = t.backend(echo_handler);
    let p = t.proxy().port;
    t.route("otter", "web", 0, echo);
    // Names the CLI would never register, written straight into the store.
    let mut hostile = t.store().routes_of("otter").unwrap()[0].clone();
    hostile.env = "<script>alert(1)</script>".into();
    hostile.service = "\"><img src=x>".into();
    hostile.label = Some("<b>label</b>".into());
    t.store().add_route(&hostile).unwrap();
    wait_until(std::time::Duration::from_secs(5), || {
        curl(&["-s", &format!("http://localhost:{p}/")]).contains("&lt;script&gt;")
    });
    for url in [
        format!("http://nope.localhost:{p}/"),
        format!("http://localhost:{p}/"),
    ] {
        let (_, _, body) = get_as(&url, BROWSER_ACCEPT, &[]);
        t.step(&format!("{url}: names escaped"));
        assert!(
            body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{body}"
        );
        assert!(!body.contains("<script>"), "{body}");
        assert!(!body.contains("<img"), "{body}");
        assert!(!body.contains("<b>label"), "{body}");
    }
}
