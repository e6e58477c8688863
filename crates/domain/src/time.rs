//! Timestamps as the Rocket.Chat REST API writes them.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

/// Formats `at` as ISO-8601 UTC with milliseconds, e.g. `2019-06-07T23:02:13.359Z`.
pub fn iso_millis(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Appends `at` as `YYYY-MM-DDTHH:MM:SSZ` (chrono's `%Y-%m-%dT%H:%M:%SZ`) without a
/// format string: pages write one for every message.
pub fn push_iso_seconds(out: &mut String, at: DateTime<Utc>) {
    use chrono::Datelike;
    let date = at.date_naive();
    if !(0..=9999).contains(&date.year()) {
        out.push_str(&at.format("%Y-%m-%dT%H:%M:%SZ").to_string());
        return;
    }
    push_digits(out, date.year() as u32, 4);
    out.push('-');
    push_digits(out, date.month(), 2);
    out.push('-');
    push_digits(out, date.day(), 2);
    out.push('T');
    push_clock(out, at, true);
    out.push('Z');
}

/// Appends the time of day of `at` as `HH:MM`, or `HH:MM:SS` with `seconds`.
pub fn push_clock(out: &mut String, at: DateTime<Utc>, seconds: bool) {
    use chrono::Timelike;
    push_digits(out, at.hour(), 2);
    out.push(':');
    push_digits(out, at.minute(), 2);
    if seconds {
        out.push(':');
        push_digits(out, at.second(), 2);
    }
}

/// Appends the last `width` decimal digits of `value`, zero-padded.
fn push_digits(out: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = value / 10_u32.pow(place) % 10;
        out.push(char::from(b'0' + digit as u8));
    }
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
    fn seconds_and_clocks_are_written_as_chrono_formats_them() {
        for millis in [
            0,
            1_559_948_533_359,
            253_402_300_799_999,
            -62_135_596_800_000,
            -62_135_596_800_001,
            260_000_000_000_000,
        ] {
            let at = from_millis(millis);
            let mut out = String::new();
            push_iso_seconds(&mut out, at);
            assert_eq!(out, at.format("%Y-%m-%dT%H:%M:%SZ").to_string());
            out.clear();
            push_clock(&mut out, at, false);
            push_clock(&mut out, at, true);
            assert_eq!(out, at.format("%H:%M%H:%M:%S").to_string());
        }
    }

    #[test]
    fn millis_round_trip() {
        assert_eq!(to_millis(from_millis(1_700_000_000_123)), 1_700_000_000_123);
    }
}
