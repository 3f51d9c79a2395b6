//! The notification address: set, confirmed by a mailed code, removed.

use super::*;

/// How long a confirmation link works.
pub const CONFIRM_HOURS: i64 = 24;

pub(super) fn code_hash(code: &str) -> Vec<u8> {
    Sha256::digest(code.as_bytes()).to_vec()
}

/// Sets `email` as the user's address to confirm and mails the link (the
/// code is only in the mail; the store keeps its hash).
pub async fn set_email(
    core: &Core,
    user_id: i64,
    email: &str,
    client: Option<&Client>,
) -> Result<String, NoticeError> {
    let Some(mailer) = &core.lifecycle.mailer else {
        return Err(NoticeError::Invalid(
            "email",
            "This server does not send mail: no SMTP server is configured.".into(),
        ));
    };
    let address =
        crate::domain::mail::parse_address(email).map_err(|e| NoticeError::Invalid("email", e))?;
    let address = address.to_string();
    let at = now();
    let recent: Option<(Option<DateTime<Utc>>,)> = on_db!(&core.db, pool => sqlx::query_as(
        crate::domain::users::EMAIL_CODE_EXPIRES,
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await)?;
    if let Some((Some(exp),)) = recent {
        if exp - Span::hours(CONFIRM_HOURS) > at - Span::seconds(60) {
            return Err(NoticeError::Invalid(
                "email",
                "A link was sent less than a minute ago; wait a minute before asking for another."
                    .into(),
            ));
        }
    }
    let mut raw = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    let code = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, raw);
    let link = format!(
        "{}/profile/security/notifications/confirm?code={code}",
        core.config.public_url
    );
    let body = format!(
        "Someone (hopefully you) asked Tessera to send notices about personal access tokens to this address.\n\n\
         Confirm it within {CONFIRM_HOURS} hours: {link}\n\nIf that was not you, ignore this mail.\n"
    );
    mailer
        .send(
            &address,
            "Confirm your e-mail address for Tessera",
            &body,
            None,
        )
        .await
        .map_err(|e| {
            NoticeError::Invalid(
                "email",
                format!("Could not send the confirmation mail: {e}"),
            )
        })?;
    on_db!(&core.db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(crate::domain::users::SET_EMAIL_PENDING)
        .bind(&address)
        .bind(code_hash(&code))
        .bind(at + Span::hours(CONFIRM_HOURS))
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        let ev = Event::new("email.confirmation_sent", Some(user_id), None, By::User(user_id), client)
            .with(json!({"email": address}));
        audit::record_in!(&mut *tx, ev)?;
        tx.commit().await?;
    });
    Ok(address)
}

/// Confirms the address the link with `code` was sent to; returns it.
pub async fn confirm_email(
    core: &Core,
    user_id: i64,
    code: &str,
    client: Option<&Client>,
) -> Result<String, NoticeError> {
    let invalid = || {
        NoticeError::Invalid(
            "code",
            "This confirmation link is not valid or has expired. Ask for a new one.".into(),
        )
    };
    if code.is_empty() || code.len() > 100 {
        return Err(invalid());
    }
    let at = now();
    on_db!(&core.db, pool => {
        let mut tx = pool.begin().await?;
        let row: Option<(Option<String>,)> = sqlx::query_as(crate::domain::users::CONFIRM_EMAIL)
        .bind(at)
        .bind(user_id)
        .bind(code_hash(code))
        .fetch_optional(&mut *tx)
        .await?;
        let Some((Some(email),)) = row else {
            return Err(invalid());
        };
        let ev = Event::new("email.confirmed", Some(user_id), None, By::User(user_id), client)
            .with(json!({"email": email}));
        audit::record_in!(&mut *tx, ev)?;
        tx.commit().await?;
        Ok(email)
    })
}

/// Removes the user's address (and any waiting for confirmation).
pub async fn remove_email(
    core: &Core,
    user_id: i64,
    client: Option<&Client>,
) -> Result<(), NoticeError> {
    on_db!(&core.db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(crate::domain::users::REMOVE_EMAIL)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        let ev = Event::new("email.removed", Some(user_id), None, By::User(user_id), client);
        audit::record_in!(&mut *tx, ev)?;
        tx.commit().await?;
        Ok(())
    })
}
