//! `udd export --user U`: one user's export run now, in the foreground.

use crate::dto::WirePaths;
use crate::services::Services;
use crate::settings::Settings;

pub(crate) fn export_now(
    settings: &Settings,
    username: &str,
    full: bool,
    out: Option<&std::path::Path>,
    force: bool,
) -> anyhow::Result<()> {
    if let Some(out) = out {
        crate::officer::check_destination(out, force)?;
    }
    let services = Services::build(settings)?;
    let user = match services.users.credentials_by_login(username) {
        Ok(credentials) => credentials.user,
        Err(udd_ports::StoreError::NotFound) => anyhow::bail!("no user `{username}`"),
        Err(other) => return Err(other.into()),
    };
    let request = services.request_download.execute_now(&user.id, full)?;
    let operation = request.operation.id;
    println!("exporting {username}'s data (operation {operation})");
    let outcome = run_now(&services, settings, &operation)?;
    // The owner's mail goes out now rather than on a worker's next round.
    match services.notify.deliver_due() {
        Ok(report) if report != udd_app::DeliveryReport::default() => eprintln!(
            "mail: {} sent, {} to owners without an address, {} to retry, {} given up",
            report.sent, report.no_address, report.retrying, report.gave_up
        ),
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(error = %e, "the owner's mail could not be sent; a worker will retry")
        }
    }
    match outcome {
        Some(udd_app::Outcome::Completed { file, .. }) => {
            if let Some(out) = out {
                crate::officer::write_archive(&services, &file.key, out, force)?;
                println!("{}", out.display());
                return Ok(());
            }
            match settings.storage.kind {
                crate::settings::StorageKind::Local => println!(
                    "{}",
                    WirePaths::from_settings(settings).archive_location(&file.key)
                ),
                crate::settings::StorageKind::S3 => {
                    let prefix = settings.storage.prefix.trim_matches('/');
                    let key = if prefix.is_empty() {
                        file.key.clone()
                    } else {
                        format!("{prefix}/{}", file.key)
                    };
                    println!("s3://{}/{key}", settings.storage.bucket);
                    eprintln!("(add --out FILE to write the archive here as well)");
                }
            }
            Ok(())
        }
        Some(other) => anyhow::bail!("the export did not finish: {other:?}"),
        None => anyhow::bail!("operation {operation} is held by another worker"),
    }
}

/// Runs `operation` in the foreground with a progress bar on stderr, as a worker
/// instance of its own; `None` when another worker holds it or it already ended.
pub(crate) fn run_now(
    services: &Services,
    settings: &Settings,
    operation: &udd_domain::OperationId,
) -> anyhow::Result<Option<udd_app::Outcome>> {
    let stop = std::sync::atomic::AtomicBool::new(false);
    let progress = crate::progress::for_stderr();
    crate::instance::run_as_instance(services, settings, |owner| {
        services
            .engine
            .run_operation(operation, owner, progress.as_ref(), &stop)
    })
}
