//! One credential as the credential API (`/api/v1/credentials`) and its CSV twin answer it.
//!
//! An answer holds the fields that only change when the credential or its application does,
//! and the facts its other fields are worked out from at the moment of answering (end, last
//! use, acknowledgement, snooze, matching exclusion rules, newer siblings): days left, status,
//! usage, rotation and exclusion move with the clock. The store keeps each live credential's
//! answer as an [`Answer::encode`]d record in answer order, so a large answer is one sequential
//! read; a credential read the long way becomes the same [`Answer`] through [`Answer::of`]. Both
//! render through the same code, so they cannot differ.

use super::{
    Credential, CredentialKind, Exclusions, LastUse, Rotation, Sibling, Source, Status, Successor, Thresholds, Timestamp, Usage,
    rotation_of,
};
use serde::Serialize;
use std::fmt::Write as _;

/// The version of [`Answer::encode`]'s format: a build that writes another one does not read
/// records written with this one (see `store::answers_basis`).
pub const RECORD_FORMAT: u32 = 1;

/// One live credential's answer: its fields and the facts its time-dependent fields are worked
/// out from, borrowing its text (from a [`Credential`], or from a stored record).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer<'a> {
    /// The store's id of the credential; with `end_at`, the answer's order and keyset key.
    pub id: i64,
    pub end_at: Timestamp,
    pub environment: &'a str,
    pub app_object_id: &'a str,
    pub app_id: &'a str,
    pub app_display_name: Option<&'a str>,
    pub kind: CredentialKind,
    pub key_id: &'a str,
    pub display_name: Option<&'a str>,
    pub hint: Option<&'a str>,
    pub start_at: Option<Timestamp>,
    pub source: Source,
    pub last_use: LastUse,
    pub acknowledged_by: Option<&'a str>,
    pub snoozed_until: Option<Timestamp>,
    /// The positions, in [`Exclusions::rules`], of the rules whose matchers accept this
    /// credential (whether or not they are in force).
    pub rules: Vec<u32>,
    /// The credential and its newer siblings (same application and kind, appeared later), each
    /// with its last use: what rotation awareness works from. `None` without newer siblings.
    pub rotation: Option<Box<RotationFacts>>,
    /// The text fields known to go into a CSV cell as they are (see [`PlainCells`]); the others
    /// are looked at as they are written.
    pub plain: PlainCells,
}

/// Which text fields of an answer need no quoting or neutralising in a CSV cell, one bit each
/// in [`Answer::csv_cells`] order: worked out once when an answer is stored, instead of on every
/// CSV answer. No bit set is always right, only slower.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlainCells(pub u8);

/// A credential and its newer siblings, each with its last use.
#[derive(Debug, Clone, PartialEq)]
pub struct RotationFacts {
    pub own: (Sibling, LastUse),
    pub newer: Vec<(Sibling, LastUse)>,
}

/// What the fields of an answer that move with the clock depend on: the configuration and the
/// moment.
#[derive(Debug, Clone, Copy)]
pub struct Answering<'c> {
    pub thresholds: &'c Thresholds,
    /// `usage.active_days`.
    pub active_days: i64,
    pub exclusions: &'c Exclusions,
    pub now: Timestamp,
}

/// A record that does not read back (see [`Answer::decode`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a stored answer does not read back: {0}")]
pub struct RecordError(&'static str);

/// The API's row: SPEC.md's fields in its order, then credwatch's own.
#[derive(Serialize)]
struct Json<'a> {
    environment: &'a str,
    app_object_id: &'a str,
    app_id: &'a str,
    app_display_name: Option<&'a str>,
    kind: CredentialKind,
    key_id: &'a str,
    display_name: Option<&'a str>,
    hint: Option<&'a str>,
    start: Option<Timestamp>,
    end: Timestamp,
    days_left: i64,
    status: Status,
    /// `application` (app registration) or `service_principal` (enterprise application).
    source: Source,
    /// The exclusion rule silencing this credential's reminders, if one applies.
    excluded: Option<Excluded<'a>>,
    /// The newer credential that replaced this one, if it was superseded. Where sign-in
    /// evidence gives a rotation verdict, that replaces the time-based guess: `complete` keeps
    /// it, `in_progress` clears it (the old one is still needed).
    superseded_by: Option<Successor>,
    /// The last recorded sign-in with this credential (RFC 3339), or null.
    last_used_at: Option<Timestamp>,
    /// `in_use`, `idle` or `unknown` (see `usage.active_days`).
    usage: Usage,
    /// What the sign-in evidence says of a rotation away from this credential, if any.
    rotation: Option<Rotation>,
    /// Who said "I'm on it", or null.
    acknowledged_by: Option<&'a str>,
    /// Until when its reminders are snoozed (RFC 3339), or null when not snoozed now.
    snoozed_until: Option<Timestamp>,
}

#[derive(Serialize)]
struct Excluded<'a> {
    rule: &'a str,
    reason: &'a str,
    until: Option<String>,
}

/// The first line of the CSV answer.
pub const CSV_HEADER: &str = "environment,app_object_id,app_id,app_display_name,kind,key_id,display_name,hint,start,end,days_left,status,last_used_at,usage,rotation,acknowledged_by,snoozed_until\r\n";

impl<'a> Answer<'a> {
    /// The answer of `c`, given its newer siblings; `exclusions` decides [`Answer::rules`].
    pub fn of(c: &'a Credential, newer: Vec<(Sibling, LastUse)>, exclusions: &Exclusions) -> Answer<'a> {
        Answer {
            id: c.id,
            end_at: c.end_at,
            environment: &c.environment,
            app_object_id: &c.app_object_id,
            app_id: &c.app_id,
            app_display_name: c.app_display_name.as_deref(),
            kind: c.kind,
            key_id: &c.key_id,
            display_name: c.display_name.as_deref(),
            hint: c.hint.as_deref(),
            start_at: c.start_at,
            source: c.app_source,
            last_use: c.last_use,
            acknowledged_by: c.attention.acknowledged.as_ref().map(|a| a.by.as_str()),
            snoozed_until: c.attention.snoozed_until,
            rules: exclusions
                .rules
                .iter()
                .enumerate()
                .filter(|(_, r)| r.matches(c))
                .map(|(i, _)| i as u32)
                .collect(),
            rotation: (!newer.is_empty()).then(|| {
                Box::new(RotationFacts {
                    own: (Sibling::from(c), c.last_use),
                    newer,
                })
            }),
            plain: PlainCells::default(),
        }
        .with_plain_cells()
    }

    /// The text fields that become CSV cells, in the order of [`PlainCells`]' bits.
    fn csv_cells(&self) -> [&'a str; 8] {
        [
            self.environment,
            self.app_object_id,
            self.app_id,
            self.app_display_name.unwrap_or(""),
            self.key_id,
            self.display_name.unwrap_or(""),
            self.hint.unwrap_or(""),
            self.acknowledged_by.unwrap_or(""),
        ]
    }

    /// This answer with [`Answer::plain`] worked out.
    fn with_plain_cells(mut self) -> Answer<'a> {
        let mut plain = 0;
        for (i, cell) in self.csv_cells().into_iter().enumerate() {
            if text_cell_is_plain(cell) {
                plain |= 1 << i;
            }
        }
        self.plain = PlainCells(plain);
        self
    }

    /// Appends the answer as a JSON object.
    pub fn write_json(&self, out: &mut Vec<u8>, at: &Answering) {
        let (superseded_by, rotation) = self.rotation_now(at.now);
        let excluded = self
            .rules
            .iter()
            .filter_map(|i| at.exclusions.rules.get(*i as usize))
            .find(|r| r.active(at.now))
            .map(|r| Excluded {
                rule: &r.name,
                reason: &r.reason,
                until: r.until.map(|u| u.to_string()),
            });
        let json = Json {
            environment: self.environment,
            app_object_id: self.app_object_id,
            app_id: self.app_id,
            app_display_name: self.app_display_name,
            kind: self.kind,
            key_id: self.key_id,
            display_name: self.display_name,
            hint: self.hint,
            start: self.start_at,
            end: self.end_at,
            days_left: super::days_left(self.end_at, at.now),
            status: at.thresholds.status(self.end_at, at.now),
            source: self.source,
            excluded,
            superseded_by: match rotation {
                Some(Rotation::InProgress) => None,
                _ => superseded_by,
            },
            last_used_at: self.last_use.at(),
            usage: Usage::classify(self.last_use, at.active_days, at.now),
            rotation,
            acknowledged_by: self.acknowledged_by,
            snoozed_until: self.snoozed_until.filter(|u| *u > at.now),
        };
        serde_json::to_writer(out, &json).expect("writing to memory cannot fail");
    }

    /// Appends the answer as a CSV line (after [`CSV_HEADER`]).
    pub fn write_csv(&self, out: &mut String, at: &Answering) {
        let cells = self.csv_cells();
        let cell = |out: &mut String, i: usize| {
            if self.plain.0 & (1 << i) != 0 {
                out.push_str(cells[i]);
            } else {
                push_text_cell(out, cells[i]);
            }
        };
        for i in 0..4 {
            cell(out, i);
            out.push(',');
        }
        out.push_str(self.kind.as_str());
        out.push(',');
        for i in 4..7 {
            cell(out, i);
            out.push(',');
        }
        if let Some(start) = self.start_at {
            let _ = write!(out, "{start}");
        }
        let _ = write!(
            out,
            ",{},{},{},",
            self.end_at,
            super::days_left(self.end_at, at.now),
            at.thresholds.status(self.end_at, at.now).as_str()
        );
        if let Some(t) = self.last_use.at() {
            let _ = write!(out, "{t}");
        }
        let (_, rotation) = self.rotation_now(at.now);
        out.push(',');
        out.push_str(Usage::classify(self.last_use, at.active_days, at.now).as_str());
        out.push(',');
        out.push_str(rotation.map(|r| r.as_str()).unwrap_or(""));
        out.push(',');
        cell(out, 7);
        out.push(',');
        if let Some(t) = self.snoozed_until.filter(|u| *u > at.now) {
            let _ = write!(out, "{t}");
        }
        out.push_str("\r\n");
    }

    /// The successor (by time) and the rotation verdict (by evidence) at `now`.
    fn rotation_now(&self, now: Timestamp) -> (Option<Successor>, Option<Rotation>) {
        match &self.rotation {
            None => (None, None),
            Some(facts) => {
                let (by, verdict) = rotation_of((&facts.own.0, facts.own.1), &facts.newer, now);
                (by, verdict.map(|v| v.rotation))
            }
        }
    }

    /// Appends the answer as one self-delimiting record: every field as its length in bytes,
    /// a colon, and its text. [`Answer::decode`] reads it back borrowing its text.
    pub fn encode(&self, out: &mut String) {
        for field in [self.environment, self.app_object_id, self.app_id] {
            put(out, field);
        }
        put_opt(out, self.app_display_name);
        put(out, self.kind.as_str());
        put(out, self.key_id);
        put_opt(out, self.display_name);
        put_opt(out, self.hint);
        put_opt_number(out, self.start_at.map(Timestamp::ticks));
        put(out, self.source.as_str());
        put_last_use(out, self.last_use);
        put_opt(out, self.acknowledged_by);
        put_opt_number(out, self.snoozed_until.map(Timestamp::ticks));
        let rules: Vec<String> = self.rules.iter().map(u32::to_string).collect();
        put(out, &rules.join(","));
        match &self.rotation {
            None => put_number(out, 0),
            Some(facts) => {
                put_number(out, 1 + facts.newer.len() as i64);
                for (s, last_use) in std::iter::once(&facts.own).chain(&facts.newer) {
                    put_number(out, s.id);
                    put_number(out, s.application_id);
                    put(out, s.kind.as_str());
                    put(out, &s.key_id);
                    put_opt(out, s.display_name.as_deref());
                    put_opt_number(out, s.start_at.map(Timestamp::ticks));
                    put_number(out, s.end_at.ticks());
                    put_number(out, s.first_seen_at.ticks());
                    put_last_use(out, *last_use);
                }
            }
        }
        put_number(out, i64::from(self.plain.0));
        // Last, at a fixed width: a batch's last key is read off its end (see [`last_key`]).
        put(out, &format!("{:+020}{:+020}", self.end_at.ticks(), self.id));
    }

    /// Reads one [`Answer::encode`]d record from the front of `text`, and moves past it.
    pub fn decode(text: &mut &'a str) -> Result<Answer<'a>, RecordError> {
        let environment = take(text)?;
        let app_object_id = take(text)?;
        let app_id = take(text)?;
        let app_display_name = take_opt(text)?;
        let kind = CredentialKind::parse(take(text)?).ok_or(RecordError("kind"))?;
        let key_id = take(text)?;
        let display_name = take_opt(text)?;
        let hint = take_opt(text)?;
        let start_at = take_opt_number(text)?.map(Timestamp::from_ticks);
        let source = Source::parse(take(text)?).ok_or(RecordError("source"))?;
        let last_use = take_last_use(text)?;
        let acknowledged_by = take_opt(text)?;
        let snoozed_until = take_opt_number(text)?.map(Timestamp::from_ticks);
        let rules = match take(text)? {
            "" => Vec::new(),
            list => list
                .split(',')
                .map(|i| i.parse().map_err(|_| RecordError("rules")))
                .collect::<Result<_, _>>()?,
        };
        let siblings = take_number(text)?;
        let mut group = Vec::with_capacity(siblings.clamp(0, 64) as usize);
        for _ in 0..siblings {
            let sibling = Sibling {
                id: take_number(text)?,
                application_id: take_number(text)?,
                kind: CredentialKind::parse(take(text)?).ok_or(RecordError("kind"))?,
                key_id: take(text)?.to_owned(),
                display_name: take_opt(text)?.map(str::to_owned),
                start_at: take_opt_number(text)?.map(Timestamp::from_ticks),
                end_at: Timestamp::from_ticks(take_number(text)?),
                first_seen_at: Timestamp::from_ticks(take_number(text)?),
            };
            group.push((sibling, take_last_use(text)?));
        }
        let mut group = group.into_iter();
        let rotation = group.next().map(|own| {
            Box::new(RotationFacts {
                own,
                newer: group.collect(),
            })
        });
        let plain = PlainCells(u8::try_from(take_number(text)?).map_err(|_| RecordError("plain cells"))?);
        let (end_at, id) = key(take(text)?)?;
        Ok(Answer {
            id,
            end_at,
            environment,
            app_object_id,
            app_id,
            app_display_name,
            kind,
            key_id,
            display_name,
            hint,
            start_at,
            source,
            last_use,
            acknowledged_by,
            snoozed_until,
            rules,
            rotation,
            plain,
        })
    }
}

/// The length of a record's last field, its key: `+`/`-` and 19 digits, twice.
const KEY_LEN: usize = 40;

/// The `(end_at, id)` of the last of some [`Answer::encode`]d records, read off the end of their
/// text: the key a batch ends at, without reading the batch.
pub fn last_key(text: &str) -> Result<(Timestamp, i64), RecordError> {
    let field = text
        .len()
        .checked_sub(KEY_LEN + 3)
        .and_then(|at| text.get(at..))
        .and_then(|last| last.strip_prefix("40:"))
        .ok_or(RecordError("the last key"))?;
    key(field)
}

fn key(field: &str) -> Result<(Timestamp, i64), RecordError> {
    if field.len() != KEY_LEN || !field.is_char_boundary(KEY_LEN / 2) {
        return Err(RecordError("a key"));
    }
    let (end_at, id) = field.split_at(KEY_LEN / 2);
    let number = |s: &str| number(s.strip_prefix('+').unwrap_or(s));
    Ok((Timestamp::from_ticks(number(end_at)?), number(id)?))
}

fn put(out: &mut String, field: &str) {
    let _ = write!(out, "{}:", field.len());
    out.push_str(field);
}

fn put_number(out: &mut String, n: i64) {
    put(out, &n.to_string());
}

/// `None` as an empty field, `Some(s)` as `=` and `s` (so `Some("")` stays itself).
fn put_opt(out: &mut String, field: Option<&str>) {
    match field {
        None => put(out, ""),
        Some(s) => {
            let _ = write!(out, "{}:=", s.len() + 1);
            out.push_str(s);
        }
    }
}

fn put_opt_number(out: &mut String, n: Option<i64>) {
    match n {
        None => put(out, ""),
        Some(n) => put_number(out, n),
    }
}

fn put_last_use(out: &mut String, last_use: LastUse) {
    match last_use {
        LastUse::NotRead => put(out, "n"),
        LastUse::Never => put(out, "v"),
        LastUse::Unreadable => put(out, "u"),
        LastUse::At(t) => put(out, &format!("a{}", t.ticks())),
    }
}

/// The next field: its length (decimal digits up to a colon), then that many bytes.
fn take<'a>(text: &mut &'a str) -> Result<&'a str, RecordError> {
    let bytes = text.as_bytes();
    let mut len: usize = 0;
    let mut i = 0;
    loop {
        match bytes.get(i) {
            Some(b':') if i > 0 => break,
            Some(d @ b'0'..=b'9') if i < 10 => len = len * 10 + usize::from(d - b'0'),
            _ => return Err(RecordError("a field's length")),
        }
        i += 1;
    }
    let field = text.get(i + 1..i + 1 + len).ok_or(RecordError("a field cut short"))?;
    *text = &text[i + 1 + len..];
    Ok(field)
}

fn take_opt<'a>(text: &mut &'a str) -> Result<Option<&'a str>, RecordError> {
    let field = take(text)?;
    match field.strip_prefix('=') {
        Some(s) => Ok(Some(s)),
        None if field.is_empty() => Ok(None),
        None => Err(RecordError("an optional field")),
    }
}

fn take_number(text: &mut &str) -> Result<i64, RecordError> {
    number(take(text)?)
}

fn take_opt_number(text: &mut &str) -> Result<Option<i64>, RecordError> {
    match take(text)? {
        "" => Ok(None),
        n => number(n).map(Some),
    }
}

fn take_last_use(text: &mut &str) -> Result<LastUse, RecordError> {
    match take(text)? {
        "n" => Ok(LastUse::NotRead),
        "v" => Ok(LastUse::Never),
        "u" => Ok(LastUse::Unreadable),
        other => match other.strip_prefix('a') {
            Some(t) => Ok(LastUse::At(Timestamp::from_ticks(number(t)?))),
            None => Err(RecordError("last use")),
        },
    }
}

/// A decimal `i64` as [`Answer::encode`] writes it (an optional minus, then digits).
fn number(s: &str) -> Result<i64, RecordError> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    if digits.is_empty() || digits.len() > 19 {
        return Err(RecordError("a number"));
    }
    let mut n: i64 = 0;
    for d in digits.bytes() {
        if !d.is_ascii_digit() {
            return Err(RecordError("a number"));
        }
        n = n
            .checked_mul(10)
            .and_then(|n| {
                if negative {
                    n.checked_sub(i64::from(d - b'0'))
                } else {
                    n.checked_add(i64::from(d - b'0'))
                }
            })
            .ok_or(RecordError("a number"))?;
    }
    Ok(n)
}

/// Whether `s` goes into a CSV cell as it is (see [`push_text_cell`]).
fn text_cell_is_plain(s: &str) -> bool {
    let b = s.as_bytes();
    !matches!(b.first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r' | b' '))
        && !b.ends_with(b" ")
        && !b.iter().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
}

/// Appends `s` as a text cell a spreadsheet shows as text: a leading `= + - @`, tab or carriage
/// return would make it a formula (OWASP "CSV injection"), so such cells get a leading
/// apostrophe; then quoted when it holds a separator, a quote or a line break.
fn push_text_cell(out: &mut String, s: &str) {
    // Bytes, not chars: every one asked about is ASCII, and UTF-8 never reuses them inside a
    // longer character.
    let formula = matches!(s.as_bytes().first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r'));
    let quoted = s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) || (!formula && s.starts_with(' ')) || s.ends_with(' ');
    if quoted {
        out.push('"');
    }
    if formula {
        out.push('\'');
    }
    if quoted {
        for (i, part) in s.split('"').enumerate() {
            if i > 0 {
                out.push_str("\"\"");
            }
            out.push_str(part);
        }
        out.push('"');
    } else {
        out.push_str(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_cell(s: &str) -> String {
        let mut out = String::new();
        push_text_cell(&mut out, s);
        out
    }

    #[test]
    fn plain_cells_are_those_written_as_they_are() {
        for s in [
            "", "a", " a", "a ", "=1", "+", "-x", "@", "\tx", "\rx", "a,b", "a\"b", "a\nb", "a\rb", "é ∑", "x=y", "a b",
        ] {
            assert_eq!(text_cell_is_plain(s), text_cell(s) == s, "{s:?}");
        }
    }

    #[test]
    fn csv_cells_cannot_become_formulas() {
        assert_eq!(
            text_cell("=HYPERLINK(\"http://evil\",\"x\")"),
            "\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\""
        );
        assert_eq!(text_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(text_cell("-2+3"), "'-2+3");
        assert_eq!(text_cell("\tx"), "'\tx");
        assert_eq!(text_cell("a\r\nb"), "\"a\r\nb\"");
        assert_eq!(text_cell("plain"), "plain");
    }

    fn sibling(id: i64, key: &str, name: Option<&str>, start: Option<i64>) -> Sibling {
        Sibling {
            id,
            application_id: 7,
            kind: CredentialKind::Secret,
            key_id: key.into(),
            display_name: name.map(Into::into),
            start_at: start.map(Timestamp::from_ticks),
            end_at: Timestamp::from_ticks(9_000_000_000_000_001),
            first_seen_at: Timestamp::from_ticks(-5),
        }
    }

    fn answer(name: &'static str, rotation: bool) -> Answer<'static> {
        Answer {
            id: 42,
            end_at: Timestamp::from_ticks(8_000_000_000_000_123),
            environment: name,
            app_object_id: "",
            app_id: "3:abc",
            app_display_name: Some(name),
            kind: CredentialKind::Certificate,
            key_id: name,
            display_name: None,
            hint: Some(""),
            start_at: rotation.then(|| Timestamp::from_ticks(-1)),
            source: Source::ServicePrincipal,
            last_use: LastUse::At(Timestamp::from_ticks(77)),
            acknowledged_by: Some(name),
            snoozed_until: None,
            rules: if rotation { vec![0, 3] } else { vec![] },
            plain: PlainCells(if rotation { 0b1010_0101 } else { 0 }),
            rotation: rotation.then(|| {
                Box::new(RotationFacts {
                    own: (sibling(42, "k:1", Some(""), None), LastUse::Never),
                    newer: vec![
                        (sibling(43, "k2", Some("ä:1:=∑"), Some(1)), LastUse::Unreadable),
                        (sibling(44, "", None, Some(-1)), LastUse::NotRead),
                    ],
                })
            }),
        }
    }

    /// Records of hostile and multi-byte text (colons, digits, `=`, quotes, line breaks,
    /// empty strings) read back exactly, one after another from one text.
    #[test]
    fn records_read_back_exactly() {
        let answers = [
            answer("12:ab=\"\n\r,é∑🦀", true),
            answer("", false),
            answer("=", true),
            Answer {
                acknowledged_by: None,
                last_use: LastUse::Never,
                ..answer("0:", false)
            },
        ];
        let mut text = String::new();
        for a in &answers {
            a.encode(&mut text);
        }
        let mut rest = text.as_str();
        for a in &answers {
            assert_eq!(&Answer::decode(&mut rest).unwrap(), a);
            let read = &text[..text.len() - rest.len()];
            assert_eq!(last_key(read).unwrap(), (a.end_at, a.id), "the key read off the end");
        }
        assert_eq!(rest, "");
        // A record cut anywhere is an error, never a panic or a different answer.
        for cut in 0..text.len() {
            if let Some(mut part) = text.get(..cut) {
                let mut n = 0;
                while !part.is_empty() {
                    match Answer::decode(&mut part) {
                        Ok(a) => assert_eq!(a, answers[n]),
                        Err(_) => break,
                    }
                    n += 1;
                }
            }
        }
    }
}
