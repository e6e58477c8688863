//! Signed download links: `<expiry>.<HMAC-SHA256>` tokens over the file id, its owner
//! and the expiry, keyed with a server secret.
//!
//! The secret comes from the configuration, or from a file under `./data/` that is
//! generated (32 random bytes, readable by the owner only) the first time the service
//! starts, so links keep working across restarts with no setup.

use std::io::Write;
use std::path::Path;
use udd_domain::{FileId, UserId};

use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use udd_ports::{DownloadLinks, LinkError};

/// Secrets shorter than this are refused: a short key makes tokens guessable.
pub const MIN_SECRET_LEN: usize = 16;

/// Download tokens signed with HMAC-SHA256.
#[derive(Clone)]
pub struct HmacDownloadLinks {
    key: Vec<u8>,
}

impl std::fmt::Debug for HmacDownloadLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HmacDownloadLinks").finish_non_exhaustive()
    }
}

impl HmacDownloadLinks {
    /// Signs with `secret`.
    ///
    /// Errors: a secret shorter than [`MIN_SECRET_LEN`] bytes.
    pub fn new(secret: &[u8]) -> anyhow::Result<Self> {
        anyhow::ensure!(
            secret.len() >= MIN_SECRET_LEN,
            "the link secret must be at least {MIN_SECRET_LEN} bytes long"
        );
        Ok(Self {
            key: secret.to_vec(),
        })
    }

    /// Signs with the secret kept in `path`, creating it with a fresh random secret
    /// when there is none. Two processes starting at once agree on one secret.
    ///
    /// Errors: the file cannot be read or created, or holds a too-short secret.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            crate::owner_only::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        // Written whole under a temporary name, then linked into place: the link fails
        // if another process got there first, so every process reads one complete
        // secret, and a crash mid-write leaves no empty file behind.
        let mut bytes = [0_u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let temporary =
            path.with_extension(format!("{}.partial", crate::RandomIds::random_string(12)));
        crate::owner_only::options()
            .write(true)
            .create_new(true)
            .open(&temporary)
            .and_then(|mut file| {
                file.write_all(hex::encode(bytes).as_bytes())?;
                file.sync_all()
            })
            .with_context(|| format!("writing the link secret to {}", temporary.display()))?;
        let linked = std::fs::hard_link(&temporary, path);
        let _ = std::fs::remove_file(&temporary);
        match linked {
            Ok(()) => {
                tracing::info!(path = %path.display(), "generated a new download link secret")
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("creating the link secret {}", path.display()))
            }
        }
        let secret = std::fs::read_to_string(path)
            .with_context(|| format!("reading the link secret {}", path.display()))?;
        Self::new(secret.trim().as_bytes())
            .with_context(|| format!("the link secret in {}", path.display()))
    }

    /// Form tokens keyed from the same secret (see [`crate::HmacFormTokens`]).
    pub fn form_tokens(&self) -> crate::HmacFormTokens {
        crate::HmacFormTokens::derived_from(&self.key)
    }

    fn mac(&self, file_id: &str, owner: &str, expires: i64) -> Hmac<Sha256> {
        // Infallible: HMAC takes keys of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        // Lengths first, so no two (file, owner) pairs can produce the same input.
        for part in [file_id.as_bytes(), owner.as_bytes()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.update(&expires.to_be_bytes());
        mac
    }
}

impl DownloadLinks for HmacDownloadLinks {
    fn sign(&self, file_id: &FileId, owner: &UserId, expires_at: DateTime<Utc>) -> String {
        let expires = expires_at.timestamp();
        let tag = self.mac(file_id, owner, expires).finalize().into_bytes();
        format!("{expires}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    fn verify(
        &self,
        token: &str,
        file_id: &FileId,
        owner: &UserId,
        now: DateTime<Utc>,
    ) -> Result<(), LinkError> {
        let (expires, tag) = token.split_once('.').ok_or(LinkError::Invalid)?;
        let expires: i64 = expires.parse().map_err(|_| LinkError::Invalid)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| LinkError::Invalid)?;
        // Constant-time comparison.
        self.mac(file_id, owner, expires)
            .verify_slice(&tag)
            .map_err(|_| LinkError::Invalid)?;
        if now.timestamp() >= expires {
            return Err(LinkError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn now() -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::days(20_000)
    }

    fn links() -> HmacDownloadLinks {
        HmacDownloadLinks::new(b"0123456789abcdef-test").expect("secret")
    }

    #[test]
    fn a_signed_token_opens_its_file_until_it_expires() {
        let token = links().sign(&"F1".into(), &"alice".into(), now() + Duration::days(7));
        assert_eq!(
            links().verify(&token, &"F1".into(), &"alice".into(), now()),
            Ok(())
        );
        assert_eq!(
            links().verify(
                &token,
                &"F1".into(),
                &"alice".into(),
                now() + Duration::days(7)
            ),
            Err(LinkError::Expired)
        );
    }

    #[test]
    fn a_token_is_bound_to_its_file_owner_expiry_and_secret() {
        let expires = now() + Duration::days(7);
        let token = links().sign(&"F1".into(), &"alice".into(), expires);
        assert_eq!(
            links().verify(&token, &"F2".into(), &"alice".into(), now()),
            Err(LinkError::Invalid)
        );
        assert_eq!(
            links().verify(&token, &"F1".into(), &"bob".into(), now()),
            Err(LinkError::Invalid)
        );
        // Pushing the expiry forward breaks the signature.
        let (_, tag) = token.split_once('.').expect("dot");
        let extended = format!("{}.{tag}", (expires + Duration::days(30)).timestamp());
        assert_eq!(
            links().verify(&extended, &"F1".into(), &"alice".into(), now()),
            Err(LinkError::Invalid)
        );
        let other = HmacDownloadLinks::new(b"another-secret-of-length").expect("secret");
        assert_eq!(
            other.verify(&token, &"F1".into(), &"alice".into(), now()),
            Err(LinkError::Invalid)
        );
        // Moving a character between the id and the owner changes the input.
        let shifted = links().sign(&"F1a".into(), &"lice".into(), expires);
        assert_ne!(shifted, token);
    }

    #[test]
    fn garbage_is_invalid_not_a_panic() {
        for token in [
            "",
            ".",
            "abc",
            "12.",
            ".AAAA",
            "x.y",
            "99999999999999999999.AA",
            "1.%%%",
        ] {
            assert_eq!(
                links().verify(token, &"F1".into(), &"alice".into(), now()),
                Err(LinkError::Invalid),
                "{token}"
            );
        }
    }

    #[test]
    fn processes_starting_together_agree_on_one_secret() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("link-secret");
        let signers: Vec<HmacDownloadLinks> = std::thread::scope(|scope| {
            let started: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| HmacDownloadLinks::load_or_create(&path)))
                .collect();
            started
                .into_iter()
                .map(|t| t.join().expect("thread"))
                .collect::<anyhow::Result<_>>()
        })?;
        let token = signers[0].sign(&"F1".into(), &"alice".into(), now() + Duration::days(1));
        for signer in &signers {
            assert_eq!(
                signer.verify(&token, &"F1".into(), &"alice".into(), now()),
                Ok(())
            );
        }
        let leftovers = std::fs::read_dir(dir.path())?.count();
        assert_eq!(leftovers, 1, "no temporary files left");
        Ok(())
    }

    #[test]
    fn the_generated_secret_is_kept_and_reused() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("data/link-secret");
        let first = HmacDownloadLinks::load_or_create(&path)?;
        let token = first.sign(&"F1".into(), &"alice".into(), now() + Duration::days(1));
        let again = HmacDownloadLinks::load_or_create(&path)?;
        assert_eq!(
            again.verify(&token, &"F1".into(), &"alice".into(), now()),
            Ok(())
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path)?.permissions().mode() & 0o777,
                0o600
            );
        }
        std::fs::write(&path, "short")?;
        assert!(HmacDownloadLinks::load_or_create(&path).is_err());
        assert!(HmacDownloadLinks::new(b"short").is_err());
        Ok(())
    }
}
