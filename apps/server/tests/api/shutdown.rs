//! Graceful shutdown: a stop lets requests already being handled finish, and no new ones in.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use tokio::sync::Notify;

use crate::helpers::{Backend, cases, spawn_app_with};

cases![a_graceful_stop_finishes_the_request_in_flight];

async fn a_graceful_stop_finishes_the_request_in_flight(backend: Backend) {
    let entered = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let (entered_h, release_h) = (entered.clone(), release.clone());
    let app = spawn_app_with(backend, move |cfg| {
        let (entered, release) = (entered_h.clone(), release_h.clone());
        cfg.route(
            "/test/wait",
            web::get().to(move || {
                let (entered, release) = (entered.clone(), release.clone());
                async move {
                    entered.notify_one();
                    release.notified().await;
                    HttpResponse::Ok().body("finished")
                }
            }),
        );
    })
    .await;

    let in_flight = {
        let request = app.client.get(app.url("/test/wait")).send();
        actix_web::rt::spawn(async move { request.await.map(|r| r.status().as_u16()) })
    };
    entered.notified().await;

    // What SIGTERM/SIGINT trigger in the binary (see `Application::stop_on_signals`).
    let stopping = actix_web::rt::spawn(app.handle.stop(true));
    release.notify_one();

    let status = in_flight.await.unwrap().expect("the in-flight request got an answer");
    assert_eq!(status, 200);
    stopping.await.unwrap();

    let after = app.client.get(app.url("/healthz")).send().await;
    assert!(after.is_err(), "a stopped server accepts no new requests");
}
