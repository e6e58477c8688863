//! `udd import DIR`: load a Rocket.Chat workspace dump into the workspace store.

use std::sync::Arc;

use thiserror::Error;
use udd_domain::{Avatar, Message, Room, Subscription, Upload};
use udd_ports::{
    BlobKind, BlobStore, Collection, Document, DumpEntry, Progress, StoreError, WorkspaceDump,
    WorkspaceUser, WorkspaceWriter,
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

    /// Writes what is pending and returns how many documents that was.
    fn flush(&mut self, writer: &dyn WorkspaceWriter) -> Result<u64, StoreError> {
        if !self.users.is_empty() {
            writer.upsert_users(&self.users)?;
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
                counts.imported += batch.flush(self.writer.as_ref()).map_err(|e| {
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
            .flush(self.writer.as_ref())
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
                upload.id.clone(),
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
            None => Ok(Some(format!(
                "{what}: file missing from the dump; imported without it"
            ))),
        }
    }
}
