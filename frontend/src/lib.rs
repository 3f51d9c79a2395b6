//! The browser half. The pages are server HTML; only the islands (the
//! tokens page's dialogs and list, the token form's live hints, the profile
//! menu) hydrate. The page's boot script (`app::ui::boot`) loads this
//! module after the page has loaded, calls [`hydrate`], then each island's
//! hydration function, then marks `<html data-hydrated>`.

// The islands' hydration functions are exported from the app crate: it
// must be linked in even though nothing here names an item of it.
use app as _;

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
