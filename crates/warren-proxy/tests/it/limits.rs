//! Connection floods with real sockets: 20,000 idle connections neither
//! exhaust the proxy's open files nor keep real clients out, idle ones are
//! closed after the header timeout, and when every connection is busy new
//! ones are closed at once.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::harness::*;

const FLOOD: &str = include_str!("flood.py");

/// One `flood.py` process and its output lines.
struct Flood {
    child: Child,
    lines: std::io::Lines<BufReader<ChildStdout>>,
}

impl Flood {
    fn start(
        t: &TestContext,
        port: u16,
        count: usize,
        source: &str,
        mode: &str,
        host: &str,
    ) -> Flood {
        let script = t.dir.path().join("flood.py");
        std::fs::write(&script, FLOOD).unwrap();
        let mut child = Command::new("python3")
            .arg(&script)
            .args([
                &port.to_string(),
                &count.to_string(),
                source,
                mode,
                host,
                "60",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Flood { child, lines }
    }

    fn line(&mut self) -> String {
        self.lines.next().unwrap().unwrap()
    }

    /// Waits for `open N failed F`; returns N.
    fn opened(&mut self) -> usize {
        let line = self.line();
        let n: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(n[0], "open", "{line}");
        n[1].parse().unwrap()
    }

    /// Reads progress until the last line; returns `(closed, total, seconds)`.
    fn finish(mut self, t: &TestContext, who: &str) -> (usize, usize, f64) {
        let mut last = String::new();
        for line in self.lines.by_ref() {
            last = line.unwrap();
            t.step(&format!("{who}: {last}"));
        }
        let _ = self.child.wait();
        let w: Vec<&str> = last.split_whitespace().collect();
        (
            w[1].parse().unwrap(),
            w[3].parse().unwrap(),
            w[5].parse().unwrap(),
        )
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback source address of this run's own. The proxy closes idle
/// connections first, so each leaves a TIME_WAIT entry on its side for a
/// minute; a later run connecting from the same address and port would hit
/// one, be challenged, and wait a second to retry.
fn source(proxy_port: u16, n: u8) -> String {
    let [hi, lo] = proxy_port.to_be_bytes();
    format!("127.{}.{}.{}", hi % 250 + 2, lo % 250 + 2, n)
}

fn status(port: u16) -> serde_json::Value {
    json(
        &get(
            &format!("http://localhost:{port}{}", warren_proxy::STATUS_PATH),
            &[],
        )
        .1,
    )
}

fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[test]
fn twenty_thousand_idle_connections_do_not_take_it_offline() {
    let mut t = TestContext::new("twenty_thousand_idle_connections_do_not_take_it_offline");
    let echo = t.backend(echo_handler);
    let info = t.proxy();
    let p = info.port;
    t.route("otter", "web", 0, echo);
    let max = status(p)["max_connections"].as_u64().unwrap() as usize;
    t.step(&format!("the proxy holds at most {max} connections"));
    assert!(max <= warren_proxy::MAX_CONNECTIONS);

    // Four processes with their own source addresses: 20,000 sockets fit
    // neither one process's open files nor one address's ephemeral ports.
    let mut floods: Vec<Flood> = (0..4)
        .map(|i| Flood::start(&t, p, 5000, &source(p, 11 + i), "idle", "-"))
        .collect();
    let opened: usize = floods.iter_mut().map(Flood::opened).sum();
    let flooded = Instant::now();
    t.step(&format!("{opened} idle connections opened"));
    assert_eq!(opened, 20_000);

    t.step("real clients still get through, at once");
    for _ in 0..5 {
        let started = Instant::now();
        assert_eq!(get(&format!("http://otter.localhost:{p}/"), &[]).0, 200);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
    let s = status(p);
    let files = open_files(info.pid);
    t.step(&format!(
        "proxy holds {} connections, {files} open files",
        s["connections"]
    ));
    assert!(s["connections"].as_u64().unwrap() as usize <= max, "{s}");
    assert!(
        files <= max + 300,
        "{files} open files for at most {max} connections"
    );
    assert!(warren_proxy_alive(info.pid));

    t.step("a slow client (a header byte a second) is cut off after the header timeout");
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", p)).unwrap();
    let slow_start = Instant::now();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: otter.localhost\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut buf = [0u8; 64];
    let cut_after = loop {
        match slow.read(&mut buf) {
            Ok(0) => break slow_start.elapsed(),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break slow_start.elapsed(),
        }
        if slow.write_all(b"X").is_err() {
            break slow_start.elapsed();
        }
        assert!(
            slow_start.elapsed() < Duration::from_secs(30),
            "never cut off"
        );
    };
    t.step(&format!("slow client cut off after {cut_after:?}"));
    let timeout = warren_proxy::HEADER_TIMEOUT;
    assert!(
        cut_after >= timeout - Duration::from_secs(1),
        "{cut_after:?}"
    );
    assert!(
        cut_after <= timeout + Duration::from_secs(5),
        "{cut_after:?}"
    );

    t.step("every idle connection is closed by the proxy");
    for (i, f) in floods.into_iter().enumerate() {
        let (closed, total, _) = f.finish(&t, &format!("flood {i}"));
        assert_eq!(closed, total, "flood {i}");
    }
    let all_closed = flooded.elapsed();
    t.step(&format!("all closed {all_closed:?} after the flood"));
    assert!(
        all_closed <= timeout + Duration::from_secs(10),
        "{all_closed:?}"
    );
    wait_until(Duration::from_secs(5), || status(p)["connections"] == 1);
    assert_eq!(get(&format!("http://otter.localhost:{p}/"), &[]).0, 200);
    let log = std::fs::read_to_string(warren_proxy::log_path(&t.root())).unwrap();
    assert!(
        log.contains("client connections are open, the most the proxy holds"),
        "{log}"
    );
    assert!(log.contains("below the connection limit again"), "{log}");
}

#[test]
fn when_every_connection_is_busy_new_ones_are_closed_at_once() {
    let mut t = TestContext::new("when_every_connection_is_busy_new_ones_are_closed_at_once");
    // A dev server that never answers: each request keeps its connection busy.
    let arrived = Arc::new(AtomicUsize::new(0));
    let a = Arc::clone(&arrived);
    let hang = t.backend(move |_, _| {
        a.fetch_add(1, Ordering::SeqCst);
        async {
            std::future::pending::<()>().await;
            http::Response::new(full(""))
        }
    });
    let echo = t.backend(echo_handler);
    let info = t.proxy();
    let p = info.port;
    t.route("otter", "web", 0, echo);
    // Not `t.route`: its probe request would wait for an answer that never comes.
    t.store()
        .add_route(&warren_store::Route {
            env: "hang".into(),
            service: "web".into(),
            ord: 0,
            target_host: "127.0.0.1".into(),
            target_port: hang.port(),
            inner_port: None,
            label: None,
        })
        .unwrap();
    wait_until(Duration::from_secs(5), || {
        status(p)["environments"] == serde_json::json!(["hang", "otter"])
    });
    let max = status(p)["max_connections"].as_u64().unwrap() as usize;
    let mut busy = Flood::start(&t, p, max, &source(p, 21), "busy", "hang.localhost");
    assert_eq!(busy.opened(), max);
    t.step(&format!("{max} clients connected, each with a request"));
    // Connected is not yet read: until the proxy has passed every request
    // on, some are still connections that sent nothing, and a newcomer
    // would (rightly) push one of those out.
    wait_until(Duration::from_secs(30), || {
        arrived.load(Ordering::SeqCst) >= max
    });
    t.step(&format!(
        "{max} busy connections: a new one is closed at once"
    ));
    for _ in 0..3 {
        let started = Instant::now();
        let answer = raw(p, "GET / HTTP/1.1\r\nHost: otter.localhost\r\n\r\n");
        assert_eq!(answer, "", "closed without an answer");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
    assert!(warren_proxy_alive(info.pid));
    t.step("the busy clients leave: served again");
    drop(busy.child.stdin.take());
    let (closed, _, _) = busy.finish(&t, "busy");
    assert_eq!(closed, 0, "no busy connection was closed to make room");
    wait_until(Duration::from_secs(10), || {
        get(&format!("http://otter.localhost:{p}/"), &[]).0 == 200
    });
    let log = std::fs::read_to_string(warren_proxy::log_path(&t.root())).unwrap();
    let relieved = log
        .lines()
        .find(|l| l.contains("below the connection limit again"))
        .unwrap_or_else(|| panic!("{log}"));
    t.step(&format!("log: {relieved}"));
    assert!(relieved.contains("refused 3 new ones"), "{relieved}");
}
