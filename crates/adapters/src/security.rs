//! Password and token hashing compatible with Rocket.Chat, so imported accounts keep
//! their passwords and sessions.

use base64::Engine;
use sha2::{Digest, Sha256};
use udd_ports::{PasswordHasher, TokenIssuer};

use crate::system::RandomIds;

/// bcrypt over the lowercase SHA-256 hex of the password — what Rocket.Chat's clients
/// send (`{digest, algorithm: "sha-256"}`) and what its server stores.
#[derive(Debug, Clone, Copy)]
pub struct RocketChatPasswords {
    cost: u32,
}

impl RocketChatPasswords {
    /// Rocket.Chat's bcrypt cost.
    pub const DEFAULT_COST: u32 = 10;

    /// Hashes with the given bcrypt cost (4 to 31).
    pub fn with_cost(cost: u32) -> Self {
        Self { cost }
    }
}

impl Default for RocketChatPasswords {
    fn default() -> Self {
        Self::with_cost(Self::DEFAULT_COST)
    }
}

fn sha256_hex(password: &str) -> String {
    hex::encode(Sha256::digest(password.as_bytes()))
}

impl PasswordHasher for RocketChatPasswords {
    fn hash(&self, password: &str) -> anyhow::Result<String> {
        Ok(bcrypt::hash(sha256_hex(password), self.cost)?)
    }

    fn verify(&self, password: &str, hash: &str) -> bool {
        self.verify_digest(&sha256_hex(password), hash)
    }

    fn verify_digest(&self, sha256_hex: &str, hash: &str) -> bool {
        let digest = sha256_hex.to_ascii_lowercase();
        digest.len() == 64
            && digest.bytes().all(|b| b.is_ascii_hexdigit())
            && bcrypt::verify(digest, hash).unwrap_or(false)
    }
}

/// Login tokens as Rocket.Chat makes them: 43 random characters in clear for the
/// client, base64 (standard, padded) of their SHA-256 in storage.
#[derive(Debug, Clone, Copy, Default)]
pub struct RocketChatTokens;

impl TokenIssuer for RocketChatTokens {
    fn issue(&self) -> String {
        RandomIds::random_string(43)
    }

    fn hash(&self, token: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(token.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let hasher = RocketChatPasswords::with_cost(4);
        let hash = hasher.hash("s3cret").unwrap_or_default();
        assert!(hash.starts_with("$2"));
        assert!(hasher.verify("s3cret", &hash));
        assert!(!hasher.verify("S3cret", &hash));
        assert!(!hasher.verify("s3cret", "not a hash"));
        // Rocket.Chat clients may send the SHA-256 hex digest instead, in either case.
        let digest = sha256_hex("s3cret");
        assert!(hasher.verify_digest(&digest, &hash));
        assert!(hasher.verify_digest(&digest.to_uppercase(), &hash));
        assert!(!hasher.verify_digest(&sha256_hex("S3cret"), &hash));
        assert!(
            !hasher.verify_digest("s3cret", &hash),
            "a plain password is no digest"
        );
    }

    #[test]
    fn verifies_a_hash_made_the_rocket_chat_way() {
        // bcryptjs output for sha256_hex("password"), `$2b$` as Rocket.Chat stores it.
        let stored = bcrypt::hash(sha256_hex("password"), 4)
            .unwrap_or_default()
            .replacen("$2y$", "$2b$", 1);
        assert!(RocketChatPasswords::default().verify("password", &stored));
    }

    #[test]
    fn token_hash_is_base64_of_sha256() {
        // echo -n abc | sha256sum | xxd -r -p | base64
        assert_eq!(
            RocketChatTokens.hash("abc"),
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
        let token = RocketChatTokens.issue();
        assert_eq!(token.len(), 43);
        assert_ne!(token, RocketChatTokens.issue());
    }
}
