//! Composition: configuration in, adapters plugged into use cases out.
//!
//! [`Services::build`] wires the defaults that the settings ask for. Every outside
//! dependency is a seam: [`Services::builder`] takes a replacement for any of them
//! (storage, repositories, mail, clock, ids, links) before building, so a test or an
//! embedding program swaps an adapter in one line, and a new backend is one adapter plus
//! one line here.

use std::sync::Arc;

use anyhow::Context;
use secrecy::ExposeSecret;
use udd_adapters::postgres::{
    is_postgres_url, redacted, PgDatabase, PgDownloadAudit, PgDownloadLog, PgExportOperations,
    PgLoginFailures, PgLoginTokens, PgNotices, PgOperationRecords, PgSingleton, PgUserDataFiles,
    PgUsers, PgWakeup, PgWorkerInstances, PgWorkspace,
};
use udd_adapters::{
    Database, HmacDownloadLinks, LocalBlobStore, LocalExportFiles, LocalStoredExports, LocalWakeup,
    MailSettings, MemoryArchiveStore, MemoryBlobStore, ObjectArchiveStore, ObjectBlobStore,
    ObjectStorage, ObjectStoredExports, OutboxMailer, RandomCodes, RandomIds, RocketChatPasswords,
    RocketChatSessions, RocketChatTokens, S3Config, SmtpMailer, SqliteDownloadAudit,
    SqliteDownloadLog, SqliteExportOperations, SqliteLoginFailures, SqliteLoginTokens,
    SqliteNotices, SqliteOperationRecords, SqliteUserDataFiles, SqliteUsers, SqliteWorkerInstances,
    SqliteWorkspace, SystemClock, Unshared, WithRocketChatUploads, ZipArchiveStore,
};
use udd_app::{
    AddUser, Authenticator, DownloadDataFile, EngineConfig, EraseUserExports, ExportEngine,
    ExportPorts, ImportWorkspace, MyExports, NotifyConfig, NotifyOwners, RecordsRetention,
    RemoteSessionCheck, RequestDataDownload, Retention, SecondFactorCheck, SeedDemo,
};
use udd_domain::RequestPolicy;
use udd_ports::{
    ArchiveStore, BlobStore, Clock, DownloadAudit, DownloadLinks, DownloadLog, ExportFiles,
    ExportOperations, ExportProgress, ExportQueue, ExportWakeup, FormTokens, IdGenerator,
    LoginFailures, LoginTokens, Mailer, Notices, OperationAdmin, OperationRecords, RemoteSessions,
    SecondFactorStore, Singleton, StoredExports, UserDataFiles, UserProfiles, Users,
    WorkerInstances, WorkspaceReader, WorkspaceWriter,
};

use crate::settings::{AuthMode, DownloadMode, Settings, StorageKind};
use crate::worker::WorkerHealth;

/// Where bytes live: upload and avatar blobs, finished archives, the working folders of
/// running exports, and what retention may find left over.
#[derive(Clone)]
pub struct Storage {
    /// Upload and avatar bytes.
    pub blobs: Arc<dyn BlobStore>,
    /// Finished archives, by key.
    pub archives: Arc<dyn ArchiveStore>,
    /// The working folders of running exports (local to the worker by design).
    pub working: Arc<dyn ExportFiles>,
    /// Left-overs of operations, for retention to sweep.
    pub stored: Arc<dyn StoredExports>,
}

impl Storage {
    /// Everything in local folders, as `[user_data]` and `[storage]` name them.
    pub fn local(settings: &Settings) -> Self {
        let user_data = &settings.user_data;
        let blobs = with_rocketchat_uploads(
            settings,
            Arc::new(LocalBlobStore::new(&settings.storage.blob_path)),
        );
        let working = LocalExportFiles::new(&user_data.file_system_path);
        Self {
            archives: Arc::new(ZipArchiveStore::new(
                &user_data.file_system_zip_path,
                working.clone(),
                blobs.clone(),
            )),
            blobs,
            working: Arc::new(working),
            stored: Arc::new(LocalStoredExports::new(
                &user_data.file_system_path,
                &user_data.file_system_zip_path,
            )),
        }
    }

    /// Blobs and archives in the S3-compatible bucket `[storage]` names; working
    /// folders (and the compressed parts of an archive being made) stay local.
    pub fn s3(settings: &Settings) -> anyhow::Result<Self> {
        let storage = &settings.storage;
        let objects = object_storage(settings)?;
        let user_data = &settings.user_data;
        let blobs =
            with_rocketchat_uploads(settings, Arc::new(ObjectBlobStore::new(objects.clone())));
        let working = LocalExportFiles::new(&user_data.file_system_path);
        let parts = ZipArchiveStore::new(
            &user_data.file_system_zip_path,
            working.clone(),
            blobs.clone(),
        );
        let local =
            LocalStoredExports::new(&user_data.file_system_path, &user_data.file_system_zip_path);
        let mut archives = ObjectArchiveStore::new(parts, objects.clone());
        if storage.download == DownloadMode::Redirect {
            if storage.access_key_id.is_none() {
                tracing::warn!("storage.download = \"redirect\" needs storage.access_key_id and storage.secret_access_key to sign links; downloads are streamed through udd");
            }
            archives =
                archives.redirecting(std::time::Duration::from_secs(storage.presign_seconds));
        }
        Ok(Self {
            archives: Arc::new(archives),
            blobs,
            working: Arc::new(working),
            stored: Arc::new(ObjectStoredExports::new(local, objects)),
        })
    }

    /// What `storage.kind` asks for.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        match settings.storage.kind {
            StorageKind::Local => Ok(Self::local(settings)),
            StorageKind::S3 => Self::s3(settings),
        }
    }

    /// Blobs and archives in memory; working folders under
    /// `user_data.file_system_path`, as every export needs a place to append to.
    pub fn in_memory(settings: &Settings) -> Self {
        let blobs = with_rocketchat_uploads(settings, Arc::new(MemoryBlobStore::new()));
        let working: Arc<dyn ExportFiles> =
            Arc::new(LocalExportFiles::new(&settings.user_data.file_system_path));
        Self {
            archives: Arc::new(MemoryArchiveStore::new(working.clone(), blobs.clone())),
            blobs,
            working,
            stored: Arc::new(LocalStoredExports::new(
                &settings.user_data.file_system_path,
                &settings.user_data.file_system_zip_path,
            )),
        }
    }
}

/// udd's blob store `own`, reading uploads that Rocket.Chat keeps in its S3 bucket in
/// place when `[rocketchat.uploads]` names it.
fn with_rocketchat_uploads(settings: &Settings, own: Arc<dyn BlobStore>) -> Arc<dyn BlobStore> {
    let uploads = &settings.rocketchat.uploads;
    let rocketchat = (!uploads.bucket.is_empty())
        .then(|| {
            ObjectStorage::s3(&S3Config {
                bucket: uploads.bucket.clone(),
                endpoint: uploads.endpoint.clone(),
                region: uploads.region.clone().unwrap_or_else(|| "us-east-1".to_owned()),
                prefix: String::new(),
                path_style: uploads.path_style,
                access_key_id: uploads.access_key_id.clone(),
                secret_access_key: uploads.secret_access_key.clone(),
            })
            .inspect_err(|e| {
                tracing::error!(error = %format!("{e:#}"), "[rocketchat.uploads] cannot be used; uploads kept in Rocket.Chat's bucket will be unavailable");
            })
            .ok()
        })
        .flatten();
    Arc::new(WithRocketChatUploads::new(own, rocketchat))
}

/// The bucket `[storage]` names, checked: a wrong bucket, endpoint or key stops here,
/// with the settings to look at.
pub(crate) fn object_storage(settings: &Settings) -> anyhow::Result<ObjectStorage> {
    let storage = &settings.storage;
    let objects = ObjectStorage::s3(&S3Config {
        bucket: storage.bucket.clone(),
        endpoint: storage.endpoint.clone(),
        region: storage.region.clone(),
        prefix: storage.prefix.clone(),
        path_style: storage.path_style,
        access_key_id: storage.access_key_id.clone(),
        secret_access_key: storage.secret_access_key.clone(),
    })?;
    objects.check().with_context(|| {
        format!(
            "the S3 bucket `{}` at {} cannot be listed: check storage.bucket, \
             storage.endpoint, storage.region, storage.path_style and the keys \
             (storage.access_key_id, storage.secret_access_key)",
            storage.bucket,
            storage.endpoint.as_deref().unwrap_or("AWS")
        )
    })?;
    Ok(objects)
}

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
    /// `GET /data-export/{fileId}`.
    pub download: DownloadDataFile,
    /// Finished archives, for the download route to stream.
    pub archives: Arc<dyn ArchiveStore>,
    /// Mailing owners when exports complete or fail.
    pub notify: NotifyOwners,
    /// Deleting expired archives and left-over files.
    pub retention: Retention,
    /// Workspace users.
    pub users: Arc<dyn Users>,
    /// The export engine the workers run.
    pub engine: ExportEngine,
    /// Wakes this process's workers when an operation is requested.
    pub wakeup: Arc<dyn ExportWakeup>,
    /// Whether this process's export workers are alive (for `/health`).
    pub worker_health: Arc<WorkerHealth>,
    /// The clock every use case reads (the rate limiter counts on it too).
    pub clock: Arc<dyn Clock>,
    /// `udd ops delete`.
    pub erase: EraseUserExports,
    /// `udd audit`.
    pub audit: Arc<dyn DownloadAudit>,
    /// The operation store (`udd export` watches an operation another worker took).
    pub operations: Arc<dyn ExportOperations>,
    /// A user's own exports, for the "My data" page.
    pub my_exports: MyExports,
    /// The "My data" page's protection against forged forms.
    pub forms: Arc<dyn FormTokens>,
    /// Work one process at a time does (mail retries, the retention sweep).
    pub singleton: Arc<dyn Singleton>,
    /// The processes running export workers.
    pub instances: Arc<dyn WorkerInstances>,
    /// The operator's view of the queue (`udd ops`, `/metrics`).
    pub admin: Arc<dyn OperationAdmin>,
    /// This process's working folders (an operator's cancel removes them).
    pub working: Arc<dyn ExportFiles>,
    /// Counters and histograms for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// Builds [`Services`], with any outside dependency replaced.
pub struct ServicesBuilder<'a> {
    settings: &'a Settings,
    storage: Option<Storage>,
    repositories: Option<Repositories>,
    mailer: Option<Arc<dyn Mailer>>,
    clock: Option<Arc<dyn Clock>>,
    ids: Option<Arc<dyn IdGenerator>>,
    links: Option<Arc<dyn DownloadLinks>>,
    remote_sessions: Option<Arc<dyn RemoteSessions>>,
}

impl<'a> ServicesBuilder<'a> {
    /// Sessions checked with `sessions` instead of the workspace at `rocketchat.url`
    /// (only used in `auth.mode = "rocketchat"`).
    pub fn with_remote_sessions(mut self, sessions: Arc<dyn RemoteSessions>) -> Self {
        self.remote_sessions = Some(sessions);
        self
    }

    /// Blobs, archives and working folders from `storage` instead of local folders.
    pub fn with_storage(mut self, storage: Storage) -> Self {
        self.storage = Some(storage);
        self
    }

    /// Records from `repositories` instead of the configured database.
    pub fn with_repositories(mut self, repositories: Repositories) -> Self {
        self.repositories = Some(repositories);
        self
    }

    /// Mail through `mailer` instead of SMTP or the outbox.
    pub fn with_mailer(mut self, mailer: Arc<dyn Mailer>) -> Self {
        self.mailer = Some(mailer);
        self
    }

    /// Time from `clock` instead of the system's.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Ids from `ids` instead of random ones.
    pub fn with_ids(mut self, ids: Arc<dyn IdGenerator>) -> Self {
        self.ids = Some(ids);
        self
    }

    /// Download links signed by `links` instead of the configured secret.
    pub fn with_links(mut self, links: Arc<dyn DownloadLinks>) -> Self {
        self.links = Some(links);
        self
    }

    /// Wires every use case; opens and migrates the database unless repositories were
    /// given.
    ///
    /// Errors: the database, the mail settings or the link secret failing.
    pub fn build(self) -> anyhow::Result<Services> {
        let settings = self.settings;
        let repositories = match self.repositories {
            Some(repositories) => repositories,
            None => Repositories::open(settings)?,
        };
        let storage = match self.storage {
            Some(storage) => storage,
            None => Storage::from_settings(settings)?,
        };
        let mailer = match self.mailer {
            Some(mailer) => mailer,
            None => Services::mailer(settings)?,
        };
        let signer = Services::link_signer(settings)?;
        let forms: Arc<dyn FormTokens> = Arc::new(signer.form_tokens());
        let links = self.links.unwrap_or_else(|| Arc::new(signer));
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let ids = self.ids.unwrap_or_else(|| Arc::new(RandomIds));
        let remote = match (settings.auth.mode, self.remote_sessions) {
            (AuthMode::Local, _) => None,
            (AuthMode::Rocketchat, Some(sessions)) => Some(sessions),
            (AuthMode::Rocketchat, None) => Some(Services::remote_sessions(settings)?),
        };
        let mut services = wire(
            settings,
            repositories.clone(),
            storage,
            mailer,
            (links, forms),
            clock.clone(),
            ids,
        );
        if let Some(sessions) = remote {
            services.auth = services.auth.with_remote_sessions(RemoteSessionCheck::new(
                sessions,
                repositories.profiles,
                clock,
                settings.rocketchat.cache_config(),
            ));
        }
        Ok(services)
    }
}

/// Plugs the adapters into the use cases.
fn wire(
    settings: &Settings,
    repos: Repositories,
    storage: Storage,
    mailer: Arc<dyn Mailer>,
    (links, forms): (Arc<dyn DownloadLinks>, Arc<dyn FormTokens>),
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
) -> Services {
    let user_data = &settings.user_data;
    let passwords = Arc::new(RocketChatPasswords::default());
    let wakeup = repos.wakeup.clone();
    let second_factor = SecondFactorCheck::new(
        repos.second_factors.clone(),
        Arc::new(RandomCodes),
        mailer.clone(),
        clock.clone(),
        settings.auth.two_factor_config(),
    );
    let notify = NotifyOwners::new(
        repos.notices.clone(),
        repos.users.clone(),
        mailer,
        links.clone(),
        clock.clone(),
        &settings.server.site_url,
        NotifyConfig {
            max_attempts: settings.smtp.max_attempts,
            ..NotifyConfig::default()
        },
    )
    .with_site_name(&settings.server.site_name);
    let retention = Retention::new(
        repos.files.clone(),
        repos.operations.clone(),
        storage.archives.clone(),
        storage.stored.clone(),
        clock.clone(),
        chrono::Duration::hours(1),
    )
    .with_records(RecordsRetention {
        records: repos.records.clone(),
        downloads: repos.audit.clone(),
        keep: chrono::Duration::days(user_data.records_retention_days.into()),
    });
    let engine = ExportEngine::new(
        ExportPorts {
            queue: repos.queue.clone(),
            progress: repos.progress.clone(),
            users: repos.users.clone(),
            reader: repos.reader.clone(),
            blobs: storage.blobs.clone(),
            files: storage.working.clone(),
            archives: storage.archives.clone(),
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
    Services {
        download: DownloadDataFile::new(
            repos.files.clone(),
            repos.users.clone(),
            links,
            repos.downloads.clone(),
            clock.clone(),
            user_data.enable_download,
        )
        .with_login_required(user_data.link_requires_login),
        erase: EraseUserExports::new(
            repos.records.clone(),
            storage.archives.clone(),
            storage.working.clone(),
            clock.clone(),
        ),
        audit: repos.audit.clone(),
        singleton: repos.singleton.clone(),
        instances: repos.instances.clone(),
        admin: repos.admin.clone(),
        working: storage.working.clone(),
        metrics: Arc::default(),
        operations: repos.operations.clone(),
        my_exports: MyExports::new(
            repos.operations.clone(),
            repos.files.clone(),
            clock.clone(),
            RequestPolicy::default(),
        ),
        forms,
        archives: storage.archives.clone(),
        notify,
        retention,
        users: repos.users.clone(),
        engine,
        import: ImportWorkspace::new(repos.writer.clone(), storage.blobs.clone()),
        demo: SeedDemo::new(
            repos.writer.clone(),
            storage.blobs.clone(),
            passwords.clone(),
        ),
        workspace: repos.writer.clone(),
        auth: Authenticator::new(
            repos.users.clone(),
            repos.tokens.clone(),
            passwords.clone(),
            Arc::new(RocketChatTokens),
            clock.clone(),
        )
        .with_protection(repos.login_failures.clone(), settings.login.protection())
        .with_token_lifetime(settings.accounts.token_lifetime())
        .with_second_factor(second_factor),
        request_download: RequestDataDownload::new(
            repos.operations.clone(),
            repos.files.clone(),
            storage.working.clone(),
            ids.clone(),
            clock.clone(),
            RequestPolicy::default(),
            user_data.enable_download,
        )
        .with_wakeup(wakeup.clone()),
        wakeup,
        worker_health: Arc::default(),
        add_user: AddUser::new(repos.users, passwords, ids, clock.clone()),
        clock,
    }
}

impl Services {
    /// A builder on `settings`' defaults, any of which can be replaced.
    pub fn builder(settings: &Settings) -> ServicesBuilder<'_> {
        ServicesBuilder {
            settings,
            storage: None,
            repositories: None,
            mailer: None,
            clock: None,
            ids: None,
            links: None,
            remote_sessions: None,
        }
    }

    /// Builds every use case on the adapters `settings` ask for.
    ///
    /// Errors: the database, the mail settings or the link secret failing.
    pub fn build(settings: &Settings) -> anyhow::Result<Self> {
        Self::builder(settings).build()
    }

    /// Opens the SQLite database named in `settings` and migrates it.
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

    /// The Rocket.Chat workspace `[rocketchat]` names, to check its sessions with.
    fn remote_sessions(settings: &Settings) -> anyhow::Result<Arc<dyn RemoteSessions>> {
        let url = settings
            .rocketchat
            .url
            .as_deref()
            .context("auth.mode = \"rocketchat\" needs rocketchat.url")?;
        Ok(Arc::new(RocketChatSessions::new(
            url,
            settings.rocketchat.timeout(),
        )?))
    }

    /// The download link signer: the configured secret, or the one kept on disk.
    fn link_signer(settings: &Settings) -> anyhow::Result<HmacDownloadLinks> {
        Ok(match &settings.server.link_secret {
            Some(secret) => HmacDownloadLinks::new(secret.expose_secret().as_bytes())?,
            None => HmacDownloadLinks::load_or_create(&settings.server.link_secret_file)?,
        })
    }
}
