//! A real nginx (Debian's package) in front of a static location, asking
//! Tessera's gateway check through `auth_request`; real curl and git as the
//! clients. Runs on SQLite (the gateway logic does not depend on the store).

mod support;

use app::server::tokens as service;
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

fn start_nginx(dir: &Path, port: u16, tessera: SocketAddr) -> Nginx {
    let www = dir.join("www");
    std::fs::create_dir_all(&www).expect("www");
    std::fs::write(www.join("hello.txt"), "static hello\n").expect("static file");
    make_repo(&www);
    let conf = format!(
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
    server {{
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
        dir = dir.display()
    );
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
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
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
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let tessera = listener.local_addr().expect("addr");
        let router = app.router.clone();
        tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
        });
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
