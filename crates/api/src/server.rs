//! The HTTP server.

use std::net::TcpListener;

use actix_web::body::MessageBody;
use actix_web::dev::Service;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder, TracingLogger};

use crate::dto::WirePaths;
use crate::proxy::{SitePath, TrustedProxies};
use crate::routes;
use crate::services::Services;
use crate::settings::Settings;
use crate::throttle::Throttles;

/// The span every request's log lines carry: method, path (never the query string,
/// which holds the download links' tokens), and the client's address and scheme as the
/// trusted proxies report them.
struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let client = TrustedProxies::client_of_request(request.request());
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.path = %request.path(),
            http.client_ip = %client.address(),
            http.scheme = client.scheme,
            http.status_code = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// A bound, not yet running, HTTP server.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Binds `server.bind` (port 0 picks a free port) and prepares the server. It does
    /// not listen to signals itself: [`Application::run_until_signalled`] does.
    pub fn build(settings: &Settings, services: Services) -> anyhow::Result<Self> {
        let bind = &settings.server.bind;
        let listener = TcpListener::bind(bind).with_context(|| format!("binding {bind}"))?;
        let port = listener
            .local_addr()
            .context("reading the bound address")?
            .port();
        let throttles = web::Data::new(Throttles::new(settings, services.clock.clone()));
        let services = web::Data::new(services);
        let paths = web::Data::new(WirePaths::from_settings(settings));
        let proxies = web::Data::new(settings.server.proxies()?);
        let site_path = SitePath::new(&settings.server.site_path()?);
        let site = web::Data::new(crate::page::Site::from_settings(settings));
        let mut server = HttpServer::new(move || {
            let site_path = site_path.clone();
            App::new()
                // Registered first, so it runs last: the span sees the path as sent.
                .wrap_fn(move |mut req, service| {
                    site_path.unprefix(&mut req);
                    service.call(req)
                })
                .wrap(TracingLogger::<RequestSpan>::new())
                .app_data(services.clone())
                .app_data(paths.clone())
                .app_data(throttles.clone())
                .app_data(proxies.clone())
                .app_data(site.clone())
                .configure(routes::configure)
        })
        .disable_signals()
        .shutdown_timeout(30);
        if let Some(workers) = settings.server.http_workers {
            server = server.workers(workers.max(1));
        }
        let server = server.listen(listener).context("listening")?.run();
        Ok(Self { port, server })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the server is stopped through its handle or dropped.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    /// Serves until SIGINT or SIGTERM, then stops gracefully: in-flight requests get
    /// up to 30 seconds. The signal handlers are installed before this returns its
    /// future, so a signal that arrives at any point after the call is honoured.
    pub fn run_until_signalled(
        self,
    ) -> anyhow::Result<impl std::future::Future<Output = std::io::Result<()>>> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
        let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        let handle = self.server.handle();
        actix_web::rt::spawn(async move {
            let name = tokio::select! {
                _ = interrupt.recv() => "SIGINT",
                _ = terminate.recv() => "SIGTERM",
            };
            tracing::info!(signal = name, "stopping gracefully");
            handle.stop(true).await;
        });
        Ok(self.server)
    }
}
