//! A [`Runtime`] that keeps its containers in memory, for unit tests of the
//! environment service (create, start/stop, rm, ls) without an engine. It
//! records every command it is asked to run and can be told to fail a call.
//! The integration tests drive the real binary against the real engine.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use warren_core::RuntimeKind;
use warren_runtime::{
    ContainerInfo, ContainerState, CreateSpec, ExecIo, ExecSpec, ExitStatus, ImageSource, LogSink,
    PortBinding, ProgressSink, Result, Runtime, RuntimeError,
};

/// One container of the fake engine.
#[derive(Debug, Clone)]
pub struct FakeContainer {
    pub spec: CreateSpec,
    pub state: ContainerState,
}

/// What the fake engine holds and has been asked.
#[derive(Debug, Default)]
pub struct FakeState {
    pub containers: BTreeMap<String, FakeContainer>,
    /// Every command run, as `argv` joined by spaces.
    pub execs: Vec<String>,
    /// Every image asked for.
    pub images: Vec<String>,
    /// A call (`create`, `start`, `exec`) that fails next, once.
    pub fail_next: Option<&'static str>,
    /// Exit code of every exec whose command contains the key.
    pub exit_codes: Vec<(String, i64)>,
    next_id: u32,
}

/// The fake runtime; clones share one state.
#[derive(Debug, Clone, Default)]
pub struct FakeRuntime(Arc<Mutex<FakeState>>);

impl FakeRuntime {
    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fail(&self, call: &'static str) -> Result<()> {
        let mut s = self.state();
        if s.fail_next == Some(call) {
            s.fail_next = None;
            return Err(RuntimeError::Other(format!("fake {call} failure")));
        }
        Ok(())
    }

    fn with<T>(&self, id: &str, f: impl FnOnce(&mut FakeContainer) -> T) -> Result<T> {
        let mut s = self.state();
        s.containers
            .get_mut(id)
            .map(f)
            .ok_or_else(|| RuntimeError::NotFound(id.to_string()))
    }
}

fn info(id: &str, c: &FakeContainer) -> ContainerInfo {
    ContainerInfo {
        id: id.to_string(),
        name: c.spec.container_name.clone(),
        image: c.spec.image.clone(),
        state: c.state,
        labels: c.spec.labels.clone(),
        ports: c
            .spec
            .publish
            .iter()
            .map(|p| PortBinding {
                container_port: p.container_port,
                // The fake engine publishes port P on host port 40000 + P.
                host_port: Some(p.host_port.unwrap_or(40_000 + p.container_port % 20_000)),
                host_ip: None,
            })
            .collect(),
        env: c.spec.env.clone(),
        pid: None,
    }
}

#[async_trait]
impl Runtime for FakeRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Docker
    }

    async fn ensure_image(&self, image: &ImageSource, _: ProgressSink<'_>) -> Result<String> {
        let name = match image {
            ImageSource::Image(n) => n.clone(),
            ImageSource::Build(b) => b.tag.clone(),
        };
        self.state().images.push(name.clone());
        Ok(name)
    }

    async fn create(&self, spec: &CreateSpec) -> Result<String> {
        self.fail("create")?;
        let mut s = self.state();
        s.next_id += 1;
        let id = format!("fake{:08}", s.next_id);
        s.containers.insert(
            id.clone(),
            FakeContainer {
                spec: spec.clone(),
                state: ContainerState::Created,
            },
        );
        Ok(id)
    }

    async fn start(&self, id: &str) -> Result<()> {
        self.fail("start")?;
        self.with(id, |c| c.state = ContainerState::Running)
    }

    async fn exec(&self, id: &str, spec: &ExecSpec, io: ExecIo<'_>) -> Result<ExitStatus> {
        self.fail("exec")?;
        let running = self.with(id, |c| c.state.is_running())?;
        if !running {
            return Err(RuntimeError::Other(format!(
                "container `{id}` is not running"
            )));
        }
        let line = spec.cmd.join(" ");
        let code = {
            let mut s = self.state();
            s.execs.push(line.clone());
            s.exit_codes
                .iter()
                .find(|(k, _)| line.contains(k.as_str()))
                .map_or(0, |(_, c)| *c)
        };
        if let ExecIo::Capture(sink) = io {
            sink(
                warren_runtime::Stream::Stdout,
                format!("ran {line}\n").as_bytes(),
            );
        }
        Ok(ExitStatus { code })
    }

    async fn stop(&self, id: &str, _: Duration) -> Result<()> {
        self.with(id, |c| c.state = ContainerState::Exited)
    }

    async fn remove(&self, id: &str) -> Result<()> {
        self.state().containers.remove(id);
        Ok(())
    }

    async fn port_bindings(&self, id: &str) -> Result<Vec<PortBinding>> {
        let s = self.state();
        let c = s
            .containers
            .get(id)
            .ok_or_else(|| RuntimeError::NotFound(id.to_string()))?;
        Ok(info(id, c).ports)
    }

    async fn logs(&self, _: &str, _: bool, _: Option<usize>, _: LogSink<'_>) -> Result<()> {
        Ok(())
    }

    async fn inspect(&self, id: &str) -> Result<Option<ContainerInfo>> {
        Ok(self.state().containers.get(id).map(|c| info(id, c)))
    }

    async fn list(&self, labels: &[(&str, &str)]) -> Result<Vec<ContainerInfo>> {
        Ok(self
            .state()
            .containers
            .iter()
            .filter(|(_, c)| {
                labels
                    .iter()
                    .all(|(k, v)| c.spec.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(id, c)| info(id, c))
            .collect())
    }
}
