//! The worker instance registry ([`WorkerInstances`]): one row per process that runs
//! export workers, and the release of a dead instance's leases.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use udd_domain::time::{from_millis, to_millis};
use udd_ports::{StoreError, WorkerInstance, WorkerInstances};

use super::schema::{export_operations, worker_instances};
use super::{store_error, Database};
use crate::dialect::Dialect;

/// Worker instances in the database.
#[derive(Debug, Clone)]
pub struct SqliteWorkerInstances {
    db: Database,
}

impl SqliteWorkerInstances {
    /// Instances registered in `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

type InstanceRow = (String, String, i64, i64);

fn to_instance((id, host, pid, started_at): InstanceRow) -> WorkerInstance {
    WorkerInstance {
        id,
        host,
        pid: u32::try_from(pid).unwrap_or(0),
        started_at: from_millis(started_at),
    }
}

impl WorkerInstances for SqliteWorkerInstances {
    fn register(&self, instance: &WorkerInstance, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut conn = self.db.conn()?;
        diesel::insert_into(worker_instances::table)
            .values((
                worker_instances::id.eq(&instance.id),
                worker_instances::host.eq(&instance.host),
                worker_instances::pid.eq(i64::from(instance.pid)),
                worker_instances::started_at.eq(to_millis(instance.started_at)),
                worker_instances::heartbeat_at.eq(to_millis(now)),
                worker_instances::dead_at.eq(None::<i64>),
            ))
            .on_conflict(worker_instances::id)
            .do_update()
            .set((
                worker_instances::heartbeat_at.eq(to_millis(now)),
                worker_instances::dead_at.eq(None::<i64>),
            ))
            .execute(&mut conn)
            .map_err(|e| store_error(e, "registering a worker instance"))?;
        Ok(())
    }

    fn heartbeat(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut conn = self.db.conn()?;
        let alive = diesel::update(
            worker_instances::table
                .filter(worker_instances::id.eq(id))
                .filter(worker_instances::dead_at.is_null()),
        )
        .set(worker_instances::heartbeat_at.eq(to_millis(now)))
        .execute(&mut conn)
        .map_err(|e| store_error(e, "recording a worker heartbeat"))?;
        Ok(alive == 1)
    }

    fn on_host(&self, host: &str) -> Result<Vec<WorkerInstance>, StoreError> {
        let mut conn = self.db.conn()?;
        let rows: Vec<InstanceRow> = worker_instances::table
            .filter(worker_instances::host.eq(host))
            .filter(worker_instances::dead_at.is_null())
            .order(worker_instances::started_at.asc())
            .select((
                worker_instances::id,
                worker_instances::host,
                worker_instances::pid,
                worker_instances::started_at,
            ))
            .load(&mut conn)
            .map_err(|e| store_error(e, "listing worker instances"))?;
        Ok(rows.into_iter().map(to_instance).collect())
    }

    fn declare_dead(
        &self,
        ids: &[String],
        silent_since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(Vec<String>, usize), StoreError> {
        let mut conn = self.db.conn()?;
        conn.write_transaction(Some("worker_instances"), |conn| {
            let dead: Vec<String> = worker_instances::table
                .filter(worker_instances::dead_at.is_null())
                .filter(
                    worker_instances::id
                        .eq_any(ids)
                        .or(worker_instances::heartbeat_at.lt(to_millis(silent_since))),
                )
                .select(worker_instances::id)
                .load(conn)?;
            let mut released = 0;
            for id in &dead {
                diesel::update(worker_instances::table.find(id))
                    .set(worker_instances::dead_at.eq(to_millis(now)))
                    .execute(conn)?;
                // Ids are plain names (no `%` or `_`), so the pattern matches exactly
                // the leases of this instance's workers.
                released += diesel::update(
                    export_operations::table
                        .filter(export_operations::lease_owner.like(format!("{id}/%"))),
                )
                .set((
                    export_operations::lease_owner.eq(None::<String>),
                    export_operations::lease_expires_at.eq(None::<i64>),
                ))
                .execute(conn)?;
            }
            Ok::<_, diesel::result::Error>((dead, released))
        })
        .map_err(|e| store_error(e, "declaring worker instances dead"))
    }

    fn retire(&self, id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut conn = self.db.conn()?;
        diesel::update(worker_instances::table.find(id))
            .set(worker_instances::dead_at.eq(to_millis(now)))
            .execute(&mut conn)
            .map_err(|e| store_error(e, "retiring a worker instance"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use udd_domain::{ExportOperation, OperationId};
    use udd_ports::{ExportOperations, ExportQueue};

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
    }

    fn instance(id: &str, pid: u32) -> WorkerInstance {
        WorkerInstance {
            id: id.to_owned(),
            host: "host-a".to_owned(),
            pid,
            started_at: at(0),
        }
    }

    #[test]
    fn declaring_an_instance_dead_releases_its_leases_at_once_and_only_its() {
        let (_dir, db) = super::super::testing::database();
        let ops = super::super::SqliteExportOperations::new(db.clone());
        let instances = SqliteWorkerInstances::new(db);
        let old = instance("OLD", 10);
        let other = instance("OTHER", 11);
        instances.register(&old, at(0)).unwrap();
        instances.register(&other, at(0)).unwrap();
        let (first, second) = (OperationId::from("A"), OperationId::from("B"));
        for (id, user) in [(&first, "u1"), (&second, "u2")] {
            let op = ExportOperation::new_pending(id.clone(), user.into(), false, at(1));
            assert!(ops.insert_if_latest(&op, None).unwrap());
        }
        assert!(ops
            .claim(&first, &old.owner(0), at(3), at(63))
            .unwrap()
            .is_some());
        assert!(ops
            .claim(&second, &other.owner(0), at(3), at(63))
            .unwrap()
            .is_some());

        let (dead, released) = instances
            .declare_dead(&["OLD".to_owned()], at(-100), at(4))
            .unwrap();
        assert_eq!((dead, released), (vec!["OLD".to_owned()], 1));
        // Free well before the lease would have run out; the other instance's is held.
        assert!(ops.claim(&first, "NEW/0", at(5), at(65)).unwrap().is_some());
        assert!(ops
            .claim(&second, "NEW/0", at(5), at(65))
            .unwrap()
            .is_none());
        assert!(!instances.heartbeat("OLD", at(6)).unwrap());
        assert!(instances.heartbeat("OTHER", at(6)).unwrap());
        assert_eq!(instances.on_host("host-a").unwrap(), vec![other]);
    }

    #[test]
    fn an_instance_silent_for_longer_than_the_lease_is_dead_anywhere() {
        let (_dir, db) = super::super::testing::database();
        let instances = SqliteWorkerInstances::new(db);
        instances.register(&instance("QUIET", 10), at(0)).unwrap();
        instances.register(&instance("LIVELY", 11), at(0)).unwrap();
        assert!(instances.heartbeat("LIVELY", at(50)).unwrap());
        let (dead, _) = instances.declare_dead(&[], at(30), at(61)).unwrap();
        assert_eq!(dead, vec!["QUIET".to_owned()]);
        assert_eq!(instances.on_host("host-a").unwrap().len(), 1);
    }
}
