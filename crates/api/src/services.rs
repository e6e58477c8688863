//! Composition: configuration in, adapters plugged into use cases out.

use std::sync::Arc;

use anyhow::Context;
use udd_adapters::SqliteLoginFailures;
use udd_adapters::{
    Database, HmacDownloadLinks, LocalBlobStore, LocalExportFiles, LocalExportFolders,
    LocalStoredExports, LocalWakeup, MailSettings, OutboxMailer, RandomIds, RocketChatPasswords,
    RocketChatTokens, SmtpMailer, SqliteDownloadLog, SqliteExportOperations, SqliteLoginTokens,
    SqliteNotices, SqliteUserDataFiles, SqliteUsers, SqliteWorkspace, SystemClock, ZipArchiveStore,
};
use udd_app::{
    AddUser, Authenticator, DownloadDataFile, EngineConfig, ExportEngine, ExportPorts,
    ImportWorkspace, NotifyConfig, NotifyOwners, RequestDataDownload, Retention, SeedDemo,
};
use udd_domain::RequestPolicy;
use udd_ports::{
    BlobStore, Clock, DownloadLinks, ExportWakeup, Mailer, WorkspaceReader, WorkspaceWriter,
};

use crate::settings::Settings;
use crate::worker::WorkerHealth;

/// The use cases the HTTP layer and the command line drive.
#[derive(Clone)]
pub struct Services {
    /// Login, logout, token checks.
    pub auth: Authenticator,
    /// `users.requestDataDownload`.
    pub request_download: RequestDataDownload,
    /// `udd user add`.
    pub add_user: AddUser,
    /// `udd import`.
    pub import: ImportWorkspace,
    /// `udd demo`.
    pub demo: SeedDemo,
    /// The workspace store (to ask whether it is empty).
    pub workspace: Arc<dyn WorkspaceWriter>,
    /// The workspace's read side.
    pub reader: Arc<dyn WorkspaceReader>,
    /// Upload and avatar bytes.
    pub blobs: Arc<dyn BlobStore>,
    /// The database, for diagnostics such as fingerprints.
    pub database: Database,
    /// `GET /data-export/{fileId}`.
    pub download: DownloadDataFile,
    /// Mailing owners when exports complete or fail.
    pub notify: NotifyOwners,
    /// Deleting expired zips and left-over files.
    pub retention: Retention,
    /// Workspace users.
    pub users: Arc<dyn udd_ports::Users>,
    /// The export engine the workers run.
    pub engine: ExportEngine,
    /// Wakes this process's workers when an operation is requested.
    pub wakeup: Arc<dyn ExportWakeup>,
    /// Whether this process's export workers are alive (for `/health`).
    pub worker_health: Arc<WorkerHealth>,
    /// The clock every use case reads (the rate limiter counts on it too).
    pub clock: Arc<dyn Clock>,
}

impl Services {
    /// Opens the database named in `settings` and migrates it.
    pub fn open_database(settings: &Settings) -> anyhow::Result<Database> {
        let db = Database::open(&settings.database.url, settings.database.pool_size)?;
        let applied = db.migrate().context("migrating the database")?;
        if applied > 0 {
            tracing::info!(applied, url = %settings.database.url, "database migrated");
        }
        Ok(db)
    }

    /// The mailer `[smtp]` asks for: SMTP when a host is set, else the outbox folder.
    pub fn mailer(settings: &Settings) -> anyhow::Result<Arc<dyn Mailer>> {
        let smtp = &settings.smtp;
        Ok(match &smtp.host {
            Some(host) => Arc::new(SmtpMailer::new(MailSettings {
                host: host.clone(),
                port: smtp.port,
                tls: smtp.tls.parse()?,
                username: smtp.username.clone(),
                password: smtp.password.clone(),
                from: smtp.from.clone(),
            })?),
            None => Arc::new(OutboxMailer::new(&smtp.outbox_path, smtp.from.clone())?),
        })
    }

    /// The download link signer: the configured secret, or the one kept on disk.
    fn links(settings: &Settings) -> anyhow::Result<Arc<dyn DownloadLinks>> {
        Ok(Arc::new(match &settings.server.link_secret {
            Some(secret) => HmacDownloadLinks::new(secret.as_bytes())?,
            None => HmacDownloadLinks::load_or_create(&settings.server.link_secret_file)?,
        }))
    }

    /// Builds every use case on the real adapters and the system clock.
    pub fn build(settings: &Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock))
    }

    /// Builds every use case on the real adapters with the given clock.
    pub fn build_with_clock(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let db = Self::open_database(settings)?;
        let users = Arc::new(SqliteUsers::new(db.clone()));
        let passwords = Arc::new(RocketChatPasswords::default());
        let ids = Arc::new(RandomIds);
        let workspace = Arc::new(SqliteWorkspace::new(db.clone()));
        let blobs = Arc::new(LocalBlobStore::new(&settings.storage.blob_path));
        let operations = Arc::new(SqliteExportOperations::new(db.clone()));
        let wakeup: Arc<dyn ExportWakeup> = Arc::new(LocalWakeup::default());
        let user_data = &settings.user_data;
        let files = Arc::new(SqliteUserDataFiles::new(db.clone()));
        let archives = Arc::new(ZipArchiveStore::new(
            &user_data.file_system_zip_path,
            blobs.clone(),
        ));
        let links = Self::links(settings)?;
        let notify = NotifyOwners::new(
            Arc::new(SqliteNotices::new(db.clone())),
            users.clone(),
            Self::mailer(settings)?,
            links.clone(),
            clock.clone(),
            &settings.server.site_url,
            NotifyConfig {
                max_attempts: settings.smtp.max_attempts,
                ..NotifyConfig::default()
            },
        );
        let retention = Retention::new(
            files.clone(),
            operations.clone(),
            archives.clone(),
            Arc::new(LocalStoredExports::new(
                &user_data.file_system_path,
                &user_data.file_system_zip_path,
            )),
            clock.clone(),
            chrono::Duration::hours(1),
        );
        let engine = ExportEngine::new(
            ExportPorts {
                queue: operations.clone(),
                progress: operations.clone(),
                users: users.clone(),
                reader: workspace.clone(),
                blobs: blobs.clone(),
                files: Arc::new(LocalExportFiles),
                archives,
                clock: clock.clone(),
                ids: ids.clone(),
            },
            EngineConfig {
                batch_size: user_data.message_limit_per_request,
                lease: std::time::Duration::from_secs(user_data.lease_seconds),
                max_attempts: user_data.max_attempts,
                retention_days: user_data.retention_days,
                ..EngineConfig::default()
            },
        );
        Ok(Self {
            download: DownloadDataFile::new(
                files,
                users.clone(),
                links,
                Arc::new(SqliteDownloadLog::new(db.clone())),
                clock.clone(),
                settings.user_data.enable_download,
            ),
            notify,
            retention,
            users: users.clone(),
            engine,
            import: ImportWorkspace::new(workspace.clone(), blobs.clone()),
            demo: SeedDemo::new(workspace.clone(), blobs.clone(), passwords.clone()),
            reader: workspace.clone(),
            workspace,
            blobs,
            database: db.clone(),
            auth: Authenticator::new(
                users.clone(),
                Arc::new(SqliteLoginTokens::new(db.clone())),
                passwords.clone(),
                Arc::new(RocketChatTokens),
                clock.clone(),
            )
            .with_protection(
                Arc::new(SqliteLoginFailures::new(db.clone())),
                settings.login.protection(),
            )
            .with_token_lifetime(settings.accounts.token_lifetime()),
            request_download: RequestDataDownload::new(
                operations,
                Arc::new(LocalExportFolders::new(
                    &settings.user_data.file_system_path,
                )),
                ids.clone(),
                clock.clone(),
                RequestPolicy::default(),
                settings.user_data.enable_download,
            )
            .with_wakeup(wakeup.clone()),
            wakeup,
            worker_health: Arc::default(),
            add_user: AddUser::new(users, passwords, ids, clock.clone()),
            clock,
        })
    }
}
