//! An organization's own policies: `approval_required_for`, and the
//! server-wide keys about tokens ([`crate::tokens::policy::ORG_KEYS`]).
//! A token the organization owns is held to the stricter of its policies
//! and the server's, key by key ([`crate::tokens::policy::PolicyBook`]);
//! its `max_active_tokens_per_user` counts the tokens it owns. Set by the
//! organization's owners (page) or the operator (`tessera admin org
//! set-policy`); audited as `org.policy_changed`; every instance re-reads
//! them through the change feed (the `org_policies` triggers).

use super::requests::{parse_approval_policy, RequestError, APPROVAL_REQUIRED_FOR};
use super::sql;
use crate::domain::{
    audit::{record_in, By, Event},
    changes::Change,
    db::{now, on_db, Db},
    sessions::Client,
    Core,
};
use crate::tokens::policy::{Policies, ORG_KEYS, SSO_REQUIRED};
use serde_json::json;

/// Every key an organization sets, in the order pages and the CLI list them.
pub use crate::orgs::POLICY_KEYS as KEYS;

/// `value` of organization policy `key` as stored (`None`: cleared, or
/// the same as no policy), or a sentence for whoever typed it.
pub fn canonical(key: &str, value: &str) -> Result<Option<String>, RequestError> {
    let key = key.trim();
    if key == APPROVAL_REQUIRED_FOR {
        return parse_approval_policy(value).map_err(|m| RequestError::Invalid("value", m));
    }
    if !ORG_KEYS.contains(&key) {
        let shown: String = key.chars().filter(|c| !c.is_control()).take(40).collect();
        let why = if crate::tokens::policy::KEYS.contains(&key) {
            format!(
                "{shown} is server-wide only: it governs {}, which belong to no organization.",
                if key == SSO_REQUIRED {
                    "signing in"
                } else {
                    "trust rules"
                }
            )
        } else {
            format!(
                "There is no organization policy \u{201c}{shown}\u{201d}; organizations set {}.",
                KEYS.join(", ")
            )
        };
        return Err(RequestError::Invalid("key", why));
    }
    let mut p = Policies::default();
    p.set(key, value)
        .map_err(|m| RequestError::Invalid("value", m))?;
    let v = p.get(key);
    Ok((v != Policies::default().get(key)).then_some(v))
}

/// Sets organization policy `key` of `org` to `value` (`none` clears it);
/// audited as `org.policy_changed` by `by`. What it stores, if anything.
pub async fn set(
    core: &Core,
    by: By,
    client: Option<&Client>,
    org: &str,
    key: &str,
    value: &str,
) -> Result<Option<String>, RequestError> {
    let parsed = canonical(key, value)?;
    let key = KEYS
        .into_iter()
        .find(|k| *k == key.trim())
        .unwrap_or(APPROVAL_REQUIRED_FOR);
    let o = super::get(&core.db, org)
        .await
        .map_err(|_| RequestError::NotFound)?;
    let before = get(&core.db, o.id, key).await?;
    if before == parsed {
        // the same value: nothing to write, audit or re-read
        return Ok(parsed);
    }
    let shown = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
    let event = Event::new("org.policy_changed", None, None, by, client).with(json!({
        "organization": o.name,
        key: {"before": shown(&before), "after": shown(&parsed)},
    }));
    let at = now();
    on_db!(&core.db, pool => async {
        let mut tx = pool.begin().await?;
        match &parsed {
            Some(v) => sqlx::query(sql::SET_ORG_POLICY).bind(o.id).bind(key).bind(v).bind(at).execute(&mut *tx).await?,
            None => sqlx::query(sql::CLEAR_ORG_POLICY).bind(o.id).bind(key).execute(&mut *tx).await?,
        };
        record_in!(&mut *tx, event)?;
        tx.commit().await
    }.await)?;
    // this process at once; the others through the change feed
    core.apply_change(Change::Everything).await;
    Ok(parsed)
}

/// The value of organization `org_id`'s policy `key`, if set.
pub async fn get(db: &Db, org_id: i64, key: &str) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = on_db!(db, pool => sqlx::query_as(sql::ORG_POLICY)
        .bind(org_id)
        .bind(key)
        .fetch_optional(pool)
        .await)?;
    Ok(row.map(|(v,)| v))
}

/// Every policy of organization `org_id`, in [`KEYS`] order, as (key,
/// value; `none` when not set).
pub async fn all(db: &Db, org_id: i64) -> Result<Vec<(String, String)>, sqlx::Error> {
    let rows: Vec<(String, String)> = on_db!(db, pool => sqlx::query_as(sql::ORG_POLICIES)
        .bind(org_id)
        .fetch_all(pool)
        .await)?;
    Ok(KEYS
        .iter()
        .map(|k| {
            let v = rows
                .iter()
                .find(|(key, _)| key == k)
                .map_or_else(|| "none".to_owned(), |(_, v)| v.clone());
            ((*k).to_owned(), v)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organizations_set_approval_and_the_token_keys() {
        assert_eq!(KEYS[0], APPROVAL_REQUIRED_FOR);
        assert_eq!(KEYS[1..], *ORG_KEYS);
    }

    #[test]
    fn organizations_set_the_token_keys_in_their_canonical_form() {
        assert_eq!(
            canonical("max_lifetime_days", " 30 ").unwrap().as_deref(),
            Some("30")
        );
        assert_eq!(canonical("max_lifetime_days", "none").unwrap(), None);
        assert_eq!(
            canonical("max_lifetime_days", "0").unwrap(),
            None,
            "0 clears it"
        );
        assert_eq!(
            canonical("forbid_full_access", "yes").unwrap().as_deref(),
            Some("true")
        );
        assert_eq!(canonical("forbid_full_access", "false").unwrap(), None);
        assert_eq!(
            canonical("allowed_scopes", "wiki:read code:write")
                .unwrap()
                .as_deref(),
            Some("code:write wiki:read")
        );
        assert_eq!(
            canonical("approval_required_for", "all")
                .unwrap()
                .as_deref(),
            Some("all")
        );
        for (key, value) in [
            ("sso_required", "true"),
            ("allowed_workload_issuers", "https://x"),
            ("nope", "1"),
            ("max_lifetime_days", "3651"),
            ("max_lifetime_days", "\u{0}"),
            ("forbid_full_access", "maybe"),
            ("allowed_scopes", "code:admin"),
            ("", ""),
        ] {
            assert!(canonical(key, value).is_err(), "{key}={value}");
        }
        let RequestError::Invalid(field, why) = canonical("sso_required", "true").unwrap_err()
        else {
            panic!("a field error")
        };
        assert_eq!(field, "key");
        assert!(why.contains("server-wide"), "{why}");
    }
}
