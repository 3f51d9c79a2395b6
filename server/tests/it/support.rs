//! Test harness: the real router over a real database — a fresh SQLite file
//! or a fresh Postgres database per test, dropped afterwards.

use app::domain::{db::Db, throttle::ThrottleConfig, AppState, Core, CoreConfig};
use axum::{
    body::Body,
    http::{header, HeaderMap, Method, Request, StatusCode},
    Router,
};
use rand::RngCore as _;
use std::{future::Future, net::IpAddr, time::Duration};
use tower::ServiceExt as _;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Settings a test may change before the app starts.
#[derive(Clone)]
pub struct Options {
    pub signup_enabled: bool,
    pub throttle: ThrottleConfig,
    pub hash_concurrency: usize,
    pub hash_queue: usize,
    /// Where users reach the app (`https://…` makes cookies `Secure` and
    /// `__Host-` prefixed).
    pub public_url: String,
    pub session_idle: Duration,
    pub sudo_window: Duration,
    /// Mail, webhooks and notices (tests call endpoints on loopback).
    pub lifecycle: app::domain::lifecycle::LifecycleConfig,
    /// Trusted workloads (tests' issuers are on loopback, over http).
    pub workload: app::domain::workloads::WorkloadConfig,
    /// Single sign-on (tests' providers are on loopback).
    pub sso: Option<app::domain::sso::SsoConfig>,
}

/// The introspection client's secret in tests.
pub const INTROSPECTION_SECRET: &str = "s3cret-of-16-chars";

impl Default for Options {
    fn default() -> Self {
        Self {
            hash_concurrency: 2,
            hash_queue: 64,
            public_url: "http://tessera.test".into(),
            session_idle: Duration::from_secs(7 * 24 * 3600),
            sudo_window: Duration::from_secs(600),
            signup_enabled: true,
            lifecycle: app::domain::lifecycle::LifecycleConfig {
                allow_private_webhooks: true,
                notice_every: Duration::from_secs(1),
                ..Default::default()
            },
            workload: app::domain::workloads::WorkloadConfig {
                allow_insecure_issuers: true,
                key_ttl: Duration::from_secs(1),
                key_refetch: Duration::ZERO,
                fetch_timeout: Duration::from_secs(2),
            },
            sso: None,
            throttle: ThrottleConfig {
                window: Duration::from_secs(600),
                max_failures_per_account: 5,
                max_failures_per_ip: 20,
                max_signups_per_ip: 1000,
            },
        }
    }
}

pub struct TestApp {
    pub router: Router,
    /// The database URL (to start a second instance on the same store).
    pub url: String,
    pub core: std::sync::Arc<Core>,
    pub db: Db,
    pub backend: Backend,
    cleanup: Cleanup,
}

enum Cleanup {
    File(std::path::PathBuf),
    PostgresDatabase { admin_url: String, name: String },
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

/// Sends `req` through `router` and reads the whole answer.
pub async fn send(router: &Router, req: Request<Body>) -> Resp {
    let res = router
        .clone()
        .oneshot(req)
        .await
        .expect("router is infallible");
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), 16 * 1024 * 1024)
        .await
        .expect("body");
    Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

impl Resp {
    pub fn location(&self) -> Option<&str> {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The session cookie value set by this response, if any.
    pub fn session_cookie(&self) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| {
                c.strip_prefix("tessera_session=")
                    .or_else(|| c.strip_prefix("__Host-tessera_session="))
            })
            .map(|rest| rest.split(';').next().unwrap_or("").to_owned())
            .filter(|v| !v.is_empty())
    }
    pub fn set_cookie(&self) -> Option<&str> {
        self.header("set-cookie")
    }
}

fn test_config(options: &Options) -> CoreConfig {
    CoreConfig {
        public_url: options.public_url.clone(),
        signup_enabled: options.signup_enabled,
        trusted_proxies: vec![ipnet::IpNet::from(IpAddr::from([127, 0, 0, 1]))],
        throttle: options.throttle,
        hash_concurrency: options.hash_concurrency,
        hash_queue: options.hash_queue,
        max_token_days: 365,
        verify_cache_ttl: Duration::from_secs(30),
        introspection_client: Some(format!("gateway:{INTROSPECTION_SECRET}").into()),
        session_idle: options.session_idle,
        sudo_window: options.sudo_window,
        audit_retention: Duration::from_secs(365 * 24 * 3600),
        lifecycle: options.lifecycle.clone(),
        workload: options.workload.clone(),
        sso: options.sso.clone(),
        secret_key: None,
        replicas: Vec::new(),
        replica_max_lag: std::time::Duration::from_secs(1),
    }
}

fn random_suffix() -> String {
    let mut raw = [0u8; 6];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn postgres_admin_url() -> String {
    std::env::var("TESSERA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into())
}

/// True under CI (`CI=true`), where nothing a test needs may be missing.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Postgres is required in CI (and whenever TESSERA_REQUIRE_POSTGRES=1);
/// elsewhere its tests are skipped with a note when no server answers.
fn postgres_required() -> bool {
    std::env::var("TESSERA_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") || in_ci()
}

/// The password every test account gets.
pub const PW: &str = "correct horse battery";

/// Signs `name` up; returns the user id and the session cookie.
pub async fn user(app: &TestApp, name: &str) -> (i64, String) {
    let cookie = app.sign_up(name, PW).await;
    let rows: Vec<(i64,)> = app
        .rows(&format!("SELECT id FROM users WHERE username = '{name}'"))
        .await;
    (rows[0].0, cookie)
}

/// Creates a 30-day token `name` with `scopes` (`full` or `area:level …`)
/// for user `uid`, as the user; returns its id and secret.
pub async fn token(app: &TestApp, uid: i64, name: &str, scopes: &str) -> (i64, String) {
    token_from_spec(app, uid, &spec_of(name, scopes, 30, None)).await
}

/// A token `name` with `scopes` for `days` days, made for organization
/// `owner` when given.
pub fn spec_of(name: &str, scopes: &str, days: u32, owner: Option<&str>) -> app::tokens::TokenSpec {
    app::tokens::TokenSpec {
        name: name.into(),
        description: String::new(),
        expiry: app::tokens::Expiry::Days(days),
        scopes: app::scopes::Scopes::parse(scopes).expect("scopes"),
        networks: Default::default(),
        owner: owner.map(str::to_owned),
        resources: Default::default(),
    }
}

/// Creates the token `spec` describes for user `uid`, as the user (sudo);
/// returns its id and secret.
pub async fn token_from_spec(
    app: &TestApp,
    uid: i64,
    spec: &app::tokens::TokenSpec,
) -> (i64, String) {
    let actor = app::domain::tokens::Actor::user(uid);
    let created = app::domain::tokens::create(&app.core, &actor, spec, "")
        .await
        .expect("create");
    (created.token.id, created.secret)
}

pub fn encode_form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", app::ui::urlencode(k), app::ui::urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Opens a test database. With `TESSERA_TEST_PGBOUNCER_URL` (e.g.
/// `postgres://postgres:postgres@127.0.0.1:6432`), a Postgres one is
/// reached through that transaction pooler, with `url` straight to the
/// server for the change feed and the migrations (`--database-listen-url`).
async fn open_db(url: &str) -> Db {
    let db = match std::env::var("TESSERA_TEST_PGBOUNCER_URL") {
        Ok(bouncer) if url.starts_with("postgres") => {
            let name = url.rsplit_once('/').map(|(_, n)| n).unwrap_or_default();
            let pooled = format!("{}/{name}", bouncer.trim_end_matches('/'));
            Db::open(&pooled, Some(url)).await
        }
        _ => Db::connect(url).await,
    };
    db.expect("connect and migrate")
}

impl TestApp {
    async fn start(backend: Backend, options: Options) -> Option<TestApp> {
        let (url, cleanup) = match backend {
            Backend::Sqlite => {
                let path =
                    std::env::temp_dir().join(format!("tessera-test-{}.db", random_suffix()));
                (format!("sqlite://{}", path.display()), Cleanup::File(path))
            }
            Backend::Postgres => {
                let admin_url = postgres_admin_url();
                let admin = match sqlx::PgPool::connect(&admin_url).await {
                    Ok(pool) => pool,
                    Err(e) if !postgres_required() => {
                        eprintln!("skipping Postgres test: no server at {admin_url} ({e})");
                        return None;
                    }
                    Err(e) => {
                        panic!("Postgres is required here but {admin_url} is unreachable: {e}")
                    }
                };
                let name = format!("tessera_test_{}", random_suffix());
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&admin)
                    .await
                    .expect("create test database");
                admin.close().await;
                let base = admin_url
                    .rsplit_once('/')
                    .map(|(b, _)| b)
                    .unwrap_or(&admin_url);
                (
                    format!("{base}/{name}"),
                    Cleanup::PostgresDatabase { admin_url, name },
                )
            }
        };
        let db = open_db(&url).await;
        let config = test_config(&options);
        let core = Core::new(db.clone(), config).await.expect("core");
        let leptos = leptos::config::LeptosOptions::builder()
            .output_name("tessera")
            .build();
        let router = tessera::router(AppState::new(leptos, core.clone()));
        Some(TestApp {
            router,
            url,
            core,
            db,
            backend,
            cleanup,
        })
    }

    /// The axum state of this app (to build routers around its services).
    pub fn state(&self) -> AppState {
        let leptos = leptos::config::LeptosOptions::builder()
            .output_name("tessera")
            .build();
        AppState::new(leptos, self.core.clone())
    }

    /// A second, independent instance (own caches) on the same database.
    pub async fn second_instance(&self) -> (Router, std::sync::Arc<Core>) {
        let db = open_db(&self.url).await;
        let core = Core::new(db, self.core.config.clone()).await.expect("core");
        let leptos = leptos::config::LeptosOptions::builder()
            .output_name("tessera")
            .build();
        (tessera::router(AppState::new(leptos, core.clone())), core)
    }

    async fn stop(self) {
        self.db.close().await;
        match self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::PostgresDatabase { admin_url, name } => {
                if let Ok(admin) = sqlx::PgPool::connect(&admin_url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&admin)
                        .await;
                    admin.close().await;
                }
            }
        }
    }

    pub async fn request(&self, req: Request<Body>) -> Resp {
        send(&self.router, req).await
    }

    /// `method path` with `token` as the Bearer token, no body.
    pub async fn pat(&self, method: &str, path: &str, token: &str) -> Resp {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request");
        self.request(req).await
    }

    /// Rows of a query run directly against the test database.
    pub async fn rows<T>(&self, sql: &str) -> Vec<T>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + Send
            + Unpin,
    {
        app::on_db!(&self.db, p => sqlx::query_as(sql).fetch_all(p).await)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Runs a statement directly against the test database.
    pub async fn exec(&self, sql: &str) {
        app::on_db!(&self.db, p => sqlx::query(sql).execute(p).await.map(|_| ()))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Resp {
        let mut b = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(header::ACCEPT, "text/html");
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, format!("tessera_session={c}"));
        }
        self.request(b.body(Body::empty()).expect("request")).await
    }

    /// Posts a form as a browser would, from `client` (an X-Forwarded-For hop
    /// through the trusted loopback proxy).
    pub async fn post_form_from(
        &self,
        client: &str,
        path: &str,
        fields: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> Resp {
        let mut b = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "text/html")
            .header("x-forwarded-for", client);
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, format!("tessera_session={c}"));
        }
        self.request(b.body(Body::from(encode_form(fields))).expect("request"))
            .await
    }

    pub async fn post_form(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> Resp {
        self.post_form_from("198.51.100.1", path, fields, cookie)
            .await
    }

    /// The answer to signing up `username` with `password` (twice).
    pub async fn sign_up_answer(&self, username: &str, password: &str) -> Resp {
        let fields = [
            ("username", username),
            ("password", password),
            ("confirm", password),
        ];
        self.post_form("/signup", &fields, None).await
    }

    /// Signs up `username` and returns the session cookie.
    pub async fn sign_up(&self, username: &str, password: &str) -> String {
        let res = self.sign_up_answer(username, password).await;
        assert_eq!(
            res.status,
            StatusCode::SEE_OTHER,
            "sign-up failed: {}",
            res.body
        );
        res.session_cookie().expect("session cookie")
    }

    pub async fn sign_in(&self, username: &str, password: &str) -> Resp {
        self.post_form(
            "/signin",
            &[("username", username), ("password", password)],
            None,
        )
        .await
    }
}

/// Runs `test` against a fresh app on `backend` and always cleans up.
pub async fn run<F, Fut>(backend: Backend, options: Options, test: F)
where
    F: FnOnce(TestApp) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(app) = TestApp::start(backend, options).await else {
        return;
    };
    let (db, core, cleanup_backend, url) = (
        app.db.clone(),
        app.core.clone(),
        app.backend,
        app.url.clone(),
    );
    let cleanup = match &app.cleanup {
        Cleanup::File(p) => Cleanup::File(p.clone()),
        Cleanup::PostgresDatabase { admin_url, name } => Cleanup::PostgresDatabase {
            admin_url: admin_url.clone(),
            name: name.clone(),
        },
    };
    // A hung request fails the test instead of stalling the whole suite.
    let outcome = tokio::time::timeout(Duration::from_secs(120), tokio::spawn(test(app))).await;
    let leftover = TestApp {
        router: Router::new(),
        url,
        core,
        db,
        backend: cleanup_backend,
        cleanup,
    };
    leftover.stop().await;
    match outcome {
        Err(_) => panic!("test did not finish within 120 s"),
        Ok(Err(e)) => std::panic::resume_unwind(e.into_panic()),
        Ok(Ok(())) => {}
    }
}

/// Declares each listed `async fn(TestApp)` once per backend; `name with OPTIONS`
/// starts that test's app with other [`Options`].
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident $(with $opts:expr)?),* $(,)?) => {
        $crate::on_backend!(sqlite, Sqlite; $($name $(with $opts)?),*);
        $crate::on_backend!(postgres, Postgres; $($name $(with $opts)?),*);
    };
}

/// Declares the listed tests in module `$module`, each on one `$backend`.
#[macro_export]
macro_rules! on_backend {
    ($module:ident, $backend:ident; $($name:ident $(with $opts:expr)?),* $(,)?) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    #[allow(unused_mut, unused_assignments)]
                    let mut options: $crate::support::Options = Default::default();
                    $(options = $opts;)?
                    $crate::support::run($crate::support::Backend::$backend, options, super::$name).await
                }
            )*
        }
    };
}

/// The text of the first element with `class="<class>"`, roughly: enough to
/// read messages out of rendered pages without an HTML parser.
pub fn text_of_class(html: &str, class: &str) -> Option<String> {
    let marker = format!("class=\"{class}\"");
    let start = html.find(&marker)?;
    let after = &html[start..];
    let open_end = after.find('>')? + 1;
    let rest = &after[open_end..];
    let close = rest.find("</")?;
    Some(strip_tags(&rest[..close]).trim().to_owned())
}

pub fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// Backends of this test database's change-feed listeners (Postgres).
pub async fn listener_pids(app: &TestApp) -> Vec<i32> {
    let sql = format!(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
         AND pid <> pg_backend_pid() AND (query LIKE 'LISTEN%' OR query = '{}')",
        app::domain::changes::FEED_PROBE_SQL.replace('\'', "''")
    );
    app.rows::<(i32,)>(&sql)
        .await
        .into_iter()
        .map(|r| r.0)
        .collect()
}

/// A helper process (a Python script under `tests/it/`) shared by the
/// tests of this binary: its port and its directory.
pub struct Helper {
    pub port: u16,
    pub dir: std::path::PathBuf,
    _child: std::process::Child,
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `folder/script` with Debian's Python (arguments: a free port and
/// a fresh directory) and waits for its "ready". When `module` does not
/// import, the tests are skipped with a note — outside CI; in CI that is a
/// failure naming the Debian `package`.
pub fn python_helper(
    folder: &str,
    script: &str,
    name: &str,
    module: &str,
    package: &str,
) -> Option<Helper> {
    use std::process::{Command, Stdio};
    const PYTHON: &str = "/usr/bin/python3";
    let has_module = Command::new(PYTHON)
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    if !has_module {
        assert!(
            !in_ci(),
            "{package} is required in CI (apt-get install {package})"
        );
        eprintln!("skipping: no {package}");
        return None;
    }
    let dir = std::env::temp_dir().join(format!("tessera-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it")
        .join(folder)
        .join(script);
    let mut child = Command::new(PYTHON)
        .arg(script)
        .arg(port.to_string())
        .arg(&dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start helper");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "ready", "{name} did not start");
    Some(Helper {
        port,
        dir,
        _child: child,
    })
}

/// Sets policy `key` as an administrator would (`tessera admin policy set`).
pub async fn set_policy(app: &TestApp, key: &str, value: &str) {
    app::domain::admin::set_policy(&app.core, &app::domain::admin::Admin::cli(), key, value)
        .await
        .unwrap_or_else(|e| panic!("{key}={value}: {e}"));
}

/// How many accounts the store holds.
pub async fn users_count(app: &TestApp) -> i64 {
    app.rows::<(i64,)>("SELECT COUNT(*) FROM users").await[0].0
}

/// The id of the account named `name` (any case).
pub async fn user_id(app: &TestApp, name: &str) -> i64 {
    let sql = format!(
        "SELECT id FROM users WHERE username_key = '{}'",
        name.to_lowercase().replace('\'', "''")
    );
    app.rows::<(i64,)>(&sql).await[0].0
}
