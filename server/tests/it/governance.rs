//! Running Tessera for an organization: administrators, policies, the
//! audit log, the credentials inventory and the admin CLI — on SQLite and
//! Postgres alike, through the services, the API, the pages and the real
//! `tessera admin` binary.

use crate::support;

use app::domain::{
    admin::{self, Admin, InventoryFilter, StatusFilter},
    audit,
    tokens::{self as service, Actor},
};
use app::tokens::{Expiry, TokenSpec};
use axum::{body::Body, http::Request, http::StatusCode};
use std::time::{Duration, Instant};
use support::{token, Resp, TestApp};

fn json_of(r: &Resp) -> serde_json::Value {
    serde_json::from_str(&r.body).unwrap_or_else(|_| panic!("not JSON: {}", r.body))
}

async fn api(
    app: &TestApp,
    method: &str,
    path: &str,
    secret: &str,
    body: Option<serde_json::Value>,
) -> Resp {
    let b = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {secret}"))
        .header("content-type", "application/json")
        .header("user-agent", "governance-test/1.0")
        .header("x-request-id", "req-governance-1")
        .header("x-forwarded-for", "203.0.113.9");
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    app.request(b.body(body).expect("request")).await
}

fn spec(name: &str, days: u32, scopes: &str) -> TokenSpec {
    TokenSpec {
        name: name.into(),
        description: String::new(),
        expiry: Expiry::Days(days),
        scopes: app::scopes::Scopes::parse(scopes).expect("scopes"),
        networks: Default::default(),
        owner: None,
        resources: Default::default(),
    }
}

async fn set(app: &TestApp, key: &str, value: &str) {
    admin::set_policy(&app.core, &Admin::cli(), key, value)
        .await
        .unwrap_or_else(|e| panic!("{key}={value}: {e}"));
}

async fn events(app: &TestApp, user: Option<i64>) -> Vec<app::audit::AuditEvent> {
    let f = audit::Filter {
        user_id: user,
        limit: 500,
        ..Default::default()
    };
    audit::list(&app.db, &f).await.expect("audit")
}

/// Every policy refuses what breaks it on create, edit and regenerate, and
/// names itself in the error.
async fn policies_refuse_what_breaks_them(app: TestApp) {
    let (uid, _) = support::user(&app, "polly").await;
    let (full_id, _) = token(&app, uid, "before-policy", "full").await;
    let (long_id, _) = token(&app, uid, "long", "code:read").await;
    set(&app, "forbid_full_access", "true").await;
    set(&app, "max_lifetime_days", "7").await;
    let me = Actor::user(uid);
    let refused = service::create(&app.core, &me, &spec("f", 7, "full"), "").await;
    let fields = refused.expect_err("full refused").fields();
    assert!(
        fields["scopes"].contains("forbid_full_access"),
        "{fields:?}"
    );
    let refused = service::create(&app.core, &me, &spec("l", 30, "code:read"), "").await;
    let fields = refused.expect_err("30 days refused").fields();
    assert!(fields["expiry"].contains("max_lifetime_days"), "{fields:?}");
    assert!(fields["expiry"].contains("at most 7 days"));
    service::create(&app.core, &me, &spec("ok", 7, "code:read"), "")
        .await
        .expect("within policy");
    // regenerate of a full token made before the policy: refused by name
    let err = service::regenerate(&app.core, &me, full_id)
        .await
        .expect_err("regenerate refused");
    assert_eq!(err.code(), "policy_violation");
    assert!(err.message().contains("forbid_full_access"));
    // editing only the name of a token that lives too long: choose a new expiry
    let err = service::update(&app.core, &me, long_id, |t| {
        let mut s = TokenSpec::of(t);
        s.name = "renamed".into();
        Ok(s)
    })
    .await
    .expect_err("keeping a too-long expiry is refused");
    assert!(err.fields()["expiry"].contains("max_lifetime_days"));
    // through the API: 422 with the policy in the field message
    let manager = service::create(
        &app.core,
        &me,
        &spec("manager", 7, "tokens:manage code:write"),
        "",
    )
    .await
    .expect("manager")
    .secret;
    let res = api(
        &app,
        "POST",
        "/api/v1/tokens",
        &manager,
        Some(serde_json::json!({"name": "month", "scopes": "code:read", "expires_in_days": 30})),
    )
    .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
    assert!(json_of(&res)["fields"]["expiry"]
        .as_str()
        .unwrap()
        .contains("max_lifetime_days"));
    // allowed_scopes (a token can only grant what it has, so through the
    // API it cannot break this one; a person can)
    set(&app, "allowed_scopes", "code:write tokens:manage").await;
    let err = service::create(&app.core, &me, &spec("wiki", 7, "wiki:read"), "")
        .await
        .expect_err("outside allowed_scopes");
    assert!(err.fields()["scopes"].contains("allowed_scopes"));
    assert!(err.fields()["scopes"].contains("code:write tokens:manage"));
    // max_active_tokens_per_user: 403 policy_violation naming it
    set(&app, "allowed_scopes", "none").await;
    set(&app, "max_active_tokens_per_user", "2").await;
    let err = service::create(&app.core, &me, &spec("one-more", 7, "code:read"), "")
        .await
        .expect_err("over the cap");
    assert_eq!(
        (err.code(), err.status().as_u16()),
        ("policy_violation", 403)
    );
    assert!(err.message().contains("max_active_tokens_per_user"));
    let res = api(
        &app,
        "POST",
        "/api/v1/tokens",
        &manager,
        // shorter than the calling token's own 7 days (it cannot outlive it)
        Some(serde_json::json!({"name": "x", "scopes": "code:read", "expires_in_days": 6})),
    )
    .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.body);
    let body = json_of(&res);
    assert_eq!(body["error"], "policy_violation");
    assert_eq!(body["policy"], "max_active_tokens_per_user");
}

/// A token made before a stricter policy is blocked at use (API, gateway,
/// introspection), flagged on its owner's page and in the API, and works
/// again when the policy loosens.
async fn old_tokens_are_blocked_at_use_and_come_back(app: TestApp) {
    let (uid, cookie) = support::user(&app, "olga").await;
    let (id, secret) = token(&app, uid, "ci-full", "full").await;
    assert_eq!(
        app.pat("GET", "/api/v1/me", &secret).await.status,
        StatusCode::OK
    );
    set(&app, "forbid_full_access", "true").await;
    let res = app.pat("GET", "/api/v1/me", &secret).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.body);
    let body = json_of(&res);
    assert_eq!(body["error"], "policy_violation");
    assert_eq!(body["policy"], "forbid_full_access");
    assert_eq!(
        body["message"],
        "Blocked by policy: full access is not allowed."
    );
    assert_eq!(
        app.pat("GET", "/gateway/check", &secret).await.status,
        StatusCode::FORBIDDEN
    );
    let intro = Request::builder()
        .method("POST")
        .uri("/oauth/introspect")
        .header(
            "authorization",
            format!(
                "Basic {}",
                base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    format!("gateway:{}", support::INTROSPECTION_SECRET)
                )
            ),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("token={secret}")))
        .unwrap();
    assert_eq!(json_of(&app.request(intro).await)["active"], false);
    let page = app.get("/profile/security/tokens", Some(&cookie)).await;
    assert!(
        page.body
            .contains("Blocked by policy: full access is not allowed."),
        "the owner's page flags it"
    );
    // the block is not a revocation: loosening brings it back
    set(&app, "forbid_full_access", "false").await;
    assert_eq!(
        app.pat("GET", "/api/v1/me", &secret).await.status,
        StatusCode::OK
    );
    // inactive_days: a token unused for longer stops working, and its use
    // is not recorded (it cannot revive itself)
    let (_, idle) = token(&app, uid, "idle", "profile:read").await;
    let long_ago = app::domain::db::now() - chrono::Duration::days(40);
    let sql = match app.backend {
        support::Backend::Sqlite => format!(
            "UPDATE tokens SET last_used_at = '{}' WHERE name = 'idle'",
            long_ago.format("%Y-%m-%dT%H:%M:%SZ")
        ),
        support::Backend::Postgres => format!(
            "UPDATE tokens SET last_used_at = '{}' WHERE name = 'idle'",
            long_ago.to_rfc3339()
        ),
    };
    app.exec(&sql).await;
    set(&app, "inactive_days", "30").await;
    let res = app.pat("GET", "/api/v1/me", &idle).await;
    assert_eq!(json_of(&res)["policy"], "inactive_days", "{}", res.body);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let blocked_events = events(&app, Some(uid))
        .await
        .into_iter()
        .filter(|e| e.event == "token.blocked")
        .count();
    assert!(blocked_events >= 2, "blocked uses are audited");
    let _ = id;
}

/// An administrator revokes any user's token with a reason; the owner sees
/// "Revoked by an administrator: REASON" on the page and in the API; the
/// inventory finds tokens by user, status, scope, expiry and disuse.
async fn admins_revoke_with_a_reason_the_owner_sees(app: TestApp) {
    let (uid, cookie) = support::user(&app, "owen").await;
    let (other, _) = support::user(&app, "otto").await;
    let (id, secret) = token(&app, uid, "deploy", "code:write").await;
    let (_, reader) = token(&app, uid, "reader", "tokens:read").await;
    token(&app, other, "wiki", "wiki:read").await;
    let all = admin::inventory(&app.core, &InventoryFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 3, "every user's active tokens");
    let owens = InventoryFilter {
        user_id: Some(uid),
        ..Default::default()
    };
    assert_eq!(admin::inventory(&app.core, &owens).await.unwrap().len(), 2);
    let code = InventoryFilter {
        scope: Some("code:read".into()),
        ..Default::default()
    };
    let found = admin::inventory(&app.core, &code).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].username, "owen");
    let soon = InventoryFilter {
        expiring_days: Some(7),
        ..Default::default()
    };
    assert!(admin::inventory(&app.core, &soon).await.unwrap().is_empty());
    let unused = InventoryFilter {
        unused_days: Some(1),
        ..Default::default()
    };
    assert!(
        admin::inventory(&app.core, &unused)
            .await
            .unwrap()
            .is_empty(),
        "made today: not unused for a day"
    );
    // a reason is required and bounded
    for bad in ["", "   ", "a\u{0}b"] {
        assert!(admin::revoke_token(&app.core, &Admin::cli(), id, bad)
            .await
            .is_err());
    }
    assert!(admin::revoke_token(&app.core, &Admin::cli(), 999_999, "x")
        .await
        .is_err());
    let r = admin::revoke_token(&app.core, &Admin::cli(), id, "Leaked in a CI log")
        .await
        .expect("revoke");
    assert_eq!(r.username, "owen");
    assert_eq!(
        app.pat("GET", "/api/v1/me", &secret).await.status,
        StatusCode::UNAUTHORIZED
    );
    let page = app
        .get("/profile/security/tokens?revoked=1", Some(&cookie))
        .await;
    assert!(
        page.body
            .contains("Revoked by an administrator: Leaked in a CI log"),
        "the owner sees who and why"
    );
    let res = api(&app, "GET", &format!("/api/v1/tokens/{id}"), &reader, None).await;
    let body = json_of(&res);
    assert_eq!(body["revoked_by"], "admin");
    assert_eq!(body["revoked_reason"], "Leaked in a CI log");
    let revoked = InventoryFilter {
        status: StatusFilter::Revoked,
        ..Default::default()
    };
    assert_eq!(
        admin::inventory(&app.core, &revoked).await.unwrap().len(),
        1
    );
    let n = admin::revoke_user_tokens(&app.core, &Admin::cli(), "OWEN", "Left the company")
        .await
        .unwrap();
    assert_eq!(n, 1, "the one still active");
    let ev = events(&app, Some(uid)).await;
    let revokes: Vec<_> = ev.iter().filter(|e| e.event == "token.revoked").collect();
    assert_eq!(revokes.len(), 2);
    assert!(revokes.iter().all(|e| e.actor == "admin"));
    assert_eq!(revokes[0].details["reason"], "Left the company");
}

/// Disabling an account signs it out and stops its tokens; enabling it
/// brings the tokens back; admin rights come and go with audit events.
async fn disabled_accounts_stop_everything(app: TestApp) {
    let (uid, cookie) = support::user(&app, "dora").await;
    let (_, secret) = token(&app, uid, "t", "profile:read").await;
    assert_eq!(
        app.pat("GET", "/api/v1/me", &secret).await.status,
        StatusCode::OK
    );
    let who = Admin::cli();
    let u = admin::set_disabled(&app.core, &who, "dora", true)
        .await
        .unwrap();
    assert!(u.disabled_at.is_some());
    let res = app.pat("GET", "/api/v1/me", &secret).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(json_of(&res)["error"], "account_disabled");
    let page = app.get("/profile/security/tokens", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "signed out");
    let res = app.sign_in("dora", support::PW).await;
    assert!(
        res.body.contains("This account is disabled"),
        "{}",
        res.body
    );
    assert!(res.session_cookie().is_none());
    let res = app.sign_in("dora", "wrong password here").await;
    assert!(
        !res.body.contains("disabled"),
        "no oracle without the password"
    );
    admin::set_disabled(&app.core, &who, "dora", false)
        .await
        .unwrap();
    assert_eq!(
        app.pat("GET", "/api/v1/me", &secret).await.status,
        StatusCode::OK
    );
    assert!(!app::domain::users::is_admin(&app.db, uid).await.unwrap());
    admin::set_admin(&app.core, &who, "Dora", true)
        .await
        .unwrap();
    assert!(app::domain::users::is_admin(&app.db, uid).await.unwrap());
    admin::set_admin(&app.core, &who, "dora", true)
        .await
        .unwrap();
    let names: Vec<String> = events(&app, Some(uid))
        .await
        .into_iter()
        .map(|e| e.event)
        .collect();
    for expected in [
        "account.created",
        "session.signed_in",
        "admin.user_disabled",
        "session.sign_in_failed",
        "admin.user_enabled",
        "admin.granted",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    assert_eq!(
        names.iter().filter(|n| *n == "admin.granted").count(),
        1,
        "granting twice records once"
    );
    assert!(matches!(
        admin::set_admin(&app.core, &who, "nobody", true).await,
        Err(admin::AdminError::NotFound(_))
    ));
}

/// Every token action through the API is audited with the client's
/// address, user agent and request id, edits with before → after, and no
/// event ever holds a secret. The log is append-only.
async fn the_audit_log_answers_who_what_where(app: TestApp) {
    let (uid, _) = support::user(&app, "audrey").await;
    let (mid, manager) = token(&app, uid, "manager", "tokens:manage").await;
    let res = api(
        &app,
        "POST",
        "/api/v1/tokens",
        &manager,
        Some(serde_json::json!({"name": "ci", "scopes": "tokens:read", "expires_in_days": 7})),
    )
    .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let made = json_of(&res);
    let (id, secret) = (
        made["id"].as_i64().unwrap(),
        made["token"].as_str().unwrap().to_owned(),
    );
    api(
        &app,
        "PATCH",
        &format!("/api/v1/tokens/{id}"),
        &manager,
        Some(serde_json::json!({"name": "ci-deploy"})),
    )
    .await;
    let regen = api(
        &app,
        "POST",
        &format!("/api/v1/tokens/{id}/regenerate"),
        &manager,
        None,
    )
    .await;
    let new_secret = json_of(&regen)["token"].as_str().unwrap().to_owned();
    api(
        &app,
        "DELETE",
        &format!("/api/v1/tokens/{id}"),
        &manager,
        None,
    )
    .await;
    let history = audit::list(
        &app.db,
        &audit::Filter {
            token_id: Some(id),
            limit: 50,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let names: Vec<&str> = history.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        names,
        [
            "token.revoked",
            "token.regenerated",
            "token.edited",
            "token.created"
        ]
    );
    for e in &history {
        assert_eq!(e.actor, "token");
        assert_eq!(e.actor_token_id, Some(mid));
        assert_eq!(e.ip, "203.0.113.9");
        assert_eq!(e.user_agent, "governance-test/1.0");
        assert_eq!(e.request_id, "req-governance-1");
        let text = e.details.to_string();
        assert!(
            !text.contains(&secret) && !text.contains(&new_secret),
            "no secret in {text}"
        );
    }
    assert_eq!(history[2].details["name"]["before"], "ci");
    assert_eq!(history[2].details["name"]["after"], "ci-deploy");
    assert_eq!(history[0].details["by"], "owner");
    // append-only: an UPDATE is refused by the store itself
    let tampered = app::on_db!(&app.db, p => sqlx::query("UPDATE audit_events SET event = 'x'").execute(p).await.map(|_| ()));
    assert!(tampered.is_err(), "audit rows cannot be changed");
    // a flood of refusals writes a bounded number of rows
    for _ in 0..30 {
        let r = api(&app, "GET", "/api/v1/me", &manager, None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let denied = events(&app, Some(uid))
        .await
        .into_iter()
        .filter(|e| e.event == "token.denied")
        .collect::<Vec<_>>();
    assert_eq!(denied.len(), 1, "sampled");
    assert_eq!(denied[0].details["required_scope"], "profile:read");
}

/// `GET /api/v1/audit`: own events, a cursor, and other users' events
/// only for an administrator's token with `admin:read`.
async fn the_audit_api_pages_and_guards_other_users(app: TestApp) {
    let (uid, _) = support::user(&app, "ann").await;
    let (_bob, _) = support::user(&app, "bert").await;
    let (_, reader) = token(&app, uid, "reader", "profile:read").await;
    for i in 0..4 {
        token(&app, uid, &format!("t{i}"), "code:read").await;
    }
    let res = api(&app, "GET", "/api/v1/audit?limit=2", &reader, None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let page = json_of(&res);
    assert_eq!(page["events"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().expect("more pages").to_owned();
    let mut seen = 2;
    let mut next = Some(cursor);
    while let Some(c) = next {
        let p = json_of(
            &api(
                &app,
                "GET",
                &format!("/api/v1/audit?limit=2&cursor={c}"),
                &reader,
                None,
            )
            .await,
        );
        seen += p["events"].as_array().unwrap().len();
        for e in p["events"].as_array().unwrap() {
            assert_eq!(e["user_id"], uid, "own events only");
        }
        next = p["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, events(&app, Some(uid)).await.len());
    for bad in ["limit=0", "limit=9999", "cursor=abc", "since=yesterday"] {
        let r = api(&app, "GET", &format!("/api/v1/audit?{bad}"), &reader, None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.body);
        assert_eq!(json_of(&r)["error"], "invalid_query");
    }
    // another user's events: not for an ordinary user's token
    let r = api(&app, "GET", "/api/v1/audit?user=bert", &reader, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // nor may an ordinary user grant admin:read
    let err = service::create(
        &app.core,
        &Actor::user(uid),
        &spec("adm", 7, "admin:read profile:read"),
        "",
    )
    .await
    .expect_err("not an admin");
    assert!(err.fields()["scopes"].contains("Only administrators"));
    admin::set_admin(&app.core, &Admin::cli(), "ann", true)
        .await
        .unwrap();
    let (_, auditor) = token(&app, uid, "auditor", "admin:read profile:read").await;
    let r = api(&app, "GET", "/api/v1/audit?user=bert", &auditor, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let p = json_of(&r);
    let evs = p["events"].as_array().unwrap();
    assert!(!evs.is_empty() && evs.iter().all(|e| e["username"] == "bert"));
    let r = api(&app, "GET", "/api/v1/audit?user=*", &auditor, None).await;
    assert!(json_of(&r)["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["event"] == "admin.granted"));
    let r = api(&app, "GET", "/api/v1/audit?user=nobody", &auditor, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // demoted: the same token can no longer read others' events
    admin::set_admin(&app.core, &Admin::cli(), "ann", false)
        .await
        .unwrap();
    let r = api(&app, "GET", "/api/v1/audit?user=bert", &auditor, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

/// The housekeeping job runs once per period across every instance, and
/// prunes audit events past retention.
async fn housekeeping_runs_once_across_instances(app: TestApp) {
    let (_, second) = app.second_instance().await;
    assert!(
        app.core.housekeeping().await.unwrap(),
        "the first claim wins"
    );
    assert!(
        !second.housekeeping().await.unwrap(),
        "the other instance skips"
    );
    assert!(
        !app.core.housekeeping().await.unwrap(),
        "and so does a second try"
    );
    let old = match app.backend {
        support::Backend::Sqlite => "2020-01-01T00:00:00Z",
        support::Backend::Postgres => "2020-01-01T00:00:00+00:00",
    };
    app.exec(&format!(
        "INSERT INTO audit_events (at, event, actor) VALUES ('{old}', 'token.created', 'system')"
    ))
    .await;
    let before = events(&app, None).await.len();
    let pruned = audit::prune(&app.db, Duration::from_secs(365 * 24 * 3600))
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    assert_eq!(events(&app, None).await.len(), before - 1);
}

async fn cli_async(app: &TestApp, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    cli_with_env(app, &[], args, stdin).await
}

/// `tessera admin ARGS` on the test's store with the environment `envs`
/// added; (success, stdout, stderr).
pub(crate) async fn cli_with_env(
    app: &TestApp,
    envs: &[(&str, &str)],
    args: &[&str],
    stdin: Option<&str>,
) -> (bool, String, String) {
    let owned = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let (url, args, stdin) = (app.url.clone(), owned(args), stdin.map(str::to_owned));
    let envs: Vec<(String, String)> = envs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || run_cli(&url, &envs, &args, stdin.as_deref()))
        .await
        .expect("cli")
}

/// Runs `tessera admin ARGS` on the store at `url`, feeding `stdin`;
/// (success, stdout, stderr).
fn run_cli(
    url: &str,
    envs: &[(String, String)],
    args: &[String],
    stdin: Option<&str>,
) -> (bool, String, String) {
    use std::io::Write as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("admin")
        .args(args)
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .env("DATABASE_URL", url)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("tessera admin");
    {
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("write stdin");
        }
    }
    let out = child.wait_with_output().expect("output");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every `tessera admin` command, on the test's store, with `--json`.
async fn the_admin_cli_does_everything(app: TestApp) {
    let (ok, out, err) = cli_async(&app, &["create-user", "carol", "--json"], Some("")).await;
    assert!(ok, "{err}");
    let made: serde_json::Value = serde_json::from_str(&out).expect("json");
    let generated = made["password"]
        .as_str()
        .expect("generated password")
        .to_owned();
    assert_eq!(generated.len(), 20);
    let res = app.sign_in("carol", &generated).await;
    assert!(
        res.session_cookie().is_some(),
        "the printed password signs in"
    );
    let (ok, out, _) = cli_async(
        &app,
        &["create-user", "dave", "--json"],
        Some("correct horse battery staple\n"),
    )
    .await;
    assert!(ok);
    assert!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["password"].is_null(),
        "a given password is not printed"
    );
    assert!(app
        .sign_in("dave", "correct horse battery staple")
        .await
        .session_cookie()
        .is_some());
    let (ok, _, err) = cli_async(&app, &["create-user", "eve"], Some("password\n")).await;
    assert!(!ok && !err.is_empty(), "weak passwords are refused: {err}");
    let (ok, _, err) = cli_async(&app, &["create-user", "carol"], Some("")).await;
    assert!(!ok && err.contains("already taken"), "{err}");
    let (ok, out, _) = cli_async(&app, &["grant-admin", "carol", "--json"], None).await;
    assert!(ok);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["is_admin"],
        true
    );
    let (ok, out, _) = cli_async(&app, &["users", "--json"], None).await;
    assert!(ok);
    let users: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 2);
    let (ok, out, _) = cli_async(&app, &["users"], None).await;
    assert!(
        ok && out.contains("USERNAME") && out.contains("carol"),
        "{out}"
    );
    let uid = made["id"].as_i64().unwrap();
    let (tid, secret) = token(&app, uid, "ci", "profile:read").await;
    let (ok, out, _) = cli_async(
        &app,
        &["tokens", "--json", "--user", "carol", "--status", "all"],
        None,
    )
    .await;
    assert!(ok);
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed[0]["token"]["id"], tid);
    assert!(!out.contains(&secret));
    let (ok, _, err) = cli_async(&app, &["tokens", "--status", "sideways"], None).await;
    assert!(!ok && err.contains("--status"), "{err}");
    let (ok, out, _) = cli_async(
        &app,
        &["policy", "set", "max_lifetime_days", "90", "--json"],
        None,
    )
    .await;
    assert!(ok);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["max_lifetime_days"],
        "90"
    );
    let (ok, _, err) = cli_async(
        &app,
        &["policy", "set", "max_lifetime_days", "forever"],
        None,
    )
    .await;
    assert!(!ok && err.contains("1 to 3650"), "{err}");
    let (ok, out, _) = cli_async(&app, &["policy", "show"], None).await;
    assert!(ok && out.contains("max_lifetime_days") && out.contains("90"));
    // the running instance sees the new policy within a second
    let deadline = Instant::now() + Duration::from_secs(2);
    while app.core.policies().max_lifetime_days != Some(90) {
        assert!(
            Instant::now() < deadline,
            "policy not seen by the running instance"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // revoke-token reaches the running instance (whose cache holds the
    // token) within a second
    assert_eq!(
        app.pat("GET", "/api/v1/me", &secret).await.status,
        StatusCode::OK
    );
    let (ok, _, err) = cli_async(&app, &["revoke-token", &tid.to_string()], None).await;
    assert!(
        !ok && err.contains("--reason"),
        "a reason is required: {err}"
    );
    let start = Instant::now();
    let (ok, out, err) = cli_async(
        &app,
        &[
            "revoke-token",
            &tid.to_string(),
            "--reason",
            "rotated by security",
        ],
        None,
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("Revoked token"));
    loop {
        let s = app.pat("GET", "/api/v1/me", &secret).await.status;
        if s == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "revocation not seen"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "CLI revoke seen by the running instance after {:?} (including the CLI's start)",
        start.elapsed()
    );
    let (_, second) = token(&app, uid, "second", "profile:read").await;
    assert_eq!(
        app.pat("GET", "/api/v1/me", &second).await.status,
        StatusCode::OK
    );
    let (ok, _, _) = cli_async(&app, &["disable-user", "carol"], None).await;
    assert!(ok);
    let deadline = Instant::now() + Duration::from_secs(2);
    while app.pat("GET", "/api/v1/me", &second).await.status != StatusCode::UNAUTHORIZED {
        assert!(Instant::now() < deadline, "disable not seen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (ok, _, _) = cli_async(&app, &["enable-user", "carol"], None).await;
    assert!(ok);
    let (ok, out, _) = cli_async(
        &app,
        &[
            "revoke-user-tokens",
            "carol",
            "--reason",
            "offboarding",
            "--json",
        ],
        None,
    )
    .await;
    assert!(ok);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["revoked"],
        1
    );
    let (ok, _, _) = cli_async(&app, &["revoke-admin", "carol"], None).await;
    assert!(ok);
    let (ok, out, _) = cli_async(&app, &["audit", "--json", "--user", "carol"], None).await;
    assert!(ok);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON Lines"))
        .collect();
    let names: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    for expected in [
        "admin.user_created",
        "admin.granted",
        "token.revoked",
        "admin.user_disabled",
        "admin.user_enabled",
        "admin.revoked",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    let (ok, out, _) = cli_async(
        &app,
        &[
            "audit",
            "--token",
            &tid.to_string(),
            "--since",
            "2020-01-01",
        ],
        None,
    )
    .await;
    assert!(
        ok && out.contains("token.revoked") && out.contains("rotated by security"),
        "{out}"
    );
    let (ok, _, err) = cli_async(&app, &["audit", "--since", "last tuesday"], None).await;
    assert!(!ok && err.contains("--since"));
    let (ok, _, err) = cli_async(&app, &["grant-admin", "nobody"], None).await;
    assert!(!ok && err.contains("no user"), "{err}");
}

/// The administration pages and their forms: administrators only (404 for
/// anyone else, on every route), sudo mode for changes, field errors that
/// keep what was typed, and every change audited with the page's client.
async fn admin_pages_work_for_admins_and_do_not_exist_for_others(app: TestApp) {
    let (admin_id, admin_cookie) = support::user(&app, "root").await;
    let (uid, user_cookie) = support::user(&app, "joe").await;
    admin::set_admin(&app.core, &Admin::cli(), "root", true)
        .await
        .unwrap();
    let (id, secret) = token(&app, uid, "deploy", "code:write").await;
    let pages = app::ui::admin::ADMIN_PAGES;
    for page in pages {
        let res = app.get(page, Some(&user_cookie)).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{page} for a non-admin");
        assert!(res.body.contains("Page not found"));
        assert!(!res.body.contains("deploy"), "nothing leaks");
        let res = app.get(page, Some(&admin_cookie)).await;
        assert_eq!(res.status, StatusCode::OK, "{page} for the admin");
    }
    // the Administration scope is offered to administrators only
    let form = app
        .get("/profile/security/tokens/new", Some(&user_cookie))
        .await;
    assert!(form.body.contains("id=\"scope-code\"") && !form.body.contains("id=\"scope-admin\""));
    let form = app
        .get("/profile/security/tokens/new", Some(&admin_cookie))
        .await;
    assert!(form.body.contains("id=\"scope-admin\""));
    // the administration server functions answer a non-admin as missing
    for rpc in [
        "/rpc/admin/tokens",
        "/rpc/admin/users",
        "/rpc/admin/policies",
        "/rpc/admin/audit",
    ] {
        let body = match rpc {
            "/rpc/admin/tokens" => {
                r#"{"filter":{"user_id":null,"status":"All","scope":null,"expiring_days":null,"unused_days":null}}"#
            }
            "/rpc/admin/users" => r#"{"search":""}"#,
            "/rpc/admin/audit" => r#"{"user":"","token":null,"since":"","before":null}"#,
            _ => "{}",
        };
        let call = |cookie: &str| {
            Request::builder()
                .method("POST")
                .uri(rpc)
                .header("content-type", "application/json")
                .header("cookie", format!("tessera_session={cookie}"))
                .body(Body::from(body))
                .expect("request")
        };
        let res = app.request(call(&user_cookie)).await;
        assert_eq!(
            res.status,
            StatusCode::NOT_FOUND,
            "{rpc} for a non-admin: {}",
            res.body
        );
        assert!(!res.body.contains("deploy"));
        let res = app.request(call(&admin_cookie)).await;
        assert_eq!(
            res.status,
            StatusCode::OK,
            "{rpc} for the admin: {}",
            res.body
        );
    }
    for (path, _) in app::ui::admin::ADMIN_POSTS {
        let res = app
            .post_form(
                path,
                &[
                    ("only", &id.to_string()),
                    ("reason", "x"),
                    ("action", "disable:root"),
                    ("sudo_password", support::PW),
                ],
                Some(&user_cookie),
            )
            .await;
        assert_eq!(
            res.status,
            StatusCode::NOT_FOUND,
            "POST {path} for a non-admin"
        );
    }
    assert_eq!(
        app.pat("GET", "/gateway/check", &secret).await.status,
        StatusCode::NO_CONTENT,
        "works before"
    );
    // the inventory shows joe's token, filtered by user
    let res = app
        .get("/admin/tokens?user=joe&status=all", Some(&admin_cookie))
        .await;
    assert!(res.body.contains("deploy") && res.body.contains("joe"));
    let res = app
        .get("/admin/tokens?user=nobody", Some(&admin_cookie))
        .await;
    assert!(!res.body.contains("deploy"));
    // revoking needs a reason and the password (sudo window of 0 in this test)
    let revoke = |fields: Vec<(&'static str, String)>| {
        let app = &app;
        let cookie = admin_cookie.clone();
        async move {
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.post_form("/admin/tokens/revoke", &pairs, Some(&cookie))
                .await
        }
    };
    let res = revoke(vec![
        ("only", id.to_string()),
        ("reason", "  ".into()),
        ("sudo_password", support::PW.into()),
    ])
    .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("Give a reason"));
    let res = revoke(vec![
        ("only", id.to_string()),
        ("reason", "Leaked".into()),
        ("sudo_password", "wrong".into()),
    ])
    .await;
    assert!(
        res.status.is_client_error() && res.status != StatusCode::NOT_FOUND,
        "{}",
        res.status
    );
    assert!(res.body.contains("value=\"Leaked\""), "the reason is kept");
    assert!(res.body.contains("That is not your current password."));
    let res = revoke(vec![
        ("id", id.to_string()),
        ("reason", "Leaked in a CI log".into()),
        ("sudo_password", support::PW.into()),
        ("back", "user=joe&status=all&evil=1".into()),
    ])
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(
        res.location(),
        Some("/admin/tokens?user=joe&status=all&done=1")
    );
    assert_eq!(
        app.pat("GET", "/gateway/check", &secret).await.status,
        StatusCode::UNAUTHORIZED
    );
    let page = app
        .get("/profile/security/tokens?revoked=1", Some(&user_cookie))
        .await;
    assert!(page
        .body
        .contains("Revoked by an administrator: Leaked in a CI log"));
    // the owner's Activity shows it, and the token's history
    let activity = app
        .get(
            &format!("/profile/security/activity?token={id}"),
            Some(&user_cookie),
        )
        .await;
    assert!(
        activity.body.contains("Token revoked") && activity.body.contains("administrator root"),
        "{}",
        support::strip_tags(&activity.body)
    );
    // users: disable, then enable; not yourself
    let act = |action: String| {
        let app = &app;
        let cookie = admin_cookie.clone();
        async move {
            app.post_form(
                "/admin/users/action",
                &[("action", action.as_str()), ("sudo_password", support::PW)],
                Some(&cookie),
            )
            .await
        }
    };
    let res = act("disable:joe".into()).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.get("/profile/security/tokens", Some(&user_cookie))
            .await
            .status,
        StatusCode::SEE_OTHER,
        "joe is signed out"
    );
    let res = act("disable:root".into()).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("cannot disable yourself"));
    assert_eq!(act("enable:joe".into()).await.status, StatusCode::SEE_OTHER);
    assert_eq!(
        act("grant:nobody".into()).await.status,
        StatusCode::NOT_FOUND
    );
    // policies: a bad value is a field error, nothing saved; a good one is
    let res = app
        .post_form(
            "/admin/policies",
            &[
                ("max_lifetime_days", "forever"),
                ("forbid_full_access", "false"),
                ("forbid_full_access", "true"),
                ("sudo_password", support::PW),
            ],
            Some(&admin_cookie),
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("1 to 3650") && res.body.contains("forever"));
    assert!(!app.core.policies().forbid_full_access);
    let res = app
        .post_form(
            "/admin/policies",
            &[
                ("max_lifetime_days", "90"),
                ("forbid_full_access", "false"),
                ("forbid_full_access", "true"),
                ("allowed_scopes", ""),
                ("sudo_password", support::PW),
            ],
            Some(&admin_cookie),
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let p = app.core.policies();
    assert_eq!(
        (p.max_lifetime_days, p.forbid_full_access),
        (Some(90), true)
    );
    let audit = app.get("/admin/audit", Some(&admin_cookie)).await;
    let text = support::strip_tags(&audit.body);
    for words in [
        "Policy changed",
        "Account disabled",
        "Account enabled",
        "Token revoked",
    ] {
        assert!(text.contains(words), "{words} in the audit log");
    }
    let by_admin: Vec<_> = events(&app, None)
        .await
        .into_iter()
        .filter(|e| e.actor == "admin")
        .collect();
    assert!(by_admin.len() >= 5);
    assert!(by_admin
        .iter()
        .all(|e| e.actor_user_id == Some(admin_id) || e.event == "admin.granted"));
    assert!(by_admin
        .iter()
        .filter(|e| e.actor_user_id == Some(admin_id))
        .all(|e| e.ip == "198.51.100.1"));
}

/// Token actions through the page's plain forms and its server functions
/// are audited like API ones: the person, the client address (through the
/// trusted proxy), user agent and request id.
async fn page_and_server_function_actions_are_audited(app: TestApp) {
    let (uid, cookie) = support::user(&app, "paula").await;
    let res = app
        .post_form(
            "/profile/security/tokens/new",
            &[
                ("name", "audited-form"),
                ("expiry", "7"),
                ("scope_mode", "custom"),
                ("scope_packaging", "write"),
            ],
            Some(&cookie),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "the secret page");
    let req = Request::builder()
        .method("POST")
        .uri("/rpc/tokens/create")
        .header("content-type", "application/json")
        .header("cookie", format!("tessera_session={cookie}"))
        .header("x-forwarded-for", "192.0.2.44")
        .header("x-request-id", "rpc-req-7")
        .header("user-agent", "Dialog/1.0")
        .body(Body::from(r#"{"form":{"name":"rpc","expiry":"7","scope_mode":"custom","levels":{"wiki":"read"}},"sudo_password":""}"#))
        .unwrap();
    let res = app.request(req).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let created: Vec<_> = events(&app, Some(uid))
        .await
        .into_iter()
        .filter(|e| e.event == "token.created")
        .collect();
    assert_eq!(created.len(), 2);
    let rpc = &created[0];
    assert_eq!((rpc.actor.as_str(), rpc.actor_user_id), ("user", Some(uid)));
    assert_eq!(
        (
            rpc.ip.as_str(),
            rpc.request_id.as_str(),
            rpc.user_agent.as_str()
        ),
        ("192.0.2.44", "rpc-req-7", "Dialog/1.0")
    );
    assert_eq!(rpc.details["name"], "rpc");
    assert_eq!(created[1].ip, "198.51.100.1", "the plain form's client");
    assert!(
        !created[1].request_id.is_empty(),
        "a request id is always recorded"
    );
    let activity = app.get("/profile/security/activity", Some(&cookie)).await;
    let text = support::strip_tags(&activity.body);
    assert!(
        text.contains("Token created") && text.contains("by you") && text.contains("192.0.2.44"),
        "{text}"
    );
}

/// A policy set by `tessera admin policy set` (another process) is in force
/// for every write that starts after the command returned — not only once
/// this instance's change feed has told it — while verification keeps its
/// cached copy. Tried ten times, at once after each command.
async fn a_policy_set_by_the_cli_is_in_force_for_the_next_write(app: TestApp) {
    let (uid, _) = support::user(&app, "quinn").await;
    let actor = service::Actor::user(uid);
    let full = TokenSpec {
        name: String::new(),
        description: String::new(),
        expiry: Expiry::Days(7),
        scopes: app::scopes::Scopes::Full,
        networks: Default::default(),
        owner: None,
        resources: Default::default(),
    };
    for round in 0..10 {
        let (ok, _, err) =
            cli_async(&app, &["policy", "set", "forbid_full_access", "true"], None).await;
        assert!(ok, "{err}");
        let spec = TokenSpec {
            name: format!("full-{round}"),
            ..full.clone()
        };
        let refused = service::create(&app.core, &actor, &spec, "").await;
        let refusal = format!("{refused:?}");
        assert!(
            refused.is_err() && refusal.contains("forbid_full_access"),
            "round {round}: {refusal}"
        );
        let (ok, _, err) = cli_async(
            &app,
            &["policy", "set", "forbid_full_access", "false"],
            None,
        )
        .await;
        assert!(ok, "{err}");
        service::create(&app.core, &actor, &spec, "")
            .await
            .unwrap_or_else(|e| panic!("round {round}: allowed again at once: {e:?}"));
    }
}

on_both_backends!(
    a_policy_set_by_the_cli_is_in_force_for_the_next_write,
    page_and_server_function_actions_are_audited,
    admin_pages_work_for_admins_and_do_not_exist_for_others with support::Options { sudo_window: Duration::ZERO, ..Default::default() },
    policies_refuse_what_breaks_them,
    old_tokens_are_blocked_at_use_and_come_back,
    admins_revoke_with_a_reason_the_owner_sees,
    disabled_accounts_stop_everything,
    the_audit_log_answers_who_what_where,
    the_audit_api_pages_and_guards_other_users,
    housekeeping_runs_once_across_instances,
    the_admin_cli_does_everything,
);
