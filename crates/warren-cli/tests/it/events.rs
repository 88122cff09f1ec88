//! `warren task ls|show` against tasks a real `warren agent serve` ran
//! (with the recorded-output stand-in for claude), `warren events` over real
//! environment lifecycles, and notifications delivered by `warren events -f
//! --notify` to a real HTTP listener and a real command.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use warren_store::{EventKind, NewEvent, Store};

use crate::harness::{TestContext, workspace};

/// Text an agent could print inside its environment: a newline, command
/// substitutions, an OSC 52 clipboard write, a screen clear.
const HOSTILE: &str = "Proceed?\n$(touch PWNED) `touch PWNED2`\x1b]52;c;aGk=\x07\x1b[2J";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `warren agent serve --runtime host` with the stand-in claude.
fn serve(ctx: &TestContext, name: &str) -> Killed {
    let tool = workspace().join("crates/warren-agent/tests/tools/claude");
    let mut child = ctx
        .cmd(&["agent", "serve", "--runtime", "host", "--name", name])
        .env("WARREN_TOOL_CLAUDE_BIN", &tool)
        // The stand-in never calls an API; the agent only checks a key is there.
        .env("ANTHROPIC_API_KEY", "sk-ant-test")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("http://"), "agent serve printed {line:?}");
    Killed(child)
}

/// `warren task ARGS` once the agent accepts tasks (it answers 503 while
/// it starts).
fn task_until_accepted(ctx: &TestContext, args: &[&str]) -> crate::harness::Run {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let run = ctx.warren(args);
        if !run.stderr.contains("starting") || Instant::now() > deadline {
            return run;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn task_history_shows_what_a_real_agent_ran() {
    let ctx = TestContext::new();
    let _agent = serve(&ctx, "hist");
    // The stand-in prints JSON by hand and cannot carry escape sequences:
    // those come in through a stored task below.
    let ok_prompt = "say hello\n$(touch PWNED)".to_string();
    let done = task_until_accepted(&ctx, &["task", "--agent", "hist", "--json", &ok_prompt]).ok();
    let done: serde_json::Value = serde_json::from_str(&done.stdout).unwrap();
    let ok_id = done["task_id"].as_str().unwrap().to_string();
    let failed = task_until_accepted(
        &ctx,
        &["task", "--agent", "hist", "--json", "api error please"],
    )
    .fails(1);
    let failed: serde_json::Value = serde_json::from_str(&failed.stdout).unwrap();
    let failed_id = failed["task_id"].as_str().unwrap().to_string();

    let store = Store::open(&ctx.root).unwrap();
    store
        .insert_task(
            &warren_store::TaskRecord {
                id: "hostile-task".into(),
                agent: "elsewhere".into(),
                tool: "claude".into(),
                state: warren_core::TaskState::Completed,
                prompt: HOSTILE.into(),
                output: HOSTILE.into(),
                created_at_ms: 1,
                argv: "[]".into(),
                ..Default::default()
            },
            100,
        )
        .unwrap();
    let all = ctx.warren(&["task", "ls"]).ok().stdout;
    let hostile_row = all.lines().nth(1).unwrap();
    assert!(
        hostile_row.starts_with("hostile-task")
            && hostile_row.contains("Proceed? $(touch PWNED) `touch PWNED2`"),
        "{all}"
    );
    let show = ctx.warren(&["task", "show", "hostile-task"]).ok().stdout;
    assert!(
        show.contains("output:\nProceed?\n$(touch PWNED) `touch PWNED2`\n"),
        "{show:?}"
    );
    assert!(
        !all.contains('\x1b') && !show.contains('\x1b'),
        "{all:?} {show:?}"
    );

    progress!("task ls: a table, newest first, one clean line per task");
    let ls = ctx.warren(&["task", "ls", "--agent", "hist"]).ok().stdout;
    progress!("\n{ls}");
    let lines: Vec<&str> = ls.lines().collect();
    assert_eq!(lines.len(), 3, "{ls}");
    assert!(lines[0].starts_with("ID") && lines[0].contains("PROMPT") && lines[0].contains("COST"));
    assert!(
        lines[1].starts_with(&failed_id) && lines[1].contains("failed"),
        "{ls}"
    );
    assert!(
        lines[2].starts_with(&ok_id) && lines[2].contains("completed"),
        "{ls}"
    );
    assert!(lines[2].contains("$0.0123"), "{ls}");
    assert!(ls.contains("say hello $(touch PWNED)"), "{ls}");
    assert!(
        ctx.warren(&["task", "ls", "--agent", "other"])
            .ok()
            .stderr
            .contains("no tasks of agent `other`")
    );

    let json: Vec<serde_json::Value> = serde_json::from_str(
        &ctx.warren(&["task", "ls", "--agent", "hist", "--json"])
            .ok()
            .stdout,
    )
    .unwrap();
    assert_eq!(json.len(), 2);
    assert_eq!(json[0]["agent"], "hist");
    assert_eq!(json[0]["error_type"], "tool_error");
    assert_eq!(json[1]["task_id"], ok_id.as_str());
    assert_eq!(
        json[1]["prompt"],
        ok_prompt.as_str(),
        "JSON keeps the text, escaped"
    );

    progress!("task show: output, cost, session, timings; the error with its type");
    let show = ctx.warren(&["task", "show", &ok_id]).ok().stdout;
    progress!("\n{show}");
    for want in [
        "state      completed",
        "agent      hist (claude)",
        "cost       $0.0123",
        "session",
        "duration",
        "output:",
        "echo: say hello",
    ] {
        assert!(show.contains(want), "missing {want:?} in\n{show}");
    }
    let show = ctx.warren(&["task", "show", &failed_id[..8]]).ok().stdout;
    assert!(
        show.contains("error      tool_error: API Error: 400"),
        "{show}"
    );
    let view: serde_json::Value = serde_json::from_str(
        &ctx.warren(&["task", "show", &failed_id, "--json"])
            .ok()
            .stdout,
    )
    .unwrap();
    assert_eq!(view["error"]["type"], "tool_error");
    assert_eq!(view["state"], "failed");

    let missing = ctx.warren(&["task", "show", "nosuchtask"]).fails(1);
    assert!(
        missing
            .stderr
            .contains("hint: list them with `warren task ls`"),
        "{}",
        missing.stderr
    );
}

#[test]
fn a_prompt_may_still_be_called_ls() {
    let ctx = TestContext::new();
    // No agent runs: the prompt form is chosen, and fails for that reason.
    let run = ctx.warren(&["task", "--", "ls"]).fails(1);
    assert!(
        run.stderr.contains("no agent server is running"),
        "{}",
        run.stderr
    );
    let run = ctx.warren(&["task", "fix the ls command"]).fails(1);
    assert!(
        run.stderr.contains("no agent server is running"),
        "{}",
        run.stderr
    );
    ctx.warren(&["task", "show"]).fails(2);
}

#[test]
fn environment_lifecycle_is_one_event_stream() {
    let ctx = TestContext::new();
    ctx.warren(&["run", "--runtime", "host", "--name", "ev1", "--", "true"])
        .ok();
    ctx.warren(&["stop", "ev1"]).ok();
    ctx.warren(&["start", "ev1"]).ok();
    ctx.warren(&["rm", "--force", "ev1"]).ok();
    let lines: Vec<serde_json::Value> = ctx
        .warren(&["events", "--json"])
        .ok()
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<(&str, &str)> = lines
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["to"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("env.created", "running"),
            ("env.stopped", "stopped"),
            ("env.started", "running"),
            ("env.removed", "gone")
        ]
    );
    assert!(lines.iter().all(|e| e["env"] == "ev1"));
    let human = ctx.warren(&["events", "--env", "ev1"]).ok().stdout;
    progress!("\n{human}");
    assert!(
        human
            .lines()
            .nth(1)
            .unwrap()
            .contains("env.stopped      ev1"),
        "{human}"
    );
    assert!(
        ctx.warren(&["events", "--env", "other"])
            .ok()
            .stdout
            .is_empty()
    );
}

/// Reads one HTTP request from `listener` and answers 204; its body.
fn accept_one(listener: &TcpListener) -> String {
    let (mut s, _) = listener.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).unwrap();
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let _ = s.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
                return String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string();
            }
        }
        assert!(n > 0, "connection closed mid-request");
    }
}

#[test]
fn notifications_reach_a_webhook_and_a_command_and_stay_inert() {
    let ctx = TestContext::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let out = ctx.dir.path().join("notified");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        ctx.root.join("config.yaml"),
        format!(
            "notify:\n  command: cd '{}' && env | grep '^WARREN_EVENT_' | sort > env.txt && printf '%s\\n' \"$WARREN_MESSAGE\" >> message.txt\n  webhook: http://127.0.0.1:{port}/hook\n  bell: true\n",
            out.display()
        ),
    )
    .unwrap();
    let store = Store::open(&ctx.root).unwrap();
    store
        .add_event(&NewEvent::new(EventKind::EnvCreated, "fix-login"))
        .unwrap();

    let mut child = Killed(
        ctx.cmd(&["events", "-f", "--notify"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (tx, rx) = mpsc::channel();
    let stdout = child.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap_or_default());
        }
    });
    let mut stderr = child.0.stderr.take().unwrap();
    // The past event printed: the follower runs and its cursor is placed.
    let first = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(first.contains("env.created"), "{first}");

    progress!("a session starts waiting on a question");
    let (hooked_tx, hooked_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = hooked_tx.send(accept_one(&listener));
        // A second delivery of the same event would be a bug.
        listener.set_nonblocking(true).unwrap();
        std::thread::sleep(Duration::from_secs(2));
        let _ = hooked_tx.send(if listener.accept().is_ok() {
            "again".into()
        } else {
            "once".into()
        });
    });
    store
        .add_event(&NewEvent {
            session: Some("claude".into()),
            from: Some("working".into()),
            to: Some("waiting".into()),
            reason: Some("question".into()),
            message: Some(HOSTILE.into()),
            ..NewEvent::new(EventKind::SessionState, "fix-login")
        })
        .unwrap();
    // Not notified: `working` is not in `notify.on`.
    store
        .add_event(&NewEvent {
            session: Some("claude".into()),
            to: Some("working".into()),
            ..NewEvent::new(EventKind::SessionState, "fix-login")
        })
        .unwrap();

    let body: serde_json::Value =
        serde_json::from_str(&hooked_rx.recv_timeout(Duration::from_secs(30)).unwrap()).unwrap();
    progress!("webhook got {body}");
    assert_eq!(
        body["message"],
        "fix-login/claude is waiting: question: Proceed? $(touch PWNED) `touch PWNED2`"
    );
    assert_eq!(body["event"]["kind"], "session.state");
    assert_eq!(body["event"]["to"], "waiting");
    assert_eq!(
        body["event"]["message"],
        "Proceed?\n$(touch PWNED) `touch PWNED2`"
    );
    assert_eq!(
        hooked_rx.recv_timeout(Duration::from_secs(30)).unwrap(),
        "once"
    );

    let deadline = Instant::now() + Duration::from_secs(10);
    while !out.join("message.txt").exists() {
        assert!(Instant::now() < deadline, "the notify command did not run");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let message = std::fs::read_to_string(out.join("message.txt")).unwrap();
    assert_eq!(
        message, "fix-login/claude is waiting: question: Proceed? $(touch PWNED) `touch PWNED2`\n",
        "one line, delivered once"
    );
    let env = std::fs::read_to_string(out.join("env.txt")).unwrap();
    progress!("command env:\n{env}");
    for want in [
        "WARREN_EVENT_ENV=fix-login",
        "WARREN_EVENT_FROM=working",
        "WARREN_EVENT_KIND=session.state",
        "WARREN_EVENT_REASON=question",
        "WARREN_EVENT_SESSION=claude",
        "WARREN_EVENT_TO=waiting",
        "WARREN_EVENT_MESSAGE=Proceed?",
    ] {
        assert!(env.lines().any(|l| l == want), "missing {want} in\n{env}");
    }
    assert!(!env.contains('\x1b') && !message.contains('\x1b'));
    for f in ["PWNED", "PWNED2"] {
        assert!(!out.join(f).exists() && !ctx.repo.join(f).exists() && !ctx.root.join(f).exists());
    }

    progress!("the follower printed both changes on one line each and rang the bell once");
    let mut printed = Vec::new();
    while let Ok(l) = rx.recv_timeout(Duration::from_secs(2)) {
        printed.push(l);
    }
    assert_eq!(printed.len(), 2, "{printed:?}");
    assert!(
        printed[0].contains("session.state    fix-login/claude      working → waiting"),
        "{printed:?}"
    );
    assert!(
        printed[0].ends_with("question: Proceed? $(touch PWNED) `touch PWNED2`"),
        "{printed:?}"
    );
    assert!(!printed.concat().contains('\x1b'));
    drop(child.0.kill());
    let mut err = String::new();
    let _ = stderr.read_to_string(&mut err);
    assert_eq!(err.matches('\x07').count(), 1, "{err:?}");
}
