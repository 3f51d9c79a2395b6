//! The static bundle: `/pkg` (WASM, JS and CSS) and the favicon, read once
//! at start-up and served from memory. Names carry a content hash in
//! release builds, so answers may be cached for a year; the brotli and
//! gzip copies made at build time are sent to clients that accept them,
//! with `Content-Encoding`, `Vary: Accept-Encoding` and a strong `ETag`
//! (`If-None-Match` gets 304).
//!
//! Hand-written rather than a crate: the embedding crates (rust-embed,
//! memory-serve) bake files in at compile time, while Tessera's bundle is
//! built next to the binary and found through `--site-root` at run time;
//! tower-http's `ServeDir` reads the disk on every request.

use app::domain::AppState;
use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use sha2::{Digest, Sha256};
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Arc,
};

/// One file and its precompressed copies.
struct Asset {
    content_type: HeaderValue,
    etag: HeaderValue,
    identity: axum::body::Bytes,
    br: Option<axum::body::Bytes>,
    gzip: Option<axum::body::Bytes>,
}

/// Every asset by its URL path (`/pkg/tessera.abc.wasm`).
pub struct Assets {
    files: HashMap<String, Asset>,
    cache_control: HeaderValue,
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "wasm" => "application/wasm",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn read(path: &Path) -> Option<axum::body::Bytes> {
    std::fs::read(path).ok().map(Into::into)
}

impl Assets {
    /// Reads `pkg_dir` (served under `/pkg`) and `favicon`.
    pub fn load(pkg_dir: &Path, favicon: &Path, immutable: bool) -> Assets {
        let mut files = HashMap::new();
        let mut add = |url: String, path: PathBuf| {
            let Some(identity) = read(&path) else { return };
            let with = |ext: &str| {
                let mut p = path.clone().into_os_string();
                p.push(ext);
                read(Path::new(&p))
            };
            let digest = Sha256::digest(&identity);
            let tag: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
            files.insert(
                url,
                Asset {
                    content_type: HeaderValue::from_static(content_type(&path)),
                    etag: HeaderValue::from_str(&format!("\"{tag}\""))
                        .unwrap_or(HeaderValue::from_static("\"\"")),
                    br: with(".br"),
                    gzip: with(".gz"),
                    identity,
                },
            );
        };
        if let Ok(entries) = std::fs::read_dir(pkg_dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if !path.is_file() || name.ends_with(".br") || name.ends_with(".gz") {
                    continue;
                }
                add(format!("/pkg/{name}"), path);
            }
        }
        add("/favicon.svg".into(), favicon.to_path_buf());
        let cache_control = HeaderValue::from_static(if immutable {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        });
        Assets {
            files,
            cache_control,
        }
    }

    /// How many files are held.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True when no file was found (the site was not built).
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The answer for `path` given the request's headers, or `None` when
    /// no such asset exists.
    fn answer(&self, path: &str, headers: &HeaderMap) -> Option<Response> {
        let asset = self.files.get(path)?;
        let mut res_headers = HeaderMap::new();
        res_headers.insert(header::CONTENT_TYPE, asset.content_type.clone());
        res_headers.insert(header::CACHE_CONTROL, self.cache_control.clone());
        res_headers.insert(header::ETAG, asset.etag.clone());
        res_headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        let matches = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .any(|t| t.trim() == "*" || t.trim().trim_start_matches("W/") == asset.etag)
            });
        if matches {
            return Some((StatusCode::NOT_MODIFIED, res_headers).into_response());
        }
        let accepts = |coding: &str| {
            headers
                .get_all(header::ACCEPT_ENCODING)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .any(|part| {
                    let mut bits = part.split(';');
                    let name = bits.next().unwrap_or("").trim();
                    let refused = bits.any(|q| {
                        let q = q.trim().replace(' ', "");
                        q == "q=0" || q == "q=0.0" || q == "q=0.00" || q == "q=0.000"
                    });
                    name.eq_ignore_ascii_case(coding) && !refused
                })
        };
        let (body, coding) = match (&asset.br, &asset.gzip) {
            (Some(br), _) if accepts("br") => (br.clone(), Some("br")),
            (_, Some(gz)) if accepts("gzip") => (gz.clone(), Some("gzip")),
            _ => (asset.identity.clone(), None),
        };
        if let Some(c) = coding {
            res_headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(c));
        }
        res_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        Some((res_headers, Body::from(body)).into_response())
    }
}

async fn serve(State(assets): State<Arc<Assets>>, req: Request) -> Response {
    let head = req.method() == axum::http::Method::HEAD;
    match assets.answer(req.uri().path(), req.headers()) {
        Some(mut res) => {
            if head {
                *res.body_mut() = Body::empty();
            }
            res
        }
        None => (
            StatusCode::NOT_FOUND,
            [(header::CACHE_CONTROL, "no-store")],
            "Not found",
        )
            .into_response(),
    }
}

/// `/pkg/*` and `/favicon.svg`, from memory.
pub fn router(state: &AppState) -> Router<AppState> {
    let root = Path::new(state.leptos.site_root.as_ref());
    let assets = Arc::new(Assets::load(
        &root.join(state.leptos.site_pkg_dir.as_ref()),
        &root.join("favicon.svg"),
        state.leptos.hash_files,
    ));
    if assets.is_empty() {
        tracing::warn!(site_root = %root.display(), "no static files found: build the site first (make build)");
    }
    let service = get(serve).with_state(assets);
    Router::new()
        .route("/pkg/{*file}", service.clone())
        .route("/favicon.svg", service)
}
