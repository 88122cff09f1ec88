//! Routes through the real binary: `warren run` registers each service,
//! starts the proxy by itself, the dev server in a real container answers at
//! SERVICE.NAME.localhost and NAME.localhost (curl resolves `*.localhost`
//! itself), stop removes the routes, and the idle proxy exits on its own.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::*;

fn curl(url: &str) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", "-w", "\n%{http_code}", url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or((&text, ""));
    (body.trim().to_string(), code.to_string())
}

#[test]
fn services_get_names_through_a_proxy_that_starts_and_stops_itself() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    ctx.write(
        ".devcontainer/devcontainer.json",
        r#"{
          "image": "warren-test/busybox:latest",
          "forwardPorts": [8000, 8001],
          "portsAttributes": {"8000": {"label": "Web App"}},
          "postStartCommand": "mkdir -p /tmp/a /tmp/b && echo app > /tmp/a/index.html && echo api > /tmp/b/index.html && httpd -p 8000 -h /tmp/a && httpd -p 8001 -h /tmp/b"
        }"#,
    );
    ctx.commit("two services");
    let p = ctx.proxy_port;
    let run = ctx
        .warren(&[
            "run",
            "--name",
            "site",
            "--",
            "sh",
            "-c",
            "echo $WARREN_URL; echo $WARREN_URL_WEB_APP; echo $WARREN_HOST_8001",
        ])
        .ok();
    assert_eq!(
        run.stdout,
        format!(
            "http://web-app.site.localhost:{p}\nhttp://web-app.site.localhost:{p}\n8001.site.localhost:{p}\n"
        )
    );
    assert!(
        run.stderr
            .contains(&format!("http://web-app.site.localhost:{p}")),
        "run prints URLs: {}",
        run.stderr
    );

    progress!("ls prints the URLs; the proxy was started by run");
    let ls = ctx.warren(&["ls"]).ok().stdout;
    assert!(
        ls.contains(&format!("http://8001.site.localhost:{p}")),
        "{ls}"
    );
    let status = ctx.warren(&["proxy", "status"]).ok().stdout;
    assert!(status.contains("running"), "{status}");

    progress!("SERVICE.NAME.localhost, NAME.localhost (first service), numbered service");
    assert_eq!(
        curl(&format!("http://web-app.site.localhost:{p}/")),
        ("app".into(), "200".into())
    );
    assert_eq!(
        curl(&format!("http://site.localhost:{p}/")),
        ("app".into(), "200".into())
    );
    assert_eq!(
        curl(&format!("http://8001.site.localhost:{p}/")),
        ("api".into(), "200".into())
    );
    let (body, code) = curl(&format!("http://nope.localhost:{p}/"));
    assert_eq!(code, "404");
    assert!(
        body.contains("site"),
        "the 404 lists live environments: {body}"
    );

    progress!(
        "stop removes the routes at once (the proxy says it is stopped); start brings them back"
    );
    ctx.warren(&["stop", "site"]).ok();
    // The proxy polls the store every 100 ms.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let (body, code) = curl(&format!("http://site.localhost:{p}/"));
        // While it stops, the proxy says it is running with nothing routed.
        if code == "503" && body.contains("warren start site") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the route outlived stop: {code} {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    ctx.warren(&["start", "site"]).ok();
    let deadline = Instant::now() + Duration::from_secs(2);
    while curl(&format!("http://site.localhost:{p}/")) != ("app".into(), "200".into()) {
        assert!(
            Instant::now() < deadline,
            "the route did not come back with start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    progress!("rm; the proxy exits by itself after its idle period (2 s here)");
    ctx.warren(&["rm", "--force", "site"]).ok();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = ctx.warren(&["proxy", "status"]).ok().stdout;
        if status.contains("not running") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the idle proxy did not exit: {status}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}
