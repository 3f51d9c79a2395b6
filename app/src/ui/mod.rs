//! Pages and components. Forms are plain HTML forms that post to the server,
//! so every core flow works before (or without) the WASM bundle.

pub mod admin;
pub mod auth;
mod boot;
pub mod confirm_access;
mod events;
mod fields;
mod modal;
pub mod notifications;
pub mod orgs;
pub mod passkeys;
mod security;
pub mod service_accounts;
pub mod token_api;
mod token_form;
pub mod tokens;
pub mod two_factor;
pub mod workloads;

use crate::model::{CurrentUser, SessionInfo};
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes, A},
    path, SsrMode,
};

/// The HTML document around the app (server only renders this).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::domain::security::provide_nonce_and_csp();
    // `data-sso`: the sudo fields offer "confirm with your organization's
    // sign-in" (CSS shows it only then; islands render it unchanged)
    #[cfg(feature = "ssr")]
    let sso =
        use_context::<crate::domain::AppState>().and_then(|s| s.core.sso.as_ref().map(|_| "on"));
    #[cfg(not(feature = "ssr"))]
    let sso: Option<&'static str> = None;
    // `data-passkeys`: the signed-in person has a passkey, so the sudo
    // fields offer "Confirm with a passkey instead"
    #[cfg(feature = "ssr")]
    let passkeys = use_context::<http::request::Parts>()
        .and_then(|p| {
            p.extensions
                .get::<crate::domain::sessions::Session>()
                .cloned()
        })
        .filter(|s| s.passkey)
        .map(|_| "on");
    #[cfg(not(feature = "ssr"))]
    let passkeys: Option<&'static str> = None;
    view! {
        <!DOCTYPE html>
        <html lang="en" data-sso=sso data-passkeys=passkeys>
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <meta
                    name="description"
                    content="Tessera: self-hosted personal access tokens for git, curl and CI jobs, limited to the scopes and lifetime you choose."
                />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <HashedStylesheet options=options.clone() id="leptos" />
                {boot::boot_script(&options)}
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The second step of a sign-in (its page and its post).
pub const TWO_FACTOR_SIGNIN: &str = "/signin/two-factor";
/// Security → Two-factor authentication.
pub const TWO_FACTOR: &str = "/profile/security/two-factor";
/// Where adding an authenticator app posts.
pub const TWO_FACTOR_APP: &str = "/profile/security/two-factor/app";
/// Where new recovery codes are asked for.
pub const TWO_FACTOR_RECOVERY: &str = "/profile/security/two-factor/recovery-codes";

/// Who is signed in, whether sign-up is open, and any form feedback.
#[server(prefix = "/rpc", endpoint = "session_info")]
pub async fn get_session_info() -> Result<SessionInfo, ServerFnError> {
    use crate::domain::sessions::Session;
    use crate::domain::AppState;
    use crate::model::FormFeedback;
    let parts = use_context::<http::request::Parts>();
    let session = parts.and_then(|parts| parts.extensions.get::<Session>().cloned());
    let state = use_context::<AppState>();
    let sso = state
        .as_ref()
        .and_then(|s| crate::domain::sso::button(&s.core));
    // accounts come from the identity provider once it is required
    let signup_enabled = state.is_some_and(|s| s.core.config.signup_enabled)
        && !sso.as_ref().is_some_and(|b| b.required);
    let feedback = use_context::<FormFeedback>();
    Ok(SessionInfo {
        sso,
        in_sudo: session.as_ref().is_some_and(|s| s.in_sudo),
        user: session.map(|s| s.user),
        signup_enabled,
        feedback,
    })
}

type SessionResource = Resource<Result<SessionInfo, ServerFnError>>;

/// The whole app: header, routes and pages.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let session: SessionResource = Resource::new_blocking(|| (), |_| get_session_info());
    provide_context(session);
    // The route list must be visible outside any Suspense: the server
    // discovers routes by rendering this tree. Every route renders in
    // `Async` mode: the whole page is sent at once, complete, so it reads
    // and works without JavaScript (out-of-order streaming needs a script
    // to put Suspense content in place).
    view! {
        <Title text="Tessera" />
        <a class="skip-link" href="#main">"Skip to content"</a>
        <Router>
            <WithSession render=|info| view! { <Header user=info.user /> } />
            <main id="main" tabindex="-1">
                <Routes fallback=NotFound>
                    <Route ssr=SsrMode::Async path=path!("/") view=Home />
                    <Route ssr=SsrMode::Async path=path!("/signin") view=|| view! { <WithSession render=|info| view! { <auth::SignIn info /> } /> } />
                    <Route ssr=SsrMode::Async path=path!("/signin/two-factor") view=|| view! { <WithSession render=|info| view! { <two_factor::TwoFactorSignIn info /> } /> } />
                    <Route ssr=SsrMode::Async path=path!("/signup") view=|| view! { <WithSession render=|info| view! { <auth::SignUp info /> } /> } />
                    <Route ssr=SsrMode::Async
                        path=path!("/profile/security/tokens")
                        view=|| view! { <WithSession render=|info| view! { <tokens::TokensPage info /> } /> }
                    />
                    <Route ssr=SsrMode::Async
                        path=path!("/profile/security/tokens/new")
                        view=|| view! { <WithSession render=|info| view! { <tokens::NewTokenPage info /> } /> }
                    />
                    <Route ssr=SsrMode::Async
                        path=path!("/profile/security/tokens/revoke-all")
                        view=|| view! { <WithSession render=|info| view! { <tokens::RevokeAllPage info /> } /> }
                    />
                    <Route ssr=SsrMode::Async
                        path=path!("/profile/security/tokens/:id/edit")
                        view=|| view! { <WithSession render=|info| view! { <tokens::EditTokenPage info /> } /> }
                    />
                    <Route ssr=SsrMode::Async
                        path=path!("/profile/security/tokens/:id/revoke")
                        view=|| view! { <WithSession render=|info| view! { <tokens::RevokeTokenPage info /> } /> }
                    />
                    <Route ssr=SsrMode::Async
                        path=path!("/profile/security/tokens/:id/regenerate")
                        view=|| view! { <WithSession render=|info| view! { <tokens::RegenerateTokenPage info /> } /> }
                    />
                    <Route ssr=SsrMode::Async
                        path=path!("/profile/security/tokens/:id/derive")
                        view=|| view! { <WithSession render=|info| view! { <tokens::DeriveTokenPage info /> } /> }
                    />
                    <Route ssr=SsrMode::Async
                        path=path!("/profile/security/password")
                        view=|| view! { <WithSession render=|info| view! { <security::ChangePassword info /> } /> }
                    />
                    <Route ssr=SsrMode::Async
                        path=path!("/profile/security/two-factor")
                        view=|| view! { <WithSession render=|info| view! { <two_factor::TwoFactorPage info /> } /> }
                    />
                    <Route ssr=SsrMode::Async
                        path=path!("/profile/security/workloads")
                        view=|| view! { <WithSession render=|info| view! { <workloads::TrustedWorkloads info /> } /> }
                    />
                    <Route ssr=SsrMode::Async
                        path=path!("/profile/security/organizations")
                        view=|| view! { <WithSession render=|info| view! { <orgs::Organizations info /> } /> }
                    />
                    <Route ssr=SsrMode::Async
                        path=path!("/profile/security/organizations/:org/service-accounts/new-token")
                        view=|| view! { <WithSession render=|info| view! { <service_accounts::ServiceTokenPage info /> } /> }
                    />
                    <Route ssr=SsrMode::Async
                        path=path!("/profile/security/confirm-access")
                        view=|| view! { <WithSession render=|info| view! { <confirm_access::ConfirmAccess info /> } /> }
                    />
                    <Route ssr=SsrMode::Async
                        path=path!("/profile/security/sessions")
                        view=|| view! { <WithSession render=|info| view! { <security::Sessions info /> } /> }
                    />
                    <Route ssr=SsrMode::Async
                        path=path!("/profile/security/activity")
                        view=|| view! { <WithSession render=|info| view! { <security::Activity info /> } /> }
                    />
                    <Route ssr=SsrMode::Async
                        path=path!("/profile/security/notifications")
                        view=|| view! { <WithSession render=|info| view! { <notifications::Notifications info /> } /> }
                    />
                    <Route ssr=SsrMode::Async
                        path=path!("/admin/tokens")
                        view=|| view! { <WithSession render=|info| view! { <admin::AdminTokens info /> } /> }
                    />
                    <Route ssr=SsrMode::Async
                        path=path!("/admin/users")
                        view=|| view! { <WithSession render=|info| view! { <admin::AdminUsers info /> } /> }
                    />
                    <Route ssr=SsrMode::Async
                        path=path!("/admin/policies")
                        view=|| view! { <WithSession render=|info| view! { <admin::AdminPolicies info /> } /> }
                    />
                    <Route ssr=SsrMode::Async
                        path=path!("/admin/audit")
                        view=|| view! { <WithSession render=|info| view! { <admin::AdminAudit info /> } /> }
                    />
                </Routes>
            </main>
        </Router>
    }
}

/// Renders `render` with the session info once it has loaded (on the server
/// it is always loaded before the first byte is sent).
#[component]
fn WithSession<F, V>(render: F) -> impl IntoView
where
    F: Fn(SessionInfo) -> V + Clone + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let session = expect_context::<SessionResource>();
    view! {
        <Suspense fallback=|| ()>
            {move || {
                let render = render.clone();
                Suspend::new(async move { render(session.await.unwrap_or_default()) })
            }}
        </Suspense>
    }
}

#[component]
fn Header(user: Option<CurrentUser>) -> impl IntoView {
    view! {
        <header class="site-header">
            <a class="brand" href="/">
                <span class="brand-mark" aria-hidden="true">"▦"</span>
                "Tessera"
            </a>
            {match user {
                Some(user) => view! { <ProfileMenu user /> }.into_any(),
                None => view! {
                    <nav class="header-links" aria-label="Account">
                        <a href="/signin">"Sign in"</a>
                    </nav>
                }.into_any(),
            }}
        </header>
    }
}

/// A disclosure menu (`<details>`), so it opens with or without the WASM;
/// an island, so Esc and choosing an item close it.
#[island]
fn ProfileMenu(user: CurrentUser) -> impl IntoView {
    let initial = user
        .username
        .chars()
        .next()
        .unwrap_or('?')
        .to_ascii_uppercase()
        .to_string();
    let menu = NodeRef::<leptos::html::Details>::new();
    // With JS, choosing an item or pressing Esc closes the menu.
    let close = move || {
        if let Some(d) = menu.get() {
            d.set_open(false);
        }
    };
    view! {
        <details
            class="profile-menu"
            node_ref=menu
            on:keydown=move |ev: web_sys::KeyboardEvent| {
                if ev.key() == "Escape" {
                    close();
                }
            }
        >
            <summary aria-label=format!("Profile menu for {}", user.username)>
                <span class="avatar" aria-hidden="true">{initial}</span>
                <span class="profile-name">{user.username.clone()}</span>
            </summary>
            <div class="menu" role="menu" on:click=move |_| close()>
                <p class="menu-heading">"Signed in as " <strong>{user.username.clone()}</strong></p>
                <a role="menuitem" href="/profile/security/tokens">"Security"</a>
                <a role="menuitem" href="/profile/security/password">"Change password"</a>
                {user.is_admin.then(|| view! { <a role="menuitem" href="/admin/tokens">"Administration"</a> })}
                <form method="post" action="/signout">
                    <button role="menuitem" type="submit" class="menu-button">"Sign out"</button>
                </form>
            </div>
        </details>
    }
}

#[component]
fn Home() -> impl IntoView {
    view! {
        <section class="hero">
            <h1>"Personal access tokens, self-hosted"</h1>
            <p>
                "Tessera issues personal access tokens: alternate passwords for git, curl and CI jobs, limited to the scopes and lifetime you choose."
            </p>
            <p>
                <A href="/profile/security/tokens" attr:class="button primary">"Manage your tokens"</A>
            </p>
        </section>
    }
}

/// What a plain form post just did, as the page's `?done=` says it: the
/// sentence `known` gives for it, if any.
pub(crate) fn done_notice(known: &[(&str, &'static str)]) -> Option<&'static str> {
    let done = leptos_router::hooks::use_query_map()
        .read_untracked()
        .get("done")?;
    known.iter().find(|(k, _)| *k == done).map(|(_, m)| *m)
}

/// What a page shows where its data could not be loaded.
pub(crate) fn load_failed(e: impl std::fmt::Display) -> AnyView {
    view! { <div class="alert error" role="alert">{e.to_string()}</div> }.into_any()
}

/// The page for an address that does not exist (404).
#[component]
pub(crate) fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found · Tessera" />
        <section class="card narrow">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address."</p>
            <p><a href="/">"Go to the start page"</a></p>
        </section>
    }
}
pub use auth::{safe_next, urlencode};
pub use security::{OTHERS as SESSIONS_OTHERS, SESSIONS_SIGNOUT};
