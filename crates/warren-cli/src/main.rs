//! The `warren` binary: parses the command line, dispatches to a command,
//! prints errors. Exit codes: 0 ok, 1 failed, 2 bad usage; `run` and `exec`
//! pass their command's code through.

mod cli;
mod commands;
mod complete;
mod output;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

fn main() -> ExitCode {
    // The sandbox helper runs before anything else: it must stay
    // single-threaded and touch nothing but its own arguments.
    let mut args = std::env::args_os();
    let _argv0 = args.next();
    let first = args.next();
    if first.as_deref() == Some(std::ffi::OsStr::new(warren_sandbox::HELPER_SUBCOMMAND)) {
        let code = warren_sandbox::helper_main(args.collect());
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    if first.as_deref() == Some(std::ffi::OsStr::new(warren_net::DAEMON_SUBCOMMAND)) {
        let code = warren_net::daemon_main(args.collect());
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    // `COMPLETE=bash warren -- …`: the shell asks for completions.
    clap_complete::CompleteEnv::with_factory(cli::Cli::command).complete();

    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let host = warren_env::HostEnv::current();
    output::init(
        cli.global.color,
        cli.global.quiet,
        host.get(warren_core::vars::NO_COLOR).is_some(),
    );
    match commands::dispatch(cli, host) {
        Ok(code) => code,
        Err(err) => {
            output::print_error(&err);
            ExitCode::from(1)
        }
    }
}
