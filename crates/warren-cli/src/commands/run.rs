//! `warren run [PATH] [--name N] [-e K=V] [-p SVC=PORT] [--rm] [--] [CMD…]`.

use std::io::IsTerminal;
use std::process::ExitCode;

use warren_env::{RunRequest, RunSpec, Teardown};

use crate::cli::RunArgs;
use crate::commands::{Ctx, UserError, exit_code, parse_env};
use crate::output::{plural, printer};

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

pub fn run(ctx: &Ctx, args: RunArgs) -> anyhow::Result<ExitCode> {
    let path = match &args.path {
        Some(p) => std::path::absolute(p)?,
        None => std::env::current_dir()?,
    };
    let publish = args
        .publish
        .iter()
        .map(|p| parse_publish(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let env = args
        .env
        .iter()
        .map(|e| parse_env(e, &ctx.host))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let runtime = super::runtime_flag(args.runtime.as_deref())?;
    let network = super::network_flag(args.network.as_deref())?;
    let spec = RunSpec {
        request: RunRequest {
            path,
            name: args.name,
            env_type: args.env_type,
            tool: args.tool,
            runtime,
            publish,
            env,
            devcontainer: args.config,
            network,
            issue_id: None,
        },
        cmd: args.cmd,
        rm: args.rm,
        stdin_tty: std::io::stdin().is_terminal(),
        stdout_tty: std::io::stdout().is_terminal(),
    };
    let warren = ctx.warren()?;
    let outcome = ctx.block_on(warren.run(&spec))??;
    ctx.reporter().clear();
    let rec = &outcome.record;
    let p = printer();
    if let Some(why) = &outcome.cannot_exec {
        p.err_line(&format!("warren: {why}"));
    }
    match &outcome.teardown {
        Some(Teardown::Removed { branch_kept: true }) => {
            p.message(&format!("kept branch {} (it has new commits)", rec.branch))
        }
        Some(Teardown::Removed { branch_kept: false }) | None => {}
        Some(Teardown::KeptDirty { changes }) => p.warning(&format!(
            "kept `{0}` (stopped): its worktree has {1}; `warren rm --force {0}` discards them",
            rec.name,
            plural(*changes, "uncommitted change", "uncommitted changes")
        )),
        Some(Teardown::Kept { reason }) => p.warning(&format!(
            "kept `{0}` (stopped): {reason}; `warren rm --force {0}` removes it anyway",
            rec.name
        )),
    }
    if args.json {
        p.json(&serde_json::json!({
            "name": rec.name,
            "worktree": rec.worktree,
            "branch": rec.branch,
            "exit_code": outcome.exit_code,
        }))?;
    }
    Ok(exit_code(outcome.exit_code))
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
}
