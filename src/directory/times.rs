//! Times as the directory keeps them: unix seconds and milliseconds, RFC 3339 for people.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::event::format_rfc3339;

/// Unix seconds.
pub(super) fn unix(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

/// Unix milliseconds: when an entry was seen.
pub(super) fn unix_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Unix seconds as RFC 3339; empty when out of range.
pub(super) fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .map(format_rfc3339)
        .unwrap_or_default()
}

/// An RFC 3339 time (Okta's `lastUpdated`) as unix seconds.
pub(super) fn parse_time(t: &str) -> Option<i64> {
    OffsetDateTime::parse(t, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}
