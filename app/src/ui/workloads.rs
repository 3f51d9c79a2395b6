//! Profile → Security → Trusted workloads: the rules that let CI jobs and
//! pods exchange their own OIDC ID token for a minutes-long token of this
//! account (`POST /oauth/token`), the live tokens each rule minted, a plain
//! form to add one (sudo mode) and one to remove each — all without
//! JavaScript.

use super::fields::{Field, FormMessage, SudoField};
use super::security::{Section, SecurityPage};
use super::token_form::fmt_date;
use crate::model::{SessionInfo, SUDO_FIELD};
use crate::tokens::TokenView;
use crate::workloads::{TrustRule, WorkloadsPage, DEFAULT_MINUTES, MAX_MINUTES};
use leptos::prelude::*;

/// Where the page lives (and where its add form posts).
pub const WORKLOADS: &str = "/profile/security/workloads";

/// The signed-in user's rules and what they minted.
#[server(prefix = "/rpc", endpoint = "workloads/list")]
pub async fn list_workloads() -> Result<WorkloadsPage, ServerFnError> {
    use crate::domain::{sessions, tokens, workloads, AppState};
    let state =
        use_context::<AppState>().ok_or_else(|| ServerFnError::new("server state missing"))?;
    let session = use_context::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<sessions::Session>().cloned())
        .ok_or_else(|| ServerFnError::new("You are signed out. Sign in again to continue."))?;
    let failed = |e: sqlx::Error| {
        tracing::error!(error = %e, "listing trusted workloads failed");
        ServerFnError::new("Could not load your trusted workloads. Please try again.")
    };
    let rules = workloads::rules(&state.core, session.user.id)
        .await
        .map_err(failed)?;
    let minted = tokens::live_minted(&state.core.db, session.user.id)
        .await
        .map_err(failed)?;
    Ok(WorkloadsPage {
        rules,
        minted,
        default_audience: state.core.config.public_url.clone(),
    })
}

/// Profile → Security → Trusted workloads.
#[component]
pub fn TrustedWorkloads(
    /// The visitor, and what a form post sent back.
    info: SessionInfo,
) -> impl IntoView {
    let fb = info.feedback.clone().unwrap_or_default();
    let done = crate::ui::done_notice(&[
        (
            "added",
            "Trusted workload added. Jobs that match it can exchange their ID token now.",
        ),
        (
            "removed",
            "Trusted workload removed. The tokens it minted were revoked.",
        ),
    ]);
    let page = Resource::new_blocking(|| (), |_| list_workloads());
    view! {
        <SecurityPage section=Section::Workloads title="Trusted workloads" heading_id="workloads-heading">
            <p class="lead">
                "Let a CI job or a pod act as your account without a stored secret: it presents the ID token its platform gives it (GitHub Actions, GitLab CI, Kubernetes) and gets a token that lives minutes."
            </p>
            {done.map(|m| view! { <div class="alert success" role="status">{m}</div> })}
            <FormMessage message=fb.message.clone() />
            <Suspense fallback=|| view! { <p class="loading">"Loading trusted workloads…"</p> }>
                {move || {
                    let fb = fb.clone();
                    Suspend::new(async move {
                        match page.await {
                            Ok(p) => view! { <RuleList page=p.clone() /> <AddRule fb default_audience=p.default_audience confirmed=info.in_sudo /> }.into_any(),
                            Err(e) => crate::ui::load_failed(e),
                        }
                    })
                }}
            </Suspense>
        </SecurityPage>
    }
}

fn conditions_text(rule: &TrustRule) -> String {
    rule.conditions
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rules, each with its minted tokens and its "Remove" button.
#[component]
fn RuleList(page: WorkloadsPage) -> impl IntoView {
    if page.rules.is_empty() {
        return view! {
            <p class="empty">"No trusted workloads yet. Add one below, then call /oauth/token from the job (see the README's \u{201c}CI without secrets\u{201d})."</p>
        }
        .into_any();
    }
    view! {
        <ul class="rule-list" aria-label="Trust rules">
            {page.rules.into_iter().map(|rule| {
                let minted: Vec<TokenView> = page
                    .minted
                    .iter()
                    .filter(|t| t.workload.as_ref().is_some_and(|w| w.rule_id == rule.id))
                    .cloned()
                    .collect();
                view! { <RuleItem rule minted /> }
            }).collect_view()}
        </ul>
    }
    .into_any()
}

#[component]
fn RuleItem(rule: TrustRule, minted: Vec<TokenView>) -> impl IntoView {
    let heading = format!("Rule {} \u{b7} {}", rule.id, rule.issuer);
    let label = format!("Remove trust rule {} ({})", rule.id, rule.issuer);
    let action = format!("{WORKLOADS}/{}/remove", rule.id);
    let minted_label = format!("Tokens minted by rule {}", rule.id);
    view! {
        <li class="rule">
            <h2 class="rule-title">{heading}</h2>
            <dl class="rule-facts">
                <dt>"Audience"</dt><dd>{rule.audience.clone()}</dd>
                <dt>"Claims"</dt><dd><code>{conditions_text(&rule)}</code></dd>
                <dt>"Scopes"</dt><dd>{rule.scopes.clone()}</dd>
                <dt>"Lifetime"</dt><dd>{format!("up to {} minutes", rule.max_minutes)}</dd>
                {(!rule.resources.is_empty()).then(|| view! {
                    <dt>"Resources"</dt><dd>{crate::tokens::Resources::new(rule.resources.clone()).describe()}</dd>
                })}
                {(!rule.allowed_networks.is_empty()).then(|| view! {
                    <dt>"Networks"</dt><dd>{rule.allowed_networks.join(", ")}</dd>
                })}
                {(!rule.description.is_empty()).then(|| view! {
                    <dt>"Description"</dt><dd>{rule.description.clone()}</dd>
                })}
                <dt>"Added"</dt><dd>{fmt_date(rule.created_at)}</dd>
            </dl>
            {if minted.is_empty() {
                view! { <p class="session-meta">"No live tokens minted by this rule."</p> }.into_any()
            } else {
                view! {
                    <ul class="minted" aria-label=minted_label>
                        {minted.into_iter().map(|t| view! {
                            <li>
                                <strong>{t.name.clone()}</strong>
                                " " <code>{t.hint.clone()}</code>
                                <span class="session-meta">
                                    {format!(" \u{b7} {} \u{b7} ends {} UTC", t.workload.as_ref().map(|w| w.subject.clone()).unwrap_or_default(), t.expires_at.format("%H:%M"))}
                                </span>
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            <form method="post" action=action>
                <button type="submit" class="button danger" aria-label=label>"Remove"</button>
            </form>
        </li>
    }
}

/// The add form: plain fields, errors under each, the password when the
/// session is not in sudo mode.
#[component]
fn AddRule(
    fb: crate::model::FormFeedback,
    default_audience: String,
    confirmed: bool,
) -> impl IntoView {
    let value = |name: &str, default: &str| {
        let v = fb.value(name);
        if v.is_empty() && fb.values.is_empty() {
            default.to_owned()
        } else {
            v
        }
    };
    view! {
        <section class="add-rule" aria-labelledby="add-rule-heading">
            <h2 id="add-rule-heading">"Add a trusted workload"</h2>
            <p class="hint">{format!("Jobs ask their platform for an ID token with the audience {default_audience} unless you name another.")}</p>
            <form method="post" action=WORKLOADS class="stack narrow-form">
                <Field label="Issuer" name="issuer" input_type="url" value=value("issuer", "https://token.actions.githubusercontent.com") error=fb.field("issuer") hint="The OIDC issuer of the job's ID tokens: GitHub Actions, your GitLab, a Kubernetes API server." maxlength=crate::workloads::URL_MAX />
                <Field label="Audience" name="audience" value=value("audience", "") error=fb.field("audience") hint="What the job asks its platform for as the audience; empty: this Tessera's public URL." required=false maxlength=crate::workloads::URL_MAX />
                <LinesField label="Claim conditions" name="conditions" rows=3 required=true value=value("conditions", "") error=fb.field("conditions")
                    hint="One CLAIM=VALUE per line, all must match; * matches any run of characters. E.g. repository=acme/api and ref=refs/heads/main." />
                <Field label="Scopes" name="scopes" value=value("scopes", "") error=fb.field("scopes") hint="What minted tokens may do, e.g. code:read packaging:write (at most what your account may give)." />
                <LinesField label="Resources" name="resources" rows=2 required=false value=value("resources", "") error=fb.field("resources")
                    hint="Optional. One AREA=PATTERN,PATTERN per line limits an area's scopes to those resources, e.g. packaging=acme/*; empty: every resource the scopes reach." />
                <Field label="Allowed networks" name="allowed_networks" value=value("allowed_networks", "") error=fb.field("allowed_networks") hint="Addresses or CIDR ranges the tokens work from; empty: anywhere." required=false />
                <Field label="Longest lifetime (minutes)" name="max_minutes" input_type="number" value=value("max_minutes", &DEFAULT_MINUTES.to_string()) error=fb.field("max_minutes") hint="1 to 60." />
                <Field label="Description" name="description" value=value("description", "") error=fb.field("description") required=false maxlength=crate::tokens::DESCRIPTION_MAX />
                <SudoField error=Signal::stored(fb.field(SUDO_FIELD)) confirmed />
                <button type="submit" class="button primary">"Add trusted workload"</button>
            </form>
            <p class="hint">{format!("Minted tokens live at most {MAX_MINUTES} minutes and cannot be extended or regenerated.")}</p>
        </section>
    }
}

/// A labelled textarea of one item per line, with its hint and error.
#[component]
fn LinesField(
    label: &'static str,
    name: &'static str,
    rows: u32,
    required: bool,
    value: String,
    error: Option<String>,
    hint: &'static str,
) -> impl IntoView {
    let id = format!("field-{name}");
    let (hint_id, error_id) = (format!("{id}-hint"), format!("{id}-error"));
    let has_error = error.is_some();
    let describedby = if has_error {
        format!("{hint_id} {error_id}")
    } else {
        hint_id.clone()
    };
    view! {
        <div class="field" class:has-error=has_error>
            <label for=id.clone()>{label}</label>
            <p class="hint" id=hint_id>{hint}</p>
            <textarea id=id name=name rows=rows.to_string() required=required
                aria-invalid=has_error.then_some("true")
                aria-describedby=describedby
            >{value}</textarea>
            {error.map(|e| view! { <p class="field-error" id=error_id>{e}</p> })}
        </div>
    }
}
