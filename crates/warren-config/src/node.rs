//! The spanned value tree that every config file (YAML or JSONC) is parsed
//! into before decoding: plain values plus the position of every node and
//! key, with maps kept in declaration order.

use serde::Serialize;

/// A region of a source file: 1-based line and column (in characters) of the
/// first character, and the line and column just past the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Span {
    pub line: u32,
    pub col: u32,
    pub end_line: u32,
    pub end_col: u32,
}

impl Span {
    /// A span of `len` characters starting at `line:col`.
    pub fn new(line: u32, col: u32, len: u32) -> Span {
        Span {
            line,
            col,
            end_line: line,
            end_col: col + len,
        }
    }

    /// Characters to underline on the first line (at least 1; 0 means "to the
    /// end of the line" for spans that run over several lines).
    pub fn width(&self) -> u32 {
        if self.end_line == self.line && self.end_col > self.col {
            self.end_col - self.col
        } else if self.end_line == self.line {
            1
        } else {
            0
        }
    }
}

/// One value with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub span: Span,
}

/// A map key with its position (keys are always text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub text: String,
    pub span: Span,
}

/// The value of a [`Node`]. `Map` keeps declaration order.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

impl Value {
    /// How the value is named in messages ("found a list").
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a map",
        }
    }
}

impl Node {
    /// A node holding `value` at `span`.
    pub fn new(value: Value, span: Span) -> Node {
        Node { value, span }
    }

    /// The text of a scalar (strings as-is, numbers and booleans formatted).
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// Looks up a key of a map node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k.text == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Applies `f` to every string value (not keys) in the tree, with the
    /// string's position (to report a value that cannot be mapped).
    pub fn map_strings_at(&mut self, f: &mut dyn FnMut(&str, Span) -> String) {
        let span = self.span;
        match &mut self.value {
            Value::Str(s) => *s = f(s, span),
            Value::Seq(items) => items.iter_mut().for_each(|n| n.map_strings_at(f)),
            Value::Map(entries) => entries.iter_mut().for_each(|(_, n)| n.map_strings_at(f)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths() {
        assert_eq!(Span::new(3, 3, 5).width(), 5);
        assert_eq!(Span::new(3, 3, 0).width(), 1);
        let multi = Span {
            line: 1,
            col: 4,
            end_line: 3,
            end_col: 1,
        };
        assert_eq!(multi.width(), 0);
    }

    #[test]
    fn map_strings_touches_values_only() {
        let mut n = Node::new(
            Value::Map(vec![(
                Key {
                    text: "a".into(),
                    span: Span::default(),
                },
                Node::new(Value::Str("x".into()), Span::default()),
            )]),
            Span::default(),
        );
        n.map_strings_at(&mut |s, _| format!("{s}!"));
        assert_eq!(
            n.get("a").and_then(Node::scalar_text).as_deref(),
            Some("x!")
        );
    }
}
