//! Who an application names for its reminders: its owners' mail addresses and the addresses its
//! notes list after `credwatch-notify:`. Both come from the directory, so only a bare address
//! is taken: text from Graph chooses no display name, no header and no second recipient.

use super::Owner;
use std::fmt;

/// A bare `local@domain` e-mail address, checked once: a dot-atom local part of at most 64
/// characters and a dotted domain name, ASCII only, nothing else (no display name, no route,
/// no quoting, no comment, no control character). Every such address is one the mail side
/// accepts as it is.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddress(String);

/// Where an address's local part ends and its domain starts.
const AT: char = '@';

impl EmailAddress {
    /// `text` as an address, or `None` when it is anything but a plain address.
    pub fn parse(text: &str) -> Option<EmailAddress> {
        if text.len() > 254 || !text.is_ascii() {
            return None;
        }
        let (local, domain) = text.rsplit_once(AT)?;
        (valid_local(local) && valid_domain(domain)).then(|| EmailAddress(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@`.
    pub fn local_part(&self) -> &str {
        self.0.rsplit_once(AT).map_or("", |(l, _)| l)
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once(AT).map_or("", |(_, d)| d)
    }
}

/// RFC 5322 `atext`: what a dot-atom is made of.
fn atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

/// A dot-atom: runs of `atext` separated by single dots.
fn valid_local(local: &str) -> bool {
    local.len() <= 64 && !local.is_empty() && local.split('.').all(|run| !run.is_empty() && run.chars().all(atext))
}

/// At least two labels (a bare host such as `localhost` is no mail domain), each 1 to 63
/// characters starting and ending with a letter or digit.
fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            l.len() <= 63
                && l.starts_with(|c: char| c.is_ascii_alphanumeric())
                && l.ends_with(|c: char| c.is_ascii_alphanumeric())
                && l.chars().all(atext)
        })
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({:?})", self.0)
    }
}

/// Most addresses taken from one application's notes.
const MAX_NOTE_CONTACTS: usize = 10;

/// The addresses an application's notes name for its reminders: `credwatch-notify:` followed by
/// comma- (or semicolon-) separated addresses, on one line. Anything that is not a plain
/// address is ignored; at most 10 are taken.
pub fn notes_contacts(notes: &str) -> Vec<EmailAddress> {
    const MARKER: &str = "credwatch-notify:";
    let mut out = Vec::new();
    for line in notes.lines() {
        let line = line.trim();
        let Some(idx) = line.to_ascii_lowercase().find(MARKER) else {
            continue;
        };
        out.extend(
            line[idx + MARKER.len()..]
                .split([',', ';', ' '])
                .filter_map(|part| EmailAddress::parse(part.trim())),
        );
    }
    out.truncate(MAX_NOTE_CONTACTS);
    out
}

/// The owners' mail addresses (users with a `mail`).
pub fn owner_contacts(owners: &[Owner]) -> Vec<EmailAddress> {
    owners
        .iter()
        .filter_map(|o| o.mail.as_deref().and_then(|m| EmailAddress::parse(m.trim())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_contacts_take_only_plain_addresses() {
        let notes = "Owner team: payments\ncredwatch-notify: a@example.com, B@Example.org;junk, c@x.com\r\nBcc: x@y.com, <c@d.com>, \"n\" <e@f.com>, g@localhost\nCREDWATCH-NOTIFY: h@example.net";
        let got: Vec<String> = notes_contacts(notes).iter().map(ToString::to_string).collect();
        assert_eq!(got, vec!["a@example.com", "B@Example.org", "c@x.com", "h@example.net"]);
        assert!(notes_contacts("nothing here").is_empty());
    }

    #[test]
    fn only_a_bare_address_is_one() {
        for bad in [
            "a@b.com\r\nBcc: c@d.com",
            "Name <a@b.com>",
            "\"a b\"@c.com",
            "a@b",
            "a@.b.com",
            "a@b.com.",
            "a..b@c.com",
            ".a@c.com",
            "a@-b.com",
            "a@b_.com",
            "ä@b.com",
            "a@[127.0.0.1]",
            "@b.com",
            "a@",
            "",
        ] {
            assert_eq!(EmailAddress::parse(bad), None, "{bad:?}");
        }
        let a = EmailAddress::parse("first.last+tag@mail.example.co.uk").unwrap();
        assert_eq!((a.local_part(), a.domain()), ("first.last+tag", "mail.example.co.uk"));
        assert!(EmailAddress::parse(&format!("{}@b.com", "x".repeat(65))).is_none());
    }
}
