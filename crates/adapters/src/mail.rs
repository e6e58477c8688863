//! Mail: an SMTP client, and an outbox folder of `.eml` files for when there is no
//! mail server (the download link then shows in the log).

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{anyhow, Context};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Address, Message, SmtpTransport, Transport};
use secrecy::{ExposeSecret, SecretString};

use crate::RandomIds;
use udd_ports::{MailError, Mailer, OutgoingMail};

/// Long enough for a slow relay, short enough that a dead one does not hold a notice
/// worker for the default 60 s per command.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailTls {
    /// Plain text: only for a relay on the same machine, or tests.
    None,
    /// Plain connection upgraded with STARTTLS, which is required (usually port 587).
    StartTls,
    /// TLS from the first byte (usually port 465).
    Tls,
}

impl MailTls {
    /// The name [`FromStr`] accepts.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::StartTls => "starttls",
            Self::Tls => "tls",
        }
    }
}

impl fmt::Display for MailTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MailTls {
    type Err = anyhow::Error;

    /// Accepts `none`, `starttls` or `tls`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Self::None),
            "starttls" => Ok(Self::StartTls),
            "tls" => Ok(Self::Tls),
            _ => Err(anyhow!(
                "unknown mail TLS mode {s:?}: expected \"none\", \"starttls\" or \"tls\""
            )),
        }
    }
}

/// Where and how to send mail over SMTP. The password prints as `[REDACTED]`.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// The SMTP server's host name (also the name its TLS certificate must carry).
    pub host: String,
    /// The SMTP server's port.
    pub port: u16,
    /// How the connection is protected.
    pub tls: MailTls,
    /// The login, used only together with `password`.
    pub username: Option<String>,
    /// The password, used only together with `username`.
    pub password: Option<SecretString>,
    /// The sender, as `address` or `Name <address>`.
    pub from: String,
}

fn parse_from(from: &str) -> anyhow::Result<Mailbox> {
    from.parse::<Mailbox>()
        .with_context(|| format!("invalid sender address {from:?}"))
}

/// Builds the RFC 5322 message, refusing what cannot be written as headers rather than
/// letting the mail library panic on it (it does on a line break in a display name).
fn build_message(mail: &OutgoingMail, from: &Mailbox) -> Result<Message, MailError> {
    let address: Address = mail.to.parse().map_err(|e| {
        MailError::Rejected(format!("invalid recipient address {:?}: {e}", mail.to))
    })?;
    for (header, value) in [
        ("recipient name", mail.to_name.as_deref()),
        ("sender name", mail.from_name.as_deref()),
        ("subject", Some(&mail.subject)),
    ] {
        if value.is_some_and(|v| v.chars().any(char::is_control)) {
            return Err(MailError::Rejected(format!(
                "the {header} {value:?} holds control characters"
            )));
        }
    }
    let to = Mailbox::new(mail.to_name.clone(), address);
    let from = match &mail.from_name {
        Some(name) => Mailbox::new(Some(name.clone()), from.email.clone()),
        None => from.clone(),
    };
    // The sender's domain rather than lettre's default of this machine's host name,
    // which is often not a public name and would leak the server's.
    let message_id = format!("<{}@{}>", RandomIds::random_string(24), from.email.domain());
    let built = std::panic::catch_unwind(|| {
        Message::builder()
            .from(from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .date_now()
            .message_id(Some(message_id))
            .multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html.clone(),
            ))
    });
    match built {
        Ok(Ok(message)) => Ok(message),
        Ok(Err(e)) => Err(MailError::Rejected(format!(
            "building the mail to {:?}: {e}",
            mail.to
        ))),
        Err(_) => Err(MailError::Rejected(format!(
            "the mail to {:?} could not be written",
            mail.to
        ))),
    }
}

/// Sends mail through an SMTP server, one connection per message.
#[derive(Debug, Clone)]
pub struct SmtpMailer {
    transport: SmtpTransport,
    from: Mailbox,
    server: String,
}

impl SmtpMailer {
    /// A mailer for `settings`; connects only when sending.
    ///
    /// Errors: an invalid sender address, or a host name TLS cannot check against.
    pub fn new(settings: MailSettings) -> anyhow::Result<Self> {
        let from = parse_from(&settings.from)?;
        let server = format!("{}:{}", settings.host, settings.port);
        let builder = match settings.tls {
            MailTls::None => SmtpTransport::builder_dangerous(settings.host.as_str()),
            MailTls::StartTls => SmtpTransport::starttls_relay(&settings.host)
                .with_context(|| format!("setting up STARTTLS for {server}"))?,
            MailTls::Tls => SmtpTransport::relay(&settings.host)
                .with_context(|| format!("setting up TLS for {server}"))?,
        };
        let mut builder = builder.port(settings.port).timeout(Some(SMTP_TIMEOUT));
        match (settings.username, settings.password) {
            (Some(username), Some(password)) => {
                builder = builder.credentials(Credentials::new(
                    username,
                    password.expose_secret().to_owned(),
                ));
            }
            (None, None) => {}
            _ => tracing::warn!(
                server = %server,
                "mail username or password set without the other; sending without login"
            ),
        }
        Ok(Self {
            transport: builder.build(),
            from,
            server,
        })
    }
}

impl Mailer for SmtpMailer {
    fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let message = build_message(mail, &self.from)?;
        let context = || format!("sending mail to {:?} through {}", mail.to, self.server);
        match self.transport.send(&message) {
            Ok(_) => {}
            // 5xx: the server will not take this mail, however often it is offered.
            Err(e) if e.is_permanent() => {
                return Err(MailError::Rejected(format!("{}: {e}", context())))
            }
            Err(e) => return Err(anyhow::Error::new(e).context(context()).into()),
        }
        tracing::info!(to = %mail.to, subject = %mail.subject, server = %self.server, "mail sent");
        Ok(())
    }
}

/// Writes each message as an RFC 5322 `.eml` file into a folder instead of sending it,
/// and logs it, link included: the whole flow works without a mail server.
#[derive(Debug, Clone)]
pub struct OutboxMailer {
    folder: PathBuf,
    from: Mailbox,
}

impl OutboxMailer {
    /// An outbox in `folder` (created on first write), with `from` as the sender, the
    /// same as SMTP would use.
    ///
    /// Errors: an invalid sender address.
    pub fn new(folder: impl AsRef<Path>, from: String) -> anyhow::Result<Self> {
        Ok(Self {
            folder: folder.as_ref().to_path_buf(),
            from: parse_from(&from)?,
        })
    }
}

impl Mailer for OutboxMailer {
    fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let message = build_message(mail, &self.from)?;
        crate::owner_only::create_dir_all(&self.folder)
            .with_context(|| format!("creating the outbox {}", self.folder.display()))
            .map_err(MailError::Unavailable)?;
        let name = format!(
            "{}-{}.eml",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
            RandomIds::random_string(8)
        );
        let path = self.folder.join(&name);
        // A hidden name in the same folder, renamed when complete: whoever watches the
        // outbox never sees half a message, and the rename cannot cross filesystems.
        let temporary = self.folder.join(format!(".{name}.tmp"));
        let written = crate::owner_only::create(&temporary)
            .and_then(|mut file| {
                file.write_all(&message.formatted())?;
                file.sync_all()
            })
            .and_then(|()| fs::rename(&temporary, &path));
        if let Err(error) = written {
            let _ = fs::remove_file(&temporary);
            return Err(anyhow::Error::new(error)
                .context(format!("writing {}", path.display()))
                .into());
        }
        match &mail.link {
            Some(link) => tracing::info!(
                to = %mail.to, subject = %mail.subject, path = %path.display(), link = %link,
                "mail written to the outbox"
            ),
            None => tracing::info!(
                to = %mail.to, subject = %mail.subject, path = %path.display(),
                "mail written to the outbox"
            ),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp_test_server::LoopbackSmtpServer;

    const FROM: &str = "Exports <noreply@example.org>";
    const LINK: &str = "https://chat.example.org/data-export/abc123?token=xyz";

    fn mail(to: &str) -> OutgoingMail {
        OutgoingMail {
            from_name: None,
            to: to.to_owned(),
            to_name: Some("Alice Example".to_owned()),
            subject: "Your data export is ready".to_owned(),
            text: format!("Download it here: {LINK}\r\n"),
            html: format!("<p><a href=\"{LINK}\">Download</a></p>"),
            link: Some(LINK.to_owned()),
        }
    }

    fn smtp_to(server: &LoopbackSmtpServer) -> SmtpMailer {
        SmtpMailer::new(MailSettings {
            host: "127.0.0.1".to_owned(),
            port: server.port(),
            tls: MailTls::None,
            username: None,
            password: None,
            from: FROM.to_owned(),
        })
        .unwrap()
    }

    fn eml_files(folder: &Path) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = fs::read_dir(folder)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        files.sort();
        files
    }

    #[test]
    fn the_outbox_writes_one_eml_file_per_message() {
        let temp = tempfile::tempdir().unwrap();
        let folder = temp.path().join("outbox").join("not-yet-there");
        let outbox = OutboxMailer::new(&folder, FROM.to_owned()).unwrap();

        outbox.send(&mail("alice@example.com")).unwrap();
        outbox.send(&mail("bob@example.com")).unwrap();

        let files = eml_files(&folder);
        assert_eq!(files.len(), 2, "{files:?}");
        for file in &files {
            let name = file.file_name().unwrap().to_str().unwrap();
            assert!(!name.starts_with('.') && name.ends_with(".eml"), "{name}");
            // YYYYmmddTHHMMSS.mmmZ-
            assert_eq!(name.as_bytes()[8], b'T', "{name}");
            assert_eq!(&name[15..16], ".", "{name}");
            assert_eq!(&name[19..21], "Z-", "{name}");
        }
        let first = fs::read_to_string(&files[0]).unwrap();
        let second = fs::read_to_string(&files[1]).unwrap();
        let (alice, bob) = if first.contains("alice@") {
            (first, second)
        } else {
            (second, first)
        };
        assert!(bob.contains("bob@example.com"), "{bob}");
        for header in [
            "To: \"Alice Example\" <alice@example.com>",
            "From: Exports <noreply@example.org>",
            "Subject: Your data export is ready",
            "Date: ",
            "Message-ID: <",
            "@example.org>",
            "multipart/alternative",
            "Content-Type: text/plain",
            "Content-Type: text/html",
            "Download it here: ",
            LINK,
        ] {
            assert!(alice.contains(header), "missing {header:?} in\n{alice}");
        }
    }

    #[test]
    fn the_smtp_mailer_delivers_to_the_recipient_over_plain_smtp() {
        let server = LoopbackSmtpServer::start().unwrap();
        let mailer = smtp_to(&server);

        mailer.send(&mail("alice@example.com")).unwrap();

        let received = server.wait_for(1, Duration::from_secs(5));
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].from, "noreply@example.org");
        assert_eq!(received[0].recipients, vec!["alice@example.com".to_owned()]);
        assert!(received[0]
            .data
            .contains("Subject: Your data export is ready"));
        assert!(received[0].data.contains(LINK), "{}", received[0].data);
    }

    #[test]
    fn the_senders_name_can_be_the_workspaces_while_the_address_stays() {
        let server = LoopbackSmtpServer::start().unwrap();
        let mailer = smtp_to(&server);
        let mut named = mail("alice@example.com");
        named.from_name = Some("Acme Chat".into());
        mailer.send(&named).unwrap();
        let received = server.wait_for(1, Duration::from_secs(5));
        assert_eq!(received[0].from, "noreply@example.org");
        assert!(
            received[0]
                .data
                .contains("From: \"Acme Chat\" <noreply@example.org>")
                || received[0]
                    .data
                    .contains("From: Acme Chat <noreply@example.org>"),
            "{}",
            received[0].data
        );
        named.from_name = Some("Acme\r\nBcc: x@evil.org".into());
        assert!(matches!(mailer.send(&named), Err(MailError::Rejected(_))));
    }

    #[test]
    fn a_transient_rejection_fails_one_send_and_the_next_succeeds() {
        let server = LoopbackSmtpServer::start().unwrap();
        let mailer = smtp_to(&server);
        server.reject_next(1);

        let error = mailer.send(&mail("alice@example.com")).unwrap_err();
        assert!(
            format!("{error:#}").contains(&format!("127.0.0.1:{}", server.port())),
            "{error:#}"
        );
        assert!(server.messages().is_empty());

        mailer.send(&mail("alice@example.com")).unwrap();
        assert_eq!(server.wait_for(1, Duration::from_secs(5)).len(), 1);
    }

    #[test]
    fn a_bad_recipient_address_is_an_error_not_a_panic() {
        let server = LoopbackSmtpServer::start().unwrap();
        let temp = tempfile::tempdir().unwrap();
        let outbox = OutboxMailer::new(temp.path(), FROM.to_owned()).unwrap();
        let smtp = smtp_to(&server);

        for mailer in [&outbox as &dyn Mailer, &smtp] {
            let error = mailer.send(&mail("not an address")).unwrap_err();
            assert!(matches!(error, MailError::Rejected(_)), "{error:?}");
            assert!(format!("{error:#}").contains("not an address"), "{error:#}");
        }
        assert!(eml_files(temp.path()).is_empty());
        assert!(server.messages().is_empty());
    }

    #[test]
    fn a_line_break_in_a_header_is_refused_not_a_panic() {
        let server = LoopbackSmtpServer::start().unwrap();
        let temp = tempfile::tempdir().unwrap();
        let outbox = OutboxMailer::new(temp.path(), FROM.to_owned()).unwrap();
        let smtp = smtp_to(&server);
        let mut broken_name = mail("alice@example.com");
        broken_name.to_name = Some("Alice\r\nBcc: mallory@example.com".to_owned());
        let mut broken_subject = mail("alice@example.com");
        broken_subject.subject = "Ready\nX-Evil: 1".to_owned();

        for mailer in [&outbox as &dyn Mailer, &smtp] {
            for bad in [&broken_name, &broken_subject] {
                let error = mailer.send(bad).unwrap_err();
                assert!(matches!(error, MailError::Rejected(_)), "{error:?}");
            }
        }
        assert!(eml_files(temp.path()).is_empty());
        assert!(server.messages().is_empty());
    }

    #[test]
    fn a_permanent_smtp_refusal_is_a_rejection_and_a_temporary_one_is_not() {
        let server = LoopbackSmtpServer::start().unwrap();
        let mailer = smtp_to(&server);
        server.reject_next(1);
        let temporary = mailer.send(&mail("alice@example.com")).unwrap_err();
        assert!(
            matches!(temporary, MailError::Unavailable(_)),
            "{temporary:?}"
        );
        let refused = mailer.send(&mail("nobody@mailbox.invalid")).unwrap_err();
        assert!(matches!(refused, MailError::Rejected(_)), "{refused:?}");
    }

    #[test]
    fn a_bad_sender_address_is_refused_when_the_mailer_is_made() {
        let settings = MailSettings {
            host: "127.0.0.1".to_owned(),
            port: 25,
            tls: MailTls::None,
            username: None,
            password: None,
            from: "nobody at all".to_owned(),
        };
        let error = SmtpMailer::new(settings).unwrap_err();
        assert!(format!("{error:#}").contains("nobody at all"), "{error:#}");
        assert!(OutboxMailer::new("unused", "@".to_owned()).is_err());
    }

    #[test]
    fn the_tls_mode_parses_its_three_names_and_refuses_others() {
        assert_eq!("none".parse::<MailTls>().unwrap(), MailTls::None);
        assert_eq!("STARTTLS".parse::<MailTls>().unwrap(), MailTls::StartTls);
        assert_eq!(" tls ".parse::<MailTls>().unwrap(), MailTls::Tls);
        for mode in [MailTls::None, MailTls::StartTls, MailTls::Tls] {
            assert_eq!(mode.to_string().parse::<MailTls>().unwrap(), mode);
        }
        let error = MailTls::from_str("bogus").unwrap_err().to_string();
        assert!(
            error.contains("bogus") && error.contains("starttls"),
            "{error}"
        );
    }

    #[test]
    fn the_settings_never_show_the_password() {
        let settings = MailSettings {
            host: "smtp.example.org".to_owned(),
            port: 587,
            tls: MailTls::StartTls,
            username: Some("exports".to_owned()),
            password: Some(SecretString::from("hunter2")),
            from: FROM.to_owned(),
        };
        assert!(!format!("{settings:?}").contains("hunter2"));
        SmtpMailer::new(settings).unwrap();
    }
}
