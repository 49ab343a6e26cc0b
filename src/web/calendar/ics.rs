//! RFC 5545 content lines, written by hand rather than through the `icalendar` crate: the feed
//! uses a dozen properties, and writing them here makes the two rules that matter exact.
//!
//! - Folding (§3.1): no line is longer than 75 octets *including* the leading space of a
//!   continuation line (the crate wrote continuations of 76), and a fold never falls inside a
//!   UTF-8 sequence or between a backslash and the character it escapes.
//! - Text (§3.3.11): `\`, `;`, `,` and line breaks are escaped; no other control character ever
//!   reaches the output, whatever a caller passes.

use crate::domain::Timestamp;
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// The longest physical line, in octets, without its CRLF.
pub const MAX_LINE: usize = 75;

/// A calendar being written into a string.
#[derive(Debug, Default)]
pub struct Writer {
    out: String,
}

impl Writer {
    pub fn with_capacity(bytes: usize) -> Writer {
        Writer {
            out: String::with_capacity(bytes),
        }
    }

    pub fn len(&self) -> usize {
        self.out.len()
    }

    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// What was written so far, leaving the writer empty.
    pub fn take(&mut self) -> String {
        std::mem::take(&mut self.out)
    }

    pub fn begin(&mut self, component: &str) {
        self.raw("BEGIN", component);
    }

    pub fn end(&mut self, component: &str) {
        self.raw("END", component);
    }

    /// A property whose value is TEXT: escaped here.
    pub fn text(&mut self, name: &str, value: &str) {
        self.raw(name, &escape_text(value));
    }

    /// A UTC DATE-TIME value (`20260315T020000Z`): whole seconds, as RFC 5545 has no fraction,
    /// cut towards the past so that an event is never later than the instant it marks.
    pub fn utc(&mut self, name: &str, at: Timestamp) {
        self.raw(name, &at.naive_utc().format("%Y%m%dT%H%M%SZ").to_string());
    }

    /// A property written as given: `name` may carry parameters (`TRIGGER;RELATED=START`), `value`
    /// is of a type without escapes (URI, DURATION, …). Control characters become spaces, so not
    /// even a caller's mistake can end a line early.
    pub fn raw(&mut self, name: &str, value: &str) {
        let mut line = String::with_capacity(name.len() + 1 + value.len());
        line.push_str(name);
        line.push(':');
        line.extend(value.chars().map(|c| if c.is_control() { ' ' } else { c }));
        fold_into(&mut self.out, &line);
    }
}

/// Escapes a TEXT value. A line break becomes `\n`; a lone CR and any other control character
/// become a space (names are made single-line before they get here, see `feed::whole`).
pub fn escape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Appends `line` folded to [`MAX_LINE`] octets per physical line, ending in CRLF. A unit is one
/// character, or a backslash with the character it escapes, so folds fall only between units.
fn fold_into(out: &mut String, line: &str) {
    let mut width = 0;
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        let mut unit = c.len_utf8();
        if c == '\\'
            && let Some(next) = rest[1..].chars().next()
        {
            unit += next.len_utf8();
        }
        if width + unit > MAX_LINE {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push_str(&rest[..unit]);
        width += unit;
        rest = &rest[unit..];
    }
    out.push_str("\r\n");
}

/// A short stable tag for `text` (8 hex digits of its SHA-256): tells feeds with different
/// filters apart inside day UIDs.
pub fn tag(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest[..4].iter().fold(String::with_capacity(8), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<&str> {
        s.strip_suffix("\r\n").unwrap().split("\r\n").collect()
    }

    fn unfold(s: &str) -> String {
        s.replace("\r\n ", "")
    }

    #[test]
    fn folds_at_75_octets_counting_the_continuation_space() {
        let mut w = Writer::default();
        let value = "x".repeat(300);
        w.raw("DESCRIPTION", &value);
        let out = w.take();
        let ls = lines(&out);
        assert_eq!(ls[0].len(), 75);
        assert!(ls[1..].iter().all(|l| l.starts_with(' ') && l.len() <= 75), "{ls:?}");
        assert_eq!(ls[1].len(), 75, "a full continuation is the space and 74 octets");
        assert_eq!(unfold(&out), format!("DESCRIPTION:{value}\r\n"));
    }

    #[test]
    fn never_splits_a_character_or_an_escape() {
        // 4-octet emoji, 3-octet CJK, 2-octet accents and combining marks, escapes: at every
        // offset, so each kind of unit meets the fold.
        for pad in 0..8 {
            let value = format!("{}😀漢é\u{301}\\;,\n{}", "a".repeat(pad), "😀漢字; é\u{301}, \\ ".repeat(20));
            let mut w = Writer::default();
            w.text("SUMMARY", &value);
            let out = w.take();
            for l in lines(&out) {
                assert!(l.len() <= MAX_LINE, "{} octets: {l:?}", l.len());
                let trailing = l.chars().rev().take_while(|c| *c == '\\').count();
                assert!(trailing % 2 == 0, "an escape split at {l:?}");
            }
            let unfolded = unfold(&out);
            let back = unfolded.strip_prefix("SUMMARY:").unwrap().strip_suffix("\r\n").unwrap();
            assert_eq!(back, escape_text(&value));
        }
    }

    #[test]
    fn text_escapes_and_control_characters() {
        assert_eq!(escape_text("a\\b;c,d\ne\r\nf"), "a\\\\b\\;c\\,d\\ne\\nf");
        assert_eq!(escape_text("a\rb\u{0}c\u{85}d\te"), "a b c d e");
        let mut w = Writer::default();
        w.raw("URL", "https://x/\r\nBEGIN:VEVENT");
        assert_eq!(w.take(), "URL:https://x/  BEGIN:VEVENT\r\n");
    }

    #[test]
    fn tags_are_stable_and_distinct() {
        assert_eq!(tag("prod"), tag("prod"));
        assert_ne!(tag("prod"), tag("test"));
        assert_eq!(tag("").len(), 8);
    }
}
