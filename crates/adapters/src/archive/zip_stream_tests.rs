use std::fs::File;
use std::io::{Cursor, Read};
use std::path::Path;

use super::*;
use crate::archive::deflate;

fn stamp() -> zip::DateTime {
    crate::archive::zip_time(chrono::DateTime::from_timestamp(1_709_283_952, 0).unwrap_or_default())
}

/// An entry `name` holding `content`, deflated.
fn entry(name: &str, content: &[u8]) -> anyhow::Result<(EntryHead, Vec<u8>)> {
    let (found, data) = deflate(&mut &content[..], Vec::new())?;
    let head = EntryHead {
        name: name.to_owned(),
        method: found.method,
        crc: found.crc,
        size: found.size,
        compressed: found.compressed,
        stamp: stamp(),
    };
    Ok((head, data))
}

/// Runs `unzip -t` on `path` when the machine has it: it must find no error.
pub(in crate::archive) fn unzip_tests_clean(path: &Path) {
    match std::process::Command::new("unzip")
        .arg("-tqq")
        .arg(path)
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "unzip -t: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => eprintln!("unzip not run: {e}"),
    }
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or_default())
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default())
}

#[test]
fn entries_read_back_with_their_names_contents_times_and_permissions() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("a.zip");
    let mut zip = ZipStream::new(File::create(&path)?, tempfile::tempfile()?);
    let text = "grüße ".repeat(10_000);
    for (name, content) in [
        ("a.txt", &b"hello"[..]),
        ("assets/F1-été.txt", text.as_bytes()),
        ("empty", &b""[..]),
    ] {
        let (head, data) = entry(name, content)?;
        zip.append(&head, &mut data.as_slice())?;
    }
    assert_eq!(zip.entries(), 3);
    zip.finish()?;

    let mut archive = zip::ZipArchive::new(File::open(&path)?)?;
    assert_eq!(
        archive.file_names().collect::<Vec<_>>(),
        ["a.txt", "assets/F1-été.txt", "empty"]
    );
    let mut file = archive.by_name("assets/F1-été.txt")?;
    assert_eq!(file.unix_mode(), Some(0o100_644));
    assert_eq!(file.compression(), zip::CompressionMethod::Deflated);
    assert_eq!(file.last_modified(), Some(stamp()));
    let mut read = String::new();
    file.read_to_string(&mut read)?;
    assert_eq!(read, text);
    drop(file);
    let bytes = std::fs::read(&path)?;
    assert_eq!(u16_at(&bytes, 6), 0x0800, "names are flagged UTF-8");
    assert_eq!(
        u32_at(&bytes, bytes.len() - 22),
        0x0605_4b50,
        "a small archive ends with the classic end record only"
    );
    assert_ne!(u32_at(&bytes, bytes.len() - 42), 0x0706_4b50);
    unzip_tests_clean(&path);
    Ok(())
}

#[test]
fn a_stored_entry_says_so_in_both_headers_and_reads_back() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("a.zip");
    let mut zip = ZipStream::new(File::create(&path)?, tempfile::tempfile()?);
    let content = b"already compressed, say";
    let head = EntryHead {
        name: "photo.jpg".into(),
        method: Method::Stored,
        crc: crc32fast::hash(content),
        size: content.len() as u64,
        compressed: content.len() as u64,
        stamp: stamp(),
    };
    zip.append(&head, &mut &content[..])?;
    zip.finish()?;

    let bytes = std::fs::read(&path)?;
    assert_eq!(u16_at(&bytes, 4), 10, "version needed to extract: 1.0");
    assert_eq!(u16_at(&bytes, 8), 0, "method: stored");
    let central = bytes.len() - 22 - (46 + head.name.len());
    assert_eq!(u32_at(&bytes, central), 0x0201_4b50);
    assert_eq!(u16_at(&bytes, central + 6), 10);
    assert_eq!(u16_at(&bytes, central + 10), 0);
    let mut archive = zip::ZipArchive::new(File::open(&path)?)?;
    let mut file = archive.by_name("photo.jpg")?;
    assert_eq!(file.compression(), zip::CompressionMethod::Stored);
    let mut read = Vec::new();
    file.read_to_end(&mut read)?;
    assert_eq!(read, content);
    unzip_tests_clean(&path);
    Ok(())
}

#[test]
fn data_shorter_than_announced_is_refused() -> anyhow::Result<()> {
    let (mut head, data) = entry("a.txt", b"hello")?;
    head.compressed += 1;
    let mut zip = ZipStream::new(Vec::new(), Cursor::new(Vec::new()));
    assert!(zip.append(&head, &mut data.as_slice()).is_err());
    Ok(())
}

#[test]
fn more_than_65535_entries_end_with_zip64_records_that_readers_follow() -> anyhow::Result<()> {
    const COUNT: u64 = 70_000;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("many.zip");
    let output = std::io::BufWriter::new(File::create(&path)?);
    let mut zip = ZipStream::new(output, tempfile::tempfile()?);
    let (mut head, data) = entry("", b"")?;
    for i in 0..COUNT {
        head.name = format!("e{i}");
        zip.append(&head, &mut data.as_slice())?;
    }
    zip.finish()?.into_inner().map_err(|e| e.into_error())?;

    let bytes = std::fs::read(&path)?;
    let end = bytes.len() - 22;
    assert_eq!(u32_at(&bytes, end), 0x0605_4b50);
    assert_eq!(
        u16_at(&bytes, end + 8),
        0xFFFF,
        "the count is in the zip64 record"
    );
    assert_eq!(u16_at(&bytes, end + 10), 0xFFFF);
    let locator = end - 20;
    assert_eq!(u32_at(&bytes, locator), 0x0706_4b50);
    let record = usize::try_from(u64_at(&bytes, locator + 8))?;
    assert_eq!(
        record,
        locator - 56,
        "the locator points at the zip64 record"
    );
    assert_eq!(u32_at(&bytes, record), 0x0606_4b50);
    assert_eq!(u64_at(&bytes, record + 4), 44);
    assert_eq!(u64_at(&bytes, record + 24), COUNT);
    assert_eq!(u64_at(&bytes, record + 32), COUNT);
    let (directory_len, directory_start) =
        (u64_at(&bytes, record + 40), u64_at(&bytes, record + 48));
    assert_eq!(directory_start + directory_len, record as u64);
    assert_eq!(
        u32_at(&bytes, usize::try_from(directory_start)?),
        0x0201_4b50
    );

    let mut archive = zip::ZipArchive::new(File::open(&path)?)?;
    assert_eq!(archive.len() as u64, COUNT);
    let mut last = archive.by_index(usize::try_from(COUNT - 1)?)?;
    assert_eq!(last.name(), format!("e{}", COUNT - 1));
    let mut read = Vec::new();
    last.read_to_end(&mut read)?;
    assert!(read.is_empty());
    unzip_tests_clean(&path);
    Ok(())
}

#[test]
fn an_entry_past_four_gib_has_its_offset_in_a_zip64_field() -> anyhow::Result<()> {
    use std::io::{Seek, SeekFrom};
    // A sparse file whose first 5 GiB are a hole: the entries are written past it,
    // with offsets counted from the file's start, as in a very large archive.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("far.zip");
    let start = 5_u64 << 30;
    let mut file = File::create(&path)?;
    file.seek(SeekFrom::Start(start))?;
    let mut zip = ZipStream::starting_at(file, tempfile::tempfile()?, start);
    for (name, content) in [("a.txt", &b"first"[..]), ("b.txt", &b"second"[..])] {
        let (head, data) = entry(name, content)?;
        zip.append(&head, &mut data.as_slice())?;
    }
    zip.finish()?;

    let mut archive = zip::ZipArchive::new(File::open(&path)?)?;
    let mut read = String::new();
    archive.by_name("b.txt")?.read_to_string(&mut read)?;
    assert_eq!(read, "second");
    let mut tail = Vec::new();
    let mut file = File::open(&path)?;
    file.seek(SeekFrom::End(-300))?;
    file.read_to_end(&mut tail)?;
    let end = tail.len() - 22;
    assert_eq!(u32_at(&tail, end), 0x0605_4b50);
    assert_eq!(
        u16_at(&tail, end + 10),
        2,
        "two entries fit the classic count"
    );
    assert_eq!(
        u32_at(&tail, end + 16),
        u32::MAX,
        "the directory starts past 4 GiB"
    );
    assert_eq!(u32_at(&tail, end - 20), 0x0706_4b50);
    unzip_tests_clean(&path);
    Ok(())
}

#[test]
fn sizes_of_four_gib_or_more_go_in_zip64_fields_of_both_headers() -> anyhow::Result<()> {
    let head = EntryHead {
        name: "big.bin".into(),
        method: Method::Deflated,
        crc: 7,
        size: 5 << 30,
        compressed: 4 << 30,
        stamp: stamp(),
    };
    let local = local_header(&head)?;
    assert_eq!(u16_at(&local, 4), 45, "version needed: zip64");
    assert_eq!(
        (u32_at(&local, 18), u32_at(&local, 22)),
        (u32::MAX, u32::MAX)
    );
    assert_eq!(u16_at(&local, 28), 20, "the extra field holds both sizes");
    let extra = 30 + head.name.len();
    assert_eq!((u16_at(&local, extra), u16_at(&local, extra + 2)), (1, 16));
    assert_eq!(u64_at(&local, extra + 4), head.size);
    assert_eq!(u64_at(&local, extra + 12), head.compressed);

    // In the central record: only what does not fit, in the format's order.
    let offset = 6_u64 << 30;
    let central = central_record(&head, offset)?;
    assert_eq!(u16_at(&central, 4), (3 << 8) | 45, "made by unix");
    assert_eq!(u16_at(&central, 6), 45);
    assert_eq!(
        (u32_at(&central, 20), u32_at(&central, 24)),
        (u32::MAX, u32::MAX)
    );
    assert_eq!(u32_at(&central, 38), 0o100_644 << 16);
    assert_eq!(u32_at(&central, 42), u32::MAX);
    let extra = 46 + head.name.len();
    assert_eq!(
        (u16_at(&central, extra), u16_at(&central, extra + 2)),
        (1, 24)
    );
    assert_eq!(u64_at(&central, extra + 4), head.size);
    assert_eq!(u64_at(&central, extra + 12), head.compressed);
    assert_eq!(u64_at(&central, extra + 20), offset);

    let small = EntryHead {
        size: 10,
        compressed: 12,
        ..head
    };
    let central = central_record(&small, offset)?;
    assert_eq!(
        u16_at(&central, 30),
        12,
        "only the offset is in the extra field"
    );
    assert_eq!(u32_at(&central, 20), 12);
    assert_eq!(u64_at(&central, 46 + small.name.len() + 4), offset);
    assert_eq!(
        u16_at(&local_header(&small)?, 28),
        0,
        "a small local header has no extra"
    );
    Ok(())
}

#[test]
fn the_central_directory_waits_in_its_spill_file_not_in_memory() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let spill = dir.path().join("central-directory");
    let directory = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&spill)?;
    let mut zip = ZipStream::new(std::io::sink(), directory);
    let (mut head, data) = entry("", b"")?;
    let mut records = 0;
    for i in 0..20_000 {
        head.name = format!("assets/F{i:08}-photo.jpg");
        records += central_record(&head, 0)?.len();
        zip.append(&head, &mut data.as_slice())?;
    }
    let on_disk = usize::try_from(std::fs::metadata(&spill)?.len())?;
    assert!(
        on_disk + DIRECTORY_BUFFER >= records,
        "{on_disk} bytes of {records} spilled: the rest would be in memory"
    );
    assert!(on_disk > 0 && on_disk <= records);
    zip.finish()?;
    Ok(())
}
