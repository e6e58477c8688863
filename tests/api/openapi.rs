//! A small validator for the OpenAPI 3.0 schema subset our documents use (types,
//! `nullable`, `enum`, `required`, `properties`, `items`, `allOf`, `$ref`,
//! `format: date-time`), so responses can be checked against docs/openapi.json and
//! against Rocket.Chat's own document in tests/fixtures/seed/.

use serde_json::Value;

pub struct OpenApi {
    doc: Value,
}

impl OpenApi {
    /// The project's own document, docs/openapi.json.
    pub fn project() -> Self {
        Self::parse(include_str!("../../docs/openapi.json"))
    }

    /// Rocket.Chat's document for `users.requestDataDownload`.
    pub fn rocket_chat_seed() -> Self {
        Self::parse(include_str!(
            "../fixtures/seed/users.requestDataDownload.openapi.json"
        ))
    }

    fn parse(text: &str) -> Self {
        Self {
            doc: serde_json::from_str(text).expect("OpenAPI document is JSON"),
        }
    }

    /// The schema of the JSON response of `method path` with `status`, `$ref`s resolved.
    pub fn response_schema(&self, path: &str, method: &str, status: &str) -> Value {
        let response = &self.doc["paths"][path][method]["responses"][status];
        let response = self.resolve(response);
        let schema = &response["content"]["application/json"]["schema"];
        assert!(!schema.is_null(), "no schema for {method} {path} {status}");
        self.resolve(schema).clone()
    }

    fn resolve<'a>(&'a self, mut value: &'a Value) -> &'a Value {
        while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
            let pointer = reference.strip_prefix('#').expect("local $ref");
            value = self
                .doc
                .pointer(pointer)
                .unwrap_or_else(|| panic!("dangling $ref {reference}"));
        }
        value
    }

    /// Panics with every mismatch when `value` does not satisfy the response schema.
    pub fn assert_response(&self, path: &str, method: &str, status: u16, value: &Value) {
        let schema = self.response_schema(path, method, &status.to_string());
        let mut errors = Vec::new();
        self.check(&schema, value, "$", &mut errors);
        assert!(
            errors.is_empty(),
            "{method} {path} {status} breaks its schema:\n{}\n{value:#}",
            errors.join("\n")
        );
    }

    /// Every mismatch of `value` against `schema`.
    pub fn check(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for part in all {
                self.check(part, value, at, errors);
            }
        }
        if value.is_null() && is_true(schema.get("nullable")) {
            return;
        }
        if let Some(expected) = schema.get("type").and_then(Value::as_str) {
            let ok = match expected {
                "object" => value.is_object(),
                "array" => value.is_array(),
                "string" => value.is_string(),
                "boolean" => value.is_boolean(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                other => panic!("unsupported type {other}"),
            };
            if !ok {
                errors.push(format!("{at}: expected {expected}, got {value}"));
                return;
            }
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
            if !allowed.contains(value) {
                errors.push(format!("{at}: {value} is not one of {allowed:?}"));
            }
        }
        if schema.get("format").and_then(Value::as_str) == Some("date-time") {
            let text = value.as_str().unwrap_or_default();
            if chrono::DateTime::parse_from_rfc3339(text).is_err() || !is_iso_millis_utc(text) {
                errors.push(format!(
                    "{at}: {text:?} is not ISO-8601 UTC with milliseconds"
                ));
            }
        }
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for key in required.iter().filter_map(Value::as_str) {
                if value.get(key).is_none() {
                    errors.push(format!("{at}: missing required `{key}`"));
                }
            }
        }
        if let (Some(properties), Some(object)) = (
            schema.get("properties").and_then(Value::as_object),
            value.as_object(),
        ) {
            for (key, property) in properties {
                if let Some(field) = object.get(key) {
                    self.check(property, field, &format!("{at}.{key}"), errors);
                }
            }
        }
        if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
            for (i, item) in array.iter().enumerate() {
                self.check(items, item, &format!("{at}[{i}]"), errors);
            }
        }
    }

    /// Flattens a schema into `path → (type, nullable)` for comparing two documents.
    pub fn shape(&self, schema: &Value, at: &str, out: &mut Vec<(String, String, bool)>) {
        let schema = self.resolve(schema);
        let kind = schema
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("any")
            .to_owned();
        out.push((at.to_owned(), kind, is_true(schema.get("nullable"))));
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (key, property) in properties {
                self.shape(property, &format!("{at}.{key}"), out);
            }
        }
        if let Some(items) = schema.get("items") {
            self.shape(items, &format!("{at}[]"), out);
        }
    }
}

/// Rocket.Chat's document writes booleans as strings (`"nullable": "true"`).
fn is_true(value: Option<&Value>) -> bool {
    matches!(value, Some(Value::Bool(true)))
        || matches!(value, Some(Value::String(s)) if s == "true")
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` exactly.
pub fn is_iso_millis_utc(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 24
        && bytes[10] == b'T'
        && bytes[19] == b'.'
        && bytes[23] == b'Z'
        && bytes[20..23].iter().all(u8::is_ascii_digit)
}

#[test]
fn the_project_document_agrees_with_rocket_chats_for_request_data_download() {
    let (ours, theirs) = (OpenApi::project(), OpenApi::rocket_chat_seed());
    let path = "/api/v1/users.requestDataDownload";
    let mut our_shape = Vec::new();
    ours.shape(
        &ours.response_schema(path, "get", "200"),
        "$",
        &mut our_shape,
    );
    let mut their_shape = Vec::new();
    theirs.shape(
        &theirs.response_schema(path, "get", "200"),
        "$",
        &mut their_shape,
    );
    for field in &their_shape {
        assert!(
            our_shape.contains(field),
            "Rocket.Chat's {field:?} is missing or differs in docs/openapi.json"
        );
    }
    let mut our_401 = Vec::new();
    ours.shape(&ours.response_schema(path, "get", "401"), "$", &mut our_401);
    let mut their_401 = Vec::new();
    theirs.shape(
        &theirs.response_schema(path, "get", "401"),
        "$",
        &mut their_401,
    );
    for field in &their_401 {
        assert!(our_401.contains(field), "401 {field:?} differs");
    }
}

#[test]
fn the_validator_catches_wrong_types_nulls_and_missing_fields() {
    let api = OpenApi::project();
    let schema = api.response_schema("/api/v1/users.requestDataDownload", "get", "200");
    let mut errors = Vec::new();
    let bad = serde_json::json!({
        "requested": "false",
        "success": true,
        "pendingOperationsBeforeMyRequest": 0,
        "exportOperation": {"_id": "x", "createdAt": "2019-06-07T23:02:13Z", "generatedFile": null,
                            "roomList": [{"exportedCount": "8", "userId": null}]}
    });
    api.check(&schema, &bad, "$", &mut errors);
    let text = errors.join("\n");
    for expected in [
        "$.requested: expected boolean",
        "createdAt",
        "generatedFile: expected string",
        "exportedCount: expected integer",
        "missing required `fullExport`",
    ] {
        assert!(
            text.contains(expected),
            "{expected} not reported in:\n{text}"
        );
    }
    assert!(
        !text.contains("userId: expected"),
        "a null room userId is allowed:\n{text}"
    );
}
