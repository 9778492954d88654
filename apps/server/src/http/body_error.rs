//! What the log says about a request body that could not be read: the kind of error, the
//! expected type and where, never the value the client sent; and the answer to a JSON body that
//! could not be read ([`json_rejection`]), whichever way the handler read it.
//!
//! serde's messages quote the offending value (`invalid type: integer `12345`, expected a
//! string`), and a client that puts its password in the wrong type or field would find it in
//! the log. Every body error passes through [`json_cause`] or [`serde_cause`] before it is
//! logged; the response itself only ever carries the stable code.

use actix_web::error::{JsonPayloadError, UrlencodedError};
use serde_json::error::Category;

use crate::http::error::{AppError, ErrorCode};

/// The answer to a JSON body that could not be read: 413 `payload_too_large` over the limit,
/// 415 `unsupported_media_type` for another media type, 400 `invalid_json` otherwise, with the
/// loggable cause. The `JsonConfig` of every JSON body and the handlers that read a body of
/// their own limit (`routes::csp_report`) answer through this.
pub(crate) fn json_rejection(err: &JsonPayloadError) -> AppError {
    let code = match err {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ErrorCode::PayloadTooLarge
        }
        JsonPayloadError::ContentType => ErrorCode::UnsupportedMediaType,
        _ => ErrorCode::InvalidJson,
    };
    AppError::with_cause(code, json_cause(err))
}

/// The loggable cause of a rejected JSON body.
pub(crate) fn json_cause(err: &JsonPayloadError) -> String {
    match err {
        JsonPayloadError::Deserialize(e) | JsonPayloadError::Serialize(e) => {
            let kind = match e.classify() {
                // Syntax messages name the grammar rule that failed ("expected `,` or `}`",
                // "EOF while parsing a string"), never the input.
                Category::Syntax | Category::Eof | Category::Io => "malformed JSON",
                Category::Data => "JSON does not match the expected body",
            };
            let message = e.to_string();
            let position = format!(" at line {} column {}", e.line(), e.column());
            let message = message.strip_suffix(&position).unwrap_or(&message);
            let message = match e.classify() {
                Category::Data => serde_cause(message),
                _ => message.to_owned(),
            };
            format!("{kind}: {message}{position}")
        }
        // Sizes, content types and payload errors hold no body bytes.
        other => other.to_string(),
    }
}

/// The loggable cause of a rejected form body.
pub(crate) fn form_cause(err: &UrlencodedError) -> String {
    match err {
        UrlencodedError::Parse(e) => {
            format!("the form does not match the expected body: {}", serde_cause(&e.to_string()))
        }
        // Sizes, content types, encodings and payload errors hold no body bytes.
        other => other.to_string(),
    }
}

/// A serde data-error message with any value it quotes removed.
///
/// serde's own messages have fixed shapes (`serde::de::Error`'s provided methods): the ones
/// that quote a value keep their kind and what was expected; the ones that name a field (a
/// key of the body, spelled by the code or the client, never a value) stay as they are; any
/// other message (a `custom` error of a type's own parser) may quote anything and is replaced.
pub(crate) fn serde_cause(message: &str) -> String {
    for kind in ["invalid type", "invalid value", "unknown variant"] {
        if message.starts_with(kind) {
            // The expected part is written by the code; the quoted value before it may itself
            // contain ", expected ", so the last one is the code's.
            return match message.rsplit_once(", expected ") {
                Some((_, expected)) => format!("{kind}, expected {expected}"),
                None => kind.to_owned(),
            };
        }
    }
    let names_a_field = ["missing field `", "duplicate field `", "unknown field `"]
        .iter()
        .any(|shape| message.starts_with(shape));
    if names_a_field || message.starts_with("invalid length ") {
        return message.to_owned();
    }
    "invalid value (the message of the type's parser is not logged: it may quote the value)"
        .to_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test")]

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "only deserialized")]
    struct Login {
        identifier: String,
        password: String,
        #[serde(default)]
        kind: Option<Kind>,
        #[serde(default)]
        limit: Option<u32>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code, reason = "only deserialized")]
    enum Kind {
        Totp,
    }

    fn cause(body: &str) -> String {
        let err = serde_json::from_str::<Login>(body).unwrap_err();
        json_cause(&JsonPayloadError::Deserialize(err))
    }

    #[test]
    fn a_wrong_typed_value_is_not_quoted() {
        let shown = cause(r#"{"identifier":"a","password":987654321}"#);
        assert_eq!(
            shown,
            "JSON does not match the expected body: invalid type, expected a string at line 1 \
             column 38"
        );
        let shown = cause(r#"{"identifier":"a","password":"p","limit":"Canary7, expected x"}"#);
        assert!(!shown.contains("Canary7"), "{shown}");
        assert!(shown.contains("invalid type, expected u32"), "{shown}");
        let shown = cause(r#"{"identifier":"a","password":"p","kind":"Canary8"}"#);
        assert!(!shown.contains("Canary8"), "{shown}");
        let shown = cause(r#"{"identifier":"a","password":"p","limit":-5}"#);
        assert!(!shown.contains("-5"), "{shown}");
    }

    #[test]
    fn field_names_and_syntax_errors_are_kept() {
        assert!(cause(r#"{"identifier":"a"}"#).contains("missing field `password`"));
        assert!(cause(r#"{"identifier":"a","pw":"x"}"#).contains("unknown field `pw`"));
        assert!(cause(r#"{"identifier":"a","#).starts_with("malformed JSON: EOF"));
    }

    #[test]
    fn a_custom_message_is_replaced() {
        assert!(!serde_cause("bad value Canary9").contains("Canary9"));
    }
}
