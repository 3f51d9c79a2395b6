//! Profile → Security → Organizations: the visitor's organizations, their
//! members, teams and policies; an owner manages members, teams and
//! policies, reads the organization's audit log, and approves or denies
//! each pending token request (who, what, why) with a reason — plain
//! forms, so it all works without JavaScript.

use super::fields::FormMessage;
use super::security::{Section, SecurityPage};
use super::token_form::fmt_date;
use crate::model::FormFeedback;
use crate::model::SessionInfo;
use crate::orgs::{OrgView, OrgsPage, RequestView, ServiceAccount, ServiceToken};
use leptos::prelude::*;

/// Where the page lives.
pub const ORGANIZATIONS: &str = "/profile/security/organizations";

/// The signed-in user's organizations; `org` and `before` page back
/// through that organization's audit log.
#[server(prefix = "/rpc", endpoint = "orgs/list")]
pub async fn list_organizations(
    /// The organization whose audit log pages back.
    org: Option<String>,
    /// Its events older than this one.
    before: Option<i64>,
) -> Result<OrgsPage, ServerFnError> {
    use crate::domain::{orgs, sessions, AppState};
    let state =
        use_context::<AppState>().ok_or_else(|| ServerFnError::new("server state missing"))?;
    let session = use_context::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<sessions::Session>().cloned())
        .ok_or_else(|| ServerFnError::new("You are signed out. Sign in again to continue."))?;
    let back = org.as_deref().zip(before);
    orgs::page(&state.core.db, session.user.id, back)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "listing organizations failed");
            ServerFnError::new("Could not load your organizations. Please try again.")
        })
}

/// What each owner's form post says when it worked (`?done=`).
const DONE: [(&str, &str); 11] = [
    ("approved", "Request approved. The token works now."),
    (
        "denied",
        "Request denied. The token is revoked, and its maker reads your reason.",
    ),
    ("member", "Member saved."),
    (
        "removed",
        "Member removed. The tokens they made for the organization stop at once.",
    ),
    ("team", "Team created."),
    ("team-member", "Added to the team."),
    ("team-removed", "Removed from the team."),
    (
        "policy",
        "Policy saved. It applies to the organization's tokens at once.",
    ),
    ("role", "Role changed."),
    ("service-account", "Service account created."),
    (
        "service-token-revoked",
        "Token revoked. Whatever uses it is refused from now on.",
    ),
];

/// Profile → Security → Organizations.
#[component]
pub fn Organizations(
    /// The visitor, and what a form post sent back.
    info: SessionInfo,
) -> impl IntoView {
    let fb = info.feedback.clone().unwrap_or_default();
    let done = crate::ui::done_notice(&DONE);
    let query = leptos_router::hooks::use_query_map();
    let back = query.with_untracked(|q| {
        (
            q.get("org"),
            q.get("before").and_then(|b| b.parse::<i64>().ok()),
        )
    });
    let page = Resource::new_blocking(
        move || back.clone(),
        |(org, before)| list_organizations(org, before),
    );
    let viewer = info.user.as_ref().map(|u| u.id);
    view! {
        <SecurityPage section=Section::Organizations title="Organizations" heading_id="orgs-heading">
            <p class="lead">
                "A token made for an organization reaches only that organization's resources, and only while you are a member. Owners manage its members, teams and policies, and approve the tokens its policy asks them to."
            </p>
            {done.map(|m| view! { <div class="alert success" role="status">{m}</div> })}
            <FormMessage message=fb.message.clone() />
            <Suspense fallback=|| view! { <p class="loading">"Loading organizations…"</p> }>
                {move || {
                    let fb = fb.clone();
                    Suspend::new(async move {
                        match page.await {
                            Ok(p) if p.orgs.is_empty() => view! {
                                <p class="empty">"You are not a member of an organization. An administrator adds members (tessera admin org add-member)."</p>
                            }.into_any(),
                            Ok(p) => view! {
                                <ul class="rule-list" aria-label="Your organizations">
                                    {p.orgs.into_iter().map(|o| view! { <OrgItem org=o fb=fb.clone() viewer=viewer /> }).collect_view()}
                                </ul>
                            }.into_any(),
                            Err(e) => crate::ui::load_failed(e),
                        }
                    })
                }}
            </Suspense>
        </SecurityPage>
    }
}

/// A labelled text input of an owner's form: its error shows only under
/// the form that was sent (`form`, a hidden field, names it).
fn org_input(
    form: &str,
    name: &'static str,
    label: String,
    fb: &crate::model::FormFeedback,
    required: bool,
) -> impl IntoView {
    let id = format!("{form}-{name}");
    let error_id = format!("{id}-error");
    let ours = fb.value("form") == form;
    let error = ours.then(|| fb.field(name)).flatten();
    let value = if ours { fb.value(name) } else { String::new() };
    view! {
        <div class="field" class:has-error=error.is_some()>
            <label for=id.clone()>{label}</label>
            <input id=id type="text" name=name value=value required=required autocomplete="off"
                aria-invalid=error.is_some().then_some("true")
                aria-describedby=error_id.clone()
            />
            <p class="field-error" id=error_id hidden=error.is_none()>{error.clone()}</p>
        </div>
    }
}

/// What a policy's value means, for the organization's page.
fn policy_words(key: &str, value: &str) -> String {
    match (key, value) {
        ("approval_required_for", "none") => "No token needs approval.".to_owned(),
        ("approval_required_for", "all") => {
            "Every token made for it needs an owner's approval.".to_owned()
        }
        ("approval_required_for", s) => format!("Tokens asking for {s} need an owner's approval."),
        (_, v) => v.to_owned(),
    }
}

#[component]
fn OrgItem(org: OrgView, fb: crate::model::FormFeedback, viewer: Option<i64>) -> impl IntoView {
    let heading_id = format!("org-{}", org.name);
    let owner = org.role == "owner";
    let name = org.name.clone();
    let base = format!("{ORGANIZATIONS}/{name}");
    let hidden = |form: &str| view! { <input type="hidden" name="form" value=form.to_owned() /> };
    let member_items = org.members.iter().map(|(n, r)| {
        let service = org.service_accounts.iter().any(|a| &a.username == n);
        let manage = owner.then(|| {
            let make = (!service).then(|| {
                let other = if r == "owner" { "member" } else { "owner" };
                let change = if r == "owner" { "Make member" } else { "Make owner" };
                view! {
                    <form method="post" action=format!("{base}/members") class="inline-form">
                        {hidden(&format!("members-{name}"))}
                        <input type="hidden" name="username" value=n.clone() />
                        <input type="hidden" name="role" value=other />
                        <button type="submit" class="button" aria-label=format!("{change}: {n}")>{change}</button>
                    </form>
                }
            });
            view! {
                {make}
                <form method="post" action=format!("{base}/members/remove") class="inline-form">
                    {hidden(&format!("members-{name}"))}
                    <input type="hidden" name="username" value=n.clone() />
                    <button type="submit" class="button danger" aria-label=format!("Remove {n} from {name}")>"Remove"</button>
                </form>
            }
        });
        view! {
            <li data-member=n.clone()>
                <span>{match (r.as_str(), service) {
                    ("owner", _) => format!("{n} (owner)"),
                    (_, true) => format!("{n} (service account)"),
                    _ => n.clone(),
                }}</span>
                {manage}
            </li>
        }
    }).collect_view();
    let members_error = (owner && fb.value("form") == format!("members-{name}"))
        .then(|| fb.field("username"))
        .flatten();
    let add_member = owner.then(|| {
        let form = format!("add-member-{name}");
        let role_id = format!("{form}-role");
        view! {
            <form method="post" action=format!("{base}/members") class="stack narrow-form" aria-label=format!("Add a member to {name}")>
                {hidden(&form)}
                {org_input(&form, "username", "Username".into(), &fb, true)}
                <div class="field">
                    <label for=role_id.clone()>"Role"</label>
                    <select id=role_id name="role">
                        <option value="member" selected=true>"member"</option>
                        <option value="owner">"owner"</option>
                    </select>
                </div>
                <button type="submit" class="button">"Add member"</button>
            </form>
        }
    });
    let team_items = org.teams.iter().map(|team| {
        let (t, members) = (&team.name, &team.members);
        let list = if members.is_empty() { "no members".to_owned() } else { members.join(", ") };
        let follows = team.idp_group.as_ref().map(|g| format!(" (follows the identity provider group {g})"));
        let manage = owner.then(|| {
            // ids from the team's id: names may hold spaces, and two
            // organizations' teams could spell the same text
            let form = format!("team-{}", team.id);
            let removals = members.iter().map(|m| view! {
                <form method="post" action=format!("{base}/teams/members/remove") class="inline-form">
                    {hidden(&form)}
                    <input type="hidden" name="team" value=t.clone() />
                    <input type="hidden" name="username" value=m.clone() />
                    <button type="submit" class="button" aria-label=format!("Remove {m} from team {t}")>{format!("Remove {m}")}</button>
                </form>
            }).collect_view();
            view! {
                {removals}
                <form method="post" action=format!("{base}/teams/members") class="stack narrow-form" aria-label=format!("Add to team {t}")>
                    {hidden(&form)}
                    <input type="hidden" name="team" value=t.clone() />
                    {org_input(&form, "username", format!("Add to {t}: username"), &fb, true)}
                    <button type="submit" class="button">"Add to team"</button>
                </form>
            }
        });
        view! {
            <li data-team=t.clone()>
                <span>{format!("{t}: {list}")}{follows}</span>
                {manage}
            </li>
        }
    }).collect_view();
    let create_team = owner.then(|| {
        let form = format!("create-team-{name}");
        view! {
            <form method="post" action=format!("{base}/teams") class="stack narrow-form" aria-label=format!("Create a team in {name}")>
                {hidden(&form)}
                {org_input(&form, "team", "Team name".into(), &fb, true)}
                <p class="hint">"An administrator connects a team to an identity provider group (tessera admin org create-team --idp-group)."</p>
                <button type="submit" class="button">"Create team"</button>
            </form>
        }
    });
    let policy_rows = org
        .policies
        .iter()
        .filter(|(k, v)| v != "none" || k == "approval_required_for")
        .map(|(k, v)| view! { <dt><code>{k.clone()}</code></dt><dd>{policy_words(k, v)}</dd> })
        .collect_view();
    let set_policy = owner.then(|| {
        let form = format!("policy-{name}");
        let key_id = format!("{form}-key");
        let typed_key = if fb.value("form") == form {
            fb.value("key")
        } else {
            String::new()
        };
        view! {
            <form method="post" action=format!("{base}/policies") class="stack narrow-form" aria-label=format!("Set a policy of {name}")>
                {hidden(&form)}
                <div class="field">
                    <label for=key_id.clone()>"Policy"</label>
                    <select id=key_id name="key">
                        {crate::orgs::POLICY_KEYS.iter().map(|k| view! { <option value=*k selected=typed_key == *k>{*k}</option> }).collect_view()}
                    </select>
                </div>
                {org_input(&form, "value", "Value (none clears it)".into(), &fb, false)}
                <button type="submit" class="button">"Set policy"</button>
            </form>
        }
    });
    let requests = owner.then(|| {
        let label = format!("Pending requests of {}", org.name);
        let name = org.name.clone();
        view! {
            <section class="requests" aria-label=label>
                <h3>"Pending requests"</h3>
                {if org.requests.is_empty() {
                    view! { <p class="session-meta">"No pending requests."</p> }.into_any()
                } else {
                    view! {
                        <ul class="minted">
                            {org.requests.into_iter().map(|r| view! { <RequestItem org=name.clone() request=r fb=fb.clone() /> }).collect_view()}
                        </ul>
                    }.into_any()
                }}
            </section>
        }
    });
    let service_accounts = owner.then(|| {
        let teams = org.teams.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
        view! {
            <ServiceAccounts
                org=org.name.clone()
                accounts=org.service_accounts.clone()
                tokens=org.service_tokens.clone()
                teams
                fb=fb.clone()
            />
        }
    });
    let audit = owner.then(|| {
        let org_name = org.name.clone();
        let older = Callback::new(move |id: i64| {
            format!("{ORGANIZATIONS}?org={org_name}&before={id}#audit-{org_name}")
        });
        view! {
            <section class="org-audit" id=format!("audit-{}", org.name) aria-label=format!("Audit log of {}", org.name)>
                <h3>"Audit log"</h3>
                <crate::ui::events::EventList events=org.audit viewer=viewer show_user=true older=older />
            </section>
        }
    });
    view! {
        <li class="rule">
            <h2 class="rule-title" id=heading_id>{org.name.clone()}</h2>
            <dl class="rule-facts">
                {(!org.description.is_empty()).then(|| view! { <dt>"About"</dt><dd>{org.description.clone()}</dd> })}
                <dt>"Your role"</dt><dd>{org.role.clone()}</dd>
            </dl>
            <section aria-label=format!("Members of {}", org.name)>
                <h3>"Members"</h3>
                {members_error.map(|m| view! { <div class="alert error" role="alert">{m}</div> })}
                <ul class="org-members">{member_items}</ul>
                {add_member}
            </section>
            <section aria-label=format!("Teams of {}", org.name)>
                <h3>"Teams"</h3>
                {if org.teams.is_empty() {
                    view! { <p class="session-meta">"No teams."</p> }.into_any()
                } else {
                    view! { <ul class="org-teams">{team_items}</ul> }.into_any()
                }}
                {create_team}
            </section>
            <section aria-label=format!("Policies of {}", org.name)>
                <h3>"Policies"</h3>
                <p class="session-meta">"Its tokens are held to the stricter of these and the server's."</p>
                <dl class="rule-facts">{policy_rows}</dl>
                {set_policy}
            </section>
            {service_accounts}
            {requests}
            {audit}
        </li>
    }
}

#[component]
fn RequestItem(org: String, request: RequestView, fb: crate::model::FormFeedback) -> impl IntoView {
    let r = request;
    let base = format!("{ORGANIZATIONS}/{org}/requests/{}", r.id);
    let reason_id = format!("deny-reason-{}", r.id);
    let error_id = format!("{reason_id}-error");
    // the error belongs to this request's form only
    let error = (fb.value("request") == r.id.to_string())
        .then(|| fb.field("reason"))
        .flatten();
    let resources = crate::tokens::Resources::from_stored(&r.resources);
    view! {
        <li class="request" data-request=r.id.to_string()>
            <p>
                <strong>{r.requester.clone()}</strong>
                {format!(" asks for the token \u{201c}{}\u{201d}", r.token_name)}
            </p>
            <dl class="rule-facts">
                <dt>"Scopes"</dt><dd>{r.scopes.clone()}</dd>
                {(!resources.is_empty()).then(|| view! { <dt>"Resources"</dt><dd>{resources.describe()}</dd> })}
                <dt>"Why"</dt><dd>{if r.justification.is_empty() { "(no description)".to_owned() } else { r.justification.clone() }}</dd>
                <dt>"Asked"</dt><dd>{fmt_date(r.created_at)}</dd>
                <dt>"Ends"</dt><dd>{fmt_date(r.expires_at)}</dd>
            </dl>
            <div class="request-actions">
                <form method="post" action=format!("{base}/approve") class="inline-form">
                    <button type="submit" class="button primary" aria-label=format!("Approve {} for {}", r.token_name, r.requester)>"Approve"</button>
                </form>
                <form method="post" action=format!("{base}/deny") class="stack narrow-form">
                    <input type="hidden" name="request" value=r.id.to_string() />
                    <div class="field" class:has-error=error.is_some()>
                        <label for=reason_id.clone()>{format!("Reason to deny {}", r.token_name)}</label>
                        <textarea id=reason_id name="reason" rows="2" maxlength="500" required=true
                            aria-invalid=error.is_some().then_some("true")
                            aria-describedby=error_id.clone()
                        ></textarea>
                        <p class="field-error" id=error_id hidden=error.is_none()>{error.clone()}</p>
                    </div>
                    <button type="submit" class="button danger" aria-label=format!("Deny {} for {}", r.token_name, r.requester)>"Deny"</button>
                </form>
            </div>
        </li>
    }
}

/// The page where an owner of `org` makes a service account's token.
pub fn new_token_path(org: &str) -> String {
    format!("{ORGANIZATIONS}/{org}/service-accounts/new-token")
}

/// Where the organization's service accounts are on its page.
pub fn section_link(org: &str) -> String {
    format!("{ORGANIZATIONS}#service-accounts-{org}")
}

/// The service accounts of organization `org`, for its owners.
#[component]
fn ServiceAccounts(
    /// The organization's name.
    org: String,
    /// Its service accounts.
    accounts: Vec<ServiceAccount>,
    /// Their live tokens.
    tokens: Vec<ServiceToken>,
    /// The organization's teams' names (an account may be a team's).
    teams: Vec<String>,
    /// What a form post sent back.
    fb: FormFeedback,
) -> impl IntoView {
    let base = format!("{ORGANIZATIONS}/{org}/service-accounts");
    let items = accounts
        .iter()
        .map(|a| {
            let name = a.username.clone();
            let mine: Vec<&ServiceToken> = tokens.iter().filter(|t| t.account == name).collect();
            let list = if mine.is_empty() {
                view! { <p class="session-meta">"No active tokens."</p> }.into_any()
            } else {
                let rows = mine
                    .into_iter()
                    .map(|t| {
                        let tok = &t.token;
                        let maker = tok.made_by.clone().unwrap_or_else(|| "an owner".into());
                        view! {
                            <li data-token=tok.name.clone()>
                                <strong>{tok.name.clone()}</strong>
                                <span class="session-meta">
                                    {format!(" · {} · expires {} · made by {maker}", tok.scopes.summary(), fmt_date(tok.expires_at))}
                                    {(tok.approval.as_deref() == Some("pending")).then_some(" · waits for another owner's approval")}
                                </span>
                                <form method="post" action=format!("{base}/tokens/{}/revoke", tok.id) class="inline-form">
                                    <button type="submit" class="button danger" aria-label=format!("Revoke {} of {name}", tok.name)>"Revoke"</button>
                                </form>
                            </li>
                        }
                    })
                    .collect_view();
                view! { <ul class="minted">{rows}</ul> }.into_any()
            };
            let team = a.team.as_ref().map(|t| format!(" (team {t})"));
            view! {
                <li data-account=a.username.clone()>
                    <span><strong>{a.username.clone()}</strong>{team}</span>
                    {list}
                </li>
            }
        })
        .collect_view();
    let form = format!("service-account-{org}");
    let team_id = format!("{form}-team");
    let team_error_id = format!("{team_id}-error");
    let ours = fb.value("form") == form;
    let typed_team = if ours {
        fb.value("team")
    } else {
        String::new()
    };
    let team_error = ours.then(|| fb.field("team")).flatten();
    view! {
        <section id=format!("service-accounts-{org}") aria-label=format!("Service accounts of {org}")>
            <h3>"Service accounts"</h3>
            <p class="session-meta">
                "A service account's tokens belong to the organization, not to whoever made them: they keep working when that person leaves. The owners, and the members of the account's team, are told before they expire."
            </p>
            {if accounts.is_empty() {
                view! { <p class="session-meta">"No service accounts."</p> }.into_any()
            } else {
                view! {
                    <ul class="org-service-accounts">{items}</ul>
                    <p><a class="button primary" href=new_token_path(&org)>"New service account token"</a></p>
                }.into_any()
            }}
            <form method="post" action=base.clone() class="stack narrow-form" aria-label=format!("Create a service account in {org}")>
                <input type="hidden" name="form" value=form.clone() />
                {org_input(&form, "username", "Service account name".into(), &fb, true)}
                <p class="hint">{format!("Its name starts with {org}- (added when you leave it out), so it never takes a person's name.")}</p>
                <div class="field" class:has-error=team_error.is_some()>
                    <label for=team_id.clone()>"Team (optional)"</label>
                    <select id=team_id name="team"
                        aria-invalid=team_error.is_some().then_some("true")
                        aria-describedby=team_error_id.clone()
                    >
                        <option value="">"No team"</option>
                        {teams.into_iter().map(|t| {
                            let selected = typed_team == t;
                            view! { <option value=t.clone() selected=selected>{t.clone()}</option> }
                        }).collect_view()}
                    </select>
                    <p class="field-error" id=team_error_id hidden=team_error.is_none()>{team_error.clone()}</p>
                </div>
                <button type="submit" class="button">"Create service account"</button>
            </form>
        </section>
    }
}
