//! `server migrate`: the pending database migrations, applied as a release step.

use anyhow::Context;
use sec_config::Settings;

use crate::db::Db;

/// Applies every pending migration and logs which.
pub fn run(settings: &Settings) -> anyhow::Result<()> {
    let db = Db::for_command(settings.database()).context("cannot open the database")?;
    let report = db.migrate().context("migrations failed")?;
    if report.applied.is_empty() {
        tracing::info!(database = %db.describe(), "schema is up to date; nothing to apply");
    } else {
        tracing::info!(database = %db.describe(), applied = ?report.applied, "migrations applied");
    }
    Ok(())
}
