//! The mail as its reader sees it: the workspace's name, what the export holds, the
//! size and expiry, and the reader's language.

use std::time::Duration;

use udd::adapters::LoopbackSmtpServer;

use crate::helpers::{fixture_copy, fixture_login, mail_text, TestApp};

/// Alice's personal export mailed through a loopback SMTP server, with alice's
/// Rocket.Chat `language` set to `language` in the dump; returns the mail as received.
async fn alices_mail(language: Option<&str>) -> String {
    let smtp = LoopbackSmtpServer::start().unwrap();
    let app = TestApp::builder()
        .with_smtp(smtp.port())
        .with_workers()
        .configure(|s| s.server.site_name = "Acme Chat".into())
        .spawn()
        .await;
    let dump = fixture_copy();
    if let Some(language) = language {
        let users = std::fs::read_to_string(dump.path().join("users.json")).unwrap();
        let users = users.replacen(
            "\"username\":\"alice\",",
            &format!("\"username\":\"alice\",\"language\":\"{language}\","),
            1,
        );
        std::fs::write(dump.path().join("users.json"), users).unwrap();
    }
    app.import(dump.path());
    app.export_and_wait(&fixture_login("alice"), None).await;
    let received = smtp.wait_for(1, Duration::from_secs(30));
    assert_eq!(received.len(), 1, "one mail");
    mail_text(&received[0].data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mail_names_the_workspace_says_what_the_export_holds_and_who_to_tell() {
    let mail = alices_mail(None).await;
    assert!(
        mail.contains("Subject: [Acme Chat] Your personal data export is ready"),
        "{mail}"
    );
    assert!(
        mail.contains("From: \"Acme Chat\" <") || mail.contains("From: Acme Chat <"),
        "{mail}"
    );
    for words in [
        "Your personal data export from Acme Chat is ready.",
        "as web pages you can open in any browser",
        "Did not ask for this? Tell your administrator.",
    ] {
        assert_eq!(
            mail.matches(words).count(),
            2,
            "{words:?} in both parts: {mail}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_whose_rocket_chat_language_is_german_gets_it_in_german() {
    let mail = alices_mail(Some("de-DE")).await;
    // The header is folded, and its non-ASCII word is an RFC 2047 encoded word
    // ("persönlicher" in base64).
    let unfolded = mail.replace("\r\n ", " ").replace("\n ", " ");
    assert!(
        unfolded.contains("Subject: [Acme Chat] Ihr persönlicher Datenexport ist fertig")
            || unfolded.contains(
                "Subject: [Acme Chat] Ihr =?utf-8?b?cGVyc8O2bmxpY2hlcg==?= Datenexport ist fertig"
            ),
        "{mail}"
    );
    for words in [
        "Hallo Alice Example,",
        "Ihr persönlicher Datenexport aus Acme Chat ist fertig.",
        "Sie haben das nicht angefordert? Sagen Sie es Ihrer Administration.",
    ] {
        assert_eq!(
            mail.matches(words).count(),
            2,
            "{words:?} in both parts: {mail}"
        );
    }
}
