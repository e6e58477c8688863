//! Timestamps as the Rocket.Chat REST API writes them.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

/// Formats `at` as ISO-8601 UTC with milliseconds, e.g. `2019-06-07T23:02:13.359Z`.
pub fn iso_millis(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Milliseconds since the Unix epoch, the unit timestamps are stored in.
pub fn to_millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// The instant `millis` milliseconds after the Unix epoch; out-of-range values clamp to
/// the epoch rather than panic, since they can only come from corrupt input.
pub fn from_millis(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(millis)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// How long to wait before retrying after failed attempt number `attempt` (1 for the
/// first failure): `first`, doubled after each further failure, never more than `max`.
pub fn retry_delay(
    first: std::time::Duration,
    max: std::time::Duration,
    attempt: u32,
) -> std::time::Duration {
    let doublings = attempt.saturating_sub(1).min(31);
    first.saturating_mul(1 << doublings).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_twice_as_long_each_time_up_to_a_cap() {
        let (first, max) = (
            std::time::Duration::from_secs(60),
            std::time::Duration::from_secs(3600),
        );
        let waits: Vec<u64> = [0, 1, 2, 3, 6, 7, 40, u32::MAX]
            .into_iter()
            .map(|attempt| retry_delay(first, max, attempt).as_secs())
            .collect();
        assert_eq!(waits, [60, 60, 120, 240, 1920, 3600, 3600, 3600]);
    }

    #[test]
    fn formats_with_milliseconds_and_zulu() {
        let at = from_millis(1_559_948_533_359);
        assert_eq!(iso_millis(at), "2019-06-07T23:02:13.359Z");
    }

    #[test]
    fn whole_seconds_still_carry_three_decimals() {
        assert_eq!(iso_millis(from_millis(0)), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn millis_round_trip() {
        assert_eq!(to_millis(from_millis(1_700_000_000_123)), 1_700_000_000_123);
    }
}
