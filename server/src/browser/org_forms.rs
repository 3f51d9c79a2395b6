//! Security → Organizations' plain-form posts. An owner approves or
//! denies a token request (a reason is needed to deny: the requester reads
//! it), manages members (add, change a role, remove), teams (create, add
//! and remove members) and the organization's policies. Another
//! organization, or a visitor who is not one of its owners, is not found;
//! a requester never decides their own request. Each change is audited as
//! the owner who made it.

use super::forms::Post;
use app::domain::{
    admin::{Admin, AdminError},
    audit::By,
    orgs::{
        self, policies,
        requests::{self, Decider, RequestError},
        service_accounts,
    },
    refusal::Refusal,
};
use app::ui::orgs::ORGANIZATIONS;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{post, MethodRouter};

/// A form's fields by name.
type Pairs = std::collections::BTreeMap<String, String>;

/// What an owner's form asks for.
#[derive(Clone, Copy)]
enum Manage {
    /// Add a member, or change a member's role.
    SetMember,
    /// Remove a member.
    RemoveMember,
    /// Create a team.
    CreateTeam,
    /// Add a member to a team.
    AddToTeam,
    /// Remove a member from a team.
    RemoveFromTeam,
    /// Set a policy.
    SetPolicy,
    /// Create a service account.
    CreateServiceAccount,
}

/// The posts of this page: path (axum syntax) and handler.
pub fn routes() -> Vec<(String, MethodRouter<app::domain::AppState>)> {
    let org = format!("{ORGANIZATIONS}/{{org}}");
    let manage = |what: Manage| post(move |path, post| manage(path, post, what));
    vec![
        (
            format!("{org}/requests/{{id}}/approve"),
            post(|path, post| decide(path, post, true)),
        ),
        (
            format!("{org}/requests/{{id}}/deny"),
            post(|path, post| decide(path, post, false)),
        ),
        (format!("{org}/members"), manage(Manage::SetMember)),
        (
            format!("{org}/members/remove"),
            manage(Manage::RemoveMember),
        ),
        (format!("{org}/teams"), manage(Manage::CreateTeam)),
        (format!("{org}/teams/members"), manage(Manage::AddToTeam)),
        (
            format!("{org}/teams/members/remove"),
            manage(Manage::RemoveFromTeam),
        ),
        (format!("{org}/policies"), manage(Manage::SetPolicy)),
        (
            format!("{org}/service-accounts"),
            manage(Manage::CreateServiceAccount),
        ),
        (
            format!("{org}/service-accounts/new-token"),
            post(super::token_forms::create_for_service_account),
        ),
        (
            format!("{org}/service-accounts/tokens/{{id}}/revoke"),
            post(super::token_forms::revoke_for_service_account),
        ),
    ]
}

/// Approves or denies request `id` of `org` as the signed-in owner.
async fn decide(Path((org, id)): Path<(String, String)>, post: Post, approve: bool) -> Response {
    let (state, session, client, parts, pairs) = match post.form::<Pairs>().await {
        Ok(p) => p,
        Err(res) => return res,
    };
    let typed: app::model::FormFeedback = super::forms::kept(&pairs);
    let Ok(id) = id.parse::<i64>() else {
        return super::pages::refuse(&state, &parts, ORGANIZATIONS, typed, RequestError::NotFound)
            .await;
    };
    let decider = Decider {
        user_id: session.user.id,
        by: By::User(session.user.id),
        client: Some(client),
    };
    let reason = pairs.get("reason").map_or("", String::as_str);
    match requests::decide(&state.core, &decider, &org, id, approve, reason).await {
        Ok(_) => {
            let what = if approve { "approved" } else { "denied" };
            Redirect::to(&format!("{ORGANIZATIONS}?done={what}")).into_response()
        }
        Err(e) => super::pages::refuse(&state, &parts, ORGANIZATIONS, typed, e).await,
    }
}

/// A refusal of a form's input shown under its `field`, as a 422 (a user
/// or member named there who does not exist is a mistake in the field); a
/// failure of ours stays a sentence for the whole page.
fn on_field(refusal: impl Into<Refusal>, field: &str) -> Refusal {
    let mut r = refusal.into();
    if r.internal.is_none() && r.status.is_client_error() {
        if let Some(m) = r.message.take() {
            r.fields.insert(field.to_owned(), m);
            r.status = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
        }
    }
    r
}

/// One of an owner's changes to `org`, as the signed-in owner.
async fn manage(Path(org): Path<String>, post: Post, what: Manage) -> Response {
    let (state, session, client, parts, pairs) = match post.form::<Pairs>().await {
        Ok(p) => p,
        Err(res) => return res,
    };
    let typed: app::model::FormFeedback = super::forms::kept(&pairs);
    let core = &state.core;
    // a member or a stranger: no such organization
    let o = match orgs::as_owner(&core.db, &org, session.user.id).await {
        Ok(o) => o,
        Err(e) => return super::pages::refuse(&state, &parts, ORGANIZATIONS, typed, e).await,
    };
    let field = |name: &str| pairs.get(name).map_or("", String::as_str);
    // who holds the organization and what binds its tokens: asked again
    // when the password is not recent (GitHub's "confirm access")
    let sensitive = match what {
        Manage::SetMember => Some(format!(
            "make {} {} of {}",
            field("username").trim(),
            if field("role") == "owner" {
                "an owner"
            } else {
                "a member"
            },
            o.name
        )),
        Manage::RemoveMember => Some(format!(
            "remove {} from {}",
            field("username").trim(),
            o.name
        )),
        Manage::SetPolicy => Some(format!(
            "change the policy {} of {}",
            field("key").trim(),
            o.name
        )),
        Manage::CreateServiceAccount => Some(format!("create a service account in {}", o.name)),
        Manage::CreateTeam | Manage::AddToTeam | Manage::RemoveFromTeam => None,
    };
    if let Some(what) = sensitive {
        let shown: String = what.chars().filter(|c| !c.is_control()).take(200).collect();
        let who = (&parts, &session, &client);
        if let Err(res) =
            super::forms::confirm_access(&state, who, &pairs, &shown, ORGANIZATIONS).await
        {
            return res;
        }
    }
    let who = Admin::org_owner(session.user.id, client.clone());
    let (done, outcome): (&str, Result<(), Refusal>) = match what {
        Manage::SetMember => {
            let done = if field("form").starts_with("members-") {
                "role"
            } else {
                "member"
            };
            let r = orgs::set_member(core, &who, &o.name, field("username"), field("role")).await;
            (done, r.map(drop).map_err(|e| on_field(e, "username")))
        }
        Manage::RemoveMember => {
            let r = orgs::remove_member(core, &who, &o.name, field("username")).await;
            ("removed", r.map_err(|e| on_field(e, "username")))
        }
        Manage::CreateTeam => {
            // which group a team follows decides who joins the organization
            // at sign-in: the server's administrators', not an owner's
            if !field("idp_group").trim().is_empty() {
                let e = AdminError::Invalid(
                    "Only an administrator connects a team to an identity provider group (tessera admin org create-team --idp-group).".into(),
                );
                return super::pages::refuse(
                    &state,
                    &parts,
                    ORGANIZATIONS,
                    typed,
                    on_field(e, "team"),
                )
                .await;
            }
            let r = orgs::create_team(core, &who, &o.name, field("team"), None).await;
            ("team", r.map(drop).map_err(|e| on_field(e, "team")))
        }
        Manage::AddToTeam | Manage::RemoveFromTeam => {
            let add = matches!(what, Manage::AddToTeam);
            let r =
                orgs::set_team_member(core, &who, &o.name, field("team"), field("username"), add)
                    .await;
            let done = if add { "team-member" } else { "team-removed" };
            let r = r.map(drop).map_err(|e| match e {
                // no such team: no form of its own to show it under
                e @ AdminError::NotFound(_) if e.to_string().contains(" has no team ") => e.into(),
                e => on_field(e, "username"),
            });
            (done, r)
        }
        Manage::SetPolicy => {
            let by = By::User(session.user.id);
            let r = policies::set(
                core,
                by,
                Some(&client),
                &o.name,
                field("key"),
                field("value"),
            )
            .await;
            // the key is a choice: its sentence goes under the value too
            let r = r.map(drop).map_err(|e| {
                let mut r = on_field(e, "value");
                if let Some(m) = r.fields.remove("key") {
                    r.fields.insert("value".into(), m);
                }
                r
            });
            ("policy", r)
        }
        Manage::CreateServiceAccount => {
            let team = Some(field("team"));
            let r = service_accounts::create(core, &who, &o.name, field("username"), team).await;
            let r = r.map(drop).map_err(|e| match e {
                // a team that is gone: the choice was stale
                e @ AdminError::NotFound(_) => on_field(e, "team"),
                e => on_field(e, "username"),
            });
            ("service-account", r)
        }
    };
    match outcome {
        Ok(()) => Redirect::to(&format!("{ORGANIZATIONS}?done={done}")).into_response(),
        Err(r) => super::pages::refuse(&state, &parts, ORGANIZATIONS, typed, r).await,
    }
}
