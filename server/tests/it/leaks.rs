//! Leaked-token revocation (`POST /api/v1/credentials/revoke`): a report
//! mixing live, revoked, malformed and other users' tokens revokes exactly
//! the live ones, everywhere, within a second; the answer says nothing
//! about what the list held; reports are bounded and rate-limited.

use crate::support;

use app::domain::tokens::{self as service, Actor};
use axum::{body::Body, http::Request, http::StatusCode};
use std::time::{Duration, Instant};
use support::{token, Resp, TestApp};

async fn report(router: &axum::Router, body: serde_json::Value, from: &str) -> Resp {
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/credentials/revoke")
        .header("content-type", "application/json")
        .header("x-forwarded-for", from)
        .header("user-agent", "leak-scanner/2.0")
        .body(Body::from(body.to_string()))
        .unwrap();
    support::send(router, req).await
}

async fn until_refused(router: &axum::Router, secret: &str) -> Duration {
    let start = Instant::now();
    loop {
        let req = Request::builder()
            .uri("/api/v1/me")
            .header("authorization", format!("Bearer {secret}"))
            .body(Body::empty())
            .unwrap();
        let res = support::send(router, req).await;
        if res.status == StatusCode::UNAUTHORIZED {
            assert!(res.body.contains("token_revoked"), "{}", res.body);
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "still accepted: {}",
            res.status
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn a_report_revokes_exactly_the_live_tokens_everywhere(app: TestApp) {
    let (alice, alice_cookie) = support::user(&app, "alice").await;
    let (bob, _) = support::user(&app, "bob").await;
    let (a_id, a) = token(&app, alice, "ci", "profile:read").await;
    let (_, kept) = token(&app, alice, "kept", "profile:read").await;
    let (r_id, r) = token(&app, alice, "old", "profile:read").await;
    service::revoke(&app.core, &Actor::user(alice), r_id)
        .await
        .unwrap();
    let (_, b) = token(&app, bob, "bobs", "profile:read").await;
    // both instances have the live tokens cached
    let (second, _) = app.second_instance().await;
    for s in [&a, &b, &kept] {
        assert_eq!(app.pat("GET", "/api/v1/me", s).await.status, StatusCode::OK);
        let req = Request::builder()
            .uri("/api/v1/me")
            .header("authorization", format!("Bearer {s}"))
            .body(Body::empty())
            .unwrap();
        assert_eq!(support::send(&second, req).await.status, StatusCode::OK);
    }
    let mut bad_checksum = a.clone();
    bad_checksum.replace_range(10..11, if &a[10..11] == "A" { "B" } else { "A" });
    let mixed = serde_json::json!({
        "credentials": [a, r, b, "hello", bad_checksum, format!("  {a}  "), "tsr_\u{0}"],
        "url": "https://gist.example/raw/1\u{7}",
        "source": "scanner"
    });
    let res = report(&app.router, mixed, "203.0.113.50").await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.body);
    let mixed_body = res.body.clone();
    // the same length with nothing real in it: the very same answer
    let nothing = serde_json::json!({"credentials": ["a", "b", "c", "d", "e", "f", "g"]});
    let res = report(&app.router, nothing, "203.0.113.51").await;
    assert_eq!(
        (res.status, res.body.as_str()),
        (StatusCode::ACCEPTED, mixed_body.as_str()),
        "no oracle"
    );
    let seen = until_refused(&app.router, &a).await;
    until_refused(&app.router, &b).await;
    let elsewhere = until_refused(&second, &a).await;
    eprintln!("leaked token refused after {seen:?} here and {elsewhere:?} on the second instance");
    assert_eq!(
        app.pat("GET", "/api/v1/me", &kept).await.status,
        StatusCode::OK,
        "an unlisted token lives"
    );
    let t = service::get(&app.db, alice, a_id).await.unwrap();
    assert_eq!(t.revoked_by.as_deref(), Some("system"));
    assert_eq!(
        t.revoked_note().as_deref(),
        Some("Revoked by Tessera: reported as leaked")
    );
    let old = service::get(&app.db, alice, r_id).await.unwrap();
    assert_eq!(
        old.revoked_by.as_deref(),
        Some("owner"),
        "an already revoked token is untouched"
    );
    let page = app
        .get("/profile/security/tokens?revoked=1", Some(&alice_cookie))
        .await;
    assert!(page.body.contains("Revoked by Tessera: reported as leaked"));
    let events = app::domain::audit::list(
        &app.db,
        &app::domain::audit::Filter {
            token_id: Some(a_id),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let e = &events[0];
    assert_eq!(
        (e.event.as_str(), e.actor.as_str()),
        ("token.revoked", "system")
    );
    assert_eq!(e.details["source"], "scanner");
    assert_eq!(
        e.details["url"], "https://gist.example/raw/1",
        "control characters dropped"
    );
    assert_eq!(e.ip, "203.0.113.50");
    assert_eq!(
        events.iter().filter(|e| e.event == "token.revoked").count(),
        1,
        "listed twice, revoked once"
    );
}

async fn reports_are_bounded_and_rate_limited(app: TestApp) {
    let many: Vec<String> = (0..1001).map(|i| format!("tsr_{i}")).collect();
    let res = report(
        &app.router,
        serde_json::json!({"credentials": many}),
        "198.51.100.60",
    )
    .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("At most 1000 credentials"));
    for bad in [
        serde_json::json!({}),
        serde_json::json!({"credentials": "tsr_x"}),
        serde_json::json!({"credentials": [], "extra": 1}),
    ] {
        let res = report(&app.router, bad, "198.51.100.61").await;
        assert!(res.status.is_client_error(), "{}", res.status);
        assert!(res.body.contains("\"error\""));
    }
    let mut limited = false;
    for _ in 0..app::domain::throttle::LEAK_REPORTS_PER_HOUR + 1 {
        let res = report(
            &app.router,
            serde_json::json!({"credentials": []}),
            "198.51.100.62",
        )
        .await;
        if res.status == StatusCode::TOO_MANY_REQUESTS {
            assert!(res.header("retry-after").is_some());
            limited = true;
            break;
        }
        assert_eq!(res.status, StatusCode::ACCEPTED);
    }
    assert!(limited, "reports from one address are rate-limited");
    let other = report(
        &app.router,
        serde_json::json!({"credentials": []}),
        "198.51.100.63",
    )
    .await;
    assert_eq!(other.status, StatusCode::ACCEPTED, "per address");
}

on_both_backends!(
    a_report_revokes_exactly_the_live_tokens_everywhere,
    reports_are_bounded_and_rate_limited,
);
