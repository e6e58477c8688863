//! In-memory adapters: blobs, archives and mail kept in the process, for tests and for
//! embedding udd without a disk or a mail server. Swapped in through the composition
//! root's builder like any other backend.

use std::collections::HashMap;
use std::io::{Cursor, Read};
use std::sync::{Arc, Mutex, MutexGuard};
use udd_domain::OperationId;

use anyhow::Context;
use chrono::{DateTime, Utc};
use udd_ports::{
    ArchiveEntry, ArchiveRead, ArchiveSource, ArchiveStore, BlobKind, BlobStore, ByteRange,
    ExportFiles, MailError, Mailer, OutgoingMail, WorkingRange,
};

use crate::archive::{
    archive_key, check_archive_name, deflate, operation_of_key, zip_time, Part, PartData, ZipStream,
};
use crate::blobs::blob_key;
use crate::hashing::sha256_of;

/// Named byte strings behind a lock.
#[derive(Debug, Default)]
struct Bytes(Mutex<HashMap<String, Arc<Vec<u8>>>>);

impl Bytes {
    fn map(&self) -> anyhow::Result<MutexGuard<'_, HashMap<String, Arc<Vec<u8>>>>> {
        self.0
            .lock()
            .map_err(|_| anyhow::anyhow!("an in-memory store was poisoned"))
    }

    fn get(&self, key: &str) -> anyhow::Result<Option<Arc<Vec<u8>>>> {
        Ok(self.map()?.get(key).cloned())
    }

    fn put(&self, key: String, bytes: Vec<u8>) -> anyhow::Result<()> {
        self.map()?.insert(key, Arc::new(bytes));
        Ok(())
    }

    fn remove(&self, key: &str) -> anyhow::Result<()> {
        self.map()?.remove(key);
        Ok(())
    }
}

/// A reader over shared bytes, so an open blob or archive outlives a later replacement.
struct SharedReader {
    bytes: Arc<Vec<u8>>,
    at: usize,
    end: usize,
}

impl Read for SharedReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = &self.bytes[self.at..self.end];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.at += n;
        Ok(n)
    }
}

fn reader(bytes: Arc<Vec<u8>>, start: usize, end: usize) -> Box<dyn Read + Send> {
    Box::new(SharedReader {
        bytes,
        at: start,
        end,
    })
}

/// Upload and avatar bytes in memory, keyed as the local store keys them
/// (`uploads/<id>`, `avatars/<id>`).
#[derive(Debug, Default)]
pub struct MemoryBlobStore {
    blobs: Bytes,
}

impl MemoryBlobStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl BlobStore for MemoryBlobStore {
    fn put(&self, kind: BlobKind, id: &str, content: &mut dyn Read) -> anyhow::Result<String> {
        let key = blob_key(kind, id)?;
        let mut bytes = Vec::new();
        content.read_to_end(&mut bytes)?;
        self.blobs.put(key.clone(), bytes)?;
        Ok(key)
    }

    fn open(&self, key: &str) -> anyhow::Result<Option<Box<dyn Read + Send>>> {
        Ok(self.blobs.get(key)?.map(|bytes| {
            let end = bytes.len();
            reader(bytes, 0, end)
        }))
    }

    fn sync(&self) -> anyhow::Result<()> {
        Ok(())
    }

    fn describe(&self, key: &str) -> anyhow::Result<Option<(u64, String)>> {
        match self.blobs.get(key)? {
            Some(bytes) => Ok(Some(sha256_of(&mut bytes.as_slice())?)),
            None => Ok(None),
        }
    }

    fn delete(&self, key: &str) -> anyhow::Result<()> {
        self.blobs.remove(key)
    }
}

/// Finished archives in memory, keyed `exports/<operation id>.zip`, zipped from the
/// operation's working files and the blob store exactly as the local store zips them.
pub struct MemoryArchiveStore {
    working: Arc<dyn ExportFiles>,
    blobs: Arc<dyn BlobStore>,
    archives: Bytes,
}

impl std::fmt::Debug for MemoryArchiveStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryArchiveStore").finish_non_exhaustive()
    }
}

impl MemoryArchiveStore {
    /// Archives made from `working` folders and `blobs`.
    pub fn new(working: Arc<dyn ExportFiles>, blobs: Arc<dyn BlobStore>) -> Self {
        Self {
            working,
            blobs,
            archives: Bytes::default(),
        }
    }

    /// The keys of the archives held, sorted.
    pub fn keys(&self) -> anyhow::Result<Vec<String>> {
        let mut keys: Vec<String> = self.archives.map()?.keys().cloned().collect();
        keys.sort();
        Ok(keys)
    }

    fn archive(&self, key: &str) -> anyhow::Result<Option<Arc<Vec<u8>>>> {
        anyhow::ensure!(
            operation_of_key(key).is_some(),
            "`{key}` is not an archive key of this store"
        );
        self.archives.get(key)
    }
}

impl ArchiveStore for MemoryArchiveStore {
    fn store(
        &self,
        operation_id: &OperationId,
        entries: &mut dyn Iterator<Item = anyhow::Result<ArchiveEntry>>,
        modified: DateTime<Utc>,
    ) -> anyhow::Result<String> {
        check_archive_name(operation_id)?;
        let stamp = zip_time(modified);
        let mut zip = ZipStream::new(Vec::new(), Cursor::new(Vec::new()));
        for entry in entries {
            let entry = entry?;
            crate::fs::inside(std::path::Path::new(""), &entry.name)?;
            let mut content = match &entry.source {
                ArchiveSource::Working(name) => self.working.open(operation_id, name)?,
                ArchiveSource::WorkingRange(part) => {
                    let mut file = self.working.open(operation_id, &part.file)?;
                    std::io::copy(
                        &mut (&mut file).take(part.range.start),
                        &mut std::io::sink(),
                    )?;
                    Box::new(file.take(part.range.len))
                }
                ArchiveSource::Blob(key) => self
                    .blobs
                    .open(key)?
                    .with_context(|| format!("blob {key} is gone"))?,
            };
            let (found, bytes) = deflate(&mut content, Vec::new())
                .with_context(|| format!("compressing {}", entry.name))?;
            Part::new(&entry.name, stamp, found, PartData::Memory(bytes)).append_to(&mut zip)?;
        }
        let key = archive_key(operation_id);
        self.archives.put(key.clone(), zip.finish()?)?;
        Ok(key)
    }

    fn prepare(
        &self,
        _operation_id: &OperationId,
        _part: &WorkingRange,
        _complete: bool,
    ) -> anyhow::Result<()> {
        // Nothing to gain ahead of time: the whole archive is written in memory at once.
        Ok(())
    }

    fn describe(&self, key: &str) -> anyhow::Result<(u64, String)> {
        let bytes = self
            .archive(key)?
            .with_context(|| format!("no archive {key}"))?;
        Ok(sha256_of(&mut bytes.as_slice())?)
    }

    fn size(&self, key: &str) -> anyhow::Result<Option<u64>> {
        Ok(self.archive(key)?.map(|bytes| bytes.len() as u64))
    }

    fn open(&self, key: &str, range: Option<ByteRange>) -> anyhow::Result<Option<ArchiveRead>> {
        let Some(bytes) = self.archive(key)? else {
            return Ok(None);
        };
        let total = bytes.len() as u64;
        let (range, end) = ByteRange::inside(range, total, key)?;
        let (start, end) = (usize::try_from(range.start)?, usize::try_from(end)?);
        Ok(Some(ArchiveRead {
            body: reader(bytes, start, end),
            len: range.len,
            total,
        }))
    }

    fn remove(&self, key: &str) -> anyhow::Result<()> {
        self.archive(key)?;
        self.archives.map()?.remove(key);
        Ok(())
    }
}

/// A mailer that keeps every message it is handed, for tests to read.
#[derive(Debug, Default)]
pub struct RecordingMailer {
    sent: Mutex<Vec<OutgoingMail>>,
}

impl RecordingMailer {
    /// A mailer with nothing sent yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every mail handed over so far, oldest first.
    pub fn sent(&self) -> Vec<OutgoingMail> {
        self.sent
            .lock()
            .map(|sent| sent.clone())
            .unwrap_or_default()
    }
}

impl Mailer for RecordingMailer {
    fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        self.sent
            .lock()
            .map_err(|_| MailError::Unavailable(anyhow::anyhow!("the recording was poisoned")))?
            .push(mail.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::LocalExportFiles;

    #[test]
    fn blobs_read_back_and_refuse_ids_that_are_not_names() -> anyhow::Result<()> {
        let store = MemoryBlobStore::new();
        let key = store.put(BlobKind::Upload, "F1", &mut &b"first"[..])?;
        assert_eq!(key, "uploads/F1");
        let mut text = String::new();
        store
            .open(&key)?
            .context("present")?
            .read_to_string(&mut text)?;
        assert_eq!(text, "first");
        assert_eq!(store.describe(&key)?.map(|d| d.0), Some(5));
        assert!(store.open("avatars/F1")?.is_none());
        assert!(store.put(BlobKind::Upload, "../x", &mut &b"x"[..]).is_err());
        store.delete(&key)?;
        assert!(store.open(&key)?.is_none(), "deleted");
        store.delete(&key)?;
        Ok(())
    }

    #[test]
    fn an_archive_holds_working_files_and_blobs_and_opens_by_range() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let working = Arc::new(LocalExportFiles::new(dir.path()));
        working.write(&"OP".into(), "a.txt", b"from the folder")?;
        let blobs = Arc::new(MemoryBlobStore::new());
        let blob = blobs.put(BlobKind::Upload, "F1", &mut &b"from a blob"[..])?;
        let store = MemoryArchiveStore::new(working, blobs);
        let entries = [
            ArchiveEntry {
                name: "a.txt".into(),
                source: ArchiveSource::Working("a.txt".into()),
            },
            ArchiveEntry {
                name: "assets/F1-b.txt".into(),
                source: ArchiveSource::Blob(blob),
            },
        ];
        let key = store.store(
            &"OP".into(),
            &mut entries.into_iter().map(Ok),
            DateTime::UNIX_EPOCH,
        )?;
        assert_eq!(key, "exports/OP.zip");
        assert_eq!(store.keys()?, vec![key.clone()]);

        let mut whole = Vec::new();
        store
            .open(&key, None)?
            .context("stored")?
            .body
            .read_to_end(&mut whole)?;
        let mut zip = zip::ZipArchive::new(Cursor::new(whole.clone()))?;
        let mut text = String::new();
        zip.by_name("assets/F1-b.txt")?.read_to_string(&mut text)?;
        assert_eq!(text, "from a blob");
        assert_eq!(store.describe(&key)?.0, whole.len() as u64);
        assert_eq!(store.size(&key)?, Some(whole.len() as u64));

        let mut part = Vec::new();
        let range = ByteRange { start: 2, len: 5 };
        store
            .open(&key, Some(range))?
            .context("stored")?
            .body
            .read_to_end(&mut part)?;
        assert_eq!(part, &whole[2..7]);
        let past = ByteRange {
            start: whole.len() as u64,
            len: 1,
        };
        assert!(store.open(&key, Some(past)).is_err());

        store.remove(&key)?;
        assert!(store.open(&key, None)?.is_none());
        assert!(store.remove("../etc/passwd").is_err());
        Ok(())
    }

    #[test]
    fn the_recording_mailer_keeps_what_it_was_handed() -> anyhow::Result<()> {
        let mailer = RecordingMailer::new();
        let mail = OutgoingMail {
            to: "alice@example.org".into(),
            to_name: None,
            from_name: None,
            subject: "Ready".into(),
            text: "t".into(),
            html: "h".into(),
            link: None,
        };
        mailer.send(&mail)?;
        assert_eq!(mailer.sent(), [mail]);
        Ok(())
    }
}
