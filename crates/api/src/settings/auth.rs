//! `[auth]` and `[rocketchat]`: who owns sessions (udd, or the Rocket.Chat workspace
//! beside it), and the second factor of udd's own password logins (Rocket.Chat's
//! `Accounts_TwoFactorAuthentication_*` settings).

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use udd_app::{SessionCacheConfig, TwoFactorConfig};
use udd_domain::TotpRule;

use super::{within, Settings};

/// Who owns sessions.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// udd: password logins here (with the second factor imported users have), tokens
    /// issued here or imported.
    #[default]
    Local,
    /// The Rocket.Chat workspace at `rocketchat.url`: its tokens are checked with it,
    /// and udd's own password login is off.
    Rocketchat,
}

/// `[auth]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// `local` (the default) or `rocketchat`.
    pub mode: AuthMode,
    /// `Accounts_TwoFactorAuthentication_Enabled`: off, password logins here need no
    /// second factor even for users who have one.
    pub two_factor: bool,
    /// `Accounts_TwoFactorAuthentication_MaxDelta`: 30-second steps either side of now
    /// whose TOTP codes are accepted.
    pub totp_max_delta: u32,
    /// `Accounts_TwoFactorAuthentication_By_Email_Code_Expiration`: seconds an e-mailed
    /// code works.
    pub email_code_expiration_seconds: u64,
    /// `Accounts_TwoFactorAuthentication_Max_Invalid_Email_Code_Attempts`.
    pub email_code_max_attempts: u32,
    /// Seconds a check of one of udd's own login tokens is remembered (0: never), so
    /// that clients following an export do not cost a database read per request. A
    /// logout through this process takes effect at once; a logout through another
    /// process, or a user made inactive by an import, within this time.
    pub session_cache_seconds: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            mode: AuthMode::Local,
            two_factor: true,
            totp_max_delta: 1,
            // Rocket.Chat keeps e-mailed codes for an hour; ten minutes is plenty to
            // copy a code out of a mail and gives a guessed code less time.
            email_code_expiration_seconds: 600,
            email_code_max_attempts: 5,
            session_cache_seconds: 5,
        }
    }
}

impl AuthSettings {
    /// How long checks of udd's own tokens are remembered.
    pub fn session_cache(&self) -> SessionCacheConfig {
        SessionCacheConfig::local(self.session_cache_seconds)
    }

    /// The second-factor rules these settings describe.
    pub fn two_factor_config(&self) -> TwoFactorConfig {
        TwoFactorConfig {
            enabled: self.two_factor,
            totp: TotpRule {
                max_delta: self.totp_max_delta,
                ..TotpRule::default()
            },
            email_code_lifetime: chrono::Duration::seconds(
                i64::try_from(self.email_code_expiration_seconds).unwrap_or(i64::MAX),
            ),
            email_code_max_attempts: self.email_code_max_attempts,
        }
    }
}

/// `[rocketchat]`: the workspace that owns sessions in `auth.mode = "rocketchat"`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RocketChatSettings {
    /// The workspace's base URL, e.g. `https://chat.example.com`.
    pub url: Option<String>,
    /// Seconds to wait for it to connect and to answer, each.
    pub timeout_seconds: u64,
    /// Seconds a token it accepted is taken as valid without asking again (a token
    /// revoked there stops working here within this time).
    pub cache_valid_seconds: u64,
    /// Seconds a token it refused is refused without asking again.
    pub cache_refused_seconds: u64,
    /// Answers of each kind (accepted, refused) kept at most.
    pub cache_capacity: usize,
    /// `[rocketchat.uploads]`: the S3 bucket where Rocket.Chat keeps uploads
    /// (`FileUpload_Storage_Type = AmazonS3`), read in place by exports.
    pub uploads: RocketChatUploads,
    /// `[rocketchat.webdav]`: the WebDAV server where Rocket.Chat keeps uploads
    /// (`FileUpload_Storage_Type = Webdav`), read in place by exports.
    pub webdav: RocketChatWebdav,
}

/// `[rocketchat.webdav]`: Rocket.Chat's WebDAV upload store, read-only. Uploads whose
/// dump documents carry `Webdav.path` (and whose bytes the dump does not hold) are
/// exported from there, without being copied into udd's store.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RocketChatWebdav {
    /// The server's address (`FileUpload_Webdav_Server_URL`); empty: uploads kept on
    /// WebDAV are unavailable.
    pub url: String,
    /// The user (`FileUpload_Webdav_Username`); unset: no credentials are sent.
    pub username: Option<String>,
    /// The password (`FileUpload_Webdav_Password`).
    pub password: Option<SecretString>,
}

/// Whether two optional secrets are both unset or hold the same text (settings are
/// compared in tests; a secret's text is not otherwise compared or shown).
fn same_secret(a: &Option<SecretString>, b: &Option<SecretString>) -> bool {
    use secrecy::ExposeSecret;
    a.as_ref().map(ExposeSecret::expose_secret) == b.as_ref().map(ExposeSecret::expose_secret)
}

impl PartialEq for RocketChatWebdav {
    fn eq(&self, other: &Self) -> bool {
        (&self.url, &self.username) == (&other.url, &other.username)
            && same_secret(&self.password, &other.password)
    }
}

/// `[rocketchat.uploads]`: Rocket.Chat's own upload bucket, read-only. Uploads whose
/// dump documents carry `AmazonS3.path` (and whose bytes the dump does not hold) are
/// exported from there, without being copied into udd's store.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RocketChatUploads {
    /// The bucket (`FileUpload_S3_Bucket`); empty: uploads kept in S3 are unavailable.
    pub bucket: String,
    /// The service's address for anything but AWS.
    pub endpoint: Option<String>,
    /// The region (`FileUpload_S3_Region`); `us-east-1` when unset.
    pub region: Option<String>,
    /// Address the bucket in the path (`FileUpload_S3_ForcePathStyle`).
    pub path_style: bool,
    /// The access key (`FileUpload_S3_AWSAccessKeyId`); unset to use the environment's.
    pub access_key_id: Option<String>,
    /// The secret key (`FileUpload_S3_AWSSecretAccessKey`).
    pub secret_access_key: Option<SecretString>,
}

impl PartialEq for RocketChatUploads {
    fn eq(&self, other: &Self) -> bool {
        (
            &self.bucket,
            &self.endpoint,
            &self.region,
            self.path_style,
            &self.access_key_id,
        ) == (
            &other.bucket,
            &other.endpoint,
            &other.region,
            other.path_style,
            &other.access_key_id,
        ) && same_secret(&self.secret_access_key, &other.secret_access_key)
    }
}

impl Default for RocketChatSettings {
    fn default() -> Self {
        Self {
            url: None,
            timeout_seconds: 5,
            cache_valid_seconds: 60,
            cache_refused_seconds: 5,
            cache_capacity: 10_000,
            uploads: RocketChatUploads::default(),
            webdav: RocketChatWebdav::default(),
        }
    }
}

impl RocketChatSettings {
    /// How long to wait for the workspace.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_seconds)
    }

    /// The answer cache these settings describe.
    pub fn cache_config(&self) -> SessionCacheConfig {
        let seconds = |s: u64| chrono::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX));
        SessionCacheConfig {
            valid_for: seconds(self.cache_valid_seconds),
            refused_for: seconds(self.cache_refused_seconds),
            capacity: self.cache_capacity,
        }
    }
}

impl Settings {
    /// The `[auth]` and `[rocketchat]` bounds, and a URL when sessions are Rocket.Chat's.
    pub(super) fn validate_auth(&self) -> anyhow::Result<()> {
        let auth = &self.auth;
        within("auth.totp_max_delta", auth.totp_max_delta.into(), 0, 10)?;
        within(
            "auth.email_code_expiration_seconds",
            auth.email_code_expiration_seconds,
            30,
            86_400,
        )?;
        within(
            "auth.email_code_max_attempts",
            auth.email_code_max_attempts.into(),
            1,
            100,
        )?;
        within(
            "auth.session_cache_seconds",
            auth.session_cache_seconds,
            0,
            3_600,
        )?;
        let rc = &self.rocketchat;
        within("rocketchat.timeout_seconds", rc.timeout_seconds, 1, 60)?;
        within(
            "rocketchat.cache_valid_seconds",
            rc.cache_valid_seconds,
            0,
            3_600,
        )?;
        within(
            "rocketchat.cache_refused_seconds",
            rc.cache_refused_seconds,
            0,
            3_600,
        )?;
        within(
            "rocketchat.cache_capacity",
            rc.cache_capacity as u64,
            1,
            1_000_000,
        )?;
        if let Some(url) = &rc.url {
            anyhow::ensure!(
                super::is_http_url(url),
                "rocketchat.url `{}` must be an http:// or https:// URL",
                crate::error::printable(url)
            );
        }
        let webdav = rc.webdav.url.trim();
        anyhow::ensure!(
            webdav.is_empty() || super::is_http_url(webdav),
            // Not repeated: it may hold credentials.
            "rocketchat.webdav.url must be an http:// or https:// URL"
        );
        if auth.mode == AuthMode::Rocketchat {
            anyhow::ensure!(
                rc.url.is_some(),
                "auth.mode = \"rocketchat\" needs rocketchat.url, the workspace's address \
                 (e.g. https://chat.example.com)"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::tests::env;

    #[test]
    fn local_is_the_default_and_rocketchat_needs_a_url() -> anyhow::Result<()> {
        let defaults = Settings::default();
        assert_eq!(defaults.auth.mode, AuthMode::Local);
        assert!(defaults.auth.two_factor);
        assert_eq!(
            defaults.rocketchat.cache_config(),
            SessionCacheConfig::default()
        );

        let dir = tempfile::tempdir()?;
        let file = dir.path().join("udd.toml");
        std::fs::write(
            &file,
            "[auth]\nmode = \"rocketchat\"\n[rocketchat]\nurl = \"https://chat.example.com\"\ncache_valid_seconds = 30\n",
        )?;
        let s = Settings::load_from(
            Some(&file),
            env(&[("UDD__ROCKETCHAT__TIMEOUT_SECONDS", "2")]),
        )?;
        assert_eq!(s.auth.mode, AuthMode::Rocketchat);
        assert_eq!(
            s.rocketchat.url.as_deref(),
            Some("https://chat.example.com")
        );
        assert_eq!(s.rocketchat.timeout(), Duration::from_secs(2));
        assert_eq!(
            s.rocketchat.cache_config().valid_for,
            chrono::Duration::seconds(30)
        );
        Ok(())
    }

    #[test]
    fn bad_auth_values_are_refused_with_the_key_named() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("udd.toml");
        for (toml, key) in [
            ("[auth]\nmode = \"rocketchat\"\n", "rocketchat.url"),
            ("[auth]\nmode = \"ldap\"\n", "ldap"),
            (
                "[rocketchat]\nurl = \"chat.example.com\"\n",
                "rocketchat.url",
            ),
            (
                "[rocketchat]\ntimeout_seconds = 0\n",
                "rocketchat.timeout_seconds",
            ),
            (
                "[rocketchat.webdav]\nurl = \"dav.example.org/remote\"\n",
                "rocketchat.webdav.url",
            ),
            (
                "[rocketchat.webdav]\nurl = \"https://dav example.org/\"\n",
                "rocketchat.webdav.url",
            ),
            (
                "[rocketchat]\ncache_capacity = 0\n",
                "rocketchat.cache_capacity",
            ),
            (
                "[auth]\nemail_code_max_attempts = 0\n",
                "auth.email_code_max_attempts",
            ),
            ("[auth]\ntotp_max_delta = 99\n", "auth.totp_max_delta"),
            ("[rocketchat]\nurll = \"https://x\"\n", "urll"),
        ] {
            std::fs::write(&file, toml)?;
            let err = Settings::load_from(Some(&file), env(&[])).unwrap_err();
            assert!(format!("{err:#}").contains(key), "{key}: {err:#}");
        }
        Ok(())
    }
}
