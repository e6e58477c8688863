//! The "My data" page in a real browser: Debian's headless Chromium, driven through
//! chromedriver, with JavaScript on (the list updates itself) and off (plain forms and
//! reloads). Each run signs in as a fixture user, asks for the JSON export, watches it
//! reach 100 %, downloads it and compares the file with the archive udd recorded; the
//! console must stay free of errors and Content-Security-Policy violations.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use udd::adapters::SqliteUserDataFiles;
use udd::ports::UserDataFiles;

use crate::helpers::TestApp;
use crate::webdriver::{Browser, Driver};

const REQUESTED: &str =
    "Your data file will be generated. A link to download it will be sent to your email.";

/// Where screenshots go for a person to look at: target/screenshots/.
fn screenshot_path(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("screenshots").join(name)
}

async fn sign_in(browser: &Browser, password: &str) {
    let login = browser.wait_for("#login", 10).await;
    browser.type_into(&login, "alice").await;
    let field = browser.wait_for("#password", 10).await;
    browser.type_into(&field, password).await;
    let submit = browser
        .wait_for("form.signin button[type=submit]", 10)
        .await;
    browser.click(&submit).await;
}

/// The first complete file in `dir`. Chromium writes into `*.crdownload` until it is
/// done, and may first create the final name empty, to reserve it: a zip counts once
/// no `.crdownload` is left beside it and it holds bytes (an archive is never empty).
async fn downloaded(dir: &Path) -> Vec<u8> {
    let started = Instant::now();
    loop {
        let names: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        let writing = names
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "crdownload"));
        let done = names.iter().find(|p| {
            p.extension().is_some_and(|e| e == "zip")
                && std::fs::metadata(p).is_ok_and(|m| m.len() > 0)
        });
        if let (false, Some(file)) = (writing, done) {
            return std::fs::read(file).expect("the downloaded file");
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nothing was downloaded: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Fails on any console error or CSP violation the page caused.
async fn assert_quiet_console(browser: &Browser) {
    let entries = browser.console().await;
    let bad: Vec<_> = entries
        .iter()
        .filter(|e| {
            e["level"] == "SEVERE"
                || e["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("Content Security Policy"))
        })
        .collect();
    assert!(bad.is_empty(), "the console reported: {bad:#?}");
}

async fn run(javascript: bool) {
    let app = TestApp::builder()
        .with_workers()
        .batch_size(2)
        .spawn_with_sample()
        .await;
    let driver = Driver::start().await;
    let downloads = tempfile::tempdir().unwrap();
    let browser = driver.browser(javascript, downloads.path()).await;

    browser.goto(&app.url("/")).await;
    let html = browser.source().await;
    assert!(html.contains("lang=\"en\""));
    assert_eq!(html.contains("class=\" js\""), javascript, "{html}");

    // A wrong password first: the form says so.
    sign_in(&browser, "not-the-password").await;
    let notice = browser.wait_for("#notice", 10).await;
    assert!(
        browser
            .text(&notice)
            .await
            .contains("Wrong username or password."),
        "{}",
        browser.source().await
    );
    // The refused sign-in is the only thing the console may mention (its 401).
    let refused: Vec<_> = browser.console().await;
    assert!(
        refused.iter().all(|e| e["message"]
            .as_str()
            .is_some_and(|m| m.contains("/account/data/login") && m.contains("401"))),
        "{refused:#?}"
    );
    sign_in(&browser, "alice-pass-0").await;
    let button = browser.wait_for("#request-json", 10).await;
    assert_eq!(browser.text(&button).await, "Export my data (JSON)");
    browser.click(&button).await;
    let notice = browser.wait_for("#notice", 10).await;
    assert_eq!(browser.text(&notice).await, REQUESTED);
    assert!(browser
        .current_url()
        .await
        .ends_with("/account/data?done=requested&kind=json"));

    // Progress to 100 %: by itself with JavaScript, by reloading without.
    let started = Instant::now();
    let mut seen = Vec::new();
    loop {
        let card = browser.wait_for("#export-json", 10).await;
        let percent = browser
            .attribute(&card, "data-percent")
            .await
            .unwrap_or_default();
        if seen.last() != Some(&percent) {
            seen.push(percent.clone());
        }
        if percent == "100" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "stuck at {seen:?}"
        );
        if !javascript {
            let refresh = browser.wait_for(".refresh a", 10).await;
            browser.click(&refresh).await;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    if javascript {
        assert!(
            browser
                .current_url()
                .await
                .ends_with("?done=requested&kind=json"),
            "the script updated the page in place"
        );
    }
    let progress = browser.wait_for("#progress-json", 10).await;
    assert_eq!(
        browser.attribute(&progress, "value").await.as_deref(),
        Some("100")
    );
    browser
        .screenshot(&screenshot_path(if javascript {
            "my-data.png"
        } else {
            "my-data-no-js.png"
        }))
        .await;

    let link = browser.wait_for("#download-json", 10).await;
    let href = browser.attribute(&link, "href").await.expect("href");
    let file_id = href.rsplit('/').next().unwrap().to_owned();
    browser.click(&link).await;
    let bytes = downloaded(downloads.path()).await;
    let file = SqliteUserDataFiles::new(app.database.clone())
        .get(&file_id.as_str().into())
        .unwrap();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), file.sha256);

    // The API reports the same archive for the same session.
    let cookies = browser.cookie_header().await;
    let (status, body) = {
        let response = app
            .get("/api/v1/users.requestDataDownload?fullExport=true")
            .header("X-User-Id", cookie_value(&cookies, "rc_uid"))
            .header("X-Auth-Token", cookie_value(&cookies, "rc_token"))
            .send()
            .await
            .unwrap();
        (
            response.status(),
            response.json::<serde_json::Value>().await.unwrap(),
        )
    };
    assert_eq!(status, 200);
    assert_eq!(body["exportOperation"]["fileId"], file_id.as_str());

    assert_quiet_console(&browser).await;
    browser.quit().await;
}

fn cookie_value(header: &str, name: &str) -> String {
    header
        .split("; ")
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie in {header}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_a_user_signs_in_exports_watches_and_downloads_their_data() {
    run(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_with_javascript_off_the_same_flow_works_with_reloads() {
    run(false).await;
}
