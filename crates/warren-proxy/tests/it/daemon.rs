//! The background proxy's lifecycle through the real `warren` binary:
//! autostart, a second start finding it, a stale lock after `kill -9`, idle
//! exit, a port taken by someone else, `warren proxy status|stop`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use warren_config::ProxyConfig;
use warren_core::Hint;
use warren_proxy::{Probe, ProxyError};

use crate::harness::*;

#[test]
fn autostart_and_second_start_find_one_proxy() {
    let t = TestContext::new("autostart_and_second_start_find_one_proxy");
    let root = t.root();
    let no_autostart = ProxyConfig {
        autostart: false,
        ..t.settings()
    };
    t.step("WARREN_PROXY_AUTOSTART=0: nothing is started");
    let err = warren_proxy::ensure_running(&root, &warren_bin(), &no_autostart).unwrap_err();
    assert!(matches!(err, ProxyError::NotRunning), "{err:?}");
    t.step("six concurrent starters");
    let infos: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let settings = t.settings();
                let root = root.clone();
                s.spawn(move || {
                    warren_proxy::ensure_running(&root, &warren_bin(), &settings).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let pid = infos[0].pid;
    assert!(
        infos.iter().all(|i| i == &infos[0]),
        "all starters found the same proxy: {infos:?}"
    );
    assert!(warren_proxy::answers(&infos[0]));
    t.step(&format!("one proxy, pid {pid}; a later start finds it"));
    let again = warren_proxy::ensure_running(&root, &warren_bin(), &t.settings()).unwrap();
    assert_eq!(again.pid, pid);
    let found = warren_proxy::ensure_running(&root, &warren_bin(), &no_autostart).unwrap();
    assert_eq!(
        found.pid, pid,
        "without autostart a running proxy is still found"
    );

    t.step("`warren proxy serve` refuses to start a second one");
    let other = dead_port().port().to_string();
    let out = t.warren(&["proxy", "serve"], &[("WARREN_PROXY_PORT", &other)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("already running (pid {pid}")),
        "{stderr}"
    );
    warren_proxy::stop(&root, Duration::from_secs(5)).unwrap();
    assert!(!warren_proxy_alive(pid));
}

#[test]
fn stale_lock_is_replaced_after_kill_9() {
    let mut t = TestContext::new("stale_lock_is_replaced_after_kill_9");
    let first = t.proxy();
    kill9(first.pid);
    wait_until(Duration::from_secs(5), || !warren_proxy_alive(first.pid));
    let lock = t.root().join(warren_proxy::LOCK_FILE);
    assert!(lock.exists(), "kill -9 leaves the lock file behind");
    // The kernel drops the flock once every thread of the killed process is
    // gone, a moment after the pid turns into a zombie.
    wait_until(Duration::from_secs(5), || {
        warren_proxy::probe(&t.root()).unwrap()
            == Probe::Stopped {
                stale: Some(first.clone()),
            }
    });
    let out = t.warren(&["proxy", "status"], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("not running (pid {} died", first.pid)),
        "{stdout}"
    );
    t.step("start again");
    let second = t.proxy();
    assert_ne!(second.pid, first.pid);
    let text = std::fs::read_to_string(&lock).unwrap();
    assert!(text.contains(&format!("\"pid\":{}", second.pid)), "{text}");
    let log = std::fs::read_to_string(warren_proxy::log_path(&t.root())).unwrap();
    assert!(
        log.contains(&format!("replacing the stale lock of pid {}", first.pid)),
        "{log}"
    );
}

#[test]
fn exits_when_idle_and_removes_its_lock() {
    let mut t = TestContext::new("exits_when_idle_and_removes_its_lock");
    let echo = t.backend(echo_handler);
    t.route("otter", "web", 0, echo);
    let settings = ProxyConfig {
        idle: Duration::from_secs(1),
        ..t.settings()
    };
    let info = t.proxy_with(&settings);
    std::thread::sleep(Duration::from_millis(2000));
    assert!(warren_proxy_alive(info.pid), "routes keep it up");
    assert_eq!(
        get(&format!("http://otter.localhost:{}/", info.port), &[]).0,
        200
    );
    t.step("remove the last route");
    let removed = Instant::now();
    t.store().remove_routes("otter").unwrap();
    wait_until(Duration::from_secs(10), || !warren_proxy_alive(info.pid));
    t.step(&format!(
        "exited {:?} after its last route went",
        removed.elapsed()
    ));
    assert!(
        removed.elapsed() >= Duration::from_millis(900),
        "not before the grace period"
    );
    assert!(!t.root().join(warren_proxy::LOCK_FILE).exists());
    assert_eq!(
        warren_proxy::probe(&t.root()).unwrap(),
        Probe::Stopped { stale: None }
    );
}

#[test]
fn port_taken_names_the_owner() {
    let mut t = TestContext::new("port_taken_names_the_owner");
    let port = dead_port().port();
    let squatter = t.spawn(
        Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let squatter_pid = squatter.id();
    wait_until(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let settings = ProxyConfig {
        port,
        ..t.settings()
    };
    let err = warren_proxy::ensure_running(&t.root(), &warren_bin(), &settings).unwrap_err();
    t.step(&format!("error: {err}"));
    let ProxyError::StartFailed { reason, .. } = &err else {
        panic!("{err:?}");
    };
    assert!(
        reason.contains(&format!(
            "port {port} on 127.0.0.1 is already in use by pid {squatter_pid}"
        )),
        "{reason}"
    );
    assert!(reason.contains("http.server"), "{reason}");
    assert!(err.hint().unwrap().contains(".log"), "{:?}", err.hint());

    t.step("the foreground command says the same, with a hint");
    let out = t.warren(
        &["proxy", "serve"],
        &[("WARREN_PROXY_PORT", &port.to_string())],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("already in use by pid {squatter_pid} (`")),
        "{stderr}"
    );
    let taken = ProxyError::PortTaken {
        bind: "127.0.0.1".parse().unwrap(),
        port,
        owner: warren_proxy::find_listener(port),
    };
    assert!(taken.hint().unwrap().contains("WARREN_PROXY_PORT"));
    assert!(taken.hint().unwrap().contains("proxy.port"));
}

#[test]
fn status_and_stop_commands() {
    let mut t = TestContext::new("status_and_stop_commands");
    let echo = t.backend(echo_handler);
    let info = t.proxy();
    t.route("otter", "web", 0, echo);
    let out = t.warren(&["proxy", "status", "--json"], &[]);
    assert!(out.status.success());
    let v = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(v["running"]["pid"], info.pid);
    assert_eq!(v["running"]["port"], info.port);
    assert_eq!(
        v["routes"][0]["url"],
        format!("http://web.otter.localhost:{}", info.port)
    );
    assert_eq!(
        v["routes"][0]["default_url"],
        format!("http://otter.localhost:{}", info.port)
    );
    let human = String::from_utf8_lossy(&t.warren(&["proxy"], &[]).stdout).into_owned();
    t.step(&format!("status:\n{human}"));
    assert!(
        human.contains(&format!("proxy: running, pid {}", info.pid)),
        "{human}"
    );
    assert!(
        human.contains(&format!("http://web.otter.localhost:{}", info.port)),
        "{human}"
    );

    let out = t.warren(&["proxy", "stop"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains(&format!("Stopped the proxy (pid {}", info.pid))
    );
    assert!(!warren_proxy_alive(info.pid));
    assert!(!t.root().join(warren_proxy::LOCK_FILE).exists());
    let human = String::from_utf8_lossy(&t.warren(&["proxy", "status"], &[]).stdout).into_owned();
    assert!(human.contains("proxy: not running"), "{human}");
    let out = t.warren(&["proxy", "stop"], &[]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no proxy is running"));
}
