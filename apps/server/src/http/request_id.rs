//! Request correlation: the id of the request being handled, which appears in its log lines,
//! in the `X-Request-Id` response header and in error bodies. [`super::request_log`] assigns it.

use std::future::Future;

use actix_web::dev::ServiceRequest;
use actix_web::http::header::HeaderName;

/// The request and response header that carries the id.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest id accepted from a client.
const MAX_LEN: usize = 64;

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request being handled on this task, if any.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

/// An id from a client (a load balancer, another service) is kept only if it is 1 to 64
/// characters of `[A-Za-z0-9._-]`: anything else could carry log-forging or header-splitting
/// payloads, and is replaced by a fresh id.
pub fn is_acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The client's id when acceptable, else a fresh random one.
pub(crate) fn choose(req: &ServiceRequest) -> String {
    req.headers()
        .get(&HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_acceptable(id))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// Runs `work` with `id` as the current request id.
pub(crate) async fn scope<F: Future>(id: String, work: F) -> F::Output {
    CURRENT.scope(id, work).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_ids_and_rejects_anything_that_could_inject() {
        for ok in ["abc", "0f8fad5b-d9cb-469f-a165-70867728950e", "a.b_c-D", &"x".repeat(64)] {
            assert!(is_acceptable(ok), "{ok:?}");
        }
        for bad in ["", "a b", "a\nb", "a\r\nX-Evil: 1", "<script>", "é", "a/b", &"x".repeat(65)] {
            assert!(!is_acceptable(bad), "{bad:?}");
        }
    }
}
