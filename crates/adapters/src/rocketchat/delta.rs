//! The `--query` of `mongoexport` and `mongodump` that fetches, per collection, only
//! what changed since the last import: Extended JSON on the dates Rocket.Chat stamps.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use udd_ports::Collection;

use super::collection_name;

/// How far before the newest date applied a delta starts. Rocket.Chat stamps
/// `_updatedAt` with the clock of the instance that wrote, and a file is written to
/// GridFS before its upload's last `_updatedAt`; starting an hour early fetches a few
/// documents again (recognised as unchanged) rather than missing one.
pub const DELTA_MARGIN: Duration = Duration::hours(1);

/// One collection (or GridFS bucket collection) of a delta and its query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaQuery {
    /// The Rocket.Chat collection name (`rocketchat_message`, `rocketchat_uploads.chunks`).
    pub collection: &'static str,
    /// The `--query` value: `{}` (everything) when the collection was never imported or
    /// has no date to select by.
    pub query: String,
}

/// The queries of a delta after the marks of the last import, one per collection a
/// dump is read from, in load order.
pub fn delta_queries(marks: &[(Collection, DateTime<Utc>)]) -> Vec<DeltaQuery> {
    let since = |collection: Collection| {
        marks
            .iter()
            .find(|(c, _)| *c == collection)
            .map(|(_, at)| *at - DELTA_MARGIN)
    };
    let mut queries = Vec::new();
    for collection in Collection::ALL {
        let query = match (collection, since(collection)) {
            // Login tokens change without `_updatedAt` (Meteor's accounts code writes
            // them): users are always fetched whole, so a revoked token goes here too.
            (Collection::Users, _) | (_, None) => "{}".to_owned(),
            (Collection::Trash, Some(at)) => on_date("_deletedAt", at),
            (_, Some(at)) => on_date("_updatedAt", at),
        };
        queries.push(DeltaQuery {
            collection: collection_name(collection),
            query,
        });
    }
    // GridFS: a file document carries its `uploadDate`; chunks carry no date, but their
    // `_id` is an ObjectId, whose first four bytes are the second it was made.
    for (collection, files, chunks) in [
        (
            Collection::Uploads,
            "rocketchat_uploads.files",
            "rocketchat_uploads.chunks",
        ),
        (
            Collection::Avatars,
            "rocketchat_avatars.files",
            "rocketchat_avatars.chunks",
        ),
    ] {
        let at = since(collection);
        queries.push(DeltaQuery {
            collection: files,
            query: at.map_or_else(|| "{}".to_owned(), |at| on_date("uploadDate", at)),
        });
        queries.push(DeltaQuery {
            collection: chunks,
            query: at.map_or_else(
                || "{}".to_owned(),
                |at| {
                    let seconds = u32::try_from(at.timestamp().max(0)).unwrap_or(u32::MAX);
                    format!(r#"{{"_id":{{"$gte":{{"$oid":"{seconds:08x}0000000000000000"}}}}}}"#)
                },
            ),
        });
    }
    queries
}

/// `{"<field>":{"$gte":{"$date":"<ISO 8601>"}}}`: at or after `at`, so a document
/// stamped in the same millisecond as the mark is fetched again rather than missed.
fn on_date(field: &str, at: DateTime<Utc>) -> String {
    format!(
        r#"{{"{field}":{{"$gte":{{"$date":"{}"}}}}}}"#,
        at.to_rfc3339_opts(SecondsFormat::Millis, true)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_delta_starts_an_hour_before_each_mark_and_fetches_unimported_collections_whole() {
        let at = Utc.with_ymd_and_hms(2024, 3, 1, 10, 0, 0).unwrap();
        let queries = delta_queries(&[
            (Collection::Messages, at),
            (Collection::Users, at),
            (Collection::Trash, at),
            (Collection::Uploads, at),
        ]);
        let query = |name: &str| {
            queries
                .iter()
                .find(|q| q.collection == name)
                .map(|q| q.query.clone())
                .unwrap_or_default()
        };
        assert_eq!(
            query("rocketchat_message"),
            r#"{"_updatedAt":{"$gte":{"$date":"2024-03-01T09:00:00.000Z"}}}"#
        );
        assert_eq!(
            query(crate::rocketchat::TRASH_COLLECTION),
            r#"{"_deletedAt":{"$gte":{"$date":"2024-03-01T09:00:00.000Z"}}}"#
        );
        assert_eq!(query("users"), "{}");
        assert_eq!(query("rocketchat_room"), "{}", "never imported");
        assert_eq!(
            query("rocketchat_uploads.files"),
            r#"{"uploadDate":{"$gte":{"$date":"2024-03-01T09:00:00.000Z"}}}"#
        );
        // 2024-03-01T09:00:00Z is 1709283600 = 0x65e19910.
        assert_eq!(
            query("rocketchat_uploads.chunks"),
            r#"{"_id":{"$gte":{"$oid":"65e199100000000000000000"}}}"#
        );
        assert_eq!(query("rocketchat_avatars.chunks"), "{}");
        assert_eq!(queries.len(), Collection::ALL.len() + 4);
        for q in &queries {
            let parsed: serde_json::Value =
                serde_json::from_str(&q.query).unwrap_or_else(|e| panic!("{}: {e}", q.query));
            assert!(parsed.is_object());
        }
    }
}
