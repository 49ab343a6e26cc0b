//! Untrusted text (names, notes, ids from Graph) made safe to put on one line of any output.

/// Longest name shown; Graph allows far longer, and a digest or an event is for reading.
pub const MAX_NAME_CHARS: usize = 120;

/// Untrusted text made safe for one line: control characters (CR, LF, tab, NUL, C1, …), Unicode
/// line and paragraph separators and bidirectional overrides become spaces; overlong text is
/// cut with an ellipsis.
pub fn clean(text: &str) -> String {
    let mut out: String = text.chars().take(MAX_NAME_CHARS + 1).map(one_line_char).collect();
    if out.chars().count() > MAX_NAME_CHARS {
        out = out.chars().take(MAX_NAME_CHARS - 1).collect();
        out.push('…');
    }
    out
}

/// `text` escaped for HTML, as the templates escape it (askama's escaper): for the few
/// fragments of HTML written outside a template (escalation mails, the sign-in error pages).
pub fn html_escape(text: &str) -> String {
    match askama::filters::escape(text, askama::filters::Html) {
        Ok(safe) => safe.to_string(),
        Err(never) => match never {},
    }
}

/// [`clean`] without the cut: for where a name must be told apart from one that differs only
/// at its end (the calendar feed's descriptions).
pub fn one_line(text: &str) -> String {
    text.chars().map(one_line_char).collect()
}

fn one_line_char(c: char) -> char {
    if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    {
        ' '
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escape_leaves_no_markup() {
        assert_eq!(
            html_escape(r#"<img src=x onerror='a()'> & "b""#),
            "&#60;img src=x onerror=&#39;a()&#39;&#62; &#38; &#34;b&#34;"
        );
    }

    #[test]
    fn text_stays_on_one_line() {
        assert_eq!(clean("a\r\nBcc: x@y\u{0}\u{202e}z"), "a  Bcc: x@y  z");
        assert_eq!(clean("a\u{2028}b\u{2066}c"), "a b c");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        let long = "x".repeat(500);
        let cut = clean(&long);
        assert_eq!(cut.chars().count(), MAX_NAME_CHARS);
        assert!(cut.ends_with('…'));
        assert_eq!(clean(&"y".repeat(MAX_NAME_CHARS)), "y".repeat(MAX_NAME_CHARS));
    }

    #[test]
    fn one_line_keeps_the_whole_text() {
        let long = format!("{}\r\nend", "é".repeat(300));
        let whole = one_line(&long);
        assert_eq!(whole.chars().count(), 305);
        assert!(whole.ends_with("  end"));
    }
}
