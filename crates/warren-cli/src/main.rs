//! The `warren` binary: parses the command line, dispatches, prints errors.

mod cli;
mod commands;
mod printer;
mod report;
mod reporter;
mod sandbox;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // The sandbox helper runs before anything else: it must stay
    // single-threaded and touch nothing but its own arguments.
    let mut args = std::env::args_os();
    let _argv0 = args.next();
    if args.next().as_deref() == Some(std::ffi::OsStr::new(warren_sandbox::HELPER_SUBCOMMAND)) {
        let code = warren_sandbox::helper_main(args.collect());
        return ExitCode::from(code.clamp(0, 255) as u8);
    }

    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match commands::dispatch(cli) {
        Ok(code) => code,
        Err(err) => {
            report::print_error(&err);
            ExitCode::from(1)
        }
    }
}
