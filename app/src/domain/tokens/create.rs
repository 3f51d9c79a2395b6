//! Making tokens: created by a person or an API token, or derived from
//! another token (never wider, never longer-lived).

use super::*;
use crate::domain::orgs::requests::{needs_approval, APPROVAL_REQUIRED_FOR};
use crate::domain::orgs::sql as org_sql;

/// Creates a token after applying the rules to `spec`. `form_id` (when not
/// empty) makes a repeated submission of the same form create nothing.
pub async fn create(
    core: &Core,
    actor: &Actor,
    spec: &TokenSpec,
    form_id: &str,
) -> Result<NewSecret, TokenError> {
    minted_may_not_make_tokens(actor)?;
    let limits = actor.limits(core, spec.owner.as_deref()).await;
    actor.second_factor_ready(core, &limits.policy).await?;
    insert(core, actor, spec, form_id, None, limits).await
}

/// A token minted for a workload lives minutes and ends with its rule: it
/// may not make tokens that would outlive either (through the API).
fn minted_may_not_make_tokens(actor: &Actor) -> Result<(), TokenError> {
    if actor.acting_minted {
        return Err(TokenError::FromWorkload);
    }
    Ok(())
}

/// Creates the token a trust rule mints (`actor` carries the rule, its
/// limits the rule's as a ceiling): audited as `token.exchanged`.
pub async fn create_minted(
    core: &Core,
    actor: &Actor,
    spec: &TokenSpec,
    limits: Limits,
) -> Result<NewSecret, TokenError> {
    insert(core, actor, spec, "", None, limits).await
}

/// The limits a token derived from `parent` must stay within.
pub(super) fn ceiling_of(parent: &TokenView) -> Ceiling {
    Ceiling {
        scopes: parent.scopes.clone(),
        expires_at: parent.expires_at,
        networks: parent.allowed_networks.clone(),
        resources: parent.resources.clone(),
        owner: parent.owner.clone(),
    }
}

/// What a derived token should be; what is `None` (or an empty name) is
/// taken from the parent: its scopes, allowlist and resources, a name made
/// from its own, and one hour (never past the parent's end).
#[derive(Clone, Debug, Default)]
pub struct DeriveSpec {
    /// Its name (empty: made from the parent's).
    pub name: String,
    /// Its description.
    pub description: String,
    /// When it ends (`None`: one hour, or what is left of the parent).
    pub expiry: Option<crate::tokens::Expiry>,
    /// Scopes within the parent's.
    pub scopes: Option<Scopes>,
    /// An allowlist within the parent's.
    pub networks: Option<crate::tokens::Networks>,
    /// Resource limits within the parent's.
    pub resources: Option<crate::tokens::Resources>,
}

/// Derives a child of the actor's token `parent_id`: within the parent's
/// scopes, networks and resources, ending no later than it (and, for a
/// token acting through the API, within that token's own limits too). The
/// secret is returned once.
pub async fn derive(
    core: &Core,
    actor: &Actor,
    parent_id: i64,
    asked: &DeriveSpec,
) -> Result<NewSecret, TokenError> {
    minted_may_not_make_tokens(actor)?;
    let mut parent = editable(core, actor, parent_id).await?;
    // the policies as stored, read once for the whole derivation
    let limits = actor.limits(core, parent.owner.as_deref()).await;
    actor.second_factor_ready(core, &limits.policy).await?;
    parent.apply_policies(&limits.policy, now());
    // a child would work while its parent waits for approval
    if parent.approval.as_deref() == Some("pending") {
        return Err(TokenError::Invalid(FieldErrors::from([(
            "parent".to_owned(),
            "This token waits for an owner's approval: derive from it once it is approved."
                .to_owned(),
        )])));
    }
    if let Some(b) = &parent.blocked {
        return Err(TokenError::PolicyViolation(
            crate::tokens::policy::policy_key(&b.policy),
            b.sentence(),
        ));
    }
    let depth: Vec<(i64,)> = on_db!(&core.db, pool => sqlx::query_as(sql::DEPTH)
        .bind(parent_id)
        .fetch_all(pool)
        .await)?;
    if depth.first().map_or(0, |d| d.0) + 1 > MAX_DERIVATION_DEPTH {
        return Err(TokenError::Invalid(FieldErrors::from([(
            "parent".to_owned(),
            format!(
                "Tokens can be derived at most {} levels deep.",
                MAX_DERIVATION_DEPTH
            ),
        )])));
    }
    let scopes = asked
        .scopes
        .clone()
        .unwrap_or_else(|| parent.scopes.clone());
    let name = if asked.name.trim().is_empty() {
        let stem: String = parent.name.chars().take(40).collect();
        format!(
            "{stem} \u{b7} derived {:06x}",
            rand::random::<u32>() & 0xff_ffff
        )
    } else {
        asked.name.clone()
    };
    let left = (parent.expires_at - now()).num_minutes().clamp(1, 60);
    let spec = TokenSpec {
        name,
        description: asked.description.clone(),
        expiry: asked.expiry.unwrap_or(crate::tokens::Expiry::Minutes(
            u32::try_from(left).unwrap_or(60),
        )),
        networks: asked
            .networks
            .clone()
            .unwrap_or_else(|| parent.allowed_networks.clone()),
        owner: parent.owner.clone(),
        resources: asked
            .resources
            .clone()
            .unwrap_or_else(|| parent.resources.granted(&scopes)),
        scopes,
    };
    // the caller's own limits first (a token acting through the API)
    if actor.ceiling.is_some() {
        spec.check(&limits, false)?;
    }
    insert(core, actor, &spec, "", Some(&parent), limits).await
}

/// Creates a token (a child of `parent` when given) after applying the
/// rules (`limits`, read once by the caller) to `spec`.
pub(super) async fn insert(
    core: &Core,
    actor: &Actor,
    spec: &TokenSpec,
    form_id: &str,
    parent: Option<&TokenView>,
    mut limits: Limits,
) -> Result<NewSecret, TokenError> {
    if let Some(p) = parent {
        limits.ceiling = Some(ceiling_of(p));
    }
    let input = spec.check(&limits, false)?;
    admin_scope_check(core, actor.user_id, &input.scopes).await?;
    // a secret that reaches everything needs the password, derived or not:
    // a borrowed browser must not mint one
    if input.scopes.is_powerful() {
        actor.confirmed(if parent.is_some() {
            FOR_POWERFUL_DERIVE
        } else {
            FOR_FULL_ACCESS
        })?;
    }
    let (db, user_id) = (&core.db, actor.user_id);
    // an idempotency key is a client's random id: letters, digits, '-', '_'
    let form_id: String = form_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .take(64)
        .collect();
    let form_id = (!form_id.is_empty()).then_some(form_id);
    if let Some(fid) = &form_id {
        if let Some(existing) = by_form_id(db, user_id, fid).await? {
            return Err(TokenError::AlreadySubmitted(Box::new(existing)));
        }
    }
    let created = now();
    let expires_at = input.expires_at.unwrap_or(created + Duration::days(30));
    let (plaintext, stored) = secret::generate();
    let scopes = input.scopes.to_string();
    let mut details = json!({
        "name": input.name,
        "scopes": scopes,
        "expires_at": expires_at,
    });
    if !input.networks.is_any() {
        details["allowed_networks"] = json!(input.networks.strings());
    }
    if !input.resources.is_empty() {
        details["resources"] = json!(input.resources.map());
    }
    if let Some(p) = parent {
        details["derived_from"] = json!(p.id);
    }
    if let Some(org) = &spec.owner {
        details["resource_owner"] = json!(org);
    }
    let workload = actor.workload.as_deref();
    if let Some(w) = workload {
        details["workload"] = w.details.clone();
    }
    let name = if workload.is_some() {
        "token.exchanged"
    } else {
        "token.created"
    };
    let mut event = actor.event(name, None).with(details);
    // minted tokens live minutes and are not the person's to count
    let cap = limits
        .policy
        .max_active_tokens_per_user
        .filter(|_| workload.is_none());
    // the resource owner and its approval policy, read before the write
    // transaction (a read first would make SQLite's transaction fail to
    // upgrade while another connection writes); membership is checked
    // again inside it, after the insert
    let owner_org = match &spec.owner {
        Some(org) => {
            let found: Option<(i64,)> = on_db!(db, pool => sqlx::query_as(org_sql::OWNER_ORG)
                .bind(org)
                .bind(user_id)
                .fetch_optional(pool)
                .await)?;
            match found {
                Some((id,)) => Some(id),
                None => return Err(not_a_member(org)),
            }
        }
        None => None,
    };
    // a derived token is within its parent, which was approved (or needed
    // no approval)
    let policy: Option<(String,)> = match owner_org.filter(|_| parent.is_none()) {
        Some(org) => on_db!(db, pool => sqlx::query_as(org_sql::ORG_POLICY)
            .bind(org)
            .bind(APPROVAL_REQUIRED_FOR)
            .fetch_optional(pool)
            .await)?,
        None => None,
    };
    let pending = policy.is_some_and(|(p,)| needs_approval(&p, &input.scopes));
    // the organization's own cap counts the tokens it owns
    let org_cap: Option<(i64, u32)> = match owner_org.filter(|_| workload.is_none()) {
        Some(org) => {
            let row: Option<(String,)> = on_db!(db, pool => sqlx::query_as(org_sql::ORG_POLICY)
                .bind(org)
                .bind(crate::tokens::policy::MAX_ACTIVE_TOKENS_PER_USER)
                .fetch_optional(pool)
                .await)?;
            row.and_then(|(v,)| v.parse().ok()).map(|cap| (org, cap))
        }
        None => None,
    };
    // (organization id or 0 for every token, cap, the sentence's start)
    let owner_name = spec.owner.as_deref().unwrap_or_default();
    let caps = [
        cap.map(|c| (0, c, format!("Your organization's policy (max_active_tokens_per_user) allows at most {c} active tokens"))),
        org_cap.map(|(org, c)| (org, c, format!("{owner_name}'s policy (max_active_tokens_per_user) allows each member at most {c} active tokens it owns"))),
    ];
    let inserted: Result<Result<Row, TokenError>, sqlx::Error> = on_db!(db, pool => async {
        let mut tx = pool.begin().await?;
        let row: Row = sqlx::query_as(sql::INSERT)
            .bind(user_id)
            .bind(&input.name)
            .bind(&input.description)
            .bind(&stored.hash)
            .bind(&stored.hint)
            .bind(&scopes)
            .bind(created)
            .bind(expires_at)
            .bind(&form_id)
            .bind(input.networks.to_stored())
            .bind(input.resources.to_stored())
            .bind(parent.map(|p| p.id))
            .bind(actor.acting_token)
            .bind(workload.map(|w| w.rule_id))
            .bind(workload.map(|w| w.subject.as_str()))
            .bind(owner_org)
            .bind(pending.then_some("pending"))
            .bind(actor.on_behalf)
            .fetch_one(&mut *tx)
            .await?;
        // counted after the insert (a write first: SQLite's transaction
        // then holds the write lock; a read first could not upgrade while
        // another connection writes); over the cap, the insert is rolled back
        for (org, cap, limit) in caps.iter().flatten() {
            let (active,): (i64,) = sqlx::query_as(sql::ACTIVE_COUNT)
                .bind(user_id)
                .bind(created)
                .bind(org)
                .fetch_one(&mut *tx)
                .await?;
            // a derived token is not counted: the count is of the others
            let others = if parent.is_none() { active - 1 } else { active };
            if others >= i64::from(*cap) {
                return Ok(Err(TokenError::PolicyViolation(
                    crate::tokens::policy::MAX_ACTIVE_TOKENS_PER_USER,
                    format!("{limit}; revoke one you no longer use first."),
                )));
            }
        }
        if let (Some(org), Some(name)) = (owner_org, &spec.owner) {
            // still a member (a removal meanwhile makes nothing)
            let member: Option<(i64,)> = sqlx::query_as(org_sql::OWNER_ORG)
                .bind(name)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
            if member.map(|(id,)| id) != Some(org) {
                return Ok(Err(not_a_member(name)));
            }
        }
        if let (true, Some(org)) = (pending, owner_org) {
            // the person who asks: for a service account's token, the
            // owner who made it (who may not approve it themselves)
            let (request,): (i64,) = sqlx::query_as(org_sql::INSERT_REQUEST)
                .bind(org)
                .bind(row.id)
                .bind(actor.on_behalf.unwrap_or(user_id))
                .bind(&scopes)
                .bind(input.resources.to_stored())
                .bind(&input.description)
                .bind(created)
                .fetch_one(&mut *tx)
                .await?;
            let asked = actor.event("token.request_created", Some(row.id)).with(json!({
                "organization": spec.owner,
                "request": request,
                "name": input.name,
                "scopes": scopes,
                "justification": input.description,
            }));
            record_in!(&mut *tx, asked)?;
        }
        event.token_id = Some(row.id);
        record_in!(&mut *tx, event)?;
        tx.commit().await?;
        Ok(Ok(row))
    }.await);
    match inserted {
        Ok(Ok(row)) => {
            let token = row.into_view();
            Ok(NewSecret {
                warnings: reach_warnings(&token, actor.client.as_ref()),
                token,
                secret: plaintext.into_string(),
            })
        }
        Ok(Err(refused)) => Err(refused),
        Err(e) if is_unique_violation(&e) => {
            // A racing duplicate submit, or the name is in use.
            if let Some(fid) = &form_id {
                if let Some(existing) = by_form_id(db, user_id, fid).await? {
                    return Err(TokenError::AlreadySubmitted(Box::new(existing)));
                }
            }
            Err(name_taken(&input.name))
        }
        Err(e) => Err(e.into()),
    }
}

/// The resource owner named is not an organization the maker belongs to
/// (the same answer whether it exists or not).
fn not_a_member(org: &str) -> TokenError {
    let shown: String = org.chars().filter(|c| !c.is_control()).take(40).collect();
    TokenError::Invalid(FieldErrors::from([(
        "resource_owner".to_owned(),
        format!("You are not a member of an organization named \u{201c}{shown}\u{201d}."),
    )]))
}
