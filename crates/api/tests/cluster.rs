//! The reference deployment, for real (docs/operations.md, "Running a cluster"): one
//! `udd serve` that only answers HTTP (`user_data.workers = 0`) and two `udd worker`
//! processes, each in an empty folder of its own, sharing nothing but a fresh
//! PostgreSQL database and one bucket of a real S3 server (s3s-fs). Thirty users ask
//! for their exports at once, and one worker is killed with SIGKILL in the middle of an
//! export: every operation completes exactly once (one archive object and one mail
//! each), the killed worker's exports are finished by the other worker, byte for byte
//! what a clean run writes, and every archive downloads through the serve process.
//!
//! PostgreSQL is the server `UDD_TEST_DATABASE_URL` names (default 127.0.0.1:5432) and
//! s3s-fs comes from `scripts/ensure-s3s-fs.sh`: either missing fails the test, it never
//! skips.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::Value;
use udd_adapters::postgres::testing::TestDatabase;
use udd_adapters::s3_test_server::{S3_TEST_ACCESS_KEY, S3_TEST_BUCKET, S3_TEST_SECRET_KEY};
use udd_adapters::{LoopbackSmtpServer, S3TestServer};

mod support;
use support::{unzip, KillOnDrop};

const USERS: usize = 30;
const LINK_SECRET: &str = "one secret for every process of the cluster";

/// What the processes share: the database, the bucket, the mail server and the public
/// address (the serve process's).
struct Shared {
    database: TestDatabase,
    s3: S3TestServer,
    smtp: LoopbackSmtpServer,
    port: u16,
}

impl Shared {
    fn start() -> Self {
        Self {
            database: TestDatabase::create().unwrap_or_else(|e| panic!("{e:#}")),
            s3: S3TestServer::start(),
            smtp: LoopbackSmtpServer::start().unwrap(),
            port: std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port(),
        }
    }

    fn site(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `udd` in `dir` (its own data folder), configured as every process of the
    /// cluster is: small batches so an export takes long enough to be interrupted, and
    /// a short lease so a dead worker's export is taken over within seconds.
    fn udd(&self, dir: &Path) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_udd"));
        command
            .current_dir(dir)
            .env("RUST_LOG", "warn")
            // Over TLS, the server's certificate verified, as between hosts.
            .env("UDD__DATABASE__URL", self.database.tls_url())
            .env("UDD__STORAGE__KIND", "s3")
            .env("UDD__STORAGE__BUCKET", S3_TEST_BUCKET)
            .env("UDD__STORAGE__ENDPOINT", &self.s3.endpoint)
            .env("UDD__STORAGE__PREFIX", "udd")
            .env("UDD__STORAGE__PATH_STYLE", "true")
            .env("UDD__STORAGE__ACCESS_KEY_ID", S3_TEST_ACCESS_KEY)
            .env("UDD__STORAGE__SECRET_ACCESS_KEY", S3_TEST_SECRET_KEY)
            .env("UDD__SMTP__HOST", "127.0.0.1")
            .env("UDD__SMTP__PORT", self.smtp.port().to_string())
            .env("UDD__SMTP__TLS", "none")
            .env("UDD__SERVER__SITE_URL", self.site())
            .env("UDD__SERVER__LINK_SECRET", LINK_SECRET)
            .env("UDD__USER_DATA__MESSAGE_LIMIT_PER_REQUEST", "50")
            .env("UDD__USER_DATA__LEASE_SECONDS", "3")
            .env("UDD__USER_DATA__PROCESSING_FREQUENCY_SECONDS", "1");
        command
    }

    fn run(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.udd(dir).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "udd {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// A long-running `udd` process in `dir`, logging to `dir/udd.log`.
    fn spawn(&self, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> KillOnDrop {
        let log = std::fs::File::create(dir.join("udd.log")).unwrap();
        KillOnDrop(
            self.udd(dir)
                .args(args)
                .envs(env.iter().copied())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        )
    }

    /// The values of the one text column `value` that `sql` selects.
    fn query(&self, sql: &str) -> Vec<String> {
        self.database
            .strings(sql)
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// The archives in the bucket, by operation id.
    fn archives(&self) -> BTreeMap<String, PathBuf> {
        std::fs::read_dir(self.s3.object("udd/exports"))
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|entry| {
                        let path = entry.path();
                        let id = path.file_name()?.to_str()?.strip_suffix(".zip")?;
                        Some((id.to_owned(), path.clone()))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A folder of its own for one process, as on a host of its own.
fn host() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// The last lines a process logged, for a failure message.
fn log_of(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("udd.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn alive(process: &mut KillOnDrop, dir: &Path, what: &str) {
    assert!(
        process.0.try_wait().unwrap().is_none(),
        "{what} died:\n{}",
        log_of(dir)
    );
}

/// One user's request, as the serve process answered it.
struct Request {
    username: String,
    user_id: String,
    token: String,
    full: bool,
    operation: String,
}

impl Request {
    /// `users.requestDataDownload` through the serve process.
    fn ask(client: &Client, site: &str, user_id: &str, token: &str, full: bool) -> Value {
        let response = client
            .get(format!(
                "{site}/api/v1/users.requestDataDownload?fullExport={full}"
            ))
            .header("X-User-Id", user_id)
            .header("X-Auth-Token", token)
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().unwrap()
    }

    fn again(&self, client: &Client, site: &str) -> Value {
        Self::ask(client, site, &self.user_id, &self.token, self.full)
    }
}

fn login(client: &Client, site: &str, username: &str) -> (String, String) {
    let answer: Value = client
        .post(format!("{site}/api/v1/login"))
        .json(&serde_json::json!({ "user": username, "password": udd_app::DEMO_PASSWORD }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let data = &answer["data"];
    let (Some(user_id), Some(token)) = (data["userId"].as_str(), data["authToken"].as_str()) else {
        panic!("{username} could not log in: {answer}");
    };
    (user_id.to_owned(), token.to_owned())
}

/// Every user logs in, then all ask for their export at the same moment: even ones a
/// full export, odd ones a personal one.
fn request_all_at_once(client: &Client, site: &str, usernames: &[String]) -> Vec<Request> {
    let barrier = Barrier::new(usernames.len());
    std::thread::scope(|scope| {
        let threads: Vec<_> = usernames
            .iter()
            .enumerate()
            .map(|(i, username)| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let (user_id, token) = login(client, site, username);
                    let full = i % 2 == 0;
                    barrier.wait();
                    let answer = Request::ask(client, site, &user_id, &token, full);
                    assert_eq!(answer["requested"], true, "{answer}");
                    Request {
                        username: username.clone(),
                        operation: answer["exportOperation"]["_id"]
                            .as_str()
                            .unwrap()
                            .to_owned(),
                        user_id,
                        token,
                        full,
                    }
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    })
}

/// The download path in a mail (its quoted-printable soft breaks and `=3D` undone).
fn link_path(mail: &str) -> String {
    let text = mail.replace("=\r\n", "").replace("=3D", "=");
    let at = text.find("/data-export/").expect("a link in the mail");
    text[at..]
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '<'))
        .collect()
}

#[test]
fn a_serve_and_two_workers_on_postgres_and_s3_export_thirty_users_exactly_once_through_a_kill() {
    let shared = Shared::start();
    let site = shared.site();
    let seed = host();
    shared.run(
        seed.path(),
        &[
            "demo",
            "--users",
            &USERS.to_string(),
            "--rooms",
            "12",
            "--messages",
            "8000",
            "--seed",
            "11",
        ],
    );
    let usernames = shared.query("SELECT username AS value FROM users ORDER BY username");
    assert_eq!(usernames.len(), USERS);

    let serve_dir = host();
    let mut serve = shared.spawn(
        serve_dir.path(),
        &["serve"],
        &[
            ("UDD__SERVER__BIND", &format!("127.0.0.1:{}", shared.port)),
            ("UDD__USER_DATA__WORKERS", "0"),
            ("UDD__RATE_LIMIT__ENABLED", "false"),
            ("UDD__LOGIN__PASSWORD_CHECK_QUEUE", "64"),
            ("UDD__LOGIN__PASSWORD_CHECK_THREADS", "2"),
        ],
    );
    let client = Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let started = Instant::now();
    while !client
        .get(format!("{site}/health"))
        .send()
        .is_ok_and(|r| r.status() == 200)
    {
        alive(&mut serve, serve_dir.path(), "udd serve");
        assert!(started.elapsed() < Duration::from_secs(30), "no answer");
        std::thread::sleep(Duration::from_millis(50));
    }
    let worker_dirs = [host(), host()];
    let mut workers: Vec<KillOnDrop> = worker_dirs
        .iter()
        .map(|dir| shared.spawn(dir.path(), &["worker"], &[]))
        .collect();

    let requests = request_all_at_once(&client, &site, &usernames);
    let operations: BTreeSet<&str> = requests.iter().map(|r| r.operation.as_str()).collect();
    assert_eq!(operations.len(), USERS, "one operation per user");
    // Every connection of the three processes is encrypted.
    let encrypted = shared.query(
        "SELECT s.ssl::text AS value FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
         WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()",
    );
    assert!(encrypted.len() >= 3, "{encrypted:?}");
    assert!(encrypted.iter().all(|ssl| ssl == "true"), "{encrypted:?}");

    // Worker A is killed once it holds an export with committed progress.
    let (a, b) = (0, 1);
    let pid = workers[a].0.id();
    let instance = loop {
        if let Some(id) = shared
            .query(&format!(
                "SELECT id AS value FROM worker_instances WHERE pid = {pid}"
            ))
            .pop()
        {
            break id;
        }
        alive(&mut workers[a], worker_dirs[a].path(), "worker A");
        std::thread::sleep(Duration::from_millis(20));
    };
    let held_by_a = format!(
        "SELECT o.id AS value FROM export_operations o WHERE o.lease_owner LIKE '{instance}/%' \
         AND o.status = 'exporting' AND EXISTS (SELECT 1 FROM export_rooms r \
         WHERE r.operation_id = o.id AND r.exported_count > 0)"
    );
    let started = Instant::now();
    while shared.query(&held_by_a).is_empty() {
        alive(&mut workers[a], worker_dirs[a].path(), "worker A");
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "worker A never got far into an export"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    workers[a].0.kill().unwrap();
    assert_eq!(workers[a].0.wait().unwrap().signal(), Some(9));
    let killed = shared.query(&held_by_a);
    assert!(!killed.is_empty(), "killed in the middle of an export");
    assert!(
        shared.archives().keys().all(|id| !killed.contains(id)),
        "no archive yet for the interrupted exports"
    );

    // Every export ends: one archive each in the bucket, one mail each.
    let started = Instant::now();
    while shared.archives().len() < USERS || shared.smtp.messages().len() < USERS {
        alive(&mut workers[b], worker_dirs[b].path(), "worker B");
        alive(&mut serve, serve_dir.path(), "udd serve");
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{} archives and {} mails after two minutes; worker B:\n{}",
            shared.archives().len(),
            shared.smtp.messages().len(),
            log_of(worker_dirs[b].path())
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Late duplicates would arrive within a worker round or two.
    std::thread::sleep(Duration::from_secs(2));
    let archives = shared.archives();
    assert_eq!(
        archives.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        operations,
        "one archive object per operation"
    );
    let mails = shared.smtp.messages();
    let mut recipients: Vec<String> = mails.iter().flat_map(|m| m.recipients.clone()).collect();
    recipients.sort();
    let mut addresses: Vec<String> = usernames
        .iter()
        .map(|u| format!("{u}@example.org"))
        .collect();
    addresses.sort();
    assert_eq!(recipients, addresses, "one mail per user");
    assert_eq!(
        shared.query(&format!(
            "SELECT CASE WHEN dead_at IS NULL THEN 'alive' ELSE 'dead' END AS value \
             FROM worker_instances WHERE id = '{instance}'"
        )),
        ["dead"],
        "worker B declared A dead"
    );

    // Every archive downloads through the serve process, to its owner, whole.
    for request in &requests {
        let answer = request.again(&client, &site);
        assert_eq!(answer["requested"], false, "{answer}");
        let op = &answer["exportOperation"];
        assert_eq!(op["_id"], request.operation.as_str());
        assert_eq!(op["status"], "completed", "{answer}");
        let file_id = op["fileId"].as_str().unwrap();
        let response = client
            .get(format!("{site}/data-export/{file_id}"))
            .header("X-User-Id", &request.user_id)
            .header("X-Auth-Token", &request.token)
            .send()
            .unwrap();
        assert_eq!(response.status(), 200, "{}", request.username);
        let body = response.bytes().unwrap();
        assert!(
            body == std::fs::read(&archives[&request.operation]).unwrap(),
            "{}'s download is the archive in the bucket",
            request.username
        );
    }

    // The serve process exported nothing and served every download.
    let metrics = client
        .get(format!("{site}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    for line in [
        "udd_workers{state=\"expected\"} 0".to_owned(),
        "udd_operations_started_total 0".to_owned(),
        format!("udd_operations{{status=\"completed\"}} {USERS}"),
        format!("udd_downloads_total {USERS}"),
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
    }

    // The interrupted exports, finished by worker B, are what a clean run writes; the
    // mailed link serves them too.
    for id in &killed {
        let request = requests.iter().find(|r| &r.operation == id).unwrap();
        let address = format!("{}@example.org", request.username);
        let mail = mails.iter().find(|m| m.recipients == [address.clone()]);
        let path = link_path(&mail.expect("the owner's mail").data);
        let response = client.get(format!("{site}{path}")).send().unwrap();
        assert_eq!(response.status(), 200, "the mailed link {path}");
        let resumed = unzip(&response.bytes().unwrap());

        let clean = seed.path().join(format!("clean-{id}.zip"));
        let mut args = vec!["export", "--user", &request.username, "--no-mail"];
        if request.full {
            args.push("--full");
        }
        args.extend(["--out", clean.to_str().unwrap()]);
        shared.run(seed.path(), &args);
        let clean = unzip(&std::fs::read(&clean).unwrap());
        assert_eq!(
            resumed.keys().collect::<Vec<_>>(),
            clean.keys().collect::<Vec<_>>()
        );
        // All but the manifest's cutoff (the clean run's is later) byte for byte.
        for (name, bytes) in &resumed {
            if name == "manifest.json" {
                let without_cutoff = |bytes: &[u8]| {
                    let mut manifest: Value = serde_json::from_slice(bytes).unwrap();
                    manifest.as_object_mut().unwrap().remove("cutoff");
                    manifest
                };
                assert_eq!(without_cutoff(bytes), without_cutoff(&clean[name]));
            } else {
                assert!(bytes == &clean[name], "{name} differs from a clean run");
            }
        }
    }
    let working = |dir: &Path| {
        std::fs::read_dir(dir.join("data/userData")).map_or(0, |entries| entries.count())
    };
    assert_eq!(
        working(worker_dirs[b].path()),
        0,
        "worker B removed its working folders"
    );
    assert_eq!(
        shared.archives().len(),
        USERS + killed.len(),
        "the clean runs' archives beside them, nothing else"
    );

    for process in workers.into_iter().chain([serve]) {
        process.stop();
    }
}

/// A TCP relay to the PostgreSQL server that can be cut: the database "goes away" for
/// the processes connected through it (open connections are closed, new ones refused).
struct Relay {
    port: u16,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
    accepting: Option<std::thread::JoinHandle<()>>,
}

impl Relay {
    fn to(target: String) -> Self {
        use std::net::{TcpListener, TcpStream};
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let open = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (stopping, streams) = (cut.clone(), open.clone());
        let accepting = std::thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                client.set_nonblocking(false).unwrap();
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let mut streams = streams.lock().unwrap();
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server.try_clone().unwrap(), client.try_clone().unwrap()),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
                streams.extend([client, server]);
            }
            // The listener goes with this thread: new connections are refused.
        });
        Self {
            port,
            cut,
            open,
            accepting: Some(accepting),
        }
    }

    fn cut(&mut self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(accepting) = self.accepting.take() {
            accepting.join().unwrap();
        }
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

#[test]
fn a_worker_whose_database_went_away_still_stops_within_seconds_of_sigterm() {
    let database = TestDatabase::create().unwrap_or_else(|e| panic!("{e:#}"));
    // postgres://user@host:port/name → host:port and the rest.
    let url = database.url().to_owned();
    let (head, name) = url.rsplit_once('/').unwrap();
    let (scheme_and_user, server) = head.rsplit_once('@').unwrap();
    let mut relay = Relay::to(server.to_owned());
    let through_relay = format!("{scheme_and_user}@127.0.0.1:{}/{name}", relay.port);
    let dir = host();
    let log = std::fs::File::create(dir.path().join("udd.log")).unwrap();
    let mut worker = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_udd"))
            .arg("worker")
            .current_dir(dir.path())
            .env("RUST_LOG", "info")
            .env("UDD__DATABASE__URL", &through_relay)
            .env("UDD__USER_DATA__PROCESSING_FREQUENCY_SECONDS", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while !log_of(dir.path()).contains("export workers started") {
        alive(&mut worker, dir.path(), "the worker");
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the worker did not start:\n{}",
            log_of(dir.path())
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    relay.cut();
    // Let the workers and the heartbeat run into the unreachable database.
    std::thread::sleep(Duration::from_secs(2));
    let asked = Instant::now();
    let pid = worker.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = loop {
        if let Some(status) = worker.0.try_wait().unwrap() {
            break status;
        }
        // Each call to the database waits out the pool's 30 s timeout: without a
        // bounded shutdown this took 90 s.
        assert!(
            asked.elapsed() < Duration::from_secs(20),
            "the worker did not stop on SIGTERM:\n{}",
            log_of(dir.path())
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "a stopped worker exits 0, got {status}:\n{}",
        log_of(dir.path())
    );
}

#[test]
fn sslrootcert_system_trusts_the_authorities_the_system_names_and_no_others() {
    let database = TestDatabase::create().unwrap_or_else(|e| panic!("{e:#}"));
    // `system` takes full verification, host name included: the test server's
    // certificate names `localhost`.
    let url = format!(
        "{}?sslmode=verify-full&sslrootcert=system",
        database.url().replacen("@127.0.0.1:", "@localhost:", 1)
    );
    let dir = host();
    let migrate = |variable: Option<(&str, &Path)>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_udd"));
        command
            .arg("migrate")
            .current_dir(dir.path())
            .env("RUST_LOG", "warn")
            .env("UDD__DATABASE__URL", &url)
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR");
        if let Some((name, value)) = variable {
            command.env(name, value);
        }
        command.output().unwrap()
    };
    let trusted = |out: std::process::Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("applied"));
    };
    // The system's own bundle does not hold the test server's self-signed authority.
    let refused = migrate(None);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{said}");
    assert!(said.contains("certificate verify failed"), "{said}");
    // Named as the system's authorities by OpenSSL's variables, it is trusted: a file
    // (SSL_CERT_FILE), or a folder of certificates by subject hash (SSL_CERT_DIR),
    // which must not be overridden by the distribution's bundle.
    let ca = udd_adapters::postgres::testing::server_ca();
    trusted(migrate(Some(("SSL_CERT_FILE", Path::new(&ca)))));
    let hash = Command::new("openssl")
        .args(["x509", "-hash", "-noout", "-in", &ca])
        .output()
        .expect("the openssl command (Debian's openssl package)");
    let hash = String::from_utf8(hash.stdout).unwrap();
    let folder = tempfile::tempdir().unwrap();
    std::fs::copy(&ca, folder.path().join(format!("{}.0", hash.trim()))).unwrap();
    trusted(migrate(Some(("SSL_CERT_DIR", folder.path()))));
}
