//! The page's boot script: loads the WASM once the page has loaded (so it
//! never competes with what the first paint needs: no preload hints), then
//! hydrates each island and marks `<html data-hydrated="true">`, which tests
//! and CSS use to tell a live page from plain server HTML.
//!
//! Leptos's `HydrationScripts` does the same in islands mode, but starts
//! on the first idle moment (before `load`, racing the first paint in
//! Lighthouse's simulation), preloads the WASM at page start, reads the hash
//! file on every request, and has no "done" signal after the islands.

use leptos::prelude::*;

/// The `<script type="module">` of the page's `<head>` (server only).
#[cfg(feature = "ssr")]
pub fn boot_script(options: &LeptosOptions) -> impl IntoView {
    let (js, wasm) = asset_names(options);
    let pkg = format!("/{}", options.site_pkg_dir);
    let script = script(&format!("{pkg}/{js}.js"), &format!("{pkg}/{wasm}.wasm"));
    let nonce = leptos::nonce::use_nonce();
    view! { <script type="module" nonce=nonce>{script}</script> }
}

/// In the browser the shell is never rendered.
#[cfg(not(feature = "ssr"))]
pub fn boot_script(_options: &LeptosOptions) -> impl IntoView {}

/// The script for the module `js` and the WASM `wasm` (URL paths).
#[cfg(any(feature = "ssr", test))]
fn script(js: &str, wasm: &str) -> String {
    format!(
        "const boot=async()=>{{\
const m=await import({js:?});\
await m.default({{module_or_path:{wasm:?}}});\
m.hydrate();\
const islands=async r=>{{for(const el of r.querySelectorAll(\"leptos-island:not([data-live])\")){{\
el.dataset.live=\"\";\
const f=m[el.dataset.component];\
if(f)await f(el);\
}}}};\
window.__tesseraIslands=islands;\
await islands(document);\
document.documentElement.dataset.hydrated=\"true\";\
}};\
if(document.readyState===\"complete\")boot();\
else addEventListener(\"load\",boot,{{once:true}});"
    )
}

/// Brings the islands of server HTML put into `root` after the page
/// loaded (a dialog's content) to life, as the boot script did the page's:
/// it leaves `window.__tesseraIslands` for this (browser only).
pub fn hydrate_islands_in(root: &web_sys::Element) {
    use wasm_bindgen::JsCast;
    let f = js_sys::Reflect::get(&window(), &"__tesseraIslands".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    if let Some(f) = f {
        let _ = f.call1(&wasm_bindgen::JsValue::NULL, root);
    }
}

/// The JS and WASM file names without extension: `output_name`, plus the
/// content hash from the hash file beside the binary when assets are
/// hashed (computed once per configuration, not per request).
#[cfg(feature = "ssr")]
fn asset_names(options: &LeptosOptions) -> (String, String) {
    use std::sync::Mutex;
    type Key = (String, bool, String);
    static CACHE: Mutex<Vec<(Key, (String, String))>> = Mutex::new(Vec::new());
    let key: Key = (
        options.output_name.to_string(),
        options.hash_files,
        options.hash_file.to_string(),
    );
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, names)) = cache.iter().find(|(k, _)| *k == key) {
        return names.clone();
    }
    let mut js = options.output_name.to_string();
    let mut wasm = js.clone();
    if options.hash_files {
        let path = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|d| d.join(options.hash_file.as_ref())));
        let hashes = path
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        for (file, hash) in hashes.lines().filter_map(|l| l.trim().split_once(':')) {
            match file.trim() {
                "js" => js = format!("{js}.{}", hash.trim()),
                "wasm" => wasm = format!("{wasm}.{}", hash.trim()),
                _ => {}
            }
        }
    } else if option_env!("LEPTOS_OUTPUT_NAME").is_none() {
        wasm.push_str("_bg");
    }
    cache.push((key, (js.clone(), wasm.clone())));
    (js, wasm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_names_both_files_and_waits_for_load() {
        let s = script("/pkg/t.a.js", "/pkg/t.b.wasm");
        assert!(s.contains("import(\"/pkg/t.a.js\")"), "{s}");
        assert!(s.contains("module_or_path:\"/pkg/t.b.wasm\""), "{s}");
        assert!(s.contains("addEventListener(\"load\""), "{s}");
        assert!(s.ends_with("{once:true});"), "{s}");
        // islands put into the page later (a dialog's) are hydrated once
        assert!(s.contains("window.__tesseraIslands=islands"), "{s}");
        assert!(s.contains("leptos-island:not([data-live])"), "{s}");
    }
}
