//! What delivering a finished export needs: mail, the notices waiting to be mailed,
//! signed download links, the download log, and what retention sweeps.

use chrono::{DateTime, Utc};

use crate::{StoreError, UserDataFile};
use udd_domain::{FileId, OperationId, UserId};

/// A message ready to go to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    /// The recipient's address.
    pub to: String,
    /// The recipient's display name, if any.
    pub to_name: Option<String>,
    /// The sender's display name (the workspace's name), replacing the configured
    /// From name while keeping its address; `None` keeps the configured one.
    pub from_name: Option<String>,
    /// The subject line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
    /// The download link the message carries, if any (an outbox logs it, so the whole
    /// flow can be followed without a mail server).
    pub link: Option<String>,
}

/// Why a mail was not handed over.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Refused for good: a recipient address or header the mail library cannot write,
    /// or a permanent (5xx) answer from the server. Sending again cannot help.
    #[error("the mail was refused: {0}")]
    Rejected(String),
    /// Not handed over now (server unreachable, timeout, temporary refusal); a later
    /// attempt may succeed.
    #[error(transparent)]
    Unavailable(#[from] anyhow::Error),
}

/// Sends mail.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait Mailer: Send + Sync {
    /// Hands `mail` over for delivery (an SMTP server accepted it, or it is written to
    /// the outbox). Never panics, whatever the mail holds.
    ///
    /// Errors: [`MailError::Rejected`] when retrying cannot help,
    /// [`MailError::Unavailable`] for the rest.
    fn send(&self, mail: &OutgoingMail) -> Result<(), MailError>;
}

/// What a notice tells the owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeKind {
    /// The export is ready: here is the file.
    Completed(UserDataFile),
    /// The export failed for good.
    Failed {
        /// The recorded reason.
        reason: String,
    },
}

/// A mail owed to an operation's owner, claimed for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingNotice {
    /// The operation.
    pub operation_id: OperationId,
    /// Its owner.
    pub user_id: UserId,
    /// Full or personal export.
    pub full_export: bool,
    /// What to say.
    pub kind: NoticeKind,
    /// Attempts so far, this claim included.
    pub attempts: u32,
}

/// How sending a notice ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeOutcome {
    /// Handed over for delivery.
    Sent,
    /// The owner has no email address; nothing to send.
    NoAddress,
    /// Sending failed; try again at the given time.
    RetryAt(DateTime<Utc>, String),
    /// Sending kept failing; no more attempts.
    GaveUp(String),
}

/// Mail owed to owners. An operation owes one when it completes or fails (recorded in
/// the same transaction), so a crash can delay a notice but not lose it.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait Notices: Send + Sync {
    /// Claims up to `limit` notices due at `now`, counting one more attempt for each
    /// and hiding them from other claims until `hold_until`.
    ///
    /// Errors: `Unexpected` only.
    fn claim_due(
        &self,
        now: DateTime<Utc>,
        hold_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PendingNotice>, StoreError>;

    /// Records how sending the operation's notice ended.
    ///
    /// Errors: `NotFound` for an unknown operation; `Unexpected`.
    fn record(
        &self,
        operation_id: &OperationId,
        outcome: &NoticeOutcome,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// Why a download token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Malformed, or not signed for this file and owner.
    #[error("the download link is not valid")]
    Invalid,
    /// Signed, but past its expiry.
    #[error("the download link has expired")]
    Expired,
}

/// Signed, expiring download tokens: whoever holds the token from the mail may download
/// that one file until the token expires, without logging in.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait DownloadLinks: Send + Sync {
    /// A token for `file_id` owned by `owner`, valid until `expires_at`.
    fn sign(&self, file_id: &FileId, owner: &UserId, expires_at: DateTime<Utc>) -> String;

    /// Checks a token against the file and owner at `now`.
    ///
    /// Errors: `Invalid` when tampered with or made for another file or owner;
    /// `Expired` when signed but out of date.
    fn verify(
        &self,
        token: &str,
        file_id: &FileId,
        owner: &UserId,
        now: DateTime<Utc>,
    ) -> Result<(), LinkError>;
}

/// One download of a user data file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadRecord {
    /// The file.
    pub file_id: FileId,
    /// The file's owner (the downloader: only the owner may download).
    pub user_id: UserId,
    /// When the download started.
    pub at: DateTime<Utc>,
    /// Bytes in the response body (the range's length for a partial download).
    pub bytes: u64,
    /// The client's address, as the connection shows it.
    pub client_address: Option<String>,
    /// Whether access came from the signed link rather than a login.
    pub by_link: bool,
}

/// How long one download lasts in the log: the ranged GETs of a client resuming or
/// fetching in parts within this time of its first record are one download.
pub const DOWNLOAD_SESSION_MINUTES: i64 = 60;

/// The most records the log keeps for one file; later downloads add to the latest.
pub const MAX_DOWNLOAD_RECORDS_PER_FILE: i64 = 1_000;

/// The record of every download, bounded: a client that fetches a file in many ranged
/// GETs adds one record, not one per request.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait DownloadLog: Send + Sync {
    /// Records a download. A record of the same file, client address and kind of
    /// access (`by_link`) started at most [`DOWNLOAD_SESSION_MINUTES`] before
    /// `record.at` takes the bytes instead of a new record; so does the file's latest
    /// record once the file has [`MAX_DOWNLOAD_RECORDS_PER_FILE`].
    ///
    /// Errors: `Unexpected` only.
    fn record(&self, record: &DownloadRecord) -> Result<(), StoreError>;
}

/// Something left on disk by an operation: a working folder, or a zip with its
/// temporary files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredItem {
    /// The operation it belongs to (its name on disk).
    pub operation_id: OperationId,
    /// The path, as the store's `remove` takes it.
    pub path: String,
    /// Whether it is a finished zip (as opposed to a folder or a temporary file).
    pub finished_zip: bool,
    /// When it last changed.
    pub modified: DateTime<Utc>,
}

/// What retention needs beyond the records: to see what is on disk and remove it.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait StoredExports: Send + Sync {
    /// Everything under the working folder root and the zip folder.
    ///
    /// Errors: any failure to list.
    fn list(&self) -> anyhow::Result<Vec<StoredItem>>;

    /// Removes one item; removing what is already gone is not an error.
    ///
    /// Errors: any failure to remove.
    fn remove(&self, item: &StoredItem) -> anyhow::Result<()>;
}
