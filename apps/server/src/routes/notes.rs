//! `/api/v1/notes*`: the signed-in user's notes, the worked example of a resource owned by a
//! user (README, "Forking it"). Copy this file for a resource of your own.
//!
//! What it shows:
//! - the access rule twice: `Authenticated` in [`super::endpoints`], and [`CurrentSession`] as
//!   each handler's first argument, so a request without a session is 401 before anything else;
//! - ownership in every query ([`crate::db::notes`] filters on the owner), so another user's
//!   note answers exactly as a note that does not exist: 404 `not_found`, never 403, and so
//!   does an id that is not a UUID;
//! - input parsed into `sec_core::BoundedText` at the boundary, every refused field named in
//!   one 422 `validation_failed`; a body that is not JSON of this shape is 400 `invalid_json`,
//!   after the access rule ([`JsonBody`]);
//! - database calls through [`Db::run`] (the blocking pool), lists bounded by [`PageQuery`];
//! - typed responses ([`Note`], [`NotePage`]) that the document describes, and a
//!   `#[utoipa::path]` on each handler, listed in [`crate::openapi`]; a handler's name is its
//!   operation id there, unique across the API, so it names the resource (`get_note`, not
//!   `get`);
//! - an audit record for the destructive action (`NoteDeleted`), by id, never content.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use sec_audit::{AuditEvent, ResourceId};
use sec_core::{BoundedText, TextError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::JsonBody;
use super::paging::PageQuery;
use super::responses::DatabaseUnavailable;
use super::views::rfc3339;
use crate::auth::{CurrentSession, audit_user_action, auth_service};
use crate::db::Db;
use crate::db::notes::{self, NewNote, NoteRow};
use crate::http::error::{AppError, ErrorCode, FieldError};

/// The longest title, in characters.
pub(crate) const TITLE_MAX_CHARS: usize = 200;
/// The longest body, in characters.
pub(crate) const BODY_MAX_CHARS: usize = 10_000;

/// A title: one line of 1 to [`TITLE_MAX_CHARS`] characters, no control or bidirectional
/// formatting characters.
type NoteTitle = BoundedText<1, TITLE_MAX_CHARS>;
/// A body: empty (a note may be a title alone) up to [`BODY_MAX_CHARS`] characters; line
/// breaks and tabs allowed, other control and bidirectional formatting characters not.
type NoteText = BoundedText<0, BODY_MAX_CHARS, true>;

/// A note as its owner sees it.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Note {
    /// The note's id.
    #[schema(format = "uuid")]
    id: String,
    /// The title, exactly as written.
    title: String,
    /// The body, exactly as written (escape it where you display it).
    body: String,
    /// When it was created (RFC 3339).
    #[schema(format = DateTime)]
    created_at: String,
    /// When it was last replaced (RFC 3339).
    #[schema(format = DateTime)]
    updated_at: String,
}

impl From<NoteRow> for Note {
    fn from(row: NoteRow) -> Self {
        Self {
            id: row.id,
            title: row.title,
            body: row.body,
            created_at: rfc3339(row.created_at),
            updated_at: rfc3339(row.updated_at),
        }
    }
}

/// A page of the signed-in user's notes.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotePage {
    /// The notes, oldest first.
    notes: Vec<Note>,
    /// The offset asked for (any `u32`).
    #[schema(value_type = u64, maximum = 4_294_967_295_u64)]
    offset: u32,
    /// The page size used (the one asked for, within 1..=100).
    #[schema(minimum = 1, maximum = 100)]
    limit: u32,
}

/// `POST /api/v1/notes` and `PUT /api/v1/notes/{id}` body: what the user writes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoteContent {
    /// One line of 1 to 200 characters; no control or bidirectional formatting characters.
    #[schema(min_length = 1, max_length = 200)]
    title: String,
    /// 0 to 10 000 characters; line breaks and tabs allowed, other control and bidirectional
    /// formatting characters not.
    #[schema(min_length = 0, max_length = 10000)]
    body: String,
}

impl NoteContent {
    /// The title and body parsed, or 422 `validation_failed` naming every refused field.
    fn parse(&self) -> Result<(NoteTitle, NoteText), AppError> {
        let title = NoteTitle::parse(&self.title);
        let body = NoteText::parse(&self.body);
        match (title, body) {
            (Ok(title), Ok(body)) => Ok((title, body)),
            (title, body) => {
                let mut fields = Vec::new();
                if let Err(e) = title {
                    fields.push(field_error("title", &e));
                }
                if let Err(e) = body {
                    fields.push(field_error("body", &e));
                }
                Err(AppError::validation(fields))
            }
        }
    }
}

fn field_error(field: &str, e: &TextError) -> FieldError {
    FieldError::new(field, e.code(), e.to_string())
}

/// The note id of a path. Anything but a UUID cannot name a note: 404, as an id of no note.
fn note_id(raw: &str) -> Result<Uuid, AppError> {
    Uuid::try_parse(raw).map_err(|_| AppError::new(ErrorCode::NotFound))
}

fn not_found() -> AppError {
    AppError::new(ErrorCode::NotFound)
}

/// The signed-in user's notes, oldest first (`?offset=0&limit=50`, limit clamped to 1..=100).
#[utoipa::path(
    get,
    path = "/api/v1/notes",
    tag = "notes",
    params(("offset" = Option<u64>, Query, maximum = 4_294_967_295_u64, description = "Notes to skip (default 0)."), ("limit" = Option<u64>, Query, maximum = 4_294_967_295_u64, description = "Page size (default 50, clamped to 1..=100).")),
    responses(
        (status = 200, description = "A page of the user's own notes, oldest first.", body = NotePage),
        (status = 400, description = "A malformed or unknown query parameter (`bad_request`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn list_notes(
    session: CurrentSession,
    db: web::Data<Db>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, AppError> {
    let owner = session.0.user.id.to_string();
    let page = query.page();
    let rows = db.run(move |conn| notes::list(conn, &owner, page)).await?;
    let notes = rows.into_iter().map(Note::from).collect();
    Ok(HttpResponse::Ok().json(NotePage { notes, offset: page.offset(), limit: page.limit() }))
}

/// Creates a note owned by the signed-in user. 201 with the note and its `Location`; 422
/// naming each refused field.
#[utoipa::path(
    post,
    path = "/api/v1/notes",
    tag = "notes",
    request_body = NoteContent,
    responses(
        (status = 201, description = "Created.", body = Note, headers(("Location" = String, description = "The note's path, `/api/v1/notes/{id}`."))),
        (status = 422, description = "A refused title or body (`validation_failed`, with `fields`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn create_note(
    session: CurrentSession,
    req: HttpRequest,
    db: web::Data<Db>,
    body: JsonBody<NoteContent>,
) -> Result<HttpResponse, actix_web::Error> {
    let (title, text) = body?.parse()?;
    let owner = session.0.user.id.to_string();
    let id = Uuid::new_v4().hyphenated().to_string();
    let now = auth_service(&req)?.now();
    let row = db
        .run(move |conn| {
            let note = NewNote {
                id: &id,
                owner_id: &owner,
                title: title.as_str(),
                body: text.as_str(),
                created_at: now,
                updated_at: now,
            };
            notes::create(conn, &note)
        })
        .await
        .map_err(AppError::from)?;
    let location = format!("/api/v1/notes/{}", row.id);
    Ok(HttpResponse::Created().insert_header((header::LOCATION, location)).json(Note::from(row)))
}

/// One of the signed-in user's notes. 404 for a note of anyone else, as for none at all.
#[utoipa::path(
    get,
    path = "/api/v1/notes/{id}",
    tag = "notes",
    params(("id" = String, Path, description = "The note id (a UUID); anything else is 404.")),
    responses(
        (status = 200, description = "The note.", body = Note),
        (status = 404, description = "No note of this user has this id (`not_found`): another user's note is not found either.", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn get_note(
    session: CurrentSession,
    db: web::Data<Db>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = note_id(&path.into_inner())?.hyphenated().to_string();
    let owner = session.0.user.id.to_string();
    let row = db.run(move |conn| notes::find(conn, &owner, &id)).await?.ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(Note::from(row)))
}

/// Replaces the title and body of one of the signed-in user's notes. 200 with the note; 404
/// for a note of anyone else; 422 naming each refused field.
#[utoipa::path(
    put,
    path = "/api/v1/notes/{id}",
    tag = "notes",
    params(("id" = String, Path, description = "The note id (a UUID); anything else is 404.")),
    request_body = NoteContent,
    responses(
        (status = 200, description = "Replaced.", body = Note),
        (status = 404, description = "No note of this user has this id (`not_found`): another user's note is not found either.", body = crate::http::error::ErrorBody),
        (status = 422, description = "A refused title or body (`validation_failed`, with `fields`).", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn replace_note(
    session: CurrentSession,
    req: HttpRequest,
    db: web::Data<Db>,
    path: web::Path<String>,
    body: JsonBody<NoteContent>,
) -> Result<HttpResponse, actix_web::Error> {
    let (title, text) = body?.parse()?;
    let id = note_id(&path.into_inner())?.hyphenated().to_string();
    let owner = session.0.user.id.to_string();
    let now = auth_service(&req)?.now();
    let row = db
        .run(move |conn| notes::update(conn, &owner, &id, title.as_str(), text.as_str(), now))
        .await
        .map_err(AppError::from)?
        .ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(Note::from(row)))
}

/// Deletes one of the signed-in user's notes, audited as `NoteDeleted`. 204; 404 for a note of
/// anyone else.
#[utoipa::path(
    delete,
    path = "/api/v1/notes/{id}",
    tag = "notes",
    params(("id" = String, Path, description = "The note id (a UUID); anything else is 404.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = "No note of this user has this id (`not_found`): another user's note is not found either.", body = crate::http::error::ErrorBody),
        (status = 503, response = DatabaseUnavailable),
    ),
    security(("session" = [])),
)]
pub(crate) async fn delete_note(
    session: CurrentSession,
    req: HttpRequest,
    db: web::Data<Db>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = note_id(&path.into_inner())?;
    let owner = session.0.user.id.to_string();
    let key = id.hyphenated().to_string();
    let deleted = db.run(move |conn| notes::delete(conn, &owner, &key)).await?;
    if !deleted {
        return Err(not_found());
    }
    let event = AuditEvent::NoteDeleted { note_id: ResourceId::from(id) };
    audit_user_action(&req, &session.0, event).await;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refused_field_is_named_at_once() {
        let content = NoteContent { title: String::new(), body: "x".repeat(BODY_MAX_CHARS + 1) };
        let refused = content.parse().err().map(|e| e.fields().to_vec()).unwrap_or_default();
        let named: Vec<(&str, &str)> =
            refused.iter().map(|f| (f.field.as_str(), f.code.as_str())).collect();
        assert_eq!(named, [("title", "too_short"), ("body", "too_long")]);
    }

    #[test]
    fn a_title_is_one_line_and_a_body_may_have_many() {
        let content = NoteContent { title: "a\nb".into(), body: "line\nline\ttab".into() };
        let refused = content.parse().err().map(|e| e.fields().to_vec()).unwrap_or_default();
        assert_eq!(refused.len(), 1);
        assert_eq!(
            (refused[0].field.as_str(), refused[0].code.as_str()),
            ("title", "disallowed_character")
        );
        let content = NoteContent { title: "ok".into(), body: String::new() };
        assert!(content.parse().is_ok(), "an empty body is a note with a title alone");
    }
}
