//! Security → Trusted workloads' plain-form posts: add a rule (sudo mode:
//! it lets a job act as the account) and remove one (which revokes what it
//! minted; taking trust away needs no password).

use super::forms::Post;
use app::{
    domain::{
        accounts,
        tokens::{Actor, TokenError},
        workloads::{self, Maker},
    },
    model::FormFeedback,
    scopes::Scopes,
    tokens::{FieldErrors, Networks, Resources},
    ui::workloads::WORKLOADS,
    workloads::RuleSpec,
};
use axum::{
    extract::Path,
    response::{IntoResponse, Redirect, Response},
    routing::{post, MethodRouter},
};
use std::collections::BTreeMap;

type Pairs = BTreeMap<String, String>;

/// The posts of this page: path (axum syntax) and handler.
pub fn routes() -> Vec<(String, MethodRouter<app::domain::AppState>)> {
    vec![
        (WORKLOADS.into(), post(add)),
        (format!("{WORKLOADS}/{{id}}/remove"), post(remove)),
    ]
}

fn done(what: &str) -> Response {
    Redirect::to(&format!("{WORKLOADS}?done={what}")).into_response()
}

/// The rule the form describes, or the fields that cannot be read.
fn spec_of(pairs: &Pairs) -> Result<RuleSpec, FieldErrors> {
    let get = |k: &str| pairs.get(k).map_or("", String::as_str);
    let mut errors = FieldErrors::new();
    let scopes = Scopes::parse(get("scopes")).unwrap_or_else(|e| {
        errors.insert("scopes".into(), e.to_string());
        Scopes::Custom(BTreeMap::new())
    });
    let networks = Networks::parse_text(get("allowed_networks")).unwrap_or_else(|e| {
        errors.insert("allowed_networks".into(), e);
        Networks::default()
    });
    let resources = Resources::parse_assignments(get("resources").lines()).unwrap_or_else(|e| {
        errors.insert("resources".into(), e);
        Resources::default()
    });
    let max_minutes = match get("max_minutes").trim() {
        "" => None,
        m => match m.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                errors.insert(
                    "max_minutes".into(),
                    "Give the lifetime as a number of minutes, 1 to 60.".into(),
                );
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(RuleSpec {
        issuer: get("issuer").into(),
        audience: get("audience").into(),
        conditions: get("conditions").lines().map(str::to_owned).collect(),
        scopes,
        networks,
        resources,
        max_minutes,
        description: get("description").into(),
    })
}

/// `POST /profile/security/workloads`: adds a rule for the signed-in user.
pub async fn add(post: Post) -> Response {
    let (state, session, client, parts, pairs) = match post.form::<Pairs>().await {
        Ok(p) => p,
        Err(res) => return res,
    };
    let typed: FormFeedback = super::forms::kept(&pairs);
    let ask = super::forms::SudoAsk {
        password: pairs.get(accounts::SUDO_FIELD).map_or("", String::as_str),
        page: WORKLOADS,
        typed: typed.clone(),
        for_what: workloads::FOR_RULE,
    };
    if let Err(res) = super::forms::confirm_sudo(&state, &parts, &session, &client, ask).await {
        return res;
    }
    let result = match spec_of(&pairs) {
        Err(fields) => Err(TokenError::Invalid(fields)),
        Ok(spec) => {
            let actor = Actor::in_session(session.user.id, true).from_client(client);
            workloads::add_rule(&state.core, &Maker::Owner(actor), session.user.id, &spec).await
        }
    };
    match result {
        Ok(_) => done("added"),
        Err(e) => super::pages::refuse(&state, &parts, WORKLOADS, typed, e).await,
    }
}

/// `POST /profile/security/workloads/{id}/remove`: removes one of the
/// user's rules and revokes what it minted (another user's id is not found).
pub async fn remove(Path(id): Path<String>, post: Post) -> Response {
    let (state, session, client, parts, _pairs) = match post.form::<Pairs>().await {
        Ok(p) => p,
        Err(res) => return res,
    };
    let Ok(id) = id.parse::<i64>() else {
        return super::pages::refuse(
            &state,
            &parts,
            WORKLOADS,
            FormFeedback::default(),
            TokenError::NotFound,
        )
        .await;
    };
    let actor = Actor::in_session(session.user.id, false).from_client(client);
    match workloads::remove_rule(&state.core, &Maker::Owner(actor), id).await {
        Ok(_) => done("removed"),
        Err(e) => super::pages::refuse(&state, &parts, WORKLOADS, FormFeedback::default(), e).await,
    }
}
