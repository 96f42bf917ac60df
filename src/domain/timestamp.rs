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

    /// Parses the formats found in seed files and sent by clients:
    /// `2025-09-19 22:25:05`, `2025-09-19T22:25:05`, with optional fractions and
    /// an optional `Z` or offset (converted to UTC).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let bad = || format!("'{raw}' is not a datetime like 2025-09-19 22:25:05");
        let normalized = raw.replacen(' ', "T", 1);
        if let Ok(with_zone) =
            OffsetDateTime::parse(&normalized, &time::format_description::well_known::Rfc3339)
        {
            let utc = with_zone.to_offset(time::UtcOffset::UTC);
            return Ok(Self::from_primitive(PrimitiveDateTime::new(
                utc.date(),
                utc.time(),
            )));
        }
        let (base, _fraction) = normalized.split_once('.').unwrap_or((&normalized, ""));
        PrimitiveDateTime::parse(base, WIRE)
            .map(Self::from_primitive)
            .map_err(|_| bad())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.format(WIRE) {
            Ok(text) => f.write_str(&text),
            Err(_) => Err(fmt::Error),
        }
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
    fn now_has_no_fractional_seconds() {
        assert_eq!(Timestamp::now().as_primitive().nanosecond(), 0);
    }
}
