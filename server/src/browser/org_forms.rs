//! Security → Organizations' plain-form posts: an owner approves or
//! denies a token request (a reason is needed to deny: the requester reads
//! it). Another organization's request, or a visitor who is not an owner,
//! is not found; a requester never decides their own request.

use super::forms::Post;
use app::domain::orgs::requests::{self, Decider, RequestError};
use app::ui::orgs::ORGANIZATIONS;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{post, MethodRouter};

/// A form's fields by name.
type Pairs = std::collections::BTreeMap<String, String>;

/// The posts of this page: path (axum syntax) and handler.
pub fn routes() -> Vec<(String, MethodRouter<app::domain::AppState>)> {
    vec![
        (
            format!("{ORGANIZATIONS}/{{org}}/requests/{{id}}/approve"),
            post(|path, post| decide(path, post, true)),
        ),
        (
            format!("{ORGANIZATIONS}/{{org}}/requests/{{id}}/deny"),
            post(|path, post| decide(path, post, false)),
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
        by: app::domain::audit::By::User(session.user.id),
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
