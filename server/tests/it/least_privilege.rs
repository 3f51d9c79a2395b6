//! Least privilege, on SQLite and Postgres: network allowlists (the API,
//! the gateway and introspection; `X-Forwarded-For` believed only from a
//! trusted proxy), resource patterns at the gateway, the
//! `require_allowlist_for_write` policy, the rules a token creating another
//! must follow, and the no-JS form.

use crate::support;

use app::domain::admin;
use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{Request, StatusCode},
};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use serde_json::{json, Value};
use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};
use support::{Resp, TestApp};

/// A request from `peer` (the TCP peer Tessera sees) that says, in
/// `X-Forwarded-For`, it is for `forwarded` (when given).
fn from(
    peer: &str,
    forwarded: Option<&str>,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"));
    if let Some(f) = forwarded {
        b = b.header("x-forwarded-for", f);
    }
    let mut req = match body {
        Some(v) => b
            .header("content-type", "application/json")
            .body(Body::from(v.to_string())),
        None => b.body(Body::empty()),
    }
    .expect("request");
    let peer = SocketAddr::new(peer.parse().expect("peer"), 40000);
    req.extensions_mut().insert(ConnectInfo(peer));
    req
}

/// A token made as the user (sudo), with an allowlist.
async fn limited_token(
    app: &TestApp,
    uid: i64,
    name: &str,
    scopes: &str,
    networks: &[&str],
) -> (i64, String) {
    let spec = app::tokens::TokenSpec {
        name: name.into(),
        description: String::new(),
        expiry: app::tokens::Expiry::Days(30),
        scopes: app::scopes::Scopes::parse(scopes).expect("scopes"),
        networks: app::tokens::Networks::parse(networks.iter().copied()).expect("networks"),
        owner: None,
        resources: Default::default(),
    };
    support::token_from_spec(app, uid, &spec).await
}

/// A new user and a full-access token of theirs named `token`.
async fn with_full_token(app: &TestApp, user: &str, token: &str) -> (i64, String) {
    let (uid, _) = support::user(app, user).await;
    let (_, secret) = support::token(app, uid, token, "full").await;
    (uid, secret)
}

/// Creates through the API with `body`, which must be refused as
/// unprocessable (`why`); the answer.
async fn refused_create(app: &TestApp, manager: &str, body: Value, why: &str) -> Resp {
    let res = create(app, manager, body).await;
    assert_eq!(
        res.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{why}: {}",
        res.body
    );
    res
}

/// Creates with `body`, which must be refused with an `invalid_request`
/// naming `field`; the field's message.
async fn field_error(app: &TestApp, manager: &str, body: Value, field: &str) -> String {
    let why = body.to_string();
    let v = json_of(&refused_create(app, manager, body, &why).await);
    assert_eq!(v["error"], "invalid_request", "{why}: {v}");
    v["fields"][field]
        .as_str()
        .unwrap_or_else(|| panic!("{why}: no message for {field}: {v}"))
        .to_owned()
}

/// How many tokens user `uid` has (live or not).
async fn tokens_of(app: &TestApp, uid: i64) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM tokens WHERE user_id = {uid}");
    app.rows::<(i64,)>(&sql).await[0].0
}

fn json_of(r: &Resp) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|_| panic!("not JSON: {}", r.body))
}

fn code(r: &Resp) -> String {
    json_of(r)["error"].as_str().unwrap_or_default().to_owned()
}

/// `PATCH /api/v1/tokens/{id}` with `manager`, from 127.0.0.1.
fn edit(manager: &str, id: i64, body: Value) -> Request<Body> {
    let path = format!("/api/v1/tokens/{id}");
    from("127.0.0.1", None, "PATCH", &path, manager, Some(body))
}

/// Creates a token through the API with `manager` (a `tokens:manage` token).
async fn create(app: &TestApp, manager: &str, body: Value) -> Resp {
    app.request(from(
        "127.0.0.1",
        None,
        "POST",
        "/api/v1/tokens",
        manager,
        Some(body),
    ))
    .await
}

async fn introspect(app: &TestApp, token: &str, client_ip: Option<&str>) -> Value {
    let mut form = format!("token={token}");
    if let Some(ip) = client_ip {
        form.push_str(&format!("&client_ip={}", ip.replace(':', "%3A")));
    }
    let auth = STANDARD.encode(format!("gateway:{}", support::INTROSPECTION_SECRET));
    let req = Request::builder()
        .method("POST")
        .uri("/oauth/introspect")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", format!("Basic {auth}"))
        .body(Body::from(form))
        .expect("request");
    let res = app.request(req).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    json_of(&res)
}

/// Waits until the audit log has a `event` row for `token_id` (refusals
/// are written in the background); returns its details.
async fn audited(app: &TestApp, event: &str, token_id: i64) -> Value {
    let start = Instant::now();
    loop {
        let rows: Vec<(String,)> = app
            .rows(&format!(
                "SELECT details FROM audit_events WHERE event = '{event}' AND token_id = {token_id}"
            ))
            .await;
        if let Some((d,)) = rows.first() {
            return serde_json::from_str(d).expect("details");
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no {event} event for token {token_id}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn an_allowlist_is_enforced_on_the_api_the_gateway_and_introspection(app: TestApp) {
    let (_, manager) = with_full_token(&app, "ada", "manager").await;
    let res = create(
        &app,
        &manager,
        json!({"name": "ci", "scopes": "profile:read code:read",
               "allowed_networks": ["10.0.0.0/8", "2001:db8::/48", "192.0.2.7"]}),
    )
    .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let created = json_of(&res);
    assert_eq!(
        created["allowed_networks"],
        json!(["10.0.0.0/8", "2001:db8::/48", "192.0.2.7/32"])
    );
    assert_eq!(
        created["warnings"][0].as_str().unwrap_or_default(),
        "The allowlist does not include 127.0.0.1, the address this request came from: the token will not work from here.",
        "a warning, not a refusal"
    );
    let (id, ci) = (
        created["id"].as_i64().unwrap(),
        created["token"].as_str().unwrap().to_owned(),
    );

    // through the trusted proxy (127.0.0.1), the forwarded address counts
    let me = |peer: &'static str, fwd: Option<&'static str>| {
        from(peer, fwd, "GET", "/api/v1/me", &ci, None)
    };
    for ok in ["10.1.2.3", "192.0.2.7", "2001:db8:0:1::5"] {
        assert_eq!(
            app.request(me("127.0.0.1", Some(ok))).await.status,
            StatusCode::OK,
            "{ok}"
        );
    }
    let res = app.request(me("127.0.0.1", Some("192.0.2.8"))).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(code(&res), "ip_not_allowed");
    assert!(json_of(&res)["message"]
        .as_str()
        .unwrap()
        .contains("192.0.2.8"));
    assert_eq!(
        audited(&app, "token.ip_denied", id).await["ip"],
        "192.0.2.8"
    );
    // a client that is not a trusted proxy cannot claim an address
    let res = app.request(me("198.51.100.9", Some("10.1.2.3"))).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "spoofed X-Forwarded-For");
    assert_eq!(code(&res), "ip_not_allowed");
    assert_eq!(
        app.request(me("10.9.9.9", None)).await.status,
        StatusCode::OK,
        "a direct client in the list"
    );
    assert_eq!(
        app.request(me("::ffff:10.9.9.9", None)).await.status,
        StatusCode::OK,
        "IPv4 in an IPv6 socket"
    );

    // the gateway check
    let gw = |fwd: &'static str| {
        from(
            "127.0.0.1",
            Some(fwd),
            "GET",
            "/gateway/check?scope=code:read",
            &ci,
            None,
        )
    };
    assert_eq!(
        app.request(gw("10.0.0.1")).await.status,
        StatusCode::NO_CONTENT
    );
    let res = app.request(gw("203.0.113.1")).await;
    assert_eq!(
        (res.status, code(&res)),
        (StatusCode::FORBIDDEN, "ip_not_allowed".into())
    );

    // introspection: the resource server says where the token came from
    let v = introspect(&app, &ci, Some("10.4.4.4")).await;
    assert_eq!(v["active"], true);
    assert_eq!(v["allowed_networks"][0], "10.0.0.0/8");
    assert_eq!(
        introspect(&app, &ci, Some("203.0.113.1")).await,
        json!({"active": false})
    );
    assert_eq!(
        introspect(&app, &ci, Some("2001:db8::9")).await["active"],
        true
    );
    assert_eq!(
        introspect(&app, &ci, None).await,
        json!({"active": false}),
        "without client_ip: the caller's own address (loopback, not listed)"
    );

    // an edit takes effect at once, despite the cache
    let narrow = edit(&manager, id, json!({"allowed_networks": ["192.0.2.0/24"]}));
    let res = app.request(narrow).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        app.request(me("127.0.0.1", Some("10.1.2.3"))).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.request(me("127.0.0.1", Some("192.0.2.200")))
            .await
            .status,
        StatusCode::OK
    );
    let edited: Vec<(String,)> = app
        .rows(&format!(
            "SELECT details FROM audit_events WHERE event = 'token.edited' AND token_id = {id}"
        ))
        .await;
    assert!(edited[0].0.contains("192.0.2.0/24"), "{}", edited[0].0);
    // [] removes the allowlist
    let clear = edit(&manager, id, json!({"allowed_networks": []}));
    let res = app.request(clear).await;
    assert_eq!(json_of(&res)["allowed_networks"], json!([]));
    assert!(json_of(&res).get("warnings").is_none());
    assert_eq!(
        app.request(me("127.0.0.1", Some("10.1.2.3"))).await.status,
        StatusCode::OK
    );
}

async fn bad_allowlists_are_field_errors_and_change_nothing(app: TestApp) {
    let (uid, manager) = with_full_token(&app, "bob", "manager").await;
    let long = "1".repeat(5000);
    let many: Vec<String> = (0..51).map(|i| format!("10.{i}.0.0/16")).collect();
    for bad in [
        json!(["10.0.0.300/8"]),
        json!(["10.0.0.0/33"]),
        json!(["example.com"]),
        json!(["１０.0.0.1"]),
        json!([long]),
        json!(many),
        json!(["10.0.0.0/8\u{0}"]),
    ] {
        let body = json!({"name": "x", "scopes": "code:read", "allowed_networks": bad});
        let msg = field_error(&app, &manager, body, "allowed_networks").await;
        assert!(msg.len() < 300, "the message stays short: {msg}");
    }
    refused_create(
        &app,
        &manager,
        json!({"name": "x", "scopes": "code:read", "allowed_networks": "10.0.0.0/8"}),
        "a string, not a list",
    )
    .await;
    assert_eq!(tokens_of(&app, uid).await, 1, "only the manager exists");
}

async fn resource_patterns_limit_the_gateway(app: TestApp) {
    let (_, manager) = with_full_token(&app, "cleo", "manager").await;
    let res = create(
        &app,
        &manager,
        json!({"name": "deploy", "scopes": "code:write wiki:read",
               "resources": {"code": ["acme/api", "acme/web-*"]}}),
    )
    .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let v = json_of(&res);
    assert_eq!(v["resources"], json!({"code": ["acme/api", "acme/web-*"]}));
    let (id, t) = (
        v["id"].as_i64().unwrap(),
        v["token"].as_str().unwrap().to_owned(),
    );
    let check = |query: &str, header: Option<&str>| {
        let mut req = from(
            "127.0.0.1",
            None,
            "GET",
            &format!("/gateway/check?{query}"),
            &t,
            None,
        );
        if let Some(h) = header {
            req.headers_mut()
                .insert("x-tessera-resource", h.parse().unwrap());
        }
        req
    };
    let res = app
        .request(check("scope=code:write&resource=acme/api", None))
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert_eq!(
        res.header("x-tessera-resources"),
        Some(r#"{"code":["acme/api","acme/web-*"]}"#)
    );
    assert_eq!(
        app.request(check("scope=code:read", Some("acme/web-shop")))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    for (query, header) in [
        ("scope=code:read&resource=acme/other", None),
        ("scope=code:read&resource=acme/api/extra", None),
        ("scope=code:read&resource=ACME/api", None),
        ("scope=code:read&resource=acme/../acme/api", None),
        ("scope=code:read", Some("acme/web")),
        ("scope=code:read", None),
    ] {
        let res = app.request(check(query, header)).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{query} {header:?}");
        assert_eq!(code(&res), "resource_not_allowed", "{query} {header:?}");
    }
    let huge = format!("scope=code:read&resource={}", "a".repeat(10_000));
    let res = app.request(check(&huge, None)).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&res), "invalid_resource");
    assert!(res.body.len() < 1_000, "the resource is not echoed");
    let details = audited(&app, "token.resource_denied", id).await;
    assert_eq!(details["area"], "code");
    // wiki is not limited: any resource, or none
    assert_eq!(
        app.request(check("scope=wiki:read&resource=anything", None))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.request(check("scope=wiki:read", None)).await.status,
        StatusCode::NO_CONTENT
    );
    // no scope named: some area must reach the resource (wiki reaches all)
    assert_eq!(
        app.request(check("resource=acme/other", None)).await.status,
        StatusCode::NO_CONTENT
    );
    // the scope is still checked first
    assert_eq!(
        code(
            &app.request(check("scope=code:manage&resource=acme/api", None))
                .await
        ),
        "insufficient_scope"
    );
    // introspection carries them
    assert_eq!(
        introspect(&app, &t, Some("10.0.0.1")).await["resources"],
        json!({"code": ["acme/api", "acme/web-*"]})
    );
    // GET shows them
    let got = app
        .request(from(
            "127.0.0.1",
            None,
            "GET",
            &format!("/api/v1/tokens/{id}"),
            &manager,
            None,
        ))
        .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(json_of(&got)["resources"]["code"][1], "acme/web-*");
}

async fn bad_resources_are_field_errors(app: TestApp) {
    let (uid, manager) = with_full_token(&app, "dora", "manager").await;
    for (scopes, resources, says) in [
        (
            "code:read",
            json!({"code": ["acme//api"]}),
            "not a resource pattern",
        ),
        (
            "code:read",
            json!({"code": ["acme/a*b"]}),
            "not a resource pattern",
        ),
        (
            "code:read",
            json!({"code": ["acmé/api"]}),
            "not a resource pattern",
        ),
        ("code:read", json!({"code": []}), "at least one"),
        (
            "code:read",
            json!({"code": ["a".repeat(200)]}),
            "longer than",
        ),
        ("code:read", json!({"wiki": ["x"]}), "no wiki scope"),
        ("code:read tokens:read", json!({"tokens": ["x"]}), "own API"),
        ("code:read", json!({"nukes": ["x"]}), "Unknown scope area"),
        (
            "code:read",
            json!({"code": (0..21).map(|i| format!("r{i}")).collect::<Vec<_>>()}),
            "at most 20",
        ),
    ] {
        let body = json!({"name": "x", "scopes": scopes, "resources": resources});
        let msg = field_error(&app, &manager, body, "resources").await;
        assert!(msg.contains(says), "{resources}: {msg}");
    }
    refused_create(
        &app,
        &manager,
        json!({"name": "x", "scopes": "code:read", "resources": {"code": "acme/api"}}),
        "patterns are a list",
    )
    .await;
    assert_eq!(tokens_of(&app, uid).await, 1, "nothing else was made");
}

/// A token limited to some networks and resources cannot make a token that
/// reaches further, through create or edit.
async fn a_limited_token_cannot_make_a_wider_one(app: TestApp) {
    let (_, top) = with_full_token(&app, "eve", "top").await;
    let res = create(
        &app,
        &top,
        json!({"name": "limited", "scopes": "tokens:manage code:write",
               "allowed_networks": ["127.0.0.0/8"], "resources": {"code": ["acme/*"]}}),
    )
    .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let limited = json_of(&res)["token"].as_str().unwrap().to_owned();
    for (body, field) in [
        (
            json!({"name": "a", "scopes": "code:read", "resources": {"code": ["acme/api"]}}),
            "allowed_networks",
        ),
        (
            json!({"name": "b", "scopes": "code:read", "allowed_networks": ["0.0.0.0/0"], "resources": {"code": ["acme/api"]}}),
            "allowed_networks",
        ),
        (
            json!({"name": "c", "scopes": "code:read", "allowed_networks": ["127.0.0.1"]}),
            "resources",
        ),
        (
            json!({"name": "d", "scopes": "code:read", "allowed_networks": ["127.0.0.1"], "resources": {"code": ["other/*"]}}),
            "resources",
        ),
    ] {
        let res = create(&app, &limited, body.clone()).await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            res.body
        );
        assert!(
            json_of(&res)["fields"][field].is_string(),
            "{body}: {}",
            res.body
        );
    }
    let res = create(
        &app,
        &limited,
        json!({"name": "ok", "scopes": "code:read", "allowed_networks": ["127.0.0.1"], "resources": {"code": ["acme/api"]}}),
    )
    .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let child = json_of(&res)["id"].as_i64().unwrap();
    let widen = edit(&limited, child, json!({"resources": {}}));
    let res = app.request(widen).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
}

async fn a_policy_can_require_an_allowlist_for_writing_tokens(app: TestApp) {
    let (uid, _) = support::user(&app, "finn").await;
    let (_, manager) = limited_token(&app, uid, "manager", "full", &["127.0.0.1"]).await;
    let (_, old_writer) = support::token(&app, uid, "old-writer", "code:write").await;
    let (_, reader) = support::token(&app, uid, "reader", "code:read").await;
    support::set_policy(&app, "require_allowlist_for_write", "true").await;
    let res = create(&app, &manager, json!({"name": "w", "scopes": "code:write"})).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
    assert!(json_of(&res)["fields"]["allowed_networks"]
        .as_str()
        .unwrap()
        .contains("require_allowlist_for_write"));
    let res = create(
        &app,
        &manager,
        json!({"name": "w", "scopes": "code:write", "allowed_networks": ["127.0.0.1"]}),
    )
    .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    // a writing token made before the policy is blocked; a reading one is not
    let gw = |t: &str| {
        from(
            "127.0.0.1",
            None,
            "GET",
            "/gateway/check?scope=code:read",
            t,
            None,
        )
    };
    let res = app.request(gw(&old_writer)).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(json_of(&res)["policy"], "require_allowlist_for_write");
    assert_eq!(
        app.request(gw(&reader)).await.status,
        StatusCode::NO_CONTENT
    );
    support::set_policy(&app, "require_allowlist_for_write", "false").await;
    assert_eq!(
        app.request(gw(&old_writer)).await.status,
        StatusCode::NO_CONTENT,
        "loosening brings it back"
    );
}

/// The no-JS form sets both; a bad allowlist comes back as a field error
/// with everything typed kept.
async fn the_plain_form_sets_networks_and_resources(app: TestApp) {
    let (uid, cookie) = support::user(&app, "gus").await;
    let fields = [
        ("name", "runner"),
        ("expiry", "7"),
        ("scope_mode", "custom"),
        ("scope_code", "write"),
        ("resource_mode_code", "only"),
        ("resources_code", "acme/api, acme/web-*"),
        ("allowed_networks", "10.0.0.0/8\r\n192.0.2.7"),
        ("form_id", "lp1"),
    ];
    let res = app
        .post_form("/profile/security/tokens/new", &fields, Some(&cookie))
        .await;
    assert_eq!(
        res.status,
        StatusCode::CREATED,
        "{}",
        support::text_of_class(&res.body, "field-error").unwrap_or_default()
    );
    assert!(
        res.body
            .contains("The allowlist does not include 198.51.100.1"),
        "the warning is on the page with the secret"
    );
    let rows: Vec<(String, String)> = app
        .rows(&format!("SELECT allowed_networks, resources FROM tokens WHERE user_id = {uid} AND name = 'runner'"))
        .await;
    assert_eq!(rows[0].0, "10.0.0.0/8 192.0.2.7/32");
    assert_eq!(rows[0].1, r#"{"code":["acme/api","acme/web-*"]}"#);
    let page = app.get("/profile/security/tokens", Some(&cookie)).await;
    assert!(
        page.body.contains("Only from: "),
        "the list shows the allowlist"
    );
    assert!(page.body.contains("code: acme/api, acme/web-*"));

    let mut bad = fields.to_vec();
    bad[0] = ("name", "runner2");
    bad[6] = ("allowed_networks", "10.0.0.0/8\r\nnot-an-address");
    bad[7] = ("form_id", "lp2");
    let res = app
        .post_form("/profile/security/tokens/new", &bad, Some(&cookie))
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.body
            .contains("“not-an-address” is not an IP address or CIDR range"),
        "field error"
    );
    assert!(
        res.body.contains("acme/api, acme/web-*"),
        "what was typed is kept"
    );
    assert_eq!(tokens_of(&app, uid).await, 1, "nothing else was made");
}

/// An allowlist set on one instance is enforced by another within a second
/// (the change feed carries the new columns).
async fn a_second_instance_enforces_a_new_allowlist_within_a_second(app: TestApp) {
    let (uid, _) = support::user(&app, "hana").await;
    let (id, t) = support::token(&app, uid, "shared", "profile:read").await;
    let (other, _core) = app.second_instance().await;
    let me = || {
        from(
            "127.0.0.1",
            Some("203.0.113.5"),
            "GET",
            "/api/v1/me",
            &t,
            None,
        )
    };
    let first = support::send(&other, me()).await;
    assert_eq!(
        first.status,
        StatusCode::OK,
        "cached there now: {}",
        first.body
    );
    let (_, manager) = support::token(&app, uid, "manager", "full").await;
    let edit = edit(&manager, id, json!({"allowed_networks": ["10.0.0.0/8"]}));
    assert_eq!(app.request(edit).await.status, StatusCode::OK);
    let start = Instant::now();
    loop {
        if support::send(&other, me()).await.status == StatusCode::FORBIDDEN {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "still accepted after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Uses are recorded per scope and resource (one row however many
/// requests), reported by `GET …/usage`, and **Narrow** keeps only them.
async fn what_a_token_used_is_reported_and_it_can_be_narrowed_to_it(app: TestApp) {
    let (uid, cookie) = support::user(&app, "iris").await;
    let (_, manager) = support::token(&app, uid, "manager", "full").await;
    let (id, t) = support::token(&app, uid, "deploy", "code:write build:read").await;
    let (idle_id, _) = support::token(&app, uid, "idle", "wiki:read").await;
    let gw = |q: &str| {
        from(
            "127.0.0.1",
            None,
            "GET",
            &format!("/gateway/check?{q}"),
            &t,
            None,
        )
    };
    let allowed = "scope=code:read&resource=acme/api";
    for _ in 0..200 {
        assert_eq!(
            app.request(gw(allowed)).await.status,
            StatusCode::NO_CONTENT
        );
    }
    // refused uses are not recorded
    assert_eq!(
        app.request(gw("scope=wiki:read&resource=acme/api"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    app.core.flush_usage(true).await;
    let rows: Vec<(String, String)> = app
        .rows(&format!(
            "SELECT scope, resource FROM token_scope_uses WHERE token_id = {id}"
        ))
        .await;
    assert_eq!(
        rows,
        [("code:read".to_owned(), "acme/api".to_owned())],
        "one row for 200 uses"
    );

    let get = |path: String| from("127.0.0.1", None, "GET", &path, &manager, None);
    let res = app.request(get(format!("/api/v1/tokens/{id}/usage"))).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let v = json_of(&res);
    assert_eq!(v["used"][0]["scope"], "code:read");
    assert_eq!(v["used"][0]["resources"], json!(["acme/api"]));
    assert_eq!(v["never_used"], json!(["build:read", "code:write"]));
    assert_eq!(
        v["narrowed"],
        json!({"scopes": "code:read", "resources": {"code": ["acme/api"]}})
    );
    assert_eq!(
        v["summary"],
        "Used in the last 30 days: code:read on acme/api. Never used: build:read, code:write."
    );
    // the page says the same and offers the button
    let page = app.get("/profile/security/tokens", Some(&cookie)).await;
    assert!(page.body.contains(
        "Used in the last 30 days: code:read on acme/api. Never used: build:read, code:write."
    ));
    assert!(page
        .body
        .contains(&format!("action=\"/profile/security/tokens/{id}/narrow\"")));
    assert!(page.body.contains("Narrow to what was used"));

    // an administrator sees it among the tokens granted more than they use
    let rows = admin::inventory(
        &app.core,
        &app::admin::InventoryFilter {
            overgranted: true,
            ..Default::default()
        },
    )
    .await
    .expect("inventory");
    let ids: Vec<i64> = rows.iter().map(|r| r.token.id).collect();
    assert!(ids.contains(&id) && ids.contains(&idle_id), "{ids:?}");

    // another user's token: not found
    let (other, _) = support::user(&app, "jack").await;
    let (_, jacks) = support::token(&app, other, "jacks", "full").await;
    let res = app
        .request(from(
            "127.0.0.1",
            None,
            "GET",
            &format!("/api/v1/tokens/{id}/usage"),
            &jacks,
            None,
        ))
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let res = app
        .request(from(
            "127.0.0.1",
            None,
            "POST",
            &format!("/api/v1/tokens/{id}/narrow"),
            &jacks,
            None,
        ))
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);

    // narrow with the plain form: name, expiry and secret stay
    let before: Vec<(String, String, chrono::DateTime<chrono::Utc>)> = app
        .rows(&format!(
            "SELECT name, hint, expires_at FROM tokens WHERE id = {id}"
        ))
        .await;
    let res = app
        .post_form(
            &format!("/profile/security/tokens/{id}/narrow"),
            &[],
            Some(&cookie),
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(
        res.location(),
        Some("/profile/security/tokens?done=narrowed")
    );
    let after: Vec<(
        String,
        String,
        chrono::DateTime<chrono::Utc>,
        String,
        String,
    )> = app
        .rows(&format!(
            "SELECT name, hint, expires_at, scopes, resources FROM tokens WHERE id = {id}"
        ))
        .await;
    assert_eq!(
        (&after[0].0, &after[0].1, &after[0].2),
        (&before[0].0, &before[0].1, &before[0].2)
    );
    assert_eq!(after[0].3, "code:read");
    assert_eq!(after[0].4, r#"{"code":["acme/api"]}"#);
    let edited: Vec<(String,)> = app
        .rows(&format!(
            "SELECT details FROM audit_events WHERE event = 'token.edited' AND token_id = {id}"
        ))
        .await;
    assert!(
        edited[0].0.contains("build:read code:write") && edited[0].0.contains("acme/api"),
        "{}",
        edited[0].0
    );
    // the same secret now does only that
    assert_eq!(
        app.request(gw(allowed)).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        code(&app.request(gw("scope=code:write&resource=acme/api")).await),
        "insufficient_scope"
    );
    assert_eq!(
        code(&app.request(gw("scope=code:read&resource=acme/web")).await),
        "resource_not_allowed"
    );
    assert_eq!(
        code(&app.request(gw("scope=build:read")).await),
        "insufficient_scope"
    );

    // nothing left to narrow; an idle token cannot be narrowed to nothing
    let post = |path: String| from("127.0.0.1", None, "POST", &path, &manager, None);
    let res = app
        .request(post(format!("/api/v1/tokens/{id}/narrow")))
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(json_of(&res)["fields"]["scopes"]
        .as_str()
        .unwrap()
        .contains("already has only what it used"));
    let res = app
        .request(post(format!("/api/v1/tokens/{idle_id}/narrow")))
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(json_of(&res)["fields"]["scopes"]
        .as_str()
        .unwrap()
        .contains("not used in the last 30 days"));
    let res = app
        .post_form(
            &format!("/profile/security/tokens/{idle_id}/narrow"),
            &[],
            Some(&cookie),
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.body.contains("not used in the last 30 days"),
        "explained on the page"
    );
    let res = app
        .post_form("/profile/security/tokens/abc/narrow", &[], Some(&cookie))
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
}

/// A token's scope-use rows are bounded, however many resources it names.
async fn scope_use_rows_are_bounded_per_token(app: TestApp) {
    let (uid, _) = support::user(&app, "kai").await;
    let (id, t) = support::token(&app, uid, "busy", "code:read").await;
    for i in 0..130 {
        let req = from(
            "127.0.0.1",
            None,
            "GET",
            &format!("/gateway/check?scope=code:read&resource=r/{i}"),
            &t,
            None,
        );
        assert_eq!(app.request(req).await.status, StatusCode::NO_CONTENT);
    }
    app.core.flush_usage(true).await;
    let n: Vec<(i64,)> = app
        .rows(&format!(
            "SELECT COUNT(*) FROM token_scope_uses WHERE token_id = {id}"
        ))
        .await;
    assert_eq!(n[0].0, 100);
}

/// POST …/derive, by the parent token itself, from `fwd`.
async fn derive(app: &TestApp, by: &str, parent: i64, fwd: &str, body: Value) -> Resp {
    app.request(from(
        "127.0.0.1",
        Some(fwd),
        "POST",
        &format!("/api/v1/tokens/{parent}/derive"),
        by,
        Some(body),
    ))
    .await
}

fn gateway(token: &str, fwd: &str, q: &str) -> Request<Body> {
    from(
        "127.0.0.1",
        Some(fwd),
        "GET",
        &format!("/gateway/check?{q}"),
        token,
        None,
    )
}

/// The issue's CI story: a long-lived parent in the vault derives a
/// one-hour child for one repository and the runners' network.
async fn a_parent_derives_a_narrower_one_hour_child(app: TestApp) {
    let (uid, cookie) = support::user(&app, "lena").await;
    let (pid, parent) = limited_token(&app, uid, "vault", "code:write", &["10.0.0.0/8"]).await;
    let res = derive(
        &app,
        &parent,
        pid,
        "10.1.1.1",
        json!({
            "resources": {"code": ["acme/api"]}, "allowed_networks": ["10.1.0.0/16"]
        }),
    )
    .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let v = json_of(&res);
    assert_eq!(v["parent_id"], pid);
    assert!(
        v["name"].as_str().unwrap().starts_with("vault · derived "),
        "{}",
        v["name"]
    );
    let expires: chrono::DateTime<chrono::Utc> = v["expires_at"].as_str().unwrap().parse().unwrap();
    let left = expires - chrono::Utc::now();
    assert!(
        left <= chrono::Duration::minutes(60) && left > chrono::Duration::minutes(58),
        "one hour: {left}"
    );
    let (cid, child) = (
        v["id"].as_i64().unwrap(),
        v["token"].as_str().unwrap().to_owned(),
    );
    assert_eq!(
        app.request(gateway(
            &child,
            "10.1.2.3",
            "scope=code:write&resource=acme/api"
        ))
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        code(
            &app.request(gateway(
                &child,
                "10.1.2.3",
                "scope=code:read&resource=acme/web"
            ))
            .await
        ),
        "resource_not_allowed"
    );
    assert_eq!(
        code(
            &app.request(gateway(
                &child,
                "10.2.0.1",
                "scope=code:read&resource=acme/api"
            ))
            .await
        ),
        "ip_not_allowed"
    );
    assert_eq!(
        app.request(gateway(
            &parent,
            "10.2.0.1",
            "scope=code:read&resource=acme/web"
        ))
        .await
        .status,
        StatusCode::NO_CONTENT,
        "the parent is unchanged"
    );

    // never wider, never longer
    for (body, status, field) in [
        (
            json!({"scopes": "code:manage"}),
            StatusCode::FORBIDDEN,
            None,
        ),
        (json!({"scopes": "wiki:read"}), StatusCode::FORBIDDEN, None),
        (
            json!({"allowed_networks": ["0.0.0.0/0"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("allowed_networks"),
        ),
        (
            json!({"allowed_networks": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("allowed_networks"),
        ),
        (
            json!({"expires_in_days": 60}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("expiry"),
        ),
        (
            json!({"expires_in_minutes": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("expiry"),
        ),
        (
            json!({"expires_in_minutes": 60, "expires_in_days": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("expiry"),
        ),
        (json!({"bogus": 1}), StatusCode::UNPROCESSABLE_ENTITY, None),
    ] {
        let res = derive(&app, &parent, pid, "10.1.1.1", body.clone()).await;
        assert_eq!(res.status, status, "{body}: {}", res.body);
        if let Some(f) = field {
            assert!(
                json_of(&res)["fields"][f].is_string(),
                "{body}: {}",
                res.body
            );
        }
    }
    // a child can derive again, only narrower
    let res = derive(
        &app,
        &child,
        cid,
        "10.1.1.1",
        json!({"scopes": "code:read", "expires_in_minutes": 10}),
    )
    .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let grand = json_of(&res);
    let (gid, grandchild) = (
        grand["id"].as_i64().unwrap(),
        grand["token"].as_str().unwrap().to_owned(),
    );
    assert_eq!(
        grand["resources"],
        json!({"code": ["acme/api"]}),
        "the parent's limits by default"
    );
    let res = derive(
        &app,
        &child,
        cid,
        "10.1.1.1",
        json!({"resources": {"code": ["acme/*"]}}),
    )
    .await;
    assert_eq!(
        res.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "wider resources: {}",
        res.body
    );
    // a token cannot derive from another one without tokens:manage
    let res = derive(&app, &child, pid, "10.1.1.1", json!({})).await;
    assert_eq!(code(&res), "insufficient_scope");
    // nor from another user's token
    let (other, _) = support::user(&app, "mo").await;
    let (_, mos) = support::token(&app, other, "mos", "full").await;
    let res = derive(&app, &mos, pid, "10.1.1.1", json!({})).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);

    // an hour-long child is no expiry news: no notice, no banner
    app::domain::lifecycle::scan_tokens(&app.core)
        .await
        .expect("scan");
    let notices: Vec<(i64,)> = app
        .rows(&format!(
            "SELECT COUNT(*) FROM notifications WHERE token_id IN ({cid}, {gid})"
        ))
        .await;
    assert_eq!(notices[0].0, 0, "no expiry notice for derived tokens");
    // the page lists them under the parent
    let page = app.get("/profile/security/tokens", Some(&cookie)).await;
    assert!(
        !page.body.contains("expires within a week"),
        "no banner for derived tokens"
    );
    assert!(
        page.body.contains("Derived from vault:"),
        "children under the parent"
    );
    assert!(
        page.body.contains(&format!("data-token-id=\"{gid}\"")),
        "grandchildren too"
    );

    // revoking the parent stops every descendant, on another instance too
    let (other_instance, _core) = app.second_instance().await;
    for t in [&child, &grandchild] {
        let r = support::send(
            &other_instance,
            gateway(t, "10.1.2.3", "scope=code:read&resource=acme/api"),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::NO_CONTENT,
            "warm on the other instance"
        );
    }
    app::domain::tokens::revoke(&app.core, &app::domain::tokens::Actor::user(uid), pid)
        .await
        .expect("revoke");
    let start = Instant::now();
    for t in [&child, &grandchild] {
        loop {
            let r = support::send(
                &other_instance,
                gateway(t, "10.1.2.3", "scope=code:read&resource=acme/api"),
            )
            .await;
            if r.status == StatusCode::UNAUTHORIZED {
                assert_eq!(code(&r), "token_revoked");
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(1),
                "a descendant still works after 1 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let rows: Vec<(Option<String>,)> = app
        .rows(&format!(
            "SELECT revoked_reason FROM tokens WHERE id IN ({cid}, {gid})"
        ))
        .await;
    assert!(
        rows.iter()
            .all(|r| r.0.as_deref() == Some("the token it was derived from was revoked")),
        "{rows:?}"
    );
}

/// An expired or blocked parent stops its children; derivation depth is
/// bounded; the page's Derive button makes a one-hour child.
async fn a_childs_life_ends_with_its_parents(app: TestApp) {
    let (uid, cookie) = support::user(&app, "nora").await;
    let (pid, parent) = support::token(&app, uid, "full-parent", "full").await;
    let res = derive(
        &app,
        &parent,
        pid,
        "192.0.2.1",
        json!({"scopes": "code:read"}),
    )
    .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let child = json_of(&res)["token"].as_str().unwrap().to_owned();
    let check = || gateway(&child, "192.0.2.1", "scope=code:read");
    assert_eq!(app.request(check()).await.status, StatusCode::NO_CONTENT);
    // the parent is blocked by a policy: so is the child
    support::set_policy(&app, "forbid_full_access", "true").await;
    let res = app.request(check()).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.body);
    assert!(
        json_of(&res)["message"]
            .as_str()
            .unwrap()
            .contains("derived from is blocked"),
        "{}",
        res.body
    );
    support::set_policy(&app, "forbid_full_access", "false").await;
    assert_eq!(app.request(check()).await.status, StatusCode::NO_CONTENT);
    // the parent expires (its row changed by hand): the child stops at once
    app.exec(&format!(
        "UPDATE tokens SET expires_at = '2000-01-01T00:00:00Z' WHERE id = {pid}"
    ))
    .await;
    let start = Instant::now();
    loop {
        let r = app.request(check()).await;
        if r.status == StatusCode::UNAUTHORIZED {
            assert_eq!(code(&r), "token_expired");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "still works after its parent expired"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // depth: at most five levels of derivation (each child five minutes
    // shorter than its parent: the clock may tick a second between two)
    let (mut id, mut secret) = support::token(&app, uid, "root", "code:read").await;
    for level in 1..=6 {
        let res = derive(
            &app,
            &secret,
            id,
            "192.0.2.1",
            json!({"expires_in_minutes": 60 - 5 * level}),
        )
        .await;
        if level == 6 {
            assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
            assert!(
                json_of(&res)["fields"]["parent"]
                    .as_str()
                    .unwrap()
                    .contains("at most 5"),
                "{}",
                res.body
            );
            break;
        }
        assert_eq!(
            res.status,
            StatusCode::CREATED,
            "level {level}: {}",
            res.body
        );
        let v = json_of(&res);
        id = v["id"].as_i64().unwrap();
        secret = v["token"].as_str().unwrap().to_owned();
    }
    // the page's button
    let (rid, _) = support::token(&app, uid, "for-button", "wiki:read").await;
    let res = app
        .post_form(
            &format!("/profile/security/tokens/{rid}/derive"),
            &[],
            Some(&cookie),
        )
        .await;
    assert_eq!(
        res.status,
        StatusCode::CREATED,
        "{}",
        support::text_of_class(&res.body, "alert").unwrap_or_default()
    );
    assert!(
        res.body.contains("for-button · derived"),
        "the secret page names the child"
    );
    let n: Vec<(i64,)> = app
        .rows(&format!(
            "SELECT COUNT(*) FROM tokens WHERE parent_id = {rid}"
        ))
        .await;
    assert_eq!(n[0].0, 1);
}

on_both_backends!(
    a_parent_derives_a_narrower_one_hour_child,
    a_childs_life_ends_with_its_parents,
    what_a_token_used_is_reported_and_it_can_be_narrowed_to_it,
    scope_use_rows_are_bounded_per_token,
    an_allowlist_is_enforced_on_the_api_the_gateway_and_introspection,
    bad_allowlists_are_field_errors_and_change_nothing,
    resource_patterns_limit_the_gateway,
    bad_resources_are_field_errors,
    a_limited_token_cannot_make_a_wider_one,
    a_policy_can_require_an_allowlist_for_writing_tokens,
    the_plain_form_sets_networks_and_resources,
    a_second_instance_enforces_a_new_allowlist_within_a_second,
);
