//! The Tessera server: configuration, the axum router (pages, form handlers,
//! static assets, health checks) and its middleware.

pub mod api;
pub mod config;
pub mod forms;
pub mod middleware;
pub mod pages;
pub mod pat;
pub mod token_forms;

use app::{server::AppState, shell, App};
use axum::{
    extract::State,
    http::{header, HeaderValue, StatusCode},
    middleware::{from_fn, from_fn_with_state},
    response::IntoResponse,
    routing::{get, post},
    Router,
};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use std::path::Path;
use std::sync::OnceLock;
use tower_http::{services::ServeDir, services::ServeFile, set_header::SetResponseHeaderLayer};

async fn healthz() -> impl IntoResponse {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.core.db.ping().await {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
    }
}

/// `/pkg`: the WASM, JS and CSS bundle. Names carry a content hash in
/// release builds, so they may be cached for a year; brotli and gzip copies
/// made at build time are served to clients that accept them.
fn static_assets(state: &AppState) -> Router<AppState> {
    let root = Path::new(state.leptos.site_root.as_ref());
    let cache = if state.leptos.hash_files {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let pkg = ServeDir::new(root.join(state.leptos.site_pkg_dir.as_ref()))
        .precompressed_br()
        .precompressed_gzip();
    Router::new()
        .nest_service("/pkg", pkg)
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache),
        ))
        .route_service("/favicon.svg", ServeFile::new(root.join("favicon.svg")))
}

/// The app's routes, discovered once per process. Leptos suppresses resource
/// loading process-wide while it renders the app to discover routes, so a
/// page rendering at that moment (another router being built, as in the
/// tests) would wait forever; doing it once, before any router serves,
/// rules that out.
fn route_list() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

pub fn router(state: AppState) -> Router {
    let routes = route_list();
    let context_state = state.clone();
    let shell_options = (*state.leptos).clone();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/signin", post(forms::sign_in))
        .route("/signup", post(forms::sign_up))
        .route("/signout", post(forms::sign_out))
        .route("/profile/security/password", post(forms::change_password))
        .route("/profile/security/tokens/new", post(token_forms::create))
        .route(
            "/profile/security/tokens/revoke-all",
            post(token_forms::revoke_all),
        )
        .route(
            "/profile/security/tokens/{id}/edit",
            post(token_forms::edit),
        )
        .route(
            "/profile/security/tokens/{id}/revoke",
            post(token_forms::revoke),
        )
        .route(
            "/profile/security/tokens/{id}/regenerate",
            post(token_forms::regenerate),
        )
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(context_state.clone()),
            move || shell(shell_options.clone()),
        )
        .merge(api::router())
        .merge(static_assets(&state))
        .fallback(pages::not_found)
        .layer(from_fn(middleware::guard))
        .layer(from_fn_with_state(state.clone(), middleware::same_origin))
        .layer(from_fn_with_state(state.clone(), middleware::identify))
        .layer(from_fn_with_state(
            state.clone(),
            middleware::security_headers,
        ))
        .layer(from_fn(middleware::request_log))
        .with_state(state)
}
