//! The `tessera` binary as an operator runs it: started with its stdout sent
//! to a file (a service manager, `> log`), it logs plain text — no terminal
//! colour codes; `--metrics-addr` serves the metrics there, only there.

use std::{
    io::{Read as _, Write as _},
    net::{TcpListener, TcpStream},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn a_log_written_to_a_file_is_plain_text() {
    let dir = std::env::temp_dir().join(format!("tessera-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let log_path = dir.join("server.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .env("TESSERA_ADDR", format!("127.0.0.1:{port}"))
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("t.db").display()),
        )
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .stdout(Stdio::from(log.try_clone().expect("clone")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start tessera");
    let started = Instant::now();
    let mut ready = false;
    while started.elapsed() < Duration::from_secs(30) {
        if get(port, "/readyz").is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = get(port, "/healthz");
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(ready, "the server did not start: {text}");
    assert!(text.contains("request"), "requests are logged: {text}");
    assert!(
        !text.contains('\u{1b}'),
        "ANSI escape codes in a file log: {text}"
    );
}

/// `--metrics-addr`: the metrics there without a token, only there; the main
/// address still refuses them without one; the same address twice is refused.
#[test]
fn the_binary_serves_metrics_on_metrics_addr_only() {
    let dir = std::env::temp_dir().join(format!("tessera-metrics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (main, metrics) = (free_port(), free_port());
    let bin = env!("CARGO_BIN_EXE_tessera");
    let mut child = Command::new(bin)
        .env("TESSERA_ADDR", format!("127.0.0.1:{main}"))
        .env("TESSERA_METRICS_ADDR", format!("127.0.0.1:{metrics}"))
        .env("DATABASE_URL", format!("sqlite://{}/t.db", dir.display()))
        .env("TESSERA_SITE_ROOT", "../target/site")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tessera");
    let status = |r: &Option<String>| {
        r.as_deref()
            .and_then(|r| r.split(' ').nth(1))
            .and_then(|s| s.parse::<u16>().ok())
    };
    let started = Instant::now();
    while status(&get(main, "/readyz")) != Some(200) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "tessera started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let open = get(metrics, "/metrics");
    let main_metrics = get(main, "/metrics");
    let other = get(metrics, "/api/v1/me");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status(&open), Some(200));
    let open = open.unwrap_or_default();
    assert!(
        open.contains(r#"tessera_http_requests_total{route="/readyz",method="GET",status="200"}"#),
        "{open}"
    );
    assert_eq!(
        status(&main_metrics),
        Some(401),
        "the main address wants a token"
    );
    assert_eq!(
        status(&other),
        Some(404),
        "the metrics address serves only /metrics"
    );

    let out = Command::new(bin)
        .env("TESSERA_ADDR", format!("127.0.0.1:{main}"))
        .env("TESSERA_METRICS_ADDR", format!("127.0.0.1:{main}"))
        .env("DATABASE_URL", format!("sqlite://{}/t.db", dir.display()))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--metrics-addr must differ"));
    let _ = std::fs::remove_dir_all(&dir);
}
