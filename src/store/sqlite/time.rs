//! Timestamps as the store writes them: RFC 3339 UTC with milliseconds.

use chrono::{DateTime, SecondsFormat, Utc};

pub(super) fn now() -> DateTime<Utc> {
    // millisecond precision: what is stored is exactly what is returned
    let n = Utc::now();
    DateTime::parse_from_rfc3339(&n.to_rfc3339_opts(SecondsFormat::Millis, true))
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or(n)
}

pub(super) fn ts(d: &DateTime<Utc>) -> String {
    d.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(super) fn parse_ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default()
}
