//! The user an export is about, as much of them as an export shows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::UserId;

/// One of a user's email addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    /// The address itself.
    pub address: String,
    /// Whether the address was verified.
    pub verified: bool,
}

/// A workspace user's public profile. Secrets (password hash, login tokens) never live
/// here, so a `User` can be shown to its owner without filtering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Rocket.Chat's `_id`.
    pub id: UserId,
    /// The unique login name.
    pub username: String,
    /// The display name, when set.
    pub name: Option<String>,
    /// Email addresses, the first being the one mail goes to.
    pub emails: Vec<Email>,
    /// Role names such as `user` or `admin`.
    pub roles: Vec<String>,
    /// The custom status line.
    pub status_text: Option<String>,
    /// Names of the login services linked to the account (`password`, `google`, …).
    pub services: Vec<String>,
    /// Whether the account may log in.
    pub active: bool,
    /// The Rocket.Chat `language` preference (`de`, `pt-BR`), when set: the language of
    /// the mails the user gets.
    pub language: Option<String>,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
}

impl User {
    /// An active user `id` named `username`, created at `created_at`, with nothing else
    /// set: no display name, addresses, roles, status, services or language.
    pub fn new(
        id: impl Into<UserId>,
        username: impl Into<String>,
        created_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: id.into(),
            username: username.into(),
            name: None,
            emails: Vec::new(),
            roles: Vec::new(),
            status_text: None,
            services: Vec::new(),
            active: true,
            language: None,
            created_at,
        }
    }

    /// The name shown for the user: the display name, or the username when none is set.
    pub fn display_name(&self) -> &str {
        match self.name.as_deref() {
            Some(name) if !name.trim().is_empty() => name,
            _ => &self.username,
        }
    }

    /// The address that mail goes to: the first one.
    pub fn primary_email(&self) -> Option<&str> {
        self.emails.first().map(|e| e.address.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: Option<&str>) -> User {
        User {
            name: name.map(str::to_owned),
            ..User::new("u1", "alice", DateTime::UNIX_EPOCH)
        }
    }

    #[test]
    fn display_name_falls_back_to_username_when_blank() {
        assert_eq!(user(Some("Alice A.")).display_name(), "Alice A.");
        assert_eq!(user(Some("  ")).display_name(), "alice");
        assert_eq!(user(None).display_name(), "alice");
    }

    #[test]
    fn primary_email_is_the_first() {
        let mut u = user(None);
        assert_eq!(u.primary_email(), None);
        u.emails = vec![
            Email {
                address: "a@x.org".into(),
                verified: true,
            },
            Email {
                address: "b@x.org".into(),
                verified: false,
            },
        ];
        assert_eq!(u.primary_email(), Some("a@x.org"));
    }
}
