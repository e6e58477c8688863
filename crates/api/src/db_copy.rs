//! `udd db copy --to postgres://…`: an SQLite installation's records into an empty
//! PostgreSQL database, for growing from one machine to several processes.

use anyhow::Context;
use clap::Subcommand;
use udd_adapters::postgres::{is_postgres_url, redacted, PgDatabase};
use udd_adapters::Database;

use crate::settings::Settings;

/// `udd db …`
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy every record of this installation's SQLite database (workspace, users and
    /// tokens, operations, archive records, mail notices, download log) into an empty
    /// PostgreSQL database, migrating it first, and check the counts.
    Copy {
        /// The PostgreSQL database (`postgres://user:password@host:port/name`).
        #[arg(long)]
        to: String,
    },
}

/// Runs the copy and says what to change in the configuration.
///
/// Errors: a source that is not SQLite or a target that is not PostgreSQL, a target
/// that holds records, a failing copy (nothing is kept), counts that differ.
pub fn copy_to_postgres(settings: &Settings, to: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !is_postgres_url(&settings.database.url),
        "database.url already names PostgreSQL; `udd db copy` reads an SQLite installation"
    );
    anyhow::ensure!(
        is_postgres_url(to),
        "--to must be a postgres:// or postgresql:// URL"
    );
    let from = Database::open(&settings.database.url, 2)?;
    from.migrate().context("migrating the SQLite database")?;
    let target = PgDatabase::open(to, 2)?;
    target
        .migrate()
        .context("migrating the PostgreSQL database")?;
    let copied = udd_adapters::copy::sqlite_to_postgres(&from, &target)
        .with_context(|| format!("copying into {}", redacted(to)))?;
    println!("copied into {} (counts checked):", redacted(to));
    for (table, rows) in &copied {
        println!("  {table:<20} {rows}");
    }
    println!(
        "\nNow, in every process's configuration:\n  \
         [database]\n  url = \"{}\"   (or UDD__DATABASE__URL)\n\
         Keep [storage] and user_data.file_system_zip_path as they are (or move the bytes \
         into a bucket with `udd storage copy`), and set server.link_secret to the \
         content of {} on every host so mailed links keep working. Stop udd before \
         copying: records written to SQLite afterwards are not copied.",
        redacted(to),
        settings.server.link_secret_file.display()
    );
    Ok(())
}
