//! Screen rules: data files, one per tool, each rule keyed by tool-version range.
//!
//! TOML through serde and the `toml` crate rather than a home-made format:
//! people add rules when a tool changes its screens, they already read TOML,
//! and errors come with line and column for free.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;

/// The built-in rule files, `(tool, file name, text)`.
const BUILTIN: [(&str, &str, &str); 4] = [
    (
        "claude",
        "claude.toml",
        include_str!("../rules/claude.toml"),
    ),
    ("codex", "codex.toml", include_str!("../rules/codex.toml")),
    (
        "gemini",
        "gemini.toml",
        include_str!("../rules/gemini.toml"),
    ),
    (
        "generic",
        "generic.toml",
        include_str!("../rules/generic.toml"),
    ),
];

/// The tool name whose rules apply to custom tools and to tools without a file.
pub const GENERIC: &str = "generic";

/// A rule file that could not be read or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("cannot read rules from `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid rule file `{file}`: {source}")]
    Toml {
        file: String,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("invalid rule `{rule}` in `{file}`: {message}")]
    Rule {
        file: String,
        rule: String,
        message: String,
    },
}

/// How long the judge waits before believing a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Output more than this after a `Stop` (or a `Notification`) means the turn goes on.
    pub debounce: Duration,
    /// Output within this is "recent": working.
    pub recent_output: Duration,
    /// With nothing recognised, a session this young is `starting`.
    pub startup_grace: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            debounce: Duration::from_millis(1000),
            recent_output: Duration::from_millis(1500),
            startup_grace: Duration::from_secs(8),
        }
    }
}

/// All screen rules, by tool, plus the judge's timing.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Tool → its rules, in the order they are tried.
    tools: BTreeMap<String, Vec<Rule>>,
    pub timing: Timing,
    /// Built-in files that failed to parse (a bug caught by the tests; reported as evidence, never a panic).
    problems: Vec<String>,
}

impl Rules {
    /// The rules compiled into warren.
    pub fn builtin() -> Rules {
        let mut rules = Rules {
            tools: BTreeMap::new(),
            timing: Timing::default(),
            problems: Vec::new(),
        };
        for (tool, file, text) in BUILTIN {
            match parse_file(file, text) {
                Ok((_, parsed)) => {
                    rules.tools.insert(tool.to_owned(), parsed);
                }
                Err(e) => rules.problems.push(e.to_string()),
            }
        }
        rules
    }

    /// The built-in rules plus every `*.toml` in `dir` (sorted by name). A
    /// file's rules are tried before the built-in rules of the same tool, so a
    /// user can add a rule for a new tool version without rebuilding warren.
    pub fn load_dir(dir: &Path) -> Result<Rules, RuleError> {
        let io = |source| RuleError::Io {
            path: dir.to_owned(),
            source,
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.extension().is_some_and(|e| e == "toml") {
                paths.push(path);
            }
        }
        paths.sort();
        let mut rules = Rules::builtin();
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|source| RuleError::Io {
                path: path.clone(),
                source,
            })?;
            let (tool, mut parsed) = parse_file(&path.display().to_string(), &text)?;
            let entry = rules.tools.entry(tool).or_default();
            parsed.append(entry);
            *entry = parsed;
        }
        Ok(rules)
    }

    /// Problems found in the built-in files (empty unless warren has a bug).
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// The tools with a rule file.
    pub fn tools(&self) -> impl Iterator<Item = &str> {
        self.tools.keys().map(String::as_str)
    }

    /// The rules for `tool` (the generic ones when it has none), and the name they are filed under.
    pub(crate) fn for_tool(&self, tool: Option<&str>) -> (&str, &[Rule]) {
        if let Some(tool) = tool
            && let Some((name, rules)) = self.tools.get_key_value(tool)
        {
            return (name, rules);
        }
        match self.tools.get_key_value(GENERIC) {
            Some((name, rules)) => (name, rules),
            None => (GENERIC, &[]),
        }
    }
}

/// What a matching rule says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RuleState {
    Waiting,
    Working,
    Idle,
}

/// Where a rule looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Target {
    #[default]
    Screen,
    Title,
}

/// How a waiting rule cuts the question out of the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub(crate) enum QuestionMode {
    /// The bordered block (`╭…╰`, `┌…└`, or between `────` rules) around the match.
    Block,
    /// From the matched line down to the block's bottom border (or the screen's end):
    /// for prompts drawn without a box.
    Rest,
    /// Only `summary` (or nothing).
    #[default]
    None,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    tool: String,
    #[serde(default, rename = "rule")]
    rules: Vec<RuleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    name: String,
    state: RuleState,
    #[serde(default)]
    versions: Option<String>,
    #[serde(default, rename = "match")]
    target: Target,
    #[serde(default)]
    all: Vec<String>,
    #[serde(default)]
    any: Vec<String>,
    #[serde(default)]
    none: Vec<String>,
    #[serde(default)]
    regex: Option<String>,
    #[serde(default)]
    tail: Option<usize>,
    #[serde(default)]
    quiet_ms: Option<u64>,
    reason: String,
    #[serde(default)]
    question: QuestionMode,
    #[serde(default)]
    summary: Option<String>,
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub name: String,
    pub state: RuleState,
    versions: Option<VersionReq>,
    pub target: Target,
    all: Vec<String>,
    any: Vec<String>,
    none: Vec<String>,
    regex: Option<Regex>,
    tail: Option<usize>,
    /// For idle rules: how long the screen must have been still.
    pub quiet: Duration,
    pub reason: String,
    pub question: QuestionMode,
    summary: Option<Regex>,
}

/// A successful match: what matched, where (line index in the text).
#[derive(Debug, Clone)]
pub(crate) struct Match {
    pub what: String,
    pub line: usize,
}

impl Rule {
    /// Whether the rule applies to `version` (`None` = unknown: every rule applies).
    pub fn applies_to(&self, version: Option<&Version>) -> bool {
        match (&self.versions, version) {
            (Some(req), Some(v)) => req.matches(v),
            _ => true,
        }
    }

    pub fn versions(&self) -> Option<&str> {
        self.versions.as_ref().map(|r| r.text.as_str())
    }

    /// Matches the rule against `text` (screen or title, already normalised).
    pub fn matches(&self, text: &str) -> Option<Match> {
        let lines: Vec<&str> = text.lines().collect();
        // `tail`: only the last N non-empty lines count (prompts end the screen).
        let (offset, window) = match self.tail {
            Some(n) => {
                let non_empty: Vec<usize> = lines
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| !l.trim().is_empty())
                    .map(|(i, _)| i)
                    .collect();
                let start = non_empty.len().saturating_sub(n);
                match non_empty.get(start) {
                    Some(&first) => (first, lines[first..].join("\n")),
                    None => (0, String::new()),
                }
            }
            None => (0, text.to_owned()),
        };
        let line_of = |byte: usize| offset + window[..byte].matches('\n').count();
        // Every condition must hold; the evidence names each, the first one anchors the question.
        let mut what = Vec::new();
        let mut line = None;
        for needle in &self.all {
            let at = window.find(needle.as_str())?;
            what.push(format!("{needle:?}"));
            line.get_or_insert(line_of(at));
        }
        if !self.any.is_empty() {
            let (needle, at) = self
                .any
                .iter()
                .find_map(|n| window.find(n.as_str()).map(|at| (n, at)))?;
            what.push(format!("{needle:?}"));
            line.get_or_insert(line_of(at));
        }
        if let Some(re) = &self.regex {
            let m = re.find(&window)?;
            what.push(format!("/{}/ ({:?})", re.as_str(), m.as_str()));
            line.get_or_insert(line_of(m.start()));
        }
        if self.none.iter().any(|n| window.contains(n.as_str())) {
            return None;
        }
        Some(Match {
            what: what.join(" and "),
            line: line?,
        })
    }

    /// The summary regex's first group (or whole match), one line, for the reason.
    pub fn summary(&self, text: &str) -> Option<String> {
        let caps = self.summary.as_ref()?.captures(text)?;
        // Several groups (`Bash command` + the command) read as one phrase.
        let groups: Vec<&str> = if caps.len() > 1 {
            caps.iter().skip(1).flatten().map(|m| m.as_str()).collect()
        } else {
            caps.get(0).map(|m| m.as_str()).into_iter().collect()
        };
        let s = groups
            .join(" ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        (!s.is_empty()).then(|| s.chars().take(200).collect())
    }
}

fn parse_file(file: &str, text: &str) -> Result<(String, Vec<Rule>), RuleError> {
    let spec: FileSpec = toml::from_str(text).map_err(|e| RuleError::Toml {
        file: file.to_owned(),
        source: Box::new(e),
    })?;
    let mut rules = Vec::with_capacity(spec.rules.len());
    for r in spec.rules {
        let bad = |message: String| RuleError::Rule {
            file: file.to_owned(),
            rule: r.name.clone(),
            message,
        };
        if r.all.is_empty() && r.any.is_empty() && r.regex.is_none() {
            return Err(bad("needs at least one of `all`, `any` or `regex`".into()));
        }
        let regex = |pattern: &Option<String>| -> Result<Option<Regex>, RuleError> {
            pattern
                .as_deref()
                .map(|p| Regex::new(p).map_err(|e| bad(format!("bad regex {p:?}: {e}"))))
                .transpose()
        };
        let versions = r
            .versions
            .as_deref()
            .map(|v| {
                VersionReq::parse(v).ok_or_else(|| {
                    bad(format!("bad version range {v:?} (want e.g. \">=2.0, <3\")"))
                })
            })
            .transpose()?;
        let default_quiet = if r.state == RuleState::Idle { 1000 } else { 0 };
        rules.push(Rule {
            regex: regex(&r.regex)?,
            summary: regex(&r.summary)?,
            versions,
            quiet: Duration::from_millis(r.quiet_ms.unwrap_or(default_quiet)),
            name: r.name,
            state: r.state,
            target: r.target,
            all: r.all,
            any: r.any,
            none: r.none,
            tail: r.tail,
            reason: r.reason,
            question: r.question,
        });
    }
    Ok((spec.tool, rules))
}

/// A tool version: up to three numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Version([u64; 3]);

impl Version {
    /// The first `N[.N[.N]]` in a `--version` output (`"codex-cli 0.171.0"`, `"2.1.197 (Claude Code)"`).
    pub fn find(text: &str) -> Option<Version> {
        let start = text.find(|c: char| c.is_ascii_digit())?;
        Version::parse(&text[start..])
    }

    fn parse(text: &str) -> Option<Version> {
        let mut parts = [0u64; 3];
        let mut n = 0;
        for part in text.split('.') {
            let digits: &str = &part[..part
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(part.len())];
            if digits.is_empty() || n == 3 {
                break;
            }
            parts[n] = digits.parse().ok()?;
            n += 1;
            if digits.len() != part.len() {
                break;
            }
        }
        (n > 0).then_some(Version(parts))
    }
}

/// `>=2.0, <3` — every comparator must hold.
#[derive(Debug, Clone)]
struct VersionReq {
    text: String,
    parts: Vec<(Op, Version)>,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Ge,
    Gt,
    Le,
    Lt,
    Eq,
}

impl VersionReq {
    fn parse(text: &str) -> Option<VersionReq> {
        let mut parts = Vec::new();
        for item in text.split(',') {
            let item = item.trim();
            let (op, rest) = [
                (">=", Op::Ge),
                ("<=", Op::Le),
                (">", Op::Gt),
                ("<", Op::Lt),
                ("=", Op::Eq),
            ]
            .into_iter()
            .find_map(|(p, op)| item.strip_prefix(p).map(|rest| (op, rest)))
            .unwrap_or((Op::Eq, item));
            let rest = rest.trim();
            if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                return None;
            }
            parts.push((op, Version::parse(rest)?));
        }
        Some(VersionReq {
            text: text.to_owned(),
            parts,
        })
    }

    fn matches(&self, v: &Version) -> bool {
        self.parts.iter().all(|(op, bound)| match op {
            Op::Ge => v >= bound,
            Op::Gt => v > bound,
            Op::Le => v <= bound,
            Op::Lt => v < bound,
            Op::Eq => v == bound,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn builtin_files_parse() {
        let rules = Rules::builtin();
        assert!(rules.problems().is_empty(), "{:?}", rules.problems());
        assert_eq!(
            rules.tools().collect::<Vec<_>>(),
            ["claude", "codex", "gemini", "generic"]
        );
    }

    #[test]
    fn versions() {
        assert_eq!(
            Version::find("2.1.197 (Claude Code)"),
            Some(Version([2, 1, 197]))
        );
        assert_eq!(
            Version::find("codex-cli 0.171.0"),
            Some(Version([0, 171, 0]))
        );
        assert_eq!(Version::find("0.61.0-nightly"), Some(Version([0, 61, 0])));
        assert_eq!(Version::find("v3"), Some(Version([3, 0, 0])));
        assert_eq!(Version::find("none"), None);
        let req = VersionReq::parse(">=2.0, <3").unwrap();
        assert!(req.matches(&Version([2, 1, 197])));
        assert!(!req.matches(&Version([3, 0, 0])));
        assert!(!req.matches(&Version([1, 9, 9])));
        assert!(VersionReq::parse(">=x").is_none());
        assert!(VersionReq::parse("").is_none());
    }

    #[test]
    fn bad_files_are_errors_naming_the_rule() {
        let e = parse_file(
            "t.toml",
            "tool = \"x\"\n[[rule]]\nname = \"r\"\nstate = \"idle\"\nreason = \"r\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("`r`"), "{e}");
        let e = parse_file("t.toml", "tool = \"x\"\n[[rule]]\nname = \"r\"\nstate = \"idle\"\nreason = \"r\"\nregex = \"(\"\n").unwrap_err();
        assert!(e.to_string().contains("bad regex"), "{e}");
        let e = parse_file("t.toml", "tool = \"x\"\nbogus = 1\n").unwrap_err();
        assert!(e.to_string().contains("t.toml"), "{e}");
    }

    #[test]
    fn load_dir_puts_user_rules_first() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("claude.toml"),
            "tool = \"claude\"\n[[rule]]\nname = \"mine\"\nstate = \"waiting\"\nall = [\"HELLO\"]\nreason = \"mine\"\n",
        )
        .unwrap();
        let rules = Rules::load_dir(dir.path()).unwrap();
        let (_, claude) = rules.for_tool(Some("claude"));
        assert_eq!(claude[0].name, "mine");
        assert!(claude.len() > 1);
        assert!(Rules::load_dir(&dir.path().join("missing")).is_err());
    }
}
