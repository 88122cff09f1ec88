//! The `manager` environment works on the project's main checkout, read-only
//! (docs/sessions.md): `warren start` creates it on the checkout itself (no
//! repository, no `warren/manager` branch), it reads the user's uncommitted
//! files, it can write none of them (nor `.git/hooks`, `.git/config`, which would
//! run on the host), only its own relay directory; and `stop`, `start` and
//! `rm -f` leave the checkout, its `.git` and its branches exactly as they were.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::Path;

use crate::harness::*;

/// Every path under `dir` (`.git` included) with its kind, mode and content hash.
fn tree_state(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        use std::os::unix::fs::PermissionsExt;
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let rel = path
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let mode = meta.permissions().mode();
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.insert(rel, format!("link {mode:o} {}", target.display()));
            } else if meta.is_dir() {
                out.insert(rel, format!("dir {mode:o}"));
                walk(base, &path, out);
            } else {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                std::fs::read(&path).unwrap().hash(&mut h);
                out.insert(rel, format!("file {mode:o} {:x}", h.finish()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// What the user sees of the checkout: status, branches, HEAD, and every file.
#[derive(Debug, PartialEq, Eq)]
struct Checkout {
    status: String,
    branches: String,
    head: String,
    files: BTreeMap<String, String>,
}

fn checkout(t: &TestContext) -> Checkout {
    // Files first: `git status` (without optional locks) writes nothing.
    let files = tree_state(&t.repo);
    Checkout {
        status: git(&t.repo, &["--no-optional-locks", "status", "--porcelain"]),
        branches: git(&t.repo, &["branch", "--list", "--all"]),
        head: git(&t.repo, &["rev-parse", "HEAD"]),
        files,
    }
}

fn assert_unchanged(before: &Checkout, after: &Checkout, when: &str) {
    if before == after {
        return;
    }
    let changed: Vec<String> = before
        .files
        .iter()
        .filter(|(k, v)| after.files.get(*k) != Some(v))
        .map(|(k, _)| format!("changed or gone: {k}"))
        .chain(
            after
                .files
                .keys()
                .filter(|k| !before.files.contains_key(*k))
                .map(|k| format!("new: {k}")),
        )
        .collect();
    panic!(
        "{when}: the main checkout changed\nstatus {:?} -> {:?}\nbranches {:?} -> {:?}\nhead {} -> {}\nfiles:\n{}",
        before.status,
        after.status,
        before.branches,
        after.branches,
        before.head,
        after.head,
        changed.join("\n")
    );
}

/// Writes a manager environment must not be able to make in the checkout; each
/// as a shell command run inside, from the checkout (its working directory).
const WRITES: &[(&str, &str)] = &[
    ("a new file", "echo x > FILE2"),
    ("the user's uncommitted file", "echo agent >> notes.txt"),
    ("a committed file", "echo agent > README.md"),
    ("removing a file", "rm README.md"),
    ("renaming a file", "mv README.md README.old"),
    ("chmod", "chmod 777 README.md"),
    ("a new directory", "mkdir newdir"),
    (
        "a git hook",
        "echo 'touch /tmp/pwned' > .git/hooks/pre-commit",
    ),
    ("the hooks dir", "rm -rf .git/hooks"),
    (
        "git config",
        "printf '[core]\\n\\thooksPath = /tmp\\n' >> .git/config",
    ),
    ("HEAD", "echo 'ref: refs/heads/evil' > .git/HEAD"),
    (
        "a branch",
        "echo 0000000000000000000000000000000000000000 > .git/refs/heads/evil",
    ),
    (
        "git attributes",
        "mkdir -p .git/info && echo '* filter=x' > .git/info/attributes",
    ),
    ("the relay dir in .git", "mkdir .git/warren"),
    ("a protected name", "echo '{}' > .mcp.json"),
    ("a symlink", "ln -s /etc/passwd link"),
];

fn scenario(runtime: &str) {
    let docker = runtime == "docker";
    let t = TestContext::new();
    let image = if docker {
        format!("image: {BUSYBOX}\n")
    } else {
        String::new()
    };
    t.write(
        ".warren.yaml",
        &format!(
            "runtime: {runtime}\n{image}sessions:\n  sh:\n    command: \"sh\"\ntypes:\n  manager: {{sessions: [sh]}}\n"
        ),
    );
    t.commit("config");
    git(&t.repo, &["branch", "feature"]);
    // The user's uncommitted work, which the manager reads.
    t.write("notes.txt", "uncommitted work\n");
    let before = checkout(&t);

    progress!("[{runtime}] `start` creates the manager on the main checkout");
    let fleet = t.warren(&["start"]).ok();
    assert!(fleet.stdout.contains("manager"), "{}", fleet.stdout);
    let env = t.env_json("manager");
    let repo = std::fs::canonicalize(&t.repo).unwrap();
    assert_eq!(
        env["worktree"]
            .as_str()
            .map(|w| std::fs::canonicalize(w).unwrap()),
        Some(repo.clone()),
        "{env}"
    );
    assert_eq!(env["branch"], "main", "{env}");
    assert_eq!(env["state"], "running", "{env}");
    assert!(
        !dir_names(&t.root.join("worktrees"))
            .iter()
            .any(|p| { !dir_names(&t.root.join("worktrees").join(p)).is_empty() }),
        "no repository of its own is made"
    );
    assert_unchanged(&before, &checkout(&t), "after start");

    progress!("[{runtime}] it reads the user's uncommitted files");
    let cat = t
        .warren(&["exec", "manager", "--", "cat", "notes.txt"])
        .ok();
    assert_eq!(cat.stdout, "uncommitted work\n");
    let ls = t
        .warren(&["exec", "manager", "--", "sh", "-c", "pwd; ls -a"])
        .ok();
    assert!(
        ls.stdout.contains("README.md") && ls.stdout.contains(".git"),
        "{}",
        ls.stdout
    );

    progress!("[{runtime}] it writes nothing in the checkout, .git included");
    for (what, cmd) in WRITES {
        let run = t.warren(&["exec", "manager", "--", "sh", "-c", cmd]);
        assert_ne!(run.code, 0, "{what} (`{cmd}`) succeeded inside the manager");
        assert!(
            run.stderr.contains("Read-only")
                || run.stderr.contains("read-only")
                || run.stderr.contains("Permission denied"),
            "{what}: refused for another reason: {}",
            run.stderr
        );
    }
    let git_inside = t.warren(&[
        "exec",
        "manager",
        "--",
        "sh",
        "-c",
        "git commit --allow-empty -m evil 2>&1 || echo refused",
    ]);
    progress!("git commit inside: {}", git_inside.stdout.trim());
    assert_unchanged(&before, &checkout(&t), "after the writes");

    progress!("[{runtime}] its relay directory (for its tools' hooks) is writable");
    let relay = t.root.join("relay/manager");
    let probe = relay.join("probe");
    t.warren(&[
        "exec",
        "manager",
        "--",
        "sh",
        "-c",
        &format!("echo relayed > {}", probe.display()),
    ])
    .ok();
    assert_eq!(std::fs::read_to_string(&probe).unwrap(), "relayed\n");

    progress!("[{runtime}] stop, start and rm -f leave the checkout as it was");
    t.warren(&["stop", "manager"]).ok();
    t.warren(&["start", "manager"]).ok();
    t.warren(&["exec", "manager", "--", "cat", "notes.txt"])
        .ok();
    t.warren(&["rm", "-f", "manager"]).ok();
    assert!(t.ls().is_empty());
    assert!(!relay.exists(), "its relay directory goes with it");
    assert_unchanged(&before, &checkout(&t), "after rm -f");
    assert_eq!(
        std::fs::read_to_string(t.repo.join("notes.txt")).unwrap(),
        "uncommitted work\n"
    );
    assert!(!git(&t.repo, &["branch", "--list"]).contains("warren/"));
}

#[test]
fn the_manager_reads_the_main_checkout_and_writes_none_of_it_sandbox() {
    scenario("sandbox");
}

#[test]
fn the_manager_reads_the_main_checkout_and_writes_none_of_it_docker() {
    if !require_docker() {
        return;
    }
    scenario("docker");
}

/// `rm` without `-f` of the manager: no commits to bring back, no tree to prove
/// clean (the user's uncommitted work is theirs), nothing deleted.
#[test]
fn rm_of_the_manager_neither_refuses_nor_deletes() {
    let t = TestContext::new();
    t.write(".warren.yaml", "runtime: sandbox\ntypes:\n  manager: {}\n");
    t.commit("config");
    t.write("notes.txt", "uncommitted work\n");
    let before = checkout(&t);
    t.warren(&["new", "manager", "manager"]).ok();
    let diff = t.warren(&["diff", "manager"]);
    assert_ne!(diff.code, 0);
    assert!(diff.stderr.contains("main checkout"), "{}", diff.stderr);
    assert_eq!(t.env_json("manager")["branch"], "main");
    t.warren(&["rm", "--delete-branch", "manager"]).ok();
    assert_unchanged(&before, &checkout(&t), "after rm --delete-branch");
}
