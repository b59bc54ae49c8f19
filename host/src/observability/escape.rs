//! What makes a plugin-supplied string safe to put on a log line, in a header or a URL:
//! control characters written as escapes (so no line can be forged), and byte-bounded
//! cuts on character boundaries. A leaf every layer may use (secret redaction is the log
//! capability's, `capability/log`, which knows the plugin's secrets).

/// `text` with every control character (and the Unicode line and paragraph separators)
/// written as an escape: `\n`, `\r`, `\t`, `\u{1b}`. Borrowed when there is none, which
/// is nearly always.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    // Printable ASCII needs nothing (almost every path, id and line): a fold, so the bytes
    // are checked many at a time.
    if text.bytes().fold(true, |printable, b| printable & (b' '..=b'~').contains(&b)) {
        return std::borrow::Cow::Borrowed(text);
    }
    let needs_escape = |c: char| c.is_control() || c == '\u{2028}' || c == '\u{2029}';
    if !text.chars().any(needs_escape) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            c if needs_escape(c) => escaped.extend(c.escape_unicode()),
            c => escaped.push(c),
        }
    }
    std::borrow::Cow::Owned(escaped)
}

/// `s` cut to at most `max` bytes, on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_so_no_line_can_be_forged() {
        assert_eq!(escape_controls("plain text"), "plain text");
        assert!(matches!(escape_controls("plain"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(
            escape_controls("a\nINFO plughost::access: forged\r\u{1b}[31mred\u{2028}"),
            "a\\nINFO plughost::access: forged\\r\\u{1b}[31mred\\u{2028}"
        );
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
