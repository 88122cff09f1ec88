//! The environment service against the in-memory [`FakeRuntime`]: what
//! create, start/stop, rm, ls and run do to the store, the worktree and the
//! engine, without an engine.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use warren_config::{RuntimeChoice, Settings};
use warren_core::{EnvState, RuntimeKind};
use warren_runtime::ContainerState;

use crate::fake::{FakeContainer, FakeRuntime};
use crate::git::git;
use crate::reporter::Silent;
use crate::{EnvError, HostEnv, RmOptions, RunRequest, RunSpec, Teardown, Warren};

struct World {
    _dir: tempfile::TempDir,
    repo: PathBuf,
    fake: FakeRuntime,
    warren: Warren,
}

const DEVCONTAINER: &str = r#"{
  "image": "img:1",
  "forwardPorts": [3000],
  "portsAttributes": {"3000": {"label": "web"}},
  "postCreateCommand": "make deps",
  "postStartCommand": "make serve"
}"#;

fn world(devcontainer: &str) -> World {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    crate::git::tests::init_repo(&repo);
    std::fs::write(repo.join(".devcontainer.json"), devcontainer).unwrap();
    git(&repo, ["add", "-A"]).unwrap();
    crate::git::tests::commit(&repo, "dc");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut settings = Settings::with_root(&dir.path().join("root"));
    // No proxy process from unit tests.
    settings.global.proxy.autostart = false;
    let host = HostEnv {
        vars: [("HOME".to_string(), home.to_string_lossy().into_owned())].into(),
    };
    let fake = FakeRuntime::default();
    let warren = Warren::open(settings, host, Arc::new(Silent))
        .unwrap()
        .with_runtime(RuntimeKind::Docker, Arc::new(fake.clone()));
    World {
        _dir: dir,
        repo,
        fake,
        warren,
    }
}

fn request(repo: &Path, name: &str) -> RunRequest {
    RunRequest {
        path: repo.to_path_buf(),
        name: Some(name.to_string()),
        runtime: Some(RuntimeChoice::Docker),
        // The fake engine runs no process whose network namespace a daemon could
        // enter: these tests are about the lifecycle, on the engine's own network.
        network: Some(warren_core::NetworkMode::Host),
        ..RunRequest::default()
    }
}

impl World {
    async fn create(&self, name: &str) -> warren_store::EnvRecord {
        let plan = self.warren.plan(&request(&self.repo, name)).await.unwrap();
        self.warren.create(&plan.value).await.unwrap()
    }

    fn execs(&self, needle: &str) -> usize {
        self.fake
            .state()
            .execs
            .iter()
            .filter(|e| e.contains(needle))
            .count()
    }

    fn branch_exists(&self, branch: &str) -> bool {
        git(&self.repo, ["rev-parse", "--verify", "--quiet", branch]).is_ok()
    }
}

#[tokio::test]
async fn create_runs_lifecycle_once_registers_routes_and_labels() {
    let w = world(DEVCONTAINER);
    let rec = w.create("otter").await;
    assert_eq!(rec.state, EnvState::Running);
    assert!(rec.worktree.join("README.md").exists() || rec.worktree.is_dir());
    assert!(w.branch_exists("warren/otter"));
    let id = rec.container_id.clone().unwrap();
    {
        let s = w.fake.state();
        let c = &s.containers[&id];
        assert_eq!(c.state, ContainerState::Running);
        assert_eq!(c.spec.labels["warren.name"], "otter");
        assert_eq!(c.spec.labels["warren.managed"], "true");
        assert_eq!(s.images, ["img:1"]);
        assert!(
            c.spec
                .env
                .iter()
                .any(|(k, v)| k == "WARREN_NAME" && v == "otter"),
            "{:?}",
            c.spec.env
        );
    }
    assert_eq!(w.execs("make deps"), 1);
    assert_eq!(w.execs("make serve"), 1);
    let routes = w.warren.store().routes_of("otter").unwrap();
    assert_eq!(routes.len(), 1);
    assert_eq!(
        (routes[0].service.as_str(), routes[0].target_port),
        ("web", 43000)
    );

    // stop: routes go, state follows; start: postStart again, postCreate not.
    w.warren.stop("otter").await.unwrap();
    assert!(w.warren.store().routes_of("otter").unwrap().is_empty());
    assert_eq!(w.warren.record("otter").unwrap().state, EnvState::Stopped);
    let view = w.warren.start("otter").await.unwrap();
    assert_eq!(view.state, EnvState::Running);
    assert!(view.services[0].routed);
    assert_eq!(
        w.execs("make deps"),
        1,
        "postCreate runs once per container"
    );
    assert_eq!(w.execs("make serve"), 2, "postStart runs on every start");
}

#[tokio::test]
async fn a_failed_step_undoes_everything_before_it() {
    let w = world(DEVCONTAINER);
    w.fake.state().fail_next = Some("start");
    let plan = w.warren.plan(&request(&w.repo, "broken")).await.unwrap();
    let err = w.warren.create(&plan.value).await.unwrap_err();
    assert!(
        err.to_string().contains("starting the container failed"),
        "{err}"
    );
    assert!(w.warren.store().environment("broken").unwrap().is_none());
    assert!(
        w.fake.state().containers.is_empty(),
        "the container was removed"
    );
    assert!(
        !w.branch_exists("warren/broken"),
        "the new branch was deleted"
    );
    assert!(!w.warren.worktree_path("repo", "broken").exists());
    // A failing lifecycle command is named and undone the same way.
    w.fake.state().exit_codes.push(("make deps".into(), 2));
    let plan = w.warren.plan(&request(&w.repo, "broken")).await.unwrap();
    let err = w.warren.create(&plan.value).await.unwrap_err();
    let chain = format!("{err}: {:?}", std::error::Error::source(&err));
    assert!(chain.contains("postCreateCommand"), "{chain}");
    assert!(w.warren.store().environment("broken").unwrap().is_none());
}

#[tokio::test]
async fn ls_reconciles_with_the_engine() {
    let w = world(DEVCONTAINER);
    let rec = w.create("ghost").await;
    w.create("alive").await;
    w.fake
        .state()
        .containers
        .remove(rec.container_id.as_deref().unwrap());
    // A container of this root that warren does not know.
    let mut labels = std::collections::BTreeMap::new();
    labels.insert("warren.managed".to_string(), "true".to_string());
    labels.insert("warren.root".to_string(), w.warren.root_id());
    labels.insert("warren.name".to_string(), "stray".to_string());
    w.fake.state().containers.insert(
        "stray000".into(),
        FakeContainer {
            spec: warren_runtime::CreateSpec {
                container_name: "warren-stray".into(),
                labels,
                ..Default::default()
            },
            state: ContainerState::Running,
        },
    );
    let listing = w.warren.ls().await.unwrap();
    let state = |n: &str| {
        listing
            .environments
            .iter()
            .find(|e| e.name == n)
            .map(|e| e.state)
    };
    assert_eq!(state("ghost"), Some(EnvState::Gone));
    assert_eq!(state("alive"), Some(EnvState::Running));
    assert!(w.warren.store().routes_of("ghost").unwrap().is_empty());
    assert_eq!(listing.orphans.len(), 1);
    assert_eq!(listing.orphans[0].name, "stray");
}

#[tokio::test]
async fn start_creates_a_gone_container_again() {
    let w = world(DEVCONTAINER);
    let rec = w.create("phoenix").await;
    let old = rec.container_id.unwrap();
    w.fake.state().containers.remove(&old);
    let view = w.warren.start("phoenix").await.unwrap();
    assert_eq!(view.state, EnvState::Running);
    let new = w.warren.record("phoenix").unwrap().container_id.unwrap();
    assert_ne!(new, old);
    assert_eq!(
        w.execs("make deps"),
        2,
        "a new container runs postCreate again"
    );
}

#[tokio::test]
async fn rm_refuses_a_dirty_tree_and_removes_everything_else() {
    let w = world(DEVCONTAINER);
    let rec = w.create("dirty").await;
    std::fs::write(rec.worktree.join("new.txt"), "work").unwrap();
    let err = w
        .warren
        .rm("dirty", RmOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, EnvError::Dirty { count: 1, .. }), "{err}");
    assert!(rec.worktree.join("new.txt").exists(), "nothing was lost");
    let out = w
        .warren
        .rm(
            "dirty",
            RmOptions {
                force: true,
                delete_branch: true,
            },
        )
        .await
        .unwrap();
    assert!(out.branch_deleted);
    assert!(w.fake.state().containers.is_empty());
    assert!(!rec.worktree.join("new.txt").exists());
    assert!(w.warren.store().environment("dirty").unwrap().is_none());
}

#[tokio::test]
async fn run_passes_the_exit_code_and_tears_down() {
    let w = world(DEVCONTAINER);
    w.fake.state().exit_codes.push(("exit-three".into(), 3));
    let spec = RunSpec {
        request: request(&w.repo, "once"),
        cmd: vec!["exit-three".into()],
        rm: true,
        ..RunSpec::default()
    };
    let out = w.warren.run(&spec).await.unwrap();
    assert_eq!(out.exit_code, 3);
    assert_eq!(out.teardown, Some(Teardown::Removed { branch_kept: false }));
    assert!(w.warren.store().environment("once").unwrap().is_none());
    assert!(!w.branch_exists("warren/once"));
    assert!(w.fake.state().containers.is_empty());
}
