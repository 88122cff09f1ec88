//! Typed decoding over the [`Node`] tree that collects every error instead of
//! stopping at the first: wrong types, unknown keys (with "did you mean"),
//! bad and missing values. Each decoder returns `None` after recording a
//! diagnostic, so callers carry on and report the rest of the file too.

use crate::diagnostic::{Diagnostic, Severity, Source};
use crate::node::{Key, Node, Span, Value};
use crate::values::{OrderedMap, Spanned};

/// The closest candidate to `word`, if close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// `did you mean `x`?` or, failing that, the list of valid choices.
pub(crate) fn suggestion(word: &str, candidates: &[&str]) -> Option<String> {
    match did_you_mean(word, candidates.iter().copied()) {
        Some(c) => Some(format!("did you mean `{c}`?")),
        None if candidates.is_empty() => None,
        None => Some(format!(
            "expected one of: {}",
            candidates
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Decoding state for one file: its source and the diagnostics so far.
pub(crate) struct Decoder<'s> {
    pub src: &'s Source,
    pub diags: Vec<Diagnostic>,
}

impl<'s> Decoder<'s> {
    pub fn new(src: &'s Source) -> Self {
        Decoder {
            src,
            diags: Vec::new(),
        }
    }

    pub fn error(&mut self, span: Span, message: impl Into<String>, hint: Option<String>) {
        let d = self.src.error(span, message).with_opt_hint(hint);
        self.diags.push(d);
    }

    pub fn warning(&mut self, span: Span, message: impl Into<String>, hint: Option<String>) {
        let d = self.src.warning(span, message).with_opt_hint(hint);
        self.diags.push(d);
    }

    /// Records "`what` must be EXPECTED, found KIND".
    pub fn type_error(&mut self, node: &Node, what: &str, expected: &str, hint: Option<String>) {
        let hint = hint.or_else(|| self.example(what, expected));
        self.error(
            node.span,
            format!("`{what}` must be {expected}, found {}", node.value.kind()),
            hint,
        );
    }

    /// An example of the expected shape, in the file's own syntax.
    fn example(&self, what: &str, expected: &str) -> Option<String> {
        let json = self.src.path.extension().is_some_and(|e| e == "json");
        let value = match expected {
            "a string" => "\"text\"",
            "`true` or `false`" => "true",
            "a whole number" => "10",
            "a map" if json => "{\"key\": \"value\"}",
            "a map" => "{key: value}",
            e if e.starts_with("a list") && json => "[\"a\", \"b\"]",
            e if e.starts_with("a list") => "[a, b]",
            _ => return None,
        };
        let key = what.rsplit('.').next().unwrap_or(what);
        Some(if key.ends_with(']') {
            format!("write it as {value}")
        } else if json {
            format!("e.g. `\"{key}\": {value}`")
        } else {
            format!("e.g. `{key}: {value}`")
        })
    }

    /// Opens a map for field-by-field reading.
    pub fn fields<'n>(&mut self, node: &'n Node, what: &str) -> Option<Fields<'n>> {
        match &node.value {
            Value::Map(entries) => Some(Fields {
                entries,
                used: vec![false; entries.len()],
                known: Vec::new(),
                what: what.to_string(),
            }),
            _ => {
                self.type_error(node, what, "a map", None);
                None
            }
        }
    }

    /// The entries of a map whose keys are names (`services`, `types`…).
    pub fn entries<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [(Key, Node)]> {
        match &node.value {
            Value::Map(entries) => Some(entries),
            _ => {
                self.type_error(node, what, "a map", None);
                None
            }
        }
    }

    pub fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            _ => {
                self.type_error(node, what, "a string", None);
                None
            }
        }
    }

    /// A string, accepting numbers and booleans as their text (env values,
    /// build args: `PORT: 3000` means "3000").
    pub fn scalar_string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::Seq(_) | Value::Map(_) | Value::Null => {
                self.type_error(node, what, "a string", None);
                None
            }
            _ => node.scalar_text(),
        }
    }

    pub fn bool(&mut self, node: &Node, what: &str) -> Option<bool> {
        match &node.value {
            Value::Bool(b) => Some(*b),
            _ => {
                self.type_error(node, what, "`true` or `false`", None);
                None
            }
        }
    }

    /// A TCP port (1–65535).
    pub fn port(&mut self, node: &Node, what: &str) -> Option<u16> {
        match &node.value {
            Value::Int(i) => match u16::try_from(*i) {
                Ok(p) if p > 0 => Some(p),
                _ => {
                    self.error(
                        node.span,
                        format!("`{what}` is {i}, which is not a valid port"),
                        Some("use a port number from 1 to 65535".into()),
                    );
                    None
                }
            },
            _ => {
                self.type_error(
                    node,
                    what,
                    "a port number",
                    Some("use a port number from 1 to 65535".into()),
                );
                None
            }
        }
    }

    /// A list of strings (a single string is accepted as a one-item list
    /// only when `single_ok`).
    pub fn string_list(
        &mut self,
        node: &Node,
        what: &str,
        single_ok: bool,
    ) -> Option<Vec<Spanned<String>>> {
        match &node.value {
            Value::Str(s) if single_ok => Some(vec![Spanned::new(s.clone(), node.span)]),
            Value::Seq(items) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    if let Some(s) = self.scalar_string(item, &format!("{what}[{i}]")) {
                        out.push(Spanned::new(s, item.span));
                    }
                }
                Some(out)
            }
            _ => {
                self.type_error(node, what, "a list of strings", None);
                None
            }
        }
    }

    /// A map of strings to strings in declaration order.
    pub fn string_map(&mut self, node: &Node, what: &str) -> Option<OrderedMap<String>> {
        let entries = self.entries(node, what)?;
        let mut out = OrderedMap::new();
        for (k, v) in entries {
            if let Some(s) = self.scalar_string(v, &format!("{what}.{}", k.text)) {
                out.insert(k.text.clone(), s);
            }
        }
        Some(out)
    }
}

/// Field-by-field reader of one map. Every name asked for with
/// [`Fields::take`] is a known key; [`Fields::finish`] reports the others.
pub(crate) struct Fields<'n> {
    entries: &'n [(Key, Node)],
    used: Vec<bool>,
    known: Vec<&'static str>,
    what: String,
}

impl<'n> Fields<'n> {
    /// The value of `name` (null counts as absent).
    pub fn take(&mut self, name: &'static str) -> Option<&'n Node> {
        self.take_raw(name).filter(|n| n.value != Value::Null)
    }

    /// The value of `name`, null included.
    pub fn take_raw(&mut self, name: &'static str) -> Option<&'n Node> {
        self.known.push(name);
        let i = self.entries.iter().position(|(k, _)| k.text == name)?;
        self.used[i] = true;
        Some(&self.entries[i].1)
    }

    /// The key and value of `name`.
    pub fn take_entry(&mut self, name: &'static str) -> Option<(&'n Key, &'n Node)> {
        self.known.push(name);
        let i = self.entries.iter().position(|(k, _)| k.text == name)?;
        self.used[i] = true;
        let (k, v) = &self.entries[i];
        (v.value != Value::Null).then_some((k, v))
    }

    /// Marks `name` as known without reading it.
    pub fn ignore(&mut self, name: &'static str) {
        let _ = self.take_raw(name);
    }

    /// Keys not taken so far, in order.
    pub fn remaining(&self) -> impl Iterator<Item = &'n (Key, Node)> + '_ {
        self.entries
            .iter()
            .zip(&self.used)
            .filter(|(_, used)| !**used)
            .map(|(e, _)| e)
    }

    /// Reports every key not taken as unknown, with a "did you mean" hint.
    pub fn finish(self, d: &mut Decoder<'_>, severity: Severity) {
        let rest: Vec<&(Key, Node)> = self.remaining().collect();
        for (key, _) in rest {
            let message = format!("unknown key `{}` in {}", key.text, self.what);
            let hint = suggestion(&key.text, &self.known);
            let diag = d.src.diag(severity, key.span, message).with_opt_hint(hint);
            d.diags.push(diag);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn node(text: &str) -> (Source, Node) {
        let src = Source::new(Path::new(".warren.yaml"), text);
        let (n, diags) = crate::yaml::parse(&src);
        assert!(diags.is_empty());
        (src, n.unwrap())
    }

    #[test]
    fn unknown_keys_get_did_you_mean() {
        let (src, n) = node("image: a\nimgae: b\nzzz: 1\n");
        let mut d = Decoder::new(&src);
        let mut f = d.fields(&n, ".warren.yaml").unwrap();
        assert!(f.take("image").is_some());
        f.ignore("build");
        f.finish(&mut d, Severity::Error);
        assert_eq!(d.diags.len(), 2);
        assert_eq!(d.diags[0].message, "unknown key `imgae` in .warren.yaml");
        assert_eq!(d.diags[0].hint.as_deref(), Some("did you mean `image`?"));
        assert_eq!(
            (d.diags[0].line, d.diags[0].col, d.diags[0].width),
            (2, 1, 5)
        );
        assert_eq!(
            d.diags[1].hint.as_deref(),
            Some("expected one of: `image`, `build`")
        );
    }

    #[test]
    fn collects_all_type_errors() {
        let (src, n) = node("a: [1]\nb: x\nc: 70000\nd: yes\n");
        let mut d = Decoder::new(&src);
        let mut f = d.fields(&n, "x").unwrap();
        let a = f.take("a").unwrap();
        let b = f.take("b").unwrap();
        let c = f.take("c").unwrap();
        let dd = f.take("d").unwrap();
        assert!(d.string(a, "a").is_none());
        assert!(d.port(b, "b").is_none());
        assert!(d.port(c, "c").is_none());
        assert!(d.bool(dd, "d").is_none());
        let msgs: Vec<_> = d.diags.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            msgs,
            [
                "`a` must be a string, found a list",
                "`b` must be a port number, found a string",
                "`c` is 70000, which is not a valid port",
                "`d` must be `true` or `false`, found a string",
            ]
        );
        assert_eq!(d.diags[3].line, 4);
    }

    #[test]
    fn did_you_mean_threshold() {
        assert_eq!(did_you_mean("imgae", ["image", "build"]), Some("image"));
        assert_eq!(did_you_mean("qqq", ["image", "build"]), None);
    }
}
