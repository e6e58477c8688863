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
use udd_adapters::{
    Database, HmacDownloadLinks, MailSettings, OutboxMailer, RandomCodes, RandomIds,
    RocketChatPasswords, RocketChatSessions, RocketChatTokens, SmtpMailer, SystemClock,
};
use udd_app::{
    AddUser, Authenticator, DownloadDataFile, EngineConfig, EraseUserExports, ExportEngine,
    ExportPorts, ImportWorkspace, MyExports, NotifyConfig, NotifyOwners, RecordsRetention,
    RemoteSessionCheck, RequestDataDownload, Retention, SecondFactorCheck, SeedDemo,
    TokenRetention,
};
use udd_domain::RequestPolicy;
use udd_ports::{
    ArchiveStore, BlobStore, Clock, DownloadAudit, DownloadLinks, ExportFiles, ExportOperations,
    ExportWakeup, FormTokens, IdGenerator, Mailer, OperationAdmin, RemoteSessions, Singleton,
    Users, WorkerInstances, WorkspaceReader, WorkspaceWriter,
};

use crate::settings::{AuthMode, Settings};
use crate::worker::WorkerHealth;

pub use crate::storage::Storage;

pub use crate::repositories::{migrate_database, Repositories};

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
    /// The workspace as exports read it (`udd storage check` asks where files are).
    pub reader: Arc<dyn WorkspaceReader>,
    /// Upload and avatar bytes, wherever they are kept.
    pub blobs: Arc<dyn BlobStore>,
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
    })
    .with_tokens(TokenRetention {
        tokens: repos.tokens.clone(),
        lifetime: settings.accounts.token_lifetime(),
    });
    let metrics = Arc::new(crate::metrics::Metrics::default());
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
    )
    .on_claim({
        let metrics = Arc::clone(&metrics);
        Arc::new(move |_| metrics.claimed())
    });
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
        metrics,
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
        reader: repos.reader.clone(),
        blobs: storage.blobs.clone(),
        auth: Authenticator::new(
            repos.users.clone(),
            repos.tokens.clone(),
            passwords.clone(),
            Arc::new(RocketChatTokens),
            clock.clone(),
        )
        .with_protection(repos.login_failures.clone(), settings.login.protection())
        .with_token_lifetime(settings.accounts.token_lifetime())
        .with_session_cache(settings.auth.session_cache())
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
