//! Rotation with a grace period (`POST /api/v1/tokens/{id}/rotate`): the
//! new secret works at once, the old one until the grace ends (on every
//! instance), then it is refused as rotated and its use is recorded as
//! reuse, with where it came from. And ended (expired, revoked) tokens
//! still presented: counted, with bounded writes, on the owner's row.

use crate::support;

use app::domain::tokens::{self as service, Actor};
use axum::{body::Body, http::Request, http::StatusCode};
use support::{token, Resp, TestApp};

async fn call(app: &TestApp, method: &str, path: &str, secret: &str, body: &str) -> Resp {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {secret}"))
        .header("content-type", "application/json")
        .header("x-forwarded-for", "192.0.2.77")
        .header("user-agent", "old-ci-job/1.0")
        .body(Body::from(body.to_owned()))
        .unwrap();
    app.request(req).await
}

/// `POST …/{id}/rotate` by `manager` with `body`.
async fn rotate(app: &TestApp, id: i64, manager: &str, body: &str) -> Resp {
    call(
        app,
        "POST",
        &format!("/api/v1/tokens/{id}/rotate"),
        manager,
        body,
    )
    .await
}

/// The new secret in a rotation's answer.
fn secret_of(r: &Resp) -> String {
    json_of(r)["token"].as_str().expect("a secret").to_owned()
}

fn json_of(r: &Resp) -> serde_json::Value {
    serde_json::from_str(&r.body).unwrap_or_else(|_| panic!("not JSON: {}", r.body))
}

async fn rotation_keeps_the_old_secret_for_its_grace_then_flags_reuse(app: TestApp) {
    let (uid, cookie) = support::user(&app, "rita").await;
    let (_, manager) = token(&app, uid, "manager", "tokens:manage profile:read").await;
    let (id, old) = token(&app, uid, "deploy", "profile:read").await;
    let before = service::get(&app.db, uid, id).await.unwrap();
    let (second, _) = app.second_instance().await;
    let me = |r: &axum::Router, s: &str| {
        let req = Request::builder()
            .uri("/api/v1/me")
            .header("authorization", format!("Bearer {s}"))
            .body(Body::empty())
            .unwrap();
        let r = r.clone();
        async move { support::send(&r, req).await }
    };
    assert_eq!(
        me(&second, &old).await.status,
        StatusCode::OK,
        "cached on the second instance"
    );
    // bad grace values are field errors
    for bad in [
        r#"{"grace_hours": 169}"#,
        r#"{"grace_hours": -1}"#,
        r#"{"grace": 1}"#,
        "not json",
    ] {
        let r = rotate(&app, id, &manager, bad).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.body
        );
    }
    let r = rotate(&app, id, &manager, r#"{"grace_hours": 3}"#).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let body = json_of(&r);
    let new = body["token"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(body["name"], "deploy");
    assert_eq!(body["scopes"], before.scopes.to_string());
    assert_eq!(
        body["expires_at"],
        serde_json::json!(before.expires_at),
        "the expiry stays"
    );
    assert!(body["previous_secret_valid_until"].is_string());
    // both secrets work during the grace, here and on the other instance
    for r in [&app.router, &second] {
        assert_eq!(me(r, &new).await.status, StatusCode::OK);
        assert_eq!(me(r, &old).await.status, StatusCode::OK);
    }
    let page = app.get("/profile/security/tokens", Some(&cookie)).await;
    assert!(
        page.body.contains("Old secret stops working in 3 h"),
        "the row says so"
    );
    // the grace ends (moved into the past): the old secret is refused as
    // rotated everywhere, and its use is recorded with where it came from
    app.exec(&match app.backend {
        support::Backend::Sqlite => "UPDATE tokens SET previous_valid_until = '2020-01-01T00:00:00Z' WHERE name = 'deploy'".to_owned(),
        support::Backend::Postgres => "UPDATE tokens SET previous_valid_until = '2020-01-01T00:00:00+00:00' WHERE name = 'deploy'".to_owned(),
    })
    .await;
    app.core.verifier.evict_all();
    let r = call(&app, "GET", "/api/v1/me", &old, "").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(json_of(&r)["error"], "token_rotated");
    assert_eq!(me(&app.router, &new).await.status, StatusCode::OK);
    // a second rotation with no grace: the first secret is still known as rotated out
    let r = rotate(&app, id, &manager, "").await;
    let newest = secret_of(&r);
    for gone in [&old, &new] {
        let r = call(&app, "GET", "/api/v1/me", gone, "").await;
        assert_eq!(json_of(&r)["error"], "token_rotated", "{}", r.body);
    }
    assert_eq!(me(&app.router, &newest).await.status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let events = app::domain::audit::list(
        &app.db,
        &app::domain::audit::Filter {
            token_id: Some(id),
            limit: 20,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let reuse: Vec<_> = events
        .iter()
        .filter(|e| e.event == "token.reused")
        .collect();
    assert_eq!(
        reuse.len(),
        1,
        "sampled: one row however many presentations"
    );
    assert_eq!(
        (reuse[0].ip.as_str(), reuse[0].user_agent.as_str()),
        ("192.0.2.77", "old-ci-job/1.0")
    );
    let rotated: Vec<_> = events
        .iter()
        .filter(|e| e.event == "token.rotated")
        .collect();
    assert_eq!(rotated.len(), 2);
    assert_eq!(rotated[1].details["grace_hours"], 3);
    // regenerate also retires the secret it replaces
    let regen = service::regenerate(&app.core, &Actor::user(uid), id)
        .await
        .unwrap();
    let r = call(&app, "GET", "/api/v1/me", &newest, "").await;
    assert_eq!(json_of(&r)["error"], "token_rotated");
    assert_eq!(me(&app.router, &regen.secret).await.status, StatusCode::OK);
    // a made-up token is still just invalid
    let r = call(
        &app,
        "GET",
        "/api/v1/me",
        "tsr_0123456789abcdefghijABCDEFGHIJxy2HQKvj",
        "",
    )
    .await;
    assert_eq!(json_of(&r)["error"], "invalid_token");
}

/// With `revoke_on_reuse`, presenting a rotated-out secret revokes the
/// token's current one too (by policy); off, only the old one is refused.
async fn the_revoke_on_reuse_policy_revokes_the_chain(app: TestApp) {
    let (uid, _) = support::user(&app, "rex").await;
    let (_, manager) = token(&app, uid, "manager", "tokens:manage profile:read").await;
    let (id, old) = token(&app, uid, "ci", "profile:read").await;
    let r = rotate(&app, id, &manager, "").await;
    let new = secret_of(&r);
    assert_eq!(
        json_of(&call(&app, "GET", "/api/v1/me", &old, "").await)["error"],
        "token_rotated"
    );
    assert_eq!(
        call(&app, "GET", "/api/v1/me", &new, "").await.status,
        StatusCode::OK,
        "off by default"
    );
    app::domain::admin::set_policy(
        &app.core,
        &app::domain::admin::Admin::cli(),
        "revoke_on_reuse",
        "true",
    )
    .await
    .unwrap();
    assert_eq!(
        json_of(&call(&app, "GET", "/api/v1/me", &old, "").await)["error"],
        "token_rotated"
    );
    let start = std::time::Instant::now();
    loop {
        let r = call(&app, "GET", "/api/v1/me", &new, "").await;
        if r.status == StatusCode::UNAUTHORIZED {
            assert_eq!(json_of(&r)["error"], "token_revoked");
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(2),
            "not revoked"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let t = service::get(&app.db, uid, id).await.unwrap();
    assert_eq!(t.revoked_by.as_deref(), Some("policy"));
    assert!(t
        .revoked_note()
        .unwrap()
        .starts_with("Revoked by policy: an old secret was used"));
}

/// A token presented after it expired or was revoked: every presentation
/// counted, the last one's address and agent kept, written at most once a
/// minute per token, and shown on its owner's row.
async fn presentations_of_ended_tokens_are_counted_with_bounded_writes(app: TestApp) {
    let (uid, cookie) = support::user(&app, "ezra").await;
    let (id, secret) = token(&app, uid, "ci-deploy", "profile:read").await;
    service::revoke(&app.core, &Actor::user(uid), id)
        .await
        .unwrap();
    let (_, expired) = token(&app, uid, "old-job", "profile:read").await;
    app.exec("UPDATE tokens SET expires_at = created_at WHERE name = 'old-job'")
        .await;
    for _ in 0..25 {
        let r = call(&app, "GET", "/api/v1/me", &secret, "").await;
        assert_eq!(json_of(&r)["error"], "token_revoked");
    }
    for _ in 0..3 {
        let r = call(&app, "GET", "/gateway/check", &expired, "").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    app.core.flush_usage(false).await;
    let t = service::get(&app.db, uid, id).await.unwrap();
    assert_eq!(t.presented_after_end, 25);
    let (_, ip, agent) = t.last_presented.clone().unwrap();
    assert_eq!(
        (ip.as_str(), agent.as_str()),
        ("192.0.2.77", "old-ci-job/1.0")
    );
    // more within the minute: counted in memory, not written yet
    for _ in 0..10 {
        call(&app, "GET", "/api/v1/me", &secret, "").await;
    }
    app.core.flush_usage(false).await;
    assert_eq!(
        service::get(&app.db, uid, id)
            .await
            .unwrap()
            .presented_after_end,
        25,
        "one write a minute"
    );
    app.core.flush_usage(true).await;
    assert_eq!(
        service::get(&app.db, uid, id)
            .await
            .unwrap()
            .presented_after_end,
        35,
        "nothing lost at shutdown"
    );
    let page = app
        .get("/profile/security/tokens?revoked=1", Some(&cookie))
        .await;
    let text = support::strip_tags(&page.body);
    assert!(
        text.contains("Presented 35 times since it was revoked"),
        "{text}"
    );
    assert!(text.contains("from 192.0.2.77 (old-ci-job/1.0)"));
    assert!(text.contains("Presented 3 times since it expired"));
}

/// The page's Regenerate offers the same choice: the plain form and the
/// dialog's server function rotate with a grace when one is chosen.
async fn the_pages_regenerate_can_keep_the_old_secret_for_a_while(app: TestApp) {
    let (uid, cookie) = support::user(&app, "gina").await;
    let (id, old) = token(&app, uid, "deploy", "profile:read").await;
    let res = app
        .post_form(
            &format!("/profile/security/tokens/{id}/regenerate"),
            &[("grace_hours", "24")],
            Some(&cookie),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(res.body.contains("The old one keeps working until"));
    assert_eq!(
        call(&app, "GET", "/api/v1/me", &old, "").await.status,
        StatusCode::OK,
        "still in its grace"
    );
    let req = Request::builder()
        .method("POST")
        .uri("/rpc/tokens/regenerate")
        .header("content-type", "application/json")
        .header("cookie", format!("tessera_session={cookie}"))
        .body(Body::from(format!(r#"{{"id":{id},"grace_hours":0}}"#)))
        .unwrap();
    let res = app.request(req).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let r = call(&app, "GET", "/api/v1/me", &old, "").await;
    assert_eq!(
        json_of(&r)["error"],
        "token_rotated",
        "regenerating again retires both"
    );
    let res = app
        .post_form(
            &format!("/profile/security/tokens/{id}/regenerate"),
            &[("grace_hours", "500")],
            Some(&cookie),
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = app
        .get(
            &format!("/profile/security/tokens/{id}/regenerate"),
            Some(&cookie),
        )
        .await;
    assert!(
        page.body.contains("The old secret keeps working") && page.body.contains("For 24 hours")
    );
}

on_both_backends!(
    rotation_keeps_the_old_secret_for_its_grace_then_flags_reuse,
    the_revoke_on_reuse_policy_revokes_the_chain,
    presentations_of_ended_tokens_are_counted_with_bounded_writes,
    the_pages_regenerate_can_keep_the_old_secret_for_a_while,
);
