use std::io::Read;

use chrono::DateTime;
use object_store::memory::InMemory;
use udd_domain::OperationId;
use udd_ports::{
    ArchiveEntry, ArchiveSource, ArchiveStore, BlobKind, BlobStore, ByteRange, ExportFiles,
    StoredExports, StoredItem,
};

use crate::archive::ZipArchiveStore;
use crate::hashing::sha256_of;
use crate::stored::LocalStoredExports;

use super::*;
use crate::blobs::LocalBlobStore;
use crate::fs::LocalExportFiles;

fn storage(store: &Arc<InMemory>, prefix: &str) -> ObjectStorage {
    ObjectStorage::new(store.clone(), prefix).expect("storage")
}

fn read_to_end(mut read: Box<dyn Read + Send>) -> Vec<u8> {
    let mut bytes = Vec::new();
    read.read_to_end(&mut bytes).expect("read");
    bytes
}

#[test]
fn blobs_go_up_and_come_back_under_the_prefix_only() -> anyhow::Result<()> {
    let memory = Arc::new(InMemory::new());
    let blobs = ObjectBlobStore::new(storage(&memory, "/udd/"));
    let key = blobs.put(BlobKind::Upload, "F1", &mut &b"picture"[..])?;
    assert_eq!(key, "uploads/F1");
    assert_eq!(read_to_end(blobs.open(&key)?.expect("stored")), b"picture");
    let (size, sha) = blobs.describe(&key)?.expect("stored");
    assert_eq!(size, 7);
    assert_eq!(sha, sha256_of(&mut &b"picture"[..])?.1);
    assert!(blobs.open("uploads/F2")?.is_none());
    assert!(blobs.describe("avatars/F1")?.is_none());

    // The object lives under the prefix, and nothing else was written.
    let listed = storage(&memory, "").list("udd")?;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, "udd/uploads/F1");

    for bad in [
        "../uploads/F1",
        "uploads/../x",
        "uploads/",
        "/etc/passwd",
        "",
    ] {
        assert!(blobs.open(bad).is_err(), "{bad}");
    }
    assert!(blobs.put(BlobKind::Avatar, "../x", &mut &b""[..]).is_err());

    blobs.delete(&key)?;
    assert!(blobs.open(&key)?.is_none(), "deleted");
    blobs.delete(&key)?;
    assert!(blobs.delete("exports/OP.zip").is_err(), "only blob keys");
    Ok(())
}

#[test]
fn a_prefix_must_be_plain_names() {
    let memory = Arc::new(InMemory::new());
    assert!(ObjectStorage::new(memory.clone(), "a/b").is_ok());
    for bad in ["a/../b", "a b", "a//b"] {
        assert!(ObjectStorage::new(memory.clone(), bad).is_err(), "{bad}");
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    files: LocalExportFiles,
    local: ZipArchiveStore,
    remote: ObjectArchiveStore,
    memory: Arc<InMemory>,
    entries: Vec<ArchiveEntry>,
}

fn setup(big: usize) -> anyhow::Result<Setup> {
    let dir = tempfile::tempdir()?;
    let blobs = Arc::new(LocalBlobStore::new(dir.path().join("blobs")));
    let files = LocalExportFiles::new(dir.path().join("work"));
    let op = OperationId::from("OP");
    files.write(&op, "room.html", &b"<p>hello</p>".repeat(1000))?;
    // Incompressible bytes, so a large archive spans several upload parts.
    let mut state = 0x2545_f491_u32;
    let noise: Vec<u8> = (0..big)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect();
    let key = blobs.put(BlobKind::Upload, "F1", &mut noise.as_slice())?;
    let entries = vec![
        ArchiveEntry {
            name: "room.html".into(),
            source: ArchiveSource::Working("room.html".into()),
        },
        ArchiveEntry {
            name: "assets/F1-noise.bin".into(),
            source: ArchiveSource::Blob(key),
        },
    ];
    let memory = Arc::new(InMemory::new());
    let local = ZipArchiveStore::new(dir.path().join("zips"), files.clone(), blobs.clone());
    let parts = ZipArchiveStore::new(dir.path().join("parts"), files.clone(), blobs);
    let remote = ObjectArchiveStore::new(parts, storage(&memory, "udd"));
    Ok(Setup {
        _dir: dir,
        files,
        local,
        remote,
        memory,
        entries,
    })
}

#[test]
fn an_archive_uploaded_is_byte_identical_to_the_local_one_and_reads_by_range() -> anyhow::Result<()>
{
    // 12 MiB of noise: three upload parts of 5 MiB.
    let s = setup(12 << 20)?;
    let op = OperationId::from("OP");
    let at = DateTime::from_timestamp(1_709_283_952, 0).unwrap_or_default();
    let len = "<p>hello</p>".repeat(1000).len() as u64;
    let room = udd_ports::WorkingRange {
        file: "room.html".into(),
        range: ByteRange::whole(len),
    };
    s.remote.prepare(&op, &room, true)?;
    let key = s
        .remote
        .store(&op, &mut s.entries.iter().cloned().map(Ok), at)?;
    assert_eq!(key, "exports/OP.zip");
    let local_key = s
        .local
        .store(&op, &mut s.entries.iter().cloned().map(Ok), at)?;
    let local = std::fs::read(s.local.path_of(&local_key)?)?;

    let remote = read_to_end(s.remote.open(&key, None)?.expect("stored").body);
    assert!(
        remote == local,
        "the uploaded zip differs from the local one"
    );
    assert_eq!(s.remote.size(&key)?, Some(local.len() as u64));
    let (size, sha) = s.remote.describe(&key)?;
    assert_eq!((size, sha.clone()), sha256_of(&mut local.as_slice())?);
    // Described again by another process (nothing remembered): read from the store.
    let fresh = ObjectArchiveStore::new(s.local.clone(), storage(&s.memory, "udd"));
    assert_eq!(fresh.describe(&key)?, (size, sha));

    let range = ByteRange {
        start: 1000,
        len: 6 << 20,
    };
    let read = s.remote.open(&key, Some(range))?.expect("stored");
    assert_eq!((read.len, read.total), (range.len, size));
    assert_eq!(read_to_end(read.body), &local[1000..1000 + (6 << 20)]);
    let past = ByteRange {
        start: size - 1,
        len: 2,
    };
    assert!(s.remote.open(&key, Some(past)).is_err());

    // The working parts are gone once the archive is stored.
    assert!(!s._dir.path().join("parts/.OP.parts").exists());

    s.remote.remove(&key)?;
    s.remote.remove(&key)?;
    assert!(s.remote.open(&key, None)?.is_none());
    assert_eq!(s.remote.size(&key)?, None);
    assert!(s.remote.remove("uploads/F1").is_err());
    Ok(())
}

#[test]
fn a_failed_archive_leaves_no_object() -> anyhow::Result<()> {
    let s = setup(10)?;
    let op = OperationId::from("OP");
    let mut entries = s.entries.clone();
    entries.push(ArchiveEntry {
        name: "gone.bin".into(),
        source: ArchiveSource::Blob("uploads/GONE".into()),
    });
    assert!(s
        .remote
        .store(&op, &mut entries.into_iter().map(Ok), DateTime::UNIX_EPOCH)
        .is_err());
    assert!(s.remote.open("exports/OP.zip", None)?.is_none());
    assert!(storage(&s.memory, "").list("udd")?.is_empty());
    s.files.remove_all(&op)?;
    Ok(())
}

#[test]
fn retention_sees_the_archives_in_the_bucket_and_removes_only_those() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let memory = Arc::new(InMemory::new());
    let objects = storage(&memory, "udd");
    objects.put("exports/OLD.zip", &mut &b"zip"[..])?;
    objects.put("uploads/F1", &mut &b"upload"[..])?;
    // Outside the prefix: never listed.
    storage(&memory, "other").put("exports/ELSEWHERE.zip", &mut &b"zip"[..])?;
    std::fs::create_dir_all(dir.path().join("work/RUNNING"))?;
    let stored = ObjectStoredExports::new(
        LocalStoredExports::new(dir.path().join("work"), dir.path().join("zips")),
        objects.clone(),
    );
    let items = stored.list()?;
    let names: Vec<(&str, bool)> = items
        .iter()
        .map(|i| (i.operation_id.as_str(), i.finished_zip))
        .collect();
    assert_eq!(names, [("RUNNING", false), ("OLD", true)]);
    for item in &items {
        stored.remove(item)?;
    }
    assert_eq!(objects.size("exports/OLD.zip")?, None);
    assert_eq!(objects.size("uploads/F1")?, Some(6));
    assert!(!dir.path().join("work/RUNNING").exists());
    assert_eq!(
        storage(&memory, "other").size("exports/ELSEWHERE.zip")?,
        Some(3)
    );
    let forged = StoredItem {
        path: "object:uploads/F1".into(),
        ..items[1].clone()
    };
    assert!(stored.remove(&forged).is_err());
    assert_eq!(objects.size("uploads/F1")?, Some(6));
    Ok(())
}

#[test]
fn the_local_store_is_copied_under_the_same_keys_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (blobs, zips) = (dir.path().join("blobs"), dir.path().join("zips"));
    std::fs::create_dir_all(blobs.join("uploads"))?;
    std::fs::create_dir_all(blobs.join("avatars"))?;
    std::fs::create_dir_all(zips.join(".OP2.parts"))?;
    std::fs::write(blobs.join("uploads/F1"), b"upload")?;
    std::fs::write(blobs.join("avatars/A1"), b"avatar")?;
    std::fs::write(blobs.join("uploads/.tmp-F2"), b"half")?;
    std::fs::write(zips.join("OP1.zip"), b"zip")?;
    std::fs::write(zips.join(".OP2.zip.partial"), b"half")?;
    let memory = Arc::new(InMemory::new());
    let objects = storage(&memory, "udd");

    let mut seen = Vec::new();
    let report = copy_local_store(&blobs, &zips, &objects, |key| seen.push(key.to_owned()))?;
    assert_eq!(
        (report.copied, report.already_there, report.bytes),
        (3, 0, 15)
    );
    assert_eq!(seen, ["avatars/A1", "exports/OP1.zip", "uploads/F1"]);
    assert_eq!(
        read_to_end(objects.read("uploads/F1", None)?.expect("copied")),
        b"upload"
    );
    let listed: Vec<String> = storage(&memory, "")
        .list("udd")?
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(listed.len(), 3, "{listed:?}");

    let again = copy_local_store(&blobs, &zips, &objects, |_| {})?;
    assert_eq!((again.copied, again.already_there), (0, 3));
    Ok(())
}
