//! The `udd` command line.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use udd_app::NewAccount;

use crate::server::Application;
use crate::services::Services;
use crate::settings::Settings;

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
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
}

/// `udd user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user who logs in with a password.
    Add(UserAdd),
}

/// `udd user add`
#[derive(Debug, Args)]
pub struct UserAdd {
    /// Login name.
    #[arg(long)]
    pub username: String,
    /// Password.
    #[arg(long)]
    pub password: String,
    /// Email address (where download links are sent).
    #[arg(long)]
    pub email: Option<String>,
    /// Display name.
    #[arg(long)]
    pub name: Option<String>,
}

/// Parses the process arguments, runs the command and turns errors into a message on
/// stderr and exit code 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Logs go to stderr so that command output on stdout stays clean.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs one parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve => serve(settings),
        Command::Migrate => {
            let db = udd_adapters::Database::open(&settings.database.url, 1)?;
            let applied = db.migrate()?;
            println!(
                "applied {applied} migration(s) to {}",
                settings.database.url
            );
            Ok(())
        }
        Command::User(UserCommand::Add(add)) => {
            let services = Services::build(&settings)?;
            let user = services.add_user.execute(NewAccount {
                username: add.username,
                password: add.password,
                email: add.email,
                name: add.name,
            })?;
            println!("created user {} (id {})", user.username, user.id);
            Ok(())
        }
    }
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    let services = Services::build(&settings)?;
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(&settings, services)?;
        tracing::info!(
            bind = %settings.server.bind,
            port = app.port(),
            database = %settings.database.url,
            "udd is serving; stop with Ctrl-C"
        );
        app.run_until_stopped().await?;
        tracing::info!("udd stopped");
        Ok(())
    })
}
