//! Percent-encoding of URL path segments: the one way every link credwatch writes (its own pages,
//! e-mails, Graph requests) puts a name or an id into a path. Everything but RFC 3986's
//! unreserved characters (`A–Z a–z 0–9 - . _ ~`) is encoded, so a space is `%20` (never `+`,
//! which a path keeps as a plus), and `/`, `?`, `#` and `%` stay inside the segment.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// `text` as one path segment.
pub fn path_segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::path_segment;

    #[test]
    fn reserved_and_non_ascii_characters_stay_inside_the_segment() {
        let name = "a b+c/d?e#f%g–é🚀-._~";
        let encoded = path_segment(name);
        assert_eq!(encoded, "a%20b%2Bc%2Fd%3Fe%23f%25g%E2%80%93%C3%A9%F0%9F%9A%80-._~");
        let decoded = percent_encoding::percent_decode_str(&encoded).decode_utf8().unwrap();
        assert_eq!(decoded, name);
    }
}
