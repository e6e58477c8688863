//! Services: the world outside the records (time, randomness, hashing, files).

use chrono::{DateTime, Utc};

/// The current time. Injected so rules that depend on it can be tested at any instant.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// New unique ids, in Rocket.Chat's style (17 characters of an unambiguous alphabet).
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait IdGenerator: Send + Sync {
    /// A fresh id.
    fn new_id(&self) -> String;
}

/// Password hashing as Rocket.Chat does it: bcrypt over the SHA-256 hex of the password.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait PasswordHasher: Send + Sync {
    /// Hashes a plain password for storage.
    ///
    /// Errors: only when the hashing library itself fails.
    fn hash(&self, password: &str) -> anyhow::Result<String>;

    /// Whether `password` matches the stored `hash`. A malformed hash never matches.
    fn verify(&self, password: &str, hash: &str) -> bool;

    /// Whether a password given as its SHA-256 hex digest (what Rocket.Chat clients send
    /// as `{"digest": …, "algorithm": "sha-256"}`) matches the stored `hash`. A malformed
    /// digest or hash never matches.
    fn verify_digest(&self, sha256_hex: &str, hash: &str) -> bool;
}

/// Login tokens: handed to the client in clear, stored only hashed.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait TokenIssuer: Send + Sync {
    /// A fresh random token to hand to the client.
    fn issue(&self) -> String;

    /// The stored form of a token (base64 of its SHA-256, as Rocket.Chat stores it).
    fn hash(&self, token: &str) -> String;
}

/// Work that one process at a time may do among all that share the records (the
/// retention sweep, mail retries), so two hosts never sweep at once. (No mock: mockall
/// cannot take the closure; the adapters' `Unshared`, which always runs, is the fake.)
pub trait Singleton: Send + Sync {
    /// Runs `work` unless another process runs the work named `name` right now, and
    /// says whether it ran. Errors: `StoreError::Unexpected` when the lock cannot be
    /// asked for (then `work` did not run).
    fn try_run(&self, name: &str, work: &mut dyn FnMut()) -> Result<bool, crate::StoreError>;
}
