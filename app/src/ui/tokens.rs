//! Profile → Security → Personal access tokens: the list, and dialogs to add,
//! edit, regenerate and revoke. Every dialog has a plain page twin (its URL is
//! the link's `href`) so each flow works before the WASM loads: with WASM the
//! click opens the dialog instead of following the link.

use super::modal::Modal;
use super::security::{Section, SecurityNav};
use super::token_api::*;
use super::token_form::{fmt_date, new_form_id, read_form, Errors, TokenFormFields};
use crate::model::SessionInfo;
use crate::tokens::{ListQuery, NewSecret, Sort, Status, TokenForm, TokenPage, TokenView};
use chrono::{DateTime, Utc};
use leptos::{html, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use leptos_router::params::ParamsMap;

pub const BASE: &str = "/profile/security/tokens";

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
        _ => None,
    }
}

/// Which dialog is open.
#[derive(Clone, Debug, PartialEq)]
enum Dialog {
    Closed,
    New,
    Edit(TokenView),
    Revoke(TokenView),
    Regenerate(TokenView),
    RevokeAll(u64),
    Secret {
        secret: NewSecret,
        regenerated: bool,
    },
}

/// Short-lived confirmations ("Token created."), announced politely.
#[derive(Clone, Copy)]
pub struct Toasts(RwSignal<Vec<(u64, String)>>);

impl Toasts {
    fn push(&self, message: impl Into<String>) {
        let list = self.0;
        let id = list.with_untracked(|l| l.iter().map(|(i, _)| *i).max().unwrap_or(0) + 1);
        list.update(|l| l.push((id, message.into())));
        set_timeout(
            move || list.update(|l| l.retain(|(i, _)| *i != id)),
            std::time::Duration::from_secs(6),
        );
    }
}

fn relative_days(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_hours().div_euclid(24)
}

#[component]
pub fn TokensPage(info: SessionInfo) -> impl IntoView {
    let query_map = use_query_map();
    let list_query = Memo::new(move |_| parse_query(&query_map.read()));
    let refresh = RwSignal::new(0u32);
    let tokens = Resource::new_blocking(
        move || (list_query.get(), refresh.get()),
        |(q, _)| list_tokens(q),
    );
    let policy = Resource::new_blocking(|| (), |_| get_token_policy());
    let dialog = RwSignal::new(Dialog::Closed);
    let toasts = Toasts(RwSignal::new(Vec::new()));
    let fb = info.feedback.clone().unwrap_or_default();
    let done = query_map
        .read_untracked()
        .get("done")
        .and_then(|d| done_message(&d));
    let page_message = fb.message.clone();

    let open_new = move |ev: web_sys::MouseEvent| {
        ev.prevent_default();
        dialog.set(Dialog::New);
    };

    view! {
        <Title text="Personal access tokens · Tessera" />
        <div class="settings">
            <SecurityNav current=Section::Tokens />
            <section class="settings-body" aria-labelledby="tokens-heading">
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
                {page_message.map(|m| view! { <div class="alert error" role="alert">{m}</div> })}
                {fb.secret.clone().map(|s| view! {
                    <section class="secret-panel" aria-labelledby="dialog-title">
                        <SecretView secret=s regenerated=false on_done=None />
                    </section>
                })}
                <Toolbar list_query dialog tokens />
                <Transition fallback=|| view! { <p class="loading">"Loading tokens…"</p> }>
                    {move || Suspend::new(async move {
                        match tokens.await {
                            Ok(page) => view! { <TokenList page query=list_query.get_untracked() dialog /> }.into_any(),
                            Err(e) => view! {
                                <div class="alert error" role="alert">{format!("Could not load your tokens: {e}")}</div>
                            }.into_any(),
                        }
                    })}
                </Transition>
            </section>
        </div>
        <Transition>
            {move || Suspend::new(async move {
                let policy = policy.await.ok();
                policy.map(|policy| view! { <TokenDialogs dialog refresh toasts policy /> })
            })}
        </Transition>
        <div class="toasts" role="status" aria-live="polite">
            {done.map(|m| view! { <div class="toast">{m}</div> })}
            <For each=move || toasts.0.get() key=|(id, _)| *id let:item>
                <div class="toast">{item.1}</div>
            </For>
        </div>
    }
}

#[component]
fn Toolbar(
    list_query: Memo<ListQuery>,
    dialog: RwSignal<Dialog>,
    tokens: Resource<Result<TokenPage, ServerFnError>>,
) -> impl IntoView {
    let q = list_query.get_untracked();
    let toggle = move || {
        let mut next = list_query.get();
        next.include_revoked = !next.include_revoked;
        next.page = 1;
        list_href(&next)
    };
    let shown = move || list_query.with(|q| q.include_revoked);
    let active = move || {
        tokens
            .get()
            .and_then(|r| r.ok())
            .map(|p| p.active_count)
            .unwrap_or(0)
    };
    let open_revoke_all = move |ev: web_sys::MouseEvent| {
        ev.prevent_default();
        dialog.set(Dialog::RevokeAll(active()));
    };
    view! {
        <div class="toolbar">
            <form method="get" action=BASE role="search" class="search-form">
                <label for="token-search" class="visually-hidden">"Search tokens by name"</label>
                <input id="token-search" type="search" name="q" placeholder="Search by name" value=q.search.clone() />
                <label for="token-sort" class="visually-hidden">"Sort by"</label>
                <select id="token-sort" name="sort">
                    {Sort::ALL
                        .into_iter()
                        .map(|s| view! { <option value=s.as_str() selected=s == q.sort>{format!("Sort: {}", s.label())}</option> })
                        .collect_view()}
                </select>
                {q.include_revoked.then(|| view! { <input type="hidden" name="revoked" value="1" /> })}
                <button type="submit" class="button">"Apply"</button>
            </form>
            <div class="toolbar-end">
                <a class="switch" role="switch" aria-checked=move || shown().to_string() href=toggle>
                    <span class="switch-track" aria-hidden="true"><span class="switch-thumb"></span></span>
                    "Show revoked tokens"
                </a>
                <a class="button danger-outline" href=format!("{BASE}/revoke-all") on:click=open_revoke_all>"Revoke all"</a>
            </div>
        </div>
    }
}

#[component]
fn TokenList(page: TokenPage, query: ListQuery, dialog: RwSignal<Dialog>) -> impl IntoView {
    if page.items.is_empty() {
        let searching = !query.search.is_empty();
        return view! {
            <div class="empty-state">
                {if searching {
                    view! {
                        <h2>"No matching tokens"</h2>
                        <p>{format!("No token name contains \u{201c}{}\u{201d}.", query.search)}</p>
                        <p><a href=list_href(&ListQuery { search: String::new(), page: 1, ..query.clone() })>"Clear the search"</a></p>
                    }.into_any()
                } else {
                    view! {
                        <h2>"No personal access tokens yet"</h2>
                        <p>"Create a token to use git, curl or a CI job without your password. You choose what it may do and when it expires."</p>
                        <p><a class="button primary" href=format!("{BASE}/new")>"Create your first token"</a></p>
                    }.into_any()
                }}
            </div>
        }
        .into_any();
    }
    let now = page.now;
    let summary = format!(
        "{} token{}{}",
        page.total,
        if page.total == 1 { "" } else { "s" },
        if query.include_revoked {
            " (including revoked)"
        } else {
            ""
        }
    );
    let prev = (page.page > 1).then(|| {
        list_href(&ListQuery {
            page: page.page - 1,
            ..query.clone()
        })
    });
    let next = (page.page < page.pages).then(|| {
        list_href(&ListQuery {
            page: page.page + 1,
            ..query.clone()
        })
    });
    view! {
        <p class="list-summary">{summary}</p>
        <ul class="token-list" aria-label="Personal access tokens">
            {page.items.into_iter().map(|t| view! { <TokenRow token=t now dialog /> }).collect_view()}
        </ul>
        {(page.pages > 1).then(|| view! {
            <nav class="pager" aria-label="Pages">
                {prev.map(|h| view! { <a class="button" href=h rel="prev">"Previous"</a> })}
                <span>{format!("Page {} of {}", page.page, page.pages)}</span>
                {next.map(|h| view! { <a class="button" href=h rel="next">"Next"</a> })}
            </nav>
        })}
    }
    .into_any()
}

#[component]
fn TokenRow(token: TokenView, now: DateTime<Utc>, dialog: RwSignal<Dialog>) -> impl IntoView {
    let status = token.status(now);
    let soon = token.expires_soon(now);
    let id = token.id;
    let name = token.name.clone();
    let days_left = relative_days(now, token.expires_at);
    let expires_note = match status {
        Status::Expired => Some("Expired".to_string()),
        Status::Active if soon => Some(if days_left < 1 {
            "Expires today".to_string()
        } else {
            format!(
                "Expires in {days_left} day{}",
                if days_left == 1 { "" } else { "s" }
            )
        }),
        _ => None,
    };
    let last_used = match &token.last_used_at {
        None => "Never".to_string(),
        Some(at) => fmt_date(*at),
    };
    let last_used_detail = token.last_used_at.map(|_| {
        let ip = token.last_used_ip.clone().unwrap_or_default();
        let agent = token.last_used_agent.clone().unwrap_or_default();
        format!("from {ip} · {agent}")
    });
    let (t_edit, t_regen, t_revoke) = (token.clone(), token.clone(), token.clone());
    let on_edit = move |ev: web_sys::MouseEvent| {
        ev.prevent_default();
        dialog.set(Dialog::Edit(t_edit.clone()));
    };
    let on_regen = move |ev: web_sys::MouseEvent| {
        ev.prevent_default();
        dialog.set(Dialog::Regenerate(t_regen.clone()));
    };
    let on_revoke = move |ev: web_sys::MouseEvent| {
        ev.prevent_default();
        dialog.set(Dialog::Revoke(t_revoke.clone()));
    };
    let badge_class = match status {
        Status::Active if soon => "badge warning",
        Status::Active => "badge active",
        Status::Expired => "badge expired",
        Status::Revoked => "badge revoked",
    };
    view! {
        <li class="token-row" data-status=status.label().to_lowercase() data-token-id=id.to_string()>
            <div class="token-main">
                <div class="token-title">
                    <h2 class="token-name">{token.name.clone()}</h2>
                    <span class=badge_class>{status.label()}</span>
                </div>
                {(!token.description.is_empty()).then(|| view! { <p class="token-desc">{token.description.clone()}</p> })}
                <p class="token-scopes"><span class="meta-label">"Scopes: "</span>{token.scopes.summary()}</p>
                <p class="token-hint"><code>{format!("{}…", token.hint)}</code></p>
            </div>
            <dl class="token-meta">
                <div>
                    <dt>"Created"</dt>
                    <dd><time datetime=token.created_at.to_rfc3339()>{fmt_date(token.created_at)}</time></dd>
                </div>
                <div class:warn=soon || status == Status::Expired>
                    <dt>"Expires"</dt>
                    <dd>
                        <time datetime=token.expires_at.to_rfc3339()>{fmt_date(token.expires_at)}</time>
                        {expires_note.map(|n| view! { <span class="expiry-note"><span aria-hidden="true">"⚠ "</span>{n}</span> })}
                    </dd>
                </div>
                <div>
                    <dt>"Last used"</dt>
                    <dd title=last_used_detail.clone().unwrap_or_default()>
                        {
                            let last_used_detail = last_used_detail.clone();
                            view! {
                        {last_used}
                        {last_used_detail.map(|d| view! { <span class="last-used-detail">{d}</span> })}
                            }
                        }
                    </dd>
                </div>
                {token.revoked_at.map(|at| view! {
                    <div>
                        <dt>"Revoked"</dt>
                        <dd><time datetime=at.to_rfc3339()>{fmt_date(at)}</time></dd>
                    </div>
                })}
            </dl>
            <div class="token-actions">
                {(status == Status::Active).then(|| view! {
                    <a class="button" href=format!("{BASE}/{id}/edit") on:click=on_edit aria-label=format!("Edit {name}")>"Edit"</a>
                    <a class="button" href=format!("{BASE}/{id}/regenerate") on:click=on_regen aria-label=format!("Regenerate {name}")>"Regenerate"</a>
                })}
                {(status != Status::Revoked).then(|| view! {
                    <a
                        class="icon-button danger"
                        href=format!("{BASE}/{id}/revoke")
                        on:click=on_revoke
                        aria-label=format!("Revoke {}", token.name)
                        title="Revoke"
                    >
                        <span aria-hidden="true">"✕"</span>
                    </a>
                })}
            </div>
        </li>
    }
}

/// Shows a new secret once, with Copy (Clipboard API) and a select-all fallback.
#[component]
pub fn SecretView(
    secret: NewSecret,
    regenerated: bool,
    on_done: Option<Callback<()>>,
) -> impl IntoView {
    let copied = RwSignal::new(None::<bool>);
    let input = NodeRef::<html::Input>::new();
    let value = secret.secret.clone();
    let select_all = move || {
        if let Some(i) = input.get() {
            let _ = i.focus();
            i.select();
        }
    };
    let copy = move |_| {
        let text = value.clone();
        leptos::task::spawn_local(async move {
            let ok = copy_to_clipboard(&text).await;
            if !ok {
                select_all();
            }
            copied.set(Some(ok));
        });
    };
    let title = if regenerated {
        "Token regenerated"
    } else {
        "Token created"
    };
    let lead = if regenerated {
        format!(
            "The token \u{201c}{}\u{201d} has a new secret. The old one no longer works.",
            secret.token.name
        )
    } else {
        format!("Your token \u{201c}{}\u{201d} is ready.", secret.token.name)
    };
    view! {
        <h2 id="dialog-title">{title}</h2>
        <p>{lead}</p>
        <div class="alert warning" role="alert">
            <strong>"Copy your token now."</strong>
            " For your security it will not be shown again."
        </div>
        <label for="new-token-value" class="label">"Personal access token"</label>
        <div class="secret-row">
            <input
                id="new-token-value"
                node_ref=input
                class="secret-value"
                type="text"
                readonly=true
                value=secret.secret.clone()
                spellcheck="false"
                autocomplete="off"
                on:focus=move |_| select_all()
                on:click=move |_| select_all()
            />
            <button type="button" class="button primary" on:click=copy autofocus=true>"Copy"</button>
        </div>
        <p class="copy-status" aria-live="polite">
            {move || match copied.get() {
                Some(true) => "Copied".to_string(),
                Some(false) => "Copying is not available here: the token is selected, press Ctrl+C (⌘C) to copy it.".to_string(),
                None => String::new(),
            }}
        </p>
        <div class="dialog-actions">
            {match on_done {
                Some(cb) => view! {
                    <button type="button" class="button" on:click=move |_| cb.run(())>"Done"</button>
                }.into_any(),
                None => view! { <a class="button" href=BASE>"Done"</a> }.into_any(),
            }}
        </div>
    }
}

async fn copy_to_clipboard(text: &str) -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let promise = window.navigator().clipboard().write_text(text);
    wasm_bindgen_futures::JsFuture::from(promise).await.is_ok()
}

/// Every dialog of the page, in one modal whose content follows `dialog`.
#[component]
fn TokenDialogs(
    dialog: RwSignal<Dialog>,
    refresh: RwSignal<u32>,
    toasts: Toasts,
    policy: TokenPolicy,
) -> impl IntoView {
    let close = Callback::new(move |_| dialog.set(Dialog::Closed));
    let open = Signal::derive(move || dialog.with(|d| *d != Dialog::Closed));
    let policy = StoredValue::new(policy);
    view! {
        <Modal open on_close=close title_id="dialog-title">
            {move || match dialog.get() {
                Dialog::Closed => ().into_any(),
                Dialog::New => view! { <CreateDialog dialog refresh toasts policy=policy.get_value() /> }.into_any(),
                Dialog::Edit(t) => view! { <EditDialog token=t dialog refresh toasts policy=policy.get_value() /> }.into_any(),
                Dialog::Revoke(t) => view! { <RevokeDialog token=t dialog refresh toasts /> }.into_any(),
                Dialog::Regenerate(t) => view! { <RegenerateDialog token=t dialog refresh toasts /> }.into_any(),
                Dialog::RevokeAll(n) => view! { <RevokeAllDialog count=n dialog refresh toasts /> }.into_any(),
                Dialog::Secret { secret, regenerated } => view! {
                    <SecretView secret regenerated on_done=Some(close) />
                }.into_any(),
            }}
        </Modal>
    }
}

fn form_element(ev: &web_sys::SubmitEvent) -> Option<web_sys::HtmlFormElement> {
    use wasm_bindgen::JsCast;
    ev.target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok())
}

#[component]
fn FormAlert(message: RwSignal<Option<String>>) -> impl IntoView {
    move || {
        message
            .get()
            .map(|m| view! { <div class="alert error" role="alert">{m}</div> })
    }
}

/// Routes a mutation's answer: `done` on success; otherwise the field
/// messages (when the dialog has fields) and the form message.
fn on_outcome<T>(
    value: Option<Result<Outcome<T>, ServerFnError>>,
    errors: Option<RwSignal<Errors>>,
    message: RwSignal<Option<String>>,
    done: impl FnOnce(T),
) {
    match value {
        Some(Ok(Outcome::Done(v))) => done(v),
        Some(Ok(Outcome::Rejected { fields, message: m })) => {
            if let Some(errors) = errors {
                errors.set(fields);
            }
            message.set(m);
        }
        Some(Err(e)) => message.set(Some(e.to_string())),
        None => {}
    }
}

#[component]
fn CreateDialog(
    dialog: RwSignal<Dialog>,
    refresh: RwSignal<u32>,
    toasts: Toasts,
    policy: TokenPolicy,
) -> impl IntoView {
    let action = ServerAction::<CreateToken>::new();
    let errors = RwSignal::new(Errors::new());
    let message = RwSignal::new(None::<String>);
    let form = TokenForm {
        form_id: new_form_id(),
        ..Default::default()
    };
    Effect::new(move |_| {
        on_outcome(
            action.value().get(),
            Some(errors),
            message,
            |secret: NewSecret| {
                refresh.update(|v| *v += 1);
                toasts.push(format!(
                    "Token \u{201c}{}\u{201d} created.",
                    secret.token.name
                ));
                dialog.set(Dialog::Secret {
                    secret,
                    regenerated: false,
                });
            },
        )
    });
    let on_submit = move |ev: web_sys::SubmitEvent| {
        ev.prevent_default();
        if action.pending().get_untracked() {
            return;
        }
        if let Some(f) = form_element(&ev) {
            action.dispatch(CreateToken {
                form: read_form(&f),
            });
        }
    };
    view! {
        <form method="post" action=format!("{BASE}/new") class="token-form stack" on:submit=on_submit novalidate=true>
            <h2 id="dialog-title">"New personal access token"</h2>
            <FormAlert message />
            <TokenFormFields form errors max_days=policy.max_days now=policy.now />
            <div class="dialog-actions">
                <button type="button" class="button" on:click=move |_| dialog.set(Dialog::Closed)>"Cancel"</button>
                <button type="submit" class="button primary" disabled=move || action.pending().get()>
                    {move || if action.pending().get() { "Creating…" } else { "Create" }}
                </button>
            </div>
        </form>
    }
}

#[component]
fn EditDialog(
    token: TokenView,
    dialog: RwSignal<Dialog>,
    refresh: RwSignal<u32>,
    toasts: Toasts,
    policy: TokenPolicy,
) -> impl IntoView {
    let action = ServerAction::<UpdateToken>::new();
    let errors = RwSignal::new(Errors::new());
    let message = RwSignal::new(None::<String>);
    let id = token.id;
    Effect::new(move |_| {
        on_outcome(
            action.value().get(),
            Some(errors),
            message,
            |t: TokenView| {
                refresh.update(|v| *v += 1);
                toasts.push(format!("Token \u{201c}{}\u{201d} updated.", t.name));
                dialog.set(Dialog::Closed);
            },
        )
    });
    let on_submit = move |ev: web_sys::SubmitEvent| {
        ev.prevent_default();
        if action.pending().get_untracked() {
            return;
        }
        if let Some(f) = form_element(&ev) {
            action.dispatch(UpdateToken {
                id,
                form: read_form(&f),
            });
        }
    };
    view! {
        <form method="post" action=format!("{BASE}/{id}/edit") class="token-form stack" on:submit=on_submit novalidate=true>
            <h2 id="dialog-title">{format!("Edit \u{201c}{}\u{201d}", token.name)}</h2>
            <FormAlert message />
            <TokenFormFields
                form=TokenForm::from_token(&token)
                errors
                max_days=policy.max_days
                now=policy.now
                current_expiry=token.expires_at
            />
            <div class="dialog-actions">
                <button type="button" class="button" on:click=move |_| dialog.set(Dialog::Closed)>"Cancel"</button>
                <button type="submit" class="button primary" disabled=move || action.pending().get()>"Save"</button>
            </div>
        </form>
    }
}

#[component]
fn ConfirmButtons(
    confirm_label: &'static str,
    pending: Signal<bool>,
    dialog: RwSignal<Dialog>,
    on_confirm: Callback<()>,
) -> impl IntoView {
    view! {
        <div class="dialog-actions">
            <button type="button" class="button" on:click=move |_| dialog.set(Dialog::Closed) autofocus=true>"Cancel"</button>
            <button type="button" class="button danger" disabled=move || pending.get() on:click=move |_| on_confirm.run(())>
                {confirm_label}
            </button>
        </div>
    }
}

#[component]
fn RevokeDialog(
    token: TokenView,
    dialog: RwSignal<Dialog>,
    refresh: RwSignal<u32>,
    toasts: Toasts,
) -> impl IntoView {
    let action = ServerAction::<RevokeToken>::new();
    let message = RwSignal::new(None::<String>);
    let id = token.id;
    Effect::new(move |_| {
        on_outcome(action.value().get(), None, message, |t: TokenView| {
            refresh.update(|v| *v += 1);
            toasts.push(format!("Token \u{201c}{}\u{201d} revoked.", t.name));
            dialog.set(Dialog::Closed);
        })
    });
    view! {
        <h2 id="dialog-title">"Revoke token"</h2>
        <FormAlert message />
        <p>
            "Revoke " <strong>{format!("\u{201c}{}\u{201d}", token.name)}</strong>
            "? Anything using it stops working at once."
        </p>
        <p class="danger-text">"This action cannot be undone."</p>
        <ConfirmButtons
            confirm_label="Revoke"
            pending=action.pending().into()
            dialog
            on_confirm=Callback::new(move |_| {
                action.dispatch(RevokeToken { id });
            })
        />
    }
}

#[component]
fn RegenerateDialog(
    token: TokenView,
    dialog: RwSignal<Dialog>,
    refresh: RwSignal<u32>,
    toasts: Toasts,
) -> impl IntoView {
    let action = ServerAction::<RegenerateToken>::new();
    let message = RwSignal::new(None::<String>);
    let id = token.id;
    Effect::new(move |_| {
        on_outcome(action.value().get(), None, message, |secret: NewSecret| {
            refresh.update(|v| *v += 1);
            toasts.push(format!(
                "Token \u{201c}{}\u{201d} regenerated.",
                secret.token.name
            ));
            dialog.set(Dialog::Secret {
                secret,
                regenerated: true,
            });
        })
    });
    view! {
        <h2 id="dialog-title">"Regenerate token"</h2>
        <FormAlert message />
        <p>
            "Give " <strong>{format!("\u{201c}{}\u{201d}", token.name)}</strong>
            " a new secret? It keeps its name, description and scopes, and its lifetime starts again from today."
        </p>
        <p class="danger-text">"The current secret stops working at once."</p>
        <ConfirmButtons
            confirm_label="Regenerate"
            pending=action.pending().into()
            dialog
            on_confirm=Callback::new(move |_| {
                action.dispatch(RegenerateToken { id });
            })
        />
    }
}

#[component]
fn RevokeAllDialog(
    count: u64,
    dialog: RwSignal<Dialog>,
    refresh: RwSignal<u32>,
    toasts: Toasts,
) -> impl IntoView {
    let action = ServerAction::<RevokeAllTokens>::new();
    let message = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        on_outcome(action.value().get(), None, message, |n: u64| {
            refresh.update(|v| *v += 1);
            toasts.push(format!(
                "{n} token{} revoked.",
                if n == 1 { "" } else { "s" }
            ));
            dialog.set(Dialog::Closed);
        })
    });
    view! {
        <h2 id="dialog-title">"Revoke all tokens"</h2>
        <FormAlert message />
        <p>{format!(
            "Revoke every token you have ({count} active)? Every tool and job using one of them stops working at once."
        )}</p>
        <p class="danger-text">"This action cannot be undone."</p>
        <ConfirmButtons
            confirm_label="Revoke all"
            pending=action.pending().into()
            dialog
            on_confirm=Callback::new(move |_| {
                action.dispatch(RevokeAllTokens {});
            })
        />
    }
}

// ---- Plain pages: the same flows without JavaScript -------------------------

#[component]
fn PlainPage(title: String, children: Children) -> impl IntoView {
    view! {
        <Title text=format!("{title} · Tessera") />
        <div class="settings">
            <SecurityNav current=Section::Tokens />
            <section class="settings-body">
                <p class="breadcrumb"><a href=BASE>"← Personal access tokens"</a></p>
                <div class="card">{children()}</div>
            </section>
        </div>
    }
}

fn feedback_errors(info: &SessionInfo) -> (Errors, Option<String>, Option<TokenForm>) {
    match &info.feedback {
        Some(fb) => (
            fb.fields.clone(),
            fb.message.clone(),
            (!fb.values.is_empty()).then(|| {
                TokenForm::from_pairs(fb.values.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            }),
        ),
        None => (Errors::new(), None, None),
    }
}

#[component]
pub fn NewTokenPage(info: SessionInfo) -> impl IntoView {
    let policy = Resource::new_blocking(|| (), |_| get_token_policy());
    let (errors, message, sent) = feedback_errors(&info);
    view! {
        <PlainPage title="New personal access token".into()>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {
                    let errors = errors.clone();
                    let message = message.clone();
                    let sent = sent.clone();
                    move || {
                        let errors = errors.clone();
                        let message = message.clone();
                        let sent = sent.clone();
                        Suspend::new(async move {
                            let policy = match policy.await {
                                Ok(p) => p,
                                Err(e) => return view! { <div class="alert error" role="alert">{e.to_string()}</div> }.into_any(),
                            };
                            let form = sent.unwrap_or(TokenForm { form_id: policy.form_id.clone(), ..Default::default() });
                            view! {
                                <form method="post" action=format!("{BASE}/new") class="token-form stack">
                                    <h1 id="dialog-title">"New personal access token"</h1>
                                    {message.map(|m| view! { <div class="alert error" role="alert">{m}</div> })}
                                    <TokenFormFields form errors=Signal::stored(errors) max_days=policy.max_days now=policy.now />
                                    <div class="dialog-actions">
                                        <a class="button" href=BASE>"Cancel"</a>
                                        <button type="submit" class="button primary">"Create"</button>
                                    </div>
                                </form>
                            }
                            .into_any()
                        })
                    }
                }
            </Suspense>
        </PlainPage>
    }
}

fn token_id_param() -> Memo<Option<i64>> {
    let params = use_params_map();
    Memo::new(move |_| params.read().get("id").and_then(|id| id.parse().ok()))
}

/// Loads the token of the URL (`None` when it is not the user's or absent).
fn token_resource() -> Resource<Result<Option<TokenView>, ServerFnError>> {
    let id = token_id_param();
    Resource::new_blocking(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => get_token(id).await,
                None => Ok(None),
            }
        },
    )
}

fn not_found_view() -> AnyView {
    view! {
        <h1>"Token not found"</h1>
        <p>"There is no such token among yours."</p>
        <p><a href=BASE>"Back to your tokens"</a></p>
    }
    .into_any()
}

#[component]
pub fn EditTokenPage(info: SessionInfo) -> impl IntoView {
    let token = token_resource();
    let policy = Resource::new_blocking(|| (), |_| get_token_policy());
    let (errors, message, sent) = feedback_errors(&info);
    view! {
        <PlainPage title="Edit token".into()>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {
                    let errors = errors.clone();
                    let message = message.clone();
                    let sent = sent.clone();
                    move || {
                        let errors = errors.clone();
                        let message = message.clone();
                        let sent = sent.clone();
                        Suspend::new(async move {
                            let (Ok(Some(t)), Ok(policy)) = (token.await, policy.await) else { return not_found_view() };
                            let now = policy.now;
                            if t.status(now) != Status::Active {
                                return view! {
                                    <h1 id="dialog-title">{format!("\u{201c}{}\u{201d} cannot be edited", t.name)}</h1>
                                    <p>{format!("This token is {}. Only active tokens can be edited.", t.status(now).label().to_lowercase())}</p>
                                    <p><a href=BASE>"Back to your tokens"</a></p>
                                }.into_any();
                            }
                            let form = sent.unwrap_or_else(|| TokenForm::from_token(&t));
                            view! {
                                <form method="post" action=format!("{BASE}/{}/edit", t.id) class="token-form stack">
                                    <h1 id="dialog-title">{format!("Edit \u{201c}{}\u{201d}", t.name)}</h1>
                                    {message.map(|m| view! { <div class="alert error" role="alert">{m}</div> })}
                                    <TokenFormFields form errors=Signal::stored(errors) max_days=policy.max_days now current_expiry=t.expires_at />
                                    <div class="dialog-actions">
                                        <a class="button" href=BASE>"Cancel"</a>
                                        <button type="submit" class="button primary">"Save"</button>
                                    </div>
                                </form>
                            }
                            .into_any()
                        })
                    }
                }
            </Suspense>
        </PlainPage>
    }
}

/// A confirmation page (revoke / regenerate) for one token.
#[component]
fn ConfirmTokenPage(info: SessionInfo, action: &'static str) -> impl IntoView {
    let token = token_resource();
    let message = info.feedback.and_then(|f| f.message);
    let (title, button) = if action == "revoke" {
        ("Revoke token", "Revoke")
    } else {
        ("Regenerate token", "Regenerate")
    };
    view! {
        <PlainPage title=title.to_string()>
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {
                    let message = message.clone();
                    move || {
                        let message = message.clone();
                        Suspend::new(async move {
                            let Ok(Some(t)) = token.await else { return not_found_view() };
                            view! {
                                <h1 id="dialog-title">{title}</h1>
                                {message.map(|m| view! { <div class="alert error" role="alert">{m}</div> })}
                                {if action == "revoke" {
                                    view! {
                                        <p>"Revoke " <strong>{format!("\u{201c}{}\u{201d}", t.name)}</strong> "? Anything using it stops working at once."</p>
                                        <p class="danger-text">"This action cannot be undone."</p>
                                    }.into_any()
                                } else {
                                    view! {
                                        <p>"Give " <strong>{format!("\u{201c}{}\u{201d}", t.name)}</strong> " a new secret? It keeps its name, description and scopes, and its lifetime starts again from today."</p>
                                        <p class="danger-text">"The current secret stops working at once."</p>
                                    }.into_any()
                                }}
                                <form method="post" action=format!("{BASE}/{}/{action}", t.id) class="dialog-actions">
                                    <a class="button" href=BASE>"Cancel"</a>
                                    <button type="submit" class="button danger">{button}</button>
                                </form>
                            }
                            .into_any()
                        })
                    }
                }
            </Suspense>
        </PlainPage>
    }
}

#[component]
pub fn RevokeTokenPage(info: SessionInfo) -> impl IntoView {
    view! { <ConfirmTokenPage info action="revoke" /> }
}

#[component]
pub fn RegenerateTokenPage(info: SessionInfo) -> impl IntoView {
    view! { <ConfirmTokenPage info action="regenerate" /> }
}

#[component]
pub fn RevokeAllPage(info: SessionInfo) -> impl IntoView {
    let _ = info;
    view! {
        <PlainPage title="Revoke all tokens".into()>
            <h1 id="dialog-title">"Revoke all tokens"</h1>
            <p>"Revoke every token you have? Every tool and job using one of them stops working at once."</p>
            <p class="danger-text">"This action cannot be undone."</p>
            <form method="post" action=format!("{BASE}/revoke-all") class="dialog-actions">
                <a class="button" href=BASE>"Cancel"</a>
                <button type="submit" class="button danger">"Revoke all"</button>
            </form>
        </PlainPage>
    }
}
