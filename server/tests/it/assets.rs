//! The static bundle from memory: precompressed copies by Accept-Encoding,
//! ETag and 304, Vary, HEAD, and nothing outside the bundle.

use crate::support;

use app::domain::AppState;
use axum::{body::Body, http::Request, http::StatusCode};
use support::TestApp;

fn site() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tessera-assets-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(dir.join("pkg")).unwrap();
    std::fs::write(dir.join("pkg/app.abc.css"), "body{color:red}").unwrap();
    std::fs::write(dir.join("pkg/app.abc.css.br"), "BROTLI").unwrap();
    std::fs::write(dir.join("pkg/app.abc.css.gz"), "GZIP").unwrap();
    std::fs::write(dir.join("pkg/app.abc.wasm"), [0u8, 97, 115, 109]).unwrap();
    std::fs::write(dir.join("favicon.svg"), "<svg/>").unwrap();
    std::fs::write(dir.join("secret.txt"), "outside the bundle").unwrap();
    dir
}

async fn static_files_come_from_memory_with_the_right_encoding(app: TestApp) {
    let dir = site();
    let leptos = leptos::config::LeptosOptions::builder()
        .output_name("tessera")
        .site_root(dir.to_string_lossy().into_owned())
        .hash_files(true)
        .build();
    let state = AppState::new(leptos, app.core.clone());
    let router = tessera::browser::assets::router(&state).with_state(state);
    let get = |path: &str, headers: &[(&str, &str)]| {
        let mut b = Request::builder().uri(path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(Body::empty()).unwrap();
        let router = router.clone();
        async move { support::send(&router, req).await }
    };
    // files are read once: removing them changes nothing
    std::fs::remove_file(dir.join("pkg/app.abc.css")).unwrap();
    let br = get(
        "/pkg/app.abc.css",
        &[("accept-encoding", "gzip, deflate, br")],
    )
    .await;
    assert_eq!(br.status, StatusCode::OK);
    assert_eq!(br.body, "BROTLI");
    assert_eq!(br.header("content-encoding"), Some("br"));
    assert_eq!(br.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(br.header("vary"), Some("accept-encoding"));
    assert_eq!(
        br.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let etag = br.header("etag").unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.len() > 10);
    let gz = get("/pkg/app.abc.css", &[("accept-encoding", "br;q=0, gzip")]).await;
    assert_eq!(
        (gz.body.as_str(), gz.header("content-encoding")),
        ("GZIP", Some("gzip"))
    );
    let plain = get("/pkg/app.abc.css", &[]).await;
    assert_eq!(
        (plain.body.as_str(), plain.header("content-encoding")),
        ("body{color:red}", None)
    );
    assert_eq!(
        plain.header("etag"),
        Some(etag.as_str()),
        "one tag for every encoding of the file"
    );
    let again = get(
        "/pkg/app.abc.css",
        &[("if-none-match", &etag), ("accept-encoding", "br")],
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    let other = get("/pkg/app.abc.css", &[("if-none-match", "\"nope\"")]).await;
    assert_eq!(other.status, StatusCode::OK);
    let wasm = get("/pkg/app.abc.wasm", &[("accept-encoding", "br")]).await;
    assert_eq!(wasm.header("content-type"), Some("application/wasm"));
    assert_eq!(
        wasm.header("content-encoding"),
        None,
        "no copy, no encoding"
    );
    let icon = get("/favicon.svg", &[]).await;
    assert_eq!(
        (icon.status, icon.header("content-type")),
        (StatusCode::OK, Some("image/svg+xml"))
    );
    let head = support::send(
        &router,
        Request::builder()
            .method("HEAD")
            .uri("/pkg/app.abc.wasm")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    for bad in [
        "/pkg/missing.css",
        "/pkg/../secret.txt",
        "/pkg/%2e%2e/secret.txt",
        "/pkg/app.abc.css.br",
        "/pkg/",
    ] {
        let r = get(bad, &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{bad}");
        assert!(!r.body.contains("outside the bundle"));
    }
    let _ = std::fs::remove_dir_all(dir);
}

on_both_backends!(static_files_come_from_memory_with_the_right_encoding);
