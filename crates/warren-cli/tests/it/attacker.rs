//! The attacker suite (docs/SECURITY.md): a hostile agent tries, inside its
//! environment, every way found to get its own code run on the host or to
//! damage the user's repository; then the user does what users do — `git
//! status`, `git log -p`, `git diff` in the main checkout, `warren stop`,
//! `start`, `rm`, and `run` again. An attempt escapes if any payload ran on
//! the host (it touches a file only the host can write), or if the main
//! repository's refs, objects or working tree changed.
//!
//! Every payload is first shown to work where nothing stops it: the same
//! git configuration in a repository the test makes itself, where the
//! user's own `git status` runs it (so a passing attempt is not vacuous).
//! Runs on the sandbox and on Docker, and ends with `N attempts, 0 escapes`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;

/// One attempt: a name, and the script the agent runs in its tree (with
/// `$PWN` the marker directory on the host, `$MAIN` the main repository's
/// `.git`, found the way an agent would: from its alternates).
struct Attempt {
    name: &'static str,
    script: &'static str,
}

/// The agent's preamble: where things are, as seen from inside.
const PRELUDE: &str = r#"
set +e
objects=$(cat .git/objects/info/alternates 2>/dev/null | head -1)
MAIN=$(dirname "$objects")
payload() { printf '#!/bin/sh\ntouch "%s/%s"\n' "$PWN" "$1"; }
git config user.name agent; git config user.email agent@example.invalid
"#;

fn attempts() -> Vec<Attempt> {
    vec![
        Attempt {
            name: "fsmonitor in the environment's config, via commondir",
            script: r#"
git config core.fsmonitor "touch $PWN/fsmonitor"
( echo "$PWD/.git" > "$MAIN/commondir" ) 2>/dev/null
( mkdir -p "$MAIN/worktrees/x" && echo "$PWD/.git" > "$MAIN/worktrees/x/commondir" ) 2>/dev/null
echo changed >> README.md"#,
        },
        Attempt {
            name: "delete the main repository's objects",
            script: r#"rm -rf "$objects"/* 2>/dev/null; find "$objects" -type f -exec sh -c ': > "$1"' _ {} \; 2>/dev/null; true"#,
        },
        Attempt {
            name: "move the main repository's refs and write its packed-refs",
            script: r#"
for r in main master; do ( echo 0000000000000000000000000000000000000000 > "$MAIN/refs/heads/$r" ) 2>/dev/null; done
( echo "0000000000000000000000000000000000000000 refs/heads/main" >> "$MAIN/packed-refs" ) 2>/dev/null
( echo "ref: refs/heads/evil" > "$MAIN/HEAD" ) 2>/dev/null; true"#,
        },
        Attempt {
            name: "another environment's tree, index and HEAD",
            script: r#"
for t in "$WARREN_ROOT_GUESS"/worktrees/*/*; do
  [ "$t" = "$PWD" ] && continue
  ( echo evil > "$t/README.md" ) 2>/dev/null
  ( echo "ref: refs/heads/evil" > "$t/.git/HEAD" ) 2>/dev/null
  ( : > "$t/.git/index" ) 2>/dev/null
done; true"#,
        },
        Attempt {
            name: "a tracked file changed behind stat data the index vouches for",
            script: r#"
git update-index --refresh >/dev/null
size=$(wc -c < README.md)
printf '%-*s' "$size" "evil" | head -c "$size" > README.tmp && cat README.tmp > README.md && rm README.tmp
touch -r .git/index README.md
git update-index --assume-unchanged README.md"#,
        },
        Attempt {
            name: "host hook running an agent-edited ./setup.sh",
            script: r#"payload setup > setup.sh; chmod +x setup.sh"#,
        },
        Attempt {
            name: "hooks and MCP servers in the tool's config",
            script: r#"
mkdir -p "$HOME/.claude"
printf '{"hooks":{"Stop":[{"hooks":[{"type":"command","command":"touch %s/claude-hook"}]}]}}' "$PWN" > "$HOME/.claude/settings.json"
printf '{"mcpServers":{"x":{"command":"touch","args":["%s/claude-mcp"]}}}' "$PWN" > "$HOME/.claude.json"
( cat "$HOME/.claude/.credentials.json" > stolen.txt ) 2>/dev/null; rm -f stolen.txt; true"#,
        },
        Attempt {
            name: "core.pager, core.sshCommand, gpg.program, credential.helper",
            script: r#"
git config core.pager "touch $PWN/pager; cat"
git config core.sshCommand "touch $PWN/ssh"
git config gpg.program "$PWD/gpg.sh"; payload gpg > gpg.sh; chmod +x gpg.sh; git config commit.gpgsign true
git config credential.helper "!touch $PWN/credential"
git config core.editor "touch $PWN/editor"
git remote add origin ssh://example.invalid/x"#,
        },
        Attempt {
            name: "diff.external, textconv and filter drivers through .gitattributes",
            script: r#"
payload diff > diff.sh; payload textconv > conv.sh; payload filter > filter.sh; chmod +x *.sh
git config diff.external "$PWD/diff.sh"
git config diff.evil.textconv "$PWD/conv.sh"
git config filter.evil.clean "$PWD/filter.sh"; git config filter.evil.smudge "$PWD/filter.sh"
git config filter.lfs.clean "$PWD/filter.sh"; git config filter.lfs.process "$PWD/filter.sh"
printf '* diff=evil filter=evil\n*.md filter=lfs\n' > .gitattributes
git add .gitattributes diff.sh conv.sh filter.sh && git commit -qm attributes
echo more >> README.md"#,
        },
        Attempt {
            name: "include.path and core.hooksPath through config.worktree",
            script: r#"
printf '[core]\n\tfsmonitor = "touch %s/include"\n' "$PWN" > evil.cfg
git config include.path "$PWD/evil.cfg"
git config extensions.worktreeConfig true
mkdir -p hooks; for h in pre-commit post-checkout post-merge reference-transaction; do payload "hook-$h" > hooks/$h; chmod +x hooks/$h; done
git config --worktree core.hooksPath "$PWD/hooks"
git commit -q --allow-empty -m with-hooks"#,
        },
        Attempt {
            name: ".git planted as a symlink to the main repository",
            script: r#"
mv .git .git-real && ln -s "$MAIN" .git
git config core.fsmonitor "touch $PWN/symlinked" 2>/dev/null; true"#,
        },
        Attempt {
            name: "a .git file in a subfolder and alternates pointing elsewhere",
            script: r#"
mkdir -p evilrepo sub
git init -q evilrepo && git -C evilrepo config core.fsmonitor "touch $PWN/nested"
echo "gitdir: $PWD/evilrepo/.git" > sub/.git
echo "/" >> .git/objects/info/alternates
echo "$PWD/evilrepo/.git/objects" >> .git/objects/info/alternates
echo x > sub/file"#,
        },
        Attempt {
            name: "commits that rewrite the branch and forge refs in its own packed-refs",
            script: r#"
echo new > new.txt && git add new.txt && git commit -qm "agent work"
git tag -f v-evil
echo "0000000000000000000000000000000000000000 refs/heads/main" >> .git/packed-refs
git update-ref refs/heads/main HEAD 2>/dev/null; true"#,
        },
    ]
}

/// What the main repository looks like: refs (but warren's own branches),
/// HEAD, the status of the checkout, and whether fsck passes.
fn main_state(repo: &Path) -> String {
    let refs = git(repo, &["for-each-ref", "--format=%(refname) %(objectname)"])
        .lines()
        .filter(|l| !l.starts_with("refs/heads/warren/"))
        .collect::<Vec<_>>()
        .join("\n");
    let fsck = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["fsck", "--no-dangling", "--no-progress"])
        .output()
        .unwrap();
    format!(
        "refs:\n{refs}\nHEAD {}\nstatus: [{}]\nfsck: {}",
        git(repo, &["rev-parse", "HEAD"]),
        git(repo, &["status", "--porcelain"]),
        fsck.status.success()
    )
}

/// The user's everyday commands in the main checkout (their output is not
/// the point: whether they run something of the agent's is).
fn user_reads_the_repository(repo: &Path, branch: &str) {
    for args in [
        &["status"][..],
        &["log", "-p", "-3", "--all"],
        &["diff"],
        &["diff", &format!("HEAD...{branch}")],
        &["log", "--show-signature", "-1", branch],
    ] {
        let _ = Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(args)
            .env("GIT_PAGER", "cat")
            .output();
    }
}

/// Shows that the attempt's git configuration does run its payload where
/// nothing stops it: in a repository the user runs `git status`/`log -p`/
/// `diff` in directly.
fn payloads_work_unguarded(ctx: &TestContext) {
    let control = ctx.dir.path().join("control");
    let pwn = ctx.dir.path().join("control-pwned");
    std::fs::create_dir_all(&control).unwrap();
    std::fs::create_dir_all(&pwn).unwrap();
    git(&control, &["init", "-q", "-b", "main"]);
    std::fs::write(control.join("README.md"), "x\n").unwrap();
    git(&control, &["add", "."]);
    git(&control, &["commit", "-qm", "init"]);
    let script = format!(
        "{PRELUDE}\ngit config core.fsmonitor \"touch $PWN/fsmonitor\"\n\
         payload diff > diff.sh; chmod +x diff.sh; git config diff.external \"$PWD/diff.sh\"\n\
         echo y >> README.md"
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .current_dir(&control)
        .env("PWN", &pwn)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    user_reads_the_repository(&control, "main");
    let ran = dir_names(&pwn);
    progress!("control: unguarded, the payloads ran: {ran:?}");
    assert!(
        ran.contains(&"fsmonitor".to_string()) && ran.contains(&"diff".to_string()),
        "the control payloads must run where nothing stops them: {ran:?}"
    );
}

fn suite(runtime: &str) {
    let mut ctx = TestContext::new();
    payloads_work_unguarded(&ctx);
    let pwn: PathBuf = ctx.dir.path().join("pwned");
    std::fs::create_dir_all(&pwn).unwrap();
    // The project: a host hook that runs ./setup.sh, as found.
    let hooks_log = ctx.dir.path().join("hooks.log");
    ctx.write(
        "setup.sh",
        &format!(
            "#!/bin/sh\necho \"$WARREN_NAME project-setup\" >> {}\n",
            hooks_log.display()
        ),
    );
    std::fs::set_permissions(
        ctx.repo.join("setup.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let yaml = format!(
        "runtime: {runtime}\ntool: claude\npre_start: [{{run: ./setup.sh}}]\npost_stop: [{{run: ./setup.sh}}]\n"
    );
    ctx.write(".warren.yaml", &yaml);
    if runtime == "docker" {
        ctx.write(
            ".devcontainer/devcontainer.json",
            r#"{"image": "warren-test/git:latest"}"#,
        );
    }
    ctx.commit("project");
    // The user's own tool config, which must stay as it is.
    std::fs::create_dir_all(ctx.home.join(".claude")).unwrap();
    std::fs::write(
        ctx.home.join(".claude/settings.json"),
        "{\"theme\":\"dark\"}\n",
    )
    .unwrap();
    std::fs::write(
        ctx.home.join(".claude/.credentials.json"),
        "{\"token\":\"t\"}\n",
    )
    .unwrap();
    let claude_settings = std::fs::read(ctx.home.join(".claude/settings.json")).unwrap();
    ctx.env("PWN", &pwn.to_string_lossy());
    let root = ctx.root.to_string_lossy().into_owned();
    ctx.env("WARREN_ROOT_GUESS", &root);
    // A bystander environment whose tree must survive every attempt.
    ctx.warren(&["run", "--name", "bystander", "--", "true"])
        .ok();
    let bystander = ctx.root.join("worktrees/repo/bystander");
    let bystander_readme = std::fs::read(bystander.join("README.md")).unwrap();

    let before = main_state(&ctx.repo);
    let attempts = attempts();
    let mut escapes = Vec::new();
    for (i, a) in attempts.iter().enumerate() {
        let name = format!("attacker-{i}");
        let script = format!("{PRELUDE}\n{}\nexit 0", a.script);
        let run = ctx.warren(&[
            "run",
            "--name",
            &name,
            "-e",
            "PWN",
            "-e",
            "WARREN_ROOT_GUESS",
            "--",
            "sh",
            "-c",
            &script,
        ]);
        assert_eq!(
            run.code, 0,
            "{}: the agent's run failed: {}",
            a.name, run.stderr
        );
        // The user, afterwards.
        user_reads_the_repository(&ctx.repo, &format!("warren/{name}"));
        let _ = ctx.warren(&["stop", &name]);
        let _ = ctx.warren(&["start", &name]);
        user_reads_the_repository(&ctx.repo, &format!("warren/{name}"));
        if ctx.warren(&["rm", &name]).code != 0 {
            ctx.warren(&["rm", "--force", &name]).ok();
        }
        let next = ctx.warren(&[
            "run",
            "--rm",
            "--",
            "sh",
            "-c",
            "cat README.md; git status --porcelain",
        ]);
        assert_eq!(
            next.code, 0,
            "{}: the next run failed: {}",
            a.name, next.stderr
        );
        user_reads_the_repository(&ctx.repo, &format!("warren/{name}"));

        let ran = dir_names(&pwn);
        let after = main_state(&ctx.repo);
        let mut why = Vec::new();
        if !ran.is_empty() {
            why.push(format!("payloads ran on the host: {ran:?}"));
        }
        if after != before {
            why.push(format!(
                "the main repository changed:\n{before}\n---\n{after}"
            ));
        }
        if std::fs::read(ctx.home.join(".claude/settings.json")).unwrap() != claude_settings
            || ctx.home.join(".claude.json").exists()
        {
            why.push("the user's ~/.claude changed".into());
        }
        if std::fs::read(bystander.join("README.md")).ok().as_deref()
            != Some(bystander_readme.as_slice())
        {
            why.push("another environment's tree changed".into());
        }
        if next.stdout.lines().next() != Some("test project") || next.stdout.lines().count() != 1 {
            why.push(format!(
                "the next environment got a changed tree: {}",
                next.stdout
            ));
        }
        let log = std::fs::read_to_string(&hooks_log).unwrap_or_default();
        if log.lines().any(|l| !l.ends_with("project-setup")) {
            why.push(format!("a host hook ran something else: {log}"));
        }
        let verdict = if why.is_empty() { "held" } else { "ESCAPED" };
        progress!("{runtime}: attempt {}: {} — {verdict}", i + 1, a.name);
        if !why.is_empty() {
            escapes.push(format!("{}: {}", a.name, why.join("; ")));
        }
    }
    // The agent's honest work still comes back: the last attempt's commit
    // is on its branch in the main repository.
    let last = format!("warren/attacker-{}", attempts.len() - 1);
    assert!(
        git(&ctx.repo, &["log", "--format=%s", &last]).contains("agent work"),
        "{last} in the main repository has the agent's commit"
    );
    assert!(
        std::fs::read_to_string(&hooks_log)
            .unwrap_or_default()
            .contains("project-setup"),
        "the project's own hook did run (in the main checkout)"
    );
    progress!(
        "{runtime}: {} attempts, {} escapes",
        attempts.len(),
        escapes.len()
    );
    assert!(escapes.is_empty(), "{}", escapes.join("\n"));
}

#[test]
fn an_agent_cannot_reach_the_host_through_what_it_writes_on_the_sandbox() {
    suite("sandbox");
}

#[test]
fn an_agent_cannot_reach_the_host_through_what_it_writes_on_docker() {
    if !require_docker() {
        return;
    }
    suite("docker");
}
