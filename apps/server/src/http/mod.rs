//! The HTTP layer between the socket and the routes: the middleware every request passes, the
//! one error type handlers return and the JSON body of every error response, and the readers of
//! request facts (client address, cookies) that each have one resolver.
//!
//! This module knows nothing of routes, accounts or the database schema: `routes/` and
//! `auth/` build on it, never the other way round.
//!
//! Below the middleware, `HttpServer::on_connect` counts each connection against the per-address
//! cap ([`limits::ConnectionCap`]) and closes those over it.
//!
//! Middleware, outermost first (each request passes them in this order, each response in the
//! reverse one):
//!
//! 0. client address: resolved once ([`client_ip`]) and stored in the request for every
//!    layer and handler below (rate limits, login throttle, sessions, audit);
//! 1. security headers ([`security_headers`]): every response leaves with them, errors of the
//!    layers below included;
//!    then, for a browser's navigation only, the error pages of `routes::pages::errors` (the
//!    one layer from `routes/` in this stack: it turns the JSON error of any layer below into
//!    a page, or a redirect to the sign-in or confirmation page);
//! 2. request id and log ([`request_log`], [`request_id`]): the id, the request's log span and
//!    line, JSON bodies ([`error`]) for actix's errors;
//! 3. request-target cap (414, [`limits`]);
//! 4. HTTPS redirect (only on the `tls.redirect_http_bind` listener, [`tls`]);
//! 5. body read deadline (408 `request_timeout` when the body does not arrive in time);
//! 6. rate limits, general then `/api/v1/auth/*` or `/csp-report` (429, [`rate_limit`]);
//! 7. CORS ([`cors`]; preflights are answered here; an answer that grants no origin loses every
//!    `Access-Control-*` header);
//! 8. CSRF ([`csrf`]; 403 for cross-site state changes with the session cookie);
//! 9. catch-panic (500, [`catch_panic`]);
//! 10. session cookies ([`crate::auth::session_cookies`]; a reissued or cleared cookie, `no-store` when authenticated), then the
//!     routes.

pub(crate) mod body_error;
pub mod catch_panic;
pub mod client_ip;
pub mod cookies;
pub mod cors;
pub mod csrf;
pub mod error;
pub mod limits;
pub mod rate_limit;
pub mod request_id;
pub mod request_log;
pub mod security_headers;
pub mod tls;
