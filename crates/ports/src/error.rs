use thiserror::Error;

/// What a repository or store can report besides success.
///
/// Each port method's documentation says which variants it may return; `Unexpected`
/// is always possible and means the backend itself failed (I/O, a broken connection).
/// Adapters translate their backend's errors into these variants by what happened,
/// never by reading the backend's message text.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The thing asked for does not exist.
    #[error("not found")]
    NotFound,
    /// The worker's lease on the operation ran out and another worker may hold it: the
    /// write was refused, and the worker must stop touching the operation.
    #[error("the lease on the export operation was lost")]
    LeaseLost,
    /// Another user already has this username.
    #[error("the username {0} is taken")]
    DuplicateUsername(String),
    /// Another user already has this e-mail address.
    #[error("the e-mail address {0} is taken")]
    DuplicateEmail(String),
    /// A record with this id already exists.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The backend failed.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}
