//! Rocket.Chat message documents mapped to the model: the one place that says which field
//! of a message document becomes which field of [`Message`].
//!
//! A document is read into [`MessageDoc`], which borrows its strings from the input:
//! straight from the text of a mongoexport line (messages are the bulk of a dump, and no
//! JSON tree is built for them), or from a plain JSON value (every other form, once
//! decoded). Both readings are as lenient as the rest of the mapping: a field of another
//! type than expected counts as absent, and Extended JSON wrappers (`{"$date": …}`,
//! `{"$oid": …}`, `{"$numberLong": …}`) read as the value [`extjson::relax`] makes of them.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Datelike, Utc};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use udd_domain::time::{from_millis, iso_millis};
use udd_domain::{Message, Reaction};

use super::documents::{Mapped, Refused};
use super::extjson;

/// Maps the mongoexport text of one message document (Extended JSON, relaxed or
/// canonical).
pub(crate) fn from_json(text: &[u8]) -> Result<Mapped, Refused> {
    let doc: MessageDoc<'_> =
        serde_json::from_slice(text).map_err(|e| Refused::Malformed(e.to_string()))?;
    let doc = MessageDoc {
        attachments: doc.attachments.map(extjson::relax),
        ..doc
    };
    map(doc).map_err(Refused::Skipped)
}

/// Maps a message document already decoded into plain JSON.
pub(crate) fn from_value(value: &Value) -> Result<Mapped, String> {
    let doc = MessageDoc::deserialize(value).map_err(|e| e.to_string())?;
    map(doc)
}

/// The fields of a message document that the model keeps.
#[derive(Debug, Default)]
struct MessageDoc<'a> {
    /// Whether the input was a JSON object at all.
    object: bool,
    id: Field<'a>,
    rid: Field<'a>,
    msg: Field<'a>,
    ts: Field<'a>,
    updated_at: Field<'a>,
    /// `t`
    message_type: Field<'a>,
    /// `tmid`
    thread: Field<'a>,
    /// `u`: `_id` and `username`
    author: Sub<'a>,
    /// `file`: `_id`
    file: Sub<'a>,
    /// As read: relaxed by the caller when it came from Extended JSON.
    attachments: Option<Value>,
    hidden: Field<'a>,
    /// `editedAt`
    edited_at: Field<'a>,
    /// `editedBy`: `username`
    edited_by: Sub<'a>,
    /// `reactions`, as read (rare, and small).
    reactions: Option<Value>,
}

/// The one mapping from a message document to [`Message`].
fn map(doc: MessageDoc<'_>) -> Result<Mapped, String> {
    if !doc.object {
        return Err("not a JSON object".to_owned());
    }
    if matches!(doc.hidden, Field::Bool(true)) {
        return Ok(Mapped::Hidden(required(&doc.id, "_id")?));
    }
    let ts = doc
        .ts
        .millis()
        .map(from_millis)
        .ok_or("missing or invalid `ts`")?;
    let attachments = match doc.attachments {
        Some(Value::Array(items)) if !items.is_empty() => Some(Value::Array(items)),
        _ => None,
    };
    let edited_at = doc.edited_at.millis().map(from_millis);
    Ok(Mapped::Document(udd_ports::Document::Message(Message {
        id: required(&doc.id, "_id")?,
        room_id: required(&doc.rid, "rid")?.into(),
        ts,
        user_id: doc.author.id.text().map(Into::into),
        username: doc.author.username.text(),
        msg: doc.msg.string().unwrap_or_default(),
        message_type: doc.message_type.text(),
        thread_id: doc.thread.text(),
        file_id: doc.file.id.text().map(Into::into),
        attachments,
        edited_at,
        edited_by: doc.edited_by.username.text(),
        reactions: doc.reactions.as_ref().map(reactions).unwrap_or_default(),
        // An edit moves `_updatedAt` in Rocket.Chat; a document without it is as new as
        // its last edit, so the next import of a newer edit still replaces it.
        updated_at: doc
            .updated_at
            .millis()
            .map(from_millis)
            .or(edited_at)
            .unwrap_or(ts),
    })))
}

/// `reactions` (`{":thumbsup:": {"usernames": ["alice", …]}, …}`) in the document's
/// order; an entry not in that shape, or that nobody holds, is left out.
fn reactions(value: &Value) -> Vec<Reaction> {
    let Some(entries) = value.as_object() else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|(emoji, reaction)| {
            let usernames: Vec<String> = reaction["usernames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            (!emoji.is_empty() && !usernames.is_empty()).then(|| Reaction {
                emoji: emoji.clone(),
                usernames,
            })
        })
        .collect()
}

fn required(field: &Field<'_>, name: &str) -> Result<String, String> {
    field.text().ok_or_else(|| format!("missing `{name}`"))
}

/// A field's value, as far as the mapping tells values apart.
#[derive(Debug, Default)]
enum Field<'a> {
    /// A string, or the string inside `{"$oid"|"$symbol"|"$numberDecimal": …}`.
    Text(Cow<'a, str>),
    /// An integer that fits `i64`, or `{"$numberLong"|"$numberInt": "…"}`.
    Int(i64),
    /// `{"$date": …}`.
    Date(DateTime<Utc>),
    Bool(bool),
    /// Absent, null, a fraction, an array, an object that is no wrapper.
    #[default]
    Other,
}

impl Field<'_> {
    /// The string the value is (a date wrapper is relaxed into its ISO form).
    fn string(&self) -> Option<String> {
        match self {
            Self::Text(text) => Some(text.as_ref().to_owned()),
            Self::Date(at) => Some(iso_millis(*at)),
            _ => None,
        }
    }

    /// A non-empty string.
    fn text(&self) -> Option<String> {
        self.string().filter(|s| !s.is_empty())
    }

    /// Milliseconds since the epoch of an ISO string, an integer or a date wrapper.
    fn millis(&self) -> Option<i64> {
        match self {
            Self::Text(text) => extjson::iso_millis_of(text),
            Self::Int(n) => Some(*n),
            // A date ISO-8601 can write reads back as itself; others as the relaxed
            // document would read.
            Self::Date(at) if (0..=9999).contains(&at.year()) => Some(at.timestamp_millis()),
            Self::Date(at) => extjson::iso_millis_of(&iso_millis(*at)),
            _ => None,
        }
    }
}

/// A sub-document whose `_id` and `username` the mapping reads (`u`, `file`).
#[derive(Debug, Default)]
struct Sub<'a> {
    id: Field<'a>,
    username: Field<'a>,
}

/// A key, borrowed from the input where it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(StrVisitor).map(Key)
    }
}

struct StrVisitor;

impl<'de> Visitor<'de> for StrVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// The visits of every value that is neither an object nor a string (which each
/// visitor reads itself): all `$other`.
macro_rules! other_values {
    ($out:ty, $other:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<$out, E> {
            Ok($other)
        }
        fn visit_i64<E>(self, _: i64) -> Result<$out, E> {
            Ok($other)
        }
        fn visit_u64<E>(self, _: u64) -> Result<$out, E> {
            Ok($other)
        }
        fn visit_f64<E>(self, _: f64) -> Result<$out, E> {
            Ok($other)
        }
        fn visit_unit<E>(self) -> Result<$out, E> {
            Ok($other)
        }
        fn visit_none<E>(self) -> Result<$out, E> {
            Ok($other)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<$out, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok($other)
        }
    };
}

mod values;

/// Skips the rest of a map; says whether there was anything left.
fn skip_rest<'de, A: MapAccess<'de>>(map: &mut A) -> Result<bool, A::Error> {
    let mut more = false;
    while map.next_key::<IgnoredAny>()?.is_some() {
        map.next_value::<IgnoredAny>()?;
        more = true;
    }
    Ok(more)
}

impl<'de> Deserialize<'de> for Sub<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SubVisitor)
    }
}

struct SubVisitor;

impl<'de> Visitor<'de> for SubVisitor {
    type Value = Sub<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    other_values!(Sub<'de>, Sub::default());

    fn visit_str<E>(self, _: &str) -> Result<Sub<'de>, E> {
        Ok(Sub::default())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Sub<'de>, A::Error> {
        let mut sub = Sub::default();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match key.as_ref() {
                "_id" => sub.id = map.next_value()?,
                "username" => sub.username = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(sub)
    }
}

impl<'de> Deserialize<'de> for MessageDoc<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DocVisitor)
    }
}

struct DocVisitor;

impl<'de> Visitor<'de> for DocVisitor {
    type Value = MessageDoc<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message document")
    }

    other_values!(MessageDoc<'de>, MessageDoc::default());

    fn visit_str<E>(self, _: &str) -> Result<MessageDoc<'de>, E> {
        Ok(MessageDoc::default())
    }

    /// Every field the model keeps, by its Rocket.Chat name; a later duplicate key wins,
    /// as in a parsed JSON object.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MessageDoc<'de>, A::Error> {
        let mut doc = MessageDoc {
            object: true,
            ..MessageDoc::default()
        };
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match key.as_ref() {
                "_id" => doc.id = map.next_value()?,
                "rid" => doc.rid = map.next_value()?,
                "msg" => doc.msg = map.next_value()?,
                "ts" => doc.ts = map.next_value()?,
                "_updatedAt" => doc.updated_at = map.next_value()?,
                "t" => doc.message_type = map.next_value()?,
                "tmid" => doc.thread = map.next_value()?,
                "u" => doc.author = map.next_value()?,
                "file" => doc.file = map.next_value()?,
                "attachments" => doc.attachments = Some(map.next_value()?),
                "_hidden" => doc.hidden = map.next_value()?,
                "editedAt" => doc.edited_at = map.next_value()?,
                "editedBy" => doc.edited_by = map.next_value()?,
                "reactions" => doc.reactions = Some(map.next_value()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(doc)
    }
}

#[cfg(test)]
mod tests;
