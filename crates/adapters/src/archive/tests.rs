use super::*;
use crate::blobs::LocalBlobStore;
use udd_ports::{BlobKind, ExportFiles};

/// `entries` as the stream a store takes.
fn each(entries: &[ArchiveEntry]) -> impl Iterator<Item = anyhow::Result<ArchiveEntry>> + '_ {
    entries.iter().cloned().map(Ok)
}

fn working(name: &str) -> ArchiveEntry {
    ArchiveEntry {
        name: name.to_owned(),
        source: ArchiveSource::Working(name.to_owned()),
    }
}

/// The first `len` bytes of working file `file`.
fn whole(file: &str, len: u64) -> WorkingRange {
    WorkingRange {
        file: file.into(),
        range: ByteRange::whole(len),
    }
}

fn store_in(dir: &tempfile::TempDir) -> (ZipArchiveStore, LocalExportFiles, Arc<LocalBlobStore>) {
    let blobs = Arc::new(LocalBlobStore::new(dir.path().join("blobs")));
    let files = LocalExportFiles::new(dir.path().join("work"));
    (
        ZipArchiveStore::new(dir.path().join("zips"), files.clone(), blobs.clone()),
        files,
        blobs,
    )
}

fn read_all(store: &ZipArchiveStore, key: &str, range: Option<ByteRange>) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut read = store.open(key, range).unwrap().expect("stored");
    read.body.read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes.len() as u64, read.len);
    bytes
}

#[test]
fn the_same_entries_zip_to_the_same_bytes_in_order_from_folder_and_blobs() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, files, blobs) = store_in(&dir);
    files.write(&"OP".into(), "b.txt", b"bbb")?;
    let key = blobs.put(BlobKind::Upload, "F1", &mut &b"aaa"[..])?;
    let at = DateTime::from_timestamp(1_709_283_952, 0).unwrap_or_default();
    let entries = vec![
        working("b.txt"),
        ArchiveEntry {
            name: "assets/F1-a.png".into(),
            source: ArchiveSource::Blob(key),
        },
    ];
    let first = store.store(&"OP".into(), &mut each(&entries), at)?;
    assert_eq!(first, "exports/OP.zip");
    let (size, sha) = store.describe(&first)?;
    let second = store.store(&"OP".into(), &mut each(&entries), at)?;
    assert_eq!(store.describe(&second)?, (size, sha));
    assert!(!dir.path().join("zips/.OP.zip.partial").exists());

    let mut archive = zip::ZipArchive::new(File::open(store.path_of(&first)?)?)?;
    assert_eq!(
        archive.file_names().collect::<Vec<_>>(),
        ["b.txt", "assets/F1-a.png"]
    );
    let mut text = String::new();
    archive
        .by_name("assets/F1-a.png")?
        .read_to_string(&mut text)?;
    assert_eq!(text, "aaa");
    store.remove(&first)?;
    store.remove(&first)?;
    assert!(store.describe(&first).is_err());
    assert!(store.open(&first, None)?.is_none());

    // Nothing outside the store is removed, whatever a record says.
    let outside = dir.path().join("work/keep.zip");
    std::fs::write(&outside, "not ours")?;
    for key in [
        outside.to_string_lossy().into_owned(),
        "exports/../work/keep.zip".to_owned(),
        "exports/.zip".to_owned(),
        "uploads/F1".to_owned(),
    ] {
        assert!(store.remove(&key).is_err(), "{key}");
        assert!(store.open(&key, None).is_err(), "{key}");
    }
    assert!(outside.exists());
    Ok(())
}

#[test]
fn an_archive_opens_whole_or_by_range_and_never_past_its_end() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, files, _) = store_in(&dir);
    files.write(&"OP".into(), "a.txt", &[7_u8; 5000])?;
    let key = store.store(
        &"OP".into(),
        &mut each(&[working("a.txt")]),
        DateTime::UNIX_EPOCH,
    )?;
    let whole = std::fs::read(store.path_of(&key)?)?;
    assert_eq!(store.size(&key)?, Some(whole.len() as u64));
    assert_eq!(store.size("exports/none.zip")?, None);
    assert_eq!(read_all(&store, &key, None), whole);
    let range = ByteRange { start: 10, len: 20 };
    assert_eq!(read_all(&store, &key, Some(range)), &whole[10..30]);
    let total = whole.len() as u64;
    let tail = ByteRange {
        start: total - 1,
        len: 1,
    };
    assert_eq!(
        read_all(&store, &key, Some(tail)),
        &whole[whole.len() - 1..]
    );
    let past = ByteRange {
        start: total,
        len: 1,
    };
    assert!(store.open(&key, Some(past)).is_err());
    let huge = ByteRange {
        start: 1,
        len: u64::MAX,
    };
    assert!(store.open(&key, Some(huge)).is_err());
    Ok(())
}

#[test]
fn a_prepared_entry_is_reused_only_while_the_file_is_unchanged() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, files, _) = store_in(&dir);
    let at = DateTime::UNIX_EPOCH;
    files.write(&"OP".into(), "room.json", b"first")?;
    store.prepare(&"OP".into(), &whole("room.json", 5), true)?;
    files.write(&"OP".into(), "room.json", b"first, then more")?;
    let zip = store.store(&"OP".into(), &mut each(&[working("room.json")]), at)?;
    let mut text = String::new();
    zip::ZipArchive::new(File::open(store.path_of(&zip)?)?)?
        .by_name("room.json")?
        .read_to_string(&mut text)?;
    assert_eq!(
        text, "first, then more",
        "a part of an older, shorter file is not used"
    );
    assert!(
        !dir.path().join("zips/.OP.parts").exists(),
        "parts are cleaned up"
    );
    Ok(())
}

#[test]
fn entries_and_names_outside_the_folder_are_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, _, _) = store_in(&dir);
    let at = DateTime::UNIX_EPOCH;
    assert!(store
        .store(&"OP".into(), &mut each(&[working("../secret")]), at)
        .is_err());
    let escaping = ArchiveEntry {
        name: "../x".into(),
        source: ArchiveSource::Blob("uploads/F1".into()),
    };
    assert!(store
        .store(&"OP".into(), &mut each(&[escaping]), at)
        .is_err());
    assert!(store.store(&"../OP".into(), &mut each(&[]), at).is_err());
    Ok(())
}

/// Text that compresses like chat: words from a small list in a varying order.
fn chat_text(len: usize, seed: u64) -> Vec<u8> {
    const WORDS: [&str; 8] = [
        "hello", "deploy", "the", "build", "is", "green", "again", "ok?",
    ];
    let mut state = seed;
    let mut text = Vec::with_capacity(len + 16);
    while text.len() < len {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        text.extend_from_slice(WORDS[(state >> 61) as usize].as_bytes());
        text.push(if state & 0x100 == 0 { b' ' } else { b'\n' });
    }
    text.truncate(len);
    text
}

#[test]
fn a_file_compressed_chunk_by_chunk_as_it_grows_zips_to_the_bytes_of_one_compressed_at_the_end(
) -> anyhow::Result<()> {
    let at = DateTime::from_timestamp(1_709_283_952, 0).unwrap_or_default();
    // Cut over several chunks, one of them exactly at a chunk boundary.
    let text = chat_text((2 * chunks::CHUNK + 12_345) as usize, 7);
    let cuts = [100_000, chunks::CHUNK as usize, 1_500_000, text.len()];
    let entries = [working("room.json"), working("small.json")];

    let ahead = tempfile::tempdir()?;
    let (store, files, _) = store_in(&ahead);
    let op: OperationId = "OP".into();
    let mut committed = 0;
    for cut in cuts {
        committed = files.append(&op, "room.json", committed, &text[committed as usize..cut])?;
        store.prepare(&op, &whole("room.json", committed), false)?;
    }
    store.prepare(&op, &whole("room.json", committed), true)?;
    files.write(&op, "small.json", b"{}")?;
    let folder = files.folder(&op)?;
    let plan = chunks::plan(&whole("room.json", text.len() as u64), true);
    assert_eq!(plan.len(), 3);
    for chunk in &plan {
        assert!(store.packs.has(&folder, chunk)?, "made ahead: {chunk:?}");
    }
    let key = store.store(&op, &mut each(&entries), at)?;
    let made_ahead = std::fs::read(store.path_of(&key)?)?;
    let hidden = std::fs::read_dir(&folder)?
        .flatten()
        .filter(|f| f.file_name().to_string_lossy().starts_with(".chunks"))
        .count();
    assert_eq!(hidden, 0, "the pack is removed once the archive is stored");

    let at_the_end = tempfile::tempdir()?;
    let (store, files, _) = store_in(&at_the_end);
    files.write(&op, "room.json", &text)?;
    files.write(&op, "small.json", b"{}")?;
    let key = store.store(&op, &mut each(&entries), at)?;
    assert!(
        std::fs::read(store.path_of(&key)?)? == made_ahead,
        "the same archive whenever the chunks were made"
    );

    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(made_ahead))?;
    let mut room = archive.by_name("room.json")?;
    assert_eq!(room.unix_mode(), Some(0o100_644));
    let mut unzipped = Vec::new();
    room.read_to_end(&mut unzipped)?;
    assert!(
        unzipped == text,
        "the chunks make one deflate stream of the file"
    );
    assert!(
        room.compressed_size() * 3 < text.len() as u64,
        "compressed, not stored"
    );
    drop(room);
    let mut small = String::new();
    archive.by_name("small.json")?.read_to_string(&mut small)?;
    assert_eq!(small, "{}");
    Ok(())
}

#[test]
fn ranges_of_one_file_zip_to_the_bytes_of_files_of_their_own() -> anyhow::Result<()> {
    let at = DateTime::from_timestamp(1_709_283_952, 0).unwrap_or_default();
    let op: OperationId = "OP".into();
    let text = chat_text((2 * chunks::CHUNK + 300_000) as usize, 3);
    // Pages of a room one after the other in one file; the second begins mid-chunk
    // and spans a chunk boundary of its own.
    let (first, second) = text.split_at(400_000);
    let named = |name: &str, start: usize, len: usize| ArchiveEntry {
        name: name.into(),
        source: ArchiveSource::WorkingRange(WorkingRange {
            file: "pages/R.html".into(),
            range: ByteRange {
                start: start as u64,
                len: len as u64,
            },
        }),
    };
    let ranged = [
        named("R-2.html", first.len(), second.len()),
        named("R.html", 0, first.len()),
    ];

    let ahead = tempfile::tempdir()?;
    let (store, files, _) = store_in(&ahead);
    let mut committed = 0;
    for cut in [300_000, first.len(), 1_600_000, text.len()] {
        committed = files.append(
            &op,
            "pages/R.html",
            committed,
            &text[committed as usize..cut],
        )?;
        // The first page is complete once the second begins; the second grows.
        if committed as usize >= first.len() {
            store.prepare(&op, &whole("pages/R.html", first.len() as u64), true)?;
            let mut growing = whole("pages/R.html", committed - first.len() as u64);
            growing.range.start = first.len() as u64;
            store.prepare(&op, &growing, committed as usize == text.len())?;
        }
    }
    let key = store.store(&op, &mut each(&ranged), at)?;
    let from_ranges = std::fs::read(store.path_of(&key)?)?;

    let apart = tempfile::tempdir()?;
    let (store, files, _) = store_in(&apart);
    files.write(&op, "R.html", first)?;
    files.write(&op, "R-2.html", second)?;
    let key = store.store(
        &op,
        &mut each(&[working("R-2.html"), working("R.html")]),
        at,
    )?;
    assert!(
        std::fs::read(store.path_of(&key)?)? == from_ranges,
        "a range zips as the file of its bytes would, its dictionary never reaching before it"
    );
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(from_ranges))?;
    let mut page = Vec::new();
    archive.by_name("R-2.html")?.read_to_end(&mut page)?;
    assert!(page == second);
    Ok(())
}

#[test]
fn an_empty_file_is_an_empty_entry() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, files, _) = store_in(&dir);
    files.write(&"OP".into(), "empty.json", b"")?;
    let key = store.store(
        &"OP".into(),
        &mut each(&[working("empty.json")]),
        DateTime::UNIX_EPOCH,
    )?;
    let mut archive = zip::ZipArchive::new(File::open(store.path_of(&key)?)?)?;
    let mut text = String::new();
    archive.by_name("empty.json")?.read_to_string(&mut text)?;
    assert!(text.is_empty());
    Ok(())
}

/// Bytes that do not compress.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 56) as u8
        })
        .collect()
}

#[test]
fn entries_past_the_window_are_appended_in_the_order_they_come() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, files, blobs) = store_in(&dir);
    let op: OperationId = "OP".into();
    let count = 3 * window::WINDOW + 5;
    let mut entries = Vec::new();
    let mut contents = Vec::new();
    for i in 0..count {
        // Small uploads kept in memory, some (stored: noise does not deflate) past
        // what is kept there (they wait in the pack), and working files.
        let content = match i % 3 {
            0 => format!("upload {i}").into_bytes(),
            1 => noise(KEPT_IN_MEMORY + 1000, i as u64),
            _ => chat_text(3000 + i, i as u64),
        };
        let name = format!("e{i:04}");
        let source = if i % 3 == 2 {
            files.write(&op, &name, &content)?;
            ArchiveSource::Working(name.clone())
        } else {
            ArchiveSource::Blob(blobs.put(BlobKind::Upload, &name, &mut content.as_slice())?)
        };
        entries.push(ArchiveEntry { name, source });
        contents.push(content);
    }
    let key = store.store(&op, &mut each(&entries), DateTime::UNIX_EPOCH)?;
    let mut archive = zip::ZipArchive::new(File::open(store.path_of(&key)?)?)?;
    assert_eq!(archive.len(), count);
    for (i, content) in contents.iter().enumerate() {
        let mut entry = archive.by_index(i)?;
        assert_eq!(entry.name(), entries[i].name);
        let mut read = Vec::new();
        entry.read_to_end(&mut read)?;
        assert!(read == *content, "entry {i} reads back as written");
    }
    assert!(
        !dir.path().join("zips/.OP.parts").exists(),
        "the parts and the central directory's spill file are gone"
    );
    Ok(())
}

#[test]
fn an_error_of_the_entries_ends_the_archive_and_stores_nothing() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, files, _) = store_in(&dir);
    let op: OperationId = "OP".into();
    files.write(&op, "a.txt", b"a")?;
    let mut entries = (0..2 * window::WINDOW)
        .map(|_| Ok(working("a.txt")))
        .chain(std::iter::once(Err(anyhow::anyhow!("the listing broke"))));
    let error = store
        .store(&op, &mut entries, DateTime::UNIX_EPOCH)
        .expect_err("the stream failed");
    assert!(
        format!("{error:#}").contains("the listing broke"),
        "{error:#}"
    );
    assert!(!dir.path().join("zips/OP.zip").exists());
    Ok(())
}

/// Makes `path` `len` bytes long without writing them (a sparse file of zeros), then
/// writes `tail` as its last bytes.
fn grow(path: &std::path::Path, len: u64, tail: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new().write(true).open(path)?;
    file.set_len(len)?;
    file.write_all_at(tail, len - tail.len() as u64)?;
    Ok(())
}

/// Reads entry `name` of `archive` to its end through the zip reader, which checks the
/// CRC-32 the headers state; returns the length read, which must be the length they
/// state, and the last bytes.
fn read_entry(archive: &mut zip::ZipArchive<File>, name: &str) -> anyhow::Result<(u64, Vec<u8>)> {
    let mut entry = archive.by_name(name)?;
    let stated = entry.size();
    let mut len = 0_u64;
    let mut last = Vec::new();
    let mut buffer = vec![0; 1 << 20];
    loop {
        let read = entry.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        len += read as u64;
        last.clear();
        last.extend_from_slice(&buffer[read.saturating_sub(16)..read]);
    }
    assert_eq!(
        len, stated,
        "{name}: the length the central directory states"
    );
    Ok((len, last))
}

#[test]
fn entries_of_four_gib_and_more_from_the_folder_and_the_blobs_read_back_whole() -> anyhow::Result<()>
{
    // Past what a 32-bit size holds, and not a whole number of chunks.
    const BIG: u64 = (4 << 30) + (1 << 20) + 123;
    let dir = tempfile::tempdir()?;
    let (store, files, blobs) = store_in(&dir);
    let op: OperationId = "OP".into();
    files.write(&op, "room.json", b"")?;
    grow(
        &dir.path().join("work/OP/room.json"),
        BIG,
        b"end of the room",
    )?;
    let key = blobs.put(BlobKind::Upload, "F1", &mut &b""[..])?;
    grow(
        &dir.path().join("blobs").join(&key),
        BIG + 1,
        b"end of the video",
    )?;
    files.write(&op, "after.txt", b"the entry after them")?;
    let entries = vec![
        working("room.json"),
        ArchiveEntry {
            name: "assets/F1-video.mp4".into(),
            source: ArchiveSource::Blob(key),
        },
        working("after.txt"),
    ];
    let at = DateTime::from_timestamp(1_709_283_952, 0).unwrap_or_default();
    let zip = store.store(&op, &mut each(&entries), at)?;

    let mut archive = zip::ZipArchive::new(File::open(store.path_of(&zip)?)?)?;
    assert_eq!(
        archive.file_names().collect::<Vec<_>>(),
        ["room.json", "assets/F1-video.mp4", "after.txt"]
    );
    let (len, last) = read_entry(&mut archive, "room.json")?;
    assert_eq!(len, BIG);
    assert!(last.ends_with(b"end of the room"));
    let (len, last) = read_entry(&mut archive, "assets/F1-video.mp4")?;
    assert_eq!(len, BIG + 1);
    assert!(last.ends_with(b"end of the video"));
    let mut after = String::new();
    archive.by_name("after.txt")?.read_to_string(&mut after)?;
    assert_eq!(after, "the entry after them");
    Ok(())
}

#[test]
fn uploads_deflate_cannot_shrink_go_in_stored_and_the_others_deflated() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, _, blobs) = store_in(&dir);
    let op: OperationId = "OP".into();
    let large = usize::try_from(IN_MEMORY_PART)? + 100_000;
    let mut text_then_noise = chat_text(SAMPLE, 9);
    text_then_noise.extend(noise(3 << 20, 9));
    let uploads: [(&str, Vec<u8>, zip::CompressionMethod); 7] = {
        use zip::CompressionMethod::{Deflated, Stored};
        [
            // Whole, in memory, kept as the smaller.
            ("small-noise", noise(SAMPLE / 2, 1), Stored),
            ("small-text", chat_text(SAMPLE / 2, 2), Deflated),
            // Judged by a sample, in memory.
            ("noise", noise(1 << 20, 3), Stored),
            ("text", chat_text(1 << 20, 4), Deflated),
            // Its sample deflates, the whole not enough to keep it deflated.
            ("text-then-noise", text_then_noise, Stored),
            // Judged by a sample, in a part file of their own.
            ("large-noise", noise(large, 5), Stored),
            ("large-text", chat_text(large, 6), Deflated),
        ]
    };
    let mut entries = Vec::new();
    for (name, content, _) in &uploads {
        let key = blobs.put(BlobKind::Upload, name, &mut content.as_slice())?;
        entries.push(ArchiveEntry {
            name: (*name).to_owned(),
            source: ArchiveSource::Blob(key),
        });
    }
    let key = store.store(&op, &mut each(&entries), DateTime::UNIX_EPOCH)?;
    let path = store.path_of(&key)?;
    let mut archive = zip::ZipArchive::new(File::open(&path)?)?;
    for (name, content, method) in &uploads {
        let mut entry = archive.by_name(name)?;
        assert_eq!(entry.compression(), *method, "{name}");
        if *method == zip::CompressionMethod::Stored {
            assert_eq!(entry.compressed_size(), content.len() as u64, "{name}");
        } else {
            assert!(entry.compressed_size() < content.len() as u64 / 2, "{name}");
        }
        let mut read = Vec::new();
        entry.read_to_end(&mut read)?;
        assert!(read == *content, "{name} reads back as it was");
    }
    drop(archive);
    // The same uploads make the same archive again.
    let first = std::fs::read(&path)?;
    let again = store.store(&op, &mut each(&entries), DateTime::UNIX_EPOCH)?;
    assert!(std::fs::read(store.path_of(&again)?)? == first);
    zip_stream::tests::unzip_tests_clean(&path);
    Ok(())
}

/// A reader that hands out its bytes in pieces of 1 to 5,000 bytes, as a network
/// stream may.
struct Trickle<'a> {
    bytes: &'a [u8],
    seed: u64,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.seed = self
            .seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let piece = usize::try_from(self.seed >> 33).unwrap_or(0) % 5_000 + 1;
        let n = piece.min(buf.len()).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

#[test]
fn an_upload_deflates_to_the_same_bytes_on_a_used_stream_and_however_it_is_read(
) -> anyhow::Result<()> {
    // Text, noise, text exactly two buffers long, and nothing.
    let inputs = [
        chat_text(300_000, 1),
        noise(50_000, 2),
        chat_text(64 << 10, 3),
        Vec::new(),
    ];
    // Each on a thread of its own, whose deflate stream is new.
    let expected: Vec<Vec<u8>> = inputs
        .iter()
        .map(|raw| {
            let raw = raw.clone();
            std::thread::spawn(move || zip_write::deflate(&mut raw.as_slice(), Vec::new()))
                .join()
                .expect("no panic")
                .map(|(_, bytes)| bytes)
        })
        .collect::<anyhow::Result<_>>()?;
    // Then all on this thread's one stream, after a stream left unfinished with a
    // dictionary, and read in pieces.
    chunks::with_deflate(|deflate| {
        deflate.set_dictionary(b"a dictionary left behind")?;
        let mut out = Vec::new();
        let flush = flate2::FlushCompress::None;
        chunks::deflate_into(deflate, b"a stream never finished", flush, &mut out)
    })?;
    for (seed, (raw, expected)) in (0..).zip(inputs.iter().zip(&expected)) {
        let mut trickle = Trickle { bytes: raw, seed };
        let (found, bytes) = zip_write::deflate(&mut trickle, Vec::new())?;
        assert!(
            bytes == *expected,
            "{} raw bytes deflated differently",
            raw.len()
        );
        assert_eq!(found.size, raw.len() as u64);
        assert_eq!(found.compressed, bytes.len() as u64);
        assert_eq!(found.crc, crc32fast::hash(raw));
        let mut inflated = Vec::new();
        flate2::read::DeflateDecoder::new(bytes.as_slice()).read_to_end(&mut inflated)?;
        assert!(
            inflated == *raw,
            "{} raw bytes came back otherwise",
            raw.len()
        );
    }
    Ok(())
}
