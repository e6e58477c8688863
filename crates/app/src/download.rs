//! `GET /data-export/{fileId}`: who may download a finished export.

use std::sync::Arc;

use thiserror::Error;
use udd_domain::{FileId, UserId};
use udd_ports::{
    Clock, DownloadLinks, DownloadLog, DownloadRecord, StoreError, UserDataFile, UserDataFiles,
    Users,
};

/// Why a download is refused.
#[derive(Debug, Error)]
pub enum DownloadError {
    /// `user_data.enable_download` is off.
    #[error("Data download is disabled")]
    Disabled,
    /// No such file, or it has expired.
    #[error("File not found")]
    NotFound,
    /// The requester is not the file's owner (or not logged in), or the owner's account
    /// is no longer active.
    #[error("You are not allowed to download this file")]
    Forbidden,
    /// `user_data.link_requires_login` is on and the requester is not logged in: the
    /// link alone does not download.
    #[error("Sign in first, then open the link again")]
    LoginRequired,
    /// The backend failed.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Who is asking for a file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requester<'a> {
    /// The logged-in user's id, if the request carried a valid login.
    pub user_id: Option<&'a UserId>,
    /// The signed token from the mail's link, if any.
    pub token: Option<&'a str>,
}

/// A download allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    /// The file to serve.
    pub file: UserDataFile,
    /// Whether the signed link (rather than a login) let the requester in.
    pub by_link: bool,
}

use_case! {
    /// Decides whether a requester gets a user data file, and records each download.
    pub struct DownloadDataFile {
        files: Arc<dyn UserDataFiles>,
        owners: Arc<dyn Users>,
        links: Arc<dyn DownloadLinks>,
        log: Arc<dyn DownloadLog>,
        clock: Arc<dyn Clock>,
        enabled: bool,
        link_requires_login: bool = false,
    }
    /// Builds the use case; `owners` tells whether a file's owner is still active;
    /// `enabled` mirrors `user_data.enable_download`.
    pub fn new;
}

impl DownloadDataFile {
    /// With `required`, the signed link alone no longer downloads: only the owner,
    /// logged in, does (`user_data.link_requires_login`).
    pub fn with_login_required(mut self, required: bool) -> Self {
        self.link_requires_login = required;
        self
    }

    /// The file `file_id` if it is still available and the requester is its owner,
    /// by login or by a valid signed token for this file, and the owner is still active
    /// (a deactivated account's mailed links stop working).
    pub fn execute(
        &self,
        file_id: &FileId,
        requester: Requester<'_>,
    ) -> Result<Granted, DownloadError> {
        if !self.enabled {
            return Err(DownloadError::Disabled);
        }
        // Asked before the file is looked up: the answer says nothing about the file.
        if self.link_requires_login && requester.user_id.is_none() {
            return Err(DownloadError::LoginRequired);
        }
        let file = match self.files.get(file_id) {
            Ok(file) => file,
            Err(StoreError::NotFound) => return Err(DownloadError::NotFound),
            Err(other) => return Err(anyhow::Error::new(other).into()),
        };
        let now = self.clock.now();
        if !file.is_available(now) {
            return Err(DownloadError::NotFound);
        }
        match self.owners.get(&file.user_id) {
            Ok(owner) if owner.active => {}
            Ok(_) | Err(StoreError::NotFound) => {
                tracing::info!(file = %file.id, "download refused: the owner is not active");
                return Err(DownloadError::Forbidden);
            }
            Err(other) => return Err(anyhow::Error::new(other).into()),
        }
        if requester.user_id == Some(&file.user_id) {
            return Ok(Granted {
                file,
                by_link: false,
            });
        }
        let Some(token) = requester.token.filter(|_| !self.link_requires_login) else {
            return Err(DownloadError::Forbidden);
        };
        match self.links.verify(token, &file.id, &file.user_id, now) {
            Ok(()) => Ok(Granted {
                file,
                by_link: true,
            }),
            Err(why) => {
                tracing::info!(file = %file.id, reason = %why, "download link refused");
                Err(DownloadError::Forbidden)
            }
        }
    }

    /// Records a download of `bytes` bytes (the response body) to `client_address`.
    /// A failure to record is logged; it does not stop the download.
    pub fn record(&self, granted: &Granted, bytes: u64, client_address: Option<String>) {
        let record = DownloadRecord {
            file_id: granted.file.id.clone(),
            user_id: granted.file.user_id.clone(),
            at: self.clock.now(),
            bytes,
            client_address,
            by_link: granted.by_link,
        };
        if let Err(e) = self.log.record(&record) {
            tracing::error!(file = %record.file_id, error = %e, "could not record a download");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration};
    use udd_domain::User;
    use udd_ports::{
        LinkError, MockClock, MockDownloadLinks, MockDownloadLog, MockUserDataFiles, MockUsers,
    };

    fn file(expires_in_days: i64) -> UserDataFile {
        UserDataFile {
            id: "F1".into(),
            user_id: "alice".into(),
            name: "2026-11-27-Alice.zip".into(),
            size: 10,
            sha256: "00".into(),
            key: "exports/OP.zip".into(),
            created_at: DateTime::UNIX_EPOCH,
            expires_at: Some(DateTime::UNIX_EPOCH + Duration::days(expires_in_days)),
            removed_at: None,
        }
    }

    fn owner(id: &str, active: bool) -> User {
        User {
            active,
            ..User::new(id, id, DateTime::UNIX_EPOCH)
        }
    }

    fn use_case(stored: Option<UserDataFile>, enabled: bool) -> DownloadDataFile {
        use_case_with_owner(stored, enabled, Some(true))
    }

    /// `owner_active`: `None` when the owner's account no longer exists.
    fn use_case_with_owner(
        stored: Option<UserDataFile>,
        enabled: bool,
        owner_active: Option<bool>,
    ) -> DownloadDataFile {
        let mut owners = MockUsers::new();
        owners.expect_get().returning(move |id| match owner_active {
            Some(active) => Ok(owner(id, active)),
            None => Err(StoreError::NotFound),
        });
        let mut files = MockUserDataFiles::new();
        files
            .expect_get()
            .returning(move |_| stored.clone().ok_or(StoreError::NotFound));
        let mut clock = MockClock::new();
        clock
            .expect_now()
            .return_const(DateTime::UNIX_EPOCH + Duration::days(3));
        let mut links = MockDownloadLinks::new();
        links
            .expect_verify()
            .returning(|token, file, owner, _| match token {
                "good" if file == "F1" && owner == "alice" => Ok(()),
                "old" => Err(LinkError::Expired),
                _ => Err(LinkError::Invalid),
            });
        let mut log = MockDownloadLog::new();
        log.expect_record().returning(|_| Ok(()));
        DownloadDataFile::new(
            Arc::new(files),
            Arc::new(owners),
            Arc::new(links),
            Arc::new(log),
            Arc::new(clock),
            enabled,
        )
    }

    fn by_user(user_id: &UserId) -> Requester<'_> {
        Requester {
            user_id: Some(user_id),
            token: None,
        }
    }

    fn by_token(token: &str) -> Requester<'_> {
        Requester {
            user_id: None,
            token: Some(token),
        }
    }

    #[test]
    fn only_the_owner_gets_an_unexpired_file() {
        let granted = use_case(Some(file(7)), true).execute(&"F1".into(), by_user(&"alice".into()));
        assert!(matches!(granted, Ok(Granted { by_link: false, .. })));
        assert!(matches!(
            use_case(Some(file(7)), true).execute(&"F1".into(), by_user(&"bob".into())),
            Err(DownloadError::Forbidden)
        ));
        assert!(matches!(
            use_case(Some(file(7)), true).execute(&"F1".into(), Requester::default()),
            Err(DownloadError::Forbidden)
        ));
        assert!(matches!(
            use_case(Some(file(2)), true).execute(&"F1".into(), by_user(&"alice".into())),
            Err(DownloadError::NotFound)
        ));
        assert!(matches!(
            use_case(None, true).execute(&"F9".into(), by_user(&"alice".into())),
            Err(DownloadError::NotFound)
        ));
        assert!(matches!(
            use_case(Some(file(7)), false).execute(&"F1".into(), by_user(&"alice".into())),
            Err(DownloadError::Disabled)
        ));
    }

    #[test]
    fn a_valid_signed_token_stands_in_for_the_login() {
        let granted = use_case(Some(file(7)), true).execute(&"F1".into(), by_token("good"));
        assert!(matches!(granted, Ok(Granted { by_link: true, .. })));
        for bad in ["tampered", "old"] {
            assert!(matches!(
                use_case(Some(file(7)), true).execute(&"F1".into(), by_token(bad)),
                Err(DownloadError::Forbidden)
            ));
        }
        // Another user's login does not spoil a good token.
        let bob = UserId::from("bob");
        let both = Requester {
            user_id: Some(&bob),
            token: Some("good"),
        };
        assert!(use_case(Some(file(7)), true)
            .execute(&"F1".into(), both)
            .is_ok());
    }

    #[test]
    fn an_inactive_or_deleted_owner_gets_nothing_by_login_or_by_link() {
        for owner_active in [Some(false), None] {
            for requester in [by_user(&"alice".into()), by_token("good")] {
                assert!(
                    matches!(
                        use_case_with_owner(Some(file(7)), true, owner_active)
                            .execute(&"F1".into(), requester),
                        Err(DownloadError::Forbidden)
                    ),
                    "{owner_active:?} {requester:?}"
                );
            }
        }
    }

    #[test]
    fn a_removed_file_is_not_found_even_before_its_expiry() {
        let mut removed = file(7);
        removed.removed_at = Some(DateTime::UNIX_EPOCH + Duration::days(1));
        assert!(matches!(
            use_case(Some(removed), true).execute(&"F1".into(), by_user(&"alice".into())),
            Err(DownloadError::NotFound)
        ));
    }

    #[test]
    fn when_the_link_requires_login_the_token_alone_asks_for_a_sign_in() {
        let strict = || use_case(Some(file(7)), true).with_login_required(true);
        assert!(matches!(
            strict().execute(&"F1".into(), by_token("good")),
            Err(DownloadError::LoginRequired)
        ));
        assert!(matches!(
            strict().execute(&"F1".into(), Requester::default()),
            Err(DownloadError::LoginRequired)
        ));
        let alice = UserId::from("alice");
        for token in [None, Some("good")] {
            let owner = Requester {
                user_id: Some(&alice),
                token,
            };
            assert!(matches!(
                strict().execute(&"F1".into(), owner),
                Ok(Granted { by_link: false, .. })
            ));
        }
        // Logged in as someone else, a good token no longer lets them in.
        let bob = UserId::from("bob");
        let both = Requester {
            user_id: Some(&bob),
            token: Some("good"),
        };
        assert!(matches!(
            strict().execute(&"F1".into(), both),
            Err(DownloadError::Forbidden)
        ));
    }
}
