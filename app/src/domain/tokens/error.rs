//! Why a token operation failed, and how each failure is answered: the HTTP
//! status and stable code (used by the API, the plain forms and the server
//! functions alike) and the words shown to a person. Defined once, here.

use crate::domain::{
    accounts::{AccountError, SUDO_FIELD},
    throttle::RetryAfter,
};
use crate::tokens::{spec::Broken, FieldErrors, TokenView};
use http::StatusCode;

/// A token operation's failure.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Bad input: field name → message.
    #[error("invalid input")]
    Invalid(FieldErrors),
    /// The caller (a token) would act beyond its own scopes, which are given.
    #[error("beyond the caller's scopes")]
    BeyondCaller(String),
    /// No such token for this user (also: another user's token).
    #[error("token not found")]
    NotFound,
    /// The token is revoked and cannot change.
    #[error("revoked tokens cannot be changed")]
    Revoked,
    /// The token has expired and cannot change.
    #[error("expired tokens cannot be changed")]
    Expired,
    /// The same form was submitted again; the token already exists.
    #[error("this form was already submitted")]
    AlreadySubmitted(Box<TokenView>),
    /// A person must confirm their password first (sudo mode); the text
    /// says for what ("to create a full-access token").
    #[error("password confirmation required")]
    SudoRequired(&'static str),
    /// Too many wrong password confirmations: wait this long.
    #[error("too many attempts")]
    Throttled(RetryAfter),
    /// An organization policy (its key) refuses this; the sentence says how.
    #[error("refused by policy {0}")]
    PolicyViolation(&'static str, String),
    /// The password check could not run now (hashing queue full).
    #[error("busy")]
    Busy,
    /// The token was minted for a trusted workload: it is never edited,
    /// extended or given a new secret.
    #[error("workload tokens cannot be changed")]
    FromWorkload,
    /// The organization requires a second factor (`require_two_factor`)
    /// and the token's owner has none yet.
    #[error("two-factor authentication required")]
    TwoFactorRequired,
    /// The store failed (logged; answered generically).
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<AccountError> for TokenError {
    /// A failed sudo-mode confirmation, as the token transports answer it.
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Invalid(fb) | AccountError::BadCredentials(fb) => {
                TokenError::Invalid(fb.fields)
            }
            AccountError::Throttled(wait, _) => TokenError::Throttled(wait),
            AccountError::Database(e) => TokenError::Database(e),
            AccountError::Hash(_) | AccountError::SignupDisabled => TokenError::Busy,
        }
    }
}

impl From<FieldErrors> for TokenError {
    fn from(fields: FieldErrors) -> Self {
        TokenError::Invalid(fields)
    }
}

impl From<Broken> for TokenError {
    fn from(b: Broken) -> Self {
        match b {
            Broken::Fields(f) => TokenError::Invalid(f),
            Broken::BeyondCaller(own) => TokenError::BeyondCaller(own),
        }
    }
}

impl TokenError {
    /// The HTTP status every transport answers this failure with.
    pub fn status(&self) -> StatusCode {
        match self {
            TokenError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            TokenError::BeyondCaller(_) => StatusCode::FORBIDDEN,
            TokenError::NotFound => StatusCode::NOT_FOUND,
            TokenError::Revoked
            | TokenError::Expired
            | TokenError::AlreadySubmitted(_)
            | TokenError::FromWorkload => StatusCode::CONFLICT,
            TokenError::SudoRequired(_)
            | TokenError::PolicyViolation(..)
            | TokenError::TwoFactorRequired => StatusCode::FORBIDDEN,
            TokenError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            TokenError::Busy | TokenError::Database(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Seconds to wait before trying again (`Retry-After`), when it applies.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            TokenError::Throttled(wait) => Some(wait.seconds()),
            TokenError::Busy => Some(2),
            _ => None,
        }
    }

    /// The stable machine-readable code (the API's `error` field).
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::Invalid(_) => "invalid_request",
            TokenError::BeyondCaller(_) => "insufficient_scope",
            TokenError::NotFound => "not_found",
            TokenError::Revoked => "token_revoked",
            TokenError::Expired => "token_expired",
            TokenError::AlreadySubmitted(_) => "already_submitted",
            TokenError::FromWorkload => "workload_token",
            TokenError::SudoRequired(_) => "sudo_required",
            TokenError::PolicyViolation(..) => "policy_violation",
            TokenError::TwoFactorRequired => "two_factor_required",
            TokenError::Throttled(_) => "too_many_attempts",
            TokenError::Busy | TokenError::Database(_) => "unavailable",
        }
    }

    /// True for failures of ours rather than of the request (to be logged).
    pub fn is_internal(&self) -> bool {
        matches!(self, TokenError::Database(_))
    }

    /// Field name → message (empty unless the input was invalid).
    pub fn fields(&self) -> FieldErrors {
        match self {
            TokenError::Invalid(f) => f.clone(),
            TokenError::SudoRequired(_) => {
                FieldErrors::from([(SUDO_FIELD.to_owned(), self.message())])
            }
            _ => FieldErrors::new(),
        }
    }

    /// The sentence for the whole form, or `None` when the field messages
    /// say it all.
    pub fn form_message(&self) -> Option<String> {
        match self {
            TokenError::Invalid(_) | TokenError::SudoRequired(_) => None,
            _ => Some(self.message()),
        }
    }

    /// The sentence for a person (also the API's `message`).
    pub fn message(&self) -> String {
        match self {
            TokenError::Invalid(_) => "Some fields are not valid; see the field messages.".into(),
            TokenError::BeyondCaller(own) => format!(
                "This token cannot grant or act on scopes beyond its own ({own})."
            ),
            TokenError::NotFound => "That token does not exist.".into(),
            TokenError::Revoked => "This token is revoked. Revoked tokens cannot be edited, regenerated or restored.".into(),
            TokenError::Expired => "This token has expired. Expired tokens cannot be edited or regenerated; create a new one.".into(),
            TokenError::AlreadySubmitted(t) => format!(
                "This form was already submitted: the token \u{201c}{}\u{201d} exists. Its secret was shown once; if you missed it, regenerate the token.",
                t.name
            ),
            TokenError::FromWorkload => "This token was minted for a trusted workload: it cannot be edited, extended, given a new secret or make other tokens. The workload exchanges a fresh ID token instead.".into(),
            TokenError::SudoRequired(for_what) => format!("Confirm your password {for_what}."),
            TokenError::PolicyViolation(_, sentence) => sentence.clone(),
            TokenError::TwoFactorRequired => "Your organization requires two-factor authentication: add a passkey or an authenticator app under Security \u{2192} Two-factor authentication, then make tokens.".into(),
            TokenError::Throttled(wait) => crate::domain::accounts::too_many_attempts(*wait),
            TokenError::Busy => crate::domain::refusal::BUSY.into(),
            TokenError::Database(_) => crate::domain::refusal::OUR_SIDE.into(),
        }
    }
}

/// How a page answers a token failure (the API words it in
/// `machine::error`, from the same status, code and sentences).
impl From<TokenError> for crate::domain::refusal::Refusal {
    fn from(e: TokenError) -> Self {
        crate::domain::refusal::Refusal {
            status: e.status(),
            retry_after: e.retry_after(),
            internal: e.is_internal().then(|| e.to_string()),
            message: e.form_message(),
            fields: e.fields(),
            values: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_has_a_status_code_and_message() {
        let all = [
            TokenError::Invalid(FieldErrors::new()),
            TokenError::BeyondCaller("code:read".into()),
            TokenError::NotFound,
            TokenError::Revoked,
            TokenError::Expired,
            TokenError::Database(sqlx::Error::PoolTimedOut),
            TokenError::SudoRequired("to do this"),
            TokenError::Busy,
            TokenError::PolicyViolation("forbid_full_access", "No.".into()),
            TokenError::FromWorkload,
            TokenError::TwoFactorRequired,
        ];
        let codes: Vec<_> = all
            .iter()
            .map(|e| (e.status().as_u16(), e.code()))
            .collect();
        assert_eq!(
            codes,
            [
                (422, "invalid_request"),
                (403, "insufficient_scope"),
                (404, "not_found"),
                (409, "token_revoked"),
                (409, "token_expired"),
                (503, "unavailable"),
                (403, "sudo_required"),
                (503, "unavailable"),
                (403, "policy_violation"),
                (409, "workload_token"),
                (403, "two_factor_required"),
            ]
        );
        assert_eq!(
            all[6].fields().get(SUDO_FIELD).map(String::as_str),
            Some("Confirm your password to do this.")
        );
        assert_eq!(all[7].retry_after(), Some(2));
        assert!(all.iter().all(|e| !e.message().is_empty()));
        assert_eq!(all[0].form_message(), None);
        assert!(all[5].is_internal() && !all[2].is_internal());
    }
}
