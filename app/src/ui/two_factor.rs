//! Two-factor authentication: the second step of a sign-in, and Profile →
//! Security → Two-factor authentication (authenticator apps, recovery
//! codes). Plain forms, so all of it works without JavaScript.

use super::fields::{FormMessage, SudoField};
use super::passkeys::PasskeyButton;
use super::security::{Section, SecurityPage};
use super::token_form::fmt_date;
use crate::model::{FactorView, PendingApp, SessionInfo, TwoFactorSettings, SUDO_FIELD};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

pub use super::{TWO_FACTOR, TWO_FACTOR_APP, TWO_FACTOR_RECOVERY, TWO_FACTOR_SIGNIN};

/// The signed-in user's second factors and recovery codes.
#[server(prefix = "/rpc", endpoint = "two_factor/settings")]
pub async fn load_two_factor() -> Result<TwoFactorSettings, ServerFnError> {
    use crate::domain::{sessions, two_factor, AppState};
    let state =
        use_context::<AppState>().ok_or_else(|| ServerFnError::new("server state missing"))?;
    let session = use_context::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<sessions::Session>().cloned())
        .ok_or_else(|| ServerFnError::new("You are signed out. Sign in again to continue."))?;
    two_factor::settings(&state.core, &session.user, session.in_sudo)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "loading two-factor settings failed");
            ServerFnError::new("Could not load your two-factor settings. Please try again.")
        })
}

/// The code field of an authenticator app: six digits, the phone's
/// one-time-code keyboard and autofill.
#[component]
fn CodeField(
    /// Its message from the last attempt.
    error: Option<String>,
    #[prop(default = false)] autofocus: bool,
) -> impl IntoView {
    let invalid = error.is_some().then_some("true");
    view! {
        <div class="field" class:has-error=error.is_some()>
            <label for="field-code">"Authentication code"</label>
            <p class="hint" id="field-code-hint">"The 6-digit code your authenticator app shows now."</p>
            <input id="field-code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code"
                pattern="[0-9 ]{6,7}" maxlength="7" autofocus=autofocus
                aria-invalid=invalid aria-describedby="field-code-hint field-code-error" />
            <p class="field-error" id="field-code-error" hidden=error.is_none()>{error.clone()}</p>
        </div>
    }
}

/// The second step of a sign-in: an authenticator app's code, or a
/// recovery code.
#[component]
pub fn TwoFactorSignIn(
    /// The visitor, and what a form post sent back.
    info: SessionInfo,
) -> impl IntoView {
    let fb = info.feedback.clone().unwrap_or_default();
    let recovery_error = fb.field("recovery_code");
    view! {
        <Title text="Two-factor authentication · Tessera" />
        <section class="card narrow auth">
            <h1>"Two-factor authentication"</h1>
            <p>"Your password was right. Confirm it is you with your second factor."</p>
            <FormMessage message=fb.message.clone() />
            <form method="post" action=TWO_FACTOR_SIGNIN class="stack">
                <CodeField error=fb.field("code") autofocus=recovery_error.is_none() />
                <button type="submit" class="button primary">"Verify"</button>
            </form>
            <div class="passkey-only stack">
                <p class="or" aria-hidden="true">"or"</p>
                <PasskeyButton purpose="second".to_string() label="Use a passkey".to_string() />
            </div>
            <details class="recovery" open=recovery_error.is_some()>
                <summary>"Use a recovery code"</summary>
                <form method="post" action=TWO_FACTOR_SIGNIN class="stack">
                    <div class="field" class:has-error=recovery_error.is_some()>
                        <label for="field-recovery_code">"Recovery code"</label>
                        <p class="hint" id="field-recovery_code-hint">"One of the codes you saved when you set up two-factor authentication. Each works once."</p>
                        <input id="field-recovery_code" name="recovery_code" type="text" autocomplete="off"
                            autocapitalize="none" spellcheck="false" maxlength="40"
                            aria-invalid=recovery_error.as_ref().map(|_| "true")
                            aria-describedby="field-recovery_code-hint field-recovery_code-error" />
                        <p class="field-error" id="field-recovery_code-error" hidden=recovery_error.is_none()>{recovery_error.clone()}</p>
                    </div>
                    <button type="submit" class="button">"Use recovery code"</button>
                </form>
            </details>
            <p class="switch"><a href="/signin">"Sign in as someone else"</a></p>
        </section>
    }
}

/// "Authenticator app" or "Passkey".
fn kind_label(kind: &str) -> &'static str {
    match kind {
        "passkey" => "Passkey",
        _ => "Authenticator app",
    }
}

/// Profile → Security → Two-factor authentication.
#[component]
pub fn TwoFactorPage(
    /// The visitor, and what a form post sent back.
    info: SessionInfo,
) -> impl IntoView {
    let fb = info.feedback.clone().unwrap_or_default();
    let required = use_query_map().read_untracked().get("required").is_some();
    let done = crate::ui::done_notice(&[
        ("app-added", "Authenticator app added."),
        ("removed", "Second factor removed."),
        ("passkey-added", "Passkey added."),
    ]);
    let settings = Resource::new_blocking(|| (), |_| load_two_factor());
    let in_sudo = info.in_sudo;
    view! {
        <SecurityPage section=Section::TwoFactor title="Two-factor authentication" heading_id="two-factor-heading">
            <p class="lead">
                "A second factor keeps your account, and the tokens it can make, yours when your password is not: after the password, Tessera asks for a passkey or a code from your authenticator app. A passkey can also sign you in by itself."
            </p>
            {required.then(|| view! {
                <div class="alert warning" role="alert">
                    "Your organization requires two-factor authentication. Add a passkey or an authenticator app to continue: until then you cannot use Tessera or make tokens."
                </div>
            })}
            {done.map(|m| view! { <div class="alert success" role="status">{m}</div> })}
            {match fb.shown_once.clone() {
                Some(codes) => view! { <RecoveryCodesOnce codes message=fb.message.clone() /> }.into_any(),
                None => view! { <FormMessage message=fb.message.clone() /> }.into_any(),
            }}
            <Suspense fallback=|| view! { <p class="loading">"Loading your second factors…"</p> }>
                {move || Suspend::new(loaded(settings, fb.clone(), in_sudo))}
            </Suspense>
        </SecurityPage>
    }
}

/// The settings once `settings` has loaded, or why they did not.
async fn loaded(
    settings: Resource<Result<TwoFactorSettings, ServerFnError>>,
    fb: crate::model::FormFeedback,
    in_sudo: bool,
) -> AnyView {
    match settings.await {
        Ok(s) => view! { <SettingsView s fb in_sudo /> }.into_any(),
        Err(e) => crate::ui::load_failed(e),
    }
}

/// The recovery codes just made, shown once.
#[component]
fn RecoveryCodesOnce(codes: String, message: Option<String>) -> impl IntoView {
    view! {
        <div class="alert success secret-once" role="status">
            <p><strong>{message}</strong></p>
            <ul class="recovery-codes" aria-label="Recovery codes">
                {codes.lines().map(|c| view! { <li><code>{c.to_owned()}</code></li> }).collect_view()}
            </ul>
            <p>"Keep them somewhere safe, apart from your password (a password manager, or printed)."</p>
        </div>
    }
}

/// The settings once loaded: the factors, the app being added, recovery
/// codes.
#[component]
fn SettingsView(
    s: TwoFactorSettings,
    fb: crate::model::FormFeedback,
    in_sudo: bool,
) -> impl IntoView {
    let sudo_error = fb.field(SUDO_FIELD);
    let on = !s.factors.is_empty();
    let status = if on {
        "Two-factor authentication is on."
    } else if s.single_sign_on {
        "You sign in through your organization's single sign-on, whose two-factor rules apply. A passkey added here can also sign you in."
    } else {
        "Two-factor authentication is off."
    };
    view! {
        <p class="status-line"><strong>{status}</strong></p>
        <h2 id="factors-heading">"Second factors"</h2>
        {if on {
            view! {
                <ul class="session-list" aria-labelledby="factors-heading">
                    {s.factors.iter().cloned().map(|f| view! { <FactorRow f sudo_error=sudo_error.clone() in_sudo /> }).collect_view()}
                </ul>
            }.into_any()
        } else {
            view! { <p>"None yet."</p> }.into_any()
        }}
        {s.passkeys.then(|| view! { <AddPasskey sudo_error=sudo_error.clone() in_sudo /> })}
        {match s.pending.clone() {
            Some(p) => view! { <AddApp p fb=fb.clone() /> }.into_any(),
            None => view! {
                <form method="post" action=TWO_FACTOR_APP class="stack narrow-form add-factor" aria-labelledby="begin-app-heading">
                    <h3 id="begin-app-heading">"Add an authenticator app"</h3>
                    <p class="hint">"Any app that shows 6-digit codes: 1Password, Aegis, Google Authenticator, Microsoft Authenticator…"</p>
                    <input type="hidden" name="action" value="begin" />
                    <SudoField error=Signal::stored(sudo_error.clone()) confirmed=in_sudo id_suffix="-add" />
                    <div><button type="submit" class="button primary">"Add an authenticator app"</button></div>
                </form>
            }.into_any(),
        }}
        <h2 id="recovery-heading">"Recovery codes"</h2>
        {(on && s.recovery_total == 0).then(|| view! {
            <div class="alert warning" role="status">
                "You have no recovery codes. Generate them now: they sign you in if you lose your passkeys and apps."
            </div>
        })}
        {if on {
            view! {
                <p>{format!("{} of {} recovery codes unused. Each signs you in once when you cannot use your second factor.", s.recovery_left, s.recovery_total)}</p>
                <form method="post" action=TWO_FACTOR_RECOVERY class="stack narrow-form">
                    <SudoField error=Signal::stored(sudo_error.clone()) confirmed=in_sudo id_suffix="-recovery" />
                    <div><button type="submit" class="button">"Generate new recovery codes"</button></div>
                </form>
            }.into_any()
        } else {
            view! { <p>"Recovery codes are made with your first second factor."</p> }.into_any()
        }}
    }
}

/// One factor: kind, name, added, last used, and "Remove".
#[component]
fn FactorRow(f: FactorView, sudo_error: Option<String>, in_sudo: bool) -> impl IntoView {
    let used = f.last_used_at.map_or_else(
        || "never used".to_string(),
        |at| format!("last used {}", fmt_date(at)),
    );
    let meta = format!(
        "{} · added {} · {}",
        kind_label(&f.kind),
        fmt_date(f.created_at),
        used
    );
    let action = format!("{TWO_FACTOR}/{}/remove", f.id);
    let label = format!("Remove {}", f.name);
    view! {
        <li>
            <div>
                <strong>{f.name.clone()}</strong>
                <p class="session-meta">{meta}</p>
            </div>
            <form method="post" action=action class="inline-form">
                <SudoField error=Signal::stored(sudo_error) confirmed=in_sudo id_suffix=format!("-remove-{}", f.id) />
                <button type="submit" class="button danger" aria-label=label>"Remove"</button>
            </form>
        </li>
    }
}

/// Adding an authenticator app: the QR code, the key as text, and the
/// first code with a name.
#[component]
fn AddApp(p: PendingApp, fb: crate::model::FormFeedback) -> impl IntoView {
    let svg = p
        .qr_svg
        .find("<svg")
        .map(|i| p.qr_svg[i..].to_owned())
        .unwrap_or_default();
    let name = if fb.values.contains_key("name") {
        fb.value("name")
    } else {
        p.name.clone()
    };
    let name_error = fb.field("name");
    view! {
        <section id="add-app" class="card add-app" aria-labelledby="add-app-heading">
            <h3 id="add-app-heading">"Add an authenticator app"</h3>
            <ol class="steps">
                <li>"Scan this QR code with your authenticator app (or type the key below)."</li>
                <li>"Enter the 6-digit code the app then shows."</li>
            </ol>
            <div class="qr" role="img" aria-label="QR code of the key for your authenticator app" inner_html=svg></div>
            <p>"Key: " <code class="totp-key" data-totp-key=p.key.clone()>{p.key.clone()}</code></p>
            <form method="post" action=TWO_FACTOR_APP class="stack narrow-form">
                <input type="hidden" name="action" value="confirm" />
                <div class="field" class:has-error=name_error.is_some()>
                    <label for="field-name">"Name"</label>
                    <p class="hint" id="field-name-hint">"So you can tell your factors apart, e.g. \u{201c}Phone\u{201d}."</p>
                    <input id="field-name" name="name" type="text" value=name maxlength="64"
                        aria-invalid=name_error.as_ref().map(|_| "true") aria-describedby="field-name-hint field-name-error" />
                    <p class="field-error" id="field-name-error" hidden=name_error.is_none()>{name_error.clone()}</p>
                </div>
                <CodeField error=fb.field("code") />
                <div class="button-row">
                    <button type="submit" class="button primary">"Verify and add"</button>
                </div>
            </form>
            <form method="post" action=TWO_FACTOR_APP>
                <input type="hidden" name="action" value="cancel" />
                <button type="submit" class="button">"Cancel"</button>
            </form>
        </section>
    }
}

/// Adding a passkey (needs JavaScript: the browser asks the authenticator).
#[component]
fn AddPasskey(sudo_error: Option<String>, in_sudo: bool) -> impl IntoView {
    view! {
        <form method="post" action=TWO_FACTOR class="stack narrow-form add-factor add-passkey" aria-labelledby="add-passkey-heading">
            <h3 id="add-passkey-heading">"Add a passkey"</h3>
            <p class="hint">"Your phone, computer or security key keeps it, unlocked by your fingerprint, face or PIN."</p>
            <noscript><p class="alert info">"Adding a passkey needs JavaScript: your browser talks to the passkey."</p></noscript>
            <div class="field">
                <label for="field-passkey-name">"Passkey name"</label>
                <input id="field-passkey-name" name="name" type="text" maxlength="64" placeholder="Passkey" />
            </div>
            <SudoField error=Signal::stored(sudo_error) confirmed=in_sudo id_suffix="-passkey" />
            <div><PasskeyButton purpose="register".to_string() label="Add a passkey".to_string() /></div>
        </form>
    }
}
