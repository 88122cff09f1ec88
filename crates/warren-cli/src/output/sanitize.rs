//! Text that came from inside an environment (an agent's output, a
//! lifecycle command's lines) is shown without its terminal control
//! sequences: an agent must not write the user's clipboard (OSC 52), set
//! the title, move the cursor or clear the screen. Colours (SGR) stay.

/// `text` with every control sequence but SGR colours, and every control
/// character but tab and newline, replaced by `�` or dropped.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.peek() {
                // CSI: parameters, then one final byte 0x40..=0x7e.
                Some('[') => {
                    chars.next();
                    let mut seq = String::new();
                    let mut fin = None;
                    for n in chars.by_ref() {
                        if ('\x40'..='\x7e').contains(&n) {
                            fin = Some(n);
                            break;
                        }
                        seq.push(n);
                    }
                    let params_ok = seq.chars().all(|c| c.is_ascii_digit() || c == ';');
                    if fin == Some('m') && params_ok {
                        out.push_str("\x1b[");
                        out.push_str(&seq);
                        out.push('m');
                    }
                }
                // OSC, DCS, SOS, PM, APC: a string up to BEL or ST.
                Some(']' | 'P' | 'X' | '^' | '_') => {
                    chars.next();
                    while let Some(n) = chars.next() {
                        if n == '\x07' {
                            break;
                        }
                        if n == '\x1b' {
                            if chars.peek() == Some(&'\\') {
                                chars.next();
                            }
                            break;
                        }
                    }
                }
                // Any other escape: drop it and the byte after it.
                Some(_) => {
                    chars.next();
                }
                None => {}
            },
            '\n' | '\t' => out.push(c),
            '\r' => {}
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_text_and_colour_drops_the_rest() {
        assert_eq!(sanitize("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(sanitize("\x1b[1;31mred\x1b[0m"), "\x1b[1;31mred\x1b[0m");
        // OSC 52 clipboard write, with BEL and with ST.
        assert_eq!(sanitize("a\x1b]52;c;aGk=\x07b"), "ab");
        assert_eq!(sanitize("a\x1b]0;title\x1b\\b"), "ab");
        // Clear screen, cursor home, cursor up.
        assert_eq!(sanitize("\x1b[2J\x1b[H\x1b[3Ax"), "x");
        // DCS, a bare ESC, C1-ish controls.
        assert_eq!(sanitize("\x1bPq#0\x1b\\y"), "y");
        assert_eq!(sanitize("\x1bcz"), "z");
        assert_eq!(sanitize("bell\x07"), "bell\u{fffd}");
        assert_eq!(sanitize("over\rwrite"), "overwrite");
    }
}
