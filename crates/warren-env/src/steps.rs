//! Running lifecycle commands and hooks, inside an environment or on the host,
//! with each output line attributed to its step.
//!
//! Semantics follow the devcontainer spec: a string runs through `/bin/sh -c`,
//! an array is executed without a shell, an object runs its named entries in
//! parallel (each one's output buffered and shown whole, in declaration
//! order) and succeeds only if all succeed. A failing command stops the
//! sequence and fails the operation (the spec's rule).

use std::path::Path;

use futures_util::future::join_all;
use warren_runtime::{ExecIo, ExecSpec, Runtime, Stream};

use crate::reporter::{LineSplitter, Reporter};
use crate::spec::LifecycleCommand;

/// A lifecycle command or hook that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("`{step}` failed with exit code {code}")]
    Failed { step: String, code: i64 },
    #[error("`{step}` could not be run")]
    Runtime {
        step: String,
        #[source]
        source: warren_runtime::RuntimeError,
    },
    #[error("`{step}` could not be run: the user `{user}` does not exist in the container")]
    NoUser { step: String, user: String },
    #[error("`{step}` could not be run on the host")]
    Host {
        step: String,
        #[source]
        source: std::io::Error,
    },
}

impl StepError {
    /// Name of the step (and parallel entry) that failed.
    pub fn step(&self) -> &str {
        match self {
            StepError::Failed { step, .. }
            | StepError::Runtime { step, .. }
            | StepError::NoUser { step, .. }
            | StepError::Host { step, .. } => step,
        }
    }
}

/// Runs commands inside one environment.
pub struct InsideRunner<'a> {
    pub runtime: &'a dyn Runtime,
    pub id: &'a str,
    /// User, workdir and env applied to every command; its `cmd` goes
    /// before each command (see [`crate::Warren::exec_base`]).
    pub base: ExecSpec,
    pub reporter: &'a dyn Reporter,
}

impl InsideRunner<'_> {
    /// Runs one lifecycle step in any of its three forms.
    pub async fn run(&self, step: &str, cmd: &LifecycleCommand) -> Result<(), StepError> {
        if let LifecycleCommand::Sequence(cmds) = cmd {
            for c in cmds {
                Box::pin(self.run(step, c)).await?;
            }
            return Ok(());
        }
        self.reporter.step(step);
        match cmd {
            LifecycleCommand::Parallel(entries) => {
                let runs = entries.iter().map(|(name, entry)| async move {
                    let label = format!("{step}:{name}");
                    let mut lines: Vec<(Stream, String)> = Vec::new();
                    let res = match entry.argv() {
                        Some(argv) => self.exec_collect(&label, argv, &mut lines).await,
                        // Nested objects are not part of the spec.
                        None => Ok(0),
                    };
                    (label, lines, res)
                });
                let mut first_err = None;
                for (label, lines, res) in join_all(runs).await {
                    for (s, l) in &lines {
                        self.reporter.output(&label, *s, l);
                    }
                    let err = match res {
                        Ok(0) => None,
                        Ok(code) => Some(StepError::Failed { step: label, code }),
                        Err(e) => Some(e),
                    };
                    if first_err.is_none() {
                        first_err = err;
                    }
                }
                first_err.map_or(Ok(()), Err)
            }
            other => {
                let argv = other.argv().unwrap_or_default();
                let code = self.exec_streaming(step, argv).await?;
                if code == 0 {
                    Ok(())
                } else {
                    Err(StepError::Failed {
                        step: step.to_string(),
                        code,
                    })
                }
            }
        }
    }

    /// Runs a shell command (a `.warren.yaml` hook).
    pub async fn run_shell(&self, step: &str, script: &str) -> Result<(), StepError> {
        self.run(step, &LifecycleCommand::Shell(script.to_string()))
            .await
    }

    async fn exec_streaming(&self, step: &str, argv: Vec<String>) -> Result<i64, StepError> {
        let mut out = LineSplitter::default();
        let mut err = LineSplitter::default();
        let reporter = self.reporter;
        let mut no_user = false;
        let mut sink = |s: Stream, bytes: &[u8]| {
            let splitter = if s == Stream::Stdout {
                &mut out
            } else {
                &mut err
            };
            splitter.feed(bytes, |l| {
                no_user |= is_no_user(l);
                reporter.output(step, s, l)
            });
        };
        let spec = ExecSpec {
            cmd: [self.base.cmd.clone(), argv].concat(),
            ..self.base.clone()
        };
        let res = self
            .runtime
            .exec(self.id, &spec, ExecIo::Capture(&mut sink))
            .await;
        out.finish(|l| reporter.output(step, Stream::Stdout, l));
        err.finish(|l| reporter.output(step, Stream::Stderr, l));
        self.check_user(step, no_user, res)
    }

    /// The exit code, or why the command could not run: a `remoteUser` the
    /// image does not have shows as the engine's "unable to find user" and
    /// exit code 126, which says nothing about the command itself.
    fn check_user(
        &self,
        step: &str,
        no_user: bool,
        res: Result<warren_runtime::ExitStatus, warren_runtime::RuntimeError>,
    ) -> Result<i64, StepError> {
        let no_user = match &res {
            Ok(st) => no_user && st.code == 126,
            Err(e) => is_no_user(&e.to_string()),
        };
        if no_user && let Some(user) = &self.base.user {
            return Err(StepError::NoUser {
                step: step.to_string(),
                user: user.clone(),
            });
        }
        res.map(|s| s.code).map_err(|source| StepError::Runtime {
            step: step.to_string(),
            source,
        })
    }

    async fn exec_collect(
        &self,
        step: &str,
        argv: Vec<String>,
        lines: &mut Vec<(Stream, String)>,
    ) -> Result<i64, StepError> {
        let mut out = LineSplitter::default();
        let mut err = LineSplitter::default();
        let mut collected: Vec<(Stream, String)> = Vec::new();
        {
            let mut sink = |s: Stream, bytes: &[u8]| {
                let splitter = if s == Stream::Stdout {
                    &mut out
                } else {
                    &mut err
                };
                splitter.feed(bytes, |l| collected.push((s, l.to_string())));
            };
            let spec = ExecSpec {
                cmd: [self.base.cmd.clone(), argv].concat(),
                ..self.base.clone()
            };
            let res = self
                .runtime
                .exec(self.id, &spec, ExecIo::Capture(&mut sink))
                .await;
            out.finish(|l| collected.push((Stream::Stdout, l.to_string())));
            err.finish(|l| collected.push((Stream::Stderr, l.to_string())));
            let no_user = collected.iter().any(|(_, l)| is_no_user(l));
            lines.extend(collected);
            self.check_user(step, no_user, res)
        }
    }
}

/// The engine's (Docker's, Podman's) message for an exec as a user the
/// container's passwd does not have.
fn is_no_user(line: &str) -> bool {
    line.contains("unable to find user") || line.contains("no matching entries in passwd file")
}

/// Runs a command on the host (initializeCommand, `pre_start`/`post_stop`
/// hooks) in `dir`, streaming its output to the reporter.
pub async fn run_on_host(
    step: &str,
    cmd: &LifecycleCommand,
    dir: &Path,
    env: &[(String, String)],
    reporter: &dyn Reporter,
) -> Result<(), StepError> {
    if let LifecycleCommand::Sequence(cmds) = cmd {
        for c in cmds {
            Box::pin(run_on_host(step, c, dir, env, reporter)).await?;
        }
        return Ok(());
    }
    reporter.step(step);
    match cmd {
        LifecycleCommand::Parallel(entries) => {
            let runs = entries.iter().map(|(name, entry)| async move {
                let label = format!("{step}:{name}");
                let res = host_output(&label, entry, dir, env).await;
                (label, res)
            });
            let mut first_err = None;
            for (label, res) in join_all(runs).await {
                match res {
                    Ok((code, lines)) => {
                        for (s, l) in &lines {
                            reporter.output(&label, *s, l);
                        }
                        if code != 0 && first_err.is_none() {
                            first_err = Some(StepError::Failed { step: label, code });
                        }
                    }
                    Err(e) => {
                        if first_err.is_none() {
                            first_err = Some(e);
                        }
                    }
                }
            }
            first_err.map_or(Ok(()), Err)
        }
        other => {
            let (code, lines) = host_output(step, other, dir, env).await?;
            for (s, l) in &lines {
                reporter.output(step, *s, l);
            }
            if code == 0 {
                Ok(())
            } else {
                Err(StepError::Failed {
                    step: step.to_string(),
                    code,
                })
            }
        }
    }
}

async fn host_output(
    step: &str,
    cmd: &LifecycleCommand,
    dir: &Path,
    env: &[(String, String)],
) -> Result<(i64, Vec<(Stream, String)>), StepError> {
    let argv = cmd.argv().unwrap_or_default();
    let Some((program, args)) = argv.split_first() else {
        return Ok((0, Vec::new()));
    };
    let host_err = |source| StepError::Host {
        step: step.to_string(),
        source,
    };
    let out = tokio::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(host_err)?;
    let mut lines = Vec::new();
    for (s, bytes) in [(Stream::Stdout, &out.stdout), (Stream::Stderr, &out.stderr)] {
        let mut sp = LineSplitter::default();
        sp.feed(bytes, |l| lines.push((s, l.to_string())));
        sp.finish(|l| lines.push((s, l.to_string())));
    }
    let code = out.status.code().map(i64::from).unwrap_or_else(|| {
        use std::os::unix::process::ExitStatusExt;
        128 + i64::from(out.status.signal().unwrap_or(0))
    });
    Ok((code, lines))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Collect(Mutex<Vec<String>>);

    impl Reporter for Collect {
        fn step(&self, s: &str) {
            self.0.lock().unwrap().push(format!("step {s}"));
        }
        fn progress(&self, _: &warren_runtime::Progress) {}
        fn output(&self, step: &str, _: Stream, line: &str) {
            self.0.lock().unwrap().push(format!("[{step}] {line}"));
        }
        fn warn(&self, _: &str) {}
        fn info(&self, _: &str) {}
    }

    #[tokio::test]
    async fn host_commands_in_all_forms() {
        let dir = tempfile::tempdir().unwrap();
        let r = Collect::default();
        run_on_host(
            "init",
            &LifecycleCommand::Shell("echo hi; echo err >&2".into()),
            dir.path(),
            &[],
            &r,
        )
        .await
        .unwrap();
        run_on_host(
            "arr",
            &LifecycleCommand::Exec(vec!["echo".into(), "$HOME".into()]),
            dir.path(),
            &[],
            &r,
        )
        .await
        .unwrap();
        let par = LifecycleCommand::Parallel(vec![
            (
                "a".into(),
                LifecycleCommand::Shell("sleep 0.2; echo A".into()),
            ),
            ("b".into(), LifecycleCommand::Shell("echo B; exit 3".into())),
        ]);
        let err = run_on_host("par", &par, dir.path(), &[], &r)
            .await
            .unwrap_err();
        assert_eq!(err.step(), "par:b");
        assert!(err.to_string().contains("exit code 3"), "{err}");
        let lines = r.0.lock().unwrap().clone();
        assert!(lines.contains(&"[init] hi".to_string()));
        assert!(lines.contains(&"[init] err".to_string()));
        assert!(
            lines.contains(&"[arr] $HOME".to_string()),
            "arrays run without a shell: {lines:?}"
        );
        let a = lines.iter().position(|l| l == "[par:a] A").unwrap();
        let b = lines.iter().position(|l| l == "[par:b] B").unwrap();
        assert!(
            a < b,
            "parallel output is shown per entry in declaration order"
        );
    }
}
