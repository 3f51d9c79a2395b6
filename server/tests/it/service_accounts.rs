//! An organization's service accounts: its owners make them (a team's, or
//! the organization's) and make tokens for them; those tokens reach only
//! the organization's resources, say who made them, keep working when
//! their maker leaves and is disabled, tell the owners and the team's
//! members before they expire, and are revoked by an owner — on the page
//! (plain forms), through the API and the CLI. Members, other
//! organizations' owners, cross-site posts and hostile names get nothing.

use crate::orgs::{
    acme_of, cli, gateway, json_of, org_did, org_post, post_cross_site, send_json, ORG_PAGE,
};
use crate::support::{self, TestApp};
use app::domain::{admin, admin::Admin, lifecycle, orgs};
use axum::http::StatusCode;
use serde_json::json;

/// The secret a page shows once (`tsr_` and 38 characters).
fn secret_in(html: &str) -> String {
    let at = html.find("value=\"tsr_").expect("a secret on the page") + 7;
    html[at..at + 42].to_owned()
}

/// The subjects of notices made for user `user_id` about token `token`.
async fn notices_of(app: &TestApp, user_id: i64, token: i64) -> Vec<String> {
    let rows: Vec<(String,)> = app
        .rows(&format!(
            "SELECT subject FROM notifications WHERE user_id = {user_id} AND token_id = {token}"
        ))
        .await;
    rows.into_iter().map(|(s,)| s).collect()
}

async fn service_account_tokens_outlive_their_makers(app: TestApp) {
    let (alice_id, alice) = support::user(&app, "alice").await;
    let (bob_id, bob) = support::user(&app, "bob").await;
    let (carol_id, _) = support::user(&app, "carol").await;
    let (dave_id, dave) = support::user(&app, "dave").await;
    let (_, eve) = support::user(&app, "eve").await;
    acme_of(&app, "alice", "carol").await;
    let cli_admin = Admin::cli();
    for (who, role) in [("bob", "owner"), ("dave", "member")] {
        orgs::set_member(&app.core, &cli_admin, "acme", who, role)
            .await
            .expect(who);
    }
    orgs::create(&app.core, &cli_admin, "other", "", Some("eve"))
        .await
        .expect("other");
    orgs::create_team(&app.core, &cli_admin, "acme", "Platform", None)
        .await
        .expect("team");
    orgs::set_team_member(&app.core, &cli_admin, "acme", "Platform", "carol", true)
        .await
        .expect("carol in the team");

    // the account, on the page; hostile names and callers first
    let refused = |r: &support::Resp, field: &str, words: &str| {
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(r.body.contains(words), "{field}: {words}: {}", r.body);
    };
    let form = "form=service-account-acme";
    for (fields, field, words) in [
        ("username=", "username", "Enter a username"),
        ("username=a%00b", "username", ""),
        (
            "username=abcdefghijklmnopqrstuvwxyz0123",
            "username",
            "With its prefix (acme-)",
        ),
        ("username=deployer&team=Nope", "team", "has no team"),
    ] {
        let r = org_post(
            &app,
            "service-accounts",
            &format!("{form}&{fields}"),
            &alice,
        )
        .await;
        refused(&r, field, words);
    }
    for stranger in [&dave, &eve] {
        let r = org_post(
            &app,
            "service-accounts",
            &format!("{form}&username=x-bot"),
            stranger,
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    }
    let r = post_cross_site(
        &app,
        &format!("{ORG_PAGE}/acme/service-accounts"),
        &[("username", "x-bot")],
        &alice,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    org_did(
        &app,
        &alice,
        "service-accounts",
        &format!("{form}&username=acme-deployer&team=Platform"),
        "service-account",
    )
    .await;
    let accounts: Vec<(String,)> = app
        .rows("SELECT username FROM users WHERE is_service = TRUE AND service_org IS NOT NULL")
        .await;
    assert_eq!(accounts, vec![("acme-deployer".to_owned(),)]);
    // the organization's prefix is added to a name without it, so an owner
    // never takes a person's name; a name in use is refused
    let r = org_post(
        &app,
        "service-accounts",
        &format!("{form}&username=deployer"),
        &alice,
    )
    .await;
    refused(&r, "username", "already taken");
    let r = org_post(
        &app,
        "service-accounts",
        &format!("{form}&username=bob"),
        &alice,
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "becomes acme-bob: {}",
        r.body
    );
    assert!(support::user_id(&app, "acme-bob").await > 0);
    // a member nothing signs in as, never an owner
    let e = orgs::set_member(&app.core, &cli_admin, "acme", "acme-deployer", "owner")
        .await
        .expect_err("never an owner");
    assert!(e.to_string().contains("service account"), "{e}");
    let e = orgs::set_member(&app.core, &cli_admin, "other", "acme-deployer", "member")
        .await
        .expect_err("not another organization's");
    assert!(e.to_string().contains("another organization"), "{e}");
    let r = app
        .post_form(
            "/signin",
            &[("username", "acme-deployer"), ("password", "!")],
            None,
        )
        .await;
    assert!(r.session_cookie().is_none(), "no one signs in as it");

    // a token for it, on the page: the secret once, then the list says who
    let new_token = "service-accounts/new-token";
    let page = app
        .get(&format!("{ORG_PAGE}/acme/{new_token}"), Some(&alice))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Service account"), "{}", page.body);
    assert!(page.body.contains("acme-deployer (team Platform)"));
    let rest = "name=deploy&expiry=30&scope_mode=custom&scope_code=read";
    let fields = format!("service_account=acme-deployer&{rest}");
    let fields = fields.as_str();
    let r = org_post(
        &app,
        new_token,
        &format!("service_account=nobody&{rest}"),
        &alice,
    )
    .await;
    refused(&r, "service_account", "has no service account");
    let r = org_post(
        &app,
        new_token,
        "service_account=acme-deployer&name=&expiry=30&scope_mode=custom&scope_code=read",
        &alice,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    // nothing that acts on tokens: it would outlive its maker
    for scopes in ["scope_mode=full", "scope_mode=custom&scope_tokens=write"] {
        let wide = format!("service_account=acme-deployer&name=wide&expiry=30&{scopes}");
        let r = org_post(&app, new_token, &wide, &alice).await;
        refused(&r, "scopes", "A service account");
    }
    // a member or a stranger finds no such organization, nor its accounts
    for stranger in [&dave, &eve] {
        let page = app
            .get(&format!("{ORG_PAGE}/acme/{new_token}"), Some(stranger))
            .await;
        assert!(!page.body.contains("acme-deployer"), "{}", page.body);
    }
    for stranger in [&dave, &eve] {
        let r = org_post(&app, new_token, fields, stranger).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
        assert!(!r.body.contains("tsr_"));
    }
    let r = org_post(&app, new_token, fields, &alice).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let deploy = secret_in(&r.body);
    assert!(r
        .body
        .contains("of the service account acme-deployer is ready"));
    assert_eq!(
        gateway(&app, &deploy, "code:read", Some("acme/api")).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        gateway(&app, &deploy, "code:read", Some("other/api")).await,
        StatusCode::FORBIDDEN,
        "only the organization's resources"
    );
    let seen = app
        .pat(
            "GET",
            "/gateway/check?scope=code:read&resource=acme/api",
            &deploy,
        )
        .await;
    assert_eq!(
        seen.header("x-tessera-user"),
        Some("acme-deployer"),
        "the gateway sees the account"
    );
    let page = app.get(ORG_PAGE, Some(&bob)).await;
    assert!(page.body.contains("made by alice"), "{}", page.body);
    assert!(page.body.contains("acme-deployer (service account)"));
    assert!(!page.body.contains("Make owner: acme-deployer"));
    // a member sees no service accounts
    let page = app.get(ORG_PAGE, Some(&dave)).await;
    assert!(!page.body.contains("made by alice"));

    // through the API: an owner's token; a member's and another
    // organization's get 404
    let (_, alice_api) = support::token(&app, alice_id, "api", "tokens:manage code:read").await;
    let (_, dave_api) = support::token(&app, dave_id, "api", "tokens:manage").await;
    let path = "/api/v1/orgs/acme/service-accounts/acme-deployer/tokens";
    let body = json!({"name": "nightly", "scopes": "code:read", "expires_in_days": 3});
    let r = send_json(&app, "POST", path, &dave_api, body.clone()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = send_json(
        &app,
        "POST",
        "/api/v1/orgs/acme/service-accounts/nobody/tokens",
        &alice_api,
        body.clone(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(
        json_of(&r)["fields"]["service_account"].is_string(),
        "{}",
        r.body
    );
    let r = send_json(
        &app,
        "POST",
        path,
        &alice_api,
        json!({"name": "wide", "scopes": "code:write", "expires_in_days": 3}),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "never beyond the caller's own token: {}",
        r.body
    );
    let maker = json!({"name": "maker", "scopes": "tokens:manage", "expires_in_days": 3});
    let r = send_json(&app, "POST", path, &alice_api, maker).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    // the account's short name finds it too
    let short = "/api/v1/orgs/acme/service-accounts/deployer/tokens";
    let r = send_json(&app, "POST", short, &alice_api, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let nightly = json_of(&r);
    assert_eq!(nightly["made_by"], "alice");
    assert_eq!(nightly["resource_owner"], "acme");
    let nightly_id = nightly["id"].as_i64().expect("id");
    let nightly_secret = nightly["token"].as_str().expect("secret").to_owned();
    let listed = json_of(
        &send_json(
            &app,
            "GET",
            "/api/v1/orgs/acme/service-accounts",
            &alice_api,
            json!(null),
        )
        .await,
    );
    let account = listed["service_accounts"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["name"] == "acme-deployer"))
        .expect("the account");
    assert_eq!(account["name"], "acme-deployer", "{listed}");
    assert_eq!(account["team"], "Platform");
    let names: Vec<&str> = account["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .map(|t| t["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["deploy", "nightly"]);
    let r = send_json(
        &app,
        "POST",
        "/api/v1/orgs/acme/service-accounts",
        &alice_api,
        json!({"name": "ci-bot"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = send_json(
        &app,
        "POST",
        "/api/v1/orgs/acme/service-accounts",
        &alice_api,
        json!({"name": "ci bot"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(json_of(&r)["fields"]["name"].is_string(), "{}", r.body);

    // the maker leaves and is disabled: the account's tokens keep working
    let (_, alice_own) = support::token_from_spec(
        &app,
        alice_id,
        &support::spec_of("mine", "code:read", 30, Some("acme")),
    )
    .await;
    orgs::remove_member(&app.core, &cli_admin, "acme", "alice")
        .await
        .expect("alice leaves");
    admin::set_disabled(&app.core, &cli_admin, "alice", true)
        .await
        .expect("disabled");
    assert_ne!(
        gateway(&app, &alice_own, "code:read", Some("acme/api")).await,
        StatusCode::NO_CONTENT,
        "her own organization token stops"
    );
    // a service account's token makes no tokens (it holds no tokens scope)
    let child = json!({"name": "child", "scopes": "code:read"});
    let r = send_json(&app, "POST", "/api/v1/tokens", &deploy, child).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    for secret in [&deploy, &nightly_secret] {
        assert_eq!(
            gateway(&app, secret, "code:read", Some("acme/api")).await,
            StatusCode::NO_CONTENT,
            "the service account's token keeps working"
        );
    }

    // its expiry is told to the owners and the team's members
    lifecycle::scan_tokens(&app.core).await.expect("scan");
    let bob_told = notices_of(&app, bob_id, nightly_id).await;
    assert_eq!(bob_told.len(), 1, "{bob_told:?}");
    assert!(
        bob_told[0].contains("[acme-deployer of acme] Your token nightly expires in 3 days"),
        "{bob_told:?}"
    );
    assert_eq!(
        notices_of(&app, carol_id, nightly_id).await.len(),
        1,
        "the team's member"
    );
    assert!(
        notices_of(&app, dave_id, nightly_id).await.is_empty(),
        "not in the team"
    );
    assert!(
        notices_of(&app, alice_id, nightly_id).await.is_empty(),
        "gone"
    );
    lifecycle::scan_tokens(&app.core).await.expect("scan again");
    assert_eq!(notices_of(&app, bob_id, nightly_id).await.len(), 1, "once");

    // revoked by an owner: at once; nobody else can
    let revoke = format!("/api/v1/orgs/acme/service-accounts/tokens/{nightly_id}");
    let (_, eve_api) = {
        let rows: Vec<(i64,)> = app
            .rows("SELECT id FROM users WHERE username = 'eve'")
            .await;
        support::token(&app, rows[0].0, "api", "tokens:manage").await
    };
    for stranger in [&dave_api, &eve_api] {
        let r = app.pat("DELETE", &revoke, stranger).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    }
    let (_, bob_api) = support::token(&app, bob_id, "api", "tokens:manage code:read").await;
    let r = app
        .pat(
            "DELETE",
            "/api/v1/orgs/acme/service-accounts/tokens/999999",
            &bob_api,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.pat("DELETE", &revoke, &bob_api).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        gateway(&app, &nightly_secret, "code:read", Some("acme/api")).await,
        StatusCode::UNAUTHORIZED
    );
    // with the organization's approval policy, an owner's token for the
    // account waits for another owner, as their own would
    let (ok, _, err) = cli(
        &app,
        &[
            "org",
            "set-policy",
            "acme",
            "approval_required_for",
            "code:read",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let gated = json!({"name": "gated", "scopes": "code:read", "expires_in_days": 3});
    let r = send_json(
        &app,
        "POST",
        "/api/v1/orgs/acme/service-accounts/acme-deployer/tokens",
        &bob_api,
        gated,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let gated = json_of(&r);
    assert_eq!(gated["approval"], "pending", "{gated}");
    let gated_secret = gated["token"].as_str().expect("secret").to_owned();
    assert_eq!(
        gateway(&app, &gated_secret, "code:read", Some("acme/api")).await,
        StatusCode::FORBIDDEN
    );
    let request: Vec<(i64,)> = app
        .rows(&format!(
            "SELECT id FROM token_requests WHERE token_id = {}",
            gated["id"]
        ))
        .await;
    let approve = format!("/api/v1/orgs/acme/token-requests/{}/approve", request[0].0);
    let r = send_json(&app, "POST", &approve, &bob_api, json!({})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "not their own: {}", r.body);
    orgs::set_member(&app.core, &cli_admin, "acme", "carol", "owner")
        .await
        .expect("carol an owner");
    let (_, carol_api) = support::token(&app, carol_id, "api", "tokens:manage code:read").await;
    let r = send_json(&app, "POST", &approve, &carol_api, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        gateway(&app, &gated_secret, "code:read", Some("acme/api")).await,
        StatusCode::NO_CONTENT
    );

    // on the page
    let deploy_id: Vec<(i64,)> = app
        .rows("SELECT id FROM tokens WHERE name = 'deploy'")
        .await;
    let route = format!("service-accounts/tokens/{}/revoke", deploy_id[0].0);
    let r = org_post(&app, &route, "", &dave).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "a member: {}", r.body);
    org_did(&app, &bob, &route, "", "service-token-revoked").await;
    assert_eq!(
        gateway(&app, &deploy, "code:read", Some("acme/api")).await,
        StatusCode::UNAUTHORIZED
    );
    let events: Vec<(String,)> = app
        .rows(&format!(
            "SELECT event FROM audit_events WHERE token_id = {} ORDER BY id",
            deploy_id[0].0
        ))
        .await;
    let events: Vec<&str> = events.iter().map(|(e,)| e.as_str()).collect();
    assert!(
        events.contains(&"token.created") && events.contains(&"token.revoked"),
        "{events:?}"
    );

    // the CLI
    let (ok, out, err) = cli(&app, &["org", "service-accounts", "acme"]).await;
    assert!(ok, "{err}");
    assert!(
        out.contains("acme-deployer") && out.contains("Platform") && out.contains("ci-bot"),
        "{out}"
    );
    let (ok, out, err) = cli(
        &app,
        &[
            "org",
            "create-service-account",
            "acme",
            "release-bot",
            "--team",
            "Platform",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("release-bot"), "{out}");
    let (ok, _, err) = cli(
        &app,
        &[
            "org",
            "create-service-account",
            "acme",
            "x-bot",
            "--team",
            "Nope",
        ],
    )
    .await;
    assert!(!ok && err.contains("has no team"), "{err}");
    // an organization has at most so many service accounts at once (each
    // may hold max_active_tokens_per_user tokens): removing one frees room
    let cli_admin = Admin::cli();
    let make = |name: String| {
        let (core, admin) = (&app.core, &cli_admin);
        async move { orgs::service_accounts::create(core, admin, "acme", &name, None).await }
    };
    let mut made = 0;
    let refusal = loop {
        match make(format!("filler-{made}")).await {
            Ok(_) => made += 1,
            Err(e) => break e.to_string(),
        }
        assert!(made <= orgs::service_accounts::ACCOUNTS_MAX, "no cap");
    };
    assert!(
        refusal.contains("the most an organization may have"),
        "{refusal}"
    );
    orgs::remove_member(&app.core, &cli_admin, "acme", "acme-filler-0")
        .await
        .expect("removed");
    make("one-more".into()).await.expect("room again");
    assert!(make("and-another".into()).await.is_err());
    // a removed one added back counts like a new one
    orgs::remove_member(&app.core, &cli_admin, "acme", "acme-filler-1")
        .await
        .expect("removed");
    orgs::set_member(&app.core, &cli_admin, "acme", "acme-filler-0", "member")
        .await
        .expect("back, within the cap");
    let again = orgs::set_member(&app.core, &cli_admin, "acme", "acme-filler-1", "member").await;
    assert!(
        again.is_err_and(|e| e.to_string().contains("the most an organization may have")),
        "past the cap"
    );
}

on_both_backends!(service_account_tokens_outlive_their_makers);
