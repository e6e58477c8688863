//! Mailing owners when their export completes or fails, with retries.
//!
//! A finished operation owes its owner one mail (recorded with the completion, so it
//! survives a crash). Delivery claims the notices that are due, sends them, and records
//! the outcome: sent, no address (logged, not an error), retry later with a doubling
//! back-off, or given up after `max_attempts`. A mail failure never touches the export.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use udd_domain::render::{
    failed_mail, header_text, ready_mail, FailedMail, MailContent, ReadyMail,
};
use udd_domain::time::retry_delay;
use udd_ports::{
    Clock, DownloadLinks, MailError, Mailer, NoticeKind, NoticeOutcome, Notices, OutgoingMail,
    PendingNotice, StoreError, UserDataFile, Users,
};

/// How delivery paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifyConfig {
    /// Attempts before a notice is given up.
    pub max_attempts: u32,
    /// Wait after the first failure; doubled after each further one.
    pub first_retry: Duration,
    /// The longest wait between attempts.
    pub max_retry: Duration,
    /// How long a claimed notice is hidden from other workers while it is being sent.
    pub hold: Duration,
    /// Notices claimed at a time.
    pub batch: u32,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            first_retry: Duration::from_secs(60),
            max_retry: Duration::from_secs(3600),
            // Longer than a whole batch can take even when every send runs into the
            // SMTP timeout (20 × 20 s), so a notice is never claimed twice at once.
            hold: Duration::from_secs(900),
            batch: 20,
        }
    }
}

/// How one round of delivery went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Handed over.
    pub sent: u32,
    /// Owners without an address.
    pub no_address: u32,
    /// Failed, to be retried.
    pub retrying: u32,
    /// Failed for the last time.
    pub gave_up: u32,
}

/// Sends the mails owed to export owners.
#[derive(Clone)]
pub struct NotifyOwners {
    notices: Arc<dyn Notices>,
    users: Arc<dyn Users>,
    mailer: Arc<dyn Mailer>,
    links: Arc<dyn DownloadLinks>,
    clock: Arc<dyn Clock>,
    site_url: String,
    site_name: String,
    config: NotifyConfig,
}

fn duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::hours(1))
}

/// The workspace's name when none is configured.
pub const DEFAULT_SITE_NAME: &str = "Rocket.Chat";

/// The path of a file's download, as `users.requestDataDownload` reports it.
pub fn download_path(file_id: &str) -> String {
    format!("/data-export/{file_id}")
}

impl NotifyOwners {
    /// Builds the use case; links in mails start with `site_url`.
    pub fn new(
        notices: Arc<dyn Notices>,
        users: Arc<dyn Users>,
        mailer: Arc<dyn Mailer>,
        links: Arc<dyn DownloadLinks>,
        clock: Arc<dyn Clock>,
        site_url: &str,
        config: NotifyConfig,
    ) -> Self {
        Self {
            notices,
            users,
            mailer,
            links,
            clock,
            site_url: site_url.trim_end_matches('/').to_owned(),
            site_name: DEFAULT_SITE_NAME.to_owned(),
            config,
        }
    }

    /// Names the workspace `site_name` in subjects, texts and the sender's name
    /// (`server.site_name`; [`DEFAULT_SITE_NAME`] otherwise).
    pub fn with_site_name(mut self, site_name: &str) -> Self {
        let name = header_text(site_name);
        if !name.is_empty() {
            self.site_name = name;
        }
        self
    }

    /// The signed link to `file`, valid until the file expires.
    fn download_link(&self, file: &UserDataFile) -> String {
        let expires = link_expiry(file);
        let token = self.links.sign(&file.id, &file.user_id, expires);
        format!("{}{}?token={token}", self.site_url, download_path(&file.id))
    }

    /// Sends every notice that is due, batch after batch.
    ///
    /// Errors: the notice store failing; a failing mailer is recorded, not returned.
    pub fn deliver_due(&self) -> Result<DeliveryReport, StoreError> {
        let mut report = DeliveryReport::default();
        loop {
            let now = self.clock.now();
            let due =
                self.notices
                    .claim_due(now, now + duration(self.config.hold), self.config.batch)?;
            let claimed = due.len();
            for notice in due {
                // One owner's bad record must not stop the mail of all the others.
                let outcome = crate::guard::catch_panic(|| self.deliver(&notice))
                    .unwrap_or_else(|panic| {
                        tracing::error!(operation = %notice.operation_id, error = %panic, "mail given up");
                        NoticeOutcome::GaveUp(panic)
                    });
                match &outcome {
                    NoticeOutcome::Sent => report.sent += 1,
                    NoticeOutcome::NoAddress => report.no_address += 1,
                    NoticeOutcome::RetryAt(..) => report.retrying += 1,
                    NoticeOutcome::GaveUp(_) => report.gave_up += 1,
                }
                self.notices
                    .record(&notice.operation_id, &outcome, self.clock.now())?;
            }
            if claimed < self.config.batch as usize {
                return Ok(report);
            }
        }
    }

    fn deliver(&self, notice: &PendingNotice) -> NoticeOutcome {
        let id = &notice.operation_id;
        let user = match self.users.get(&notice.user_id) {
            Ok(user) => user,
            Err(StoreError::NotFound) => {
                tracing::info!(operation = %id, user = %notice.user_id, "the owner no longer exists; no mail sent");
                return NoticeOutcome::NoAddress;
            }
            Err(e) => return self.failed(notice, &anyhow::Error::new(e)),
        };
        let Some(address) = user.primary_email() else {
            tracing::info!(operation = %id, user = %user.username, "the owner has no email address; no mail sent");
            return NoticeOutcome::NoAddress;
        };
        // A name is one line wherever the mail shows it.
        let greeting = header_text(user.display_name());
        let (content, link) = match &notice.kind {
            NoticeKind::Completed(file) if !file.is_available(self.clock.now()) => {
                // Retries ran past the file's life: a dead link helps nobody.
                tracing::warn!(operation = %id, file = %file.id, "the file expired before its mail went out; not sent");
                return NoticeOutcome::GaveUp("the file expired before the mail was sent".into());
            }
            NoticeKind::Completed(file) => {
                let link = self.download_link(file);
                let content = ready_mail(&ReadyMail {
                    name: &greeting,
                    full_export: notice.full_export,
                    link: &link,
                    file_name: &file.name,
                    size: file.size,
                    expires_at: link_expiry(file),
                    site_name: &self.site_name,
                    language: user.language.as_deref(),
                });
                (content, Some(link))
            }
            NoticeKind::Failed { .. } => (
                failed_mail(&FailedMail {
                    name: &greeting,
                    full_export: notice.full_export,
                    site_name: &self.site_name,
                    language: user.language.as_deref(),
                }),
                None,
            ),
        };
        let MailContent {
            subject,
            text,
            html,
        } = content;
        let mail = OutgoingMail {
            to: address.to_owned(),
            from_name: Some(self.site_name.clone()),
            // Names are the users' own text: no line break may reach a header.
            to_name: user
                .name
                .as_deref()
                .map(header_text)
                .filter(|name| !name.is_empty()),
            subject,
            text,
            html,
            link,
        };
        match self.mailer.send(&mail) {
            Ok(()) => {
                tracing::info!(operation = %id, to = %mail.to, subject = %mail.subject, "mail sent");
                NoticeOutcome::Sent
            }
            Err(MailError::Rejected(reason)) => {
                tracing::error!(operation = %id, to = %mail.to, error = %reason, "mail refused; given up");
                NoticeOutcome::GaveUp(reason)
            }
            Err(MailError::Unavailable(e)) => self.failed(notice, &e),
        }
    }

    fn failed(&self, notice: &PendingNotice, err: &anyhow::Error) -> NoticeOutcome {
        let reason = format!("{err:#}");
        if notice.attempts >= self.config.max_attempts {
            tracing::error!(operation = %notice.operation_id, attempts = notice.attempts, error = %reason, "mail given up");
            return NoticeOutcome::GaveUp(reason);
        }
        let wait = retry_delay(
            self.config.first_retry,
            self.config.max_retry,
            notice.attempts,
        );
        tracing::warn!(operation = %notice.operation_id, attempt = notice.attempts, retry_in = ?wait, error = %reason, "mail failed; will retry");
        NoticeOutcome::RetryAt(self.clock.now() + duration(wait), reason)
    }
}

/// A link works as long as its file; a file without an expiry gets a week.
fn link_expiry(file: &UserDataFile) -> DateTime<Utc> {
    file.expires_at
        .unwrap_or(file.created_at + chrono::Duration::days(7))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration as Days;
    use std::sync::Mutex;
    use udd_domain::{Email, User};
    use udd_ports::{MockClock, MockDownloadLinks, MockMailer, MockNotices, MockUsers};

    fn now() -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Days::days(20_000)
    }

    fn user(emails: &[&str]) -> User {
        User {
            name: Some("Alice Liddell".into()),
            emails: emails
                .iter()
                .map(|a| Email {
                    address: (*a).into(),
                    verified: true,
                })
                .collect(),
            roles: vec!["user".into()],
            services: vec!["password".into()],
            ..User::new("u1", "alice", now())
        }
    }

    fn file() -> UserDataFile {
        UserDataFile {
            id: "F1".into(),
            user_id: "u1".into(),
            name: "2026-11-27-Alice Liddell.zip".into(),
            size: 4096,
            sha256: "00".into(),
            key: "exports/OP.zip".into(),
            created_at: now(),
            expires_at: Some(now() + Days::days(7)),
            removed_at: None,
        }
    }

    fn notice(kind: NoticeKind, attempts: u32) -> PendingNotice {
        PendingNotice {
            operation_id: "OP".into(),
            user_id: "u1".into(),
            full_export: false,
            kind,
            attempts,
        }
    }

    /// A mailer that accepts exactly one mail, and what it was handed.
    fn capturing_mailer() -> (MockMailer, Arc<Mutex<Vec<OutgoingMail>>>) {
        let sent = Arc::new(Mutex::new(Vec::<OutgoingMail>::new()));
        let sink = Arc::clone(&sent);
        let mut mailer = MockMailer::new();
        mailer.expect_send().times(1).returning(move |mail| {
            sink.lock().expect("lock").push(mail.clone());
            Ok(())
        });
        (mailer, sent)
    }

    /// The use case over one claimed notice, recording outcomes and sent mail.
    fn run(
        due: PendingNotice,
        owner: User,
        mailer: MockMailer,
    ) -> (DeliveryReport, Vec<NoticeOutcome>) {
        let mut notices = MockNotices::new();
        let mut once = Some(due);
        notices
            .expect_claim_due()
            .returning(move |_, _, _| Ok(once.take().into_iter().collect()));
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&recorded);
        notices.expect_record().returning(move |_, outcome, _| {
            sink.lock().expect("lock").push(outcome.clone());
            Ok(())
        });
        let mut users = MockUsers::new();
        users.expect_get().returning(move |_| Ok(owner.clone()));
        let mut links = MockDownloadLinks::new();
        links
            .expect_sign()
            .returning(|id, owner, at| format!("{}.{id}.{owner}", at.timestamp()));
        let mut clock = MockClock::new();
        clock.expect_now().return_const(now());
        let use_case = NotifyOwners::new(
            Arc::new(notices),
            Arc::new(users),
            Arc::new(mailer),
            Arc::new(links),
            Arc::new(clock),
            "https://chat.example/",
            NotifyConfig::default(),
        )
        .with_site_name("Acme\nChat");
        let report = use_case.deliver_due().expect("deliver");
        let outcomes = recorded.lock().expect("lock").clone();
        (report, outcomes)
    }

    #[test]
    fn a_completed_export_mails_the_first_address_a_signed_link() {
        let (mailer, sent) = capturing_mailer();
        let (report, outcomes) = run(
            notice(NoticeKind::Completed(file()), 1),
            user(&["alice@example.org", "other@example.org"]),
            mailer,
        );
        assert_eq!(report.sent, 1);
        assert_eq!(outcomes, [NoticeOutcome::Sent]);
        let mail = sent.lock().expect("lock")[0].clone();
        assert_eq!(mail.to, "alice@example.org");
        assert_eq!(mail.to_name.as_deref(), Some("Alice Liddell"));
        let expires = (now() + Days::days(7)).timestamp();
        let link = format!("https://chat.example/data-export/F1?token={expires}.F1.u1");
        assert_eq!(mail.link.as_deref(), Some(link.as_str()));
        assert!(mail.text.contains(&link));
        assert!(mail.text.contains("4.0 KB"));
    }

    #[test]
    fn the_workspace_name_is_the_sender_and_in_the_subject() {
        let (mailer, sent) = capturing_mailer();
        run(
            notice(NoticeKind::Completed(file()), 1),
            user(&["alice@example.org"]),
            mailer,
        );
        let mail = sent.lock().expect("lock")[0].clone();
        assert_eq!(
            mail.from_name.as_deref(),
            Some("Acme Chat"),
            "one header line"
        );
        assert_eq!(
            mail.subject,
            "[Acme Chat] Your personal data export is ready"
        );
        assert!(mail
            .text
            .contains("Did not ask for this? Tell your administrator."));
    }

    #[test]
    fn an_owner_who_reads_german_gets_the_mail_in_german() {
        let (mailer, sent) = capturing_mailer();
        let mut owner = user(&["alice@example.org"]);
        owner.language = Some("de-AT".into());
        run(notice(NoticeKind::Completed(file()), 1), owner, mailer);
        let mail = sent.lock().expect("lock")[0].clone();
        assert_eq!(
            mail.subject,
            "[Acme Chat] Ihr persönlicher Datenexport ist fertig"
        );
        assert!(
            mail.text.starts_with("Hallo Alice Liddell,"),
            "{}",
            mail.text
        );
        assert!(mail.html.contains("Hallo Alice Liddell,"), "{}", mail.html);

        let mut mailer = MockMailer::new();
        mailer
            .expect_send()
            .withf(|mail| {
                mail.subject == "[Acme Chat] Ihr persönlicher Datenexport ist fehlgeschlagen"
            })
            .times(1)
            .returning(|_| Ok(()));
        let mut owner = user(&["alice@example.org"]);
        owner.language = Some("de".into());
        let kind = NoticeKind::Failed {
            reason: "disk full".into(),
        };
        let (report, _) = run(notice(kind, 1), owner, mailer);
        assert_eq!(report.sent, 1);
    }

    #[test]
    fn a_mail_whose_file_has_expired_is_given_up_not_sent() {
        let mut mailer = MockMailer::new();
        mailer.expect_send().never();
        let mut expired = file();
        expired.expires_at = Some(now() - Days::minutes(1));
        let (report, outcomes) = run(
            notice(NoticeKind::Completed(expired), 5),
            user(&["alice@example.org"]),
            mailer,
        );
        assert_eq!(report.gave_up, 1);
        assert!(matches!(&outcomes[0], NoticeOutcome::GaveUp(why) if why.contains("expired")));
    }

    #[test]
    fn a_failed_export_mails_the_owner_without_a_link() {
        let mut mailer = MockMailer::new();
        mailer
            .expect_send()
            .withf(|mail| mail.subject.contains("failed") && mail.link.is_none())
            .times(1)
            .returning(|_| Ok(()));
        let kind = NoticeKind::Failed {
            reason: "disk full".into(),
        };
        let (_, outcomes) = run(notice(kind, 1), user(&["alice@example.org"]), mailer);
        assert_eq!(outcomes, [NoticeOutcome::Sent]);
    }

    #[test]
    fn an_owner_without_an_address_is_recorded_not_mailed() {
        let mut mailer = MockMailer::new();
        mailer.expect_send().never();
        let (report, outcomes) = run(notice(NoticeKind::Completed(file()), 1), user(&[]), mailer);
        assert_eq!(report.no_address, 1);
        assert_eq!(outcomes, [NoticeOutcome::NoAddress]);
    }

    #[test]
    fn a_failing_mailer_backs_off_doubling_then_gives_up() {
        let failing = || {
            let mut mailer = MockMailer::new();
            mailer
                .expect_send()
                .returning(|_| Err(anyhow::anyhow!("451 try again later").into()));
            mailer
        };
        let completed = || NoticeKind::Completed(file());
        let (_, first) = run(notice(completed(), 1), user(&["a@example.org"]), failing());
        assert!(
            matches!(&first[0], NoticeOutcome::RetryAt(at, why) if *at == now() + Days::minutes(1) && why.contains("451"))
        );
        let (_, third) = run(notice(completed(), 3), user(&["a@example.org"]), failing());
        assert!(
            matches!(&third[0], NoticeOutcome::RetryAt(at, _) if *at == now() + Days::minutes(4))
        );
        let (_, late) = run(notice(completed(), 7), user(&["a@example.org"]), failing());
        assert!(matches!(&late[0], NoticeOutcome::RetryAt(at, _) if *at == now() + Days::hours(1)));
        let (report, last) = run(notice(completed(), 8), user(&["a@example.org"]), failing());
        assert_eq!(report.gave_up, 1);
        assert!(matches!(&last[0], NoticeOutcome::GaveUp(why) if why.contains("451")));
    }

    #[test]
    fn a_refused_mail_is_given_up_at_once() {
        let mut mailer = MockMailer::new();
        mailer
            .expect_send()
            .times(1)
            .returning(|_| Err(MailError::Rejected("550 no such user".into())));
        let (report, outcomes) = run(
            notice(NoticeKind::Completed(file()), 1),
            user(&["gone@example.org"]),
            mailer,
        );
        assert_eq!(report.gave_up, 1);
        assert!(matches!(&outcomes[0], NoticeOutcome::GaveUp(why) if why.contains("550")));
    }

    #[test]
    fn a_name_with_line_breaks_reaches_the_mailer_as_one_clean_line() {
        let (mailer, sent) = capturing_mailer();
        let mut owner = user(&["alice@example.org"]);
        owner.name = Some("Alice\r\nBcc: mallory@example.org".into());
        let (_, outcomes) = run(notice(NoticeKind::Completed(file()), 1), owner, mailer);
        assert_eq!(outcomes, [NoticeOutcome::Sent]);
        let mail = sent.lock().expect("lock")[0].clone();
        assert_eq!(
            mail.to_name.as_deref(),
            Some("Alice Bcc: mallory@example.org")
        );
        assert!(!mail.subject.contains(['\r', '\n']));
    }

    #[test]
    fn a_panicking_mailer_gives_that_notice_up_and_delivery_goes_on() {
        let mut mailer = MockMailer::new();
        mailer
            .expect_send()
            .times(1)
            .returning(|_| panic!("a Display implementation returned an error unexpectedly"));
        let (report, outcomes) = run(
            notice(NoticeKind::Completed(file()), 1),
            user(&["alice@example.org"]),
            mailer,
        );
        assert_eq!(report.gave_up, 1);
        assert!(
            matches!(&outcomes[0], NoticeOutcome::GaveUp(why) if why.contains("Display implementation")),
            "{outcomes:?}"
        );
    }
}
