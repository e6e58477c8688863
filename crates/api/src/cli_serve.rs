//! The commands that run udd as a process until it is stopped: `udd serve` (the HTTP
//! API, and export workers unless `user_data.workers = 0`) and `udd worker` (workers
//! only), with the checks every such process makes as it starts.

use udd_app::DemoSpec;

use crate::cli_demo::{print_demo_summary, print_walkthrough};
use crate::server::Application;
use crate::services::Services;
use crate::settings::{probe_folders, Settings};
use crate::worker::Workers;

/// What `serve`, `worker` and `export` need before they start: every folder they write
/// into can be written, and whatever looks like a mistake is said once.
pub(crate) fn start_up_checks(settings: &Settings) -> anyhow::Result<()> {
    probe_folders(&settings.output_folders())?;
    for warning in settings.warnings() {
        tracing::warn!("{warning}");
    }
    Ok(())
}

pub(crate) fn serve(settings: Settings, demo: bool) -> anyhow::Result<()> {
    let services = Services::build(&settings)?;
    if demo {
        if services.workspace.is_empty()? {
            let started = std::time::Instant::now();
            let summary = services
                .demo
                .execute(DemoSpec::default(), crate::progress::for_stderr().as_ref())?;
            print_demo_summary(&summary, started.elapsed());
        } else {
            println!("the database already holds a workspace: not seeding the demo again");
        }
        print_walkthrough(&settings);
    }
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(&settings, services.clone())?;
        let port = app.port();
        let server = app.run_until_signalled()?;
        // Workers start once the port is bound: a server that cannot start must not
        // have claimed an operation or sent mail first. With none (`workers = 0`), the
        // exports, mail and retention are left to `udd worker` processes.
        let workers = (settings.user_data.workers > 0).then(|| {
            crate::storage_check::warn_in_background(&settings, &services);
            Workers::start(&services, &settings)
        });
        tracing::info!(
            bind = %settings.server.bind,
            port,
            database = %settings.database.url,
            workers = settings.user_data.workers,
            "udd is serving; stop with Ctrl-C"
        );
        let served = server.await;
        if let Some(workers) = workers {
            workers.shutdown();
        }
        served?;
        Ok::<_, anyhow::Error>(())
    })?;
    tracing::info!("udd stopped");
    Ok(())
}

/// `udd worker`: export workers, mail and retention, without HTTP, until SIGINT or
/// SIGTERM.
pub(crate) fn work(settings: &Settings) -> anyhow::Result<()> {
    anyhow::ensure!(
        settings.user_data.workers > 0,
        "udd worker runs export workers: user_data.workers must be at least 1"
    );
    start_up_checks(settings)?;
    let services = Services::build(settings)?;
    crate::storage_check::warn_in_background(settings, &services);
    let workers = Workers::start(&services, settings);
    actix_web::rt::System::new().block_on(wait_for_signal())?;
    workers.shutdown();
    Ok(())
}

/// Waits for SIGINT or SIGTERM.
async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("stopping");
    Ok(())
}
