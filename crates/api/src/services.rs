//! Composition: configuration in, adapters plugged into use cases out.

use std::sync::Arc;

use anyhow::Context;
use udd_adapters::{
    Database, LocalBlobStore, LocalExportFiles, LocalExportFolders, LocalWakeup, RandomIds,
    RocketChatPasswords, RocketChatTokens, SqliteExportOperations, SqliteLoginTokens, SqliteUsers,
    SqliteWorkspace, SystemClock, ZipArchiveStore,
};
use udd_app::{
    AddUser, Authenticator, EngineConfig, ExportEngine, ExportPorts, ImportWorkspace,
    RequestDataDownload, SeedDemo,
};
use udd_domain::RequestPolicy;
use udd_ports::{BlobStore, Clock, ExportWakeup, WorkspaceReader, WorkspaceWriter};

use crate::settings::Settings;

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
    pub download: udd_app::DownloadDataFile,
    /// Workspace users.
    pub users: Arc<dyn udd_ports::Users>,
    /// The export engine the workers run.
    pub engine: ExportEngine,
    /// Wakes this process's workers when an operation is requested.
    pub wakeup: Arc<dyn ExportWakeup>,
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
        let engine = ExportEngine::new(
            ExportPorts {
                queue: operations.clone(),
                progress: operations.clone(),
                users: users.clone(),
                reader: workspace.clone(),
                blobs: blobs.clone(),
                files: Arc::new(LocalExportFiles),
                archives: Arc::new(ZipArchiveStore::new(
                    &user_data.file_system_zip_path,
                    blobs.clone(),
                )),
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
            download: udd_app::DownloadDataFile::new(
                Arc::new(udd_adapters::SqliteUserDataFiles::new(db.clone())),
                clock.clone(),
                settings.user_data.enable_download,
            ),
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
            ),
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
            add_user: AddUser::new(users, passwords, ids, clock),
        })
    }
}
