//! Plain data shared by the server and the browser: what a page needs to know
//! about the visitor, and the field-level feedback a form submission produced.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The signed-in user as the UI sees it. Never carries a secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    /// The user's database id.
    pub id: i64,
    /// The name the user signs in with, as they registered it.
    pub username: String,
    /// Whether the user is an administrator (the Administration pages).
    #[serde(default)]
    pub is_admin: bool,
}

/// Everything the shell needs to render the header and the auth pages.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The signed-in user, or `None` for an anonymous visitor.
    pub user: Option<CurrentUser>,
    /// Whether new accounts may be created (the sign-up page is offered).
    pub signup_enabled: bool,
    /// Set when the page is rendered as the answer to a form POST.
    pub feedback: Option<FormFeedback>,
    /// The session entered its password in the last 10 minutes (sudo
    /// mode): sensitive actions ask for it again otherwise.
    pub in_sudo: bool,
}

/// The outcome of a plain HTML form submission, rendered back into the form so
/// nothing the user typed (except passwords) is lost.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FormFeedback {
    /// A message for the whole form (e.g. "Incorrect username or password.").
    pub message: Option<String>,
    /// Field name → message.
    pub fields: BTreeMap<String, String>,
    /// Field name → the value the user sent (never a password).
    pub values: BTreeMap<String, String>,
    /// A token secret to show once (the answer to a create or regenerate).
    pub secret: Option<crate::tokens::NewSecret>,
}

impl FormFeedback {
    /// The message for the field `name`, if it has one.
    pub fn field(&self, name: &str) -> Option<String> {
        self.fields.get(name).cloned()
    }
    /// The value the user sent for the field `name`, or an empty string.
    pub fn value(&self, name: &str) -> String {
        self.values.get(name).cloned().unwrap_or_default()
    }
    /// True when there is no message, neither for the form nor for any field.
    pub fn is_empty(&self) -> bool {
        self.message.is_none() && self.fields.is_empty()
    }
}

/// The form field that carries sudo mode's password confirmation.
pub const SUDO_FIELD: &str = "sudo_password";

/// One signed-in browser of the user, as the Sessions section lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionView {
    /// The session's public handle (names it in the sign-out forms).
    pub handle: String,
    /// True for the session of the request that lists them.
    pub current: bool,
    /// "Firefox on Linux", from the user agent.
    pub device: String,
    /// When the user signed in.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When the session was last seen (to the minute).
    pub last_seen_at: chrono::DateTime<chrono::Utc>,
    /// The client address it was last seen from.
    pub ip: String,
    /// The full user agent, as sent (bounded).
    pub user_agent: String,
}

/// A short name for the browser and system a user agent names, e.g.
/// "Firefox on Linux"; "Unknown browser" when it names none we know. A
/// handful of families is enough to tell one's own devices apart.
pub fn describe_agent(agent: &str) -> String {
    const BROWSERS: [(&str, &str); 9] = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chromium/", "Chromium"),
        ("HeadlessChrome/", "Headless Chrome"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("git/", "git"),
    ];
    const SYSTEMS: [(&str, &str); 6] = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ];
    let browser = BROWSERS
        .iter()
        .find(|(needle, _)| agent.contains(needle))
        .map(|(_, name)| *name);
    let system = SYSTEMS
        .iter()
        .find(|(needle, _)| agent.contains(needle))
        .map(|(_, name)| *name);
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(s)) => format!("A browser on {s}"),
        (None, None) => "Unknown browser".to_owned(),
    }
}

/// Rules for account names and passwords. The server enforces them; the same
/// constants feed the browser's `minlength`/`maxlength`/`pattern` attributes.
pub mod rules {
    /// Shortest username, in characters.
    pub const USERNAME_MIN: usize = 2;
    /// Longest username, in characters.
    pub const USERNAME_MAX: usize = 32;
    /// HTML `pattern` equivalent of [`username_problem`]'s character rule.
    pub const USERNAME_PATTERN: &str = "[A-Za-z0-9][A-Za-z0-9._\\-]*";
    /// Shortest password, in characters.
    pub const PASSWORD_MIN: usize = 12;
    /// Longest password, in characters.
    pub const PASSWORD_MAX: usize = 128;

    /// Why a username is unacceptable, or `None` when it is fine.
    pub fn username_problem(username: &str) -> Option<String> {
        let len = username.chars().count();
        if username.trim().is_empty() {
            return Some("Enter a username.".into());
        }
        if len < USERNAME_MIN {
            return Some(format!(
                "Username must be at least {USERNAME_MIN} characters."
            ));
        }
        if len > USERNAME_MAX {
            return Some(format!(
                "Username must be at most {USERNAME_MAX} characters."
            ));
        }
        let mut chars = username.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok = username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !first_ok || !rest_ok {
            return Some(
                "Username may use only letters, digits, '.', '_' and '-', and must start with a letter or digit."
                    .into(),
            );
        }
        None
    }

    /// A few of the most common passwords of 12+ characters; a demanding
    /// deployment should add a breached-password check on top.
    const COMMON: &[&str] = &[
        "123456789012",
        "1234567890123",
        "12345678901234",
        "password1234",
        "password12345",
        "passwordpassword",
        "qwertyuiop12",
        "qwertyuiopasdf",
        "qwerty123456",
        "iloveyou1234",
        "111111111111",
        "000000000000",
        "abcdefghijkl",
        "abc123abc123",
        "letmein12345",
        "welcome12345",
        "administrator",
        "changeme1234",
        "trustno1trustno1",
        "football1234",
        "baseball1234",
        "1q2w3e4r5t6y",
        "1qaz2wsx3edc",
        "zaq12wsxcde3",
        "qazwsxedcrfv",
        "asdfghjkl123",
        "superman1234",
        "princess1234",
        "sunshine1234",
        "monkey123456",
    ];

    /// Why a new password is unacceptable, or `None` when it is fine.
    pub fn password_problem(password: &str, username: &str) -> Option<String> {
        let len = password.chars().count();
        if password.is_empty() {
            return Some("Enter a password.".into());
        }
        if len < PASSWORD_MIN {
            return Some(format!(
                "Password must be at least {PASSWORD_MIN} characters."
            ));
        }
        if len > PASSWORD_MAX {
            return Some(format!(
                "Password must be at most {PASSWORD_MAX} characters."
            ));
        }
        let lower = password.to_lowercase();
        let distinct = {
            let mut c: Vec<char> = lower.chars().collect();
            c.sort_unstable();
            c.dedup();
            c.len()
        };
        if distinct < 4 || COMMON.contains(&lower.as_str()) {
            return Some("This password is too easy to guess. Try a longer phrase.".into());
        }
        if !username.is_empty() && lower.contains(&username.to_lowercase()) {
            return Some("Password must not contain your username.".into());
        }
        None
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn usernames_are_checked_for_length_and_characters() {
            assert!(username_problem("alice").is_none());
            assert!(username_problem("a.b-c_9").is_none());
            assert!(username_problem("").is_some());
            assert!(username_problem("a").is_some());
            assert!(username_problem(&"x".repeat(33)).is_some());
            assert!(username_problem("-alice").is_some());
            assert!(username_problem("al ice").is_some());
            assert!(username_problem("alïce").is_some());
        }

        #[test]
        fn user_agents_are_named_by_browser_and_system() {
            let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
            assert_eq!(super::super::describe_agent(chrome), "Chrome on Linux");
            let phone = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Version/18.0 Mobile/15E148 Safari/604.1";
            assert_eq!(super::super::describe_agent(phone), "Safari on iOS");
            assert_eq!(super::super::describe_agent(""), "Unknown browser");
            assert_eq!(super::super::describe_agent("é\u{0}"), "Unknown browser");
        }

        #[test]
        fn passwords_must_be_long_and_not_obvious() {
            assert!(password_problem("correct horse battery", "alice").is_none());
            assert!(password_problem("short", "alice").is_some());
            assert!(password_problem("Password1234", "alice").is_some());
            assert!(password_problem("aaaaaaaaaaaaaaaa", "alice").is_some());
            assert!(password_problem("my alice password", "alice").is_some());
            assert!(password_problem(&"ab1!".repeat(40), "alice").is_some());
        }
    }
}
