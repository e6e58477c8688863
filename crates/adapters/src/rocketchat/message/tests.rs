use serde_json::json;
use udd_ports::Document;

use super::*;

/// What the mapping made of a document, read from its text and from its relaxed value.
fn both(text: &str) -> (Result<Mapped, Refused>, Result<Mapped, String>) {
    let fast = from_json(text.as_bytes());
    let value = serde_json::from_str::<Value>(text).map(extjson::relax);
    let slow = match value {
        Ok(value) => super::super::documents::map(udd_ports::Collection::Messages, &value),
        Err(e) => Err(e.to_string()),
    };
    (fast, slow)
}

fn message(text: &str) -> Message {
    let (fast, slow) = both(text);
    let (
        Ok(Mapped::Document(Document::Message(fast))),
        Ok(Mapped::Document(Document::Message(slow))),
    ) = (fast, slow)
    else {
        panic!("not a message both ways: {text}")
    };
    assert_eq!(fast, slow, "{text}");
    fast
}

#[test]
fn text_and_value_readings_agree_on_relaxed_and_canonical_extended_json() {
    let relaxed = message(
        r#"{"_id":"m1","rid":"GENERAL","msg":"hi","t":"uj","tmid":"m0",
            "ts":{"$date":"2024-03-01T09:05:52.431Z"},"_updatedAt":{"$date":"2024-03-02T00:00:00.000Z"},
            "u":{"_id":"u1","username":"alice","name":"Alice"},"file":{"_id":"f1","name":"x.png"},
            "attachments":[{"title":"x.png","ts":{"$date":"2024-03-01T09:05:52.431Z"}}],
            "mentions":[],"urls":[{"url":"https://x.org"}],"reactions":{":+1:":{"usernames":["bob"]}}}"#,
    );
    assert_eq!(relaxed.id, "m1");
    assert_eq!(relaxed.room_id, "GENERAL");
    assert_eq!(relaxed.ts.timestamp_millis(), 1_709_283_952_431);
    assert_eq!(relaxed.updated_at.timestamp_millis(), 1_709_337_600_000);
    assert_eq!(relaxed.user_id.as_deref(), Some("u1"));
    assert_eq!(relaxed.username.as_deref(), Some("alice"));
    assert_eq!(relaxed.message_type.as_deref(), Some("uj"));
    assert_eq!(relaxed.thread_id.as_deref(), Some("m0"));
    assert_eq!(relaxed.file_id.as_deref(), Some("f1"));
    assert_eq!(
        relaxed.attachments,
        Some(json!([{"title": "x.png", "ts": "2024-03-01T09:05:52.431Z"}]))
    );

    let canonical = message(
        r#"{"_id":{"$oid":"5f1d7c3e9b1e8a3f4c2d1b0a"},"rid":"R","msg":"a \"quoted\" \u00e9",
            "ts":{"$date":{"$numberLong":"1709283952431"}},"u":{"_id":"u1"},
            "_updatedAt":{"$date":1709283952999}}"#,
    );
    assert_eq!(canonical.id, "5f1d7c3e9b1e8a3f4c2d1b0a");
    assert_eq!(canonical.msg, "a \"quoted\" é");
    assert_eq!(canonical.ts.timestamp_millis(), 1_709_283_952_431);
    assert_eq!(canonical.updated_at.timestamp_millis(), 1_709_283_952_999);
    assert_eq!(canonical.username, None);
}

#[test]
fn fields_of_another_type_count_as_absent_the_same_way_in_both_readings() {
    for text in [
        // Wrong types everywhere but the required fields.
        r#"{"_id":"m","rid":"r","ts":5,"msg":7,"t":["x"],"tmid":{},"u":"alice","file":[1],"attachments":{}}"#,
        // Empty strings are absent, except the text itself.
        r#"{"_id":"m","rid":"r","ts":"2024-03-01T09:05:52.431Z","msg":"","t":"","u":{"_id":"","username":""}}"#,
        // A date wrapper where text is expected reads as its ISO form; numbers as wrappers.
        r#"{"_id":"m","rid":"r","ts":{"$numberLong":"42"},"msg":{"$date":"2024-03-01T09:05:52Z"},
            "_updatedAt":{"$numberDouble":"1.5"},"tmid":{"$symbol":"m0"}}"#,
        // Objects that look like wrappers but are not.
        r#"{"_id":"m","rid":{"$oid":"r","x":1},"ts":1,"t":{"$oid":5},"tmid":{"$date":"nonsense"}}"#,
        r#"{"_id":"m","rid":"r","ts":1.5}"#,
        r#"{"_id":"m","rid":"r","ts":{"$date":1.7e12},"attachments":[]}"#,
        r#"{"_id":"m","rid":"r","ts":18446744073709551615}"#,
        r#"{"_id":"m","rid":"r","ts":{"$date":{"$numberLong":"x"}}}"#,
        r#"{"_id":"m","rid":"r","ts":"2024-03-01T10:05:52.431+01:00","_updatedAt":null}"#,
        r#"{"_id":"m","_id":"m2","rid":"r","ts":1}"#,
        r#"{"rid":"r","ts":1}"#,
        r#"{"_id":"m","ts":1}"#,
        r#"{"_id":"m","rid":"r"}"#,
        r#"{"_id":"h","rid":"r","_hidden":true}"#,
        r#"{"rid":"r","_hidden":true}"#,
        r#"{"_id":"h","rid":"r","ts":1,"_hidden":"true"}"#,
        r#"[1,2]"#,
        r#""a string""#,
        r#"{"_id":"m","rid":"r","ts":{"$date":253402300800000}}"#,
        r#"{"_id":"m","rid":"r","ts":{"$date":-62198755200000}}"#,
    ] {
        let (fast, slow) = both(text);
        let fast = fast.map_err(|refused| match refused {
            Refused::Skipped(reason) => reason,
            Refused::Malformed(error) => panic!("{text}: {error}"),
        });
        assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{text}");
    }
}

#[test]
fn a_line_that_is_not_json_is_malformed_with_the_parsers_words() {
    let text = r#"{"_id": oops"#;
    let expected = serde_json::from_str::<Value>(text)
        .err()
        .map(|e| e.to_string());
    assert!(matches!(
        from_json(text.as_bytes()),
        Err(Refused::Malformed(error)) if Some(&error) == expected.as_ref()
    ));
    assert!(matches!(
        from_json(br#"{"_id":"m","rid":"r","ts":1} trailing"#),
        Err(Refused::Malformed(_))
    ));
}

#[test]
fn a_history_copy_is_hidden_and_a_missing_field_is_named() {
    assert!(matches!(
        from_json(br#"{"_id":"h1","rid":"GENERAL","msg":"old","_hidden":true,"parent":"m1"}"#),
        Ok(Mapped::Hidden(id)) if id == "h1"
    ));
    assert_eq!(
        from_json(br#"{"_id":"m","rid":"r"}"#).err(),
        Some(Refused::Skipped("missing or invalid `ts`".into()))
    );
    assert_eq!(
        from_json(br#"{"rid":"r","ts":1}"#).err(),
        Some(Refused::Skipped("missing `_id`".into()))
    );
    assert_eq!(
        from_json(b"[1]").err(),
        Some(Refused::Skipped("not a JSON object".into()))
    );
}
