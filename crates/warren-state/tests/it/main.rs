//! warren-state's integration tests: the judge on every state and tool, the
//! hook relay against hostile input, recorded screens replayed in a real tmux,
//! and the real CLIs from npm.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod hooks;
mod judge;
mod real_cli;
mod replay;
mod tmux;

use std::path::{Path, PathBuf};

use warren_state::State;

/// One file of `tests/screens/`: `# key: value` header lines, then the screen.
#[derive(Debug, Clone)]
pub struct Screen {
    pub name: String,
    pub tool: Option<String>,
    pub version: Option<String>,
    pub title: String,
    pub source: String,
    pub expect: State,
    pub body: String,
}

pub fn screens_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/screens")
}

/// Every screen file, sorted by name.
pub fn screens() -> Vec<Screen> {
    let mut paths: Vec<_> = std::fs::read_dir(screens_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    paths.sort();
    paths.iter().map(|p| load_screen(p)).collect()
}

pub fn screen(name: &str) -> Screen {
    load_screen(&screens_dir().join(format!("{name}.txt")))
}

fn load_screen(path: &Path) -> Screen {
    let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
    let text = std::fs::read_to_string(path).unwrap();
    let (mut title, mut source, mut expect) = (String::new(), String::new(), None);
    let mut body = Vec::new();
    let mut in_header = true;
    for line in text.lines() {
        if in_header {
            if let Some(v) = line.strip_prefix("# pane title: ") {
                title = v.trim().to_owned();
                if title.starts_with("(not set") {
                    title = String::from("vm");
                }
                continue;
            } else if let Some(v) = line.strip_prefix("# source: ") {
                source = v.to_owned();
                continue;
            } else if let Some(v) = line.strip_prefix("# expect: ") {
                expect = Some(parse_state(v));
                continue;
            }
            in_header = false;
        }
        body.push(line);
    }
    // `claude-2.1.197-trust-prompt` → tool claude, version 2.1.197; `generic-…` → no tool.
    let mut parts = name.splitn(3, '-');
    let tool = parts.next().filter(|t| *t != "generic").map(str::to_owned);
    let version = parts
        .next()
        .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
        .map(str::to_owned);
    Screen {
        expect: expect.unwrap_or_else(|| panic!("{name}: no `# expect:` header")),
        name,
        tool,
        version,
        title,
        source,
        body: body.join("\n"),
    }
}

fn parse_state(s: &str) -> State {
    match s.trim() {
        "starting" => State::Starting,
        "working" => State::Working,
        "waiting" => State::Waiting,
        "idle" => State::Idle,
        "unknown" => State::Unknown,
        other => match other.strip_prefix("exited ") {
            Some(code) => State::Exited(code.parse().unwrap()),
            None => panic!("bad state {other:?}"),
        },
    }
}
