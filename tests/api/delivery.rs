//! The mail, the signed link, the download log, and retention.

use std::time::Duration;
use udd::domain::OperationId;

use sha2::{Digest, Sha256};
use udd::adapters::{
    HmacDownloadLinks, LoopbackSmtpServer, SqliteDownloadLog, SqliteNotices, SqliteUserDataFiles,
};
use udd::ports::{DownloadLinks, UserDataFile, UserDataFiles};

use crate::helpers::{alices_export, fixture_login, link_in, mail_text, ManualClock, TestApp};

fn recorded_file(app: &TestApp, file_id: &str) -> UserDataFile {
    SqliteUserDataFiles::new(app.database.clone())
        .get(&file_id.into())
        .unwrap()
}

fn links(app: &TestApp) -> HmacDownloadLinks {
    HmacDownloadLinks::load_or_create(&app.settings.server.link_secret_file).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_is_mailed_a_signed_link_that_downloads_without_login() {
    let smtp = LoopbackSmtpServer::start().unwrap();
    let (app, alice, done) = alices_export(TestApp::builder().with_smtp(smtp.port()), None).await;
    let op = &done["exportOperation"];
    let file_id = op["fileId"].as_str().unwrap();
    let file = recorded_file(&app, file_id);

    let received = smtp.wait_for(1, Duration::from_secs(30));
    assert_eq!(received.len(), 1, "one mail");
    let mail = &received[0];
    assert_eq!(mail.recipients, ["alice@example.com"]);
    let text = mail_text(&mail.data);
    assert!(
        text.contains("Subject: [Rocket.Chat] Your personal data export is ready"),
        "{text}"
    );
    let expiry = file
        .expires_at
        .unwrap()
        .format("%Y-%m-%d %H:%M UTC")
        .to_string();
    assert!(text.contains(&expiry), "the expiry date {expiry} in {text}");
    for part in ["Content-Type: text/plain", "Content-Type: text/html"] {
        assert!(text.contains(part), "{part} in {text}");
    }
    assert_eq!(
        text.matches(&expiry).count(),
        2,
        "the expiry in both parts: {text}"
    );
    let link = link_in(&mail.data);
    assert!(
        link.starts_with(&format!(
            "{}/data-export/{file_id}?token=",
            app.settings.server.site_url
        )),
        "{link}"
    );
    // The server has the mail a moment before the operation records it as sent.
    let notices = SqliteNotices::new(app.database.clone());
    let started = std::time::Instant::now();
    let state = loop {
        let state = notices.state(&op["_id"].as_str().unwrap().into()).unwrap();
        if state.status != "pending" || started.elapsed() > Duration::from_secs(10) {
            break state;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(state.status, "sent");
    assert!(state.sent_at.is_some());

    // Following the link needs no login.
    let response = app.client.get(app.local_link(&link)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    assert_eq!(hex::encode(Sha256::digest(&body)), file.sha256);

    // A resumed download through the link.
    let partial = app
        .client
        .get(app.local_link(&link))
        .header("Range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(partial.status(), 206);
    assert_eq!(partial.bytes().await.unwrap(), body[100..200]);

    // Every download is on record: one client's GETs within the hour are one download.
    let log = SqliteDownloadLog::new(app.database.clone())
        .for_file(file_id)
        .unwrap();
    assert_eq!(
        log.iter().map(|r| (r.bytes, r.by_link)).collect::<Vec<_>>(),
        [(file.size + 100, true)]
    );
    assert!(log
        .iter()
        .all(|r| r.user_id == alice.user_id && r.client_address.as_deref() == Some("127.0.0.1")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_expired_and_borrowed_tokens_are_refused() {
    let (app, _, done) = alices_export(TestApp::builder(), None).await;
    let file_id = done["exportOperation"]["fileId"].as_str().unwrap();
    let file = recorded_file(&app, file_id);
    let signer = links(&app);
    let status = |token: String| {
        let url = app.url(&format!("/data-export/{file_id}?token={token}"));
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    };

    let good = signer.sign(&file_id.into(), &file.user_id, file.expires_at.unwrap());
    assert_eq!(status(good.clone()).await, 200);
    // One character of the signature changed (the first, so every bit of it counts).
    let dot = good.find('.').unwrap();
    let mut tampered = good.clone();
    let first = &good[dot + 1..dot + 2];
    tampered.replace_range(dot + 1..dot + 2, if first == "A" { "B" } else { "A" });
    assert_eq!(status(tampered).await, 403);
    let expired = signer.sign(
        &file_id.into(),
        &file.user_id,
        chrono::Utc::now() - chrono::Duration::minutes(1),
    );
    assert_eq!(status(expired).await, 403);
    let bobs = signer.sign(
        &file_id.into(),
        &fixture_login("bob").user_id.into(),
        file.expires_at.unwrap(),
    );
    assert_eq!(status(bobs).await, 403);
    let other_secret = HmacDownloadLinks::new(b"not the server's secret").unwrap();
    let forged = other_secret.sign(&file_id.into(), &file.user_id, file.expires_at.unwrap());
    assert_eq!(status(forged).await, 403);
    assert_eq!(status("garbage".into()).await, 403);
    // The link of one file does not open another.
    let unknown = app
        .get(&format!("/data-export/NoSuchFile12345?token={good}"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    // Only the good download was recorded.
    let log = SqliteDownloadLog::new(app.database.clone())
        .for_file(file_id)
        .unwrap();
    assert_eq!(log.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_smtp_server_the_mail_lands_in_the_outbox() {
    let (app, _, done) = alices_export(TestApp::builder(), Some("true")).await;
    let file_id = done["exportOperation"]["fileId"].as_str().unwrap();
    let outbox = app.outbox_with_mail().await;
    assert_eq!(outbox.len(), 1);
    let text = mail_text(&outbox[0]);
    assert!(
        text.contains("To: \"Alice Example\" <alice@example.com>")
            || text.contains("To: Alice Example <alice@example.com>"),
        "{text}"
    );
    assert!(
        text.contains("Subject: [Rocket.Chat] Your full data export is ready"),
        "{text}"
    );
    let link = link_in(&outbox[0]);
    assert!(
        link.contains(&format!("/data-export/{file_id}?token=")),
        "{link}"
    );
    let response = app.client.get(app.local_link(&link)).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_server_that_refuses_at_first_gets_the_mail_on_a_later_try() {
    let smtp = LoopbackSmtpServer::start().unwrap();
    smtp.reject_next(1);
    let clock = ManualClock::starting_now();
    let (app, _, done) = alices_export(
        TestApp::builder()
            .with_smtp(smtp.port())
            .with_clock(clock.clone()),
        None,
    )
    .await;
    let op_id = OperationId::from(done["exportOperation"]["_id"].as_str().unwrap());
    let notices = SqliteNotices::new(app.database.clone());

    // The first attempt is refused and a retry is scheduled a minute later.
    let started = std::time::Instant::now();
    let state = loop {
        let state = notices.state(&op_id).unwrap();
        if state.attempts >= 1 && state.status == "pending" && state.error.is_some() {
            break state;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{state:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(state.error.unwrap().contains("451"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(smtp.messages().is_empty(), "no retry before it is due");

    clock.advance(chrono::Duration::seconds(61));
    let received = smtp.wait_for(1, Duration::from_secs(30));
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].recipients, ["alice@example.com"]);
    let started = std::time::Instant::now();
    while notices.state(&op_id).unwrap().status != "sent" {
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(notices.state(&op_id).unwrap().attempts, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_export_is_deleted_and_can_be_requested_again() {
    let clock = ManualClock::starting_now();
    let (app, alice, done) =
        alices_export(TestApp::builder().with_clock(clock.clone()), None).await;
    let op = &done["exportOperation"];
    let file_id = op["fileId"].as_str().unwrap();
    let zip = app.archive_path(&recorded_file(&app, file_id));
    assert!(zip.is_file());

    // Six days on, nothing expires.
    clock.advance(chrono::Duration::days(6));
    assert_eq!(app.services.retention.sweep().unwrap().expired, 0);
    assert!(zip.is_file());
    assert_eq!(
        app.get_as(&alice, &format!("/data-export/{file_id}"))
            .await
            .status(),
        200
    );

    // A week and a minute on, the zip goes and its record says so.
    clock.advance(chrono::Duration::days(1) + chrono::Duration::minutes(1));
    assert_eq!(app.services.retention.sweep().unwrap().expired, 1);
    assert!(!zip.exists());
    assert!(recorded_file(&app, file_id).removed_at.is_some());
    let gone = app.get_as(&alice, &format!("/data-export/{file_id}")).await;
    assert_eq!(gone.status(), 404);
    assert!(
        gone.text().await.unwrap().contains("has expired"),
        "the page says why and what to do"
    );

    let (status, again) = app.request_download(&alice, None).await;
    assert_eq!(status, 200);
    assert_eq!(again["requested"], true);
    assert_ne!(again["exportOperation"]["_id"], op["_id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_download_is_requested_again_inside_the_day() {
    let (app, alice, done) = alices_export(TestApp::builder(), None).await;
    let op = &done["exportOperation"];
    let files = SqliteUserDataFiles::new(app.database.clone());
    files
        .mark_removed(&op["fileId"].as_str().unwrap().into(), chrono::Utc::now())
        .unwrap();

    let (_, again) = app.request_download(&alice, None).await;
    assert_eq!(again["requested"], true, "{again}");
    assert_ne!(again["exportOperation"]["_id"], op["_id"]);
    // The new operation answers from now on, inside its day.
    let (_, third) = app.request_download(&alice, None).await;
    assert_eq!(third["requested"], false);
    assert_eq!(
        third["exportOperation"]["_id"],
        again["exportOperation"]["_id"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn left_over_folders_and_zips_are_swept_and_live_ones_kept() {
    let clock = ManualClock::starting_now();
    let (app, _, done) = alices_export(TestApp::builder().with_clock(clock.clone()), None).await;
    let op_id = OperationId::from(done["exportOperation"]["_id"].as_str().unwrap());
    let zip = app.archive_path(&recorded_file(
        &app,
        done["exportOperation"]["fileId"].as_str().unwrap(),
    ));
    let working = &app.settings.user_data.file_system_path;
    let zips = &app.settings.user_data.file_system_zip_path;
    // A crash right after completion left the working folder; a crash of an unknown
    // operation left a folder and half a zip; something not ours sits beside them.
    std::fs::create_dir_all(working.join(op_id.as_str()).join("assets")).unwrap();
    std::fs::create_dir_all(working.join("GhostOperation1").join("assets")).unwrap();
    std::fs::write(zips.join(".GhostOperation1.zip.partial"), b"half").unwrap();
    std::fs::write(working.join("keep-me.txt"), b"not an export").unwrap();

    // The unknown operation's files are young: kept for now.
    let first = app.services.retention.sweep().unwrap();
    assert_eq!(first.orphans, 1, "only the completed operation's folder");
    assert!(!working.join(op_id.as_str()).exists());
    assert!(working.join("GhostOperation1").exists());

    clock.advance(chrono::Duration::hours(2));
    let second = app.services.retention.sweep().unwrap();
    assert_eq!(second.orphans, 2);
    assert!(!working.join("GhostOperation1").exists());
    assert!(!zips.join(".GhostOperation1.zip.partial").exists());
    assert!(working.join("keep-me.txt").exists());
    assert!(zip.is_file(), "the live zip stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_abandoned_for_a_day_is_skipped_and_its_folder_swept() {
    use std::sync::atomic::AtomicBool;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use udd::adapters::SqliteExportOperations;
    use udd::app::Outcome;
    use udd::domain::ExportStatus;
    use udd::ports::{ExportOperations, NoProgress, Progress};

    /// Raises the stop flag when the engine starts writing messages.
    struct StopWhenExporting(Arc<AtomicBool>);
    impl Progress for StopWhenExporting {
        fn start(&self, label: &str, _: Option<u64>) {
            if label == "messages" {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        fn set(&self, _: u64) {}
        fn finish(&self, _: &str) {}
    }

    let clock = ManualClock::starting_now();
    let app = TestApp::builder()
        .with_clock(clock.clone())
        .spawn_with_sample()
        .await;
    let alice = fixture_login("alice");
    let (_, first) = app.request_download(&alice, None).await;
    let op_id = OperationId::from(first["exportOperation"]["_id"].as_str().unwrap());

    // A worker starts the export and stops as soon as messages are being written, as
    // if it died mid-way.
    let stopped = Arc::new(AtomicBool::new(false));
    let outcome = app
        .services
        .engine
        .run_operation(
            &op_id,
            "worker-1",
            &StopWhenExporting(stopped.clone()),
            &stopped,
        )
        .unwrap();
    assert!(
        matches!(outcome, Some(Outcome::Interrupted { .. })),
        "{outcome:?}"
    );
    let operations = SqliteExportOperations::new(app.database.clone());
    let started = operations.get(&op_id).unwrap();
    assert_eq!(started.status, ExportStatus::Exporting);
    let folder = app.settings.user_data.file_system_path.join(op_id.as_str());
    assert!(folder.exists());

    // Nobody touches it for over a day: the next worker skips it, as Rocket.Chat does.
    clock.advance(chrono::Duration::hours(25));
    let running = AtomicBool::new(false);
    let outcome = app
        .services
        .engine
        .run_next("worker-2", &NoProgress, &running)
        .unwrap();
    assert!(
        matches!(outcome, Some(Outcome::Skipped { .. })),
        "{outcome:?}"
    );
    assert_eq!(
        operations.get(&op_id).unwrap().status,
        ExportStatus::Skipped
    );

    // Its working folder is left-over now, and the owner is not mailed about it.
    assert_eq!(app.services.retention.sweep().unwrap().orphans, 1);
    assert!(!folder.exists());
    assert_eq!(app.services.notify.deliver_due().unwrap().sent, 0);

    // Asking again starts afresh.
    let (_, again) = app.request_download(&alice, None).await;
    assert_eq!(again["requested"], true);
    assert_ne!(
        again["exportOperation"]["_id"],
        first["exportOperation"]["_id"]
    );
}

#[test]
fn the_mail_decoder_keeps_non_ascii_text() {
    assert_eq!(
        mail_text("Hello Alice =C3=98ster,=\r\n and a=3Db"),
        "Hello Alice Øster, and a=b"
    );
}
