//! `warren run [PATH] [--name N] [-e K=V] [-p SVC=PORT] [--rm] [--] [CMD…]`.

use std::io::IsTerminal;
use std::process::ExitCode;

use warren_config::RuntimeChoice;
use warren_core::EnvState;
use warren_env::git::{WorktreeStatus, worktree_status};
use warren_env::resolve::RunRequest;
use warren_env::snapshot::TreeSnapshot;
use warren_env::{RmOptions, Warren};
use warren_runtime::ExecIo;

use crate::cli::RunArgs;
use crate::commands::{Ctx, UserError, exit_code};
use crate::printer::{Style, message, paint, stderr_color, tilde};

/// `-p web=3000`, or `-p 3000` (a service named by its number).
pub fn parse_publish(s: &str) -> anyhow::Result<(String, u16)> {
    let bad = || {
        UserError::msg(
            format!("invalid `-p {s}`"),
            Some("use `-p SERVICE=PORT` (e.g. `-p web=3000`) or `-p PORT`; host ports are assigned by the engine".into()),
        )
    };
    let (name, port) = match s.split_once('=') {
        Some((n, p)) => (Some(n.to_string()), p),
        None => (None, s),
    };
    let port: u16 = port.parse().map_err(|_| bad())?;
    if port == 0 {
        return Err(bad());
    }
    let name = name.unwrap_or_else(|| port.to_string());
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(bad());
    }
    Ok((name.to_ascii_lowercase(), port))
}

/// `-e KEY=VALUE`, or `-e KEY` to pass the host's value through.
pub fn parse_env(s: &str, host: &warren_env::HostEnv) -> anyhow::Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        None if !s.is_empty() => Ok((s.to_string(), host.get(s).unwrap_or_default().to_string())),
        _ => Err(UserError::msg(
            format!("invalid `-e {s}`"),
            Some("use `-e KEY=VALUE` or `-e KEY`".into()),
        )),
    }
}

/// The interactive program when no CMD is given: the tool, else a login shell.
fn interactive_command(tool: Option<&str>) -> Vec<String> {
    match tool {
        Some(t) => vec![
            warren_core::tools::tool(t)
                .map(|i| i.binary)
                .unwrap_or(t)
                .to_string(),
        ],
        None => vec![
            "/bin/sh".into(),
            "-c".into(),
            "if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi".into(),
        ],
    }
}

pub fn run(ctx: &Ctx, args: RunArgs) -> anyhow::Result<ExitCode> {
    let path = match &args.path {
        Some(p) => std::path::absolute(p)?,
        None => std::env::current_dir()?,
    };
    let mut publish = Vec::new();
    for p in &args.publish {
        publish.push(parse_publish(p)?);
    }
    let mut env = Vec::new();
    for e in &args.env {
        env.push(parse_env(e, &ctx.host)?);
    }
    let runtime = match &args.runtime {
        Some(r) => Some(r.parse::<RuntimeChoice>().map_err(|e| {
            UserError::msg(
                e,
                Some("use `--runtime docker`, `--runtime sandbox` or `--runtime host`".into()),
            )
        })?),
        None => None,
    };
    let req = RunRequest {
        path,
        name: args.name.clone(),
        env_type: args.env_type.clone(),
        tool: args.tool.clone(),
        runtime,
        publish,
        env,
        devcontainer: args.config.clone(),
    };
    let warren = ctx.warren(false)?;
    ctx.block_on(run_async(ctx, &warren, req, args))?
}

async fn run_async(
    ctx: &Ctx,
    warren: &Warren,
    req: RunRequest,
    args: RunArgs,
) -> anyhow::Result<ExitCode> {
    let mut plan = warren.plan(&req).await?;
    let stdin_tty = std::io::stdin().is_terminal();
    let tty_ok = stdin_tty && std::io::stdout().is_terminal();
    // `run --rm -- CMD` with nothing to do before CMD: CMD becomes the
    // container's own process, like `docker run --rm` (one engine round
    // trip fewer than start + exec).
    let oneshot = args.rm && !args.cmd.is_empty() && !stdin_tty && plan.value.can_run_oneshot();
    if oneshot {
        plan.value.oneshot = Some(args.cmd.clone());
    }
    // One command and gone: no private /tmp or $HOME on disk to create and
    // delete again (the sandbox mounts tmpfs instead).
    plan.value.scratch = args.rm && !args.cmd.is_empty() && plan.value.single_command();
    let c = stderr_color();
    for w in &plan.warnings {
        message(&w.render(c));
    }
    let rec = warren.create(&plan.value).await?;
    let name = rec.name.clone();
    // A worktree warren just made, with nothing run in it yet, is clean: if
    // it is the same after CMD, `rm` needs no `git status` to know.
    let snapshot = (plan.value.scratch
        && plan.value.initialize.is_none()
        && plan.value.hooks.pre_start.is_empty())
    .then(|| {
        let admin = warren_env::gitfs::read_gitdir_file(&rec.worktree.join(".git"))?;
        TreeSnapshot::take(&[&rec.worktree, &admin])
    })
    .flatten();
    message(&format!(
        "{} {} ({}) on {} in {}",
        paint(c, Style::Green, "Created"),
        paint(c, Style::Cyan, &name),
        rec.runtime,
        rec.branch,
        paint(c, Style::Cyan, &tilde(&rec.worktree.to_string_lossy())),
    ));
    if !plan.value.services.is_empty() {
        crate::commands::ensure_proxy(ctx);
    }
    if !plan.value.services.is_empty() {
        let listing = warren.ls().await?;
        if let Some(view) = listing.environments.iter().find(|e| e.name == name) {
            for s in &view.services {
                if let Some(url) = &s.url {
                    message(&format!("  {:<10} {}", s.name, paint(c, Style::Cyan, url)));
                }
            }
        }
    }

    let status = if oneshot {
        warren
            .run_oneshot(
                &name,
                ExecIo::Inherit {
                    tty: false,
                    stdin: false,
                },
            )
            .await?
    } else if args.cmd.is_empty() {
        warren.post_attach(&name).await?;
        let spec = Warren::spec_of(&rec)?;
        let cmd = interactive_command(spec.tool.as_deref());
        warren
            .exec(
                &name,
                cmd,
                ExecIo::Inherit {
                    tty: tty_ok,
                    stdin: true,
                },
            )
            .await?
    } else {
        warren
            .exec(
                &name,
                args.cmd.clone(),
                ExecIo::Inherit {
                    tty: tty_ok,
                    stdin: stdin_tty,
                },
            )
            .await?
    };

    if args.rm {
        // A branch with new commits is kept (it is the agent's work); one
        // without is deleted with the environment. A dirty worktree keeps
        // the whole environment, stopped.
        let rec = warren.record(&name)?;
        let has_commits = warren.has_new_commits(&rec);
        let opts = RmOptions {
            force: false,
            delete_branch: !has_commits,
        };
        // The environment ends either way (removed, or kept stopped), so
        // it stops while git looks at the worktree.
        let mut stopped = false;
        let status = if rec.state == EnvState::Running && rec.worktree.exists() {
            if let Some(snapshot) = snapshot {
                // Nothing of the environment may run while the worktree is
                // compared: stop first.
                warren.stop(&name).await?;
                stopped = true;
                Some(if snapshot.unchanged() {
                    Ok(WorktreeStatus::default())
                } else {
                    worktree_status(&rec.worktree)
                })
            } else {
                let worktree = rec.worktree.clone();
                let check = tokio::task::spawn_blocking(move || worktree_status(&worktree));
                let (stop, status) = tokio::join!(warren.stop(&name), check);
                stop?;
                stopped = true;
                status.ok()
            }
        } else {
            // A one-shot container has ended with its command.
            snapshot
                .is_some_and(|s| s.unchanged())
                .then(|| Ok(WorktreeStatus::default()))
        };
        match warren.rm_checked(&name, opts, status).await {
            Ok(_) if has_commits => {
                message(&format!("kept branch {} (it has new commits)", rec.branch))
            }
            Ok(_) => {}
            Err(warren_env::EnvError::Dirty { count, .. }) => {
                if !stopped {
                    warren.stop(&name).await?;
                }
                crate::printer::warning(&format!(
                    "kept `{name}` (stopped): its worktree has {count} uncommitted change(s); `warren rm --force {name}` discards them"
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    if args.json {
        crate::printer::out(&format!(
            "{}\n",
            serde_json::json!({"name": name, "worktree": rec.worktree, "branch": rec.branch, "exit_code": status.code})
        ));
    }
    Ok(exit_code(status.code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_forms() {
        assert_eq!(parse_publish("web=3000").unwrap(), ("web".into(), 3000));
        assert_eq!(parse_publish("3000").unwrap(), ("3000".into(), 3000));
        assert!(parse_publish("api=8081:80").is_err());
        assert!(parse_publish("web=x").is_err());
        assert!(parse_publish("we b=1").is_err());
        assert!(parse_publish("web=0").is_err());
    }

    #[test]
    fn env_forms() {
        let host = warren_env::HostEnv {
            vars: [("TOKEN".to_string(), "v".to_string())].into(),
        };
        assert_eq!(
            parse_env("A=1=2", &host).unwrap(),
            ("A".into(), "1=2".into())
        );
        assert_eq!(
            parse_env("TOKEN", &host).unwrap(),
            ("TOKEN".into(), "v".into())
        );
        assert!(parse_env("=x", &host).is_err());
    }
}
