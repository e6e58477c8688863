//! HTML escaping: every user-supplied string passes through here before it reaches a page.

/// Escapes `&`, `<`, `>`, `"` and `'` so `text` is inert in element content and in
/// quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    push_escaped(&mut out, text);
    out
}

/// The entity a character with a meaning in markup stands as; `None` for the others.
fn entity(byte: u8) -> Option<&'static str> {
    match byte {
        b'&' => Some("&amp;"),
        b'<' => Some("&lt;"),
        b'>' => Some("&gt;"),
        b'"' => Some("&quot;"),
        b'\'' => Some("&#39;"),
        _ => None,
    }
}

/// Appends `text` escaped as [`escape_html`] does. The characters escaped are ASCII,
/// so the text is scanned as bytes and copied a run at a time (this runs for every
/// message of a personal export).
pub(crate) fn push_escaped(out: &mut String, text: &str) {
    let mut run = 0;
    for (i, byte) in text.bytes().enumerate() {
        if let Some(entity) = entity(byte) {
            out.push_str(&text[run..i]);
            out.push_str(entity);
            run = i + 1;
        }
    }
    out.push_str(&text[run..]);
}

/// Escapes like [`escape_html`] and keeps line breaks visible as `<br/>`.
pub fn escape_html_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    push_escaped_text(&mut out, text);
    out
}

/// Appends `text` escaped as [`escape_html_text`] does: a CR before an LF goes, each
/// LF becomes a break.
pub(crate) fn push_escaped_text(out: &mut String, text: &str) {
    let bytes = text.as_bytes();
    let mut run = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        let replacement = match byte {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => "",
            b'\n' => "<br/>\n",
            _ => match entity(byte) {
                Some(entity) => entity,
                None => continue,
            },
        };
        out.push_str(&text[run..i]);
        out.push_str(replacement);
        run = i + 1;
    }
    out.push_str(&text[run..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn markup_and_quotes_are_neutralised() {
        assert_eq!(
            escape_html(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(escape_html_text("a\nb<c"), "a<br/>\nb&lt;c");
    }

    proptest! {
        #[test]
        fn text_escaping_keeps_line_breaks_as_the_plain_escape_did(text in "[a-c<&'\r\n]*") {
            let expected = escape_html(&text).replace("\r\n", "\n").replace('\n', "<br/>\n");
            prop_assert_eq!(escape_html_text(&text), expected);
        }

        #[test]
        fn escaped_text_never_contains_markup_characters(text in ".*") {
            let escaped = escape_html(&text);
            prop_assert!(!escaped.contains('<') && !escaped.contains('>') && !escaped.contains('"') && !escaped.contains('\''));
            // Every & starts an entity we wrote.
            for (i, _) in escaped.match_indices('&') {
                let rest = &escaped[i..];
                prop_assert!(["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"].iter().any(|e| rest.starts_with(e)));
            }
        }
    }
}
