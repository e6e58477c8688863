use thiserror::Error;

/// What a repository or store can report besides success.
///
/// Each port method's documentation says which variants it may return; `Unexpected`
/// is always possible and means the backend itself failed (I/O, a broken connection).
#[derive(Debug, Error)]
pub enum StoreError {
    /// The thing asked for does not exist.
    #[error("not found")]
    NotFound,
    /// The write clashed with the stored state: a uniqueness rule (something already
    /// exists) or a lease held by someone else. The string says which.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The backend failed.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}
