//! Wrapping `error:`/`hint:` lines to the terminal, continuation lines
//! indented under the text (not the label), as uv does.

/// Columns of the terminal on stderr, if it is one.
pub fn terminal_width() -> Option<usize> {
    terminal_size::terminal_size_of(std::io::stderr())
        .map(|(w, _)| usize::from(w.0))
        .filter(|w| *w >= 40)
}

/// `text` broken at spaces so that no line (with `indent` columns before
/// the first) passes `width`; later lines start with `indent` spaces.
/// Without a width, or for text with its own line breaks, unchanged.
pub fn wrap(text: &str, indent: usize, width: Option<usize>) -> String {
    let Some(width) = width else {
        return text.to_string();
    };
    if text.contains('\n') || indent + text.chars().count() <= width {
        return text.to_string();
    }
    let room = width.saturating_sub(indent).max(20);
    let mut out = String::new();
    let mut len = 0;
    for word in text.split(' ') {
        let w = word.chars().count();
        if len > 0 && len + 1 + w > room {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            len = 0;
        } else if len > 0 {
            out.push(' ');
            len += 1;
        }
        out.push_str(word);
        len += w;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_under_the_text() {
        assert_eq!(wrap("a b c", 6, None), "a b c");
        assert_eq!(
            wrap("one two three four five six", 6, Some(26)),
            "one two three four\n      five six"
        );
        assert_eq!(wrap("short", 6, Some(80)), "short");
    }
}
