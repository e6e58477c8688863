//! What only a database shared by many processes has to show: requests, claims, wake-ups
//! and singleton work racing from separate connections, as separate hosts would. (The
//! repository behaviour itself is checked by the shared adapter tests, which run here
//! against PostgreSQL as well.)

use std::sync::Barrier;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use udd_domain::time::from_millis;
use udd_domain::ExportOperation;
use udd_ports::{ExportOperations, ExportQueue, ExportWakeup, Singleton};

use super::testing::{self, another_pool, TestDatabase};
use super::{PgExportOperations, PgSingleton, PgWakeup};

fn t0() -> DateTime<Utc> {
    from_millis(1_800_000_000_000)
}

/// `count` handles on the database of `guard`, each a pool of one connection: as many
/// processes as threads.
fn processes(guard: &TestDatabase, count: usize) -> Vec<PgExportOperations> {
    (0..count)
        .map(|_| {
            let db = super::PgDatabase::open(guard.url(), 1).unwrap_or_else(|e| panic!("{e:#}"));
            PgExportOperations::new(db)
        })
        .collect()
}

/// Runs `work` on each of `count` processes' handles at once: each thread first makes
/// its input with `prepare(i)`, then all are released together. The answers, in order.
fn at_once<P, T: Send>(
    guard: &TestDatabase,
    count: usize,
    prepare: impl Fn(usize) -> P + Sync,
    work: impl Fn(&PgExportOperations, P) -> anyhow::Result<T> + Sync,
) -> anyhow::Result<Vec<T>> {
    let barrier = Barrier::new(count);
    std::thread::scope(|scope| {
        let handles: Vec<_> = processes(guard, count)
            .into_iter()
            .enumerate()
            .map(|(i, ops)| {
                let (barrier, prepare, work) = (&barrier, &prepare, &work);
                scope.spawn(move || {
                    let input = prepare(i);
                    barrier.wait();
                    work(&ops, input)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("panicked")))
            })
            .collect()
    })
}

/// A request as the use case makes it: read the latest, insert over it, and on losing the
/// race read the winner's operation.
fn request(ops: &PgExportOperations, candidate: &ExportOperation) -> anyhow::Result<String> {
    loop {
        let latest = ops.latest(&candidate.user_id, candidate.full_export)?;
        if let Some(latest) = &latest {
            return Ok(latest.id.to_string());
        }
        if ops.insert_if_latest(candidate, None)? {
            return Ok(candidate.id.to_string());
        }
    }
}

#[test]
fn fifty_parallel_requests_on_their_own_connections_create_exactly_one_operation(
) -> anyhow::Result<()> {
    let (guard, db) = testing::database();
    let answers: Vec<String> = at_once(
        &guard,
        50,
        |i| ExportOperation::new_pending(format!("OP{i:02}").into(), "u1".into(), false, t0()),
        |ops, candidate| request(ops, &candidate),
    )?;
    let ops = PgExportOperations::new(db.clone());
    let winner = ops.latest(&"u1".into(), false)?.map(|op| op.id.to_string());
    assert!(winner.is_some());
    assert!(
        answers.iter().all(|id| Some(id) == winner.as_ref()),
        "every request answers with the one operation: {answers:?}"
    );
    use diesel::prelude::*;
    let stored: i64 = super::schema::export_operations::table
        .count()
        .get_result(&mut db.conn()?)?;
    assert_eq!(stored, 1);
    Ok(())
}

#[test]
fn workers_on_their_own_connections_claim_every_operation_exactly_once() -> anyhow::Result<()> {
    let (guard, db) = testing::database();
    let seed = PgExportOperations::new(db);
    for i in 0..24 {
        let at = t0() + chrono::Duration::seconds(i);
        seed.insert(&ExportOperation::new_pending(
            format!("OP{i:02}").into(),
            format!("u{i}").as_str().into(),
            false,
            at,
        ))?;
    }
    let claimed: Vec<Vec<String>> = at_once(
        &guard,
        6,
        |w| (format!("worker-{w}"), t0() + chrono::Duration::hours(1)),
        |ops, (owner, until)| {
            let mut mine = Vec::new();
            while let Some(op) = ops.claim_next(&owner, t0(), until)? {
                mine.push(op.id.to_string());
            }
            Ok(mine)
        },
    )?;
    let mut all: Vec<String> = claimed.into_iter().flatten().collect();
    all.sort();
    let expected: Vec<String> = (0..24).map(|i| format!("OP{i:02}")).collect();
    assert_eq!(all, expected, "each operation claimed once, none left");
    Ok(())
}

#[test]
fn a_request_in_one_process_wakes_the_workers_of_another() -> anyhow::Result<()> {
    let (guard, db) = testing::database();
    let requester = PgWakeup::start(db);
    let worker = PgWakeup::start(another_pool(&guard));
    // Give the worker's listener time to say LISTEN; until then nothing is announced.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !worker.wait(Duration::from_millis(100)),
        "nothing announced yet"
    );
    let started = Instant::now();
    requester.notify();
    assert!(
        worker.wait(Duration::from_secs(10)),
        "woken by the other process"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "woken at once, not at the next poll: {:?}",
        started.elapsed()
    );
    Ok(())
}

#[test]
fn singleton_work_runs_in_one_process_at_a_time() -> anyhow::Result<()> {
    let (guard, db) = testing::database();
    let here = PgSingleton::new(db);
    let there = PgSingleton::new(another_pool(&guard));
    let mut inner = None;
    let ran = here.try_run("retention", &mut || {
        inner = Some(there.try_run("retention", &mut || {}));
        // Other work is not held up by this one.
        assert!(matches!(there.try_run("mail", &mut || {}), Ok(true)));
    })?;
    assert!(ran);
    assert!(
        matches!(inner, Some(Ok(false))),
        "the other process passed while the sweep ran: {inner:?}"
    );
    assert!(
        there.try_run("retention", &mut || {})?,
        "free again afterwards"
    );
    Ok(())
}

/// A certificate authority that signed nothing the test server presents (made once with
/// `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj /CN=not-the-server
/// -days 3650 -nodes`; valid until 2036).
const SOME_OTHER_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBiDCCAS2gAwIBAgIUIOjG3iuRn3yvJjmwK10/uhwfS3MwCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwObm90LXRoZS1zZXJ2ZXIwHhcNMjYxMTI4MjIwNjA1WhcNMzYx
MTI1MjIwNjA1WjAZMRcwFQYDVQQDDA5ub3QtdGhlLXNlcnZlcjBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABMDrI0f47Skafypzb+rGG7GZYQuF/qAsDLfk3RjoTh4l
MWkHP8//bzYDzUyEBRR0tpboQquptJnSXhfe3Fd3D2OjUzBRMB0GA1UdDgQWBBTg
UzDC31eBssk0gv9trLueTElpMTAfBgNVHSMEGDAWgBTgUzDC31eBssk0gv9trLue
TElpMTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kAMEYCIQCU0aH7PGi3
PdhMzKnfw4fLfSxr+cK6yIE/kYzU5oj7gQIhAOAm3aa+TCdf4+SZmbX4qmslXNWB
TcvgSjnubflYRo8C
-----END CERTIFICATE-----
";

#[test]
fn a_tls_url_encrypts_every_connection_and_an_untrusted_server_is_refused_with_the_reason(
) -> anyhow::Result<()> {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Tls {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        ssl: bool,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        version: Option<String>,
    }
    let guard = TestDatabase::create()?;
    let db = super::PgDatabase::open(&guard.tls_url(), 2).map_err(|e| {
        e.context(format!(
            "the test server must accept TLS with a certificate signed by {} \
             (scripts/ensure-postgres.sh turns it on; UDD_TEST_DATABASE_CA names another)",
            testing::server_ca()
        ))
    })?;
    db.migrate()?;
    let mut conn = db.conn()?;
    let tls: Tls =
        diesel::sql_query("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .get_result(&mut conn)?;
    assert!(tls.ssl, "the pool's connection is not encrypted");
    assert!(tls.version.is_some_and(|v| v.starts_with("TLS")));

    let dir = tempfile::tempdir()?;
    let other = dir.path().join("other-ca.pem");
    std::fs::write(&other, SOME_OTHER_CA)?;
    let refused =
        super::PgDatabase::open(&testing::with_tls(guard.url(), &other.to_string_lossy()), 1)
            .expect_err("a server whose certificate no trusted authority signed");
    let said = format!("{refused:#}");
    assert!(said.contains("connecting to PostgreSQL at"), "{said}");
    assert!(said.contains("certificate"), "{said}");
    Ok(())
}
