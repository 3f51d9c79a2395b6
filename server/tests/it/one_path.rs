//! One path for every use of a token: the REST API, the gateway check and
//! RFC 7662 introspection each go through `Core::authenticate`, so the same
//! presentations have the same outcomes and the same side effects — the use
//! recorded, an ended token's presentation counted, a rotated-out secret
//! audited and (under `revoke_on_reuse`) its token revoked, a policy block,
//! a network allowlist and a disabled account refused — on both stores.

use crate::support;

use app::domain::{
    admin::{self, Admin},
    audit,
    tokens::{self as service, Actor},
};
use app::tokens::{Networks, TokenSpec};
use axum::{body::Body, http::Request, http::StatusCode};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use std::time::{Duration, Instant};
use support::TestApp;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Via {
    Api,
    Gateway,
    Introspection,
}

impl Via {
    fn name(self) -> &'static str {
        match self {
            Via::Api => "api",
            Via::Gateway => "gateway",
            Via::Introspection => "introspection",
        }
    }
}

/// What a transport answered: `Ok`, or the refusal's code (introspection
/// says only `inactive`).
#[derive(Debug, PartialEq)]
enum Answer {
    Ok,
    Refused(String),
}

fn refused(code: &str) -> Answer {
    Answer::Refused(code.into())
}

fn json_of(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
}

/// An introspection request by the configured client with `form`.
fn introspection(form: &str) -> Request<Body> {
    let client = STANDARD.encode(format!("gateway:{}", support::INTROSPECTION_SECRET));
    Request::post("/oauth/introspect")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", format!("Basic {client}"))
        .body(Body::from(form.to_owned()))
        .expect("request")
}

/// Presents `secret` over `via` as a client at 127.0.0.1 (introspection:
/// the resource server names that address).
async fn present(app: &TestApp, via: Via, secret: &str) -> Answer {
    let bearer = format!("Bearer {secret}");
    let req = match via {
        Via::Api => Request::get("/api/v1/me")
            .header("authorization", bearer)
            .body(Body::empty()),
        Via::Gateway => Request::get("/gateway/check?scope=profile:read")
            .header("authorization", bearer)
            .body(Body::empty()),
        Via::Introspection => Ok(introspection(&format!(
            "token={secret}&client_ip=127.0.0.1"
        ))),
    };
    let res = app.request(req.expect("request")).await;
    match via {
        Via::Introspection => {
            assert_eq!(res.status, StatusCode::OK, "{}", res.body);
            if json_of(&res.body)["active"] == true {
                Answer::Ok
            } else {
                assert_eq!(res.body, r#"{"active":false}"#);
                refused("inactive")
            }
        }
        _ if res.status.is_success() => Answer::Ok,
        _ => {
            let code = json_of(&res.body)["error"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            refused(&code)
        }
    }
}

/// What `via` answers for a refusal with `code` (introspection: inactive).
fn expected(via: Via, code: &str) -> Answer {
    match via {
        Via::Introspection => refused("inactive"),
        _ => refused(code),
    }
}

fn spec(name: &str, scopes: &str, networks: &[&str]) -> TokenSpec {
    TokenSpec {
        name: name.into(),
        description: String::new(),
        expiry: app::tokens::Expiry::Days(30),
        scopes: app::scopes::Scopes::parse(scopes).expect("scopes"),
        networks: Networks::parse(networks.iter().copied()).expect("networks"),
        owner: None,
        resources: Default::default(),
    }
}

/// The audit events of `token` named `event`, waiting up to five seconds
/// for one to be written (refusals are written in the background).
async fn audited(app: &TestApp, token: i64, event: &str) -> Vec<app::audit::AuditEvent> {
    let start = Instant::now();
    loop {
        let f = audit::Filter {
            token_id: Some(token),
            limit: 500,
            ..Default::default()
        };
        let found: Vec<_> = audit::list(&app.db, &f)
            .await
            .expect("audit")
            .into_iter()
            .filter(|e| e.event == event)
            .collect();
        if !found.is_empty() {
            return found;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no {event} event for token {token}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn token_row(app: &TestApp, id: i64) -> (Option<String>, i64, bool) {
    let sql = format!(
        "SELECT CAST(last_used_at AS TEXT), presented_after_end, revoked_at IS NOT NULL \
         FROM tokens WHERE id = {id}"
    );
    app.rows::<(Option<String>, i64, bool)>(&sql).await[0].clone()
}

/// Every outcome a presentation can have, over `via`; the same assertions
/// for each transport.
async fn same_outcomes(app: &TestApp, via: Via) {
    let (uid, _) = support::user(app, "pat").await;
    let actor = Actor::user(uid);

    // a valid token: accepted, and its use recorded
    let (id, secret) = support::token(app, uid, "ci", "profile:read").await;
    assert_eq!(present(app, via, &secret).await, Answer::Ok, "{via:?}");
    app.core.flush_usage(true).await;
    let (last_used, _, _) = token_row(app, id).await;
    assert!(last_used.is_some(), "{via:?}: the use was not recorded");

    // not a token at all
    assert_eq!(
        present(app, via, "tsr_0123456789abcdefghijABCDEFGHIJxy2HQKvj").await,
        expected(via, "invalid_token")
    );

    // revoked: refused, and the presentation counted for its owner
    let (ended, ended_secret) = support::token(app, uid, "old", "profile:read").await;
    service::revoke(&app.core, &actor, ended)
        .await
        .expect("revoke");
    assert_eq!(
        present(app, via, &ended_secret).await,
        expected(via, "token_revoked")
    );
    app.core.flush_usage(true).await;
    let (_, presented, _) = token_row(app, ended).await;
    assert_eq!(presented, 1, "{via:?}: the presentation was not counted");

    // a rotated-out secret: refused, audited with where it came in, and
    // under revoke_on_reuse the token's current secret is revoked too
    let (rotated, old_secret) = support::token(app, uid, "deploy", "profile:read").await;
    let new = service::rotate(&app.core, &actor, rotated, 0)
        .await
        .expect("rotate");
    assert_eq!(
        present(app, via, &old_secret).await,
        expected(via, "token_rotated")
    );
    let reused = audited(app, rotated, "token.reused").await;
    assert_eq!(reused[0].details["via"], via.name());
    assert_eq!(present(app, via, &new.secret).await, Answer::Ok);
    support::set_policy(app, "revoke_on_reuse", "true").await;
    assert_eq!(
        present(app, via, &old_secret).await,
        expected(via, "token_rotated")
    );
    let start = Instant::now();
    while !token_row(app, rotated).await.2 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{via:?}: revoke_on_reuse did not revoke the token"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        present(app, via, &new.secret).await,
        expected(via, "token_revoked")
    );
    support::set_policy(app, "revoke_on_reuse", "false").await;

    // a network allowlist that leaves the client out: refused and audited
    let (fenced, fenced_secret) =
        support::token_from_spec(app, uid, &spec("fenced", "profile:read", &["10.0.0.0/8"])).await;
    assert_eq!(
        present(app, via, &fenced_secret).await,
        expected(via, "ip_not_allowed")
    );
    let denied = audited(app, fenced, "token.ip_denied").await;
    assert_eq!(denied[0].details["via"], via.name());
    assert_eq!(denied[0].details["ip"], "127.0.0.1");

    // a policy that blocks the token: refused and audited
    let (full, full_secret) = support::token(app, uid, "everything", "full").await;
    assert_eq!(present(app, via, &full_secret).await, Answer::Ok);
    support::set_policy(app, "forbid_full_access", "true").await;
    assert_eq!(
        present(app, via, &full_secret).await,
        expected(via, "policy_violation")
    );
    let blocked = audited(app, full, "token.blocked").await;
    assert_eq!(blocked[0].details["policy"], "forbid_full_access");
    assert_eq!(blocked[0].details["via"], via.name());
    support::set_policy(app, "forbid_full_access", "false").await;
    assert_eq!(present(app, via, &full_secret).await, Answer::Ok);

    // a disabled account: every token of it refused
    let who = Admin::cli();
    admin::set_disabled(&app.core, &who, "pat", true)
        .await
        .expect("disable");
    assert_eq!(
        present(app, via, &secret).await,
        expected(via, "account_disabled")
    );
    admin::set_disabled(&app.core, &who, "pat", false)
        .await
        .expect("enable");
    assert_eq!(present(app, via, &secret).await, Answer::Ok);
}

async fn the_api_has_every_outcome(app: TestApp) {
    same_outcomes(&app, Via::Api).await;
}

async fn the_gateway_has_every_outcome(app: TestApp) {
    same_outcomes(&app, Via::Gateway).await;
}

async fn introspection_has_every_outcome(app: TestApp) {
    same_outcomes(&app, Via::Introspection).await;
}

/// Introspection without `client_ip`: a token with an allowlist is not
/// active (and the refusal is audited without an address); one without is,
/// and its use is recorded.
async fn introspection_without_the_clients_address(app: TestApp) {
    let (uid, _) = support::user(&app, "rita").await;
    let (open, open_secret) = support::token(&app, uid, "open", "profile:read").await;
    let (fenced, fenced_secret) =
        support::token_from_spec(&app, uid, &spec("fenced", "profile:read", &["127.0.0.0/8"]))
            .await;
    let ask = |secret: &str| introspection(&format!("token={secret}"));
    let res = app.request(ask(&open_secret)).await;
    assert_eq!(json_of(&res.body)["active"], true, "{}", res.body);
    app.core.flush_usage(true).await;
    assert!(token_row(&app, open).await.0.is_some(), "use not recorded");
    let res = app.request(ask(&fenced_secret)).await;
    assert_eq!(res.body, r#"{"active":false}"#);
    let denied = audited(&app, fenced, "token.ip_denied").await;
    assert_eq!(denied[0].details["ip"], serde_json::Value::Null);
    assert_eq!(denied[0].details["via"], "introspection");
}

on_both_backends!(
    the_api_has_every_outcome,
    the_gateway_has_every_outcome,
    introspection_has_every_outcome,
    introspection_without_the_clients_address,
);
