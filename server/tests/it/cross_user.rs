//! The cross-user matrix, generated from the route tables: with user B's
//! session and B's full-access token, every API route, page, plain form and
//! server function that names a token is tried with one of user A's token
//! ids. Each must answer exactly as it answers an id that does not exist,
//! and A's token must be unchanged afterwards.

use crate::support;

use axum::{
    body::Body,
    http::{header, Request, StatusCode},
};
use support::{strip_tags, token, user, Resp, TestApp, PW};
use tessera::{browser, machine::api::ENDPOINTS};

/// What a person sees of an answer: the text without scripts (which carry
/// per-response nonces and ids), white space folded, the token id replaced.
fn visible(res: &Resp, id: i64) -> String {
    let mut html = res.body.clone();
    while let Some(start) = html.find("<script") {
        let end = html[start..]
            .find("</script>")
            .map_or(html.len(), |e| start + e + "</script>".len());
        html.replace_range(start..end, "");
    }
    let text = strip_tags(&html)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    whole_number_replaced(&text, &id.to_string())
}

/// `text` with every whole number equal to `id` written `ID` (a `1` inside
/// "10 minutes" stays).
fn whole_number_replaced(text: &str, id: &str) -> String {
    let mut out = String::new();
    let mut digits = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if !digits.is_empty() {
            out.push_str(if digits == id { "ID" } else { &digits });
            digits.clear();
        }
        out.push(c);
    }
    out.pop();
    out
}

/// A's token as stored, to prove nothing changed it.
async fn snapshot(app: &TestApp, id: i64) -> Vec<(String, String, String, Option<String>)> {
    let sql = format!(
        "SELECT name, description, scopes || ' ' || hint || ' ' || CAST(expires_at AS TEXT) || ' ' || CAST(updated_at AS TEXT), \
         CAST(revoked_at AS TEXT) FROM tokens WHERE id = {id}"
    );
    app.rows(&sql).await
}

/// The server functions that take a token id, with a body naming it; the
/// others name none. A server function in neither list fails the test, so
/// a new one cannot skip the matrix.
fn server_fn_body(path: &str, id: i64) -> Option<Option<String>> {
    let form = r#"{"name":"pwned","description":"","expiry":"keep","expiry_date":"","scope_mode":"full","levels":{},"form_id":""}"#;
    match path {
        "/rpc/tokens/get"
        | "/rpc/tokens/revoke"
        | "/rpc/tokens/regenerate"
        | "/rpc/tokens/derive" => Some(Some(format!(r#"{{"id":{id}}}"#))),
        "/rpc/tokens/dialog" => Some(Some(format!(r#"{{"kind":"edit","id":{id}}}"#))),
        "/rpc/tokens/dialog_submit" => Some(Some(format!(
            r#"{{"kind":"edit","id":{id},"fields":[["name","pwned"],["expiry","keep"],["scope_mode","full"],["sudo_password","{PW}"]]}}"#
        ))),
        "/rpc/tokens/update" => Some(Some(format!(
            r#"{{"id":{id},"form":{form},"sudo_password":"{PW}"}}"#
        ))),
        // another user's token's history is as empty as a missing one's
        "/rpc/activity/list" => Some(Some(format!(r#"{{"token":{id},"before":null}}"#))),
        // administrators see every user by design; anyone else gets 404
        // (admin_pages_work_for_admins_and_do_not_exist_for_others)
        "/rpc/admin/tokens" | "/rpc/admin/users" | "/rpc/admin/policies" | "/rpc/admin/audit" => {
            Some(None)
        }
        "/rpc/tokens/list"
        | "/rpc/tokens/list_html"
        | "/rpc/tokens/create"
        | "/rpc/tokens/revoke_all"
        | "/rpc/tokens/policy"
        | "/rpc/session_info"
        | "/rpc/notifications/settings"
        | "/rpc/notifications/expiring"
        | "/rpc/sessions/list"
        // their own factors; ceremonies are ids of their own, tried in
        // two_factor.rs (passkey_ceremonies_are_one_time_and_bound_…)
        | "/rpc/two_factor/settings"
        | "/rpc/passkeys/start"
        | "/rpc/passkeys/finish"
        // the rules are ids of their own; another user's rule is tried in
        // workloads.rs (removing_a_rule_revokes_what_it_minted, the_trusted_
        // workloads_page_works_with_plain_forms)
        | "/rpc/workloads/list" => Some(None),
        // the visitor's own organizations; another organization's requests
        // are tried in orgs.rs
        "/rpc/orgs/list" => Some(None),
        // an organization's limits, for its owners only: a member and a
        // stranger are tried in service_accounts.rs
        "/rpc/orgs/service-token-setup" => Some(None),
        _ => None,
    }
}

async fn another_users_token_ids_answer_as_missing_ones_everywhere(app: TestApp) {
    let (alice, _) = user(&app, "alice").await;
    let (mallory, cookie) = user(&app, "mallory").await;
    // ids of seven digits: no count, date or hint on a page can look like one
    match app.backend {
        support::Backend::Sqlite => {
            app.exec("INSERT INTO sqlite_sequence (name, seq) SELECT 'tokens', 7000000 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'tokens')").await;
            app.exec("UPDATE sqlite_sequence SET seq = 7000000 WHERE name = 'tokens'")
                .await;
        }
        support::Backend::Postgres => {
            app.exec("SELECT setval(pg_get_serial_sequence('tokens', 'id'), 7000000)")
                .await;
        }
    }
    let (target, _) = token(&app, alice, "alice-ci", "code:read").await;
    let (_, secret) = token(&app, mallory, "mallory-full", "full").await;
    let missing = target + 1_000_000;
    let before = snapshot(&app, target).await;
    let mut tried = 0;

    // Every answer pair: the same status and the same visible words.
    let compare = |what: String, foreign: Resp, absent: Resp| {
        assert_eq!(foreign.status, absent.status, "{what}: status");
        assert_eq!(
            visible(&foreign, target),
            visible(&absent, missing),
            "{what}: body"
        );
        assert!(
            foreign.status == StatusCode::NOT_FOUND || foreign.status == StatusCode::OK,
            "{what}: {} {}",
            foreign.status,
            foreign.body
        );
    };

    // 1. the API, from its endpoint table
    for e in ENDPOINTS.iter().filter(|e| e.path.contains("{id}")) {
        let call = |id: i64| {
            let body = match e.body {
                Some("RotateBody") => Body::from(r#"{"grace_hours":1}"#),
                // another organization's request: orgs.rs tries those
                Some("TokenRequestDecision") => Body::from(r#"{"reason":"pwned"}"#),
                Some(_) => {
                    Body::from(r#"{"description":"pwned","scopes":"full","expires_in_days":365}"#)
                }
                None => Body::empty(),
            };
            Request::builder()
                .method(e.method.to_ascii_uppercase().as_str())
                .uri(
                    e.path
                        .replace("{id}", &id.to_string())
                        .replace("{org}", "acme"),
                )
                .header(header::AUTHORIZATION, format!("Bearer {secret}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(body)
                .expect("request")
        };
        let (foreign, absent) = (
            app.request(call(target)).await,
            app.request(call(missing)).await,
        );
        assert_eq!(
            foreign.status,
            StatusCode::NOT_FOUND,
            "{} {}",
            e.method,
            e.path
        );
        compare(format!("{} {}", e.method, e.path), foreign, absent);
        tried += 1;
    }

    // 2. the pages, from the app's route list
    for path in browser::page_paths().iter().filter(|p| p.contains("{id}")) {
        let at = |id: i64| path.replace("{id}", &id.to_string());
        let foreign = app.get(&at(target), Some(&cookie)).await;
        let absent = app.get(&at(missing), Some(&cookie)).await;
        compare(format!("GET {path}"), foreign, absent);
        tried += 1;
    }

    // 3. the plain forms, from the browser router's form table
    let fields = [
        ("name", "pwned"),
        ("expiry", "keep"),
        ("scope_mode", "full"),
        ("sudo_password", PW),
    ];
    for (path, _) in browser::form_routes()
        .iter()
        .filter(|(p, _)| p.contains("{id}"))
    {
        let at = |id: i64| path.replace("{id}", &id.to_string());
        let foreign = app.post_form(&at(target), &fields, Some(&cookie)).await;
        let absent = app.post_form(&at(missing), &fields, Some(&cookie)).await;
        assert_eq!(foreign.status, StatusCode::NOT_FOUND, "POST {path}");
        compare(format!("POST {path}"), foreign, absent);
        tried += 1;
    }

    // 4. the server functions, from the registry
    let mut paths: Vec<&str> = leptos::server_fn::axum::server_fn_paths()
        .map(|(p, _)| p)
        .collect();
    paths.sort_unstable();
    paths.dedup();
    for path in paths {
        let body = server_fn_body(path, target)
            .unwrap_or_else(|| panic!("{path}: add it to the cross-user matrix"));
        let Some(foreign_body) = body else { continue };
        let absent_body = server_fn_body(path, missing).flatten().expect("same shape");
        let call = |body: String| {
            Request::builder()
                .method("POST")
                .uri(path)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::COOKIE, format!("tessera_session={cookie}"))
                .body(Body::from(body))
                .expect("request")
        };
        let foreign = app.request(call(foreign_body)).await;
        let absent = app.request(call(absent_body)).await;
        assert_eq!(foreign.status, StatusCode::OK, "{path}: {}", foreign.body);
        assert!(
            foreign.body == "null"
                || foreign.body == "[]"
                || foreign.body.contains("That token does not exist."),
            "{path}: {}",
            foreign.body
        );
        compare(format!("server fn {path}"), foreign, absent);
        tried += 1;
    }

    // the tables were really walked: 5 API routes, 2 pages… at the least
    assert!(tried >= 14, "only {tried} routes tried");
    assert_eq!(snapshot(&app, target).await, before, "A's token changed");
}

on_both_backends!(another_users_token_ids_answer_as_missing_ones_everywhere);
