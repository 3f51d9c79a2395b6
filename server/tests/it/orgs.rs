//! Organizations: tokens that name one as their resource owner reach only
//! its resources, and only while their maker is a member; `tessera admin
//! org …`; the clearer refusals (`X-Tessera-Accepted-Scopes`,
//! `X-Tessera-Token-Expires`) on tokens of every kind.

use crate::governance::cli_with_env;
use crate::support::{self, token, Resp, TestApp};
use app::domain::{admin::Admin, orgs};
use axum::{body::Body, http::Request, http::StatusCode};
use std::time::{Duration, Instant};

async fn send_json(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    body: serde_json::Value,
) -> Resp {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    app.request(req).await
}

fn json_of(r: &Resp) -> serde_json::Value {
    serde_json::from_str(&r.body).unwrap_or_else(|_| panic!("not JSON: {}", r.body))
}

async fn cli(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    cli_with_env(app, &[], args, None).await
}

/// The gateway's answer for `token` asking `scope` on `resource`.
async fn gateway(app: &TestApp, token: &str, scope: &str, resource: Option<&str>) -> StatusCode {
    let mut path = format!("/gateway/check?scope={scope}");
    if let Some(r) = resource {
        path.push_str(&format!("&resource={r}"));
    }
    app.pat("GET", &path, token).await.status
}

async fn an_organization_token_reaches_only_its_resources_while_its_maker_is_a_member(
    app: TestApp,
) {
    let (alice, _) = support::user(&app, "alice").await;
    let (bob, _) = support::user(&app, "bob").await;
    let cli_admin = Admin::cli();
    orgs::create(&app.core, &cli_admin, "acme", "Acme Inc.", Some("alice"))
        .await
        .expect("acme");
    orgs::create(&app.core, &cli_admin, "other", "", Some("bob"))
        .await
        .expect("other");
    let (_, maker) = token(
        &app,
        alice,
        "maker",
        "tokens:manage profile:read code:write",
    )
    .await;
    let (_, bobs) = token(&app, bob, "maker", "tokens:manage code:write").await;

    let made = send_json(
        &app,
        "POST",
        "/api/v1/tokens",
        &maker,
        serde_json::json!({"name": "acme ci", "scopes": "code:write profile:read", "resource_owner": "acme"}),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let made = json_of(&made);
    assert_eq!(made["resource_owner"], "acme");
    let org_token = made["token"].as_str().expect("secret").to_owned();
    let org_id = made["id"].as_i64().expect("id");

    // only acme's resources, Tessera's own API aside
    assert_eq!(
        gateway(&app, &org_token, "code:read", Some("acme/api")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        gateway(&app, &org_token, "code:write", Some("acme/web/app")).await,
        StatusCode::NO_CONTENT
    );
    for outside in [
        Some("other/api"),
        Some("acme"),
        Some("acmecorp/api"),
        Some("acme/../other"),
        None,
    ] {
        assert_eq!(
            gateway(&app, &org_token, "code:read", outside).await,
            StatusCode::FORBIDDEN,
            "{outside:?}"
        );
    }
    let no_scope = app
        .pat("GET", "/gateway/check?resource=other/api", &org_token)
        .await;
    assert_eq!(no_scope.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.pat("GET", "/api/v1/me", &org_token).await.status,
        StatusCode::OK
    );
    let listed = json_of(
        &app.pat("GET", &format!("/api/v1/tokens/{org_id}"), &maker)
            .await,
    );
    assert_eq!(listed["resource_owner"], "acme");

    // an organization its maker is not in (or that does not exist): the same answer
    for org in ["other", "nope", "ACME", "acme\u{0}x", "é"] {
        let r = send_json(
            &app,
            "POST",
            "/api/v1/tokens",
            &maker,
            serde_json::json!({"name": format!("t {}", org.len()), "scopes": "code:read", "resource_owner": org}),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{org}: {}",
            r.body
        );
        let fields = &json_of(&r)["fields"];
        assert!(
            fields["resource_owner"]
                .as_str()
                .is_some_and(|m| m.contains("not a member")),
            "{org}: {}",
            r.body
        );
    }
    let r = send_json(
        &app,
        "POST",
        "/api/v1/tokens",
        &bobs,
        serde_json::json!({"name": "not mine", "scopes": "code:read", "resource_owner": "acme"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    // patterns outside the organization
    let r = send_json(
        &app,
        "POST",
        "/api/v1/tokens",
        &maker,
        serde_json::json!({"name": "wide", "scopes": "code:read", "resource_owner": "acme", "resources": {"code": ["acme/api", "other/*"]}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(
        json_of(&r)["fields"]["resources"]
            .as_str()
            .is_some_and(|m| m.contains("under acme/")),
        "{}",
        r.body
    );

    // an organization's token makes only that organization's tokens
    let (_, org_manager) = {
        let r = send_json(
            &app,
            "POST",
            "/api/v1/tokens",
            &maker,
            serde_json::json!({"name": "acme manager", "scopes": "tokens:manage", "resource_owner": "acme"}),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        (
            (),
            json_of(&r)["token"].as_str().expect("secret").to_owned(),
        )
    };
    let child = send_json(
        &app,
        "POST",
        "/api/v1/tokens",
        &org_manager,
        serde_json::json!({"name": "child", "scopes": "tokens:read"}),
    )
    .await;
    assert_eq!(child.status, StatusCode::CREATED, "{}", child.body);
    assert_eq!(json_of(&child)["resource_owner"], "acme");
    let escape = send_json(
        &app,
        "POST",
        "/api/v1/tokens",
        &org_manager,
        serde_json::json!({"name": "escape", "scopes": "tokens:read", "resource_owner": ""}),
    )
    .await;
    assert_eq!(
        escape.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        escape.body
    );
    assert!(
        json_of(&escape)["fields"]["resource_owner"].is_string(),
        "{}",
        escape.body
    );
    // the owner is chosen once
    let moved = send_json(
        &app,
        "PATCH",
        &format!("/api/v1/tokens/{org_id}"),
        &maker,
        serde_json::json!({"resource_owner": "other"}),
    )
    .await;
    assert_eq!(
        moved.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        moved.body
    );
    // an edit cannot take it outside either
    let widened = send_json(
        &app,
        "PATCH",
        &format!("/api/v1/tokens/{org_id}"),
        &maker,
        serde_json::json!({"resources": {"code": ["other/*"]}}),
    )
    .await;
    assert_eq!(
        widened.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        widened.body
    );

    // the last owner stays
    let last = orgs::remove_member(&app.core, &cli_admin, "acme", "alice").await;
    assert!(format!("{:?}", last.expect_err("last owner")).contains("last owner"));
    orgs::set_member(&app.core, &cli_admin, "acme", "bob", "owner")
        .await
        .expect("bob joins as owner");
    // cached now; removal stops it at once anyway
    assert_eq!(
        gateway(&app, &org_token, "code:read", Some("acme/api")).await,
        StatusCode::NO_CONTENT
    );
    orgs::remove_member(&app.core, &cli_admin, "acme", "alice")
        .await
        .expect("alice leaves");
    let r = app
        .pat(
            "GET",
            "/gateway/check?scope=code:read&resource=acme/api",
            &org_token,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.pat("GET", "/api/v1/me", &org_token).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(
        json_of(&r)["policy"],
        "organization_membership",
        "{}",
        r.body
    );
    assert!(r.body.contains("no longer a member of acme"), "{}", r.body);
    // her own token is untouched; back in the organization, the token works again
    assert_eq!(
        app.pat("GET", "/api/v1/me", &maker).await.status,
        StatusCode::OK
    );
    orgs::set_member(&app.core, &cli_admin, "acme", "alice", "member")
        .await
        .expect("alice is back");
    assert_eq!(
        gateway(&app, &org_token, "code:read", Some("acme/api")).await,
        StatusCode::NO_CONTENT
    );
    // every step audited
    let events: Vec<(String,)> = app
        .rows("SELECT event FROM audit_events WHERE event LIKE 'org.%' ORDER BY id")
        .await;
    let events: Vec<&str> = events.iter().map(|(e,)| e.as_str()).collect();
    assert_eq!(
        events,
        [
            "org.created",
            "org.member_added",
            "org.created",
            "org.member_added",
            "org.member_added",
            "org.member_removed",
            "org.member_added"
        ]
    );
}

async fn the_admin_cli_manages_organizations_and_teams(app: TestApp) {
    let (alice, _) = support::user(&app, "alice").await;
    support::user(&app, "bob").await;
    let ok = |out: (bool, String, String)| {
        assert!(out.0, "stdout: {}\nstderr: {}", out.1, out.2);
        out.1
    };
    let made = ok(cli(
        &app,
        &[
            "org",
            "create",
            "acme",
            "--owner",
            "alice",
            "--description",
            "Acme",
        ],
    )
    .await);
    assert!(made.contains("acme"), "{made}");
    for (bad, why) in [
        ("Acme", "lower-case"),
        ("-x", "lower-case"),
        ("acme", "already"),
        ("", "Enter a name"),
    ] {
        let (okay, _, err) = cli(&app, &["org", "create", "--", bad]).await;
        assert!(!okay && err.contains(why), "{bad}: {err}");
    }
    ok(cli(&app, &["org", "add-member", "acme", "bob"]).await);
    let (okay, _, err) = cli(
        &app,
        &["org", "add-member", "acme", "bob", "--role", "boss"],
    )
    .await;
    assert!(!okay && err.contains("not a role"), "{err}");
    let (okay, _, err) = cli(&app, &["org", "add-member", "nope", "bob"]).await;
    assert!(!okay && err.contains("no organization"), "{err}");
    let (okay, _, err) = cli(&app, &["org", "add-member", "acme", "nobody"]).await;
    assert!(!okay && err.contains("no user"), "{err}");
    let members: serde_json::Value =
        serde_json::from_str(&ok(cli(&app, &["--json", "org", "members", "acme"]).await))
            .expect("json");
    let roles: Vec<(String, String)> = members
        .as_array()
        .expect("list")
        .iter()
        .map(|m| {
            (
                m["username"].as_str().unwrap().into(),
                m["role"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        [
            ("alice".into(), "owner".into()),
            ("bob".into(), "member".into())
        ]
    );

    ok(cli(
        &app,
        &[
            "org",
            "create-team",
            "acme",
            "platform",
            "--idp-group",
            "eng-platform",
        ],
    )
    .await);
    let (okay, _, err) = cli(&app, &["org", "create-team", "acme", "platform"]).await;
    assert!(!okay && err.contains("already has a team"), "{err}");
    ok(cli(&app, &["org", "add-to-team", "acme", "platform", "bob"]).await);
    support::user(&app, "carol").await;
    let (okay, _, err) = cli(&app, &["org", "add-to-team", "acme", "platform", "carol"]).await;
    assert!(!okay && err.contains("not a member of acme"), "{err}");
    let teams: serde_json::Value =
        serde_json::from_str(&ok(cli(&app, &["--json", "org", "teams", "acme"]).await))
            .expect("json");
    assert_eq!(teams[0]["name"], "platform");
    assert_eq!(teams[0]["idp_group"], "eng-platform");
    assert_eq!(teams[0]["members"], serde_json::json!(["bob"]));

    // an organization token, then its maker removed through the CLI (another
    // process): refused here through the change feed
    let spec = app::tokens::TokenSpec {
        name: "acme".into(),
        description: String::new(),
        expiry: app::tokens::Expiry::Days(30),
        scopes: app::scopes::Scopes::parse("code:read").unwrap(),
        networks: Default::default(),
        resources: Default::default(),
        owner: Some("acme".into()),
    };
    let (okay, _, err) = cli(&app, &["org", "remove-member", "acme", "alice"]).await;
    assert!(
        !okay && err.contains("last owner"),
        "alice is the last owner: {err}"
    );
    ok(cli(
        &app,
        &["org", "add-member", "acme", "bob", "--role", "owner"],
    )
    .await);
    let (_, secret) = support::token_from_spec(&app, alice, &spec).await;
    assert_eq!(
        gateway(&app, &secret, "code:read", Some("acme/api")).await,
        StatusCode::NO_CONTENT
    );
    ok(cli(&app, &["org", "remove-member", "acme", "alice"]).await);
    let started = Instant::now();
    while gateway(&app, &secret, "code:read", Some("acme/api")).await != StatusCode::FORBIDDEN {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "still accepted 3 s after the CLI removed its maker"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let listed: serde_json::Value =
        serde_json::from_str(&ok(cli(&app, &["--json", "org", "list"]).await)).expect("json");
    assert_eq!(listed[0]["name"], "acme");
    assert_eq!(listed[0]["members"], 1);
    assert_eq!(listed[0]["owners"], 1);
}

/// Another instance refuses an organization token within a second of its
/// maker leaving (Postgres: two instances on one store).
async fn a_second_instance_refuses_a_former_members_token_within_a_second(app: TestApp) {
    let (alice, _) = support::user(&app, "alice").await;
    support::user(&app, "bob").await;
    let admin = Admin::cli();
    orgs::create(&app.core, &admin, "acme", "", Some("bob"))
        .await
        .expect("acme");
    orgs::set_member(&app.core, &admin, "acme", "alice", "member")
        .await
        .expect("alice");
    let spec = app::tokens::TokenSpec {
        name: "acme".into(),
        description: String::new(),
        expiry: app::tokens::Expiry::Days(30),
        scopes: app::scopes::Scopes::parse("profile:read").unwrap(),
        networks: Default::default(),
        resources: Default::default(),
        owner: Some("acme".into()),
    };
    let (_, secret) = support::token_from_spec(&app, alice, &spec).await;
    let (other, _core) = app.second_instance().await;
    let me = |router: axum::Router| {
        let secret = secret.clone();
        async move {
            let req = Request::builder()
                .uri("/api/v1/me")
                .header("authorization", format!("Bearer {secret}"))
                .body(Body::empty())
                .unwrap();
            support::send(&router, req).await.status
        }
    };
    assert_eq!(me(other.clone()).await, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(200)).await;
    orgs::remove_member(&app.core, &admin, "acme", "alice")
        .await
        .expect("removed");
    let started = Instant::now();
    while me(other.clone()).await != StatusCode::FORBIDDEN {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "instance B still accepts it after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

on_both_backends!(
    widening_an_organization_token_waits_for_approval,
    an_owner_approves_or_denies_what_the_policy_holds_back,
    an_organization_token_reaches_only_its_resources_while_its_maker_is_a_member,
    the_admin_cli_manages_organizations_and_teams,
);

on_backend!(
    postgres_only,
    Postgres;
    a_second_instance_refuses_a_former_members_token_within_a_second,
);

async fn create(app: &TestApp, maker: &str, body: serde_json::Value) -> serde_json::Value {
    let r = send_json(app, "POST", "/api/v1/tokens", maker, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    json_of(&r)
}

/// acme, owned by alice and bob, with carol a member, whose policy holds
/// back code:write; `other`, owned by dave. Each has a `tokens:manage
/// code:manage` token: (user ids, their secrets), in that order.
async fn acme_with_approvals(app: &TestApp) -> (Vec<i64>, Vec<String>) {
    let mut users = Vec::new();
    for name in ["alice", "bob", "carol", "dave"] {
        users.push(support::user(app, name).await.0);
    }
    let admin = Admin::cli();
    orgs::create(&app.core, &admin, "acme", "", Some("alice"))
        .await
        .expect("acme");
    orgs::set_member(&app.core, &admin, "acme", "bob", "owner")
        .await
        .expect("bob");
    orgs::set_member(&app.core, &admin, "acme", "carol", "member")
        .await
        .expect("carol");
    orgs::create(&app.core, &admin, "other", "", Some("dave"))
        .await
        .expect("other");
    let by = app::domain::audit::By::Admin(None);
    orgs::requests::set_policy(
        &app.core,
        by,
        None,
        "acme",
        "approval_required_for",
        "code:write",
    )
    .await
    .expect("policy");
    let mut secrets = Vec::new();
    for (uid, n) in users.iter().zip(["a", "b", "c", "d"]) {
        secrets.push(token(app, *uid, n, "tokens:manage code:manage").await.1);
    }
    (users, secrets)
}

/// The id of acme's request for the token named `token`, as `owner` sees it.
async fn request_id(app: &TestApp, owner: &str, token: &str) -> i64 {
    let listed = json_of(
        &app.pat("GET", "/api/v1/orgs/acme/token-requests", owner)
            .await,
    );
    listed["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .find(|r| r["token_name"] == token)
        .unwrap_or_else(|| panic!("no request for {token}: {listed}"))["id"]
        .as_i64()
        .expect("id")
}

async fn an_owner_approves_or_denies_what_the_policy_holds_back(app: TestApp) {
    let (users, secrets) = acme_with_approvals(&app).await;
    let by = app::domain::audit::By::Admin(None);
    for bad in ["code", "full", "nope:read"] {
        assert!(
            orgs::requests::set_policy(&app.core, by, None, "acme", "approval_required_for", bad)
                .await
                .is_err(),
            "{bad}"
        );
    }
    let [alice, bob, carol, dave] = [0, 1, 2, 3].map(|i| secrets[i].clone());
    let asked = create(
        &app,
        &carol,
        serde_json::json!({"name": "deploy", "description": "CI pushes release tags", "scopes": "code:write", "resource_owner": "acme"}),
    )
    .await;
    assert_eq!(asked["approval"], "pending");
    let secret = asked["token"].as_str().unwrap().to_owned();
    let r = app
        .pat(
            "GET",
            "/gateway/check?scope=code:read&resource=acme/api",
            &secret,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(json_of(&r)["error"], "approval_pending", "{}", r.body);
    // what the policy does not name needs no approval
    let reader = create(
        &app,
        &carol,
        serde_json::json!({"name": "read", "scopes": "code:read", "resource_owner": "acme"}),
    )
    .await;
    assert!(reader["approval"].is_null());
    let r = app
        .pat(
            "GET",
            "/gateway/check?scope=code:read&resource=acme/api",
            reader["token"].as_str().unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    // owners see it; a member, another organization's owner, or a guess do not
    let listed = app
        .pat("GET", "/api/v1/orgs/acme/token-requests", &alice)
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let listed = json_of(&listed);
    let request = &listed["requests"][0];
    assert_eq!(request["requester"], "carol");
    assert_eq!(request["justification"], "CI pushes release tags");
    assert_eq!(request["scopes"], "code:write");
    assert_eq!(listed["requests"].as_array().unwrap().len(), 1);
    let id = request["id"].as_i64().unwrap();
    for (who, path) in [
        (&carol, "/api/v1/orgs/acme/token-requests".to_owned()),
        (&dave, "/api/v1/orgs/acme/token-requests".to_owned()),
        (&alice, "/api/v1/orgs/other/token-requests".to_owned()),
        (&alice, "/api/v1/orgs/nope/token-requests".to_owned()),
        (&alice, "/api/v1/orgs/%00/token-requests".to_owned()),
    ] {
        let r = app.pat("GET", &path, who).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
    }
    let approve = format!("/api/v1/orgs/acme/token-requests/{id}/approve");
    let r = app
        .pat(
            "POST",
            &format!("/api/v1/orgs/other/token-requests/{id}/approve"),
            &dave,
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "another organization's owner: {}",
        r.body
    );
    let r = app.pat("POST", &approve, &carol).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "a member: {}", r.body);

    // nothing derived from it works around the wait
    let r = send_json(
        &app,
        "POST",
        &format!("/api/v1/tokens/{}/derive", asked["id"]),
        &carol,
        serde_json::json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("waits for an owner"), "{}", r.body);

    // an owner's own request needs another owner
    let own = create(
        &app,
        &alice,
        serde_json::json!({"name": "mine", "scopes": "code:write", "resource_owner": "acme"}),
    )
    .await;
    let own_id = request_id(&app, &bob, "mine").await;
    let r = app
        .pat(
            "POST",
            &format!("/api/v1/orgs/acme/token-requests/{own_id}/approve"),
            &alice,
        )
        .await;
    assert_eq!(
        (r.status, json_of(&r)["error"].as_str().unwrap()),
        (StatusCode::FORBIDDEN, "own_request"),
        "{}",
        r.body
    );
    assert_eq!(own["approval"], "pending");

    // approved: it works at once (its refusal was cached)
    let r = send_json(
        &app,
        "POST",
        &approve,
        &bob,
        serde_json::json!({"reason": "release bot"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(json_of(&r)["state"], "approved");
    assert_eq!(json_of(&r)["decided_by"], "bob");
    let r = app
        .pat(
            "GET",
            "/gateway/check?scope=code:write&resource=acme/api",
            &secret,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = app.pat("POST", &approve, &alice).await;
    assert_eq!(
        (r.status, json_of(&r)["error"].as_str().unwrap()),
        (StatusCode::CONFLICT, "already_decided")
    );

    // denied: a reason is needed; the token is revoked and says why
    let denied = create(
        &app,
        &carol,
        serde_json::json!({"name": "wide", "scopes": "code:manage", "resource_owner": "acme"}),
    )
    .await;
    let deny_id = request_id(&app, &alice, "wide").await;
    let deny = format!("/api/v1/orgs/acme/token-requests/{deny_id}/deny");
    for body in [
        serde_json::json!({}),
        serde_json::json!({"reason": "  "}),
        serde_json::json!({"reason": "x".repeat(501)}),
    ] {
        let r = send_json(&app, "POST", &deny, &alice, body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(json_of(&r)["fields"]["reason"].is_string(), "{}", r.body);
    }
    let r = send_json(
        &app,
        "POST",
        &deny,
        &alice,
        serde_json::json!({"reason": "manage is too wide; ask for write"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .pat("GET", "/api/v1/me", denied["token"].as_str().unwrap())
        .await;
    assert_eq!(
        (r.status, json_of(&r)["error"].as_str().unwrap()),
        (StatusCode::UNAUTHORIZED, "token_revoked")
    );
    let seen = json_of(
        &app.pat("GET", &format!("/api/v1/tokens/{}", denied["id"]), &carol)
            .await,
    );
    assert_eq!(seen["revoked_reason"], "manage is too wide; ask for write");
    assert_eq!(seen["revoked_by"], "organization");

    // an approval raced against a revoke: the revoke wins
    let raced = create(
        &app,
        &carol,
        serde_json::json!({"name": "raced", "scopes": "code:write", "resource_owner": "acme"}),
    )
    .await;
    let raced_id = request_id(&app, &alice, "raced").await;
    let revoke_path = format!("/api/v1/tokens/{}/revoke", raced["id"]);
    let revoke = app.pat("POST", &revoke_path, &carol);
    let approve_raced = format!("/api/v1/orgs/acme/token-requests/{raced_id}/approve");
    let approval = app.pat("POST", &approve_raced, &bob);
    let (revoked, approved) = tokio::join!(revoke, approval);
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    let r = app
        .pat("GET", "/api/v1/me", raced["token"].as_str().unwrap())
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "revoked wins whatever the order: {}",
        approved.body
    );
    let raced_approval = approved.status == StatusCode::OK;
    if !raced_approval {
        assert_eq!(
            json_of(&approved)["error"],
            "token_ended",
            "{}",
            approved.body
        );
    }

    // owners hear of each request, the requester of each decision
    app::domain::lifecycle::notify_from_audit(&app.core)
        .await
        .expect("notices");
    let told: Vec<(String, i64)> = app
        .rows("SELECT event, user_id FROM notifications WHERE event LIKE 'token.request%' ORDER BY id")
        .await;
    let count =
        |event: &str, uid: i64| told.iter().filter(|(e, u)| e == event && *u == uid).count();
    assert_eq!(count("token.request_created", users[0]), 4, "{told:?}");
    assert_eq!(count("token.request_created", users[1]), 4, "{told:?}");
    assert_eq!(
        count("token.request_created", users[2]),
        0,
        "a member is not told: {told:?}"
    );
    assert_eq!(count("token.request_created", users[3]), 0, "{told:?}");
    assert_eq!(
        count("token.request_approved", users[2]),
        1 + usize::from(raced_approval),
        "{told:?}"
    );
    assert_eq!(count("token.request_denied", users[2]), 1, "{told:?}");
    // the daily digest: each owner once a day, however often it runs
    assert_eq!(
        app::domain::lifecycle::digest_requests(&app.core)
            .await
            .expect("digest"),
        2
    );
    assert_eq!(
        app::domain::lifecycle::digest_requests(&app.core)
            .await
            .expect("digest"),
        0
    );
    let digests: Vec<(i64, String)> = app
        .rows("SELECT user_id, subject FROM notifications WHERE event = 'token.request_digest' ORDER BY user_id")
        .await;
    assert_eq!(
        digests.iter().map(|(u, _)| *u).collect::<Vec<_>>(),
        [users[0], users[1]]
    );
    assert_eq!(
        digests[0].1, "1 token request waits for acme",
        "alice's own request still waits"
    );
    let audited: Vec<(String,)> = app
        .rows("SELECT event FROM audit_events WHERE event LIKE 'token.request%' ORDER BY id")
        .await;
    assert_eq!(
        audited
            .iter()
            .filter(|(e,)| e == "token.request_created")
            .count(),
        4
    );
    assert_eq!(
        audited
            .iter()
            .filter(|(e,)| e == "token.request_denied")
            .count(),
        1
    );
}

async fn widening_an_organization_token_waits_for_approval(app: TestApp) {
    let (_, secrets) = acme_with_approvals(&app).await;
    let [alice, bob, carol] = [0, 1, 2].map(|i| secrets[i].clone());
    let reader = create(
        &app,
        &carol,
        serde_json::json!({"name": "reader", "scopes": "code:read", "resource_owner": "acme"}),
    )
    .await;
    let (id, secret) = (
        reader["id"].as_i64().unwrap(),
        reader["token"].as_str().unwrap().to_owned(),
    );
    let check = |scope: &'static str| {
        let (app, secret) = (&app, secret.clone());
        async move {
            app.pat(
                "GET",
                &format!("/gateway/check?scope={scope}&resource=acme/api"),
                &secret,
            )
            .await
            .status
        }
    };
    let path = format!("/api/v1/tokens/{id}");
    // wider: asked for, not granted
    let r = send_json(
        &app,
        "PATCH",
        &path,
        &carol,
        serde_json::json!({"scopes": "code:write", "description": "now it tags releases"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let edited = json_of(&r);
    assert_eq!(edited["scopes"], "code:read");
    assert_eq!(edited["approval"], "widening");
    assert_eq!(
        edited["description"], "now it tags releases",
        "the rest of the edit applies"
    );
    assert!(
        edited["warnings"]
            .to_string()
            .contains("wait for an owner of acme"),
        "{}",
        r.body
    );
    assert_eq!(
        check("code:read").await,
        StatusCode::NO_CONTENT,
        "it keeps working"
    );
    assert_eq!(check("code:write").await, StatusCode::FORBIDDEN);
    let listed = json_of(
        &app.pat("GET", "/api/v1/orgs/acme/token-requests", &bob)
            .await,
    );
    let request = &listed["requests"][0];
    assert_eq!(
        (request["token_name"].as_str(), request["scopes"].as_str()),
        (Some("reader"), Some("code:write"))
    );
    assert_eq!(request["justification"], "now it tags releases");
    let r = app
        .pat(
            "POST",
            &format!("/api/v1/orgs/acme/token-requests/{}/approve", request["id"]),
            &bob,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        check("code:write").await,
        StatusCode::NO_CONTENT,
        "approved: the wider scopes at once"
    );
    let now = json_of(&app.pat("GET", &path, &carol).await);
    assert_eq!(
        (now["scopes"].as_str(), now["approval"].as_str()),
        (Some("code:write"), Some("approved"))
    );

    // wider again, denied: it keeps what it has
    let r = send_json(
        &app,
        "PATCH",
        &path,
        &carol,
        serde_json::json!({"scopes": "code:manage"}),
    )
    .await;
    assert_eq!(json_of(&r)["approval"], "widening", "{}", r.body);
    let listed = json_of(
        &app.pat("GET", "/api/v1/orgs/acme/token-requests", &alice)
            .await,
    );
    let deny = format!(
        "/api/v1/orgs/acme/token-requests/{}/deny",
        listed["requests"][0]["id"]
    );
    let r = send_json(
        &app,
        "POST",
        &deny,
        &alice,
        serde_json::json!({"reason": "write is enough"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        check("code:write").await,
        StatusCode::NO_CONTENT,
        "a denied widening does not revoke"
    );
    assert_eq!(check("code:manage").await, StatusCode::FORBIDDEN);
    let now = json_of(&app.pat("GET", &path, &carol).await);
    assert_eq!(now["scopes"], "code:write");
    assert!(now["revoked_at"].is_null());
    // narrower needs nobody
    let r = send_json(
        &app,
        "PATCH",
        &path,
        &carol,
        serde_json::json!({"scopes": "code:read"}),
    )
    .await;
    assert_eq!(json_of(&r)["scopes"], "code:read", "{}", r.body);
    // a token still waiting for its first approval cannot ask for more meanwhile
    let waiting = create(
        &app,
        &carol,
        serde_json::json!({"name": "waiting", "scopes": "code:write", "resource_owner": "acme"}),
    )
    .await;
    let r = send_json(
        &app,
        "PATCH",
        &format!("/api/v1/tokens/{}", waiting["id"]),
        &carol,
        serde_json::json!({"scopes": "code:manage"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(
        json_of(&r)["fields"]["scopes"]
            .as_str()
            .is_some_and(|m| m.contains("waits for an owner")),
        "{}",
        r.body
    );
}
