//! What the main commands print, success and error, pinned with insta.
//! Paths, times, ports, ids and generated names are redacted, so a snapshot
//! changes only when what a user reads changes. A change users can see comes
//! with its snapshot (`cargo insta review`, or `INSTA_UPDATE=always`).

use crate::harness::*;

/// stdout and stderr of one run, as a user sees them, with what varies
/// between runs replaced.
fn shown(ctx: &TestContext, run: &Run) -> String {
    let mut text = format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        run.code, run.stdout, run.stderr
    );
    for (path, name) in [
        (ctx.root.to_string_lossy().into_owned(), "[ROOT]"),
        (ctx.home.to_string_lossy().into_owned(), "[HOME]"),
        (ctx.repo.to_string_lossy().into_owned(), "[REPO]"),
    ] {
        text = text.replace(&path, name);
    }
    text.replace(&ctx.proxy_port.to_string(), "[PORT]")
}

macro_rules! snapshot {
    ($name:expr, $text:expr) => {
        insta::with_settings!({
            filters => vec![
                // First: a root id of digits ending in `d` would read as an age.
                (r"warren-([a-z0-9-]+)-[0-9a-f]{6}\b", "warren-$1-[ROOT-ID]"),
                (r"\b\d+(\.\d+)?(s|m|h|d)\b", "[AGE]"),
                (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[TIME]"),
                (r"/tmp/[^\s`'\x22]+", "[TMP]"),
                (r"\b[0-9a-f]{12,64}\b", "[ID]"),
                (r"pid \d+", "pid [PID]"),
                (r#""created_at": \d+"#, r#""created_at": [TIME]"#),
            ],
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_snapshot!($name, $text);
        });
    };
}

#[test]
fn run_ls_and_rm_on_the_sandbox() {
    let ctx = TestContext::new();
    let run = ctx.warren(&[
        "run",
        "--name",
        "snap",
        "--runtime",
        "sandbox",
        "--",
        "sh",
        "-c",
        "echo hello; exit 3",
    ]);
    snapshot!("run_keeps", shown(&ctx, &run));
    let ls = ctx.warren(&["ls"]);
    snapshot!("ls", shown(&ctx, &ls));
    let ls = ctx.warren(&["ls", "--json"]);
    snapshot!("ls_json", shown(&ctx, &ls));
    std::fs::write(ctx.root.join("worktrees/repo/snap/dirty.txt"), "x").unwrap();
    let rm = ctx.warren(&["rm", "snap"]);
    snapshot!("rm_dirty", shown(&ctx, &rm));
    let rm = ctx.warren(&["rm", "--force", "snap"]);
    snapshot!("rm", shown(&ctx, &rm));
    let run = ctx.warren(&[
        "run",
        "--rm",
        "--name",
        "gone",
        "--runtime",
        "sandbox",
        "--",
        "true",
    ]);
    snapshot!("run_rm", shown(&ctx, &run));
}

#[test]
fn errors_say_what_and_what_to_do() {
    let ctx = TestContext::new();
    for (name, args) in [
        ("exec_unknown", &["exec", "nosuch", "--", "true"][..]),
        ("stop_unknown", &["stop", "nosuch"]),
        ("bad_runtime", &["run", "--runtime", "vm", "--", "true"]),
        ("bad_publish", &["run", "-p", "web=x", "--", "true"]),
        ("agent_without_environment", &["agent", "serve"]),
        ("task_without_agent", &["task", "hello"]),
        ("proxy_status", &["proxy", "status"]),
    ] {
        let run = ctx.warren(args);
        snapshot!(name, shown(&ctx, &run));
    }
}

#[test]
fn configuration_errors_point_at_the_file() {
    let mut ctx = TestContext::new();
    ctx.write(
        ".warren.yaml",
        "name: app\nimgae: node:22\nruntime: dokcer\n",
    );
    let run = ctx.warren(&["validate"]);
    snapshot!("validate_errors", shown(&ctx, &run));
    let run = ctx.warren(&["run", "--", "true"]);
    snapshot!("run_config_errors", shown(&ctx, &run));
    ctx.write(".warren.yaml", "name: app\n");
    ctx.env("WARREN_PROXY_PORT", "http");
    let run = ctx.warren(&["ls"]);
    snapshot!("bad_variable", shown(&ctx, &run));
}
