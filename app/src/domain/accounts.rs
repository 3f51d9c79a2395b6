//! The account service: sign-up, sign-in and password changes. Returns either
//! the outcome or a [`FormFeedback`] the page renders next to the fields.

use super::{
    audit::{self, record_in, By, Event},
    db::{is_unique_violation, now, on_db},
    sessions::{self, Client, NewSession, Session},
    throttle::{address_key, Door, PasswordAttempt, RetryAfter},
    Core,
};
use crate::model::{rules, CurrentUser, FormFeedback};

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

/// How a page answers each account failure (the form comes back with
/// what the service kept of it).
impl From<AccountError> for super::refusal::Refusal {
    fn from(e: AccountError) -> Self {
        use super::refusal::Refusal;
        use http::StatusCode;
        let with = Refusal::form;
        match e {
            AccountError::Invalid(fb) => with(StatusCode::UNPROCESSABLE_ENTITY, fb, None),
            AccountError::BadCredentials(fb) => with(StatusCode::UNAUTHORIZED, fb, None),
            AccountError::Throttled(wait, fb) => {
                with(StatusCode::TOO_MANY_REQUESTS, fb, Some(wait.seconds()))
            }
            AccountError::SignupDisabled => {
                Refusal::new(StatusCode::FORBIDDEN, "Sign-up is disabled on this server.")
            }
            AccountError::Hash(super::passwords::HashError::Busy) => Refusal::busy(),
            e @ (AccountError::Database(_) | AccountError::Hash(_)) => Refusal::ours(&e),
        }
    }
}

/// Why `password` cannot be a new password: the length and character rules
/// (shared with the browser), then its strength (zxcvbn, on the hashing
/// threads under their bound: [`super::passwords::Hasher::strength_problem`]).
pub(crate) async fn new_password_problem(
    core: &Core,
    password: &str,
    username: &str,
) -> Result<Option<String>, AccountError> {
    if let Some(problem) = rules::password_problem(password, username) {
        return Ok(Some(problem));
    }
    Ok(core
        .hasher
        .strength_problem(password.to_owned(), username.to_owned())
        .await?)
}

/// The form message for the right password of a disabled account.
pub const ACCOUNT_DISABLED: &str =
    "This account is disabled. Ask an administrator of this Tessera to enable it.";

/// The form message for the right password of someone who must use single
/// sign-on (`sso_required`).
fn sso_required_message(core: &Core) -> String {
    match &core.sso {
        Some(sso) => format!(
            "Your organization signs in through single sign-on: use \u{201c}{}\u{201d}.",
            sso.config.label
        ),
        None => "Your organization requires single sign-on, which this server does not offer yet. Ask an administrator.".into(),
    }
}

/// A new session of `id`, whose password was just entered (in sudo mode).
async fn password_session(
    core: &Core,
    id: i64,
    client: &Client,
) -> Result<NewSession, sqlx::Error> {
    sessions::create(&core.db, id, client, "session.signed_in", "password", now()).await
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
    client: &Client,
    username: &str,
    password: &str,
    confirm: &str,
) -> Result<(CurrentUser, NewSession), AccountError> {
    if !core.config.signup_enabled || core.policies_for_write().await.sso_required {
        return Err(AccountError::SignupDisabled);
    }
    let username = username.trim();
    let mut fb = feedback_with(&[("username", username)]);
    // the cheap checks first: the rules, then the throttle, and only then
    // the strength estimate (which costs milliseconds of CPU)
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
    let address = address_key(client.ip);
    let too_many = |wait: RetryAfter, mut fb: FormFeedback| {
        fb.message = Some(format!(
            "Too many new accounts from your address. Try again in {}.",
            wait.in_words()
        ));
        AccountError::Throttled(wait, fb)
    };
    if let Err(wait) = core.throttle.check(Door::SignUpAddress, &address).await? {
        return Err(too_many(wait, fb));
    }
    if let Some(problem) = new_password_problem(core, password, username).await? {
        fb.fields.insert("password".into(), problem);
        return Err(AccountError::Invalid(fb));
    }
    if let Err(wait) = core
        .throttle
        .hit(&[(Door::SignUpAddress, &address)])
        .await?
    {
        return Err(too_many(wait, fb));
    }
    let hash = core.hasher.hash(password.to_owned()).await?;
    let created = now();
    let key = username.to_lowercase();
    let inserted: Result<i64, sqlx::Error> = on_db!(&core.db, pool => async {
        let mut tx = pool.begin().await?;
        let (id,): (i64,) = sqlx::query_as(
            super::users::INSERT,
        )
        .bind(username)
        .bind(&key)
        .bind(&hash)
        .bind(created)
        .bind(false)
        .fetch_one(&mut *tx)
        .await?;
        let event = Event::new("account.created", Some(id), None, By::User(id), Some(client));
        record_in!(&mut *tx, event)?;
        tx.commit().await?;
        Ok(id)
    }.await);
    let id = match inserted {
        Ok(id) => id,
        Err(e) if is_unique_violation(&e) => {
            fb.fields
                .insert("username".into(), "That username is already taken.".into());
            return Err(AccountError::Invalid(fb));
        }
        Err(e) => return Err(e.into()),
    };
    let session = password_session(core, id, client).await?;
    Ok((
        CurrentUser {
            id,
            username: username.to_owned(),
            is_admin: false,
            must_change_password: false,
        },
        session,
    ))
}

/// What a right password leads to.
#[derive(Debug)]
pub enum SignedIn {
    /// A session: the account has no second factor.
    Session(CurrentUser, NewSession),
    /// The second factor is next: the value of the cookie that binds the
    /// waiting sign-in to this browser.
    SecondFactor(String),
}

/// How long a sign-in refused because the hashing queue is full waits
/// before it is answered (503, `Retry-After`), with up to as much again at
/// random. A flood's refusals cost little each, so answered at once a
/// client in a loop sends them as fast as they come back, and the flood's
/// request rate — not its hashing, which runs at a lower priority — is
/// what slows token checks on the instance (docs/performance.md, session
/// 20: answering them sooner made the checks' p99 worse). Waiting costs a
/// timer, not a thread.
pub const BUSY_PAUSE: std::time::Duration = std::time::Duration::from_millis(500);

async fn busy_pause() {
    use rand::Rng as _;
    let jitter = rand::thread_rng().gen_range(0..=BUSY_PAUSE.as_millis() as u64);
    tokio::time::sleep(BUSY_PAUSE + std::time::Duration::from_millis(jitter)).await;
}

/// Checks a username and password, throttled per client IP and per account,
/// and opens a session when they match, or (for an account with a second
/// factor) a sign-in waiting for it, headed for `next`.
pub async fn sign_in(
    core: &Core,
    client: &Client,
    username: &str,
    password: &str,
    next: &str,
) -> Result<SignedIn, AccountError> {
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
    let attempt = match PasswordAttempt::begin(&core.throttle, client, username).await? {
        Ok(attempt) => attempt,
        Err(wait) => {
            fb.message = Some(too_many_attempts(wait));
            return Err(AccountError::Throttled(wait, fb));
        }
    };
    // a name no account can have (bad characters, NUL…) is looked up by
    // no query; it still costs the same hash below
    type Found = (
        i64,
        String,
        String,
        Option<chrono::DateTime<chrono::Utc>>,
        bool,
        bool,
    );
    let row: Option<Found> = if rules::username_problem(username).is_some() {
        None
    } else {
        on_db!(&core.db, pool => sqlx::query_as(
            super::users::CREDENTIALS,
        )
        .bind(&attempt.account)
        .fetch_optional(pool)
        .await)?
    };
    let (user, hash, disabled) = match row {
        Some((id, name, hash, disabled, is_admin, must_change)) => (
            Some(CurrentUser {
                id,
                username: name,
                is_admin,
                must_change_password: must_change,
            }),
            Some(hash),
            disabled.is_some(),
        ),
        None => (None, None, false),
    };
    let ok = match core.hasher.verify(password.to_owned(), hash).await {
        Err(super::passwords::HashError::Busy) => {
            busy_pause().await;
            return Err(super::passwords::HashError::Busy.into());
        }
        other => other?,
    };
    match user {
        Some(_) if ok && disabled => {
            // the password was right: telling its holder is no oracle
            attempt.succeeded(&core.throttle).await?;
            fb.message = Some(ACCOUNT_DISABLED.into());
            Err(AccountError::BadCredentials(fb))
        }
        Some(user) if ok && !user.is_admin && core.policies_for_write().await.sso_required => {
            // the password was right; the organization wants its identity
            // provider instead (administrators keep the password: break-glass)
            attempt.succeeded(&core.throttle).await?;
            fb.message = Some(sso_required_message(core));
            Err(AccountError::BadCredentials(fb))
        }
        Some(user) if ok => {
            if super::two_factor::factor_count(&core.db, user.id).await? > 0 {
                // the attempt stays counted until the second factor is
                // right: a known password does not reset the limit on
                // guessing codes
                let cookie = super::two_factor::begin_sign_in(core, user.id, next).await?;
                return Ok(SignedIn::SecondFactor(cookie));
            }
            attempt.succeeded(&core.throttle).await?;
            let session = password_session(core, user.id, client).await?;
            Ok(SignedIn::Session(user, session))
        }
        found => {
            // failures are recorded for accounts that exist (the throttle
            // bounds how many); a name typed for none is not kept
            if let Some(user) = found {
                let event = Event::new(
                    "session.sign_in_failed",
                    Some(user.id),
                    None,
                    By::User(user.id),
                    Some(client),
                );
                audit::record(&core.db, &event).await?;
            }
            fb.message = Some(BAD_CREDENTIALS.into());
            Err(AccountError::BadCredentials(fb))
        }
    }
}

/// The form message telling a throttled client how long to wait.
pub fn too_many_attempts(wait: RetryAfter) -> String {
    wait.too_many_attempts()
}

/// Changes the password after checking the current one, ends every session
/// of the user (all devices), and opens a fresh one for this browser.
pub async fn change_password(
    core: &Core,
    client: &Client,
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
    if let Some(problem) = new_password_problem(core, new, &user.username).await? {
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
        fb.fields.insert("current".into(), WRONG_PASSWORD.into());
        return Err(AccountError::Invalid(fb));
    }
    check_password(core, client, user, current, "current", fb).await??;
    let new_hash = core.hasher.hash(new.to_owned()).await?;
    let event = Event::new(
        "password.changed",
        Some(user.id),
        None,
        By::User(user.id),
        Some(client),
    );
    on_db!(&core.db, pool => async {
        let mut tx = pool.begin().await?;
        sqlx::query(super::users::SET_PASSWORD)
            .bind(&new_hash)
            .bind(now())
            .bind(user.id)
            .execute(&mut *tx)
            .await?;
        record_in!(&mut *tx, event)?;
        tx.commit().await
    }.await)?;
    sessions::delete_all_for_user(&core.db, user.id).await?;
    // and every sign-in the old password began, waiting for a second factor
    super::two_factor::end_waiting(core, user.id).await?;
    Ok(password_session(core, user.id, client).await?)
}

/// Checks the signed-in `user`'s password (throttled like sign-in). A wrong
/// or throttled one is the inner `Err`, with the message on `field`.
async fn check_password(
    core: &Core,
    client: &Client,
    user: &CurrentUser,
    password: &str,
    field: &str,
    mut fb: FormFeedback,
) -> Result<Result<(), AccountError>, AccountError> {
    let attempt = match PasswordAttempt::begin(&core.throttle, client, &user.username).await? {
        Ok(attempt) => attempt,
        Err(wait) => {
            fb.message = Some(too_many_attempts(wait));
            return Ok(Err(AccountError::Throttled(wait, fb)));
        }
    };
    let hash: Option<(String,)> = on_db!(&core.db, pool => sqlx::query_as(
        super::users::PASSWORD_HASH,
    )
    .bind(user.id)
    .fetch_optional(pool)
    .await)?;
    if !core
        .hasher
        .verify(password.to_owned(), hash.map(|h| h.0))
        .await?
    {
        fb.fields.insert(field.into(), WRONG_PASSWORD.into());
        return Ok(Err(AccountError::Invalid(fb)));
    }
    attempt.succeeded(&core.throttle).await?;
    Ok(Ok(()))
}

/// The field message for a wrong password of the signed-in user.
pub const WRONG_PASSWORD: &str = "That is not your current password.";

pub use crate::model::SUDO_FIELD;

/// Sudo mode: whether `session` may do what needs a recent password. True
/// when the password was entered within the sudo window, or
/// when `password` (the [`SUDO_FIELD`], empty when not sent) is the user's
/// password — checked like a sign-in, after which sudo mode starts again
/// for this session. A wrong one is an error on the field.
pub async fn sudo(
    core: &Core,
    client: &Client,
    session: &Session,
    password: &str,
) -> Result<bool, AccountError> {
    if session.in_sudo {
        return Ok(true);
    }
    if password.is_empty() {
        return Ok(false);
    }
    let mut fb = FormFeedback::default();
    if password.chars().count() > rules::PASSWORD_MAX {
        fb.fields.insert(SUDO_FIELD.into(), WRONG_PASSWORD.into());
        return Err(AccountError::Invalid(fb));
    }
    check_password(core, client, &session.user, password, SUDO_FIELD, fb).await??;
    sessions::password_entered(&core.db, &session.handle).await?;
    Ok(true)
}
