//! The token list: the toolbar (search, sort, "Show revoked tokens",
//! "Revoke all"), the rows and the pager. Server HTML only: the links that
//! open a dialog say which in `data-dialog` (with the token's id and name),
//! and the page's island opens it instead of following the link.

use super::{kind::Dialog, list_href, BASE};
use crate::tokens::{ListQuery, Sort, Status, TokenPage, TokenView};
use crate::ui::token_form::fmt_date;
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

fn relative_days(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_hours().div_euclid(24)
}

/// Search, sort, the revoked-tokens switch and "Revoke all".
#[component]
pub(super) fn Toolbar(query: ListQuery) -> impl IntoView {
    let q = query;
    let toggle = list_href(&ListQuery {
        include_revoked: !q.include_revoked,
        page: 1,
        ..q.clone()
    });
    let shown = q.include_revoked;
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
                <a class="switch" role="switch" aria-checked=shown.to_string() href=toggle>
                    <span class="switch-track" aria-hidden="true"><span class="switch-thumb"></span></span>
                    "Show revoked tokens"
                </a>
                <a class="button danger-outline" href=format!("{BASE}/revoke-all") data-dialog=Dialog::RevokeAll.as_str()>"Revoke all"</a>
            </div>
        </div>
    }
}

/// The id of the element that holds the list (what a change replaces).
pub const LIST_REGION: &str = "token-list-region";

/// The list, in the element a change replaces; it carries the number of
/// active tokens (what "Revoke all" would revoke).
#[component]
pub fn TokenListRegion(page: TokenPage, query: ListQuery) -> impl IntoView {
    let active = page.active_count.to_string();
    view! {
        <div id=LIST_REGION data-active-count=active>
            <TokenList page query />
        </div>
    }
}

/// The tokens page's list as server HTML, for the page's query string
/// `search` (`location.search`, with or without its `?`): what the page
/// shows after a change, rendered by the same component as the page.
#[server(prefix = "/rpc", endpoint = "tokens/list_html", input = Json)]
pub async fn token_list_html(search: String) -> Result<String, ServerFnError> {
    use leptos::tachys::view::RenderHtml;
    // parsed as the page parses its own URL
    let url = leptos_router::location::RequestUrl::new(&format!(
        "/?{}",
        search.strip_prefix('?').unwrap_or(&search)
    ))
    .parse()
    .map_err(|_| ServerFnError::new("That is not a query string."))?;
    let query = super::parse_query(url.search_params());
    let page = crate::ui::token_api::list_tokens(query.clone()).await?;
    Ok(view! { <TokenListRegion page query /> }.to_html())
}

/// The rows of one page, or an empty state, and the pager.
#[component]
fn TokenList(page: TokenPage, query: ListQuery) -> impl IntoView {
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
            {page.items.into_iter().map(|t| view! { <TokenRow token=t now /> }).collect_view()}
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

/// One token: name, status, scopes, dates, last use and its actions.
#[component]
fn TokenRow(token: TokenView, now: DateTime<Utc>) -> impl IntoView {
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
    // a token minted for a workload is never edited, regenerated, narrowed
    // or derived from: it lives minutes and ends with its rule
    let changeable = status == Status::Active && token.workload.is_none();
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
                {token.blocked.as_ref().map(|b| view! {
                    <p class="token-flag blocked" data-policy=b.policy.clone()><span aria-hidden="true">"⛔ "</span>{b.sentence()}</p>
                })}
                {(status != Status::Active && token.presented_after_end > 0).then(|| {
                    let n = token.presented_after_end;
                    let since = if status == Status::Revoked { "it was revoked" } else { "it expired" };
                    let last = token.last_presented.as_ref().map(|(at, ip, agent)| {
                        let agent = if agent.is_empty() { String::new() } else { format!(" ({agent})") };
                        format!(", last on {} {} UTC from {ip}{agent}", fmt_date(*at), at.format("%H:%M"))
                    }).unwrap_or_default();
                    view! {
                        <p class="token-flag blocked" data-presented=n.to_string()>
                            {format!("Presented {n} time{} since {since}{last}. Something still uses it.", if n == 1 { "" } else { "s" })}
                        </p>
                    }
                })}
                {token.revoked_note().map(|note| view! {
                    <p class="token-flag revoked-note">{note}</p>
                })}
                <p class="token-scopes"><span class="meta-label">"Scopes: "</span>{token.scopes.summary()}</p>
                {(token.approval.as_deref() == Some("pending") && status == Status::Active).then(|| view! {
                    <p class="token-flag blocked" data-approval="pending">
                        {format!("Waiting for an owner of {} to approve it: it is refused until then.", token.owner.clone().unwrap_or_default())}
                    </p>
                })}
                {(token.approval.as_deref() == Some("widening") && status == Status::Active).then(|| view! {
                    <p class="token-flag" data-approval="widening">
                        {format!("Wider scopes wait for an owner of {} to approve them; it keeps its current scopes until then.", token.owner.clone().unwrap_or_default())}
                    </p>
                })}
                {token.owner.clone().map(|org| view! {
                    <p class="reach" data-resource-owner=org.clone()>
                        <span class="meta-label">"Resource owner: "</span>{format!("{org} (only {org}/\u{2026} resources, while you are a member)")}
                    </p>
                })}
                {(!token.resources.is_empty()).then(|| view! {
                    <p class="reach" data-resources=token.resources.to_stored()>
                        <span class="meta-label">"Resources: "</span>{token.resources.describe()}
                    </p>
                })}
                {token.workload.as_ref().map(|w| view! {
                    <p class="reach" data-workload-rule=w.rule_id.to_string()>
                        {format!("Minted by trust rule {} for the workload {} ", w.rule_id, w.subject)}
                        <a href="/profile/security/workloads">"(Trusted workloads)"</a>
                    </p>
                })}
                {token.usage.as_ref().filter(|_| status == Status::Active).map(|u| {
                    let narrow = (u.narrowed.is_some() && changeable).then(|| view! {
                        <form method="post" action=format!("{BASE}/{id}/narrow") class="inline-form">
                            <button type="submit" class="button small" aria-label=format!("Narrow {name} to what was used")>"Narrow to what was used"</button>
                        </form>
                    });
                    view! {
                        <div class="usage-line">
                            <p class="reach usage" data-never-used=u.never_used.join(" ")>{u.sentence()}</p>
                            {narrow}
                        </div>
                    }
                })}
                {(!token.allowed_networks.is_any()).then(|| view! {
                    <p class="reach" data-networks=token.allowed_networks.to_stored()>
                        <span class="meta-label">"Only from: "</span>{token.allowed_networks.strings().join(", ")}
                    </p>
                })}
                {token.created_by_token.map(|by| view! {
                    <p class="reach" data-created-by-token=by.to_string()>
                        {format!("Made through the API by token #{by} ")}
                        <a href=format!("/profile/security/activity?token={by}")>{format!("(history of #{by})")}</a>
                    </p>
                })}
                <p class="token-hint"><code>{format!("{}…", token.hint)}</code></p>
                {token.previous_valid_until.filter(|g| *g > now && status == Status::Active).map(|g| {
                    let mins = (g - now).num_minutes().max(1);
                    let left = if mins < 90 { format!("{mins} min") } else { format!("{} h", (mins + 59) / 60) };
                    view! { <p class="token-flag revoked-note" data-grace-until=g.to_rfc3339()>{format!("Old secret stops working in {left}")}</p> }
                })}
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
            {(!token.children.is_empty()).then(|| view! {
                <div class="derived">
                    <p class="meta-label">{format!("Derived from {name}:")}</p>
                    {derived_list(&token.children)}
                </div>
            })}
            <div class="token-actions">
                <a class="button" href=format!("/profile/security/activity?token={id}") aria-label=format!("History of {name}")>"History"</a>
                {changeable.then(|| if token.scopes.is_powerful() {
                    // a child that reaches everything asks for the password first
                    view! {
                        <a class="button" href=format!("{BASE}/{id}/derive") data-dialog=Dialog::Derive.as_str() data-token-id=id.to_string() data-token-name=name.clone() aria-label=format!("Derive a one-hour token from {name}")>"Derive"</a>
                    }.into_any()
                } else {
                    view! {
                        <form method="post" action=format!("{BASE}/{id}/derive") class="inline-form">
                            <button type="submit" class="button" aria-label=format!("Derive a one-hour token from {name}")>"Derive"</button>
                        </form>
                    }.into_any()
                })}
                {changeable.then(|| view! {
                    <a class="button" href=format!("{BASE}/{id}/edit") data-dialog=Dialog::Edit.as_str() data-token-id=id.to_string() data-token-name=name.clone() aria-label=format!("Edit {name}")>"Edit"</a>
                    <a class="button" href=format!("{BASE}/{id}/regenerate") data-dialog=Dialog::Regenerate.as_str() data-token-id=id.to_string() data-token-name=name.clone() aria-label=format!("Regenerate {name}")>"Regenerate"</a>
                })}
                {(status != Status::Revoked).then(|| view! {
                    <a
                        class="icon-button danger"
                        href=format!("{BASE}/{id}/revoke")
                        data-dialog=Dialog::Revoke.as_str()
                        data-token-id=id.to_string()
                        data-token-name=name.clone()
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

/// The tokens derived from one token (and theirs, nested): name, scopes,
/// when each stops working, and Revoke.
fn derived_list(children: &[TokenView]) -> AnyView {
    view! {
        <ul class="derived-list">
            {children.iter().map(|c| {
                let id = c.id;
                let name = c.name.clone();
                let nested = (!c.children.is_empty()).then(|| derived_list(&c.children));
                view! {
                    <li class="derived-row" data-token-id=id.to_string()>
                        <span class="derived-name">{c.name.clone()}</span>
                        <span class="reach">{c.scopes.summary()}</span>
                        <span class="reach">"until "<time datetime=c.expires_at.to_rfc3339()>{format!("{} UTC", c.expires_at.format("%b %-d, %H:%M"))}</time></span>
                        <a class="button small danger" href=format!("{BASE}/{id}/revoke") data-dialog=Dialog::Revoke.as_str() data-token-id=id.to_string() data-token-name=name.clone() aria-label=format!("Revoke {name}")>"Revoke"</a>
                        {nested}
                    </li>
                }
            }).collect_view()}
        </ul>
    }
    .into_any()
}
