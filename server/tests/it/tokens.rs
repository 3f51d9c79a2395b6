//! Token rules at the service level and through the plain forms, against
//! SQLite and Postgres alike.

use crate::support;

use app::domain::{
    secret,
    tokens::{self as service, Actor, TokenError},
};
use app::model::CurrentUser;
use app::tokens::{ListQuery, NewSecret, Sort, Status, TokenForm, TokenView};
use axum::http::StatusCode;
use std::collections::BTreeMap;
use support::{user, TestApp};

fn form(name: &str) -> TokenForm {
    TokenForm {
        name: name.into(),
        expiry: "30".into(),
        scope_mode: "full".into(),
        ..Default::default()
    }
}

fn custom(name: &str, levels: &[(&str, &str)]) -> TokenForm {
    let mut f = form(name);
    f.scope_mode = "custom".into();
    f.levels = levels
        .iter()
        .map(|(a, l)| (a.to_string(), l.to_string()))
        .collect::<BTreeMap<_, _>>();
    f
}

/// Creates a token from `f` as user `uid`.
async fn create(app: &TestApp, uid: i64, f: &TokenForm) -> Result<NewSecret, TokenError> {
    service::create_from_form(&app.core, &Actor::user(uid), f).await
}

/// Applies `f` to token `id` as user `uid`.
async fn update(app: &TestApp, uid: i64, id: i64, f: &TokenForm) -> Result<TokenView, TokenError> {
    service::update_from_form(&app.core, &Actor::user(uid), id, f).await
}

/// How many tokens the user's list counts (active ones, the default view).
async fn total(app: &TestApp, uid: i64) -> u64 {
    service::list(&app.db, uid, &ListQuery::default())
        .await
        .unwrap()
        .total
}

fn field_error(err: TokenError, field: &str) -> String {
    match err {
        TokenError::Invalid(fields) => fields
            .get(field)
            .cloned()
            .unwrap_or_else(|| panic!("no {field} error in {fields:?}")),
        other => panic!("expected a field error, got {other:?}"),
    }
}

async fn creates_full_access_and_custom_tokens_and_stores_only_a_hash(app: TestApp) {
    let (uid, _) = user(&app, "alice").await;
    let full = create(&app, uid, &form("laptop")).await.expect("create");
    assert!(secret::is_well_formed(&full.secret));
    assert_eq!(full.token.scopes.to_string(), "full");
    assert_eq!(full.token.hint, full.secret[..8]);
    let c = create(
        &app,
        uid,
        &custom(
            "ci",
            &[("code", "write"), ("wiki", "read"), ("build", "none")],
        ),
    )
    .await
    .expect("create custom");
    assert_eq!(c.token.scopes.to_string(), "code:write wiki:read");
    // the database holds neither plaintext, only their sha256
    let rows: Vec<(Vec<u8>, String, String, String)> = app
        .rows("SELECT token_hash, hint, name, scopes FROM tokens")
        .await;
    assert_eq!(rows.len(), 2);
    for (hash, hint, name, scopes) in rows {
        for s in [&full.secret, &c.secret] {
            assert!(
                !hint.contains(s.as_str())
                    && !name.contains(s.as_str())
                    && !scopes.contains(s.as_str())
            );
        }
        assert!(hash == secret::hash(&full.secret) || hash == secret::hash(&c.secret));
    }
}

async fn names_must_be_present_short_and_unique_among_active_tokens(app: TestApp) {
    let (uid, _) = user(&app, "bob").await;
    let e = create(&app, uid, &form("  ")).await.unwrap_err();
    assert_eq!(field_error(e, "name"), "Enter a name for the token.");
    let e = create(&app, uid, &form(&"n".repeat(65))).await.unwrap_err();
    assert!(field_error(e, "name").contains("at most 64"));
    let mut long_desc = form("desc");
    long_desc.description = "d".repeat(257);
    let e = create(&app, uid, &long_desc).await.unwrap_err();
    assert!(field_error(e, "description").contains("at most 256"));

    let first = create(&app, uid, &form("deploy")).await.expect("first");
    let e = create(&app, uid, &form("deploy")).await.unwrap_err();
    assert!(field_error(e, "name").contains("already have a token named"));
    // another user may use the same name
    let (other, _) = user(&app, "bob2").await;
    create(&app, other, &form("deploy"))
        .await
        .expect("other user");
    // once revoked, the name is free again
    service::revoke(&app.core, &Actor::user(uid), first.token.id)
        .await
        .expect("revoke");
    create(&app, uid, &form("deploy"))
        .await
        .expect("reuse after revoke");
}

async fn expiry_is_never_in_the_past_nor_beyond_the_maximum(app: TestApp) {
    let (uid, _) = user(&app, "carol").await;
    let mut f = form("t");
    f.expiry = "366".into();
    assert!(
        field_error(create(&app, uid, &f).await.unwrap_err(), "expiry").contains("at most 365")
    );
    f.expiry = "custom".into();
    f.expiry_date = "2001-01-01".into();
    assert!(
        field_error(create(&app, uid, &f).await.unwrap_err(), "expiry_date")
            .contains("after today")
    );
    f.expiry_date = (chrono::Utc::now() + chrono::Duration::days(400))
        .date_naive()
        .to_string();
    assert!(
        field_error(create(&app, uid, &f).await.unwrap_err(), "expiry_date")
            .contains("at most 365")
    );
    f.expiry_date = (chrono::Utc::now() + chrono::Duration::days(10))
        .date_naive()
        .to_string();
    let t = create(&app, uid, &f).await.expect("custom date");
    assert_eq!(t.token.expires_at.date_naive().to_string(), f.expiry_date);
    for days in [7, 30, 60, 90, 180, 365] {
        let mut p = form(&format!("p{days}"));
        p.expiry = days.to_string();
        let t = create(&app, uid, &p).await.expect("preset");
        assert_eq!((t.token.expires_at - t.token.created_at).num_days(), days);
    }
}

async fn scopes_must_be_known_and_custom_needs_one(app: TestApp) {
    let (uid, _) = user(&app, "dave").await;
    let e = create(&app, uid, &custom("a", &[])).await.unwrap_err();
    assert!(field_error(e, "scopes").contains("at least one"));
    let e = create(&app, uid, &custom("a", &[("code", "none")]))
        .await
        .unwrap_err();
    assert!(field_error(e, "scopes").contains("at least one"));
    let e = create(&app, uid, &custom("a", &[("rockets", "read")]))
        .await
        .unwrap_err();
    assert!(field_error(e, "scopes").contains("rockets"));
    let e = create(&app, uid, &custom("a", &[("code", "admin")]))
        .await
        .unwrap_err();
    assert!(field_error(e, "scopes").contains("admin"));
    let mut f = form("a");
    f.scope_mode = "everything".into();
    assert!(create(&app, uid, &f).await.is_err());
}

async fn edits_apply_at_once_and_only_to_active_tokens(app: TestApp) {
    let (uid, _) = user(&app, "erin").await;
    let t = create(&app, uid, &form("old")).await.expect("create").token;
    let mut edit = custom("new name", &[("packaging", "manage")]);
    edit.description = "for the release job".into();
    edit.expiry = "keep".into();
    let updated = update(&app, uid, t.id, &edit).await.expect("edit");
    assert_eq!(updated.name, "new name");
    assert_eq!(updated.description, "for the release job");
    assert_eq!(updated.scopes.to_string(), "packaging:manage");
    assert_eq!(updated.expires_at, t.expires_at);
    edit.expiry = "7".into();
    let shorter = update(&app, uid, t.id, &edit).await.expect("edit expiry");
    assert!(shorter.expires_at < t.expires_at);
    let mut too_long = edit.clone();
    too_long.expiry = "999".into();
    assert!(matches!(
        update(&app, uid, t.id, &too_long).await,
        Err(TokenError::Invalid(_))
    ));

    service::revoke(&app.core, &Actor::user(uid), t.id)
        .await
        .expect("revoke");
    assert!(matches!(
        update(&app, uid, t.id, &edit).await,
        Err(TokenError::Revoked)
    ));
    assert!(matches!(
        service::regenerate(&app.core, &Actor::user(uid), t.id).await,
        Err(TokenError::Revoked)
    ));

    let x = create(&app, uid, &form("expiring"))
        .await
        .expect("create")
        .token;
    app.exec(&format!(
        "UPDATE tokens SET expires_at = created_at WHERE id = {}",
        x.id
    ))
    .await;
    assert!(matches!(
        update(&app, uid, x.id, &edit).await,
        Err(TokenError::Expired)
    ));
    assert_eq!(
        service::get(&app.db, uid, x.id)
            .await
            .expect("get")
            .status(chrono::Utc::now()),
        Status::Expired
    );
}

async fn another_users_token_behaves_like_a_missing_one(app: TestApp) {
    let (owner, _) = user(&app, "frank").await;
    let (intruder, _) = user(&app, "mallory").await;
    let t = create(&app, owner, &form("private"))
        .await
        .expect("create")
        .token;
    let missing = t.id + 1000;
    for id in [t.id, missing] {
        assert!(matches!(
            service::get(&app.db, intruder, id).await,
            Err(TokenError::NotFound)
        ));
        assert!(matches!(
            update(&app, intruder, id, &form("x")).await,
            Err(TokenError::NotFound)
        ));
        assert!(matches!(
            service::revoke(&app.core, &Actor::user(intruder), id).await,
            Err(TokenError::NotFound)
        ));
        assert!(matches!(
            service::regenerate(&app.core, &Actor::user(intruder), id).await,
            Err(TokenError::NotFound)
        ));
    }
    assert_eq!(
        service::revoke_all(&app.core, &Actor::user(intruder))
            .await
            .expect("revoke all"),
        0
    );
    assert_eq!(
        service::get(&app.db, owner, t.id)
            .await
            .expect("still there")
            .status(chrono::Utc::now()),
        Status::Active
    );
}

async fn a_repeated_submit_creates_one_token(app: TestApp) {
    let (uid, _) = user(&app, "grace").await;
    let mut f = form("once");
    f.form_id = "form-123".into();
    let (a, b) = tokio::join!(create(&app, uid, &f), create(&app, uid, &f));
    let created = [&a, &b].iter().filter(|r| r.is_ok()).count();
    assert_eq!(created, 1, "{a:?} / {b:?}");
    let again = create(&app, uid, &f).await.unwrap_err();
    assert!(matches!(again, TokenError::AlreadySubmitted(ref t) if t.name == "once"));
    let page = service::list(&app.db, uid, &ListQuery::default())
        .await
        .expect("list");
    assert_eq!(page.total, 1);
}

async fn revoke_racing_an_edit_ends_revoked(app: TestApp) {
    let (uid, _) = user(&app, "heidi").await;
    for round in 0..10 {
        let t = create(&app, uid, &form(&format!("race{round}")))
            .await
            .expect("create")
            .token;
        let mut edit = form(&format!("race{round}-edited"));
        edit.expiry = "keep".into();
        let core = app.core.clone();
        let core2 = app.core.clone();
        let (e, r) = tokio::join!(
            tokio::spawn(async move {
                service::update_from_form(&core, &Actor::user(uid), t.id, &edit).await
            }),
            tokio::spawn(async move { service::revoke(&core2, &Actor::user(uid), t.id).await })
        );
        let _ = e.expect("join");
        r.expect("join").expect("revoke");
        let after = service::get(&app.db, uid, t.id).await.expect("get");
        assert_eq!(
            after.status(chrono::Utc::now()),
            Status::Revoked,
            "round {round}"
        );
    }
}

async fn regenerate_gives_a_new_secret_and_kills_the_old(app: TestApp) {
    let (uid, _) = user(&app, "ivan").await;
    let old = create(&app, uid, &custom("rot", &[("code", "read")]))
        .await
        .expect("create");
    let new = service::regenerate(&app.core, &Actor::user(uid), old.token.id)
        .await
        .expect("regenerate");
    assert_ne!(old.secret, new.secret);
    assert!(secret::is_well_formed(&new.secret));
    assert_eq!(new.token.id, old.token.id);
    assert_eq!(new.token.name, "rot");
    assert_eq!(new.token.scopes, old.token.scopes);
    let hashes: Vec<(Vec<u8>,)> = app.rows("SELECT token_hash FROM tokens").await;
    assert_eq!(hashes, vec![(secret::hash(&new.secret),)]);
}

async fn revoke_is_final_and_revoke_all_counts(app: TestApp) {
    let (uid, _) = user(&app, "judy").await;
    for i in 0..3 {
        create(&app, uid, &form(&format!("t{i}")))
            .await
            .expect("create");
    }
    let page = service::list(&app.db, uid, &ListQuery::default())
        .await
        .expect("list");
    let first = page.items[0].id;
    let revoked = service::revoke(&app.core, &Actor::user(uid), first)
        .await
        .expect("revoke");
    assert!(revoked.revoked_at.is_some());
    let again = service::revoke(&app.core, &Actor::user(uid), first)
        .await
        .expect("revoke twice is harmless");
    assert_eq!(again.revoked_at, revoked.revoked_at);
    assert_eq!(
        service::revoke_all(&app.core, &Actor::user(uid))
            .await
            .expect("all"),
        2
    );
    assert_eq!(
        service::revoke_all(&app.core, &Actor::user(uid))
            .await
            .expect("all again"),
        0
    );
    let active = service::list(&app.db, uid, &ListQuery::default())
        .await
        .expect("list");
    assert_eq!(active.total, 0);
    let all = service::list(
        &app.db,
        uid,
        &ListQuery {
            include_revoked: true,
            ..Default::default()
        },
    )
    .await
    .expect("list");
    assert_eq!(all.total, 3);
    assert!(all.items.iter().all(|t| t.revoked_at.is_some()));
}

async fn the_list_searches_sorts_and_pages(app: TestApp) {
    let (uid, _) = user(&app, "karl").await;
    for (i, name) in ["zeta deploy", "Alpha build", "beta_deploy", "gamma 100%"]
        .iter()
        .enumerate()
    {
        let mut f = form(name);
        f.expiry = ["30", "7", "90", "60"][i].into();
        create(&app, uid, &f).await.expect("create");
    }
    let q = |search: &str, sort: Sort| ListQuery {
        search: search.into(),
        sort,
        ..Default::default()
    };
    let names = |p: app::tokens::TokenPage| p.items.into_iter().map(|t| t.name).collect::<Vec<_>>();
    assert_eq!(
        names(
            service::list(&app.db, uid, &q("DEPLOY", Sort::Name))
                .await
                .unwrap()
        ),
        ["beta_deploy", "zeta deploy"]
    );
    assert_eq!(
        names(
            service::list(&app.db, uid, &q("_", Sort::Name))
                .await
                .unwrap()
        ),
        ["beta_deploy"]
    );
    assert_eq!(
        names(
            service::list(&app.db, uid, &q("%", Sort::Name))
                .await
                .unwrap()
        ),
        ["gamma 100%"]
    );
    assert_eq!(
        names(
            service::list(&app.db, uid, &q("", Sort::Name))
                .await
                .unwrap()
        ),
        ["Alpha build", "beta_deploy", "gamma 100%", "zeta deploy"]
    );
    assert_eq!(
        names(
            service::list(&app.db, uid, &q("", Sort::ExpiresAsc))
                .await
                .unwrap()
        ),
        ["Alpha build", "zeta deploy", "gamma 100%", "beta_deploy"]
    );
    // pages of 50
    for i in 0..60 {
        create(&app, uid, &form(&format!("bulk {i:03}")))
            .await
            .expect("bulk");
    }
    let p1 = service::list(
        &app.db,
        uid,
        &ListQuery {
            sort: Sort::Name,
            page: 1,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((p1.total, p1.pages, p1.items.len()), (64, 2, 50));
    let p2 = service::list(
        &app.db,
        uid,
        &ListQuery {
            sort: Sort::Name,
            page: 2,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(p2.items.len(), 14);
    let beyond = service::list(
        &app.db,
        uid,
        &ListQuery {
            sort: Sort::Name,
            page: 99,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(beyond.page, 2);
}

/// The first well-formed token anywhere in `body` (hints like `tsr_abcd…`
/// are not tokens).
fn secret_in(body: &str) -> Option<String> {
    body.match_indices(secret::PREFIX)
        .filter_map(|(at, _)| body.get(at..at + secret::TOKEN_LEN))
        .find(|candidate| secret::is_well_formed(candidate))
        .map(str::to_owned)
}

/// Absurd expiries get the field message, not a crash (the page that
/// answers shows the form again, computing dates from what was sent).
async fn absurd_expiries_are_field_errors(app: TestApp) {
    let (_, cookie) = user(&app, "otto").await;
    for expiry in ["999999999", "99999999999999999999", "-5", "1e9"] {
        let res = app
            .post_form(
                "/profile/security/tokens/new",
                &[("name", "x"), ("expiry", expiry), ("scope_mode", "full")],
                Some(&cookie),
            )
            .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{expiry}");
        let msg = support::text_of_class(&res.body, "field-error").unwrap_or_default();
        assert!(
            res.body.contains("is too long") || res.body.contains("Choose an expiration"),
            "{expiry}: {msg}"
        );
    }
    let res = app
        .post_form(
            "/profile/security/tokens/new",
            &[
                ("name", "x"),
                ("expiry", "custom"),
                ("expiry_date", "+262143-01-01"),
                ("scope_mode", "full"),
            ],
            Some(&cookie),
        )
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn a_plain_form_creates_a_token_and_shows_the_secret_only_once(app: TestApp) {
    let (_, cookie) = user(&app, "lena").await;
    let res = app
        .post_form(
            "/profile/security/tokens/new",
            &[
                ("name", "no-js"),
                ("expiry", "30"),
                ("scope_mode", "custom"),
                ("scope_code", "read"),
                ("form_id", "f1"),
            ],
            Some(&cookie),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    let shown = secret_in(&res.body).expect("secret shown");
    assert!(secret::is_well_formed(&shown));
    assert!(res.body.contains("Copy your token now."));
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let page = app.get("/profile/security/tokens", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("no-js"));
    assert!(
        !page.body.contains(&shown),
        "the secret must never be shown again"
    );
    assert!(!page.body.contains(&shown[..12]));
    // submitting the same form again creates nothing
    let again = app
        .post_form(
            "/profile/security/tokens/new",
            &[
                ("name", "no-js"),
                ("expiry", "30"),
                ("scope_mode", "full"),
                ("form_id", "f1"),
            ],
            Some(&cookie),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(secret_in(&again.body).is_none());
    // bad input comes back with field messages and the typed values
    let bad = app
        .post_form(
            "/profile/security/tokens/new",
            &[
                ("name", "keep me"),
                ("description", "typed"),
                ("expiry", "30"),
                ("scope_mode", "custom"),
            ],
            Some(&cookie),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("Choose at least one scope"));
    assert!(bad.body.contains("value=\"keep me\""));
    assert!(bad.body.contains("typed"));
}

async fn plain_forms_edit_revoke_and_toggle(app: TestApp) {
    let (uid, cookie) = user(&app, "mike").await;
    let t = create(&app, uid, &form("plain"))
        .await
        .expect("create")
        .token;
    let res = app
        .post_form(
            &format!("/profile/security/tokens/{}/edit", t.id),
            &[
                ("name", "plain2"),
                ("expiry", "keep"),
                ("scope_mode", "full"),
            ],
            Some(&cookie),
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(
        res.location(),
        Some("/profile/security/tokens?done=updated")
    );
    let res = app
        .post_form(
            &format!("/profile/security/tokens/{}/revoke", t.id),
            &[],
            Some(&cookie),
        )
        .await;
    assert_eq!(
        res.location(),
        Some("/profile/security/tokens?done=revoked")
    );
    let list = app.get("/profile/security/tokens", Some(&cookie)).await;
    assert!(!list.body.contains("plain2"));
    let with_revoked = app
        .get("/profile/security/tokens?revoked=1", Some(&cookie))
        .await;
    assert!(with_revoked.body.contains("plain2"));
    assert!(with_revoked.body.contains("aria-checked=\"true\""));
    assert!(
        !with_revoked
            .body
            .contains(&format!("/profile/security/tokens/{}/edit", t.id)),
        "revoked tokens offer no edit"
    );
    // editing a revoked token is refused
    let res = app
        .post_form(
            &format!("/profile/security/tokens/{}/edit", t.id),
            &[
                ("name", "zombie"),
                ("expiry", "keep"),
                ("scope_mode", "full"),
            ],
            Some(&cookie),
        )
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT);
    // someone else's token id, or a made-up one, is simply not found
    let (_, other_cookie) = user(&app, "nina").await;
    for path in [
        format!("/profile/security/tokens/{}/revoke", t.id),
        "/profile/security/tokens/999999/revoke".into(),
        "/profile/security/tokens/abc/revoke".into(),
    ] {
        let res = app.post_form(&path, &[], Some(&other_cookie)).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{path}");
    }
}

/// `tokens/list_html`: the list a change reloads, for the page's own query
/// string — parsed as the page parses its URL, names escaped, a hostile
/// query string a plain empty or clamped list, never an error page.
async fn the_list_html_follows_the_query_string_and_escapes_names(app: TestApp) {
    let (uid, cookie) = user(&app, "lena").await;
    for name in ["deploy <b>bold</b>", "ci \u{1F680} rocket", "other"] {
        create(&app, uid, &form(name)).await.expect("create");
    }
    let call = |search: &str| {
        let body = serde_json::json!({ "search": search }).to_string();
        let req = axum::http::Request::builder()
            .method("POST")
            .uri("/rpc/tokens/list_html")
            .header("content-type", "application/json")
            .header("cookie", format!("tessera_session={cookie}"))
            .body(axum::body::Body::from(body))
            .expect("request");
        app.request(req)
    };
    let html = |res: &support::Resp| -> String {
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        serde_json::from_str(&res.body).expect("a JSON string")
    };
    let all = html(&call("").await);
    assert!(
        all.starts_with("<div id=\"token-list-region\" data-active-count=\"3\""),
        "{all}"
    );
    assert!(
        all.contains("deploy &lt;b&gt;bold&lt;/b&gt;") && !all.contains("<b>bold"),
        "{all}"
    );
    assert!(all.contains("ci \u{1F680} rocket"), "{all}");
    assert!(all.contains(r#"data-dialog="edit""#) && all.contains(r#"data-token-name="other""#));
    // `+` and percent escapes as a GET form sends them, with or without `?`
    for search in ["?q=deploy+%3Cb", "q=deploy%20%3Cb", "?q=DEPLOY"] {
        let one = html(&call(search).await);
        assert!(
            one.contains("bold") && !one.contains("rocket") && !one.contains(">other<"),
            "{search}: {one}"
        );
    }
    let rocket = html(&call("?q=%F0%9F%9A%80").await);
    assert!(
        rocket.contains("rocket") && !rocket.contains("bold"),
        "{rocket}"
    );
    // nothing matches: the empty state names the search, escaped
    let none = html(&call("?q=%3Cscript%3Ealert(1)%3C/script%3E").await);
    assert!(
        none.contains("No matching tokens")
            && none.contains("&lt;script&gt;")
            && !none.contains("<script>"),
        "{none}"
    );
    // broken escapes, a huge or absurd query, repeated keys: a list, not an error
    let huge = format!(
        "?q={}&page=99999999999999999999&sort=%00&revoked=maybe&q=x",
        "%".repeat(60_000)
    );
    for search in [
        "?q=%",
        "?q=%ZZ%C3",
        "?page=-1&page=2",
        "?%%%&&&==",
        huge.as_str(),
    ] {
        let res = call(search).await;
        let out = html(&res);
        assert!(
            out.contains("token-list-region"),
            "{}: {out}",
            &search[..search.len().min(40)]
        );
    }
    // signed out: refused like every server function
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/rpc/tokens/list_html")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(r#"{"search":""}"#))
        .expect("request");
    let res = app.request(req).await;
    assert_ne!(res.status, StatusCode::OK);
    assert!(!res.body.contains("deploy"), "{}", res.body);
}

/// `tokens/dialog` and `tokens/dialog_submit`: what the page's dialog shows
/// is server HTML with the form's values and messages, escaped; a kind no
/// dialog has is a 400 with a message; a flood of fields is field messages.
async fn the_dialog_functions_render_escape_and_refuse(app: TestApp) {
    let (uid, cookie) = user(&app, "dora").await;
    create(&app, uid, &form("taken")).await.expect("create");
    let rpc = |path: &'static str, body: serde_json::Value| {
        let req = axum::http::Request::builder()
            .method("POST")
            .uri(path)
            .header("content-type", "application/json")
            .header("cookie", format!("tessera_session={cookie}"))
            .body(axum::body::Body::from(body.to_string()))
            .expect("request");
        app.request(req)
    };
    let json = |res: &support::Resp| -> serde_json::Value {
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        serde_json::from_str(&res.body).expect("JSON")
    };
    // the add form: the plain pages' fields, posted by the island
    let new = json(&rpc("/rpc/tokens/dialog", serde_json::json!({ "kind": "new" })).await);
    let html = new["Done"].as_str().expect("html");
    assert!(
        html.contains(r#"data-kind="create""#) && html.contains("New personal access token"),
        "{html}"
    );
    assert!(
        html.contains("leptos-island") && html.contains(r#"name="form_id""#),
        "{html}"
    );
    // a taken, hostile name comes back as a field message, its value escaped
    let fields =
        |name: &str| serde_json::json!([["name", name], ["expiry", "30"], ["scope_mode", "full"]]);
    let again = json(
        &rpc(
            "/rpc/tokens/dialog_submit",
            serde_json::json!({ "kind": "create", "fields": fields("taken") }),
        )
        .await,
    );
    let html = again["html"].as_str().expect("the form again");
    assert!(
        html.contains("You already have a token named") && html.contains(r#"aria-invalid="true""#),
        "{html}"
    );
    assert_eq!(again["changed"], false);
    let evil = "<img src=x onerror=alert(1)>\u{202e}é";
    let made = json(
        &rpc(
            "/rpc/tokens/dialog_submit",
            serde_json::json!({ "kind": "create", "fields": fields(evil) }),
        )
        .await,
    );
    let html = made["html"].as_str().expect("the secret");
    assert!(
        html.contains("tsr_") && html.contains("Token created") && !html.contains("<img"),
        "{html}"
    );
    assert!(made["toast"].as_str().unwrap().contains(evil), "{made}");
    assert_eq!(made["changed"], true);
    // a flood of fields, repeated and huge: messages, nothing created
    let mut flood: Vec<(String, String)> = (0..1_000)
        .map(|i| (format!("f{i}"), "x".repeat(20)))
        .collect();
    flood.push(("name".into(), "n".repeat(20_000)));
    flood.push(("name".into(), String::new()));
    flood.push(("scope_mode".into(), "\u{0}".into()));
    let before = total(&app, uid).await;
    let res = json(
        &rpc(
            "/rpc/tokens/dialog_submit",
            serde_json::json!({ "kind": "create", "fields": flood }),
        )
        .await,
    );
    assert!(
        res["html"]
            .as_str()
            .unwrap()
            .contains(r#"aria-invalid="true""#),
        "{res}"
    );
    assert_eq!(total(&app, uid).await, before);
    // past the body limit: 413 and a sentence, in the server functions'
    // error encoding (not a 500 from their JSON decoder)
    let big = serde_json::json!({ "kind": "create", "fields": [["name", "n".repeat(70_000)]] });
    let res = rpc("/rpc/tokens/dialog_submit", big).await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", res.body);
    assert_eq!(
        res.body,
        "ServerError|The request is too large: at most 64 KiB."
    );
    assert_eq!(total(&app, uid).await, before);
    // kinds no dialog has
    for (path, body) in [
        (
            "/rpc/tokens/dialog",
            serde_json::json!({ "kind": "drop table" }),
        ),
        (
            "/rpc/tokens/dialog_submit",
            serde_json::json!({ "kind": "", "fields": [] }),
        ),
    ] {
        let res = rpc(path, body).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{path}: {}", res.body);
        assert!(
            res.body.contains("There is no such dialog."),
            "{}",
            res.body
        );
    }
    // a missing token: said, not shown
    let gone = json(
        &rpc(
            "/rpc/tokens/dialog",
            serde_json::json!({ "kind": "regenerate", "id": 987654321 }),
        )
        .await,
    );
    assert_eq!(gone["Rejected"]["message"], "That token does not exist.");
}

async fn server_functions_need_a_session(app: TestApp) {
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/rpc/tokens/list")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            r#"{"query":{"include_revoked":false,"search":"","sort":"CreatedDesc","page":1}}"#,
        ))
        .expect("request");
    let res = app.request(req).await;
    assert_ne!(res.status, StatusCode::OK);
    assert!(res.body.contains("signed out"), "{}", res.body);
    let (_, cookie) = user(&app, "oscar").await;
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/rpc/tokens/create")
        .header("content-type", "application/json")
        .header("cookie", format!("tessera_session={cookie}"))
        .body(axum::body::Body::from(
            r#"{"form":{"name":"rpc","expiry":"7","scope_mode":"full"},"sudo_password":""}"#,
        ))
        .expect("request");
    let res = app.request(req).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert!(res.body.contains("\"Done\"") && res.body.contains("tsr_"));
    let _ = CurrentUser {
        id: 0,
        username: String::new(),
        is_admin: false,
        must_change_password: false,
    };
}

on_both_backends!(
    absurd_expiries_are_field_errors,
    creates_full_access_and_custom_tokens_and_stores_only_a_hash,
    names_must_be_present_short_and_unique_among_active_tokens,
    expiry_is_never_in_the_past_nor_beyond_the_maximum,
    scopes_must_be_known_and_custom_needs_one,
    edits_apply_at_once_and_only_to_active_tokens,
    another_users_token_behaves_like_a_missing_one,
    a_repeated_submit_creates_one_token,
    revoke_racing_an_edit_ends_revoked,
    regenerate_gives_a_new_secret_and_kills_the_old,
    revoke_is_final_and_revoke_all_counts,
    the_list_searches_sorts_and_pages,
    a_plain_form_creates_a_token_and_shows_the_secret_only_once,
    plain_forms_edit_revoke_and_toggle,
    server_functions_need_a_session,
    the_list_html_follows_the_query_string_and_escapes_names,
    the_dialog_functions_render_escape_and_refuse,
);
