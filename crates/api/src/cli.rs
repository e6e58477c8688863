//! The `udd` command line.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use udd_app::{DemoSpec, NewAccount};

use crate::cli_demo::print_demo_summary;
use crate::cli_export::export_now;
use crate::cli_import::open_dump;
use crate::cli_serve::{serve, start_up_checks, work};
use crate::services::Services;
use crate::settings::{probe_folders, Settings};

/// udd — user data downloads for Rocket.Chat workspaces.
#[derive(Debug, Parser)]
#[command(name = "udd", version, about)]
pub struct Cli {
    /// Configuration file (TOML). Without it, ./udd.toml is read when present.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API.
    Serve {
        /// Seed a small demo workspace first when the database has no user yet, and
        /// print a walkthrough.
        #[arg(long)]
        demo: bool,
    },
    /// Run the export workers only (no HTTP), e.g. another process on the same host
    /// sharing the database and data folders.
    Worker,
    /// Export one user's data now, in the foreground, and print the zip's path.
    Export {
        /// The user's username (or, with --no-mail, user id).
        #[arg(long)]
        user: String,
        /// A full (JSON) export instead of a personal (HTML) one.
        #[arg(long)]
        full: bool,
        /// A subject-access export for the data protection officer: nobody is mailed,
        /// and the user's own requests neither reuse nor wait for it. Needs --out.
        #[arg(long, requires = "out")]
        no_mail: bool,
        /// Write the finished archive to this file.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Replace FILE when it exists.
        #[arg(long, requires = "out")]
        force: bool,
    },
    /// Export records of users.
    #[command(subcommand)]
    Ops(OpsCommand),
    /// Who downloaded what, when and from where (the download log).
    Audit {
        /// Only this user's downloads (username or user id).
        #[arg(long)]
        user: Option<String>,
        /// Only downloads of this file id.
        #[arg(long)]
        file: Option<String>,
        /// From this day (2026-11-30) or time (RFC 3339), inclusive.
        #[arg(long)]
        since: Option<String>,
        /// Up to this time, or to the end of this day.
        #[arg(long)]
        until: Option<String>,
        /// The output format.
        #[arg(long, value_enum, default_value = "csv")]
        format: crate::officer::AuditFormat,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage where bytes are kept.
    #[command(subcommand)]
    Storage(StorageCommand),
    /// Move the records to another database.
    #[command(subcommand)]
    Db(crate::db_copy::DbCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Load a Rocket.Chat workspace from a mongoexport or mongodump dump (run it again
    /// to update).
    Import {
        /// The dump: a folder of mongoexport files (users.json, rocketchat_*.json,
        /// optionally gzipped) or mongodump files (users.bson, rocketchat_*.bson, or
        /// .bson.gz), mongodump's output folder, a mongodump --archive file (plain or
        /// gzipped), or `-` for one collection of mongoexport JSON on standard input.
        /// Upload and avatar files come from the dump's GridFS collections or from
        /// uploads/ and avatars/ beside the collection files.
        #[arg(required_unless_present = "delta_query")]
        dir: Option<PathBuf>,
        /// Print, per collection, the `mongoexport`/`mongodump` `--query` that fetches
        /// only what changed since the last import (tab-separated: collection, query),
        /// and exit.
        #[arg(long, conflicts_with_all = ["dir", "collection", "db"])]
        delta_query: bool,
        /// With `-`: which collection standard input holds (users, rocketchat_room,
        /// rocketchat_subscription, rocketchat_message, rocketchat_uploads,
        /// rocketchat_avatars, rocketchat__trash).
        #[arg(long, value_name = "NAME")]
        collection: Option<String>,
        /// The database to read when an archive or mongodump's output folder holds
        /// Rocket.Chat collections in several.
        #[arg(long, value_name = "NAME")]
        db: Option<String>,
    },
    /// Generate a deterministic demo workspace.
    Demo(DemoArgs),
}

/// `udd storage …`
#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// Copy the local store (storage.blob_path, user_data.file_system_zip_path) into the
    /// bucket of `[storage] kind = "s3"`, under the same keys; safe to run again.
    Copy,
    /// Read one upload or avatar from every store that keeps some (udd's own,
    /// Rocket.Chat's bucket, Rocket.Chat's WebDAV server); fails when a store cannot be
    /// read or is not configured, as exports would list those files as unavailable.
    Check,
}

/// `udd ops …`
#[derive(Debug, Subcommand)]
pub enum OpsCommand {
    /// Delete a user's archives and export records (operations, archive records, mail
    /// notices); the download log is kept. Refused while an export of theirs is running.
    Delete {
        /// The user (username or user id; a deleted account by its id).
        #[arg(long)]
        user: String,
        /// Delete even while one of their exports is running (its worker then fails).
        #[arg(long)]
        force: bool,
    },
    /// List export operations, newest first.
    List {
        /// Only those in this status (`pending`, `exporting`, `failed`, …).
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show one operation: status, worker, lease, reason, rooms' progress.
    Show {
        /// The operation id.
        id: String,
    },
    /// Queue a failed or skipped operation again from its start, or make a waiting
    /// retry due now.
    Retry {
        /// The operation id.
        id: String,
    },
    /// Cancel an unfinished operation: it ends as failed (no mail), a worker running it
    /// stops at its next batch, and its files are removed.
    Cancel {
        /// The operation id.
        id: String,
    },
}

/// `udd demo`
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Users (the first is alice).
    #[arg(long, default_value_t = DemoSpec::default().users)]
    pub users: u32,
    /// Rooms: general, channels, private groups, direct rooms.
    #[arg(long, default_value_t = DemoSpec::default().rooms)]
    pub rooms: u32,
    /// Messages across all rooms.
    #[arg(long, default_value_t = DemoSpec::default().messages)]
    pub messages: u64,
    /// The seed: the same seed gives the same workspace.
    #[arg(long, default_value_t = DemoSpec::default().seed)]
    pub seed: u64,
}

/// `udd user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user who logs in with a password.
    Add(UserAdd),
}

/// `udd user add`: the password is asked for on the terminal, or read from standard
/// input with `--password-stdin`.
#[derive(Debug, Args)]
pub struct UserAdd {
    /// Login name.
    #[arg(long)]
    pub username: String,
    /// Read the password from the first line of standard input instead of asking.
    #[arg(long)]
    pub password_stdin: bool,
    /// The password on the command line: visible to other users in the process list
    /// and kept in shell history. Prefer the prompt or --password-stdin.
    #[arg(long, conflicts_with = "password_stdin", hide = true)]
    pub password: Option<String>,
    /// Email address (where download links are sent).
    #[arg(long)]
    pub email: Option<String>,
    /// Display name.
    #[arg(long)]
    pub name: Option<String>,
}

/// `udd import` loaded the dump but left documents out; the summary says which.
#[derive(Debug, thiserror::Error)]
#[error("{0} document(s) of the dump were not imported (see the summary above)")]
pub struct ImportIncomplete(pub u64);

/// The exit code of an import that left documents out: not 1, so a script can tell a
/// partial import from one that failed.
pub const EXIT_IMPORT_INCOMPLETE: u8 = 2;

/// Parses the process arguments, runs the command and turns errors into a message on
/// stderr and exit code 1 (2 for an import that left documents out).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            if err.downcast_ref::<ImportIncomplete>().is_some() {
                ExitCode::from(EXIT_IMPORT_INCOMPLETE)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Logs go to stderr so that command output on stdout stays clean. When stderr is
    // gone (its reader exited), a failed write is dropped: reporting it would print to
    // that same stderr, panic, and take the task logging it down (a server then
    // ignored SIGTERM).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .log_internal_errors(false)
        .try_init();
}

/// Runs one parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve { demo } => {
            start_up_checks(&settings)?;
            serve(settings, demo)
        }
        Command::Worker => work(&settings),
        Command::Export {
            user,
            full,
            no_mail,
            out,
            force,
        } => {
            start_up_checks(&settings)?;
            match out {
                Some(out) if no_mail => {
                    let services = Services::build(&settings)?;
                    crate::officer::export_for_officer(
                        &services, &settings, &user, full, &out, force,
                    )
                }
                out => export_now(&settings, &user, full, out.as_deref(), force),
            }
        }
        Command::Ops(OpsCommand::Delete { user, force }) => {
            let services = Services::build(&settings)?;
            crate::officer::delete_user_exports(&services, &user, force)
        }
        Command::Ops(command) => {
            let services = Services::build(&settings)?;
            match command {
                OpsCommand::List { status, limit } => {
                    crate::ops::list(&services, status.as_deref(), limit)
                }
                OpsCommand::Show { id } => crate::ops::show(&services, &id),
                OpsCommand::Retry { id } => crate::ops::retry(&services, &id),
                OpsCommand::Cancel { id } => crate::ops::cancel(&services, &id),
                OpsCommand::Delete { .. } => unreachable!("handled above"),
            }
        }
        Command::Audit {
            user,
            file,
            since,
            until,
            format,
        } => {
            let services = Services::build(&settings)?;
            let filter = crate::officer::AuditFilter {
                user,
                file,
                since,
                until,
            };
            let mut stdout = std::io::stdout().lock();
            crate::officer::audit(&services, &filter, format, &mut stdout)
        }
        Command::Storage(StorageCommand::Copy) => crate::storage_copy::copy_to_bucket(&settings),
        Command::Storage(StorageCommand::Check) => {
            let services = Services::build(&settings)?;
            crate::storage_check::run(&settings, &services, &mut std::io::stdout().lock())
        }
        Command::Db(crate::db_copy::DbCommand::Copy { to }) => {
            crate::db_copy::copy_to_postgres(&settings, &to)
        }
        Command::Migrate => {
            let applied = crate::services::migrate_database(&settings.database.url)?;
            println!(
                "applied {applied} migration(s) to {}",
                udd_adapters::postgres::redacted(&settings.database.url)
            );
            Ok(())
        }
        Command::User(UserCommand::Add(add)) => {
            let password = match (add.password, add.password_stdin) {
                (Some(password), _) => {
                    eprintln!(
                        "warning: a password given with --password shows in the process list \
                         and the shell history; leave it out to be asked, or use --password-stdin"
                    );
                    password
                }
                (None, true) => crate::password::from_reader(std::io::stdin().lock())?,
                (None, false) => crate::password::prompt_twice()?,
            };
            udd_app::check_new_password(&password)?;
            let services = Services::build(&settings)?;
            let user = services.add_user.execute(NewAccount {
                username: add.username,
                password,
                email: add.email,
                name: add.name,
            })?;
            println!("created user {} (id {})", user.username, user.id);
            Ok(())
        }
        Command::Import {
            delta_query: true, ..
        } => {
            let services = Services::build(&settings)?;
            crate::cli_import::print_delta_query(services.workspace.as_ref())
        }
        Command::Import { dir: None, .. } => {
            anyhow::bail!("udd import needs a dump (or --delta-query)")
        }
        Command::Import {
            dir: Some(dir),
            collection,
            db,
            ..
        } => {
            probe_folders(&[("storage.blob_path", &settings.storage.blob_path)])?;
            let dump = open_dump(&dir, collection.as_deref(), db.as_deref())?;
            let services = Services::build(&settings)?;
            let started = std::time::Instant::now();
            let summary = services
                .import
                .execute(&dump, crate::progress::for_stderr().as_ref())?;
            crate::cli_import::print_import_summary(&dir, dump.form(), &summary, started.elapsed());
            for warning in crate::storage_check::warnings(&settings, &services) {
                eprintln!("warning: {warning}");
            }
            match summary.not_imported() {
                0 => Ok(()),
                left_out => Err(ImportIncomplete(left_out).into()),
            }
        }
        Command::Demo(args) => {
            probe_folders(&[("storage.blob_path", &settings.storage.blob_path)])?;
            let services = Services::build(&settings)?;
            let spec = DemoSpec {
                users: args.users,
                rooms: args.rooms,
                messages: args.messages,
                seed: args.seed,
            };
            let started = std::time::Instant::now();
            let was_empty = services.workspace.is_empty()?;
            let summary = services
                .demo
                .execute(spec, crate::progress::for_stderr().as_ref())
                .map_err(anyhow::Error::new)
                .with_context(|| {
                    if was_empty {
                        "generating the demo workspace".to_owned()
                    } else {
                        format!(
                            "generating the demo workspace into {}, which already holds another workspace \
                             (point UDD__DATABASE__URL at a new file)",
                            settings.database.url
                        )
                    }
                })?;
            print_demo_summary(&summary, started.elapsed());
            Ok(())
        }
    }
}
