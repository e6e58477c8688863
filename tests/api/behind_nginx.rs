//! udd beside Rocket.Chat behind a real nginx, configured with the repository's own
//! files (deploy/nginx/udd.conf.template and udd-locations.conf, as docs/deploy.md
//! describes them). A stand-in answers for Rocket.Chat.
//!
//! The client connects from 127.0.0.2 and nginx from 127.0.0.1, so the address udd
//! records tells which one it believed: 127.0.0.2 only reaches udd through nginx's
//! `X-Forwarded-For`, and a client's forged entry in that header must not win either.
//!
//! nginx comes from scripts/ensure-nginx.sh (Debian's package) when it is missing; under
//! `CI=true` a missing nginx fails the test.

use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use udd::adapters::{SqliteDownloadLog, SqliteUserDataFiles};
use udd::ports::UserDataFiles;

use crate::helpers::{fixture_dir, fixture_login, link_in, Login, TestApp, WithLogin};

/// Where the test client connects from: not nginx's address, so it can be told apart.
const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// What the Rocket.Chat stand-in starts every answer with.
const STAND_IN: &str = "rocket.chat stand-in";

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn find_nginx() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())
}

/// The nginx binary, installed by the project's script when missing (once per run).
fn nginx_binary() -> Option<PathBuf> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            if let Some(found) = find_nginx() {
                return Some(found);
            }
            let script = repo_file("scripts/ensure-nginx.sh");
            match Command::new("bash").arg(&script).status() {
                Ok(status) if status.success() => {}
                other => eprintln!("{} failed: {other:?}", script.display()),
            }
            find_nginx()
        })
        .clone()
}

/// nginx, or `None` to skip where it cannot be had outside CI; under CI a failure.
pub(crate) fn nginx_or_skip() -> Option<PathBuf> {
    let found = nginx_binary();
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "nginx is missing and scripts/ensure-nginx.sh could not install it"
        );
        eprintln!(
            "SKIPPED: nginx is missing and scripts/ensure-nginx.sh could not install it \
             (it needs root and apt-get)"
        );
    }
    found
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

/// A running nginx, a child of the test, killed when dropped.
pub(crate) struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Nginx {
    /// Starts `binary` on 127.0.0.1:`port` with the repository's configuration, its
    /// upstreams pointed at `udd` and `rocketchat` (host:port), everything it writes in
    /// its own temporary folder.
    fn start(binary: &Path, port: u16, udd: &str, rocketchat: &str) -> Self {
        Self::serving(binary, port, |root| {
            let locations = root.join("udd-locations.conf");
            std::fs::copy(repo_file("deploy/nginx/udd-locations.conf"), &locations)
                .expect("copy udd-locations.conf");
            let template = std::fs::read_to_string(repo_file("deploy/nginx/udd.conf.template"))
                .expect("udd.conf.template");
            fill(
                &template,
                &[
                    ("UDD_UPSTREAM", udd),
                    ("ROCKETCHAT_UPSTREAM", rocketchat),
                    ("NGINX_LISTEN", &format!("127.0.0.1:{port}")),
                    ("NGINX_SERVER_NAME", "localhost"),
                    ("UDD_LOCATIONS", &locations.to_string_lossy()),
                ],
            )
        })
    }

    /// Starts `binary` on 127.0.0.1:`port` with the http-context configuration that
    /// `site` writes, given nginx's temporary folder (where it may keep files of its own).
    pub(crate) fn serving(binary: &Path, port: u16, site: impl FnOnce(&Path) -> String) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for sub in [
            "tmp/body",
            "tmp/proxy",
            "tmp/fastcgi",
            "tmp/uwsgi",
            "tmp/scgi",
        ] {
            std::fs::create_dir_all(root.join(sub)).expect("nginx folders");
        }
        let site = site(root);
        std::fs::write(root.join("udd.conf"), site).expect("udd.conf");
        // The main file a distribution would ship, reduced to what a test needs: one
        // process in the foreground, every path under the temporary folder.
        let r = root.display();
        let main = format!(
            "daemon off;\nmaster_process off;\npid {r}/nginx.pid;\nerror_log {r}/error.log info;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n\
             access_log {r}/access.log;\n\
             client_body_temp_path {r}/tmp/body;\nproxy_temp_path {r}/tmp/proxy;\n\
             fastcgi_temp_path {r}/tmp/fastcgi;\nuwsgi_temp_path {r}/tmp/uwsgi;\n\
             scgi_temp_path {r}/tmp/scgi;\n\
             include {r}/udd.conf;\n}}\n"
        );
        let conf = root.join("nginx.conf");
        std::fs::write(&conf, main).expect("nginx.conf");
        let child = Command::new(binary)
            .arg("-p")
            .arg(root)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(root.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nginx");
        let mut nginx = Self { child, dir, port };
        nginx.wait_until_listening();
        nginx
    }

    fn wait_until_listening(&mut self) {
        let started = Instant::now();
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut pipe) = self.child.stderr.take() {
                    std::io::Read::read_to_string(&mut pipe, &mut stderr).ok();
                }
                panic!("nginx exited with {status}: {stderr}\n{}", self.error_log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "nginx did not listen on {}: {}",
                self.port,
                self.error_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// `template` with every `${NAME}` of `values` filled; a placeholder left over fails.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut filled = template.to_owned();
    for (name, value) in values {
        filled = filled.replace(&format!("${{{name}}}"), value);
    }
    let body: String = filled
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .collect();
    assert!(!body.contains("${"), "a placeholder is left: {filled}");
    filled
}

/// A stand-in for Rocket.Chat: answers every request with its method and path.
async fn rocket_chat_stand_in() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the stand-in");
    let address = listener.local_addr().expect("address").to_string();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buffer = [0_u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65_536 {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let request_line = head.lines().next().unwrap_or_default();
                let body = format!("{STAND_IN}: {request_line}");
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(answer.as_bytes()).await.ok();
            });
        }
    });
    address
}

/// The DDP text Rocket.Chat's web client sends for `requestDataDownload`.
fn button_call(id: &str) -> String {
    json!({ "message": format!(
        r#"{{"msg":"method","id":"{id}","method":"requestDataDownload","params":[{{"fullExport":false}}]}}"#
    )})
    .to_string()
}

/// Presses the button through nginx: the method's result.
async fn press_the_button(
    client: &reqwest::Client,
    nginx: &Nginx,
    login: &Login,
    id: &str,
) -> Value {
    let response = client
        .post(nginx.url("/api/v1/method.call/requestDataDownload"))
        .with_login(login)
        .header("content-type", "application/json")
        .body(button_call(id))
        .send()
        .await
        .expect("the button's call");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("a JSON answer from udd");
    assert_eq!(body["success"], true, "{body}");
    let message: Value =
        serde_json::from_str(body["message"].as_str().expect("DDP text")).expect("DDP JSON");
    assert_eq!(message["id"], id);
    message["result"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_nginx_the_button_and_the_mailed_link_reach_udd_which_records_the_real_client() {
    let Some(binary) = nginx_or_skip() else {
        return;
    };
    let port = free_port();
    let site_url = format!("http://127.0.0.1:{port}/udd");
    let app = TestApp::builder()
        .with_workers()
        .configure({
            let site_url = site_url.clone();
            move |settings| {
                settings.server.site_url = site_url;
                settings.server.trusted_proxies = vec!["127.0.0.1".into()];
            }
        })
        .spawn()
        .await;
    app.import(&fixture_dir());
    let udd_address = app.address.trim_start_matches("http://").to_owned();
    let rocket_chat = rocket_chat_stand_in().await;
    let nginx = Nginx::start(&binary, port, &udd_address, &rocket_chat);
    let client = reqwest::Client::builder()
        .local_address(CLIENT)
        .build()
        .expect("a client on 127.0.0.2");
    let alice = fixture_login("alice");

    // Rocket.Chat's button reaches udd, which creates the operation once.
    let first = press_the_button(&client, &nginx, &alice, "1").await;
    assert_eq!(first["requested"], true, "{first}");
    let started = Instant::now();
    let done = loop {
        let result = press_the_button(&client, &nginx, &alice, "2").await;
        assert_eq!(result["requested"], false, "{result}");
        if result["exportOperation"]["status"] == "completed" {
            break result;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{result}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let file_id = done["exportOperation"]["fileId"]
        .as_str()
        .unwrap()
        .to_owned();
    let file = SqliteUserDataFiles::new(app.database.clone())
        .get(&file_id.as_str().into())
        .unwrap();
    assert_eq!(done["url"], format!("/udd/data-export/{file_id}"));

    // The mailed link (site_url with its /udd path) downloads through nginx, also when
    // the client forges an X-Forwarded-For entry of its own.
    let link = wait_for_link(&app).await;
    assert!(
        link.starts_with(&format!("{site_url}/data-export/{file_id}?token=")),
        "{link}"
    );
    let response = client
        .get(&link)
        .header("X-Forwarded-For", "203.0.113.66")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/zip");
    let body = response.bytes().await.unwrap();
    assert_eq!(hex::encode(Sha256::digest(&body)), file.sha256);

    // So does the method's url, logged in, by range as a resuming client asks.
    let partial = client
        .get(nginx.url(done["url"].as_str().unwrap()))
        .with_login(&alice)
        .header("Range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(partial.status(), 206);
    assert_eq!(partial.bytes().await.unwrap(), body[10..20]);

    // The download log has the client nginx saw, neither nginx nor the forged entry.
    let log = SqliteDownloadLog::new(app.database.clone())
        .for_file(&file_id)
        .unwrap();
    assert!(!log.is_empty());
    let addresses: Vec<_> = log.iter().map(|r| r.client_address.clone()).collect();
    assert!(
        addresses.iter().all(|a| a.as_deref() == Some("127.0.0.2")),
        "{addresses:?}\n{}",
        nginx.error_log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_sends_udds_paths_to_udd_and_everything_else_to_rocket_chat() {
    let Some(binary) = nginx_or_skip() else {
        return;
    };
    let port = free_port();
    let app = TestApp::builder()
        .configure(move |settings| {
            settings.server.site_url = format!("http://127.0.0.1:{port}/udd");
            settings.server.trusted_proxies = vec!["127.0.0.1".into()];
        })
        .spawn()
        .await;
    let alice = app.logged_in("alice").await;
    let udd_address = app.address.trim_start_matches("http://").to_owned();
    let rocket_chat = rocket_chat_stand_in().await;
    let nginx = Nginx::start(&binary, port, &udd_address, &rocket_chat);
    let client = reqwest::Client::builder()
        .local_address(CLIENT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str, login: Option<&Login>| {
        let mut request = client.get(nginx.url(path));
        if let Some(login) = login {
            request = request.with_login(login);
        }
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };

    // Rocket.Chat's paths, its login and websocket included, reach the stand-in.
    for path in [
        "/",
        "/home",
        "/api/v1/login",
        "/api/v1/channels.list",
        "/api/v1/users.requestDataDownloadX",
        "/api/v1/method.call/sendMessage",
        "/websocket",
        "/account/preferences",
        "/uddx",
    ] {
        let (status, body) = get(path, None).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(body, format!("{STAND_IN}: GET {path} HTTP/1.1"), "{path}");
    }

    // udd's paths reach udd, with and without the site's /udd prefix.
    let (status, body) = get("/api/v1/users.requestDataDownload", Some(&alice)).await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["requested"], true);
    let (status, body) = get("/udd/api/v1/users.requestDataDownload", Some(&alice)).await;
    assert_eq!(status, 200, "{body}");
    let again: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        again["exportOperation"]["_id"],
        answer["exportOperation"]["_id"]
    );
    let (_, body) = get("/udd/health", None).await;
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    for path in ["/data-export/nothing-here", "/udd/data-export/nothing-here"] {
        let (status, body) = get(path, None).await;
        assert_eq!(status, 404, "{path}");
        assert!(body.contains("File not found"), "udd's page: {body}");
    }
    let (status, body) = get("/account/data", None).await;
    assert!(!body.starts_with(STAND_IN), "{status} {body}");
    let anonymous = client
        .post(nginx.url("/api/v1/method.callAnon/requestDataDownload"))
        .body(button_call("9"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(anonymous.contains("error-invalid-user"), "{anonymous}");
    let (status, _) = get("/udd", None).await;
    assert_eq!(status, 301, "the bare prefix is sent to its folder");
}

/// The link in the first mail of the outbox, as mailed.
async fn wait_for_link(app: &TestApp) -> String {
    let started = Instant::now();
    loop {
        if let Some(mail) = app.outbox().first() {
            return link_in(mail);
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no mail came");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `${NAME}` placeholders of the template's configuration lines (not its comments).
fn placeholders(template: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in template
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
    {
        let mut rest = line;
        while let Some(start) = rest.find("${") {
            let after = &rest[start + 2..];
            let end = after.find('}').expect("a closed placeholder");
            names.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    names
}

#[test]
fn the_compose_files_nginx_runs_the_tested_configuration_with_every_placeholder_set() {
    let template = std::fs::read_to_string(repo_file("deploy/nginx/udd.conf.template")).unwrap();
    let names = placeholders(&template);
    assert_eq!(
        names,
        [
            "UDD_UPSTREAM",
            "ROCKETCHAT_UPSTREAM",
            "NGINX_LISTEN",
            "NGINX_SERVER_NAME",
            "UDD_LOCATIONS"
        ],
        "the names the test fills and the docs list"
    );
    let compose = std::fs::read_to_string(repo_file("deploy/compose.yaml")).unwrap();
    let nginx = &compose[compose.find("\n  nginx:\n").expect("an nginx service")..];
    let nginx = &nginx[..nginx[1..].find("\n  postgres:").expect("the next service")];
    assert!(
        nginx.contains("- ./nginx/udd.conf.template:/etc/nginx/templates/udd.conf.template:ro"),
        "{nginx}"
    );
    assert!(
        nginx.contains("- ./nginx/udd-locations.conf:/etc/nginx/snippets/udd-locations.conf:ro"),
        "{nginx}"
    );
    for name in &names {
        assert!(
            nginx.contains(&format!("      {name}: ")),
            "{name} is set: {nginx}"
        );
    }
    assert!(nginx.contains("UDD_LOCATIONS: \"/etc/nginx/snippets/udd-locations.conf\""));
    // udd trusts nginx's fixed address, and nothing else.
    let address = "172.30.0.10";
    assert!(
        nginx.contains(&format!("ipv4_address: {address}")),
        "{nginx}"
    );
    assert!(compose.contains(&format!("UDD__SERVER__TRUSTED_PROXIES: \"{address}\"")));
}
