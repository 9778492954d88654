//! The database layer on both backends: migrations, the users repository, unique
//! constraints, atomic transactions.

use std::collections::BTreeSet;

use diesel::{Connection, QueryableByName, RunQueryDsl};
use server::db::DbConnection;
use server::db::users::{self, NewUser};
use server::db::{Db, DbError};

use crate::helpers::{Backend, Case, TestDatabase, spawn_app, test_settings};

pub fn cases() -> Vec<Case> {
    macro_rules! both {
        ($($name:ident),* $(,)?) => {
            vec![$(Case::both(stringify!($name), |b| Box::pin($name(b)))),*]
        };
    }
    let mut all = both![
        migrations_are_applied_at_start_and_a_second_run_applies_nothing,
        two_processes_migrating_at_once_both_succeed,
        a_user_round_trips_through_the_repository,
        a_taken_username_is_a_conflict_and_writes_nothing,
        a_taken_email_is_a_conflict_and_writes_nothing,
        a_failed_transaction_leaves_no_partial_write,
        a_password_hash_never_shows_in_debug_output,
    ];
    // Needs both backends at once; listed under PostgreSQL, the one that may be absent.
    all.push(Case::only(
        Backend::Postgres,
        "the_one_migration_tree_builds_the_same_schema_on_both_backends",
        |_| Box::pin(the_one_migration_tree_builds_the_same_schema_on_both_backends()),
    ));
    // Only SQLite keeps the data in files of the server's own making.
    #[cfg(unix)]
    all.push(Case::only(
        Backend::Sqlite,
        "the_sqlite_database_wal_and_shm_files_are_owner_only",
        |b| Box::pin(the_sqlite_database_wal_and_shm_files_are_owner_only(b)),
    ));
    all
}

fn new_user<'a>(id: &'a str, name: &'a str, email: &'a str) -> NewUser<'a> {
    NewUser {
        id,
        username: name,
        username_canonical: name,
        email,
        email_canonical: email,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaA",
        created_at: 1_764_400_000,
        updated_at: 1_764_400_000,
        email_verified_at: None,
    }
}

async fn migrations_are_applied_at_start_and_a_second_run_applies_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let db = app.db.clone();
    let report = tokio::task::spawn_blocking(move || db.migrate()).await.unwrap().unwrap();
    assert!(report.applied.is_empty(), "already applied at start: {report:?}");
    let count = app.db.run(users::count).await.unwrap();
    assert_eq!(count, 0, "the users table exists and is empty");
}

async fn two_processes_migrating_at_once_both_succeed(backend: Backend) {
    // Two replicas starting together against one empty database.
    let database = TestDatabase::create(backend);
    let log_dir = tempfile::tempdir().unwrap();
    let settings = test_settings(&database, log_dir.path().to_path_buf());
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let db = Db::new(settings.database()).unwrap();
            std::thread::spawn(move || db.migrate())
        })
        .collect();
    let mut applied = Vec::new();
    for run in runs {
        applied.extend(run.join().unwrap().unwrap().applied);
    }
    let mut unique = applied.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), applied.len(), "each migration applied exactly once: {applied:?}");
    assert!(applied.len() >= 2, "every migration applied: {applied:?}");
}

async fn a_user_round_trips_through_the_repository(backend: Backend) {
    let app = spawn_app(backend).await;
    let found = app
        .db
        .run(|c| {
            users::insert(c, &new_user("u-1", "ada", "ada@example.org"))?;
            let by_name = users::find_by_username(c, "ada")?;
            let by_email = users::find_by_email(c, "ada@example.org")?;
            let by_id = users::find_by_id(c, "u-1")?;
            let missing = users::find_by_username(c, "grace")?;
            Ok((by_name, by_email, by_id, missing))
        })
        .await
        .unwrap();
    let (by_name, by_email, by_id, missing) = found;
    for row in [by_name, by_email, by_id] {
        let row = row.expect("found");
        assert_eq!((row.id.as_str(), row.username.as_str()), ("u-1", "ada"));
        assert_eq!(row.created_at, 1_764_400_000);
    }
    assert!(missing.is_none());
}

async fn a_taken_username_is_a_conflict_and_writes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (err, count) = app
        .db
        .run(|c| {
            users::insert(c, &new_user("u-1", "ada", "ada@example.org"))?;
            let err = users::insert(c, &new_user("u-2", "ada", "other@example.org")).unwrap_err();
            Ok((err, users::count(c)?))
        })
        .await
        .unwrap();
    assert!(err.is_conflict_on("username_canonical"), "{err:?}");
    assert_eq!(count, 1);
}

async fn a_taken_email_is_a_conflict_and_writes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (err, count) = app
        .db
        .run(|c| {
            users::insert(c, &new_user("u-1", "ada", "ada@example.org"))?;
            let err = users::insert(c, &new_user("u-2", "grace", "ada@example.org")).unwrap_err();
            Ok((err, users::count(c)?))
        })
        .await
        .unwrap();
    assert!(err.is_conflict_on("email_canonical"), "{err:?}");
    assert!(!err.is_conflict_on("username_canonical"), "{err:?}");
    assert_eq!(count, 1);
}

async fn a_failed_transaction_leaves_no_partial_write(backend: Backend) {
    let app = spawn_app(backend).await;
    let (result, count) = app
        .db
        .run(|c| {
            let result = c.transaction::<(), DbError, _>(|tx| {
                users::insert(tx, &new_user("u-1", "ada", "ada@example.org"))?;
                users::insert(tx, &new_user("u-2", "ada", "again@example.org"))
            });
            Ok((result, users::count(c)?))
        })
        .await
        .unwrap();
    assert!(matches!(result, Err(DbError::Conflict { .. })), "{result:?}");
    assert_eq!(count, 0, "the first insert was rolled back with the second");
}

async fn a_password_hash_never_shows_in_debug_output(backend: Backend) {
    let app = spawn_app(backend).await;
    let row = app
        .db
        .run(|c| {
            users::insert(c, &new_user("u-1", "ada", "ada@example.org"))?;
            users::find_by_id(c, "u-1")
        })
        .await
        .unwrap()
        .unwrap();
    let shown = format!("{row:?}");
    assert!(!shown.contains("argon2id"), "{shown}");
    assert!(shown.contains("ada"), "{shown}");
}

#[cfg(unix)]
async fn the_sqlite_database_wal_and_shm_files_are_owner_only(backend: Backend) {
    use std::os::unix::fs::PermissionsExt;

    let app = spawn_app(backend).await;
    // Some writes, so that the write-ahead log and its index are in use.
    for i in 0..3 {
        let (id, name, email) = (format!("u-{i}"), format!("user{i}"), format!("u{i}@example.org"));
        app.db.run(move |c| users::insert(c, &new_user(&id, &name, &email))).await.unwrap();
    }
    let db_file = std::path::PathBuf::from(app.database.url().trim_start_matches("sqlite://"));
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", db_file.display());
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file} is {mode:o}");
    }
}

/// One fact of a schema as a line: a column with its type, nullability and default, a primary
/// key, an index or unique constraint with its columns, or a foreign key with its action.
#[derive(QueryableByName)]
struct SchemaLine {
    #[diesel(sql_type = diesel::sql_types::Text)]
    line: String,
}

const SQLITE_SCHEMA: &str = "
    SELECT 'column ' || m.name || '.' || p.name || ' ' || lower(p.type)
        || CASE WHEN p.\"notnull\" THEN ' not null' ELSE '' END
        || ' default ' || coalesce(lower(p.dflt_value), 'none') AS line
    FROM sqlite_master m JOIN pragma_table_info(m.name) p
    WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '__diesel_schema_migrations'
  UNION ALL
    SELECT 'primary key ' || m.name || ' (' || group_concat(p.name, ',' ORDER BY p.pk) || ')'
    FROM sqlite_master m JOIN pragma_table_info(m.name) p
    WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '__diesel_schema_migrations'
      AND p.pk > 0
    GROUP BY m.name
  UNION ALL
    SELECT CASE WHEN il.\"unique\" THEN 'unique ' ELSE 'index ' END || m.name || ' ('
        || (SELECT group_concat(ii.name, ',' ORDER BY ii.seqno) FROM pragma_index_info(il.name) ii)
        || ')'
    FROM sqlite_master m JOIN pragma_index_list(m.name) il
    WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '__diesel_schema_migrations'
      AND il.origin <> 'pk'
  UNION ALL
    SELECT 'foreign key ' || m.name || ' (' || group_concat(f.\"from\", ',') || ') -> '
        || f.\"table\" || ' (' || group_concat(f.\"to\", ',') || ') on delete '
        || lower(f.on_delete)
    FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f
    WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
    GROUP BY m.name, f.id";

const POSTGRES_SCHEMA: &str = "
    SELECT 'column ' || c.table_name || '.' || c.column_name || ' ' || c.data_type
        || CASE WHEN c.is_nullable = 'NO' THEN ' not null' ELSE '' END
        || ' default ' || coalesce(lower(regexp_replace(c.column_default, '::[a-z ]+$', '')), 'none')
        AS line
    FROM information_schema.columns c
    WHERE c.table_schema = 'public' AND c.table_name <> '__diesel_schema_migrations'
  UNION ALL
    SELECT CASE WHEN i.indisprimary THEN 'primary key ' WHEN i.indisunique THEN 'unique '
                ELSE 'index ' END
        || t.relname || ' ('
        || string_agg(a.attname, ',' ORDER BY array_position(i.indkey::int2[], a.attnum)) || ')'
    FROM pg_index i
    JOIN pg_class t ON t.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY (i.indkey)
    WHERE n.nspname = 'public' AND t.relname <> '__diesel_schema_migrations'
    GROUP BY t.relname, i.indexrelid, i.indisprimary, i.indisunique
  UNION ALL
    SELECT 'foreign key ' || t.relname || ' ('
        || (SELECT string_agg(a.attname, ',' ORDER BY k.ord)
              FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
              JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum) || ') -> '
        || r.relname || ' ('
        || (SELECT string_agg(a.attname, ',' ORDER BY k.ord)
              FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, ord)
              JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum) || ') on delete '
        || CASE c.confdeltype WHEN 'c' THEN 'cascade' WHEN 'n' THEN 'set null'
                WHEN 'd' THEN 'set default' WHEN 'r' THEN 'restrict' ELSE 'no action' END
    FROM pg_constraint c
    JOIN pg_class t ON t.oid = c.conrelid
    JOIN pg_class r ON r.oid = c.confrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE c.contype = 'f' AND n.nspname = 'public'";

/// The schema `db` holds, as lines comparable across the two backends: types as each backend
/// names them (they agree for the types the migrations use), defaults without PostgreSQL's
/// casts, booleans spelled `false`/`true` on both.
fn schema_of(db: &Db) -> BTreeSet<String> {
    let lines = db
        .run_blocking(|c| {
            let rows = match c {
                DbConnection::Sqlite(c) => {
                    diesel::sql_query(SQLITE_SCHEMA).load::<SchemaLine>(c)?
                }
                DbConnection::Postgres(c) => {
                    diesel::sql_query(POSTGRES_SCHEMA).load::<SchemaLine>(c)?
                }
            };
            Ok(rows)
        })
        .expect("read the schema");
    assert!(!lines.is_empty(), "no schema read at all");
    lines.into_iter().map(|l| l.line).collect()
}

async fn the_one_migration_tree_builds_the_same_schema_on_both_backends() {
    let mut schemas = Vec::new();
    let mut databases = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let database = TestDatabase::create(backend);
        let log_dir = tempfile::tempdir().unwrap();
        let settings = test_settings(&database, log_dir.path().to_path_buf());
        let db = Db::new(settings.database()).unwrap();
        let report = db.migrate().unwrap();
        assert!(
            !report.applied.is_empty(),
            "{}: nothing applied to an empty database",
            backend.name()
        );
        schemas.push(schema_of(&db));
        databases.push((database, log_dir, db));
    }
    let (sqlite, postgres) = (&schemas[0], &schemas[1]);
    assert!(
        sqlite.iter().any(|l| l.starts_with("foreign key ") && l.ends_with("on delete cascade")),
        "the comparison sees foreign keys: {sqlite:#?}"
    );
    assert!(sqlite.iter().any(|l| l.starts_with("index ")), "and indexes: {sqlite:#?}");
    let only_sqlite: Vec<_> = sqlite.difference(postgres).collect();
    let only_postgres: Vec<_> = postgres.difference(sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "the backends differ\nonly on SQLite: {only_sqlite:#?}\nonly on PostgreSQL: {only_postgres:#?}"
    );

    // The comparison sees a difference when there is one: a column only one backend has.
    let (_, _, sqlite_db) = &databases[0];
    sqlite_db
        .run_blocking(|c| {
            if let DbConnection::Sqlite(c) = c {
                diesel::sql_query("ALTER TABLE users ADD COLUMN nickname TEXT").execute(c)?;
            }
            Ok(())
        })
        .unwrap();
    let changed = schema_of(sqlite_db);
    assert!(
        changed.difference(postgres).any(|l| l.starts_with("column users.nickname text")),
        "a column on one backend only is seen: {:#?}",
        changed.difference(postgres).collect::<Vec<_>>()
    );
}
