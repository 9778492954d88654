//! The notes resource, the worked example a fork copies: its happy path, and the attacks on a
//! resource owned by a user. Another user's note is not found to read, replace or delete, and
//! is untouched afterwards (IDOR); lists hold the caller's notes only; no session is 401; a
//! malformed id is 404; each refused field is named; pages are bounded; deletes are audited
//! by id without the content; an account's notes go with it.

use std::time::Duration;

use diesel::prelude::*;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::accounts::{
    assert_field_error, audit_of_request, audit_records, get_as, manual_clock, send_as, signed_in,
};
use crate::helpers::{
    Backend, TestApp, assert_error, cases, json, spawn_app, spawn_app_with_overrides,
};

cases![
    a_note_is_created_read_listed_replaced_and_deleted,
    another_users_note_is_not_found_to_read_replace_or_delete,
    a_note_list_never_holds_another_users_notes,
    note_routes_refuse_a_client_without_a_session,
    a_malformed_note_id_is_not_found,
    note_fields_are_validated_and_each_refused_field_is_named,
    the_note_page_size_is_clamped_and_the_offset_skips,
    deleting_a_note_is_audited_by_id_without_its_content,
    deleting_an_account_deletes_its_notes,
];

const NOTES: &str = "/api/v1/notes";

fn note_path(id: &str) -> String {
    format!("{NOTES}/{id}")
}

/// `method path` with the session of `token` and `body` as JSON.
async fn send_json(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: &Value,
) -> Response {
    send_as(app, method, path, token).json(body).send().await.unwrap()
}

/// Creates a note as `token`'s user; returns it as answered.
async fn create(app: &TestApp, token: &str, title: &str, body: &str) -> Value {
    let response =
        send_json(app, Method::POST, NOTES, token, &json!({ "title": title, "body": body })).await;
    assert_eq!(response.status().as_u16(), 201, "creation of {title:?}");
    json(response).await
}

/// The titles of the notes of a list answer, in order.
fn titles(page: &Value) -> Vec<&str> {
    page["notes"].as_array().unwrap().iter().map(|n| n["title"].as_str().unwrap()).collect()
}

async fn a_note_is_created_read_listed_replaced_and_deleted(backend: Backend) {
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    let (_, token) = signed_in(&app, "writer").await;

    let response = send_json(
        &app,
        Method::POST,
        NOTES,
        &token,
        &json!({ "title": "Shopping <b>list</b>", "body": "eggs\nmilk & 'bread'" }),
    )
    .await;
    assert_eq!(response.status().as_u16(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created = json(response).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(location, note_path(&id));
    // Kept exactly as written: escaping is the job of whatever displays it.
    assert_eq!(created["title"], "Shopping <b>list</b>");
    assert_eq!(created["body"], "eggs\nmilk & 'bread'");
    assert_eq!(created["created_at"], created["updated_at"]);

    let fetched = json(get_as(&app, &location, &token).await).await;
    assert_eq!(fetched, created);
    let page = json(get_as(&app, NOTES, &token).await).await;
    assert_eq!(page["notes"], json!([created]));
    assert_eq!((page["offset"].as_u64(), page["limit"].as_u64()), (Some(0), Some(50)));

    clock.advance(Duration::from_secs(5));
    let response = send_json(
        &app,
        Method::PUT,
        &location,
        &token,
        &json!({ "title": "Groceries", "body": "" }),
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    let replaced = json(response).await;
    assert_eq!(
        (replaced["id"].as_str(), replaced["title"].as_str()),
        (Some(&*id), Some("Groceries"))
    );
    assert_eq!(replaced["body"], "", "a note may be a title alone");
    assert_eq!(replaced["created_at"], created["created_at"]);
    assert_ne!(replaced["updated_at"], created["updated_at"]);
    assert_eq!(json(get_as(&app, &location, &token).await).await, replaced);

    let response = send_as(&app, Method::DELETE, &location, &token).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert_error(get_as(&app, &location, &token).await, 404, "not_found").await;
    let again = send_as(&app, Method::DELETE, &location, &token).send().await.unwrap();
    assert_error(again, 404, "not_found").await;
    assert_eq!(json(get_as(&app, NOTES, &token).await).await["notes"], json!([]));
}

/// The attack: user B knows (or guesses) the id of user A's note and asks for it, replaces it
/// and deletes it. Each is the 404 of a note that does not exist, and A's note is as it was.
async fn another_users_note_is_not_found_to_read_replace_or_delete(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, alice) = signed_in(&app, "alice").await;
    let (_, mallory) = signed_in(&app, "mallory").await;
    let note = create(&app, &alice, "Alice's diary", "dear diary").await;
    let path = note_path(note["id"].as_str().unwrap());
    let missing = note_path("00000000-0000-4000-8000-000000000000");

    for target in [&path, &missing] {
        // Her note and no note answer alike (404 `not_found` and a request id, nothing
        // more): nothing tells Mallory that the id exists.
        assert_error(get_as(&app, target, &mallory).await, 404, "not_found").await;
        let hijack = json!({ "title": "pwned", "body": "pwned" });
        let response = send_json(&app, Method::PUT, target, &mallory, &hijack).await;
        assert_error(response, 404, "not_found").await;
        let response = send_as(&app, Method::DELETE, target, &mallory).send().await.unwrap();
        assert_error(response, 404, "not_found").await;
    }

    // Alice's note is unchanged, and still hers.
    let after = json(get_as(&app, &path, &alice).await).await;
    assert_eq!(after, note);
    assert_eq!(json(get_as(&app, NOTES, &alice).await).await["notes"], json!([note]));
    // Nothing was recorded as deleted.
    assert!(
        audit_records(&app).iter().all(|r| r["event"] != "NoteDeleted"),
        "a refused delete wrote a NoteDeleted record"
    );
}

async fn a_note_list_never_holds_another_users_notes(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, alice) = signed_in(&app, "alice").await;
    let (_, bob) = signed_in(&app, "bob").await;
    for n in 0..3 {
        create(&app, &alice, &format!("alice {n}"), "").await;
    }
    assert_eq!(json(get_as(&app, NOTES, &bob).await).await["notes"], json!([]));
    create(&app, &bob, "bob 0", "").await;
    // Past the end of Bob's notes, the list does not run on into Alice's.
    for query in ["", "?limit=100", "?offset=1&limit=100"] {
        let page = json(get_as(&app, &format!("{NOTES}{query}"), &bob).await).await;
        assert!(titles(&page).iter().all(|t| t.starts_with("bob")), "{query}: {page}");
    }
    let alices = json(get_as(&app, &format!("{NOTES}?limit=100"), &alice).await).await;
    let mut seen = titles(&alices);
    seen.sort_unstable();
    assert_eq!(seen, ["alice 0", "alice 1", "alice 2"]);
}

async fn note_routes_refuse_a_client_without_a_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, alice) = signed_in(&app, "alice").await;
    let note = create(&app, &alice, "private", "").await;
    let path = note_path(note["id"].as_str().unwrap());
    let body = json!({ "title": "x", "body": "y" });
    for (method, target) in [
        (Method::GET, NOTES.to_owned()),
        (Method::POST, NOTES.to_owned()),
        (Method::GET, path.clone()),
        (Method::PUT, path.clone()),
        (Method::DELETE, path.clone()),
    ] {
        let what = format!("{method} {target}");
        let request = app.client.request(method.clone(), app.url(&target));
        let response = request.json(&body).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401, "{what}");
        assert_error(response, 401, "unauthorized").await;
        // The access rule answers before the body is looked at: a malformed one is 401 too.
        let response = app
            .client
            .request(method, app.url(&target))
            .header(CONTENT_TYPE, "application/json")
            .body("{\"title\": ")
            .send()
            .await
            .unwrap();
        assert_error(response, 401, "unauthorized").await;
        // A session that is not valid is no session.
        let forged = send_as(&app, Method::GET, &target, "forged-token").send().await.unwrap();
        assert_eq!(forged.status().as_u16(), 401, "{what} with a forged cookie");
    }
    assert_eq!(json(get_as(&app, &path, &alice).await).await, note, "untouched");
}

async fn a_malformed_note_id_is_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = signed_in(&app, "writer").await;
    let note = create(&app, &token, "real", "").await;
    let id = note["id"].as_str().unwrap();
    let body = json!({ "title": "x", "body": "" });
    for bad in [
        "not-a-uuid",
        "1%20OR%201=1",
        "%27%3B%20DROP%20TABLE%20notes%3B--",
        &id[..35],
        &format!("{id}0"),
        &id.replace('-', "_"),
        "%00",
    ] {
        let path = note_path(bad);
        assert_error(get_as(&app, &path, &token).await, 404, "not_found").await;
        assert_error(send_json(&app, Method::PUT, &path, &token, &body).await, 404, "not_found")
            .await;
        let response = send_as(&app, Method::DELETE, &path, &token).send().await.unwrap();
        assert_error(response, 404, "not_found").await;
    }
    assert_eq!(json(get_as(&app, &note_path(id), &token).await).await, note, "untouched");
}

async fn note_fields_are_validated_and_each_refused_field_is_named(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = signed_in(&app, "writer").await;
    let note = create(&app, &token, "kept", "as is").await;
    let path = note_path(note["id"].as_str().unwrap());
    let long_title = "t".repeat(201);
    let long_body = "b".repeat(10_001);
    let cases = [
        (json!({ "title": "", "body": "" }), "title", "too_short"),
        (json!({ "title": long_title, "body": "" }), "title", "too_long"),
        (json!({ "title": "two\nlines", "body": "" }), "title", "disallowed_character"),
        (json!({ "title": "ok", "body": long_body }), "body", "too_long"),
        // A "Trojan Source" reordering character, which would show text other than is stored.
        (json!({ "title": "ok", "body": "abc\u{202e}fed" }), "body", "disallowed_character"),
        (json!({ "title": "ok", "body": "nul\u{0}" }), "body", "disallowed_character"),
    ];
    for (body, field, code) in &cases {
        for (method, target) in [(Method::POST, NOTES), (Method::PUT, path.as_str())] {
            let response = send_json(&app, method, target, &token, body).await;
            assert_field_error(response, field, code).await;
        }
    }
    // Both fields wrong: both named in one answer.
    let both = json!({ "title": "", "body": "b".repeat(10_001) });
    let answer = assert_field_error(
        send_json(&app, Method::POST, NOTES, &token, &both).await,
        "title",
        "too_short",
    )
    .await;
    assert!(answer["fields"].as_array().unwrap().iter().any(|f| f["field"] == "body"), "{answer}");
    // Not JSON of this shape: 400 `invalid_json`, whatever the field.
    for body in [
        json!({ "title": "ok", "body": "", "owner_id": "someone-else" }),
        json!({ "title": "ok" }),
        json!({ "title": 7, "body": "" }),
    ] {
        assert_error(
            send_json(&app, Method::POST, NOTES, &token, &body).await,
            400,
            "invalid_json",
        )
        .await;
        assert_error(send_json(&app, Method::PUT, &path, &token, &body).await, 400, "invalid_json")
            .await;
    }
    // At the bounds: accepted, in characters (not bytes).
    let edge = json!({ "title": "é".repeat(200), "body": "🙂".repeat(10_000) });
    let response = send_json(&app, Method::POST, NOTES, &token, &edge).await;
    assert_eq!(response.status().as_u16(), 201);
    // Nothing refused was stored: the first note is as it was, the edge note is the only other.
    assert_eq!(json(get_as(&app, &path, &token).await).await, note);
    let page = json(get_as(&app, NOTES, &token).await).await;
    assert_eq!(page["notes"].as_array().unwrap().len(), 2, "{page}");
}

async fn the_note_page_size_is_clamped_and_the_offset_skips(backend: Backend) {
    // A manual clock: one second between notes, so "oldest first" has one answer.
    let (clock, overrides) = manual_clock();
    let app = spawn_app_with_overrides(backend, overrides).await;
    let (_, token) = signed_in(&app, "writer").await;
    for n in 0..3 {
        create(&app, &token, &format!("note {n}"), "").await;
        clock.advance(Duration::from_secs(1));
    }
    let page = |query: &'static str| {
        let app = &app;
        let token = token.clone();
        async move { json(get_as(app, &format!("{NOTES}{query}"), &token).await).await }
    };
    let all = page("").await;
    assert_eq!(titles(&all), ["note 0", "note 1", "note 2"]);
    assert_eq!(all["limit"], 50, "the default page size");
    let huge = page("?limit=1000").await;
    assert_eq!(huge["limit"], 100, "clamped to the maximum");
    assert_eq!(titles(&huge).len(), 3);
    let zero = page("?limit=0").await;
    assert_eq!(zero["limit"], 1, "clamped to one");
    assert_eq!(titles(&zero), ["note 0"]);
    let second = page("?offset=1&limit=1").await;
    assert_eq!((second["offset"].as_u64(), second["limit"].as_u64()), (Some(1), Some(1)));
    assert_eq!(titles(&second), ["note 1"]);
    assert_eq!(titles(&page("?offset=2").await), ["note 2"]);
    assert_eq!(titles(&page("?offset=3").await), Vec::<&str>::new());
    assert_eq!(page("?offset=4294967295").await["notes"], json!([]));
    for bad in ["?limit=-1", "?limit=ten", "?offset=4294967296", "?owner_id=x"] {
        let response = get_as(&app, &format!("{NOTES}{bad}"), &token).await;
        assert_error(response, 400, "bad_request").await;
    }
}

async fn deleting_a_note_is_audited_by_id_without_its_content(backend: Backend) {
    let app = spawn_app(backend).await;
    let (user_id, token) = signed_in(&app, "writer").await;
    let title = "canary-title-5b1e";
    let body = "canary-body-9f3c";
    let note = create(&app, &token, title, body).await;
    let id = note["id"].as_str().unwrap();
    let response = send_as(&app, Method::DELETE, &note_path(id), &token).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();

    let records = audit_of_request(&app, &request_id);
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    assert_eq!(record["event"], "NoteDeleted");
    assert_eq!(record["detail"], json!({ "note_id": id }));
    assert_eq!(record["outcome"], "success");
    assert_eq!(record["actor"]["user"], user_id.as_str());
    assert_eq!(record["source_ip"], "127.0.0.1");
    assert_eq!(record["request_id"], request_id.as_str());
    // What the user wrote is in no audit line.
    for line in audit_records(&app) {
        let text = line.to_string();
        assert!(!text.contains(title) && !text.contains(body), "content audited: {text}");
    }
}

async fn deleting_an_account_deletes_its_notes(backend: Backend) {
    use server::db::schema::{notes, users};
    let app = spawn_app(backend).await;
    let (alice_id, alice) = signed_in(&app, "alice").await;
    let (_, bob) = signed_in(&app, "bob").await;
    create(&app, &alice, "one", "").await;
    create(&app, &alice, "two", "").await;
    create(&app, &bob, "bob's", "").await;
    let count_of = |owner: String| {
        app.db
            .run_blocking(move |conn| {
                Ok(notes::table
                    .filter(notes::owner_id.eq(owner))
                    .count()
                    .get_result::<i64>(conn)?)
            })
            .unwrap()
    };
    assert_eq!(count_of(alice_id.clone()), 2);
    // No route deletes an account yet: the foreign key's ON DELETE CASCADE is what is shown.
    let id = alice_id.clone();
    app.db
        .run_blocking(move |conn| {
            diesel::delete(users::table.filter(users::id.eq(id))).execute(conn)?;
            Ok(())
        })
        .unwrap();
    assert_eq!(count_of(alice_id), 0, "the account's notes went with it");
    assert_eq!(titles(&json(get_as(&app, NOTES, &bob).await).await), ["bob's"]);
}
