//! Issue 15, points 5 and 7: re-imports that must not abort, requests and downloads
//! that must answer consistently, exports that must survive one bad file.

use std::path::Path;

use serde_json::{json, Value};
use udd::ports::{Collection, MovedKind};

use crate::helpers::{copy_tree, fixture_dir, spawn_app};

const ALICE: &str = "NBTm56xe8Rh5cF47X";
const BOB: &str = "fq6g5jFboeXuNZhZR";
const CAROL: &str = "wZ6y7Kapn65rpMmgo";

/// The sample workspace copied into a temporary folder, altered by `edit`.
fn altered_dump(edit: impl FnOnce(&Path)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture_dir(), dir.path());
    edit(dir.path());
    dir
}

/// Rewrites every document of a collection file (JSON lines) with `edit`.
fn edit_documents(file: &Path, edit: impl Fn(&mut Value)) {
    let text: Vec<String> = std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut doc: Value = serde_json::from_str(line).unwrap();
            edit(&mut doc);
            doc.to_string()
        })
        .collect();
    std::fs::write(file, text.join("\n") + "\n").unwrap();
}

fn append_documents(file: &Path, docs: &[Value]) {
    let mut text = std::fs::read_to_string(file).unwrap();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    for doc in docs {
        text.push_str(&doc.to_string());
        text.push('\n');
    }
    std::fs::write(file, text).unwrap();
}

#[tokio::test]
async fn a_username_and_an_email_that_changed_hands_between_dumps_move_instead_of_aborting() {
    let app = spawn_app().await;
    app.import(&fixture_dir());
    // Between the two dumps carol was renamed and bob took her name and address. Bob
    // comes first in users.json, while carol still holds both in the store.
    let newer = altered_dump(|dir| {
        edit_documents(&dir.join("users.json"), |doc| match doc["_id"].as_str() {
            Some(BOB) => {
                doc["username"] = json!("carol");
                doc["emails"] = json!([{"address": "carol@example.com", "verified": true}]);
            }
            Some(CAROL) => {
                doc["username"] = json!("carol.old");
                doc["emails"] = json!([{"address": "carol.old@example.com", "verified": true}]);
            }
            _ => {}
        });
    });

    let summary = app.import(newer.path());
    assert_eq!(summary.of(Collection::Users).imported, 4);
    let moved: Vec<(MovedKind, &str, &str, &str)> = summary
        .moves
        .iter()
        .map(|m| {
            (
                m.kind,
                m.value.as_str(),
                m.from_user.as_str(),
                m.to_user.as_str(),
            )
        })
        .collect();
    assert_eq!(
        moved,
        [
            (MovedKind::Username, "carol", CAROL, BOB),
            (MovedKind::Email, "carol@example.com", CAROL, BOB),
        ]
    );

    let users = &app.services.users;
    let bob = users.get(BOB).unwrap();
    assert_eq!(bob.username, "carol");
    assert_eq!(
        bob.emails[0].address, "carol@example.com",
        "bob keeps the address he took, so he is mailed"
    );
    let carol = users.get(CAROL).unwrap();
    assert_eq!(carol.username, "carol.old");
    assert_eq!(carol.emails[0].address, "carol.old@example.com");
    let passwords: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture_dir().join("credentials.json")).unwrap(),
    )
    .unwrap();
    let login = |user: &str, owner: &str| json!({"user": user, "password": passwords["passwords"][owner].as_str().unwrap()});
    for (user, owner, id) in [
        ("carol", "bob", BOB),
        ("carol@example.com", "bob", BOB),
        ("carol.old", "carol", CAROL),
        ("alice", "alice", ALICE),
    ] {
        let response = app.post_login(login(user, owner)).await;
        assert_eq!(response.status(), 200, "{user}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["data"]["userId"], id, "{user}");
    }

    // Loading the newer dump again changes nothing and moves nothing.
    let before = app.fingerprint();
    let again = app.import(newer.path());
    assert!(again.moves.is_empty(), "{:?}", again.moves);
    assert_eq!(app.fingerprint(), before);
}

#[tokio::test]
async fn uploads_and_avatars_whose_id_is_not_a_plain_name_are_skipped_and_counted() {
    let dump = altered_dump(|dir| {
        // Ids that could name a path, some with bytes in the dump under that very name.
        std::fs::write(dir.join("uploads/with space"), b"bytes").unwrap();
        std::fs::write(dir.join("uploads/plus+sign.txt"), b"bytes").unwrap();
        std::fs::write(dir.join("avatars/odd name"), b"bytes").unwrap();
        let upload = |id: &str| {
            json!({"_id": id, "name": "x.txt", "size": 5, "type": "text/plain", "rid": "GENERAL",
                   "userId": ALICE, "uploadedAt": {"$date": "2024-03-02T08:00:00.000Z"}})
        };
        append_documents(
            &dir.join("rocketchat_uploads.json"),
            &[
                upload("with space"),
                upload("plus+sign"),
                upload("../../escape"),
                upload("sub/dir"),
                upload("nul\u{0}id"),
            ],
        );
        append_documents(
            &dir.join("rocketchat_avatars.json"),
            &[json!({"_id": "odd name", "name": "alice", "userId": ALICE,
                     "uploadedAt": {"$date": "2024-03-02T08:00:00.000Z"}})],
        );
    });
    let app = spawn_app().await;
    let summary = app.import(dump.path());
    let uploads = summary.of(Collection::Uploads);
    assert_eq!((uploads.imported, uploads.skipped), (3, 5));
    let avatars = summary.of(Collection::Avatars);
    assert_eq!((avatars.imported, avatars.skipped), (4, 1));
    assert_eq!(summary.not_imported(), 6);
    let problems = summary.problems.join("\n");
    assert!(
        problems.contains(
            "rocketchat_uploads.json:4: skipped: `_id` \"with space\" is not a plain name"
        ),
        "{problems}"
    );
    assert!(
        problems.contains("rocketchat_avatars.json:5: skipped"),
        "{problems}"
    );
    // The rest of the workspace is there.
    assert_eq!(summary.of(Collection::Messages).imported, 24);
    assert!(app.services.reader.upload("with space").is_err());
}

#[tokio::test]
async fn a_request_that_queued_an_operation_answers_with_it_even_when_its_folder_cannot_be_made() {
    let app = spawn_app().await;
    let alice = app.logged_in("alice").await;
    // The working folders' root turns into a plain file after start-up.
    let root = &app.settings.user_data.file_system_path;
    let _ = std::fs::remove_dir_all(root);
    std::fs::write(root, b"not a folder").unwrap();

    let (status, first) = app.request_download(&alice, None).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["requested"], true);
    let (status, again) = app.request_download(&alice, None).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["requested"], false);
    assert_eq!(
        again["exportOperation"]["_id"], first["exportOperation"]["_id"],
        "the first answer named the operation that was queued"
    );
}
