//! `TestApp`: one running udd per test, isolated in its own temporary folder.

use std::path::PathBuf;

use serde_json::{json, Value};
use std::sync::Arc;

use udd::adapters::postgres::testing::TestDatabase;
use udd::adapters::postgres::PgDatabase;
use udd::adapters::{Database, MongoExportDump, SqliteWorkspace, TableFingerprint};
use udd::api::worker::Workers;
use udd::api::{Application, Services, Settings, Storage};
use udd::app::{ImportSummary, NewAccount};
use udd::ports::{Clock, Mailer, NoProgress};

/// The Rocket.Chat sample workspace shipped with the tests.
pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rocketchat-mongoexport")
}

/// The Rocket.Chat login (user id and token) that the sample workspace gives `name`.
pub fn fixture_login(name: &str) -> Login {
    let path = fixture_dir().join("credentials.json");
    let creds: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("credentials")).expect("json");
    Login {
        user_id: creds["tokens"][name]["userId"]
            .as_str()
            .expect("userId")
            .to_owned(),
        token: creds["tokens"][name]["authToken"]
            .as_str()
            .expect("authToken")
            .to_owned(),
    }
}

/// Copies a folder tree (to alter a fixture without touching the original).
pub fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The sample workspace copied into a temporary folder, to be altered.
pub fn fixture_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_tree(&fixture_dir(), dir.path());
    dir
}

/// The sample workspace copied into a temporary folder, altered by `edit`.
pub fn altered_dump(edit: impl FnOnce(&std::path::Path)) -> tempfile::TempDir {
    let dir = fixture_copy();
    edit(dir.path());
    dir
}

/// Rewrites every document of a collection file (JSON lines) with `edit`.
pub fn edit_documents(file: &std::path::Path, edit: impl Fn(&mut Value)) {
    let text: Vec<String> = std::fs::read_to_string(file)
        .expect("collection file")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut doc: Value = serde_json::from_str(line).expect("JSON line");
            edit(&mut doc);
            doc.to_string()
        })
        .collect();
    std::fs::write(file, text.join("\n") + "\n").expect("write collection file");
}

/// A running app and a client for it.
pub struct TestApp {
    workers: Option<Workers>,
    pub address: String,
    pub client: reqwest::Client,
    pub services: Services,
    pub settings: Settings,
    /// The app's database, opened beside it, for tests to look into. An app started
    /// with [`TestAppBuilder::on_postgres`] keeps its records in [`TestApp::postgres`]
    /// instead, and this is an empty SQLite stand-in.
    pub database: Database,
    /// The PostgreSQL database of an app started with [`TestAppBuilder::on_postgres`]
    /// (dropped with the app), and a pool on it.
    pub postgres: Option<(TestDatabase, PgDatabase)>,
    _dir: tempfile::TempDir,
}

/// A logged-in user's headers.
#[derive(Debug, Clone)]
pub struct Login {
    pub user_id: String,
    pub token: String,
}

/// Requests made as a logged-in user.
pub trait WithLogin {
    /// With the login's `X-User-Id` and `X-Auth-Token` headers.
    fn with_login(self, login: &Login) -> Self;
    /// With the login's `rc_uid` and `rc_token` cookies, as Rocket.Chat's web client
    /// sends them.
    fn with_cookies_of(self, login: &Login) -> Self;
}

impl WithLogin for reqwest::RequestBuilder {
    fn with_login(self, login: &Login) -> Self {
        self.header("X-User-Id", &login.user_id)
            .header("X-Auth-Token", &login.token)
    }

    fn with_cookies_of(self, login: &Login) -> Self {
        self.header(
            "Cookie",
            format!("rc_uid={}; rc_token={}", login.user_id, login.token),
        )
    }
}

/// Settings overrides applied before the app starts.
#[derive(Default)]
pub struct TestAppBuilder {
    enable_download: Option<bool>,
    workers: bool,
    batch_size: Option<u32>,
    processing_seconds: Option<u64>,
    smtp_port: Option<u16>,
    clock: Option<Arc<dyn Clock>>,
    mailer: Option<Arc<dyn Mailer>>,
    in_memory_storage: bool,
    postgres: bool,
    overrides: Vec<SettingsChange>,
}

/// A change to the settings, applied before the app starts.
type SettingsChange = Box<dyn FnOnce(&mut Settings)>;

impl TestAppBuilder {
    pub fn enable_download(mut self, enabled: bool) -> Self {
        self.enable_download = Some(enabled);
        self
    }

    /// Runs export workers in the app, as `udd serve` does.
    pub fn with_workers(mut self) -> Self {
        self.workers = true;
        self
    }

    /// The workers' polling interval (1 s unless set).
    pub fn processing_seconds(mut self, seconds: u64) -> Self {
        self.processing_seconds = Some(seconds);
        self
    }

    /// Sends mail to an SMTP server on loopback (plain, no login) instead of the outbox.
    pub fn with_smtp(mut self, port: u16) -> Self {
        self.smtp_port = Some(port);
        self
    }

    /// Runs the app on this clock instead of the system's.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Hands mail to `mailer` instead of SMTP or the outbox.
    pub fn with_mailer(mut self, mailer: Arc<dyn Mailer>) -> Self {
        self.mailer = Some(mailer);
        self
    }

    /// Keeps blobs and archives in memory instead of local folders.
    pub fn with_storage_in_memory(mut self) -> Self {
        self.in_memory_storage = true;
        self
    }

    /// Keeps the records in a fresh PostgreSQL database of its own (`database.url =
    /// "postgres://…"` on the test server, see `UDD_TEST_DATABASE_URL`).
    pub fn on_postgres(mut self) -> Self {
        self.postgres = true;
        self
    }

    pub fn batch_size(mut self, size: u32) -> Self {
        self.batch_size = Some(size);
        self
    }

    /// Changes any setting before the app starts.
    pub fn configure(mut self, change: impl FnOnce(&mut Settings) + 'static) -> Self {
        self.overrides.push(Box::new(change));
        self
    }

    /// Starts the app and imports the sample workspace into it.
    pub async fn spawn_with_sample(self) -> TestApp {
        let app = self.spawn().await;
        app.import(&fixture_dir());
        app
    }

    pub async fn spawn(self) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut settings = Settings::default();
        settings.server.bind = "127.0.0.1:0".into();
        settings.server.http_workers = Some(2);
        settings.database.url = path(&dir, "udd.sqlite3");
        settings.user_data.file_system_path = PathBuf::from(path(&dir, "userData"));
        settings.user_data.file_system_zip_path = PathBuf::from(path(&dir, "zipFiles"));
        settings.storage.blob_path = PathBuf::from(path(&dir, "blobs"));
        settings.smtp.outbox_path = PathBuf::from(path(&dir, "outbox"));
        settings.server.link_secret_file = PathBuf::from(path(&dir, "link-secret"));
        if let Some(port) = self.smtp_port {
            settings.smtp.host = Some("127.0.0.1".into());
            settings.smtp.port = port;
            settings.smtp.tls = "none".into();
        }
        if let Some(enabled) = self.enable_download {
            settings.user_data.enable_download = enabled;
        }
        if let Some(size) = self.batch_size {
            settings.user_data.message_limit_per_request = size;
        }
        settings.user_data.processing_frequency_seconds =
            Some(self.processing_seconds.unwrap_or(1));
        // The sample workspace's tokens were issued in 2024; tests not about expiry keep
        // them working (the expiry tests set Rocket.Chat's 90 days back).
        settings.accounts.login_expiration_days = 36_500;
        let postgres_database = self
            .postgres
            .then(|| TestDatabase::create().unwrap_or_else(|e| panic!("{e:#}")));
        if let Some(db) = &postgres_database {
            settings.database.url = db.url().to_owned();
        }
        for change in self.overrides {
            change(&mut settings);
        }
        let mut builder = Services::builder(&settings);
        if let Some(clock) = self.clock {
            builder = builder.with_clock(clock);
        }
        if let Some(mailer) = self.mailer {
            builder = builder.with_mailer(mailer);
        }
        if self.in_memory_storage {
            builder = builder.with_storage(Storage::in_memory(&settings));
        }
        let services = builder.build().expect("services");
        let (database, postgres) = match postgres_database {
            Some(guard) => {
                let pool = PgDatabase::open(guard.url(), 2).expect("postgres");
                let stand_in = Database::open(":memory:", 1).expect("stand-in");
                (stand_in, Some((guard, pool)))
            }
            // Pointed at a PostgreSQL database by an override (one the test owns).
            None if settings.database.url.starts_with("postgres") => {
                (Database::open(":memory:", 1).expect("stand-in"), None)
            }
            None => (
                Database::open(&settings.database.url, 2).expect("database"),
                None,
            ),
        };
        let app = Application::build(&settings, services.clone()).expect("app");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        let workers = self.workers.then(|| Workers::start(&services, &settings));
        TestApp {
            workers,
            address,
            // Idle connections are dropped well before the server's 5-second keep-alive
            // closes them, so a request never goes out on a connection being closed
            // (which fails as an incomplete message on a loaded machine).
            client: reqwest::Client::builder()
                .pool_idle_timeout(std::time::Duration::from_secs(1))
                .build()
                .expect("an HTTP client"),
            services,
            settings,
            database,
            postgres,
            _dir: dir,
        }
    }
}

fn path(dir: &tempfile::TempDir, name: &str) -> String {
    dir.path().join(name).to_string_lossy().into_owned()
}

/// Starts an app with default settings.
pub async fn spawn_app() -> TestApp {
    TestApp::builder().spawn().await
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }

    /// Imports a mongoexport dump into this app's database.
    pub fn import(&self, dir: &std::path::Path) -> ImportSummary {
        let dump = MongoExportDump::open(dir).expect("open dump");
        self.services
            .import
            .execute(&dump, &NoProgress)
            .expect("import")
    }

    /// The content fingerprint of every workspace table.
    pub fn fingerprint(&self) -> Vec<TableFingerprint> {
        self.database.fingerprint().expect("fingerprint")
    }

    /// Where the local archive store keeps `file`.
    pub fn archive_path(&self, file: &udd::ports::UserDataFile) -> PathBuf {
        PathBuf::from(
            udd::api::dto::WirePaths::from_settings(&self.settings).archive_location(&file.key),
        )
    }

    /// The workspace as the app stored it.
    pub fn workspace(&self) -> SqliteWorkspace {
        SqliteWorkspace::new(self.database.clone())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A link from a mail (made with the configured site URL), pointed at this app.
    pub fn local_link(&self, link: &str) -> String {
        let at = link.find("/data-export/").expect("a download link");
        self.url(&link[at..])
    }

    /// The `.eml` files in the outbox, oldest name first.
    pub fn outbox(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&self.settings.smtp.outbox_path) {
            Ok(entries) => entries
                .map(|e| e.expect("entry").path())
                .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                .collect(),
            Err(_) => Vec::new(),
        };
        files.sort();
        files
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("eml"))
            .collect()
    }

    /// Creates a password user the way `udd user add` does, returning their id.
    pub fn add_user(&self, username: &str, password: &str) -> String {
        self.services
            .add_user
            .execute(NewAccount {
                username: username.into(),
                password: password.into(),
                email: Some(format!("{username}@example.org")),
                name: Some(format!("{username} Example")),
            })
            .expect("add user")
            .id
            .to_string()
    }

    pub async fn post_login(&self, body: Value) -> reqwest::Response {
        self.post("/api/v1/login")
            .json(&body)
            .send()
            .await
            .expect("login request")
    }

    /// Adds a user and logs them in.
    pub async fn logged_in(&self, username: &str) -> Login {
        self.add_user(username, "correct horse");
        let response = self
            .post_login(json!({"user": username, "password": "correct horse"}))
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("json");
        Login {
            user_id: body["data"]["userId"].as_str().expect("userId").to_owned(),
            token: body["data"]["authToken"]
                .as_str()
                .expect("authToken")
                .to_owned(),
        }
    }

    /// A `GET path` request to the app, to be completed and sent.
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path))
    }

    /// A `POST path` request to the app, to be completed and sent.
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.post(self.url(path))
    }

    /// A `HEAD path` request to the app, to be completed and sent.
    pub fn head(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.head(self.url(path))
    }

    /// `GET path` with the login's headers.
    pub async fn get_as(&self, login: &Login, path: &str) -> reqwest::Response {
        self.get(path)
            .with_login(login)
            .send()
            .await
            .expect("request")
    }

    /// `GET path` with the login's headers, for the bytes `range` (`bytes=…`) only.
    pub async fn get_range_as(&self, login: &Login, path: &str, range: &str) -> reqwest::Response {
        self.get(path)
            .with_login(login)
            .header("Range", range)
            .send()
            .await
            .expect("request")
    }

    /// `users.requestDataDownload` with an optional `fullExport` value; status and body.
    pub async fn request_download(&self, login: &Login, full_export: Option<&str>) -> (u16, Value) {
        let path = match full_export {
            Some(value) => format!("/api/v1/users.requestDataDownload?fullExport={value}"),
            None => "/api/v1/users.requestDataDownload".to_owned(),
        };
        let response = self.get_as(login, &path).await;
        let status = response.status().as_u16();
        (status, response.json().await.expect("json body"))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(workers) = self.workers.take() {
            workers.shutdown();
        }
    }
}

impl TestApp {
    /// Asks for a download and polls until the operation completes (at most 30 s).
    pub async fn export_and_wait(&self, login: &Login, full_export: Option<&str>) -> Value {
        let (status, first) = self.request_download(login, full_export).await;
        assert_eq!(status, 200, "{first}");
        let id = first["exportOperation"]["_id"].clone();
        let started = std::time::Instant::now();
        loop {
            let (_, body) = self.request_download(login, full_export).await;
            assert_eq!(
                body["exportOperation"]["_id"], id,
                "the same operation answers"
            );
            if body["exportOperation"]["status"] == "completed" {
                return body;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "export did not complete: {body}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// The outbox once a mail is in it, or as it is after 30 s.
    pub async fn outbox_with_mail(&self) -> Vec<String> {
        let started = std::time::Instant::now();
        loop {
            let outbox = self.outbox();
            if !outbox.is_empty() || started.elapsed() > std::time::Duration::from_secs(30) {
                return outbox;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

/// An app with workers on `builder`, the sample workspace imported, and alice's
/// export of the given kind completed: the app, alice's login, the completed answer.
pub async fn alices_export(
    builder: TestAppBuilder,
    full_export: Option<&str>,
) -> (TestApp, Login, Value) {
    let app = builder.with_workers().spawn_with_sample().await;
    let alice = fixture_login("alice");
    let done = app.export_and_wait(&alice, full_export).await;
    (app, alice, done)
}

/// The entries of a zip file, by name, with their bytes.
pub fn unzip(path: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    unzip_from(std::fs::File::open(path).expect("zip"))
}

/// The entries of a zip held in memory.
pub fn unzip_bytes(bytes: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    unzip_from(std::io::Cursor::new(bytes.to_vec()))
}

fn unzip_from(
    reader: impl std::io::Read + std::io::Seek,
) -> std::collections::BTreeMap<String, Vec<u8>> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(reader).expect("a zip");
    let mut entries = std::collections::BTreeMap::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).expect("entry");
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).expect("read entry");
        entries.insert(entry.name().to_owned(), bytes);
    }
    entries
}

/// A clock the test moves by hand.
pub struct ManualClock(std::sync::Mutex<chrono::DateTime<chrono::Utc>>);

impl ManualClock {
    /// Starts at the current time (to the millisecond, as records keep it).
    pub fn starting_now() -> std::sync::Arc<Self> {
        let now = udd::domain::time::from_millis(chrono::Utc::now().timestamp_millis());
        std::sync::Arc::new(Self(std::sync::Mutex::new(now)))
    }

    /// Starts at `at`.
    pub fn starting_at(at: chrono::DateTime<chrono::Utc>) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self(std::sync::Mutex::new(at)))
    }

    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        *self.0.lock().unwrap()
    }
}

/// A mail's text with quoted-printable soft breaks and escapes undone, so links and
/// dates can be searched for whatever transfer encoding the parts got.
pub fn mail_text(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'=')
            .then(|| joined.get(i + 1..i + 3))
            .flatten()
            .and_then(|code| u8::from_str_radix(code, 16).ok());
        match escaped {
            // Escapes are bytes of UTF-8: collect them, decode the whole at the end.
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The download link in a mail.
pub fn link_in(mail: &str) -> String {
    let text = mail_text(mail);
    let start = text.find("http").expect("a link in the mail");
    let end = text[start..]
        .find(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .map_or(text.len(), |n| start + n);
    text[start..end].to_owned()
}

/// The bytes the app's local blob store holds under `key`.
pub fn stored_blob(app: &TestApp, key: &str) -> Vec<u8> {
    use std::io::Read;
    use udd::ports::BlobStore;
    let mut bytes = Vec::new();
    udd::adapters::LocalBlobStore::new(&app.settings.storage.blob_path)
        .open(key)
        .expect("readable")
        .expect("stored")
        .read_to_end(&mut bytes)
        .expect("read");
    bytes
}
