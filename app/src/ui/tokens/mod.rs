//! Profile → Security → Personal access tokens: the list, and dialogs to add,
//! edit, regenerate and revoke. Every dialog has a plain page twin (its URL is
//! the link's `href`) so each flow works before the WASM loads: with WASM the
//! click opens the dialog instead of following the link.

mod confirm;
mod dialogs;
mod kind;
mod list;
mod pages;
mod secret;

pub use confirm::GRACE_FIELD;
pub use pages::{
    DeriveTokenPage, EditTokenPage, NewTokenPage, RegenerateTokenPage, RevokeAllPage,
    RevokeTokenPage,
};
pub use secret::{SecretBox, Shown, SECRET_TITLE};

use super::security::{Section, SecurityNav};
use super::token_api::*;
use crate::model::SessionInfo;
use crate::tokens::{ListQuery, Sort};
use dialogs::{submit_token_dialog, token_dialog};
use kind::Dialog;
use leptos::either::Either;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use leptos_router::params::ParamsMap;
use list::{token_list_html, Toolbar};
pub use list::{TokenListRegion, LIST_REGION};

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

/// Profile → Security → Personal access tokens, all server HTML: the head
/// with "New token", the toolbar, the list. [`TokensApp`] (an island) opens
/// the dialogs from their links and reloads the list after a change.
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
    let expiring = Resource::new_blocking(|| (), |_| crate::ui::notifications::list_expiring());
    let fb = info.feedback.clone().unwrap_or_default();
    view! {
        <Title text="Personal access tokens · Tessera" />
        <div class="settings">
            <SecurityNav current=Section::Tokens />
            <section class="settings-body" aria-labelledby="tokens-heading">
                <Suspense fallback=|| view! { <p class="loading">"Loading tokens…"</p> }>
                    {move || {
                        let (query, fb) = (query.clone(), fb.clone());
                        Suspend::new(async move {
                            let page = tokens.await;
                            let expiring = expiring.await.unwrap_or_default();
                            let list = match page {
                                Ok(page) => Either::Left(view! { <TokenListRegion page query=query.clone() /> }),
                                Err(e) => Either::Right(view! {
                                    <div class="alert error" role="alert">{format!("Could not load your tokens: {e}")}</div>
                                }),
                            };
                            view! {
                                <div class="page-head">
                                    <h1 id="tokens-heading">"Personal access tokens"</h1>
                                    <a class="button primary" href=format!("{BASE}/new") data-dialog=Dialog::New.as_str()>
                                        <span aria-hidden="true">"+"</span>
                                        "New token"
                                    </a>
                                </div>
                                <p class="lead">
                                    "Tokens act as alternate passwords for git, curl and CI jobs, limited to the scopes and lifetime you choose. Treat them like passwords."
                                </p>
                                {fb.message.map(|m| view! { <div class="alert error" role="alert">{m}</div> })}
                                {fb.secret.map(|secret| {
                                    // a rotation (the old secret still in its grace) says so
                                    let shown = Shown::new(&secret, secret.token.previous_valid_until.is_some());
                                    view! {
                                        <section class="secret-panel" aria-labelledby=secret::SECRET_TITLE>
                                            <SecretBox shown in_dialog=false />
                                        </section>
                                    }
                                })}
                                <crate::ui::notifications::ExpiringBanner list=expiring />
                                <Toolbar query />
                                {list}
                                <TokensApp done=done.map(str::to_owned) />
                            }
                        })
                    }}
                </Suspense>
            </section>
        </div>
    }
}

/// The live part of the tokens page (an island): one native `<dialog>`
/// whose content the server renders (see [`dialogs`]), opened from the
/// page's `data-dialog` links (a click anywhere on the page is looked at
/// once), its form posted through `tokens/dialog_submit`, the list's reload
/// after a change, and the toasts.
#[island]
fn TokensApp(
    /// What a `done=` parameter announces.
    done: Option<String>,
) -> impl IntoView {
    let refresh = RwSignal::new(0u32);
    let toasts = Toasts(RwSignal::new(Vec::new()));
    let el = NodeRef::<leptos::html::Dialog>::new();
    let live = Live {
        el,
        refresh,
        toasts,
        opener: StoredValue::new(None),
        busy: StoredValue::new(false),
    };
    // after a change, the list is loaded again (the latest load wins)
    Effect::new(move |prev: Option<u32>| {
        let n = refresh.get();
        if prev.is_some() {
            leptos::task::spawn_local(async move {
                let search = window().location().search().unwrap_or_default();
                match token_list_html(search).await {
                    Ok(html) if refresh.get_untracked() == n => replace_list(&html),
                    Ok(_) => {}
                    Err(e) => toasts.push(format!("Could not reload your tokens: {e}")),
                }
            });
        }
        n
    });
    let handle = window_event_listener(leptos::ev::click, move |ev| live.open_from_link(&ev));
    on_cleanup(move || handle.remove());
    view! {
        <dialog
            node_ref=el
            class="modal"
            aria-labelledby="dialog-title"
            aria-modal="true"
            on:cancel=move |ev: web_sys::Event| {
                ev.prevent_default();
                live.close();
            }
            on:keydown=move |ev: web_sys::KeyboardEvent| {
                if ev.key() == "Tab" {
                    if let Some(d) = el.get_untracked() {
                        crate::ui::modal::trap_tab(&d, &ev);
                    }
                }
            }
            on:click=move |ev: web_sys::MouseEvent| live.on_click(&ev)
            on:submit=move |ev: web_sys::SubmitEvent| live.on_submit(&ev)
        ></dialog>
        <div class="toasts" role="status" aria-live="polite">
            {done.map(|m| view! { <div class="toast">{m}</div> })}
            <For each=move || toasts.0.get() key=|(id, _)| *id let:item>
                <div class="toast">{item.1}</div>
            </For>
        </div>
    }
}

/// The dialog's state and what it does.
#[derive(Clone, Copy)]
struct Live {
    el: NodeRef<leptos::html::Dialog>,
    refresh: RwSignal<u32>,
    toasts: Toasts,
    /// The link that opened the dialog (`data-dialog`, `data-token-id`):
    /// focus goes back to it, or to the same link of a reloaded list.
    opener: StoredValue<Option<(String, String)>>,
    /// A submit is on its way (a second one is ignored).
    busy: StoredValue<bool>,
}

impl Live {
    /// Shows `html` in the dialog (opening it if it is closed): its islands
    /// come alive, focus goes to the first field with a message, else to
    /// `[autofocus]` or the first control.
    fn show(&self, html: &str) {
        use wasm_bindgen::JsCast;
        let Some(d) = self.el.get_untracked() else {
            return;
        };
        d.set_inner_html(html);
        crate::ui::boot::hydrate_islands_in(&d);
        if !d.open() {
            let _ = d.show_modal();
        }
        let invalid = d
            .query_selector("[aria-invalid=\"true\"]")
            .ok()
            .flatten()
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
        match invalid {
            Some(field) => {
                let _ = field.focus();
            }
            None => crate::ui::modal::focus_first(&d),
        }
    }

    fn close(&self) {
        if let Some(d) = self.el.get_untracked() {
            d.close();
            d.set_inner_html("");
        }
        use wasm_bindgen::JsCast;
        let opener = self.opener.try_update_value(Option::take).flatten();
        let doc = document();
        let back = opener
            .and_then(|(kind, id)| {
                let id = if id.is_empty() {
                    String::new()
                } else {
                    format!("[data-token-id=\"{id}\"]")
                };
                doc.query_selector(&format!("a[data-dialog=\"{kind}\"]{id}"))
                    .ok()
                    .flatten()
            })
            .or_else(|| doc.query_selector("a[data-dialog=\"new\"]").ok().flatten())
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
        if let Some(el) = back {
            let _ = el.focus();
        }
    }

    /// A plain click on a `data-dialog` link opens that dialog instead of
    /// the link's page (a click with a modifier, or another button, still
    /// opens the page, e.g. in a new tab).
    fn open_from_link(&self, ev: &web_sys::MouseEvent) {
        use wasm_bindgen::JsCast;
        if ev.default_prevented()
            || ev.button() != 0
            || ev.ctrl_key()
            || ev.meta_key()
            || ev.shift_key()
            || ev.alt_key()
        {
            return;
        }
        let Some(link) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .and_then(|e| e.closest("a[data-dialog]").ok().flatten())
        else {
            return;
        };
        // a dialog this page does not know: the link goes to its page
        let Some(dialog) = link
            .get_attribute("data-dialog")
            .as_deref()
            .and_then(Dialog::parse)
        else {
            return;
        };
        ev.prevent_default();
        let kind = dialog.as_str().to_owned();
        let token = link.get_attribute("data-token-id").unwrap_or_default();
        let id = token.parse().unwrap_or(0);
        // (only our own values: a few words, digits)
        let safe = |v: &str| v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if safe(&kind) && safe(&token) {
            self.opener.set_value(Some((kind.clone(), token)));
        }
        // the link keeps focus while the dialog loads; it gets it back after
        if let Ok(link) = link.dyn_into::<web_sys::HtmlElement>() {
            let _ = link.focus();
        }
        let live = *self;
        leptos::task::spawn_local(async move {
            match token_dialog(kind, id).await {
                Ok(Outcome::Done(html)) => live.show(&html),
                Ok(Outcome::Rejected { message, .. }) => live
                    .toasts
                    .push(message.unwrap_or_else(|| "This dialog cannot open now.".into())),
                Err(e) => live.toasts.push(server_message(e)),
            }
        });
    }

    /// Cancel and Done (`data-close`) close the dialog.
    fn on_click(&self, ev: &web_sys::MouseEvent) {
        use wasm_bindgen::JsCast;
        let close = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .and_then(|e| e.closest("[data-close]").ok().flatten());
        if close.is_some() {
            ev.prevent_default();
            self.close();
        }
    }

    /// The dialog's form goes to `tokens/dialog_submit`; the answer is shown.
    fn on_submit(&self, ev: &web_sys::SubmitEvent) {
        use wasm_bindgen::JsCast;
        let Some(form) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok())
        else {
            return;
        };
        ev.prevent_default();
        if self.busy.get_value() {
            return;
        }
        self.busy.set_value(true);
        let kind = form.get_attribute("data-kind").unwrap_or_default();
        let id = form
            .get_attribute("data-token-id")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let fields = crate::ui::token_form::form_pairs(&form);
        let button = form
            .query_selector("button[type=submit]")
            .ok()
            .flatten()
            .and_then(|b| b.dyn_into::<web_sys::HtmlButtonElement>().ok());
        let words = button
            .as_ref()
            .map(|b| b.text_content().unwrap_or_default());
        if let Some(b) = &button {
            b.set_disabled(true);
            if let Some(p) = b.get_attribute("data-pending") {
                b.set_text_content(Some(&p));
            }
        }
        let live = *self;
        leptos::task::spawn_local(async move {
            let answer = submit_token_dialog(kind, id, fields).await;
            live.busy.set_value(false);
            match answer {
                Ok(a) => {
                    if a.changed {
                        live.refresh.update(|n| *n += 1);
                    }
                    if let Some(t) = a.toast {
                        live.toasts.push(t);
                    }
                    match a.html {
                        Some(html) => live.show(&html),
                        None => live.close(),
                    }
                }
                Err(e) => {
                    if let Some(b) = &button {
                        b.set_disabled(false);
                        b.set_text_content(words.as_deref());
                    }
                    live.toasts.push(server_message(e));
                }
            }
        });
    }
}

/// A server function's error as the person reads it.
fn server_message(e: ServerFnError) -> String {
    match e {
        ServerFnError::ServerError(m) => m,
        other => format!("Something went wrong: {other}"),
    }
}

/// Puts the reloaded list in place of the old one; focus that was on one of
/// its links moves to the same link of the new list when there is one.
fn replace_list(html: &str) {
    let doc = document();
    let Some(region) = doc.get_element_by_id(LIST_REGION) else {
        return;
    };
    let focused = doc
        .active_element()
        .filter(|a| region.contains(Some(a)))
        .map(|a| {
            let attr = |n: &str| a.get_attribute(n).unwrap_or_default();
            (attr("data-dialog"), attr("data-token-id"))
        });
    region.set_outer_html(html);
    if let Some((dialog, id)) = focused {
        let selector = format!("#{LIST_REGION} [data-dialog=\"{dialog}\"][data-token-id=\"{id}\"]");
        let same = doc.query_selector(&selector).ok().flatten().and_then(|e| {
            use wasm_bindgen::JsCast;
            e.dyn_into::<web_sys::HtmlElement>().ok()
        });
        if let Some(el) = same {
            let _ = el.focus();
        }
    }
}
