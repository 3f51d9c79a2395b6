//! SCIM 2.0 provisioning (RFC 7643/7644): a real SCIM client (scim2-client
//! from PyPI) against a listening server, hostile calls, deactivation that
//! reaches every instance, and a provisioned account's first single sign-on
//! — on both stores.

use crate::support::{self, Options, TestApp};
use app::domain::admin::{self, Admin};
use axum::{
    body::Body,
    http::{header, Request, StatusCode},
};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// An administrator's token with `scim:write` (and the administrator's id).
async fn scim_token(app: &TestApp) -> (i64, String) {
    let (uid, _) = support::user(app, "idp-admin").await;
    admin::set_admin(&app.core, &Admin::cli(), "idp-admin", true)
        .await
        .unwrap();
    let (_, secret) = support::token(app, uid, "provisioning", "scim:write").await;
    (uid, secret)
}

async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value, axum::http::HeaderMap) {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = match body {
        Some(v) => b
            .header(header::CONTENT_TYPE, "application/scim+json")
            .body(Body::from(v.to_string())),
        None => b.body(Body::empty()),
    }
    .unwrap();
    let res = app.request(req).await;
    if !res.body.is_empty() {
        assert_eq!(
            res.header("content-type"),
            Some("application/scim+json"),
            "{method} {path}: {}",
            res.body
        );
    }
    let json = serde_json::from_str(&res.body).unwrap_or(Value::Null);
    (res.status, json, res.headers)
}

fn scim_error(v: &Value, status: u16) {
    assert_eq!(v["schemas"][0], ERROR, "{v}");
    assert_eq!(v["status"], status.to_string(), "{v}");
    assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "{v}");
}

/// Options with the public URL a listener will have (the test binds it).
fn listening() -> Options {
    let port = support::free_port();
    Options {
        public_url: format!("http://127.0.0.1:{port}"),
        ..Default::default()
    }
}

async fn a_scim_client_provisions_and_deprovisions(app: TestApp) {
    let python =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/scim-venv/bin/python");
    if !python.exists() {
        assert!(
            !support::in_ci(),
            "the SCIM client is required in CI (scripts/setup-tools.sh scim)"
        );
        eprintln!("skipping: no target/scim-venv (make setup)");
        return;
    }
    let addr: std::net::SocketAddr = app
        .core
        .config
        .public_url
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let router = app.router.clone();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let (_, token) = scim_token(&app).await;
    // SCIM sees the accounts it made: carol is one
    let carol_body = json!({ "schemas": [USER], "userName": "carol" });
    let (status, v, _) = call(
        &app,
        "POST",
        "/scim/v2/Users",
        Some(&token),
        Some(carol_body),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let carol: i64 = v["id"].as_str().unwrap().parse().unwrap();
    let (_, carol_token) = support::token(&app, carol, "carol's", "profile:read").await;
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/scim_support/provision.py");
    let base = app.core.config.public_url.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .args([base.as_str(), token.as_str(), carol_token.as_str()])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(seen["refused_after_s"].as_f64().unwrap() < 1.0, "{seen}");
    assert_eq!(seen["deleted"], true);
    // what the client did is in the audit log, by the provisioning token
    let events: Vec<(String, String)> = app
        .rows("SELECT event, actor FROM audit_events WHERE details LIKE '%\"via\":\"scim\"%' ORDER BY id")
        .await;
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(
        names,
        [
            "account.created",
            "account.created",
            "admin.user_disabled",
            "admin.user_enabled",
            "account.updated",
            "account.deprovisioned"
        ]
    );
    assert!(
        events.iter().all(|(_, actor)| actor == "token"),
        "{events:?}"
    );
    // the deleted account is kept, disabled, for the audit trail
    let kept: Vec<(bool, bool)> = app
        .rows("SELECT disabled_at IS NOT NULL, deprovisioned_at IS NOT NULL FROM users WHERE username = 'bjensen'")
        .await;
    assert_eq!(kept, vec![(true, true)]);
}

async fn scim_refuses_hostile_calls(app: TestApp) {
    let (_, token) = scim_token(&app).await;
    let t = Some(token.as_str());
    // who may call
    let (status, v, headers) = call(&app, "GET", "/scim/v2/Users", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    scim_error(&v, 401);
    assert!(headers.get(header::WWW_AUTHENTICATE).is_some());
    let (mallory, _) = support::user(&app, "mallory").await;
    let (_, full) = support::token(&app, mallory, "everything", "full").await;
    let (status, v, _) = call(&app, "GET", "/scim/v2/Users", Some(&full), None).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a non-administrator's full access"
    );
    scim_error(&v, 403);
    let (admin_id, _) = support::user(&app, "other-admin").await;
    admin::set_admin(&app.core, &Admin::cli(), "other-admin", true)
        .await
        .unwrap();
    let (_, audit) = support::token(&app, admin_id, "auditor", "admin:read").await;
    let (status, _, _) = call(&app, "GET", "/scim/v2/Users", Some(&audit), None).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "an administrator's token without scim:write"
    );
    // discovery
    let (status, v, _) = call(&app, "GET", "/scim/v2/ServiceProviderConfig", t, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["patch"]["supported"], true);
    let (_, v, _) = call(&app, "GET", "/scim/v2/Schemas", t, None).await;
    assert_eq!(v["Resources"][0]["id"], USER);
    let (_, v, _) = call(&app, "GET", "/scim/v2/ResourceTypes/User", t, None).await;
    assert_eq!(v["endpoint"], "/Users");
    // bad bodies lose nothing and say why
    let bad = [
        (
            json!({ "schemas": [USER], "userName": "x".repeat(10_000) }),
            400,
            "invalidValue",
        ),
        (
            json!({ "schemas": [USER], "userName": "ok-name", "favouriteColour": "red" }),
            400,
            "invalidSyntax",
        ),
        (json!({ "userName": "no-schemas" }), 400, "invalidSyntax"),
        (
            json!({ "schemas": [USER], "userName": "bad name!" }),
            400,
            "invalidValue",
        ),
        (
            json!({ "schemas": [USER], "userName": "Ünïcode" }),
            400,
            "invalidValue",
        ),
        (json!({ "schemas": [USER] }), 400, "invalidValue"),
        (
            json!({ "schemas": [USER], "userName": "emailer", "emails": [{ "value": "not-an-address" }] }),
            400,
            "invalidValue",
        ),
        (json!([1, 2, 3]), 400, "invalidSyntax"),
    ];
    for (body, status, kind) in bad {
        let (got, v, _) = call(&app, "POST", "/scim/v2/Users", t, Some(body.clone())).await;
        assert_eq!(got.as_u16(), status, "{body}: {v}");
        scim_error(&v, status);
        assert_eq!(v["scimType"], kind, "{body}: {v}");
    }
    let req = Request::builder()
        .method("POST")
        .uri("/scim/v2/Users")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from("{not json"))
        .unwrap();
    let res = app.request(req).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(support::users_count(&app).await, 3, "nothing was made");
    let bad_mail =
        json!({ "schemas": [USER], "userName": "mailer", "emails": [{ "value": "a@b@c" }] });
    let (status, _, _) = call(&app, "POST", "/scim/v2/Users", t, Some(bad_mail)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // a taken name, whatever its case
    let (status, _, headers) = call(
        &app,
        "POST",
        "/scim/v2/Users",
        t,
        Some(json!({ "schemas": [USER], "userName": "Dana" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(headers.get(header::LOCATION).is_some());
    let (status, v, _) = call(
        &app,
        "POST",
        "/scim/v2/Users",
        t,
        Some(json!({ "schemas": [USER], "userName": "MALLORY" })),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(v["scimType"], "uniqueness");
    // filters, paging, paths and methods
    for filter in [
        "userName co \"a\"",
        "name.givenName eq \"x\"",
        "userName eq unquoted",
    ] {
        let (status, v, _) = call(
            &app,
            "GET",
            &format!("/scim/v2/Users?filter={}", urlencode(filter)),
            t,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{filter}");
        assert_eq!(v["scimType"], "invalidFilter");
    }
    let (_, v, _) = call(
        &app,
        "GET",
        &format!(
            "/scim/v2/Users?filter={}",
            urlencode("USERNAME eq \"dana\"")
        ),
        t,
        None,
    )
    .await;
    assert_eq!(v["totalResults"], 1, "names compare whatever their case");
    // local accounts (mallory, the administrators) are not SCIM's to see
    for name in ["eve", "frank"] {
        let body = json!({ "schemas": [USER], "userName": name });
        call(&app, "POST", "/scim/v2/Users", t, Some(body)).await;
    }
    let mallory_filter = format!(
        "/scim/v2/Users?filter={}",
        urlencode("userName eq \"mallory\"")
    );
    let (_, v, _) = call(&app, "GET", &mallory_filter, t, None).await;
    assert_eq!(v["totalResults"], 0);
    let (_, v, _) = call(&app, "GET", "/scim/v2/Users?startIndex=2&count=1", t, None).await;
    assert_eq!(v["totalResults"], 3);
    assert_eq!(v["itemsPerPage"], 1);
    assert_eq!(v["startIndex"], 2);
    let (status, _, _) = call(&app, "GET", "/scim/v2/Users?count=lots", t, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mallory_path = format!("/scim/v2/Users/{mallory}");
    let (status, _, _) = call(&app, "GET", &mallory_path, t, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a local account");
    let off = json!({ "schemas": [PATCH], "Operations": [{ "op": "replace", "path": "active", "value": false }] });
    let (status, _, _) = call(&app, "PATCH", &mallory_path, t, Some(off)).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "SCIM cannot disable a local account"
    );
    for path in [
        "/scim/v2/Users/abc",
        "/scim/v2/Users/999999",
        "/scim/v2/Groups",
        "/scim/v2/Users/1/x",
    ] {
        let (status, v, _) = call(&app, "GET", path, t, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        scim_error(&v, 404);
    }
    let (status, _, _) = call(&app, "DELETE", "/scim/v2/Users", t, None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let id = support::user_id(&app, "dana").await;
    let path = format!("/scim/v2/Users/{id}");
    let bad_patches = [
        (
            json!({ "Operations": [{ "op": "replace", "path": "active", "value": false }] }),
            "invalidSyntax",
        ),
        (
            json!({ "schemas": [PATCH], "Operations": [] }),
            "invalidSyntax",
        ),
        (
            json!({ "schemas": [PATCH], "Operations": [{ "op": "explode", "path": "active" }] }),
            "invalidSyntax",
        ),
        (
            json!({ "schemas": [PATCH], "Operations": [{ "op": "replace", "path": "shoeSize", "value": 9 }] }),
            "invalidPath",
        ),
        (
            json!({ "schemas": [PATCH], "Operations": [{ "op": "remove", "path": "userName" }] }),
            "mutability",
        ),
        (
            json!({ "schemas": [PATCH], "Operations": [{ "op": "replace", "path": "active", "value": "maybe" }] }),
            "invalidValue",
        ),
    ];
    for (body, kind) in bad_patches {
        let (status, v, _) = call(&app, "PATCH", &path, t, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(v["scimType"], kind, "{body}: {v}");
    }
    let (_, v, _) = call(&app, "GET", &path, t, None).await;
    assert_eq!(v["active"], true, "nothing changed");
    // a rename through PATCH, to a taken name: refused whole
    let rename = json!({ "schemas": [PATCH], "Operations": [
        { "op": "replace", "path": "active", "value": false },
        { "op": "replace", "path": "userName", "value": "mallory" },
    ] });
    let (status, _, _) = call(&app, "PATCH", &path, t, Some(rename)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _, _) = call(&app, "DELETE", &path, t, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = call(&app, "DELETE", &path, t, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn deactivation_reaches_every_instance(app: TestApp) {
    let (_, token) = scim_token(&app).await;
    let t = Some(token.as_str());
    let (status, v, _) = call(
        &app,
        "POST",
        "/scim/v2/Users",
        t,
        Some(json!({ "schemas": [USER], "userName": "erin", "externalId": "00u-erin" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let id: i64 = v["id"].as_str().unwrap().parse().unwrap();
    let (_, erin_token) = support::token(&app, id, "erin's", "profile:read").await;
    let (second, _core) = app.second_instance().await;
    let me = |router: &axum::Router, tok: &str| {
        let req = Request::builder()
            .uri("/api/v1/me")
            .header(header::AUTHORIZATION, format!("Bearer {tok}"))
            .body(Body::empty())
            .unwrap();
        let router = router.clone();
        async move { support::send(&router, req).await.status }
    };
    assert_eq!(
        me(&second, &erin_token).await,
        StatusCode::OK,
        "cached there"
    );
    // Okta's form: no path, a value object
    let off = json!({ "schemas": [PATCH], "Operations": [{ "op": "Replace", "value": { "active": false } }] });
    let (status, v, _) = call(&app, "PATCH", &format!("/scim/v2/Users/{id}"), t, Some(off)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["active"], false);
    let started = Instant::now();
    while me(&second, &erin_token).await != StatusCode::UNAUTHORIZED {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "refused on the other instance within a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(me(&app.router, &erin_token).await, StatusCode::UNAUTHORIZED);
    // PUT brings her back (Entra replaces the whole user)
    let put = json!({ "schemas": [USER], "userName": "erin", "externalId": "00u-erin", "active": true,
                      "emails": [{ "value": "erin@example.com", "type": "work", "primary": true }] });
    let (status, v, _) = call(&app, "PUT", &format!("/scim/v2/Users/{id}"), t, Some(put)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["emails"][0]["value"], "erin@example.com");
    let started = Instant::now();
    while me(&second, &erin_token).await != StatusCode::OK {
        assert!(started.elapsed() < Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Entra's string booleans, and its e-mail path
    let entra = json!({ "schemas": [PATCH], "Operations": [
        { "op": "Replace", "path": "emails[type eq \"work\"].value", "value": "e@example.com" },
        { "op": "Replace", "path": "active", "value": "False" },
    ] });
    let (_, v, _) = call(
        &app,
        "PATCH",
        &format!("/scim/v2/Users/{id}"),
        t,
        Some(entra),
    )
    .await;
    assert_eq!(
        (v["active"].clone(), v["emails"][0]["value"].clone()),
        (json!(false), json!("e@example.com"))
    );
    // deleted: refused everywhere, gone from SCIM, kept in the store
    let (status, _, _) = call(&app, "DELETE", &format!("/scim/v2/Users/{id}"), t, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(me(&app.router, &erin_token).await, StatusCode::UNAUTHORIZED);
    let (status, _, _) = call(&app, "GET", &format!("/scim/v2/Users/{id}"), t, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(support::users_count(&app).await, 2);
    // provisioned accounts have no password
    let res = app.sign_in("erin", "!").await;
    assert!(res.session_cookie().is_none());
}

async fn a_provisioned_account_signs_in_through_sso(app: TestApp) {
    if app
        .core
        .config
        .sso
        .as_ref()
        .is_some_and(|s| s.issuer.contains(":9/"))
    {
        return; // no hostile provider here (outside CI)
    }
    let (_, token) = scim_token(&app).await;
    let body = json!({ "schemas": [USER], "userName": "provisioned", "externalId": "forged-user" });
    let (status, v, _) = call(&app, "POST", "/scim/v2/Users", Some(&token), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = v["id"].as_str().unwrap().to_owned();
    // someone else at the provider who calls themselves "provisioned" does
    // not get it: only the subject the external id names does
    let squatter = json!({ "claims": { "sub": "attacker", "preferred_username": "provisioned" } });
    let res = crate::sso::forged(&app, squatter).await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.body);
    assert_eq!(support::users_count(&app).await, 2);
    // the provider's subject is the external id: its first sign-in links
    let res = crate::sso::forged(&app, json!({})).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let linked: Vec<(String,)> = app
        .rows("SELECT u.username FROM identities i JOIN users u ON u.id = i.user_id")
        .await;
    assert_eq!(linked, vec![("provisioned".to_owned(),)]);
    let events: Vec<(String,)> = app
        .rows("SELECT details FROM audit_events WHERE event = 'identity.linked'")
        .await;
    assert!(events[0].0.contains("\"via\":\"scim\""), "{events:?}");
    assert_eq!(support::users_count(&app).await, 2, "no second account");
    // once linked, SCIM cannot point the account at another subject
    let repoint = json!({ "schemas": [PATCH], "Operations": [{ "op": "replace", "path": "externalId", "value": "attacker" }] });
    let path = format!("/scim/v2/Users/{id}");
    let (status, v, _) = call(&app, "PATCH", &path, Some(&token), Some(repoint)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["scimType"], "mutability");
}

fn urlencode(s: &str) -> String {
    app::ui::urlencode(s)
}

on_both_backends!(
    a_scim_client_provisions_and_deprovisions with listening(),
    scim_refuses_hostile_calls,
    deactivation_reaches_every_instance,
    a_provisioned_account_signs_in_through_sso with crate::sso::hostile(),
);
