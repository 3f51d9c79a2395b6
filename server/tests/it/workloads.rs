//! Trusted workloads with a real OIDC issuer: a Python server over PyJWT
//! and cryptography (Debian's python3-jwt) serves discovery and a JWKS and
//! signs GitHub-Actions- and Kubernetes-shaped ID tokens; `POST
//! /oauth/token` exchanges them (RFC 8693) for minutes-long tokens that
//! work on the API, are refused for every hostile variation, used once
//! across instances, and revoked with their rule — on both stores.

use crate::support;

use app::domain::{
    admin,
    tokens::{self as service, Actor, TokenError},
    workloads::{self, Maker},
};
use app::scopes::Scopes;
use app::workloads::{RuleSpec, TrustRule};
use axum::{
    body::Body,
    http::{header, Request, StatusCode},
};
use serde_json::{json, Value};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use support::{Helper, TestApp};

/// The audience the tests' rules name (the test app's public URL).
const AUD: &str = "http://tessera.test";

fn helper() -> Option<&'static Helper> {
    static ISSUER: OnceLock<Option<Helper>> = OnceLock::new();
    ISSUER
        .get_or_init(|| {
            support::python_helper(
                "workload_support",
                "issuer.py",
                "issuer",
                "jwt, cryptography",
                "python3-jwt",
            )
        })
        .as_ref()
}

/// A fresh issuer on the helper: its URL (`None`: the helper is missing).
fn new_issuer(what: &str) -> Option<String> {
    let h = helper()?;
    Some(format!(
        "http://127.0.0.1:{}/{what}-{:08x}",
        h.port,
        rand::random::<u32>()
    ))
}

async fn issuer_call(url: &str, body: Value) -> String {
    reqwest::Client::new()
        .post(url)
        .body(body.to_string())
        .send()
        .await
        .expect("issuer")
        .text()
        .await
        .expect("issuer body")
}

async fn issuer_get(url: &str) -> Value {
    let text = reqwest::get(url)
        .await
        .expect("issuer")
        .text()
        .await
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// An ID token of `issuer` with `claims` (and `more` of the mint request).
async fn mint(issuer: &str, claims: Value, more: Value) -> String {
    let mut body = json!({ "claims": claims });
    if let (Some(b), Some(m)) = (body.as_object_mut(), more.as_object()) {
        b.extend(m.clone());
    }
    issuer_call(&format!("{issuer}/mint"), body).await
}

/// Claims as GitHub Actions documents them for a push to `git_ref` of `repo`.
fn github(repo: &str, git_ref: &str) -> Value {
    json!({
        "sub": format!("repo:{repo}:ref:{git_ref}"),
        "aud": AUD,
        "repository": repo,
        "repository_owner": repo.split('/').next().unwrap(),
        "repository_id": "74",
        "ref": git_ref,
        "ref_type": "branch",
        "environment": "production",
        "workflow": "deploy",
        "actor": "octocat",
        "run_id": "42",
        "event_name": "push",
        "job_workflow_ref": format!("{repo}/.github/workflows/deploy.yml@{git_ref}"),
    })
}

/// Claims as a Kubernetes projected service-account token carries them.
fn kubernetes(namespace: &str, account: &str) -> Value {
    json!({
        "sub": format!("system:serviceaccount:{namespace}:{account}"),
        "aud": [AUD, "https://kubernetes.default.svc"],
        "kubernetes.io": {
            "namespace": namespace,
            "serviceaccount": {"name": account, "uid": "1a2b"},
            "pod": {"name": "deployer-7d9", "uid": "3c4d"},
        },
    })
}

/// An administrator's rule for `user_id`.
async fn rule(
    app: &TestApp,
    user_id: i64,
    issuer: &str,
    conditions: &[&str],
    scopes: &str,
) -> TrustRule {
    let spec = RuleSpec {
        issuer: issuer.into(),
        audience: AUD.into(),
        conditions: conditions.iter().map(|c| c.to_string()).collect(),
        scopes: Scopes::parse(scopes).unwrap(),
        ..Default::default()
    };
    workloads::add_rule(&app.core, &Maker::Admin(None, None), user_id, &spec)
        .await
        .expect("rule")
}

/// `POST /oauth/token` on `router` with the subject token and `more` fields.
async fn exchange_on(
    router: &axum::Router,
    jwt: &str,
    more: &[(&str, &str)],
) -> (StatusCode, Value, support::Resp) {
    let mut fields = vec![
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
        ("subject_token", jwt),
    ];
    fields.extend_from_slice(more);
    let req = Request::builder()
        .method("POST")
        .uri("/oauth/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("x-forwarded-for", "203.0.113.9")
        .body(Body::from(support::encode_form(&fields)))
        .unwrap();
    let res = support::send(router, req).await;
    let v: Value = serde_json::from_str(&res.body).unwrap_or(Value::Null);
    (res.status, v, res)
}

async fn exchange(app: &TestApp, jwt: &str, more: &[(&str, &str)]) -> (StatusCode, Value) {
    let (s, v, _) = exchange_on(&app.router, jwt, more).await;
    (s, v)
}

fn code(v: &Value) -> &str {
    v["error"].as_str().unwrap_or("")
}

/// A fresh ID token of a push to main of acme/api, exchanged.
async fn main_push(app: &TestApp, iss: &str) -> (StatusCode, Value) {
    let jwt = mint(iss, github("acme/api", "refs/heads/main"), json!({})).await;
    exchange(app, &jwt, &[]).await
}

/// Asserts an exchange answered `invalid_grant`.
fn refused_grant(s: StatusCode, v: &Value) {
    assert_eq!(
        (s, code(v)),
        (StatusCode::BAD_REQUEST, "invalid_grant"),
        "{v}"
    );
}

/// Why `maker` may not add `spec` for `user_id` (the rule must be refused).
async fn add_refused(app: &TestApp, maker: &Maker, user_id: i64, spec: &RuleSpec) -> TokenError {
    workloads::add_rule(&app.core, maker, user_id, spec)
        .await
        .expect_err("the rule was added")
}

async fn minted_count(app: &TestApp) -> i64 {
    let rows: Vec<(i64,)> = app
        .rows("SELECT COUNT(*) FROM tokens WHERE workload_rule_id IS NOT NULL")
        .await;
    rows[0].0
}

async fn github_actions_jobs_exchange_their_id_token(app: TestApp) {
    let Some(iss) = new_issuer("gh") else { return };
    let (uid, _) = support::user(&app, "alice").await;
    let r = rule(
        &app,
        uid,
        &iss,
        &["repository=acme/api", "ref=refs/heads/main"],
        "code:read profile:read",
    )
    .await;
    assert_eq!(r.max_minutes, 15);
    let jwt = mint(&iss, github("acme/api", "refs/heads/main"), json!({})).await;
    let (status, v, res) = exchange_on(&app.router, &jwt, &[]).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(
        v["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert_eq!(v["scope"], "code:read profile:read");
    let expires_in = v["expires_in"].as_i64().unwrap();
    assert!((13 * 60..=15 * 60).contains(&expires_in), "{expires_in}");
    let secret = v["access_token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("tsr_"));
    // an ordinary token: it works, shows up, says where it came from
    let me = app.pat("GET", "/api/v1/me", &secret).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    let me: Value = serde_json::from_str(&me.body).unwrap();
    assert_eq!(me["username"], "alice");
    let id = me["token"]["id"].as_i64().unwrap();
    let (_, reader) = support::token(&app, uid, "reader", "tokens:read").await;
    let one = app
        .pat("GET", &format!("/api/v1/tokens/{id}"), &reader)
        .await;
    let one: Value = serde_json::from_str(&one.body).unwrap();
    assert_eq!(one["workload_rule_id"], r.id);
    assert_eq!(one["workload_subject"], "repo:acme/api:ref:refs/heads/main");
    // audited with the rule, issuer, subject and the claims matched
    let events: Vec<(String, String, String)> = app
        .rows(&format!("SELECT actor, ip, details FROM audit_events WHERE event = 'token.exchanged' AND token_id = {id}"))
        .await;
    assert_eq!(events.len(), 1);
    let (actor, ip, details) = &events[0];
    assert_eq!((actor.as_str(), ip.as_str()), ("system", "203.0.113.9"));
    let d: Value = serde_json::from_str(details).unwrap();
    assert_eq!(d["workload"]["rule"], r.id);
    assert_eq!(d["workload"]["issuer"], iss);
    assert_eq!(d["workload"]["claims"]["repository"], "acme/api");
    assert_eq!(d["workload"]["claims"]["ref"], "refs/heads/main");
    // never extended, edited or regenerated; no expiry notice
    let actor = Actor::user(uid);
    for refused in [
        service::regenerate(&app.core, &actor, id).await.map(|_| ()),
        service::rotate(&app.core, &actor, id, 1).await.map(|_| ()),
        service::update(&app.core, &actor, id, |t| Ok(app::tokens::TokenSpec::of(t)))
            .await
            .map(|_| ()),
    ] {
        assert!(
            matches!(refused, Err(TokenError::FromWorkload)),
            "{refused:?}"
        );
    }
    let patch = Request::builder()
        .method("POST")
        .uri(format!("/api/v1/tokens/{id}/regenerate"))
        .header(
            header::AUTHORIZATION,
            format!(
                "Bearer {}",
                support::token(&app, uid, "manager", "full").await.1
            ),
        )
        .body(Body::empty())
        .unwrap();
    let res = app.request(patch).await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.body);
    assert!(res.body.contains("workload_token"), "{}", res.body);
    let ending = app::domain::lifecycle::expiring(&app.core, uid, 7)
        .await
        .unwrap();
    assert!(ending.iter().all(|(t, ..)| *t != id), "{ending:?}");
    // the same ID token again, here or on another instance: refused
    let (status, v) = exchange(&app, &jwt, &[]).await;
    assert_eq!(
        (status, code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_grant"),
        "{v}"
    );
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .contains("already exchanged"),
        "{v}"
    );
    let (second, _) = app.second_instance().await;
    let fresh = mint(&iss, github("acme/api", "refs/heads/main"), json!({})).await;
    let (status, v, _) = exchange_on(&second, &fresh, &[]).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = exchange(&app, &fresh, &[]).await;
    assert_eq!(
        (status, code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_grant"),
        "{v}"
    );
    // a token without jti is remembered by its digest
    let mut claims = github("acme/api", "refs/heads/main");
    claims["jti"] = Value::Null;
    let no_jti = mint(&iss, claims, json!({})).await;
    assert_eq!(exchange(&app, &no_jti, &[]).await.0, StatusCode::OK);
    assert_eq!(
        exchange(&app, &no_jti, &[]).await.0,
        StatusCode::BAD_REQUEST
    );
}

async fn hostile_id_tokens_are_refused(app: TestApp) {
    let Some(iss) = new_issuer("hostile") else {
        return;
    };
    let Some(stranger) = new_issuer("stranger") else {
        return;
    };
    let (uid, _) = support::user(&app, "alice").await;
    rule(
        &app,
        uid,
        &iss,
        &["repository=acme/api", "ref=refs/heads/main"],
        "code:read",
    )
    .await;
    let good = github("acme/api", "refs/heads/main");
    let with = |changes: Value| {
        let mut c = good.clone();
        for (k, v) in changes.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let now = chrono::Utc::now().timestamp();
    let mut cases: Vec<(&str, String, &str)> = vec![
        ("alg none", mint(&iss, good.clone(), json!({"alg": "none"})).await, "invalid_grant"),
        ("HS256 keyed with the public key", mint(&iss, good.clone(), json!({"alg": "HS256-public"})).await, "invalid_grant"),
        ("a foreign issuer", mint(&stranger, good.clone(), json!({})).await, "invalid_grant"),
        ("a wrong audience", mint(&iss, with(json!({"aud": "https://elsewhere.example"})), json!({})).await, "invalid_grant"),
        ("expired", mint(&iss, with(json!({"iat": now - 500, "nbf": now - 500, "exp": now - 120})), json!({})).await, "invalid_grant"),
        ("not yet valid", mint(&iss, with(json!({"nbf": now + 600})), json!({})).await, "invalid_grant"),
        ("issued 20 minutes ago", mint(&iss, with(json!({"iat": now - 1200, "nbf": now - 1200})), json!({})).await, "invalid_grant"),
        ("issued in the future", mint(&iss, with(json!({"iat": now + 600})), json!({})).await, "invalid_grant"),
        ("no iat", mint(&iss, with(json!({"iat": null})), json!({})).await, "invalid_grant"),
        ("a repository by prefix", mint(&iss, with(json!({"repository": "acme/api-evil", "sub": "repo:acme/api-evil:ref:refs/heads/main"})), json!({})).await, "invalid_grant"),
        ("a branch by prefix", mint(&iss, with(json!({"ref": "refs/heads/main-x"})), json!({})).await, "invalid_grant"),
        ("a claim as a list", mint(&iss, with(json!({"repository": ["acme/api"]})), json!({})).await, "invalid_grant"),
        ("an unknown kid", mint(&iss, good.clone(), json!({"kid": "nobody"})).await, "invalid_grant"),
        ("not a JWT", "not.a.jwt".to_owned(), "invalid_grant"),
        ("empty", String::new(), "invalid_request"),
        ("1 MB", format!("{}.{}.{}", "a".repeat(20), "b".repeat(1024 * 1024), "c"), "invalid_request"),
    ];
    // a valid signature over claims whose bytes are then changed
    let real = mint(&iss, good.clone(), json!({})).await;
    let parts: Vec<&str> = real.split('.').collect();
    let forged = {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
        let mut claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["repository"] = json!("acme/api");
        claims["ref"] = json!("refs/heads/main");
        claims["run_id"] = json!("43");
        format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            parts[2]
        )
    };
    cases.push(("forged claims", forged, "invalid_grant"));
    for (what, jwt, want) in &cases {
        let (status, v) = exchange(&app, jwt, &[]).await;
        assert_eq!(
            (status, code(&v)),
            (StatusCode::BAD_REQUEST, *want),
            "{what}: {v}"
        );
        assert!(
            v["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{what}: {v}"
        );
    }
    // which rule almost matched is never said
    let (_, aud) = exchange(&app, &cases[3].1, &[]).await;
    let (_, prefix) = exchange(&app, &cases[9].1, &[]).await;
    assert_eq!(aud["error_description"], prefix["error_description"]);
    assert_eq!(minted_count(&app).await, 0, "nothing was minted");
    // an issuer no rule names is never fetched
    let fetched = issuer_get(&format!("{stranger}/fetches")).await;
    assert_eq!(fetched["fetches"], 0);
    // the request itself
    let ok = mint(&iss, good.clone(), json!({})).await;
    let form = |fields: &[(&str, &str)]| support::encode_form(fields);
    for (what, content_type, body, want) in [
        (
            "a password grant",
            "application/x-www-form-urlencoded",
            form(&[("grant_type", "password"), ("subject_token", &ok)]),
            "unsupported_grant_type",
        ),
        (
            "no grant type",
            "application/x-www-form-urlencoded",
            form(&[("subject_token", &ok)]),
            "invalid_request",
        ),
        (
            "no token type",
            "application/x-www-form-urlencoded",
            form(&[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("subject_token", &ok),
            ]),
            "invalid_request",
        ),
        (
            "a SAML token type",
            "application/x-www-form-urlencoded",
            form(&[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:saml2",
                ),
                ("subject_token", &ok),
            ]),
            "invalid_request",
        ),
        (
            "a refresh token asked for",
            "application/x-www-form-urlencoded",
            form(&[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
                ("subject_token", &ok),
                (
                    "requested_token_type",
                    "urn:ietf:params:oauth:token-type:refresh_token",
                ),
            ]),
            "invalid_request",
        ),
        (
            "a repeated parameter",
            "application/x-www-form-urlencoded",
            form(&[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
                ("subject_token", &ok),
                ("subject_token", "x"),
            ]),
            "invalid_request",
        ),
        (
            "JSON",
            "application/json",
            json!({"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange"}).to_string(),
            "invalid_request",
        ),
    ] {
        let req = Request::builder()
            .method("POST")
            .uri("/oauth/token")
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap();
        let res = app.request(req).await;
        let v: Value = serde_json::from_str(&res.body).unwrap_or(Value::Null);
        assert_eq!(
            (res.status, code(&v)),
            (StatusCode::BAD_REQUEST, want),
            "{what}: {}",
            res.body
        );
    }
    let get = app.get("/oauth/token", None).await;
    assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED);
    // after all that, the good token still works (nothing was spent)
    assert_eq!(exchange(&app, &ok, &[]).await.0, StatusCode::OK);
    // refusals of an issuer with rules are audited, sampled
    for _ in 0..5 {
        exchange(&app, &cases[10].1, &[]).await;
    }
    let refused: Vec<(String,)> = app
        .rows("SELECT details FROM audit_events WHERE event = 'token.exchange_refused'")
        .await;
    let no_rule = refused
        .iter()
        .filter(|(d,)| d.contains("no rule matched"))
        .count();
    assert_eq!(no_rule, 1, "{refused:?}");
}

async fn kubernetes_service_accounts_match_nested_claims(app: TestApp) {
    let Some(iss) = new_issuer("k8s") else { return };
    let (uid, _) = support::user(&app, "ops").await;
    rule(
        &app,
        uid,
        &iss,
        &[
            "kubernetes.io/namespace=ci",
            "kubernetes.io/serviceaccount/name=deployer",
            "sub=system:serviceaccount:ci:*",
        ],
        "packaging:write",
    )
    .await;
    let jwt = mint(&iss, kubernetes("ci", "deployer"), json!({"alg": "ES256"})).await;
    let (status, v) = exchange(
        &app,
        &jwt,
        &[(
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:id_token",
        )],
    )
    .await;
    // the repeated subject_token_type is refused: the form is sent once
    assert_eq!(
        (status, code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_request"),
        "{v}"
    );
    let req = Request::builder()
        .method("POST")
        .uri("/oauth/token")
        .header(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(Body::from(support::encode_form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:id_token",
            ),
            ("subject_token", &jwt),
        ])))
        .unwrap();
    let res = app.request(req).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    for (namespace, account) in [
        ("ci-evil", "deployer"),
        ("ci", "deployer2"),
        ("prod", "deployer"),
    ] {
        let jwt = mint(
            &iss,
            kubernetes(namespace, account),
            json!({"alg": "ES256"}),
        )
        .await;
        let (status, v) = exchange(&app, &jwt, &[]).await;
        assert_eq!(
            (status, code(&v)),
            (StatusCode::BAD_REQUEST, "invalid_grant"),
            "{namespace}/{account}: {v}"
        );
    }
}

async fn issuer_keys_rotate_and_leave(app: TestApp) {
    let Some(iss) = new_issuer("rotate") else {
        return;
    };
    let (uid, _) = support::user(&app, "alice").await;
    rule(&app, uid, &iss, &["repository=acme/api"], "code:read").await;
    let claims = github("acme/api", "refs/heads/main");
    let old_kid = issuer_get(&format!("{iss}/kids")).await["kids"][0]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        exchange(&app, &mint(&iss, claims.clone(), json!({})).await, &[])
            .await
            .0,
        StatusCode::OK
    );
    // a new key appears: tokens signed by it verify at once (unknown kid → fetched again)
    issuer_call(&format!("{iss}/rotate"), json!({})).await;
    let (s, v) = exchange(&app, &mint(&iss, claims.clone(), json!({})).await, &[]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // a token of the old key still verifies while the key is published
    let old = mint(&iss, claims.clone(), json!({"key": old_kid})).await;
    let later = mint(&iss, claims.clone(), json!({"key": old_kid})).await;
    assert_eq!(exchange(&app, &old, &[]).await.0, StatusCode::OK);
    // the old key leaves; once the cached keys are stale, its tokens are refused
    issuer_call(&format!("{iss}/drop"), json!({})).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (s, v) = exchange(&app, &later, &[]).await;
    refused_grant(s, &v);
    assert!(
        v["error_description"].as_str().unwrap().contains("key"),
        "{v}"
    );
}

async fn hanging_and_huge_issuers_are_bounded(app: TestApp) {
    let (uid, _) = support::user(&app, "alice").await;
    for mode in ["hang", "huge", "other_issuer", "redirect_away"] {
        let Some(iss) = new_issuer(mode) else { return };
        rule(&app, uid, &iss, &["repository=acme/api"], "code:read").await;
        let jwt = mint(&iss, github("acme/api", "refs/heads/main"), json!({})).await;
        issuer_call(&format!("{iss}/mode"), json!({"mode": mode})).await;
        let started = Instant::now();
        let (status, v) = exchange(&app, &jwt, &[]).await;
        let took = started.elapsed();
        assert_eq!(
            (status, code(&v)),
            (StatusCode::BAD_REQUEST, "invalid_grant"),
            "{mode}: {v}"
        );
        assert!(
            v["error_description"]
                .as_str()
                .unwrap()
                .contains("could not be fetched"),
            "{mode}: {v}"
        );
        // the fetch timeout is 2 s in tests; a 30 s hang must not be waited out
        assert!(took < Duration::from_secs(12), "{mode} took {took:?}");
        // the issuer answers normally again: the ID token was not spent
        issuer_call(&format!("{iss}/mode"), json!({"mode": "normal"})).await;
        let (status, v) = exchange(&app, &jwt, &[]).await;
        assert_eq!(status, StatusCode::OK, "{mode} after recovery: {v}");
    }
}

async fn scopes_and_resources_narrow_within_the_rule(app: TestApp) {
    let Some(iss) = new_issuer("narrow") else {
        return;
    };
    let (uid, _) = support::user(&app, "alice").await;
    let spec = RuleSpec {
        issuer: iss.clone(),
        audience: AUD.into(),
        conditions: vec!["repository=acme/*".into()],
        scopes: Scopes::parse("code:write packaging:read").unwrap(),
        resources: app::tokens::Resources::new(
            [("code".to_owned(), vec!["acme/*".to_owned()])].into(),
        ),
        max_minutes: Some(5),
        ..Default::default()
    };
    workloads::add_rule(&app.core, &Maker::Admin(None, None), uid, &spec)
        .await
        .unwrap();
    let jwt = || mint(&iss, github("acme/api", "refs/heads/main"), json!({}));
    let (s, v) = exchange(&app, &jwt().await, &[("scope", "code:read")]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["scope"], "code:read");
    assert!(v["expires_in"].as_i64().unwrap() <= 300, "{v}");
    let (s, v) = exchange(&app, &jwt().await, &[("resource", "acme/api")]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let id: Vec<(String,)> = app
        .rows("SELECT resources FROM tokens WHERE workload_rule_id IS NOT NULL ORDER BY id DESC LIMIT 1")
        .await;
    let resources: Value = serde_json::from_str(&id[0].0).unwrap();
    assert_eq!(resources["code"], json!(["acme/api"]));
    for (what, field, want) in [
        ("a wider level", "scope=code:manage", "invalid_scope"),
        ("another area", "scope=admin:read", "invalid_scope"),
        ("no such scope", "scope=nope:read", "invalid_scope"),
        (
            "another owner's resource",
            "resource=other/x",
            "invalid_target",
        ),
        (
            "an area the rule lacks",
            "scope=tokens:read",
            "invalid_scope",
        ),
    ] {
        let more = [field.split_once('=').unwrap()];
        let (s, v) = exchange(&app, &jwt().await, &more).await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::BAD_REQUEST, want),
            "{what}: {v}"
        );
    }
}

async fn removing_a_rule_revokes_what_it_minted(app: TestApp) {
    let Some(iss) = new_issuer("remove") else {
        return;
    };
    let (alice, _) = support::user(&app, "alice").await;
    let (bob_id, _) = support::user(&app, "bob").await;
    let r = rule(&app, alice, &iss, &["repository=acme/api"], "profile:read").await;
    let claims = github("acme/api", "refs/heads/main");
    let mut minted = Vec::new();
    for _ in 0..2 {
        let (s, v) = exchange(&app, &mint(&iss, claims.clone(), json!({})).await, &[]).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        minted.push(v["access_token"].as_str().unwrap().to_owned());
    }
    let (_, alice_writer) = support::token(&app, alice, "writer", "tokens:write").await;
    let (_, bob_writer) = support::token(&app, bob_id, "writer", "tokens:write").await;
    // listed for its owner only; another user's id is not found
    let (_, alice_profile) = support::token(&app, alice, "profile", "profile:read").await;
    let list = app
        .pat("GET", "/api/v1/workload-trust", &alice_profile)
        .await;
    assert_eq!(
        list.status,
        StatusCode::FORBIDDEN,
        "tokens:read is needed: {}",
        list.body
    );
    let (_, alice_reader) = support::token(&app, alice, "reader", "tokens:read").await;
    let list: Value = serde_json::from_str(
        &app.pat("GET", "/api/v1/workload-trust", &alice_reader)
            .await
            .body,
    )
    .unwrap();
    assert_eq!(list["rules"][0]["id"], r.id);
    assert_eq!(list["rules"][0]["active_tokens"], 2);
    let (_, bob_reader) = support::token(&app, bob_id, "reader", "tokens:read").await;
    let list: Value = serde_json::from_str(
        &app.pat("GET", "/api/v1/workload-trust", &bob_reader)
            .await
            .body,
    )
    .unwrap();
    assert_eq!(list["rules"], json!([]));
    let path = format!("/api/v1/workload-trust/{}", r.id);
    let res = app.pat("DELETE", &path, &bob_writer).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.body);
    assert_eq!(
        app.pat("GET", "/api/v1/me", &minted[0]).await.status,
        StatusCode::OK
    );
    let res = app.pat("DELETE", &path, &alice_writer).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let v: Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(v["revoked"], 2);
    for secret in &minted {
        assert_eq!(
            app.pat("GET", "/api/v1/me", secret).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let reasons: Vec<(Option<String>,)> = app
        .rows(&format!(
            "SELECT revoked_reason FROM tokens WHERE workload_rule_id = {}",
            r.id
        ))
        .await;
    assert!(
        reasons
            .iter()
            .all(|(r,)| r.as_deref() == Some(workloads::RULE_REMOVED)),
        "{reasons:?}"
    );
    let (s, v) = exchange(&app, &mint(&iss, claims.clone(), json!({})).await, &[]).await;
    refused_grant(s, &v);
    assert_eq!(
        app.pat("DELETE", &path, &alice_writer).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn rules_stay_within_what_their_maker_may_give(app: TestApp) {
    let Some(iss) = new_issuer("limits") else {
        return;
    };
    let (alice, _) = support::user(&app, "alice").await;
    let (bob, _) = support::user(&app, "bob").await;
    let spec = |scopes: &str, conditions: &[&str]| RuleSpec {
        issuer: iss.clone(),
        conditions: conditions.iter().map(|c| c.to_string()).collect(),
        scopes: Scopes::parse(scopes).unwrap(),
        ..Default::default()
    };
    let good = spec("code:read", &["repository=acme/api"]);
    let owner = |sudo| Maker::Owner(Actor::in_session(alice, sudo));
    // a person: only for themselves, only in sudo mode
    let e = add_refused(&app, &owner(false), alice, &good).await;
    assert!(matches!(e, TokenError::SudoRequired(_)), "{e:?}");
    let e = add_refused(&app, &owner(true), bob, &good).await;
    assert!(e.fields().contains_key("user"), "{e:?}");
    let made = workloads::add_rule(&app.core, &owner(true), alice, &good)
        .await
        .unwrap();
    assert_eq!(
        made.audience, AUD,
        "the audience defaults to the public URL"
    );
    assert_eq!(made.created_by, Some(alice));
    // the administrators' scopes only for an administrator's account
    let e = add_refused(
        &app,
        &Maker::Admin(None, None),
        alice,
        &spec("admin:read", &["sub=x"]),
    )
    .await;
    assert!(e.fields().contains_key("scopes"), "{e:?}");
    // a rule that would trust every workload of the issuer
    let e = add_refused(&app, &owner(true), alice, &spec("code:read", &["sub=*"])).await;
    assert!(e.fields().contains_key("conditions"), "{e:?}");
    // the policies of any token, and the issuer policy
    support::set_policy(&app, "forbid_full_access", "true").await;
    let e = add_refused(&app, &owner(true), alice, &spec("full", &["sub=x"])).await;
    assert!(e.fields().contains_key("scopes"), "{e:?}");
    support::set_policy(
        &app,
        "allowed_workload_issuers",
        "https://token.actions.githubusercontent.com",
    )
    .await;
    let e = add_refused(&app, &owner(true), alice, &good).await;
    assert_eq!(e.code(), "policy_violation", "{e:?}");
    // and a rule made before the policy no longer exchanges
    app.core.reload_policies().await;
    let (s, v) = main_push(&app, &iss).await;
    refused_grant(s, &v);
    support::set_policy(&app, "allowed_workload_issuers", &iss).await;
    app.core.reload_policies().await;
    let (s, v) = main_push(&app, &iss).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // a disabled account's rules mint nothing
    admin::set_disabled(&app.core, &admin::Admin::cli(), "alice", true)
        .await
        .unwrap();
    let (s, v) = main_push(&app, &iss).await;
    refused_grant(s, &v);
}

async fn service_accounts_have_rules_and_tokens_but_no_sign_in(app: TestApp) {
    let Some(iss) = new_issuer("svc") else { return };
    let id = workloads::create_service_account(&app.core, None, "deploy-bot")
        .await
        .unwrap();
    let again = workloads::create_service_account(&app.core, None, "Deploy-Bot").await;
    assert!(again.is_err(), "names are unique");
    for password in ["!", "", support::PW] {
        let res = app.sign_in("deploy-bot", password).await;
        assert!(
            res.session_cookie().is_none(),
            "signed in as a service account with {password:?}"
        );
    }
    let rows: Vec<(bool, bool)> = app
        .rows(&format!(
            "SELECT is_service, is_admin FROM users WHERE id = {id}"
        ))
        .await;
    assert_eq!(rows[0], (true, false));
    rule(
        &app,
        id,
        &iss,
        &["repository=acme/api", "environment=production"],
        "packaging:write",
    )
    .await;
    let (s, v) = main_push(&app, &iss).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let owner: Vec<(i64,)> = app
        .rows("SELECT user_id FROM tokens WHERE workload_rule_id IS NOT NULL")
        .await;
    assert_eq!(owner, vec![(id,)]);
    let audit: Vec<(String,)> = app
        .rows(&format!(
            "SELECT event FROM audit_events WHERE user_id = {id} ORDER BY id"
        ))
        .await;
    let events: Vec<&str> = audit.iter().map(|(e,)| e.as_str()).collect();
    assert_eq!(
        events,
        [
            "admin.service_account_created",
            "workload.rule_created",
            "token.exchanged"
        ]
    );
}

/// The page, without JavaScript: plain forms add a rule (the password
/// asked for when sudo mode is over), list what it minted, remove it.
async fn the_trusted_workloads_page_works_with_plain_forms(app: TestApp) {
    let Some(iss) = new_issuer("page") else {
        return;
    };
    let (uid, cookie) = support::user(&app, "alice").await;
    let (_, bob_cookie) = support::user(&app, "bob").await;
    let page = app.get("/profile/security/workloads", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("Trusted workloads") && page.body.contains("No trusted workloads yet"),
        "{}",
        page.body
    );
    let with_resources =
        |password: &'static str, conditions: &'static str, resources: &'static str| {
            let iss = iss.clone();
            move || {
                vec![
                    ("issuer".to_owned(), iss.clone()),
                    ("audience".to_owned(), String::new()),
                    ("conditions".to_owned(), conditions.to_owned()),
                    ("scopes".to_owned(), "profile:read code:read".to_owned()),
                    ("resources".to_owned(), resources.to_owned()),
                    ("allowed_networks".to_owned(), String::new()),
                    ("max_minutes".to_owned(), "10".to_owned()),
                    ("description".to_owned(), "deploys \u{1f680}".to_owned()),
                    ("sudo_password".to_owned(), password.to_owned()),
                ]
            }
        };
    let form = |password: &'static str, conditions: &'static str| {
        with_resources(password, conditions, "code=acme/*\r\n")
    };
    let post = |fields: Vec<(String, String)>, cookie: String| {
        let app = &app;
        async move {
            let refs: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            app.post_form("/profile/security/workloads", &refs, Some(&cookie))
                .await
        }
    };
    // sudo mode is over (0 minutes): the password is asked for, what was typed is kept
    let asked = post(
        form("", "repository=acme/api\nref=refs/heads/main")(),
        cookie.clone(),
    )
    .await;
    assert_eq!(asked.status, StatusCode::FORBIDDEN, "{}", asked.body);
    assert!(
        asked
            .body
            .contains("Confirm your password to trust a workload"),
        "{}",
        asked.body
    );
    assert!(
        asked.body.contains("repository=acme/api"),
        "typed conditions kept"
    );
    let bad = post(form(support::PW, "sub=*")(), cookie.clone()).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(bad.body.contains("must name something"), "{}", bad.body);
    for (resources, says) in [
        ("code acme/*", "AREA=PATTERN"),
        ("tokens=acme/*", "own API"),
        ("wiki=acme/*", "wiki"),
        ("c\u{f6}de=acme/*", "Unknown scope area"),
    ] {
        let bad = post(
            with_resources(support::PW, "repository=acme/api", resources)(),
            cookie.clone(),
        )
        .await;
        assert_eq!(
            bad.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{resources}: {}",
            bad.body
        );
        assert!(
            bad.body.contains("field-resources-error") && bad.body.contains(says),
            "{resources}: {}",
            bad.body
        );
        assert!(
            bad.body.contains("repository=acme/api"),
            "typed conditions kept"
        );
    }
    assert!(workloads::rules(&app.core, uid).await.unwrap().is_empty());
    let added = post(
        form(support::PW, "repository=acme/api\nref=refs/heads/main")(),
        cookie.clone(),
    )
    .await;
    assert_eq!(
        added.location(),
        Some("/profile/security/workloads?done=added"),
        "{}",
        added.body
    );
    let rules = workloads::rules(&app.core, uid).await.unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].audience, AUD);
    assert_eq!(rules[0].max_minutes, 10);
    assert_eq!(
        serde_json::to_value(&rules[0].resources).unwrap(),
        json!({"code": ["acme/*"]})
    );
    let (s, v) = main_push(&app, &iss).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let secret = v["access_token"].as_str().unwrap().to_owned();
    let page = app.get("/profile/security/workloads", Some(&cookie)).await;
    let rule_id = rules[0].id;
    assert!(
        page.body
            .contains(&format!("Tokens minted by rule {rule_id}")),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("repo:acme/api:ref:refs/heads/main"),
        "{}",
        page.body
    );
    assert!(page.body.contains("code: acme/*"), "{}", page.body);
    // the Tokens page says where it came from, and offers no change to it
    let me: Value =
        serde_json::from_str(&app.pat("GET", "/api/v1/me", &secret).await.body).unwrap();
    let minted_id = me["token"]["id"].as_i64().unwrap();
    let tokens = app.get("/profile/security/tokens", Some(&cookie)).await;
    assert!(
        tokens
            .body
            .contains(&format!("data-workload-rule=\"{rule_id}\"")),
        "{}",
        tokens.body
    );
    assert!(tokens
        .body
        .contains(&format!("data-token-id=\"{minted_id}\"")));
    for action in ["edit", "regenerate", "derive", "narrow"] {
        assert!(
            !tokens
                .body
                .contains(&format!("/profile/security/tokens/{minted_id}/{action}\"")),
            "{action} offered for a minted token"
        );
    }
    assert!(tokens
        .body
        .contains(&format!("/profile/security/tokens/{minted_id}/revoke\"")));
    // and the administrators' inventory says so too
    let (_, root) = support::user(&app, "root").await;
    admin::set_admin(&app.core, &admin::Admin::cli(), "root", true)
        .await
        .unwrap();
    let inventory = app.get("/admin/tokens?user=alice", Some(&root)).await;
    assert!(
        inventory
            .body
            .contains(&format!("data-workload-rule=\"{rule_id}\"")),
        "{}",
        inventory.body
    );
    // another user cannot remove it (not found), the owner can
    let path = format!("/profile/security/workloads/{rule_id}/remove");
    let res = app.post_form(&path, &[], Some(&bob_cookie)).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.pat("GET", "/api/v1/me", &secret).await.status,
        StatusCode::OK
    );
    let res = app.post_form(&path, &[], Some(&cookie)).await;
    assert_eq!(
        res.location(),
        Some("/profile/security/workloads?done=removed"),
        "{}",
        res.body
    );
    assert_eq!(
        app.pat("GET", "/api/v1/me", &secret).await.status,
        StatusCode::UNAUTHORIZED
    );
    let res = app
        .post_form(
            "/profile/security/workloads/nope/remove",
            &[],
            Some(&cookie),
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
}

/// `method path` with `token` and a JSON body.
async fn pat_json(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    body: Value,
) -> support::Resp {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    app.request(req).await
}

/// A minted token ends with its rule and within minutes: it may not make
/// tokens (created or derived) that would outlive either.
async fn minted_tokens_make_no_tokens(app: TestApp) {
    let Some(iss) = new_issuer("maker") else {
        return;
    };
    let (alice, _) = support::user(&app, "alice").await;
    rule(
        &app,
        alice,
        &iss,
        &["repository=acme/api"],
        "tokens:manage profile:read",
    )
    .await;
    let jwt = mint(&iss, github("acme/api", "refs/heads/main"), json!({})).await;
    let (s, v) = exchange(&app, &jwt, &[]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let minted = v["access_token"].as_str().unwrap().to_owned();
    let me: Value =
        serde_json::from_str(&app.pat("GET", "/api/v1/me", &minted).await.body).unwrap();
    let id = me["token"]["id"].as_i64().unwrap();
    let made = pat_json(
        &app,
        "POST",
        "/api/v1/tokens",
        &minted,
        json!({"name": "outliver", "scopes": "profile:read", "expires_in_days": 1}),
    )
    .await;
    assert_eq!(made.status, StatusCode::CONFLICT, "{}", made.body);
    assert!(made.body.contains("workload_token"), "{}", made.body);
    let derived = pat_json(
        &app,
        "POST",
        &format!("/api/v1/tokens/{id}/derive"),
        &minted,
        json!({}),
    )
    .await;
    assert_eq!(derived.status, StatusCode::CONFLICT, "{}", derived.body);
    // nor by its owner on the page's behalf
    let by_owner = service::derive(&app.core, &Actor::user(alice), id, &Default::default()).await;
    assert!(
        matches!(by_owner, Err(TokenError::FromWorkload)),
        "{by_owner:?}"
    );
    let all: Vec<(i64,)> = app
        .rows(&format!(
            "SELECT COUNT(*) FROM tokens WHERE user_id = {alice}"
        ))
        .await;
    assert_eq!(all[0].0, 1, "only the minted token exists");
    // an ordinary token of the same account still makes tokens
    let (_, writer) = support::token(&app, alice, "writer", "tokens:manage profile:read").await;
    let made = pat_json(
        &app,
        "POST",
        "/api/v1/tokens",
        &writer,
        json!({"name": "ordinary", "scopes": "profile:read", "expires_in_days": 1}),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
}

/// Anyone can write a rule naming someone else's repository: when rules of
/// two accounts accept a job, it must name the account (`audience`), never
/// get the oldest rule's token silently; many rules of one account hide
/// no other's.
async fn rules_of_two_accounts_need_the_account_named(app: TestApp) {
    let Some(iss) = new_issuer("squat") else {
        return;
    };
    let (victim, _) = support::user(&app, "victim").await;
    let (squatter, _) = support::user(&app, "squatter").await;
    // the squatter's rules come first, and fill the issuer with 100
    for n in 0..99 {
        rule(
            &app,
            squatter,
            &iss,
            &[&format!("repository=other/r{n}")],
            "profile:read",
        )
        .await;
    }
    let mine = rule(
        &app,
        victim,
        &iss,
        &["repository=victim/api"],
        "profile:read",
    )
    .await;
    let jwt = || mint(&iss, github("victim/api", "refs/heads/main"), json!({}));
    let (s, v) = exchange(&app, &jwt().await, &[]).await;
    assert_eq!(s, StatusCode::OK, "101st rule of the issuer: {v}");
    let squat = rule(
        &app,
        squatter,
        &iss,
        &["repository=victim/*"],
        "profile:read",
    )
    .await;
    assert!(squat.id > mine.id);
    let (s, v) = exchange(&app, &jwt().await, &[]).await;
    refused_grant(s, &v);
    assert!(
        v["error_description"]
            .as_str()
            .unwrap()
            .contains("audience="),
        "{v}"
    );
    for (account, asked) in [
        ("victim", "victim"),
        ("squatter", "squatter"),
        ("victim", "VICTIM"),
    ] {
        let (s, v) = exchange(&app, &jwt().await, &[("audience", asked)]).await;
        assert_eq!(s, StatusCode::OK, "{account}: {v}");
        let me: Value = serde_json::from_str(
            &app.pat("GET", "/api/v1/me", v["access_token"].as_str().unwrap())
                .await
                .body,
        )
        .unwrap();
        assert_eq!(me["username"], account);
    }
    // an account whose rules do not match gets nothing, however it is named
    let huge = "v".repeat(10_000);
    for name in ["nobody", "v\u{ef}ctim", " ", &huge] {
        // (blank names no account: the two accounts' ambiguity stands)
        let (s, v) = exchange(&app, &jwt().await, &[("audience", name)]).await;
        refused_grant(s, &v);
    }
    // named twice: the request itself is refused
    let (s, v) = exchange(
        &app,
        &jwt().await,
        &[("audience", "victim"), ("audience", "squatter")],
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_request"),
        "{v}"
    );
    // within one account, each matching rule is tried: the narrower rule
    // first refuses a scope the wider one gives
    let (carol, _) = support::user(&app, "carol").await;
    let Some(iss2) = new_issuer("two-rules") else {
        return;
    };
    rule(&app, carol, &iss2, &["repository=carol/*"], "profile:read").await;
    rule(&app, carol, &iss2, &["repository=carol/api"], "tokens:read").await;
    let carol_jwt = mint(&iss2, github("carol/api", "refs/heads/main"), json!({})).await;
    let (s, v) = exchange(&app, &carol_jwt, &[("scope", "tokens:read")]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["scope"], "tokens:read");
}

/// The real `tessera admin` binary: a service account, a rule for it with
/// every flag, the listing, bad flags as one sentence, and removal.
async fn the_admin_cli_trusts_workloads_for_service_accounts(app: TestApp) {
    let Some(iss) = new_issuer("cli") else { return };
    let insecure = [("TESSERA_WORKLOAD_ALLOW_INSECURE_ISSUERS", "true")];
    let cli = |args: Vec<String>| {
        let app = &app;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            crate::governance::cli_with_env(app, &insecure, &args, None).await
        }
    };
    let strings = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let (ok, out, err) = cli(strings(&["create-service-account", "deploy-bot", "--json"])).await;
    assert!(ok, "{err}");
    let bot: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(bot["username"], "deploy-bot");
    assert_eq!(bot["is_service"], true);
    // never an administrator: its rules would hand out administrators' scopes
    let (ok, _, err) = cli(strings(&["grant-admin", "deploy-bot"])).await;
    assert!(!ok && err.contains("service account"), "{err}");
    let (ok, out, _) = cli(strings(&["users", "--json"])).await;
    assert!(ok);
    let users: Value = serde_json::from_str(&out).unwrap();
    let listed = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "deploy-bot");
    assert_eq!(
        listed.map(|u| (u["is_service"].clone(), u["is_admin"].clone())),
        Some((json!(true), json!(false)))
    );
    let add = |extra: &[&str]| {
        let mut args = strings(&[
            "workload-trust",
            "add",
            "--user",
            "deploy-bot",
            "--issuer",
            &iss,
            "--audience",
            AUD,
            "--claim",
            "repository=acme/api",
            "--claim",
            "ref=refs/heads/main",
            "--json",
        ]);
        args.extend(strings(extra));
        args
    };
    for (bad, says) in [
        (vec!["--scopes", "code:read", "--max-minutes", "61"], "60"),
        (vec!["--scopes", "code:nope"], "code"),
        (
            vec!["--scopes", "code:read", "--resources", "code acme"],
            "AREA=PATTERN",
        ),
        (vec!["--scopes", "code:read", "--networks", "300.1.1.1"], ""),
    ] {
        let (ok, out, err) = cli(add(&bad)).await;
        assert!(!ok, "{bad:?} was taken: {out}");
        assert!(
            err.contains(says) && err.lines().count() <= 2,
            "{bad:?}: {err}"
        );
    }
    let (ok, out, err) = cli(add(&[
        "--scopes",
        "code:read",
        "--resources",
        "code=acme/*",
        "--networks",
        "203.0.113.0/24",
        "--max-minutes",
        "10",
    ]))
    .await;
    assert!(ok, "{err}");
    let made: Value = serde_json::from_str(&out).unwrap();
    let rule = &made[0];
    assert_eq!(rule["username"], "deploy-bot");
    assert_eq!(rule["max_minutes"], 10);
    assert_eq!(rule["resources"], json!({"code": ["acme/*"]}));
    assert_eq!(rule["allowed_networks"], json!(["203.0.113.0/24"]));
    let id = rule["id"].as_i64().unwrap();
    // the job (from the allowed network) acts as the service account
    let (s, v) = main_push(&app, &iss).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (ok, out, _) = cli(strings(&[
        "workload-trust",
        "list",
        "--user",
        "deploy-bot",
        "--json",
    ]))
    .await;
    assert!(ok);
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["active_tokens"], 1);
    let (ok, out, _) = cli(strings(&["workload-trust", "list"])).await;
    assert!(
        ok && out.contains("deploy-bot") && out.contains("repository=acme/api"),
        "{out}"
    );
    let (ok, out, err) = cli(strings(&[
        "workload-trust",
        "remove",
        &id.to_string(),
        "--json",
    ]))
    .await;
    assert!(ok, "{err}");
    let removed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(removed, json!({"removed": id, "revoked": 1}));
    let (ok, _, err) = cli(strings(&["workload-trust", "remove", &id.to_string()])).await;
    assert!(!ok && !err.is_empty());
}

on_both_backends!(
    the_trusted_workloads_page_works_with_plain_forms with support::Options { sudo_window: Duration::ZERO, ..Default::default() },
    github_actions_jobs_exchange_their_id_token,
    minted_tokens_make_no_tokens,
    the_admin_cli_trusts_workloads_for_service_accounts,
    rules_of_two_accounts_need_the_account_named,
    hostile_id_tokens_are_refused,
    kubernetes_service_accounts_match_nested_claims,
    issuer_keys_rotate_and_leave,
    hanging_and_huge_issuers_are_bounded,
    scopes_and_resources_narrow_within_the_rule,
    removing_a_rule_revokes_what_it_minted,
    rules_stay_within_what_their_maker_may_give,
    service_accounts_have_rules_and_tokens_but_no_sign_in,
);
