//! `GET /data-export/{fileId}`: who may download a finished export.

use std::sync::Arc;

use thiserror::Error;
use udd_ports::{Clock, StoreError, UserDataFile, UserDataFiles};

/// Why a download is refused.
#[derive(Debug, Error)]
pub enum DownloadError {
    /// `user_data.enable_download` is off.
    #[error("Data download is disabled")]
    Disabled,
    /// No such file, or it has expired.
    #[error("File not found")]
    NotFound,
    /// The requester is not the file's owner (or not logged in).
    #[error("You are not allowed to download this file")]
    Forbidden,
    /// The backend failed.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Decides whether a requester gets a user data file.
#[derive(Clone)]
pub struct DownloadDataFile {
    files: Arc<dyn UserDataFiles>,
    clock: Arc<dyn Clock>,
    enabled: bool,
}

impl DownloadDataFile {
    /// Builds the use case; `enabled` mirrors `user_data.enable_download`.
    pub fn new(files: Arc<dyn UserDataFiles>, clock: Arc<dyn Clock>, enabled: bool) -> Self {
        Self {
            files,
            clock,
            enabled,
        }
    }

    /// The file `file_id` if `requester` (a logged-in user id, if any) owns it and it
    /// has not expired.
    pub fn execute(
        &self,
        file_id: &str,
        requester: Option<&str>,
    ) -> Result<UserDataFile, DownloadError> {
        if !self.enabled {
            return Err(DownloadError::Disabled);
        }
        let file = match self.files.get(file_id) {
            Ok(file) => file,
            Err(StoreError::NotFound) => return Err(DownloadError::NotFound),
            Err(other) => return Err(anyhow::Error::new(other).into()),
        };
        if file.expires_at.is_some_and(|at| at <= self.clock.now()) {
            return Err(DownloadError::NotFound);
        }
        if requester != Some(file.user_id.as_str()) {
            return Err(DownloadError::Forbidden);
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration};
    use udd_ports::{MockClock, MockUserDataFiles};

    fn file(expires_in_days: i64) -> UserDataFile {
        UserDataFile {
            id: "F1".into(),
            user_id: "alice".into(),
            name: "2026-11-27-Alice.zip".into(),
            size: 10,
            sha256: "00".into(),
            path: "/zips/OP.zip".into(),
            created_at: DateTime::UNIX_EPOCH,
            expires_at: Some(DateTime::UNIX_EPOCH + Duration::days(expires_in_days)),
        }
    }

    fn use_case(stored: Option<UserDataFile>, enabled: bool) -> DownloadDataFile {
        let mut files = MockUserDataFiles::new();
        files
            .expect_get()
            .returning(move |_| stored.clone().ok_or(StoreError::NotFound));
        let mut clock = MockClock::new();
        clock
            .expect_now()
            .return_const(DateTime::UNIX_EPOCH + Duration::days(3));
        DownloadDataFile::new(Arc::new(files), Arc::new(clock), enabled)
    }

    #[test]
    fn only_the_owner_gets_an_unexpired_file() {
        assert!(use_case(Some(file(7)), true)
            .execute("F1", Some("alice"))
            .is_ok());
        assert!(matches!(
            use_case(Some(file(7)), true).execute("F1", Some("bob")),
            Err(DownloadError::Forbidden)
        ));
        assert!(matches!(
            use_case(Some(file(7)), true).execute("F1", None),
            Err(DownloadError::Forbidden)
        ));
        assert!(matches!(
            use_case(Some(file(2)), true).execute("F1", Some("alice")),
            Err(DownloadError::NotFound)
        ));
        assert!(matches!(
            use_case(None, true).execute("F9", Some("alice")),
            Err(DownloadError::NotFound)
        ));
        assert!(matches!(
            use_case(Some(file(7)), false).execute("F1", Some("alice")),
            Err(DownloadError::Disabled)
        ));
    }
}
