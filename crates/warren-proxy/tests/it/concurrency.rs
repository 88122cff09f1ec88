//! 50 processes adding and removing routes at once lose nothing, and the
//! running proxy ends up serving exactly the final set.

use std::process::{Command, Stdio};
use std::time::Duration;

use warren_store::{Route, Store};

use crate::harness::*;

const WORKER_VAR: &str = "WARREN_PROXY_IT_WORKER";
const WORKERS: usize = 50;

fn route(env: &str, service: &str, ord: i64, port: u16) -> Route {
    Route {
        env: env.into(),
        service: service.into(),
        ord,
        target_host: "127.0.0.1".into(),
        target_port: port,
        inner_port: None,
        label: None,
    }
}

/// Not a test on its own: the body of each worker process (this test
/// binary run again with `WARREN_PROXY_IT_WORKER=N`).
#[test]
fn route_worker() {
    let Ok(n) = std::env::var(WORKER_VAR) else {
        return;
    };
    let root = std::env::var("WARREN_ROOT").unwrap();
    let port: u16 = std::env::var("WORKER_TARGET_PORT")
        .unwrap()
        .parse()
        .unwrap();
    let store = Store::open(root.as_ref()).unwrap();
    let env = format!("w{n}");
    for round in 0..3 {
        // Its own environment, replaced whole each round.
        store
            .set_routes(
                &env,
                &[
                    route(&env, "web", 0, port),
                    route(&env, "api", 1, port),
                    route(&env, "db", 2, port),
                ],
            )
            .unwrap();
        // A shared environment every worker writes to at once.
        store
            .add_route(&route("shared", &format!("s{n}"), n.parse().unwrap(), port))
            .unwrap();
        store
            .add_route(&route("shared", &format!("tmp{n}-{round}"), 1000, port))
            .unwrap();
        assert!(
            store
                .remove_route("shared", &format!("tmp{n}-{round}"))
                .unwrap()
        );
        store.add_route(&route(&env, "extra", 9, port)).unwrap();
        assert!(store.remove_route(&env, "extra").unwrap());
    }
}

#[test]
fn fifty_processes_lose_nothing() {
    let mut t = TestContext::new("fifty_processes_lose_nothing");
    let echo = t.backend(echo_handler);
    let info = t.proxy();
    let me = std::env::current_exe().unwrap();
    t.step(&format!("starting {WORKERS} writer processes"));
    let children: Vec<_> = (0..WORKERS)
        .map(|n| {
            Command::new(&me)
                .args([
                    "concurrency::route_worker",
                    "--exact",
                    "--test-threads=1",
                    "--quiet",
                ])
                .env(WORKER_VAR, n.to_string())
                .env("WORKER_TARGET_PORT", echo.port().to_string())
                .env("WARREN_ROOT", t.root())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (n, c) in children.into_iter().enumerate() {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "worker {n}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let routes = t.store().routes().unwrap();
    t.step(&format!("store has {} routes", routes.len()));
    assert_eq!(routes.len(), WORKERS * 3 + WORKERS);
    for n in 0..WORKERS {
        let services: Vec<_> = routes
            .iter()
            .filter(|r| r.env == format!("w{n}"))
            .map(|r| r.service.as_str())
            .collect();
        assert_eq!(services, ["web", "api", "db"], "w{n}");
    }
    let shared = routes.iter().filter(|r| r.env == "shared").count();
    assert_eq!(shared, WORKERS);

    t.step("the proxy serves the same set");
    let status_url = format!(
        "http://localhost:{}{}",
        info.port,
        warren_proxy::STATUS_PATH
    );
    wait_until(Duration::from_secs(5), || {
        json(&get(&status_url, &[]).1)["routes"] == WORKERS * 4
    });
    for n in [0, 17, WORKERS - 1] {
        assert_eq!(
            get(&format!("http://db.w{n}.localhost:{}/", info.port), &[]).0,
            200
        );
        assert_eq!(
            get(&format!("http://s{n}.shared.localhost:{}/", info.port), &[]).0,
            200
        );
        assert_eq!(
            get(&format!("http://extra.w{n}.localhost:{}/", info.port), &[]).0,
            404
        );
    }
    // The default of `shared` is the lowest ord: s0.
    assert_eq!(
        get(&format!("http://shared.localhost:{}/", info.port), &[]).0,
        200
    );
}
