//! Hostile text in every field that reaches the store: NUL and other
//! control characters (which Postgres refuses in text) get the same clear
//! answer as any other bad input, on both stores, never a 5xx.

use crate::support;

use axum::http::StatusCode;
use support::{user, TestApp, PW};

const NUL: &str = "ali\u{0}ce";

async fn nul_and_control_characters_are_refused_not_errors(app: TestApp) {
    let (uid, cookie) = user(&app, "alice").await;
    // sign-in with a name no account can have: the usual answer
    let res = app.sign_in(NUL, PW).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.body);
    assert!(res.body.contains("Incorrect username or password."));
    // sign-up: a field message
    let res = app
        .post_form(
            "/signup",
            &[("username", NUL), ("password", PW), ("confirm", PW)],
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
    // token name and description
    for (name, description) in [(NUL, "fine"), ("fine", "line one\u{0}"), ("bell\u{7}", "")] {
        let res = app
            .post_form(
                "/profile/security/tokens/new",
                &[
                    ("name", name),
                    ("description", description),
                    ("expiry", "30"),
                    ("scope_mode", "full"),
                    ("form_id", "\u{0}\u{0}"),
                ],
                Some(&cookie),
            )
            .await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name:?} {description:?}: {}",
            res.body
        );
        assert!(res.body.contains("control characters"), "{}", res.body);
    }
    // line breaks and tabs are fine in a description, and a NUL form id is ignored
    let res = app
        .post_form(
            "/profile/security/tokens/new",
            &[
                ("name", "multi-line"),
                ("description", "line one\r\nline two\tend"),
                ("expiry", "30"),
                ("scope_mode", "full"),
                ("form_id", "\u{0}"),
            ],
            Some(&cookie),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    // a search with a NUL lists (nothing breaks)
    let res = app
        .get("/profile/security/tokens?q=multi%00line", Some(&cookie))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    // the API: JSON strings may carry \u0000
    let (_, secret) = support::token(&app, uid, "api", "tokens:manage").await;
    let create = |body: &'static str| {
        let req = axum::http::Request::builder()
            .method("POST")
            .uri("/api/v1/tokens")
            .header("authorization", format!("Bearer {secret}"))
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body))
            .expect("request");
        app.request(req)
    };
    let res = create(r#"{"name":"x\u0000y","scopes":"tokens:read","request_id":"\u0000"}"#).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
    assert!(res.body.contains("\"invalid_request\""), "{}", res.body);
    let res = create(r#"{"name":"ok","scopes":"tokens:read","request_id":"\u0000"}"#).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
}

on_both_backends!(
    nul_and_control_characters_are_refused_not_errors,
    a_default_expiry_never_outlives_the_calling_token,
);

/// A token with less than the default 30 days left creates a token with no
/// expiry given: it gets the caller's remaining life, not a refusal.
async fn a_default_expiry_never_outlives_the_calling_token(app: TestApp) {
    let (uid, _) = user(&app, "dora").await;
    let spec = app::tokens::TokenSpec {
        name: "short".into(),
        description: String::new(),
        expiry: app::tokens::Expiry::Days(5),
        scopes: app::scopes::Scopes::parse("tokens:manage").expect("scopes"),
        networks: Default::default(),
        owner: None,
        resources: Default::default(),
    };
    let (_, secret) = support::token_from_spec(&app, uid, &spec).await;
    let res = app
        .request(api_post(
            &secret,
            r#"{"name":"child","scopes":"tokens:read"}"#,
        ))
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let body: serde_json::Value = serde_json::from_str(&res.body).expect("json");
    let at = chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().expect("expires_at"))
        .expect("rfc3339");
    let left = at.signed_duration_since(chrono::Utc::now());
    assert!(left <= chrono::Duration::days(5), "{}", res.body);
    assert!(
        left > chrono::Duration::days(5) - chrono::Duration::minutes(2),
        "{}",
        res.body
    );
    // an explicit expiry past the caller's end is still refused
    let res = app
        .request(api_post(
            &secret,
            r#"{"name":"child2","scopes":"tokens:read","expires_in_days":30}"#,
        ))
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
    assert!(res.body.contains("cannot outlive"), "{}", res.body);
}

/// `POST /api/v1/tokens` with a bearer token and a JSON body.
fn api_post(secret: &str, json: &'static str) -> axum::http::Request<axum::body::Body> {
    axum::http::Request::builder()
        .method("POST")
        .uri("/api/v1/tokens")
        .header("authorization", format!("Bearer {secret}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(json))
        .expect("request")
}
