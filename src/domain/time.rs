//! Instants in UTC, written as RFC 3339 with a `Z` offset, stored as Unix nanoseconds.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// An instant, nanosecond precision, UTC.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Why a string is not an accepted timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("timestamps are RFC 3339 in UTC with a `Z` offset, e.g. 2026-01-31T12:00:00Z")]
    Format,
    #[error("timestamp is outside the supported range (1970 to 2262)")]
    Range,
}

impl Timestamp {
    #[must_use]
    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc()).unwrap_or(Self(i64::MAX))
    }

    #[must_use]
    pub const fn from_unix_nanos(nanos: i64) -> Self {
        Self(nanos)
    }

    #[must_use]
    pub const fn unix_nanos(self) -> i64 {
        self.0
    }

    fn from_datetime(dt: OffsetDateTime) -> Result<Self, TimestampError> {
        let nanos = dt.unix_timestamp_nanos();
        if nanos < 0 {
            return Err(TimestampError::Range);
        }
        i64::try_from(nanos)
            .map(Self)
            .map_err(|_| TimestampError::Range)
    }

    /// The instant `secs` seconds later (saturating).
    #[must_use]
    pub const fn plus_secs(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs.saturating_mul(1_000_000_000)))
    }

    fn datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0))
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// Seconds since the Unix epoch, rounded down.
    #[must_use]
    pub const fn unix_secs(self) -> i64 {
        self.0.div_euclid(1_000_000_000)
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // The RFC 3339 profile we accept: `YYYY-MM-DDTHH:MM:SS[.F]Z`, an
        // uppercase `T`, 1 to 9 fraction digits, the zone always `Z`, no leap
        // second. Everything else (other offsets, a space or other separator,
        // longer fractions that would be truncated) is refused.
        let b = s.as_bytes();
        let digits =
            |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
        let shape = b.len() >= 20
            && digits(0..4)
            && b[4] == b'-'
            && digits(5..7)
            && b[7] == b'-'
            && digits(8..10)
            && b[10] == b'T'
            && digits(11..13)
            && b[13] == b':'
            && digits(14..16)
            && b[16] == b':'
            && digits(17..19)
            && &b[17..19] != b"60"
            && match &b[19..] {
                b"Z" => true,
                [b'.', frac @ .., b'Z'] => {
                    (1..=9).contains(&frac.len()) && frac.iter().all(u8::is_ascii_digit)
                }
                _ => false,
            };
        if !shape {
            return Err(TimestampError::Format);
        }
        let dt = OffsetDateTime::parse(s, &Rfc3339).map_err(|_| TimestampError::Format)?;
        Self::from_datetime(dt)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.datetime().format(&Rfc3339).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utc_only() {
        let t: Timestamp = "2026-01-31T12:00:00Z".parse().expect("valid");
        assert_eq!(t.to_string(), "2026-01-31T12:00:00Z");
        assert_eq!(
            "2026-01-31T12:00:00+01:00".parse::<Timestamp>(),
            Err(TimestampError::Format)
        );
        assert_eq!(
            "yesterday".parse::<Timestamp>(),
            Err(TimestampError::Format)
        );
        let frac: Timestamp = "2026-01-31T12:00:00.123456789Z".parse().expect("valid");
        assert_eq!(frac.to_string(), "2026-01-31T12:00:00.123456789Z");
        let padded: Timestamp = "2026-01-31T12:00:00.500Z".parse().expect("valid");
        assert_eq!(padded.to_string(), "2026-01-31T12:00:00.5Z");
        for bad in [
            "2026-01-31 12:00:00Z",
            "2026-01-31X12:00:00Z",
            "2026-01-31t12:00:00Z",
            "2026-01-31T12:00:00.1234567891Z",
            "2026-01-31T23:59:60Z",
            "2026-01-31T12:00:00.Z",
            "2026-01-31T12:00Z",
            "+2026-01-31T12:00:00Z",
        ] {
            assert_eq!(
                bad.parse::<Timestamp>(),
                Err(TimestampError::Format),
                "{bad}"
            );
        }
    }
}
