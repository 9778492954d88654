//! Housekeeping: expired sessions, MFA steps and enrollments and stale throttle counters are
//! deleted (and nothing still in force is), two runs at once share the work without errors or
//! double counting, and the app starts the periodic task itself.

use std::time::Duration;

use diesel::prelude::*;
use sec_auth::AuthConfig;
use server::db::schema::{
    audit_heads, login_throttle, mail_outbox, mfa_challenges, mfa_totp_pending, sessions,
};
use server::housekeeping::{AUDIT_HEAD_RETENTION_SECS, FAILED_MAIL_RETENTION_SECS, Swept, sweep};

use crate::accounts::{
    PASSWORD, client_from, login, login_from, manual_clock, register, signed_in,
};
use crate::helpers::{Backend, TestApp, cases, spawn_app_with_env};

cases![
    expired_rows_are_deleted_and_rows_in_force_are_kept,
    two_runs_at_once_share_the_work_without_errors_or_double_counting,
    the_app_starts_the_periodic_housekeeping,
];

/// The periodic task out of the way (a day between runs), so that the cases that call
/// [`sweep`] themselves see every deletion.
const QUIET: &[(&str, &str)] = &[("APP__AUTH__HOUSEKEEPING_INTERVAL_SECS", "86400")];

const WRONG: &str = "definitely-not-the-password-000";

/// The rules of the test servers: the defaults (idle 30 min, absolute 12 h, counters
/// forgotten after 24 h).
fn config() -> AuthConfig {
    AuthConfig::default()
}

fn count(app: &TestApp) -> (i64, i64, i64, i64) {
    app.db
        .run_blocking(|conn| {
            Ok((
                sessions::table.count().get_result(conn)?,
                mfa_challenges::table.count().get_result(conn)?,
                mfa_totp_pending::table.count().get_result(conn)?,
                login_throttle::table.count().get_result(conn)?,
            ))
        })
        .unwrap()
}

fn add_mfa_rows(app: &TestApp, user_id: &str, n: usize) {
    let now = app.now();
    let user = user_id.to_owned();
    app.db
        .run_blocking(move |conn| {
            for i in 0..n {
                diesel::insert_into(mfa_challenges::table)
                    .values((
                        mfa_challenges::id.eq(uuid::Uuid::new_v4().to_string()),
                        mfa_challenges::user_id.eq(&user),
                        mfa_challenges::token_hash.eq(format!("{i:064x}{}", uuid::Uuid::new_v4())),
                        mfa_challenges::created_at.eq(now),
                        mfa_challenges::expires_at.eq(now + 300),
                    ))
                    .execute(conn)?;
            }
            diesel::insert_into(mfa_totp_pending::table)
                .values((
                    mfa_totp_pending::user_id.eq(&user),
                    mfa_totp_pending::secret_sealed.eq("sealed"),
                    mfa_totp_pending::created_at.eq(now),
                    mfa_totp_pending::expires_at.eq(now + 600),
                ))
                .execute(conn)?;
            Ok(())
        })
        .unwrap();
}

async fn expired_rows_are_deleted_and_rows_in_force_are_kept(backend: Backend) {
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_env(backend, overrides, QUIET).await;
    let url = app.url("/api/v1/auth/login");
    let (alice_id, _) = signed_in(&app, "alice").await;
    login(&app, "alice").await;
    login(&app, "alice").await;
    add_mfa_rows(&app, &alice_id, 3);
    // Names no account has, each tried from its own address: two counters per name.
    for n in 0..5 {
        let r = login_from(
            &client_from(&format!("127.0.0.{}", 10 + n)),
            &url,
            &format!("ghost{n}"),
            WRONG,
            None,
        )
        .await;
        assert_eq!(r.status().as_u16(), 401);
    }
    let before = count(&app);
    assert_eq!(
        before,
        (3, 3, 1, 2 + 10),
        "alice's two counters (one a known address) and the ghosts'"
    );

    // Audit chain heads of two other trails: one silent for longer than the retention
    // once the day below has passed, one not.
    let now = app.now();
    app.db
        .run_blocking(|conn| {
            for (trail, updated_at) in [
                ("gone-pod", now - AUDIT_HEAD_RETENTION_SECS),
                ("recent-pod", now - AUDIT_HEAD_RETENTION_SECS + 30 * 3600),
            ] {
                diesel::insert_into(audit_heads::table)
                    .values((
                        audit_heads::trail.eq(trail),
                        audit_heads::seq.eq(7),
                        audit_heads::hash.eq("00"),
                        audit_heads::updated_at.eq(updated_at),
                    ))
                    .execute(conn)?;
            }
            // Mail the outbox gave up on: once long enough ago for the retention to have run
            // out after the day below, once not.
            for (id, failed_at) in
                [("given-up-long-ago", now - FAILED_MAIL_RETENTION_SECS), ("given-up-lately", now)]
            {
                diesel::insert_into(mail_outbox::table)
                    .values((
                        mail_outbox::id.eq(id),
                        mail_outbox::payload.eq("sealed:x"),
                        mail_outbox::created_at.eq(failed_at),
                        mail_outbox::attempts.eq(10_i64),
                        mail_outbox::next_attempt_at.eq(failed_at),
                        mail_outbox::failed_at.eq(Some(failed_at)),
                    ))
                    .execute(conn)?;
            }
            Ok(())
        })
        .unwrap();

    // A day and a bit later, everything above has expired or decayed, except that alice's
    // address is known. Then new rows in force: bob's session, a fresh failure.
    clock.advance(Duration::from_secs(25 * 3600));
    signed_in(&app, "bob").await;
    let r = login_from(&client_from("127.0.0.50"), &url, "ghost-fresh", WRONG, None).await;
    assert_eq!(r.status().as_u16(), 401);
    let swept = sweep(&app.db, &config(), app.now(), 2).unwrap();
    assert_eq!(
        swept,
        Swept {
            sessions: 3,
            mfa_challenges: 3,
            totp_enrollments: 1,
            throttle_counters: 11,
            audit_heads: 1,
            // alice's verification link; bob's, a day younger, is in force.
            account_tokens: 1,
            failed_mail: 1,
        },
        "every expired row, in batches of two"
    );
    let heads: Vec<String> = app
        .db
        .run_blocking(|conn| Ok(audit_heads::table.select(audit_heads::trail).load(conn)?))
        .unwrap();
    assert!(heads.contains(&"recent-pod".to_owned()), "{heads:?}");
    assert!(!heads.contains(&"gone-pod".to_owned()), "{heads:?}");
    // Left: bob's session; alice's known address; bob's two counters; ghost-fresh's two.
    assert_eq!(count(&app), (1, 0, 0, 5));
    let kept: Vec<(String, String)> = app
        .db
        .run_blocking(|conn| {
            Ok(login_throttle::table
                .select((login_throttle::subject, login_throttle::ip))
                .order((login_throttle::subject, login_throttle::ip))
                .load(conn)?)
        })
        .unwrap();
    assert!(kept.contains(&(format!("user:{alice_id}"), "127.0.0.1".to_owned())), "{kept:?}");
    assert!(kept.contains(&("name:ghost-fresh".to_owned(), String::new())), "{kept:?}");

    // The fresh failure is still in force: a second run deletes nothing, and it still
    // counts (four more and ghost-fresh's address backs off).
    assert_eq!(sweep(&app.db, &config(), app.now(), 2).unwrap(), Swept::default());
    for _ in 0..4 {
        login_from(&client_from("127.0.0.50"), &url, "ghost-fresh", WRONG, None).await;
    }
    let r = login_from(&client_from("127.0.0.50"), &url, "ghost-fresh", PASSWORD, None).await;
    assert_eq!(r.status().as_u16(), 429);
}

async fn two_runs_at_once_share_the_work_without_errors_or_double_counting(backend: Backend) {
    let (_clock, overrides) = manual_clock();
    let app = spawn_app_with_env(backend, overrides, QUIET).await;
    let user = register(&app, "carol").await;
    // 300 sessions that ran out long ago.
    let long_ago = app.now() - 30 * 86_400;
    app.db
        .run_blocking(move |conn| {
            for i in 0..300 {
                diesel::insert_into(sessions::table)
                    .values((
                        sessions::id.eq(uuid::Uuid::new_v4().to_string()),
                        sessions::user_id.eq(&user),
                        sessions::token_hash.eq(format!("{i:064x}")),
                        sessions::created_at.eq(long_ago),
                        sessions::last_seen_at.eq(long_ago),
                        sessions::authenticated_at.eq(long_ago),
                        sessions::aal.eq(1_i64),
                        sessions::privilege_epoch.eq(0_i64),
                    ))
                    .execute(conn)?;
            }
            Ok(())
        })
        .unwrap();
    let now = app.now();
    let (a, b) = std::thread::scope(|s| {
        let one = s.spawn(|| sweep(&app.db, &config(), now, 7));
        let two = s.spawn(|| sweep(&app.db, &config(), now, 7));
        (one.join().unwrap(), two.join().unwrap())
    });
    let (a, b) = (a.expect("first run"), b.expect("second run"));
    assert_eq!(a.sessions + b.sessions, 300, "each row deleted and counted once: {a:?} {b:?}");
    assert_eq!(count(&app).0, 0);
}

async fn the_app_starts_the_periodic_housekeeping(backend: Backend) {
    let (clock, overrides) = manual_clock();
    let app =
        spawn_app_with_env(backend, overrides, &[("APP__AUTH__HOUSEKEEPING_INTERVAL_SECS", "1")])
            .await;
    signed_in(&app, "dave").await;
    assert_eq!(count(&app).0, 1);
    clock.advance(Duration::from_secs(13 * 3600));
    // Nothing here calls housekeeping: only the app's own task can delete the session. Poll
    // for the outcome (the task runs every real second), giving up after a generous bound.
    for _ in 0..300 {
        if count(&app).0 == 0 {
            return;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the expired session was not deleted: no housekeeping task is running");
}
