//! The feed's events, in its two forms.
//!
//! **One event per credential** (the form SPEC.md describes): *timed at the credential's end
//! instant* (UTC), not an all-day event: an all-day DATE is floating, so a secret ending
//! 2026-03-15T02:00Z would show on the 15th in New York although it stops working on the evening
//! of the 14th there. A timed event shows the true local time everywhere, and its alarms
//! (`TRIGGER;RELATED=START:-P{d}D`, one per rung of `reminders.days_before`, plus one at the end
//! with `expired_notice`) fire exactly `d` days before the credential stops working. It lasts 15
//! minutes and is `TRANSP:TRANSPARENT`, so it never blocks anyone's free/busy time. The UID is
//! `{app_object_id}-{kind}-{key_id}@{environment}.credwatch`: the store's identity of a
//! credential (an app owner may choose a keyId, so the keyId alone is not unique). DTSTAMP is when
//! credwatch first saw the credential, so an unchanged credential renders the same bytes.
//!
//! **One event per day** on which credentials end (UTC days): "7 credentials end today", timed at
//! the first of them to end, so its alarms (the same rungs) are exact for the most urgent one. Its
//! description counts them per environment and lists the first [`DAY_LIST`] with links; past
//! that, a link per environment to its inventory from that day on. The UID is
//! `{yyyymmdd}-{filters}@days.credwatch`, where `{filters}` tags the feed's filters: the same day
//! keeps its UID across fetches, and feeds with different filters never share one.
//!
//! Names from Graph are untrusted: [`whole`] makes each one a single line (control characters,
//! line separators and bidirectional overrides become spaces) before it is placed in a text; the
//! writer then escapes the text. SUMMARY and alarm texts cut long names with "…"; DESCRIPTION
//! carries them whole, so two apps whose long names differ only at the end stay distinguishable.

use super::ics::Writer;
use crate::domain::Ladder;
use crate::store::{CredentialView, DayCount};
use crate::web::view;
use chrono::{DateTime, Duration, Utc};
use url::Url;

/// Longest name in a SUMMARY or an alarm, in characters.
const SHORT_NAME: usize = 120;
/// Credentials listed by name in a day's description.
pub const DAY_LIST: usize = 20;
const EVENT_MINUTES: i64 = 15;
/// What clients are asked to poll at (REFRESH-INTERVAL, X-PUBLISHED-TTL).
const REFRESH: &str = "PT1H";

/// What every event of one feed shares.
pub struct Context {
    pub ladder: Ladder,
    pub public_url: Url,
    /// Tags the feed's filters inside day UIDs.
    pub scope: String,
}

/// `text` on one line: control characters (CR, LF, tab, NUL, C1, …), Unicode line and
/// paragraph separators and bidirectional overrides become spaces. Nothing is cut.
pub fn whole(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control()
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
            {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// [`whole`], cut to [`SHORT_NAME`] characters with an ellipsis.
pub fn short(text: &str) -> String {
    let mut out = whole(text);
    if let Some((at, _)) = out.char_indices().nth(SHORT_NAME) {
        out.truncate(at);
        let last = out.char_indices().last().map_or(0, |(i, _)| i);
        out.truncate(last);
        out.push('…');
    }
    out
}

/// The start of the calendar: its name and what clients should know about it.
pub fn header(w: &mut Writer, name: &str, description: &str) {
    w.begin("VCALENDAR");
    w.raw("VERSION", "2.0");
    w.raw("PRODID", "-//credwatch//credential expiry//EN");
    w.raw("CALSCALE", "GREGORIAN");
    w.raw("METHOD", "PUBLISH");
    // NAME is RFC 7986's; X-WR-CALNAME is what Outlook and Apple Calendar read.
    w.text("NAME", name);
    w.text("X-WR-CALNAME", name);
    w.text("X-WR-CALDESC", description);
    w.raw("REFRESH-INTERVAL;VALUE=DURATION", REFRESH);
    w.raw("X-PUBLISHED-TTL", REFRESH);
}

pub fn footer(w: &mut Writer) {
    w.end("VCALENDAR");
}

/// Stable identity of a credential's event.
pub fn uid(c: &CredentialView) -> String {
    whole(&format!(
        "{}-{}-{}@{}.credwatch",
        c.app_object_id,
        c.kind().as_str(),
        c.key_id,
        c.environment
    ))
}

fn at(unix: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix, 0).unwrap_or(DateTime::UNIX_EPOCH)
}

/// The credwatch page of a credential's application.
fn app_link(public_url: &Url, c: &CredentialView) -> String {
    format!(
        "{}{}",
        public_url.as_str().trim_end_matches('/'),
        view::application_href(&c.environment, &c.app_object_id)
    )
}

/// A credential's name, or a placeholder when it has none worth showing.
fn credential_name(c: &CredentialView, cut: fn(&str) -> String) -> String {
    c.display_name
        .as_deref()
        .map(cut)
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "(no name)".into())
}

fn app_name(c: &CredentialView, cut: fn(&str) -> String) -> String {
    c.app_display_name.as_deref().map(cut).unwrap_or_else(|| "(no name)".into())
}

/// `secret "ci-deploy" of Payroll API`, names cut.
fn short_title(c: &CredentialView) -> String {
    format!(
        "{} \"{}\" of {}",
        c.kind().as_str(),
        credential_name(c, short),
        app_name(c, short)
    )
}

/// The event of one credential.
pub fn credential_event(w: &mut Writer, c: &CredentialView, cx: &Context) {
    let env = whole(&c.environment);
    let kind = c.kind().as_str();
    let end = c.end();
    let summary = format!("{} expires ({env})", short_title(c));
    let mut description = format!(
        "Application: {} ({})\nEnvironment: {env}\nKind: {kind}\nName: {}\n",
        app_name(c, whole),
        whole(&c.app_id),
        credential_name(c, whole)
    );
    if let Some(hint) = &c.hint {
        description.push_str(&format!("Hint: {}…\n", whole(hint)));
    }
    description.push_str(&format!(
        "Key ID: {}\nEnds: {}\nAzure portal: {}\ncredwatch: {}\n",
        whole(&c.key_id),
        end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        c.portal_link(),
        app_link(&cx.public_url, c)
    ));
    w.begin("VEVENT");
    w.text("UID", &uid(c));
    w.utc("DTSTAMP", at(c.first_seen_at));
    w.utc("DTSTART", end);
    w.utc("DTEND", end + Duration::minutes(EVENT_MINUTES));
    w.text("SUMMARY", &summary);
    w.text("DESCRIPTION", &description);
    w.raw("URL", &c.portal_link());
    w.raw("TRANSP", "TRANSPARENT");
    w.raw("STATUS", "CONFIRMED");
    alarms(w, &cx.ladder, &summary);
    w.end("VEVENT");
}

/// A display alarm per rung, and one at the end with `expired_notice`. Alarms carry no UID or
/// DTSTAMP of their own (RFC 5545 asks for neither), which keeps a large feed smaller.
fn alarms(w: &mut Writer, ladder: &Ladder, what: &str) {
    for &d in ladder.days_before() {
        let (trigger, when) = match d {
            0 => ("PT0S".to_string(), "Today".to_string()),
            1 => ("-P1D".to_string(), "In 1 day".to_string()),
            d => (format!("-P{d}D"), format!("In {d} days")),
        };
        alarm(w, &trigger, &format!("{when}: {what}"));
    }
    if ladder.expired_notice() {
        alarm(w, "PT0S", &format!("Now: {what}"));
    }
}

fn alarm(w: &mut Writer, trigger: &str, description: &str) {
    w.begin("VALARM");
    w.raw("ACTION", "DISPLAY");
    // Days read better than the seconds a duration type would print.
    w.raw("TRIGGER;RELATED=START", trigger);
    w.text("DESCRIPTION", description);
    w.end("VALARM");
}

/// One UTC day on which credentials end, with its counts per environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    /// Days since 1970-01-01.
    pub day: i64,
    pub total: i64,
    /// (environment, count), by environment name.
    pub per_environment: Vec<(String, i64)>,
    pub first_end: i64,
    pub last_end: i64,
    pub newest_seen: i64,
}

impl Day {
    /// The days of per-(day, environment) counts ordered by day.
    pub fn group(counts: Vec<DayCount>) -> Vec<Day> {
        let mut days: Vec<Day> = Vec::new();
        for c in counts {
            match days.last_mut() {
                Some(d) if d.day == c.day => {
                    d.total += c.count;
                    d.first_end = d.first_end.min(c.first_end);
                    d.last_end = d.last_end.max(c.last_end);
                    d.newest_seen = d.newest_seen.max(c.newest_seen);
                    d.per_environment.push((c.environment, c.count));
                }
                _ => days.push(Day {
                    day: c.day,
                    total: c.count,
                    per_environment: vec![(c.environment, c.count)],
                    first_end: c.first_end,
                    last_end: c.last_end,
                    newest_seen: c.newest_seen,
                }),
            }
        }
        days
    }

    /// The day's first instant (Unix seconds).
    pub fn start(&self) -> i64 {
        self.day * crate::store::DAY
    }
}

/// The event of one day: `listed` are its first credentials (at most [`DAY_LIST`]).
pub fn day_event(w: &mut Writer, day: &Day, listed: &[CredentialView], cx: &Context) {
    let first = at(day.first_end);
    let date = at(day.start()).format("%Y-%m-%d");
    let (count, verb) = match day.total {
        1 => ("1 credential".to_string(), "ends"),
        n => (format!("{} credentials", view::thousands(n)), "end"),
    };
    let summary = format!("{count} {verb} today");
    let per_env: Vec<String> = day
        .per_environment
        .iter()
        .map(|(env, n)| format!("{} in {}", view::thousands(*n), whole(env)))
        .collect();
    let mut description = format!(
        "{count} {verb} on {date} (UTC), the first at {}: {}.\n",
        first.format("%H:%M UTC"),
        per_env.join(", ")
    );
    for c in listed {
        description.push_str(&format!(
            "\n{}  {} ({})\n{}\n",
            c.end().format("%H:%M UTC"),
            short_title(c),
            whole(&c.environment),
            app_link(&cx.public_url, c)
        ));
    }
    if (listed.len() as i64) < day.total {
        description.push_str(&format!(
            "\n…and {} more. This day's credentials, per environment:\n",
            view::thousands(day.total - listed.len() as i64)
        ));
        for (env, n) in &day.per_environment {
            description.push_str(&format!("{} ({}): {}\n", whole(env), view::thousands(*n), inventory_from(&cx.public_url, env, day)));
        }
    }
    let url = match day.per_environment.as_slice() {
        [(env, _)] => inventory_from(&cx.public_url, env, day),
        _ => cx.public_url.as_str().to_string(),
    };
    w.begin("VEVENT");
    w.text("UID", &format!("{}-{}@days.credwatch", at(day.start()).format("%Y%m%d"), cx.scope));
    w.utc("DTSTAMP", at(day.newest_seen));
    w.utc("DTSTART", first);
    w.utc("DTEND", first + Duration::minutes(EVENT_MINUTES));
    w.text("SUMMARY", &summary);
    w.text("DESCRIPTION", &description);
    w.raw("URL", &url);
    w.raw("TRANSP", "TRANSPARENT");
    w.raw("STATUS", "CONFIRMED");
    alarms(w, &cx.ladder, &format!("{count} {verb}, the first at {}", first.format("%H:%M UTC")));
    w.end("VEVENT");
}

/// An environment's inventory from the day's first credential on: the inventory pages by
/// `(end, id)` cursor, and `(day start - 1, max)` comes just before every credential of the day.
fn inventory_from(public_url: &Url, environment: &str, day: &Day) -> String {
    format!(
        "{}{}?after={}.{}",
        public_url.as_str().trim_end_matches('/'),
        view::environment_href(environment),
        day.start() - 1,
        i64::MAX
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_one_line_and_short_names_are_cut() {
        assert_eq!(whole("a\r\nb\tc\u{2028}d\u{202e}e"), "a  b c d e");
        let long = "é".repeat(300);
        assert_eq!(whole(&long), long);
        let cut = short(&long);
        assert_eq!(cut.chars().count(), SHORT_NAME);
        assert!(cut.ends_with("é…"));
        assert_eq!(short("short"), "short");
        assert_eq!(short(&"x".repeat(SHORT_NAME)), "x".repeat(SHORT_NAME));
    }

    #[test]
    fn days_gather_their_environments() {
        let c = |day, env: &str, count, first_end, last_end| DayCount {
            day,
            environment: env.into(),
            count,
            first_end,
            last_end,
            newest_seen: first_end - 10,
        };
        let days = Day::group(vec![
            c(10, "prod", 5, 864_100, 864_500),
            c(10, "test", 2, 864_050, 864_200),
            c(12, "prod", 1, 1_036_900, 1_036_900),
        ]);
        assert_eq!(days.len(), 2);
        assert_eq!(days[0].total, 7);
        assert_eq!((days[0].first_end, days[0].last_end), (864_050, 864_500));
        assert_eq!(days[0].per_environment, vec![("prod".into(), 5), ("test".into(), 2)]);
        assert_eq!(days[1].start(), 12 * 86_400);
    }
}
