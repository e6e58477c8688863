//! The real `udd` binary, run as a user runs it.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn udd(dir: &tempfile::TempDir, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_udd"))
        .args(args)
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run udd")
}

/// `program` in `dir` with every standard stream piped to the test.
fn piped(program: &str, dir: &tempfile::TempDir) -> Command {
    let mut command = Command::new(program);
    command
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs udd with `input` on its standard input, in a session of its own (no
/// controlling terminal, whoever runs the tests).
fn udd_with_input(dir: &tempfile::TempDir, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = piped("setsid", dir)
        .arg(env!("CARGO_BIN_EXE_udd"))
        .args(args)
        .spawn()
        .expect("run udd");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().expect("udd output")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts that `output` (what udd wrote on a stream) says `what`, showing it otherwise.
#[track_caller]
fn assert_says(output: impl AsRef<[u8]>, what: &str) {
    let output = text(output.as_ref());
    assert!(output.contains(what), "{output}");
}

#[test]
fn user_add_creates_a_user_under_the_default_data_folder_and_refuses_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let out = udd_with_input(
        &dir,
        &[
            "user",
            "add",
            "--username",
            "alice",
            "--password-stdin",
            "--email",
            "a@x.org",
        ],
        "correct horse\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("created user alice (id "),
        "{}",
        text(&out.stdout)
    );
    assert!(
        dir.path().join("data/udd.sqlite3").is_file(),
        "defaults keep the database under ./data"
    );

    let again = udd_with_input(
        &dir,
        &["user", "add", "--username", "alice", "--password-stdin"],
        "correct horse\n",
    );
    assert_eq!(again.status.code(), Some(1));
    assert_says(&again.stderr, "username alice is already taken");
}

#[test]
fn user_add_rejects_a_bad_username_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = udd_with_input(
        &dir,
        &["user", "add", "--username", "../evil", "--password-stdin"],
        "correct horse\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_says(&out.stderr, "invalid username");
}

#[test]
fn migrate_applies_once_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let migrations = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../adapters/migrations"
    ))
    .unwrap()
    .count();
    // At the info level, where the announcement is logged.
    let first = piped(env!("CARGO_BIN_EXE_udd"), &dir)
        .env("RUST_LOG", "info")
        .arg("migrate")
        .output()
        .expect("udd output");
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert_says(&first.stdout, &format!("applied {migrations} migration(s)"));
    // Said before they run, which a large workspace may wait minutes for.
    assert_says(
        &first.stderr,
        &format!("migrating the database (on a large workspace this can take minutes) pending={migrations}"),
    );
    let second = piped(env!("CARGO_BIN_EXE_udd"), &dir)
        .env("RUST_LOG", "info")
        .arg("migrate")
        .output()
        .expect("udd output");
    assert_says(&second.stdout, "applied 0 migration(s)");
    assert!(
        !text(&second.stderr).contains("migrating the database"),
        "nothing pending, nothing announced"
    );
}

#[test]
fn a_config_file_and_environment_are_honoured_and_bad_config_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("custom.toml"),
        "[database]\nurl = \"elsewhere/db.sqlite3\"\n",
    )
    .unwrap();
    let out = udd(&dir, &["--config", "custom.toml", "migrate"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.path().join("elsewhere/db.sqlite3").is_file());

    let out = Command::new(env!("CARGO_BIN_EXE_udd"))
        .args(["migrate"])
        .current_dir(dir.path())
        .env("UDD__DATABASE__URL", "from-env/db.sqlite3")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.path().join("from-env/db.sqlite3").is_file());

    std::fs::write(
        dir.path().join("udd.toml"),
        "[user_data]\nmessage_limit_per_request = 0\n",
    )
    .unwrap();
    let out = udd(&dir, &["migrate"]);
    assert_eq!(out.status.code(), Some(1));
    assert_says(&out.stderr, "message_limit_per_request");

    let out = udd(&dir, &["--config", "missing.toml", "migrate"]);
    assert_eq!(out.status.code(), Some(1));
}

/// A running `udd serve` on a free port.
struct Served {
    child: std::process::Child,
    port: u16,
    stdout: String,
    /// Everything it logged (stderr) so far.
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Drop for Served {
    /// A test that fails before `stop` must not leave a server running.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn serve(dir: &tempfile::TempDir, args: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_udd"))
        .arg("serve")
        .args(args)
        .current_dir(dir.path())
        .env("UDD__SERVER__BIND", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut early = String::new();
    let port = loop {
        let line = lines.next().expect("udd exited before serving").unwrap();
        early.push_str(&line);
        early.push('\n');
        if let Some(rest) = line.split("port=").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .unwrap()
                .parse::<u16>()
                .unwrap();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    let log = std::sync::Arc::new(std::sync::Mutex::new(early));
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let mut kept = kept.lock().unwrap();
            kept.push_str(&line);
            kept.push('\n');
        }
    });
    let mut stdout = String::new();
    if args.contains(&"--demo") {
        let mut out = BufReader::new(child.stdout.take().unwrap());
        while !stdout.contains("curl -OJ") {
            let mut line = String::new();
            if out.read_line(&mut line).unwrap() == 0 {
                break;
            }
            stdout.push_str(&line);
        }
    }
    Served {
        child,
        port,
        stdout,
        log,
    }
}

fn stop(mut served: Served) {
    let pid = served.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let started = Instant::now();
    loop {
        if let Some(status) = served.child.try_wait().unwrap() {
            assert!(status.success(), "graceful shutdown exits 0, got {status}");
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "udd did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serve_answers_health_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(&dir, &[]);
    let response = http_get(served.port, "/health");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert_says(&response, "\"status\":\"ok\"");
    stop(served);
}

#[test]
fn serve_still_stops_on_sigterm_after_whoever_read_its_logs_went_away() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_udd"))
        .arg("serve")
        .current_dir(dir.path())
        .env("UDD__SERVER__BIND", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    {
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        while !lines.next().unwrap().unwrap().contains("port=") {}
        // The reader goes: the next log line meets a closed pipe.
    }
    let served = Served {
        child,
        port: 0,
        stdout: String::new(),
        log: Default::default(),
    };
    stop(served);
}

#[test]
fn serve_demo_seeds_once_prints_a_walkthrough_and_demo_users_can_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(&dir, &["--demo"]);
    assert_says(&served.stdout, "demo workspace: 12 users");
    assert_says(&served.stdout, "/api/v1/login");
    assert_says(&served.stdout, "users.requestDataDownload");
    assert!(
        served.stdout.contains("data/outbox"),
        "the walkthrough says where the mail goes: {}",
        served.stdout
    );
    let login = http_post_json(
        served.port,
        "/api/v1/login",
        r#"{"user":"alice","password":"demo"}"#,
    );
    assert!(login.starts_with("HTTP/1.1 200"), "{login}");
    stop(served);

    let again = serve(&dir, &["--demo"]);
    assert_says(&again.stdout, "not seeding the demo again");
    assert!(
        !again.stdout.contains("demo workspace: 12 users"),
        "{}",
        again.stdout
    );
    stop(again);
}

/// The sample Rocket.Chat workspace, in mongoexport form.
fn fixture_dump() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/rocketchat-mongoexport")
}

/// `dump/` in `dir`: a copy of the collection files of the sample dump that `keep`
/// names (its upload folders stay behind), to be edited.
fn dump_copy(dir: &tempfile::TempDir, keep: impl Fn(&str) -> bool) -> std::path::PathBuf {
    let dump = dir.path().join("dump");
    std::fs::create_dir(&dump).unwrap();
    for entry in std::fs::read_dir(fixture_dump()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if path.is_file() && keep(&name) {
            std::fs::copy(&path, dump.join(name)).unwrap();
        }
    }
    dump
}

#[test]
fn import_prints_counts_per_collection_reports_broken_lines_and_exits_2_when_it_left_any_out() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dump_copy(&dir, |name| {
        ["users.json", "rocketchat_room.json"].contains(&name)
    });
    let rooms = std::fs::read_to_string(dump.join("rocketchat_room.json")).unwrap();
    std::fs::write(
        dump.join("rocketchat_room.json"),
        format!("{rooms}not json at all\n"),
    )
    .unwrap();
    let out = udd(&dir, &["import", "dump"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a line left out is not a silent success: {}",
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("users") && stdout.contains("rooms"),
        "{stdout}"
    );
    assert_says(&stdout, "rocketchat_room.json:6: malformed");
    assert_says(&out.stderr, "1 document(s) of the dump were not imported");

    // Once the broken line is gone, the import is a success.
    std::fs::write(dump.join("rocketchat_room.json"), rooms).unwrap();
    let out = udd(&dir, &["import", "dump"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = udd(&dir, &["import", "nowhere"]);
    assert_eq!(out.status.code(), Some(1));
    assert_says(&out.stderr, "nowhere is not a folder");
}

#[test]
fn storage_check_reads_a_file_from_each_store_and_fails_when_one_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = fixture_dump();
    let out = udd(&dir, &["import", fixture.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = udd(&dir, &["storage", "check"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let tried = stdout
        .lines()
        .find_map(|line| line.strip_prefix("udd's store (storage.blob_path): keeps "))
        .and_then(|rest| rest.split_once("; read "))
        .map(|(_, key)| key.to_owned())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_says(
        &stdout,
        "Rocket.Chat's bucket ([rocketchat.uploads]): keeps nothing",
    );

    // The upload it read is gone from the store: exports would miss it.
    std::fs::remove_file(dir.path().join("data/blobs").join(&tried)).unwrap();
    let out = udd(&dir, &["storage", "check"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert_says(
        &out.stdout,
        &format!("that exports cannot read: {tried} is not there; check storage.blob_path"),
    );
    assert_says(
        &out.stderr,
        "1 store(s) keep uploads or avatars that exports would list as unavailable",
    );
}

#[test]
fn an_import_warns_of_uploads_kept_in_a_store_the_settings_do_not_name() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dump_copy(&dir, |_| true);
    // One upload is kept in Rocket.Chat's S3 bucket (FileUpload_Storage_Type =
    // AmazonS3), which udd is not told of.
    let uploads = std::fs::read_to_string(dump.join("rocketchat_uploads.json")).unwrap();
    let edited: String = uploads
        .lines()
        .map(|line| {
            let mut doc: serde_json::Value = serde_json::from_str(line).unwrap();
            if doc["_id"] == "Q5yA26ksJXC57nySc" {
                doc["store"] = "AmazonS3:Uploads".into();
                doc["AmazonS3"] =
                    serde_json::json!({ "path": "k2Zr8XoM3NwZ/uploads/Q5yA26ksJXC57nySc" });
            }
            format!("{doc}\n")
        })
        .collect();
    std::fs::write(dump.join("rocketchat_uploads.json"), edited).unwrap();

    let out = udd(&dir, &["import", "dump"]);
    assert!(
        out.status.success(),
        "a warning, not a failure: {}",
        text(&out.stderr)
    );
    assert_says(
        &out.stderr,
        "warning: Rocket.Chat's bucket ([rocketchat.uploads]) keeps 1 upload(s) or avatar(s) of \
         this workspace that exports cannot read, and would list as unavailable: \
         rocketchat.uploads.bucket is not set",
    );
    assert!(
        !text(&out.stderr).contains("udd's store"),
        "{}",
        text(&out.stderr)
    );

    // A process that runs exports logs the same as it starts.
    let served = serve(&dir, &[]);
    let started = Instant::now();
    while !served
        .log
        .lock()
        .unwrap()
        .contains("Rocket.Chat's bucket ([rocketchat.uploads]) keeps 1 upload(s) or avatar(s)")
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{}",
            served.log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    stop(served);
}

/// Runs udd with `input` (bytes) on its standard input.
fn udd_fed(dir: &tempfile::TempDir, args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = piped(env!("CARGO_BIN_EXE_udd"), dir)
        .args(args)
        .spawn()
        .expect("run udd");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    drop(stdin);
    child.wait_with_output().expect("udd output")
}

/// The counts `udd import` printed for `collection`: imported, skipped, malformed.
fn counts_of(stdout: &str, collection: &str) -> Vec<u64> {
    stdout
        .lines()
        .find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some(collection))
                .then(|| words.take(3).map(|w| w.parse().unwrap()).collect())
        })
        .unwrap_or_else(|| panic!("no {collection} row in {stdout}"))
}

#[test]
fn import_reads_one_collection_from_standard_input_plain_or_gzipped() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let fixture = fixture_dump();
    let users = std::fs::read(fixture.join("users.json")).unwrap();
    let out = udd_fed(&dir, &["import", "-", "--collection", "users"], &users);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_says(&stdout, "(standard input)");
    assert_eq!(counts_of(&stdout, "users"), [4, 0, 0]);
    assert_eq!(counts_of(&stdout, "rooms"), [0, 0, 0]);

    // `mongoexport … | gzip | udd import -` works too.
    let rooms = std::fs::read(fixture.join("rocketchat_room.json")).unwrap();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&rooms).unwrap();
    let zipped = encoder.finish().unwrap();
    let out = udd_fed(
        &dir,
        &["import", "-", "--collection", "rocketchat_room"],
        &zipped,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(counts_of(&text(&out.stdout), "rooms"), [5, 0, 0]);

    // A line left out makes the exit code 2; a gzip stream cut short too.
    let broken = [&rooms[..], b"{not json\n"].concat();
    let out = udd_fed(
        &dir,
        &["import", "-", "--collection", "rocketchat_room"],
        &broken,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_says(&out.stdout, "standard input (rocketchat_room):6: malformed");
    let cut = &zipped[..zipped.len() - 6];
    let out = udd_fed(
        &dir,
        &["import", "-", "--collection", "rocketchat_room"],
        cut,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_says(&out.stdout, "the gzip stream is damaged or cut short");

    for (args, says) in [
        (&["import", "-"][..], "needs --collection"),
        (
            &["import", "-", "--collection", "rocketchat_nope"][..],
            "unknown collection \"rocketchat_nope\"",
        ),
        (
            &["import", "dump", "--collection", "users"][..],
            "use it with `-`",
        ),
    ] {
        let out = udd_fed(&dir, args, b"");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_says(&out.stderr, says);
    }

    std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    let out = udd(&dir, &["import", "notes.txt"]);
    assert_eq!(out.status.code(), Some(1));
    assert_says(
        &out.stderr,
        "notes.txt is neither a folder nor a mongodump archive",
    );
}

fn http_get(port: u16, path: &str) -> String {
    http(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
    )
}

fn http_post_json(port: u16, path: &str, body: &str) -> String {
    http(
        port,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

fn http(port: u16, request: &str) -> String {
    text(&http_bytes(port, request))
}

fn http_bytes(port: u16, request: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    response
}

/// The body of a raw HTTP/1.1 response sent with a Content-Length.
fn body_of(response: &[u8]) -> &[u8] {
    let at = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    &response[at + 4..]
}

/// Quoted-printable soft breaks and `=XX` escapes undone.
fn unquote(mail: &str) -> String {
    let joined = mail.replace("=\r\n", "");
    let mut out = Vec::new();
    let bytes = joined.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let code = joined
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], code) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    text(&out)
}

#[test]
fn the_readme_walkthrough_ends_with_the_zip_from_the_mailed_link() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(&dir, &["--demo"]);
    let port = served.port;

    let (user_id, token) = demo_login(port);
    let request = format!(
        "GET /api/v1/users.requestDataDownload HTTP/1.1\r\nHost: localhost\r\n\
         X-User-Id: {user_id}\r\nX-Auth-Token: {token}\r\nConnection: close\r\n\r\n"
    );
    let started = Instant::now();
    loop {
        let answer = http_bytes(port, &request);
        let answer: serde_json::Value = serde_json::from_slice(body_of(&answer)).unwrap();
        if answer["exportOperation"]["status"] == "completed" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not completed: {answer}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // No SMTP server is configured: the mail is in the outbox.
    let outbox = dir.path().join("data/outbox");
    let mail = loop {
        let found = std::fs::read_dir(&outbox)
            .into_iter()
            .flatten()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "eml"));
        if let Some(path) = found {
            break unquote(&std::fs::read_to_string(path).unwrap());
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no mail");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_says(&mail, "To: ");
    assert_says(&mail, "alice@example.org");
    let at = mail.find("/data-export/").expect("a link in the mail");
    let path: String = mail[at..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"')
        .collect();

    // Following the link needs no login and gives the zip.
    let response = http_bytes(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
    );
    assert!(
        response.starts_with(b"HTTP/1.1 200"),
        "{}",
        text(&response[..200.min(response.len())])
    );
    let zip = body_of(&response).to_vec();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("a zip");
    let names: Vec<String> = archive.file_names().map(str::to_owned).collect();
    for expected in ["index.html", "user.html", "manifest.json"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    assert!(archive.by_name("manifest.json").is_ok());
    stop(served);
}

/// Runs udd through a shell with `umask 000`, as a careless service manager would.
fn udd_with_open_umask(dir: &tempfile::TempDir, args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg("umask 000 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_udd"))
        .args(args)
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run udd")
}

/// Every folder and file under `dir`, with its permission bits.
fn modes_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, bool, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        found.push((
            entry.path(),
            meta.is_dir(),
            meta.permissions().mode() & 0o777,
        ));
        if meta.is_dir() {
            found.extend(modes_under(&entry.path()));
        }
    }
    found
}

#[test]
fn everything_under_data_is_for_its_owner_only_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let out = udd_with_open_umask(&dir, &["demo", "--users", "3", "--messages", "50"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = udd_with_open_umask(&dir, &["export", "--user", "alice"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let data = dir.path().join("data");
    let found = modes_under(&data);
    let has = |what: &str| {
        found
            .iter()
            .any(|(path, _, _)| path.to_string_lossy().contains(what))
    };
    for what in [
        "udd.sqlite3",
        "link-secret",
        "blobs/avatars/",
        "zipFiles/",
        ".zip",
        "outbox/",
        ".eml",
        "userData",
    ] {
        assert!(has(what), "{what} in {found:?}");
    }
    assert_eq!(
        modes_under(dir.path())
            .iter()
            .find(|(path, ..)| *path == data)
            .map(|(_, _, mode)| *mode),
        Some(0o700),
        "data/ itself"
    );
    for (path, is_dir, mode) in &found {
        let expected = if *is_dir { 0o700 } else { 0o600 };
        assert_eq!(*mode, expected, "{} is {mode:o}", path.display());
    }
}

/// Logs in as the demo's alice: (user id, token).
fn demo_login(port: u16) -> (String, String) {
    let login = http_post_json(
        port,
        "/api/v1/login",
        r#"{"user":"alice","password":"demo"}"#,
    );
    let login: serde_json::Value =
        serde_json::from_slice(body_of(login.as_bytes())).expect("login json");
    (
        login["data"]["userId"].as_str().unwrap().to_owned(),
        login["data"]["authToken"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn a_forged_full_export_value_cannot_write_a_line_of_its_own_into_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(&dir, &["--demo"]);
    let (user_id, token) = demo_login(served.port);
    let forged = "yes%0A1999-01-01T00:00:00.000000Z%20%20INFO%20udd_api%3A%20forged%20line";
    let answer = http(
        served.port,
        &format!(
            "GET /api/v1/users.requestDataDownload?fullExport={forged} HTTP/1.1\r\nHost: localhost\r\n\
             X-User-Id: {user_id}\r\nX-Auth-Token: {token}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let log = served.log.clone();
    let started = Instant::now();
    while !log.lock().unwrap().contains("fullExport") {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the refusal is logged: {}",
            log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    stop(served);
    let log = log.lock().unwrap().clone();
    assert!(
        !log.lines().any(|line| line.starts_with("1999-01-01")),
        "a request wrote its own log line:\n{log}"
    );
    assert_says(&log, "yes\\n1999-01-01");
}

#[test]
fn user_add_takes_the_password_from_standard_input_with_a_minimum_length() {
    let dir = tempfile::tempdir().unwrap();
    let add = |name: &str, extra: &[&str], input: &str| {
        let mut args = vec!["user", "add", "--username", name];
        args.extend_from_slice(extra);
        udd_with_input(&dir, &args, input)
    };

    let short = add("alice", &["--password-stdin"], "1234567\n");
    assert_eq!(short.status.code(), Some(1));
    assert_says(&short.stderr, "at least 8 characters");
    let on_the_command_line = add("alice", &["--password", "x"], "");
    assert_eq!(on_the_command_line.status.code(), Some(1));
    assert!(text(&on_the_command_line.stderr).contains("process list"));

    // No terminal to ask on and no --password-stdin: a clear refusal, not a hang.
    let nowhere = add("alice", &[], "correct horse\n");
    assert_eq!(nowhere.status.code(), Some(1));
    assert_says(&nowhere.stderr, "--password-stdin");

    let out = add(
        "alice",
        &["--password-stdin", "--email", "a@x.org"],
        "correct horse\nignored\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let served = serve(&dir, &[]);
    let login = |password: &str| {
        http_post_json(
            served.port,
            "/api/v1/login",
            &format!(r#"{{"user":"alice","password":"{password}"}}"#),
        )
    };
    assert!(login("correct horse").starts_with("HTTP/1.1 200"));
    assert!(login("correct horse\\n").starts_with("HTTP/1.1 401"));
    stop(served);
}

#[test]
fn user_add_asks_for_the_password_twice_on_the_terminal_without_echo() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    // `script` gives udd a terminal of its own; its output is what that terminal showed.
    let command = format!("{} user add --username alice", env!("CARGO_BIN_EXE_udd"));
    // `script` is util-linux's, part of every Debian system (package bsdutils).
    let mut child = piped("script", &dir)
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .spawn()
        .expect("`script` gives the test a terminal");
    let mut input = child.stdin.take().unwrap();
    let mut output = child.stdout.take().unwrap();
    let mut shown = Vec::new();
    let mut wait_for = |what: &str, shown: &mut Vec<u8>| {
        let started = Instant::now();
        while !text(shown).contains(what) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{}",
                text(shown)
            );
            let mut byte = [0_u8; 1];
            if output.read(&mut byte).unwrap() == 0 {
                break;
            }
            shown.push(byte[0]);
        }
    };
    wait_for("Password: ", &mut shown);
    input.write_all(b"tr0ub4dor&3x\n").unwrap();
    wait_for("Repeat it: ", &mut shown);
    input.write_all(b"tr0ub4dor&3x\n").unwrap();
    wait_for("created user alice", &mut shown);
    drop(input);
    let status = child.wait().unwrap();
    let shown = text(&shown);
    assert!(status.success(), "{shown}");
    assert_says(&shown, "created user alice");
    assert!(
        !shown.contains("tr0ub4dor"),
        "the password was echoed: {shown}"
    );
}

/// Runs udd with extra environment; a command still running after 20 s (a server that
/// started) is killed and the test fails.
fn udd_refused(dir: &tempfile::TempDir, args: &[&str], envs: &[(&str, &str)]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_udd"))
        .args(args)
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .env("UDD__SERVER__BIND", "127.0.0.1:0")
        .envs(envs.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("udd {args:?} with {envs:?} started instead of refusing to");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "udd {args:?} with {envs:?}");
    text(&out.stderr)
}

#[test]
fn start_up_refuses_folders_it_cannot_write_and_smtp_settings_that_cannot_work() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plain-file"), b"x").unwrap();
    for (key, env) in [
        (
            "user_data.file_system_path",
            "UDD__USER_DATA__FILE_SYSTEM_PATH",
        ),
        (
            "user_data.file_system_zip_path",
            "UDD__USER_DATA__FILE_SYSTEM_ZIP_PATH",
        ),
        ("storage.blob_path", "UDD__STORAGE__BLOB_PATH"),
        ("smtp.outbox_path", "UDD__SMTP__OUTBOX_PATH"),
    ] {
        for command in ["serve", "worker"] {
            let stderr = udd_refused(&dir, &[command], &[(env, "plain-file/sub")]);
            assert!(
                stderr.contains(&format!("{key} `plain-file/sub` cannot be used")),
                "{command}: {stderr}"
            );
        }
    }
    let stderr = udd_refused(
        &dir,
        &["import", "nowhere"],
        &[("UDD__STORAGE__BLOB_PATH", "plain-file/sub")],
    );
    assert_says(&stderr, "storage.blob_path");

    for (envs, says) in [
        (
            vec![("UDD__SMTP__HOST", "smtp://mail.example.org")],
            "smtp.host",
        ),
        (
            vec![("UDD__SMTP__HOST", "mail.example.org:587")],
            "smtp.host",
        ),
        (vec![("UDD__SMTP__PORT", "0")], "smtp.port"),
        (
            vec![
                ("UDD__SMTP__HOST", "mail.example.org"),
                ("UDD__SMTP__USERNAME", "udd"),
            ],
            "smtp.username is set without smtp.password",
        ),
    ] {
        let stderr = udd_refused(&dir, &["serve"], &envs);
        assert!(stderr.contains(says), "{envs:?}: {stderr}");
    }
    // `workers = 0` makes a pure HTTP server; a worker process without workers is a
    // mistake.
    let stderr = udd_refused(&dir, &["worker"], &[("UDD__USER_DATA__WORKERS", "0")]);
    assert_says(
        &stderr,
        "udd worker runs export workers: user_data.workers must be at least 1",
    );
}

#[test]
fn serve_warns_when_links_would_name_the_default_site_and_mail_goes_to_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(&dir, &[]);
    let log = served.log.clone();
    stop(served);
    let log = log.lock().unwrap().clone();
    assert_says(&log, "server.site_url is still the default http://localhost:3000 while udd listens on 127.0.0.1:0");
    assert_says(
        &log,
        "smtp.host is not set: mails are not sent but written as .eml files into data/outbox",
    );
}

#[test]
fn export_reports_the_zip_phase_with_the_number_of_entries_it_packs() {
    let dir = tempfile::tempdir().unwrap();
    let out = udd(&dir, &["demo", "--users", "3", "--messages", "40"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = Command::new(env!("CARGO_BIN_EXE_udd"))
        .args(["export", "--user", "alice"])
        .current_dir(dir.path())
        .env("RUST_LOG", "info")
        .output()
        .expect("run udd");
    let log = text(&out.stderr);
    assert!(out.status.success(), "{log}");
    // Off a terminal, progress is logged: the files phase ends with what it found, then
    // the zip phase starts with as many entries as the archive holds.
    assert_says(&out.stderr, "uploads to pack; unavailable:");
    let announced: usize = log
        .lines()
        .find(|l| l.contains("started") && l.contains("phase=\"zip\""))
        .and_then(|l| l.split("total=").nth(1))
        .and_then(|t| t.split_whitespace().next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no zip phase with a total in {log}"));
    let zip = text(&out.stdout).lines().last().unwrap().to_owned();
    let archive = zip::ZipArchive::new(std::fs::File::open(dir.path().join(zip)).unwrap()).unwrap();
    assert_eq!(announced, archive.len(), "{log}");
    assert!(announced > 5, "{log}");
}
