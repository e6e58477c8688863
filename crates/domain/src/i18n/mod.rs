//! The words users read, in their language. One file per language holds every string
//! under the same keys as English ([`en`]); adding a language is adding its file and
//! one line in [`LANGUAGES`]. A test holds each language to English's keys exactly.

mod de;
mod en;

/// Languages by primary subtag (`de` also answers `de-DE`, `de_AT`), English first.
const LANGUAGES: &[(&str, &[(&str, &str)])] = &[("en", en::MESSAGES), ("de", de::MESSAGES)];

/// The strings of one language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Catalogue {
    code: &'static str,
    messages: &'static [(&'static str, &'static str)],
}

impl Catalogue {
    /// English, the fallback.
    pub fn english() -> Self {
        Self {
            code: LANGUAGES[0].0,
            messages: LANGUAGES[0].1,
        }
    }

    /// The catalogue for a Rocket.Chat `language` value (`de`, `de-DE`, `pt_BR`):
    /// matched on its primary subtag, case-insensitively; English when unset or unknown.
    ///
    /// ```
    /// use udd_domain::i18n::Catalogue;
    /// assert_eq!(Catalogue::for_language(Some("de-DE")).code(), "de");
    /// assert_eq!(Catalogue::for_language(Some("xx")).code(), "en");
    /// assert_eq!(Catalogue::for_language(None).code(), "en");
    /// ```
    pub fn for_language(tag: Option<&str>) -> Self {
        let primary = tag
            .and_then(|tag| tag.trim().split(['-', '_']).next())
            .unwrap_or_default()
            .to_ascii_lowercase();
        LANGUAGES
            .iter()
            .find(|(code, _)| *code == primary)
            .map_or_else(Self::english, |(code, messages)| Self { code, messages })
    }

    /// The catalogue for an HTTP `Accept-Language` header (`de-CH, de;q=0.9, en;q=0.8`):
    /// the known language the client weighs highest (earlier wins a tie); English when
    /// none is known. Entries with `q=0` are refused languages, and skipped.
    ///
    /// ```
    /// use udd_domain::i18n::Catalogue;
    /// assert_eq!(Catalogue::for_accept_language("fr, de;q=0.5, en;q=0.4").code(), "de");
    /// assert_eq!(Catalogue::for_accept_language("de;q=0, en").code(), "en");
    /// assert_eq!(Catalogue::for_accept_language("").code(), "en");
    /// ```
    pub fn for_accept_language(header: &str) -> Self {
        let mut best: Option<(u16, Self)> = None;
        for entry in header.split(',') {
            let mut parts = entry.split(';');
            let tag = parts.next().unwrap_or_default().trim();
            let weight = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .next()
                .map_or(Some(1000), quality);
            let Some(weight) = weight.filter(|w| *w > 0) else {
                continue;
            };
            let primary = tag.split(['-', '_']).next().unwrap_or_default();
            let Some(known) = LANGUAGES
                .iter()
                .find(|(code, _)| code.eq_ignore_ascii_case(primary))
            else {
                continue;
            };
            if best.as_ref().is_none_or(|(w, _)| weight > *w) {
                best = Some((
                    weight,
                    Self {
                        code: known.0,
                        messages: known.1,
                    },
                ));
            }
        }
        best.map_or_else(Self::english, |(_, catalogue)| catalogue)
    }

    /// The language's code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The string for `key`, with each `{name}` replaced by its value from `args`.
    /// A key this language lacks (the test forbids it) falls back to English, and one
    /// English lacks reads as the key itself, so a mail never fails to render.
    pub fn text(&self, key: &str, args: &[(&str, &str)]) -> String {
        let template = lookup(self.messages, key)
            .or_else(|| lookup(en::MESSAGES, key))
            .unwrap_or(key);
        fill(template, args)
    }

    /// A size for people, in powers of 1024 and this language's decimal mark: `512
    /// bytes`, `1.5 KB`, `12.3 MB`; in German `512 Bytes`, `1,5 KB`.
    ///
    /// ```
    /// use udd_domain::i18n::Catalogue;
    /// assert_eq!(Catalogue::english().size(1536), "1.5 KB");
    /// assert_eq!(Catalogue::for_language(Some("de")).size(1536), "1,5 KB");
    /// ```
    pub fn size(&self, bytes: u64) -> String {
        const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
        if bytes < 1024 {
            return self.text("size.bytes", &[("count", &bytes.to_string())]);
        }
        let mut value = bytes as f64 / 1024.0;
        let mut unit = 0;
        while value >= 1024.0 && unit + 1 < UNITS.len() {
            value /= 1024.0;
            unit += 1;
        }
        let number = format!("{value:.1}").replace('.', &self.text("size.decimal_mark", &[]));
        format!("{number} {}", UNITS[unit])
    }

    /// A day written out in this language ("Friday, 1 March 2024", "Freitag, 1. März
    /// 2024"): the names and the order come from the catalogue, so no locale data is
    /// needed.
    ///
    /// ```
    /// use udd_domain::i18n::Catalogue;
    /// let day = chrono::NaiveDate::from_ymd_opt(2024, 3, 1).unwrap_or_default();
    /// assert_eq!(Catalogue::english().long_date(day), "Friday, 1 March 2024");
    /// assert_eq!(Catalogue::for_language(Some("de")).long_date(day), "Freitag, 1. März 2024");
    /// ```
    pub fn long_date(&self, day: chrono::NaiveDate) -> String {
        use chrono::Datelike;
        let weekday = self.text(
            &format!("archive.weekday.{}", day.weekday().number_from_monday()),
            &[],
        );
        let month = self.text(&format!("archive.month.{}", day.month()), &[]);
        self.text(
            "archive.date",
            &[
                ("weekday", &weekday),
                ("day", &day.day().to_string()),
                ("month", &month),
                ("year", &day.year().to_string()),
            ],
        )
    }
}

/// A `q` value (`0`, `0.5`, `1.000`) in thousandths; `None` when malformed.
fn quality(text: &str) -> Option<u16> {
    let value: f32 = text.trim().parse().ok()?;
    (0.0..=1.0)
        .contains(&value)
        .then(|| (value * 1000.0).round() as u16)
}

fn lookup(messages: &'static [(&str, &str)], key: &str) -> Option<&'static str> {
    messages.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// Replaces `{name}` placeholders of `template` with their values from `args` in one
/// pass, so a value that itself contains `{other}` is never expanded; a placeholder
/// without a value stays as it is.
pub fn fill(template: &str, args: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}').map(|close| (&after[..close], close)) {
            Some((name, close)) => match args.iter().find(|(k, _)| *k == name) {
                Some((_, value)) => {
                    out.push_str(value);
                    rest = &after[close + 1..];
                }
                None => {
                    out.push('{');
                    rest = after;
                }
            },
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn keys(messages: &[(&str, &str)]) -> BTreeSet<String> {
        messages.iter().map(|(k, _)| (*k).to_owned()).collect()
    }

    fn placeholders(text: &str) -> BTreeSet<String> {
        text.split('{')
            .skip(1)
            .filter_map(|part| part.split_once('}').map(|(name, _)| name.to_owned()))
            .collect()
    }

    #[test]
    fn every_language_has_exactly_the_keys_and_placeholders_of_english() {
        let english = keys(en::MESSAGES);
        assert_eq!(english.len(), en::MESSAGES.len(), "English repeats a key");
        for (code, messages) in LANGUAGES {
            assert_eq!(keys(messages), english, "{code} differs from English");
            assert_eq!(keys(messages).len(), messages.len(), "{code} repeats a key");
            for (key, text) in *messages {
                let reference = lookup(en::MESSAGES, key).unwrap_or_default();
                assert_eq!(placeholders(text), placeholders(reference), "{code}: {key}");
                assert!(!text.trim().is_empty(), "{code}: {key} is empty");
            }
        }
    }

    #[test]
    fn languages_match_on_their_primary_subtag_and_fall_back_to_english() {
        for (tag, code) in [
            (Some("de"), "de"),
            (Some("de-DE"), "de"),
            (Some("DE_at"), "de"),
            (Some("en-GB"), "en"),
            (Some("pt-BR"), "en"),
            (Some(""), "en"),
            (None, "en"),
        ] {
            assert_eq!(Catalogue::for_language(tag).code(), code, "{tag:?}");
        }
    }

    #[test]
    fn accept_language_picks_the_heaviest_known_language() {
        for (header, code) in [
            ("de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7", "de"),
            ("en-US,en;q=0.9,de;q=0.8", "en"),
            ("fr-FR, fr;q=0.9, de;q=0.3", "de"),
            ("de;q=0.2, en;q=0.9", "en"),
            ("DE", "de"),
            ("*", "en"),
            ("de;q=0", "en"),
            ("de;q=nonsense, en;q=0.1", "en"),
            ("de;q=2", "en"),
            (";;;,,", "en"),
        ] {
            assert_eq!(
                Catalogue::for_accept_language(header).code(),
                code,
                "{header}"
            );
        }
    }

    #[test]
    fn placeholders_are_filled_once_and_unknown_ones_are_left_alone() {
        let de = Catalogue::for_language(Some("de"));
        assert_eq!(de.text("greeting", &[("name", "Jörg")]), "Hallo Jörg,");
        assert_eq!(
            Catalogue::english().text("greeting", &[("name", "{site}")]),
            "Hello {site},"
        );
        assert_eq!(fill("a {x} {y} {", &[("x", "1")]), "a 1 {y} {");
        assert_eq!(Catalogue::english().text("no.such.key", &[]), "no.such.key");
    }
}
