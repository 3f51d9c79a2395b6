//! Organizations: tokens that name one as their resource owner reach only
//! its resources, and only while their maker is a member; `tessera admin
//! org …`; the clearer refusals (`X-Tessera-Accepted-Scopes`,
//! `X-Tessera-Token-Expires`) on tokens of every kind.

use crate::governance::cli_with_env;
use crate::support::{self, token, Resp, TestApp};
use app::domain::{admin::Admin, orgs};
use axum::{body::Body, http::Request, http::StatusCode};
use std::time::{Duration, Instant};

pub(crate) async fn send_json(
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

/// `POST /api/v1/tokens` with `body`, as `token`.
pub(crate) async fn post_token(app: &TestApp, token: &str, body: serde_json::Value) -> Resp {
    send_json(app, "POST", "/api/v1/tokens", token, body).await
}

pub(crate) fn json_of(r: &Resp) -> serde_json::Value {
    serde_json::from_str(&r.body).unwrap_or_else(|_| panic!("not JSON: {}", r.body))
}

pub(crate) async fn cli(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    cli_with_env(app, &[], args, None).await
}

/// The gateway's answer for `token` asking `scope` on `resource`.
pub(crate) async fn gateway(
    app: &TestApp,
    token: &str,
    scope: &str,
    resource: Option<&str>,
) -> StatusCode {
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

    let made = post_token(&app, &maker, serde_json::json!({"name": "acme ci", "scopes": "code:write profile:read", "resource_owner": "acme"}),
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
        let r = post_token(&app, &maker, serde_json::json!({"name": format!("t {}", org.len()), "scopes": "code:read", "resource_owner": org}),
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
    let r = post_token(
        &app,
        &bobs,
        serde_json::json!({"name": "not mine", "scopes": "code:read", "resource_owner": "acme"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    // patterns outside the organization
    let r = post_token(&app, &maker, serde_json::json!({"name": "wide", "scopes": "code:read", "resource_owner": "acme", "resources": {"code": ["acme/api", "other/*"]}}),
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
        let r = post_token(&app, &maker, serde_json::json!({"name": "acme manager", "scopes": "tokens:manage", "resource_owner": "acme"}),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        (
            (),
            json_of(&r)["token"].as_str().expect("secret").to_owned(),
        )
    };
    let child = post_token(
        &app,
        &org_manager,
        serde_json::json!({"name": "child", "scopes": "tokens:read"}),
    )
    .await;
    assert_eq!(child.status, StatusCode::CREATED, "{}", child.body);
    assert_eq!(json_of(&child)["resource_owner"], "acme");
    let escape = post_token(
        &app,
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
    let spec = support::spec_of("acme", "code:read", 30, Some("acme"));
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

/// Organization acme, owned by `owner`, with `member` a member.
pub(crate) async fn acme_of(app: &TestApp, owner: &str, member: &str) {
    let admin = Admin::cli();
    orgs::create(&app.core, &admin, "acme", "", Some(owner))
        .await
        .expect("acme");
    orgs::set_member(&app.core, &admin, "acme", member, "member")
        .await
        .expect("member");
}

/// Another instance refuses an organization token within a second of its
/// maker leaving (Postgres: two instances on one store).
async fn a_second_instance_refuses_a_former_members_token_within_a_second(app: TestApp) {
    let (alice, _) = support::user(&app, "alice").await;
    support::user(&app, "bob").await;
    acme_of(&app, "bob", "alice").await;
    let admin = Admin::cli();
    let spec = support::spec_of("acme", "profile:read", 30, Some("acme"));
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

/// A form post from a browser on another site (refused before anything).
pub(crate) async fn post_cross_site(
    app: &TestApp,
    path: &str,
    fields: &[(&str, &str)],
    cookie: &str,
) -> Resp {
    let body: String = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencoding(v)))
        .collect::<Vec<_>>()
        .join("&");
    let req = Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "cross-site")
        .header("origin", "https://evil.example")
        .header("cookie", format!("tessera_session={cookie}"))
        .body(Body::from(body))
        .expect("request");
    app.request(req).await
}

fn urlencoding(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(crate) const ORG_PAGE: &str = "/profile/security/organizations";

/// Posts `fields` (`name=value&…`) to acme's `route` on the Organizations
/// page as the session `cookie`.
pub(crate) async fn org_post(app: &TestApp, route: &str, fields: &str, cookie: &str) -> Resp {
    let form: Vec<(&str, &str)> = fields
        .split('&')
        .filter_map(|p| p.split_once('='))
        .collect();
    let path = format!("{ORG_PAGE}/acme/{route}");
    app.post_form(&path, &form, Some(cookie)).await
}

/// As [`org_post`], which must answer with a redirect to `?done={what}`.
pub(crate) async fn org_did(app: &TestApp, cookie: &str, route: &str, fields: &str, what: &str) {
    let r = org_post(app, route, fields, cookie).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{what}: {}", r.body);
    let to = format!("{ORG_PAGE}?done={what}");
    assert_eq!(r.header("location"), Some(to.as_str()));
}

async fn owners_manage_members_teams_and_policies_from_their_page(app: TestApp) {
    let (_, alice) = support::user(&app, "alice").await;
    let (bob_id, bob) = support::user(&app, "bob").await;
    let (_, carol) = support::user(&app, "carol").await;
    let (_, dave) = support::user(&app, "dave").await;
    acme_of(&app, "alice", "carol").await;
    let admin = Admin::cli();
    orgs::create(&app.core, &admin, "other", "", Some("dave"))
        .await
        .expect("other");
    let at = |what: &str| format!("{ORG_PAGE}/acme/{what}");
    let role_of = |name: &'static str| {
        let core = app.core.clone();
        async move {
            orgs::members(&core.db, "acme")
                .await
                .expect("members")
                .into_iter()
                .find(|m| m.username == name)
                .map(|m| m.role)
        }
    };

    // the owner adds bob, makes him an owner, and back
    org_did(
        &app,
        &alice,
        "members",
        "form=add-member-acme&username=bob&role=member",
        "member",
    )
    .await;
    assert_eq!(role_of("bob").await.as_deref(), Some("member"));
    org_did(
        &app,
        &alice,
        "members",
        "form=members-acme&username=bob&role=owner",
        "role",
    )
    .await;
    assert_eq!(role_of("bob").await.as_deref(), Some("owner"));

    // what an owner sees: the forms, the audit log with their own steps
    let page = app.get(ORG_PAGE, Some(&alice)).await;
    assert_eq!(page.status, StatusCode::OK);
    for words in [
        "Add member",
        "Create team",
        "Set policy",
        "Audit log",
        "data-event=\"org.member_added\"",
        "data-event=\"org.role_changed\"",
        "Remove bob from acme",
    ] {
        assert!(page.body.contains(words), "{words}");
    }
    let events = app::domain::audit::of_org(
        &app.core.db,
        orgs::get(&app.core.db, "acme").await.expect("acme").id,
        "acme",
        None,
        50,
    )
    .await
    .expect("events");
    let added = events
        .iter()
        .find(|e| e.event == "org.member_added" && e.user_id == Some(bob_id))
        .expect("bob's arrival");
    assert_eq!(
        added.actor, "user",
        "audited as the owner, not an administrator"
    );
    assert!(
        !events
            .iter()
            .any(|e| e.details.to_string().contains("\"other\"")),
        "another organization's events stay out"
    );
    // a member sees the organization, not its management or its log
    let page = app.get(ORG_PAGE, Some(&carol)).await;
    assert!(page.body.contains("acme"));
    for words in ["Add member", "Audit log", "Set policy"] {
        assert!(!page.body.contains(words), "a member sees {words}");
    }

    // bad input: a field error where it was typed, nothing changed; each
    // case is "route|form|field=value&…|words"
    let long_team = format!("teams|create-team-acme|team={}|at most 64", "t".repeat(65));
    let cases = [
        "members|add-member-acme|username=nobody&role=member|nobody",
        "members|add-member-acme|username=carol&role=king|is not a role",
        "members/remove|members-acme|username=dave|not a member",
        "teams|create-team-acme|team=|Enter a name",
        "teams|create-team-acme|team=a/b|letters, digits",
        "teams|create-team-acme|team=x\u{0}y|letters, digits",
        long_team.as_str(),
        "policies|policy-acme|key=sso_required&value=true|server-wide only",
        "policies|policy-acme|key=max_lifetime_days&value=-3|1 to 3650",
        "policies|policy-acme|key=nope\u{0}&value=1|no organization policy",
        "teams/members|team-acme-x|team=ghosts&username=bob|no team",
    ];
    for case in cases {
        let parts: Vec<&str> = case.split('|').collect();
        let (what, field_words) = (parts[0], parts[3]);
        let mut form = vec![("form", parts[1])];
        form.extend(parts[2].split('&').filter_map(|p| p.split_once('=')));
        let r = app.post_form(&at(what), &form, Some(&alice)).await;
        assert!(
            r.status == StatusCode::UNPROCESSABLE_ENTITY || r.status == StatusCode::NOT_FOUND,
            "{what} {form:?}: {}",
            r.status
        );
        assert!(
            r.body.contains(field_words),
            "{what} {form:?}: {field_words}: {}",
            r.body
                .split("<main")
                .nth(1)
                .unwrap_or(&r.body)
                .chars()
                .take(3000)
                .collect::<String>()
        );
        // a field error where it was typed, or (a member's buttons) over the list
        assert!(
            r.body.contains("aria-invalid=\"true\"") || r.body.contains("role=\"alert\""),
            "{what} {form:?}: a field error"
        );
    }
    // which group a team follows is the administrators' to say (it adds
    // people to the organization at sign-in): an owner's is refused
    let r = org_post(
        &app,
        "teams",
        "form=create-team-acme&team=platform&idp_group=security-ir",
        &alice,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let under = r
        .body
        .split("id=\"create-team-acme-team-error\"")
        .nth(1)
        .map(|rest| rest.chars().take(300).collect::<String>())
        .unwrap_or_default();
    assert!(
        under.contains("Only an administrator"),
        "under its field: {under}"
    );
    assert!(orgs::teams(&app.core.db, "acme")
        .await
        .expect("teams")
        .is_empty());
    orgs::create_team(
        &app.core,
        &Admin::cli(),
        "acme",
        "Platform team",
        Some("eng-platform"),
    )
    .await
    .expect("the administrator's team");

    // teams: created, joined, left
    org_did(
        &app,
        &alice,
        "teams",
        "form=create-team-acme&team=Ops",
        "team",
    )
    .await;
    org_did(
        &app,
        &alice,
        "teams/members",
        "form=team-acme-Platform team&team=Platform team&username=carol",
        "team-member",
    )
    .await;
    let teams = orgs::teams(&app.core.db, "acme").await.expect("teams");
    assert_eq!(teams[0].name, "Ops");
    assert_eq!(teams[0].idp_group, None);
    assert_eq!(teams[1].members, ["carol"]);
    assert_eq!(teams[1].idp_group.as_deref(), Some("eng-platform"));
    let page = app.get(ORG_PAGE, Some(&alice)).await;
    assert!(page
        .body
        .contains("follows the identity provider group eng-platform"));
    assert!(
        !page.body.contains("name=\"idp_group\""),
        "no group field for owners"
    );
    let r = org_post(
        &app,
        "teams/members",
        "form=team-acme-Platform team&team=Platform team&username=dave",
        &alice,
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "dave is not in acme"
    );
    org_did(
        &app,
        &alice,
        "teams/members/remove",
        "form=team-acme-Platform team&team=Platform team&username=carol",
        "team-removed",
    )
    .await;
    assert!(orgs::teams(&app.core.db, "acme").await.expect("teams")[1]
        .members
        .is_empty());

    // nobody but acme's owners: a member, another organization's owner, a
    // made-up organization — the same 404, and nothing changes
    let form = [
        ("form", "add-member-acme"),
        ("username", "dave"),
        ("role", "owner"),
    ];
    let mut answers = Vec::new();
    for (who, org) in [
        (&carol, "acme"),
        (&dave, "acme"),
        (&alice, "nope"),
        (&alice, "ACME"),
        (&alice, "acme%00"),
    ] {
        let r = app
            .post_form(&format!("{ORG_PAGE}/{org}/members"), &form, Some(who))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{org}");
        answers.push(r.body.contains("not one of its owners"));
    }
    assert!(answers.iter().all(|a| *a), "the same words each time");
    assert_eq!(role_of("dave").await, None);
    let r = app
        .post_form(
            &format!("{ORG_PAGE}/acme/policies"),
            &[("key", "forbid_full_access"), ("value", "true")],
            Some(&carol),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // signed out: to the sign-in page; cross-site: refused
    let r = app.post_form(&at("members"), &form, None).await;
    assert_ne!(
        r.header("location"),
        Some(format!("{ORG_PAGE}?done=member").as_str())
    );
    let r = post_cross_site(&app, &at("members"), &form, &alice).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(role_of("dave").await, None);

    // the last owner stays; an owner may leave while another remains
    org_did(
        &app,
        &alice,
        "members",
        "form=members-acme&username=bob&role=member",
        "role",
    )
    .await;
    let r = org_post(
        &app,
        "members/remove",
        "form=members-acme&username=alice",
        &alice,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("last owner"), "{}", r.body);
    org_did(
        &app,
        &alice,
        "members",
        "form=members-acme&username=bob&role=owner",
        "role",
    )
    .await;
    org_did(
        &app,
        &bob,
        "members/remove",
        "form=members-acme&username=alice",
        "removed",
    )
    .await;
    assert_eq!(role_of("alice").await, None);
    let r = app
        .post_form(
            &at("members"),
            &[("username", "alice"), ("role", "member")],
            Some(&alice),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "a former owner manages nothing"
    );
}

async fn an_organizations_policies_hold_its_tokens_to_the_stricter_of_both(app: TestApp) {
    let (alice_id, alice) = support::user(&app, "alice").await;
    let (carol_id, _) = support::user(&app, "carol").await;
    acme_of(&app, "alice", "carol").await;
    let spec = support::spec_of("c", "tokens:manage code:manage", 80, None);
    let (_, carol) = support::token_from_spec(&app, carol_id, &spec).await;
    support::set_policy(&app, "max_lifetime_days", "90").await;
    let set = |key: &'static str, value: &'static str| {
        let (app, alice) = (&app, &alice);
        async move {
            let r = app
                .post_form(
                    &format!("{ORG_PAGE}/acme/policies"),
                    &[("form", "policy-acme"), ("key", key), ("value", value)],
                    Some(alice),
                )
                .await;
            assert_eq!(r.status, StatusCode::SEE_OTHER, "{key}={value}: {}", r.body);
        }
    };
    set("max_lifetime_days", "30").await;
    set("max_active_tokens_per_user", "2").await;
    let make = |name: &str, days: u32, owner: Option<&str>| {
        let mut body =
            serde_json::json!({"name": name, "scopes": "code:write", "expires_in_days": days});
        if let Some(o) = owner {
            body["resource_owner"] = o.into();
        }
        post_token(&app, &carol, body)
    };
    // the organization's 30 days for its tokens; the server's 90 for hers
    let r = make("long", 60, Some("acme")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("30"), "{}", r.body);
    let r = make("mine", 60, None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        make("mine", 120, None).await.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the server's is stricter there"
    );
    let first = json_of(&make("acme one", 20, Some("acme")).await);
    let first_secret = first["token"].as_str().expect("secret").to_owned();
    assert_eq!(
        make("acme two", 20, Some("acme")).await.status,
        StatusCode::CREATED
    );
    // acme counts the tokens it owns: two; her own ones do not count
    let r = make("acme three", 20, Some("acme")).await;
    assert_eq!(json_of(&r)["error"], "policy_violation", "{}", r.body);
    assert!(
        r.body
            .contains("acme's policy (max_active_tokens_per_user)"),
        "{}",
        r.body
    );
    assert_eq!(make("mine too", 20, None).await.status, StatusCode::CREATED);

    // a stricter policy set later blocks acme's tokens at once, and only those
    assert_eq!(
        gateway(&app, &first_secret, "code:write", Some("acme/api")).await,
        StatusCode::NO_CONTENT
    );
    set("allowed_scopes", "code:read").await;
    assert_eq!(
        gateway(&app, &first_secret, "code:read", Some("acme/api")).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.pat("GET", "/api/v1/tokens", &carol).await.status,
        StatusCode::OK,
        "her own token is not acme's"
    );
    let listed = json_of(
        &app.pat("GET", &format!("/api/v1/tokens/{}", first["id"]), &carol)
            .await,
    );
    assert_eq!(listed["blocked_by_policy"], "allowed_scopes", "{listed}");
    // on a second instance too (the change feed)
    let (second, _core) = app.second_instance().await;
    let mut blocked_there = false;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        let req = Request::builder()
            .uri("/gateway/check?scope=code:read&resource=acme/api")
            .header("authorization", format!("Bearer {first_secret}"))
            .body(Body::empty())
            .expect("request");
        let status = tower::ServiceExt::oneshot(second.clone(), req)
            .await
            .expect("answer")
            .status();
        if status == StatusCode::FORBIDDEN {
            blocked_there = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(blocked_there, "the second instance still accepts it");
    set("allowed_scopes", "none").await;
    assert_eq!(
        gateway(&app, &first_secret, "code:write", Some("acme/api")).await,
        StatusCode::NO_CONTENT,
        "cleared, it works again"
    );

    // revoke_on_reuse set by the organization revokes its rotated token
    set("revoke_on_reuse", "true").await;
    let rotated = send_json(
        &app,
        "POST",
        &format!("/api/v1/tokens/{}/rotate", first["id"]),
        &carol,
        serde_json::json!({"grace_hours": 0}),
    )
    .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert_eq!(
        app.pat("GET", "/api/v1/me", &first_secret).await.status,
        StatusCode::UNAUTHORIZED
    );
    let start = Instant::now();
    loop {
        let rows: Vec<(Option<String>,)> = app
            .rows(&format!(
                "SELECT revoked_by FROM tokens WHERE id = {}",
                first["id"]
            ))
            .await;
        if rows[0].0.as_deref() == Some("policy") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "not revoked on reuse"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // the API: members read the policies, owners set them and read the log
    let (_, alices) = token(&app, alice_id, "a", "tokens:manage").await;
    let read = json_of(&app.pat("GET", "/api/v1/orgs/acme/policies", &carol).await);
    assert_eq!(read["policies"]["max_lifetime_days"], "30", "{read}");
    assert_eq!(read["policies"]["approval_required_for"], "none");
    let put = |who: String, key: &'static str, value: serde_json::Value| {
        let app = &app;
        async move {
            let path = format!("/api/v1/orgs/acme/policies/{key}");
            send_json(
                app,
                "PUT",
                &path,
                &who,
                serde_json::json!({ "value": value }),
            )
            .await
        }
    };
    let r = put(carol.clone(), "inactive_days", "10".into()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "a member sets nothing");
    let r = put(alices.clone(), "inactive_days", "10".into()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(json_of(&r)["policies"]["inactive_days"], "10");
    let r = put(alices.clone(), "inactive_days", "none".into()).await;
    assert_eq!(json_of(&r)["policies"]["inactive_days"], "none");
    for (key, value) in [
        ("sso_required", serde_json::json!("true")),
        ("max_lifetime_days", serde_json::json!("forever")),
        ("allowed_scopes", serde_json::json!("x".repeat(3000))),
    ] {
        let r = put(alices.clone(), key, value).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{key}: {}",
            r.body
        );
        assert_eq!(json_of(&r)["error"], "invalid_request");
    }
    let r = put(alices.clone(), "inactive_days", serde_json::json!(10)).await;
    assert_eq!(json_of(&r)["error"], "invalid_body", "{}", r.body);
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a number is not the text form"
    );
    let r = app
        .pat("GET", "/api/v1/orgs/acme/audit?limit=2", &alices)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let page = json_of(&r);
    assert_eq!(page["events"].as_array().map(Vec::len), Some(2));
    assert_eq!(page["events"][0]["event"], "org.policy_changed");
    let next = page["next_cursor"].as_str().expect("an older page");
    let older = json_of(
        &app.pat(
            "GET",
            &format!("/api/v1/orgs/acme/audit?cursor={next}"),
            &alices,
        )
        .await,
    );
    assert!(older["events"][0]["id"].as_i64() < page["events"][1]["id"].as_i64());
    for (path, who) in [
        ("/api/v1/orgs/acme/audit", &carol),
        ("/api/v1/orgs/nope/audit", &alices),
        ("/api/v1/orgs/nope/policies", &alices),
    ] {
        let r = app.pat("GET", path, who).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
    let r = app
        .pat("GET", "/api/v1/orgs/acme/audit?cursor=-1", &alices)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // the CLI shows and sets the same policies; each change is in acme's log
    let (ok, out, err) = cli(&app, &["org", "policies", "acme", "--json"]).await;
    assert!(ok, "{err}");
    let shown: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(shown["max_lifetime_days"], "30");
    assert_eq!(shown["revoke_on_reuse"], "true");
    assert_eq!(shown["forbid_full_access"], "none");
    let (ok, _, err) = cli(
        &app,
        &[
            "org",
            "set-policy",
            "acme",
            "allowed_workload_issuers",
            "https://x.example",
        ],
    )
    .await;
    assert!(!ok);
    assert!(err.contains("server-wide only"), "{err}");
    let id = orgs::get(&app.core.db, "acme").await.expect("acme").id;
    // another organization's events, and others' details that merely hold
    // an "organization" (a trust rule's conditions, a CI job's claims), stay out
    use app::domain::audit::{record, By, Event};
    orgs::create(&app.core, &Admin::cli(), "acme-labs", "", Some("alice"))
        .await
        .expect("acme-labs");
    for (name, details) in [
        (
            "workload.rule_created",
            serde_json::json!({"conditions": {"organization": "acme"}}),
        ),
        (
            "token.exchanged",
            serde_json::json!({"workload": {"claims": {"organization": "acme"}}}),
        ),
        (
            "token.created",
            serde_json::json!({"name": "x", "organization": "acme"}),
        ),
    ] {
        let ev = Event::new(name, Some(carol_id), None, By::System, None).with(details);
        record(&app.core.db, &ev).await.expect("recorded");
    }
    let events = app::domain::audit::of_org(&app.core.db, id, "acme", None, 200)
        .await
        .expect("events");
    for e in &events {
        assert!(
            e.token_id.is_some() || e.details["organization"] == "acme",
            "not acme's: {} {}",
            e.event,
            e.details
        );
    }
    // a token acme owns reaches neither another organization's log nor its policies
    let (_, acmes) = support::token_from_spec(
        &app,
        alice_id,
        &support::spec_of("acme admin", "tokens:manage", 30, Some("acme")),
    )
    .await;
    for path in [
        "/api/v1/orgs/acme-labs/audit",
        "/api/v1/orgs/acme-labs/policies",
    ] {
        assert_eq!(
            app.pat("GET", path, &acmes).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
        assert_eq!(
            app.pat("GET", path, &alices).await.status,
            StatusCode::OK,
            "{path}"
        );
    }
    assert_eq!(
        app.pat("GET", "/api/v1/orgs/acme/audit", &acmes)
            .await
            .status,
        StatusCode::OK
    );
    let changes = events
        .iter()
        .filter(|e| e.event == "org.policy_changed")
        .count();
    assert_eq!(changes, 7, "each change, once");
    assert!(
        events.iter().any(|e| e.event == "token.created"),
        "its tokens' events too"
    );
    assert!(
        !events
            .iter()
            .any(|e| e.event == "token.created" && e.details["name"] == "mine"),
        "not her own tokens'"
    );
}

/// Changes to who holds an organization and what binds its tokens ask
/// for the password again when it is not recent: a "Confirm access" page
/// in the change's place, which posts the same fields back (sudo mode
/// lasts 0 minutes here).
async fn owners_confirm_access_before_changing_who_holds_an_organization(app: TestApp) {
    let (_, alice) = support::user(&app, "alice").await;
    let (carol_id, _) = support::user(&app, "carol").await;
    let (_, dave) = support::user(&app, "dave").await;
    acme_of(&app, "alice", "carol").await;
    let role_of_carol = || async {
        let rows: Vec<(String,)> = app
            .rows(&format!(
                "SELECT role FROM org_members WHERE user_id = {carol_id}"
            ))
            .await;
        rows[0].0.clone()
    };
    let promote = "form=members-acme&username=carol&role=owner";
    // no password: the page in the change's place, and no change
    let r = org_post(&app, "members", promote, &alice).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    for shown in [
        "Confirm access",
        "make carol an owner of acme",
        "action=\"/profile/security/organizations/acme/members\"",
        "name=\"username\" value=\"carol\"",
        "name=\"role\" value=\"owner\"",
        "name=\"form\" value=\"members-acme\"",
        "name=\"sudo_password\"",
        "Confirm with a passkey instead",
    ] {
        assert!(r.body.contains(shown), "{shown}: {}", r.body);
    }
    assert_eq!(role_of_carol().await, "member");
    // a stranger finds no organization, and no page to confirm
    let r = org_post(&app, "members", promote, &dave).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(!r.body.contains("Confirm access"));
    // where the page posts is this post's path, whatever a client sends
    let r = org_post(
        &app,
        "members",
        &format!("{promote}&confirm_action=https://evil.example/steal&confirm_back=https://evil.example/"),
        &alice,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(!r.body.contains("evil.example"), "{}", r.body);
    // a wrong password: its message there, still no change
    let r = org_post(
        &app,
        "members",
        &format!("{promote}&sudo_password=guess"),
        &alice,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.body.contains("That is not your current password."),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("name=\"role\" value=\"owner\""),
        "kept: {}",
        r.body
    );
    assert_eq!(role_of_carol().await, "member");
    // the page's post: the same fields and the password
    let with_password = format!("{promote}&sudo_password={}", support::PW);
    org_did(&app, &alice, "members", &with_password, "role").await;
    assert_eq!(role_of_carol().await, "owner");
    // policies, removals and service accounts ask too; teams do not
    for (route, fields, what) in [
        (
            "policies",
            "form=policy-acme&key=max_lifetime_days&value=7",
            "change the policy max_lifetime_days of acme",
        ),
        (
            "service-accounts",
            "form=service-account-acme&username=ci",
            "create a service account in acme",
        ),
        ("members/remove", "username=carol", "remove carol from acme"),
    ] {
        let r = org_post(&app, route, fields, &alice).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{route}: {}", r.body);
        assert!(r.body.contains(what), "{what}: {}", r.body);
    }
    assert_eq!(role_of_carol().await, "owner");
    org_did(
        &app,
        &alice,
        "teams",
        "form=create-team-acme&team=platform",
        "team",
    )
    .await;
    // the page on its own has nothing to confirm
    let r = app
        .get("/profile/security/confirm-access", Some(&alice))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body.contains("Nothing is waiting for confirmation."),
        "{}",
        r.body
    );
}

fn no_sudo() -> support::Options {
    support::Options {
        sudo_window: Duration::ZERO,
        ..Default::default()
    }
}

on_both_backends!(
    owners_confirm_access_before_changing_who_holds_an_organization with no_sudo(),
    owners_manage_members_teams_and_policies_from_their_page,
    an_organizations_policies_hold_its_tokens_to_the_stricter_of_both,
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
    let r = post_token(app, maker, body).await;
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
    orgs::policies::set(
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
            orgs::policies::set(&app.core, by, None, "acme", "approval_required_for", bad)
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
    // a state that is neither pending nor all, or an unknown parameter
    for query in ["state=bogus", "state=%00", "state=all&x=1"] {
        let path = format!("/api/v1/orgs/acme/token-requests?{query}");
        let r = app.pat("GET", &path, &alice).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.body);
        assert_eq!(json_of(&r)["error"], "invalid_query", "{query}");
    }
    let all = json_of(
        &app.pat("GET", "/api/v1/orgs/acme/token-requests?state=all", &alice)
            .await,
    );
    assert_eq!(all["requests"].as_array().map(Vec::len), Some(1));
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
    // and the history never shows a revoked token's request as pending
    let all = json_of(
        &app.pat("GET", "/api/v1/orgs/acme/token-requests?state=all", &bob)
            .await,
    );
    let state = all["requests"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["id"] == raced_id))
        .map(|r| r["state"].clone());
    let expected = if raced_approval {
        "approved"
    } else {
        "withdrawn"
    };
    assert_eq!(state, Some(serde_json::json!(expected)), "{all}");

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
    // carol's edit of her token
    let patch = |body: serde_json::Value| {
        let (app, path, carol) = (&app, path.clone(), carol.clone());
        async move { send_json(app, "PATCH", &path, &carol, body).await }
    };
    // wider: asked for, not granted
    let r =
        patch(serde_json::json!({"scopes": "code:write", "description": "now it tags releases"}))
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
    let r = patch(serde_json::json!({"scopes": "code:manage"})).await;
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
    let r = patch(serde_json::json!({"scopes": "code:read"})).await;
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
