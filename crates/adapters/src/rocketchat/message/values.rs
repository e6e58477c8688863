//! How the values of a message document's fields are read: [`Field`]s, and what an
//! Extended JSON wrapper holds (`{"$date": …}`, `{"$numberLong": …}`, `{"$oid": …}`).

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use udd_domain::time::from_millis;

use super::super::extjson;
use super::{skip_rest, Field, Key};

impl<'de> Deserialize<'de> for Field<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Field<'de>, E> {
        Ok(Field::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Field<'de>, E> {
        Ok(Field::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Field<'de>, E> {
        Ok(i64::try_from(v).map_or(Field::Other, Field::Int))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Field<'de>, E> {
        Ok(Field::Other)
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Field<'de>, E> {
        Ok(Field::Text(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Field<'de>, E> {
        Ok(Field::Text(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Field<'de>, E> {
        Ok(Field::Text(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<Field<'de>, E> {
        Ok(Field::Other)
    }

    fn visit_none<E>(self) -> Result<Field<'de>, E> {
        Ok(Field::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Field::Other)
    }

    /// An Extended JSON wrapper is an object of one key; [`extjson::relax`] says which.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field<'de>, A::Error> {
        let Some(Key(key)) = map.next_key::<Key<'de>>()? else {
            return Ok(Field::Other);
        };
        let wrapped = match key.as_ref() {
            "$date" => map
                .next_value::<DateInner>()?
                .0
                .map(|millis| Field::Date(from_millis(millis))),
            "$numberLong" | "$numberInt" => map
                .next_value::<PlainStr<'de>>()?
                .0
                .and_then(|s| s.parse::<i64>().ok())
                .map(Field::Int),
            "$oid" | "$numberDecimal" | "$symbol" => {
                map.next_value::<PlainStr<'de>>()?.0.map(Field::Text)
            }
            _ => {
                map.next_value::<IgnoredAny>()?;
                None
            }
        };
        let more = skip_rest(&mut map)?;
        Ok(wrapped.filter(|_| !more).unwrap_or(Field::Other))
    }
}

/// A plain JSON string, nothing else (what a wrapper holds).
struct PlainStr<'a>(Option<Cow<'a, str>>);

impl<'de> Deserialize<'de> for PlainStr<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PlainStrVisitor)
    }
}

struct PlainStrVisitor;

impl<'de> Visitor<'de> for PlainStrVisitor {
    type Value = PlainStr<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    other_values!(PlainStr<'de>, PlainStr(None));

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<PlainStr<'de>, E> {
        Ok(PlainStr(Some(Cow::Borrowed(v))))
    }

    fn visit_str<E>(self, v: &str) -> Result<PlainStr<'de>, E> {
        Ok(PlainStr(Some(Cow::Owned(v.to_owned()))))
    }

    fn visit_string<E>(self, v: String) -> Result<PlainStr<'de>, E> {
        Ok(PlainStr(Some(Cow::Owned(v))))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PlainStr<'de>, A::Error> {
        skip_rest(&mut map)?;
        Ok(PlainStr(None))
    }
}

/// What a `$date` holds: an ISO string, milliseconds, or `{"$numberLong": "…"}`.
struct DateInner(Option<i64>);

impl<'de> Deserialize<'de> for DateInner {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DateInnerVisitor)
    }
}

struct DateInnerVisitor;

impl<'de> Visitor<'de> for DateInnerVisitor {
    type Value = DateInner;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<DateInner, E> {
        Ok(DateInner(None))
    }

    fn visit_i64<E>(self, v: i64) -> Result<DateInner, E> {
        Ok(DateInner(Some(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<DateInner, E> {
        Ok(DateInner(Some(i64::try_from(v).unwrap_or(v as f64 as i64))))
    }

    fn visit_f64<E>(self, v: f64) -> Result<DateInner, E> {
        Ok(DateInner(Some(v as i64)))
    }

    fn visit_str<E>(self, v: &str) -> Result<DateInner, E> {
        Ok(DateInner(extjson::iso_millis_of(v)))
    }

    fn visit_unit<E>(self) -> Result<DateInner, E> {
        Ok(DateInner(None))
    }

    fn visit_none<E>(self) -> Result<DateInner, E> {
        Ok(DateInner(None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<DateInner, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(DateInner(None))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DateInner, A::Error> {
        let mut millis = None;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if key == "$numberLong" {
                millis = map
                    .next_value::<PlainStr<'de>>()?
                    .0
                    .and_then(|s| s.parse().ok());
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(DateInner(millis))
    }
}
