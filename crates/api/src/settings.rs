//! Typed configuration, layered with the `config` crate:
//! built-in defaults → a TOML file (`--config FILE`, or `./udd.toml` when present) →
//! environment variables `UDD__SECTION__KEY` (e.g. `UDD__USER_DATA__ENABLE_DOWNLOAD=false`).
//!
//! Keys mirror Rocket.Chat's settings (`UserData_FileSystemPath` is
//! `user_data.file_system_path`, …). The defaults keep everything under `./data/`, so a
//! fresh checkout runs with no setup.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

mod auth;
mod login;
mod server;

pub use auth::{AuthMode, AuthSettings, RocketChatSettings, RocketChatUploads, RocketChatWebdav};
pub use login::{AccountsSettings, LoginSettings, RateLimitSettings, RouteLimit};
pub use server::ServerSettings;

/// Everything udd can be configured with.
#[derive(Debug, Clone, Default, Deserialize)]
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
    /// Who owns sessions, and the second factor of password logins.
    pub auth: AuthSettings,
    /// The Rocket.Chat workspace that owns sessions in `auth.mode = "rocketchat"`.
    pub rocketchat: RocketChatSettings,
}

/// `[storage]`: where upload and avatar bytes and finished archives are kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    /// `local` (folders on this machine, the default) or `s3` (an S3-compatible bucket).
    pub kind: StorageKind,
    /// With `local`: the folder of upload and avatar bytes, filled by `udd import` and
    /// `udd demo`.
    pub blob_path: PathBuf,
    /// With `s3`: the bucket.
    pub bucket: String,
    /// With `s3`: the service's address for anything but AWS (`http://127.0.0.1:9000`).
    pub endpoint: Option<String>,
    /// With `s3`: the region.
    pub region: String,
    /// With `s3`: every object's name starts with this (`udd`); nothing outside it is
    /// ever touched.
    pub prefix: String,
    /// With `s3`: address the bucket in the path rather than the host name (MinIO, Ceph
    /// and most self-hosted services want this).
    pub path_style: bool,
    /// With `s3`: the access key; unset to take credentials from the environment.
    pub access_key_id: Option<String>,
    /// With `s3`: the secret key (shown as `[REDACTED]` in logs).
    pub secret_access_key: Option<SecretString>,
    /// How archives reach the downloader: `proxy` streams them through udd; `redirect`
    /// (with `s3` and keys) answers `302` to a link straight to the store.
    pub download: DownloadMode,
    /// With `redirect`: how long the link to the store lasts.
    pub presign_seconds: u64,
}

/// How a download is served.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DownloadMode {
    /// Streamed through udd, from any store.
    #[default]
    Proxy,
    /// A redirect to a presigned link (object storage only; the local store proxies).
    Redirect,
}

/// Where bytes are kept.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// Local folders.
    #[default]
    Local,
    /// An S3-compatible object store.
    S3,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            kind: StorageKind::Local,
            blob_path: PathBuf::from("data/blobs"),
            bucket: String::new(),
            endpoint: None,
            region: "us-east-1".to_owned(),
            prefix: String::new(),
            path_style: false,
            access_key_id: None,
            secret_access_key: None,
            download: DownloadMode::Proxy,
            presign_seconds: 60,
        }
    }
}

impl StorageSettings {
    fn validate(&self) -> anyhow::Result<()> {
        within("storage.presign_seconds", self.presign_seconds, 1, 604_800)?;
        if self.kind != StorageKind::S3 {
            return Ok(());
        }
        anyhow::ensure!(
            !self.bucket.trim().is_empty(),
            "storage.bucket must be set when storage.kind is \"s3\""
        );
        if let Some(endpoint) = &self.endpoint {
            anyhow::ensure!(
                is_http_url(endpoint),
                "storage.endpoint `{endpoint}` must be an http:// or https:// URL"
            );
        }
        anyhow::ensure!(
            self.access_key_id.is_some() == self.secret_access_key.is_some(),
            "storage.access_key_id and storage.secret_access_key go together"
        );
        Ok(())
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
    /// Operations processed in parallel by this process. `0` in `udd serve` makes it a
    /// pure HTTP server that leaves exports to `udd worker` processes on the same
    /// database; `udd worker` needs at least one.
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
    /// Days the records of a finished operation (once its zip is gone) and download log
    /// entries are kept; the retention sweep deletes older ones.
    pub records_retention_days: u32,
    /// When on, the mailed link alone does not download: someone not logged in is asked
    /// to sign in first and open the link again.
    pub link_requires_login: bool,
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
            records_retention_days: 365,
            link_requires_login: false,
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
#[derive(Debug, Clone, Deserialize)]
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
    /// Login password (shown as `[REDACTED]` in any debug output).
    pub password: Option<SecretString>,
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
                    .with_list_parse_key("login.ip_whitelist")
                    .with_list_parse_key("server.trusted_proxies"),
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
        self.storage.validate()?;
        self.server.validate()?;
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
            0,
            MAX_WORKERS,
        )?;
        within(
            "user_data.retention_days",
            user_data.retention_days.into(),
            1,
            3_650,
        )?;
        within(
            "user_data.records_retention_days",
            user_data.records_retention_days.into(),
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
        self.smtp.validate()?;
        self.validate_login()?;
        self.validate_auth()?;
        Ok(())
    }
}

impl SmtpSettings {
    /// Refuses SMTP settings that could never deliver a mail.
    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            matches!(self.tls.as_str(), "none" | "starttls" | "tls"),
            "smtp.tls must be none, starttls or tls, not `{}`",
            self.tls
        );
        within("smtp.max_attempts", self.max_attempts.into(), 1, 100)?;
        within("smtp.port", self.port.into(), 1, u64::from(u16::MAX))?;
        if let Some(host) = &self.host {
            anyhow::ensure!(
                is_host_name(host),
                "smtp.host `{}` is not a host name or IP address (write the port in smtp.port, \
                 without a scheme)",
                crate::error::printable(host)
            );
        }
        let username = self.username.as_deref().is_some_and(|v| !v.is_empty());
        let password = self
            .password
            .as_ref()
            .is_some_and(|v| !v.expose_secret().is_empty());
        anyhow::ensure!(
            username || !password,
            "smtp.password is set without smtp.username"
        );
        anyhow::ensure!(
            !username || password,
            "smtp.username is set without smtp.password"
        );
        Ok(())
    }
}

/// A DNS host name (letters, digits and `-` in dot-separated labels of at most 63
/// characters, none starting or ending with `-`) or an IP address.
fn is_host_name(host: &str) -> bool {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

impl Settings {
    /// The folders `udd serve`, `udd worker` and `udd export` write into, with their
    /// keys: working folders, zips, blobs, and the outbox when no SMTP host is set.
    pub fn output_folders(&self) -> Vec<(&'static str, &Path)> {
        let mut folders = vec![
            (
                "user_data.file_system_path",
                self.user_data.file_system_path.as_path(),
            ),
            (
                "user_data.file_system_zip_path",
                self.user_data.file_system_zip_path.as_path(),
            ),
            ("storage.blob_path", self.storage.blob_path.as_path()),
        ];
        if self.smtp.host.is_none() {
            folders.push(("smtp.outbox_path", self.smtp.outbox_path.as_path()));
        }
        folders
    }

    /// Things that work but are probably not what was meant, one sentence each.
    pub fn warnings(&self) -> Vec<String> {
        let defaults = ServerSettings::default();
        let mut warnings = Vec::new();
        if self.server.site_url == defaults.site_url && self.server.bind != defaults.bind {
            warnings.push(format!(
                "server.site_url is still the default {} while udd listens on {}: the links \
                 in mails point there; set server.site_url to the address people open",
                defaults.site_url, self.server.bind
            ));
        }
        if self.smtp.host.is_none() {
            warnings.push(format!(
                "smtp.host is not set: mails are not sent but written as .eml files into {}",
                self.smtp.outbox_path.display()
            ));
        }
        warnings
    }
}

/// Creates each folder that is missing and writes and removes a file in it, so one that
/// cannot work stops the process at start-up with its key named, rather than the first
/// export or mail failing later.
pub fn probe_folders(folders: &[(&str, &Path)]) -> anyhow::Result<()> {
    for (key, folder) in folders {
        udd_adapters::owner_only::probe_writable(folder)
            .with_context(|| format!("{key} `{}` cannot be used", folder.display()))?;
    }
    Ok(())
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

/// Whether `url` looks like an `http://` or `https://` address with a host: what the
/// settings that name a server accept (the client that uses it checks the rest).
fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|rest| !rest.is_empty() && !url.contains(char::is_whitespace))
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
    fn trusted_proxies_come_as_a_list_from_a_file_or_comma_separated_from_the_environment(
    ) -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("udd.toml");
        std::fs::write(
            &file,
            "[server]\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]\n",
        )?;
        let s = Settings::load_from(Some(&file), env(&[]))?;
        assert_eq!(s.server.trusted_proxies, ["127.0.0.1", "10.0.0.0/8"]);
        let s = Settings::load_from(
            Some(&file),
            env(&[("UDD__SERVER__TRUSTED_PROXIES", "::1,192.168.0.0/16")]),
        )?;
        assert_eq!(s.server.trusted_proxies, ["::1", "192.168.0.0/16"]);
        Ok(())
    }

    #[test]
    fn secrets_never_show_in_debug_output() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("udd.toml");
        std::fs::write(
            &file,
            "[server]\nlink_secret = \"a link secret, long enough\"\n[smtp]\nhost = \"mail.example.org\"\nusername = \"u\"\npassword = \"hunter2-hunter2\"\n",
        )?;
        let s = Settings::load_from(Some(&file), env(&[]))?;
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("long enough"),
            "{shown}"
        );
        assert_eq!(
            s.smtp
                .password
                .as_ref()
                .map(|p| p.expose_secret().to_owned()),
            Some("hunter2-hunter2".to_owned())
        );
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
                "[user_data]\nrecords_retention_days = 0\n",
                "user_data.records_retention_days must be between 1 and 3650",
            ),
            (
                "[user_data]\nworkers = 100000\n",
                "user_data.workers must be between 0 and 64",
            ),
            (
                "[user_data]\nlease_seconds = 0\n",
                "user_data.lease_seconds",
            ),
            ("[database]\npool_size = 100000\n", "database.pool_size"),
            ("[smtp]\nmax_attempts = 0\n", "smtp.max_attempts"),
            ("[smtp]\ntls = \"ssl\"\n", "smtp.tls"),
            (
                "[smtp]\nport = 0\n",
                "smtp.port must be between 1 and 65535",
            ),
            (
                "[smtp]\nhost = \"smtp://mail.example.org\"\n",
                "smtp.host `smtp://mail.example.org` is not a host name",
            ),
            ("[smtp]\nhost = \"mail.example.org:25\"\n", "smtp.host"),
            ("[smtp]\nhost = \"-bad-.example.org\"\n", "smtp.host"),
            ("[smtp]\nhost = \"\"\n", "smtp.host"),
            (
                "[smtp]\nhost = \"mail.example.org\"\nusername = \"udd\"\n",
                "smtp.username is set without smtp.password",
            ),
            (
                "[smtp]\npassword = \"secret\"\n",
                "smtp.password is set without smtp.username",
            ),
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
            ("[server]\nforwarded_count = 1\n", "server.trusted_proxies"),
            (
                "[server]\ntrusted_proxies = [\"10.0.0.0/33\"]\n",
                "server.trusted_proxies",
            ),
        ] {
            std::fs::write(&file, toml)?;
            let err = Settings::load_from(Some(&file), env(&[])).unwrap_err();
            assert!(format!("{err:#}").contains(key), "{key}: {err:#}");
        }
        Ok(())
    }
}

#[cfg(test)]
mod start_up_tests {
    use super::*;

    #[test]
    fn host_names_and_addresses_are_told_from_nonsense() {
        for good in [
            "localhost",
            "mail.example.org",
            "mail.example.org.",
            "smtp-1.eu",
            "127.0.0.1",
            "::1",
        ] {
            assert!(is_host_name(good), "{good}");
        }
        for bad in [
            "",
            "smtp://x",
            "x:25",
            "a..b",
            "-a.org",
            "a-.org",
            "with space",
            "[::1]",
            &"a".repeat(64),
        ] {
            assert!(!is_host_name(bad), "{bad}");
        }
    }

    #[test]
    fn complete_smtp_settings_are_accepted() -> anyhow::Result<()> {
        let mut settings = Settings::default();
        settings.smtp.host = Some("mail.example.org".into());
        settings.smtp.port = 465;
        settings.smtp.tls = "tls".into();
        settings.smtp.username = Some("udd".into());
        settings.smtp.password = Some(SecretString::from("secret"));
        settings.validate()
    }

    #[test]
    fn a_default_site_url_behind_another_address_and_the_outbox_are_warned_about() {
        let settings = Settings::default();
        assert_eq!(settings.warnings().len(), 1, "only the outbox by default");
        assert!(settings.warnings()[0].contains("smtp.host is not set"));

        let mut elsewhere = Settings::default();
        elsewhere.server.bind = "0.0.0.0:8080".into();
        elsewhere.smtp.host = Some("mail.example.org".into());
        let warnings = elsewhere.warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("server.site_url"), "{warnings:?}");

        elsewhere.server.site_url = "https://chat.example.org".into();
        assert!(elsewhere.warnings().is_empty());
    }

    #[test]
    fn the_outbox_is_an_output_folder_only_without_an_smtp_host() {
        let mut settings = Settings::default();
        let keys = |s: &Settings| {
            s.output_folders()
                .iter()
                .map(|(k, _)| *k)
                .collect::<Vec<_>>()
        };
        assert!(keys(&settings).contains(&"smtp.outbox_path"));
        settings.smtp.host = Some("mail.example.org".into());
        assert_eq!(
            keys(&settings),
            [
                "user_data.file_system_path",
                "user_data.file_system_zip_path",
                "storage.blob_path"
            ]
        );
    }

    #[test]
    fn a_folder_that_cannot_be_written_is_named_by_its_key() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("plain-file");
        std::fs::write(&file, b"x")?;
        let good = dir.path().join("zips");
        let bad = file.join("blobs");
        probe_folders(&[("user_data.file_system_zip_path", &good)])?;
        assert!(good.is_dir(), "a missing folder is created");
        let err = probe_folders(&[
            ("user_data.file_system_zip_path", good.as_path()),
            ("storage.blob_path", bad.as_path()),
        ])
        .unwrap_err();
        let message = format!("{err:#}");
        assert!(message.starts_with("storage.blob_path"), "{message}");
        assert!(message.contains("plain-file/blobs"), "{message}");
        Ok(())
    }
}
