//! The account service: sign-up, sign-in and password changes. Returns either
//! the outcome or a [`FormFeedback`] the page renders next to the fields.

use super::{
    db::{is_unique_violation, now, on_db},
    sessions::{self, NewSession},
    throttle::{account_key, address_key, Door, RetryAfter},
    Core,
};
use crate::model::{rules, CurrentUser, FormFeedback};
use std::net::IpAddr;

/// Why a sign-up, sign-in or password change did not go through.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Bad input: the form is shown again with these messages.
    #[error("invalid input")]
    Invalid(FormFeedback),
    /// Wrong username or password (the same answer for both).
    #[error("incorrect username or password")]
    BadCredentials(FormFeedback),
    /// Too many failed sign-ins from this client or for this account: wait,
    /// then try again.
    #[error("too many attempts")]
    Throttled(RetryAfter, FormFeedback),
    /// Sign-up was attempted while the operator has disabled it.
    #[error("sign-up is disabled")]
    SignupDisabled,
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Password hashing failed.
    #[error(transparent)]
    Hash(#[from] super::passwords::HashError),
}

/// The form message for a wrong username or password (the same for both).
pub const BAD_CREDENTIALS: &str = "Incorrect username or password.";

fn feedback_with(values: &[(&str, &str)]) -> FormFeedback {
    let mut fb = FormFeedback::default();
    for (k, v) in values {
        fb.values.insert((*k).into(), (*v).into());
    }
    fb
}

/// Creates an account (when sign-up is enabled) after checking the username
/// and password rules, and opens a session for the new user.
pub async fn sign_up(
    core: &Core,
    client_ip: IpAddr,
    username: &str,
    password: &str,
    confirm: &str,
) -> Result<(CurrentUser, NewSession), AccountError> {
    if !core.config.signup_enabled {
        return Err(AccountError::SignupDisabled);
    }
    let username = username.trim();
    let mut fb = feedback_with(&[("username", username)]);
    if let Some(problem) = rules::username_problem(username) {
        fb.fields.insert("username".into(), problem);
    }
    if let Some(problem) = rules::password_problem(password, username) {
        fb.fields.insert("password".into(), problem);
    } else if password != confirm {
        fb.fields
            .insert("confirm".into(), "Passwords do not match.".into());
    }
    if !fb.fields.is_empty() {
        return Err(AccountError::Invalid(fb));
    }
    let address = address_key(client_ip);
    if let Err(wait) = core
        .throttle
        .hit(&[(Door::SignUpAddress, &address)])
        .await?
    {
        fb.message = Some(format!(
            "Too many new accounts from your address. Try again in {}.",
            in_words(wait)
        ));
        return Err(AccountError::Throttled(wait, fb));
    }
    let hash = core.hasher.hash(password.to_owned()).await?;
    let created = now();
    let key = username.to_lowercase();
    let inserted: Result<(i64,), sqlx::Error> = on_db!(&core.db, pool => sqlx::query_as(
        "INSERT INTO users (username, username_key, password_hash, created_at, password_changed_at) \
         VALUES ($1, $2, $3, $4, $4) RETURNING id",
    )
    .bind(username)
    .bind(&key)
    .bind(&hash)
    .bind(created)
    .fetch_one(pool)
    .await);
    let id = match inserted {
        Ok((id,)) => id,
        Err(e) if is_unique_violation(&e) => {
            fb.fields
                .insert("username".into(), "That username is already taken.".into());
            return Err(AccountError::Invalid(fb));
        }
        Err(e) => return Err(e.into()),
    };
    let session = sessions::create(&core.db, id).await?;
    Ok((
        CurrentUser {
            id,
            username: username.to_owned(),
        },
        session,
    ))
}

/// Checks a username and password, throttled per client IP and per account,
/// and opens a session when they match.
pub async fn sign_in(
    core: &Core,
    client_ip: IpAddr,
    username: &str,
    password: &str,
) -> Result<(CurrentUser, NewSession), AccountError> {
    let username = username.trim();
    let mut fb = feedback_with(&[("username", username)]);
    if username.is_empty() {
        fb.fields
            .insert("username".into(), "Enter your username.".into());
    }
    if password.is_empty() {
        fb.fields
            .insert("password".into(), "Enter your password.".into());
    }
    // Names and passwords longer than any that can exist are refused
    // before any other work (and never become throttle keys).
    if username.chars().count() > rules::USERNAME_MAX {
        fb.fields.insert(
            "username".into(),
            format!("Usernames are at most {} characters.", rules::USERNAME_MAX),
        );
    }
    if password.chars().count() > rules::PASSWORD_MAX {
        fb.fields.insert(
            "password".into(),
            format!("Passwords are at most {} characters.", rules::PASSWORD_MAX),
        );
    }
    if !fb.fields.is_empty() {
        return Err(AccountError::Invalid(fb));
    }
    let address = address_key(client_ip);
    let account = account_key(username);
    // counted before the password is checked: concurrent guesses cannot
    // slip past the limit
    let keys = [
        (Door::SignInAddress, address.as_str()),
        (Door::SignInAccount, account.as_str()),
    ];
    if let Err(wait) = core.throttle.hit(&keys).await? {
        fb.message = Some(too_many_attempts(wait));
        return Err(AccountError::Throttled(wait, fb));
    }
    let row: Option<(i64, String, String)> = on_db!(&core.db, pool => sqlx::query_as(
        "SELECT id, username, password_hash FROM users WHERE username_key = $1",
    )
    .bind(&account)
    .fetch_optional(pool)
    .await)?;
    let (user, hash) = match row {
        Some((id, name, hash)) => (Some(CurrentUser { id, username: name }), Some(hash)),
        None => (None, None),
    };
    let ok = core.hasher.verify(password.to_owned(), hash).await?;
    match user {
        Some(user) if ok => {
            core.throttle.clear(Door::SignInAccount, &account).await?;
            core.throttle.release(Door::SignInAddress, &address).await?;
            let session = sessions::create(&core.db, user.id).await?;
            Ok((user, session))
        }
        _ => {
            fb.message = Some(BAD_CREDENTIALS.into());
            Err(AccountError::BadCredentials(fb))
        }
    }
}

/// A wait in words: "40 seconds", "12 minutes".
fn in_words(wait: RetryAfter) -> String {
    let secs = wait.seconds();
    if secs < 90 {
        format!("{secs} seconds")
    } else {
        format!("{} minutes", secs.div_ceil(60))
    }
}

/// The form message telling a throttled client how long to wait.
pub fn too_many_attempts(wait: RetryAfter) -> String {
    format!(
        "Too many sign-in attempts. Try again in {}.",
        in_words(wait)
    )
}

/// Changes the password after checking the current one, ends every session
/// of the user (all devices), and opens a fresh one for this browser.
pub async fn change_password(
    core: &Core,
    client_ip: IpAddr,
    user: &CurrentUser,
    current: &str,
    new: &str,
    confirm: &str,
) -> Result<NewSession, AccountError> {
    let mut fb = FormFeedback::default();
    if current.is_empty() {
        fb.fields
            .insert("current".into(), "Enter your current password.".into());
    }
    if let Some(problem) = rules::password_problem(new, &user.username) {
        fb.fields.insert("password".into(), problem);
    } else if new != confirm {
        fb.fields
            .insert("confirm".into(), "Passwords do not match.".into());
    } else if new == current {
        fb.fields.insert(
            "password".into(),
            "Choose a password different from the current one.".into(),
        );
    }
    if !fb.fields.is_empty() {
        return Err(AccountError::Invalid(fb));
    }
    if current.chars().count() > rules::PASSWORD_MAX {
        fb.fields.insert(
            "current".into(),
            "That is not your current password.".into(),
        );
        return Err(AccountError::Invalid(fb));
    }
    let address = address_key(client_ip);
    let account = account_key(&user.username);
    let keys = [
        (Door::SignInAddress, address.as_str()),
        (Door::SignInAccount, account.as_str()),
    ];
    if let Err(wait) = core.throttle.hit(&keys).await? {
        fb.message = Some(too_many_attempts(wait));
        return Err(AccountError::Throttled(wait, fb));
    }
    let hash: Option<(String,)> = on_db!(&core.db, pool => sqlx::query_as(
        "SELECT password_hash FROM users WHERE id = $1",
    )
    .bind(user.id)
    .fetch_optional(pool)
    .await)?;
    if !core
        .hasher
        .verify(current.to_owned(), hash.map(|h| h.0))
        .await?
    {
        fb.fields.insert(
            "current".into(),
            "That is not your current password.".into(),
        );
        return Err(AccountError::Invalid(fb));
    }
    core.throttle.clear(Door::SignInAccount, &account).await?;
    core.throttle.release(Door::SignInAddress, &address).await?;
    let new_hash = core.hasher.hash(new.to_owned()).await?;
    on_db!(&core.db, pool => sqlx::query(
        "UPDATE users SET password_hash = $1, password_changed_at = $2 WHERE id = $3",
    )
    .bind(&new_hash)
    .bind(now())
    .bind(user.id)
    .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    sessions::delete_all_for_user(&core.db, user.id).await?;
    Ok(sessions::create(&core.db, user.id).await?)
}
