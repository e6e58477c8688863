//! `udd ops list|show|retry|cancel`: the export queue as an operator sees and steers it.

use anyhow::Context;
use udd_domain::{ExportStatus, OperationId};
use udd_ports::{OperationLine, StoreError};

use crate::services::Services;

fn time(at: Option<chrono::DateTime<chrono::Utc>>) -> String {
    at.map_or_else(|| "-".to_owned(), udd_domain::time::iso_millis)
}

fn line_of(services: &Services, id: &str) -> anyhow::Result<OperationLine> {
    match services.admin.line(&OperationId::from(id)) {
        Err(StoreError::NotFound) => anyhow::bail!("no export operation `{id}`"),
        other => Ok(other?),
    }
}

/// `udd ops list`: operations newest first, one a line.
pub fn list(services: &Services, status: Option<&str>, limit: u32) -> anyhow::Result<()> {
    let status: Option<ExportStatus> = status.map(|s| s.parse()).transpose().map_err(|e| {
        anyhow::anyhow!(
            "{e}; statuses: {}",
            ExportStatus::ALL.map(ExportStatus::as_str).join(", ")
        )
    })?;
    println!("id\tuser\tkind\tstatus\tattempts\tworker\tcreated\tupdated");
    for op in services.admin.list(status, limit)? {
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            op.id,
            op.user_id,
            if op.full_export { "full" } else { "personal" },
            op.status,
            op.attempts,
            op.lease_owner.as_deref().unwrap_or("-"),
            time(Some(op.created_at)),
            time(Some(op.updated_at)),
        );
    }
    Ok(())
}

/// `udd ops show ID`: one operation, with its rooms' progress.
pub fn show(services: &Services, id: &str) -> anyhow::Result<()> {
    let line = line_of(services, id)?;
    let op = services.operations.get(&line.id)?;
    println!(
        "id: {}\nuser: {}\nkind: {}\nstatus: {}\nattempts: {}",
        line.id,
        line.user_id,
        if line.full_export { "full" } else { "personal" },
        line.status,
        line.attempts
    );
    println!(
        "worker: {}\nlease or retry until: {}",
        line.lease_owner.as_deref().unwrap_or("-"),
        time(line.lease_expires_at)
    );
    println!(
        "created: {}\nupdated: {}\ncutoff: {}",
        time(Some(line.created_at)),
        time(Some(line.updated_at)),
        time(op.cutoff)
    );
    println!(
        "reason: {}\narchive: {}",
        line.failure_reason.as_deref().unwrap_or("-"),
        op.archive_key.as_deref().unwrap_or("-")
    );
    let (done, total) = op.message_progress();
    println!("messages: {done} of {total}");
    for room in &op.room_list {
        println!(
            "  {}\t{}\t{}/{}\t{}",
            room.room_id,
            room.status.as_str(),
            room.exported_count,
            room.total,
            room.target_file
        );
    }
    Ok(())
}

/// `udd ops retry ID`: a failed or skipped operation queued again from its start, or a
/// waiting retry made due now.
pub fn retry(services: &Services, id: &str) -> anyhow::Result<()> {
    let line = line_of(services, id)?;
    if services.admin.retry(&line.id, services.clock.now())? {
        services.wakeup.notify();
        println!("operation {} queued again", line.id);
        Ok(())
    } else {
        anyhow::bail!(
            "operation {} is {} and {}: nothing to retry",
            line.id,
            line.status,
            line.lease_owner
                .map_or("not waiting".to_owned(), |w| format!("held by {w}"))
        )
    }
}

/// `udd ops cancel ID`: ends an unfinished operation as failed; a worker running it
/// stops at its next batch and removes its working folder; the archive, if one was
/// already stored, is deleted, and this host's working folder too.
pub fn cancel(services: &Services, id: &str) -> anyhow::Result<()> {
    let line = line_of(services, id)?;
    if !services
        .admin
        .cancel(&line.id, "cancelled by an operator", services.clock.now())?
    {
        anyhow::bail!("operation {} already ended ({})", line.id, line.status);
    }
    let op = services.operations.get(&line.id)?;
    if let Some(key) = &op.archive_key {
        services
            .archives
            .remove(key)
            .with_context(|| format!("removing the archive {key}"))?;
    }
    services
        .working
        .remove_all(&line.id)
        .context("removing the working folder")?;
    println!("operation {} cancelled", line.id);
    Ok(())
}
