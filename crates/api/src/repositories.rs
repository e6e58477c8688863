//! Where records live, as `database.url` asks: SQLite (a path or `sqlite://`) or
//! PostgreSQL (`postgres://`), every repository the use cases read and write.

use std::sync::Arc;

use crate::services::Services;

use anyhow::Context;
use udd_adapters::postgres::{
    is_postgres_url, redacted, PgDatabase, PgDownloadAudit, PgDownloadLog, PgExportOperations,
    PgLoginFailures, PgLoginTokens, PgNotices, PgOperationRecords, PgSingleton, PgUserDataFiles,
    PgUsers, PgWakeup, PgWorkerInstances, PgWorkspace,
};
use udd_adapters::{
    Database, LocalWakeup, SqliteDownloadAudit, SqliteDownloadLog, SqliteExportOperations,
    SqliteLoginFailures, SqliteLoginTokens, SqliteNotices, SqliteOperationRecords,
    SqliteUserDataFiles, SqliteUsers, SqliteWorkerInstances, SqliteWorkspace, Unshared,
};
use udd_ports::{
    DownloadAudit, DownloadLog, ExportOperations, ExportProgress, ExportQueue, ExportWakeup,
    LoginFailures, LoginTokens, Notices, OperationAdmin, OperationRecords, SecondFactorStore,
    Singleton, UserDataFiles, UserProfiles, Users, WorkerInstances, WorkspaceReader,
    WorkspaceWriter,
};

use crate::settings::Settings;

/// Where records live: every repository the use cases read and write.
#[derive(Clone)]
pub struct Repositories {
    /// Accounts.
    pub users: Arc<dyn Users>,
    /// Login tokens.
    pub tokens: Arc<dyn LoginTokens>,
    /// The workspace as exports read it.
    pub reader: Arc<dyn WorkspaceReader>,
    /// The workspace as imports and the demo write it.
    pub writer: Arc<dyn WorkspaceWriter>,
    /// Requests for exports.
    pub operations: Arc<dyn ExportOperations>,
    /// The work queue with its leases.
    pub queue: Arc<dyn ExportQueue>,
    /// Durable export progress.
    pub progress: Arc<dyn ExportProgress>,
    /// Finished archives' records.
    pub files: Arc<dyn UserDataFiles>,
    /// Mail owed to owners.
    pub notices: Arc<dyn Notices>,
    /// Every download.
    pub downloads: Arc<dyn DownloadLog>,
    /// Failed logins, for blocking.
    pub login_failures: Arc<dyn LoginFailures>,
    /// Users' second factors and their single-use state.
    pub second_factors: Arc<dyn SecondFactorStore>,
    /// Users as Rocket.Chat vouches for them (`auth.mode = "rocketchat"`).
    pub profiles: Arc<dyn UserProfiles>,
    /// Operation records for erasure and retention.
    pub records: Arc<dyn OperationRecords>,
    /// The download log read back.
    pub audit: Arc<dyn DownloadAudit>,
    /// Wakes workers when an operation is requested (across processes where the
    /// database can tell them).
    pub wakeup: Arc<dyn ExportWakeup>,
    /// Work one process at a time does among all that share the database.
    pub singleton: Arc<dyn Singleton>,
    /// The processes running export workers, for taking over a dead one's work.
    pub instances: Arc<dyn WorkerInstances>,
    /// The operator's view of the queue.
    pub admin: Arc<dyn OperationAdmin>,
}

impl Repositories {
    /// Every repository on one SQLite database.
    pub fn sqlite(db: &Database) -> Self {
        let workspace = Arc::new(SqliteWorkspace::new(db.clone()));
        let operations = Arc::new(SqliteExportOperations::new(db.clone()));
        let users = Arc::new(SqliteUsers::new(db.clone()));
        Self {
            second_factors: users.clone(),
            profiles: users.clone(),
            users,
            tokens: Arc::new(SqliteLoginTokens::new(db.clone())),
            reader: workspace.clone(),
            writer: workspace,
            operations: operations.clone(),
            queue: operations.clone(),
            progress: operations,
            files: Arc::new(SqliteUserDataFiles::new(db.clone())),
            notices: Arc::new(SqliteNotices::new(db.clone())),
            downloads: Arc::new(SqliteDownloadLog::new(db.clone())),
            login_failures: Arc::new(SqliteLoginFailures::new(db.clone())),
            records: Arc::new(SqliteOperationRecords::new(db.clone())),
            audit: Arc::new(SqliteDownloadAudit::new(db.clone())),
            wakeup: Arc::new(LocalWakeup::default()),
            singleton: Arc::new(Unshared),
            instances: Arc::new(SqliteWorkerInstances::new(db.clone())),
            admin: Arc::new(SqliteExportOperations::new(db.clone())),
        }
    }

    /// Every repository on one PostgreSQL database, with wake-ups by `LISTEN`/`NOTIFY`
    /// and singleton work under advisory locks, for many processes on many hosts.
    pub fn postgres(db: &PgDatabase) -> Self {
        let workspace = Arc::new(PgWorkspace::new(db.clone()));
        let operations = Arc::new(PgExportOperations::new(db.clone()));
        let users = Arc::new(PgUsers::new(db.clone()));
        Self {
            second_factors: users.clone(),
            profiles: users.clone(),
            users,
            tokens: Arc::new(PgLoginTokens::new(db.clone())),
            reader: workspace.clone(),
            writer: workspace,
            operations: operations.clone(),
            queue: operations.clone(),
            progress: operations,
            files: Arc::new(PgUserDataFiles::new(db.clone())),
            notices: Arc::new(PgNotices::new(db.clone())),
            downloads: Arc::new(PgDownloadLog::new(db.clone())),
            login_failures: Arc::new(PgLoginFailures::new(db.clone())),
            records: Arc::new(PgOperationRecords::new(db.clone())),
            audit: Arc::new(PgDownloadAudit::new(db.clone())),
            wakeup: Arc::new(PgWakeup::start(db.clone())),
            singleton: Arc::new(PgSingleton::new(db.clone())),
            instances: Arc::new(PgWorkerInstances::new(db.clone())),
            admin: Arc::new(PgExportOperations::new(db.clone())),
        }
    }

    /// The repositories `database.url` names, migrated: PostgreSQL for `postgres://…`,
    /// else SQLite (a path or `sqlite://…`).
    ///
    /// Errors: the database cannot be opened or migrated.
    pub fn open(settings: &Settings) -> anyhow::Result<Self> {
        if is_postgres_url(&settings.database.url) {
            let db = PgDatabase::open(&settings.database.url, settings.database.pool_size)?;
            let applied = db.migrate().context("migrating the database")?;
            if applied > 0 {
                tracing::info!(applied, url = %redacted(db.url()), "database migrated");
            }
            Ok(Self::postgres(&db))
        } else {
            Ok(Self::sqlite(&Services::open_database(settings)?))
        }
    }
}

/// Applies the migrations `database.url`'s database lacks (`udd migrate`); returns how
/// many ran.
///
/// Errors: the database cannot be opened or migrated.
pub fn migrate_database(url: &str) -> anyhow::Result<usize> {
    if is_postgres_url(url) {
        PgDatabase::open(url, 1)?.migrate()
    } else {
        Database::open(url, 1)?.migrate()
    }
}
