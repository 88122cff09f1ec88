//! `warren diff` and the CHANGES column of `ls` (docs/review.md): everything an
//! environment changed since it was created — commits, uncommitted and untracked
//! files, renames, binaries — read by the host as data, and printed inert.

use crate::harness::*;

fn project(t: &TestContext) {
    t.write(".warren.yaml", "runtime: sandbox\n");
    t.write(".gitignore", "*.log\n");
    t.write("a.txt", "1\n2\n3\n");
    t.write("old.txt", "to be renamed\n");
    t.write("gone.txt", "to be deleted\n");
    std::fs::write(t.repo.join("img.bin"), b"\x00\x01\x02binary").unwrap();
    t.commit("project");
}

#[test]
fn diff_shows_commits_uncommitted_untracked_renames_and_binaries() {
    let t = TestContext::new();
    project(&t);
    progress!("an environment commits one change and leaves others uncommitted");
    t.warren(&[
        "run",
        "-n",
        "d1",
        "--",
        "sh",
        "-c",
        "echo 4 >> a.txt && git mv old.txt new.txt && git -c user.name=a -c user.email=a@a commit -qm work -a \
         && rm gone.txt && printf '\\000\\377more' > img.bin && echo fresh > untracked.txt \
         && echo noise > build.log && echo 5 >> a.txt",
    ])
    .ok();

    let stat = t.warren(&["diff", "d1", "--stat"]).ok().stdout;
    progress!("diff --stat:\n{stat}");
    for f in [
        "a.txt",
        "gone.txt",
        "img.bin",
        "old.txt => new.txt",
        "untracked.txt",
    ] {
        assert!(stat.contains(f), "{f} missing from:\n{stat}");
    }
    assert!(!stat.contains("build.log"), "ignored files are not changes");

    let names = t.warren(&["diff", "d1", "--name-only"]).ok().stdout;
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    assert_eq!(
        names,
        ["a.txt", "gone.txt", "img.bin", "new.txt", "untracked.txt"]
    );

    let patch = t.warren(&["diff", "d1", "--", "a.txt"]).ok().stdout;
    assert!(patch.contains("+4\n+5\n"), "{patch}");
    assert!(
        !patch.contains("untracked"),
        "paths limit the diff: {patch}"
    );
    assert!(!patch.contains('\x1b'), "no colour when not a terminal");

    let json: serde_json::Value =
        serde_json::from_str(&t.warren(&["diff", "d1", "--json"]).ok().stdout).unwrap();
    let file = |p: &str| {
        json.as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == p)
            .cloned()
            .unwrap_or_else(|| panic!("{p} not in {json}"))
    };
    assert_eq!(file("a.txt")["added"], 2);
    assert_eq!(file("new.txt")["status"], "R");
    assert_eq!(file("new.txt")["old_path"], "old.txt");
    assert_eq!(file("gone.txt")["status"], "D");
    assert_eq!(file("img.bin")["binary"], true);
    assert_eq!(file("untracked.txt")["status"], "A");

    progress!("ls: the CHANGES column");
    let ls = t.warren(&["ls"]).ok().stdout;
    progress!("{ls}");
    assert!(ls.contains("CHANGES"), "{ls}");
    assert!(ls.contains("+3 −1, 5 files"), "{ls}");
    let env = t.env_json("d1");
    assert_eq!(env["changes"]["files"], 5, "{env}");

    progress!("a change after the first look shows at the next");
    std::fs::write(t.root.join("worktrees/repo/d1/later.txt"), "x\n").unwrap();
    let names = t.warren(&["diff", "d1", "--name-only"]).ok().stdout;
    assert!(names.contains("later.txt"), "{names}");
    t.warren(&["rm", "-f", "d1"]).ok();
}

/// The attacker hides changes from warren's incremental capture: after the
/// user's first look, it edits a file to the same size and puts back its old
/// mtime, and adds a file in a directory whose mtime it puts back too (the
/// untracked cache keys on a directory's stat data). The user's next `diff`
/// still shows both: git compares the ctime, which no one can set. (git built
/// without `USE_NSEC`, as Debian's is, compares it to the second: an edit in the
/// same second as the look before it can hide until the file changes again;
/// docs/review.md says so. The test looks a second later, as a person does.)
#[test]
fn changes_behind_restored_timestamps_still_show() {
    let t = TestContext::new();
    project(&t);
    t.warren(&[
        "run",
        "-n",
        "hide",
        "--",
        "sh",
        "-c",
        "mkdir dir && echo keep > dir/keep.txt && touch -d 2020-01-01T00:00:00 a.txt dir/keep.txt dir",
    ])
    .ok();
    let first = t.warren(&["diff", "hide", "--name-only"]).ok().stdout;
    progress!("first look: {first:?}");
    assert_eq!(first.trim(), "dir/keep.txt");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    progress!("the agent edits behind old timestamps");
    t.warren(&[
        "exec",
        "hide",
        "--",
        "sh",
        "-c",
        "printf 'X\\n2\\n3\\n' > a.txt && echo sneaky > dir/sneaky.txt \
         && touch -d 2020-01-01T00:00:00 a.txt dir",
    ])
    .ok();
    let names = t.warren(&["diff", "hide", "--name-only"]).ok().stdout;
    progress!("second look: {names:?}");
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    assert_eq!(names, ["a.txt", "dir/keep.txt", "dir/sneaky.txt"]);
    let patch = t.warren(&["diff", "hide", "--", "a.txt"]).ok().stdout;
    assert!(patch.contains("+X"), "{patch}");
    progress!("an unchanged tree gives the same answer again");
    let again = t.warren(&["diff", "hide", "--name-only"]).ok().stdout;
    assert_eq!(again.lines().count(), 3, "{again}");
    t.warren(&["rm", "-f", "hide"]).ok();
}

/// The attacker writes files whose names and contents carry terminal escapes,
/// a `.gitattributes` naming a filter driver the user has configured, and a
/// symlink to a host secret; the user runs `warren diff` and `warren ls`.
#[test]
fn what_an_environment_writes_is_only_data_to_diff() {
    let t = TestContext::new();
    project(&t);
    // The user's own git config has a filter driver that would run a command.
    let marker = t.dir.path().join("filter-ran");
    std::fs::write(
        t.home.join(".gitconfig"),
        format!(
            "[filter \"evil\"]\n\tclean = touch {} && cat\n\tsmudge = cat\n[diff \"evil\"]\n\ttextconv = touch {}\n",
            marker.display(),
            marker.display()
        ),
    )
    .unwrap();
    let secret = t.dir.path().join("secret.txt");
    std::fs::write(&secret, "host-secret\n").unwrap();
    t.warren(&[
        "run",
        "-n",
        "evil",
        "--",
        "sh",
        "-c",
        &format!(
            "printf '* filter=evil diff=evil\\n' > .gitattributes \
             && printf 'x\\033]52;c;cHduZWQ=\\007\\033[2Jy\\n' > 'esc\\033[31mname.txt' \
             && ln -s {} leak \
             && mkdir -p .git/hooks && printf '#!/bin/sh\\ntouch {}\\n' > .git/hooks/post-index-change \
             && chmod +x .git/hooks/post-index-change \
             && git config core.fsmonitor 'touch {}'",
            secret.display(),
            marker.display(),
            marker.display()
        ),
    ])
    .ok();
    let patch = t.warren(&["diff", "evil"]).ok().stdout;
    progress!("diff:\n{}", patch.escape_debug());
    assert!(
        !patch.contains("\x1b]52"),
        "no clipboard write reaches the terminal"
    );
    assert!(!patch.contains("\x1b[2J"), "no screen clear");
    assert!(
        !patch.contains("host-secret"),
        "a symlink is recorded, not followed"
    );
    assert!(
        patch.contains(&secret.display().to_string()),
        "the link's target is shown as data"
    );
    t.warren(&["diff", "evil", "--stat"]).ok();
    t.warren(&["diff", "evil", "--json"]).ok();
    t.warren(&["ls"]).ok();
    assert!(
        !marker.exists(),
        "a filter, textconv, hook or fsmonitor named by the environment ran on the host"
    );
    t.warren(&["rm", "-f", "evil"]).ok();
}

#[test]
fn diff_of_an_environment_whose_tree_is_gone_says_so() {
    let t = TestContext::new();
    project(&t);
    t.warren(&["run", "-n", "g1", "--", "true"]).ok();
    t.warren(&["stop", "g1"]).ok();
    std::fs::remove_dir_all(t.root.join("worktrees/repo/g1")).unwrap();
    let r = t.warren(&["diff", "g1"]).fails(1);
    assert!(r.stderr.contains("is gone"), "{}", r.stderr);
    let ls = t.warren(&["ls"]).ok().stdout;
    assert!(ls.contains("g1"), "{ls}");
    t.warren(&["rm", "-f", "g1"]).ok();
}
