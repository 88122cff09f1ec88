//! `warren net log NAME [-f] [--json]`: the environment's egress log, from the store.

use std::process::ExitCode;
use std::time::Duration;

use crate::cli::{NetArgs, NetCommand, NetLogArgs};
use crate::commands::Ctx;
use crate::output::{printer, sanitize};

pub fn net(ctx: &Ctx, args: NetArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        NetCommand::Log(a) => log(ctx, a),
    }
}

fn log(ctx: &Ctx, args: NetLogArgs) -> anyhow::Result<ExitCode> {
    let warren = ctx.warren()?;
    // Known environment (a clear error otherwise).
    warren.record(&args.name)?;
    let store = warren.store();
    let mut after = 0i64;
    loop {
        let rows = store.net_log(&args.name, after, 1000)?;
        for r in &rows {
            after = r.id;
            if args.json {
                printer().out(&format!("{}\n", serde_json::to_string(r)?));
            } else {
                printer().out(&format!("{}\n", format_row(r)));
            }
        }
        if !args.follow {
            break;
        }
        if rows.is_empty() {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `2026-12-02T10:00:01.123Z  CONNECT api.anthropic.com:443  200  ↑1.2 KB ↓3.4 KB  allowed`.
fn format_row(r: &warren_store::NetLogRow) -> String {
    let time = warren_core::time::rfc3339_ms(r.time_ms);
    let target = match &r.path {
        Some(p) => format!("{}:{}{}", r.host, r.port, p),
        None => format!("{}:{}", r.host, r.port),
    };
    let verdict = if r.allowed { "allowed" } else { "denied" };
    let mut line = format!(
        "{time}  {:<7} {target}  {}  up {} down {}  {verdict}",
        r.method, r.status, r.bytes_up, r.bytes_down
    );
    if let Some(g) = &r.grant {
        line.push_str(&format!("  grant={g}"));
    }
    if let Some(why) = &r.reason {
        line.push_str(&format!("  ({why})"));
    }
    // Host names and paths came from inside the environment.
    sanitize(&line)
}
