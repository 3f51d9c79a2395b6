//! `GET /metrics`, on SQLite and Postgres: who may read it on the main
//! address (an administrator's token with `metrics:read`, nobody else),
//! what it counts (requests by route pattern and status, verifications by
//! outcome, the cache, the change feed's lag and reconnects, the hashing
//! queue, the pool). `--metrics-addr` on the real binary: `binary.rs`.

use crate::support;

use app::domain::admin::{self, Admin};
use axum::http::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};
use support::{token, user, Resp, TestApp};

fn json(r: &Resp) -> serde_json::Value {
    serde_json::from_str(&r.body).unwrap_or_else(|_| panic!("JSON: {}", r.body))
}

/// The value of the sample `name` (with its labels, exactly as rendered),
/// if present.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

async fn scrape(app: &TestApp, token: &str) -> String {
    let r = app.pat("GET", "/metrics", token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.header("content-type"),
        Some(app::domain::metrics::CONTENT_TYPE)
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(
        r.body.ends_with("# EOF\n"),
        "OpenMetrics text ends with # EOF"
    );
    r.body
}

/// An administrator and their `metrics:read` token.
async fn operator(app: &TestApp) -> String {
    let (uid, _) = user(app, "ops").await;
    admin::set_admin(&app.core, &Admin::cli(), "ops", true)
        .await
        .expect("admin");
    token(app, uid, "prometheus", "metrics:read").await.1
}

async fn only_an_administrators_metrics_token_reads_them(app: TestApp) {
    let r = app.get("/metrics", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(json(&r)["error"], "invalid_token");

    // a non-administrator: the scope is refused at creation, Full access is not enough
    let (uid, cookie) = user(&app, "mallory").await;
    let full = token(&app, uid, "full", "full").await.1;
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/api/v1/tokens")
        .header("authorization", format!("Bearer {full}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            json!({"name": "scraper", "scopes": "metrics:read", "expires_in_days": 7}).to_string(),
        ))
        .expect("request");
    let r = app.request(req).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(
        json(&r)["fields"]["scopes"],
        "Only administrators can give tokens the Metrics scope."
    );
    let r = app.pat("GET", "/metrics", &full).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(json(&r)["error"], "insufficient_scope");
    assert_eq!(json(&r)["required_scope"], "metrics:read");
    // the dialog does not offer the area to them
    let page = app.get("/profile/security/tokens/new", Some(&cookie)).await;
    assert!(
        !page.body.contains("scope_metrics"),
        "no Metrics row for non-admins"
    );

    // an administrator's token without the scope, then with it
    let ops = operator(&app).await;
    let (ops_id,): (i64,) = app
        .rows("SELECT id FROM users WHERE username = 'ops'")
        .await[0];
    let profile = token(&app, ops_id, "profile only", "profile:read").await.1;
    let r = app.pat("GET", "/metrics", &profile).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(json(&r)["required_scope"], "metrics:read");
    let text = scrape(&app, &ops).await;
    assert!(text.contains("# TYPE tessera_http_requests counter"));
    // an admin's dialog offers it
    let ops_cookie = app
        .sign_in("ops", support::PW)
        .await
        .session_cookie()
        .expect("cookie");
    let page = app
        .get("/profile/security/tokens/new", Some(&ops_cookie))
        .await;
    assert!(
        page.body.contains("scope_metrics"),
        "a Metrics row for admins"
    );

    // a demoted administrator's token stops reading them
    admin::set_admin(&app.core, &Admin::cli(), "ops", false)
        .await
        .expect("demote");
    let started = Instant::now();
    loop {
        let r = app.pat("GET", "/metrics", &ops).await;
        if r.status == StatusCode::FORBIDDEN {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(2), "demotion seen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn requests_verifications_and_levels_are_counted(app: TestApp) {
    let ops = operator(&app).await;
    let (uid, _) = user(&app, "dev").await;
    let (id, t) = token(&app, uid, "ci", "profile:read").await;
    for _ in 0..5 {
        assert_eq!(
            app.pat("GET", "/api/v1/me", &t).await.status,
            StatusCode::OK
        );
    }
    // refused for scope at the gateway; an unknown path; a malformed and a revoked token
    let r = app.pat("GET", "/gateway/check?scope=code:write", &t).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.pat("GET", "/api/v1/no-such-thing-8f3a", &t).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.pat("GET", "/api/v1/me", "tsr_not-a-token").await.status,
        StatusCode::UNAUTHORIZED
    );
    app::domain::tokens::revoke(&app.core, &app::domain::tokens::Actor::user(uid), id)
        .await
        .expect("revoke");
    assert_eq!(
        app.pat("GET", "/api/v1/me", &t).await.status,
        StatusCode::UNAUTHORIZED
    );

    let text = scrape(&app, &ops).await;
    let get = |name: &str| sample(&text, name).unwrap_or_else(|| panic!("{name} in\n{text}"));
    assert_eq!(
        get(r#"tessera_http_requests_total{route="/api/v1/me",method="GET",status="200"}"#),
        5.0
    );
    assert_eq!(
        get(r#"tessera_http_requests_total{route="/api/v1/me",method="GET",status="401"}"#),
        2.0
    );
    assert_eq!(
        get(r#"tessera_http_requests_total{route="/gateway/check",method="GET",status="403"}"#),
        1.0
    );
    assert!(
        !text.contains("no-such-thing-8f3a"),
        "raw paths never become labels"
    );
    assert_eq!(
        get(r#"tessera_http_request_duration_seconds_count{route="/api/v1/me"}"#),
        7.0
    );
    // 5 + the gateway's (valid, then refused for scope) + this scrape's own;
    // an unknown path is answered before any token is looked at
    for (outcome, count) in [
        ("ok", 7.0),
        ("invalid", 1.0),
        ("revoked", 1.0),
        ("insufficient_scope", 1.0),
    ] {
        let name = format!(r#"tessera_token_verifications_total{{outcome="{outcome}"}}"#);
        assert_eq!(get(&name), count, "{name}");
    }
    // the first use of each token reads the database, later ones the cache
    assert!(get("tessera_token_cache_misses_total") >= 3.0);
    assert!(get("tessera_token_cache_hits_total") >= 5.0);
    assert_eq!(get("tessera_password_hash_queue_depth"), 0.0);
    assert!(get("tessera_db_pool_max_connections") >= 1.0);
    assert!(get(r#"tessera_db_pool_connections{state="idle"}"#) >= 0.0);
    assert_eq!(get("tessera_change_feed_up"), 1.0);
    // the revoke's change-feed event may land while the first scrape's own
    // lookup is in flight (that answer is then not cached, by design): the
    // next scrape finds its token cached
    let again = scrape(&app, &ops).await;
    assert!(sample(&again, "tessera_token_cache_entries").unwrap_or(0.0) >= 1.0);
}

async fn the_change_feed_reports_its_lag_and_reconnects(app: TestApp) {
    let ops = operator(&app).await;
    let (uid, _) = user(&app, "dev").await;
    let (id, _) = token(&app, uid, "ci", "profile:read").await;
    let count = r#"tessera_change_feed_lag_seconds_count"#;
    let before = sample(&scrape(&app, &ops).await, count).unwrap_or(0.0);
    app::domain::tokens::revoke(&app.core, &app::domain::tokens::Actor::user(uid), id)
        .await
        .expect("revoke");
    let started = Instant::now();
    let text = loop {
        let text = scrape(&app, &ops).await;
        if sample(&text, count).unwrap_or(0.0) > before {
            break text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the change arrived\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let sum = sample(&text, "tessera_change_feed_lag_seconds_sum").expect("sum");
    assert!((0.0..5.0).contains(&sum), "lag {sum} s");
    assert!(
        text.contains(r#"tessera_change_feed_lag_seconds_bucket{le="0.001"}"#),
        "histogram buckets"
    );

    if app.backend == support::Backend::Postgres {
        // the database drops the listening connection: counted, and back
        let pids = support::listener_pids(&app).await;
        assert!(!pids.is_empty());
        for pid in pids {
            app.exec(&format!("SELECT pg_terminate_backend({pid})"))
                .await;
        }
        let started = Instant::now();
        loop {
            let text = scrape(&app, &ops).await;
            let lost = sample(&text, "tessera_change_feed_reconnects_total").unwrap_or(0.0);
            if lost >= 1.0 && sample(&text, "tessera_change_feed_up") == Some(1.0) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "reconnect counted\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

on_both_backends!(
    only_an_administrators_metrics_token_reads_them,
    requests_verifications_and_levels_are_counted,
    the_change_feed_reports_its_lag_and_reconnects,
);
