//! The holes a second attacker's review found (issue "Close the holes…"),
//! one test each, on both stores: sudo mode for every action that yields a
//! secret reaching everything, leak reports matching in-grace secrets, the
//! gateway's bounded questions, admin-only areas, introspection failing
//! closed, throttles that a flood cannot grow, sign-up's cheap checks first,
//! and webhook deliveries in lanes of their own. (The git recipe's test is
//! in `gateway_nginx.rs`, with real nginx and git.)

use crate::support;

use app::domain::{
    lifecycle::{self, Owner},
    tokens::{self as service, Actor, TokenError},
};
use app::scopes::Scopes;
use app::tokens::{Networks, TokenSpec};
use axum::{
    body::Body,
    http::{Request, StatusCode},
};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use std::time::{Duration, Instant};
use support::{Options, TestApp, PW};

fn json_of(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
}

fn no_sudo() -> Options {
    Options {
        sudo_window: Duration::ZERO,
        ..Default::default()
    }
}

/// Every area a person can grant, at `manage`: as wide as Full access.
fn every_area_at_manage() -> Scopes {
    let words: Vec<String> = app::scopes::CATALOG
        .iter()
        .filter(|a| !app::scopes::ADMIN_ONLY_AREAS.contains(&a.id))
        .map(|a| format!("{}:manage", a.id))
        .collect();
    Scopes::parse(&words.join(" ")).expect("scopes")
}

fn spec(name: &str, scopes: Scopes, networks: &[&str]) -> TokenSpec {
    TokenSpec {
        name: name.into(),
        description: String::new(),
        expiry: app::tokens::Expiry::Days(30),
        scopes,
        networks: Networks::parse(networks.iter().copied()).expect("networks"),
        owner: None,
        resources: Default::default(),
    }
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.rows::<(i64,)>(sql).await[0].0
}

/// Waits up to `secs` for the count `sql` to reach 1 (written in the
/// background), failing with `why`.
async fn wait_for_a_row(app: &TestApp, sql: &str, secs: u64, why: &str) {
    let start = Instant::now();
    while count(app, sql).await < 1 {
        assert!(start.elapsed() < Duration::from_secs(secs), "{why}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Row 2: with no sudo window, Derive and Regenerate on a full-access token,
/// creating a token with every area at manage, widening a full-access
/// token's allowlist, removing the notification address and deleting a
/// webhook all ask for the password — and work once it is given.
async fn actions_that_yield_a_full_secret_or_silence_alarms_need_sudo(app: TestApp) {
    let (uid, cookie) = support::user(&app, "borrowed").await;
    let (full_id, full_secret) = support::token(&app, uid, "full", "full").await;
    let base = app::ui::tokens::BASE;

    // Derive from the full token: the confirmation page with the field
    let res = app
        .post_form(&format!("{base}/{full_id}/derive"), &[], Some(&cookie))
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.body);
    assert!(res
        .body
        .contains("Confirm your password to derive a token with full access."));
    assert!(res.body.contains("field-sudo_password"));
    let children = format!("SELECT COUNT(*) FROM tokens WHERE parent_id = {full_id}");
    assert_eq!(count(&app, &children).await, 0, "no child was made");
    let res = app
        .post_form(
            &format!("{base}/{full_id}/derive"),
            &[("sudo_password", PW)],
            Some(&cookie),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(count(&app, &children).await, 1);
    let page = app
        .get(&format!("{base}/{full_id}/derive"), Some(&cookie))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Derive a one-hour token from"));

    // Regenerate with a 7-day grace: refused, the old secret alone works
    let res = app
        .post_form(
            &format!("{base}/{full_id}/regenerate"),
            &[("grace_hours", "168")],
            Some(&cookie),
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.body);
    assert!(res
        .body
        .contains("Confirm your password to get a new secret for a full-access token."));
    let graced =
        format!("SELECT COUNT(*) FROM tokens WHERE id = {full_id} AND previous_hash IS NOT NULL");
    assert_eq!(count(&app, &graced).await, 0, "no second secret");
    assert_eq!(
        app.pat("GET", "/api/v1/me", &full_secret).await.status,
        StatusCode::OK
    );
    let res = app
        .post_form(
            &format!("{base}/{full_id}/regenerate"),
            &[("grace_hours", "168"), ("sudo_password", PW)],
            Some(&cookie),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(count(&app, &graced).await, 1);

    // the same rules in the service, for every transport
    let person = Actor::in_session(uid, false);
    let wide = service::create(
        &app.core,
        &person,
        &spec("all manage", every_area_at_manage(), &[]),
        "",
    )
    .await;
    assert!(
        matches!(wide, Err(TokenError::SudoRequired(_))),
        "every area at manage is full access: {wide:?}"
    );
    let limited = service::create(
        &app.core,
        &Actor::user(uid),
        &spec("full from 10/8", Scopes::Full, &["10.0.0.0/8"]),
        "",
    )
    .await
    .expect("create");
    let id = limited.token.id;
    let edit = |networks: &'static [&'static str]| {
        move |t: &app::tokens::TokenView| {
            let mut s = TokenSpec::of(t);
            s.networks = Networks::parse(networks.iter().copied()).map_err(|e| {
                app::tokens::FieldErrors::from([("allowed_networks".to_owned(), e)])
            })?;
            Ok(s)
        }
    };
    for (networks, why) in [(&[][..], "dropped"), (&["0.0.0.0/0"][..], "widened")] {
        let r = service::update(&app.core, &person, id, edit(networks)).await;
        assert!(
            matches!(r, Err(TokenError::SudoRequired(_))),
            "allowlist {why}: {r:?}"
        );
    }
    service::update(&app.core, &person, id, edit(&["10.1.0.0/16"]))
        .await
        .expect("narrowing needs no password");
    for r in [
        service::rotate(&app.core, &person, id, 24).await,
        service::regenerate(&app.core, &person, id).await,
        service::derive(&app.core, &person, id, &Default::default()).await,
    ] {
        assert!(matches!(r, Err(TokenError::SudoRequired(_))), "{r:?}");
    }
    // a token that does not reach everything: no password
    let (narrow, _) = support::token(&app, uid, "narrow", "code:read").await;
    service::rotate(&app.core, &person, narrow, 24)
        .await
        .expect("rotate a narrow token");

    // silencing the alarms: the notification address and webhooks
    app.exec(&format!(
        "UPDATE users SET email = 'owner@example.com' WHERE id = {uid}"
    ))
    .await;
    let email = lifecycle_email(&app, uid).await;
    assert_eq!(email.as_deref(), Some("owner@example.com"));
    let res = app
        .post_form(
            app::ui::notifications::EMAIL_POST,
            &[("action", "remove")],
            Some(&cookie),
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.body);
    assert!(res
        .body
        .contains("Confirm your password to stop notices by mail."));
    assert!(lifecycle_email(&app, uid).await.is_some(), "still there");
    let res = app
        .post_form(
            app::ui::notifications::EMAIL_POST,
            &[("action", "remove"), ("sudo_password", PW)],
            Some(&cookie),
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert!(lifecycle_email(&app, uid).await.is_none());

    let (hook, _) = lifecycle::add_webhook(
        &app.core,
        Owner::User(uid),
        uid,
        "http://127.0.0.1:9/hook",
        "",
        None,
    )
    .await
    .expect("webhook");
    let delete = format!("{}/{hook}/delete", app::ui::notifications::WEBHOOKS_POST);
    let res = app.post_form(&delete, &[], Some(&cookie)).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.body);
    assert!(res
        .body
        .contains("Confirm your password to delete a webhook."));
    let hooks = format!("SELECT COUNT(*) FROM webhooks WHERE id = {hook}");
    assert_eq!(count(&app, &hooks).await, 1, "not deleted");
    let res = app
        .post_form(&delete, &[("sudo_password", PW)], Some(&cookie))
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(count(&app, &hooks).await, 0);
}

async fn lifecycle_email(app: &TestApp, uid: i64) -> Option<String> {
    app.rows::<(Option<String>,)>(&format!("SELECT email FROM users WHERE id = {uid}"))
        .await[0]
        .0
        .clone()
}

fn json_post(path: &str, bearer: Option<&str>, body: serde_json::Value) -> Request<Body> {
    let mut b = Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/json");
    if let Some(t) = bearer {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(Body::from(body.to_string())).expect("request")
}

/// Row 3: a leak report naming a rotated-out secret still in its grace
/// stops it (and the token) at once; what the token derived is marked
/// revoked; what it made through the API says so.
async fn a_leaked_secret_in_its_grace_stops_and_what_it_made_is_known(app: TestApp) {
    let (uid, cookie) = support::user(&app, "leaky").await;
    let (id, old) = support::token(&app, uid, "ci", "tokens:manage profile:read code:read").await;
    let res = app
        .request(json_post(
            &format!("/api/v1/tokens/{id}/derive"),
            Some(&old),
            serde_json::json!({}),
        ))
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let child = json_of(&res.body)["id"].as_i64().expect("child id");
    let res = app
        .request(json_post(
            "/api/v1/tokens",
            Some(&old),
            serde_json::json!({"name": "made by ci", "expires_in_days": 7, "scopes": "code:read"}),
        ))
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let made = json_of(&res.body);
    assert_eq!(made["created_by_token"], id, "{made}");
    let made_id = made["id"].as_i64().expect("id");
    let fetched = app
        .pat("GET", &format!("/api/v1/tokens/{made_id}"), &old)
        .await;
    assert_eq!(json_of(&fetched.body)["created_by_token"], id);
    let page = app.get(app::ui::tokens::BASE, Some(&cookie)).await;
    assert!(
        page.body
            .contains(&format!("data-created-by-token=\"{id}\"")),
        "the list says which token made it"
    );

    let rotated = service::rotate(&app.core, &Actor::user(uid), id, 168)
        .await
        .expect("rotate");
    assert_eq!(
        app.pat("GET", "/api/v1/me", &old).await.status,
        StatusCode::OK
    );
    let res = app
        .request(json_post(
            "/api/v1/credentials/revoke",
            None,
            serde_json::json!({"credentials": [old]}),
        ))
        .await;
    assert_eq!(res.status, StatusCode::ACCEPTED);
    let start = Instant::now();
    while app.pat("GET", "/api/v1/me", &old).await.status != StatusCode::UNAUTHORIZED {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the reported old secret still works"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.pat("GET", "/api/v1/me", &rotated.secret).await.status,
        StatusCode::UNAUTHORIZED,
        "the token is revoked as leaked"
    );
    let rows: Vec<(Option<String>,)> = app
        .rows(&format!(
            "SELECT revoked_reason FROM tokens WHERE id = {child} AND revoked_at IS NOT NULL"
        ))
        .await;
    assert_eq!(
        rows,
        vec![(Some(service::DERIVED_REVOKED.to_owned()),)],
        "the derived child is marked revoked"
    );
}

fn check(path: &str, secret: &str) -> Request<Body> {
    Request::builder()
        .uri(path)
        .header("authorization", format!("Bearer {secret}"))
        .body(Body::empty())
        .expect("request")
}

/// Rows 4 and 9: the gateway reads its question before anything is
/// recorded; an administrators' area is only for administrators' tokens.
async fn the_gateway_parses_its_question_and_keeps_admin_areas_for_admins(app: TestApp) {
    let (uid, _) = support::user(&app, "gw").await;
    let (id, reader) = support::token(&app, uid, "reader", "code:read").await;
    let huge = format!("i{}", "x".repeat(6 * 1024));
    for _ in 0..200 {
        let res = app
            .request(check(&format!("/gateway/check?scope={huge}"), &reader))
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST);
        assert_eq!(json_of(&res.body)["error"], "invalid_scope");
    }
    for bad in ["nope:read", "code:admin", "code", "code:read%20wiki:read"] {
        let res = app
            .request(check(&format!("/gateway/check?scope={bad}"), &reader))
            .await;
        assert_eq!(
            (res.status, json_of(&res.body)["error"].clone()),
            (StatusCode::BAD_REQUEST, "invalid_scope".into()),
            "{bad}"
        );
    }
    let long = "a/".repeat(200);
    for resource in [long.as_str(), "acme%01api"] {
        let res = app
            .request(check(
                &format!("/gateway/check?scope=code:read&resource={resource}"),
                &reader,
            ))
            .await;
        assert_eq!(
            json_of(&res.body)["error"],
            "invalid_resource",
            "{resource}"
        );
    }
    // a real refusal is still recorded, once
    let res = app
        .request(check("/gateway/check?scope=wiki:read", &reader))
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let denied = format!(
        "SELECT COUNT(*) FROM audit_events WHERE event = 'token.denied' AND token_id = {id}"
    );
    wait_for_a_row(&app, &denied, 5, "the refusal was not audited").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count(&app, &denied).await, 1, "only the real refusal");

    // admin-only areas
    let (_, full) = support::token(&app, uid, "full", "full").await;
    for scope in ["admin:read", "metrics:read"] {
        let res = app
            .request(check(&format!("/gateway/check?scope={scope}"), &full))
            .await;
        assert_eq!(
            (res.status, json_of(&res.body)["error"].clone()),
            (StatusCode::FORBIDDEN, "insufficient_scope".into()),
            "a non-admin's Full token at {scope}"
        );
    }
    let (boss, _) = support::user(&app, "boss").await;
    app.exec(&format!(
        "UPDATE users SET is_admin = TRUE WHERE id = {boss}"
    ))
    .await;
    let (_, boss_full) = support::token(&app, boss, "full", "full").await;
    for scope in ["admin:read", "metrics:read"] {
        let res = app
            .request(check(&format!("/gateway/check?scope={scope}"), &boss_full))
            .await;
        assert_eq!(res.status, StatusCode::NO_CONTENT, "{scope}: {}", res.body);
    }
}

fn introspection(token: &str, client_ip: Option<&str>, secret: &str) -> Request<Body> {
    let mut form = format!("token={token}");
    if let Some(ip) = client_ip {
        form.push_str(&format!("&client_ip={ip}"));
    }
    let auth = STANDARD.encode(format!("gateway:{secret}"));
    Request::builder()
        .method("POST")
        .uri("/oauth/introspect")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", format!("Basic {auth}"))
        .body(Body::from(form))
        .expect("request")
}

fn few_failures() -> Options {
    let mut o = Options::default();
    o.throttle.max_failures_per_ip = 5;
    o
}

/// Row 10: without `client_ip` an allowlisted token is not active, even
/// when the gateway's own address is on the list; parallel wrong client
/// secrets are counted before they are answered.
async fn introspection_fails_closed_and_counts_failures_first(app: TestApp) {
    let (uid, _) = support::user(&app, "introspected").await;
    let (_, local) = support::token_from_spec(
        &app,
        uid,
        &spec(
            "local",
            Scopes::parse("code:read").unwrap(),
            &["127.0.0.0/8"],
        ),
    )
    .await;
    let res = app
        .request(introspection(&local, None, support::INTROSPECTION_SECRET))
        .await;
    assert_eq!(json_of(&res.body), serde_json::json!({"active": false}));
    let res = app
        .request(introspection(
            &local,
            Some("127.0.0.5"),
            support::INTROSPECTION_SECRET,
        ))
        .await;
    assert_eq!(json_of(&res.body)["active"], true, "{}", res.body);

    let mut guesses = Vec::new();
    for i in 0..40 {
        let router = app.router.clone();
        let req = introspection(&local, None, &format!("wrong-guess-{i}"));
        guesses.push(tokio::spawn(async move {
            support::send(&router, req).await.status
        }));
    }
    let mut answered = 0;
    for g in guesses {
        match g.await.expect("task") {
            StatusCode::UNAUTHORIZED => answered += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("{other}"),
        }
    }
    assert!(answered <= 5, "{answered} wrong guesses were answered");
}

/// Throttle rows in use (Postgres: the shared table; SQLite: memory).
async fn throttle_keys(app: &TestApp) -> i64 {
    match app.backend {
        support::Backend::Sqlite => app.core.throttle.keys_in_memory() as i64,
        support::Backend::Postgres => count(app, "SELECT COUNT(*) FROM throttle").await,
    }
}

fn three_per_address() -> Options {
    let mut o = Options::default();
    o.throttle.max_failures_per_ip = 3;
    o.throttle.max_failures_per_account = 100;
    o
}

/// Row 5: sign-ins from an address already throttled add no key for the
/// made-up account they name.
async fn refused_sign_ins_add_no_throttle_keys(app: TestApp) {
    let attempt = |i: usize| {
        let app = &app;
        async move {
            let name = format!("nobody{i}");
            let fields = [
                ("username", name.as_str()),
                ("password", "wrong password x"),
            ];
            app.post_form_from("203.0.113.77", "/signin", &fields, None)
                .await
                .status
        }
    };
    for i in 0..3 {
        assert_eq!(attempt(i).await, StatusCode::UNAUTHORIZED);
    }
    let before = throttle_keys(&app).await;
    for i in 3..60 {
        assert_eq!(attempt(i).await, StatusCode::TOO_MANY_REQUESTS);
    }
    assert_eq!(
        throttle_keys(&app).await,
        before,
        "refused sign-ins added keys"
    );
}

fn one_signup() -> Options {
    let mut o = Options::default();
    o.throttle.max_signups_per_ip = 1;
    o
}

/// Row 6: a throttled address is told so before its password's strength is
/// estimated (the estimate costs milliseconds of CPU a flood would spend).
async fn sign_up_checks_the_throttle_before_the_strength(app: TestApp) {
    app.sign_up("first", PW).await;
    let res = app.sign_up_answer("second", "abcdabcdabcdabcd").await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
    assert!(res.body.contains("Too many new accounts"));
    // the rules (cheap) still come first, and are still explained
    let res = app.sign_up_answer("", "abcdabcdabcdabcd").await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// An endpoint that accepts connections and never answers, for `secs`.
fn hanging_endpoint(secs: u64) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    l.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        let end = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < end {
            if let Ok((c, _)) = l.accept() {
                held.push(c);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    format!("http://{addr}/never")
}

/// An endpoint that answers every delivery with 204.
fn answering_endpoint() -> String {
    use std::io::{Read as _, Write as _};
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for c in l.incoming().flatten().take(50) {
            let mut c = c;
            let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 16384];
            let _ = c.read(&mut buf);
            let _ = c.write_all(
                b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    format!("http://{addr}/hook")
}

/// Row 7: "Send test event" is limited per endpoint, and deliveries to an
/// endpoint that never answers do not hold up another endpoint's.
async fn webhook_tests_are_limited_and_endpoints_do_not_wait_for_each_other(app: TestApp) {
    let (uid, cookie) = support::user(&app, "hooks").await;
    let add = |url: String| {
        let core = app.core.clone();
        async move {
            lifecycle::add_webhook(&core, Owner::User(uid), uid, &url, "", None)
                .await
                .expect("webhook")
                .0
        }
    };
    let slow = add(hanging_endpoint(60)).await;
    let test = |id: i64| format!("{}/{id}/test", app::ui::notifications::WEBHOOKS_POST);
    for i in 0..app::domain::throttle::WEBHOOK_TESTS_PER_HOUR {
        let res = app.post_form(&test(slow), &[], Some(&cookie)).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "test {i}: {}", res.body);
    }
    let res = app.post_form(&test(slow), &[], Some(&cookie)).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(res.body.contains("Too many test events to this endpoint."));

    let fast = add(answering_endpoint()).await;
    let res = app.post_form(&test(fast), &[], Some(&cookie)).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let delivered = format!(
        "SELECT COUNT(*) FROM deliveries WHERE webhook_id = {fast} AND state = 'delivered'"
    );
    wait_for_a_row(
        &app,
        &delivered,
        8,
        "the answering endpoint waited behind the one that never answers",
    )
    .await;
    // one delivery at a time goes to the endpoint that hangs
    let in_flight = format!(
        "SELECT COUNT(*) FROM deliveries WHERE webhook_id = {slow} AND claimed_until IS NOT NULL AND state = 'pending'"
    );
    assert!(count(&app, &in_flight).await <= 1);
}

/// Row 12 is in `lifecycle.rs` (it needs the partner keys made there);
/// row 8 (`X-Forwarded-For` hops, ranges) in `middleware.rs`; row 11
/// (webhook targets and proxies) in `webhooks.rs`; row 1 in `gateway_nginx.rs`.
const _: () = ();

on_both_backends!(
    actions_that_yield_a_full_secret_or_silence_alarms_need_sudo with no_sudo(),
    a_leaked_secret_in_its_grace_stops_and_what_it_made_is_known,
    the_gateway_parses_its_question_and_keeps_admin_areas_for_admins,
    introspection_fails_closed_and_counts_failures_first with few_failures(),
    refused_sign_ins_add_no_throttle_keys with three_per_address(),
    sign_up_checks_the_throttle_before_the_strength with one_signup(),
    webhook_tests_are_limited_and_endpoints_do_not_wait_for_each_other,
);
