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
    /// A uniqueness rule was broken; the string names what collided.
    #[error("already exists: {0}")]
    Conflict(String),
    /// The backend failed.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}
