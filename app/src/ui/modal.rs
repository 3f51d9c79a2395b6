//! Focus inside the page's modal `<dialog>` (see `tokens::TokensApp`):
//! `showModal()` makes the rest of the page inert; focus moves in and is
//! kept there (Tab wraps), and the dialog gives it back when it closes.

use leptos::prelude::*;

const FOCUSABLE: &str = "a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), \
                         select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";

fn focusables(root: &web_sys::HtmlDialogElement) -> Vec<web_sys::HtmlElement> {
    use wasm_bindgen::JsCast;
    let mut out = Vec::new();
    if let Ok(list) = root.query_selector_all(FOCUSABLE) {
        for i in 0..list.length() {
            if let Some(el) = list
                .item(i)
                .and_then(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
            {
                // skip hidden elements (display: none has no layout box)
                if el.offset_parent().is_some() || el.get_client_rects().length() > 0 {
                    out.push(el);
                }
            }
        }
    }
    out
}

/// Focuses `[autofocus]` inside the dialog, or its first focusable element.
pub fn focus_first(root: &web_sys::HtmlDialogElement) {
    use wasm_bindgen::JsCast;
    let target = root
        .query_selector("[autofocus]")
        .ok()
        .flatten()
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
        .or_else(|| focusables(root).into_iter().next());
    if let Some(t) = target {
        let _ = t.focus();
    }
}

/// Keeps Tab and Shift+Tab inside the dialog (wrapping at either end).
pub fn trap_tab(root: &web_sys::HtmlDialogElement, ev: &web_sys::KeyboardEvent) {
    let items = focusables(root);
    let (Some(first), Some(last)) = (items.first(), items.last()) else {
        return;
    };
    let active = document().active_element();
    let is = |el: &web_sys::HtmlElement| {
        active
            .as_ref()
            .is_some_and(|a| a == el.as_ref() as &web_sys::Element)
    };
    let inside = active.as_ref().is_some_and(|a| root.contains(Some(a)));
    if ev.shift_key() && (is(first) || !inside) {
        ev.prevent_default();
        let _ = last.focus();
    } else if !ev.shift_key() && (is(last) || !inside) {
        ev.prevent_default();
        let _ = first.focus();
    }
}
