//! `warren conflicts` and the clash marker of `ls` (docs/review.md): which
//! environments touch the same files, which pairs (and which against the target
//! branch as it moves on) would conflict, down to files and hunks; attacker
//! file names and contents are printed inert and run nothing.

use crate::harness::*;

fn lines(n: usize, tag: &str) -> String {
    (1..=n).map(|k| format!("{tag} {k}\n")).collect()
}

fn project(t: &TestContext) {
    t.write(".warren.yaml", "runtime: sandbox\n");
    t.write("a.txt", &lines(10, "a"));
    t.write("b.txt", &lines(10, "b"));
    t.write("shared.txt", &lines(30, "s"));
    t.write("del.txt", &lines(5, "d"));
    t.write("ren.txt", &lines(10, "r"));
    std::fs::write(t.repo.join("bin.dat"), b"\x00\x01\x02base").unwrap();
    t.commit("project");
}

fn run_in(t: &TestContext, name: &str, script: &str) {
    t.warren(&["run", "-n", name, "--", "sh", "-c", script])
        .ok();
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

fn pair<'a>(
    report: &'a serde_json::Value,
    key: &str,
    a: &str,
    b: &str,
) -> Option<&'a serde_json::Value> {
    report[key]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| (p["a"] == a && p["b"] == b) || (p["a"] == b && p["b"] == a))
}

fn conflict_paths(p: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = p["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn conflicts_between_environments_down_to_files_and_hunks() {
    let t = TestContext::new();
    project(&t);
    progress!("one and two edit the same lines, delete vs edit, rename vs edit, binary");
    run_in(
        &t,
        "one",
        "sed -i 's/^a 2$/one was here/' a.txt && sed -i 's/^s 2$/one/' shared.txt \
         && echo more >> del.txt && sed -i 's/^r 5$/edited/' ren.txt \
         && printf '\\000\\001one' > bin.dat",
    );
    run_in(
        &t,
        "two",
        "sed -i 's/^a 2$/two was here/' a.txt && sed -i 's/^s 28$/two/' shared.txt \
         && rm del.txt && git mv ren.txt moved.txt \
         && git -c user.name=a -c user.email=a@a commit -qm move \
         && printf '\\000\\001two' > bin.dat",
    );
    progress!("three edits a file nobody else does; four another region of shared.txt");
    run_in(&t, "three", "echo three >> b.txt");
    run_in(&t, "four", "sed -i 's/^s 15$/four/' shared.txt");

    let run = t.warren(&["conflicts"]).fails(1);
    let text = run.stdout.clone();
    progress!("conflicts:\n{text}");
    assert!(text.contains("one ↔ two"), "{text}");
    assert!(text.contains("a.txt (contents)"), "{text}");
    assert!(
        text.contains("<<<<<<< one"),
        "markers name the environments: {text}"
    );
    assert!(text.contains("one was here"), "{text}");
    assert!(text.contains("two was here"), "{text}");
    assert!(text.contains(">>>>>>> two"), "{text}");
    assert!(text.contains("del.txt (modify/delete)"), "{text}");
    assert!(text.contains("bin.dat (binary"), "{text}");
    assert!(
        !text.contains("three"),
        "three touches nobody's files: {text}"
    );
    assert!(text.contains("1 pair would conflict"), "{text}");

    let report = json(&t.warren(&["conflicts", "--json"]).fails(1));
    let p12 = pair(&report, "pairs", "one", "two").expect("one and two touch");
    assert_eq!(
        conflict_paths(p12),
        ["a.txt", "bin.dat", "del.txt"],
        "{p12}"
    );
    let files: Vec<&str> = p12["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(
        files.contains(&"ren.txt") && files.contains(&"shared.txt"),
        "{p12}"
    );
    let a = p12["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "a.txt")
        .unwrap();
    let hunk = a["hunks"][0]["lines"].as_array().unwrap();
    assert_eq!(hunk.first().unwrap(), "<<<<<<< one", "{a}");
    assert!(hunk.contains(&serde_json::json!("two was here")), "{a}");
    progress!("same file, different regions: they touch but merge cleanly");
    for other in ["one", "two"] {
        let p = pair(&report, "pairs", other, "four").expect("shared.txt touches");
        assert_eq!(p["files"], serde_json::json!(["shared.txt"]), "{p}");
        assert!(p["conflicts"].as_array().unwrap().is_empty(), "{p}");
    }
    assert!(pair(&report, "pairs", "one", "three").is_none());
    assert!(report["against_target"].as_array().unwrap().is_empty());

    progress!("names narrow the comparison");
    let clean = t.warren(&["conflicts", "three", "four", "one"]).ok().stdout;
    assert!(clean.contains("Nothing would conflict"), "{clean}");
    let none = t.warren(&["conflicts", "three"]).ok().stdout;
    assert!(none.contains("No two environments"), "{none}");

    progress!("ls marks the clash");
    let ls = t.warren(&["ls"]).ok().stdout;
    progress!("{ls}");
    assert!(ls.contains("⚠ clashes with two"), "{ls}");
    assert!(ls.contains("⚠ clashes with one"), "{ls}");
    assert_eq!(t.env_json("one")["clashes"], serde_json::json!(["two"]));
    assert_eq!(t.env_json("four")["clashes"], serde_json::json!([]));
    assert_eq!(t.env_json("three")["target_clash"], serde_json::Value::Null);
}

#[test]
fn conflicts_with_the_target_as_it_moves_on() {
    let t = TestContext::new();
    project(&t);
    git(&t.repo, &["branch", "old"]);
    run_in(
        &t,
        "e",
        "sed -i 's/^a 5$/from the environment/' a.txt && echo x >> b.txt",
    );
    run_in(&t, "f", "echo f >> shared.txt");
    t.warren(&["conflicts"]).ok();

    progress!("the main checkout commits a change to the same line");
    t.write("a.txt", &lines(10, "a").replace("a 5\n", "from main\n"));
    t.write("shared.txt", &format!("top\n{}", lines(30, "s")));
    t.commit("main moves on");
    let run = t.warren(&["conflicts"]).fails(1);
    progress!("{}", run.stdout);
    assert!(run.stdout.contains("e ↔ main (target)"), "{}", run.stdout);
    assert!(run.stdout.contains(">>>>>>> main"), "{}", run.stdout);
    let report = json(&t.warren(&["conflicts", "--json"]).fails(1));
    let p = pair(&report, "against_target", "e", "main").expect("e against main");
    assert_eq!(conflict_paths(p), ["a.txt"]);
    let f = pair(&report, "against_target", "f", "main").expect("f touches shared.txt");
    assert!(f["conflicts"].as_array().unwrap().is_empty(), "{f}");
    assert_eq!(report["target"]["branch"], "main");
    assert_eq!(t.env_json("e")["target_clash"], "main");
    let ls = t.warren(&["ls"]).ok().stdout;
    assert!(ls.contains("⚠ clashes with main"), "{ls}");

    progress!("--into a branch that did not move: nothing to conflict with");
    let into = json(&t.warren(&["conflicts", "--into", "old", "--json"]).ok());
    assert!(
        into["against_target"].as_array().unwrap().is_empty(),
        "{into}"
    );
    t.warren(&["conflicts", "--into=--upload-pack=touch pwned"])
        .fails(1);
    t.warren(&["conflicts", "--into", "nope"]).fails(1);
    assert!(!t.repo.join("pwned").exists());
}

#[test]
fn attacker_names_and_contents_are_inert() {
    let t = TestContext::new();
    project(&t);
    progress!(
        "two environments add hostile files with different contents (and ask for a union merge)"
    );
    let evil = "printf 'x\\n\\033]52;c;aGk=\\007%s\\033[2J\\n' \"$0\" > ./--output=x \
                && printf 'z\\033]0;title\\007\\n%s\\n' \"$0\" > \"$(printf 'esc\\033[31mname\\nnewline')\" \
                && mkdir -p -- '-c' && printf '%s\\n' \"$0\" > '-c/core.pager=touch pwned' \
                && printf '* merge=union\\n' > .gitattributes";
    t.warren(&["run", "-n", "x1", "--", "sh", "-c", evil, "one"])
        .ok();
    t.warren(&["run", "-n", "x2", "--", "sh", "-c", evil, "two"])
        .ok();

    let run = t.warren(&["conflicts"]).fails(1);
    progress!("{}", run.stdout);
    for bad in ['\x1b', '\x07'] {
        assert!(
            !run.stdout.contains(bad),
            "a control character reached the terminal"
        );
        assert!(
            !run.stderr.contains(bad),
            "a control character reached the terminal"
        );
    }
    assert!(run.stdout.contains("--output=x"), "{}", run.stdout);
    assert!(
        run.stdout.contains("esc\\e[31mname\\nnewline"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("\\e]52;c;aGk="),
        "shown inert: {}",
        run.stdout
    );
    assert!(!t.repo.join("x").exists() && !t.repo.join("pwned").exists());
    assert!(!t.root.join("x").exists());

    let report = json(&t.warren(&["conflicts", "--json"]).fails(1));
    let p = pair(&report, "pairs", "x1", "x2").unwrap();
    let paths = conflict_paths(p);
    assert!(paths.contains(&"--output=x".to_string()), "{paths:?}");
    assert!(
        paths.contains(&"esc\x1b[31mname\nnewline".to_string()),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"-c/core.pager=touch pwned".to_string()),
        "{paths:?}"
    );

    let ls = t.warren(&["ls"]).ok().stdout;
    assert!(ls.contains("⚠ clashes with x2"), "{ls}");
}

/// A file named like another plus a carriage return: git would strip the CR
/// from a `TREE:PATH` line and read the other file, so its hunks are not shown
/// rather than shown from the wrong file.
#[test]
fn a_name_ending_in_a_carriage_return_never_shows_another_files_hunks() {
    let t = TestContext::new();
    project(&t);
    let script = "printf 'decoy %s\\n' \"$0\" > decoy.txt \
                  && printf 'cr %s\\n' \"$0\" > \"$(printf 'decoy.txt\\r')\"";
    t.warren(&["run", "-n", "c1", "--", "sh", "-c", script, "one"])
        .ok();
    t.warren(&["run", "-n", "c2", "--", "sh", "-c", script, "two"])
        .ok();
    let report = json(&t.warren(&["conflicts", "--json"]).fails(1));
    let p = pair(&report, "pairs", "c1", "c2").expect("both add the same names");
    let file = |name: &str| {
        p["conflicts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == name)
            .unwrap_or_else(|| panic!("no conflict in {name:?}: {p}"))
            .clone()
    };
    let plain = file("decoy.txt");
    assert!(plain["hunks"].to_string().contains("decoy one"), "{plain}");
    let cr = file("decoy.txt\r");
    assert!(
        !cr["hunks"].to_string().contains("decoy"),
        "another file's lines shown for it: {cr}"
    );
}

/// The `warren __watch-trees` processes whose working directory is `root`.
fn watchers_of(root: &std::path::Path) -> Vec<String> {
    dir_names(std::path::Path::new("/proc"))
        .into_iter()
        .filter(|pid| pid.chars().all(|c| c.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains("__watch-trees"))
                && std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|d| d == root)
        })
        .collect()
}

/// `warren conflicts` with `git` logged (every call, to `log`): the captures that
/// asked git are the `status` lines.
fn conflicts_logged(t: &TestContext, log: &std::path::Path, wrapper: &std::path::Path) -> Run {
    let _ = std::fs::remove_file(log);
    let path = format!(
        "{}:{}",
        wrapper.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    progress!("$ warren conflicts --json (git logged)");
    Run::from(
        t.cmd(&["conflicts", "--json"])
            .env("PATH", path)
            .output()
            .expect("run warren"),
    )
}

fn statuses(log: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("--work-tree") && l.contains(" status "))
        .map(str::to_string)
        .collect()
}

/// Once the change feed watches the trees, `conflicts` asks it instead of the stat
/// data of every file, and still sees every change at once: an agent's write
/// inside the sandbox, a file in a directory made since, a write there again.
#[test]
fn conflicts_asks_the_change_feed_and_still_sees_every_change_at_once() {
    let mut t = TestContext::new();
    project(&t);
    progress!(
        "three environments; two has a file dated in the future, so its stat data never vouches for it"
    );
    run_in(&t, "one", "sed -i 's/^a 2$/one was here/' a.txt");
    run_in(
        &t,
        "two",
        "echo two >> b.txt && touch -d '2099-01-01' b.txt",
    );
    run_in(&t, "three", "echo three >> shared.txt");
    let tree =
        |name: &str| std::path::PathBuf::from(t.env_json(name)["worktree"].as_str().unwrap());
    let (one, three) = (tree("one"), tree("three"));
    let wrapper = t.root.parent().unwrap().join("git-logged");
    std::fs::create_dir_all(&wrapper).unwrap();
    let log = t.root.parent().unwrap().join("git.log");
    let real = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v git"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let script = wrapper.join("git");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real.trim()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    progress!("the first conflicts starts the watcher");
    t.warren(&["conflicts"]).ok();
    let sock = t.root.join("feed").join("sock");
    let answered = (0..500).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::os::unix::net::UnixStream::connect(&sock).is_ok()
    });
    assert!(answered, "the watcher answers on {}", sock.display());
    let mode = std::fs::metadata(&sock).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    assert_eq!(watchers_of(&t.root).len(), 1, "one watcher");

    progress!(
        "the next one captures under the feed's tokens (two asks git: its stat data cannot vouch)"
    );
    // The watcher may still be walking the trees it was started with.
    let mut asked = Vec::new();
    for _ in 0..3 {
        conflicts_logged(&t, &log, &wrapper).ok();
        asked = statuses(&log);
        if asked.iter().any(|l| l.contains("/two")) {
            break;
        }
    }
    assert!(
        !asked.is_empty(),
        "two's stat data sends it to git without the feed"
    );
    progress!("then nothing asks git: the feed vouches for all three");
    for _ in 0..2 {
        let run = conflicts_logged(&t, &log, &wrapper).ok();
        assert_eq!(statuses(&log), Vec::<String>::new(), "{}", run.stdout);
    }
    progress!("with WARREN_CHANGE_FEED=0 the stat data decides again: two asks git");
    t.env("WARREN_CHANGE_FEED", "0");
    conflicts_logged(&t, &log, &wrapper).ok();
    let asked = statuses(&log);
    assert!(asked.iter().any(|l| l.contains("/two")), "{asked:?}");
    t.env("WARREN_CHANGE_FEED", "1");

    progress!("an agent's edit inside its sandbox shows at the very next run");
    t.warren(&[
        "exec",
        "two",
        "--",
        "sh",
        "-c",
        "sed -i 's/^a 2$/two was here/' a.txt",
    ])
    .ok();
    let run = conflicts_logged(&t, &log, &wrapper).fails(1);
    let report = json(&run);
    let p = pair(&report, "pairs", "one", "two").expect("one and two touch a.txt");
    assert_eq!(conflict_paths(p), ["a.txt"], "{p}");
    let asked = statuses(&log);
    assert!(
        asked.len() == 1 && asked[0].contains("/two"),
        "only two is read again: {asked:?}"
    );

    progress!("a directory made on the host with a file in it, then the same file in one");
    std::fs::create_dir(three.join("newdir")).unwrap();
    std::fs::write(three.join("newdir/x.txt"), "same\n").unwrap();
    std::fs::create_dir(one.join("newdir")).unwrap();
    std::fs::write(one.join("newdir/x.txt"), "same\n").unwrap();
    let report = json(&conflicts_logged(&t, &log, &wrapper).fails(1));
    let p = pair(&report, "pairs", "one", "three").expect("both add newdir/x.txt");
    assert!(
        p["conflicts"].as_array().unwrap().is_empty(),
        "the same content: {p}"
    );
    progress!("a write in the new directory: it is watched now");
    std::fs::write(three.join("newdir/x.txt"), "three's\n").unwrap();
    let report = json(&conflicts_logged(&t, &log, &wrapper).fails(1));
    let p = pair(&report, "pairs", "one", "three").expect("both add newdir/x.txt");
    assert_eq!(conflict_paths(p), ["newdir/x.txt"], "{p}");
    let asked = statuses(&log);
    assert!(
        asked.len() == 1 && asked[0].contains("/three"),
        "only three is read again: {asked:?}"
    );

    progress!("ls asks the same feed");
    let ls = t.warren(&["ls"]).ok().stdout;
    assert!(ls.contains("⚠ clashes with"), "{ls}");

    progress!("the socket removed (as with the root): the watcher ends");
    std::fs::remove_file(&sock).unwrap();
    let ended = (0..300).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(20));
        watchers_of(&t.root).is_empty()
    });
    assert!(ended, "the watcher is still running");
}
