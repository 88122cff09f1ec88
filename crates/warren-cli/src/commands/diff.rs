//! `warren diff NAME [--stat|--name-only|--json] [-- PATHS]`.

use std::process::ExitCode;

use warren_env::review::DiffFormat;

use crate::cli::DiffArgs;
use crate::commands::Ctx;
use crate::output::{Stream, printer, sanitize};

pub fn diff(ctx: &Ctx, args: DiffArgs) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren()?;
    let p = printer();
    if args.json {
        let files = warren.diff_files(&args.name, &args.paths)?;
        p.json(&files)?;
        return Ok(ExitCode::SUCCESS);
    }
    let format = if args.stat {
        DiffFormat::Stat
    } else if args.name_only {
        DiffFormat::NameOnly
    } else {
        DiffFormat::Patch
    };
    let out = warren.diff(&args.name, format, p.color(Stream::Out), &args.paths)?;
    // The files' text is the environment's: no control sequence but colour reaches
    // the terminal.
    p.out(&sanitize(&String::from_utf8_lossy(&out)));
    Ok(ExitCode::SUCCESS)
}
