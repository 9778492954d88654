//! Storage of notes (`notes` table), the worked example of a resource owned by a user.
//!
//! Every function takes the owner's id and puts it in the `WHERE` clause of its query, next
//! to the note's id: a note of another account is simply not found, never read and then
//! refused, so no caller can forget the check and no answer tells "not yours" from "none".
//! Validation happens before this layer: it stores what it is given.

use std::fmt;

use diesel::prelude::*;

use super::page::Page;
use super::schema::notes;
use super::{DbConnection, DbError};

/// A note as stored.
#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = notes)]
pub struct NoteRow {
    /// Random UUID.
    pub id: String,
    /// The owning account's id.
    pub owner_id: String,
    /// One line of text.
    pub title: String,
    /// Free text, possibly empty.
    pub body: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

// Hand-written so that a stray `{:?}` in a log line cannot copy what a user wrote (the title
// and body are their content, and may be personal) into the logs.
impl fmt::Debug for NoteRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteRow")
            .field("id", &self.id)
            .field("owner_id", &self.owner_id)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish_non_exhaustive()
    }
}

/// A new note to insert.
#[derive(Insertable)]
#[diesel(table_name = notes)]
pub struct NewNote<'a> {
    /// Random UUID.
    pub id: &'a str,
    /// The owning account's id.
    pub owner_id: &'a str,
    /// One line of text.
    pub title: &'a str,
    /// Free text, possibly empty.
    pub body: &'a str,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// Inserts `note` and returns it as stored.
pub fn create(conn: &mut DbConnection, note: &NewNote<'_>) -> Result<NoteRow, DbError> {
    diesel::insert_into(notes::table).values(note).execute(conn)?;
    Ok(NoteRow {
        id: note.id.to_owned(),
        owner_id: note.owner_id.to_owned(),
        title: note.title.to_owned(),
        body: note.body.to_owned(),
        created_at: note.created_at,
        updated_at: note.updated_at,
    })
}

/// A page of `owner_id`'s notes, oldest first (ties broken by id, so pages never overlap).
pub fn list(conn: &mut DbConnection, owner_id: &str, page: Page) -> Result<Vec<NoteRow>, DbError> {
    Ok(notes::table
        .filter(notes::owner_id.eq(owner_id))
        .order((notes::created_at.asc(), notes::id.asc()))
        .offset(i64::from(page.offset()))
        .limit(i64::from(page.limit()))
        .select(NoteRow::as_select())
        .load(conn)?)
}

/// Note `id` of `owner_id`; `None` when there is none, or it belongs to someone else.
pub fn find(conn: &mut DbConnection, owner_id: &str, id: &str) -> Result<Option<NoteRow>, DbError> {
    Ok(notes::table
        .filter(notes::owner_id.eq(owner_id))
        .filter(notes::id.eq(id))
        .select(NoteRow::as_select())
        .first(conn)
        .optional()?)
}

/// Replaces the title and body of note `id` of `owner_id` and returns it; `None` (and nothing
/// written) when there is no such note of theirs.
pub fn update(
    conn: &mut DbConnection,
    owner_id: &str,
    id: &str,
    title: &str,
    body: &str,
    now: i64,
) -> Result<Option<NoteRow>, DbError> {
    // One transaction, so the row returned is the one this update wrote even when another
    // request updates or deletes the note at the same time.
    conn.transaction(|conn| {
        let changed = diesel::update(
            notes::table.filter(notes::owner_id.eq(owner_id)).filter(notes::id.eq(id)),
        )
        .set((notes::title.eq(title), notes::body.eq(body), notes::updated_at.eq(now)))
        .execute(conn)?;
        if changed == 0 {
            return Ok(None);
        }
        find(conn, owner_id, id)
    })
}

/// Deletes note `id` of `owner_id`; false when there was no such note of theirs.
pub fn delete(conn: &mut DbConnection, owner_id: &str, id: &str) -> Result<bool, DbError> {
    let deleted =
        diesel::delete(notes::table.filter(notes::owner_id.eq(owner_id)).filter(notes::id.eq(id)))
            .execute(conn)?;
    Ok(deleted > 0)
}
