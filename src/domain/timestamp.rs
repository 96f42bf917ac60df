//! `Timestamp`: a UTC instant at whole seconds, written `YYYY-MM-DDTHH:MM:SS`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// The contract's wire format: no zone, no fractions.
const WIRE: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");

/// A UTC datetime truncated to seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(PrimitiveDateTime);

impl Timestamp {
    pub fn now() -> Self {
        let now = OffsetDateTime::now_utc();
        Self::from_primitive(PrimitiveDateTime::new(now.date(), now.time()))
    }

    pub fn from_primitive(value: PrimitiveDateTime) -> Self {
        Self(value.replace_nanosecond(0).unwrap_or(value))
    }

    pub fn as_primitive(&self) -> PrimitiveDateTime {
        self.0
    }

    /// Seconds since 1970-01-01 UTC.
    pub fn unix_secs(&self) -> i64 {
        self.0.assume_utc().unix_timestamp()
    }

    /// Days since 1970-01-01 UTC: the day of the click counters and visitor keys.
    pub fn unix_day(&self) -> i64 {
        self.unix_secs().div_euclid(86_400)
    }

    /// Parses the formats found in seed files and sent by clients:
    /// `2025-09-19 22:25:05`, `2025-09-19T22:25:05`, with optional fractions and
    /// an optional `Z` or offset (converted to UTC).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let bad = || format!("'{raw}' is not a datetime like 2025-09-19 22:25:05");
        let normalized = raw.replacen(' ', "T", 1);
        // Only years the wire format can write (0 to 9999) are instants kurz keeps.
        let writable = |at: PrimitiveDateTime| (0..=9999).contains(&at.year()).then_some(at);
        if let Ok(with_zone) =
            OffsetDateTime::parse(&normalized, &time::format_description::well_known::Rfc3339)
        {
            // An offset that moves the instant out of `time`'s range is no instant at all.
            let utc = with_zone
                .checked_to_offset(time::UtcOffset::UTC)
                .ok_or_else(bad)?;
            return writable(PrimitiveDateTime::new(utc.date(), utc.time()))
                .map(Self::from_primitive)
                .ok_or_else(bad);
        }
        // Fractions are dropped; anything after them is a zone RFC 3339 did not accept
        // (`+0200`), which must not be dropped with them: the instant would move.
        let (base, fraction) = normalized.split_once('.').unwrap_or((&normalized, ""));
        if !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        PrimitiveDateTime::parse(base, WIRE)
            .ok()
            .and_then(writable)
            .map(Self::from_primitive)
            .ok_or_else(bad)
    }
}

/// The wire format, written digit by digit: every event in a list and every click in a batch
/// is written this way, and `time`'s general formatter cost more than the rest of the row.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (date, time) = (self.0.date(), self.0.time());
        let year = u32::try_from(date.year()).map_err(|_| fmt::Error)?;
        if year > 9999 {
            return Err(fmt::Error);
        }
        let mut text = *b"0000-00-00T00:00:00";
        let fields = [
            (0, 4, year),
            (5, 2, u32::from(u8::from(date.month()))),
            (8, 2, u32::from(date.day())),
            (11, 2, u32::from(time.hour())),
            (14, 2, u32::from(time.minute())),
            (17, 2, u32::from(time.second())),
        ];
        for (start, width, mut value) in fields {
            for digit in text[start..start + width].iter_mut().rev() {
                *digit = b'0' + (value % 10) as u8;
                value /= 10;
            }
        }
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Described as a string with the wire format's shape (not `date-time`, which needs a zone).
impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .description(Some("UTC, to the second, without a zone"))
            .pattern(Some(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$"))
            .examples(["2025-09-19T22:25:05"])
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_past_the_wire_format_are_refused_not_panicked_on() {
        assert!(Timestamp::parse("9999-12-31T23:59:59-01:00").is_err());
        assert!(Timestamp::parse("0000-01-01T00:30:00+01:00").is_err());
        assert!(Timestamp::parse("9999-12-31T23:59:59Z").is_ok());
    }

    #[test]
    fn seed_file_datetimes_parse_and_print_in_wire_format() {
        let ts = Timestamp::parse("2025-09-19 22:25:05").map(|t| t.to_string());
        assert_eq!(ts, Ok("2025-09-19T22:25:05".to_owned()));
    }

    #[test]
    fn fractions_and_zones_are_normalised_to_utc_seconds() {
        assert_eq!(
            Timestamp::parse("2025-09-19T22:25:05.123456").map(|t| t.to_string()),
            Ok("2025-09-19T22:25:05".to_owned())
        );
        assert_eq!(
            Timestamp::parse("2025-09-19T23:25:05+01:00").map(|t| t.to_string()),
            Ok("2025-09-19T22:25:05".to_owned())
        );
        assert_eq!(
            Timestamp::parse("2025-09-19T22:25:05Z").map(|t| t.to_string()),
            Ok("2025-09-19T22:25:05".to_owned())
        );
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in ["", "yesterday", "2025-13-01 00:00:00", "2025-09-19"] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_wire_format_is_written_as_time_would_write_it() {
        for raw in [
            "0001-01-01 00:00:00",
            "1999-12-31 23:59:59",
            "2025-09-19 22:25:05",
            "9999-12-31 23:59:59",
        ] {
            let Ok(ts) = Timestamp::parse(raw) else {
                panic!("{raw} parses")
            };
            assert_eq!(
                ts.to_string(),
                ts.as_primitive().format(WIRE).unwrap_or_default()
            );
        }
        assert_eq!(Timestamp::now().to_string().len(), 19);
    }

    #[test]
    fn now_has_no_fractional_seconds() {
        assert_eq!(Timestamp::now().as_primitive().nanosecond(), 0);
    }
}
