//! The MongoDB Extended JSON decoder (`udd_adapters::rocketchat::extjson`).
//!
//! `relax` runs on every document of an import. It never panics, whatever JSON it is
//! given; it leaves values without `$` keys untouched; a canonical date
//! (`{"$date": {"$numberLong": "…"}}`), a numeric one (`{"$date": …}`) and a relaxed
//! one (`{"$date": "…Z"}`) for the same instant become the same ISO string, which
//! `millis` reads back to the same millisecond; numbers and ids are unwrapped exactly,
//! at any depth.

#![no_main]

use arbitrary::Arbitrary;
use chrono::{DateTime, Datelike};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use udd_adapters::rocketchat::extjson::{millis, relax};
use udd_domain::time::{from_millis, iso_millis};

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    date_millis: i64,
    number: i64,
    double: f64,
    date_text: &'a str,
    oid: &'a str,
    /// Any JSON text (or not).
    document: &'a [u8],
}

/// Whether any object inside `value` has a key starting with `$`.
fn has_dollar_key(value: &Value) -> bool {
    match value {
        Value::Object(map) => map
            .iter()
            .any(|(key, inner)| key.starts_with('$') || has_dollar_key(inner)),
        Value::Array(items) => items.iter().any(has_dollar_key),
        _ => false,
    }
}

/// Whether an ISO string of this instant can be read back (RFC 3339 has four-digit
/// years; chrono writes `+10000-…` beyond them).
fn rfc3339_year(millis: i64) -> bool {
    DateTime::from_timestamp_millis(millis).is_some_and(|d| (0..=9999).contains(&d.year()))
}

fn check_date(millis_value: i64) {
    let canonical = relax(json!({"$date": {"$numberLong": millis_value.to_string()}}));
    let numeric = relax(json!({"$date": millis_value}));
    assert_eq!(canonical, numeric, "{millis_value}");
    let Value::String(iso) = &canonical else {
        panic!("{millis_value} became {canonical}")
    };
    if rfc3339_year(millis_value) {
        assert_eq!(iso, &iso_millis(from_millis(millis_value)));
        assert_eq!(iso.len(), "2024-03-01T09:05:52.431Z".len(), "{iso}");
        assert!(iso.ends_with('Z'), "{iso}");
        assert_eq!(millis(&canonical), Some(millis_value), "{iso}");
        // The relaxed form of the same instant is the same string.
        assert_eq!(relax(json!({"$date": iso})), canonical);
    } else if DateTime::from_timestamp_millis(millis_value).is_none() {
        // Beyond what chrono can hold: corrupt input, clamped to the epoch.
        assert_eq!(iso, "1970-01-01T00:00:00.000Z");
    }
}

fuzz_target!(|input: Input<'_>| {
    check_date(input.date_millis);

    // A relaxed date with any offset and precision: the same instant, in UTC, to the
    // millisecond.
    if let Ok(parsed) = DateTime::parse_from_rfc3339(input.date_text) {
        let expected = parsed.timestamp_millis();
        let relaxed = relax(json!({"$date": input.date_text}));
        assert_eq!(relaxed, Value::String(iso_millis(from_millis(expected))));
        if rfc3339_year(expected) {
            assert_eq!(millis(&relaxed), Some(expected), "{}", input.date_text);
        }
    }

    for key in ["$numberLong", "$numberInt"] {
        assert_eq!(
            relax(json!({key: input.number.to_string()})),
            json!(input.number)
        );
    }
    let double = relax(json!({"$numberDouble": input.double.to_string()}));
    if input.double.is_finite() {
        assert_eq!(double.as_f64(), Some(input.double), "{double}");
    } else {
        assert_eq!(double, Value::Null);
    }
    assert_eq!(relax(json!({"$oid": input.oid})), json!(input.oid));

    // Wrappers are unwrapped at any depth, and nothing else changes.
    let nested = relax(json!({
        "a": [{"n": {"$numberLong": input.number.to_string()}}, {"$oid": input.oid}],
        "plain": {"x": input.oid},
    }));
    assert_eq!(
        nested,
        json!({"a": [{"n": input.number}, input.oid], "plain": {"x": input.oid}})
    );

    // Arbitrary JSON: no panic, and untouched when it holds no `$` key.
    if let Ok(value) = serde_json::from_slice::<Value>(input.document) {
        let plain = !has_dollar_key(&value);
        let relaxed = relax(value.clone());
        if plain {
            assert_eq!(relaxed, value);
        }
        let _ = millis(&relaxed);
        if let Value::Object(map) = &relaxed {
            for inner in map.values() {
                let _ = millis(inner);
            }
        }
    }
});
