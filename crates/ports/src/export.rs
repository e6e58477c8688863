//! What the export engine needs: a queue of operations with leases, durable progress,
//! the operation's working files, the archive store, and a way to be woken up.

use std::io::Read;
use std::time::Duration;

use chrono::{DateTime, Utc};
use udd_domain::render::ManifestFile;
use udd_domain::{ExportOperation, ExportStatus, RoomExport};

use crate::{StoreError, UserDataFile};
use udd_domain::{OperationId, UploadId};

/// An upload an export copies into `assets/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportFileRef {
    /// The upload id.
    pub file_id: UploadId,
    /// The original name (untrusted; shown, never used as a path).
    pub name: String,
    /// The safe name inside `assets/`.
    pub asset: String,
}

/// One committed batch: the room's new progress and what the batch introduced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportBatch {
    /// The room's position in the operation's room list.
    pub room_index: usize,
    /// The room's progress after the batch (cursor, count, committed length, status).
    pub room: RoomExport,
    /// Pseudonyms first assigned in the batch, as (username, alias).
    pub pseudonyms: Vec<(String, String)>,
    /// Uploads first met in the batch.
    pub files: Vec<ExportFileRef>,
}

/// Taking operations to work on. A lease (owner + expiry) keeps two workers, threads or
/// processes, off one operation; an expired lease lets another worker take over.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait ExportQueue: Send + Sync {
    /// Leases the oldest unfinished operation that nobody holds (no lease, or an
    /// expired one, and no retry pending) to `owner` until `until`, counting the attempt.
    ///
    /// Errors: `Unexpected` only.
    fn claim_next(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<ExportOperation>, StoreError>;

    /// Leases operation `id` like [`ExportQueue::claim_next`]; `None` when it is
    /// finished or held by another owner.
    ///
    /// Errors: `NotFound`; `Unexpected`.
    fn claim(
        &self,
        id: &OperationId,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<ExportOperation>, StoreError>;

    /// Extends `owner`'s lease; `false` when the lease is no longer theirs.
    ///
    /// Errors: `Unexpected` only.
    fn renew(
        &self,
        id: &OperationId,
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Gives the operation up after a failure, to be retried not before `retry_at`.
    ///
    /// Errors: `Unexpected` only.
    fn release(
        &self,
        id: &OperationId,
        owner: &str,
        retry_at: DateTime<Utc>,
        reason: &str,
    ) -> Result<(), StoreError>;

    /// Gives the operation back without counting the attempt (a shutdown is no
    /// failure); it can be claimed again at once.
    ///
    /// Errors: `Unexpected` only.
    fn pause(&self, id: &OperationId, owner: &str) -> Result<(), StoreError>;

    /// Ends the operation `owner` holds in `status` (`failed` or `skipped`), recording
    /// why. A worker whose lease ran out cannot end an operation someone else took over
    /// (or finished).
    ///
    /// Errors: `LeaseLost` when `owner` no longer holds an unfinished operation `id`;
    /// `Unexpected`.
    fn finish_unsuccessfully(
        &self,
        id: &OperationId,
        owner: &str,
        status: ExportStatus,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// Durable progress of the operation a worker holds. Every write checks the lease:
/// a worker that lost it gets `LeaseLost` and must stop.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait ExportProgress: Send + Sync {
    /// Stores the room list, the cutoff and the status chosen when processing starts.
    ///
    /// Errors: `LeaseLost` when the lease is lost; `Unexpected`.
    fn start(&self, operation: &ExportOperation, owner: &str) -> Result<(), StoreError>;

    /// Commits one batch, atomically: the room's progress (cursor, count, committed
    /// file length, status), the pseudonyms and uploads the batch introduced.
    ///
    /// Errors: `LeaseLost` when the lease is lost; `Unexpected`.
    fn commit_batch(
        &self,
        operation_id: &OperationId,
        owner: &str,
        batch: &ExportBatch,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Moves the operation to `status`, recording the archive's key when given.
    ///
    /// Errors: `LeaseLost` when the lease is lost; `Unexpected`.
    fn set_status(
        &self,
        operation_id: &OperationId,
        owner: &str,
        status: ExportStatus,
        archive_key: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The pseudonyms assigned so far, as (username, alias).
    ///
    /// Errors: `Unexpected` only.
    fn pseudonyms(&self, operation_id: &OperationId) -> Result<Vec<(String, String)>, StoreError>;

    /// The uploads met so far, a page at a time, sorted by asset name (byte by byte)
    /// then upload id: the first `limit` that come after `after` (the last of the
    /// previous page), or from the first when `after` is `None`. An export may have met
    /// hundreds of thousands of uploads; they are read in pages so that none of its
    /// steps holds them all.
    ///
    /// Errors: `Unexpected` only.
    // mockall cannot mock an elided lifetime inside `Option<&…>`.
    #[allow(clippy::needless_lifetimes)]
    fn files_page<'a>(
        &self,
        operation_id: &OperationId,
        after: Option<&'a ExportFileRef>,
        limit: usize,
    ) -> Result<Vec<ExportFileRef>, StoreError>;

    /// Records the finished zip and completes the operation, atomically.
    ///
    /// Errors: `LeaseLost` when the lease is lost; `Unexpected`.
    fn complete(
        &self,
        operation_id: &OperationId,
        owner: &str,
        file: &UserDataFile,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// The working folder of an operation, named by the operation's id. It is the one
/// place where export data lives on the worker's own disk, while the export runs: it is
/// local by design (appends and the compressing threads need a filesystem), and
/// nothing outside the worker ever reads it.
///
/// Nothing in it needs to be durable: only the process that wrote a folder ever trusts
/// it ([`ExportFiles::adopt`]), and that process reads back what it wrote whether it
/// reached the disk or not; after a crash (of the process or of the machine) the next
/// worker writes the rooms again.
///
/// Names inside it are relative (`GENERAL.html`, `assets/F1-a.png`); a name that is
/// absolute or climbs out with `..` is refused.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait ExportFiles: Send + Sync {
    /// Creates the operation's folder (and its `assets/`); an existing one is kept.
    ///
    /// Errors: I/O failures; an id that is not a plain name.
    fn prepare(&self, operation_id: &OperationId) -> anyhow::Result<()>;

    /// Takes the operation's folder over for this process when a worker has just
    /// claimed the operation: `true` when the folder exists and this process made it,
    /// so its files can be trusted up to their committed lengths; otherwise (missing on
    /// this host, or left by another process, perhaps one that still runs) it is
    /// emptied, made again and marked as this process's, and `false` says that the
    /// operation's room files must be written again from their start.
    ///
    /// Errors: I/O failures; an id that is not a plain name.
    fn adopt(&self, operation_id: &OperationId) -> anyhow::Result<bool>;

    /// Cuts `name` back to `committed_len` bytes (dropping what an uncommitted batch
    /// wrote), appends `bytes`, and returns the new length.
    ///
    /// Errors: I/O failures; a bad name.
    fn append(
        &self,
        operation_id: &OperationId,
        name: &str,
        committed_len: u64,
        bytes: &[u8],
    ) -> anyhow::Result<u64>;

    /// Replaces `name` with `bytes`. Not atomic: whole files are rewritten whenever a
    /// stage is resumed.
    ///
    /// Errors: I/O failures; a bad name.
    fn write(&self, operation_id: &OperationId, name: &str, bytes: &[u8]) -> anyhow::Result<()>;

    /// Replaces `name` with what `content` yields, like [`ExportFiles::write`]; returns
    /// the size.
    ///
    /// Errors: I/O failures; a bad name.
    fn write_from(
        &self,
        operation_id: &OperationId,
        name: &str,
        content: &mut dyn Read,
    ) -> anyhow::Result<u64>;

    /// Reads `name` back (to put it into an archive).
    ///
    /// Errors: I/O failures, a missing file; a bad name.
    fn open(&self, operation_id: &OperationId, name: &str) -> anyhow::Result<Box<dyn Read + Send>>;

    /// Every file of the folder but those `leave_out` names (a name ending in `/`
    /// leaves out a whole folder), and each of `ranges` as a file of the name it is
    /// paired with, with size and SHA-256, sorted by path.
    ///
    /// Errors: I/O failures; a range past the end of its file.
    #[allow(clippy::needless_lifetimes)] // the mock needs the lifetime named
    fn list<'a>(
        &self,
        operation_id: &OperationId,
        leave_out: &[&'a str],
        ranges: &[(String, WorkingRange)],
    ) -> anyhow::Result<Vec<ManifestFile>>;

    /// Removes the whole working folder; a missing folder is not an error.
    ///
    /// Errors: I/O failures.
    fn remove_all(&self, operation_id: &OperationId) -> anyhow::Result<()>;
}

/// Bytes of a file of the operation's working folder: `range` of `file`. A room's
/// pages are ranges of one file while they are written, and go into the archive as
/// entries of their own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorkingRange {
    /// The file, by relative name.
    pub file: String,
    /// Which of its bytes.
    pub range: ByteRange,
}

/// Where the bytes of one archive entry come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveSource {
    /// A file of the operation's working folder, by relative name.
    Working(String),
    /// A range of a file of the operation's working folder.
    WorkingRange(WorkingRange),
    /// A blob of the blob store, by key (uploads go into the zip straight from there,
    /// never copied through the working folder).
    Blob(String),
}

/// One entry of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveEntry {
    /// The path inside the zip.
    pub name: String,
    /// Where its bytes come from.
    pub source: ArchiveSource,
}

/// A byte range of a stored archive or of a working file: `len` bytes from `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ByteRange {
    /// The first byte.
    pub start: u64,
    /// How many bytes.
    pub len: u64,
}

impl ByteRange {
    /// All of something `total` bytes long.
    pub fn whole(total: u64) -> Self {
        Self {
            start: 0,
            len: total,
        }
    }

    /// Where the range ends (exclusive), if it lies inside something `total` bytes long.
    pub fn end_within(&self, total: u64) -> Option<u64> {
        self.start.checked_add(self.len).filter(|end| *end <= total)
    }

    /// The range an archive store reads of `key`, `total` bytes long: `range`, or all of
    /// it; with where it ends.
    ///
    /// Errors: a range that does not lie inside.
    pub fn inside(range: Option<Self>, total: u64, key: &str) -> anyhow::Result<(Self, u64)> {
        let range = range.unwrap_or(Self::whole(total));
        let end = range.end_within(total).ok_or_else(|| {
            anyhow::anyhow!(
                "bytes {}+{} lie outside {key} ({total} bytes)",
                range.start,
                range.len
            )
        })?;
        Ok((range, end))
    }
}

/// An opened archive, or a range of it, ready to stream.
pub struct ArchiveRead {
    /// The bytes asked for.
    pub body: Box<dyn Read + Send>,
    /// How many bytes `body` yields.
    pub len: u64,
    /// The whole archive's size.
    pub total: u64,
}

impl std::fmt::Debug for ArchiveRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveRead")
            .field("len", &self.len)
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

/// Where finished archives are kept, by key (`exports/<operation id>.zip`): callers
/// never see where that is.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait ArchiveStore: Send + Sync {
    /// Zips `entries` (from the operation's working folder and the blob store), in that
    /// order, with every entry stamped `modified`, and stores the archive so that it
    /// appears whole or not at all. Returns its key.
    ///
    /// The entries are a stream, taken a few at a time as the archive is written: an
    /// archive may hold hundreds of thousands of them, and what a store keeps in memory
    /// must not grow with their number. The first error the stream yields ends the
    /// archive, and is returned.
    ///
    /// Errors: I/O failures; a bad name; an error of `entries`.
    fn store(
        &self,
        operation_id: &OperationId,
        entries: &mut dyn Iterator<Item = anyhow::Result<ArchiveEntry>>,
        modified: DateTime<Utc>,
    ) -> anyhow::Result<String>;

    /// Compresses what is final of one working-folder entry ahead of
    /// [`ArchiveStore::store`], while the export goes on: the entry is `part` once it
    /// is `complete`; until then its first bytes, `part`, are committed and what
    /// follows them may still be cut back (a room's file, or its last page, after each
    /// committed batch). `store` reuses the work when it takes an entry of the same
    /// file starting at the same byte ([`ArchiveSource::Working`] starts at 0); files
    /// only ever grow by committed appends until they are complete, so what was
    /// compressed of them stays true.
    ///
    /// Errors: I/O failures; a bad name.
    fn prepare(
        &self,
        operation_id: &OperationId,
        part: &WorkingRange,
        complete: bool,
    ) -> anyhow::Result<()>;

    /// Size and SHA-256 of a stored archive.
    ///
    /// Errors: I/O failures (including a missing archive); a key this store does not make.
    fn describe(&self, key: &str) -> anyhow::Result<(u64, String)>;

    /// The size of the archive stored under `key`; `None` when there is none.
    ///
    /// Errors: I/O failures; a key this store does not make.
    fn size(&self, key: &str) -> anyhow::Result<Option<u64>>;

    /// Opens the archive, or `range` of it (which must lie inside it); `None` when no
    /// archive is stored under `key`.
    ///
    /// Errors: I/O failures; a key this store does not make; a range past the end.
    fn open(&self, key: &str, range: Option<ByteRange>) -> anyhow::Result<Option<ArchiveRead>>;

    /// Where a client can fetch the archive itself (a time-limited link straight to the
    /// store, answered with `disposition` as its `Content-Disposition`), when downloads
    /// are redirected there; `None` when udd streams the archive itself, as every store
    /// but a redirecting object store does.
    ///
    /// Errors: a key this store does not make; a link that cannot be made.
    fn redirect_location(&self, key: &str, disposition: &str) -> anyhow::Result<Option<String>> {
        let _ = (key, disposition);
        Ok(None)
    }

    /// Deletes a stored archive and anything kept for it; a missing one is not an error.
    ///
    /// Errors: I/O failures; a key this store does not make.
    fn remove(&self, key: &str) -> anyhow::Result<()>;
}

/// Wakes workers when there is new work, so a request does not wait for the next tick.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait ExportWakeup: Send + Sync {
    /// Tells waiting workers there is work.
    fn notify(&self);

    /// Waits until notified or `timeout` passes; `true` when notified.
    fn wait(&self, timeout: Duration) -> bool;
}
