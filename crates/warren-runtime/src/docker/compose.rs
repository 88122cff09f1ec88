//! Docker Compose environments: the environment is one service (its main
//! container) of a compose project of its own, brought up with the compose
//! CLI the host has (`docker compose`, else Debian's `docker-compose`).
//!
//! The environment layer writes the project's file (under the warren root)
//! and names it in [`ComposeProject`]; here the project is created, started,
//! stopped and taken down. The main container carries the project's
//! coordinates as labels ([`ComposeProject::labels`]), so `start`, `stop` and
//! `remove`, which get only its id, act on the whole project.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bollard::models::ContainerUpdateBody;
use bollard::query_parameters as qp;

use super::DockerRuntime;
use crate::{CreateSpec, Result, RuntimeError};

const PROJECT: &str = "warren.compose.project";
const FILE: &str = "warren.compose.file";
const DIRECTORY: &str = "warren.compose.directory";
const SERVICE: &str = "warren.compose.service";
const RUN_SERVICES: &str = "warren.compose.run-services";
const SHUTDOWN: &str = "warren.compose.shutdown";

/// The compose engine's own label of a container's project.
pub const PROJECT_LABEL: &str = "com.docker.compose.project";
const SERVICE_LABEL: &str = "com.docker.compose.service";

/// What `stop` does (devcontainer `shutdownAction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Shutdown {
    /// Every service of the project stops (the default for compose).
    #[default]
    StopCompose,
    /// Only the main service's container stops.
    StopContainer,
    /// Nothing stops; `rm` still takes the project down.
    None,
}

impl Shutdown {
    fn as_str(self) -> &'static str {
        match self {
            Shutdown::StopCompose => "stopCompose",
            Shutdown::StopContainer => "stopContainer",
            Shutdown::None => "none",
        }
    }
}

/// One environment's compose project.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ComposeProject {
    /// `-p`: unique per environment (and warren root).
    pub project: String,
    /// The project's file as warren wrote it: the only `-f`.
    pub file: PathBuf,
    /// `--project-directory`: the folder of the first configured compose file
    /// (its `.env` is read from there).
    pub directory: PathBuf,
    /// The service the environment is.
    pub service: String,
    /// The services to start with it (empty: every service).
    pub run_services: Vec<String>,
    pub shutdown: Shutdown,
}

impl ComposeProject {
    /// Labels of the main service that name its project.
    pub fn labels(&self) -> Vec<(String, String)> {
        [
            (PROJECT, self.project.clone()),
            (FILE, self.file.to_string_lossy().into_owned()),
            (DIRECTORY, self.directory.to_string_lossy().into_owned()),
            (SERVICE, self.service.clone()),
            (RUN_SERVICES, self.run_services.join(",")),
            (SHUTDOWN, self.shutdown.as_str().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// The project a container belongs to, from its labels.
    fn from_labels(labels: &std::collections::HashMap<String, String>) -> Option<ComposeProject> {
        let get = |k: &str| labels.get(k).cloned();
        Some(ComposeProject {
            project: get(PROJECT)?,
            file: get(FILE)?.into(),
            directory: get(DIRECTORY)?.into(),
            service: get(SERVICE)?,
            run_services: get(RUN_SERVICES)
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            shutdown: match get(SHUTDOWN).as_deref() {
                Some("none") => Shutdown::None,
                Some("stopContainer") => Shutdown::StopContainer,
                _ => Shutdown::StopCompose,
            },
        })
    }

    /// `up` arguments naming what to start: the service and `runServices`.
    fn services(&self) -> Vec<String> {
        if self.run_services.is_empty() {
            return Vec::new();
        }
        let mut out = self.run_services.clone();
        if !out.contains(&self.service) {
            out.push(self.service.clone());
        }
        out
    }
}

/// The compose CLI found on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeCli {
    /// `["docker", "compose"]` or `["docker-compose"]`.
    argv: Vec<String>,
    /// What `version` printed (first line).
    pub version: String,
}

impl ComposeCli {
    /// `docker compose` if the docker CLI has it, else `docker-compose`; found
    /// once per process.
    pub fn detect() -> Result<ComposeCli> {
        static FOUND: OnceLock<std::result::Result<ComposeCli, String>> = OnceLock::new();
        FOUND
            .get_or_init(|| {
                for argv in [&["docker", "compose"][..], &["docker-compose"][..]] {
                    let out = std::process::Command::new(argv[0])
                        .args(&argv[1..])
                        .arg("version")
                        .stdin(std::process::Stdio::null())
                        .output();
                    if let Ok(out) = out
                        && out.status.success()
                    {
                        let text = String::from_utf8_lossy(&out.stdout);
                        return Ok(ComposeCli {
                            argv: argv.iter().map(|s| s.to_string()).collect(),
                            version: text.lines().next().unwrap_or_default().trim().to_string(),
                        });
                    }
                }
                Err("no Docker Compose CLI: neither `docker compose` nor `docker-compose` runs here (Debian: `apt-get install docker-compose`)".to_string())
            })
            .clone()
            .map_err(RuntimeError::Other)
    }

    /// Whether this is Compose v1 (Debian's `docker-compose` 1.29: "docker-compose
    /// version 1.29.2, build unknown"), which rejects newer compose file
    /// spellings; v2 prints "Docker Compose version v2.24.5".
    pub fn is_v1(&self) -> bool {
        major_version(&self.version) == Some(1)
    }

    /// How it is run, for messages (`docker compose`).
    pub fn name(&self) -> String {
        self.argv.join(" ")
    }

    /// Runs `compose -p PROJECT --project-directory DIR -f FILE… ARGS`;
    /// stdout on success, else an error with what compose said.
    pub async fn run(
        &self,
        project: &str,
        directory: &Path,
        files: &[PathBuf],
        args: &[&str],
    ) -> Result<String> {
        let mut cmd = tokio::process::Command::new(&self.argv[0]);
        cmd.args(&self.argv[1..])
            .arg("-p")
            .arg(project)
            .arg("--project-directory")
            .arg(directory);
        for f in files {
            cmd.arg("-f").arg(f);
        }
        cmd.args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        tracing::debug!(?cmd, "compose");
        let out = cmd
            .output()
            .await
            .map_err(|e| RuntimeError::Other(format!("cannot run `{}`: {e}", self.name())))?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .rev()
            .take(8)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        Err(RuntimeError::Other(format!(
            "`{} {}` failed ({}): {}",
            self.name(),
            args.first().copied().unwrap_or_default(),
            out.status,
            tail.join("\n")
        )))
    }

    /// The merged configuration of `files` as compose prints it (`config`):
    /// variables filled in, paths absolute.
    pub async fn config(
        &self,
        project: &str,
        directory: &Path,
        files: &[PathBuf],
    ) -> Result<String> {
        self.run(project, directory, files, &["config"]).await
    }

    async fn project(&self, p: &ComposeProject, args: &[&str]) -> Result<String> {
        self.run(
            &p.project,
            &p.directory,
            std::slice::from_ref(&p.file),
            args,
        )
        .await
    }

    /// Takes the whole project down: containers, networks, volumes, and the
    /// images compose built for it (named after the project, so no other
    /// environment uses them).
    pub async fn down(&self, p: &ComposeProject) -> Result<()> {
        self.project(
            p,
            &[
                "down",
                "-v",
                "--remove-orphans",
                "--rmi",
                "local",
                "-t",
                "10",
            ],
        )
        .await
        .map(drop)
    }
}

impl DockerRuntime {
    /// The project of container `id`, when it is a compose environment's
    /// main container. `Ok(None)` also when the engine does not know `id`.
    pub(super) async fn compose_of(&self, id: &str) -> Result<Option<ComposeProject>> {
        match self
            .docker
            .inspect_container(id, None::<qp::InspectContainerOptions>)
            .await
        {
            Ok(r) => Ok(r
                .config
                .and_then(|c| c.labels)
                .and_then(|l| ComposeProject::from_labels(&l))),
            Err(e) if super::status(&e) == Some(404) => Ok(None),
            Err(e) => Err(super::engine("inspecting the container", e)),
        }
    }

    /// Creates (does not start) the project's containers and returns the main
    /// one's id, with warren's resource limits applied to it. A failure takes
    /// down what was made.
    pub(super) async fn compose_create(
        &self,
        spec: &CreateSpec,
        p: &ComposeProject,
    ) -> Result<String> {
        let cli = ComposeCli::detect()?;
        let mut args = vec!["up", "--no-start"];
        let services = p.services();
        args.extend(services.iter().map(String::as_str));
        let made = async {
            cli.project(p, &args).await?;
            let id = self.compose_container(p).await?.ok_or_else(|| {
                RuntimeError::Other(format!(
                    "`{} up` made no container for service `{}`",
                    cli.name(),
                    p.service
                ))
            })?;
            self.limit(&id, spec).await?;
            Ok::<_, RuntimeError>(id)
        };
        match made.await {
            Ok(id) => Ok(id),
            Err(e) => {
                let _ = cli.down(p).await;
                Err(e)
            }
        }
    }

    /// The main service's container.
    async fn compose_container(&self, p: &ComposeProject) -> Result<Option<String>> {
        let found = crate::Runtime::list(
            self,
            &[(PROJECT_LABEL, &p.project), (SERVICE_LABEL, &p.service)],
        )
        .await?;
        Ok(found.into_iter().next().map(|c| c.id))
    }

    /// Memory (no extra swap), CPUs and pids of the main container: compose
    /// files cannot say them in every format version, the engine's update can.
    async fn limit(&self, id: &str, spec: &CreateSpec) -> Result<()> {
        let r = &spec.resources;
        let bytes = |v: Option<u64>| v.and_then(|b| i64::try_from(b).ok());
        let body = ContainerUpdateBody {
            memory: bytes(r.memory),
            memory_swap: bytes(r.memory),
            nano_cpus: r
                .millicpus
                .and_then(|m| m.checked_mul(1_000_000))
                .and_then(|n| i64::try_from(n).ok()),
            pids_limit: bytes(r.pids),
            ..Default::default()
        };
        self.docker
            .update_container(id, body)
            .await
            .map_err(|e| super::engine("setting the container's resource limits", e))
    }

    /// Starts the project (the services it starts with): `up -d`, never
    /// recreating the main container (its id is the environment's).
    pub(super) async fn compose_start(&self, p: &ComposeProject) -> Result<()> {
        let cli = ComposeCli::detect()?;
        let mut args = vec!["up", "-d", "--no-recreate"];
        let services = p.services();
        args.extend(services.iter().map(String::as_str));
        cli.project(p, &args).await.map(drop)
    }

    /// Stops what `shutdownAction` says.
    pub(super) async fn compose_stop(
        &self,
        id: &str,
        p: &ComposeProject,
        timeout: std::time::Duration,
    ) -> Result<()> {
        match p.shutdown {
            Shutdown::None => Ok(()),
            Shutdown::StopContainer => self.stop_container(id, timeout).await,
            Shutdown::StopCompose => {
                let cli = ComposeCli::detect()?;
                let t = timeout.as_secs().to_string();
                cli.project(p, &["stop", "-t", &t]).await.map(drop)
            }
        }
    }

    /// Takes the project down.
    pub(super) async fn compose_remove(&self, p: &ComposeProject) -> Result<()> {
        ComposeCli::detect()?.down(p).await
    }
}

/// The major version in what `compose version` printed: its first word
/// that is a version number (`1.29.2,`, `v2.24.5`).
fn major_version(version: &str) -> Option<u32> {
    version.split_whitespace().find_map(|w| {
        let w = w.strip_prefix('v').unwrap_or(w);
        let (major, _) = w.split_once('.')?;
        major.parse().ok()
    })
}

/// The network owner of a container whose `NetworkMode` is another
/// container's (`container:<id>`, compose's `network_mode: service:…`):
/// its ports are published there.
pub(super) fn network_owner(mode: Option<&str>) -> Option<&str> {
    mode?.strip_prefix("container:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_told_apart() {
        assert_eq!(
            major_version("docker-compose version 1.29.2, build unknown"),
            Some(1)
        );
        assert_eq!(major_version("Docker Compose version v2.24.5"), Some(2));
        assert_eq!(
            major_version("Docker Compose version 2.20.2+ds1-0ubuntu1"),
            Some(2)
        );
        assert_eq!(major_version("Docker Compose version dev"), None);
    }

    #[test]
    fn a_project_survives_its_labels() {
        let p = ComposeProject {
            project: "warren-abc123-otter".into(),
            file: "/root/compose/otter/compose.yml".into(),
            directory: "/repo/.devcontainer".into(),
            service: "app".into(),
            run_services: vec!["db".into()],
            shutdown: Shutdown::None,
        };
        let labels = p.labels().into_iter().collect();
        assert_eq!(ComposeProject::from_labels(&labels), Some(p.clone()));
        assert_eq!(p.services(), vec!["db".to_string(), "app".to_string()]);
        let all = ComposeProject {
            run_services: Vec::new(),
            ..p
        };
        assert!(all.services().is_empty(), "every service");
    }
}
