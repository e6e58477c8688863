//! `udd import DIR`: load a Rocket.Chat workspace dump into the workspace store.
//!
//! Loading again is a sync: documents the store holds with the same `_updatedAt` are
//! left as they are, changed ones replaced, and the records of Rocket.Chat's trash
//! delete what they name. The newest date applied per collection is remembered, so the
//! next dump can hold only what changed since (`udd import --delta-query`).

mod batch;
mod summary;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use thiserror::Error;
use udd_domain::Message;
use udd_ports::{
    BlobKind, BlobStore, Collection, Deletion, Document, DumpEntry, Progress, StoreError,
    WorkspaceDump, WorkspaceWriter,
};

use self::batch::{always_written, change, version_of, Change, Writes};
pub use self::summary::{CollectionCounts, ImportSummary};

/// Documents written per transaction.
pub const DEFAULT_BATCH_SIZE: usize = 2_000;

/// Batches written per transaction while the store takes messages in bulk.
const BULK_BATCHES: usize = 5;

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

/// What one collection's load has read and not written yet.
struct Pending {
    collection: Collection,
    documents: Vec<Document>,
    /// Ids of `_hidden` messages, to remove should an earlier import have loaded them.
    hidden: Vec<String>,
    /// The trash's mark before this import: records up to it were applied already.
    trash_mark: Option<DateTime<Utc>>,
    /// Messages only, once the first batch is written: whether the store took the
    /// load in bulk (it held no message, so every one is new and none is looked up).
    bulk: Option<bool>,
}

impl Pending {
    fn len(&self) -> usize {
        self.documents.len() + self.hidden.len()
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
        let store = |e| ImportError::Store(anyhow::Error::new(e));
        let marks: HashMap<Collection, DateTime<Utc>> = self
            .writer
            .sync_marks()
            .map_err(store)?
            .into_iter()
            .collect();
        for collection in Collection::ALL {
            summary.counts_mut(collection);
            let mut pending = Pending {
                collection,
                documents: Vec::new(),
                hidden: Vec::new(),
                trash_mark: marks.get(&Collection::Trash).copied(),
                bulk: None,
            };
            let loaded = self.load(&mut pending, dump, progress, &mut summary);
            // Finished even when the load failed: what was written stays indexed.
            let finished = self.finish_bulk(&pending, &mut summary);
            let newest = loaded?;
            finished.map_err(store)?;
            let counts = summary.of(collection);
            // A file whose reading stopped early may have left out documents older than
            // the newest read: its mark stays, so the next delta asks for them again.
            if let (Some(newest), 0) = (newest, counts.malformed) {
                self.writer
                    .advance_sync_marks(&[(collection, newest)])
                    .map_err(store)?;
            }
            progress.finish(&describe_counts(collection, &counts));
        }
        self.blobs.sync().map_err(ImportError::Store)?;
        Ok(summary)
    }

    /// Loads one collection; returns the newest `_updatedAt` (`_deletedAt`) read.
    fn load(
        &self,
        pending: &mut Pending,
        dump: &dyn WorkspaceDump,
        progress: &dyn Progress,
        summary: &mut ImportSummary,
    ) -> Result<Option<DateTime<Utc>>, ImportError> {
        let collection = pending.collection;
        progress.start(collection.label(), dump.size(collection));
        let mut newest: Option<DateTime<Utc>> = None;
        // Store failures are carried out of the visitor separately from dump failures.
        let mut store_failure: Option<anyhow::Error> = None;
        let read = dump.read(collection, &mut |entry, bytes_read| {
            match entry {
                DumpEntry::Document(document) if !has_plain_file_id(&document) => {
                    // The dump reader refuses these already; a store key is never made
                    // from one whatever the dump, and one such document stops nothing.
                    summary.counts_mut(collection).skipped += 1;
                    summary.problem(format!(
                        "{}: skipped: its id is not a plain name",
                        describe(&document)
                    ));
                }
                DumpEntry::Document(document) => {
                    let (_, updated_at) = version_of(&document);
                    newest = newest.max(Some(updated_at));
                    pending.documents.push(document);
                }
                DumpEntry::Hidden { id } => {
                    summary.counts_mut(collection).hidden += 1;
                    pending.hidden.push(id);
                }
                DumpEntry::Skipped { at, reason } => {
                    summary.counts_mut(collection).skipped += 1;
                    summary.problem(format!("{at}: skipped: {reason}"));
                }
                DumpEntry::Malformed { at, error } => {
                    summary.counts_mut(collection).malformed += 1;
                    summary.problem(format!("{at}: malformed: {error}"));
                }
            }
            if pending.len() >= self.batch_limit(pending) {
                self.flush(pending, dump, summary).map_err(|e| {
                    store_failure = Some(e);
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
        self.flush(pending, dump, summary)
            .map_err(ImportError::Store)?;
        Ok(newest)
    }

    /// Writes what is pending: new and changed documents (with their bytes), then the
    /// deletions.
    fn flush(
        &self,
        pending: &mut Pending,
        dump: &dyn WorkspaceDump,
        summary: &mut ImportSummary,
    ) -> anyhow::Result<()> {
        let collection = pending.collection;
        let mut documents = std::mem::take(&mut pending.documents);
        let mut writes = Writes::default();
        if collection == Collection::Trash {
            for document in documents {
                let counts = summary.counts_mut(collection);
                counts.imported += 1;
                let (_, deleted_at) = version_of(&document);
                if pending.trash_mark.is_some_and(|mark| deleted_at <= mark) {
                    counts.unchanged += 1;
                } else {
                    counts.added += 1;
                }
                writes.push(document);
            }
        } else if !documents.is_empty() {
            let stored = if self.bulk(pending)? {
                HashMap::new()
            } else if collection == Collection::Messages {
                let messages: Vec<Message> = documents
                    .into_iter()
                    .filter_map(|d| match d {
                        Document::Message(message) => Some(message),
                        _ => None,
                    })
                    .collect();
                let stored = self.writer.message_versions(&messages)?;
                documents = messages.into_iter().map(Document::Message).collect();
                stored
            } else {
                let ids: Vec<String> = documents
                    .iter()
                    .map(|d| version_of(d).0.to_owned())
                    .collect();
                self.writer.versions(collection, &ids)?
            };
            for mut document in documents {
                let change = change(&document, &stored);
                summary.counts_mut(collection).count(change);
                if change == Change::Unchanged && !always_written(collection) {
                    continue;
                }
                let missing = self.attach_blob(&mut document, dump)?;
                let had_bytes = stored
                    .get(version_of(&document).0)
                    .is_some_and(|held| !held.missing_blob);
                // A delta holds the files uploaded since the last import only: one
                // whose bytes the store has keeps them (the store keeps the key).
                if let (Some(missing), false) = (missing, had_bytes) {
                    summary.counts_mut(collection).missing_blobs += 1;
                    summary.problem(missing);
                }
                writes.push(document);
            }
        }
        let deletions = writes.take_deletions();
        writes.write(self.writer.as_ref(), &mut summary.moves)?;
        let mut hidden = std::mem::take(&mut pending.hidden);
        if pending.bulk == Some(true) {
            // The store held no message when the load began, and copies are never loaded.
            hidden.clear();
        }
        self.delete(deletions, pending.trash_mark, summary)?;
        // An edit's history copy is never exported: one loaded before this rule existed
        // goes, whatever its date.
        let hidden: Vec<Deletion> = hidden
            .into_iter()
            .map(|id| Deletion {
                collection: Collection::Messages,
                id,
                deleted_at: DateTime::<Utc>::MAX_UTC,
            })
            .collect();
        self.delete(hidden, None, summary)
    }

    /// Documents pending before a write: more at once while the store takes messages
    /// in bulk (no lookups to bound; fewer, larger transactions write each page of the
    /// table fewer times).
    fn batch_limit(&self, pending: &Pending) -> usize {
        match pending.bulk {
            Some(true) => self.batch_size * BULK_BATCHES,
            _ => self.batch_size,
        }
    }

    /// Whether the documents pending are messages the store takes in bulk: asked of the
    /// store before the first batch of messages (not before: a dump without messages
    /// leaves the store as it is).
    fn bulk(&self, pending: &mut Pending) -> Result<bool, StoreError> {
        if pending.collection != Collection::Messages {
            return Ok(false);
        }
        match pending.bulk {
            Some(bulk) => Ok(bulk),
            None => {
                let bulk = self.writer.start_message_load()?;
                pending.bulk = Some(bulk);
                Ok(bulk)
            }
        }
    }

    /// Finishes a bulk load of messages. Of a message the dump held twice, the copy
    /// the store dropped was counted as added: it replaced one, so it was an update.
    fn finish_bulk(
        &self,
        pending: &Pending,
        summary: &mut ImportSummary,
    ) -> Result<(), StoreError> {
        if pending.bulk != Some(true) {
            return Ok(());
        }
        let dropped = self.writer.finish_message_load()?;
        let counts = summary.counts_mut(Collection::Messages);
        counts.added -= dropped.min(counts.added);
        counts.updated += dropped;
        Ok(())
    }

    /// Applies deletions, counting them under the collection they name, then deletes
    /// the bytes of the uploads and avatars they removed.
    fn delete(
        &self,
        deletions: Vec<Deletion>,
        trash_mark: Option<DateTime<Utc>>,
        summary: &mut ImportSummary,
    ) -> anyhow::Result<()> {
        if deletions.is_empty() {
            return Ok(());
        }
        let removed = self.writer.delete_documents(&deletions)?;
        let mut gone: std::collections::HashSet<(Collection, &str)> = Default::default();
        for (collection, id) in &removed.documents {
            gone.insert((*collection, id.as_str()));
        }
        for deletion in &deletions {
            let counts = summary.counts_mut(deletion.collection);
            if gone.contains(&(deletion.collection, deletion.id.as_str())) {
                counts.deleted += 1;
            } else if deletion.deleted_at != DateTime::<Utc>::MAX_UTC
                && trash_mark.is_none_or(|mark| deletion.deleted_at > mark)
            {
                counts.not_held += 1;
            }
        }
        summary.counts_mut(Collection::Messages).deleted += removed.messages_of_rooms;
        summary.counts_mut(Collection::Subscriptions).deleted += removed.subscriptions_of_rooms;
        for key in &removed.blobs {
            if let Err(e) = self.blobs.delete(key) {
                summary.problem(format!(
                    "the file {key} of a deleted upload or avatar could not be deleted: {e:#}"
                ));
            }
        }
        Ok(())
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

/// One line of the progress display: what changed in `collection`.
fn describe_counts(collection: Collection, counts: &CollectionCounts) -> String {
    let mut line = format!(
        "{}: {} added, {} updated, {} unchanged, {} deleted",
        collection.label(),
        counts.added,
        counts.updated,
        counts.unchanged,
        counts.deleted,
    );
    for (n, what) in [
        (counts.not_held, "deletions of documents not held"),
        (counts.hidden, "edit history copies left out"),
        (counts.skipped, "skipped"),
        (counts.malformed, "malformed"),
        (counts.missing_blobs, "without their file"),
    ] {
        if n > 0 {
            line.push_str(&format!(", {n} {what}"));
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;
    use std::io::Read;
    use udd_domain::Upload;
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
        writer.expect_sync_marks().returning(|| Ok(Vec::new()));
        writer
            .expect_versions()
            .withf(|_, ids| ids == ["F1"])
            .returning(|_, _| Ok(HashMap::new()));
        writer.expect_advance_sync_marks().returning(|_| Ok(()));
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
