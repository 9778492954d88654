//! Request and connection limits: what a client may make the server hold, and for how long.
//!
//! | limit | where | default | answer |
//! | --- | --- | --- | --- |
//! | JSON, form and raw body size | extractor configs in `startup.rs` | 64 KiB | 413 `payload_too_large` |
//! | request target (path + query) | [`middleware`] | `limits.max_url_bytes` = 8 KiB | 414 `uri_too_long` |
//! | request head (line + headers) | actix-http, fixed | 96 headers, 128 KiB | 431, empty body |
//! | time to send the first request head | `limits.client_request_timeout_ms` | 5 s | 408, then close (slow-loris) |
//! | time to send a request body, after its head | [`body_deadline`], `limits.body_read_timeout_ms` | 10 s | 408 `request_timeout`, then close |
//! | open connections per client address (TCP peer, IPv6 /64; trusted proxies exempt) | [`ConnectionCap`], `limits.max_connections_per_address` | 256 | close at once |
//! | idle keep-alive connection | `limits.keep_alive_secs` | 5 s | close |
//! | connection shutdown | `limits.client_disconnect_timeout_ms` | 1 s | drop |
//! | open connections per worker | `limits.max_connections` | 25 000 | stop accepting until one closes |
//! | TLS handshakes in progress per worker | `limits.max_connection_rate` | 256 | stop accepting until one ends |
//! | TLS handshake | actix-tls, fixed | 3 s | close |
//!
//! actix-http does not let an application lower its head limits; the request target is the
//! part of the head that ends up in logs and in downstream calls, so it gets a cap of its own.

use std::any::Any;
use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Shutdown};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_tls::accept::rustls_0_23::TlsStream;
use actix_web::HttpMessage;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Extensions, Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{ConnectionType, KeepAlive};
use actix_web::middleware::Next;
use actix_web::rt::net::TcpStream;
use actix_web::rt::time::Sleep;
use actix_web::web::{self, Bytes};
use futures_util::Stream;
use sec_config::{LimitsSettings, Settings, TrustedProxies};
use socket2::SockRef;

use crate::http::client_ip::rate_limit_key;
use crate::http::error::{AppError, ErrorCode};

/// The request-target cap, registered as `web::Data<MaxUrlBytes>`.
#[derive(Debug, Clone, Copy)]
pub struct MaxUrlBytes(pub usize);

/// Middleware: 414 `uri_too_long` when the request target is longer than the cap.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let max = req.app_data::<web::Data<MaxUrlBytes>>().map(|m| m.0);
    let len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    match max {
        Some(max) if len > max => Ok(req.error_response(AppError::with_cause(
            ErrorCode::UriTooLong,
            format!("request target of {len} bytes, more than {max}"),
        ))),
        _ => next.call(req).await.map(ServiceResponse::map_into_boxed_body),
    }
}

/// The keep-alive setting in actix's terms.
pub fn keep_alive(limits: &LimitsSettings) -> KeepAlive {
    match limits.keep_alive() {
        Some(d) => KeepAlive::Timeout(d),
        None => KeepAlive::Disabled,
    }
}

/// The body read deadline (`limits.body_read_timeout_ms`), registered as
/// `web::Data<BodyReadTimeout>`.
#[derive(Debug, Clone, Copy)]
pub struct BodyReadTimeout(pub Duration);

/// Middleware: gives the request's body [`BodyReadTimeout`] to arrive, counted from here (the
/// head has been read). When a handler or extractor is still waiting for it then, its read
/// fails, and whatever the handler made of that failure, the answer is 408 `request_timeout`
/// and the connection is closed: a client trickling a body holds a worker's attention for a
/// bounded time only. A body that is never read costs nothing here.
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(limit) = req.app_data::<web::Data<BodyReadTimeout>>().map(|t| t.0) else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let expired = Rc::new(Cell::new(false));
    let inner = req.take_payload();
    let timer = Box::pin(actix_web::rt::time::sleep(limit));
    req.set_payload(Payload::Stream {
        payload: Box::pin(DeadlinePayload { inner, timer, expired: expired.clone() }),
    });
    let result = next.call(req).await;
    if !expired.get() {
        return result.map(ServiceResponse::map_into_boxed_body);
    }
    let error = AppError::with_cause(
        ErrorCode::RequestTimeout,
        format!("request body not received within {} ms", limit.as_millis()),
    );
    match result {
        Ok(res) => {
            let mut res = res.error_response(error);
            // The rest of the body may still be on its way: the connection cannot carry
            // another request.
            res.response_mut().head_mut().set_connection_type(ConnectionType::Close);
            Ok(res)
        }
        // An inner layer failed instead of answering: the error still says what happened.
        Err(_) => Err(error.into()),
    }
}

/// A request body that fails with a timed-out read once its deadline has passed while the
/// reader waits for more.
struct DeadlinePayload {
    inner: Payload,
    timer: Pin<Box<Sleep>>,
    expired: Rc<Cell<bool>>,
}

impl Stream for DeadlinePayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.expired.get() {
            return Poll::Ready(None);
        }
        // What has arrived is delivered, even after the deadline: only waiting is cut short.
        if let Poll::Ready(item) = Pin::new(&mut this.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        if this.timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        this.expired.set(true);
        Poll::Ready(Some(Err(PayloadError::Io(io::Error::new(
            io::ErrorKind::TimedOut,
            "request body not received in time",
        )))))
    }
}

/// The per-address connection cap (`limits.max_connections_per_address`), shared by every
/// worker; its [`ConnectionCap::on_connect`] goes to `HttpServer::on_connect`.
///
/// The address is the TCP peer (IPv6 by /64, as the rate limits key it): a connection exists
/// before any request on it, so no forwarding header can be read yet. Connections from
/// `server.trusted_proxies` are not counted: a proxy carries every client over its own
/// connections, and capping it would cap the whole site; the proxy limits connections per
/// client itself (nginx `limit_conn`, an ingress controller's connection limit), and the body
/// deadline and request limits still apply to every request it forwards.
#[derive(Debug, Clone)]
pub struct ConnectionCap {
    per_address: usize,
    exempt: TrustedProxies,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One counted connection: released when the connection's data is dropped, i.e. when the
/// connection has ended.
#[derive(Debug)]
struct ConnectionSlot {
    key: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

impl ConnectionCap {
    /// From `limits.max_connections_per_address` and `server.trusted_proxies`.
    pub fn from_settings(settings: &Settings) -> Self {
        Self::new(
            settings.limits().max_connections_per_address(),
            settings.server().trusted_proxies().clone(),
        )
    }

    fn new(per_address: usize, exempt: TrustedProxies) -> Self {
        Self { per_address, exempt, open: Arc::default() }
    }

    /// For `HttpServer::on_connect`: counts the new connection against its peer address, or,
    /// when that address already holds the cap, shuts the connection down before it is read.
    pub fn on_connect(&self, connection: &dyn Any, data: &mut Extensions) {
        let Some(tcp) = tcp_stream(connection) else { return };
        let Ok(peer) = tcp.peer_addr() else { return };
        let ip = peer.ip().to_canonical();
        if self.exempt.contains(ip) {
            return;
        }
        match self.admit(ip) {
            Some(slot) => {
                data.insert(slot);
            }
            None => {
                tracing::debug!(peer = %ip, "connection refused: limits.max_connections_per_address");
                // The dispatcher then reads end-of-stream and drops the connection.
                let _ = SockRef::from(tcp).shutdown(Shutdown::Both);
            }
        }
    }

    /// A slot for one more connection from `ip`, or `None` at the cap.
    fn admit(&self, ip: IpAddr) -> Option<ConnectionSlot> {
        let key = rate_limit_key(ip);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(key).or_insert(0);
        if *n >= self.per_address {
            return None;
        }
        *n += 1;
        Some(ConnectionSlot { key, open: self.open.clone() })
    }
}

/// The TCP stream under a connection as `HttpServer::on_connect` hands it over: plain, or
/// under rustls.
fn tcp_stream(connection: &dyn Any) -> Option<&TcpStream> {
    connection.downcast_ref::<TcpStream>().or_else(|| {
        connection.downcast_ref::<TlsStream<TcpStream>>().map(|tls| (**tls).get_ref().0)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_cap_counts_per_address_and_an_ended_connection_frees_its_slot() {
        let cap = ConnectionCap::new(2, TrustedProxies::default());
        let first = cap.admit(ip("192.0.2.1")).unwrap();
        let second = cap.admit(ip("192.0.2.1")).unwrap();
        assert!(cap.admit(ip("192.0.2.1")).is_none(), "the third from one address");
        assert!(cap.admit(ip("192.0.2.2")).is_some(), "another address is not affected");
        drop(first);
        let third = cap.admit(ip("192.0.2.1")).unwrap();
        drop((second, third));
        assert!(cap.open.lock().unwrap().is_empty(), "no entry outlives its connections");
    }

    #[test]
    fn an_ipv6_host_counts_as_its_64() {
        let cap = ConnectionCap::new(1, TrustedProxies::default());
        let _held = cap.admit(ip("2001:db8:1:2::1")).unwrap();
        assert!(cap.admit(ip("2001:db8:1:2::ffff")).is_none());
        assert!(cap.admit(ip("2001:db8:1:3::1")).is_some());
    }
}
