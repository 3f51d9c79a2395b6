//! Passkeys in the browser: one island ([`PasskeyButton`]) that asks the
//! authenticator (`navigator.credentials`, with the options parsed by the
//! browser's own `PublicKeyCredential.parse…OptionsFromJSON` and the answer
//! serialised by its `toJSON()`), and the two server functions it calls.
//! Passkeys need JavaScript; everything else about two-factor does not.

#![allow(missing_docs)]

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde::{Deserialize, Serialize};

/// A ceremony begun by the server: its id, and the options (JSON).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ceremony {
    /// Sent back with the credential.
    pub ceremony: String,
    /// The `publicKey` options, as JSON.
    pub options: String,
}

#[cfg(feature = "ssr")]
mod ssr {
    use crate::domain::{
        sessions::{Client, Session},
        two_factor::passkeys::PasskeyError,
        AppState,
    };
    use leptos::prelude::*;

    pub struct Request {
        pub state: AppState,
        pub client: Client,
        pub session: Option<Session>,
        pub parts: http::request::Parts,
    }

    pub fn request() -> Result<Request, ServerFnError> {
        let state =
            use_context::<AppState>().ok_or_else(|| ServerFnError::new("server state missing"))?;
        let parts = use_context::<http::request::Parts>()
            .ok_or_else(|| ServerFnError::new("request missing"))?;
        let client = parts
            .extensions
            .get::<Client>()
            .cloned()
            .ok_or_else(|| ServerFnError::new("request missing"))?;
        let session = parts.extensions.get::<Session>().cloned();
        Ok(Request {
            state,
            client,
            session,
            parts,
        })
    }

    pub fn signed_in(r: &Request) -> Result<&Session, String> {
        r.session
            .as_ref()
            .ok_or_else(|| "You are signed out. Sign in again to continue.".to_string())
    }

    /// The value of the cookie `name` of the request.
    pub fn cookie(r: &Request, name: &str) -> String {
        r.parts
            .headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|c| {
                c.trim()
                    .strip_prefix(name)?
                    .strip_prefix('=')
                    .map(str::to_owned)
            })
            .unwrap_or_default()
    }

    /// The answer will set these cookies.
    pub fn set_cookies(cookies: &[String]) {
        if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
            for c in cookies {
                if let Ok(v) = http::HeaderValue::from_str(c) {
                    res.append_header(http::header::SET_COOKIE, v);
                }
            }
        }
    }

    /// A refusal in words (a failure of ours is logged).
    pub fn refused(e: PasskeyError) -> String {
        if e.is_internal() {
            tracing::error!(error = %e, "a passkey step failed");
        }
        e.sentence()
    }
}

/// What a passkey step answers: the result, or the sentence saying why
/// not (a refusal is an answer, not a failure of the call).
pub type Answer<T> = Result<T, String>;

/// Begins a passkey ceremony for `purpose` (`register`: with the sudo
/// password when the session needs it; `second`; `signin`; `sudo`).
#[server(prefix = "/rpc", endpoint = "passkeys/start", input = Json)]
pub async fn passkey_start(
    purpose: String,
    #[server(default)] sudo_password: String,
) -> Result<Answer<Ceremony>, ServerFnError> {
    use crate::domain::{
        accounts, two_factor,
        two_factor::passkeys::{self, Purpose},
    };
    let r = ssr::request()?;
    let core = &r.state.core;
    let answer = async {
        let started = match Purpose::parse(&purpose) {
            Some(Purpose::Register) => {
                let session = ssr::signed_in(&r)?;
                match accounts::sudo(core, &r.client, session, &sudo_password).await {
                    Ok(true) => passkeys::start_register(core, &session.user).await,
                    Ok(false) => return Err("Confirm your password to add a passkey.".into()),
                    Err(e) => {
                        let refusal = crate::domain::refusal::Refusal::from(e);
                        let words = refusal.fields.values().next().cloned().or(refusal.message);
                        return Err(words.unwrap_or_default());
                    }
                }
            }
            Some(Purpose::Second) => {
                let name = two_factor::challenge_cookie(core.config.secure_cookies());
                passkeys::start_second(core, &ssr::cookie(&r, name)).await
            }
            Some(Purpose::SignIn) => passkeys::start_sign_in(core, &r.client).await,
            Some(Purpose::Sudo) => passkeys::start_sudo(core, ssr::signed_in(&r)?).await,
            None => return Err(UNKNOWN.to_string()),
        };
        let s = started.map_err(ssr::refused)?;
        Ok(Ceremony {
            ceremony: s.ceremony,
            options: s.options,
        })
    };
    Ok(answer.await)
}

#[cfg(feature = "ssr")]
const UNKNOWN: &str = "Unknown passkey step.";

/// Finishes the passkey ceremony `ceremony` with the browser's
/// `credential` (JSON); where to go next, if anywhere (a sign-in's page,
/// the Two-factor page after adding one; nowhere after sudo).
#[server(prefix = "/rpc", endpoint = "passkeys/finish", input = Json)]
pub async fn passkey_finish(
    purpose: String,
    ceremony: String,
    #[server(default)] name: String,
    credential: String,
) -> Result<Answer<Option<String>>, ServerFnError> {
    use crate::domain::{
        sessions, two_factor,
        two_factor::passkeys::{self, Purpose},
    };
    let r = ssr::request()?;
    let core = &r.state.core;
    let config = &core.config;
    let home = || "/profile/security/tokens".to_owned();
    let answer = async {
        match Purpose::parse(&purpose) {
            Some(Purpose::Register) => {
                let user = &ssr::signed_in(&r)?.user;
                passkeys::finish_register(core, user, &r.client, &ceremony, &name, &credential)
                    .await
                    .map_err(ssr::refused)?;
                Ok(Some(format!("{}?done=passkey-added", super::TWO_FACTOR)))
            }
            Some(Purpose::Second) => {
                let cookie_name = two_factor::challenge_cookie(config.secure_cookies());
                let cookie = ssr::cookie(&r, cookie_name);
                let done =
                    passkeys::finish_second(core, &r.client, &cookie, &ceremony, &credential)
                        .await
                        .map_err(ssr::refused)?;
                ssr::set_cookies(&[
                    sessions::cookie_header(config, &done.session),
                    sessions::removal_header(config, cookie_name),
                ]);
                Ok(Some(crate::ui::safe_next(&done.next).unwrap_or_else(home)))
            }
            Some(Purpose::SignIn) => {
                let (_, session) =
                    passkeys::finish_sign_in(core, &r.client, &ceremony, &credential)
                        .await
                        .map_err(ssr::refused)?;
                ssr::set_cookies(&[sessions::cookie_header(config, &session)]);
                Ok(Some(crate::ui::safe_next(&name).unwrap_or_else(home)))
            }
            Some(Purpose::Sudo) => {
                let session = ssr::signed_in(&r)?;
                passkeys::finish_sudo(core, &r.client, session, &ceremony, &credential)
                    .await
                    .map_err(ssr::refused)?;
                Ok(None)
            }
            None => Err(UNKNOWN.to_string()),
        }
    };
    Ok(answer.await)
}

/// Asks the browser's authenticator: `create` a credential, or `get` an
/// assertion, with `options` (JSON); the answer as JSON.
async fn ask_authenticator(create: bool, options: &str) -> Result<String, String> {
    use js_sys::{Function, Object, Promise, Reflect, JSON};
    use wasm_bindgen::{JsCast, JsValue};
    let unsupported = || "This browser cannot use passkeys. Use another way.".to_string();
    let window = web_sys::window().ok_or_else(unsupported)?;
    let get = |on: &JsValue, key: &str| Reflect::get(on, &JsValue::from_str(key)).ok();
    let pkc = get(&window, "PublicKeyCredential")
        .filter(|v| !v.is_undefined())
        .ok_or_else(unsupported)?;
    let parse_name = if create {
        "parseCreationOptionsFromJSON"
    } else {
        "parseRequestOptionsFromJSON"
    };
    let parse: Function = get(&pkc, parse_name)
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(unsupported)?;
    let json = JSON::parse(options).map_err(|_| unsupported())?;
    let public_key = parse.call1(&pkc, &json).map_err(|_| unsupported())?;
    let wrapped = Object::new();
    Reflect::set(&wrapped, &JsValue::from_str("publicKey"), &public_key)
        .map_err(|_| unsupported())?;
    let creds = get(&window.navigator(), "credentials").ok_or_else(unsupported)?;
    let method: Function = get(&creds, if create { "create" } else { "get" })
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(unsupported)?;
    let promise: Promise = method
        .call1(&creds, &wrapped)
        .ok()
        .and_then(|p| p.dyn_into().ok())
        .ok_or_else(unsupported)?;
    let credential = wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .map_err(|_| "The passkey prompt was closed or timed out. Try again.".to_string())?;
    let to_json: Function = get(&credential, "toJSON")
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(unsupported)?;
    let value = to_json.call0(&credential).map_err(|_| unsupported())?;
    JSON::stringify(&value)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(unsupported)
}

/// The values of the form around `el`: (name, sudo password, next).
fn form_values(el: &web_sys::HtmlElement) -> (String, String, String) {
    use wasm_bindgen::JsCast;
    let form = el
        .closest("form")
        .ok()
        .flatten()
        .and_then(|f| f.dyn_into::<web_sys::HtmlFormElement>().ok());
    let data = form.and_then(|f| web_sys::FormData::new_with_form(&f).ok());
    let field = |k: &str| {
        data.as_ref()
            .and_then(|d| d.get(k).as_string())
            .unwrap_or_default()
    };
    (
        field("name"),
        field(crate::model::SUDO_FIELD),
        field("next"),
    )
}

/// A button that runs a passkey ceremony (`purpose`: register, second,
/// signin, sudo) and then goes where the server says; a refusal is shown
/// under it. Inside a form, the form's `name`, sudo password and `next`
/// go along (a plain submit of that form never reaches here).
#[island]
pub(crate) fn PasskeyButton(
    /// register, second, signin or sudo.
    purpose: String,
    /// The button's words.
    label: String,
) -> impl IntoView {
    // adding one is the form's main action
    let class = if purpose == "register" {
        "button primary passkey"
    } else {
        "button passkey"
    };
    let status = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let button = NodeRef::<leptos::html::Button>::new();
    let run = move |_| {
        if busy.get_untracked() {
            return;
        }
        let Some(el) = button.get_untracked() else {
            return;
        };
        let purpose = purpose.clone();
        busy.set(true);
        status.set(None);
        leptos::task::spawn_local(async move {
            let (name, sudo, next) = form_values(&el);
            let outcome = async {
                let start = passkey_start(purpose.clone(), sudo)
                    .await
                    .map_err(|e| server_words(&e))??;
                let credential = ask_authenticator(purpose == "register", &start.options).await?;
                let name = if purpose == "signin" { next } else { name };
                passkey_finish(purpose.clone(), start.ceremony, name, credential)
                    .await
                    .map_err(|e| server_words(&e))?
            }
            .await;
            busy.set(false);
            match outcome {
                Ok(Some(to)) => {
                    let _ = window().location().assign(&to);
                }
                Ok(None) => {
                    // sudo mode: the field is no longer needed
                    if let Ok(Some(field)) = el.closest(".sudo-field") {
                        let _ = field.class_list().remove_1("has-error");
                        let _ = field.class_list().add_1("sudo-ok");
                    }
                }
                Err(e) => status.set(Some(e)),
            }
        });
    };
    view! {
        <button type="button" class=class node_ref=button on:click=run aria-busy=move || busy.get().then_some("true")>
            {label}
        </button>
        <p class="field-error passkey-error" role="alert" hidden=move || status.with(Option::is_none)>
            {move || status.get()}
        </p>
    }
}

/// A server function's refusal in the person's words.
fn server_words(e: &ServerFnError) -> String {
    match e {
        ServerFnError::ServerError(m) => m.clone(),
        _ => "Tessera could not be reached. Try again.".into(),
    }
}
