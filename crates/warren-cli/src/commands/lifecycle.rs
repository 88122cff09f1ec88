//! `warren stop`, `warren start`, `warren restart`.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::{NameArg, NamesArgs};
use crate::commands::Ctx;
use crate::printer::{Style, message, paint, stderr_color};

fn each(
    ctx: &Ctx,
    names: &[String],
    verb: &str,
    f: impl AsyncFnMut(&warren_env::Warren, &str) -> Result<(), warren_env::EnvError>,
) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren(false)?;
    let mut f = f;
    let mut failed = None;
    for name in names {
        match ctx.block_on(f(&warren, name))? {
            Ok(()) => message(&format!(
                "{} {name}",
                paint(stderr_color(), Style::Green, verb)
            )),
            Err(e) => {
                let err = anyhow::Error::new(e)
                    .context(format!("cannot {} `{name}`", verb.to_lowercase()));
                if names.len() == 1 {
                    return Err(err);
                }
                crate::report::print_error(&err);
                failed = Some(());
            }
        }
    }
    Ok(if failed.is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn stop(ctx: &Ctx, args: NamesArgs) -> anyhow::Result<ExitCode> {
    each(ctx, &args.names, "Stopped", async |w, n| w.stop(n).await)
}

pub fn start(ctx: &Ctx, args: NamesArgs) -> anyhow::Result<ExitCode> {
    let code = each(ctx, &args.names, "Started", async |w, n| w.start(n).await)?;
    ensure_proxy_if_routed(ctx);
    Ok(code)
}

/// Starts the proxy when any environment has routes.
fn ensure_proxy_if_routed(ctx: &Ctx) {
    let routed = warren_store::Store::open(&ctx.root)
        .and_then(|s| s.routes())
        .map(|r| !r.is_empty())
        .unwrap_or(false);
    if routed {
        crate::commands::ensure_proxy(ctx);
    }
}

pub fn restart(ctx: &Ctx, args: NameArg) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren(false)?;
    ctx.block_on(async {
        warren.stop(&args.name).await?;
        warren.start(&args.name).await
    })?
    .with_context(|| format!("cannot restart `{}`", args.name))?;
    ensure_proxy_if_routed(ctx);
    message(&format!(
        "{} {}",
        paint(stderr_color(), Style::Green, "Restarted"),
        args.name
    ));
    Ok(ExitCode::SUCCESS)
}
