//! PAT authentication: the REST API and the gateway check, against SQLite
//! and Postgres alike.

use crate::support;

use app::domain::{
    secret,
    tokens::{self as service, Actor},
};
use axum::{body::Body, http::Request, http::StatusCode};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use support::{token, Resp, TestApp};

async fn user(app: &TestApp, name: &str) -> i64 {
    support::user(app, name).await.0
}

async fn call(router: &axum::Router, method: &str, path: &str, auth: Option<String>) -> Resp {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    support::send(router, b.body(Body::empty()).expect("request")).await
}

async fn call_json(
    router: &axum::Router,
    method: &str,
    path: &str,
    auth: Option<String>,
    body: serde_json::Value,
) -> Resp {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    support::send(
        router,
        b.body(Body::from(body.to_string())).expect("request"),
    )
    .await
}

fn json_of(r: &Resp) -> serde_json::Value {
    serde_json::from_str(&r.body).unwrap_or_else(|_| panic!("not JSON: {}", r.body))
}

fn bearer(t: &str) -> Option<String> {
    Some(format!("Bearer {t}"))
}

fn basic(user: &str, t: &str) -> Option<String> {
    Some(format!("Basic {}", STANDARD.encode(format!("{user}:{t}"))))
}

fn error_code(r: &Resp) -> String {
    serde_json::from_str::<serde_json::Value>(&r.body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

async fn bearer_and_basic_tokens_reach_the_api(app: TestApp) {
    let uid = user(&app, "alice").await;
    let (_, t) = token(&app, uid, "cli", "profile:read").await;
    for auth in [bearer(&t), basic("git", &t), basic("", &t)] {
        let r = call(&app.router, "GET", "/api/v1/me", auth).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body.contains("\"username\":\"alice\""));
    }
}

async fn every_rejection_has_its_status_code_and_header(app: TestApp) {
    let uid = user(&app, "bob").await;
    let r = call(&app.router, "GET", "/api/v1/me", None).await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"Tessera\"")
    );

    // malformed or bad-checksum tokens never reach the database
    let before = app.core.verifier.lookups.load(Ordering::Relaxed);
    let (_, good) = token(&app, uid, "x", "full").await;
    let mut typo = good.clone().into_bytes();
    typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
    for bad in ["nonsense", "tsr_short", &String::from_utf8(typo).unwrap()] {
        let r = call(&app.router, "GET", "/api/v1/me", bearer(bad)).await;
        assert_eq!(
            (r.status, error_code(&r).as_str()),
            (StatusCode::UNAUTHORIZED, "invalid_token"),
            "{bad}"
        );
    }
    assert_eq!(
        app.core.verifier.lookups.load(Ordering::Relaxed),
        before,
        "no query for malformed tokens"
    );

    let (unknown, _) = secret::generate();
    let r = call(&app.router, "GET", "/api/v1/me", bearer(unknown.expose())).await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );

    let (rid, revoked) = token(&app, uid, "revoked", "full").await;
    service::revoke(&app.core, &Actor::user(uid), rid)
        .await
        .expect("revoke");
    let r = app.pat("GET", "/api/v1/me", &revoked).await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (StatusCode::UNAUTHORIZED, "token_revoked")
    );

    let (eid, expired) = token(&app, uid, "expired", "full").await;
    app.exec(&format!(
        "UPDATE tokens SET expires_at = created_at WHERE id = {eid}"
    ))
    .await;
    let r = app.pat("GET", "/api/v1/me", &expired).await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (StatusCode::UNAUTHORIZED, "token_expired")
    );
    assert!(r.header("www-authenticate").is_some());
}

async fn scopes_gate_each_route_and_higher_levels_include_lower(app: TestApp) {
    let uid = user(&app, "carol").await;
    let (_, code_only) = token(&app, uid, "code", "code:read").await;
    let r = app.pat("GET", "/api/v1/me", &code_only).await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (StatusCode::FORBIDDEN, "insufficient_scope")
    );
    assert!(r.body.contains("\"required_scope\":\"profile:read\""));
    let (_, manager) = token(&app, uid, "manager", "tokens:manage").await;
    let r = app.pat("GET", "/api/v1/tokens", &manager).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("\"total\":2"));
    let listed = json_of(&r);
    let rows = listed["tokens"].as_array().expect("tokens");
    assert!(
        rows.iter().all(|t| t.get("token").is_none()) && !r.body.contains(&manager),
        "never a secret"
    );
    let (_, reader) = token(&app, uid, "reader", "tokens:read").await;
    let r = app.pat("POST", "/api/v1/tokens/1/revoke", &reader).await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (StatusCode::FORBIDDEN, "insufficient_scope")
    );
    let (_, full) = token(&app, uid, "full", "full").await;
    assert_eq!(
        app.pat("GET", "/api/v1/me", &full).await.status,
        StatusCode::OK
    );
}

async fn another_users_token_id_is_not_found_through_the_api(app: TestApp) {
    let owner = user(&app, "dave").await;
    let (victim, _) = token(&app, owner, "victim", "full").await;
    let intruder = user(&app, "mallory").await;
    let (_, t) = token(&app, intruder, "mine", "tokens:write").await;
    for id in [victim, victim + 1000] {
        let a = app.pat("GET", &format!("/api/v1/tokens/{id}"), &t).await;
        let b = app
            .pat("POST", &format!("/api/v1/tokens/{id}/revoke"), &t)
            .await;
        assert_eq!(
            (a.status, b.status),
            (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND)
        );
        assert_eq!(error_code(&a), "not_found");
    }
}

async fn a_revoked_token_is_refused_at_once_despite_the_cache(app: TestApp) {
    let uid = user(&app, "erin").await;
    let (id, t) = token(&app, uid, "cached", "profile:read").await;
    assert_eq!(
        app.pat("GET", "/api/v1/me", &t).await.status,
        StatusCode::OK
    );
    let lookups = app.core.verifier.lookups.load(Ordering::Relaxed);
    assert_eq!(
        app.pat("GET", "/api/v1/me", &t).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.core.verifier.lookups.load(Ordering::Relaxed),
        lookups,
        "second call served from cache"
    );
    service::revoke(&app.core, &Actor::user(uid), id)
        .await
        .expect("revoke");
    let r = app.pat("GET", "/api/v1/me", &t).await;
    assert_eq!(error_code(&r), "token_revoked");
}

async fn the_gateway_check_answers_for_nginx_and_traefik(app: TestApp) {
    let uid = user(&app, "frank").await;
    let (id, t) = token(&app, uid, "git", "code:write").await;
    let ok = call(
        &app.router,
        "GET",
        "/gateway/check?scope=code:read",
        basic("git", &t),
    )
    .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT);
    assert_eq!(ok.header("x-tessera-user"), Some("frank"));
    assert_eq!(
        ok.header("x-tessera-token-id"),
        Some(id.to_string().as_str())
    );
    assert_eq!(ok.header("x-tessera-scopes"), Some("code:write"));
    let none = call(&app.router, "GET", "/gateway/check?scope=code:read", None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        none.header("www-authenticate"),
        Some("Basic realm=\"Tessera\"")
    );
    let denied = app.pat("GET", "/gateway/check?scope=code:manage", &t).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&denied), "insufficient_scope");
    // proxies may percent-encode the query; the first `scope` counts
    for (query, status) in [
        ("scope=code%3Aread", StatusCode::NO_CONTENT),
        ("scope=code%3Amanage", StatusCode::FORBIDDEN),
        ("scope=code:manage&scope=code:read", StatusCode::FORBIDDEN),
        ("other=1&scope=code:read", StatusCode::NO_CONTENT),
    ] {
        let r = app.pat("GET", &format!("/gateway/check?{query}"), &t).await;
        assert_eq!(r.status, status, "{query}");
    }
    let req = Request::builder()
        .uri("/gateway/check")
        .header("authorization", bearer(&t).unwrap())
        .header("x-tessera-scope", "wiki:read")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        support::send(&app.router, req).await.status,
        StatusCode::FORBIDDEN
    );
    service::revoke(&app.core, &Actor::user(uid), id)
        .await
        .expect("revoke");
    let gone = app.pat("GET", "/gateway/check?scope=code:read", &t).await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED);
}

async fn a_second_instance_drops_a_revoked_token_within_a_second(app: TestApp) {
    let uid = user(&app, "grace").await;
    let (id, t) = token(&app, uid, "shared", "profile:read").await;
    let (other, _other_core) = app.second_instance().await;
    // both instances have verified (and cached) the token
    assert_eq!(
        app.pat("GET", "/api/v1/me", &t).await.status,
        StatusCode::OK
    );
    assert_eq!(
        call(&other, "GET", "/api/v1/me", bearer(&t)).await.status,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(200)).await; // listener is up
    service::revoke(&app.core, &Actor::user(uid), id)
        .await
        .expect("revoke on instance A");
    let started = Instant::now();
    loop {
        let r = call(&other, "GET", "/api/v1/me", bearer(&t)).await;
        if r.status == StatusCode::UNAUTHORIZED {
            assert_eq!(error_code(&r), "token_revoked");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "instance B still accepts the token after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until instance `router` refuses `token` as revoked; panics after `limit`.
async fn refused_within(router: &axum::Router, token: &str, limit: Duration, what: &str) {
    let started = Instant::now();
    loop {
        let r = call(router, "GET", "/api/v1/me", bearer(token)).await;
        if r.status == StatusCode::UNAUTHORIZED {
            assert_eq!(error_code(&r), "token_revoked");
            return;
        }
        assert!(
            started.elapsed() < limit,
            "{what}: still accepted after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The change feed of instance B is killed from the database side, then
/// stalled (its backend stopped, a half-open connection): a revoke on
/// instance A still bites on B, because B stops trusting its cache as soon
/// as the feed cannot prove itself alive.
async fn a_dead_or_stalled_change_feed_fails_closed(app: TestApp) {
    let uid = user(&app, "oscar").await;
    let (id, t) = token(&app, uid, "feed", "profile:read").await;
    let (other, _other_core) = app.second_instance().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        call(&other, "GET", "/api/v1/me", bearer(&t)).await.status,
        StatusCode::OK
    );
    // 1. the listening connections are terminated by the database
    let pids = support::listener_pids(&app).await;
    assert!(!pids.is_empty(), "listeners found");
    for pid in &pids {
        app.exec(&format!("SELECT pg_terminate_backend({pid})"))
            .await;
    }
    service::revoke(&app.core, &Actor::user(uid), id)
        .await
        .expect("revoke");
    refused_within(&other, &t, Duration::from_secs(1), "killed feed").await;

    // 2. the listening connection stalls: its backend stops answering
    let (id2, t2) = token(&app, uid, "feed2", "profile:read").await;
    tokio::time::sleep(Duration::from_millis(500)).await; // feeds reconnected
    assert_eq!(
        call(&other, "GET", "/api/v1/me", bearer(&t2)).await.status,
        StatusCode::OK
    );
    let pids = support::listener_pids(&app).await;
    let stopped: Vec<String> = pids
        .iter()
        .map(|p| p.to_string())
        .filter(|p| {
            std::process::Command::new("kill")
                .args(["-STOP", p])
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    if stopped.is_empty() {
        assert!(
            !support::in_ci(),
            "CI runs Postgres locally as root: the stall must be tested"
        );
        eprintln!("note: cannot stop Postgres backends here; the stall case was not tested");
        return;
    }
    service::revoke(&app.core, &Actor::user(uid), id2)
        .await
        .expect("revoke");
    let outcome = tokio::spawn({
        let (other, t2) = (other.clone(), t2.clone());
        async move { refused_within(&other, &t2, Duration::from_secs(2), "stalled feed").await }
    })
    .await;
    for p in &stopped {
        let _ = std::process::Command::new("kill")
            .args(["-CONT", p])
            .status();
    }
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// `GET /api/v1/me` as a client with this user agent, behind a proxy that
/// forwards for `client_ip`.
async fn me_from(router: &axum::Router, token: &str, agent: &str, client_ip: &str) -> StatusCode {
    let req = Request::builder()
        .uri("/api/v1/me")
        .header("authorization", format!("Bearer {token}"))
        .header("user-agent", agent)
        .header("x-forwarded-for", client_ip)
        .body(Body::empty())
        .unwrap();
    support::send(router, req).await.status
}

async fn the_last_use_is_recorded_with_address_and_agent(app: TestApp) {
    let uid = user(&app, "heidi").await;
    let (id, t) = token(&app, uid, "used", "profile:read").await;
    let before = service::get(&app.db, uid, id).await.expect("get");
    assert!(before.last_used_at.is_none());
    for _ in 0..20 {
        assert_eq!(
            me_from(&app.router, &t, "git/2.47.3", "203.0.113.7").await,
            StatusCode::OK
        );
    }
    let started = Instant::now();
    let after = loop {
        let t = service::get(&app.db, uid, id).await.expect("get");
        if t.last_used_at.is_some() || started.elapsed() > Duration::from_secs(5) {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(after.last_used_at.is_some());
    assert_eq!(after.last_used_ip.as_deref(), Some("203.0.113.7"));
    assert_eq!(after.last_used_agent.as_deref(), Some("git/2.47.3"));
    // within its minute a later use only waits in memory (one write a
    // minute), but shutdown writes it: the page never loses the newest use
    tokio::time::sleep(Duration::from_millis(1100)).await; // a new second
    assert_eq!(
        me_from(&app.router, &t, "curl/8.14", "198.51.100.9").await,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let waiting = service::get(&app.db, uid, id).await.expect("get");
    assert_eq!(
        waiting.last_used_ip.as_deref(),
        Some("203.0.113.7"),
        "not written again within the minute"
    );
    app.core.flush_usage(true).await;
    let flushed = service::get(&app.db, uid, id).await.expect("get");
    assert_eq!(flushed.last_used_ip.as_deref(), Some("198.51.100.9"));
    assert_eq!(flushed.last_used_agent.as_deref(), Some("curl/8.14"));
}

async fn the_api_creates_edits_and_regenerates_but_never_escalates(app: TestApp) {
    let uid = user(&app, "ivan").await;
    let (_, admin) = token(&app, uid, "admin", "tokens:manage code:write").await;
    let r = call_json(&app.router, "POST", "/api/v1/tokens", bearer(&admin), serde_json::json!({
        "name": "from api", "description": "made by a token", "expires_in_days": 7, "scopes": "code:read"
    })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let created = json_of(&r);
    let secret = created["token"].as_str().expect("secret once").to_owned();
    assert!(secret::is_well_formed(&secret));
    let id = created["id"].as_i64().expect("id");
    // the new token works, with exactly its scopes
    let ok = app
        .pat("GET", "/gateway/check?scope=code:read", &secret)
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT);
    // the same validation as the page
    for (body, field) in [
        (
            serde_json::json!({"name": "", "scopes": "code:read"}),
            "name",
        ),
        (
            serde_json::json!({"name": "x", "scopes": "code:read", "expires_in_days": 9999}),
            "expiry",
        ),
        (
            serde_json::json!({"name": "x", "scopes": "rockets:read"}),
            "scopes",
        ),
        (
            // (7 days: the default 30 would outlive the 30-day caller once
            // a second has passed since it was made)
            serde_json::json!({"name": "from api", "scopes": "code:read", "expires_in_days": 7}),
            "name",
        ),
    ] {
        let r = call_json(&app.router, "POST", "/api/v1/tokens", bearer(&admin), body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(
            json_of(&r)["fields"][field].is_string(),
            "{field}: {}",
            r.body
        );
    }
    // escalation: wider scopes, or a longer life than the creator
    for scopes in [
        "full",
        "code:manage",
        "wiki:read",
        "tokens:manage profile:read",
    ] {
        let r = call_json(
            &app.router,
            "POST",
            "/api/v1/tokens",
            bearer(&admin),
            serde_json::json!({"name": scopes, "scopes": scopes}),
        )
        .await;
        assert_eq!(
            (r.status, error_code(&r).as_str()),
            (StatusCode::FORBIDDEN, "insufficient_scope"),
            "{scopes}"
        );
    }
    let r = call_json(
        &app.router,
        "POST",
        "/api/v1/tokens",
        bearer(&admin),
        serde_json::json!({"name": "long", "scopes": "code:read", "expires_in_days": 90}),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "outlives its creator: {}",
        r.body
    );
    // edit and regenerate
    let r = call_json(
        &app.router,
        "PATCH",
        &format!("/api/v1/tokens/{id}"),
        bearer(&admin),
        serde_json::json!({"name": "renamed", "scopes": "code:write"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(json_of(&r)["scopes"], "code:write");
    let r = call_json(
        &app.router,
        "PATCH",
        &format!("/api/v1/tokens/{id}"),
        bearer(&admin),
        serde_json::json!({"scopes": "full"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .pat("POST", &format!("/api/v1/tokens/{id}/regenerate"), &admin)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let fresh = json_of(&r)["token"]
        .as_str()
        .expect("new secret")
        .to_owned();
    assert_eq!(
        app.pat("GET", "/gateway/check", &secret).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.pat("GET", "/gateway/check", &fresh).await.status,
        StatusCode::NO_CONTENT
    );
    // a narrower token cannot touch (nor regenerate) a wider one
    let (wide_id, _) = token(&app, uid, "wide", "full").await;
    let (_, narrow) = token(&app, uid, "narrow", "tokens:write").await;
    for (m, p) in [
        ("POST", format!("/api/v1/tokens/{wide_id}/regenerate")),
        ("PATCH", format!("/api/v1/tokens/{wide_id}")),
        ("POST", format!("/api/v1/tokens/{wide_id}/revoke")),
        ("DELETE", format!("/api/v1/tokens/{wide_id}")),
    ] {
        let r = call_json(
            &app.router,
            m,
            &p,
            bearer(&narrow),
            serde_json::json!({"name": "pwned"}),
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{m} {p}: {}", r.body);
    }
    let wide = service::get(&app.db, uid, wide_id).await.expect("wide");
    assert!(
        wide.revoked_at.is_none() && wide.name == "wide",
        "untouched"
    );
    // no token gives any token (itself included) a longer life than its own
    let (own_id, own) = token(&app, uid, "short-lived", "tokens:write").await;
    let (other_id, _) = token(&app, uid, "reader", "tokens:read").await;
    let in_60_days = (chrono::Utc::now() + chrono::Duration::days(60)).date_naive();
    for (target, body) in [
        (own_id, serde_json::json!({"expires_in_days": 365})),
        (other_id, serde_json::json!({"expires_in_days": 60})),
        (
            other_id,
            serde_json::json!({"expires_on": in_60_days.to_string()}),
        ),
    ] {
        let r = call_json(
            &app.router,
            "PATCH",
            &format!("/api/v1/tokens/{target}"),
            bearer(&own),
            body.clone(),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.body
        );
        assert!(json_of(&r)["message"].is_string());
    }
    let r = call_json(
        &app.router,
        "PATCH",
        &format!("/api/v1/tokens/{own_id}"),
        bearer(&own),
        serde_json::json!({"expires_in_days": 7}),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "a shorter life is fine: {}",
        r.body
    );
    // list never shows a secret
    let r = app
        .pat("GET", "/api/v1/tokens?include_revoked=true", &admin)
        .await;
    assert!(!r.body.contains(&fresh) && !r.body.contains(&admin));
}

async fn introspection_follows_rfc_7662(app: TestApp) {
    let uid = user(&app, "judy").await;
    let (id, t) = token(&app, uid, "intro", "code:read").await;
    let post = |auth: Option<&str>, token: &str| {
        let mut b = Request::builder()
            .method("POST")
            .uri("/oauth/introspect")
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(a) = auth {
            b = b.header("authorization", format!("Basic {}", STANDARD.encode(a)));
        }
        b.body(Body::from(format!("token={token}")))
            .expect("request")
    };
    let res = app.request(post(None, &t)).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    let res = app.request(post(Some("gateway:wrong"), &t)).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&res), "invalid_client");
    let res = app
        .request(post(
            Some(&format!("gateway:{}", support::INTROSPECTION_SECRET)),
            &t,
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let v = json_of(&res);
    assert_eq!(v["active"], true);
    assert_eq!(v["scope"], "code:read");
    assert_eq!(v["username"], "judy");
    assert_eq!(v["sub"], uid.to_string());
    assert_eq!(v["jti"], id.to_string());
    assert_eq!(v["token_type"], "bearer");
    assert!(v["exp"].as_i64().unwrap() > v["iat"].as_i64().unwrap());
    service::revoke(&app.core, &Actor::user(uid), id)
        .await
        .expect("revoke");
    for bad in [t.as_str(), "garbage", ""] {
        let res = app
            .request(post(
                Some(&format!("gateway:{}", support::INTROSPECTION_SECRET)),
                bad,
            ))
            .await;
        assert_eq!(res.body, r#"{"active":false}"#);
    }
}

/// Guessing the introspection client's secret is throttled per address
/// (20 failures a window in tests); the real client from elsewhere is not.
async fn introspection_guesses_are_throttled(app: TestApp) {
    let post = |auth: &str, from: &str| {
        Request::builder()
            .method("POST")
            .uri("/oauth/introspect")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-forwarded-for", from)
            .header("authorization", format!("Basic {}", STANDARD.encode(auth)))
            .body(Body::from("token=x"))
            .expect("request")
    };
    for i in 0..20 {
        let r = app
            .request(post(&format!("gateway:guess{i}"), "203.0.113.9"))
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "guess {i}");
    }
    let good = format!("gateway:{}", support::INTROSPECTION_SECRET);
    let r = app.request(post(&good, "203.0.113.9")).await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts")
    );
    assert!(r.header("retry-after").is_some());
    let r = app.request(post(&good, "203.0.113.10")).await;
    assert_eq!(r.status, StatusCode::OK);
}

/// A browser that cached Basic credentials cannot be made to change tokens
/// by another site's form.
async fn cross_site_api_changes_are_refused(app: TestApp) {
    let (uid, _) = support::user(&app, "mike").await;
    let (id, t) = token(&app, uid, "victim", "tokens:write").await;
    for (name, value) in [
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://evil.example"),
    ] {
        let req = Request::builder()
            .method("POST")
            .uri(format!("/api/v1/tokens/{id}/revoke"))
            .header("authorization", basic("x", &t).unwrap())
            .header(name, value)
            .body(Body::empty())
            .unwrap();
        let r = app.request(req).await;
        assert_eq!(
            (r.status, error_code(&r).as_str()),
            (StatusCode::FORBIDDEN, "cross_site"),
            "{name}"
        );
    }
    // reading is fine, and so is a same-origin change
    let req = Request::builder()
        .uri(format!("/api/v1/tokens/{id}"))
        .header("authorization", basic("x", &t).unwrap())
        .header("sec-fetch-site", "cross-site")
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.request(req).await.status, StatusCode::OK, "reading");
    let req = Request::builder()
        .method("POST")
        .uri(format!("/api/v1/tokens/{id}/revoke"))
        .header("authorization", bearer(&t).unwrap())
        .header("sec-fetch-site", "same-origin")
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.request(req).await.status, StatusCode::OK);
}

/// Regenerating through the API needs `tokens:manage`, keeps the expiry, and
/// a last use of the old secret still waiting to be written never lands on
/// the new one.
async fn api_regenerate_keeps_the_expiry_and_forgets_the_old_use(app: TestApp) {
    let (uid, _) = support::user(&app, "nina").await;
    let (id, old) = token(&app, uid, "rotating", "profile:read").await;
    let (_, writer) = token(&app, uid, "writer", "tokens:write profile:read").await;
    let (_, manager) = token(&app, uid, "manager", "tokens:manage profile:read").await;
    let before = service::get(&app.db, uid, id).await.expect("get");
    assert_eq!(
        app.pat("GET", "/api/v1/me", &old).await.status,
        StatusCode::OK
    );
    let path = format!("/api/v1/tokens/{id}/regenerate");
    let r = app.pat("POST", &path, &writer).await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (StatusCode::FORBIDDEN, "insufficient_scope")
    );
    let r = app.pat("POST", &path, &manager).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let after = service::get(&app.db, uid, id).await.expect("get");
    assert_eq!(after.expires_at, before.expires_at, "never extended");
    app.core.flush_usage(true).await;
    // a use noted before the regenerate, written after it, is not recorded
    let stale = app::domain::usage::Use {
        at: after.created_at - chrono::Duration::seconds(5),
        ip: "192.0.2.1".parse().unwrap(),
        agent: "old secret".into(),
    };
    app::domain::usage::write(&app.db, &[(id, stale)])
        .await
        .expect("write");
    let after = service::get(&app.db, uid, id).await.expect("get");
    assert!(
        after.last_used_at.is_none(),
        "the old secret's use is not the new one's"
    );
}

async fn the_openapi_document_describes_every_api_route_the_router_serves(app: TestApp) {
    let r = call(&app.router, "GET", "/api/v1/openapi.json", None).await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = json_of(&r);
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = std::collections::BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for method in ops.as_object().expect("ops").keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let table: std::collections::BTreeSet<_> = tessera::machine::api::ENDPOINTS
        .iter()
        .map(|e| (e.method.to_uppercase(), e.path.to_owned()))
        .collect();
    assert_eq!(documented, table);
    // every documented operation is really served (it asks for a token, not
    // 404/405; the one without authentication asks for its JSON body)
    for e in tessera::machine::api::ENDPOINTS {
        let (method, path) = (e.method.to_uppercase(), e.path);
        let r = call(&app.router, &method, &path.replace("{id}", "1"), None).await;
        let wanted = match e.scope() {
            Some(_) => StatusCode::UNAUTHORIZED,
            None => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        };
        assert_eq!(r.status, wanted, "{method} {path}");
        if e.scope().is_none() {
            assert_eq!(
                doc["paths"][path][e.method]["security"],
                serde_json::json!([])
            );
        }
    }
    // and nothing under /api/v1 answers that is not documented; what does
    // not exist answers in JSON, as API clients expect, never the HTML page
    let not_allowed = (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let not_found = (StatusCode::NOT_FOUND, "not_found");
    for (method, path, (status, code)) in [
        ("PUT", "/api/v1/tokens/1", not_allowed),
        ("POST", "/api/v1/me", not_allowed),
        ("GET", "/api/v1/users", not_found),
        ("GET", "/api/v2/me", not_found),
        ("GET", "/oauth/token", not_allowed),
        ("GET", "/oauth/nope", not_found),
        ("GET", "/gateway/nope", not_found),
        ("GET", "/api", not_found),
        ("GET", "/oauth/introspect", not_allowed),
    ] {
        let r = call(&app.router, method, path, None).await;
        assert_eq!(r.status, status, "{method} {path}");
        assert_eq!(error_code(&r), code, "{method} {path}: {}", r.body);
        assert_eq!(
            r.headers
                .get("content-type")
                .map(|v| v.to_str().unwrap_or("")),
            Some("application/json"),
            "{method} {path}"
        );
    }
    let r = call(&app.router, "PUT", "/api/v1/me", None).await;
    assert_eq!(
        r.headers.get("allow").and_then(|v| v.to_str().ok()),
        Some("GET,HEAD"),
        "405 keeps the Allow header"
    );
}

/// A 42-byte credential with a character straddling the checksum: refused
/// as invalid, without a database query, on the API and the gateway check.
async fn non_ascii_credentials_are_refused_without_a_query(app: TestApp) {
    let sneaky = format!("tsr_{}é{}", "a".repeat(31), "b".repeat(5));
    let before = app.core.verifier.lookups.load(Ordering::Relaxed);
    for path in ["/api/v1/me", "/gateway/check"] {
        for auth in [basic("x", &sneaky), bearer(&sneaky)] {
            let r = call(&app.router, "GET", path, auth).await;
            assert_eq!(
                (r.status, error_code(&r).as_str()),
                (StatusCode::UNAUTHORIZED, "invalid_token"),
                "{path}"
            );
        }
    }
    assert_eq!(app.core.verifier.lookups.load(Ordering::Relaxed), before);
}

/// Whatever is wrong with a request's body, query or path, the API answers
/// JSON with a stable code and loses nothing.
async fn unreadable_input_gets_json_with_a_stable_code(app: TestApp) {
    let (uid, cookie) = support::user(&app, "kim").await;
    let (id, t) = token(&app, uid, "maker", "tokens:manage").await;
    let send = |method: &str, path: &str, ctype: Option<&str>, body: &str| {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {t}"));
        if let Some(c) = ctype {
            b = b.header("content-type", c);
        }
        b.body(Body::from(body.to_owned())).expect("request")
    };
    let json = Some("application/json");
    for (req, status, code) in [
        (
            send(
                "POST",
                "/api/v1/tokens",
                json,
                r#"{"name": 5, "scopes": "code:read"}"#,
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            send(
                "POST",
                "/api/v1/tokens",
                json,
                r#"{"name": "x", "scopes": "#,
            ),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            send("POST", "/api/v1/tokens", None, r#"{"name": "x"}"#),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_body",
        ),
        (
            send(
                "POST",
                "/api/v1/tokens",
                json,
                r#"{"name": "x", "scopes": "code:read", "expires_in_dayz": 7}"#,
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            send(
                "PATCH",
                &format!("/api/v1/tokens/{id}"),
                json,
                r#"{"expires_in_days": -1}"#,
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            send("GET", "/api/v1/tokens?include_revoked=maybe", None, ""),
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            send("GET", "/api/v1/tokens/abc", None, ""),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            send("GET", "/api/v1/tokens/99999999999999999999", None, ""),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            send(
                "POST",
                "/api/v1/tokens",
                json,
                r#"{"name": "x", "scopes": "code:read", "expires_in_days": 7, "expires_on": "2030-01-01"}"#,
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
    ] {
        let what = format!("{} {}", req.method(), req.uri());
        let r = app.request(req).await;
        assert_eq!(
            (r.status, error_code(&r).as_str()),
            (status, code),
            "{what}: {}",
            r.body
        );
        assert!(json_of(&r)["message"].is_string(), "{what}");
    }
    // a repeated create with the same request id makes one token and says so
    let body = serde_json::json!({"name": "once", "scopes": "tokens:read", "request_id": "r-1"});
    let first = call_json(
        &app.router,
        "POST",
        "/api/v1/tokens",
        bearer(&t),
        body.clone(),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = call_json(&app.router, "POST", "/api/v1/tokens", bearer(&t), body).await;
    assert_eq!(
        (again.status, error_code(&again).as_str()),
        (StatusCode::CONFLICT, "already_submitted")
    );
    assert_eq!(json_of(&again)["id"], json_of(&first)["id"]);
    assert!(
        json_of(&again).get("token").is_none(),
        "the secret is shown once"
    );
    // the session cookie means nothing to the API
    let req = Request::builder()
        .uri("/api/v1/me")
        .header("cookie", format!("tessera_session={cookie}"))
        .body(Body::empty())
        .unwrap();
    let r = app.request(req).await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
}

/// What the OpenAPI document says each operation needs is what is
/// enforced: a token with every other area (at `manage`) but not the
/// documented scope's is refused with that scope named; a token with just
/// that scope is not refused for its scope.
async fn every_operation_enforces_the_scope_it_documents(app: TestApp) {
    let uid = user(&app, "scoped").await;
    let (target, _) = token(&app, uid, "target", "profile:read").await;
    let doc = json_of(&call(&app.router, "GET", "/api/v1/openapi.json", None).await);
    let mut checked = 0;
    let mut successes = 0;
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("ops") {
            let Some(scope) = op["x-required-scope"].as_str() else {
                continue;
            };
            let area = scope.split(':').next().unwrap_or_default();
            let others: Vec<String> = app::scopes::CATALOG
                .iter()
                .filter(|a| a.id != area && !app::scopes::ADMIN_ONLY_AREAS.contains(&a.id))
                .map(|a| format!("{}:manage", a.id))
                .collect();
            let (_, lacking) =
                token(&app, uid, &format!("lacks-{checked}"), &others.join(" ")).await;
            let (_, just) = token(&app, uid, &format!("just-{checked}"), scope).await;
            let path = path
                .replace("{id}", &target.to_string())
                .replace("{org}", "acme");
            let method = method.to_uppercase();
            let r = call(
                &app.router,
                &method,
                &path,
                Some(format!("Bearer {lacking}")),
            )
            .await;
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "{method} {path}: {}",
                r.body
            );
            assert_eq!(json_of(&r)["required_scope"], scope, "{method} {path}");
            // what would have worked, in the body and in a header
            let accepted = app::scopes::accepted(scope);
            assert_eq!(
                json_of(&r)["accepted_scopes"],
                serde_json::json!(accepted),
                "{method} {path}"
            );
            assert_eq!(
                r.header("x-tessera-accepted-scopes"),
                Some(accepted.join(", ").as_str()),
                "{method} {path}"
            );
            assert!(
                r.header("x-tessera-token-expires").is_none(),
                "only on success"
            );
            let r = call(&app.router, &method, &path, Some(format!("Bearer {just}"))).await;
            if r.status.is_success() {
                let expires = r
                    .header("x-tessera-token-expires")
                    .unwrap_or_else(|| panic!("{method} {path}: no X-Tessera-Token-Expires"));
                let at = chrono::DateTime::parse_from_rfc3339(expires).expect("RFC 3339");
                assert!(
                    expires.ends_with('Z') && at.offset().local_minus_utc() == 0,
                    "{expires}: UTC"
                );
                let days = (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_days();
                assert!(
                    (28..=30).contains(&days),
                    "{method} {path}: {expires} (the token's 30 days)"
                );
                successes += 1;
            }
            // (it may still be refused for acting on a wider token, with
            // no scope named: that is the token service's rule, not the route's)
            assert!(
                json_of(&r)["required_scope"].is_null(),
                "{method} {path} with {scope}: {}",
                r.body
            );
            checked += 1;
        }
    }
    assert!(checked >= 12, "only {checked} operations document a scope");
    assert!(
        successes >= 5,
        "only {successes} operations answered with just their scope"
    );
}

on_both_backends!(
    every_operation_enforces_the_scope_it_documents,
    introspection_guesses_are_throttled,
    cross_site_api_changes_are_refused,
    api_regenerate_keeps_the_expiry_and_forgets_the_old_use,
    non_ascii_credentials_are_refused_without_a_query,
    unreadable_input_gets_json_with_a_stable_code,
    the_openapi_document_describes_every_api_route_the_router_serves,
    the_api_creates_edits_and_regenerates_but_never_escalates,
    introspection_follows_rfc_7662,
    the_last_use_is_recorded_with_address_and_agent,
    bearer_and_basic_tokens_reach_the_api,
    every_rejection_has_its_status_code_and_header,
    scopes_gate_each_route_and_higher_levels_include_lower,
    another_users_token_id_is_not_found_through_the_api,
    a_revoked_token_is_refused_at_once_despite_the_cache,
    the_gateway_check_answers_for_nginx_and_traefik,
);

// Two instances share one store only on Postgres (one SQLite file belongs
// to one process), so this runs there alone.
on_backend!(
    postgres_only,
    Postgres;
    a_second_instance_drops_a_revoked_token_within_a_second,
    a_dead_or_stalled_change_feed_fails_closed,
);
