//! Single sign-on through a real OpenID Provider: panva's `oidc-provider`
//! (OpenID Certified, from npm; `scripts/idp/provider.mjs`) on a loopback
//! port, with its login page driven as a browser would; and the hostile
//! provider of `workload_support/issuer.py` (PyJWT) for the ID tokens no
//! honest provider sends — on both stores.

use crate::support::{self, Options, Resp, TestApp};
use app::domain::sso::SsoConfig;
use axum::{
    body::Body,
    http::{header, Request, StatusCode},
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const CLIENT: &str = "tessera-test";
const SECRET: &str = "tessera-test-client-secret-0123456789";
const CALLBACK: &str = "http://tessera.test/auth/oidc/callback";
const ADMINS: &str = "tessera-admins";

/// The provider's people: IdP login → claims.
fn people() -> Value {
    json!({
        "alice": { "preferred_username": "alice", "email": "alice@example.com", "groups": ["staff"] },
        "bob": { "preferred_username": "bob" },
        "carol": { "preferred_username": "carol", "groups": ["staff", ADMINS] },
        "dave": { "email": "dave@example.com" },
        "long": { "preferred_username": "x".repeat(10_000) },
        "jose": { "preferred_username": "José" },
    })
}

/// A running `oidc-provider`; killed when dropped.
struct Idp {
    port: u16,
    child: std::process::Child,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn idp_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/idp")
}

/// Starts the provider on `port` signing with a fresh key named `kid`, or
/// `None` (outside CI) when its npm packages are not installed.
fn start_idp(port: u16, kid: &str) -> Option<Idp> {
    use std::process::{Command, Stdio};
    if !idp_dir().join("node_modules/oidc-provider").exists() {
        assert!(
            !support::in_ci(),
            "the test identity provider is required in CI (scripts/setup-tools.sh idp)"
        );
        eprintln!("skipping: no scripts/idp/node_modules (make setup)");
        return None;
    }
    let config = json!({
        "port": port,
        "kid": kid,
        "exit_with_stdin": true,
        "clients": [{
            "client_id": CLIENT,
            "client_secret": SECRET,
            "redirect_uris": [CALLBACK],
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
        }],
        "users": people(),
    });
    let mut child = Command::new("node")
        .arg(idp_dir().join("provider.mjs"))
        .arg(config.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start node");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "ready", "the identity provider did not start");
    Some(Idp { port, child })
}

fn sso_config(issuer: &str) -> SsoConfig {
    SsoConfig {
        issuer: issuer.to_owned(),
        client_id: CLIENT.into(),
        client_secret: SECRET.to_owned().into(),
        label: "Sign in with Acme".into(),
        username_claim: "preferred_username".into(),
        admin_group: Some(ADMINS.into()),
    }
}

/// Options for a test app whose provider is the real one, on a port
/// chosen now (the test starts it there: [`provider`]).
fn real() -> Options {
    let port = support::free_port();
    Options {
        sso: Some(sso_config(&format!("http://127.0.0.1:{port}"))),
        ..Default::default()
    }
}

/// The real provider on the port of `app`'s issuer.
fn provider(app: &TestApp, kid: &str) -> Option<Idp> {
    let issuer = &app.core.config.sso.as_ref().unwrap().issuer;
    let port = issuer.rsplit(':').next().unwrap().parse().unwrap();
    start_idp(port, kid)
}

/// A browser: its cookies at Tessera and at the provider.
#[derive(Default)]
struct Browser {
    tessera: BTreeMap<String, String>,
    idp: BTreeMap<String, String>,
}

fn keep(jar: &mut BTreeMap<String, String>, headers: &axum::http::HeaderMap) {
    for v in headers.get_all(header::SET_COOKIE) {
        let Ok(v) = v.to_str() else { continue };
        let pair = v.split(';').next().unwrap_or_default();
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let expired =
            v.to_ascii_lowercase().contains("max-age=0") || v.contains("1970") || value.is_empty();
        if expired {
            jar.remove(name);
        } else {
            jar.insert(name.to_owned(), value.to_owned());
        }
    }
}

fn cookie_header(jar: &BTreeMap<String, String>) -> String {
    jar.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Browser {
    async fn tessera(&mut self, app: &TestApp, path: &str) -> Resp {
        let path = path.strip_prefix("http://tessera.test").unwrap_or(path);
        let mut b = Request::builder()
            .uri(path)
            .header(header::ACCEPT, "text/html");
        if !self.tessera.is_empty() {
            b = b.header(header::COOKIE, cookie_header(&self.tessera));
        }
        let res = app.request(b.body(Body::empty()).unwrap()).await;
        keep(&mut self.tessera, &res.headers);
        res
    }

    fn session(&self) -> Option<&str> {
        self.tessera.get("tessera_session").map(String::as_str)
    }

    /// One request to the provider; (status, absolute Location, body).
    async fn idp(&mut self, url: &str, form: Option<&str>) -> (u16, String, String) {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut req = match form {
            Some(f) => http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(f.to_owned()),
            None => http.get(url),
        };
        if !self.idp.is_empty() {
            req = req.header("cookie", cookie_header(&self.idp));
        }
        let res = req.send().await.expect("the provider answers");
        let mut headers = axum::http::HeaderMap::new();
        for (k, v) in res.headers() {
            if let (Ok(k), Ok(v)) = (
                axum::http::HeaderName::from_bytes(k.as_str().as_bytes()),
                axum::http::HeaderValue::from_bytes(v.as_bytes()),
            ) {
                headers.append(k, v);
            }
        }
        keep(&mut self.idp, &headers);
        let status = res.status().as_u16();
        let location = res
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(|l| res.url().join(l).map(|u| u.to_string()).unwrap_or_default())
            .unwrap_or_default();
        (status, location, res.text().await.unwrap_or_default())
    }

    /// Starts a sign-in at Tessera: the provider's authorization URL.
    async fn start(&mut self, app: &TestApp) -> String {
        let res = self
            .tessera(app, "/auth/oidc/start?next=/profile/security/tokens")
            .await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
        let cookie = res.set_cookie().unwrap_or_default().to_owned();
        assert!(cookie.starts_with("tessera_sso="), "{cookie}");
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        res.location().unwrap().to_owned()
    }

    /// Through the provider's login page as `login`: the callback URL it
    /// sends the browser back to (not followed).
    async fn through_provider(&mut self, auth_url: &str, login: &str) -> String {
        let (status, interaction, _) = self.idp(auth_url, None).await;
        assert!(status == 302 || status == 303, "authorize: {status}");
        if interaction.starts_with(CALLBACK) {
            // the provider knows this browser already: straight back
            return interaction;
        }
        let (status, _, page) = self.idp(&interaction, None).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("IdP username"), "{page}");
        let form = support::encode_form(&[("login", login)]);
        let (status, resume, body) = self.idp(&format!("{interaction}/login"), Some(&form)).await;
        assert_eq!(status, 303, "login: {body}");
        let (status, back, body) = self.idp(&resume, None).await;
        assert!(status == 302 || status == 303, "resume: {status} {body}");
        assert!(back.starts_with(CALLBACK), "{back}");
        back
    }

    /// A whole sign-in as `login`: Tessera's answer to the callback.
    async fn sign_in(&mut self, app: &TestApp, login: &str) -> Resp {
        let auth = self.start(app).await;
        let back = self.through_provider(&auth, login).await;
        self.tessera(app, &back).await
    }
}

fn query_of(url: &str, key: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn with_query(url: &str, key: &str, value: &str) -> String {
    let mut u = reqwest::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == key {
                value.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    u.to_string()
}

async fn signed_in_as(app: &TestApp, b: &Browser) -> String {
    let res = app.get("/profile/security/tokens", b.session()).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    res.body
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.rows::<(i64,)>(sql).await[0].0
}

/// The codes of the refused sign-ins in the audit log, oldest first.
async fn refusals(app: &TestApp) -> Vec<String> {
    let rows: Vec<(String,)> = app
        .rows("SELECT details FROM audit_events WHERE event = 'sso.refused' ORDER BY id")
        .await;
    rows.iter()
        .map(|(d,)| {
            serde_json::from_str::<Value>(d).unwrap()["code"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

async fn first_sign_in_makes_the_account_and_later_ones_find_it(app: TestApp) {
    let Some(_idp) = provider(&app, "key-1") else {
        return;
    };
    let mut b = Browser::default();
    let auth = b.start(&app).await;
    // PKCE S256, state and nonce on the way out; our redirect URI
    for key in ["state", "nonce", "code_challenge"] {
        assert!(
            query_of(&auth, key).is_some_and(|v| v.len() >= 16),
            "{key} in {auth}"
        );
    }
    assert_eq!(
        query_of(&auth, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(query_of(&auth, "redirect_uri").as_deref(), Some(CALLBACK));
    assert!(query_of(&auth, "scope").unwrap().contains("groups"));
    let back = b.through_provider(&auth, "alice").await;
    let res = b.tessera(&app, &back).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.location(), Some("/profile/security/tokens"));
    assert!(b.session().is_some() && !b.tessera.contains_key("tessera_sso"));
    assert!(signed_in_as(&app, &b).await.contains("alice"));

    // one account, keyed by (issuer, subject), with no password
    let issuer = app.core.config.sso.as_ref().unwrap().issuer.clone();
    let rows: Vec<(String, String, String, String)> = app
        .rows("SELECT i.issuer, i.subject, u.username, u.password_hash FROM identities i JOIN users u ON u.id = i.user_id")
        .await;
    assert_eq!(
        rows,
        vec![(issuer, "alice".into(), "alice".into(), "!".into())]
    );
    let made: Vec<(String,)> = app
        .rows("SELECT details FROM audit_events WHERE event = 'account.created'")
        .await;
    assert!(made[0].0.contains("\"via\":\"sso\""), "{made:?}");
    let signed: Vec<(String,)> = app
        .rows("SELECT details FROM audit_events WHERE event = 'session.signed_in'")
        .await;
    assert!(signed[0].0.contains("\"method\":\"sso\""), "{signed:?}");

    // the second sign-in finds the same account; the provider remembers
    // the browser, so no login page this time
    let mut again = Browser::default();
    assert_eq!(
        again.sign_in(&app, "alice").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM identities WHERE last_sign_in_at IS NOT NULL"
        )
        .await,
        1
    );
    // no password signs in as the account
    for password in ["!", "", "anything at all 123"] {
        let res = app.sign_in("alice", password).await;
        assert!(res.status.is_client_error(), "{password:?}");
        assert!(res.session_cookie().is_none());
    }
    // a token made in the SSO session works on the API
    let uid = app.rows::<(i64,)>("SELECT id FROM users").await[0].0;
    let (_, secret) = support::token(&app, uid, "from sso", "profile:read").await;
    assert_eq!(
        app.pat("GET", "/api/v1/me", &secret).await.status,
        StatusCode::OK
    );
    // the sign-in page offers the provider's button, with the password form
    let page = Browser::default()
        .tessera(&app, "/signin?next=/profile/security/tokens")
        .await;
    assert!(
        page.body
            .contains("href=\"/auth/oidc/start?next=/profile/security/tokens\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("Sign in with Acme"));
    assert!(page.body.contains("name=\"password\"") && !page.body.contains("break-glass"));

    // an administrator sees how alice signs in, and unlinks her on the page
    let root = app.sign_up("root", "correct horse battery staple").await;
    app::domain::admin::set_admin(&app.core, &app::domain::admin::Admin::cli(), "root", true)
        .await
        .unwrap();
    let listed = app.get("/admin/users", Some(&root)).await;
    assert!(
        listed.body.contains("class=\"badge\">Single sign-on"),
        "{}",
        listed.body
    );
    assert!(listed
        .body
        .contains("aria-label=\"Unlink single sign-on of alice\""));
    let res = app
        .post_form(
            "/admin/users/action",
            &[("action", "unlink:alice")],
            Some(&root),
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert!(res.location().unwrap().ends_with("done=unlink"));
    let rows = app::domain::admin::users(&app.core.db, "alice")
        .await
        .unwrap();
    assert_eq!(
        (rows[0].identities, rows[0].disabled_at.is_some()),
        (0, true)
    );
    assert_eq!(
        app.pat("GET", "/api/v1/me", &secret).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn a_local_account_is_never_linked_by_name(app: TestApp) {
    let Some(_idp) = provider(&app, "key-1") else {
        return;
    };
    let issuer = app.core.config.sso.as_ref().unwrap().issuer.clone();
    let cookie = app.sign_up("bob", "correct horse battery staple").await;
    let bob_id = app
        .rows::<(i64,)>("SELECT id FROM users WHERE username = 'bob'")
        .await[0]
        .0;
    let (_, bob_token) = support::token(&app, bob_id, "bob's", "profile:read").await;

    let mut b = Browser::default();
    let res = b.sign_in(&app, "bob").await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.body);
    assert!(
        res.body.contains("already exists on this Tessera"),
        "{}",
        res.body
    );
    assert!(
        !res.body.contains("link-identity"),
        "no command to talk a helpdesk into"
    );
    let refused: Vec<(String,)> = app
        .rows("SELECT details FROM audit_events WHERE event = 'sso.refused'")
        .await;
    assert!(
        refused[0].0.contains("\"code\":\"name_taken\""),
        "{refused:?}"
    );
    assert!(refused[0].0.contains("\"subject\":\"bob\""), "{refused:?}");
    assert!(b.session().is_none());
    assert_eq!(count(&app, "SELECT COUNT(*) FROM identities").await, 0);

    // an administrator links them (the real binary)
    let cli = |args: Vec<String>| {
        let app = &app;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            crate::governance::cli_with_env(app, &[], &args, None).await
        }
    };
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let (ok, out, err) = cli(s(&[
        "link-identity",
        "bob",
        "--subject",
        "bob",
        "--issuer",
        &issuer,
    ]))
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("bob") && out.contains(&issuer), "{out}");
    // hostile links: a taken subject, an unknown user, a control
    // character, an issuer that is no https URL
    for (user, subject, iss, why) in [
        ("bob", "bob", issuer.as_str(), "already linked to bob"),
        ("nobody", "x", issuer.as_str(), "There is no user"),
        ("bob", "a\u{7}b", issuer.as_str(), "control characters"),
        ("bob", "y", "ftp://x", "https"),
    ] {
        let args = ["link-identity", user, "--subject", subject, "--issuer", iss];
        let (ok, _, err) = cli(s(&args)).await;
        assert!(!ok && err.contains(why), "{args:?}: {err}");
    }

    let mut b = Browser::default();
    assert_eq!(b.sign_in(&app, "bob").await.status, StatusCode::SEE_OTHER);
    let id: Vec<(i64,)> = app.rows("SELECT user_id FROM identities").await;
    assert_eq!(id, vec![(bob_id,)], "the link, not a new account");
    let (ok, out, _) = cli(s(&["--json", "identities", "bob"])).await;
    assert!(ok);
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed[0]["subject"], "bob");
    assert!(listed[0]["last_sign_in_at"].is_string(), "{listed}");

    // unlinking ends everything at once: sessions (both), tokens
    let (ok, out, err) = cli(s(&["unlink-identity", "bob", "--issuer", &issuer])).await;
    assert!(ok, "{err}");
    assert!(out.contains("disabled"), "{out}");
    let res = app.pat("GET", "/api/v1/me", &bob_token).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.body);
    for session in [Some(cookie.as_str()), b.session()] {
        let res = app.get("/profile/security/tokens", session).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "signed out");
    }
    let (ok, _, err) = cli(s(&["unlink-identity", "bob", "--issuer", &issuer])).await;
    assert!(!ok && err.contains("has no identity"), "{err}");
    let events: Vec<(String,)> = app
        .rows("SELECT event FROM audit_events WHERE event LIKE 'identity.%' ORDER BY id")
        .await;
    assert_eq!(
        events,
        vec![("identity.linked".into(),), ("identity.unlinked".into(),)]
    );
}

async fn the_admin_group_decides_who_administers(app: TestApp) {
    let Some(idp) = provider(&app, "key-1") else {
        return;
    };
    let mut b = Browser::default();
    assert_eq!(b.sign_in(&app, "carol").await.status, StatusCode::SEE_OTHER);
    let admin: Vec<(bool,)> = app
        .rows("SELECT is_admin FROM users WHERE username = 'carol'")
        .await;
    assert_eq!(admin, vec![(true,)]);
    assert_eq!(
        app.get("/admin/users", b.session()).await.status,
        StatusCode::OK
    );
    // the provider takes carol out of the group: her next sign-in demotes her
    reqwest::Client::new()
        .post(format!("http://127.0.0.1:{}/__test/users", idp.port))
        .body(
            json!({ "carol": { "preferred_username": "carol", "groups": ["staff"] } }).to_string(),
        )
        .send()
        .await
        .unwrap();
    let mut b = Browser::default();
    assert_eq!(b.sign_in(&app, "carol").await.status, StatusCode::SEE_OTHER);
    let admin: Vec<(bool,)> = app
        .rows("SELECT is_admin FROM users WHERE username = 'carol'")
        .await;
    assert_eq!(admin, vec![(false,)]);
    let events: Vec<(String, String)> = app
        .rows("SELECT event, details FROM audit_events WHERE event LIKE 'admin.%' ORDER BY id")
        .await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].0, "admin.granted");
    assert_eq!(events[1].0, "admin.revoked");
    assert!(events[1].1.contains("oidc_group"));
    // alice (not in the group) never becomes one
    assert_eq!(
        Browser::default().sign_in(&app, "alice").await.status,
        StatusCode::SEE_OTHER
    );
    let admin: Vec<(bool,)> = app
        .rows("SELECT is_admin FROM users WHERE username = 'alice'")
        .await;
    assert_eq!(admin, vec![(false,)]);
}

/// Options for the real provider with no `--oidc-admin-group`.
fn real_without_admin_group() -> Options {
    let mut o = real();
    if let Some(sso) = o.sso.as_mut() {
        sso.admin_group = None;
    }
    o
}

/// The scopes a new sign-in asks the provider for.
async fn scope(app: &TestApp) -> String {
    let auth = Browser::default().start(app).await;
    query_of(&auth, "scope").unwrap_or_default()
}

async fn the_groups_claim_is_asked_for_once_a_team_follows_a_group(app: TestApp) {
    let Some(_idp) = provider(&app, "key-1") else {
        return;
    };
    use app::domain::{admin::Admin, orgs};
    assert!(
        !scope(&app).await.contains("groups"),
        "nothing follows it yet"
    );
    app.sign_up("owner", "correct horse battery staple").await;
    let admin = Admin::cli();
    orgs::create(&app.core, &admin, "acme", "", Some("owner"))
        .await
        .unwrap();
    orgs::create_team(&app.core, &admin, "acme", "Plain", None)
        .await
        .unwrap();
    assert!(!scope(&app).await.contains("groups"), "a team of its own");
    orgs::create_team(&app.core, &admin, "acme", "Staff", Some("staff"))
        .await
        .unwrap();
    assert!(scope(&app).await.contains("groups"));
    // and the sign-in puts alice in the team
    assert_eq!(
        Browser::default().sign_in(&app, "alice").await.status,
        StatusCode::SEE_OTHER
    );
    let teams = orgs::teams(&app.core.db, "acme").await.unwrap();
    assert_eq!(teams[1].members, ["alice"]);
}

async fn teams_follow_the_providers_groups(app: TestApp) {
    let Some(idp) = provider(&app, "key-1") else {
        return;
    };
    use app::domain::{admin::Admin, orgs};
    app.sign_up("owner", "correct horse battery staple").await;
    let admin = Admin::cli();
    orgs::create(&app.core, &admin, "acme", "", Some("owner"))
        .await
        .unwrap();
    orgs::create_team(&app.core, &admin, "acme", "Staff", Some("staff"))
        .await
        .unwrap();
    orgs::create_team(&app.core, &admin, "acme", "Admins", Some(ADMINS))
        .await
        .unwrap();
    orgs::create_team(&app.core, &admin, "acme", "Hand-made", None)
        .await
        .unwrap();
    let teams = |app: &TestApp| {
        let core = app.core.clone();
        async move {
            orgs::teams(&core.db, "acme")
                .await
                .unwrap()
                .into_iter()
                .map(|t| (t.name, t.members))
                .collect::<Vec<_>>()
        }
    };
    // alice's first sign-in: her account, acme (as a member) and Staff
    assert_eq!(
        Browser::default().sign_in(&app, "alice").await.status,
        StatusCode::SEE_OTHER
    );
    let members = orgs::members(&app.core.db, "acme").await.unwrap();
    let alice = members
        .iter()
        .find(|m| m.username == "alice")
        .expect("alice joined acme");
    assert_eq!(alice.role, "member");
    assert_eq!(
        teams(&app).await,
        vec![
            ("Admins".to_owned(), vec![]),
            ("Hand-made".to_owned(), vec![]),
            ("Staff".to_owned(), vec!["alice".to_owned()]),
        ]
    );
    // a token she makes for acme works while she stays in the organization
    let (alice_id,): (i64,) = app
        .rows("SELECT id FROM users WHERE username = 'alice'")
        .await[0];
    let spec = support::spec_of("acme", "code:read", 30, Some("acme"));
    let (_, secret) = support::token_from_spec(&app, alice_id, &spec).await;
    // a second sign-in with the same groups changes nothing
    assert_eq!(
        Browser::default().sign_in(&app, "alice").await.status,
        StatusCode::SEE_OTHER
    );
    // the provider takes her out of staff and puts her in the admins' group
    reqwest::Client::new()
        .post(format!("http://127.0.0.1:{}/__test/users", idp.port))
        .body(json!({ "alice": { "preferred_username": "alice", "groups": [ADMINS] } }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        Browser::default().sign_in(&app, "alice").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        teams(&app).await,
        vec![
            ("Admins".to_owned(), vec!["alice".to_owned()]),
            ("Hand-made".to_owned(), vec![]),
            ("Staff".to_owned(), vec![]),
        ]
    );
    assert!(
        orgs::members(&app.core.db, "acme")
            .await
            .unwrap()
            .iter()
            .any(|m| m.username == "alice"),
        "leaving a team keeps the organization"
    );
    let check = "/gateway/check?scope=code:read&resource=acme/api";
    assert_eq!(
        app.pat("GET", check, &secret).await.status,
        StatusCode::NO_CONTENT
    );
    // a provider that sends no groups claim at all (bob) moves nobody
    assert_eq!(
        Browser::default().sign_in(&app, "bob").await.status,
        StatusCode::SEE_OTHER
    );
    assert!(!orgs::members(&app.core.db, "acme")
        .await
        .unwrap()
        .iter()
        .any(|m| m.username == "bob"));
    // audited by Tessera, naming the group
    let events: Vec<(String, String, String)> = app
        .rows("SELECT event, actor, details FROM audit_events WHERE event LIKE 'org.%member%' AND details LIKE '%idp_group%' ORDER BY id")
        .await;
    let names: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "org.member_added",
            "org.team_member_added",
            "org.team_member_added",
            "org.team_member_removed",
        ],
        "{events:?}"
    );
    assert!(events.iter().all(|e| e.1 == "system"));
    assert!(events[3].2.contains("\"group\":\"staff\""), "{events:?}");
}

async fn sso_required_leaves_the_password_to_administrators(app: TestApp) {
    let Some(idp) = provider(&app, "key-1") else {
        return;
    };
    app.sign_up("erin", "correct horse battery staple").await;
    app.sign_up("root", "correct horse battery staple").await;
    app::domain::admin::set_admin(&app.core, &app::domain::admin::Admin::cli(), "root", true)
        .await
        .unwrap();
    support::set_policy(&app, "sso_required", "true").await;

    let res = app.sign_in("erin", "correct horse battery staple").await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert!(
        res.body.contains("signs in through single sign-on"),
        "{}",
        res.body
    );
    assert!(res.body.contains("Sign in with Acme"));
    assert!(res.session_cookie().is_none());
    // a wrong password still gets the usual answer (no oracle)
    let res = app.sign_in("erin", "wrong password entirely").await;
    assert!(
        res.body.contains("Incorrect username or password"),
        "{}",
        res.body
    );
    let res = app.sign_in("root", "correct horse battery staple").await;
    assert_eq!(
        res.status,
        StatusCode::SEE_OTHER,
        "break-glass: {}",
        res.body
    );
    let res = app
        .sign_up_answer("newcomer", "correct horse battery staple")
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let page = app.get("/signin", None).await;
    assert!(page.body.contains("class=\"break-glass\""), "{}", page.body);
    assert!(page
        .body
        .contains("Administrators: sign in with a password"));
    assert!(!page.body.contains("Create an account"));
    // SSO itself still works for everyone
    assert_eq!(
        Browser::default().sign_in(&app, "alice").await.status,
        StatusCode::SEE_OTHER
    );

    // the provider goes down: the button says so; the password form for
    // administrators still works
    drop(idp);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let res = Browser::default().tessera(&app, "/auth/oidc/start").await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE, "{}", res.body);
    assert!(
        res.body.contains("Acme cannot be reached right now"),
        "{}",
        res.body
    );
    let res = app.sign_in("root", "correct horse battery staple").await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
}

async fn the_callback_refuses_what_it_did_not_start(app: TestApp) {
    let Some(_idp) = provider(&app, "key-1") else {
        return;
    };
    // no sign-in on its way in this browser
    let res = Browser::default()
        .tessera(&app, "/auth/oidc/callback?code=abc&state=def")
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(
        res.body
            .contains("took too long or was started in another browser"),
        "{}",
        res.body
    );
    let huge = "a".repeat(20_000);
    let res = Browser::default()
        .tessera(
            &app,
            &format!("/auth/oidc/callback?code={huge}&state={huge}"),
        )
        .await;
    assert!(res.status.is_client_error());

    // a state from another browser
    let (mut a, mut b) = (Browser::default(), Browser::default());
    a.start(&app).await;
    let auth_b = b.start(&app).await;
    let back_b = b.through_provider(&auth_b, "alice").await;
    let mut stolen = Browser {
        tessera: a.tessera.clone(),
        ..Default::default()
    };
    let res = stolen.tessera(&app, &back_b).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(
        res.body.contains("did not confirm the sign-in"),
        "{}",
        res.body
    );

    // a code injected into another browser's sign-in (its own state): the
    // PKCE verifier does not match, the provider refuses the trade
    let auth_a = a.start(&app).await;
    let auth_c = b.start(&app).await;
    let back_c = b.through_provider(&auth_c, "alice").await;
    let injected = with_query(&back_c, "state", &query_of(&auth_a, "state").unwrap());
    let res = a.tessera(&app, &injected).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert!(a.session().is_none());

    // the honest callback works once; replayed, it is refused
    let auth_d = b.start(&app).await;
    let back_d = b.through_provider(&auth_d, "alice").await;
    let jar = b.tessera.clone();
    assert_eq!(b.tessera(&app, &back_d).await.status, StatusCode::SEE_OTHER);
    let mut replay = Browser {
        tessera: jar,
        ..Default::default()
    };
    assert_eq!(
        replay.tessera(&app, &back_d).await.status,
        StatusCode::BAD_REQUEST
    );
    // and the used code under a fresh sign-in's state: the provider refuses it
    let auth_e = replay.start(&app).await;
    let reused = with_query(&back_d, "state", &query_of(&auth_e, "state").unwrap());
    assert_eq!(
        replay.tessera(&app, &reused).await.status,
        StatusCode::BAD_REQUEST
    );
    assert!(replay.session().is_none());

    // the provider's own refusal, and a callback naming another issuer
    let auth_f = replay.start(&app).await;
    let state = query_of(&auth_f, "state").unwrap();
    let res = replay
        .tessera(
            &app,
            &format!("/auth/oidc/callback?error=access_denied&state={state}"),
        )
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert!(
        !res.body.contains("access_denied"),
        "codes stay in the audit log"
    );
    let auth_g = replay.start(&app).await;
    let back_g = b.through_provider(&auth_g, "alice").await;
    let res = replay
        .tessera(&app, &with_query(&back_g, "iss", "http://evil.example"))
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);

    assert_eq!(
        refusals(&app).await,
        [
            "state_mismatch",
            "token_refused",
            "token_refused",
            "provider_error",
            "issuer_mismatch"
        ]
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM sessions").await, 1);
}

async fn the_provider_rotates_its_keys(app: TestApp) {
    let Some(idp) = provider(&app, "key-1") else {
        return;
    };
    assert_eq!(
        Browser::default().sign_in(&app, "alice").await.status,
        StatusCode::SEE_OTHER
    );
    drop(idp);
    let Some(_idp) = provider(&app, "key-2") else {
        return;
    };
    assert_eq!(
        Browser::default().sign_in(&app, "alice").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM users").await, 1);
}

async fn provider_names_become_usernames(app: TestApp) {
    let Some(_idp) = provider(&app, "key-1") else {
        return;
    };
    for login in ["dave", "long", "jose"] {
        let res = Browser::default().sign_in(&app, login).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{login}: {}", res.body);
    }
    let names: Vec<(String, String)> = app
        .rows("SELECT i.subject, u.username FROM identities i JOIN users u ON u.id = i.user_id ORDER BY i.subject")
        .await;
    assert_eq!(
        names,
        vec![
            ("dave".into(), "dave".into()),
            ("jose".into(), "Jos-".into()),
            ("long".into(), "x".repeat(32)),
        ]
    );
}

/// Ends sudo mode of every session (the password was entered long ago).
async fn sudo_long_ago(app: &TestApp) {
    app.exec("UPDATE sessions SET password_at = '2000-01-01T00:00:00+00:00'")
        .await;
}

async fn in_sudo(app: &TestApp) -> bool {
    let rows: Vec<(chrono::DateTime<chrono::Utc>,)> =
        app.rows("SELECT password_at FROM sessions").await;
    rows.iter()
        .any(|(t,)| chrono::Utc::now() - *t < chrono::Duration::minutes(5))
}

/// Starts a confirmation (sudo) from `page` in `b`'s session: the
/// provider's authorization URL.
async fn start_sudo(app: &TestApp, b: &mut Browser, page: &str) -> String {
    let req = Request::builder()
        .uri("/auth/oidc/start?sudo=1")
        .header(header::COOKIE, cookie_header(&b.tessera))
        .header(header::REFERER, format!("http://tessera.test{page}"))
        .body(Body::empty())
        .unwrap();
    let res = app.request(req).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    keep(&mut b.tessera, &res.headers);
    res.location().unwrap().to_owned()
}

async fn a_person_without_a_password_confirms_sudo_at_the_provider(app: TestApp) {
    let Some(_idp) = provider(&app, "key-1") else {
        return;
    };
    let mut b = Browser::default();
    assert_eq!(b.sign_in(&app, "alice").await.status, StatusCode::SEE_OTHER);
    sudo_long_ago(&app).await;
    assert!(!in_sudo(&app).await);
    // the sudo field offers the provider on this server
    let page = app.get("/profile/security/tokens/new", b.session()).await;
    assert!(page.body.contains("data-sso=\"on\""), "{}", page.body);
    assert!(page.body.contains("href=\"/auth/oidc/start?sudo=1\""));

    // someone else at the provider cannot confirm for alice
    let auth = start_sudo(&app, &mut b, "/profile/security/tokens/new").await;
    assert_eq!(query_of(&auth, "prompt").as_deref(), Some("login"));
    // (from a browser the provider does not know: switching accounts there
    // would ask to sign alice out first)
    let alice_at_idp = std::mem::take(&mut b.idp);
    assert_eq!(query_of(&auth, "max_age").as_deref(), Some("0"));
    let (_, interaction, _) = b.idp(&auth, None).await;
    let (status, _, page) = b.idp(&interaction, None).await;
    assert_eq!(status, 200, "asked to sign in again: {page}");
    let form = support::encode_form(&[("login", "bob")]);
    let (status, resume, page) = b.idp(&format!("{interaction}/login"), Some(&form)).await;
    assert_eq!(status, 303, "{page}");
    let (status, back, page) = b.idp(&resume, None).await;
    assert!(back.starts_with(CALLBACK), "{status} {back} {page}");
    let res = b.tessera(&app, &back).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert!(!in_sudo(&app).await);
    b.idp = alice_at_idp;

    // alice herself: back to the page she came from, in sudo mode
    let auth = start_sudo(&app, &mut b, "/profile/security/tokens/new").await;
    let back = b.through_provider(&auth, "alice").await;
    let res = b.tessera(&app, &back).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.location(), Some("/profile/security/tokens/new"));
    assert!(in_sudo(&app).await);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM sessions").await,
        1,
        "no new session"
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_events WHERE event = 'session.sudo_confirmed'"
        )
        .await,
        1
    );
    assert_eq!(refusals(&app).await, ["sudo_other_account"]);
    // a sudo start without a session is an ordinary sign-in
    let res = Browser::default()
        .tessera(&app, "/auth/oidc/start?sudo=1")
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert!(query_of(res.location().unwrap(), "prompt").is_none());
}

// ---- the hostile provider -------------------------------------------------

fn forger_issuer() -> Option<String> {
    static HELPER: std::sync::OnceLock<Option<support::Helper>> = std::sync::OnceLock::new();
    let h = HELPER
        .get_or_init(|| {
            support::python_helper(
                "workload_support",
                "issuer.py",
                "sso-forger",
                "jwt, cryptography",
                "python3-jwt",
            )
        })
        .as_ref()?;
    Some(format!(
        "http://127.0.0.1:{}/sso-{:08x}",
        h.port,
        rand::random::<u32>()
    ))
}

pub(crate) fn hostile() -> Options {
    // without the helper the issuer is a dead address: the test returns
    // before using it
    let issuer = forger_issuer().unwrap_or_else(|| "http://127.0.0.1:9/none".into());
    Options {
        sso: Some(sso_config(&issuer)),
        ..Default::default()
    }
}

/// Shapes the hostile provider's next ID token.
async fn shape_next(app: &TestApp, shape: Value) {
    let issuer = app.core.config.sso.as_ref().unwrap().issuer.clone();
    reqwest::Client::new()
        .post(format!("{issuer}/sso"))
        .body(shape.to_string())
        .send()
        .await
        .unwrap();
}

/// A sign-in in `b` through the hostile provider whose next ID token is
/// shaped by `shape`: Tessera's answer.
async fn forged_in(app: &TestApp, b: &mut Browser, shape: Value) -> Resp {
    shape_next(app, shape).await;
    let auth = b.start(app).await;
    let (status, back, _) = b.idp(&auth, None).await;
    assert_eq!(status, 302);
    b.tessera(app, &back).await
}

pub(crate) async fn forged(app: &TestApp, shape: Value) -> Resp {
    forged_in(app, &mut Browser::default(), shape).await
}

async fn hostile_id_tokens_are_refused(app: TestApp) {
    if forger_issuer().is_none() {
        return;
    }
    let now = chrono::Utc::now().timestamp();
    let cases = [
        (
            json!({ "claims": { "aud": "someone-else" } }),
            "id_token_audience",
        ),
        (
            json!({ "claims": { "aud": [CLIENT, "someone-else"] } }),
            "id_token_audience",
        ),
        (
            json!({ "claims": { "exp": now - 600, "iat": now - 900 } }),
            "id_token_expired",
        ),
        (
            json!({ "claims": { "iat": now + 3600, "exp": now + 7200 } }),
            "id_token_expired",
        ),
        (
            json!({ "claims": { "nonce": "not-the-one-sent" } }),
            "id_token_nonce",
        ),
        (json!({ "claims": { "nonce": null } }), "id_token_nonce"),
        (
            json!({ "claims": { "iss": "http://evil.example" } }),
            "id_token_issuer",
        ),
        (json!({ "alg": "none" }), "token_unreadable"),
        (json!({ "alg": "HS256-public" }), "id_token_signature"),
        (json!({ "kid": "never-published" }), "id_token_signature"),
        (json!({ "forge": true }), "id_token_signature"),
    ];
    for (shape, _) in &cases {
        let res = forged(&app, shape.clone()).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{shape}: {}", res.body);
        assert!(res.body.contains("did not confirm the sign-in"), "{shape}");
        assert!(res.session_cookie().is_none(), "{shape}");
    }
    let codes = refusals(&app).await;
    let wanted: Vec<&str> = cases.iter().map(|(_, c)| *c).collect();
    // `alg: none` may fail to parse or to verify: refused either way
    for (i, (got, want)) in codes.iter().zip(&wanted).enumerate() {
        if *want == "token_unreadable" {
            assert!(
                got == "token_unreadable" || got == "id_token_signature",
                "{i}: {got}"
            );
        } else {
            assert_eq!(got, want, "case {i}: {}", cases[i].0);
        }
    }
    assert_eq!(codes.len(), cases.len());
    assert_eq!(count(&app, "SELECT COUNT(*) FROM users").await, 0);

    // what an honest provider may do is taken: expired a moment ago (clock
    // skew), and a key the kept set lacks (rotated between our start and
    // the trade)
    let res = forged(&app, json!({ "claims": { "exp": now - 20 } })).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    tokio::time::sleep(Duration::from_millis(1100)).await; // the refetch bound
    let res = forged(&app, json!({ "rotate": true })).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM users").await,
        1,
        "one subject"
    );

    // a confirmation (sudo) needs the provider to have authenticated the
    // person again, now: an old or missing auth_time is refused
    let mut b = Browser::default();
    let res = forged_in(&app, &mut b, json!({})).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    sudo_long_ago(&app).await;
    let fresh = chrono::Utc::now().timestamp();
    for (auth_time, confirmed) in [
        (Some(now - 3600), false),
        (None, false),
        (Some(fresh), true),
    ] {
        shape_next(&app, json!({ "claims": { "auth_time": auth_time } })).await;
        let auth = start_sudo(&app, &mut b, "/profile/security/sessions").await;
        let (_, back, _) = b.idp(&auth, None).await;
        let res = b.tessera(&app, &back).await;
        let want = if confirmed {
            StatusCode::SEE_OTHER
        } else {
            StatusCode::BAD_REQUEST
        };
        assert_eq!(res.status, want, "{auth_time:?}: {}", res.body);
        assert_eq!(in_sudo(&app).await, confirmed, "{auth_time:?}");
    }
    let codes = refusals(&app).await;
    assert_eq!(codes[codes.len() - 2..], ["sudo_stale", "sudo_stale"]);
}

on_both_backends!(
    first_sign_in_makes_the_account_and_later_ones_find_it with real(),
    a_local_account_is_never_linked_by_name with real(),
    the_admin_group_decides_who_administers with real(),
    teams_follow_the_providers_groups with real(),
    the_groups_claim_is_asked_for_once_a_team_follows_a_group with real_without_admin_group(),
    sso_required_leaves_the_password_to_administrators with real(),
    the_callback_refuses_what_it_did_not_start with real(),
    the_provider_rotates_its_keys with real(),
    provider_names_become_usernames with real(),
    a_person_without_a_password_confirms_sudo_at_the_provider with real(),
    hostile_id_tokens_are_refused with hostile(),
);
