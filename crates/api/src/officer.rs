//! The data protection officer's commands: `udd export --no-mail --out`, `udd ops
//! delete` and `udd audit`.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};
use chrono::{DateTime, NaiveDate, Utc};
use clap::ValueEnum;
use udd_app::Outcome;
use udd_domain::render::csv_record;
use udd_domain::{OperationId, User, UserId};
use udd_ports::{AuditEntry, AuditQuery, StoreError};

use crate::services::Services;
use crate::settings::Settings;

/// The user named by a username (or e-mail address) or a user id, if any.
///
/// Errors: the store failing.
fn lookup(services: &Services, login: &str) -> anyhow::Result<Option<User>> {
    match services.users.credentials_by_login(login) {
        Ok(credentials) => return Ok(Some(credentials.user)),
        Err(StoreError::NotFound) => {}
        Err(other) => return Err(other.into()),
    }
    match services.users.get(&UserId::from(login)) {
        Ok(user) => Ok(Some(user)),
        Err(StoreError::NotFound) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

/// The user named by a username (or e-mail address) or a user id.
///
/// Errors: nobody answers to `login`; the store failing.
pub fn find_user(services: &Services, login: &str) -> anyhow::Result<User> {
    lookup(services, login)?
        .with_context(|| format!("no user `{login}` (neither a username nor a user id)"))
}

/// The id of the user `login` names; a name nobody answers to is taken as the id of a
/// deleted account (whose records and downloads are kept under its id).
fn user_id_of(services: &Services, login: &str) -> anyhow::Result<UserId> {
    Ok(lookup(services, login)?.map_or_else(|| UserId::from(login), |user| user.id))
}

/// Where the archive goes, checked before any work is done: an existing file is kept
/// unless `force`, and the folder must take a new file.
pub fn check_destination(out: &Path, force: bool) -> anyhow::Result<()> {
    if out.is_dir() {
        bail!(
            "{} is a folder; give the archive's file name",
            out.display()
        );
    }
    if out.exists() && !force {
        bail!(
            "{} already exists; choose another name, or add --force to replace it",
            out.display()
        );
    }
    let folder = parent(out);
    tempfile::Builder::new()
        .prefix(".udd-probe-")
        .tempfile_in(folder)
        .with_context(|| format!("{} cannot be written", out.display()))?;
    Ok(())
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    }
}

/// Copies the stored archive `key` to `out` through a temporary file in the same
/// folder, so `out` appears whole or not at all; an existing `out` is replaced only
/// with `force` (and without it, a file that appeared meanwhile is not overwritten).
pub fn write_archive(
    services: &Services,
    key: &str,
    out: &Path,
    force: bool,
) -> anyhow::Result<u64> {
    let mut archive = services
        .archives
        .open(key, None)?
        .with_context(|| format!("the archive {key} is not in the archive store"))?;
    let mut temp = tempfile::Builder::new()
        .prefix(".udd-export-")
        .tempfile_in(parent(out))
        .with_context(|| format!("{} cannot be written", out.display()))?;
    let copied = std::io::copy(&mut archive.body, temp.as_file_mut())
        .with_context(|| format!("writing {}", out.display()))?;
    temp.as_file_mut().flush()?;
    temp.as_file().sync_all()?;
    let kept = if force {
        temp.persist(out).map_err(|e| e.error)
    } else {
        temp.persist_noclobber(out).map_err(|e| e.error)
    };
    kept.with_context(|| format!("writing {}", out.display()))?;
    Ok(copied)
}

/// Runs a data protection officer's export of `login` now and writes it to `out`;
/// nobody is mailed.
pub fn export_for_officer(
    services: &Services,
    settings: &Settings,
    login: &str,
    full: bool,
    out: &Path,
    force: bool,
) -> anyhow::Result<()> {
    let user = find_user(services, login)?;
    check_destination(out, force)?;
    let operation = services
        .request_download
        .execute_for_officer(&user.id, full)?;
    eprintln!(
        "exporting {}'s data for the data protection officer (operation {}); no mail is sent",
        user.username, operation.id
    );
    let key = match crate::cli_export::run_now(services, settings, &operation.id)? {
        Some(Outcome::Completed { file, .. }) => file.key,
        Some(other) => bail!("the export did not finish: {other:?}"),
        None => wait_for(services, &operation.id)?,
    };
    let bytes = write_archive(services, &key, out, force)?;
    println!("{} ({bytes} bytes)", out.display());
    Ok(())
}

/// Another worker took the operation first (it polls the same database): wait for it.
fn wait_for(services: &Services, id: &OperationId) -> anyhow::Result<String> {
    eprintln!("operation {id} was taken by another worker; waiting for it to finish");
    loop {
        let op = services.operations.get(id)?;
        if op.status.is_terminal() {
            return op
                .archive_key
                .filter(|_| op.status == udd_domain::ExportStatus::Completed)
                .with_context(|| {
                    format!(
                        "the export ended `{}`: {}",
                        op.status.as_str(),
                        op.failure_reason.unwrap_or_default()
                    )
                });
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// `udd ops delete`: erases a user's exports and prints what went.
pub fn delete_user_exports(services: &Services, login: &str, force: bool) -> anyhow::Result<()> {
    let user_id = user_id_of(services, login)?;
    let erasure = services.erase.execute(&user_id, force)?;
    if erasure.is_empty() {
        println!("nothing to delete for {login}");
        return Ok(());
    }
    for key in &erasure.archives {
        println!("removed archive {key}");
    }
    let r = erasure.records;
    println!(
        "removed {} export operation(s), {} archive record(s), {} mail notice(s) of {login}; \
         the download log is kept",
        r.operations, r.files, r.notices
    );
    Ok(())
}

/// How `udd audit` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    /// RFC 4180 CSV with a header row, safe to open in a spreadsheet.
    Csv,
    /// A JSON array of objects.
    Json,
}

/// `udd audit`'s filters as typed.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// A username or user id.
    pub user: Option<String>,
    /// A file id.
    pub file: Option<String>,
    /// From this instant or day (inclusive).
    pub since: Option<String>,
    /// Up to this instant, or the end of this day (exclusive).
    pub until: Option<String>,
}

/// An RFC 3339 instant, or a `YYYY-MM-DD` day (its start; with `end_of_day`, the start
/// of the next day).
pub fn parse_instant(text: &str, end_of_day: bool) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").with_context(|| {
        format!("`{text}` is neither a date (2026-11-30) nor a time (2026-11-30T12:00:00Z)")
    })?;
    let day = if end_of_day {
        day.succ_opt().context("that date is out of range")?
    } else {
        day
    };
    Ok(day.and_time(chrono::NaiveTime::MIN).and_utc())
}

/// `udd audit`: writes the selected downloads to `out`.
pub fn audit(
    services: &Services,
    filter: &AuditFilter,
    format: AuditFormat,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let user_id = filter
        .user
        .as_deref()
        .map(|login| user_id_of(services, login))
        .transpose()?;
    let query = AuditQuery {
        user_id,
        file_id: filter.file.as_deref().map(Into::into),
        since: filter
            .since
            .as_deref()
            .map(|t| parse_instant(t, false))
            .transpose()?,
        until: filter
            .until
            .as_deref()
            .map(|t| parse_instant(t, true))
            .transpose()?,
    };
    if let (Some(since), Some(until)) = (query.since, query.until) {
        if since >= until {
            bail!("--since must come before --until");
        }
    }
    let entries = services.audit.downloads(&query)?;
    match format {
        AuditFormat::Csv => write_csv(&entries, out)?,
        AuditFormat::Json => {
            let rows: Vec<_> = entries.iter().map(json_row).collect();
            serde_json::to_writer_pretty(&mut *out, &rows)?;
            writeln!(out)?;
        }
    }
    Ok(())
}

const COLUMNS: [&str; 8] = [
    "at",
    "user_id",
    "username",
    "file_id",
    "file_name",
    "bytes",
    "client_address",
    "access",
];

fn access(entry: &AuditEntry) -> &'static str {
    if entry.by_link {
        "link"
    } else {
        "login"
    }
}

fn write_csv(entries: &[AuditEntry], out: &mut dyn Write) -> anyhow::Result<()> {
    out.write_all(csv_record(COLUMNS).as_bytes())?;
    for e in entries {
        let at = e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let bytes = e.bytes.to_string();
        out.write_all(
            csv_record([
                at.as_str(),
                &e.user_id,
                e.username.as_deref().unwrap_or(""),
                &e.file_id,
                e.file_name.as_deref().unwrap_or(""),
                &bytes,
                e.client_address.as_deref().unwrap_or(""),
                access(e),
            ])
            .as_bytes(),
        )?;
    }
    Ok(())
}

fn json_row(e: &AuditEntry) -> serde_json::Value {
    serde_json::json!({
        "at": e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "user_id": e.user_id.as_str(),
        "username": e.username,
        "file_id": e.file_id.as_str(),
        "file_name": e.file_name,
        "bytes": e.bytes,
        "client_address": e.client_address,
        "access": access(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times_parse_and_a_day_ends_at_the_next_midnight() {
        let day = parse_instant("2026-11-30", false).expect("date");
        assert_eq!(day.to_rfc3339(), "2026-11-30T00:00:00+00:00");
        let end = parse_instant("2026-11-30", true).expect("date");
        assert_eq!(end.to_rfc3339(), "2026-12-01T00:00:00+00:00");
        let at = parse_instant("2026-11-30T12:30:00+01:00", false).expect("time");
        assert_eq!(at.to_rfc3339(), "2026-11-30T11:30:00+00:00");
        assert!(parse_instant("yesterday", false).is_err());
    }

    #[test]
    fn an_existing_file_is_refused_unless_forced_and_a_missing_folder_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let taken = dir.path().join("taken.zip");
        std::fs::write(&taken, b"keep me").expect("write");
        let refused = check_destination(&taken, false).expect_err("refused");
        assert!(refused.to_string().contains("--force"), "{refused}");
        check_destination(&taken, true).expect("forced");
        let nowhere = dir.path().join("missing/out.zip");
        let refused = check_destination(&nowhere, false).expect_err("refused");
        assert!(
            format!("{refused:#}").contains("cannot be written"),
            "{refused:#}"
        );
        assert!(check_destination(dir.path(), true).is_err());
    }
}
