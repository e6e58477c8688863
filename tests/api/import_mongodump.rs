//! `udd import` of mongodump backups: `.bson` and `.bson.gz` folders, mongodump's own
//! output folder, `--archive` files (plain and gzipped), gzipped mongoexport files, and
//! every kind of damage they come with.

use std::path::Path;

use udd::adapters::RocketChatDump;
use udd::app::ImportSummary;
use udd::ports::{Collection, NoProgress, StoreError, WorkspaceReader};

use crate::dumps::{
    bson_bytes, copy_blob_folders, fixture_docs, gzip, mongodump_folder, write_bson, ArchiveWriter,
    COLLECTIONS,
};
use crate::helpers::{fixture_copy, fixture_dir, spawn_app, stored_blob, TestApp};

fn import_dump(app: &TestApp, dump: &RocketChatDump) -> ImportSummary {
    app.services.import.execute(dump, &NoProgress).unwrap()
}

/// The fingerprint of the fixture imported from its mongoexport form.
async fn reference() -> Vec<udd::adapters::TableFingerprint> {
    let app = spawn_app().await;
    let summary = app.import(&fixture_dir());
    assert_eq!(summary.problem_count, 0, "{:?}", summary.problems);
    app.fingerprint()
}

/// Imports `path`, expecting no problem, and checks that it loaded what the
/// mongoexport form loads, upload bytes included.
async fn assert_loads_like_mongoexport(
    path: &Path,
    expected: &[udd::adapters::TableFingerprint],
    what: &str,
) {
    let app = spawn_app().await;
    let summary = app.import(path);
    assert_eq!(summary.problem_count, 0, "{what}: {:?}", summary.problems);
    assert_eq!(summary.of(Collection::Messages).imported, 24, "{what}");
    assert_eq!(app.fingerprint(), expected, "{what}");
    let upload = app.workspace().upload(&"nd6ssaJw6zJHrtFGs".into()).unwrap();
    assert_eq!(
        stored_blob(&app, upload.blob.as_deref().unwrap()),
        std::fs::read(fixture_dir().join("uploads/nd6ssaJw6zJHrtFGs")).unwrap(),
        "{what}"
    );
}

#[tokio::test]
async fn mongodump_folders_plain_or_gzipped_load_the_same_data_as_mongoexport() {
    let expected = reference().await;
    for gzipped in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        mongodump_folder(dir.path(), gzipped);
        let what = if gzipped { ".bson.gz" } else { ".bson" };
        assert_loads_like_mongoexport(dir.path(), &expected, what).await;
    }

    // mongodump's own output folder, `dump/<db>/`, with other databases beside it.
    let dir = tempfile::tempdir().unwrap();
    mongodump_folder(&dir.path().join("rocketchat"), true);
    std::fs::create_dir(dir.path().join("admin")).unwrap();
    write_bson(
        &dir.path().join("admin"),
        "system.version",
        &[bson::doc! {"_id": "featureCompatibilityVersion"}],
        true,
    );
    assert_loads_like_mongoexport(dir.path(), &expected, "dump/<db>/").await;
}

#[tokio::test]
async fn gzipped_mongoexport_files_load_the_same_data() {
    let expected = reference().await;
    let dir = fixture_copy();
    for collection in COLLECTIONS {
        let path = dir.path().join(format!("{collection}.json"));
        let zipped = gzip(&std::fs::read(&path).unwrap());
        std::fs::write(dir.path().join(format!("{collection}.json.gz")), zipped).unwrap();
        std::fs::remove_file(path).unwrap();
    }
    assert_loads_like_mongoexport(dir.path(), &expected, ".json.gz").await;
}

#[tokio::test]
async fn mongodump_archives_plain_or_gzipped_load_the_same_data() {
    let expected = reference().await;
    let bytes = ArchiveWriter::fixture(5, "rocketchat").bytes();
    for (name, content) in [
        ("rocketchat.archive", bytes.clone()),
        ("rocketchat.archive.gz", gzip(&bytes)),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        // An archive carries no FileSystem store: the blob folders beside it do not
        // count, so the uploads come without bytes here (GridFS tests cover bytes).
        let app = spawn_app().await;
        let summary = app.import(&path);
        assert_eq!(summary.of(Collection::Messages).imported, 24, "{name}");
        assert_eq!(summary.not_imported(), 0, "{name}: {:?}", summary.problems);
        let without_blobs: Vec<_> = summary
            .problems
            .iter()
            .filter(|p| !p.contains("file missing from the dump"))
            .collect();
        assert!(without_blobs.is_empty(), "{name}: {without_blobs:?}");
        let fingerprint = app.fingerprint();
        for (got, want) in fingerprint.iter().zip(&expected) {
            if got.table == "uploads" || got.table == "avatars" {
                assert_eq!(got.rows, want.rows, "{name}: {}", got.table);
            } else {
                assert_eq!(got, want, "{name}");
            }
        }
    }
}

#[tokio::test]
async fn an_archive_with_rocket_chat_collections_in_two_databases_needs_db() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("all.archive");
    let mut writer = ArchiveWriter::fixture(7, "rocketchat");
    writer = writer.collection("staging", "users", fixture_docs("users")[..1].to_vec());
    std::fs::write(&path, writer.bytes()).unwrap();
    let err = RocketChatDump::open(&path).unwrap_err().to_string();
    assert!(
        err.contains("rocketchat, staging") && err.contains("--db"),
        "{err}"
    );
    let err = RocketChatDump::open_database(&path, Some("nope"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no database \"nope\""), "{err}");

    let app = spawn_app().await;
    let staging = import_dump(
        &app,
        &RocketChatDump::open_database(&path, Some("staging")).unwrap(),
    );
    assert_eq!(staging.of(Collection::Users).imported, 1);
    assert_eq!(staging.of(Collection::Messages).imported, 0);
    let main = import_dump(
        &app,
        &RocketChatDump::open_database(&path, Some("rocketchat")).unwrap(),
    );
    assert_eq!(main.of(Collection::Messages).imported, 24);
}

/// A mongodump folder of the fixture whose messages file is `messages` (bytes).
fn folder_with_messages(messages: Vec<u8>, name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for collection in COLLECTIONS {
        write_bson(dir.path(), collection, &fixture_docs(collection), false);
    }
    copy_blob_folders(dir.path());
    std::fs::remove_file(dir.path().join("rocketchat_message.bson")).unwrap();
    std::fs::write(dir.path().join(name), messages).unwrap();
    dir
}

/// The fixture's message ids, in file order.
fn message_ids() -> Vec<String> {
    fixture_docs("rocketchat_message")
        .iter()
        .map(|d| d.get_str("_id").unwrap().to_owned())
        .collect()
}

/// Which of the fixture's messages the workspace holds.
fn present(app: &TestApp) -> Vec<String> {
    message_ids()
        .into_iter()
        .filter(|id| app.workspace().message(id).is_ok())
        .collect()
}

fn problems(summary: &ImportSummary) -> String {
    summary.problems.join("\n")
}

/// Everything but messages is complete.
fn others_complete(summary: &ImportSummary) {
    for (collection, count) in [
        (Collection::Users, 4),
        (Collection::Rooms, 5),
        (Collection::Subscriptions, 14),
        (Collection::Uploads, 3),
        (Collection::Avatars, 4),
    ] {
        assert_eq!(summary.of(collection).imported, count, "{collection:?}");
    }
}

#[tokio::test]
async fn a_truncated_bson_document_is_reported_with_its_number_and_offset_and_the_rest_imported() {
    let docs = fixture_docs("rocketchat_message");
    let mut bytes = bson_bytes(&docs[..10]);
    let tenth_at = bson_bytes(&docs[..9]).len();
    let tenth_len = bytes.len() - tenth_at;
    bytes.truncate(tenth_at + tenth_len / 2);
    let dir = folder_with_messages(bytes, "rocketchat_message.bson");

    let app = spawn_app().await;
    let summary = app.import(dir.path());
    let counts = summary.of(Collection::Messages);
    assert_eq!((counts.imported, counts.malformed), (9, 1));
    assert_eq!(summary.not_imported(), 1);
    others_complete(&summary);
    let text = problems(&summary);
    assert!(
        text.contains(&format!(
            "rocketchat_message.bson: document 10 at byte {tenth_at}: malformed: the document is cut short"
        )),
        "{text}"
    );
    assert_eq!(present(&app), message_ids()[..9], "nothing half-applied");
}

#[tokio::test]
async fn a_wrong_length_prefix_is_reported_and_ends_the_file_without_importing_garbage() {
    let docs = fixture_docs("rocketchat_message");
    let fifth_at = bson_bytes(&docs[..4]).len();
    for wrong in [3_i32, 40_000_000, -7] {
        let mut bytes = bson_bytes(&docs);
        bytes[fifth_at..fifth_at + 4].copy_from_slice(&wrong.to_le_bytes());
        let dir = folder_with_messages(bytes, "rocketchat_message.bson");
        let app = spawn_app().await;
        let summary = app.import(dir.path());
        let counts = summary.of(Collection::Messages);
        assert_eq!((counts.imported, counts.malformed), (4, 1), "{wrong}");
        let text = problems(&summary);
        assert!(
            text.contains(&format!(
                "rocketchat_message.bson: document 5 at byte {fifth_at}: malformed: {wrong} is not the length of a BSON document"
            )) && text.contains("the rest of the file was not read"),
            "{text}"
        );
        assert_eq!(present(&app), message_ids()[..4]);
    }

    // A length that is plausible but wrong: the document no longer ends where its
    // length says, and nothing after it is taken for a document.
    let mut bytes = bson_bytes(&docs);
    let length = i32::from_le_bytes(bytes[fifth_at..fifth_at + 4].try_into().unwrap());
    bytes[fifth_at..fifth_at + 4].copy_from_slice(&(length + 9).to_le_bytes());
    let dir = folder_with_messages(bytes, "rocketchat_message.bson");
    let app = spawn_app().await;
    let summary = app.import(dir.path());
    let counts = summary.of(Collection::Messages);
    assert_eq!(counts.imported, 4, "{:?}", summary.problems);
    assert!(counts.malformed >= 1);
    let text = problems(&summary);
    assert!(
        text.contains(&format!(
            "rocketchat_message.bson: document 5 at byte {fifth_at}: malformed"
        )),
        "{text}"
    );
    assert_eq!(present(&app), message_ids()[..4]);
    assert!(summary.not_imported() >= 1);
}

#[tokio::test]
async fn a_document_with_invalid_utf8_is_left_out_and_the_ones_after_it_imported() {
    let docs = fixture_docs("rocketchat_message");
    let index = docs
        .iter()
        .position(|d| d.get_str("_id").unwrap() == "Qw3J423rcfEcaHY8n")
        .unwrap();
    let at = bson_bytes(&docs[..index]).len();
    let mut bytes = bson_bytes(&docs);
    let text_at = at
        + bytes[at..]
            .windows(8)
            .position(|w| w == b"Hi Alice")
            .unwrap();
    bytes[text_at + 1] = 0xff;
    for gzipped in [false, true] {
        let (content, name) = if gzipped {
            (gzip(&bytes), "rocketchat_message.bson.gz")
        } else {
            (bytes.clone(), "rocketchat_message.bson")
        };
        let dir = folder_with_messages(content, name);
        let app = spawn_app().await;
        let summary = app.import(dir.path());
        let counts = summary.of(Collection::Messages);
        assert_eq!((counts.imported, counts.malformed), (23, 1));
        let text = problems(&summary);
        assert!(
            text.contains(&format!(
                "{name}: document {} at byte {at}: malformed: invalid UTF-8",
                index + 1
            )) && text.contains("in `msg`"),
            "{text}"
        );
        assert!(matches!(
            app.workspace().message("Qw3J423rcfEcaHY8n"),
            Err(StoreError::NotFound)
        ));
        assert_eq!(present(&app).len(), 23);
    }
}

#[tokio::test]
async fn a_gzip_stream_cut_short_keeps_what_came_before_and_is_reported() {
    let docs = fixture_docs("rocketchat_message");
    let zipped = gzip(&bson_bytes(&docs));
    let dir = folder_with_messages(
        zipped[..zipped.len() * 2 / 3].to_vec(),
        "rocketchat_message.bson.gz",
    );
    let app = spawn_app().await;
    let summary = app.import(dir.path());
    let counts = summary.of(Collection::Messages);
    assert_eq!(counts.malformed, 1, "{:?}", summary.problems);
    assert!(counts.imported < 24);
    others_complete(&summary);
    let text = problems(&summary);
    let expected_at = bson_bytes(&docs[..counts.imported as usize]).len();
    assert!(
        text.contains(&format!(
            "rocketchat_message.bson.gz: document {} at byte {expected_at}: malformed: the gzip stream is damaged or cut short",
            counts.imported + 1
        )),
        "{text}"
    );
    assert_eq!(
        present(&app),
        message_ids()[..counts.imported as usize],
        "the documents before the cut, and only whole ones"
    );

    // The same for a gzipped mongoexport file: the line it stopped in is named.
    let dir = fixture_copy();
    let lines = std::fs::read(dir.path().join("rocketchat_message.json")).unwrap();
    let zipped = gzip(&lines);
    std::fs::remove_file(dir.path().join("rocketchat_message.json")).unwrap();
    std::fs::write(
        dir.path().join("rocketchat_message.json.gz"),
        &zipped[..zipped.len() / 2],
    )
    .unwrap();
    let app = spawn_app().await;
    let summary = app.import(dir.path());
    let counts = summary.of(Collection::Messages);
    assert_eq!(counts.malformed, 1, "{:?}", summary.problems);
    let text = problems(&summary);
    assert!(
        text.contains(&format!(
            "rocketchat_message.json.gz:{}: malformed: the gzip stream is damaged or cut short",
            counts.imported + 1
        )),
        "{text}"
    );
    assert_eq!(present(&app), message_ids()[..counts.imported as usize]);
}

#[tokio::test]
async fn an_archive_cut_short_reports_it_once_and_keeps_the_collections_it_holds_whole() {
    let bytes = ArchiveWriter::fixture(5, "rocketchat").bytes();
    for gzipped in [false, true] {
        let cut = &bytes[..bytes.len() * 9 / 10];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.archive");
        std::fs::write(&path, if gzipped { gzip(cut) } else { cut.to_vec() }).unwrap();
        let app = spawn_app().await;
        let summary = app.import(&path);
        let text = problems(&summary);
        let archive_problems: Vec<&String> = summary
            .problems
            .iter()
            .filter(|p| p.contains("the rest of the archive"))
            .collect();
        assert_eq!(archive_problems.len(), 1, "reported once: {text}");
        assert!(summary.not_imported() >= 1);
        // The last blocks hold messages (the largest collection); the small ones
        // ended before the cut.
        others_complete(&summary);
        let imported = summary.of(Collection::Messages).imported as usize;
        assert!(imported < 24, "{text}");
        assert_eq!(present(&app), message_ids()[..imported]);
    }
}
