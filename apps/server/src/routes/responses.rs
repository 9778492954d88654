//! What the handlers' OpenAPI attributes share: the answers several operations give for one
//! reason (a component each, with one description), the names of the cookie security schemes,
//! and schema helpers for request bodies. [`crate::openapi`] assembles the document from these
//! and the handlers; nothing here knows a handler.

use serde::Serialize;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{
    AdditionalProperties, KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, RefOr};
use utoipa::{ToResponse, ToSchema};

/// Name of the security scheme of the session cookie, as handlers' `security(...)` cite it.
pub(crate) const SESSION_SCHEME: &str = "session";
/// Name of the security scheme of the pending second-factor cookie.
pub(crate) const MFA_SCHEME: &str = "mfa_pending";

/// How many sessions ended: the answer of the operations that end sessions in bulk.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Revoked {
    /// The number of sessions ended.
    pub(crate) revoked: u64,
}

/// The shared error answers: component name, description, and whether `Retry-After` comes
/// with it.
pub(crate) struct Shared {
    pub(crate) name: &'static str,
    pub(crate) description: &'static str,
    retry_after: bool,
}

pub(crate) const URI_TOO_LONG: Shared = Shared {
    name: "UriTooLong",
    description: "The path and query are longer than `limits.max_url_bytes` (`uri_too_long`).",
    retry_after: false,
};
pub(crate) const RATE_LIMITED: Shared = Shared {
    name: "RateLimited",
    description: "More requests from this client address than `rate_limit.*` allows \
                  (`too_many_requests`); `/api/v1/auth/*` and `/csp-report` have stricter \
                  buckets.",
    retry_after: true,
};
pub(crate) const INTERNAL: Shared = Shared {
    name: "InternalError",
    description: "Unexpected failure (`internal_error`); details are in the log under the \
                  request id.",
    retry_after: false,
};
pub(crate) const CROSS_SITE: Shared = Shared {
    name: "CrossSiteRequest",
    description: "The request carries the session (or pending second-factor) cookie and comes \
                  from another site, or says nothing of where it comes from \
                  (`cross_site_request`).",
    retry_after: false,
};
pub(crate) const INVALID_JSON: Shared = Shared {
    name: "InvalidJson",
    description: "The body is not JSON of this shape (`invalid_json`).",
    retry_after: false,
};
pub(crate) const REQUEST_TIMEOUT: Shared = Shared {
    name: "RequestTimeout",
    description: "The body did not arrive within `limits.body_read_timeout_ms` \
                  (`request_timeout`); the connection is closed.",
    retry_after: false,
};
pub(crate) const PAYLOAD_TOO_LARGE: Shared = Shared {
    name: "PayloadTooLarge",
    description: "The body is over 64 KiB (`payload_too_large`).",
    retry_after: false,
};
pub(crate) const UNSUPPORTED_MEDIA_TYPE: Shared = Shared {
    name: "UnsupportedMediaType",
    description: "The body is not `application/json` (`unsupported_media_type`).",
    retry_after: false,
};
pub(crate) const UNAUTHORIZED: Shared = Shared {
    name: "Unauthorized",
    description: "No valid session (`unauthorized`).",
    retry_after: false,
};
pub(crate) const REAUTH_REQUIRED: Shared = Shared {
    name: "ReauthRequired",
    description: "No valid session (`unauthorized`), or the last authentication is older than \
                  the re-authentication window (`reauth_required`).",
    retry_after: false,
};
pub(crate) const FORBIDDEN: Shared = Shared {
    name: "Forbidden",
    description: "The account lacks the permission (`forbidden`), or has no second factor or \
                  this session was not established with it (`mfa_required`).",
    retry_after: false,
};
pub(crate) const SECOND_FACTOR_PROOF_REQUIRED: Shared = Shared {
    name: "SecondFactorProofRequired",
    description: "The account has a second factor and this session has not proved it within \
                  the re-authentication window (`mfa_required`): re-authenticate with a TOTP \
                  or recovery code, not the password.",
    retry_after: false,
};
pub(crate) const DATABASE_UNAVAILABLE: Shared = Shared {
    name: "DatabaseUnavailable",
    description: "The database cannot be reached (`database_unavailable`).",
    retry_after: false,
};

const THROTTLED: Shared = Shared {
    name: "ThrottledAttempts",
    description: "Too many failed attempts for this account or client (`too_many_requests`).",
    retry_after: true,
};
const DATABASE_OR_HASHING_BUSY: Shared = Shared {
    name: "DatabaseOrHashingBusy",
    description: "The database cannot be reached (`database_unavailable`), or password hashing \
                  is saturated (`busy`, with `Retry-After`).",
    retry_after: true,
};
const DATABASE_OR_NO_MFA_KEY: Shared = Shared {
    name: "DatabaseOrNoMfaKey",
    description: "The database cannot be reached (`database_unavailable`), or the server has no \
                  MFA key (`mfa_unavailable`).",
    retry_after: false,
};

/// Every shared answer, registered as a component by [`crate::openapi`].
pub(crate) const ALL_SHARED: [Shared; 16] = [
    URI_TOO_LONG,
    RATE_LIMITED,
    INTERNAL,
    CROSS_SITE,
    INVALID_JSON,
    REQUEST_TIMEOUT,
    PAYLOAD_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
    UNAUTHORIZED,
    REAUTH_REQUIRED,
    FORBIDDEN,
    SECOND_FACTOR_PROOF_REQUIRED,
    DATABASE_UNAVAILABLE,
    THROTTLED,
    DATABASE_OR_HASHING_BUSY,
    DATABASE_OR_NO_MFA_KEY,
];

impl Shared {
    /// The answer as the document states it: the description, the error body, and
    /// `Retry-After` where it comes with it.
    pub(crate) fn response(&self) -> Response {
        let body = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
        let mut response = ResponseBuilder::new()
            .description(self.description)
            .content("application/json", body)
            .build();
        if self.retry_after {
            let seconds = ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(0));
            let header = HeaderBuilder::new()
                .schema(seconds)
                .description(Some("Seconds to wait before trying again."))
                .build();
            response.headers.insert("Retry-After".to_owned(), header);
        }
        response
    }
}

/// A shared answer a handler names in its `responses(...)`, e.g. `(status = 503, response =
/// DatabaseUnavailable)`: one description for every operation that can give it.
macro_rules! shared_response {
    ($(#[$doc:meta])* $ty:ident = $shared:ident) => {
        $(#[$doc])*
        pub(crate) struct $ty;

        impl<'r> ToResponse<'r> for $ty {
            fn response() -> (&'r str, RefOr<Response>) {
                ($shared.name, RefOr::T($shared.response()))
            }
        }
    };
}

shared_response!(
    /// 503: every route that reads or writes the database, when it cannot be reached.
    DatabaseUnavailable = DATABASE_UNAVAILABLE
);
shared_response!(
    /// 429: the login throttle and the second-factor attempt limit, per account and client.
    ThrottledAttempts = THROTTLED
);
shared_response!(
    /// 503: routes that hash a password, when the database is down or hashing is saturated.
    DatabaseOrHashingBusy = DATABASE_OR_HASHING_BUSY
);
shared_response!(
    /// 503: routes that seal or open a TOTP secret, when the database is down or the server
    /// has no MFA key.
    DatabaseOrNoMfaKey = DATABASE_OR_NO_MFA_KEY
);

/// The schema of a body that takes exactly one of some secret string fields: a `oneOf` with a
/// branch per field, which requires that field as a string and allows the others only absent
/// or null, and no other property (what the handlers accept; anything else is 422 or 400).
pub(crate) fn exactly_one_of(description: &str, fields: &[&str]) -> RefOr<Schema> {
    let mut one_of = OneOfBuilder::new().description(Some(description));
    for given in fields {
        let secret = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password)));
        let mut branch = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(*given, secret)
            .required(*given)
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        for other in fields.iter().filter(|f| *f != given) {
            branch = branch.property(*other, ObjectBuilder::new().schema_type(Type::Null));
        }
        one_of = one_of.item(branch);
    }
    RefOr::T(Schema::OneOf(one_of.build()))
}
