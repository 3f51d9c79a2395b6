//! Finding notices due: the expiry scan over every token, and the audit
//! events that tell an owner something (revoked by someone else, an old
//! secret reused, a new network).

use super::*;

#[derive(sqlx_macros::FromRow)]
pub(super) struct Ending {
    id: i64,
    user_id: i64,
    name: String,
    expires_at: DateTime<Utc>,
}

#[derive(sqlx_macros::FromRow)]
pub(super) struct Presented {
    id: i64,
    user_id: i64,
    name: String,
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    #[sqlx(flatten)]
    presented: crate::domain::tokens::Presentations,
}

/// The threshold (days) a token `left` from its expiry falls in: the
/// smallest one at or above the days left (rounded up).
pub fn threshold(thresholds: &[u32], left: Span) -> Option<u32> {
    let days = (left.num_seconds() + 86_399) / 86_400;
    thresholds
        .iter()
        .copied()
        .filter(|t| i64::from(*t) >= days)
        .min()
}

/// Looks at every token for notices due: expiring (at each threshold,
/// once), expired (once, within a week of it), still presented after its
/// end (once a day). Returns how many notices were made.
pub async fn scan_tokens(core: &Core) -> Result<usize, sqlx::Error> {
    let at = now();
    let horizon = i64::from(
        core.lifecycle
            .config
            .expiry_notice_days
            .iter()
            .copied()
            .max()
            .unwrap_or(0),
    );
    let public = &core.config.public_url;
    let ending: Vec<Ending> = on_db!(&core.db, pool => sqlx::query_as(crate::domain::tokens::sql::ENDING)
    .bind(at - Span::days(7))
    .bind(at + Span::days(horizon))
    .fetch_all(pool)
    .await)?;
    let known: Vec<(String,)> = on_db!(&core.db, pool => sqlx::query_as(
        sql::NOTIFIED_KEYS,
    )
    .bind(at - Span::days(horizon + 8))
    .fetch_all(pool)
    .await)?;
    let known: HashSet<String> = known.into_iter().map(|(k,)| k).collect();
    let mut made = 0;
    for t in ending {
        let Some(notice) = ending_notice(core, &t, at) else {
            continue;
        };
        if !known.contains(&notice.key) && notify(core, &notice).await?.is_some() {
            made += 1;
        }
    }
    let presented: Vec<Presented> = on_db!(&core.db, pool => sqlx::query_as(crate::domain::tokens::sql::PRESENTED_SINCE)
    .bind(at - Span::days(1))
    .fetch_all(pool)
    .await)?;
    let day = at.format("%Y-%m-%d");
    for t in presented {
        let key = format!("presented:{}:{day}", t.id);
        if known.contains(&key) {
            continue;
        }
        let sentence = presented_sentence(&t, at);
        let notice = Notice {
            key,
            event: "token.presented_after_end",
            user_id: t.user_id,
            token_id: Some(t.id),
            subject: format!("{} is still being presented", t.name),
            body: format!(
                "{sentence}\nSomething still uses it: find the job by its address and client, and give it a new token.\n\n\
                 {public}/profile/security/tokens?status=all\n"
            ),
            data: json!({
                "token": {"id": t.id, "name": t.name, "expires_at": t.expires_at, "revoked_at": t.revoked_at},
                "presented": t.presented.presented_after_end,
                "last_presented_at": t.presented.last_presented_at,
                "last_presented_ip": t.presented.last_presented_ip,
                "last_presented_agent": t.presented.last_presented_agent,
                "message": sentence,
            }),
            only_webhook: None,
        };
        if notify(core, &notice).await?.is_some() {
            made += 1;
        }
    }
    Ok(made)
}

/// The notice that `t` expires soon (or has expired), if one is due.
fn ending_notice(core: &Core, t: &Ending, at: DateTime<Utc>) -> Option<Notice> {
    let public = &core.config.public_url;
    let stamp = t.expires_at.timestamp();
    let days = ((t.expires_at - at).num_seconds() + 86_399) / 86_400;
    let notice = if t.expires_at > at {
        let th = threshold(&core.lifecycle.config.expiry_notice_days, t.expires_at - at)?;
        Notice {
            key: format!("expiring:{}:{th}:{stamp}", t.id),
            event: "token.expiring",
            user_id: t.user_id,
            token_id: Some(t.id),
            subject: format!("Your token {} expires {}", t.name, in_days(days)),
            body: format!(
                "Your personal access token \"{}\" expires on {} ({}).\n\
                     Anything that uses it (CI jobs, scripts, git remotes) gets 401 after that.\n\n\
                     Extend it or regenerate it: {public}/profile/security/tokens/{}/edit\n",
                t.name,
                when(t.expires_at),
                in_days(days),
                t.id
            ),
            data: json!({"token": {"id": t.id, "name": t.name, "expires_at": t.expires_at}, "threshold_days": th}),
            only_webhook: None,
        }
    } else {
        Notice {
            key: format!("expired:{}:{stamp}", t.id),
            event: "token.expired",
            user_id: t.user_id,
            token_id: Some(t.id),
            subject: format!("Your token {} has expired", t.name),
            body: format!(
                "Your personal access token \"{}\" expired on {}.\n\
                     Requests that present it are refused (401 token_expired).\n\n\
                     Create a new one: {public}/profile/security/tokens/new\n",
                t.name,
                when(t.expires_at)
            ),
            data: json!({"token": {"id": t.id, "name": t.name, "expires_at": t.expires_at}}),
            only_webhook: None,
        }
    };
    Some(notice)
}

/// "ci-deploy expired 3 days ago and was presented 412 times since, last
/// from 10.1.2.3 (git/2.43)."
pub(super) fn presented_sentence(t: &Presented, at: DateTime<Utc>) -> String {
    let (how, end) = match t.revoked_at {
        Some(r) if r < t.expires_at => ("was revoked", r),
        _ => ("expired", t.expires_at),
    };
    let times = if t.presented.presented_after_end == 1 {
        "1 time".to_string()
    } else {
        format!("{} times", t.presented.presented_after_end)
    };
    let from = match (
        &t.presented.last_presented_ip,
        &t.presented.last_presented_agent,
    ) {
        (Some(ip), Some(agent)) if !agent.is_empty() => format!(", last from {ip} ({agent})"),
        (Some(ip), _) => format!(", last from {ip}"),
        _ => String::new(),
    };
    format!(
        "{} {how} {} and was presented {times} since{from}.",
        t.name,
        ago(at - end)
    )
}

/// The audit events that tell an owner something.
pub(super) const TOLD: &str = "'token.revoked', 'token.reused', 'token.new_network', \
     'token.request_created', 'token.request_approved', 'token.request_denied'";

#[derive(sqlx_macros::FromRow)]
pub(super) struct Told {
    id: i64,
    at: DateTime<Utc>,
    event: String,
    user_id: Option<i64>,
    token_id: Option<i64>,
    actor: String,
    ip: String,
    user_agent: String,
    details: String,
    name: Option<String>,
}

/// Turns audit events that concern an owner (a revocation by an
/// administrator, a policy or a leak report; an old secret reused; a new
/// network) into notices. Reads past its cursor and the last minute again
/// (an event committed late is not skipped; keys make a second pass a
/// no-op).
pub async fn notify_from_audit(core: &Core) -> Result<usize, sqlx::Error> {
    let at = now();
    let cursor: Option<(i64,)> = on_db!(&core.db, pool => sqlx::query_as(
        sql::NOTIFIER_POSITION,
    )
    .fetch_optional(pool)
    .await)?;
    let cursor = cursor.map_or(0, |(c,)| c);
    let sql = format!(
        "SELECT e.id, e.at, e.event, e.user_id, e.token_id, e.actor, e.ip, e.user_agent, e.details, t.name \
         FROM audit_events e LEFT JOIN tokens t ON t.id = e.token_id \
         WHERE (e.id > $1 OR e.at >= $2) AND e.event IN ({TOLD}) ORDER BY e.id LIMIT 500"
    );
    let events: Vec<Told> = on_db!(&core.db, pool => sqlx::query_as(&sql)
        .bind(cursor)
        .bind(at - Span::minutes(1))
        .fetch_all(pool)
        .await)?;
    let mut made = 0;
    let mut last = cursor;
    for e in events {
        last = last.max(e.id);
        let (Some(user_id), Some(token_id)) = (e.user_id, e.token_id) else {
            continue;
        };
        if e.event == "token.request_created" {
            // every owner of the organization hears of it (a bot among
            // their webhooks can decide it)
            for notice in asked(core, &e, token_id).await? {
                if notify(core, &notice).await?.is_some() {
                    made += 1;
                }
            }
            continue;
        }
        if let Some(notice) = told(core, &e, user_id, token_id) {
            if notify(core, &notice).await?.is_some() {
                made += 1;
            }
        }
    }
    if last > cursor {
        on_db!(&core.db, pool => sqlx::query(
            sql::ADVANCE_NOTIFIER,
        )
        .bind(last)
        .execute(pool)
        .await
        .map(|_| ()))?;
    }
    Ok(made)
}

/// How often owners get the digest of requests waiting for them.
pub const DIGEST_EVERY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The daily digest: each owner of an organization with pending requests
/// is told how many wait (once a day: the key holds the date). Returns the
/// notices made.
pub async fn digest_requests(core: &Core) -> Result<usize, sqlx::Error> {
    let at = now();
    let waiting: Vec<(String, i64)> = on_db!(&core.db, pool => sqlx::query_as(
        crate::domain::orgs::sql::PENDING_BY_ORG,
    )
    .bind(at)
    .fetch_all(pool)
    .await)?;
    let public = &core.config.public_url;
    let mut made = 0;
    for (org, n) in waiting {
        let owners: Vec<(i64,)> = on_db!(&core.db, pool => sqlx::query_as(
            crate::domain::orgs::sql::OWNER_IDS_BY_NAME,
        )
        .bind(&org)
        .fetch_all(pool)
        .await)?;
        let page = format!("{public}/profile/security/organizations");
        let (s, wait) = if n == 1 { ("", "waits") } else { ("s", "wait") };
        for (owner,) in owners {
            let notice = Notice {
                key: format!("digest:{org}:{owner}:{}", at.format("%Y-%m-%d")),
                event: "token.request_digest",
                user_id: owner,
                token_id: None,
                subject: format!("{n} token request{s} {wait} for {org}"),
                body: format!(
                    "{n} token request{s} of {org} {wait} for an owner's decision; the tokens are refused until then.\n\
                     Approve or deny them: {page}\n"
                ),
                data: json!({"organization": org, "pending": n, "requests_url": format!("{public}/api/v1/orgs/{org}/token-requests")}),
                only_webhook: None,
            };
            if notify(core, &notice).await?.is_some() {
                made += 1;
            }
        }
    }
    Ok(made)
}

/// The text of the event details' member `k` (empty when absent).
fn text_of(details: &Value, k: &str) -> String {
    details
        .get(k)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// The notices of a new approval request, one per owner of its
/// organization.
async fn asked(core: &Core, e: &Told, token_id: i64) -> Result<Vec<Notice>, sqlx::Error> {
    let details: Value = serde_json::from_str(&e.details).unwrap_or(Value::Null);
    let text = |k: &str| text_of(&details, k);
    let org = text("organization");
    let request = details.get("request").and_then(Value::as_i64).unwrap_or(0);
    let owners: Vec<(i64,)> = on_db!(&core.db, pool => sqlx::query_as(
        crate::domain::orgs::sql::OWNER_IDS_BY_NAME,
    )
    .bind(&org)
    .fetch_all(pool)
    .await)?;
    let requester: Option<(String,)> = on_db!(&core.db, pool => sqlx::query_as(
        crate::domain::users::USERNAME,
    )
    .bind(e.user_id)
    .fetch_optional(pool)
    .await)?;
    let requester = requester.map(|(n,)| n).unwrap_or_default();
    let public = &core.config.public_url;
    let page = format!("{public}/profile/security/organizations/{org}");
    let (name, scopes, why) = (text("name"), text("scopes"), text("justification"));
    Ok(owners
        .into_iter()
        .map(|(owner,)| Notice {
            key: format!("request:{request}:{owner}"),
            event: "token.request_created",
            user_id: owner,
            token_id: None,
            subject: format!("{requester} asks {org} to approve a token"),
            body: format!(
                "{requester} made the token \"{name}\" for {org} on {}, asking for: {scopes}.\n\
                 Why: {}\nIt is refused until an owner of {org} approves it. Approve or deny it: {page}\n",
                when(e.at),
                if why.is_empty() { "(no description)" } else { why.as_str() },
            ),
            data: json!({
                "organization": org,
                "request": {"id": request, "requester": requester, "scopes": scopes, "justification": why},
                "token": {"id": token_id, "name": name},
                "approve_url": format!("{public}/api/v1/orgs/{org}/token-requests/{request}/approve"),
                "deny_url": format!("{public}/api/v1/orgs/{org}/token-requests/{request}/deny"),
            }),
            only_webhook: None,
        })
        .collect())
}

pub(super) fn told(core: &Core, e: &Told, user_id: i64, token_id: i64) -> Option<Notice> {
    let details: Value = serde_json::from_str(&e.details).unwrap_or(Value::Null);
    let text = |k: &str| text_of(&details, k);
    let name = e
        .name
        .clone()
        .unwrap_or_else(|| format!("token {token_id}"));
    let public = &core.config.public_url;
    let from = if e.ip.is_empty() {
        String::new()
    } else if e.user_agent.is_empty() {
        format!(" from {}", e.ip)
    } else {
        format!(" from {} ({})", e.ip, e.user_agent)
    };
    let token = json!({"id": token_id, "name": name});
    let list = format!("{public}/profile/security/tokens?status=all");
    // a derived token revoked with its parent: the parent's notice says it
    if details.get("derived_from").is_some() && e.event == "token.revoked" {
        return None;
    }
    match e.event.as_str() {
        "token.revoked" if e.actor == "admin" || e.actor == "system" => {
            let reason = text("reason");
            let (why, event) = if reason == crate::domain::tokens::LEAKED {
                let mut where_ = String::new();
                if !text("url").is_empty() {
                    where_.push_str(&format!(" at {}", text("url")));
                }
                if !text("source").is_empty() {
                    where_.push_str(&format!(" (reported by {})", text("source")));
                }
                (format!("it was reported as leaked: found{where_}"), "token.revoked_leaked")
            } else if e.actor == "admin" {
                (format!("an administrator revoked it: {reason}"), "token.revoked_by_admin")
            } else {
                (format!("a policy revoked it: {reason}"), "token.revoked_by_policy")
            };
            Some(Notice {
                key: format!("audit:{}", e.id),
                event,
                user_id,
                token_id: Some(token_id),
                subject: format!("Your token {name} was revoked"),
                body: format!(
                    "Your personal access token \"{name}\" was revoked on {}: {why}.\n\
                     Requests that present it are refused. Create a new one: {public}/profile/security/tokens/new\n",
                    when(e.at)
                ),
                data: json!({"token": token, "reason": reason, "url": text("url"), "source": text("source"), "by": e.actor}),
                only_webhook: None,
            })
        }
        "token.request_approved" | "token.request_denied" => {
            let approved = e.event == "token.request_approved";
            let org = text("organization");
            let reason = text("reason");
            let because = if reason.is_empty() { String::new() } else { format!(": {reason}") };
            Some(Notice {
                key: format!("audit:{}", e.id),
                event: if approved { "token.request_approved" } else { "token.request_denied" },
                user_id,
                token_id: Some(token_id),
                subject: if approved {
                    format!("{org} approved your token {name}")
                } else {
                    format!("{org} denied your token {name}")
                },
                body: if approved {
                    format!("An owner of {org} approved your token \"{name}\" on {}{because}. It works now.\n\n{list}\n", when(e.at))
                } else {
                    format!("An owner of {org} denied your token \"{name}\" on {}{because}. The token is revoked.\n\n{list}\n", when(e.at))
                },
                data: json!({"token": token, "organization": org, "reason": reason}),
                only_webhook: None,
            })
        }
        "token.reused" => Some(Notice {
            key: format!("reused:{token_id}:{}", e.at.format("%Y-%m-%d")),
            event: "token.reused",
            user_id,
            token_id: Some(token_id),
            subject: format!("An old secret of {name} was presented"),
            body: format!(
                "A secret of your token \"{name}\" that was rotated out was presented on {}{from}. It was refused.\n\
                 If that was not one of your jobs, the old secret may have leaked.\n\n{list}\n",
                when(e.at)
            ),
            data: json!({"token": token, "ip": e.ip, "user_agent": e.user_agent}),
            only_webhook: None,
        }),
        "token.new_network" => {
            let network = text("network");
            let client = text("client");
            Some(Notice {
                key: format!("audit:{}", e.id),
                event: "token.new_network",
                user_id,
                token_id: Some(token_id),
                subject: format!("{name} was used from a new network"),
                body: format!(
                    "Your token \"{name}\" was used on {}{from}: network {network}, client {client}, \
                     not seen before for this token.\nIf that was not you, revoke it: {list}\n",
                    when(e.at)
                ),
                data: json!({"token": token, "network": network, "client": client, "ip": e.ip, "user_agent": e.user_agent, "new": details.get("new")}),
                only_webhook: None,
            })
        }
        _ => None,
    }
}
