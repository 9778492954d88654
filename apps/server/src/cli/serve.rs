//! `server [serve]`: the HTTP server until a signal stops it.

use anyhow::Context;
use sec_config::Settings;

use crate::startup::Application;

/// Builds the application, serves until SIGINT or SIGTERM, and stops gracefully.
pub fn run(settings: &Settings) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(serve(settings))
}

async fn serve(settings: &Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await.context("cannot start the server")?;
    tracing::info!(
        "listening on {} ({}), database: {}",
        app.url(),
        settings.env(),
        app.db().describe(),
    );
    app.stop_on_signals();
    app.run_until_stopped().await.context("server stopped with an error")?;
    tracing::info!("server stopped");
    Ok(())
}
