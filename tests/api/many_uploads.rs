//! A personal export with more uploads than packaging reads at once: every readable
//! upload is in the zip and the manifest, in path order after the manifest, the index
//! lists the owner's, missing ones are reported, and an export resumed after a failure
//! while packaging zips to the same bytes.

use std::io::Read;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Duration, Utc};
use udd::domain::{Message, Upload};
use udd::ports::{BlobKind, BlobStore, WorkspaceWriter};

use crate::export_faults::{run_to_completion, setup_shaped, Faults, Setup};

/// More than two pages of uploads.
const UPLOADS: usize = 1_234;
const ALICE: &str = "NBTm56xe8Rh5cF47X";

fn name_of(i: usize) -> String {
    match i % 5 {
        0 => format!("\"quoted\" & <b>{i}</b>.txt"),
        1 => format!("été {i}.txt"),
        _ => format!("file {i}.txt"),
    }
}

/// Uploads `UP00000…` in GENERAL, each on a message of alice's; every 97th has lost
/// its bytes.
fn add_uploads(setup: &Setup) {
    let blobs = setup.blobs();
    let start = DateTime::<Utc>::from_timestamp(1_780_000_000, 0).unwrap();
    let mut uploads = Vec::new();
    let mut messages = Vec::new();
    for i in 0..UPLOADS {
        let id = format!("UP{i:05}");
        let blob = (i % 97 != 3).then(|| {
            let content = format!("content of upload {i}\n").repeat(1 + i % 7);
            blobs
                .put(BlobKind::Upload, &id, &mut content.as_bytes())
                .unwrap()
        });
        let ts = start + Duration::minutes(i as i64);
        uploads.push(Upload {
            id: id.as_str().into(),
            room_id: Some("GENERAL".into()),
            user_id: Some(ALICE.into()),
            name: name_of(i),
            content_type: Some("text/plain".into()),
            size: 10,
            blob,
            uploaded_at: ts,
            updated_at: ts,
        });
        messages.push(Message {
            user_id: Some(ALICE.into()),
            username: Some("alice".into()),
            msg: format!("sends upload {i}"),
            file_id: Some(id.as_str().into()),
            ..Message::new(format!("up{i:05}"), "GENERAL", ts)
        });
    }
    let workspace = setup.workspace();
    workspace.upsert_uploads(&uploads).unwrap();
    workspace.upsert_messages(&messages).unwrap();
}

fn setup(faults: std::sync::Arc<Faults>) -> Setup {
    let setup = setup_shaped(false, faults, 100, Default::default(), |_| {});
    add_uploads(&setup);
    setup
}

/// The names of the zip's entries, in the archive's order.
fn names_in_order(path: &str) -> Vec<String> {
    let archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    archive.file_names().map(str::to_owned).collect()
}

#[test]
fn more_uploads_than_a_page_are_all_packaged_in_path_order_and_resume_exactly() {
    let clean_faults = Faults::never();
    let clean = setup(clean_faults.clone());
    let (entries, zip, _) = run_to_completion(&clean);
    let steps = clean_faults.step.load(Ordering::SeqCst);

    let names = names_in_order(&zip);
    assert_eq!(names[0], "manifest.json");
    assert!(
        names[1..].windows(2).all(|w| w[0] < w[1]),
        "the files follow the manifest sorted by path"
    );
    let missing = (0..UPLOADS).filter(|i| i % 97 == 3).count();
    let ours = names.iter().filter(|n| n.starts_with("assets/UP")).count();
    assert_eq!(ours, UPLOADS - missing);

    // The manifest lists the same files in the same order, with their sizes, and is
    // what a JSON pretty-printer makes of it.
    let text = String::from_utf8(entries["manifest.json"].clone()).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        serde_json::to_string_pretty(&manifest).unwrap() + "\n",
        text
    );
    let files = manifest["files"].as_array().unwrap();
    let listed: Vec<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(
        listed,
        names[1..].iter().map(String::as_str).collect::<Vec<_>>()
    );
    for file in files {
        let path = file["path"].as_str().unwrap();
        assert_eq!(
            file["size"].as_u64(),
            Some(entries[path].len() as u64),
            "{path}"
        );
    }
    let unavailable = manifest["unavailable"].as_array().unwrap();
    assert!(
        unavailable
            .iter()
            .filter(|u| u.as_str().unwrap().starts_with("upload UP"))
            .count()
            == missing,
        "{unavailable:?}"
    );

    // The index shows every one of alice's uploads, the missing ones as such.
    let index = String::from_utf8(entries["index.html"].clone()).unwrap();
    assert_eq!(
        index.matches("href=\"./assets/UP").count(),
        UPLOADS - missing
    );
    assert!(index.contains("&quot;quoted&quot; &amp; &lt;b&gt;0&lt;/b&gt;.txt"));
    assert_eq!(index.matches("<span class=\"missing\">").count(), missing);
    assert_eq!(
        index.matches("<li>upload UP").count(),
        missing,
        "the list of what was unavailable, read back from the working folder"
    );
    let mut content = String::new();
    zip::ZipArchive::new(std::fs::File::open(&zip).unwrap())
        .unwrap()
        .by_index(
            names
                .iter()
                .position(|n| n.starts_with("assets/UP00006"))
                .unwrap(),
        )
        .unwrap()
        .read_to_string(&mut content)
        .unwrap();
    assert_eq!(content, "content of upload 6\n".repeat(7));

    // A failure while packaging, then a resume, gives the same bytes.
    let reference = std::fs::read(&zip).unwrap();
    for fail_at in [steps - 4, steps - 12] {
        let faults = Faults::never();
        faults.fail_at.store(fail_at, Ordering::SeqCst);
        let faulty = setup(faults);
        let (_, resumed_zip, attempts) = run_to_completion(&faulty);
        assert_eq!(attempts, 1, "failure at step {fail_at} of {steps}");
        assert!(
            std::fs::read(&resumed_zip).unwrap() == reference,
            "zip bytes after a failure at step {fail_at} of {steps}"
        );
    }
}
