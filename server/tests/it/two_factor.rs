//! Two-factor authentication with an authenticator app (TOTP, RFC 6238)
//! and recovery codes, on both stores. Codes come from Python's `pyotp`
//! (PyPI, in target/scim-venv: scripts/setup-tools.sh scim), an
//! implementation someone else wrote.

use crate::support::{self, encode_form, text_of_class, Resp, TestApp, PW};
use axum::{
    body::Body,
    http::{header, Method, Request, StatusCode},
};

const PAGE: &str = "/profile/security/two-factor";
const APP: &str = "/profile/security/two-factor/app";
const SECOND: &str = "/signin/two-factor";

/// pyotp's code for `key` (base32, as the page shows it) at unix time `at`;
/// `None` (a skip) without the virtual environment, outside CI.
fn pyotp_at(key: &str, at: i64) -> Option<String> {
    let python =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/scim-venv/bin/python");
    if !python.exists() {
        assert!(
            !support::in_ci(),
            "pyotp is required in CI (scripts/setup-tools.sh scim)"
        );
        eprintln!("skipping: no target/scim-venv (make setup)");
        return None;
    }
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import sys, pyotp; print(pyotp.TOTP(sys.argv[1]).at(int(sys.argv[2])))",
            &key.replace(' ', ""),
            &at.to_string(),
        ])
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap().trim().to_owned())
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A request with these cookies (name=value), from `ip`.
async fn with_cookies(
    app: &TestApp,
    method: Method,
    path: &str,
    form: Option<&[(&str, &str)]>,
    cookies: &[(&str, &str)],
    ip: &str,
) -> Resp {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header(header::ACCEPT, "text/html")
        .header("x-forwarded-for", ip);
    if !cookies.is_empty() {
        let c: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        b = b.header(header::COOKIE, c.join("; "));
    }
    let body = match form {
        Some(f) => {
            b = b.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            Body::from(encode_form(f))
        }
        None => Body::empty(),
    };
    app.request(b.body(body).unwrap()).await
}

/// The value of the cookie `name` this answer sets.
fn cookie(res: &Resp, name: &str) -> Option<String> {
    res.headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .map(|rest| rest.split(';').next().unwrap_or("").to_owned())
}

/// The text of `attr="…"` in `html`.
fn attr(html: &str, attr: &str) -> Option<String> {
    let start = html.find(&format!("{attr}=\""))? + attr.len() + 2;
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_owned())
}

/// The recovery codes a page shows once.
fn recovery_codes(html: &str) -> Vec<String> {
    let Some(start) = html.find("class=\"recovery-codes\"") else {
        return vec![];
    };
    let list = &html[start
        ..html[start..]
            .find("</ul>")
            .map_or(html.len(), |e| start + e)];
    list.split("<code>")
        .skip(1)
        .filter_map(|c| c.split("</code>").next())
        .map(support::strip_tags)
        .collect()
}

/// Adds an authenticator app for the session `s`: its key and the time its
/// first code was made (that step is used up); the recovery codes shown.
async fn add_app(app: &TestApp, s: &str) -> Option<(String, i64, Vec<String>)> {
    let res = app.post_form(APP, &[("action", "begin")], Some(s)).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let page = app.get(PAGE, Some(s)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<svg"), "a QR code");
    let key = attr(&page.body, "data-totp-key").expect("the key as text");
    let at = now();
    let code = pyotp_at(&key, at)?;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let res = app
        .post_form(
            APP,
            &[("action", "confirm"), ("name", "Phone"), ("code", wrong)],
            Some(s),
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.body.contains("That code does not match"),
        "{}",
        res.body
    );
    let res = app
        .post_form(
            APP,
            &[("action", "confirm"), ("name", "Phone"), ("code", &code)],
            Some(s),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let codes = recovery_codes(&res.body);
    assert_eq!(
        codes.len(),
        10,
        "ten recovery codes, shown once: {}",
        res.body
    );
    Some((key, at, codes))
}

/// Signs in with the password: the challenge cookie of the second step.
async fn password_step(app: &TestApp, name: &str) -> String {
    let res = app.sign_in(name, PW).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.location(), Some(SECOND));
    assert_eq!(
        res.session_cookie(),
        None,
        "no session before the second factor"
    );
    cookie(&res, "tessera_2fa").expect("challenge cookie")
}

async fn second(app: &TestApp, challenge: &str, field: &str, value: &str) -> Resp {
    with_cookies(
        app,
        Method::POST,
        SECOND,
        Some(&[(field, value)]),
        &[("tessera_2fa", challenge)],
        "198.51.100.1",
    )
    .await
}

async fn an_authenticator_app_guards_the_sign_in(app: TestApp) {
    let s = app.sign_up("alice", PW).await;
    let page = app.get(PAGE, Some(&s)).await;
    assert!(page.body.contains("Two-factor authentication is off."));
    let Some((key, at, codes)) = add_app(&app, &s).await else {
        return;
    };
    // the stored key is sealed: its bytes are not in the row
    let sealed: Vec<(Vec<u8>,)> = app.rows("SELECT secret FROM second_factors").await;
    assert_eq!(sealed.len(), 1);
    assert!(sealed[0].0.len() > 20 + 16, "nonce and tag around the key");
    let page = app.get(PAGE, Some(&s)).await;
    assert!(page.body.contains("Two-factor authentication is on."));
    assert!(page.body.contains("Phone"));
    assert!(
        recovery_codes(&page.body).is_empty(),
        "codes are shown once"
    );
    assert!(
        !page.body.contains(&key),
        "the key is shown only while adding"
    );

    // the password alone opens no session
    let challenge = password_step(&app, "alice").await;
    let used = pyotp_at(&key, at).unwrap();
    let res = second(&app, &challenge, "code", &used).await;
    assert_eq!(
        res.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a code works once"
    );
    assert!(res.body.contains("That code is not valid"));
    let next = pyotp_at(&key, at + 30).unwrap();
    let res = second(&app, &challenge, "code", &next).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.location(), Some("/profile/security/tokens"));
    let session = res.session_cookie().expect("a session");
    assert_eq!(
        cookie(&res, "tessera_2fa").as_deref(),
        Some(""),
        "challenge removed"
    );
    assert_eq!(
        app.get("/profile/security/tokens", Some(&session))
            .await
            .status,
        StatusCode::OK
    );
    // the same waiting sign-in cannot be used twice
    let again = second(&app, &challenge, "code", &next).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert!(again.body.contains("Sign in again"));

    // a recovery code, typed loosely, works once
    let challenge = password_step(&app, "alice").await;
    let loose = format!("  {}  ", codes[3].to_uppercase().replace('-', " "));
    let res = second(&app, &challenge, "recovery_code", &loose).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let challenge = password_step(&app, "alice").await;
    let res = second(&app, &challenge, "recovery_code", &codes[3]).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("not valid or was used already"));
    let page = app.get(PAGE, Some(&s)).await;
    assert!(
        page.body.contains("9 of 10 recovery codes unused"),
        "{}",
        page.body
    );

    // new codes replace the old ones (sudo mode: the sign-up's session still is)
    let res = app
        .post_form("/profile/security/two-factor/recovery-codes", &[], Some(&s))
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let fresh = recovery_codes(&res.body);
    assert_eq!(fresh.len(), 10);
    let challenge = password_step(&app, "alice").await;
    let res = second(&app, &challenge, "recovery_code", &codes[5]).await;
    assert_eq!(
        res.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "old codes stop"
    );

    let events: Vec<(String,)> = app
        .rows("SELECT event FROM audit_events WHERE event LIKE 'two_factor.%' OR details LIKE '%password+%' ORDER BY id")
        .await;
    let events: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    for e in [
        "two_factor.added",
        "two_factor.recovery_code_used",
        "two_factor.recovery_codes_made",
        "session.signed_in",
    ] {
        assert!(events.contains(&e), "{e} in {events:?}");
    }

    // removing the last factor turns it off: the password alone signs in
    let id: Vec<(i64,)> = app.rows("SELECT id FROM second_factors").await;
    let res = app
        .post_form(&format!("{PAGE}/{}/remove", id[0].0), &[], Some(&s))
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let res = app.sign_in("alice", PW).await;
    assert!(res.session_cookie().is_some());
    let left: Vec<(i64,)> = app.rows("SELECT COUNT(*) FROM recovery_codes").await;
    assert_eq!(left[0].0, 0);
}

async fn codes_are_throttled_like_passwords(app: TestApp) {
    let s = app.sign_up("bob", PW).await;
    let Some((key, _, _)) = add_app(&app, &s).await else {
        return;
    };
    let challenge = password_step(&app, "bob").await;
    let mut statuses = vec![];
    for _ in 0..6 {
        statuses.push(second(&app, &challenge, "code", "123456").await.status);
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "the account's limit (5) counts codes: {statuses:?}"
    );
    // a right password does not start the count again
    let res = app.sign_in("bob", PW).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "{}", res.body);
    // nor does a right code while throttled
    let right = pyotp_at(&key, now() + 30).unwrap();
    let res = second(&app, &challenge, "code", &right).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(res.header("retry-after").is_some());
    // a forged or missing challenge is a new sign-in, whatever the code
    let res = second(&app, &"A".repeat(43), "code", &right).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    let res = with_cookies(&app, Method::GET, SECOND, None, &[], "198.51.100.1").await;
    assert_eq!(res.location(), Some("/signin"));
}

async fn hostile_input_is_refused_with_sentences(app: TestApp) {
    let s = app.sign_up("carol", PW).await;
    let other = app.sign_up("dave", PW).await;
    let Some(_) = add_app(&app, &s).await else {
        return;
    };
    let id: Vec<(i64,)> = app.rows("SELECT id FROM second_factors").await;
    // another user's factor, and ids that are no numbers
    for path in [
        format!("{PAGE}/{}/remove", id[0].0),
        format!("{PAGE}/x/remove"),
        format!("{PAGE}/99999999999999999999/remove"),
    ] {
        let res = app.post_form(&path, &[], Some(&other)).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{path}");
    }
    let kept: Vec<(i64,)> = app.rows("SELECT COUNT(*) FROM second_factors").await;
    assert_eq!(kept[0].0, 1);
    // names: huge, control characters; codes: not six ASCII digits
    app.post_form(APP, &[("action", "begin")], Some(&s)).await;
    let long = "ü".repeat(10_000);
    for (name, code, says) in [
        (long.as_str(), "123456", "at most 64 characters"),
        ("a\u{7}b", "123456", "control characters"),
        ("ok", "١٢٣٤٥٦", "6 digits"),
        ("ok", "", "Enter the 6-digit code"),
        ("ok", &"9".repeat(10_000), "6 digits"),
    ] {
        let res = app
            .post_form(
                APP,
                &[("action", "confirm"), ("name", name), ("code", code)],
                Some(&s),
            )
            .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{says}");
        assert!(
            res.body.contains(says),
            "{says}: {}",
            text_of_class(&res.body, "field-error").unwrap_or_default()
        );
    }
    // a recovery code of the wrong shape costs no attempt and says so
    let challenge = password_step(&app, "carol").await;
    let res = second(&app, &challenge, "recovery_code", &"x".repeat(10_000)).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("Recovery codes are 16 letters"));
    // without sudo mode, adding asks for the password
    app.exec("UPDATE sessions SET password_at = '2000-01-01T00:00:00Z'")
        .await;
    let res = app
        .post_form(APP, &[("action", "begin")], Some(&other))
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(res
        .body
        .contains("Confirm your password to add an authenticator app."));
}

async fn require_two_factor_holds_people_and_tokens(app: TestApp) {
    let uid = support::user(&app, "erin").await.0;
    let (_, token) = support::token(&app, uid, "ci", "tokens:manage code:read").await;
    let (tid, _) = support::token(&app, uid, "narrow-me", "code:read").await;
    let s = app.sign_in("erin", PW).await.session_cookie().unwrap();
    support::set_policy(&app, "require_two_factor", "true").await;
    app.core.reload_policies().await;
    let res = app.get("/profile/security/tokens", Some(&s)).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(
        res.location(),
        Some("/profile/security/two-factor?required=1")
    );
    let page = app
        .get("/profile/security/two-factor?required=1", Some(&s))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page
        .body
        .contains("Your organization requires two-factor authentication."));
    // the API: no new tokens; what exists still works
    let body = serde_json::json!({"name": "more", "scopes": "code:read", "expires_in_days": 7})
        .to_string();
    let create = || {
        Request::builder()
            .method(Method::POST)
            .uri("/api/v1/tokens")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.clone()))
            .unwrap()
    };
    let res = app.request(create()).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.body);
    let v: serde_json::Value = serde_json::from_str(&res.body).unwrap();
    assert_eq!(v["error"], "two_factor_required");
    // an identity at the provider counts only for an account without a
    // password: a password sign-in would skip the provider's factor
    app.exec(&format!(
        "INSERT INTO identities (issuer, subject, user_id, created_at) VALUES ('https://idp.test', 'erin', {uid}, '2026-01-01T00:00:00Z')"
    ))
    .await;
    assert_eq!(app.request(create()).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/profile/security/tokens", Some(&s)).await.status,
        StatusCode::SEE_OTHER
    );
    // widening the token itself is making a token; narrowing is not
    let edit = |scopes: &str| {
        Request::builder()
            .method(Method::PATCH)
            .uri(format!("/api/v1/tokens/{tid}"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                serde_json::json!({ "scopes": scopes }).to_string(),
            ))
            .unwrap()
    };
    let res = app.request(edit("code:read tokens:manage")).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.body);
    assert!(res.body.contains("two_factor_required"));
    let res = app.request(edit("code:read")).await;
    assert_eq!(res.status, StatusCode::OK, "not widening: {}", res.body);
    // the pages' server functions are held too, but for enrolling
    let rpc = |path: &str| {
        Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::COOKIE, format!("tessera_session={s}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap()
    };
    assert_eq!(
        app.request(rpc("/rpc/sessions/list")).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.request(rpc("/rpc/two_factor/settings")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.pat("GET", "/gateway/check?scope=code:read", &token)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    // adding a factor opens everything again
    if add_app(&app, &s).await.is_none() {
        return;
    }
    assert_eq!(
        app.get("/profile/security/tokens", Some(&s)).await.status,
        StatusCode::OK
    );
    let res = app.request(create()).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
}

async fn an_administrator_resets_a_lost_factor(app: TestApp) {
    let s = app.sign_up("frank", PW).await;
    let Some((_, _, codes)) = add_app(&app, &s).await else {
        return;
    };
    // a new password ends the sign-ins the old one began
    let waiting = password_step(&app, "frank").await;
    let new_pw = "a different horse battery";
    let res = app
        .post_form(
            "/profile/security/password",
            &[("current", PW), ("password", new_pw), ("confirm", new_pw)],
            Some(&s),
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert!(res.session_cookie().is_some(), "a fresh session");
    let unused = "SELECT COUNT(*) FROM recovery_codes WHERE used_at IS NULL";
    let before: Vec<(i64,)> = app.rows(unused).await;
    let res = second(&app, &waiting, "recovery_code", &codes[0]).await;
    assert_eq!(
        res.status,
        StatusCode::UNAUTHORIZED,
        "the old sign-in is gone"
    );
    let after: Vec<(i64,)> = app.rows(unused).await;
    assert_eq!(before, after, "and no code was spent on it");

    let waiting = app.sign_in("frank", new_pw).await;
    assert_eq!(
        waiting.location(),
        Some(SECOND),
        "a sign-in waits for its factor"
    );
    let uid = support::user_id(&app, "frank").await;
    let by = app::domain::audit::By::Admin(None);
    assert!(app::domain::two_factor::reset(&app.core, uid, by)
        .await
        .unwrap());
    assert!(
        !app::domain::two_factor::reset(&app.core, uid, by)
            .await
            .unwrap(),
        "nothing left"
    );
    let res = app.sign_in("frank", new_pw).await;
    assert!(res.session_cookie().is_some(), "the password alone again");
    let n: Vec<(i64,)> = app
        .rows("SELECT COUNT(*) FROM audit_events WHERE event = 'two_factor.reset'")
        .await;
    assert_eq!(n[0].0, 1);
    let waiting: Vec<(i64,)> = app.rows("SELECT COUNT(*) FROM two_factor_challenges").await;
    assert_eq!(waiting[0].0, 0);
}

/// A server function of the passkey island, as the browser calls it (JSON),
/// with the cookies given: the answer's JSON (`{"Ok": …}` or `{"Err": "…"}`).
async fn passkey_rpc(
    app: &TestApp,
    step: &str,
    body: serde_json::Value,
    cookies: &[(&str, &str)],
) -> serde_json::Value {
    let mut b = Request::builder()
        .method(Method::POST)
        .uri(format!("/rpc/passkeys/{step}"))
        .header(header::CONTENT_TYPE, "application/json");
    if !cookies.is_empty() {
        let c: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        b = b.header(header::COOKIE, c.join("; "));
    }
    let res = app
        .request(b.body(Body::from(body.to_string())).unwrap())
        .await;
    assert_eq!(
        res.status,
        StatusCode::OK,
        "{step}: a refusal is an answer: {}",
        res.body
    );
    serde_json::from_str(&res.body).unwrap_or_else(|_| panic!("{step}: {}", res.body))
}

fn refusal(v: &serde_json::Value) -> String {
    v["Err"]
        .as_str()
        .unwrap_or_else(|| panic!("a refusal: {v}"))
        .to_owned()
}

async fn passkey_ceremonies_are_one_time_and_bound_to_their_account(app: TestApp) {
    use serde_json::json;
    let alice = app.sign_up("alice", PW).await;
    let mallory = app.sign_up("mallory", PW).await;
    let a = [("tessera_session", alice.as_str())];
    let m = [("tessera_session", mallory.as_str())];
    // the options a browser parses: a discoverable credential, user
    // verification, this server as the relying party, no nulls
    let start = passkey_rpc(&app, "start", json!({"purpose": "register"}), &a).await;
    let options: serde_json::Value =
        serde_json::from_str(start["Ok"]["options"].as_str().unwrap()).unwrap();
    assert_eq!(options["rp"]["id"], "tessera.test");
    assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "required"
    );
    assert!(options["challenge"].as_str().is_some_and(|c| c.len() >= 43));
    assert!(!options.to_string().contains("null"));
    let ceremony = start["Ok"]["ceremony"].as_str().unwrap().to_owned();
    // another account cannot finish it (and it is used up by the try)
    let finish = |ceremony: &str, credential: &str| json!({"purpose": "register", "ceremony": ceremony, "name": "x", "credential": credential});
    let r = passkey_rpc(&app, "finish", finish(&ceremony, "{}"), &m).await;
    assert_eq!(refusal(&r), "The passkey prompt took too long. Try again.");
    let r = passkey_rpc(&app, "finish", finish(&ceremony, "{}"), &a).await;
    assert_eq!(
        refusal(&r),
        "The passkey prompt took too long. Try again.",
        "used once"
    );
    // what no browser sends: garbage, a huge answer, a forged ceremony
    let start = passkey_rpc(&app, "start", json!({"purpose": "register"}), &a).await;
    let ceremony = start["Ok"]["ceremony"].as_str().unwrap().to_owned();
    let r = passkey_rpc(&app, "finish", finish(&ceremony, "not json"), &a).await;
    assert!(refusal(&r).starts_with("Your passkey's answer could not be checked."));
    let r = passkey_rpc(&app, "finish", finish(&"A".repeat(43), "{}"), &a).await;
    assert_eq!(refusal(&r), "The passkey prompt took too long. Try again.");
    let huge = format!("{{\"id\": \"{}\"}}", "x".repeat(20_000));
    let start = passkey_rpc(&app, "start", json!({"purpose": "register"}), &a).await;
    let ceremony = start["Ok"]["ceremony"].as_str().unwrap().to_owned();
    let r = passkey_rpc(&app, "finish", finish(&ceremony, &huge), &a).await;
    assert!(refusal(&r).starts_with("Your passkey's answer could not be checked."));
    // a name that is too long is refused before the browser is trusted
    let start = passkey_rpc(&app, "start", json!({"purpose": "register"}), &a).await;
    let ceremony = start["Ok"]["ceremony"].as_str().unwrap().to_owned();
    let long = json!({"purpose": "register", "ceremony": ceremony, "name": "n".repeat(10_000), "credential": "{}"});
    let r = passkey_rpc(&app, "finish", long, &a).await;
    assert_eq!(refusal(&r), "Names are at most 64 characters.");
    // a loop of starts keeps one ceremony per account and purpose
    for _ in 0..5 {
        passkey_rpc(&app, "start", json!({"purpose": "register"}), &a).await;
    }
    let rows: Vec<(i64,)> = app
        .rows("SELECT COUNT(*) FROM passkey_ceremonies WHERE purpose = 'register'")
        .await;
    assert_eq!(rows[0].0, 1);
    // the other steps, out of place
    let r = passkey_rpc(&app, "start", json!({"purpose": "register"}), &[]).await;
    assert_eq!(
        refusal(&r),
        "You are signed out. Sign in again to continue."
    );
    let r = passkey_rpc(&app, "start", json!({"purpose": "sudo"}), &a).await;
    assert_eq!(
        refusal(&r),
        "You have no passkey yet: confirm with your password."
    );
    let r = passkey_rpc(&app, "start", json!({"purpose": "second"}), &[]).await;
    assert!(refusal(&r).contains("Sign in again"));
    let r = passkey_rpc(&app, "start", json!({"purpose": "../../etc"}), &a).await;
    assert_eq!(refusal(&r), "Unknown passkey step.");
    // a passkey alone naming an account this server does not have
    let start = passkey_rpc(&app, "start", json!({"purpose": "signin"}), &[]).await;
    let ceremony = start["Ok"]["ceremony"].as_str().unwrap().to_owned();
    let b64 = |s: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    };
    let credential = json!({
        "id": b64(b"cred"), "rawId": b64(b"cred"), "type": "public-key",
        "response": {"authenticatorData": b64(&[0; 37]), "clientDataJSON": b64(b"{}"),
            "signature": b64(&[1; 64]), "userHandle": b64(b"0123456789abcdef")},
    });
    let body =
        json!({"purpose": "signin", "ceremony": ceremony, "credential": credential.to_string()});
    let r = passkey_rpc(&app, "finish", body, &[]).await;
    assert_eq!(
        refusal(&r),
        "That passkey is not registered on this server."
    );
    let sessions: Vec<(i64,)> = app.rows("SELECT COUNT(*) FROM sessions").await;
    assert_eq!(sessions[0].0, 2, "no session was made");
    // every ceremony was used up or is left to expire; none outlives 5 minutes
    let late: Vec<(i64,)> = app
        .rows("SELECT COUNT(*) FROM passkey_ceremonies WHERE user_id IS NOT NULL AND purpose <> 'register'")
        .await;
    assert_eq!(late[0].0, 0);
}

async fn passkeys_need_a_domain_name(app: TestApp) {
    let s = app.sign_up("grace", PW).await;
    let r = passkey_rpc(
        &app,
        "start",
        serde_json::json!({"purpose": "register"}),
        &[("tessera_session", &s)],
    )
    .await;
    assert!(refusal(&r).starts_with("Passkeys are not available on this server"));
    let page = app.get(PAGE, Some(&s)).await;
    assert!(!page.body.contains("Add a passkey"), "not offered");
    assert!(page.body.contains("Add an authenticator app"));
}

on_both_backends!(
    an_authenticator_app_guards_the_sign_in,
    codes_are_throttled_like_passwords,
    hostile_input_is_refused_with_sentences,
    require_two_factor_holds_people_and_tokens,
    an_administrator_resets_a_lost_factor,
    passkey_ceremonies_are_one_time_and_bound_to_their_account,
    passkeys_need_a_domain_name with support::Options {
        public_url: "http://127.0.0.1:3000".into(),
        ..Default::default()
    },
);
