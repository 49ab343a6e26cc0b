//! Instants exact to Graph's resolution. Graph writes times with up to seven fractional digits
//! (`2025-10-28T07:32:30.8670000Z`: .NET ticks of 100 ns); a credential is stored and shown as
//! exactly that instant, and its status is decided from it, so one that ends half a second from
//! now has not expired yet.

use chrono::{DateTime, NaiveDateTime, Utc};
use std::fmt;

/// One instant in UTC: 100-nanosecond ticks since the Unix epoch. An `i64` of ticks spans about
/// 29,000 years either side of 1970, so Graph's "never expires" year 9999 fits; it is what the
/// store keeps in its INTEGER time columns.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Why a text is not a [`Timestamp`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("{0:?} is not an RFC 3339 time (like 2025-10-28T07:32:30.8670000Z)")]
    Syntax(String),
    #[error("{0:?} is beyond the years credwatch can store")]
    OutOfRange(String),
}

impl Timestamp {
    pub const TICKS_PER_SECOND: i64 = 10_000_000;
    pub const TICKS_PER_DAY: i64 = 86_400 * Self::TICKS_PER_SECOND;
    const NANOS_PER_TICK: i64 = 100;
    pub const UNIX_EPOCH: Timestamp = Timestamp(0);
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    pub const fn from_ticks(ticks: i64) -> Timestamp {
        Timestamp(ticks)
    }

    pub const fn ticks(self) -> i64 {
        self.0
    }

    /// Whole Unix seconds, saturating at the ends of the range.
    pub const fn from_unix_seconds(seconds: i64) -> Timestamp {
        Timestamp(seconds.saturating_mul(Self::TICKS_PER_SECOND))
    }

    /// Whole Unix seconds, rounded down (towards the past, also before 1970).
    pub const fn unix_seconds(self) -> i64 {
        self.0.div_euclid(Self::TICKS_PER_SECOND)
    }

    /// The ticks after the whole second, 0 to 9,999,999.
    pub const fn subsec_ticks(self) -> i64 {
        self.0.rem_euclid(Self::TICKS_PER_SECOND)
    }

    /// `dt` cut to whole ticks (chrono keeps nanoseconds; Graph's resolution is 100 ns), or
    /// `None` beyond the range of ticks.
    pub fn from_datetime(dt: DateTime<Utc>) -> Option<Timestamp> {
        let nanos = i64::from(dt.timestamp_subsec_nanos());
        dt.timestamp()
            .checked_mul(Self::TICKS_PER_SECOND)?
            .checked_add(nanos / Self::NANOS_PER_TICK)
            .map(Timestamp)
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        let nanos = (self.subsec_ticks() * Self::NANOS_PER_TICK) as u32;
        // Every i64 of ticks lies within chrono's range (about 262,000 years).
        DateTime::from_timestamp(self.unix_seconds(), nanos).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Reads RFC 3339 with any number of fractional digits and any offset, as Graph writes it
    /// (`2025-10-28T07:32:30.8670000Z`, `2022-03-02T11:58:20.219356+00:00`). Digits past the
    /// seventh are cut, as Graph never sends them.
    pub fn parse(text: &str) -> Result<Timestamp, TimestampError> {
        let text = text.trim();
        let dt = DateTime::parse_from_rfc3339(text).map_err(|_| TimestampError::Syntax(cut(text)))?;
        Timestamp::from_datetime(dt.with_timezone(&Utc)).ok_or_else(|| TimestampError::OutOfRange(cut(text)))
    }

    /// `self` moved by `seconds`, saturating at the ends of the range.
    pub const fn plus_seconds(self, seconds: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(seconds.saturating_mul(Self::TICKS_PER_SECOND)))
    }

    /// `self` moved by `days` of 86,400 seconds, saturating at the ends of the range.
    pub const fn plus_days(self, days: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(days.saturating_mul(Self::TICKS_PER_DAY)))
    }

    /// The next representable instant: the first one after `self`.
    pub const fn next(self) -> Timestamp {
        Timestamp(self.0.saturating_add(1))
    }

    /// Ticks from `earlier` to `self` (negative when `earlier` is later), saturating.
    pub const fn ticks_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// The Unix time in seconds as a decimal, exact to the tick: `1761636750.867`, or
    /// `1761636750` for a whole second (Prometheus reads it as a float).
    pub fn unix_seconds_decimal(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let per_second = Self::TICKS_PER_SECOND as u64;
        format!("{sign}{}{}", abs / per_second, fraction((abs % per_second) as i64))
    }

    /// The calendar date and time in UTC, for formatting.
    pub fn naive_utc(self) -> NaiveDateTime {
        self.to_datetime().naive_utc()
    }
}

/// `.8675309`, `.867`, or nothing for a whole second: the fraction of `ticks` (0 to 9,999,999)
/// with its trailing zeros dropped.
fn fraction(ticks: i64) -> String {
    if ticks == 0 {
        return String::new();
    }
    let digits = format!("{ticks:07}");
    format!(".{}", digits.trim_end_matches('0'))
}

/// Error messages quote at most this much of the input.
fn cut(text: &str) -> String {
    text.chars().take(40).collect()
}

/// RFC 3339 in UTC, exact: `2025-10-28T07:32:30Z` for a whole second, else the fraction without
/// trailing zeros (`2025-10-28T07:32:30.867Z`, at most 7 digits). The one way credwatch writes
/// an instant in its API, CSV, feed and messages.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use chrono::{Datelike, Timelike};
        // Fields written directly: the big answers write two instants a row, and a strftime
        // pattern is parsed again on every call.
        let t = self.naive_utc();
        // "2025-10-28T07:32:30.8670000Z" at most, digit by digit into one buffer.
        let mut out = *b"0000-00-00T00:00:00.0000000Z";
        let mut put = |at: usize, width: usize, mut value: u32| {
            for i in (at..at + width).rev() {
                out[i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        let start = if (0..=9999).contains(&t.year()) {
            put(0, 4, t.year() as u32);
            put(5, 2, t.month());
            put(8, 2, t.day());
            put(11, 2, t.hour());
            put(14, 2, t.minute());
            put(17, 2, t.second());
            0
        } else {
            // RFC 3339 has four-digit years; beyond them, chrono's own rendering (signed), then
            // the buffer's fraction.
            write!(f, "{}", t.format("%Y-%m-%dT%H:%M:%S"))?;
            19
        };
        let len = match self.subsec_ticks() {
            0 => {
                out[19] = b'Z';
                20
            }
            ticks => {
                put(20, 7, ticks as u32);
                // The fraction without its trailing zeros.
                let mut end = 27;
                while out[end - 1] == b'0' {
                    end -= 1;
                }
                out[end] = b'Z';
                end + 1
            }
        };
        f.write_str(std::str::from_utf8(&out[start..len]).expect("ASCII digits"))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl std::str::FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timestamp::parse(s)
    }
}

/// A clock reading as an instant; beyond the range of ticks (not before the year 27,000) it
/// saturates.
impl From<DateTime<Utc>> for Timestamp {
    fn from(dt: DateTime<Utc>) -> Timestamp {
        Timestamp::from_datetime(dt).unwrap_or(if dt.timestamp() < 0 { Timestamp::MIN } else { Timestamp::MAX })
    }
}

impl From<Timestamp> for DateTime<Utc> {
    fn from(t: Timestamp) -> DateTime<Utc> {
        t.to_datetime()
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digit-by-digit rendering agrees with chrono's formatting plus the fraction without
    /// trailing zeros, across years, days, leap days and every fraction width.
    #[test]
    fn display_agrees_with_chrono() {
        let reference = |t: Timestamp| {
            let base = t.naive_utc().format("%Y-%m-%dT%H:%M:%S").to_string();
            match t.subsec_ticks() {
                0 => format!("{base}Z"),
                ticks => format!("{base}.{}Z", format!("{ticks:07}").trim_end_matches('0')),
            }
        };
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let year_10000 = Timestamp::parse("9999-12-31T23:59:59.9999999Z").unwrap().ticks();
        let year_0 = Timestamp::parse("0000-01-01T00:00:00Z").unwrap().ticks();
        // Beyond four-digit years too (chrono's rendering, the buffer's fraction).
        let mut cases = vec![
            year_0,
            year_10000,
            year_10000 + 1,
            year_0 - 1,
            i64::MIN,
            i64::MAX,
            0,
            1,
            10,
            9_999_999,
            10_000_000,
            17_616_367_508_670_000,
        ];
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cases.push(year_0 + (x % (year_10000 - year_0) as u64) as i64);
            // Whole seconds and round fractions too.
            cases.push(cases[cases.len() - 1] / 10_000 * 10_000);
        }
        for ticks in cases {
            let t = Timestamp::from_ticks(ticks);
            assert_eq!(t.to_string(), reference(t), "{ticks}");
        }
    }

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn graph_instants_round_trip_exactly() {
        for (given, shown) in [
            ("2025-10-28T07:32:30.8670000Z", "2025-10-28T07:32:30.867Z"),
            ("2025-10-28T07:32:30.8675309Z", "2025-10-28T07:32:30.8675309Z"),
            ("2021-03-05T17:15:46.052Z", "2021-03-05T17:15:46.052Z"),
            ("2026-03-05T00:00:00Z", "2026-03-05T00:00:00Z"),
            ("2026-03-05T00:00:00.0000000Z", "2026-03-05T00:00:00Z"),
            ("2022-03-02T11:58:20.219356+00:00", "2022-03-02T11:58:20.219356Z"),
            ("2022-03-02T13:58:20.5+02:00", "2022-03-02T11:58:20.5Z"),
            ("9999-12-31T23:59:59.9999999Z", "9999-12-31T23:59:59.9999999Z"),
            ("1969-12-31T23:59:59.9Z", "1969-12-31T23:59:59.9Z"),
            // Nanoseconds Graph never sends are cut to the tick.
            ("2025-01-01T00:00:00.123456789Z", "2025-01-01T00:00:00.1234567Z"),
        ] {
            let t = ts(given);
            assert_eq!(t.to_string(), shown, "{given}");
            assert_eq!(ts(shown), t, "{shown} reads back as the same instant");
        }
    }

    #[test]
    fn ticks_are_since_the_unix_epoch() {
        assert_eq!(ts("1970-01-01T00:00:00.0000001Z").ticks(), 1);
        assert_eq!(ts("2025-10-28T07:32:30.867Z").ticks(), 17_616_367_508_670_000);
        assert_eq!(ts("1969-12-31T23:59:59.9Z").unix_seconds(), -1);
        assert_eq!(ts("1969-12-31T23:59:59.9Z").subsec_ticks(), 9_000_000);
        assert_eq!(Timestamp::from_unix_seconds(253_402_214_400), ts("9999-12-31T00:00:00Z"));
    }

    #[test]
    fn unix_seconds_as_a_decimal_keep_the_fraction() {
        assert_eq!(ts("2025-10-28T07:32:30.8675309Z").unix_seconds_decimal(), "1761636750.8675309");
        assert_eq!(ts("2025-10-28T07:32:30.8670000Z").unix_seconds_decimal(), "1761636750.867");
        assert_eq!(ts("2025-10-28T07:32:30Z").unix_seconds_decimal(), "1761636750");
        assert_eq!(ts("1969-12-31T23:59:58.5Z").unix_seconds_decimal(), "-1.5");
        assert_eq!(Timestamp::UNIX_EPOCH.unix_seconds_decimal(), "0");
    }

    #[test]
    fn bad_text_is_named() {
        assert_eq!(Timestamp::parse("yesterday"), Err(TimestampError::Syntax("yesterday".into())));
        assert!(Timestamp::parse("2021-13-05T00:00:00Z").is_err());
        assert!(matches!(Timestamp::parse("99999-01-01T00:00:00Z"), Err(TimestampError::Syntax(_))));
    }

    #[test]
    fn clock_readings_convert_both_ways() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T12:00:00.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        let t = Timestamp::from(now);
        assert_eq!(t.to_string(), "2026-01-01T12:00:00.1234567Z");
        assert_eq!(t.to_datetime().timestamp_subsec_nanos(), 123_456_700);
        assert_eq!(Timestamp::from(DateTime::<Utc>::MAX_UTC), Timestamp::MAX);
        assert_eq!(Timestamp::from(DateTime::<Utc>::MIN_UTC), Timestamp::MIN);
    }
}
