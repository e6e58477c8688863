//! Failed logins per subject, in the database every process shares.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use udd_domain::time::{from_millis, to_millis};
use udd_domain::{FailedLogins, LoginSubject};
use udd_ports::{LoginFailures, StoreError};

use super::schema::login_failures;
use super::{store_error, Database};
use crate::dialect::Dialect;

/// Failed-login counts in SQLite: one row per subject, counted by upsert, so failures
/// from concurrent requests and from several processes on one database all count.
#[derive(Debug, Clone)]
pub struct SqliteLoginFailures {
    db: Database,
}

impl SqliteLoginFailures {
    /// Counts stored in `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

impl LoginFailures for SqliteLoginFailures {
    fn of(&self, subject: &LoginSubject) -> Result<Option<FailedLogins>, StoreError> {
        let mut conn = self.db.conn()?;
        let row: Option<(i32, i64)> = login_failures::table
            .filter(login_failures::scope.eq(subject.scope()))
            .filter(login_failures::subject.eq(subject.key()))
            .select((login_failures::failures, login_failures::last_failure_at))
            .first(&mut conn)
            .optional()
            .map_err(|e| store_error(e, "reading failed logins"))?;
        Ok(row.map(|(count, last)| FailedLogins {
            count: u32::try_from(count).unwrap_or(0),
            last_at: from_millis(last),
        }))
    }

    fn record(&self, subjects: &[LoginSubject], at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut conn = self.db.conn()?;
        let at = to_millis(at);
        conn.write_transaction(None, |conn| {
            for subject in subjects {
                diesel::insert_into(login_failures::table)
                    .values((
                        login_failures::scope.eq(subject.scope()),
                        login_failures::subject.eq(subject.key()),
                        login_failures::failures.eq(1),
                        login_failures::last_failure_at.eq(at),
                    ))
                    .on_conflict((login_failures::scope, login_failures::subject))
                    .do_update()
                    .set((
                        login_failures::failures.eq(login_failures::failures + 1),
                        login_failures::last_failure_at.eq(at),
                    ))
                    .execute(conn)?;
            }
            Ok(())
        })
        .map_err(|e| store_error(e, "recording a failed login"))
    }

    fn clear(&self, subjects: &[LoginSubject]) -> Result<(), StoreError> {
        let mut conn = self.db.conn()?;
        // Every successful login clears its subjects, and almost always there is
        // nothing to clear: a read first keeps those logins off the write lock. A
        // failure counted between this read and the login's answer stays counted, as
        // if it had come just after the login.
        let mut counted = Vec::new();
        for subject in subjects {
            let any: Option<i32> = login_failures::table
                .filter(login_failures::scope.eq(subject.scope()))
                .filter(login_failures::subject.eq(subject.key()))
                .select(login_failures::failures)
                .first(&mut conn)
                .optional()
                .map_err(|e| store_error(e, "reading failed logins"))?;
            if any.is_some() {
                counted.push(subject);
            }
        }
        if counted.is_empty() {
            return Ok(());
        }
        conn.write_transaction(None, |conn| {
            for subject in counted {
                diesel::delete(
                    login_failures::table
                        .filter(login_failures::scope.eq(subject.scope()))
                        .filter(login_failures::subject.eq(subject.key())),
                )
                .execute(conn)?;
            }
            Ok(())
        })
        .map_err(|e| store_error(e, "clearing failed logins"))
    }

    fn forget_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut conn = self.db.conn()?;
        let gone = diesel::delete(
            login_failures::table.filter(login_failures::last_failure_at.lt(to_millis(before))),
        )
        .execute(&mut conn)
        .map_err(|e| store_error(e, "forgetting old failed logins"))?;
        Ok(gone as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing;
    use super::*;
    use chrono::Duration;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::minutes(minutes)
    }

    #[test]
    fn failures_count_per_subject_until_cleared() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let store = SqliteLoginFailures::new(db);
        let alice = LoginSubject::User("u1".into());
        let ip = LoginSubject::Ip("127.0.0.1".into());
        let name = LoginSubject::UnknownLogin("u1".into());
        assert_eq!(store.of(&alice)?, None);

        store.record(&[alice.clone(), ip.clone()], at(1))?;
        store.record(&[alice.clone(), ip.clone()], at(3))?;
        store.record(std::slice::from_ref(&ip), at(4))?;
        assert_eq!(
            store.of(&alice)?,
            Some(FailedLogins {
                count: 2,
                last_at: at(3)
            })
        );
        assert_eq!(
            store.of(&ip)?.map(|f| (f.count, f.last_at)),
            Some((3, at(4)))
        );
        assert_eq!(store.of(&name)?, None, "a name is not the user of that id");

        store.clear(std::slice::from_ref(&alice))?;
        assert_eq!(store.of(&alice)?, None);
        assert_eq!(store.of(&ip)?.map(|f| f.count), Some(3));
        Ok(())
    }

    #[test]
    fn concurrent_failures_through_two_pools_on_one_file_are_all_counted() -> anyhow::Result<()> {
        // Two pools on one file stand for two processes sharing the database.
        let (guard, db) = testing::database();
        let other = testing::another_pool(&guard);
        let subject = LoginSubject::User("u1".into());
        std::thread::scope(|scope| {
            for store in [
                SqliteLoginFailures::new(db.clone()),
                SqliteLoginFailures::new(other),
            ] {
                let subject = subject.clone();
                scope.spawn(move || {
                    for minute in 0..25 {
                        store
                            .record(std::slice::from_ref(&subject), at(minute))
                            .unwrap_or_else(|e| panic!("{e}"));
                    }
                });
            }
        });
        let store = SqliteLoginFailures::new(db);
        assert_eq!(store.of(&subject)?.map(|f| f.count), Some(50));
        Ok(())
    }

    #[test]
    fn old_counts_are_forgotten_recent_ones_kept() -> anyhow::Result<()> {
        let (_dir, db) = testing::database();
        let store = SqliteLoginFailures::new(db);
        let old = LoginSubject::Ip("10.0.0.1".into());
        let recent = LoginSubject::Ip("10.0.0.2".into());
        store.record(std::slice::from_ref(&old), at(0))?;
        store.record(std::slice::from_ref(&recent), at(10))?;
        assert_eq!(store.forget_before(at(5))?, 1);
        assert_eq!(store.of(&old)?, None);
        assert!(store.of(&recent)?.is_some());
        Ok(())
    }
}
