//! Environments that are not running, with a real store: a stopped one
//! answers 503 and says how to start it, a gone one says how to bring it
//! back or remove it, and neither is ever forwarded to, whatever the routes
//! table still holds (its ports may belong to another program by now).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use warren_core::{EnvState, RuntimeKind};
use warren_store::NewEnvironment;

use crate::harness::*;

fn new_env(name: &str) -> NewEnvironment {
    NewEnvironment {
        name: name.into(),
        project: "proj".into(),
        project_path: "/src/proj".into(),
        worktree: format!("/w/proj/{name}").into(),
        branch: format!("warren/{name}"),
        env_type: None,
        runtime: RuntimeKind::Docker,
        config_hash: "h".into(),
        spec: "{}".into(),
    }
}

/// `(status, JSON)` of a GET as curl sends it.
fn get_json(url: &str) -> (u16, serde_json::Value) {
    let (code, body) = get(url, &[]);
    (code, json(&body))
}

#[test]
fn stopped_and_gone_environments_say_what_to_do() {
    let mut t = TestContext::new("stopped_and_gone_environments_say_what_to_do");
    let hits = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&hits);
    let echo = t.backend(move |r, p| {
        h.fetch_add(1, Ordering::SeqCst);
        echo_handler(r, p)
    });
    let p = t.proxy().port;
    let store = t.store();
    store.insert_environment(&new_env("otter")).unwrap();
    store.set_state("otter", EnvState::Running).unwrap();
    t.route("otter", "web", 0, echo);
    t.route("otter", "api", 1, echo);
    let url = format!("http://otter.localhost:{p}/");
    let api = format!("http://api.otter.localhost:{p}/");
    assert_eq!(get(&url, &[]).0, 200);

    t.step("stopped, its routes left in the table on purpose: 503, not forwarded");
    store.set_state("otter", EnvState::Stopped).unwrap();
    wait_until(Duration::from_secs(5), || get(&url, &[]).0 == 503);
    let before = hits.load(Ordering::SeqCst);
    for u in [&url, &api] {
        let (code, v) = get_json(u);
        t.step(&format!("{u} -> {code} {v}"));
        assert_eq!(code, 503);
        assert_eq!(v["error"], "environment_stopped");
        assert_eq!(v["state"], "stopped");
        assert_eq!(v["hint"], "warren start otter");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("`warren start otter`")
        );
    }
    let page = get_as(&url, BROWSER_ACCEPT, &[]);
    assert_eq!(page.0, 503);
    assert!(page.2.contains("otter is stopped"), "{}", page.2);
    assert!(
        page.2.contains("<code>warren start otter</code>"),
        "{}",
        page.2
    );
    assert!(
        page.2
            .contains(&format!("<a href=\"http://localhost:{p}/\">")),
        "{}",
        page.2
    );

    t.step("gone, routes still in the table: 503, says start or rm");
    store.set_state("otter", EnvState::Gone).unwrap();
    wait_until(Duration::from_secs(5), || {
        get_json(&url).1["error"] == "environment_gone"
    });
    let (code, v) = get_json(&api);
    assert_eq!(code, 503);
    assert_eq!(v["state"], "gone");
    let msg = v["message"].as_str().unwrap();
    assert!(
        msg.contains("`warren start otter` creates it again"),
        "{msg}"
    );
    assert!(msg.contains("`warren rm otter`"), "{msg}");
    let page = get_as(&api, BROWSER_ACCEPT, &[]).2;
    assert!(page.contains("otter is gone"), "{page}");
    assert!(page.contains("warren rm"), "{page}");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        before,
        "a stopped or gone environment is never forwarded to"
    );

    t.step("status and `warren proxy status` leave the gone routes out");
    let status = json(&get(&format!("http://localhost:{p}/__warren/status"), &[]).1);
    assert_eq!(status["routes"], 0, "{status}");
    assert_eq!(status["environments"], serde_json::json!([]));
    let out = t.warren(&["proxy", "status", "--json"], &[]);
    let v = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(v["routes"], serde_json::json!([]), "{v}");

    t.step("the landing page and the unknown-name page list it with its state");
    let landing = get_as(&format!("http://localhost:{p}/"), BROWSER_ACCEPT, &[]).2;
    assert!(landing.contains("<i>gone</i>"), "{landing}");
    assert!(
        landing.contains("<code>warren start otter</code>"),
        "{landing}"
    );
    assert!(!landing.contains(&echo.port().to_string()), "{landing}");
    let (code, v) = get_json(&format!("http://nope.localhost:{p}/"));
    assert_eq!(code, 404);
    assert_eq!(v["environments"], serde_json::json!(["otter"]));

    t.step("running again: forwarded again");
    store.set_state("otter", EnvState::Running).unwrap();
    wait_until(Duration::from_secs(5), || get(&url, &[]).0 == 200);
    assert!(hits.load(Ordering::SeqCst) > before);

    t.step("removed with its routes: unknown");
    store.delete_environment("otter").unwrap();
    wait_until(Duration::from_secs(5), || get(&url, &[]).0 == 404);
}

#[test]
fn environments_without_routes_say_why() {
    let mut t = TestContext::new("environments_without_routes_say_why");
    let p = t.proxy().port;
    let store = t.store();
    store.insert_environment(&new_env("fresh")).unwrap();
    store.insert_environment(&new_env("broken")).unwrap();
    store.set_state("broken", EnvState::Failed).unwrap();
    store.insert_environment(&new_env("quiet")).unwrap();
    store.set_state("quiet", EnvState::Running).unwrap();
    let url = |env: &str| format!("http://{env}.localhost:{p}/");
    wait_until(Duration::from_secs(5), || get(&url("quiet"), &[]).0 == 503);

    let (code, v) = get_json(&url("fresh"));
    assert_eq!(
        (code, v["error"].as_str()),
        (503, Some("environment_starting"))
    );
    let out = curl(&["-s", "-i", &url("fresh")]).to_ascii_lowercase();
    assert!(out.contains("retry-after: 3"), "{out}");
    let page = get_as(&url("fresh"), BROWSER_ACCEPT, &[]).2;
    assert!(
        page.contains("http-equiv=\"refresh\""),
        "reloads itself: {page}"
    );

    let (code, v) = get_json(&url("broken"));
    assert_eq!(
        (code, v["error"].as_str()),
        (503, Some("environment_failed"))
    );
    assert_eq!(v["hint"], "warren logs broken; warren rm broken");

    let (code, v) = get_json(&format!("http://web.quiet.localhost:{p}/"));
    assert_eq!((code, v["error"].as_str()), (503, Some("no_routes")));
}
