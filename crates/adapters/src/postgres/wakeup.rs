//! Waking the workers of every process when an operation is requested in any of them:
//! `NOTIFY` on request, and a listener thread on its own connection that turns the
//! notifications into a local wake-up. Workers still poll, so a lost notification (the
//! listener reconnecting, the server restarting) delays work by one tick at most.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};
use udd_ports::ExportWakeup;

use super::{redacted, PgDatabase};
use crate::system::LocalWakeup;

/// The channel requests are announced on.
const CHANNEL: &str = "udd_exports";
/// How often the listener looks for notifications that arrived.
const LISTEN_POLL: Duration = Duration::from_millis(50);
/// How often the listener checks that its connection is alive.
const KEEPALIVE: Duration = Duration::from_secs(5);

/// [`ExportWakeup`] across processes through PostgreSQL's `LISTEN`/`NOTIFY`.
pub struct PgWakeup {
    db: PgDatabase,
    local: Arc<LocalWakeup>,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for PgWakeup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgWakeup").field("db", &self.db).finish()
    }
}

impl PgWakeup {
    /// Starts listening on `db`'s server (one connection of its own, outside the pool);
    /// the listener stops when this value is dropped.
    pub fn start(db: PgDatabase) -> Self {
        let local = Arc::new(LocalWakeup::default());
        let stop = Arc::new(AtomicBool::new(false));
        let url = db.url().to_owned();
        let (listener_local, listener_stop) = (Arc::clone(&local), Arc::clone(&stop));
        let spawned = std::thread::Builder::new()
            .name("udd-pg-listen".into())
            .spawn(move || listen(&url, &listener_local, &listener_stop));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no listener thread: workers fall back to polling");
        }
        Self { db, local, stop }
    }
}

impl Drop for PgWakeup {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl ExportWakeup for PgWakeup {
    fn notify(&self) {
        // This process's workers at once; the others through the server.
        self.local.notify();
        let sent = self
            .db
            .conn()
            .map_err(|e| format!("{e:#}"))
            .and_then(|mut conn| {
                diesel::sql_query(format!("NOTIFY {CHANNEL}"))
                    .execute(&mut conn)
                    .map_err(|e| e.to_string())
            });
        if let Err(error) = sent {
            tracing::warn!(%error, "could not announce new work to other processes");
        }
    }

    fn wait(&self, timeout: Duration) -> bool {
        self.local.wait(timeout)
    }
}

/// The listener thread: (re)connects, listens, and passes notifications on until told to
/// stop.
fn listen(url: &str, local: &LocalWakeup, stop: &AtomicBool) {
    let mut first = true;
    while !stop.load(Ordering::Relaxed) {
        let connected = PgConnection::establish(url)
            .map_err(|e| e.to_string())
            .and_then(|mut conn| {
                diesel::sql_query(format!("LISTEN {CHANNEL}"))
                    .execute(&mut conn)
                    .map(|_| conn)
                    .map_err(|e| e.to_string())
            });
        let mut conn = match connected {
            Ok(conn) => conn,
            Err(error) => {
                tracing::warn!(%error, url = %redacted(url), "cannot listen for new work; retrying");
                sleep_unless_stopped(Duration::from_secs(1), stop);
                continue;
            }
        };
        if !first {
            // Whatever was announced while we were away: look once.
            local.notify();
        }
        first = false;
        pass_on(&mut conn, local, stop);
    }
}

/// Passes notifications on until the connection fails or the wake-up is dropped.
fn pass_on(conn: &mut PgConnection, local: &LocalWakeup, stop: &AtomicBool) {
    let mut checked = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let mut woke = false;
        for notification in conn.notifications_iter() {
            match notification {
                Ok(_) => woke = true,
                Err(error) => {
                    tracing::warn!(%error, "listening for new work failed; reconnecting");
                    return;
                }
            }
        }
        if woke {
            local.notify();
        }
        if checked.elapsed() >= KEEPALIVE {
            if let Err(error) = diesel::sql_query("SELECT 1").execute(conn) {
                tracing::warn!(%error, "the listening connection broke; reconnecting");
                return;
            }
            checked = Instant::now();
        }
        std::thread::sleep(LISTEN_POLL);
    }
}

fn sleep_unless_stopped(duration: Duration, stop: &AtomicBool) {
    let until = Instant::now() + duration;
    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(LISTEN_POLL);
    }
}
