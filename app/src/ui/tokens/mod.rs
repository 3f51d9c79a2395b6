//! Profile → Security → Personal access tokens: the list, and dialogs to add,
//! edit, regenerate and revoke. Every dialog has a plain page twin (its URL is
//! the link's `href`) so each flow works before the WASM loads: with WASM the
//! click opens the dialog instead of following the link.

mod confirm;
mod dialogs;
mod list;
mod pages;
mod secret;

pub use confirm::GRACE_FIELD;
pub use pages::{EditTokenPage, NewTokenPage, RegenerateTokenPage, RevokeAllPage, RevokeTokenPage};
pub use secret::SecretView;

use super::security::{Section, SecurityNav};
use super::token_api::*;
use crate::model::SessionInfo;
use crate::tokens::{ListQuery, NewSecret, Sort, TokenPage, TokenView};
use confirm::Confirm;
use dialogs::TokenDialogs;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use leptos_router::params::ParamsMap;
use list::{TokenList, Toolbar};

/// Where the tokens page lives; its plain pages are below it.
pub const BASE: &str = "/profile/security/tokens";

/// The list query in the page's URL.
pub fn parse_query(map: &ParamsMap) -> ListQuery {
    ListQuery {
        include_revoked: map
            .get("revoked")
            .is_some_and(|v| v == "1" || v == "true" || v == "on"),
        search: map.get("q").unwrap_or_default().chars().take(100).collect(),
        sort: Sort::parse(&map.get("sort").unwrap_or_default()),
        page: map.get("page").and_then(|p| p.parse().ok()).unwrap_or(1),
    }
}

/// The list URL for `q` (only non-default parameters).
pub fn list_href(q: &ListQuery) -> String {
    let mut parts = Vec::new();
    if q.include_revoked {
        parts.push("revoked=1".to_string());
    }
    if !q.search.is_empty() {
        parts.push(format!("q={}", super::urlencode(&q.search)));
    }
    if q.sort != Sort::default() {
        parts.push(format!("sort={}", q.sort.as_str()));
    }
    if q.page > 1 {
        parts.push(format!("page={}", q.page));
    }
    if parts.is_empty() {
        BASE.to_string()
    } else {
        format!("{BASE}?{}", parts.join("&"))
    }
}

/// What a `done=` parameter (set after a plain-form action) announces.
fn done_message(done: &str) -> Option<&'static str> {
    match done {
        "updated" => Some("Token updated."),
        "revoked" => Some("Token revoked."),
        "revoked-all" => Some("All tokens revoked."),
        "narrowed" => Some("Token narrowed to what it used."),
        _ => None,
    }
}

/// Which dialog is open.
#[derive(Clone, Debug, PartialEq)]
enum Dialog {
    Closed,
    New,
    Edit(TokenView),
    Confirm(Confirm),
    Secret {
        secret: NewSecret,
        regenerated: bool,
    },
}

/// Short-lived confirmations ("Token created."), announced politely.
#[derive(Clone, Copy)]
pub struct Toasts(RwSignal<Vec<(u64, String)>>);

impl Toasts {
    /// Shows `message` for six seconds.
    pub fn push(&self, message: impl Into<String>) {
        let list = self.0;
        let id = list.with_untracked(|l| l.iter().map(|(i, _)| *i).max().unwrap_or(0) + 1);
        list.update(|l| l.push((id, message.into())));
        set_timeout(
            move || list.update(|l| l.retain(|(i, _)| *i != id)),
            std::time::Duration::from_secs(6),
        );
    }
}

/// Profile → Security → Personal access tokens: the server loads the list
/// and the policy for the URL's query and hands them to [`TokensApp`].
#[component]
pub fn TokensPage(
    /// The visitor, and what a form post sent back.
    info: SessionInfo,
) -> impl IntoView {
    let query_map = use_query_map();
    let query = parse_query(&query_map.read_untracked());
    let done = query_map
        .read_untracked()
        .get("done")
        .and_then(|d| done_message(&d));
    let list_query = query.clone();
    let tokens = Resource::new_blocking(move || list_query.clone(), list_tokens);
    let policy = Resource::new_blocking(|| (), |_| get_token_policy());
    let expiring = Resource::new_blocking(|| (), |_| crate::ui::notifications::list_expiring());
    let fb = info.feedback.clone().unwrap_or_default();
    let sudo = info.in_sudo;
    view! {
        <Title text="Personal access tokens · Tessera" />
        <div class="settings">
            <SecurityNav current=Section::Tokens />
            <section class="settings-body" aria-labelledby="tokens-heading">
                <Suspense fallback=|| view! { <p class="loading">"Loading tokens…"</p> }>
                    {move || {
                        let (query, fb) = (query.clone(), fb.clone());
                        Suspend::new(async move {
                            let page = tokens.await.map_err(|e| e.to_string());
                            let policy = policy.await.ok();
                            let expiring = expiring.await.unwrap_or_default();
                            view! {
                                <TokensApp
                                    query
                                    page
                                    policy
                                    sudo
                                    message=fb.message
                                    secret=fb.secret
                                    done=done.map(str::to_owned)
                                >
                                    <crate::ui::notifications::ExpiringBanner list=expiring />
                                </TokensApp>
                            }
                        })
                    }}
                </Suspense>
            </section>
        </div>
    }
}

/// The live part of the tokens page (an island): the head with "New
/// token", the toolbar, the list (reloaded after a change), the dialogs
/// and the toasts. `children` (server HTML) goes above the toolbar.
#[island]
fn TokensApp(
    /// The list's query (from the URL).
    query: ListQuery,
    /// The list as the server loaded it.
    page: Result<TokenPage, String>,
    /// The token policy; `None` when it could not be loaded (no dialogs).
    policy: Option<TokenPolicy>,
    /// The session is in sudo mode.
    sudo: bool,
    /// A plain-form post's page-level message.
    message: Option<String>,
    /// A plain-form post's new secret, shown once.
    secret: Option<NewSecret>,
    /// What a `done=` parameter announces.
    done: Option<String>,
    children: Children,
) -> impl IntoView {
    let page = RwSignal::new(page);
    let refresh = RwSignal::new(0u32);
    let dialog = RwSignal::new(Dialog::Closed);
    let toasts = Toasts(RwSignal::new(Vec::new()));
    // after a change, the list is loaded again (the latest load wins)
    let list_query = query.clone();
    Effect::new(move |prev: Option<u32>| {
        let n = refresh.get();
        if prev.is_some() {
            let q = list_query.clone();
            leptos::task::spawn_local(async move {
                let loaded = list_tokens(q).await.map_err(|e| e.to_string());
                if refresh.get_untracked() == n {
                    page.set(loaded);
                }
            });
        }
        n
    });
    let active =
        Signal::derive(move || page.with(|p| p.as_ref().map(|p| p.active_count).unwrap_or(0)));
    let open_new = move |ev: web_sys::MouseEvent| {
        ev.prevent_default();
        dialog.set(Dialog::New);
    };
    let row_query = query.clone();
    view! {
        <div class="page-head">
            <h1 id="tokens-heading">"Personal access tokens"</h1>
            <a class="button primary" href=format!("{BASE}/new") on:click=open_new>
                <span aria-hidden="true">"+"</span>
                "New token"
            </a>
        </div>
        <p class="lead">
            "Tokens act as alternate passwords for git, curl and CI jobs, limited to the scopes and lifetime you choose. Treat them like passwords."
        </p>
        {message.map(|m| view! { <div class="alert error" role="alert">{m}</div> })}
        {secret.map(|s| {
            // a rotation (the old secret still in its grace) says so
            let regenerated = s.token.previous_valid_until.is_some();
            view! {
                <section class="secret-panel" aria-labelledby="dialog-title">
                    <SecretView secret=s regenerated on_done=None />
                </section>
            }
        })}
        {children()}
        <Toolbar query dialog active />
        {move || match page.get() {
            Ok(p) => view! { <TokenList page=p query=row_query.clone() dialog /> }.into_any(),
            Err(e) => view! {
                <div class="alert error" role="alert">{format!("Could not load your tokens: {e}")}</div>
            }.into_any(),
        }}
        {policy.map(|policy| view! { <TokenDialogs dialog refresh toasts policy sudo /> })}
        <div class="toasts" role="status" aria-live="polite">
            {done.map(|m| view! { <div class="toast">{m}</div> })}
            <For each=move || toasts.0.get() key=|(id, _)| *id let:item>
                <div class="toast">{item.1}</div>
            </For>
        </div>
    }
}
