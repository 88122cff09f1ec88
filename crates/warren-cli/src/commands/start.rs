//! `warren start NAME…`.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::NamesArgs;
use crate::commands::{Ctx, each_name};
use crate::output::{Stream, Style, printer};

pub fn start(ctx: &Ctx, args: NamesArgs) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren()?;
    each_name(&args.names, |name| {
        let view = ctx
            .block_on(warren.start(name))?
            .with_context(|| format!("cannot start `{name}`"))?;
        ctx.reporter().clear();
        let p = printer();
        p.status("Started", name);
        for s in &view.services {
            p.message(&format!(
                "  {:<10} {}",
                s.name,
                p.paint(Stream::Err, Style::Cyan, &s.url)
            ));
        }
        Ok(())
    })
}
