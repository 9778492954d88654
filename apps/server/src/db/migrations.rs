//! Migrations embedded in the binary: one tree, `apps/server/migrations/`, in SQL that SQLite
//! and PostgreSQL both run to the same schema (`tests/api/database.rs` applies it to each and
//! compares what they built). See `docs/database.md` for writing one, and for the way out when a
//! change cannot be said in portable SQL.

use diesel::connection::SimpleConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::{DbConnection, DbError};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// An arbitrary, fixed key for `pg_advisory_lock`: replicas that start together take turns
/// instead of racing to create the same tables.
const PG_MIGRATION_LOCK: i64 = 0x5ec_5e2e_0001;

/// What a migration run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions applied by this run, oldest first; empty when the schema was current.
    pub applied: Vec<String>,
}

pub(super) fn run_pending(conn: &mut DbConnection) -> Result<MigrationReport, DbError> {
    let applied = match conn {
        DbConnection::Sqlite(c) => {
            // An immediate transaction takes SQLite's write lock before the pending list is
            // read, so processes migrating at once take turns (waiting up to busy_timeout)
            // instead of both applying the same migration; diesel nests each migration's own
            // transaction as a savepoint inside it.
            let mut outcome = None;
            let locked = c.immediate_transaction::<_, diesel::result::Error, _>(|c| {
                let result = c.run_pending_migrations(MIGRATIONS).map(versions);
                let failed = result.is_err();
                outcome = Some(result);
                if failed { Err(diesel::result::Error::RollbackTransaction) } else { Ok(()) }
            });
            match (locked, outcome) {
                (_, Some(result)) => result,
                (Err(e), None) => Err(e.into()),
                (Ok(()), None) => Ok(Vec::new()),
            }
        }
        DbConnection::Postgres(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({PG_MIGRATION_LOCK})"))?;
            let result = c.run_pending_migrations(MIGRATIONS).map(versions);
            // Released even when a migration failed; the session ending would release it too.
            c.batch_execute(&format!("SELECT pg_advisory_unlock({PG_MIGRATION_LOCK})"))?;
            result
        }
    };
    applied
        .map(|applied| MigrationReport { applied })
        .map_err(|e| DbError::Migration(e.to_string()))
}

fn versions(list: Vec<diesel::migration::MigrationVersion<'_>>) -> Vec<String> {
    list.into_iter().map(|v| v.to_string()).collect()
}
