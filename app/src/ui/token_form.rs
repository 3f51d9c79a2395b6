//! The add/edit token form: name, description, expiration and scopes. The
//! same markup serves the dialog (submitted by the WASM) and the plain page
//! (submitted by the browser); CSS `:has()` shows the custom date and the
//! scope grid only when chosen, so that works without JavaScript too.

use crate::model::SUDO_FIELD;
use crate::scopes::{Level, CATALOG};
use crate::tokens::reach::OWN_AREAS;
use crate::tokens::spec::days_from;
use crate::tokens::{end_of_day, OwnerLimit, TokenForm, DESCRIPTION_MAX, EXPIRY_PRESETS, NAME_MAX};
use crate::ui::fields::SudoField;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use leptos::prelude::*;
use std::collections::BTreeMap;

pub type Errors = BTreeMap<String, String>;

/// "Dec 28, 2026". (Written out rather than `format("%b %-d, %Y")`: the
/// expiry hint runs in the browser too, and chrono's format-string engine
/// would cost the WASM ~20 KB for this one pattern.)
pub fn fmt_date(d: DateTime<Utc>) -> String {
    use chrono::Datelike;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {}, {}",
        MONTHS[d.month0() as usize % 12],
        d.day(),
        d.year()
    )
}

/// A `<input type="date">` value, `YYYY-MM-DD` (four or more digits of
/// year, two of month and day), as the browser sends it.
fn parse_date(s: &str) -> Option<NaiveDate> {
    let mut parts = s.splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |p: &str, n: usize| p.len() >= n && p.bytes().all(|b| b.is_ascii_digit());
    if !(digits(y, 4)
        && y.len() <= 6
        && m.len() == 2
        && digits(m, 2)
        && d.len() == 2
        && digits(d, 2))
    {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

/// The date a choice of expiry resolves to, as shown under the picker.
fn resulting_date(
    expiry: &str,
    date: &str,
    now: DateTime<Utc>,
    current: Option<DateTime<Utc>>,
) -> Option<String> {
    match expiry {
        "keep" => current.map(|c| format!("Keeps its expiration: {} (UTC)", fmt_date(c))),
        "custom" => {
            parse_date(date).map(|d| format!("Expires on {} at 23:59 UTC", fmt_date(end_of_day(d))))
        }
        days => days
            .parse::<i64>()
            .ok()
            .and_then(|n| days_from(now, n))
            .map(|at| format!("Expires on {} (UTC)", fmt_date(at))),
    }
}

#[component]
pub fn TokenFormFields(
    form: TokenForm,
    #[prop(into)] errors: Signal<Errors>,
    max_days: u32,
    now: DateTime<Utc>,
    /// Editing offers "keep the current expiration".
    #[prop(default = None)]
    current_expiry: Option<DateTime<Utc>>,
    /// The session is in sudo mode: "Full access" needs no password.
    sudo: bool,
    /// The organization's policies that apply, in words.
    #[prop(optional)]
    notes: Vec<String>,
    /// Offer the Administration scope (administrators only).
    #[prop(optional)]
    admin: bool,
    /// The organizations a new token may name as its resource owner, with
    /// the limits of their tokens.
    #[prop(optional)]
    owners: Vec<OwnerLimit>,
) -> impl IntoView {
    let editing = current_expiry.is_some();
    let initial_expiry = if form.expiry.is_empty() {
        if editing {
            "keep".to_string()
        } else {
            crate::tokens::DEFAULT_EXPIRY_DAYS.to_string()
        }
    } else {
        form.expiry.clone()
    };
    let expiry = RwSignal::new(initial_expiry.clone());
    let expiry_date = RwSignal::new(form.expiry_date.clone());
    let err = move |field: &'static str| move || errors.with(|e| e.get(field).cloned());
    let invalid =
        move |field: &'static str| move || errors.with(|e| e.contains_key(field)).then_some("true");
    let min_date = (now + Duration::days(1)).date_naive().to_string();
    // the chosen resource owner's limits bound the expiration (the server's
    // without one); without the WASM the server refuses with a field error
    let chosen_owner = RwSignal::new(form.resource_owner.clone());
    let owner_limits = StoredValue::new(owners.clone());
    let owner_limit = move || {
        chosen_owner.with(|o| owner_limits.with_value(|l| l.iter().find(|x| &x.org == o).cloned()))
    };
    let limit_days = move || owner_limit().map_or(max_days, |l| l.max_days.min(max_days));
    let max_date = move || {
        (now + Duration::days(i64::from(limit_days())))
            .date_naive()
            .to_string()
    };
    let presets: Vec<u32> = EXPIRY_PRESETS
        .into_iter()
        .filter(|d| *d <= max_days)
        .collect();
    let limit_hint = move || match owner_limit() {
        Some(l) => format!(
            "Tokens {} owns live at most {} days.",
            l.org,
            l.max_days.min(max_days)
        ),
        None => format!("Tokens on this server live at most {max_days} days."),
    };
    let scope_mode = if form.scope_mode.is_empty() {
        "full".to_string()
    } else {
        form.scope_mode.clone()
    };
    let is_full = scope_mode == "full";

    let notes = (!notes.is_empty()).then(|| {
        view! {
            <div class="policy-notes" role="note" aria-label="Your organization's token policies">
                <p><strong>"Your organization's policies"</strong></p>
                <ul>{notes.into_iter().map(|n| view! { <li>{n}</li> }).collect_view()}</ul>
            </div>
        }
    });
    // chosen when the token is made (as on GitHub); shown when editing
    let owner = if editing {
        (!form.resource_owner.is_empty()).then(|| {
            let org = form.resource_owner.clone();
            view! {
                <p class="field reach" id="token-owner-fixed">
                    <span class="meta-label">"Resource owner: "</span>
                    {format!("{org} \u{2014} the token reaches only {org}/\u{2026} resources")}
                </p>
            }
            .into_any()
        })
    } else {
        (!owners.is_empty()).then(|| {
            let chosen = form.resource_owner.clone();
            let presets = presets.clone();
            // a shorter limit than the chosen expiration: the longest preset
            // it allows, else a date
            let choose = move |org: String| {
                chosen_owner.set(org);
                let limit = limit_days();
                let too_long = expiry.with(|e| e.parse::<u32>().is_ok_and(|d| d > limit));
                if too_long {
                    let longest = presets.iter().rev().find(|d| **d <= limit);
                    expiry.set(longest.map_or_else(|| "custom".to_owned(), u32::to_string));
                }
            };
            let owner_notes = move || {
                owner_limit()
                    .filter(|l| !l.notes.is_empty())
                    .map(|l| format!("{}\u{2019}s policies: {}", l.org, l.notes.join(" ")))
            };
            view! {
                <div class="field" class:has-error=move || err("resource_owner")().is_some()>
                    <label for="token-owner">"Resource owner"</label>
                    <select
                        id="token-owner"
                        name="resource_owner"
                        aria-invalid=invalid("resource_owner")
                        aria-describedby="token-owner-hint token-owner-policy token-owner-error"
                        on:change=move |ev| choose(event_target_value(&ev))
                    >
                        <option value="" selected=chosen.is_empty()>"You (your own resources)"</option>
                        {owners
                            .into_iter()
                            .map(|o| {
                                let selected = o.org == chosen;
                                view! { <option value=o.org.clone() selected=selected>{o.org.clone()}</option> }
                            })
                            .collect_view()}
                    </select>
                    <p class="hint" id="token-owner-hint">
                        "An organization's token reaches only that organization's resources (acme/\u{2026}), and stops working if you leave it."
                    </p>
                    <p class="hint" id="token-owner-policy" aria-live="polite" hidden=move || owner_notes().is_none()>
                        {owner_notes}
                    </p>
                    <p class="field-error" id="token-owner-error" hidden=move || err("resource_owner")().is_none()>
                        {err("resource_owner")}
                    </p>
                </div>
            }
            .into_any()
        })
    };
    view! {
        {notes}
        <input type="hidden" name="form_id" value=form.form_id.clone() />
        <div class="field" class:has-error=move || err("name")().is_some()>
            <label for="token-name">"Name"</label>
            <input
                id="token-name"
                name="name"
                type="text"
                value=form.name.clone()
                required=true
                maxlength=NAME_MAX
                autocomplete="off"
                autofocus=true
                aria-invalid=invalid("name")
                aria-describedby="token-name-error"
            />
            <p class="field-error" id="token-name-error" hidden=move || err("name")().is_none()>{err("name")}</p>
        </div>
        <div class="field" class:has-error=move || err("description")().is_some()>
            <label for="token-description">"Description " <span class="optional">"(optional)"</span></label>
            <textarea
                id="token-description"
                name="description"
                rows="2"
                maxlength=DESCRIPTION_MAX
                aria-invalid=invalid("description")
                aria-describedby="token-description-error"
            >
                {form.description.clone()}
            </textarea>
            <p class="field-error" id="token-description-error" hidden=move || err("description")().is_none()>
                {err("description")}
            </p>
        </div>
        <div class="field expiry-field" class:has-error=move || err("expiry")().is_some() || err("expiry_date")().is_some()>
            <label for="token-expiry">"Expiration"</label>
            <select
                id="token-expiry"
                name="expiry"
                aria-invalid=invalid("expiry")
                aria-describedby="token-expiry-result token-expiry-error"
                on:change=move |ev| expiry.set(event_target_value(&ev))
                prop:value=move || expiry.get()
            >
                {editing.then(|| view! { <option value="keep" selected=initial_expiry == "keep">"Keep current expiration"</option> })}
                {presets
                    .into_iter()
                    .map(|d| {
                        let v = d.to_string();
                        let selected = v == initial_expiry;
                        let beyond = move || d > limit_days();
                        view! { <option value=v selected=selected hidden=beyond disabled=beyond>{format!("{d} days")}</option> }
                    })
                    .collect_view()}
                <option value="custom" selected=initial_expiry == "custom">"Custom date…"</option>
            </select>
            <div class="custom-date">
                <label for="token-expiry-date">"Expiration date (UTC)"</label>
                <input
                    id="token-expiry-date"
                    name="expiry_date"
                    type="date"
                    value=form.expiry_date.clone()
                    min=min_date
                    max=max_date
                    aria-invalid=invalid("expiry_date")
                    aria-describedby="token-expiry-error"
                    on:input=move |ev| expiry_date.set(event_target_value(&ev))
                />
            </div>
            <p class="hint" id="token-expiry-result" aria-live="polite">
                {move || resulting_date(&expiry.get(), &expiry_date.get(), now, current_expiry)}
            </p>
            <p class="hint" id="token-expiry-limit" aria-live="polite">{limit_hint}</p>
            <p class="field-error" id="token-expiry-error" hidden=move || err("expiry")().is_none() && err("expiry_date")().is_none()>
                {move || err("expiry")().or_else(err("expiry_date"))}
            </p>
        </div>
        {owner}
        <fieldset class="field scopes-field" class:has-error=move || err("scopes")().is_some() aria-describedby="token-scopes-error">
            <legend>"Scopes"</legend>
            <div class="scope-mode">
                <label class="radio">
                    <input type="radio" name="scope_mode" value="full" checked=is_full />
                    <span><strong>"Full access"</strong> " — everything you can do"</span>
                </label>
                <label class="radio">
                    <input type="radio" name="scope_mode" value="custom" checked=!is_full />
                    <span><strong>"Custom defined"</strong> " — only the areas you choose"</span>
                </label>
            </div>
            <div class="scope-grid" role="group" aria-label="Custom scopes">
                {CATALOG
                    .iter()
                    .filter(|area| admin || !crate::scopes::ADMIN_ONLY_AREAS.contains(&area.id))
                    .map(|area| {
                        let id = format!("scope-{}", area.id);
                        let current = form.level(area.id).to_string();
                        // Tessera's own areas have no resources to limit to
                        let resources = (!OWN_AREAS.contains(&area.id)).then(|| {
                            let only = form.limits_resources(area.id);
                            let mode_id = format!("resource-mode-{}", area.id);
                            let text_id = format!("resources-{}", area.id);
                            view! {
                                <div class="resource-line">
                                    <select id=mode_id name=format!("resource_mode_{}", area.id) aria-label=format!("{} resources", area.label)>
                                        <option value="all" selected=!only>"All resources"</option>
                                        <option value="only" selected=only>"Only these:"</option>
                                    </select>
                                    <input id=text_id type="text" name=format!("resources_{}", area.id)
                                        value=form.resource_text(area.id).replace('\n', ", ")
                                        maxlength="2000" autocomplete="off" spellcheck="false"
                                        placeholder="acme/api, acme/web-*"
                                        aria-label=format!("{} resources: patterns", area.label)
                                        aria-describedby="token-resources-hint" />
                                </div>
                            }
                        });
                        view! {
                            <div class="scope-row">
                                <label for=id.clone()>
                                    <span class="scope-label">{area.label}</span>
                                    <span class="scope-desc">{area.description}</span>
                                </label>
                                <select id=id class="level" name=format!("scope_{}", area.id)>
                                    <option value="none" selected=current == "none">"No access"</option>
                                    {Level::ALL
                                        .into_iter()
                                        .map(|l| view! { <option value=l.as_str() selected=current == l.as_str()>{l.label()}</option> })
                                        .collect_view()}
                                </select>
                                {resources}
                            </div>
                        }
                    })
                    .collect_view()}
            </div>
            <p class="hint" id="token-resources-hint">
                "Resources: patterns such as acme/api or acme/web-* (\u{2018}*\u{2019} only at the end of a segment), separated by commas. A service behind the gateway names the resource of each request."
            </p>
            <p class="field-error" id="token-scopes-error" hidden=move || err("scopes")().is_none() && err("resources")().is_none()>
                {move || err("scopes")().or_else(err("resources"))}
            </p>
        </fieldset>
        <div class="field" class:has-error=move || err("allowed_networks")().is_some()>
            <label for="token-networks">"Allowed networks " <span class="optional">"(optional)"</span></label>
            <p class="hint" id="token-networks-hint">"One IPv4 or IPv6 address or CIDR range per line, e.g. 10.0.0.0/8 or 2001:db8::/48. Empty: the token works from any address."</p>
            <textarea
                id="token-networks"
                name="allowed_networks"
                rows="2"
                maxlength="4000"
                spellcheck="false"
                autocomplete="off"
                aria-invalid=invalid("allowed_networks")
                aria-describedby="token-networks-hint token-networks-error"
            >
                {form.allowed_networks.clone()}
            </textarea>
            <p class="field-error" id="token-networks-error" hidden=move || err("allowed_networks")().is_none()>
                {err("allowed_networks")}
            </p>
        </div>
        // a token that already has full access keeps it without a password
        <SudoField error=Signal::derive(err(SUDO_FIELD)) confirmed=sudo || (editing && is_full) for_full=true />
    }
}

/// The fields on a plain page (`…/new`, `…/{id}/edit`): an island, so the
/// expiry hint follows the picker once the WASM has loaded; the page's own
/// `<form>` posts them, with or without it.
#[island]
pub fn PlainTokenFields(
    form: TokenForm,
    /// What the last post's fields were refused for.
    errors: Errors,
    max_days: u32,
    now: DateTime<Utc>,
    /// Editing: the token's current expiration.
    current_expiry: Option<DateTime<Utc>>,
    sudo: bool,
    notes: Vec<String>,
    admin: bool,
    owners: Vec<OwnerLimit>,
) -> impl IntoView {
    view! {
        <TokenFormFields form errors=Signal::stored(errors) max_days now current_expiry sudo notes admin owners />
    }
}

/// A form element's fields, in order (browser only).
pub fn form_pairs(form: &web_sys::HtmlFormElement) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    if let Ok(data) = web_sys::FormData::new_with_form(form) {
        if let Ok(Some(iter)) = js_sys::try_iter(&data) {
            for entry in iter.flatten() {
                let entry = js_sys::Array::from(&entry);
                if let (Some(k), Some(v)) = (entry.get(0).as_string(), entry.get(1).as_string()) {
                    pairs.push((k, v));
                }
            }
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resulting_date_never_overflows() {
        let now = DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            resulting_date("30", "", now, None).as_deref(),
            Some("Expires on Dec 28, 2026 (UTC)")
        );
        for huge in ["999999999", "9223372036854775807", "-9223372036854775808"] {
            assert_eq!(resulting_date(huge, "", now, None), None, "{huge}");
        }
        assert_eq!(resulting_date("custom", "+999999-12-31", now, None), None);
        assert_eq!(
            resulting_date("custom", "2027-02-03", now, None).as_deref(),
            Some("Expires on Feb 3, 2027 at 23:59 UTC")
        );
        for bad in [
            "",
            "2027-2-3",
            "2027-02-30",
            "27-02-03",
            "2027-02-03x",
            "２０２７-02-03",
            "2027--02-03",
        ] {
            assert_eq!(resulting_date("custom", bad, now, None), None, "{bad}");
        }
    }

    #[test]
    fn dates_read_as_chrono_would_write_them() {
        for ts in [
            0i64,
            951_782_400,
            1_798_675_200,
            4_102_444_799,
            253_402_300_799,
        ] {
            let d = DateTime::from_timestamp(ts, 0).unwrap();
            assert_eq!(fmt_date(d), d.format("%b %-d, %Y").to_string(), "{ts}");
        }
    }
}
