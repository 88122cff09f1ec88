//! Compose v2 spellings that Compose v1 (Debian's `docker-compose` 1.29)
//! rejects, and the copy of a compose file v1 reads instead
//! ([`for_compose_v1`]).
//!
//! - A top-level `name:` is left out: warren names every environment's
//!   project itself (`-p`), which overrides `name:` under Compose v2 too.
//! - `!reset` and `!override` (Compose v2: "replace what earlier files set").
//!   In the first compose file nothing came earlier, so, as Compose v2 reads
//!   it, a map entry tagged `!reset` is left out and any other tag is simply
//!   dropped. In a later file v1 would merge where v2 replaces: refused with
//!   the tag's `file:line:col`.
//!
//! The copy is the original text with those spans cut out, found with the
//! YAML parser's positions: comments, anchors, `${VAR}`s and YAML 1.1
//! scalars (`yes`) reach v1 byte for byte, each on its original line.

use std::collections::HashMap;
use std::path::Path;

use saphyr_parser::{Event, Parser, Span as YSpan, Tag};

use crate::diagnostic::{Diagnostic, Source};
use crate::node::Span;

/// What Compose v1 should read instead of the compose file `path` (text
/// `text`): `Ok(None)` when it can read the file as it is. `first`: the file
/// is the first of the configuration's `dockerComposeFile`s. Text the parser
/// cannot read is left to the compose CLI, which says what is wrong with it.
pub fn for_compose_v1(path: &Path, text: &str, first: bool) -> Result<Option<String>, Diagnostic> {
    let Some(out) = translate(path, text, first)? else {
        return Ok(None);
    };
    // The cuts follow the parser's spans; should a spelling still defeat
    // them (the copy unreadable, or with something left to cut), say so
    // rather than hand v1 a file that means something else.
    if events(&out).is_none() || !matches!(translate(path, &out, first), Ok(None)) {
        return Err(Source::new(path, text)
            .error(
                Span::new(1, 1, 1),
                "warren could not make a copy of this compose file that Compose v1 reads",
            )
            .with_hint(V2_HINT));
    }
    Ok(Some(out))
}

fn translate(path: &Path, text: &str, first: bool) -> Result<Option<String>, Diagnostic> {
    let src = Source::new(path, text);
    let Some(parsed) = events(text) else {
        return Ok(None);
    };
    let mut t = Translator {
        src: &src,
        chars: text.chars().collect(),
        first,
        stack: Vec::new(),
        cuts: Vec::new(),
        last_end: 0,
        anchors: HashMap::new(),
        aliases: Vec::new(),
    };
    for (event, span) in parsed {
        t.event(event, span)?;
    }
    if t.cuts.is_empty() {
        return Ok(None);
    }
    t.check_aliases()?;
    Ok(Some(t.apply()))
}

const V2_HINT: &str = "install Compose v2 (the docker CLI's compose plugin, `docker compose`), which reads the file as it is";

/// The events of `text` with their spans, `None` when it is not YAML the
/// parser reads.
fn events(text: &str) -> Option<Vec<(Event<'_>, YSpan)>> {
    Parser::new_from_str(text)
        .collect::<Result<Vec<_>, _>>()
        .ok()
}

/// A piece of the text to leave out (character indices), and what to put
/// there instead.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cut {
    start: usize,
    end: usize,
    with: &'static str,
}

/// How a node sits in its parent.
#[derive(Debug, Clone)]
enum Role {
    Root,
    Item,
    Key,
    /// The value of the entry whose key starts at `key_start`; `top_name`:
    /// the entry is the document's top-level `name`.
    Value {
        key_start: usize,
        top_name: bool,
    },
}

enum Frame {
    Map {
        flow: bool,
        /// The key of the entry being read, once read: where it starts and
        /// its text (a scalar key).
        key: Option<(usize, Option<String>)>,
        entries: usize,
        /// Cuts of whole entries of this map (indices into `cuts`).
        cut_entries: Vec<usize>,
        role: Role,
        reset: Option<Span>,
    },
    Seq {
        role: Role,
        reset: Option<Span>,
    },
}

struct Translator<'a> {
    src: &'a Source,
    chars: Vec<char>,
    first: bool,
    stack: Vec<Frame>,
    cuts: Vec<Cut>,
    /// Where the last content seen ends (scalars, aliases, flow collection
    /// ends): a block collection "ends" only where the next token starts.
    last_end: usize,
    /// Anchor id → where its node starts.
    anchors: HashMap<usize, usize>,
    /// Every alias: its anchor id and span.
    aliases: Vec<(usize, usize, Span)>,
}

impl Translator<'_> {
    fn event(&mut self, event: Event<'_>, span: YSpan) -> Result<(), Diagnostic> {
        let start = span.start.index();
        match event {
            Event::Scalar(text, _, anchor, tag) => {
                let role = self.role(start, Some(&text));
                self.anchor(anchor, start);
                let reset = self.tag(tag.as_deref(), start, &role)?;
                self.last_end = span.end.index();
                self.done(role, reset);
            }
            Event::Alias(id) => {
                let role = self.role(start, None);
                self.aliases
                    .push((id, start, self.span(start, span.end.index())));
                self.last_end = span.end.index();
                self.done(role, None);
            }
            Event::MappingStart(anchor, ref tag) | Event::SequenceStart(anchor, ref tag) => {
                let is_map = matches!(event, Event::MappingStart(..));
                let role = self.role(start, None);
                self.anchor(anchor, start);
                let reset = self.tag(tag.as_deref(), start, &role)?;
                // A flow collection's span runs to just past its bracket; a
                // block one's is empty, or covers only its properties.
                let end = span.end.index();
                let flow = end > start && matches!(self.chars.get(end - 1), Some('{' | '['));
                self.stack.push(if is_map {
                    Frame::Map {
                        flow,
                        key: None,
                        entries: 0,
                        cut_entries: Vec::new(),
                        role,
                        reset,
                    }
                } else {
                    Frame::Seq { role, reset }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                if !span.is_empty() {
                    self.last_end = span.end.index();
                }
                match self.stack.pop() {
                    Some(Frame::Map {
                        flow,
                        entries,
                        cut_entries,
                        role,
                        reset,
                        ..
                    }) => {
                        // A block map with every entry cut would be null,
                        // which compose refuses where it wants a map.
                        if !flow
                            && entries > 0
                            && cut_entries.len() == entries
                            && let Some(c) = cut_entries.first().and_then(|i| self.cuts.get_mut(*i))
                        {
                            c.with = "{}";
                        }
                        self.done(role, reset);
                    }
                    Some(Frame::Seq { role, reset }) => self.done(role, reset),
                    None => {}
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The role of a node starting at `start` (`text`: a scalar's), as its
    /// parent sees it.
    fn role(&mut self, start: usize, text: Option<&str>) -> Role {
        let top = self.stack.len() == 1;
        match self.stack.last_mut() {
            None => Role::Root,
            Some(Frame::Seq { .. }) => Role::Item,
            Some(Frame::Map { key, .. }) => match key.take() {
                None => {
                    *key = Some((start, text.map(str::to_string)));
                    Role::Key
                }
                Some((key_start, text)) => Role::Value {
                    key_start,
                    top_name: top && text.as_deref() == Some("name"),
                },
            },
        }
    }

    fn anchor(&mut self, anchor: usize, start: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, start);
        }
    }

    /// Handles the tag of a node starting at `start`: `Some(span)` when the
    /// node is a map value tagged `!reset` in the first file (its entry is
    /// cut once the node ends); a `!override`, or a `!reset` elsewhere in the
    /// first file, is cut here.
    fn tag(
        &mut self,
        tag: Option<&Tag>,
        start: usize,
        role: &Role,
    ) -> Result<Option<Span>, Diagnostic> {
        let Some(tag) =
            tag.filter(|t| t.handle == "!" && (t.suffix == "reset" || t.suffix == "override"))
        else {
            return Ok(None);
        };
        let spelled = format!("!{}", tag.suffix);
        let Some((at, end)) = self.find_tag(start, &spelled) else {
            return Err(self
                .src
                .error(self.span(start, start + 1), format!("warren could not find the `{spelled}` tag of this node to make a copy of the file that Compose v1 reads"))
                .with_hint(V2_HINT));
        };
        let span = self.span(at, end);
        if !self.first {
            return Err(self
                .src
                .error(
                    span,
                    format!("`{spelled}` needs Compose v2: it replaces what an earlier compose file set, where this host's Compose v1 would merge the two"),
                )
                .with_hint(format!("{V2_HINT}; or leave the value out of the earlier compose file and drop the `{spelled}` tag")));
        }
        if tag.suffix == "reset" && matches!(role, Role::Value { .. }) {
            return Ok(Some(span));
        }
        // The tag and the blanks after it on its line: a line break stays,
        // so a block collection keeps its indentation.
        let mut to = end;
        while matches!(self.chars.get(to), Some(' ' | '\t')) {
            to += 1;
        }
        self.cuts.push(Cut {
            start: at,
            end: to,
            with: "",
        });
        Ok(None)
    }

    /// Where the tag `spelled` of a node starting at `start` is: the node's
    /// properties (anchor, tag) come first, separated by blanks, line breaks
    /// or comments.
    fn find_tag(&self, start: usize, spelled: &str) -> Option<(usize, usize)> {
        let c = &self.chars;
        let mut i = start;
        loop {
            match c.get(i)? {
                ' ' | '\t' | '\r' | '\n' => i += 1,
                '#' => {
                    while c.get(i).is_some_and(|&ch| ch != '\n') {
                        i += 1;
                    }
                }
                '&' => {
                    while c
                        .get(i)
                        .is_some_and(|ch| !ch.is_whitespace() && !",[]{}".contains(*ch))
                    {
                        i += 1;
                    }
                }
                '!' => {
                    let from = i;
                    while c
                        .get(i)
                        .is_some_and(|ch| !ch.is_whitespace() && !",[]{}".contains(*ch))
                    {
                        i += 1;
                    }
                    let text: String = c[from..i].iter().collect();
                    return (text == spelled).then_some((from, i));
                }
                _ => return None,
            }
        }
    }

    /// A node has ended: cuts the entry it is the value of when that entry
    /// is the top-level `name` or tagged `!reset` (first file).
    fn done(&mut self, role: Role, reset: Option<Span>) {
        let Role::Value {
            key_start,
            top_name,
        } = role
        else {
            return;
        };
        let cut = (top_name || reset.is_some()).then(|| self.entry_cut(key_start));
        if let Some(Frame::Map {
            entries,
            cut_entries,
            ..
        }) = self.stack.last_mut()
        {
            *entries += 1;
            if let Some(cut) = cut {
                cut_entries.push(self.cuts.len());
                self.cuts.push(cut);
            }
        }
    }

    /// The cut of the entry whose key starts at `key_start` and whose value
    /// ends at `last_end`.
    fn entry_cut(&self, key_start: usize) -> Cut {
        let c = &self.chars;
        // A block scalar's span runs over the blank lines after it: they stay.
        let mut end = self.last_end;
        while end > key_start && c.get(end - 1).is_some_and(|ch| ch.is_whitespace()) {
            end -= 1;
        }
        let mut start = key_start;
        let flow = matches!(self.stack.last(), Some(Frame::Map { flow: true, .. }));
        if flow {
            // `{a: 1, name: x}`: the comma that separated the entry goes too.
            let mut after = end;
            while c.get(after).is_some_and(|ch| ch.is_whitespace()) {
                after += 1;
            }
            if c.get(after) == Some(&',') {
                end = after + 1;
            } else {
                let mut before = start;
                while before > 0 && c.get(before - 1).is_some_and(|ch| ch.is_whitespace()) {
                    before -= 1;
                }
                if before > 0 && c.get(before - 1) == Some(&',') {
                    start = before - 1;
                }
            }
        }
        Cut {
            start,
            end,
            with: "",
        }
    }

    /// An alias of an anchor that was cut out would leave v1 an unknown
    /// anchor.
    fn check_aliases(&self) -> Result<(), Diagnostic> {
        let cut = |at: usize| self.cuts.iter().any(|c| c.start <= at && at < c.end);
        for (id, at, span) in &self.aliases {
            if self.anchors.get(id).is_some_and(|def| cut(*def)) && !cut(*at) {
                return Err(self
                    .src
                    .error(
                        *span,
                        "this alias refers to an anchor inside an entry that Compose v1's copy of the file leaves out (a top-level `name:` or a `!reset` value)",
                    )
                    .with_hint(format!("define the anchor elsewhere, or {V2_HINT}")));
            }
        }
        Ok(())
    }

    /// The text with the cuts made (a cut inside another is part of it).
    /// A cut keeps its line breaks, so what compose says about a line of
    /// the copy is true of the same line of the original.
    fn apply(&self) -> String {
        let mut cuts = self.cuts.clone();
        cuts.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
        let mut out = String::new();
        let mut at = 0;
        for c in cuts {
            if c.start < at {
                continue;
            }
            out.extend(&self.chars[at..c.start]);
            out.push_str(c.with);
            out.extend(self.chars[c.start..c.end].iter().filter(|&&ch| ch == '\n'));
            at = c.end;
        }
        out.extend(&self.chars[at..]);
        out
    }

    /// The position of characters `start..end` for diagnostics.
    fn span(&self, start: usize, end: usize) -> Span {
        let before = &self.chars[..start.min(self.chars.len())];
        let line = before.iter().filter(|&&c| c == '\n').count() + 1;
        let col = before.iter().rev().take_while(|&&c| c != '\n').count() + 1;
        let to_u32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Span::new(
            to_u32(line),
            to_u32(col),
            to_u32(end.saturating_sub(start).max(1)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1(text: &str) -> Option<String> {
        for_compose_v1(Path::new("c.yml"), text, true).unwrap()
    }

    #[test]
    fn a_top_level_name_is_cut_and_the_rest_kept_byte_for_byte() {
        let text = "version: '3.8'\n\n# the project\nname: ${CUSTOM_NAME} # ours\n\nx-base: &base\n  tty: yes\nservices:\n  app:\n    <<: *base\n    image: ubuntu\n    volumes:\n      - ..:/workspace:cached\n";
        assert_eq!(
            v1(text).as_deref(),
            Some(
                "version: '3.8'\n\n# the project\n # ours\n\nx-base: &base\n  tty: yes\nservices:\n  app:\n    <<: *base\n    image: ubuntu\n    volumes:\n      - ..:/workspace:cached\n"
            )
        );
    }

    #[test]
    fn only_the_top_level_name_goes() {
        let text = "services:\n  name:\n    image: x\n    environment:\n      name: y\n    labels: {name: z}\n  app:\n    image: x\n    container_name: c\n    hostname: name\n";
        assert_eq!(v1(text), None, "nothing to change");
        let text = "services:\n  app:\n    image: x\n    name: inner\nname: last\n";
        assert_eq!(
            v1(text).as_deref(),
            Some("services:\n  app:\n    image: x\n    name: inner\n\n")
        );
    }

    #[test]
    fn names_of_every_spelling_go() {
        assert_eq!(
            v1("\"name\": p\nservices: {}\n").as_deref(),
            Some("\nservices: {}\n")
        );
        assert_eq!(
            v1("name: |\n  p\n\nservices: {}\n").as_deref(),
            Some("\n\n\nservices: {}\n")
        );
        assert_eq!(
            v1("{name: p, services: {a: {image: x}}}\n").as_deref(),
            Some("{ services: {a: {image: x}}}\n")
        );
        assert_eq!(
            v1("{services: {a: {image: x}}, name: p}\n").as_deref(),
            Some("{services: {a: {image: x}}}\n")
        );
    }

    #[test]
    fn reset_in_the_first_file_leaves_the_entry_out() {
        let text = "name: p\nservices:\n  app:\n    image: ubuntu\n    ports: !reset []\n    command: !override [\"sleep\", \"1\"]\n    environment: !reset\n      A: 1\n    volumes:\n      - ..:/workspace\n";
        assert_eq!(
            v1(text).as_deref(),
            Some(
                "\nservices:\n  app:\n    image: ubuntu\n    \n    command: [\"sleep\", \"1\"]\n    \n\n    volumes:\n      - ..:/workspace\n"
            )
        );
        let lines = |t: &str| t.lines().count();
        assert_eq!(lines(&v1(text).unwrap()), lines(text), "line numbers hold");
        // A map left with no entries stays a map.
        assert_eq!(
            v1("services:\n  app:\n    ports: !reset []\n").as_deref(),
            Some("services:\n  app:\n    {}\n")
        );
        // A tagged block value keeps its line break.
        assert_eq!(
            v1("services:\n  app:\n    command: !override\n      - sleep\n").as_deref(),
            Some("services:\n  app:\n    command: \n      - sleep\n")
        );
    }

    #[test]
    fn reset_in_a_later_file_is_refused_where_it_is() {
        let text = "services:\n  app:\n    ports: !reset []\n";
        let err = for_compose_v1(Path::new("/p/override.yml"), text, false).unwrap_err();
        assert!(err.is_error());
        assert_eq!(err.location(), "/p/override.yml:3:12");
        assert!(
            err.message.contains("`!reset` needs Compose v2"),
            "{}",
            err.message
        );
        let text = "services:\n  app:\n    command: &c !override [a]\n";
        let err = for_compose_v1(Path::new("o.yml"), text, false).unwrap_err();
        assert_eq!(err.location(), "o.yml:3:17");
        // A name alone is fine in any file.
        assert_eq!(
            for_compose_v1(Path::new("o.yml"), "name: x\n", false)
                .unwrap()
                .as_deref(),
            Some("{}\n")
        );
    }

    #[test]
    fn other_tags_and_unreadable_text_are_left_to_compose() {
        assert_eq!(
            v1("services:\n  app:\n    image: !!str x\n    x-y: !custom z\n"),
            None
        );
        assert_eq!(v1("services: [\n"), None);
    }

    #[test]
    fn an_alias_of_a_cut_anchor_is_refused() {
        let err = for_compose_v1(
            Path::new("c.yml"),
            "name: &n p\nservices:\n  app:\n    image: *n\n",
            true,
        )
        .unwrap_err();
        assert_eq!(err.location(), "c.yml:4:12");
    }
}
