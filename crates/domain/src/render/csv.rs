//! CSV for audits (RFC 4180), safe to open in a spreadsheet.

use std::borrow::Cow;

/// One field, ready for a CSV line: a field that a spreadsheet would run as a formula
/// (starting with `=`, `+`, `-`, `@`, or a tab or carriage return before one) gets a
/// leading `'`, and a field holding a comma, a quote or a line break is quoted with its
/// quotes doubled.
///
/// ```
/// use udd_domain::render::csv_field;
/// assert_eq!(csv_field("plain"), "plain");
/// assert_eq!(csv_field("a,b"), "\"a,b\"");
/// assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
/// assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
/// ```
pub fn csv_field(value: &str) -> Cow<'_, str> {
    let formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let value: Cow<'_, str> = if formula {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    };
    if value.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", value.replace('"', "\"\"")))
    } else {
        value
    }
}

/// One CSV record with its CRLF line end.
pub fn csv_record<'a>(fields: impl IntoIterator<Item = &'a str>) -> String {
    let mut line = fields
        .into_iter()
        .map(csv_field)
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reads one RFC 4180 record back (the inverse of `csv_record`), for the tests.
    fn parse(line: &str) -> Vec<String> {
        let line = line.strip_suffix("\r\n").unwrap_or(line);
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut chars = line.chars().peekable();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match (quoted, c) {
                (false, '"') if field.is_empty() => quoted = true,
                (true, '"') if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                (true, '"') => quoted = false,
                (false, ',') => fields.push(std::mem::take(&mut field)),
                (_, c) => field.push(c),
            }
        }
        fields.push(field);
        fields
    }

    #[test]
    fn formulas_are_defused_and_special_characters_quoted() {
        assert_eq!(
            csv_record(["a", "b,c", "line\nbreak", "-1+2", "@SUM(A1)", "+x", ""]),
            "a,\"b,c\",\"line\nbreak\",'-1+2,'@SUM(A1),'+x,\r\n"
        );
        assert_eq!(csv_field("\ttab"), "'\ttab");
        assert_eq!(csv_field("10.0.0.1"), "10.0.0.1");
    }

    proptest! {
        #[test]
        fn every_record_reads_back_as_its_fields(fields in proptest::collection::vec(".*", 1..6)) {
            let line = csv_record(fields.iter().map(String::as_str));
            let expected: Vec<String> = fields
                .iter()
                .map(|f| if f.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{f}") } else { f.clone() })
                .collect();
            prop_assert_eq!(parse(&line), expected);
        }
    }
}
