//! JSONC text (JSON with comments and trailing commas, as devcontainer.json
//! is) → [`Node`] tree with positions, via `jsonc-parser`'s AST, whose byte
//! ranges are turned into line:column here.

use jsonc_parser::ast::{ObjectPropName, Value as J};
use jsonc_parser::common::Ranged;
use jsonc_parser::{CollectOptions, ParseOptions, parse_to_ast};

use crate::diagnostic::{Diagnostic, Source};
use crate::node::{Key, Node, Span, Value};

/// Byte offset → 1-based line and character column.
struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    fn pos(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts[line - 1];
        let col = self
            .text
            .get(start..offset)
            .map_or(0, |s| s.chars().count());
        (
            u32::try_from(line).unwrap_or(u32::MAX),
            u32::try_from(col + 1).unwrap_or(u32::MAX),
        )
    }

    fn span(&self, start: usize, end: usize) -> Span {
        let (line, col) = self.pos(start);
        let (end_line, end_col) = self.pos(end);
        Span {
            line,
            col,
            end_line,
            end_col,
        }
    }
}

/// Parses JSONC: comments and trailing commas allowed, nothing else beyond
/// JSON (no single quotes, hex numbers or missing commas), like VS Code's
/// JSONC mode. Duplicate keys are errors (which one wins is ambiguous).
pub(crate) fn parse(src: &Source) -> (Option<Node>, Vec<Diagnostic>) {
    let options = ParseOptions {
        allow_comments: true,
        allow_trailing_commas: true,
        allow_loose_object_property_names: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    };
    // A UTF-8 byte order mark (some Windows editors write one) is not part
    // of the JSON; editors do not show it, so columns count without it.
    let text = src.text.strip_prefix('\u{feff}').unwrap_or(&src.text);
    let index = LineIndex::new(text);
    let mut diags = Vec::new();
    match parse_to_ast(text, &CollectOptions::default(), &options) {
        Err(err) => {
            let r = err.range();
            let span = index.span(r.start, r.end.max(r.start + 1));
            diags.push(
                src.error(span, format!("invalid JSON: {}", err.kind()))
                    .with_hint("devcontainer.json is JSON with comments; check for a missing comma, quote or bracket"),
            );
            (None, diags)
        }
        Ok(result) => {
            let node = result.value.map(|v| convert(&v, &index, src, &mut diags));
            (node, diags)
        }
    }
}

fn convert(v: &J<'_>, index: &LineIndex<'_>, src: &Source, diags: &mut Vec<Diagnostic>) -> Node {
    let r = v.range();
    let span = index.span(r.start, r.end);
    let value = match v {
        J::NullKeyword(_) => Value::Null,
        J::BooleanLit(b) => Value::Bool(b.value),
        J::StringLit(s) => Value::Str(s.value.to_string()),
        J::NumberLit(n) => match n.value.parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Float(n.value.parse::<f64>().unwrap_or(f64::NAN)),
        },
        J::Array(a) => Value::Seq(
            a.elements
                .iter()
                .map(|e| convert(e, index, src, diags))
                .collect(),
        ),
        J::Object(o) => {
            let mut entries: Vec<(Key, Node)> = Vec::new();
            for prop in &o.properties {
                let (text, range) = match &prop.name {
                    ObjectPropName::String(s) => (s.value.to_string(), s.range),
                    ObjectPropName::Word(w) => (w.value.to_string(), w.range),
                };
                let key = Key {
                    text,
                    span: index.span(range.start, range.end),
                };
                let value = convert(&prop.value, index, src, diags);
                if let Some((first, _)) = entries.iter().find(|(k, _)| k.text == key.text) {
                    diags.push(
                        src.error(key.span, format!("duplicate key `{}`", key.text))
                            .with_hint(format!(
                                "`{}` is already set at line {}; keep only one of them",
                                key.text, first.span.line
                            )),
                    );
                } else {
                    entries.push((key, value));
                }
            }
            Value::Map(entries)
        }
    };
    Node::new(value, span)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse_str(text: &str) -> (Option<Node>, Vec<Diagnostic>) {
        parse(&Source::new(Path::new("devcontainer.json"), text))
    }

    #[test]
    fn comments_and_trailing_commas() {
        let (node, diags) = parse_str(
            "// top\n{\n  /* block */ \"image\": \"x\", // end\n  \"ports\": [1, 2,],\n}\n",
        );
        assert!(diags.is_empty(), "{diags:?}");
        let node = node.unwrap();
        let image = node.get("image").unwrap();
        assert_eq!(image.value, Value::Str("x".into()));
        assert_eq!(image.span, Span::new(3, 24, 3));
        let Value::Map(entries) = &node.value else {
            panic!()
        };
        assert_eq!(entries[0].0.span, Span::new(3, 15, 7));
        assert_eq!(
            node.get("ports").unwrap().value,
            Value::Seq(vec![
                Node::new(Value::Int(1), Span::new(4, 13, 1)),
                Node::new(Value::Int(2), Span::new(4, 16, 1)),
            ])
        );
    }

    #[test]
    fn multibyte_columns_count_characters() {
        let (node, _) = parse_str("{\"name\": \"é\", \"x\": 1}");
        let Value::Map(entries) = &node.unwrap().value else {
            panic!()
        };
        assert_eq!(entries[1].0.span.col, 15);
    }

    #[test]
    fn syntax_error_position() {
        let (node, diags) = parse_str("{\n  \"a\": 1\n  \"b\": 2\n}\n");
        assert!(node.is_none());
        assert_eq!(diags.len(), 1);
        // Reported where the comma is missing: after `1` on line 2.
        assert_eq!(diags[0].message, "invalid JSON: Expected comma");
        assert_eq!(diags[0].line, 2);
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let (node, diags) = parse_str("\u{feff}{\"image\": \"x\"}");
        assert!(diags.is_empty(), "{diags:?}");
        let image = node.unwrap().get("image").cloned().unwrap();
        assert_eq!(image.value, Value::Str("x".into()));
        assert_eq!(image.span, Span::new(1, 11, 3));
        // Errors after it keep their columns.
        let (_, diags) = parse_str("\u{feff}{\"a\": }");
        assert_eq!((diags[0].line, diags[0].col), (1, 7));
    }

    #[test]
    fn duplicate_keys() {
        let (_, diags) = parse_str("{\"a\": 1,\n \"a\": 2}");
        assert_eq!(diags[0].message, "duplicate key `a`");
        assert_eq!((diags[0].line, diags[0].col), (2, 2));
    }
}
