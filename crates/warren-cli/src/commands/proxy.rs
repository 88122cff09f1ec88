//! `warren proxy [serve|status|stop]`.

use std::process::ExitCode;
use std::time::Duration;

use warren_proxy::ProxyStatus;

use crate::cli::{ProxyArgs, ProxyCommand};
use crate::commands::Ctx;
use crate::output::printer;

pub fn proxy(ctx: &Ctx, args: ProxyArgs) -> anyhow::Result<ExitCode> {
    let settings = ctx.settings()?;
    let root = &settings.root;
    let p = printer();
    match args.command.unwrap_or(ProxyCommand::Status { json: false }) {
        ProxyCommand::Serve => {
            ctx.init_server_log()?;
            warren_proxy::serve(root, &settings.global.proxy)?;
        }
        ProxyCommand::Status { json } => {
            let status = warren_proxy::status(root, &settings.global.proxy)?;
            if json {
                p.json(&status)?;
            } else {
                p.out(&status_text(&status));
            }
        }
        ProxyCommand::Stop { timeout } => {
            match warren_proxy::stop(root, Duration::from_secs(timeout))? {
                Some(info) => p.status(
                    "Stopped",
                    &format!("the proxy (pid {}, port {})", info.pid, info.port),
                ),
                None => p.message("no proxy is running"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn status_text(s: &ProxyStatus) -> String {
    let mut out = match (&s.running, s.starting) {
        (Some(info), _) => format!(
            "proxy: running, pid {}, http://{}, up {}\n",
            info.pid,
            std::net::SocketAddr::new(info.bind, info.port),
            uptime(info.uptime_seconds())
        ),
        (None, true) => "proxy: starting\n".into(),
        (None, false) => match &s.stale {
            Some(stale) => format!(
                "proxy: not running (pid {} died without cleaning up; the next start replaces its lock)\n",
                stale.pid
            ),
            None => "proxy: not running\n".into(),
        },
    };
    if s.routes.is_empty() {
        out.push_str("routes: none\n");
        return out;
    }
    out.push_str("routes:\n");
    let width = s.routes.iter().map(|r| r.url.len()).max().unwrap_or(0);
    for r in &s.routes {
        out.push_str(&format!("  {:width$}  -> {}\n", r.url, r.target));
        if let Some(default) = &r.default_url {
            out.push_str(&format!(
                "  {default:width$}  (default service of {})\n",
                r.env
            ));
        }
    }
    out
}

fn uptime(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}
