//! Browser sessions and sudo mode over HTTP, against SQLite and Postgres
//! alike: the Sessions section, signing other browsers out, the idle
//! timeout, the `__Host-` cookie over https, and the password confirmation
//! that full-access tokens, revoke all and signing others out need.

use crate::support;

use axum::{
    body::Body,
    http::{header, Method, Request, StatusCode},
};
use std::time::Duration;
use support::{encode_form, text_of_class, user, Options, Resp, TestApp, PW};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const PHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1";
const SESSIONS: &str = "/profile/security/sessions";
const SIGNOUT: &str = "/profile/security/sessions/signout";
const TOKENS: &str = "/profile/security/tokens";

/// A browser request: `agent` as its user agent, from `ip` (through the
/// trusted loopback proxy), with the session `cookie` (plain name).
async fn browse(
    app: &TestApp,
    method: Method,
    path: &str,
    form: Option<&[(&str, &str)]>,
    cookie: Option<&str>,
    agent: &str,
    ip: &str,
) -> Resp {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header(header::USER_AGENT, agent)
        .header(header::ACCEPT, "text/html")
        .header("x-forwarded-for", ip);
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, format!("tessera_session={c}"));
    }
    let body = match form {
        Some(fields) => {
            b = b.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            Body::from(encode_form(fields))
        }
        None => Body::empty(),
    };
    app.request(b.body(body).expect("request")).await
}

/// A form post from the laptop (Firefox, 198.51.100.7) with `cookie`.
async fn post(app: &TestApp, path: &str, form: &[(&str, &str)], cookie: &str) -> Resp {
    browse(
        app,
        Method::POST,
        path,
        Some(form),
        Some(cookie),
        FIREFOX,
        "198.51.100.7",
    )
    .await
}

async fn sign_in_with(app: &TestApp, name: &str, agent: &str, ip: &str) -> String {
    let fields = [("username", name), ("password", PW)];
    let res = browse(app, Method::POST, "/signin", Some(&fields), None, agent, ip).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    res.session_cookie().expect("cookie")
}

/// True when `cookie` still opens the tokens page.
async fn signed_in(app: &TestApp, cookie: &str) -> bool {
    app.get(TOKENS, Some(cookie)).await.status == StatusCode::OK
}

/// Moves a timestamp column of every session of `uid` `secs` into the past.
async fn age_sessions(app: &TestApp, uid: i64, column: &str, secs: i64) {
    let at = app::domain::db::now() - chrono::Duration::seconds(secs);
    let sql = format!("UPDATE sessions SET {column} = $1 WHERE user_id = $2");
    app::on_db!(&app.db, p => sqlx::query(&sql).bind(at).bind(uid).execute(p).await.map(|_| ()))
        .expect("age sessions");
}

/// The handles of `uid`'s sessions.
async fn handles(app: &TestApp, uid: i64) -> Vec<String> {
    let rows: Vec<(String,)> = app
        .rows(&format!(
            "SELECT handle FROM sessions WHERE user_id = {uid}"
        ))
        .await;
    rows.into_iter().map(|r| r.0).collect()
}

/// Signs `name` in from another browser; its cookie and session handle.
async fn another_browser(
    app: &TestApp,
    uid: i64,
    name: &str,
    agent: &str,
    ip: &str,
) -> (String, String) {
    let before = handles(app, uid).await;
    let cookie = sign_in_with(app, name, agent, ip).await;
    let handle = handles(app, uid)
        .await
        .into_iter()
        .find(|h| !before.contains(h))
        .expect("a new session");
    (cookie, handle)
}

fn field_error(body: &str) -> String {
    text_of_class(body, "field-error").unwrap_or_default()
}

async fn the_sessions_section_lists_each_browser_and_marks_this_one(app: TestApp) {
    let (_, first) = user(&app, "alice").await;
    let _phone = sign_in_with(&app, "alice", PHONE, "203.0.113.9").await;
    let page = browse(
        &app,
        Method::GET,
        SESSIONS,
        None,
        Some(&first),
        FIREFOX,
        "198.51.100.7",
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let body = &page.body;
    assert!(body.contains("Safari on iOS"), "{body}");
    assert!(body.contains("203.0.113.9"), "{body}");
    assert!(body.contains("Firefox on Linux"), "{body}");
    // this browser's address was noted on its request
    assert!(body.contains("198.51.100.7"), "{body}");
    assert_eq!(body.matches("This session").count(), 1, "{body}");
    // one "Sign out" for the other browser, none for this one
    assert_eq!(body.matches("aria-label=\"Sign out ").count(), 1, "{body}");
    assert!(body.contains("Sign out everywhere else"));
    // no secret or hash of a session is on the page
    let ids: Vec<(Vec<u8>,)> = app.rows("SELECT id_hash FROM sessions").await;
    for (id_hash,) in ids {
        let hex: String = id_hash.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!body.contains(&hex));
    }
    assert!(!body.contains(&first));
}

async fn signing_another_browser_out_needs_the_password_when_not_in_sudo_mode(app: TestApp) {
    let (uid, laptop) = user(&app, "alice").await;
    let (phone, phone_handle) = another_browser(&app, uid, "alice", PHONE, "203.0.113.9").await;
    // the password was entered 11 minutes ago: sudo mode is over
    age_sessions(&app, uid, "password_at", 11 * 60).await;
    let sign_out = |password: &'static str| {
        let handle = phone_handle.clone();
        let laptop = laptop.clone();
        let app = &app;
        async move {
            let fields = [("handle", handle.as_str()), ("sudo_password", password)];
            post(app, SIGNOUT, &fields, &laptop).await
        }
    };
    let asked = sign_out("").await;
    assert_eq!(asked.status, StatusCode::FORBIDDEN);
    assert!(
        field_error(&asked.body).contains("Confirm your password"),
        "{}",
        asked.body
    );
    assert!(signed_in(&app, &phone).await);
    let wrong = sign_out("not my password at all").await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(field_error(&wrong.body).contains("not your current password"));
    assert!(!wrong.body.contains("not my password at all"));
    assert!(signed_in(&app, &phone).await);
    let done = sign_out(PW).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(
        done.location(),
        Some("/profile/security/sessions?done=signed-out")
    );
    assert!(!signed_in(&app, &phone).await);
    assert!(signed_in(&app, &laptop).await);
    // the password counted: sudo mode again, no password for the next one
    let (tablet, tablet_handle) = another_browser(&app, uid, "alice", FIREFOX, "192.0.2.44").await;
    let fields = [("handle", tablet_handle.as_str())];
    let res = post(&app, SIGNOUT, &fields, &laptop).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert!(!signed_in(&app, &tablet).await);
}

async fn sign_out_everywhere_else_keeps_only_this_browser(app: TestApp) {
    let (uid, laptop) = user(&app, "alice").await;
    let phone = sign_in_with(&app, "alice", PHONE, "203.0.113.9").await;
    let tablet = sign_in_with(&app, "alice", FIREFOX, "192.0.2.44").await;
    let (_, bob) = user(&app, "bob").await;
    let fields = [("handle", "others")];
    let res = post(&app, SIGNOUT, &fields, &laptop).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(
        res.location(),
        Some("/profile/security/sessions?done=signed-out-others")
    );
    assert!(signed_in(&app, &laptop).await);
    assert!(!signed_in(&app, &phone).await);
    assert!(!signed_in(&app, &tablet).await);
    assert!(signed_in(&app, &bob).await, "another user's sessions stay");
    assert_eq!(handles(&app, uid).await.len(), 1);
}

async fn another_users_session_behaves_as_one_that_ended(app: TestApp) {
    let (alice_id, alice) = user(&app, "alice").await;
    let (_, bob) = user(&app, "bob").await;
    let alice_handle = handles(&app, alice_id).await[0].clone();
    for handle in [
        alice_handle.as_str(),
        "no-such-session",
        &"x".repeat(5000),
        "é\u{0}",
    ] {
        let fields = [("handle", handle)];
        let res = browse(
            &app,
            Method::POST,
            SIGNOUT,
            Some(&fields),
            Some(&bob),
            FIREFOX,
            "198.51.100.8",
        )
        .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{}", res.body);
        assert!(res.body.contains("That session has already ended."));
    }
    assert!(signed_in(&app, &alice).await);
    // signed out, the form goes to sign-in
    let fields = [("handle", "others")];
    let res = browse(
        &app,
        Method::POST,
        SIGNOUT,
        Some(&fields),
        None,
        FIREFOX,
        "198.51.100.8",
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert!(res.location().unwrap_or_default().starts_with("/signin"));
}

fn idle_after_an_hour() -> Options {
    Options {
        session_idle: Duration::from_secs(3600),
        ..Default::default()
    }
}

async fn an_idle_session_ends(app: TestApp) {
    let (uid, cookie) = user(&app, "alice").await;
    assert!(signed_in(&app, &cookie).await);
    age_sessions(&app, uid, "last_seen_at", 50 * 60).await;
    assert!(
        signed_in(&app, &cookie).await,
        "50 minutes idle is within the hour"
    );
    // that request counted as activity
    assert!(signed_in(&app, &cookie).await);
    age_sessions(&app, uid, "last_seen_at", 61 * 60).await;
    let res = app.get(TOKENS, Some(&cookie)).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert!(res.location().unwrap_or_default().starts_with("/signin"));
    // the periodic purge removes it
    let purged = app::domain::sessions::purge_expired(&app.db, Duration::from_secs(3600))
        .await
        .expect("purge");
    assert_eq!(purged, 1);
}

fn over_https() -> Options {
    Options {
        public_url: "https://tokens.example.test".into(),
        ..Default::default()
    }
}

async fn over_https_the_cookie_is_host_prefixed_and_secure(app: TestApp) {
    let res = app.sign_up_answer("alice", PW).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let set_cookie = res.set_cookie().expect("cookie").to_owned();
    assert!(
        set_cookie.starts_with("__Host-tessera_session="),
        "{set_cookie}"
    );
    for part in ["Secure", "HttpOnly", "Path=/", "SameSite=Lax"] {
        assert!(set_cookie.contains(part), "{part}: {set_cookie}");
    }
    assert!(
        !set_cookie.to_ascii_lowercase().contains("domain="),
        "{set_cookie}"
    );
    let value = res.session_cookie().expect("value");
    let with = |name: &str| {
        Request::builder()
            .uri(TOKENS)
            .header(header::COOKIE, format!("{name}={value}"))
            .body(Body::empty())
            .expect("request")
    };
    assert_eq!(
        app.request(with("__Host-tessera_session")).await.status,
        StatusCode::OK
    );
    // the unprefixed name, which a sibling subdomain could set, is not read
    assert_eq!(
        app.request(with("tessera_session")).await.status,
        StatusCode::SEE_OTHER
    );
}

async fn a_full_access_token_needs_the_password_when_not_in_sudo_mode(app: TestApp) {
    let (uid, cookie) = user(&app, "alice").await;
    age_sessions(&app, uid, "password_at", 11 * 60).await;
    let create = |password: &'static str, mode: &'static str| {
        let cookie = cookie.clone();
        let app = &app;
        async move {
            let fields = [
                ("name", "deploy"),
                ("expiry", "30"),
                ("scope_mode", mode),
                ("scope_code", "read"),
                ("sudo_password", password),
            ];
            let path = format!("{TOKENS}/new");
            post(app, &path, &fields, &cookie).await
        }
    };
    let asked = create("", "full").await;
    assert_eq!(asked.status, StatusCode::FORBIDDEN, "{}", asked.body);
    assert!(
        asked
            .body
            .contains("Confirm your password to create a full-access token."),
        "{}",
        asked.body
    );
    // what was typed is kept; the form can be sent again as it is
    assert!(asked.body.contains("value=\"deploy\""), "{}", asked.body);
    let wrong = create("wrong password here", "full").await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.contains("That is not your current password."));
    assert!(
        !wrong.body.contains("wrong password here"),
        "the password is never echoed"
    );
    let count: Vec<(i64,)> = app.rows("SELECT COUNT(*) FROM tokens").await;
    assert_eq!(count[0].0, 0, "nothing was created");
    let made = create(PW, "full").await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert!(made.body.contains("tsr_"));
    // custom scopes never need the password
    age_sessions(&app, uid, "password_at", 11 * 60).await;
    let fields = [
        ("name", "reader"),
        ("expiry", "30"),
        ("scope_mode", "custom"),
        ("scope_code", "read"),
    ];
    let path = format!("{TOKENS}/new");
    let custom = post(&app, &path, &fields, &cookie).await;
    assert_eq!(custom.status, StatusCode::CREATED, "{}", custom.body);
}

async fn the_dialogs_server_functions_ask_for_the_password_too(app: TestApp) {
    let (uid, cookie) = user(&app, "alice").await;
    age_sessions(&app, uid, "password_at", 11 * 60).await;
    let call = |path: &'static str, body: String| {
        let cookie = cookie.clone();
        let app = &app;
        async move {
            let req = Request::builder()
                .method(Method::POST)
                .uri(path)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::COOKIE, format!("tessera_session={cookie}"))
                .body(Body::from(body))
                .expect("request");
            app.request(req).await
        }
    };
    let form = r#"{"name":"rpc","expiry":"7","scope_mode":"full"}"#;
    let asked = call(
        "/rpc/tokens/create",
        format!(r#"{{"form":{form},"sudo_password":""}}"#),
    )
    .await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    assert!(
        asked.body.contains("Rejected") && asked.body.contains("sudo_password"),
        "{}",
        asked.body
    );
    let revoke_all = call("/rpc/tokens/revoke_all", r#"{"sudo_password":""}"#.into()).await;
    assert!(
        revoke_all
            .body
            .contains("Confirm your password to revoke all your tokens."),
        "{}",
        revoke_all.body
    );
    let made = call(
        "/rpc/tokens/create",
        format!(r#"{{"form":{form},"sudo_password":"{PW}"}}"#),
    )
    .await;
    assert!(
        made.body.contains("Done") && made.body.contains("tsr_"),
        "{}",
        made.body
    );
    let revoked = call("/rpc/tokens/revoke_all", r#"{"sudo_password":""}"#.into()).await;
    assert!(
        revoked.body.contains(r#"{"Done":1}"#),
        "in sudo mode now: {}",
        revoked.body
    );
}

async fn revoke_all_needs_the_password_when_not_in_sudo_mode(app: TestApp) {
    let (uid, cookie) = user(&app, "alice").await;
    let (_, secret) = support::token(&app, uid, "ci", "code:read").await;
    age_sessions(&app, uid, "password_at", 11 * 60).await;
    let path = format!("{TOKENS}/revoke-all");
    let asked = post(&app, &path, &[], &cookie).await;
    assert_eq!(asked.status, StatusCode::FORBIDDEN, "{}", asked.body);
    assert!(asked
        .body
        .contains("Confirm your password to revoke all your tokens."));
    assert_eq!(
        app.pat("GET", "/api/v1/me", &secret).await.status,
        StatusCode::FORBIDDEN,
        "still alive (scope refused, not 401)"
    );
    let fields = [("sudo_password", PW)];
    let done = post(&app, &path, &fields, &cookie).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(
        app.pat("GET", "/api/v1/me", &secret).await.status,
        StatusCode::UNAUTHORIZED
    );
}

fn tight_throttle() -> Options {
    let mut o = Options::default();
    o.throttle.max_failures_per_account = 3;
    o
}

async fn wrong_sudo_passwords_are_throttled_like_sign_ins(app: TestApp) {
    let (uid, cookie) = user(&app, "alice").await;
    age_sessions(&app, uid, "password_at", 11 * 60).await;
    let path = format!("{TOKENS}/revoke-all");
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let fields = [("sudo_password", "guess guess guess")];
        let res = post(&app, &path, &fields, &cookie).await;
        statuses.push(res.status);
        if res.status == StatusCode::TOO_MANY_REQUESTS {
            assert!(res.header("retry-after").is_some());
            assert!(
                res.body.contains("Too many sign-in attempts"),
                "{}",
                res.body
            );
        }
    }
    assert_eq!(
        statuses,
        [
            StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS,
        ]
    );
}

on_both_backends!(
    the_sessions_section_lists_each_browser_and_marks_this_one,
    signing_another_browser_out_needs_the_password_when_not_in_sudo_mode,
    sign_out_everywhere_else_keeps_only_this_browser,
    another_users_session_behaves_as_one_that_ended,
    an_idle_session_ends with idle_after_an_hour(),
    over_https_the_cookie_is_host_prefixed_and_secure with over_https(),
    a_full_access_token_needs_the_password_when_not_in_sudo_mode,
    the_dialogs_server_functions_ask_for_the_password_too,
    revoke_all_needs_the_password_when_not_in_sudo_mode,
    wrong_sudo_passwords_are_throttled_like_sign_ins with tight_throttle(),
);
