//! HTML escaping: every user-supplied string passes through here before it reaches a page.

/// Escapes `&`, `<`, `>`, `"` and `'` so `text` is inert in element content and in
/// quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    out
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        c => out.push(c),
    }
}

/// Escapes like [`escape_html`] and keeps line breaks visible as `<br/>`.
pub fn escape_html_text(text: &str) -> String {
    // One pass (this runs for every message of a personal export): a CR before an LF
    // goes, each LF becomes a break.
    let mut out = String::with_capacity(text.len() + 16);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => out.push_str("<br/>\n"),
            c => push_escaped(&mut out, c),
        }
    }
    out
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
