//! SCIM 2.0 provisioning (RFC 7643/7644): a real SCIM client (scim2-client
//! from PyPI) against a listening server, for users and for the groups
//! teams follow; hostile calls, deactivation that reaches every instance,
//! and a provisioned account's first single sign-on — on both stores.

use crate::support::{self, Options, TestApp};
use app::domain::{
    admin::{self, Admin},
    orgs,
};
use axum::{
    body::Body,
    http::{header, Request, StatusCode},
};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

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

/// The SCIM client's Python (none outside CI without `make setup`).
fn scim_python() -> Option<std::path::PathBuf> {
    let python =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/scim-venv/bin/python");
    if python.exists() {
        return Some(python);
    }
    assert!(
        !support::in_ci(),
        "the SCIM client is required in CI (scripts/setup-tools.sh scim)"
    );
    eprintln!("skipping: no target/scim-venv (make setup)");
    None
}

/// Serves `app` on the address of its public URL.
async fn listen(app: &TestApp) {
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
}

/// Runs `script` (in `scim_support/`) with `args`; the JSON it printed.
async fn run_client(python: &std::path::Path, script: &str, args: Vec<String>) -> Value {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/scim_support")
        .join(script);
    let python = python.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .args(args)
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
    serde_json::from_str(stdout.trim()).unwrap()
}

async fn a_scim_client_provisions_and_deprovisions(app: TestApp) {
    let Some(python) = scim_python() else { return };
    listen(&app).await;
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
    let base = app.core.config.public_url.clone();
    let seen = run_client(&python, "provision.py", vec![base, token, carol_token]).await;
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
        "/scim/v2/Bulk",
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

/// A SCIM-provisioned account `name`; its id.
async fn provisioned(app: &TestApp, token: &str, name: &str) -> i64 {
    let body = json!({ "schemas": [USER], "userName": name });
    let (status, v, _) = call(app, "POST", "/scim/v2/Users", Some(token), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v["id"].as_str().unwrap().parse().unwrap()
}

/// The members of acme's team `team`.
async fn team_members(app: &TestApp, team: &str) -> Vec<String> {
    orgs::teams(&app.core.db, "acme")
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.name == team)
        .map(|t| t.members)
        .unwrap_or_default()
}

/// `name`'s role in acme, if a member.
async fn role_in_acme(app: &TestApp, name: &str) -> Option<String> {
    let rows: Vec<(String,)> = app
        .rows(&format!(
            "SELECT m.role FROM org_members m JOIN users u ON u.id = m.user_id \
             JOIN organizations o ON o.id = m.org_id WHERE o.name = 'acme' AND u.username = '{name}'"
        ))
        .await;
    rows.into_iter().next().map(|(r,)| r)
}

async fn a_scim_client_pushes_groups_that_teams_follow(app: TestApp) {
    let Some(python) = scim_python() else { return };
    listen(&app).await;
    let (_, token) = scim_token(&app).await;
    let cli = Admin::cli();
    let bob = provisioned(&app, &token, "bob").await;
    let carol = provisioned(&app, &token, "carol").await;
    support::user(&app, "olivia").await;
    support::user(&app, "dave").await;
    orgs::create(&app.core, &cli, "acme", "", Some("olivia"))
        .await
        .unwrap();
    // one team follows the group by its name, one by the provider's id
    orgs::create_team(&app.core, &cli, "acme", "platform", Some("eng-platform"))
        .await
        .unwrap();
    orgs::create_team(&app.core, &cli, "acme", "security", Some("00g-sec"))
        .await
        .unwrap();
    // an owner put dave in the platform team by hand: the group decides
    orgs::set_member(&app.core, &cli, "acme", "dave", "member")
        .await
        .unwrap();
    orgs::set_team_member(&app.core, &cli, "acme", "platform", "dave", true)
        .await
        .unwrap();
    let base = app.core.config.public_url.clone();
    let phase = |name: &str, args: Value| {
        vec![
            base.clone(),
            token.clone(),
            name.to_owned(),
            args.to_string(),
        ]
    };

    let seen = run_client(
        &python,
        "groups.py",
        phase(
            "create",
            json!({ "bob": bob.to_string(), "carol": carol.to_string() }),
        ),
    )
    .await;
    assert_eq!(team_members(&app, "platform").await, ["bob"]);
    assert_eq!(team_members(&app, "security").await, ["carol"]);
    // joining a team joins its organization, as a member; leaving a team
    // does not leave the organization
    assert_eq!(role_in_acme(&app, "bob").await.as_deref(), Some("member"));
    assert_eq!(role_in_acme(&app, "dave").await.as_deref(), Some("member"));
    assert_eq!(role_in_acme(&app, "olivia").await.as_deref(), Some("owner"));

    let eng = seen["eng"].as_str().unwrap().to_owned();
    let seen_move = run_client(
        &python,
        "groups.py",
        phase(
            "move",
            json!({ "eng": eng, "bob": bob.to_string(), "carol": carol.to_string() }),
        ),
    )
    .await;
    assert_eq!(seen_move["members"], json!([carol.to_string()]));
    assert_eq!(team_members(&app, "platform").await, ["carol"]);
    assert_eq!(role_in_acme(&app, "bob").await.as_deref(), Some("member"));
    // a team made later follows a group SCIM already pushed, at once
    let later = orgs::create_team(&app.core, &cli, "acme", "platform-ops", Some("00g-eng"))
        .await
        .unwrap();
    assert_eq!(later.members, ["carol"]);
    // a sign-in whose claim lists no groups does not undo what SCIM says
    let client = app::domain::client::Client {
        ip: "127.0.0.1".parse().unwrap(),
        agent: "test".into(),
        request_id: "r".into(),
    };
    orgs::follow_idp_groups(&app.core, &client, carol, &[])
        .await
        .unwrap();
    assert_eq!(team_members(&app, "platform").await, ["carol"]);

    run_client(
        &python,
        "groups.py",
        phase("delete", json!({ "sec": seen["sec"] })),
    )
    .await;
    assert!(team_members(&app, "security").await.is_empty());
    // every step audited, by the provisioning token
    let events: Vec<(String, String, String)> = app
        .rows("SELECT event, actor, details FROM audit_events \
               WHERE event LIKE 'scim.group%' OR (event LIKE 'org.%' AND details LIKE '%\"via\":\"scim\"%') ORDER BY id")
        .await;
    // the team made by the operator took carol in as the operator's act
    let not_token: Vec<(&str, &str)> = events
        .iter()
        .filter(|(_, actor, _)| actor != "token")
        .map(|(e, a, _)| (e.as_str(), a.as_str()))
        .collect();
    assert_eq!(
        not_token,
        [("org.team_member_added", "admin")],
        "{events:?}"
    );
    let names: Vec<&str> = events
        .iter()
        .filter(|(_, actor, _)| actor == "token")
        .map(|(e, _, _)| e.as_str())
        .collect();
    let count = |what: &str| names.iter().filter(|n| **n == what).count();
    assert_eq!(count("scim.group_created"), 2, "{names:?}");
    assert_eq!(count("scim.group_updated"), 1, "{names:?}");
    assert_eq!(count("scim.group_deleted"), 1, "{names:?}");
    // bob and carol joined acme; bob (platform), carol (security), carol
    // (platform)
    assert_eq!(count("org.member_added"), 2, "{names:?}");
    assert_eq!(count("org.team_member_added"), 3, "{names:?}");
    // dave and bob (platform), carol (security, deleted)
    assert_eq!(count("org.team_member_removed"), 3, "{names:?}");
}

async fn scim_groups_refuse_hostile_calls(app: TestApp) {
    let (_, token) = scim_token(&app).await;
    let t = Some(token.as_str());
    let bob = provisioned(&app, &token, "bob").await;
    let (local, _) = support::user(&app, "local").await;
    let group = |name: &str, members: Value| json!({ "schemas": [GROUP], "displayName": name, "members": members });
    // who may call
    let (status, v, _) = call(&app, "GET", "/scim/v2/Groups", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    scim_error(&v, 401);
    let (mallory, _) = support::user(&app, "mallory").await;
    let (_, full) = support::token(&app, mallory, "everything", "full").await;
    let body = group("eng", json!([]));
    let (status, _, _) = call(&app, "POST", "/scim/v2/Groups", Some(&full), Some(body)).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a non-administrator's full access"
    );
    // refused bodies make nothing
    let mut extra = group("eng", json!([]));
    extra["owner"] = json!("mallory");
    for (body, kind) in [
        (group("eng", json!([{ "value": "999999" }])), "invalidValue"),
        (
            group("eng", json!([{ "value": local.to_string() }])),
            "invalidValue",
        ),
        (
            group("eng", json!([{ "value": "' OR 1=1 --" }])),
            "invalidValue",
        ),
        (
            group(
                "eng",
                json!([{ "value": bob.to_string(), "type": "Group" }]),
            ),
            "invalidValue",
        ),
        (json!({ "schemas": [GROUP], "members": [] }), "invalidValue"),
        (group(&"x".repeat(300), json!([])), "invalidValue"),
        (group("a\u{0}b", json!([])), "invalidValue"),
        (group("  ", json!([])), "invalidValue"),
        (
            json!({ "schemas": [USER], "displayName": "eng" }),
            "invalidSyntax",
        ),
        (extra, "invalidSyntax"),
    ] {
        let (status, v, _) = call(&app, "POST", "/scim/v2/Groups", t, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
        scim_error(&v, 400);
        assert_eq!(v["scimType"], kind, "{body}: {v}");
    }
    let (_, v, _) = call(&app, "GET", "/scim/v2/Groups", t, None).await;
    assert_eq!(v["totalResults"], 0, "{v}");
    // made, named once whatever the case
    let body = group("Ünïcode team ✓", json!([{ "value": bob.to_string() }]));
    let (status, v, headers) = call(&app, "POST", "/scim/v2/Groups", t, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["displayName"], "Ünïcode team ✓");
    assert_eq!(v["members"][0]["value"], bob.to_string());
    assert_eq!(v["members"][0]["display"], "bob");
    assert_eq!(
        headers.get(header::LOCATION).and_then(|l| l.to_str().ok()),
        v["meta"]["location"].as_str()
    );
    let eng = format!("/scim/v2/Groups/{}", v["id"].as_str().unwrap());
    let body = group("ÜNÏCODE TEAM ✓", json!([]));
    let (status, v, _) = call(&app, "POST", "/scim/v2/Groups", t, Some(body)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["scimType"], "uniqueness");
    let (status, v, _) = call(
        &app,
        "POST",
        "/scim/v2/Groups",
        t,
        Some(group("sec", json!([]))),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let sec = format!("/scim/v2/Groups/{}", v["id"].as_str().unwrap());
    // each name a team may follow stands for one group: an externalId that
    // is another group's displayName (or externalId), or the other way round
    let (status, _, _) = call(
        &app,
        "POST",
        "/scim/v2/Groups",
        t,
        Some(json!({ "schemas": [GROUP], "displayName": "dev", "externalId": "00g-dev" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    for (name, external) in [("ops", "sec"), ("00g-dev", "00g-ops"), ("ops", "00g-dev")] {
        let body = json!({ "schemas": [GROUP], "displayName": name, "externalId": external });
        let (status, v, _) = call(&app, "POST", "/scim/v2/Groups", t, Some(body)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{name} / {external}: {v}");
        assert_eq!(v["scimType"], "uniqueness");
    }
    // a PATCH that changes nothing writes nothing
    let audited = || async {
        let n: Vec<(i64,)> = app
            .rows("SELECT COUNT(*) FROM audit_events WHERE event LIKE 'scim.group%'")
            .await;
        n[0].0
    };
    let before = audited().await;
    let same = json!({ "schemas": [PATCH], "Operations": [{ "op": "replace", "path": "displayName", "value": "sec" }] });
    let (status, _, _) = call(&app, "PATCH", &sec, t, Some(same)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(audited().await, before);
    let rename = json!({ "schemas": [PATCH], "Operations": [{ "op": "replace", "path": "displayName", "value": "ünïcode TEAM ✓" }] });
    let (status, _, _) = call(&app, "PATCH", &sec, t, Some(rename)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, v, _) = call(&app, "GET", &sec, t, None).await;
    assert_eq!(v["displayName"], "sec", "unchanged");
    // filters and reads
    let (status, v, _) = call(
        &app,
        "GET",
        "/scim/v2/Groups?filter=members%20eq%20%221%22",
        t,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["scimType"], "invalidFilter");
    let q = format!(
        "/scim/v2/Groups?filter={}&excludedAttributes=members",
        urlencode("displayName eq \"sec\"")
    );
    let (_, v, _) = call(&app, "GET", &q, t, None).await;
    assert_eq!(v["totalResults"], 1, "{v}");
    assert!(v["Resources"][0].get("members").is_none(), "{v}");
    let (status, _, _) = call(&app, "GET", "/scim/v2/Groups?startIndex=x", t, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for missing in [
        "/scim/v2/Groups/abc",
        "/scim/v2/Groups/999999",
        "/scim/v2/Groups/-1",
    ] {
        let (status, v, _) = call(&app, "GET", missing, t, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
        scim_error(&v, 404);
    }
    let (status, _, _) = call(&app, "DELETE", "/scim/v2/Groups", t, None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    // too many members at once: refused, nothing changes
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({ "value": i.to_string() }))
        .collect();
    let add = json!({ "schemas": [PATCH], "Operations": [{ "op": "add", "path": "members", "value": many }] });
    let (status, _, _) = call(&app, "PATCH", &eng, t, Some(add)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // concurrent additions all land
    let mut ids = vec![bob.to_string()];
    for i in 0..6 {
        ids.push(
            provisioned(&app, &token, &format!("dev{i}"))
                .await
                .to_string(),
        );
    }
    let mut adds = Vec::new();
    for id in &ids[1..] {
        let body = json!({ "schemas": [PATCH], "Operations": [{ "op": "Add", "path": "members", "value": [{ "value": id }] }] });
        let req = Request::builder()
            .method("PATCH")
            .uri(&eng)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/scim+json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let router = app.router.clone();
        adds.push(tokio::spawn(async move {
            support::send(&router, req).await.status
        }));
    }
    for add in adds {
        assert_eq!(add.await.unwrap(), StatusCode::OK);
    }
    let (_, v, _) = call(&app, "GET", &eng, t, None).await;
    let mut members: Vec<String> = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_owned())
        .collect();
    members.sort();
    ids.sort();
    assert_eq!(members, ids);
    // a deprovisioned member is in no group
    let (status, _, _) = call(&app, "DELETE", &format!("/scim/v2/Users/{bob}"), t, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, v, _) = call(&app, "GET", &eng, t, None).await;
    assert_eq!(v["members"].as_array().unwrap().len(), ids.len() - 1, "{v}");
    // a PUT without members empties the group (RFC 7644 §3.5.1)
    let (status, v, _) = call(
        &app,
        "PUT",
        &eng,
        t,
        Some(json!({ "schemas": [GROUP], "displayName": "eng" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["members"], json!([]));
    // discovery knows groups
    let (_, v, _) = call(&app, "GET", "/scim/v2/Schemas", t, None).await;
    assert_eq!(v["totalResults"], 2);
    let (status, v, _) = call(&app, "GET", &format!("/scim/v2/Schemas/{GROUP}"), t, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["name"], "Group");
    let (_, v, _) = call(&app, "GET", "/scim/v2/ResourceTypes/Group", t, None).await;
    assert_eq!(v["endpoint"], "/Groups");
    // deleted once
    let (status, _, _) = call(&app, "DELETE", &eng, t, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = call(&app, "DELETE", &eng, t, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

fn urlencode(s: &str) -> String {
    app::ui::urlencode(s)
}

on_both_backends!(
    a_scim_client_provisions_and_deprovisions with listening(),
    a_scim_client_pushes_groups_that_teams_follow with listening(),
    scim_refuses_hostile_calls,
    scim_groups_refuse_hostile_calls,
    deactivation_reaches_every_instance,
    a_provisioned_account_signs_in_through_sso with crate::sso::hostile(),
);
