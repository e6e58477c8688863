//! Second factors at login, as Rocket.Chat has them: a TOTP authenticator app (with
//! single-use backup codes) or a code sent by e-mail.
//!
//! The rules are plain functions of their inputs: which method a login must pass, what
//! a code is worth, and how e-mailed codes expire and run out of attempts. Storing
//! codes, sending mail and reading the clock are the caller's.

mod totp;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

pub use totp::{base32_decode, hotp, InvalidSecret, TotpRule, TotpSecret};

/// A second factor, named as Rocket.Chat names it in `details.method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecondFactorMethod {
    /// A code from an authenticator app (`services.totp`).
    Totp,
    /// A code sent by e-mail (`services.email2fa`).
    Email,
}

impl SecondFactorMethod {
    /// `totp` or `email`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::Email => "email",
        }
    }
}

/// The second factors a user has turned on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecondFactors {
    /// The authenticator app's secret, when TOTP is enabled.
    pub totp: Option<TotpSecret>,
    /// Whether codes by e-mail are enabled.
    pub email: bool,
}

impl SecondFactors {
    /// The methods a login can pass, in Rocket.Chat's order (TOTP first). E-mail codes
    /// need a verified address to go to, so a user without one has no e-mail method.
    pub fn available(&self, has_verified_email: bool) -> Vec<SecondFactorMethod> {
        let mut methods = Vec::new();
        if self.totp.is_some() {
            methods.push(SecondFactorMethod::Totp);
        }
        if self.email && has_verified_email {
            methods.push(SecondFactorMethod::Email);
        }
        methods
    }
}

/// Lowercase hex SHA-256 of `text`.
fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Backup codes are 8 characters; a TOTP code has 6 digits.
pub const BACKUP_CODE_LEN: usize = 8;

/// Whether `code` is shaped like a backup code rather than a TOTP code (Rocket.Chat
/// tells them apart by length).
pub fn is_backup_code(code: &str) -> bool {
    code.trim().chars().count() == BACKUP_CODE_LEN
}

/// How a backup code is stored: hex SHA-256 of the code, as Rocket.Chat keeps them in
/// `services.totp.hashedBackup`.
pub fn backup_code_hash(code: &str) -> String {
    sha256_hex(code.trim())
}

/// An e-mailed code's digits, whatever the reader typed around them (`123-456`).
pub fn email_code_digits(code: &str) -> String {
    code.chars().filter(char::is_ascii_digit).collect()
}

/// How an e-mailed code is stored: hex SHA-256 over the user and the code's digits, so
/// the table never holds a usable code.
pub fn email_code_hash(user_id: &str, code: &str) -> String {
    sha256_hex(&format!(
        "udd e-mail code\u{0}{user_id}\u{0}{}",
        email_code_digits(code)
    ))
}

/// An e-mailed code waiting to be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailCode {
    /// [`email_code_hash`] of the code.
    pub hash: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Wrong codes tried against it.
    pub failed_attempts: u32,
}

/// What a presented e-mail code is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailCodeCheck {
    /// The code: the login may go on, and the code must be forgotten (single use).
    Accepted,
    /// Not the code: count the attempt.
    Invalid,
    /// No usable code: none was sent, it expired, or it was already used.
    NoCode,
    /// Too many wrong codes were tried: this code is dead, a new one must be sent.
    TooManyAttempts,
}

impl EmailCode {
    /// Whether the code can still be entered at `now`.
    pub fn is_usable(&self, now: DateTime<Utc>, max_attempts: u32) -> bool {
        now < self.expires_at && self.failed_attempts < max_attempts
    }

    /// Checks `presented_hash` at `now`.
    pub fn check(
        &self,
        presented_hash: &str,
        now: DateTime<Utc>,
        max_attempts: u32,
    ) -> EmailCodeCheck {
        if now >= self.expires_at {
            EmailCodeCheck::NoCode
        } else if self.failed_attempts >= max_attempts {
            EmailCodeCheck::TooManyAttempts
        } else if self.hash == presented_hash {
            EmailCodeCheck::Accepted
        } else if self.failed_attempts + 1 >= max_attempts {
            EmailCodeCheck::TooManyAttempts
        } else {
            EmailCodeCheck::Invalid
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn totp_comes_before_email_and_email_needs_a_verified_address() {
        let secret = TotpSecret::from_base32("GEZDGNBVGY3TQOJQ").unwrap();
        let both = SecondFactors {
            totp: Some(secret),
            email: true,
        };
        assert_eq!(
            both.available(true),
            [SecondFactorMethod::Totp, SecondFactorMethod::Email]
        );
        assert_eq!(both.available(false), [SecondFactorMethod::Totp]);
        let email = SecondFactors {
            totp: None,
            email: true,
        };
        assert_eq!(email.available(false), []);
        assert!(SecondFactors::default().available(true).is_empty());
        assert_eq!(SecondFactorMethod::Email.name(), "email");
    }

    #[test]
    fn backup_codes_are_hashed_as_rocket_chat_hashes_them() {
        // Meteor's SHA256("abcdefgh") is the hex SHA-256 of the text.
        assert_eq!(
            backup_code_hash("abcdefgh"),
            "9c56cc51b374c3ba189210d5b6d4bf57790d351c96c47c02190ecf1e430635ab"
        );
        assert!(is_backup_code("abcd1234"));
        assert!(!is_backup_code("123456"));
    }

    #[test]
    fn email_code_hashes_depend_on_user_and_digits_only() {
        assert_eq!(
            email_code_hash("u1", "123-456"),
            email_code_hash("u1", "123456")
        );
        assert_ne!(
            email_code_hash("u1", "123456"),
            email_code_hash("u2", "123456")
        );
        assert_ne!(
            email_code_hash("u1", "123456"),
            email_code_hash("u1", "123457")
        );
        assert!(!email_code_hash("u1", "123456").contains("123456"));
    }

    #[test]
    fn an_email_code_works_once_until_it_expires_or_runs_out_of_attempts() {
        let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let code = EmailCode {
            hash: email_code_hash("u1", "123456"),
            expires_at: now + Duration::minutes(10),
            failed_attempts: 0,
        };
        let right = email_code_hash("u1", "123456");
        let wrong = email_code_hash("u1", "000000");
        assert_eq!(code.check(&right, now, 5), EmailCodeCheck::Accepted);
        assert_eq!(code.check(&wrong, now, 5), EmailCodeCheck::Invalid);
        assert_eq!(
            code.check(&right, now + Duration::minutes(10), 5),
            EmailCodeCheck::NoCode
        );
        let tried = EmailCode {
            failed_attempts: 4,
            ..code.clone()
        };
        assert_eq!(tried.check(&wrong, now, 5), EmailCodeCheck::TooManyAttempts);
        assert_eq!(tried.check(&right, now, 5), EmailCodeCheck::Accepted);
        let spent = EmailCode {
            failed_attempts: 5,
            ..code.clone()
        };
        assert_eq!(spent.check(&right, now, 5), EmailCodeCheck::TooManyAttempts);
        assert!(code.is_usable(now, 5));
        assert!(!spent.is_usable(now, 5));
        assert!(!code.is_usable(now + Duration::hours(1), 5));
    }
}
