//! Every setting of `config.yaml` and its `WARREN_*` variable, through every
//! command that uses it: one parser (warren-config's `Settings`), so the same
//! value means the same thing to `validate`, `run`, `ls`, `doctor`, `proxy`
//! and `agent`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

fn proxy_status_json(ctx: &TestContext) -> serde_json::Value {
    serde_json::from_str(&ctx.warren(&["proxy", "status", "--json"]).ok().stdout).unwrap()
}

fn wait_not_running(ctx: &TestContext, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if proxy_status_json(ctx)["running"].is_null() {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "the proxy is still running");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn proxy_port_from_the_file_reaches_run_ls_status_and_serve() {
    let mut ctx = TestContext::new();
    let port = free_port();
    std::fs::write(
        ctx.root.join("config.yaml"),
        format!(
            "proxy: {{port: {port}, idle_seconds: 1.5}}\nruntime: sandbox\nport_range: 9400-9410\n"
        ),
    )
    .unwrap();
    // The harness sets WARREN_PROXY_PORT and _IDLE_SECONDS; the file speaks here.
    ctx.env("WARREN_PROXY_PORT", "");
    ctx.env("WARREN_PROXY_IDLE_SECONDS", "");
    ctx.warren(&["validate"]).ok();

    progress!("run: runtime and port_range from the file, URLs on proxy.port");
    let run = ctx
        .warren(&[
            "run",
            // port_range hands out host ports: on the host's network.
            "--network",
            "host",
            "--name",
            "cfg",
            "-p",
            "web=8000",
            "--",
            "sh",
            "-c",
            "echo $PORT $WARREN_URL",
        ])
        .ok();
    assert_eq!(
        run.stdout.trim(),
        format!("9400 http://web.cfg.localhost:{port}"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("(sandbox)"), "{}", run.stderr);
    let ls = ctx.warren(&["ls"]).ok().stdout;
    assert!(
        ls.contains(&format!("http://web.cfg.localhost:{port}")),
        "{ls}"
    );
    let status = proxy_status_json(&ctx);
    assert_eq!(
        status["running"]["port"], port,
        "run started the proxy on proxy.port"
    );

    progress!("the proxy exits 1.5 s after its last route went");
    ctx.warren(&["rm", "--force", "cfg"]).ok();
    let took = wait_not_running(&ctx, Duration::from_secs(10));
    progress!("idle exit after {took:?}");

    progress!("a foreground `proxy serve` listens on proxy.port too");
    let mut serve = ctx
        .cmd(&["proxy", "serve"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "proxy serve is not on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(proxy_status_json(&ctx)["running"]["port"], port);
    // No routes: with 1.5 s idle it leaves by itself.
    let start = Instant::now();
    let status = serve.wait().unwrap();
    assert!(status.success());
    assert!(start.elapsed() < Duration::from_secs(10));
    let mut log = String::new();
    std::io::Read::read_to_string(&mut serve.stderr.take().unwrap(), &mut log).unwrap();
    assert!(log.contains("exits after 1.5 s"), "{log}");
    assert!(
        log.lines().all(|l| l.starts_with("20")),
        "RFC 3339 times on every line: {log}"
    );
}

#[test]
fn the_variables_beat_the_file_everywhere() {
    let mut ctx = TestContext::new();
    std::fs::write(
        ctx.root.join("config.yaml"),
        "proxy: {port: 1, autostart: true}\nruntime: docker\n",
    )
    .unwrap();
    let port = ctx.proxy_port;
    ctx.env("WARREN_PROXY_IDLE_SECONDS", "1.5");
    ctx.env("WARREN_RUNTIME", "sandbox");
    ctx.env("WARREN_PROXY_AUTOSTART", "0");
    ctx.env("WARREN_PORT_RANGE", "9420-9421");
    progress!("validate accepts what the proxy accepts (1.5 s idle)");
    ctx.warren(&["validate"]).ok();
    let run = ctx
        .warren(&[
            "run",
            "--network",
            "host",
            "--name",
            "env",
            "-p",
            "web=8000",
            "--",
            "sh",
            "-c",
            "echo $PORT $WARREN_HOST",
        ])
        .ok();
    assert_eq!(run.stdout.trim(), format!("9420 web.env.localhost:{port}"));
    assert!(
        run.stderr.contains("service URLs will not answer"),
        "autostart off: no proxy, and a warning: {}",
        run.stderr
    );
    assert!(proxy_status_json(&ctx)["running"].is_null());
    progress!("a bad value is one error, the same in every command");
    ctx.env("WARREN_PROXY_IDLE_SECONDS", "soon");
    for args in [
        &["validate"][..],
        &["ls"],
        &["proxy", "status"],
        &["run", "--", "true"],
    ] {
        let run = ctx.warren(args).fails(1);
        assert!(
            run.stderr
                .contains("WARREN_PROXY_IDLE_SECONDS=`soon` is invalid"),
            "warren {}: {}",
            args.join(" "),
            run.stderr
        );
    }
}

#[test]
fn a_tool_binary_setting_reaches_doctor_and_the_agent_server() {
    let mut ctx = TestContext::new();
    let dir = ctx.home.parent().unwrap().to_path_buf();
    let script = |name: &str, version: &str| {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\necho {version}\n")).unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        p
    };
    let from_file = script("codex-from-file", "codex-cli 9.9.9-file");
    let from_env = script("codex-from-env", "codex-cli 9.9.9-env");
    std::fs::write(
        ctx.root.join("config.yaml"),
        format!("tools:\n  codex: {{bin: {}}}\n", from_file.display()),
    )
    .unwrap();
    let codex = |ctx: &TestContext| -> String {
        let checks: Vec<serde_json::Value> =
            serde_json::from_str(&ctx.warren(&["doctor", "--json"]).stdout).unwrap();
        checks
            .into_iter()
            .find(|c| c["section"] == "tools" && c["name"] == "codex")
            .unwrap()["detail"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(codex(&ctx).contains("9.9.9-file"), "{}", codex(&ctx));
    ctx.env("WARREN_TOOL_CODEX_BIN", &from_env.to_string_lossy());
    assert!(codex(&ctx).contains("9.9.9-env"), "{}", codex(&ctx));

    progress!("the agent server runs the same binary");
    let mut child = ctx
        .cmd(&["agent", "serve", "--runtime", "host", "--tool", "codex"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let url = line.trim().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    let version = loop {
        let token = std::fs::read_to_string(ctx.root.join("credentials/agent-api.token"))
            .unwrap_or_default();
        let out = Command::new("curl")
            .args([
                "-s",
                "-H",
                &format!("Authorization: Bearer {}", token.trim()),
            ])
            .arg(format!("{url}/status"))
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if v["state"] == "idle" {
            break v;
        }
        assert!(Instant::now() < deadline, "agent not ready: {v}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = child.kill();
    let _ = child.wait();
    progress!("status: {version}");
    assert_eq!(version["config"]["tool_version"], "codex-cli 9.9.9-env");
}
