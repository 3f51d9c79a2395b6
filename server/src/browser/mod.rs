//! Browser routes: the Leptos pages and their server functions (`/rpc`),
//! the plain-form handlers that make every flow work without JavaScript,
//! and the static bundle. Pages and forms get the session cookie, the
//! sign-in guard and the cross-site check; assets get none of them. Unknown
//! paths get the app's 404 page.

pub mod admin_forms;
pub mod assets;
pub mod forms;
pub mod notify_forms;
pub mod org_forms;
pub mod pages;
pub mod session;
pub mod sso;
pub mod token_forms;
pub mod two_factor_forms;
pub mod workload_forms;

use app::{domain::AppState, shell, App};
use axum::{
    middleware::{from_fn, from_fn_with_state},
    routing::{get, post, MethodRouter},
    Router,
};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use std::sync::OnceLock;

/// The app's routes, discovered once per process. Leptos suppresses resource
/// loading process-wide while it renders the app to discover routes, so a
/// page rendering at that moment (another router being built, as in the
/// tests) would wait forever; doing it once, before any router serves,
/// rules that out.
fn route_list() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// The paths of the app's pages (axum syntax, `{id}` for a token id).
pub fn page_paths() -> Vec<String> {
    route_list().iter().map(|r| r.path().to_owned()).collect()
}

/// The plain-form posts of the browser router: path (axum syntax) and
/// handler. Tests walk this table (e.g. every path naming a token id is
/// tried with another user's id).
pub fn form_routes() -> Vec<(String, MethodRouter<AppState>)> {
    let tokens = app::ui::tokens::BASE;
    let admin = admin_forms::routes()
        .into_iter()
        .map(|(path, route)| (path.to_owned(), route));
    let mut routes = vec![
        ("/signin".into(), post(forms::sign_in)),
        ("/signup".into(), post(forms::sign_up)),
        ("/signout".into(), post(forms::sign_out)),
        ("/auth/oidc/start".into(), get(sso::start)),
        ("/auth/oidc/callback".into(), get(sso::callback)),
        (
            "/profile/security/password".into(),
            post(forms::change_password),
        ),
        (
            app::ui::SESSIONS_SIGNOUT.into(),
            post(forms::sign_out_sessions),
        ),
        (format!("{tokens}/new"), post(token_forms::create)),
        (
            format!("{tokens}/revoke-all"),
            post(token_forms::revoke_all),
        ),
        (format!("{tokens}/{{id}}/edit"), post(token_forms::edit)),
        (format!("{tokens}/{{id}}/revoke"), post(token_forms::revoke)),
        (format!("{tokens}/{{id}}/narrow"), post(token_forms::narrow)),
        (format!("{tokens}/{{id}}/derive"), post(token_forms::derive)),
        (
            format!("{tokens}/{{id}}/regenerate"),
            post(token_forms::regenerate),
        ),
    ];
    routes.extend(admin);
    routes.extend(notify_forms::routes());
    routes.extend(workload_forms::routes());
    routes.extend(org_forms::routes());
    routes.extend(two_factor_forms::routes());
    routes
}

/// Every browser route with its layers, and the static bundle.
pub fn router(state: &AppState) -> Router<AppState> {
    with_layers(state, routes(state)).merge(assets::router(state))
}

/// The layers of pages and forms (applied to `routes`): the session, the
/// cross-site check, the sign-in guard; panics answer an error page; what
/// no route matches gets the 404 page.
pub fn with_layers(state: &AppState, routes: Router<AppState>) -> Router<AppState> {
    routes
        .fallback(pages::not_found)
        .layer(from_fn(rpc_body_limit))
        .layer(from_fn(crate::panics::page))
        .layer(from_fn_with_state(state.clone(), session::guard))
        .layer(from_fn_with_state(state.clone(), session::same_origin))
        .layer(from_fn_with_state(state.clone(), session::identify))
}

/// Pages, their server functions and the plain-form handlers.
fn routes(state: &AppState) -> Router<AppState> {
    let context_state = state.clone();
    let shell_options = (*state.leptos).clone();
    form_routes()
        .into_iter()
        .fold(Router::new(), |r, (path, route)| r.route(&path, route))
        .leptos_routes_with_context(
            state,
            route_list(),
            move || provide_context(context_state.clone()),
            move || shell(shell_options.clone()),
        )
}

/// Server functions read their body themselves: one past [`crate::BODY_LIMIT`]
/// would come back as a 500 ("Deserialization|length limit exceeded").
/// Refused here instead, as the plain forms are: 413 with a sentence, in the
/// server functions' own error encoding (the page's call shows it).
async fn rpc_body_limit(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use leptos::server_fn::error::FromServerFnError;
    if !req.uri().path().starts_with("/rpc/") {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, crate::BODY_LIMIT).await {
        Ok(bytes) => {
            next.run(axum::extract::Request::from_parts(parts, bytes.into()))
                .await
        }
        Err(_) => {
            let message = format!(
                "The request is too large: at most {} KiB.",
                crate::BODY_LIMIT / 1024
            );
            (
                http::StatusCode::PAYLOAD_TOO_LARGE,
                [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                leptos::prelude::ServerFnError::new(message).ser(),
            )
                .into_response()
        }
    }
}
