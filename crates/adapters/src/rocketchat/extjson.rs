//! MongoDB Extended JSON, as `mongoexport` writes it, turned into plain JSON.
//!
//! Relaxed (`{"$date": "2024-03-01T09:00:00.000Z"}`) and canonical
//! (`{"$date": {"$numberLong": "1709283600000"}}`, `{"$numberLong": "7"}`, `{"$oid": …}`)
//! forms both become ordinary values: dates become ISO-8601 strings with milliseconds,
//! numbers become numbers, object ids become strings.

use chrono::DateTime;
use serde_json::{Map, Value};
use udd_domain::time::{from_millis, iso_millis};

/// Replaces every Extended JSON wrapper in `value` by the plain value it stands for.
pub fn relax(value: Value) -> Value {
    match value {
        Value::Object(map) => relax_object(map),
        Value::Array(items) => Value::Array(items.into_iter().map(relax).collect()),
        other => other,
    }
}

fn relax_object(map: Map<String, Value>) -> Value {
    if map.len() == 1 {
        if let Some((key, inner)) = map.iter().next() {
            match key.as_str() {
                "$date" => {
                    if let Some(millis) = date_millis(inner) {
                        return Value::String(iso_millis(from_millis(millis)));
                    }
                }
                "$numberLong" | "$numberInt" => {
                    if let Some(n) = inner.as_str().and_then(|s| s.parse::<i64>().ok()) {
                        return Value::from(n);
                    }
                }
                "$numberDouble" => {
                    if let Some(n) = inner.as_str().and_then(|s| s.parse::<f64>().ok()) {
                        return serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number);
                    }
                }
                "$oid" | "$numberDecimal" | "$symbol" => {
                    if let Some(s) = inner.as_str() {
                        return Value::String(s.to_owned());
                    }
                }
                _ => {}
            }
        }
    }
    Value::Object(map.into_iter().map(|(k, v)| (k, relax(v))).collect())
}

/// The instant inside a `$date`: an ISO string, a number of milliseconds, or a
/// canonical `{"$numberLong": "…"}`.
fn date_millis(inner: &Value) -> Option<i64> {
    match inner {
        Value::String(text) => iso_millis_of(text),
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::Object(map) => map
            .get("$numberLong")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok()),
        _ => None,
    }
}

/// Milliseconds since the epoch of an ISO-8601 (RFC 3339) date.
pub fn iso_millis_of(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|d| d.timestamp_millis())
}

/// Milliseconds since the epoch of a relaxed date (an ISO string) or a plain number.
pub fn millis(value: &Value) -> Option<i64> {
    match value {
        Value::String(text) => iso_millis_of(text),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn relaxed_and_canonical_dates_become_the_same_iso_string() {
        let relaxed = relax(json!({"ts": {"$date": "2024-03-01T09:05:52.431Z"}}));
        let canonical = relax(json!({"ts": {"$date": {"$numberLong": "1709284PRE"}}}));
        assert_eq!(relaxed["ts"], "2024-03-01T09:05:52.431Z");
        // A wrapper that does not parse is left as it is rather than guessed at.
        assert!(canonical["ts"].is_object());
        let canonical = relax(json!({"ts": {"$date": {"$numberLong": "1709283952431"}}}));
        assert_eq!(canonical["ts"], "2024-03-01T09:05:52.431Z");
        assert_eq!(
            relax(json!({"$date": 1709283952431_i64})),
            "2024-03-01T09:05:52.431Z"
        );
        assert_eq!(
            relax(json!({"$date": "2024-03-01T10:05:52.431+01:00"})),
            "2024-03-01T09:05:52.431Z"
        );
    }

    #[test]
    fn numbers_and_ids_are_unwrapped_deep_inside_arrays_and_objects() {
        let value = relax(json!({
            "size": {"$numberLong": "74"},
            "n": {"$numberInt": "3"},
            "x": {"$numberDouble": "1.5"},
            "_id": {"$oid": "5f1d7c3e9b1e8a3f4c2d1b0a"},
            "files": [{"size": {"$numberLong": "9"}}],
        }));
        assert_eq!(value["size"], 74);
        assert_eq!(value["n"], 3);
        assert_eq!(value["x"], 1.5);
        assert_eq!(value["_id"], "5f1d7c3e9b1e8a3f4c2d1b0a");
        assert_eq!(value["files"][0]["size"], 9);
    }

    #[test]
    fn millis_reads_iso_strings_and_numbers() {
        assert_eq!(millis(&json!("1970-01-01T00:00:01.000Z")), Some(1000));
        assert_eq!(millis(&json!(5)), Some(5));
        assert_eq!(millis(&json!("yesterday")), None);
    }
}
