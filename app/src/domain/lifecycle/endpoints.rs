//! Webhook endpoints of a user or of the organization: added, deleted,
//! tested.

use super::*;

/// Who owns an endpoint: a user, or the organization (administrators).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// A user's own events.
    User(i64),
    /// Every user's events (an administrator acts).
    Everyone,
}

impl Owner {
    /// Who acts on an endpoint of this owner: the user, or the
    /// administrator `acting` for the organization's.
    fn actor(self, acting: i64) -> By {
        match self {
            Owner::User(u) => By::User(u),
            Owner::Everyone => By::Admin(Some(acting)),
        }
    }
}

/// Adds an endpoint; returns its id and its signing secret (shown once).
pub async fn add_webhook(
    core: &Core,
    owner: Owner,
    acting: i64,
    url: &str,
    description: &str,
    client: Option<&Client>,
) -> Result<(i64, String), NoticeError> {
    let url = webhooks::check_url(url, core.lifecycle.config.allow_private_webhooks)
        .map_err(|e| NoticeError::Invalid("url", e))?;
    let description = description.trim();
    if description.chars().count() > webhooks::DESCRIPTION_MAX {
        return Err(NoticeError::Invalid(
            "description",
            format!(
                "A description has at most {} characters.",
                webhooks::DESCRIPTION_MAX
            ),
        ));
    }
    if description.chars().any(char::is_control) {
        return Err(NoticeError::Invalid(
            "description",
            "A description has no control characters.".into(),
        ));
    }
    let owner_id = match owner {
        Owner::User(u) => Some(u),
        Owner::Everyone => None,
    };
    let secret = webhooks::new_secret();
    let at = now();
    let by = owner.actor(acting);
    let id = on_db!(&core.db, pool => {
        let mut tx = pool.begin().await?;
        let (count,): (i64,) = sqlx::query_as(
            sql::WEBHOOKS_OF_OWNER,
        )
        .bind(owner_id)
        .fetch_one(&mut *tx)
        .await?;
        if count >= webhooks::MAX_PER_OWNER {
            return Err(NoticeError::Invalid(
                "url",
                format!("At most {} webhooks; delete one first.", webhooks::MAX_PER_OWNER),
            ));
        }
        let (id,): (i64,) = sqlx::query_as(
            sql::INSERT_WEBHOOK,
        )
        .bind(owner_id)
        .bind(url.as_str())
        .bind(description)
        .bind(&secret)
        .bind(at)
        .bind(acting)
        .fetch_one(&mut *tx)
        .await?;
        let ev = Event::new("webhook.created", owner_id, None, by, client)
            .with(json!({"webhook": id, "url": url.as_str(), "for": if owner_id.is_some() { "own events" } else { "every user's events" }}));
        audit::record_in!(&mut *tx, ev)?;
        tx.commit().await?;
        id
    });
    Ok((id, secret))
}

/// The endpoint `id` if `owner` owns it: (its user id).
pub(super) async fn owned(core: &Core, owner: Owner, id: i64) -> Result<Option<i64>, NoticeError> {
    let row: Option<(Option<i64>,)> = on_db!(&core.db, pool => sqlx::query_as(
        sql::WEBHOOK_OWNER,
    )
    .bind(id)
    .fetch_optional(pool)
    .await)?;
    match (row, owner) {
        (Some((Some(u),)), Owner::User(me)) if u == me => Ok(Some(u)),
        (Some((None,)), Owner::Everyone) => Ok(None),
        _ => Err(NoticeError::NotFound),
    }
}

/// Deletes an endpoint (its pending deliveries go with it).
pub async fn delete_webhook(
    core: &Core,
    owner: Owner,
    acting: i64,
    id: i64,
    client: Option<&Client>,
) -> Result<(), NoticeError> {
    let user = owned(core, owner, id).await?;
    let by = owner.actor(acting);
    on_db!(&core.db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(sql::DELETE_WEBHOOK).bind(id).execute(&mut *tx).await?;
        let ev = Event::new("webhook.deleted", user, None, by, client).with(json!({"webhook": id}));
        audit::record_in!(&mut *tx, ev)?;
        tx.commit().await?;
        Ok(())
    })
}

/// Queues a `webhook.test` event for endpoint `id` only.
pub async fn test_webhook(
    core: &Core,
    owner: Owner,
    acting: i64,
    id: i64,
) -> Result<(), NoticeError> {
    owned(core, owner, id).await?;
    // each test is up to eight slow attempts at someone's endpoint: a few an hour
    let key = id.to_string();
    if let Err(wait) = core
        .throttle
        .hit(&[(crate::domain::throttle::Door::WebhookTest, &key)])
        .await?
    {
        return Err(NoticeError::TooMany(wait));
    }
    let mut raw = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    let nonce: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let notice = Notice {
        key: format!("test:{id}:{nonce}"),
        event: "webhook.test",
        user_id: acting,
        token_id: None,
        subject: "Test event from Tessera".into(),
        body: "This is a test event.".into(),
        data: json!({"webhook": id, "note": "This is a test event sent from the Notifications page."}),
        only_webhook: Some(id),
    };
    notify(core, &notice).await?;
    Ok(())
}
