//! Integration tests of the native sandbox, against the real kernel.
//!
//! This binary doubles as the sandbox helper: run as `<binary> __sandbox …` it is what
//! `warren __sandbox …` is in production (its `main` calls `helper_main`), so `spawn`
//! re-executes it exactly as it re-executes `warren`. That needs our own `main`, hence a
//! tiny harness (`harness = false`) that prints libtest-style lines; arguments filter
//! tests by substring.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Tests print their progress as they go.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;
mod escape;
mod functional;
mod limits;

use std::time::Instant;

type Test = (&'static str, fn());

fn main() {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() == Some(std::ffi::OsStr::new(warren_sandbox::HELPER_SUBCOMMAND)) {
        std::process::exit(warren_sandbox::helper_main(args.collect()));
    }
    // libtest's command line, as cargo test and nextest use it: options with a
    // value (`--format terse`) are not filters; `--exact` matches whole names;
    // `--list --ignored` lists the ignored tests (there are none).
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut filters, mut exact, mut list, mut ignored) = (Vec::new(), false, false, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--format" | "--test-threads" | "--logfile" | "--color" | "--skip" | "-Z" => {
                it.next();
            }
            "--exact" => exact = true,
            "--list" => list = true,
            "--ignored" => ignored = true,
            a if a.starts_with('-') => {}
            a => filters.push(a.to_string()),
        }
    }
    let mut tests: Vec<Test> = Vec::new();
    tests.extend(functional::TESTS);
    tests.extend(escape::TESTS);
    tests.extend(limits::TESTS);
    let matches = |name: &str| {
        filters.is_empty()
            || filters.iter().any(|f| {
                if exact {
                    name == f
                } else {
                    name.contains(f.as_str())
                }
            })
    };
    let selected: Vec<&Test> = tests.iter().filter(|(name, _)| matches(name)).collect();
    if list {
        if !ignored {
            for (name, _) in &selected {
                println!("{name}: test");
            }
        }
        return;
    }
    let start = Instant::now();
    println!("\nrunning {} tests", selected.len());
    let (mut passed, mut failed) = (0, Vec::new());
    for (name, test) in &selected {
        eprintln!("--- {name}");
        let result = std::panic::catch_unwind(test);
        match result {
            Ok(()) => {
                println!("test {name} ... ok");
                passed += 1;
            }
            Err(_) => {
                println!("test {name} ... FAILED");
                failed.push(*name);
            }
        }
    }
    let status = if failed.is_empty() { "ok" } else { "FAILED" };
    if !failed.is_empty() {
        println!("\nfailures:");
        for name in &failed {
            println!("    {name}");
        }
    }
    println!(
        "\ntest result: {status}. {passed} passed; {} failed; 0 ignored; 0 measured; {} filtered out; finished in {:.2}s\n",
        failed.len(),
        tests.len() - selected.len(),
        start.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        std::process::exit(101);
    }
}
