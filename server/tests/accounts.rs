//! Account behaviour over HTTP, against SQLite and Postgres alike.

mod support;

use axum::http::StatusCode;
use std::time::Duration;
use support::{text_of_class, Options, TestApp, PW};

fn field_error(body: &str) -> String {
    text_of_class(body, "field-error").unwrap_or_default()
}

async fn sign_up_creates_an_account_and_signs_in(app: TestApp) {
    let res = app
        .post_form(
            "/signup",
            &[("username", "alice"), ("password", PW), ("confirm", PW)],
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.location(), Some("/profile/security/tokens"));
    let set_cookie = res.set_cookie().expect("cookie").to_owned();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    assert!(
        !set_cookie.contains("Secure"),
        "plain-http public URL must not set Secure: {set_cookie}"
    );
    let cookie = res.session_cookie().expect("session");
    let page = app.get("/profile/security/tokens", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Personal access tokens"));
    assert!(page.body.contains("Profile menu for alice"));
}

async fn sign_up_explains_each_bad_field_and_keeps_the_username(app: TestApp) {
    let cases: &[(&str, &str, &str, &str)] = &[
        ("", PW, PW, "Enter a username."),
        ("a", PW, PW, "at least 2 characters"),
        (&"x".repeat(33), PW, PW, "at most 32 characters"),
        ("bad name!", PW, PW, "only letters, digits"),
        ("bob", "short", "short", "at least 12 characters"),
        ("bob", "password1234", "password1234", "too easy to guess"),
        (
            "bob",
            "bob-is-my-secret",
            "bob-is-my-secret",
            "must not contain your username",
        ),
        ("bob", PW, "something else", "Passwords do not match."),
    ];
    for (username, password, confirm, expected) in cases {
        let res = app
            .post_form(
                "/signup",
                &[
                    ("username", username),
                    ("password", password),
                    ("confirm", confirm),
                ],
                None,
            )
            .await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{username:?}/{password:?}"
        );
        let msg = field_error(&res.body);
        assert!(
            msg.contains(expected),
            "for {username:?}/{password:?}: got {msg:?}"
        );
        assert!(res.session_cookie().is_none());
        if !username.is_empty() && username.len() <= 32 {
            assert!(
                res.body.contains(&format!("value=\"{username}\"")),
                "username kept"
            );
        }
        assert!(
            !res.body.contains(password) || password.len() < 8,
            "a password was echoed back"
        );
    }
}

async fn a_form_with_missing_fields_gets_messages_not_an_error(app: TestApp) {
    let res = app.post_form("/signup", &[], None).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    let res = app.post_form("/signin", &[], None).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.body.contains("Enter your username."));
    assert!(res.body.contains("Enter your password."));
}

async fn usernames_are_unique_regardless_of_case(app: TestApp) {
    app.sign_up("Carol", PW).await;
    let res = app
        .post_form(
            "/signup",
            &[("username", "carol"), ("password", PW), ("confirm", PW)],
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field_error(&res.body), "That username is already taken.");
}

async fn sign_in_works_and_issues_a_new_session_each_time(app: TestApp) {
    let first = app.sign_up("dave", PW).await;
    let res = app.sign_in("DAVE", PW).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let second = res.session_cookie().expect("cookie");
    assert_ne!(first, second);
    let res = app.sign_in("dave", PW).await;
    let third = res.session_cookie().expect("cookie");
    assert_ne!(second, third);
    for cookie in [&first, &second, &third] {
        assert_eq!(
            app.get("/profile/security/tokens", Some(cookie))
                .await
                .status,
            StatusCode::OK
        );
    }
}

async fn unknown_user_and_wrong_password_get_the_same_answer(app: TestApp) {
    app.sign_up("erin", PW).await;
    let wrong = app.sign_in("erin", "not the password at all").await;
    let unknown = app.sign_in("nobody-here", "not the password at all").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    let a = text_of_class(&wrong.body, "alert error").expect("message");
    let b = text_of_class(&unknown.body, "alert error").expect("message");
    assert_eq!(a, "Incorrect username or password.");
    assert_eq!(a, b);
    assert!(wrong.session_cookie().is_none() && unknown.session_cookie().is_none());
}

async fn sign_out_ends_the_session_on_the_server(app: TestApp) {
    let cookie = app.sign_up("frank", PW).await;
    let res = app.post_form("/signout", &[], Some(&cookie)).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert!(res.set_cookie().is_some_and(|c| c.contains("Max-Age=0")));
    // replaying the old cookie no longer works
    let page = app.get("/profile/security/tokens", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.location().is_some_and(|l| l.starts_with("/signin")));
}

async fn password_change_ends_every_other_session(app: TestApp) {
    let laptop = app.sign_up("grace", PW).await;
    let phone = app
        .sign_in("grace", PW)
        .await
        .session_cookie()
        .expect("cookie");
    let new_pw = "a brand new passphrase";
    let res = app
        .post_form(
            "/profile/security/password",
            &[("current", PW), ("password", new_pw), ("confirm", new_pw)],
            Some(&laptop),
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let fresh = res
        .session_cookie()
        .expect("a fresh session for this browser");
    for old in [&laptop, &phone] {
        assert_eq!(
            app.get("/profile/security/tokens", Some(old)).await.status,
            StatusCode::SEE_OTHER
        );
    }
    assert_eq!(
        app.get("/profile/security/tokens", Some(&fresh))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.sign_in("grace", PW).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.sign_in("grace", new_pw).await.status,
        StatusCode::SEE_OTHER
    );
}

async fn password_change_checks_the_current_password(app: TestApp) {
    let cookie = app.sign_up("heidi", PW).await;
    let res = app
        .post_form(
            "/profile/security/password",
            &[
                ("current", "wrong wrong wrong"),
                ("password", "another good phrase"),
                ("confirm", "another good phrase"),
            ],
            Some(&cookie),
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field_error(&res.body), "That is not your current password.");
    assert_eq!(
        app.get("/profile/security/tokens", Some(&cookie))
            .await
            .status,
        StatusCode::OK
    );
}

fn tight_throttle() -> Options {
    let mut o = Options::default();
    o.throttle.max_failures_per_account = 3;
    o.throttle.max_failures_per_ip = 5;
    o.throttle.window = Duration::from_secs(600);
    o
}

async fn an_account_is_throttled_after_repeated_failures(app: TestApp) {
    app.sign_up("ivan", PW).await;
    for i in 0..3 {
        let res = app
            .post_form_from(
                &format!("203.0.113.{i}"),
                "/signin",
                &[("username", "ivan"), ("password", "nope nope nope")],
                None,
            )
            .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    }
    // even the right password, from another address, must wait now
    let res = app
        .post_form_from(
            "203.0.113.99",
            "/signin",
            &[("username", "ivan"), ("password", PW)],
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!(retry > 0 && retry <= 600);
    let msg = text_of_class(&res.body, "alert error").expect("message");
    assert!(
        msg.starts_with("Too many sign-in attempts. Try again in"),
        "{msg}"
    );
    assert!(res.session_cookie().is_none());
    // other accounts are unaffected
    app.sign_up("judy", PW).await;
    assert_eq!(app.sign_in("judy", PW).await.status, StatusCode::SEE_OTHER);
}

async fn a_client_address_is_throttled_across_accounts(app: TestApp) {
    for i in 0..5 {
        let res = app
            .post_form_from(
                "192.0.2.77",
                "/signin",
                &[
                    ("username", &format!("user{i}")),
                    ("password", "nope nope nope"),
                ],
                None,
            )
            .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    }
    let res = app
        .post_form_from(
            "192.0.2.77",
            "/signin",
            &[("username", "someone-else"), ("password", "nope nope nope")],
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(res.header("retry-after").is_some());
    let res = app
        .post_form_from(
            "192.0.2.78",
            "/signin",
            &[("username", "someone-else"), ("password", "nope nope nope")],
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
}

async fn profile_pages_send_strangers_to_sign_in_and_back(app: TestApp) {
    let res = app.get("/profile/security/tokens", None).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(
        res.location(),
        Some("/signin?next=/profile/security/tokens")
    );
    app.sign_up("karl", PW).await;
    let res = app
        .post_form(
            "/signin",
            &[
                ("username", "karl"),
                ("password", PW),
                ("next", "/profile/security/password"),
            ],
            None,
        )
        .await;
    assert_eq!(res.location(), Some("/profile/security/password"));
    // only local paths are followed
    for evil in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/ /evil.example",
    ] {
        let res = app
            .post_form(
                "/signin",
                &[("username", "karl"), ("password", PW), ("next", evil)],
                None,
            )
            .await;
        assert_eq!(res.location(), Some("/profile/security/tokens"), "{evil}");
    }
}

async fn cross_site_form_posts_are_refused(app: TestApp) {
    let cookie = app.sign_up("lena", PW).await;
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/signout")
        .header("origin", "https://evil.example")
        .header("host", "tessera.test")
        .header("cookie", format!("tessera_session={cookie}"))
        .body(axum::body::Body::empty())
        .expect("request");
    assert_eq!(app.request(req).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/profile/security/tokens", Some(&cookie))
            .await
            .status,
        StatusCode::OK
    );
}

fn signup_closed() -> Options {
    Options {
        signup_enabled: false,
        ..Options::default()
    }
}

async fn sign_up_can_be_turned_off(app: TestApp) {
    let res = app
        .post_form(
            "/signup",
            &[("username", "mallory"), ("password", PW), ("confirm", PW)],
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(app
        .get("/signup", None)
        .await
        .body
        .contains("Sign-up is closed"));
}

async fn pages_carry_security_headers_and_a_matching_nonce(app: TestApp) {
    let res = app.get("/signin", None).await;
    assert_eq!(res.status, StatusCode::OK);
    let csp = res
        .header("content-security-policy")
        .expect("CSP")
        .to_owned();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .expect("nonce");
    assert!(
        res.body.contains(&format!("nonce=\"{nonce}\"")),
        "hydration script carries the nonce"
    );
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(res.header("x-frame-options"), Some("DENY"));
    assert!(res.header("referrer-policy").is_some());
    assert!(res.header("x-request-id").is_some());
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let again = app.get("/signin", None).await;
    assert_ne!(
        again.header("content-security-policy"),
        Some(csp.as_str()),
        "a fresh nonce per response"
    );
}

async fn health_and_readiness_answer(app: TestApp) {
    let res = app.get("/healthz", None).await;
    assert_eq!((res.status, res.body.as_str()), (StatusCode::OK, "ok"));
    let res = app.get("/readyz", None).await;
    assert_eq!(res.status, StatusCode::OK);
}

/// Request ids: a client's well-formed id is kept, junk is replaced; large
/// answers are compressed for clients that accept it.
async fn request_ids_and_compression(app: TestApp) {
    let get = |headers: &[(&str, &str)]| {
        let mut b = axum::http::Request::builder().uri("/signin");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(axum::body::Body::empty()).expect("request")
    };
    let kept = app.request(get(&[("x-request-id", "trace-42_a")])).await;
    assert_eq!(kept.header("x-request-id"), Some("trace-42_a"));
    let junk = "a b\"<script>";
    let req = axum::http::Request::builder()
        .uri("/signin")
        .header(
            "x-request-id",
            axum::http::HeaderValue::from_bytes(junk.as_bytes()).unwrap(),
        )
        .body(axum::body::Body::empty())
        .unwrap();
    let replaced = app.request(req).await;
    let id = replaced.header("x-request-id").expect("an id").to_owned();
    assert!(
        id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    let plain = app.request(get(&[])).await;
    assert_eq!(plain.header("content-encoding"), None);
    let br = app.request(get(&[("accept-encoding", "br")])).await;
    assert_eq!(br.header("content-encoding"), Some("br"));
    assert!(!br.body.contains("<html"), "the body is brotli, not HTML");
    let tiny = app
        .request(
            axum::http::Request::builder()
                .uri("/healthz")
                .header("accept-encoding", "br")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        tiny.header("content-encoding"),
        None,
        "tiny answers stay plain"
    );
}

async fn unknown_pages_are_404_pages(app: TestApp) {
    let res = app.get("/no/such/page", None).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert!(res.body.contains("Page not found"));
}

on_both_backends!(
    request_ids_and_compression,
    sign_up_creates_an_account_and_signs_in,
    sign_up_explains_each_bad_field_and_keeps_the_username,
    a_form_with_missing_fields_gets_messages_not_an_error,
    usernames_are_unique_regardless_of_case,
    sign_in_works_and_issues_a_new_session_each_time,
    unknown_user_and_wrong_password_get_the_same_answer,
    sign_out_ends_the_session_on_the_server,
    password_change_ends_every_other_session,
    password_change_checks_the_current_password,
    an_account_is_throttled_after_repeated_failures with tight_throttle(),
    a_client_address_is_throttled_across_accounts with tight_throttle(),
    profile_pages_send_strangers_to_sign_in_and_back,
    cross_site_form_posts_are_refused,
    sign_up_can_be_turned_off with signup_closed(),
    pages_carry_security_headers_and_a_matching_nonce,
    health_and_readiness_answer,
    unknown_pages_are_404_pages,
);
