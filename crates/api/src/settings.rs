//! Typed configuration, layered with the `config` crate:
//! built-in defaults → a TOML file (`--config FILE`, or `./udd.toml` when present) →
//! environment variables `UDD__SECTION__KEY` (e.g. `UDD__USER_DATA__ENABLE_DOWNLOAD=false`).
//!
//! Keys mirror Rocket.Chat's settings (`UserData_FileSystemPath` is
//! `user_data.file_system_path`, …). The defaults keep everything under `./data/`, so a
//! fresh checkout runs with no setup.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

mod login;

pub use login::{AccountsSettings, LoginSettings, RateLimitSettings, RouteLimit};

/// Everything udd can be configured with.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The HTTP server.
    pub server: ServerSettings,
    /// The database.
    pub database: DatabaseSettings,
    /// The user data download feature (Rocket.Chat's `UserData_*` settings).
    pub user_data: UserDataSettings,
    /// Outgoing mail.
    pub smtp: SmtpSettings,
    /// Where workspace files (upload and avatar bytes) are kept.
    pub storage: StorageSettings,
    /// Blocking after failed logins (Rocket.Chat's `Block_Multiple_Failed_Logins_*`) and
    /// the password-check pool.
    pub login: LoginSettings,
    /// The REST rate limiter (Rocket.Chat's `API_Enable_Rate_Limiter*`).
    pub rate_limit: RateLimitSettings,
    /// Accounts (Rocket.Chat's `Accounts_*`).
    pub accounts: AccountsSettings,
}

/// `[storage]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    /// Folder of upload and avatar bytes, filled by `udd import` and `udd demo`.
    pub blob_path: PathBuf,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            blob_path: PathBuf::from("data/blobs"),
        }
    }
}

/// `[server]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on; port 0 picks a free port.
    pub bind: String,
    /// The public base URL used in links (e-mails, download paths).
    pub site_url: String,
    /// HTTP worker threads; by default one per core.
    pub http_workers: Option<usize>,
    /// The secret that signs download links (at least 16 bytes). When unset, one is
    /// generated into `link_secret_file` on first start and kept there.
    pub link_secret: Option<String>,
    /// Where the generated link secret is kept.
    pub link_secret_file: PathBuf,
    /// Proxies in front of udd that append to `X-Forwarded-For` (Rocket.Chat's
    /// `HTTP_FORWARDED_COUNT`): the client address is the entry this many from the end.
    /// 0 (the default) uses the connection's peer address and ignores the header, which
    /// a client could otherwise forge to dodge blocking and rate limits.
    pub forwarded_count: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:3000".to_owned(),
            site_url: "http://localhost:3000".to_owned(),
            http_workers: None,
            link_secret: None,
            link_secret_file: PathBuf::from("data/link-secret"),
            forwarded_count: 0,
        }
    }
}

/// `[database]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// A SQLite file path, or `sqlite://PATH`.
    pub url: String,
    /// Maximum pooled connections.
    pub pool_size: u32,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: "data/udd.sqlite3".to_owned(),
            pool_size: 8,
        }
    }
}

/// `[user_data]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct UserDataSettings {
    /// `UserData_EnableDownload`: when off, requests and downloads are refused.
    pub enable_download: bool,
    /// `UserData_FileSystemPath`: where operations write their working folders.
    pub file_system_path: PathBuf,
    /// `UserData_FileSystemZipPath`: where finished zips are stored.
    pub file_system_zip_path: PathBuf,
    /// `UserData_ProcessingFrequency`: minutes between worker runs.
    pub processing_frequency: u64,
    /// Overrides `processing_frequency` with seconds (handy in tests and demos).
    pub processing_frequency_seconds: Option<u64>,
    /// `UserData_MessageLimitPerRequest`: messages per batch.
    pub message_limit_per_request: u32,
    /// Operations processed in parallel.
    pub workers: u32,
    /// Days a finished zip stays downloadable.
    pub retention_days: u32,
    /// Seconds a worker's claim on an operation lasts without renewal: a crashed
    /// worker's operation is taken over this long after it died.
    pub lease_seconds: u64,
    /// Attempts before an operation that keeps failing is marked `failed`.
    pub max_attempts: u32,
    /// Minutes between retention sweeps (expired zips, left-over folders).
    pub retention_sweep_minutes: u64,
}

impl Default for UserDataSettings {
    fn default() -> Self {
        Self {
            enable_download: true,
            file_system_path: PathBuf::from("data/userData"),
            file_system_zip_path: PathBuf::from("data/zipFiles"),
            processing_frequency: 2,
            processing_frequency_seconds: None,
            message_limit_per_request: 1000,
            workers: 2,
            retention_days: 7,
            lease_seconds: 60,
            max_attempts: 3,
            retention_sweep_minutes: 10,
        }
    }
}

impl UserDataSettings {
    /// Time between worker runs.
    pub fn processing_interval(&self) -> Duration {
        match self.processing_frequency_seconds {
            Some(seconds) => Duration::from_secs(seconds),
            None => Duration::from_secs(self.processing_frequency.saturating_mul(60)),
        }
    }
}

/// `[smtp]`: with no `host`, mail is written as `.eml` files to `outbox_path` instead
/// of sent.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpSettings {
    /// SMTP server host name.
    pub host: Option<String>,
    /// SMTP server port.
    pub port: u16,
    /// `none`, `starttls` or `tls`.
    pub tls: String,
    /// Login user name.
    pub username: Option<String>,
    /// Login password.
    pub password: Option<String>,
    /// The From: address.
    pub from: String,
    /// Where mail goes when no `host` is set.
    pub outbox_path: PathBuf,
    /// Attempts to hand a mail over before giving up (with a doubling back-off from
    /// one minute, capped at an hour).
    pub max_attempts: u32,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            host: None,
            port: 587,
            tls: "starttls".to_owned(),
            username: None,
            password: None,
            from: "udd <no-reply@localhost>".to_owned(),
            outbox_path: PathBuf::from("data/outbox"),
            max_attempts: 8,
        }
    }
}

impl Settings {
    /// Loads defaults, then `file` (required when given; otherwise `./udd.toml` if it
    /// exists), then `UDD__…` environment variables, and validates the result.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        Self::load_from(file, config::Environment::with_prefix("UDD"))
    }

    fn load_from(file: Option<&Path>, env: config::Environment) -> anyhow::Result<Self> {
        let file_source = match file {
            Some(path) => config::File::from(path).required(true),
            None => config::File::from(Path::new("udd.toml")).required(false),
        };
        let settings: Settings = config::Config::builder()
            .add_source(file_source.format(config::FileFormat::Toml))
            .add_source(
                env.prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    .list_separator(",")
                    .with_list_parse_key("login.ip_whitelist"),
            )
            .build()
            .context("reading the configuration")?
            .try_deserialize()
            .context("invalid configuration")?;
        settings.validate()?;
        Ok(settings)
    }

    /// Rejects values that would only fail later, with a message naming the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.server.bind.parse::<SocketAddr>().with_context(|| {
            format!(
                "server.bind `{}` is not an address like 127.0.0.1:3000",
                self.server.bind
            )
        })?;
        let site = &self.server.site_url;
        anyhow::ensure!(
            (site.starts_with("http://") || site.starts_with("https://"))
                && !site.contains(char::is_whitespace),
            "server.site_url `{site}` must be an http:// or https:// URL (it starts the links in mails)"
        );
        let user_data = &self.user_data;
        within(
            "user_data.message_limit_per_request",
            user_data.message_limit_per_request.into(),
            1,
            100_000,
        )?;
        match user_data.processing_frequency_seconds {
            Some(seconds) => within("user_data.processing_frequency_seconds", seconds, 1, 86_400)?,
            None => within(
                "user_data.processing_frequency",
                user_data.processing_frequency,
                1,
                1_440,
            )?,
        }
        within(
            "user_data.workers",
            user_data.workers.into(),
            1,
            MAX_WORKERS,
        )?;
        within(
            "user_data.retention_days",
            user_data.retention_days.into(),
            1,
            3_650,
        )?;
        within(
            "user_data.lease_seconds",
            user_data.lease_seconds,
            1,
            86_400,
        )?;
        within(
            "user_data.max_attempts",
            user_data.max_attempts.into(),
            1,
            100,
        )?;
        within(
            "user_data.retention_sweep_minutes",
            user_data.retention_sweep_minutes,
            1,
            10_080,
        )?;
        within("database.pool_size", self.database.pool_size.into(), 1, 256)?;
        if let Some(workers) = self.server.http_workers {
            within("server.http_workers", workers as u64, 1, 256)?;
        }
        anyhow::ensure!(
            matches!(self.smtp.tls.as_str(), "none" | "starttls" | "tls"),
            "smtp.tls must be none, starttls or tls, not `{}`",
            self.smtp.tls
        );
        within("smtp.max_attempts", self.smtp.max_attempts.into(), 1, 100)?;
        within(
            "server.forwarded_count",
            self.server.forwarded_count as u64,
            0,
            10,
        )?;
        self.validate_login()?;
        if let Some(secret) = &self.server.link_secret {
            let least = udd_adapters::links::MIN_SECRET_LEN;
            anyhow::ensure!(
                secret.len() >= least,
                "server.link_secret must be at least {least} bytes long"
            );
        }
        Ok(())
    }
}

/// The most export workers one process runs: each holds a database connection and a
/// working folder, and more than this cannot run at once on one host anyway.
pub const MAX_WORKERS: u64 = 64;

/// Refuses `value` outside `min..=max`, naming the key.
fn within(key: &str, value: u64, min: u64, max: u64) -> anyhow::Result<()> {
    anyhow::ensure!(
        (min..=max).contains(&value),
        "{key} must be between {min} and {max}, not {value}"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    pub(super) fn env(vars: &[(&str, &str)]) -> config::Environment {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        config::Environment::with_prefix("UDD").source(Some(map))
    }

    #[test]
    fn defaults_keep_everything_under_data() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let missing = dir.path().join("absent.toml");
        assert!(
            Settings::load_from(Some(&missing), env(&[])).is_err(),
            "an explicit file must exist"
        );

        let s = Settings::default();
        s.validate()?;
        assert_eq!(s.server.bind, "127.0.0.1:3000");
        assert_eq!(s.database.url, "data/udd.sqlite3");
        assert_eq!(s.user_data.file_system_path, Path::new("data/userData"));
        assert_eq!(s.user_data.processing_interval(), Duration::from_secs(120));
        assert_eq!(s.user_data.message_limit_per_request, 1000);
        assert!(s.user_data.enable_download);
        Ok(())
    }

    #[test]
    fn a_file_overrides_defaults_and_the_environment_overrides_the_file() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("udd.toml");
        std::fs::write(
            &file,
            "[server]\nbind = \"0.0.0.0:8080\"\n[user_data]\nenable_download = true\nmessage_limit_per_request = 50\n",
        )?;
        let s = Settings::load_from(
            Some(&file),
            env(&[
                ("UDD__USER_DATA__ENABLE_DOWNLOAD", "false"),
                ("UDD__USER_DATA__PROCESSING_FREQUENCY_SECONDS", "5"),
                ("UDD__DATABASE__URL", "/tmp/x.sqlite3"),
            ]),
        )?;
        assert_eq!(s.server.bind, "0.0.0.0:8080");
        assert_eq!(s.user_data.message_limit_per_request, 50);
        assert!(!s.user_data.enable_download);
        assert_eq!(s.user_data.processing_interval(), Duration::from_secs(5));
        assert_eq!(s.database.url, "/tmp/x.sqlite3");
        Ok(())
    }

    #[test]
    fn bad_values_are_refused_with_the_key_named() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("udd.toml");
        for (toml, key) in [
            ("[server]\nbind = \"nowhere\"\n", "server.bind"),
            (
                "[user_data]\nmessage_limit_per_request = 0\n",
                "message_limit_per_request",
            ),
            (
                "[user_data]\nprocessing_frequency = 0\n",
                "processing_frequency",
            ),
            ("[user_data]\nenable_dowload = true\n", "enable_dowload"),
            ("[server]\nlink_secret = \"short\"\n", "server.link_secret"),
            ("[user_data]\nretention_days = 0\n", "retention_days"),
            (
                "[user_data]\nretention_days = 1000000000\n",
                "user_data.retention_days must be between 1 and 3650",
            ),
            (
                "[user_data]\nworkers = 100000\n",
                "user_data.workers must be between 1 and 64",
            ),
            (
                "[user_data]\nlease_seconds = 0\n",
                "user_data.lease_seconds",
            ),
            ("[database]\npool_size = 100000\n", "database.pool_size"),
            ("[smtp]\nmax_attempts = 0\n", "smtp.max_attempts"),
            ("[smtp]\ntls = \"ssl\"\n", "smtp.tls"),
            (
                "[server]\nsite_url = \"chat.example.org\"\n",
                "server.site_url",
            ),
            (
                "[login]\nattempts_until_block_by_user = 0\n",
                "login.attempts_until_block_by_user",
            ),
            (
                "[login]\ntime_to_unblock_by_ip_in_minutes = 1000000\n",
                "login.time_to_unblock_by_ip_in_minutes must be between 1 and 10080",
            ),
            ("[login]\nip_whitelist = [\"nope\"]\n", "login.ip_whitelist"),
            (
                "[login]\npassword_check_threads = 0\n",
                "login.password_check_threads",
            ),
            (
                "[rate_limit]\nlimit_time_default_ms = 10\n",
                "rate_limit.limit_time_default_ms",
            ),
            (
                "[[rate_limit.routes]]\nroute = \"users.requestDataDownlod\"\ncalls = 5\n",
                "users.requestDataDownlod",
            ),
            (
                "[accounts]\nlogin_expiration_days = 100000\n",
                "accounts.login_expiration_days must be between 1 and 36500",
            ),
            ("[server]\nforwarded_count = 99\n", "server.forwarded_count"),
        ] {
            std::fs::write(&file, toml)?;
            let err = Settings::load_from(Some(&file), env(&[])).unwrap_err();
            assert!(format!("{err:#}").contains(key), "{key}: {err:#}");
        }
        Ok(())
    }
}
