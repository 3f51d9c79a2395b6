//! A real modal dialog on the native `<dialog>` element: `showModal()` makes
//! the rest of the page inert, focus moves in and is kept there (Tab wraps),
//! Esc closes, and focus returns to the control that opened it.

use leptos::{html, prelude::*};

#[component]
pub fn Modal(
    /// Whether the dialog is shown.
    #[prop(into)]
    open: Signal<bool>,
    /// Called when the user dismisses it (Esc, a Cancel button calls it too).
    on_close: Callback<()>,
    /// Id of the element holding the dialog's title.
    title_id: &'static str,
    children: ChildrenFn,
) -> impl IntoView {
    let dialog = NodeRef::<html::Dialog>::new();
    // The element focused before opening, to give focus back on close. (A
    // plain Rc: effects only ever run in the browser.)
    let opener = std::rc::Rc::new(std::cell::RefCell::new(None::<web_sys::HtmlElement>));

    Effect::new(move |_| {
        let Some(el) = dialog.get() else { return };
        if open.get() {
            if !el.open() {
                let active = document().active_element().and_then(|e| {
                    use wasm_bindgen::JsCast;
                    e.dyn_into::<web_sys::HtmlElement>().ok()
                });
                *opener.borrow_mut() = active;
                let _ = el.show_modal();
                focus_first(&el);
            }
        } else if el.open() {
            el.close();
            if let Some(o) = opener.borrow_mut().take() {
                let _ = o.focus();
            }
        }
    });

    let on_keydown = move |ev: web_sys::KeyboardEvent| {
        if ev.key() == "Tab" {
            if let Some(el) = dialog.get() {
                trap_tab(&el, &ev);
            }
        }
    };

    view! {
        <dialog
            node_ref=dialog
            class="modal"
            aria-labelledby=title_id
            aria-modal="true"
            on:cancel=move |ev: web_sys::Event| {
                ev.prevent_default();
                on_close.run(());
            }
            on:keydown=on_keydown
        >
            <Show when=move || open.get()>{children()}</Show>
        </dialog>
    }
}

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

fn trap_tab(root: &web_sys::HtmlDialogElement, ev: &web_sys::KeyboardEvent) {
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
