//! Account behaviour over HTTP, against SQLite and Postgres alike.

use crate::support;

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
        // not on the short built-in list, but zxcvbn knows it
        (
            "bob",
            "iloveyou123456",
            "iloveyou123456",
            "too easy to guess",
        ),
        (
            "bob",
            "qwertyuiopasdfgh",
            "qwertyuiopasdfgh",
            "too easy to guess",
        ),
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

/// Sends the same form from many tasks at once; returns the statuses.
async fn at_once(
    app: &TestApp,
    n: usize,
    path: &str,
    fields: Vec<(String, String)>,
    cookie: Option<String>,
) -> Vec<StatusCode> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (router, fields, cookie, path) = (
                app.router.clone(),
                fields.clone(),
                cookie.clone(),
                path.to_owned(),
            );
            tokio::spawn(async move {
                let body = fields
                    .iter()
                    .map(|(k, v)| format!("{}={}", app::ui::urlencode(k), app::ui::urlencode(v)))
                    .collect::<Vec<_>>()
                    .join("&");
                let mut b = axum::http::Request::builder()
                    .method("POST")
                    .uri(path)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("x-forwarded-for", "198.51.100.200");
                if let Some(c) = cookie {
                    b = b.header("cookie", format!("tessera_session={c}"));
                }
                support::send(&router, b.body(axum::body::Body::from(body)).unwrap())
                    .await
                    .status
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

fn count(statuses: &[StatusCode], s: StatusCode) -> usize {
    statuses.iter().filter(|x| **x == s).count()
}

/// 60 guesses at once against one account: the limit (5) is counted before
/// the password is checked, so exactly 5 are checked and 55 wait.
async fn concurrent_guesses_cannot_pass_the_limit(app: TestApp) {
    let cookie = app.sign_up("quinn", PW).await;
    let guess = |field: &str| vec![(field.to_owned(), "wrong password 123".to_owned())];
    let mut fields = guess("password");
    fields.push(("username".into(), "quinn".into()));
    let statuses = at_once(&app, 60, "/signin", fields, None).await;
    assert_eq!(
        count(&statuses, StatusCode::UNAUTHORIZED),
        5,
        "{statuses:?}"
    );
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 55);
    // the same holds for the current password of a password change
    let mut fields = guess("current");
    fields.push(("password".into(), "a brand new passphrase".into()));
    fields.push(("confirm".into(), "a brand new passphrase".into()));
    let statuses = at_once(&app, 20, "/profile/security/password", fields, Some(cookie)).await;
    assert_eq!(
        count(&statuses, StatusCode::UNPROCESSABLE_ENTITY),
        0,
        "already closed: {statuses:?}"
    );
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 20);
}

async fn password_changes_are_throttled_too(app: TestApp) {
    let cookie = app.sign_up("rosa", PW).await;
    let fields = vec![
        ("current".to_owned(), "wrong password 123".to_owned()),
        ("password".to_owned(), "a brand new passphrase".to_owned()),
        ("confirm".to_owned(), "a brand new passphrase".to_owned()),
    ];
    let statuses = at_once(&app, 30, "/profile/security/password", fields, Some(cookie)).await;
    assert_eq!(
        count(&statuses, StatusCode::UNPROCESSABLE_ENTITY),
        5,
        "{statuses:?}"
    );
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 25);
}

fn two_signups_per_address() -> Options {
    let mut o = Options::default();
    o.throttle.max_signups_per_ip = 2;
    o
}

async fn sign_ups_are_throttled_per_address(app: TestApp) {
    for name in ["s1", "s2"] {
        let r = app
            .post_form_from(
                "203.0.113.50",
                "/signup",
                &[("username", name), ("password", PW), ("confirm", PW)],
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
    }
    let r = app
        .post_form_from(
            "203.0.113.50",
            "/signup",
            &[("username", "s3"), ("password", PW), ("confirm", PW)],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.header("retry-after").is_some());
    assert!(text_of_class(&r.body, "alert error")
        .unwrap_or_default()
        .contains("Too many new accounts"));
    let other = app
        .post_form_from(
            "203.0.113.51",
            "/signup",
            &[("username", "s3"), ("password", PW), ("confirm", PW)],
            None,
        )
        .await;
    assert_eq!(other.status, StatusCode::SEE_OTHER);
}

fn one_hashing_slot() -> Options {
    Options {
        hash_concurrency: 1,
        hash_queue: 1,
        ..Default::default()
    }
}

/// A flood of sign-ins is answered at once: what the hashing queue cannot
/// take gets 503 with Retry-After, nothing waits for minutes.
async fn a_full_hashing_queue_answers_503_at_once(app: TestApp) {
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let router = app.router.clone();
            tokio::spawn(async move {
                let body = format!("username=flood{i}&password=some+password+{i}");
                let req = axum::http::Request::builder()
                    .method("POST")
                    .uri("/signin")
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("x-forwarded-for", format!("203.0.113.{i}"))
                    .body(axum::body::Body::from(body))
                    .unwrap();
                let r = support::send(&router, req).await;
                (r.status, r.header("retry-after").map(str::to_owned))
            })
        })
        .collect();
    let mut busy = 0;
    for t in tasks {
        let (status, retry) = t.await.expect("task");
        match status {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                assert!(retry.is_some(), "503 says when to come back");
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(busy > 0, "the queue never filled");
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// Absurdly long names and passwords are refused at the edge: no throttle
/// key, no hash.
async fn overlong_credentials_are_refused_at_the_edge(app: TestApp) {
    let long_name = "n".repeat(20_000);
    let long_pw = "p".repeat(20_000);
    for (u, p, field) in [
        (long_name.as_str(), "whatever pw", "username"),
        ("ivan", long_pw.as_str(), "password"),
    ] {
        let r = app
            .post_form("/signin", &[("username", u), ("password", p)], None)
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        assert!(r.body.contains("at most"), "{field}");
    }
    assert_eq!(app.core.throttle.keys_in_memory(), 0);
    // a body past the limit is refused before it is read
    let huge = "x".repeat(2 * 1024 * 1024);
    let r = app
        .post_form(
            "/signin",
            &[("username", "ivan"), ("password", &huge)],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
}

/// With Postgres, two instances share one throttle: a load balancer must not
/// double the allowance.
async fn instances_share_the_throttle(app: TestApp) {
    app.sign_up("tess", PW).await;
    let (other, _core) = app.second_instance().await;
    for _ in 0..5 {
        let r = app.sign_in("tess", "wrong password 123").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let body = format!("username=tess&password={}", app::ui::urlencode(PW));
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/signin")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-forwarded-for", "192.0.2.200")
        .body(axum::body::Body::from(body))
        .unwrap();
    assert_eq!(
        support::send(&other, req).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
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
    let res = app.sign_up_answer("mallory", PW).await;
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
    // the WASM loads after the page (no preload racing the first paint)
    assert!(
        res.body.contains("addEventListener(\"load\",boot"),
        "boot script"
    );
    assert!(!res.body.contains("modulepreload"), "no preload hints");
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(res.header("x-frame-options"), Some("DENY"));
    assert!(res.header("referrer-policy").is_some());
    assert!(res.header("x-request-id").is_some());
    assert_eq!(res.header("cache-control"), Some("no-store"));
    // search engines and link previews get a description (Lighthouse SEO)
    assert!(res
        .body
        .contains("<meta name=\"description\" content=\"Tessera: "));
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

/// A panic in a handler is a 500 with the request id — JSON on machine
/// routes, a page on browser routes — never a dropped connection.
async fn a_panic_is_a_500_with_the_request_id(app: TestApp) {
    use axum::routing::get;
    async fn boom() -> &'static str {
        panic!("deliberate test panic")
    }
    let state = app.state();
    let browser =
        tessera::browser::with_layers(&state, axum::Router::new().route("/boom", get(boom)));
    let machine = tessera::machine::with_layers(axum::Router::new().route("/api/boom", get(boom)));
    let router = tessera::assemble(state, browser, machine);
    let ask = |path: &str| {
        axum::http::Request::builder()
            .uri(path)
            .header("x-request-id", "panic-test-1")
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let api = support::send(&router, ask("/api/boom")).await;
    assert_eq!(api.status, StatusCode::INTERNAL_SERVER_ERROR);
    let v: serde_json::Value = serde_json::from_str(&api.body).expect("JSON");
    assert_eq!(v["error"], "internal");
    assert_eq!(v["request_id"], "panic-test-1");
    assert_eq!(api.header("x-request-id"), Some("panic-test-1"));
    let page = support::send(&router, ask("/boom")).await;
    assert_eq!(page.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(page
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/html"));
    assert!(page.body.contains("Something went wrong") && page.body.contains("panic-test-1"));
    // the app still serves afterwards
    assert_eq!(
        support::send(&router, ask("/healthz")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
}

async fn unknown_pages_are_404_pages(app: TestApp) {
    let res = app.get("/no/such/page", None).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert!(res.body.contains("Page not found"));
}

on_backend!(postgres_only, Postgres; instances_share_the_throttle);

on_both_backends!(
    a_panic_is_a_500_with_the_request_id,
    concurrent_guesses_cannot_pass_the_limit,
    password_changes_are_throttled_too,
    sign_ups_are_throttled_per_address with two_signups_per_address(),
    a_full_hashing_queue_answers_503_at_once with one_hashing_slot(),
    overlong_credentials_are_refused_at_the_edge,
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
