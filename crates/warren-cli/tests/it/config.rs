//! Bad configuration through the real binary: `warren validate` and
//! `warren run` print every error with file:line:col and a hint, warn once
//! about devcontainer fields warren does not act on, and leave nothing behind.

use crate::harness::*;

/// Asserts `text` contains every needle, showing `text` when not.
fn contains_all(text: &str, needles: &[&str]) {
    for n in needles {
        assert!(text.contains(n), "missing {n:?} in:\n{text}");
    }
}

#[test]
fn validate_reports_each_error_class_with_location_and_hint() {
    let ctx = TestContext::new();
    let cases: &[(&str, &str, &str, &[&str])] = &[
        (
            "unknown key with a did-you-mean",
            ".warren.yaml",
            "name: app\nimgae: busybox\n",
            &[
                ".warren.yaml:2:1",
                "unknown key `imgae`",
                "hint: did you mean `image`?",
            ],
        ),
        (
            "wrong type",
            ".warren.yaml",
            "name: app\nservices:\n  web: lots\n",
            &[".warren.yaml:3:8", "hint:"],
        ),
        (
            "YAML syntax",
            ".warren.yaml",
            "name: app\nservices: [web\n",
            &[".warren.yaml:", "error"],
        ),
        (
            "unknown parent type",
            ".warren.yaml",
            "types:\n  issue: {extends: _bsae}\n",
            &[".warren.yaml:2:", "_bsae"],
        ),
        (
            "extends cycle",
            ".warren.yaml",
            "types:\n  a: {extends: b}\n  b: {extends: a}\n",
            &[".warren.yaml:", "cycle"],
        ),
        (
            "JSONC syntax",
            ".devcontainer/devcontainer.json",
            "{\n  // a comment is fine, a missing value is not\n  \"image\": ,\n}\n",
            &["devcontainer.json:3:", "error"],
        ),
        (
            "unsupported runArgs flag",
            ".devcontainer/devcontainer.json",
            "{\"image\": \"x\", \"runArgs\": [\"--pid=host\"]}",
            &["devcontainer.json:1:", "--pid", "hint:"],
        ),
    ];
    for (what, file, text, needles) in cases {
        progress!("{what}");
        ctx.write(file, text);
        let run = ctx
            .warren(&["validate", &ctx.repo.join(file).to_string_lossy()])
            .fails(1);
        contains_all(&run.stderr, needles);
        std::fs::remove_file(ctx.repo.join(file)).unwrap();
    }

    progress!("the global config and WARREN_* overrides");
    std::fs::write(ctx.root.join("config.yaml"), "proxy:\n  prot: 8080\n").unwrap();
    let run = ctx.warren(&["validate"]).fails(1);
    contains_all(&run.stderr, &["config.yaml:2:3", "did you mean `port`?"]);
    std::fs::remove_file(ctx.root.join("config.yaml")).unwrap();
    let mut ctx = ctx;
    ctx.env("WARREN_PROXY_PORT", "http");
    let run = ctx.warren(&["validate"]).fails(1);
    contains_all(&run.stderr, &["WARREN_PROXY_PORT"]);
}

#[test]
fn jsonc_comments_trailing_commas_and_unsupported_fields_warn_once() {
    let ctx = TestContext::new();
    ctx.write(
        ".devcontainer.json",
        r#"{
  // comments and trailing commas are JSONC
  "image": "warren-test/busybox:latest",
  "customizations": { "vscode": { "extensions": ["x"], }, },
  "userEnvProbe": "loginShell",
}
"#,
    );
    let run = ctx.warren(&["validate", "--json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["errors"], 0, "{v}");
    let messages: Vec<String> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["message"].as_str().unwrap_or_default().to_string())
        .collect();
    for field in ["userEnvProbe", "customizations"] {
        let n = messages.iter().filter(|m| m.contains(field)).count();
        assert_eq!(n, 1, "one warning for `{field}`: {messages:?}");
    }
}

#[test]
fn run_with_a_bad_config_fails_before_creating_anything() {
    if !require_docker() {
        return;
    }
    let ctx = TestContext::new();
    ctx.write(".warren.yaml", "name: app\nservics:\n  web: 3000\n");
    ctx.commit("typo");
    let run = ctx.warren(&["run", "--name", "bad", "--", "true"]).fails(1);
    contains_all(
        &run.stderr,
        &[".warren.yaml:2:1", "did you mean `services`?"],
    );
    assert!(ctx.ls().is_empty());
    assert!(ctx.containers().is_empty());
    assert!(!ctx.root.join("worktrees/app/bad").exists());
    let branches = git(&ctx.repo, &["branch", "--list", "warren/*"]);
    assert!(branches.trim().is_empty(), "{branches}");

    progress!("no image for the docker runtime says what to add");
    ctx.write(".warren.yaml", "name: app\n");
    ctx.commit("fixed");
    let run = ctx
        .warren(&[
            "run",
            "--runtime",
            "docker",
            "--name",
            "noimg",
            "--",
            "true",
        ])
        .fails(1);
    contains_all(&run.stderr, &["no image configured", "image:"]);
    assert!(ctx.ls().is_empty());
}
