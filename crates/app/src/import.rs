//! `udd import DIR`: load a Rocket.Chat workspace dump into the workspace store.

use std::sync::Arc;

use thiserror::Error;
use udd_domain::{Avatar, Message, Room, Subscription, Upload};
use udd_ports::{
    BlobKind, BlobStore, Collection, Document, DumpEntry, Moved, Progress, StoreError,
    WorkspaceDump, WorkspaceUser, WorkspaceWriter,
};

/// Documents written per transaction.
pub const DEFAULT_BATCH_SIZE: usize = 2_000;

/// Problems kept word for word in the summary; beyond that they are only counted.
const MAX_LISTED_PROBLEMS: usize = 200;

/// Counts for one collection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CollectionCounts {
    /// Documents written.
    pub imported: u64,
    /// Documents skipped for a missing or wrong required field.
    pub skipped: u64,
    /// Lines that were not JSON.
    pub malformed: u64,
    /// Uploads or avatars whose bytes were not in the dump (imported without a blob).
    pub missing_blobs: u64,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Counts per collection, in load order.
    pub counts: Vec<(Collection, CollectionCounts)>,
    /// The first problems, each with its file and line.
    pub problems: Vec<String>,
    /// How many problems there were in all.
    pub problem_count: u64,
    /// Usernames and e-mail addresses that changed hands since the last import.
    pub moves: Vec<Moved>,
}

impl ImportSummary {
    /// The counts of `collection`.
    pub fn of(&self, collection: Collection) -> CollectionCounts {
        self.counts
            .iter()
            .find(|(c, _)| *c == collection)
            .map(|(_, counts)| *counts)
            .unwrap_or_default()
    }

    /// Documents not imported (skipped or malformed), across all collections.
    pub fn not_imported(&self) -> u64 {
        self.counts
            .iter()
            .map(|(_, counts)| counts.skipped + counts.malformed)
            .sum()
    }

    fn problem(&mut self, text: String) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED_PROBLEMS {
            self.problems.push(text);
        }
    }
}

/// Why an import stopped.
#[derive(Debug, Error)]
pub enum ImportError {
    /// The dump could not be read (I/O).
    #[error("reading the dump failed")]
    Dump(#[source] anyhow::Error),
    /// The store refused a batch; the batches before it are kept.
    #[error("writing to the workspace store failed")]
    Store(#[source] anyhow::Error),
}

/// Loads dumps, in batches, idempotently.
#[derive(Clone)]
pub struct ImportWorkspace {
    writer: Arc<dyn WorkspaceWriter>,
    blobs: Arc<dyn BlobStore>,
    batch_size: usize,
}

/// The documents waiting for the next write; one collection at a time.
#[derive(Default)]
struct Batch {
    users: Vec<WorkspaceUser>,
    rooms: Vec<Room>,
    subscriptions: Vec<Subscription>,
    messages: Vec<Message>,
    uploads: Vec<Upload>,
    avatars: Vec<Avatar>,
    len: usize,
}

impl Batch {
    fn push(&mut self, document: Document) {
        self.len += 1;
        match document {
            Document::User(user) => self.users.push(user),
            Document::Room(room) => self.rooms.push(room),
            Document::Subscription(sub) => self.subscriptions.push(sub),
            Document::Message(message) => self.messages.push(message),
            Document::Upload(upload) => self.uploads.push(upload),
            Document::Avatar(avatar) => self.avatars.push(avatar),
        }
    }

    /// Writes what is pending and returns how many documents that was, adding the
    /// usernames and addresses that changed hands to `moves`.
    fn flush(
        &mut self,
        writer: &dyn WorkspaceWriter,
        moves: &mut Vec<Moved>,
    ) -> Result<u64, StoreError> {
        if !self.users.is_empty() {
            moves.extend(writer.upsert_users(&self.users)?);
        }
        if !self.rooms.is_empty() {
            writer.upsert_rooms(&self.rooms)?;
        }
        if !self.subscriptions.is_empty() {
            writer.upsert_subscriptions(&self.subscriptions)?;
        }
        if !self.uploads.is_empty() {
            writer.upsert_uploads(&self.uploads)?;
        }
        if !self.avatars.is_empty() {
            writer.upsert_avatars(&self.avatars)?;
        }
        if !self.messages.is_empty() {
            writer.upsert_messages(&self.messages)?;
        }
        let written = self.len as u64;
        *self = Self::default();
        Ok(written)
    }
}

impl ImportWorkspace {
    /// Builds the use case.
    pub fn new(writer: Arc<dyn WorkspaceWriter>, blobs: Arc<dyn BlobStore>) -> Self {
        Self {
            writer,
            blobs,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }

    /// Loads every collection of `dump`, reporting progress, and says what it did.
    pub fn execute(
        &self,
        dump: &dyn WorkspaceDump,
        progress: &dyn Progress,
    ) -> Result<ImportSummary, ImportError> {
        let mut summary = ImportSummary::default();
        for collection in Collection::ALL {
            let counts = self.load(collection, dump, progress, &mut summary)?;
            progress.finish(&format!(
                "{}: {} imported, {} skipped, {} malformed{}",
                collection.label(),
                counts.imported,
                counts.skipped,
                counts.malformed,
                if counts.missing_blobs > 0 {
                    format!(", {} without their file", counts.missing_blobs)
                } else {
                    String::new()
                }
            ));
            summary.counts.push((collection, counts));
        }
        self.blobs.sync().map_err(ImportError::Store)?;
        Ok(summary)
    }

    fn load(
        &self,
        collection: Collection,
        dump: &dyn WorkspaceDump,
        progress: &dyn Progress,
        summary: &mut ImportSummary,
    ) -> Result<CollectionCounts, ImportError> {
        progress.start(collection.label(), dump.size(collection));
        let mut counts = CollectionCounts::default();
        let mut batch = Batch::default();
        // Store failures are carried out of the visitor separately from dump failures.
        let mut store_failure: Option<anyhow::Error> = None;
        let read = dump.read(collection, &mut |entry, bytes_read| {
            match entry {
                DumpEntry::Document(document) if !has_plain_file_id(&document) => {
                    // The dump reader refuses these already; a store key is never made
                    // from one whatever the dump, and one such document stops nothing.
                    counts.skipped += 1;
                    summary.problem(format!(
                        "{}: skipped: its id is not a plain name",
                        describe(&document)
                    ));
                }
                DumpEntry::Document(mut document) => {
                    if let Some(missing) = self.attach_blob(&mut document, dump).map_err(|e| {
                        store_failure = Some(e);
                        anyhow::anyhow!("blob store failed")
                    })? {
                        counts.missing_blobs += 1;
                        summary.problem(missing);
                    }
                    batch.push(document);
                }
                DumpEntry::Skipped { at, reason } => {
                    counts.skipped += 1;
                    summary.problem(format!("{at}: skipped: {reason}"));
                }
                DumpEntry::Malformed { at, error } => {
                    counts.malformed += 1;
                    summary.problem(format!("{at}: malformed: {error}"));
                }
            }
            if batch.len >= self.batch_size {
                counts.imported += batch
                    .flush(self.writer.as_ref(), &mut summary.moves)
                    .map_err(|e| {
                        store_failure = Some(anyhow::Error::new(e));
                        anyhow::anyhow!("store failed")
                    })?;
                progress.set(bytes_read);
            }
            Ok(())
        });
        if let Some(failure) = store_failure {
            return Err(ImportError::Store(failure));
        }
        read.map_err(ImportError::Dump)?;
        counts.imported += batch
            .flush(self.writer.as_ref(), &mut summary.moves)
            .map_err(|e| ImportError::Store(anyhow::Error::new(e)))?;
        Ok(counts)
    }

    /// Copies an upload's or avatar's bytes into the blob store and records the key;
    /// returns a problem line when the dump has no bytes for it.
    fn attach_blob(
        &self,
        document: &mut Document,
        dump: &dyn WorkspaceDump,
    ) -> anyhow::Result<Option<String>> {
        let (kind, id, blob, what) = match document {
            Document::Upload(upload) => (
                BlobKind::Upload,
                upload.id.to_string(),
                &mut upload.blob,
                format!("upload {} ({})", upload.id, upload.name),
            ),
            Document::Avatar(avatar) => (
                BlobKind::Avatar,
                avatar.id.clone(),
                &mut avatar.blob,
                format!("avatar {} of {}", avatar.id, avatar.username),
            ),
            _ => return Ok(None),
        };
        match dump.open_blob(kind, &id)? {
            Some(mut content) => {
                *blob = Some(self.blobs.put(kind, &id, &mut content)?);
                Ok(None)
            }
            // Kept where Rocket.Chat keeps it (its S3 bucket), read there when exported.
            None if blob.is_some() => Ok(None),
            None => Ok(Some(format!(
                "{what}: file missing from the dump; imported without it"
            ))),
        }
    }
}

/// Whether an upload's or avatar's id can key its stored bytes (other documents store
/// no bytes).
fn has_plain_file_id(document: &Document) -> bool {
    match document {
        Document::Upload(upload) => udd_domain::is_plain_id(&upload.id),
        Document::Avatar(avatar) => udd_domain::is_plain_id(&avatar.id),
        _ => true,
    }
}

/// An upload or avatar named for a problem line, its id escaped.
fn describe(document: &Document) -> String {
    match document {
        Document::Upload(upload) => format!("upload {:?}", upload.id),
        Document::Avatar(avatar) => format!("avatar {:?}", avatar.id),
        _ => "document".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use std::io::Read;
    use udd_ports::{MockBlobStore, MockWorkspaceWriter, NoProgress};

    /// A dump of uploads only, whatever their ids, each with bytes.
    struct Uploads(Vec<&'static str>);

    impl WorkspaceDump for Uploads {
        fn read(
            &self,
            collection: Collection,
            visit: &mut dyn FnMut(DumpEntry, u64) -> anyhow::Result<()>,
        ) -> anyhow::Result<()> {
            if collection != Collection::Uploads {
                return Ok(());
            }
            for id in &self.0 {
                let upload = Upload {
                    id: (*id).into(),
                    room_id: None,
                    user_id: None,
                    name: "x".into(),
                    content_type: None,
                    size: 1,
                    blob: None,
                    uploaded_at: DateTime::UNIX_EPOCH,
                    updated_at: DateTime::UNIX_EPOCH,
                };
                visit(DumpEntry::Document(Document::Upload(upload)), 0)?;
            }
            Ok(())
        }

        fn size(&self, _: Collection) -> Option<u64> {
            None
        }

        fn open_blob(&self, _: BlobKind, _: &str) -> anyhow::Result<Option<Box<dyn Read + Send>>> {
            Ok(Some(Box::new(&b"x"[..])))
        }
    }

    #[test]
    fn an_upload_whose_id_is_not_a_plain_name_is_skipped_whatever_the_dump() {
        let mut writer = MockWorkspaceWriter::new();
        writer
            .expect_upsert_uploads()
            .withf(|uploads| uploads.len() == 1 && uploads[0].id == "F1")
            .times(1)
            .returning(|_| Ok(()));
        let mut blobs = MockBlobStore::new();
        blobs
            .expect_put()
            .withf(|_, id, _| id == "F1")
            .times(1)
            .returning(|_, id, _| Ok(format!("uploads/{id}")));
        blobs.expect_sync().returning(|| Ok(()));
        let summary = ImportWorkspace::new(Arc::new(writer), Arc::new(blobs))
            .execute(&Uploads(vec!["../x", "F1", "a b"]), &NoProgress)
            .unwrap_or_else(|e| panic!("{e:#}"));
        let counts = summary.of(Collection::Uploads);
        assert_eq!((counts.imported, counts.skipped), (1, 2));
        assert_eq!(summary.not_imported(), 2);
        assert!(
            summary.problems[0].contains(r#"upload "../x""#),
            "{:?}",
            summary.problems
        );
    }
}
