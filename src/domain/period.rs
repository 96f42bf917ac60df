//! The period and interval of a stats request: checked bounds, the hour buckets they cover
//! and the start of every series point (UTC; days at 00:00, weeks on Monday).

use super::Timestamp;
use super::analytics::BUCKET_SECS;
use serde::Serialize;
use time::{OffsetDateTime, PrimitiveDateTime};

/// Most series points one answer may have.
pub const MAX_POINTS: i64 = 1000;
/// The period when none is asked for.
pub const DEFAULT_DAYS: i64 = 30;

/// The width of a series point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Hour,
    Day,
    Week,
}

impl Interval {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "hour" => Ok(Self::Hour),
            "day" => Ok(Self::Day),
            "week" => Ok(Self::Week),
            _ => Err(format!("'{raw}' is not hour, day or week")),
        }
    }

    fn secs(self) -> i64 {
        match self {
            Self::Hour => 3600,
            Self::Day => 86_400,
            Self::Week => 7 * 86_400,
        }
    }

    /// The start of the point `unix` falls in (days at 00:00 UTC, weeks on Monday).
    pub(super) fn floor(self, unix: i64) -> i64 {
        // 1970-01-01 was a Thursday: weeks are counted from Monday 1969-12-29.
        let offset = if self == Self::Week { 3 * 86_400 } else { 0 };
        (unix + offset).div_euclid(self.secs()) * self.secs() - offset
    }
}

/// A period and interval, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: Timestamp,
    pub to: Timestamp,
    pub interval: Interval,
}

pub(super) fn unix(t: Timestamp) -> i64 {
    t.unix_secs()
}

pub(super) fn at(unix: i64) -> Timestamp {
    let t = OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    Timestamp::from_primitive(PrimitiveDateTime::new(t.date(), t.time()))
}

impl Period {
    /// `from`/`to` as given (defaults: the 30 UTC days up to the end of today), and the
    /// interval (default `day`). The errors name the field at fault.
    pub fn new(
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        interval: Option<Interval>,
        now: Timestamp,
    ) -> Result<Self, (&'static str, String)> {
        let interval = interval.unwrap_or(Interval::Day);
        let to = to.unwrap_or_else(|| at(Interval::Day.floor(unix(now)) + 86_400));
        let from = from.unwrap_or_else(|| at(unix(to) - DEFAULT_DAYS * 86_400));
        if unix(from) >= unix(to) {
            return Err(("from", "must be before to".into()));
        }
        // The first point starts at `from` rounded down to its interval (a week to its
        // Monday), and every point is written out: none may fall before the year 0, which
        // the wire format cannot write (the default `from` of a `to` early in the year 0
        // would).
        const YEAR_ZERO: i64 = -62_167_219_200;
        if interval.floor(unix(from)) < YEAR_ZERO {
            return Err(("from", "must be in the years 0 to 9999".into()));
        }
        let period = Self { from, to, interval };
        // Counted only as far as the bound: ten thousand years by the hour are 88 million.
        if period.starts().nth(MAX_POINTS as usize).is_some() {
            return Err((
                "interval",
                format!(
                    "gives more than {MAX_POINTS} points: a shorter period or a wider interval"
                ),
            ));
        }
        Ok(period)
    }

    /// The hour buckets the period covers: every hour that starts in `[from, to)`, and the
    /// hour `from` falls in.
    pub fn buckets(&self) -> (i64, i64) {
        let first = unix(self.from).div_euclid(BUCKET_SECS);
        let end = (unix(self.to) + BUCKET_SECS - 1).div_euclid(BUCKET_SECS);
        (first, end)
    }

    /// The start of every series point, in order.
    pub(super) fn starts(&self) -> impl Iterator<Item = i64> + use<> {
        let step = self.interval.secs();
        let end = unix(self.to);
        let mut next = self.interval.floor(unix(self.from));
        std::iter::from_fn(move || {
            (next < end).then(|| {
                let start = next;
                next += step;
                start
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(raw: &str) -> Timestamp {
        Timestamp::parse(raw).unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn defaults_are_the_last_30_days_by_day_and_bad_periods_are_refused() {
        let now = ts("2026-03-10 12:34:56");
        let period = Period::new(None, None, None, now).unwrap_or_else(|_| unreachable!());
        assert_eq!(period.to, ts("2026-03-11 00:00:00"));
        assert_eq!(period.from, ts("2026-02-09 00:00:00"));
        assert_eq!(period.starts().count(), 30);
        let reversed = Period::new(Some(now), Some(ts("2026-03-01 00:00:00")), None, now);
        assert_eq!(reversed.err().map(|e| e.0), Some("from"));
        let long = Period::new(
            Some(ts("2020-01-01 00:00:00")),
            Some(now),
            Some(Interval::Hour),
            now,
        );
        assert_eq!(long.err().map(|e| e.0), Some("interval"));
    }

    #[test]
    fn the_bound_on_points_is_exact_and_checked_without_walking_a_long_period() {
        let from = ts("2026-01-01 00:00:00");
        let hours = |n: i64| at(unix(from) + n * 3_600);
        let now = ts("2026-03-10 12:34:56");
        let most = Period::new(
            Some(from),
            Some(hours(MAX_POINTS)),
            Some(Interval::Hour),
            now,
        );
        assert_eq!(most.map(|p| p.starts().count()).ok(), Some(1_000));
        let over = Period::new(
            Some(from),
            Some(hours(MAX_POINTS + 1)),
            Some(Interval::Hour),
            now,
        );
        assert_eq!(over.err().map(|e| e.0), Some("interval"));
        let ages = Period::new(
            Some(ts("0000-01-01 00:00:00")),
            Some(ts("9999-12-31 00:00:00")),
            Some(Interval::Hour),
            now,
        );
        assert_eq!(ages.err().map(|e| e.0), Some("interval"));
        // Points that would start before the year 0 are refused, not written.
        let early = Period::new(None, Some(ts("0000-01-10 00:00:00")), None, now);
        assert_eq!(early.err().map(|e| e.0), Some("from"));
        let week = Period::new(
            Some(ts("0000-01-01 00:00:00")),
            Some(ts("0000-01-02 00:00:00")),
            Some(Interval::Week),
            now,
        );
        assert_eq!(week.err().map(|e| e.0), Some("from"));
        let first = Period::new(
            Some(ts("0000-01-01 00:00:00")),
            Some(ts("0000-01-02 00:00:00")),
            Some(Interval::Hour),
            now,
        );
        assert!(first.is_ok());
    }
}
