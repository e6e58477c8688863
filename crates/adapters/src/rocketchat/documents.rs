//! Rocket.Chat documents (already relaxed to plain JSON) mapped to the model.
//!
//! Each mapper keeps what an export needs and refuses a document only when a field the
//! model cannot do without is missing; the error names that field.

use chrono::{DateTime, Utc};
use serde_json::Value;
use udd_domain::time::from_millis;
use udd_domain::{
    Avatar, Email, Room, RoomType, SecondFactors, Subscription, TotpSecret, Upload, User,
};
use udd_ports::{Collection, Deletion, Document, WorkspaceUser};

use super::extjson::millis;

/// What a document of a dump is to the workspace.
// Handed over one at a time, like `DumpEntry`: a box per document would cost more.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Mapped {
    /// A document to load.
    Document(Document),
    /// A message kept as an earlier version of an edited one (`_hidden`), by id.
    Hidden(String),
    /// A trash record of a collection the workspace does not hold.
    Ignored,
}

/// Why a document was not mapped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// It is not a document at all (not JSON, invalid BSON): what the decoder said.
    Malformed(String),
    /// A field the model needs is missing: which.
    Skipped(String),
}

/// Maps one document of `collection`.
pub fn map(collection: Collection, doc: &Value) -> Result<Mapped, String> {
    if !doc.is_object() {
        return Err("not a JSON object".to_owned());
    }
    Ok(Mapped::Document(match collection {
        Collection::Users => Document::User(user(doc)?),
        Collection::Rooms => Document::Room(room(doc)?),
        Collection::Subscriptions => Document::Subscription(subscription(doc)?),
        Collection::Messages => return super::message::from_value(doc),
        Collection::Uploads => Document::Upload(upload(doc)?),
        Collection::Avatars => Document::Avatar(avatar(doc)?),
        Collection::Trash => match deletion(doc)? {
            Some(deletion) => Document::Deletion(deletion),
            None => return Ok(Mapped::Ignored),
        },
    }))
}

/// The collection a trash record's `__collection__` names: Rocket.Chat's model name,
/// the collection name without its `rocketchat_` prefix.
fn trashed_from(model: &str) -> Option<Collection> {
    Some(match model {
        "users" => Collection::Users,
        "room" => Collection::Rooms,
        "subscription" => Collection::Subscriptions,
        "message" => Collection::Messages,
        "uploads" => Collection::Uploads,
        "avatars" => Collection::Avatars,
        _ => return None,
    })
}

/// A record of `rocketchat__trash`: the deleted document, with `__collection__` and
/// `_deletedAt` added; `None` for a collection the workspace does not hold.
fn deletion(doc: &Value) -> Result<Option<Deletion>, String> {
    let model = required(doc, "__collection__")?;
    let Some(collection) = trashed_from(&model) else {
        return Ok(None);
    };
    Ok(Some(Deletion {
        collection,
        id: required(doc, "_id")?,
        deleted_at: date(doc, "_deletedAt").ok_or("missing or invalid `_deletedAt`")?,
    }))
}

fn at<'a>(doc: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(doc, |value, key| &value[key])
}

/// A string field, `None` when absent, null or empty.
fn text(doc: &Value, path: &str) -> Option<String> {
    at(doc, path)
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn required(doc: &Value, path: &str) -> Result<String, String> {
    text(doc, path).ok_or_else(|| format!("missing `{path}`"))
}

fn date(doc: &Value, path: &str) -> Option<DateTime<Utc>> {
    millis(at(doc, path)).map(from_millis)
}

fn strings(doc: &Value, path: &str) -> Vec<String> {
    at(doc, path)
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn size(doc: &Value) -> u64 {
    let value = &doc["size"];
    value
        .as_u64()
        .or_else(|| value.as_f64().map(|f| f.max(0.0) as u64))
        .unwrap_or(0)
}

/// A user document's `emails` (`[{address, verified}]`), as Rocket.Chat's database and
/// its `/api/v1/me` both give them; entries without an address are left out.
pub(crate) fn emails(doc: &Value) -> Vec<Email> {
    doc["emails"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|e| {
                    Some(Email {
                        address: text(e, "address")?,
                        verified: e["verified"].as_bool().unwrap_or(false),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn user(doc: &Value) -> Result<WorkspaceUser, String> {
    let id = required(doc, "_id")?;
    let username = required(doc, "username")?;
    let created_at = date(doc, "createdAt").unwrap_or(DateTime::UNIX_EPOCH);
    let emails = emails(doc);
    let services = doc["services"]
        .as_object()
        .map(|s| s.keys().cloned().collect())
        .unwrap_or_default();
    let login_tokens = at(doc, "services.resume.loginTokens")
        .as_array()
        .map(|tokens| {
            tokens
                .iter()
                .filter_map(|t| {
                    Some((
                        text(t, "hashedToken")?,
                        date(t, "when").unwrap_or(created_at),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let (second_factors, backup_codes) = second_factors(doc)?;
    Ok(WorkspaceUser {
        user: User {
            id: id.into(),
            username,
            name: text(doc, "name"),
            emails,
            roles: strings(doc, "roles"),
            status_text: text(doc, "statusText"),
            services,
            active: doc["active"].as_bool().unwrap_or(true),
            language: text(doc, "language"),
            created_at,
        },
        password_bcrypt: text(doc, "services.password.bcrypt"),
        login_tokens,
        updated_at: date(doc, "_updatedAt").unwrap_or(created_at),
        second_factors,
        backup_codes,
    })
}

/// `services.totp` and `services.email2fa`, with the hashed backup codes. A user whose
/// TOTP is on but whose secret cannot be read is refused rather than imported without
/// the factor Rocket.Chat asks of them.
fn second_factors(doc: &Value) -> Result<(SecondFactors, Vec<String>), String> {
    let totp = match at(doc, "services.totp.enabled").as_bool() {
        Some(true) => {
            let secret = required(doc, "services.totp.secret")?;
            Some(TotpSecret::from_base32(&secret).map_err(|_| {
                "`services.totp.secret` is not base32 while TOTP is enabled".to_owned()
            })?)
        }
        _ => None,
    };
    let backup_codes = match totp {
        Some(_) => strings(doc, "services.totp.hashedBackup"),
        None => Vec::new(),
    };
    let email = at(doc, "services.email2fa.enabled").as_bool() == Some(true);
    Ok((SecondFactors { totp, email }, backup_codes))
}

/// `ts`, and `_updatedAt` falling back to it: the two dates of rooms and subscriptions.
fn created_and_updated(doc: &Value) -> (DateTime<Utc>, DateTime<Utc>) {
    let created_at = date(doc, "ts").unwrap_or(DateTime::UNIX_EPOCH);
    (created_at, date(doc, "_updatedAt").unwrap_or(created_at))
}

fn room(doc: &Value) -> Result<Room, String> {
    let (created_at, updated_at) = created_and_updated(doc);
    Ok(Room {
        id: required(doc, "_id")?.into(),
        room_type: RoomType::from_code(&required(doc, "t")?),
        name: text(doc, "name"),
        fname: text(doc, "fname"),
        member_ids: strings(doc, "uids").into_iter().map(Into::into).collect(),
        team_main: doc["teamMain"].as_bool().unwrap_or(false),
        created_at,
        updated_at,
    })
}

fn subscription(doc: &Value) -> Result<Subscription, String> {
    let (created_at, updated_at) = created_and_updated(doc);
    Ok(Subscription {
        id: required(doc, "_id")?,
        user_id: required(doc, "u._id")?.into(),
        room_id: required(doc, "rid")?.into(),
        room_type: RoomType::from_code(&required(doc, "t")?),
        name: text(doc, "name"),
        created_at,
        updated_at,
    })
}

/// `uploadedAt` (or `_updatedAt`), and `_updatedAt` falling back to it: the two dates
/// of uploads and avatars.
fn uploaded_and_updated(doc: &Value) -> (DateTime<Utc>, DateTime<Utc>) {
    let uploaded_at = date(doc, "uploadedAt")
        .or_else(|| date(doc, "_updatedAt"))
        .unwrap_or(DateTime::UNIX_EPOCH);
    (uploaded_at, date(doc, "_updatedAt").unwrap_or(uploaded_at))
}

/// The `_id` of a document whose bytes are stored under it: it must be a plain name.
fn file_id(doc: &Value) -> Result<String, String> {
    let id = required(doc, "_id")?;
    if !udd_domain::is_plain_id(&id) {
        return Err(format!(
            "`_id` {:?} is not a plain name (letters, digits, `-`, `_`)",
            id.chars().take(80).collect::<String>()
        ));
    }
    Ok(id)
}

fn upload(doc: &Value) -> Result<Upload, String> {
    let id = file_id(doc)?;
    let (uploaded_at, updated_at) = uploaded_and_updated(doc);
    Ok(Upload {
        name: text(doc, "name").unwrap_or_else(|| id.clone()),
        id: id.into(),
        room_id: text(doc, "rid").map(Into::into),
        user_id: text(doc, "userId").map(Into::into),
        content_type: text(doc, "type"),
        size: size(doc),
        blob: kept_in_rocketchat_store(doc),
        uploaded_at,
        updated_at,
    })
}

/// The key of an upload or avatar Rocket.Chat keeps in its own bucket, read there, in
/// place, when `[rocketchat.uploads]` names the bucket. Bytes the dump carries replace
/// it. The object is the one `AmazonS3.path` names (`store` `AmazonS3:…`), or
/// `GoogleStorage.path` (`GoogleCloudStorage:…`: Google Cloud Storage, reached through
/// its S3-compatible API), or for documents from Rocket.Chat's first Google store, the
/// folder `googleCloudStorage.path` followed by the document's id. One kept on
/// Rocket.Chat's WebDAV server (`Webdav.path`) is read from there instead.
fn kept_in_rocketchat_store(doc: &Value) -> Option<String> {
    if let Some(path) = text(doc, "Webdav.path") {
        return plain_key(crate::object::ROCKETCHAT_WEBDAV, &path);
    }
    let path = text(doc, "AmazonS3.path")
        .or_else(|| text(doc, "GoogleStorage.path"))
        .or_else(|| {
            Some(format!(
                "{}{}",
                text(doc, "googleCloudStorage.path")?,
                text(doc, "_id")?
            ))
        })?;
    plain_key(crate::object::ROCKETCHAT_S3, &path)
}

/// `prefix` followed by `path`, when every part of `path` is a plain name.
fn plain_key(prefix: &str, path: &str) -> Option<String> {
    let path = path.trim_start_matches('/');
    let plain = !path.is_empty() && path.split('/').all(crate::object::is_key_part);
    plain.then(|| format!("{prefix}{path}"))
}

fn avatar(doc: &Value) -> Result<Avatar, String> {
    let (uploaded_at, updated_at) = uploaded_and_updated(doc);
    Ok(Avatar {
        id: file_id(doc)?,
        username: required(doc, "name")?,
        user_id: text(doc, "userId").map(Into::into),
        content_type: text(doc, "type"),
        size: size(doc),
        // Rocket.Chat keeps avatars in a store of the same type as uploads.
        blob: kept_in_rocketchat_store(doc),
        uploaded_at,
        updated_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use udd_domain::Reaction;

    #[test]
    fn an_upload_in_rocket_chats_own_bucket_is_named_by_its_store_s_path() {
        let key = |doc: Value| upload(&doc).map(|u| u.blob);
        let expect = |path: &str| Ok(Some(format!("{}{path}", crate::object::ROCKETCHAT_S3)));
        assert_eq!(
            key(
                json!({"_id": "F1", "name": "x", "store": "AmazonS3:Uploads",
                       "AmazonS3": {"path": "u1/uploads/R1/U1/F1"}})
            ),
            expect("u1/uploads/R1/U1/F1")
        );
        assert_eq!(
            key(
                json!({"_id": "F1", "name": "x", "store": "GoogleCloudStorage:Uploads",
                       "GoogleStorage": {"path": "/u1/uploads/R1/U1/F1"}})
            ),
            expect("u1/uploads/R1/U1/F1")
        );
        assert_eq!(
            key(json!({"_id": "F1", "name": "x", "googleCloudStorage": {"path": "uploads/"}})),
            expect("uploads/F1")
        );
        assert_eq!(
            key(json!({"_id": "F1", "name": "x", "store": "Webdav:Uploads",
                       "Webdav": {"path": "/uploads/F1"}})),
            Ok(Some(format!(
                "{}uploads/F1",
                crate::object::ROCKETCHAT_WEBDAV
            )))
        );
        // An avatar the same way.
        let avatar = avatar(
            &json!({"_id": "A1", "name": "alice", "store": "AmazonS3:Avatars",
                                    "AmazonS3": {"path": "u1/avatars/U1"}}),
        );
        assert_eq!(avatar.map(|a| a.blob), expect("u1/avatars/U1"));
        // Kept elsewhere (GridFS, a folder), or at a key that is not a plain path.
        assert_eq!(
            key(json!({"_id": "F1", "name": "x", "store": "GridFS:Uploads"})),
            Ok(None)
        );
        assert_eq!(
            key(json!({"_id": "F1", "name": "x", "GoogleStorage": {"path": "a/../b"}})),
            Ok(None)
        );
    }

    #[test]
    fn uploads_and_avatars_whose_id_could_name_a_path_are_refused() {
        for id in ["../../etc/passwd", "a/b", "nul\u{0}", ".."] {
            for collection in [Collection::Uploads, Collection::Avatars] {
                let doc = json!({"_id": id, "name": "x"});
                let err = map(collection, &doc).unwrap_err();
                assert!(err.contains("not a plain name"), "{id:?}: {err}");
            }
        }
        assert!(map(Collection::Uploads, &json!({"_id": "F1", "name": "x"})).is_ok());
    }

    #[test]
    fn a_user_keeps_profile_password_and_tokens_but_only_service_names() {
        let doc = json!({
            "_id": "u1", "username": "alice", "name": "Alice", "statusText": "hi",
            "emails": [{"address": "a@x.org", "verified": true}],
            "roles": ["user", "admin"], "createdAt": "2024-01-31T09:00:00.000Z",
            "services": {"password": {"bcrypt": "$2b$10$x"}, "google": {"id": "1"},
                         "resume": {"loginTokens": [{"hashedToken": "H=", "when": "2024-03-01T09:00:00.000Z"}]}}
        });
        let Ok(Mapped::Document(Document::User(user))) = map(Collection::Users, &doc) else {
            panic!("not a user")
        };
        assert_eq!(user.user.username, "alice");
        assert_eq!(user.user.emails[0].address, "a@x.org");
        assert_eq!(user.user.roles, vec!["user", "admin"]);
        assert_eq!(user.user.services, vec!["password", "google", "resume"]);
        assert_eq!(user.password_bcrypt.as_deref(), Some("$2b$10$x"));
        assert_eq!(user.login_tokens.len(), 1);
        assert_eq!(user.login_tokens[0].0, "H=");
    }

    #[test]
    fn a_user_keeps_the_second_factors_rocket_chat_asks_for() {
        let doc = json!({
            "_id": "u1", "username": "alice",
            "services": {
                "totp": {"enabled": true, "secret": "GEZDGNBVGY3TQOJQ", "hashedBackup": ["h1", "h2"]},
                "email2fa": {"enabled": true}
            }
        });
        let Ok(Mapped::Document(Document::User(user))) = map(Collection::Users, &doc) else {
            panic!("not a user")
        };
        let secret = user.second_factors.totp.as_ref().map(|s| s.expose_base32());
        assert_eq!(secret, Some("GEZDGNBVGY3TQOJQ"));
        assert!(user.second_factors.email);
        assert_eq!(user.backup_codes, ["h1", "h2"]);
        assert!(
            !format!("{user:?}").contains("GEZD"),
            "the secret stays out of logs"
        );

        let off = json!({"_id": "u2", "username": "bob",
            "services": {"totp": {"enabled": false, "secret": "GEZDGNBVGY3TQOJQ", "hashedBackup": ["h"]}}});
        let Ok(Mapped::Document(Document::User(user))) = map(Collection::Users, &off) else {
            panic!("not a user")
        };
        assert_eq!(user.second_factors, SecondFactors::default());
        assert!(user.backup_codes.is_empty());

        let broken = json!({"_id": "u3", "username": "carol",
            "services": {"totp": {"enabled": true, "secret": "not base32!"}}});
        let err = map(Collection::Users, &broken).err().unwrap_or_default();
        assert!(err.contains("services.totp.secret"), "{err}");
    }

    #[test]
    fn documents_without_required_fields_are_refused_with_the_field_named() {
        assert_eq!(
            map(Collection::Users, &json!({"_id": "u1"}))
                .err()
                .as_deref(),
            Some("missing `username`")
        );
        assert_eq!(
            map(Collection::Messages, &json!({"_id": "m", "rid": "r"}))
                .err()
                .as_deref(),
            Some("missing or invalid `ts`")
        );
        assert_eq!(
            map(
                Collection::Subscriptions,
                &json!({"_id": "s", "rid": "r", "t": "c"})
            )
            .err()
            .as_deref(),
            Some("missing `u._id`")
        );
        assert!(map(Collection::Rooms, &json!([1, 2])).is_err());
    }

    #[test]
    fn a_message_keeps_text_type_author_thread_file_and_attachments() {
        let doc = json!({
            "_id": "m1", "rid": "GENERAL", "msg": "hi", "t": "uj", "tmid": "m0",
            "ts": "2024-03-01T09:05:52.431Z", "u": {"_id": "u1", "username": "alice"},
            "file": {"_id": "f1"}, "attachments": [{"title": "x.png"}]
        });
        let Ok(Mapped::Document(Document::Message(m))) = map(Collection::Messages, &doc) else {
            panic!("not a message")
        };
        assert_eq!(m.ts.timestamp_millis(), 1_709_283_952_431);
        assert_eq!(m.message_type.as_deref(), Some("uj"));
        assert_eq!(m.thread_id.as_deref(), Some("m0"));
        assert_eq!(m.file_id.as_deref(), Some("f1"));
        assert_eq!(m.attachments, Some(json!([{"title": "x.png"}])));
        assert_eq!(m.updated_at, m.ts);
    }

    #[test]
    fn a_message_keeps_its_edit_and_its_reactions_in_order() {
        let doc = json!({
            "_id": "m1", "rid": "GENERAL", "msg": "fixed", "ts": "2024-03-01T09:05:52.431Z",
            "editedAt": {"$date": "2024-03-01T10:00:00.000Z"},
            "editedBy": {"_id": "u2", "username": "bob"},
            "reactions": {
                ":tada:": {"usernames": ["carol"]},
                ":thumbsup:": {"usernames": ["alice", "bob"], "names": ["Alice", "Bob"]},
                ":gone:": {"usernames": []},
                ":odd:": "not an object"
            }
        });
        let doc = super::super::extjson::relax(doc);
        let Ok(Mapped::Document(Document::Message(m))) = map(Collection::Messages, &doc) else {
            panic!("not a message")
        };
        assert_eq!(
            m.edited_at.map(|t| t.timestamp_millis()),
            Some(1_709_287_200_000)
        );
        assert_eq!(m.edited_by.as_deref(), Some("bob"));
        assert_eq!(
            m.reactions,
            [
                Reaction {
                    emoji: ":tada:".into(),
                    usernames: vec!["carol".into()]
                },
                Reaction {
                    emoji: ":thumbsup:".into(),
                    usernames: vec!["alice".into(), "bob".into()]
                },
            ]
        );
        assert_eq!(
            m.updated_at,
            m.edited_at.unwrap_or_default(),
            "no _updatedAt: as new as its edit"
        );

        let plain = json!({"_id": "m2", "rid": "GENERAL", "ts": "2024-03-01T09:05:52.431Z",
            "reactions": [1, 2], "editedAt": "yesterday"});
        let Ok(Mapped::Document(Document::Message(m))) = map(Collection::Messages, &plain) else {
            panic!("not a message")
        };
        assert!(m.reactions.is_empty() && m.edited_at.is_none() && m.edited_by.is_none());
    }

    #[test]
    fn a_trash_record_names_the_deleted_document_and_its_collection() {
        let doc = json!({"_id": "m9", "__collection__": "message", "rid": "GENERAL",
            "msg": "gone", "_deletedAt": "2024-03-02T10:00:00.000Z"});
        let Ok(Mapped::Document(Document::Deletion(deletion))) = map(Collection::Trash, &doc)
        else {
            panic!("not a deletion")
        };
        assert_eq!(deletion.collection, Collection::Messages);
        assert_eq!(deletion.id, "m9");
        assert_eq!(deletion.deleted_at.timestamp_millis(), 1_709_373_600_000);
        for (model, collection) in [
            ("users", Collection::Users),
            ("room", Collection::Rooms),
            ("subscription", Collection::Subscriptions),
            ("uploads", Collection::Uploads),
            ("avatars", Collection::Avatars),
        ] {
            let doc = json!({"_id": "x", "__collection__": model, "_deletedAt": "2024-03-02T10:00:00.000Z"});
            let Ok(Mapped::Document(Document::Deletion(deletion))) = map(Collection::Trash, &doc)
            else {
                panic!("{model}: not a deletion")
            };
            assert_eq!(deletion.collection, collection);
        }
        let other = json!({"_id": "x", "__collection__": "livechat_inquiry", "_deletedAt": "2024-03-02T10:00:00.000Z"});
        assert!(matches!(
            map(Collection::Trash, &other),
            Ok(Mapped::Ignored)
        ));
        let undated = json!({"_id": "x", "__collection__": "message"});
        assert_eq!(
            map(Collection::Trash, &undated).err().as_deref(),
            Some("missing or invalid `_deletedAt`")
        );
    }

    #[test]
    fn an_edited_messages_history_copy_is_hidden_not_loaded() {
        let doc = json!({"_id": "h1", "rid": "GENERAL", "msg": "old text", "_hidden": true,
            "parent": "m1", "ts": "2024-03-01T09:05:52.431Z"});
        assert!(matches!(map(Collection::Messages, &doc), Ok(Mapped::Hidden(id)) if id == "h1"));
    }

    #[test]
    fn a_users_language_preference_is_imported() {
        let doc = json!({"_id": "u1", "username": "jorg", "language": "de"});
        let Ok(Mapped::Document(Document::User(user))) = map(Collection::Users, &doc) else {
            panic!("not a user")
        };
        assert_eq!(user.user.language.as_deref(), Some("de"));
    }
}
