//! The database layer on both backends: migrations, the users repository, unique
//! constraints, atomic transactions.

use diesel::Connection;
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
