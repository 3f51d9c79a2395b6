//! A real nginx (Debian's package) in front of a static location, asking
//! Tessera's gateway check through `auth_request`; real curl and git as the
//! clients. Runs on SQLite (the gateway logic does not depend on the store).

use crate::support;

use app::domain::tokens as service;
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};
use support::{Backend, Options};

const NGINX: &str = "/usr/sbin/nginx";

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn run(cmd: &mut Command) -> std::process::Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

/// A bare repository served over git's "dumb" HTTP protocol (static files).
fn make_repo(www: &Path) {
    let work = www.parent().expect("parent").join("work");
    std::fs::create_dir_all(&work).expect("work dir");
    std::fs::write(work.join("README"), "hello from behind nginx\n").expect("file");
    let git = |args: &[&str], dir: &Path| {
        let out = run(Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", dir));
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q", "-b", "main"], &work);
    git(
        &[
            "-c",
            "user.email=t@example.com",
            "-c",
            "user.name=t",
            "add",
            "README",
        ],
        &work,
    );
    git(
        &[
            "-c",
            "user.email=t@example.com",
            "-c",
            "user.name=t",
            "commit",
            "-qm",
            "first",
        ],
        &work,
    );
    git(
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().expect("path"),
            www.join("repo.git").to_str().expect("path"),
        ],
        &work,
    );
    git(&["update-server-info"], &www.join("repo.git"));
}

/// Serves `app`'s router on a loopback socket of its own; its address.
async fn serve(app: &support::TestApp) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("addr");
    let router = app.router.clone();
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    address
}

/// The start of a test nginx's configuration: one worker, every file in
/// `dir`, and the `http {` block opened (the caller closes it).
fn nginx_preamble(dir: &Path) -> String {
    let dir = dir.display();
    format!(
        r#"
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
"#
    )
}

fn start_nginx(dir: &Path, port: u16, tessera: SocketAddr) -> Nginx {
    let www = dir.join("www");
    std::fs::create_dir_all(&www).expect("www");
    std::fs::write(www.join("hello.txt"), "static hello\n").expect("static file");
    make_repo(&www);
    let conf = format!(
        r#"{preamble}    server {{
        listen 127.0.0.1:{port};
        location = /_tessera {{
            internal;
            proxy_pass http://{tessera}/gateway/check;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Tessera-Scope $tessera_scope;
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
        location /code/ {{
            set $tessera_scope code:read;
            auth_request /_tessera;
            alias {dir}/www/;
        }}
        location /wiki/ {{
            set $tessera_scope wiki:read;
            auth_request /_tessera;
            alias {dir}/www/;
        }}
    }}
}}
"#,
        preamble = nginx_preamble(dir),
        dir = dir.display()
    );
    run_nginx(dir, &conf, port, || true)
}

/// Starts nginx with `conf` (written to `dir`) and waits until it listens
/// on `port` and `ready()` holds.
fn run_nginx(dir: &Path, conf: &str, port: u16, ready: impl Fn() -> bool) -> Nginx {
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).expect("conf");
    let child = Command::new(NGINX)
        .args([
            "-p",
            dir.to_str().expect("path"),
            "-c",
            conf_path.to_str().expect("path"),
            "-g",
            "daemon off; user root;",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nginx");
    let nginx = Nginx(child);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() && ready() {
            return nginx;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "nginx did not start: {}",
        std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
    );
}

/// curl's status code for `url` with an optional `user:token` credential.
fn curl(url: &str, credential: Option<&str>) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %header{www-authenticate}",
        url,
    ]);
    if let Some(c) = credential {
        cmd.args(["-u", c]);
    }
    let out = run(&mut cmd);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (code, rest) = text.split_once(' ').unwrap_or((text.as_str(), ""));
    (code.parse().unwrap_or(0), rest.trim().to_owned())
}

fn git_clone(url: &str, into: &Path) -> bool {
    run(Command::new("git")
        .args(["clone", "-q", url, into.to_str().expect("path")])
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", into.parent().expect("parent")))
    .status
    .success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_auth_request_lets_curl_and_git_in_with_exactly_the_tokens_scopes() {
    if !Path::new(NGINX).exists() || Command::new("git").arg("--version").output().is_err() {
        assert!(!support::in_ci(), "nginx and git are required in CI");
        eprintln!("skipping: nginx or git is not installed");
        return;
    }
    support::run(Backend::Sqlite, Options::default(), |app| async move {
        // Tessera on a real socket
        let tessera = serve(&app).await;
        let (uid, _) = support::user(&app, "octo").await;
        let (code_id, code_token) = support::token(&app, uid, "git", "code:read").await;

        let dir: PathBuf =
            std::env::temp_dir().join(format!("tessera-nginx-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let port = free_port();
        let nginx = start_nginx(&dir, port, tessera);
        let base = format!("http://127.0.0.1:{port}");

        let cred = format!("git:{code_token}");
        assert_eq!(curl(&format!("{base}/code/hello.txt"), Some(&cred)).0, 200);
        let (status, challenge) = curl(&format!("{base}/code/hello.txt"), None);
        assert_eq!(status, 401);
        assert_eq!(challenge, "Basic realm=\"Tessera\"");
        assert_eq!(
            curl(&format!("{base}/wiki/hello.txt"), Some(&cred)).0,
            403,
            "wrong scope"
        );

        let clone_dir = dir.join("clone-ok");
        assert!(
            git_clone(
                &format!("http://git:{code_token}@127.0.0.1:{port}/code/repo.git"),
                &clone_dir
            ),
            "git clone with the token"
        );
        assert_eq!(
            std::fs::read_to_string(clone_dir.join("README")).expect("cloned"),
            "hello from behind nginx\n"
        );

        service::revoke(&app.core, &service::Actor::user(uid), code_id)
            .await
            .expect("revoke");
        assert_eq!(
            curl(&format!("{base}/code/hello.txt"), Some(&cred)).0,
            401,
            "revoked"
        );
        assert!(!git_clone(
            &format!("http://git:{code_token}@127.0.0.1:{port}/code/repo.git"),
            &dir.join("clone-revoked")
        ));
        drop(nginx);
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await;
}

struct Fcgiwrap(Child);

impl Drop for Fcgiwrap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `git args` in `dir` with a clean configuration. The wait blocks
/// this thread only: the runtime's other tasks (Tessera itself, answering
/// nginx) move to another worker meanwhile.
fn git_in(dir: &Path, args: &[&str]) -> std::process::Output {
    tokio::task::block_in_place(|| {
        run(Command::new("git")
            .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
            .args(args)
            .current_dir(dir)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", dir))
    })
}

/// Bare repositories `acme/api`, `acme/web-shop` and `acme/other` under
/// `root`, each with one commit.
fn make_repos(root: &Path) {
    let work = root.parent().expect("parent").join("seed");
    std::fs::create_dir_all(&work).expect("seed dir");
    std::fs::write(work.join("README"), "seed\n").expect("file");
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "README"],
        &["commit", "-qm", "first"],
    ] {
        let out = git_in(&work, args);
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for name in ["api", "web-shop", "other"] {
        let dest = root.join("acme").join(format!("{name}.git"));
        let out = git_in(
            &work,
            &["clone", "-q", "--bare", ".", dest.to_str().expect("path")],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// curl's status for `path` sent to nginx exactly as written
/// (`--path-as-is`: no dot segments resolved on the client side).
fn raw_status(token: &str, port: u16, path: &str) -> String {
    let out = tokio::task::block_in_place(|| {
        run(Command::new("curl").args([
            "-s",
            "--path-as-is",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-u",
            &format!("x:{token}"),
            &format!("http://127.0.0.1:{port}{path}"),
        ]))
    });
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The README's git recipe, as written there: the ```nginx block that
/// maps `$tessera_repo`.
fn readme_git_recipe() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    readme
        .split("```nginx\n")
        .skip(1)
        .filter_map(|block| block.split("\n```").next())
        .find(|block| block.contains("map $request_uri $tessera_repo"))
        .expect("the README has the git recipe")
        .to_owned()
}

/// The README's nginx example: git's smart HTTP (git-http-backend through
/// fcgiwrap) behind `auth_request`, the scope from the git service (push:
/// `code:write`, anything else `code:read`) and the resource from the path.
fn start_git_nginx(dir: &Path, port: u16, tessera: SocketAddr) -> (Nginx, Fcgiwrap) {
    let root = dir.join("git");
    make_repos(&root);
    let socket = dir.join("fcgi.sock");
    let fcgi = Fcgiwrap(
        Command::new(FCGIWRAP)
            .args(["-c", "2", "-s", &format!("unix:{}", socket.display())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start fcgiwrap"),
    );
    let recipe = readme_git_recipe()
        .replace("listen 443 ssl;", &format!("listen 127.0.0.1:{port};"))
        .replace("http://127.0.0.1:3000/", &format!("http://{tessera}/"))
        .replace(
            "unix:/run/fcgiwrap.socket",
            &format!("unix:{}", socket.display()),
        )
        .replace("/srv/git", &root.display().to_string());
    let conf = format!(
        r#"{preamble}{recipe}
}}
"#,
        preamble = nginx_preamble(dir),
    );
    (run_nginx(dir, &conf, port, || socket.exists()), fcgi)
}

const FCGIWRAP: &str = "/usr/sbin/fcgiwrap";

/// Creates a token limited to `resources` for `uid`.
async fn limited(
    app: &support::TestApp,
    uid: i64,
    name: &str,
    scopes: &str,
    code: &[&str],
) -> String {
    let spec = app::tokens::TokenSpec {
        name: name.into(),
        description: String::new(),
        expiry: app::tokens::Expiry::Days(1),
        scopes: app::scopes::Scopes::parse(scopes).expect("scopes"),
        networks: app::tokens::Networks::parse(["127.0.0.1"]).expect("networks"),
        owner: None,
        resources: app::tokens::Resources::new(
            [(
                "code".to_owned(),
                code.iter().map(|s| s.to_string()).collect(),
            )]
            .into(),
        ),
    };
    support::token_from_spec(app, uid, &spec).await.1
}

async fn git_clone_and_push_are_limited_per_repository(app: support::TestApp) {
    let have = [NGINX, FCGIWRAP, "/usr/lib/git-core/git-http-backend"];
    if have.iter().any(|p| !Path::new(p).exists()) {
        assert!(
            !support::in_ci(),
            "nginx, fcgiwrap and git are required in CI"
        );
        eprintln!("skipping: nginx, fcgiwrap or git-http-backend is not installed");
        return;
    }
    // Tessera on a real socket
    let tessera = serve(&app).await;
    let (uid, _) = support::user(&app, "ci").await;
    // the CI job's token: clone and push, only acme/api and acme/web-*, only from here
    let job = limited(&app, uid, "job", "code:write", &["acme/api", "acme/web-*"]).await;
    // a read-only token for acme/api
    let reader = limited(&app, uid, "reader", "code:read", &["acme/api"]).await;

    let dir: PathBuf = std::env::temp_dir().join(format!(
        "tessera-git-{}-{:?}",
        std::process::id(),
        app.backend
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let port = free_port();
    let (nginx, fcgi) = start_git_nginx(&dir, port, tessera);
    let url = |token: &str, repo: &str| format!("http://x:{token}@127.0.0.1:{port}/git/{repo}.git");
    let clone = |token: &str, repo: &str, into: &str| {
        let out = git_in(&dir, &["clone", "-q", &url(token, repo), into]);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let push = |into: &str| {
        let work = dir.join(into);
        std::fs::write(work.join("CHANGE"), into).expect("file");
        assert!(git_in(&work, &["add", "CHANGE"]).status.success());
        assert!(git_in(&work, &["commit", "-qm", "change"]).status.success());
        let out = git_in(&work, &["push", "-q", "origin", "main"]);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (ok, err) = clone(&job, "acme/api", "api");
    assert!(ok, "clone acme/api: {err}");
    let (ok, err) = push("api");
    assert!(ok, "push to acme/api: {err}");
    let pushed = git_in(
        &dir.join("git/acme/api.git"),
        &["log", "--format=%s", "-1", "main"],
    );
    assert_eq!(
        String::from_utf8_lossy(&pushed.stdout).trim(),
        "change",
        "the push arrived"
    );
    let (ok, err) = clone(&job, "acme/web-shop", "web");
    assert!(ok, "clone acme/web-shop (acme/web-*): {err}");
    let (ok, err) = clone(&job, "acme/other", "other");
    assert!(!ok, "clone acme/other must be refused");
    assert!(err.contains("403"), "{err}");

    let (ok, err) = clone(&reader, "acme/api", "read");
    assert!(ok, "the reader clones acme/api: {err}");
    let (ok, err) = push("read");
    assert!(!ok, "the reader cannot push");
    assert!(err.contains("403"), "{err}");
    let (ok, _) = clone(&reader, "acme/web-shop", "read-web");
    assert!(!ok, "the reader is limited to acme/api");
    // what nginx normalises or git decodes, the raw-path maps must not see
    // differently: each is refused before Tessera is asked
    for (path, why) in [
        (
            "/git/acme/api/../../acme/other.git/info/refs?service=git-upload-pack",
            "a dot segment out of acme/api",
        ),
        (
            "/git/acme/api/%2e%2e/%2e%2e/acme/other.git/info/refs?service=git-upload-pack",
            "an encoded dot segment",
        ),
        (
            "/git/acme/api.git/info/refs?service=git-receive-pac%6B",
            "an encoded push service",
        ),
        (
            "/git/acme/api.git//info/refs?service=git-upload-pack",
            "a doubled slash",
        ),
    ] {
        assert_eq!(raw_status(&reader, port, path), "400", "{why}: {path}");
    }
    // the same request, written plainly, is the reader's to make
    let plain = "/git/acme/api.git/info/refs?service=git-upload-pack";
    assert_eq!(raw_status(&reader, port, plain), "200");
    let head = git_in(
        &dir.join("git/acme/api.git"),
        &["log", "--format=%s", "-1", "main"],
    );
    assert_eq!(
        String::from_utf8_lossy(&head.stdout).trim(),
        "change",
        "the refused push changed nothing"
    );
    drop(nginx);
    drop(fcgi);
    let _ = std::fs::remove_dir_all(&dir);
}

on_both_backends!(git_clone_and_push_are_limited_per_repository);
