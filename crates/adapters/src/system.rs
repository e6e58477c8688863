//! The system clock, random ids and random one-time codes.

use chrono::{DateTime, Utc};
use rand::Rng;
use udd_ports::{Clock, IdGenerator, OneTimeCodes};

/// The real time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Rocket.Chat's `Random.id()` alphabet: no look-alike characters (0/O, 1/l/I).
const ID_ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz";

/// Random 17-character ids as Rocket.Chat makes them (about 99 bits of entropy).
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomIds;

impl RandomIds {
    /// A random string of `len` characters from the id alphabet.
    pub fn random_string(len: usize) -> String {
        let mut rng = rand::rng();
        (0..len)
            .map(|_| char::from(ID_ALPHABET[rng.random_range(0..ID_ALPHABET.len())]))
            .collect()
    }
}

impl IdGenerator for RandomIds {
    fn new_id(&self) -> String {
        Self::random_string(17)
    }
}

/// Six-digit codes from the thread-local cryptographic generator (ChaCha, seeded by the
/// operating system), for codes sent by e-mail.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomCodes;

impl OneTimeCodes for RandomCodes {
    fn six_digits(&self) -> String {
        format!("{:06}", rand::rng().random_range(0..1_000_000u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn one_time_codes_are_six_digits_and_vary() {
        let codes: HashSet<String> = (0..200).map(|_| RandomCodes.six_digits()).collect();
        assert!(codes.len() > 190, "{} distinct of 200", codes.len());
        for code in &codes {
            assert_eq!(code.len(), 6, "{code}");
            assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
        }
    }

    #[test]
    fn ids_have_rocket_chat_shape_and_do_not_repeat() {
        let ids: HashSet<String> = (0..1000).map(|_| RandomIds.new_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert_eq!(id.len(), 17);
            assert!(id.bytes().all(|b| ID_ALPHABET.contains(&b)), "{id}");
        }
    }
}

/// Wakes worker threads of this process when an operation is requested.
#[derive(Debug, Default)]
pub struct LocalWakeup {
    pending: std::sync::Mutex<bool>,
    signal: std::sync::Condvar,
}

impl udd_ports::ExportWakeup for LocalWakeup {
    fn notify(&self) {
        if let Ok(mut pending) = self.pending.lock() {
            *pending = true;
            self.signal.notify_all();
        }
    }

    fn wait(&self, timeout: std::time::Duration) -> bool {
        let Ok(pending) = self.pending.lock() else {
            return false;
        };
        match self
            .signal
            .wait_timeout_while(pending, timeout, |pending| !*pending)
        {
            Ok((mut pending, _)) => std::mem::replace(&mut *pending, false),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod wakeup_tests {
    use super::*;
    use std::time::{Duration, Instant};
    use udd_ports::ExportWakeup;

    #[test]
    fn a_notification_ends_the_wait_and_is_consumed() {
        let wakeup = std::sync::Arc::new(LocalWakeup::default());
        let waker = std::sync::Arc::clone(&wakeup);
        let started = Instant::now();
        let handle = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            waker.notify();
        });
        assert!(wakeup.wait(Duration::from_secs(10)));
        assert!(started.elapsed() < Duration::from_secs(5));
        let _ = handle.join();
        assert!(!wakeup.wait(Duration::from_millis(20)), "consumed");
    }
}

/// [`Singleton`](udd_ports::Singleton) for a store that only one host uses (SQLite):
/// the work always runs.
#[derive(Debug, Default, Clone, Copy)]
pub struct Unshared;

impl udd_ports::Singleton for Unshared {
    fn try_run(&self, _name: &str, work: &mut dyn FnMut()) -> Result<bool, udd_ports::StoreError> {
        work();
        Ok(true)
    }
}

/// A random id made once per process: the working folders this process adopts carry it
/// ([`crate::LocalExportFiles`]), so a restarted process knows its predecessor's folders
/// for what they are.
pub fn process_mark() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| RandomIds::random_string(17))
}

/// The host's name (`uname -n`).
pub fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// Whether a process `pid` runs on this host (one of another user counts as running).
pub fn process_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(e) => e != rustix::io::Errno::SRCH,
    }
}
