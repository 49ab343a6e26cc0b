//! What a feed shows ([`Filters`], [`Form`]) and its events, in its two forms.
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
//! keeps its UID across fetches, and feeds with different filters never share one. Its DTSTAMP
//! is the instant the feed is computed at: the day's count is read from an index that does not
//! know when each credential was first seen.
//!
//! Names from Graph are untrusted: each is made a single line ([`one_line`]: control characters,
//! line separators and bidirectional overrides become spaces) before it is placed in a text; the
//! writer then escapes the text. SUMMARY and alarm texts cut long names with "…" ([`clean`]);
//! DESCRIPTION carries them whole, so two apps whose long names differ only at the end stay
//! distinguishable.

use super::ics::Writer;
use crate::config::Config;
use crate::domain::{Credential, Ladder, Status, Timestamp, clean, credwatch_link, one_line};
use crate::store::{CredentialFilter, DayCount};
use crate::web::query::{FeedQuery, Grouping, WithinDays};
use crate::web::view;
use std::fmt::Write as _;
use url::Url;

/// Credentials that ended more than this many days ago are left out of the feed.
pub const HORIZON_PAST_DAYS: i64 = 30;
/// Credentials ending more than this many days ahead are left out of the feed.
pub const HORIZON_FUTURE_DAYS: i64 = 400;
/// Credentials listed by name in a day's description.
pub const DAY_LIST: usize = 20;
const EVENT_MINUTES: i64 = 15;
/// What clients are asked to poll at (REFRESH-INTERVAL, X-PUBLISHED-TTL).
const REFRESH: &str = "PT1H";
const SECONDS_PER_DAY: i64 = 86_400;

/// What a feed shows, read from its address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub environment: Option<String>,
    pub status: Option<Status>,
    pub within_days: Option<WithinDays>,
    pub owner: Option<String>,
    /// `group=day`: one event per day whatever the count.
    pub by_day: bool,
}

/// Why an address names no feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterError {
    /// The path names an environment the configuration does not have.
    NoSuchPath,
    /// The `environment` parameter names none, or another than the path.
    Environment(String),
}

impl Filters {
    /// `path_environment` is the environment named by the path, if any. The caller checked the
    /// token already: only its holder learns which environments exist.
    pub fn new(q: FeedQuery, path_environment: Option<&str>, config: &Config) -> Result<Filters, FilterError> {
        let environment = match (path_environment, q.environment) {
            (Some(path), Some(query)) if path != query => {
                return Err(FilterError::Environment(format!("the address names “{path}” already")));
            }
            (Some(path), _) => {
                config.environment(path).ok_or(FilterError::NoSuchPath)?;
                Some(path.to_string())
            }
            (None, Some(env)) => {
                if config.environment(&env).is_none() {
                    return Err(FilterError::Environment(format!("no environment is named “{env}”")));
                }
                Some(env)
            }
            (None, None) => None,
        };
        Ok(Filters {
            environment,
            status: q.status,
            within_days: q.within_days,
            owner: q.owner,
            by_day: q.group == Some(Grouping::Day),
        })
    }

    /// The filters in one fixed order, the way feed links write them (without `group`).
    pub fn canonical(&self) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        if let Some(env) = &self.environment {
            out.append_pair("environment", env);
        }
        if let Some(s) = self.status {
            out.append_pair("status", s.as_str());
        }
        if let Some(d) = self.within_days {
            out.append_pair("within_days", &d.days().to_string());
        }
        if let Some(o) = &self.owner {
            out.append_pair("owner", o);
        }
        out.finish()
    }

    /// Whether the answer moves with the clock within a day.
    fn hourly(&self) -> bool {
        self.status.is_some() || self.within_days.is_some()
    }

    /// The instant the feed is computed at: the start of the UTC day, or of the hour when the
    /// answer moves with the clock. Between two such instants a feed changes only with the data.
    pub fn clock(&self, now: Timestamp) -> Timestamp {
        let step = if self.hourly() { 3_600 } else { SECONDS_PER_DAY };
        Timestamp::from_unix_seconds(now.unix_seconds().div_euclid(step) * step)
    }

    /// The store's filter as of `clock`: the horizon, narrowed by the filters.
    pub fn store_filter(&self, clock: Timestamp, config: &Config) -> CredentialFilter {
        let today = Timestamp::from_unix_seconds(clock.unix_seconds().div_euclid(SECONDS_PER_DAY) * SECONDS_PER_DAY);
        let mut filter = CredentialFilter {
            environment: self.environment.clone(),
            owner: self.owner.clone(),
            end_from: Some(today.plus_days(-HORIZON_PAST_DAYS)),
            // Through the whole of the last day ahead.
            end_before: Some(today.plus_days(HORIZON_FUTURE_DAYS + 1)),
            ..Default::default()
        };
        if let Some(n) = self.within_days {
            filter.end_before = filter.end_before.map(|b| b.min(n.end_before(clock)));
        }
        if let Some(s) = self.status {
            filter = filter.with_status(s, &config.status, clock);
        }
        filter
    }

    /// The calendar's name: where it looks, what it keeps, and how it is grouped.
    pub fn name(&self, form: Form, max_events: u64) -> String {
        let mut name = match &self.environment {
            Some(env) => format!("credwatch: {}", one_line(env)),
            None => "credwatch: all environments".to_string(),
        };
        if let Some(s) = self.status {
            let _ = write!(name, ", {}", s.as_str());
        }
        if let Some(d) = self.within_days {
            let _ = write!(name, ", within {} days", d.days());
        }
        if let Some(o) = &self.owner {
            let _ = write!(name, ", owned by {}", one_line(o));
        }
        match form {
            Form::PerCredential => {}
            Form::PerDay { automatic: false } => name.push_str(" (by day)"),
            Form::PerDay { automatic: true } => {
                let max = i64::try_from(max_events).unwrap_or(i64::MAX);
                let _ = write!(name, " (by day: more than {} credentials)", view::thousands(max));
            }
        }
        name
    }
}

/// The two forms of a feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    PerCredential,
    /// `automatic`: chosen because the feed would hold more than `calendar.max_events` events.
    PerDay {
        automatic: bool,
    },
}

impl Form {
    /// `group=day` asks for days; otherwise a feed of more than `max_events` credentials gets them.
    pub fn choose(filters: &Filters, credentials: i64, max_events: u64) -> Form {
        if filters.by_day {
            Form::PerDay { automatic: false }
        } else if u64::try_from(credentials).unwrap_or(0) > max_events {
            Form::PerDay { automatic: true }
        } else {
            Form::PerCredential
        }
    }

    fn description(self) -> &'static str {
        match self {
            Form::PerCredential => "Expiry of Microsoft Entra ID app-registration secrets and certificates: one event per credential",
            Form::PerDay { .. } => {
                "Expiry of Microsoft Entra ID app-registration secrets and certificates: one event per UTC day on which some end"
            }
        }
    }
}

/// What every event of one feed shares.
pub struct Context {
    pub ladder: Ladder,
    pub public_url: Url,
    /// Tags the feed's filters inside day UIDs.
    pub scope: String,
    /// The instant the feed is computed at ([`Filters::clock`]).
    pub clock: Timestamp,
}

/// The start of the calendar: its name and what clients should know about it.
pub fn header(w: &mut Writer, name: &str, form: Form) {
    w.begin("VCALENDAR");
    w.raw("VERSION", "2.0");
    w.raw("PRODID", "-//credwatch//credential expiry//EN");
    w.raw("CALSCALE", "GREGORIAN");
    w.raw("METHOD", "PUBLISH");
    // NAME is RFC 7986's; X-WR-CALNAME is what Outlook and Apple Calendar read.
    w.text("NAME", name);
    w.text("X-WR-CALNAME", name);
    w.text("X-WR-CALDESC", form.description());
    w.raw("REFRESH-INTERVAL;VALUE=DURATION", REFRESH);
    w.raw("X-PUBLISHED-TTL", REFRESH);
}

pub fn footer(w: &mut Writer) {
    w.end("VCALENDAR");
}

/// Stable identity of a credential's event.
pub fn uid(c: &Credential) -> String {
    one_line(&format!(
        "{}-{}-{}@{}.credwatch",
        c.app_object_id,
        c.kind.as_str(),
        c.key_id,
        c.environment
    ))
}

/// A credential's name, or a placeholder when it has none worth showing.
fn credential_name(c: &Credential, cut: fn(&str) -> String) -> String {
    c.display_name
        .as_deref()
        .map(cut)
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "(no name)".into())
}

fn app_name(c: &Credential, cut: fn(&str) -> String) -> String {
    c.app_display_name.as_deref().map(cut).unwrap_or_else(|| "(no name)".into())
}

/// `secret "ci-deploy" of Payroll API`, names cut.
fn short_title(c: &Credential) -> String {
    format!("{} \"{}\" of {}", c.kind.as_str(), credential_name(c, clean), app_name(c, clean))
}

/// `HH:MM UTC` of an instant.
fn hour_minute(t: Timestamp) -> String {
    t.naive_utc().format("%H:%M UTC").to_string()
}

/// The event of one credential.
pub fn credential_event(w: &mut Writer, c: &Credential, cx: &Context) {
    let env = one_line(&c.environment);
    let kind = c.kind.as_str();
    let summary = format!("{} expires ({env})", short_title(c));
    let mut description = format!(
        "Application: {} ({})\nEnvironment: {env}\nKind: {kind}\nName: {}\n",
        app_name(c, one_line),
        one_line(&c.app_id),
        credential_name(c, one_line)
    );
    if let Some(hint) = &c.hint {
        let _ = writeln!(description, "Hint: {}…", one_line(hint));
    }
    let _ = write!(
        description,
        "Key ID: {}\nEnds: {}\nAzure portal: {}\ncredwatch: {}\n",
        one_line(&c.key_id),
        c.end_at,
        c.portal_link(),
        credwatch_link(&cx.public_url, &c.environment, &c.app_object_id)
    );
    w.begin("VEVENT");
    w.text("UID", &uid(c));
    w.utc("DTSTAMP", c.first_seen_at);
    w.utc("DTSTART", c.end_at);
    w.utc("DTEND", c.end_at.plus_seconds(EVENT_MINUTES * 60));
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
    pub first_end: Timestamp,
    pub last_end: Timestamp,
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
                    d.per_environment.push((c.environment, c.count));
                }
                _ => days.push(Day {
                    day: c.day,
                    total: c.count,
                    per_environment: vec![(c.environment, c.count)],
                    first_end: c.first_end,
                    last_end: c.last_end,
                }),
            }
        }
        days
    }

    /// The day's first instant.
    pub fn start(&self) -> Timestamp {
        Timestamp::from_ticks(self.day.saturating_mul(Timestamp::TICKS_PER_DAY))
    }

    /// The next day's first instant.
    pub fn end(&self) -> Timestamp {
        self.start().plus_days(1)
    }
}

/// The event of one day: `listed` are its first credentials (at most [`DAY_LIST`]).
pub fn day_event(w: &mut Writer, day: &Day, listed: &[Credential], cx: &Context) {
    let date = day.start().naive_utc().format("%Y-%m-%d");
    let (count, verb) = match day.total {
        1 => ("1 credential".to_string(), "ends"),
        n => (format!("{} credentials", view::thousands(n)), "end"),
    };
    let summary = format!("{count} {verb} today");
    let per_env: Vec<String> = day
        .per_environment
        .iter()
        .map(|(env, n)| format!("{} in {}", view::thousands(*n), one_line(env)))
        .collect();
    let mut description = format!(
        "{count} {verb} on {date} (UTC), the first at {}: {}.\n",
        hour_minute(day.first_end),
        per_env.join(", ")
    );
    for c in listed {
        let _ = write!(
            description,
            "\n{}  {} ({})\n{}\n",
            hour_minute(c.end_at),
            short_title(c),
            one_line(&c.environment),
            credwatch_link(&cx.public_url, &c.environment, &c.app_object_id)
        );
    }
    if (listed.len() as i64) < day.total {
        let _ = writeln!(
            description,
            "\n…and {} more. This day's credentials, per environment:",
            view::thousands(day.total - listed.len() as i64)
        );
        for (env, n) in &day.per_environment {
            let _ = writeln!(
                description,
                "{} ({}): {}",
                one_line(env),
                view::thousands(*n),
                inventory_from(&cx.public_url, env, day)
            );
        }
    }
    let url = match day.per_environment.as_slice() {
        [(env, _)] => inventory_from(&cx.public_url, env, day),
        _ => cx.public_url.as_str().to_string(),
    };
    w.begin("VEVENT");
    w.text(
        "UID",
        &format!("{}-{}@days.credwatch", day.start().naive_utc().format("%Y%m%d"), cx.scope),
    );
    w.utc("DTSTAMP", cx.clock);
    w.utc("DTSTART", day.first_end);
    w.utc("DTEND", day.first_end.plus_seconds(EVENT_MINUTES * 60));
    w.text("SUMMARY", &summary);
    w.text("DESCRIPTION", &description);
    w.raw("URL", &url);
    w.raw("TRANSP", "TRANSPARENT");
    w.raw("STATUS", "CONFIRMED");
    alarms(
        w,
        &cx.ladder,
        &format!("{count} {verb}, the first at {}", hour_minute(day.first_end)),
    );
    w.end("VEVENT");
}

/// An environment's inventory from the day's first credential on: the inventory pages by
/// `(end, id)` cursor (`END.ID`, the end in ticks), and one tick before the day with the largest
/// id comes just before every credential of the day.
fn inventory_from(public_url: &Url, environment: &str, day: &Day) -> String {
    format!(
        "{}{}?after={}.{}",
        public_url.as_str().trim_end_matches('/'),
        view::environment_href(environment),
        day.start().ticks() - 1,
        i64::MAX
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_gather_their_environments() {
        let t = Timestamp::from_unix_seconds;
        let c = |day, env: &str, count, first_end, last_end| DayCount {
            day,
            environment: env.into(),
            count,
            first_end: t(first_end),
            last_end: t(last_end),
        };
        let days = Day::group(vec![
            c(10, "prod", 5, 864_100, 864_500),
            c(10, "test", 2, 864_050, 864_200),
            c(12, "prod", 1, 1_036_900, 1_036_900),
        ]);
        assert_eq!(days.len(), 2);
        assert_eq!(days[0].total, 7);
        assert_eq!((days[0].first_end, days[0].last_end), (t(864_050), t(864_500)));
        assert_eq!(days[0].per_environment, vec![("prod".into(), 5), ("test".into(), 2)]);
        assert_eq!(days[1].start(), t(12 * 86_400));
        assert_eq!(days[1].end(), t(13 * 86_400));
    }

    #[test]
    fn the_clock_is_the_day_or_the_hour() {
        let now = Timestamp::parse("2026-03-15T14:35:12.5Z").unwrap();
        assert_eq!(Filters::default().clock(now).to_string(), "2026-03-15T00:00:00Z");
        let hourly = Filters {
            status: Some(Status::Warning),
            ..Default::default()
        };
        assert_eq!(hourly.clock(now).to_string(), "2026-03-15T14:00:00Z");
    }

    #[test]
    fn canonical_filters_are_ordered_and_encoded() {
        let f = Filters {
            environment: Some("prod".into()),
            status: Some(Status::Critical),
            within_days: None,
            owner: Some("Ann Lee+ops@contoso.com".into()),
            by_day: true,
        };
        assert_eq!(f.canonical(), "environment=prod&status=critical&owner=Ann+Lee%2Bops%40contoso.com");
        assert_eq!(Filters::default().canonical(), "");
    }
}
