//! The hashing pool through the API: once every hashing thread is busy and the queue is full,
//! a login (known or unknown account) and a registration answer 503 `busy` with
//! `Retry-After` at once, instead of waiting on a blocking thread; they work again as soon as a
//! thread is free.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::json;
use server::auth::AuthOverrides;

use crate::accounts::{PASSWORD, login_request, register};
use crate::helpers::{Backend, assert_error, cases, spawn_app_with_overrides};
use sec_auth::PooledHasher;
use sec_core::{HashParams, HashingPool, PasswordHasher};

cases![a_saturated_hashing_pool_answers_busy_with_retry_after_at_once];

async fn a_saturated_hashing_pool_answers_busy_with_retry_after_at_once(backend: Backend) {
    // One hashing thread and no queue: one job in the pool saturates it. The wait is long, so
    // a 503 can only come from the full pool, not from a wait running out.
    let pool = HashingPool::with_queue(
        PasswordHasher::new(HashParams::OWASP_MINIMUM, None),
        NonZeroUsize::MIN,
        0,
    );
    let hasher = Arc::new(PooledHasher::new(pool.clone(), Duration::from_secs(600)));
    let overrides = AuthOverrides { hasher: Some(hasher), ..AuthOverrides::default() };
    let app = spawn_app_with_overrides(backend, overrides).await;
    register(&app, "olga").await;

    // Hold the only hashing thread with a job of our own until `release` is dropped.
    let (release, released) = mpsc::channel::<()>();
    let holder = {
        let pool = pool.clone();
        std::thread::spawn(move || {
            pool.run(Duration::from_secs(600), move |_| {
                let _ = released.recv();
            })
        })
    };
    while pool.running() == 0 {
        tokio::task::yield_now().await;
    }

    let registration = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .json(&json!({
            "username": "pavel",
            "email": "pavel@example.test",
            "password": PASSWORD,
        }))
        .send()
        .await
        .unwrap();
    for (what, response) in [
        ("login", login_request(&app, "olga", PASSWORD).await),
        ("login of an unknown account", login_request(&app, "nobody", PASSWORD).await),
        ("registration", registration),
    ] {
        assert_eq!(
            response.headers().get("retry-after").and_then(|v| v.to_str().ok()),
            Some("1"),
            "{what}"
        );
        assert_error(response, 503, "busy").await;
    }
    assert_eq!(pool.queued(), 0, "a refused request left a job behind");

    drop(release);
    holder.join().unwrap().unwrap();
    assert_eq!(login_request(&app, "olga", PASSWORD).await.status().as_u16(), 200);
    register(&app, "pavel").await;
}
