//! YAML text → [`Node`] tree with positions.
//!
//! Built on `saphyr-parser` (the maintained YAML 1.2 parser of the saphyr
//! project, successor of yaml-rust): it emits events with a start and end
//! marker (line, column) each. We build the tree from those events ourselves
//! rather than through `saphyr`'s `MarkedYaml` loader because the loader's map
//! silently keeps the last of duplicate keys and resolves scalars without
//! telling us where; here duplicates are errors, maps keep declaration order
//! and every key has its own span. Scalars follow the YAML 1.2 core schema
//! (so `yes`/`on` stay strings, unlike YAML 1.1).

use std::collections::HashMap;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, Span as YSpan};

use crate::diagnostic::{Diagnostic, Source};
use crate::node::{Key, Node, Span, Value};

/// Parses one YAML document. Returns `None` for an empty document (or on a
/// syntax error, which is then among the diagnostics).
pub(crate) fn parse(src: &Source) -> (Option<Node>, Vec<Diagnostic>) {
    let mut b = Builder {
        src,
        stack: Vec::new(),
        anchors: HashMap::new(),
        root: None,
        diags: Vec::new(),
        documents: 0,
    };
    for item in Parser::new_from_str(&src.text) {
        match item {
            Ok((event, span)) => {
                if !b.event(event, span) {
                    break;
                }
            }
            Err(err) => {
                let m = err.marker();
                let span = Span::new(to_u32(m.line()), to_u32(m.col()) + 1, 1);
                b.diags.push(
                    src.error(span, format!("invalid YAML: {}", err.info()))
                        .with_hint("check the indentation and quoting around this point"),
                );
                return (None, b.diags);
            }
        }
    }
    (b.root, b.diags)
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn pos(m: &Marker) -> (u32, u32) {
    (to_u32(m.line()), to_u32(m.col()) + 1)
}

fn span_of(s: &YSpan) -> Span {
    let (line, col) = pos(&s.start);
    let (end_line, end_col) = pos(&s.end);
    Span {
        line,
        col,
        end_line,
        end_col,
    }
}

enum Frame {
    Seq {
        items: Vec<Node>,
        start: Span,
        anchor: usize,
    },
    Map {
        entries: Vec<(Key, Node)>,
        pending: Option<Key>,
        start: Span,
        anchor: usize,
    },
}

struct Builder<'a> {
    src: &'a Source,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    diags: Vec<Diagnostic>,
    documents: usize,
}

impl Builder<'_> {
    /// Handles one event; false stops parsing.
    fn event(&mut self, event: Event<'_>, span: YSpan) -> bool {
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    self.diags.push(
                        self.src
                            .error(span_of(&span), "more than one YAML document in this file")
                            .with_hint("remove the `---` separator and everything after it"),
                    );
                    return false;
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let forced_str = tag
                    .as_ref()
                    .is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "str");
                let value = if style == ScalarStyle::Plain && !forced_str {
                    resolve_plain(&text)
                } else {
                    Value::Str(text.into_owned())
                };
                let node = Node::new(value, span_of(&span));
                self.complete(node, anchor);
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(node) => {
                    let mut node = node.clone();
                    node.span = span_of(&span);
                    self.complete(node, 0);
                }
                None => self.diags.push(
                    self.src
                        .error(span_of(&span), "alias refers to an unknown anchor")
                        .with_hint("define the anchor (`&name`) before the alias (`*name`)"),
                ),
            },
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq {
                items: Vec::new(),
                start: span_of(&span),
                anchor,
            }),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map {
                entries: Vec::new(),
                pending: None,
                start: span_of(&span),
                anchor,
            }),
            Event::SequenceEnd | Event::MappingEnd => {
                let end = span_of(&span);
                let (value, start, anchor) = match self.stack.pop() {
                    Some(Frame::Seq {
                        items,
                        start,
                        anchor,
                    }) => (Value::Seq(items), start, anchor),
                    Some(Frame::Map {
                        entries,
                        start,
                        anchor,
                        ..
                    }) => (Value::Map(entries), start, anchor),
                    None => return true,
                };
                let span = Span {
                    end_line: end.end_line.max(start.line),
                    end_col: if end.end_line >= start.line {
                        end.end_col
                    } else {
                        start.end_col
                    },
                    ..start
                };
                self.complete(Node::new(value, span), anchor);
            }
            _ => {}
        }
        true
    }

    /// Attaches a finished node to its parent (or makes it the root).
    fn complete(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let needs_key = matches!(self.stack.last(), Some(Frame::Map { pending: None, .. }));
        let key_text = needs_key.then(|| self.key_text(&node));
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries, pending, ..
            }) => match pending.take() {
                None => {
                    let text = key_text.unwrap_or_default();
                    *pending = Some(Key {
                        text,
                        span: node.span,
                    });
                }
                Some(key) => {
                    if let Some((first, _)) = entries.iter().find(|(k, _)| k.text == key.text) {
                        let d = self
                            .src
                            .error(key.span, format!("duplicate key `{}`", key.text))
                            .with_hint(format!(
                                "`{}` is already set at line {}; keep only one of them",
                                key.text, first.span.line
                            ));
                        self.diags.push(d);
                    } else {
                        entries.push((key, node));
                    }
                }
            },
        }
    }

    /// The text of a node used as a map key (errors for non-scalar keys).
    fn key_text(&mut self, node: &Node) -> String {
        match node.value {
            Value::Seq(_) | Value::Map(_) => {
                self.diags.push(
                    self.src
                        .error(node.span, "map keys must be plain text")
                        .with_hint("use a string key such as `name:`"),
                );
                String::new()
            }
            // `~:` or `null:` keep their literal text; an empty key is "".
            Value::Null if node.span.end_col > node.span.col => self.source_text(node.span),
            Value::Null => String::new(),
            _ => node.scalar_text().unwrap_or_default(),
        }
    }

    fn source_text(&self, span: Span) -> String {
        self.src
            .text
            .lines()
            .nth(span.line.saturating_sub(1) as usize)
            .map(|l| {
                l.chars()
                    .skip(span.col.saturating_sub(1) as usize)
                    .take(span.width() as usize)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Resolves a plain scalar by the YAML 1.2 core schema.
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if let Ok(i) = i64::from_str_radix(hex, 16) {
            return Value::Int(i);
        }
    } else if let Some(oct) = text.strip_prefix("0o")
        && let Ok(i) = i64::from_str_radix(oct, 8)
    {
        return Value::Int(i);
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && let Ok(i) = text.parse::<i64>()
    {
        return Value::Int(i);
    }
    if is_core_float(digits)
        && let Ok(f) = text.parse::<f64>()
    {
        return Value::Float(f);
    }
    Value::Str(text.to_string())
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` (sign already stripped).
fn is_core_float(s: &str) -> bool {
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            (!int.is_empty() || !frac.is_empty())
                && int.chars().all(|c| c.is_ascii_digit())
                && frac.chars().all(|c| c.is_ascii_digit())
        }
        None => !mantissa.is_empty() && mantissa.chars().all(|c| c.is_ascii_digit()),
    };
    let exp_ok = exp.is_none_or(|e| {
        let d = e.strip_prefix(['-', '+']).unwrap_or(e);
        !d.is_empty() && d.chars().all(|c| c.is_ascii_digit())
    });
    mantissa_ok && exp_ok && (mantissa.contains('.') || exp.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse_ok(text: &str) -> Node {
        let src = Source::new(Path::new("t.yaml"), text);
        let (node, diags) = parse(&src);
        assert!(diags.is_empty(), "{diags:#?}");
        node.unwrap()
    }

    #[test]
    fn scalars_follow_the_core_schema() {
        let n = parse_ok(
            "a: 1\nb: -2\nc: 1.5\nd: true\ne: yes\nf: ~\ng:\nh: '3'\ni: 9000-9100\nj: 0x1f\nk: 1e3\nl: !!str 5\n",
        );
        let v = |k: &str| n.get(k).unwrap().value.clone();
        assert_eq!(v("a"), Value::Int(1));
        assert_eq!(v("b"), Value::Int(-2));
        assert_eq!(v("c"), Value::Float(1.5));
        assert_eq!(v("d"), Value::Bool(true));
        assert_eq!(v("e"), Value::Str("yes".into()));
        assert_eq!(v("f"), Value::Null);
        assert_eq!(v("g"), Value::Null);
        assert_eq!(v("h"), Value::Str("3".into()));
        assert_eq!(v("i"), Value::Str("9000-9100".into()));
        assert_eq!(v("j"), Value::Int(31));
        assert_eq!(v("k"), Value::Float(1000.0));
        assert_eq!(v("l"), Value::Str("5".into()));
    }

    #[test]
    fn keys_and_values_have_positions_and_order() {
        let n = parse_ok("zeta: 1\nalpha:\n  imgae: foo\n  list: [a, b]\n");
        let Value::Map(entries) = &n.value else {
            panic!()
        };
        let keys: Vec<_> = entries.iter().map(|(k, _)| k.text.as_str()).collect();
        assert_eq!(keys, ["zeta", "alpha"]);
        let Value::Map(inner) = &entries[1].1.value else {
            panic!()
        };
        assert_eq!(inner[0].0.span, Span::new(3, 3, 5));
        assert_eq!(inner[0].1.span, Span::new(3, 10, 3));
        let Value::Seq(items) = &inner[1].1.value else {
            panic!()
        };
        assert_eq!(items[1].span, Span::new(4, 13, 1));
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let src = Source::new(Path::new("t.yaml"), "a: 1\nb: 2\na: 3\n");
        let (node, diags) = parse(&src);
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].message, "duplicate key `a`");
        assert_eq!((diags[0].line, diags[0].col), (3, 1));
        assert_eq!(
            diags[0].hint.as_deref(),
            Some("`a` is already set at line 1; keep only one of them")
        );
        assert_eq!(node.unwrap().get("a").unwrap().value, Value::Int(1));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let src = Source::new(Path::new("t.yaml"), "a: [1, 2\nb: 3\n");
        let (node, diags) = parse(&src);
        assert!(node.is_none());
        assert_eq!(diags.len(), 1);
        assert!(diags[0].message.starts_with("invalid YAML: "), "{diags:?}");
        assert!(diags[0].line >= 1);
    }

    #[test]
    fn empty_document_is_none() {
        let src = Source::new(Path::new("t.yaml"), "# just a comment\n");
        let (node, diags) = parse(&src);
        assert!(node.is_none() && diags.is_empty());
    }

    #[test]
    fn anchors_and_aliases() {
        let n = parse_ok("base: &b {x: 1}\nother: *b\n");
        assert_eq!(
            n.get("other").unwrap().get("x").unwrap().value,
            Value::Int(1)
        );
    }

    #[test]
    fn second_document_is_an_error() {
        let src = Source::new(Path::new("t.yaml"), "a: 1\n---\nb: 2\n");
        let (_, diags) = parse(&src);
        assert_eq!(diags[0].message, "more than one YAML document in this file");
        assert_eq!(diags[0].line, 2);
    }
}
