//! `warren new TYPE [NAME]`: create and start an environment of a configured type,
//! with its sessions, and return (attach with `warren attach`).

use std::process::ExitCode;

use anyhow::Context as _;
use warren_env::RunRequest;

use crate::cli::NewArgs;
use crate::commands::Ctx;
use crate::output::{Stream, Style, printer};

pub fn new(ctx: &Ctx, args: NewArgs) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren()?;
    let runtime = super::runtime_flag(args.runtime.as_deref())?;
    let network = super::network_flag(args.network.as_deref())?;
    let req = RunRequest {
        path: std::env::current_dir()?,
        name: args.name.clone(),
        env_type: Some(args.env_type.clone()),
        runtime,
        network,
        ..RunRequest::default()
    };
    let rec = ctx
        .block_on(async {
            let plan = warren.plan(&req).await?;
            warren.create(&plan.value).await
        })?
        .with_context(|| format!("cannot create a `{}` environment", args.env_type))?;
    let view = warren.brief_view_of(&rec.name)?;
    ctx.reporter().clear();
    let p = printer();
    p.status("Created", &format!("{} ({})", rec.name, args.env_type));
    for s in &view.services {
        p.message(&format!(
            "  {:<10} {}",
            s.name,
            p.paint(Stream::Err, Style::Cyan, &s.url)
        ));
    }
    for s in &view.sessions {
        p.message(&format!(
            "  session {:<10} warren attach {} --session {}",
            s.name, rec.name, s.name
        ));
    }
    p.out(&format!("{}\n", rec.name));
    Ok(ExitCode::SUCCESS)
}
