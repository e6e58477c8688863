//! A tiny SMTP server on 127.0.0.1 for tests: just enough of the protocol for lettre's
//! client, no TLS and no login. Built only for tests and with the `smtp-test-server`
//! feature.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// A client that stops talking is dropped after this, so no test waits on it forever.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the accept loop checks whether the server was dropped.
const ACCEPT_POLL: Duration = Duration::from_millis(5);

/// One message the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`), without angle brackets.
    pub from: String,
    /// The envelope recipients (`RCPT TO`), without angle brackets.
    pub recipients: Vec<String>,
    /// The DATA section, dot-unstuffed, without the final `.` line.
    pub data: String,
}

#[derive(Default)]
struct Shared {
    messages: Mutex<Vec<ReceivedMail>>,
    reject_mail_from: AtomicUsize,
    stop: AtomicBool,
}

impl Shared {
    // A test thread that panicked while holding the lock must not hide the messages
    // from the assertions that follow.
    fn messages(&self) -> MutexGuard<'_, Vec<ReceivedMail>> {
        self.messages
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn take_rejection(&self) -> bool {
        self.reject_mail_from
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// An SMTP server on a free loopback port, serving on background threads until dropped.
pub struct LoopbackSmtpServer {
    port: u16,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for LoopbackSmtpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopbackSmtpServer")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl LoopbackSmtpServer {
    /// Binds 127.0.0.1 on a free port and starts serving.
    ///
    /// Errors: binding or configuring the listener failed.
    pub fn start() -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = listener.local_addr()?.port();
        // Non-blocking so the loop sees the stop flag without a wake-up connection.
        listener.set_nonblocking(true)?;
        let shared = Arc::new(Shared::default());
        let accept = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("smtp-test-{port}"))
                .spawn(move || accept_loop(&listener, &shared))?
        };
        Ok(Self {
            port,
            shared,
            accept: Some(accept),
        })
    }

    /// The port the server listens on, at 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The messages accepted so far, in order of arrival.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.shared.messages().clone()
    }

    /// The messages once `count` have arrived, or whatever arrived within `timeout`.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= count || Instant::now() >= deadline {
                return messages;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Makes the next `n` `MAIL FROM` commands fail with `451` (a transient failure the
    /// sender should retry), replacing any rejections still pending. Recipients in the
    /// reserved `.invalid` domain are always refused with `550` (a permanent failure).
    pub fn reject_next(&self, n: usize) {
        self.shared.reject_mail_from.store(n, Ordering::SeqCst);
    }
}

impl Drop for LoopbackSmtpServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let shared = Arc::clone(shared);
                // Connection threads are left to end on QUIT, EOF or the read timeout.
                let _ = thread::Builder::new()
                    .name("smtp-test-conn".into())
                    .spawn(move || {
                        let _ = serve(stream, &shared);
                    });
            }
            Err(_) => thread::sleep(ACCEPT_POLL),
        }
    }
}

/// The sender and recipients of the transaction in progress.
#[derive(Default)]
struct Transaction {
    from: Option<String>,
    recipients: Vec<String>,
}

fn serve(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    // Some platforms hand out accepted sockets with the listener's non-blocking mode.
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    stream.set_write_timeout(Some(READ_TIMEOUT))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut reply = |text: &str| writer.write_all(format!("{text}\r\n").as_bytes());

    reply("220 localhost ESMTP udd loopback test server")?;
    let mut transaction = Transaction::default();
    while let Some(line) = read_line(&mut reader)? {
        let line = line.trim_end_matches(['\r', '\n']);
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => reply("250-localhost\r\n250-8BITMIME\r\n250 SMTPUTF8")?,
            "HELO" => reply("250 localhost")?,
            "MAIL" if shared.take_rejection() => reply("451 4.3.0 try again later")?,
            "MAIL" => {
                transaction = Transaction {
                    from: Some(angle_address(line)),
                    recipients: Vec::new(),
                };
                reply("250 2.1.0 OK")?;
            }
            "RCPT" if transaction.from.is_none() => reply("503 5.5.1 MAIL first")?,
            // The reserved `.invalid` top-level domain stands for a mailbox that does
            // not exist: refused for good, as a real server would.
            "RCPT" if angle_address(line).ends_with(".invalid") => reply("550 5.1.1 no such user")?,
            "RCPT" => {
                transaction.recipients.push(angle_address(line));
                reply("250 2.1.5 OK")?;
            }
            "DATA" if transaction.recipients.is_empty() => reply("503 5.5.1 RCPT first")?,
            "DATA" => {
                reply("354 end data with <CR><LF>.<CR><LF>")?;
                let Some(data) = read_data(&mut reader)? else {
                    break;
                };
                let done = std::mem::take(&mut transaction);
                shared.messages().push(ReceivedMail {
                    from: done.from.unwrap_or_default(),
                    recipients: done.recipients,
                    data,
                });
                reply("250 2.0.0 OK queued")?;
            }
            "RSET" => {
                transaction = Transaction::default();
                reply("250 2.0.0 OK")?;
            }
            "NOOP" => reply("250 2.0.0 OK")?,
            "QUIT" => {
                reply("221 2.0.0 bye")?;
                break;
            }
            _ => reply("502 5.5.2 command not implemented")?,
        }
    }
    Ok(())
}

/// One line with its line ending, or `None` at the end of the stream.
fn read_line(reader: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut bytes = Vec::new();
    if reader.read_until(b'\n', &mut bytes)? == 0 {
        return Ok(None);
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// The DATA section up to the lone `.` line, dot-unstuffed; `None` if the client left.
fn read_data(reader: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut data = String::new();
    while let Some(line) = read_line(reader)? {
        if line == ".\r\n" || line == ".\n" {
            return Ok(Some(data));
        }
        data.push_str(line.strip_prefix('.').unwrap_or(&line));
    }
    Ok(None)
}

/// The address between `<` and `>` in `MAIL FROM:<a@b> BODY=8BITMIME`, or what follows
/// the colon when there are no brackets.
fn angle_address(line: &str) -> String {
    let after_colon = line.split_once(':').map_or("", |(_, rest)| rest).trim();
    match (after_colon.find('<'), after_colon.find('>')) {
        (Some(open), Some(close)) if open < close => after_colon[open + 1..close].to_owned(),
        _ => after_colon
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_section_is_dot_unstuffed_and_ends_at_the_lone_dot() {
        let mut input = &b"Subject: x\r\n..leading dot\r\n.\r\nQUIT\r\n"[..];
        let data = read_data(&mut input).unwrap();
        assert_eq!(data.as_deref(), Some("Subject: x\r\n.leading dot\r\n"));
    }

    #[test]
    fn envelope_addresses_are_taken_from_between_the_brackets() {
        assert_eq!(
            angle_address("MAIL FROM:<a@b.org> BODY=8BITMIME"),
            "a@b.org"
        );
        assert_eq!(angle_address("RCPT TO: c@d.org"), "c@d.org");
        assert_eq!(angle_address("MAIL FROM:<>"), "");
    }
}
