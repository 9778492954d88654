//! The baseline of `scripts/bench-http.sh`: actix-web with nothing of ours (no middleware, no
//! database, no logging), answering `GET /` with a short JSON body. Authenticated requests to
//! the real server are measured against it.
//!
//! `cargo run --release -p server --example bare_hello -- 127.0.0.1:18099 2`

use actix_web::{App, HttpResponse, HttpServer, web};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let bind = args.next().unwrap_or_else(|| "127.0.0.1:18099".to_owned());
    let workers = args.next().and_then(|w| w.parse().ok()).unwrap_or(2);
    HttpServer::new(|| {
        App::new().route(
            "/",
            web::get()
                .to(|| async { HttpResponse::Ok().json(serde_json::json!({"hello": "world"})) }),
        )
    })
    .workers(workers)
    .bind(bind)?
    .run()
    .await
}
