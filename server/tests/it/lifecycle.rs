//! The lifecycle reaching people, with real parts: a real SMTP server
//! (Debian's python3-aiosmtpd) and a real HTTP receiver that checks every
//! webhook signature with Python's hmac. Expiry notices arrive once per
//! threshold by mail and webhook; confirmation links work; retries follow
//! a 500; two instances on one store send each notice once; revocations by
//! others, reuse, new networks and ended-but-presented tokens tell the
//! owner; secret-scanning reports are verified against real ECDSA keys
//! made and used by openssl.

use crate::support;

use app::domain::{lifecycle, tokens::Actor};
use axum::{body::Body, http::Request, http::StatusCode};
use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
    time::Duration,
};
use support::{token, Helper, Options, TestApp, PW};

fn start(script: &str, name: &str) -> Option<Helper> {
    support::python_helper(
        "lifecycle_support",
        script,
        name,
        "aiosmtpd",
        "python3-aiosmtpd",
    )
}

fn smtp() -> Option<&'static Helper> {
    static SMTP: OnceLock<Option<Helper>> = OnceLock::new();
    SMTP.get_or_init(|| start("smtp_server.py", "smtp"))
        .as_ref()
}

fn receiver() -> Option<&'static Helper> {
    static HOOKS: OnceLock<Option<Helper>> = OnceLock::new();
    HOOKS
        .get_or_init(|| start("webhook_receiver.py", "hooks"))
        .as_ref()
}

/// Options with mail through the test SMTP server.
fn with_mail() -> Options {
    let mut o = Options::default();
    if let Some(s) = smtp() {
        o.lifecycle.smtp_url = Some(format!("smtp://127.0.0.1:{}", s.port).into());
        o.lifecycle.mail_from = "tessera@tessera.test".into();
    }
    o
}

/// Every mail the SMTP server holds for `to`, as raw text.
fn mails_to(to: &str) -> Vec<String> {
    let Some(s) = smtp() else { return vec![] };
    let mut found = vec![];
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(s.dir.join(sub)) else {
            continue;
        };
        for e in entries.flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            if text
                .lines()
                .any(|l| l.eq_ignore_ascii_case(&format!("To: {to}")))
            {
                found.push(text);
            }
        }
    }
    found
}

fn subject(mail: &str) -> String {
    mail.lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap_or("")
        .to_owned()
}

/// The mail text with quoted-printable soft breaks undone.
fn unfolded(mail: &str) -> String {
    mail.replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
}

/// What the receiver saw on `path`.
fn received(path: &str) -> Vec<serde_json::Value> {
    let Some(r) = receiver() else { return vec![] };
    std::fs::read_to_string(r.dir.join(format!("{path}.log")))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn until<F: Fn() -> bool>(what: &str, secs: u64, check: F) {
    for _ in 0..secs * 10 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

fn unique(prefix: &str, app: &TestApp) -> String {
    format!("{prefix}-{:?}-{}", app.backend, rand::random::<u32>()).to_lowercase()
}

/// Adds a webhook through the page's form; tells the receiver its secret.
/// Posts `fields` to webhook `id`'s `action` (`test`, `delete`) as `cookie`.
async fn hook_action(
    app: &TestApp,
    id: i64,
    action: &str,
    fields: &[(&str, &str)],
    cookie: &str,
) -> support::Resp {
    let path = format!("/profile/security/notifications/webhooks/{id}/{action}");
    app.post_form(&path, fields, Some(cookie)).await
}

/// Where a notifications form post sends the browser after `done`.
fn done_at(done: &str) -> Option<String> {
    Some(format!("/profile/security/notifications?done={done}"))
}

async fn add_hook(app: &TestApp, cookie: &str, path: &str) -> String {
    let url = format!("http://127.0.0.1:{}/{path}", receiver().unwrap().port);
    let res = app
        .post_form(
            "/profile/security/notifications/webhooks",
            &[
                ("url", &url),
                ("description", "CI alerts"),
                ("sudo_password", PW),
            ],
            Some(cookie),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let secret = res
        .body
        .split("data-webhook-secret=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the secret is shown")
        .to_owned();
    assert!(secret.starts_with("whsec_"));
    std::fs::write(
        receiver().unwrap().dir.join(format!("{path}.secret")),
        &secret,
    )
    .unwrap();
    // shown once: the page does not show it again
    let page = app
        .get("/profile/security/notifications", Some(cookie))
        .await;
    assert!(!page.body.contains(&secret) && page.body.contains(&url));
    secret
}

/// Sets and confirms `email` through the page and the mailed link.
async fn confirm_email(app: &TestApp, cookie: &str, email: &str) {
    let res = app
        .post_form(
            "/profile/security/notifications/email",
            &[("email", email), ("action", "save"), ("sudo_password", PW)],
            Some(cookie),
        )
        .await;
    assert_eq!(
        res.location(),
        Some("/profile/security/notifications?done=email-sent"),
        "{}",
        res.body
    );
    until("the confirmation mail", 10, || !mails_to(email).is_empty()).await;
    let mail = unfolded(&mails_to(email)[0]);
    assert_eq!(subject(&mail), "Confirm your e-mail address for Tessera");
    let link = mail
        .split("http://tessera.test")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("a link")
        .to_owned();
    // the code is not stored, only its hash
    let code = link.split("code=").nth(1).unwrap().to_owned();
    let stored: Vec<(i64,)> = app
        .rows(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE details LIKE '%{code}%'"
        ))
        .await;
    assert_eq!(stored[0].0, 0, "the code is only mailed");
    // a wrong code confirms nothing
    let bad = app
        .get(
            "/profile/security/notifications/confirm?code=nope",
            Some(cookie),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("not valid or has expired"));
    let ok = app.get(&link, Some(cookie)).await;
    assert_eq!(
        ok.location(),
        Some("/profile/security/notifications?done=email-confirmed")
    );
    let again = app.get(&link, Some(cookie)).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "a link works once");
    let page = app
        .get("/profile/security/notifications", Some(cookie))
        .await;
    assert!(page
        .body
        .contains(&format!("data-email-confirmed=\"{email}\"")));
}

async fn expiry_notices_arrive_once_per_threshold_by_mail_and_webhook(app: TestApp) {
    if smtp().is_none() || receiver().is_none() {
        return;
    }
    let name = unique("erin", &app);
    let (uid, cookie) = support::user(&app, &name).await;
    let email = format!("{name}@example.com");
    confirm_email(&app, &cookie, &email).await;
    let path = format!("{name}-flaky");
    add_hook(&app, &cookie, &path).await;
    // a token that expires in 5 days: the 7-day notice
    let spec = app::tokens::TokenSpec {
        name: "ci-deploy".into(),
        description: String::new(),
        expiry: app::tokens::Expiry::Days(5),
        scopes: app::scopes::Scopes::parse("code:read").unwrap(),
        networks: Default::default(),
        owner: None,
        resources: Default::default(),
    };
    let created = app::domain::tokens::create(&app.core, &Actor::user(uid), &spec, "")
        .await
        .unwrap();
    let id = created.token.id;
    let expiring = |e: &str| {
        mails_to(e)
            .into_iter()
            .filter(|m| subject(m).contains("expires"))
            .collect::<Vec<_>>()
    };
    until("the expiry mail", 15, || !expiring(&email).is_empty()).await;
    let mail = unfolded(&expiring(&email)[0]);
    assert_eq!(subject(&mail), "Your token ci-deploy expires in 5 days");
    assert!(
        mail.contains(&format!("/profile/security/tokens/{id}/edit")),
        "{mail}"
    );
    assert!(!mail.contains(&created.secret), "no secret in mail");
    // the webhook: first attempt answered 500, retried, same message id, signed
    until("the retried webhook", 25, || received(&path).len() >= 2).await;
    let calls = received(&path);
    assert_eq!(calls[0]["answered"], 500);
    assert_eq!(calls[1]["answered"], 204);
    assert_eq!(
        calls[0]["id"], calls[1]["id"],
        "a retry keeps the webhook-id"
    );
    assert!(calls.iter().all(|c| c["signature_ok"] == true), "{calls:?}");
    let body = &calls[1]["body"];
    assert_eq!(body["type"], "token.expiring");
    assert_eq!(body["data"]["token"]["id"], id);
    assert_eq!(body["data"]["threshold_days"], 7);
    // the delivery log shows the attempts
    let page = app
        .get("/profile/security/notifications", Some(&cookie))
        .await;
    assert!(
        page.body.contains("Delivered (2 attempts)"),
        "{}",
        page.body
    );
    // looking again sends nothing more
    for _ in 0..3 {
        lifecycle::scan_tokens(&app.core).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(expiring(&email).len(), 1, "once per threshold");
    assert_eq!(
        received(&path)
            .iter()
            .filter(|c| c["answered"] == 204)
            .count(),
        1
    );
    // a day left: the 1-day notice, once
    let soon = (app::domain::db::now() + chrono::Duration::hours(12)).to_rfc3339();
    app.exec(&format!(
        "UPDATE tokens SET expires_at = '{soon}' WHERE id = {id}"
    ))
    .await;
    for _ in 0..3 {
        lifecycle::scan_tokens(&app.core).await.unwrap();
    }
    until("the 1-day mail", 10, || expiring(&email).len() == 2).await;
    assert!(expiring(&email)
        .iter()
        .any(|m| subject(m) == "Your token ci-deploy expires in 1 day"));
    // expired: one notice
    let past = (app::domain::db::now() - chrono::Duration::hours(1)).to_rfc3339();
    app.exec(&format!(
        "UPDATE tokens SET expires_at = '{past}' WHERE id = {id}"
    ))
    .await;
    lifecycle::scan_tokens(&app.core).await.unwrap();
    lifecycle::scan_tokens(&app.core).await.unwrap();
    let expired = |e: &str| {
        mails_to(e)
            .into_iter()
            .filter(|m| subject(m).contains("has expired"))
            .count()
    };
    until("the expired mail", 10, || expired(&email) == 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(expired(&email), 1);
    assert_eq!(expiring(&email).len(), 2);
    // removing the address stops mail
    let res = app
        .post_form(
            "/profile/security/notifications/email",
            &[("action", "remove")],
            Some(&cookie),
        )
        .await;
    assert_eq!(res.location().map(str::to_owned), done_at("email-removed"));
    let rows: Vec<(Option<String>,)> = app
        .rows(&format!("SELECT email FROM users WHERE id = {uid}"))
        .await;
    assert_eq!(rows[0].0, None);
}

async fn two_instances_send_each_notice_once(app: TestApp) {
    if smtp().is_none() || receiver().is_none() {
        return;
    }
    let (_second, _core) = app.second_instance().await;
    let name = unique("twin", &app);
    let (uid, cookie) = support::user(&app, &name).await;
    let email = format!("{name}@example.com");
    confirm_email(&app, &cookie, &email).await;
    let path = format!("{name}-hook");
    add_hook(&app, &cookie, &path).await;
    for i in 0..6 {
        let spec = app::tokens::TokenSpec {
            name: format!("job-{i}"),
            description: String::new(),
            expiry: app::tokens::Expiry::Days(3),
            scopes: app::scopes::Scopes::parse("code:read").unwrap(),
            networks: Default::default(),
            owner: None,
            resources: Default::default(),
        };
        app::domain::tokens::create(&app.core, &Actor::user(uid), &spec, "")
            .await
            .unwrap();
    }
    let (victim, _) = token(&app, uid, "victim", "code:read").await;
    let admin = app::domain::admin::Admin::cli();
    app::domain::admin::revoke_token(&app.core, &admin, victim, "offboarding")
        .await
        .unwrap();
    until("seven notices", 20, || {
        received(&path).len() >= 7 && mails_to(&email).len() >= 8
    })
    .await;
    // let both workers run a few more passes
    tokio::time::sleep(Duration::from_secs(3)).await;
    let calls = received(&path);
    assert_eq!(calls.len(), 7, "each notice once: {calls:?}");
    let mut ids: Vec<String> = calls
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 7);
    let mails = mails_to(&email);
    assert_eq!(
        mails.len(),
        8,
        "the confirmation, six expiry notices and the revocation"
    );
    let revoked: Vec<_> = calls
        .iter()
        .filter(|c| c["body"]["type"] == "token.revoked_by_admin")
        .collect();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["body"]["data"]["reason"], "offboarding");
    assert!(mails
        .iter()
        .any(|m| unfolded(m).contains("an administrator revoked it: offboarding")));
}

async fn an_administrators_webhook_gets_every_users_events(app: TestApp) {
    if receiver().is_none() {
        return;
    }
    let admin_name = unique("root", &app);
    let (admin_id, admin_cookie) = support::user(&app, &admin_name).await;
    app.exec(&format!(
        "UPDATE users SET is_admin = TRUE WHERE id = {admin_id}"
    ))
    .await;
    let path = format!("{admin_name}-org");
    let url = format!("http://127.0.0.1:{}/{path}", receiver().unwrap().port);
    let res = app
        .post_form(
            "/profile/security/notifications/webhooks",
            &[("url", &url), ("scope", "all"), ("sudo_password", PW)],
            Some(&admin_cookie),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let secret = res
        .body
        .split("data-webhook-secret=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    std::fs::write(
        receiver().unwrap().dir.join(format!("{path}.secret")),
        &secret,
    )
    .unwrap();
    let page = app
        .get("/profile/security/notifications", Some(&admin_cookie))
        .await;
    assert!(
        page.body.contains("Every user&#x27;s events") || page.body.contains("Every user's events")
    );
    // another user's token revoked by an administrator reaches it
    let (bob, bob_cookie) = support::user(&app, &unique("bob", &app)).await;
    let (tid, _) = token(&app, bob, "bob-ci", "code:read").await;
    app::domain::admin::revoke_token(
        &app.core,
        &app::domain::admin::Admin::cli(),
        tid,
        "left the team",
    )
    .await
    .unwrap();
    until("the organization webhook", 10, || {
        !received(&path).is_empty()
    })
    .await;
    let call = &received(&path)[0];
    assert_eq!(call["signature_ok"], true);
    assert_eq!(call["body"]["type"], "token.revoked_by_admin");
    assert_eq!(call["body"]["data"]["token"]["id"], tid);
    // the user does not see it, and cannot delete it
    let page = app
        .get("/profile/security/notifications", Some(&bob_cookie))
        .await;
    assert!(!page.body.contains(&url));
    let hooks: Vec<(i64,)> = app
        .rows("SELECT id FROM webhooks WHERE user_id IS NULL")
        .await;
    let res = hook_action(&app, hooks[0].0, "delete", &[], &bob_cookie).await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let res = hook_action(&app, hooks[0].0, "delete", &[], &admin_cookie).await;
    assert_eq!(
        res.location().map(str::to_owned),
        done_at("webhook-deleted")
    );
}

/// An instance that claimed a delivery and died before sending it: when
/// its lease ends another instance sends it, once.
async fn a_claim_whose_instance_died_is_sent_when_its_lease_ends(app: TestApp) {
    if receiver().is_none() {
        return;
    }
    let name = unique("lena", &app);
    let (uid, cookie) = support::user(&app, &name).await;
    let path = format!("{name}-hook");
    add_hook(&app, &cookie, &path).await;
    // the "dead" instance's claim: taken, attempt counted, never finished
    let until_later = (app::domain::db::now() + chrono::Duration::hours(1)).to_rfc3339();
    let notice = lifecycle::Notice {
        key: format!("test-crash:{uid}"),
        event: "webhook.test",
        user_id: uid,
        token_id: None,
        subject: "claimed by an instance that died".into(),
        body: String::new(),
        data: serde_json::json!({}),
        only_webhook: None,
    };
    lifecycle::notify(&app.core, &notice)
        .await
        .unwrap()
        .unwrap();
    app.exec(&format!(
        "UPDATE deliveries SET claimed_until = '{until_later}', attempts = 1 WHERE state = 'pending'"
    ))
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        received(&path).is_empty(),
        "nobody sends a delivery another instance holds"
    );
    // the lease ends
    let past = (app::domain::db::now() - chrono::Duration::seconds(1)).to_rfc3339();
    app.exec(&format!(
        "UPDATE deliveries SET claimed_until = '{past}' WHERE state = 'pending'"
    ))
    .await;
    until("the delivery after the lease", 10, || {
        received(&path).len() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(received(&path).len(), 1);
    let rows: Vec<(String, i64)> = app.rows("SELECT state, attempts FROM deliveries").await;
    assert_eq!(rows, vec![("delivered".to_owned(), 2)]);
}

async fn call_from(app: &TestApp, secret: &str, ip: &str, agent: &str) -> StatusCode {
    let req = Request::builder()
        .uri("/api/v1/me")
        .header("authorization", format!("Bearer {secret}"))
        .header("x-forwarded-for", ip)
        .header("user-agent", agent)
        .body(Body::empty())
        .unwrap();
    app.request(req).await.status
}

async fn owners_hear_of_leaks_reuse_new_networks_and_ended_tokens_in_use(app: TestApp) {
    if receiver().is_none() {
        return;
    }
    let name = unique("olga", &app);
    let (uid, cookie) = support::user(&app, &name).await;
    let path = format!("{name}-hook");
    add_hook(&app, &cookie, &path).await;
    let of_type = |t: &str| {
        received(&path)
            .into_iter()
            .filter(|c| c["body"]["type"] == t)
            .collect::<Vec<_>>()
    };
    // new networks: the first use sets the baseline; same /24 is not new
    let (tid, secret) = token(&app, uid, "runner", "profile:read").await;
    assert_eq!(
        call_from(&app, &secret, "192.0.2.10", "git/2.43.0").await,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..20 {
        assert_eq!(
            call_from(&app, &secret, "192.0.2.99", "git/2.44.0").await,
            StatusCode::OK
        );
    }
    for _ in 0..20 {
        assert_eq!(
            call_from(&app, &secret, "198.51.100.5", "git/2.43.0").await,
            StatusCode::OK
        );
    }
    until("the new-network notice", 10, || {
        of_type("token.new_network").len() == 1
    })
    .await;
    let n = &of_type("token.new_network")[0]["body"]["data"];
    assert_eq!(n["network"], "198.51.100.0/24");
    assert_eq!(n["ip"], "198.51.100.5");
    for _ in 0..5 {
        call_from(&app, &secret, "198.51.100.6", "curl/8.5.0").await;
    }
    until("the new-client notice", 10, || {
        of_type("token.new_network").len() == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        of_type("token.new_network").len(),
        2,
        "one event per new place, never per request"
    );
    let events: Vec<(i64,)> = app
        .rows(&format!("SELECT COUNT(*) FROM audit_events WHERE event = 'token.new_network' AND token_id = {tid}"))
        .await;
    assert_eq!(events[0].0, 2);
    let sightings: Vec<(i64,)> = app
        .rows(&format!(
            "SELECT COUNT(*) FROM token_sightings WHERE token_id = {tid}"
        ))
        .await;
    assert_eq!(sightings[0].0, 4, "two networks and two clients");
    // a leak report: the owner hears where it was found
    let (_, leaked) = token(&app, uid, "leaky", "profile:read").await;
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/credentials/revoke")
        .header("content-type", "application/json")
        .body(Body::from(serde_json::json!({"credentials": [leaked], "url": "https://gist.example.com/x", "source": "scanner-1"}).to_string()))
        .unwrap();
    assert_eq!(app.request(req).await.status, StatusCode::ACCEPTED);
    until("the leak notice", 10, || {
        of_type("token.revoked_leaked").len() == 1
    })
    .await;
    let l = &of_type("token.revoked_leaked")[0]["body"]["data"];
    assert_eq!(l["url"], "https://gist.example.com/x");
    assert_eq!(l["source"], "scanner-1");
    // an ended token still presented: counted, told once a day
    let (eid, ended) = token(&app, uid, "ci-old", "profile:read").await;
    let past = (app::domain::db::now() - chrono::Duration::days(3)).to_rfc3339();
    app.exec(&format!(
        "UPDATE tokens SET expires_at = '{past}' WHERE id = {eid}"
    ))
    .await;
    app.core.verifier.evict(uid, Some(eid));
    for _ in 0..5 {
        assert_eq!(
            call_from(&app, &ended, "10.1.2.3", "git/2.43").await,
            StatusCode::UNAUTHORIZED
        );
    }
    app.core.flush_usage(true).await;
    lifecycle::scan_tokens(&app.core).await.unwrap();
    lifecycle::scan_tokens(&app.core).await.unwrap();
    until("the presented notice", 10, || {
        of_type("token.presented_after_end").len() == 1
    })
    .await;
    let p = &of_type("token.presented_after_end")[0]["body"]["data"];
    assert_eq!(
        p["message"],
        "ci-old expired 3 days ago and was presented 5 times since, last from 10.1.2.3 (git/2.43)."
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(of_type("token.presented_after_end").len(), 1, "once a day");
    // an old secret presented after rotation: refused, and the owner told
    let (_, manager) = token(&app, uid, "manager", "tokens:manage profile:read").await;
    let (rid, old) = token(&app, uid, "rotated", "profile:read").await;
    let req = Request::builder()
        .method("POST")
        .uri(format!("/api/v1/tokens/{rid}/rotate"))
        .header("authorization", format!("Bearer {manager}"))
        .header("content-type", "application/json")
        .body(Body::from(r#"{"grace_hours": 0}"#))
        .unwrap();
    assert_eq!(app.request(req).await.status, StatusCode::OK);
    assert_eq!(
        call_from(&app, &old, "203.0.113.9", "wget/1.21").await,
        StatusCode::UNAUTHORIZED
    );
    until("the reuse notice", 10, || {
        of_type("token.reused").len() == 1
    })
    .await;
    let u = &of_type("token.reused")[0]["body"]["data"];
    assert_eq!(u["ip"], "203.0.113.9");
    // Send test event
    let hooks: Vec<(i64,)> = app
        .rows(&format!("SELECT id FROM webhooks WHERE user_id = {uid}"))
        .await;
    let res = hook_action(&app, hooks[0].0, "test", &[], &cookie).await;
    assert_eq!(res.location().map(str::to_owned), done_at("test-queued"));
    until("the test event", 10, || of_type("webhook.test").len() == 1).await;
    let page = app
        .get("/profile/security/notifications", Some(&cookie))
        .await;
    assert!(page.body.contains("webhook.test") && page.body.contains("token.new_network"));
}

async fn webhook_and_address_input_is_checked(app: TestApp) {
    let (_, cookie) = support::user(&app, "hana").await;
    let (_, other) = support::user(&app, "ivan").await;
    let post = |fields: Vec<(&'static str, String)>, cookie: String| {
        let app = &app;
        async move {
            let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.post_form(
                "/profile/security/notifications/webhooks",
                &f,
                Some(&cookie),
            )
            .await
        }
    };
    // sudo is needed
    let res = post(
        vec![("url", "https://example.com/h".into())],
        cookie.clone(),
    )
    .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(res.body.contains("Confirm your password to add a webhook"));
    let long = format!("https://example.com/{}", "a".repeat(2100));
    for (url, words) in [
        ("", "Enter the URL"),
        ("ftp://example.com/x", "must start with https://"),
        ("https://u:p@example.com/", "no credentials"),
        (long.as_str(), "at most 2000"),
        ("http://169.254.169.254/latest", "private network"),
        ("http://[::1]:9/", "private network"),
        ("no url ü", "full URL"),
    ] {
        let res = post(
            vec![("url", url.into()), ("sudo_password", PW.into())],
            cookie.clone(),
        )
        .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        assert!(res.body.contains(words), "{url}: {words}");
    }
    let res = post(
        vec![
            ("url", "https://example.com/h".into()),
            ("description", "a\u{7}b".into()),
            ("sudo_password", PW.into()),
        ],
        cookie.clone(),
    )
    .await;
    assert!(res.body.contains("no control characters"));
    // a non-admin cannot add an organization webhook
    let res = post(
        vec![
            ("url", "https://example.com/h".into()),
            ("scope", "all".into()),
            ("sudo_password", PW.into()),
        ],
        cookie.clone(),
    )
    .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    // at most ten
    for i in 0..10 {
        let res = post(
            vec![
                ("url", format!("https://example.com/{i}")),
                ("sudo_password", PW.into()),
            ],
            cookie.clone(),
        )
        .await;
        assert_eq!(res.status, StatusCode::CREATED);
    }
    let res = post(
        vec![
            ("url", "https://example.com/11".into()),
            ("sudo_password", PW.into()),
        ],
        cookie.clone(),
    )
    .await;
    assert!(res.body.contains("At most 10 webhooks"));
    // another user's endpoint: not found, unchanged
    let hooks: Vec<(i64,)> = app
        .rows("SELECT id FROM webhooks ORDER BY id LIMIT 1")
        .await;
    for action in ["test", "delete"] {
        let res = app
            .post_form(
                &format!(
                    "/profile/security/notifications/webhooks/{}/{action}",
                    hooks[0].0
                ),
                &[("sudo_password", PW)],
                Some(&other),
            )
            .await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{action}");
    }
    let res = app
        .post_form(
            "/profile/security/notifications/webhooks/abc/delete",
            &[("sudo_password", PW)],
            Some(&other),
        )
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let left: Vec<(i64,)> = app.rows("SELECT COUNT(*) FROM webhooks").await;
    assert_eq!(left[0].0, 10);
    // without SMTP the page says so and an address is refused
    let page = app
        .get("/profile/security/notifications", Some(&cookie))
        .await;
    assert!(page.body.contains("does not send mail"));
    let res = app
        .post_form(
            "/profile/security/notifications/email",
            &[("email", "h@example.com"), ("sudo_password", PW)],
            Some(&cookie),
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    // the owner deletes one: with the password (deleting silences alarms)
    let delete = format!(
        "/profile/security/notifications/webhooks/{}/delete",
        hooks[0].0
    );
    let res = app.post_form(&delete, &[], Some(&cookie)).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(res
        .body
        .contains("Confirm your password to delete a webhook."));
    let res = app
        .post_form(&delete, &[("sudo_password", PW)], Some(&cookie))
        .await;
    assert_eq!(
        res.location().map(str::to_owned),
        done_at("webhook-deleted")
    );
}

async fn bad_addresses_get_field_errors(app: TestApp) {
    if smtp().is_none() {
        return;
    }
    let (_, cookie) = support::user(&app, "jack").await;
    for (email, words) in [
        ("", "Enter an e-mail address"),
        ("not-an-address", "such as name@example.com"),
        ("a b@example.com", "no spaces"),
        (&format!("{}@example.com", "x".repeat(300)), "at most 254"),
    ] {
        let res = app
            .post_form(
                "/profile/security/notifications/email",
                &[("email", email), ("sudo_password", PW)],
                Some(&cookie),
            )
            .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{email}");
        assert!(res.body.contains(words), "{email}: {words}");
    }
}

/// openssl: a P-256 key pair in `dir`, and the key file Tessera reads.
fn scanning_keys(dir: &Path) -> PathBuf {
    let key = dir.join("partner.pem");
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    run(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        key.to_str().unwrap(),
    ]);
    let public = run(&["ec", "-in", key.to_str().unwrap(), "-pubout"]);
    let file = dir.join("keys.json");
    let json = serde_json::json!({"public_keys": [{"key_identifier": "partner-1", "key": String::from_utf8(public).unwrap(), "is_current": true}]});
    std::fs::write(&file, json.to_string()).unwrap();
    file
}

fn openssl_sign(dir: &Path, body: &str) -> String {
    use base64::Engine as _;
    let data = dir.join("body.json");
    std::fs::write(&data, body).unwrap();
    let out = Command::new("openssl")
        .args([
            "dgst",
            "-sha256",
            "-sign",
            dir.join("partner.pem").to_str().unwrap(),
            data.to_str().unwrap(),
        ])
        .output()
        .expect("openssl");
    assert!(out.status.success());
    base64::engine::general_purpose::STANDARD.encode(out.stdout)
}

fn scanning_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("tessera-scan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        scanning_keys(&dir);
        dir
    })
    .clone()
}

/// Options where webhooks must be on public addresses (the default).
fn strict() -> Options {
    let mut o = Options::default();
    o.lifecycle.allow_private_webhooks = false;
    // every change asks for the password (a fresh sign-up is in sudo mode)
    o.sudo_window = Duration::ZERO;
    o
}

fn with_scanning_keys() -> Options {
    let mut o = Options::default();
    o.lifecycle.secret_scanning_keys = Some(scanning_dir().join("keys.json"));
    o
}

async fn secret_scanning_reports_are_verified_and_revoke(app: TestApp) {
    let dir = scanning_dir();
    let (uid, _) = support::user(&app, "kim").await;
    let (tid, secret) = token(&app, uid, "found", "profile:read").await;
    let (_, other_secret) = token(&app, uid, "safe", "profile:read").await;
    let body = serde_json::json!([
        {"token": secret, "type": "tessera_pat", "url": "https://github.com/acme/app/blob/main/.env", "source": "content"},
        {"token": "tsr_notarealtoken", "type": "tessera_pat", "url": "https://x", "source": "content"}
    ])
    .to_string();
    let send = |sig: String, key: &'static str, body: String| {
        let req = Request::builder()
            .method("POST")
            .uri("/api/v1/secret-scanning/report")
            .header("content-type", "application/json")
            .header("github-public-key-identifier", key)
            .header("github-public-key-signature", sig)
            .body(Body::from(body))
            .unwrap();
        let app = &app;
        async move { app.request(req).await }
    };
    // a forged signature, an unknown key, a body changed after signing
    let good = openssl_sign(&dir, &body);
    for (sig, key, b) in [
        ("MEUCIQ==".to_string(), "partner-1", body.clone()),
        (good.clone(), "partner-2", body.clone()),
        (good.clone(), "partner-1", body.replace("content", "commit")),
        (String::new(), "", body.clone()),
    ] {
        let r = send(sig, key, b).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        assert!(r.body.contains("invalid_signature"));
    }
    assert_eq!(
        call_from(&app, &secret, "192.0.2.1", "t").await,
        StatusCode::OK
    );
    let r = send(good, "partner-1", body.clone()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert!(r.body.contains("\"received\":2"));
    until("the revocation", 5, || true).await;
    let mut refused = false;
    for _ in 0..20 {
        if call_from(&app, &secret, "192.0.2.1", "t").await == StatusCode::UNAUTHORIZED {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused, "refused within a second");
    assert_eq!(
        call_from(&app, &other_secret, "192.0.2.1", "t").await,
        StatusCode::OK
    );
    let rows: Vec<(String, String)> = app
        .rows(&format!(
            "SELECT revoked_by, revoked_reason FROM tokens WHERE id = {tid}"
        ))
        .await;
    assert_eq!(
        rows[0],
        ("system".to_owned(), "reported as leaked".to_owned())
    );
    let audit: Vec<(String,)> = app
        .rows(&format!(
            "SELECT details FROM audit_events WHERE token_id = {tid} AND event = 'token.revoked'"
        ))
        .await;
    assert!(
        audit[0].0.contains("acme/app/blob/main/.env") && audit[0].0.contains("partner-1"),
        "{}",
        audit[0].0
    );
}

async fn secret_scanning_is_off_without_keys(app: TestApp) {
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/secret-scanning/report")
        .header("content-type", "application/json")
        .body(Body::from("[]"))
        .unwrap();
    let r = app.request(req).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.contains("not_configured"));
}

/// A report larger than any partner sends is refused before its signature
/// is even checked (it used to read 2 MiB first).
async fn an_oversized_scanning_report_is_refused_before_the_signature(app: TestApp) {
    let body = format!("[{}]", " ".repeat(100 * 1024));
    for declared in [true, false] {
        let mut b = Request::builder()
            .method("POST")
            .uri("/api/v1/secret-scanning/report")
            .header("content-type", "application/json")
            .header("github-public-key-identifier", "any")
            .header("github-public-key-signature", "bm90IGEgc2lnbmF0dXJl");
        if declared {
            b = b.header("content-length", body.len().to_string());
        }
        let res = app
            .request(b.body(Body::from(body.clone())).expect("request"))
            .await;
        assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", res.body);
    }
}

on_both_backends!(
    an_oversized_scanning_report_is_refused_before_the_signature with with_scanning_keys(),
    expiry_notices_arrive_once_per_threshold_by_mail_and_webhook with with_mail(),
    two_instances_send_each_notice_once with with_mail(),
    an_administrators_webhook_gets_every_users_events,
    a_claim_whose_instance_died_is_sent_when_its_lease_ends,
    owners_hear_of_leaks_reuse_new_networks_and_ended_tokens_in_use,
    webhook_and_address_input_is_checked with strict(),
    bad_addresses_get_field_errors with with_mail(),
    secret_scanning_reports_are_verified_and_revoke with with_scanning_keys(),
    secret_scanning_is_off_without_keys,
);
