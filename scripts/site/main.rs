//! `tessera-site`: builds what `cargo leptos build --release --precompress`
//! builds, from the same `[[workspace.metadata.leptos]]`, without installing
//! cargo-leptos (a quarter of an hour to compile) or wasm-bindgen-cli (whose
//! version must match Cargo.lock's): wasm-bindgen is linked in as a library
//! at exactly the lock file's version.
//!
//! `tessera-site site` builds `target/site` (and `hash.txt` beside the
//! server binary); `tessera-site build` also builds the server. Steps, as
//! cargo-leptos 0.3 does them: the wasm32 library build, wasm-bindgen
//! (`--target web`), `wasm-opt -Oz`, the JS minified (esbuild) and the style
//! sheet (lightningcss, the browserslist query), `assets-dir` copied,
//! content hashes in names (MD5, base64url: the same names cargo-leptos
//! gives), then gzip and brotli copies of every file. The npm tools come
//! from `scripts/site/package.json` (`npm ci`, by `scripts/setup-tools.sh`).

use anyhow::{anyhow, bail, Context, Result};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use md5::{Digest, Md5};
use std::{
    collections::BTreeMap,
    fs,
    io::Write as _,
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

/// The wasm-bindgen this tool links (its `Cargo.toml` pins it).
const BINDGEN_VERSION: &str = "0.2.130";

/// What the build needs from `[[workspace.metadata.leptos]]`.
#[derive(Debug)]
struct Project {
    output_name: String,
    /// As written in the metadata (relative to the workspace).
    site_root_rel: String,
    site_root: PathBuf,
    pkg_dir: String,
    style_file: PathBuf,
    assets_dir: Option<PathBuf>,
    lib_package: String,
    lib_features: Vec<String>,
    lib_default_features: bool,
    lib_profile: String,
    bin_package: String,
    bin_target: String,
    bin_features: Vec<String>,
    bin_default_features: bool,
    browserquery: String,
    hash_files: bool,
    site_addr: String,
    reload_port: String,
}

fn strings(t: &toml::Table, key: &str) -> Vec<String> {
    t.get(key)
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl Project {
    fn read(root: &Path) -> Result<Project> {
        let manifest: toml::Table = fs::read_to_string(root.join("Cargo.toml"))?.parse()?;
        let meta = manifest
            .get("workspace")
            .and_then(|w| w.get("metadata"))
            .and_then(|m| m.get("leptos"))
            .and_then(|l| l.as_array())
            .and_then(|a| a.first())
            .and_then(|t| t.as_table())
            .ok_or_else(|| anyhow!("Cargo.toml has no [[workspace.metadata.leptos]]"))?;
        let text = |key: &str, default: &str| -> String {
            meta.get(key)
                .and_then(|v| v.as_str())
                .unwrap_or(default)
                .to_owned()
        };
        let flag =
            |key: &str, default: bool| meta.get(key).and_then(|v| v.as_bool()).unwrap_or(default);
        let name = text("name", "");
        let bin_package = text("bin-package", &name);
        Ok(Project {
            output_name: text("output-name", &name),
            site_root_rel: text("site-root", "target/site"),
            site_root: root.join(text("site-root", "target/site")),
            pkg_dir: text("site-pkg-dir", "pkg"),
            style_file: root.join(
                meta.get("style-file")
                    .and_then(|v| v.as_str())
                    .ok_or_else(|| anyhow!("no style-file in the leptos metadata"))?,
            ),
            assets_dir: meta
                .get("assets-dir")
                .and_then(|v| v.as_str())
                .map(|d| root.join(d)),
            lib_package: text("lib-package", &name),
            lib_features: strings(meta, "lib-features"),
            lib_default_features: flag("lib-default-features", true),
            lib_profile: text("lib-profile-release", "release"),
            bin_target: text("bin-target", &bin_package),
            bin_package,
            bin_features: strings(meta, "bin-features"),
            bin_default_features: flag("bin-default-features", true),
            browserquery: text("browserquery", "defaults"),
            hash_files: flag("hash-files", false),
            site_addr: text("site-addr", "127.0.0.1:3000"),
            reload_port: text("reload-port", "3001"),
        })
    }

    /// The environment cargo-leptos gives both builds (so artifacts are shared
    /// with `cargo leptos` and with `cargo test`).
    fn envs(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("LEPTOS_OUTPUT_NAME", self.output_name.clone()),
            ("LEPTOS_SITE_ROOT", self.site_root_rel.clone()),
            ("LEPTOS_SITE_PKG_DIR", self.pkg_dir.clone()),
            ("LEPTOS_SITE_ADDR", self.site_addr.clone()),
            ("LEPTOS_RELOAD_PORT", self.reload_port.clone()),
            ("LEPTOS_LIB_DIR", self.lib_package.clone()),
            ("LEPTOS_BIN_DIR", self.bin_package.clone()),
            ("LEPTOS_JS_MINIFY", "true".to_owned()),
            ("LEPTOS_HASH_FILES", self.hash_files.to_string()),
        ];
        if self.hash_files {
            v.push(("LEPTOS_HASH_FILE_NAME", "hash.txt".to_owned()));
        }
        v
    }
}

/// A `cargo` command without the variables `cargo run` sets for this tool:
/// build scripts (ring's) re-run when `CARGO_PKG_NAME` and the like differ,
/// so a nested build would not reuse what `cargo build` and `cargo test`
/// made (and they would then rebuild after it).
fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let set_by_cargo_run = name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || name.starts_with("CARGO_CFG_")
            || matches!(
                name,
                "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_RUSTC_CURRENT_DIR"
                    | "CARGO_TARGET_TMPDIR"
                    | "OUT_DIR"
            );
        if set_by_cargo_run {
            cmd.env_remove(name);
        }
    }
    cmd
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// The version Cargo.lock records for the package `name` (the first).
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let mut lines = lock.lines();
    while let Some(l) = lines.next() {
        if l == format!("name = \"{name}\"") {
            return lines
                .next()?
                .strip_prefix("version = \"")?
                .strip_suffix('"')
                .map(str::to_owned);
        }
    }
    None
}

fn features_args(default: bool, features: &[String]) -> Vec<String> {
    let mut args = Vec::new();
    if !default {
        args.push("--no-default-features".to_owned());
    }
    if !features.is_empty() {
        args.push(format!("--features={}", features.join(",")));
    }
    args
}

fn step(what: &str, started: Instant) {
    eprintln!("  {what:<48} {:>6.1} s", started.elapsed().as_secs_f64());
}

/// A tool installed by `npm ci` in `target/site-tools`.
fn npm_tool(root: &Path, name: &str) -> Result<PathBuf> {
    let p = root.join("target/site-tools/node_modules/.bin").join(name);
    if !p.exists() {
        bail!(
            "{} is missing: run scripts/setup-tools.sh (npm ci of scripts/site/package.json)",
            p.display()
        );
    }
    Ok(p)
}

fn build_site(root: &Path, p: &Project) -> Result<()> {
    let lock = fs::read_to_string(root.join("Cargo.lock"))?;
    match locked_version(&lock, "wasm-bindgen") {
        Some(v) if v == BINDGEN_VERSION => {}
        other => bail!(
            "Cargo.lock has wasm-bindgen {other:?}, this tool links {BINDGEN_VERSION}: \
             update wasm-bindgen-cli-support in scripts/site/Cargo.toml to the same version"
        ),
    }
    let (wasm_opt, esbuild, lightningcss) = (
        npm_tool(root, "wasm-opt")?,
        npm_tool(root, "esbuild")?,
        npm_tool(root, "lightningcss")?,
    );

    let t = Instant::now();
    let front_target = root.join("target/front");
    let mut cargo = cargo();
    cargo
        .current_dir(root)
        .args(["build", &format!("--package={}", p.lib_package), "--lib"])
        .arg(format!("--target-dir={}", front_target.display()))
        .arg("--target=wasm32-unknown-unknown")
        .args(features_args(p.lib_default_features, &p.lib_features))
        .arg(format!("--profile={}", p.lib_profile))
        .envs(p.envs());
    run(&mut cargo, "the wasm32 build")?;
    step("wasm32 build", t);

    let t = Instant::now();
    let lib_file = p.lib_package.replace('-', "_");
    let input = front_target
        .join("wasm32-unknown-unknown")
        .join(&p.lib_profile)
        .join(format!("{lib_file}.wasm"));
    if p.site_root.exists() {
        fs::remove_dir_all(&p.site_root)?;
    }
    let pkg = p.site_root.join(&p.pkg_dir);
    fs::create_dir_all(&pkg)?;
    let wasm = pkg.join(format!("{}.wasm", p.output_name));
    let js = pkg.join(format!("{}.js", p.output_name));
    // wasm-bindgen's and wasm-opt's output depends only on the input and the
    // tools: kept under the input's hash, so an unchanged WASM (a server-only
    // change) skips the ~45 s of wasm-opt
    let mut key = Md5::new();
    key.update(fs::read(&input).with_context(|| format!("reading {}", input.display()))?);
    key.update(BINDGEN_VERSION);
    key.update(fs::read(root.join("scripts/site/package-lock.json")).unwrap_or_default());
    let cache = front_target
        .join("site-cache")
        .join(URL_SAFE_NO_PAD.encode(key.finalize()));
    let (cached_wasm, cached_js) = (cache.join("out.wasm"), cache.join("out.js"));
    if cached_wasm.exists() && cached_js.exists() {
        fs::copy(&cached_wasm, &wasm)?;
        fs::copy(&cached_js, &js)?;
        step("wasm-bindgen and wasm-opt (unchanged WASM: cached)", t);
    } else {
        wasm_bindgen_cli_support::Bindgen::new()
            .input_path(&input)
            .out_name(&p.output_name)
            .web(true)?
            .typescript(false)
            .generate(&pkg)
            .map_err(|e| anyhow!("wasm-bindgen: {e}"))?;
        // the name leptos' HydrationScripts loads
        fs::rename(pkg.join(format!("{}_bg.wasm", p.output_name)), &wasm)?;
        step("wasm-bindgen", t);
        let t = Instant::now();
        run(
            Command::new(&wasm_opt)
                .args([
                    "-Oz",
                    "--enable-bulk-memory",
                    "--enable-nontrapping-float-to-int",
                ])
                .arg(&wasm)
                .arg("-o")
                .arg(&wasm),
            "wasm-opt",
        )?;
        step("wasm-opt -Oz", t);
        let _ = fs::remove_dir_all(front_target.join("site-cache"));
        // (inline JS snippets would be more files: then nothing is cached)
        if !pkg.join("snippets").exists() {
            fs::create_dir_all(&cache)?;
            fs::copy(&wasm, &cached_wasm)?;
            fs::copy(&js, &cached_js)?;
        }
    }

    let t = Instant::now();
    run(
        Command::new(&esbuild)
            .arg(&js)
            .args([
                "--minify",
                "--format=esm",
                "--log-level=warning",
                "--allow-overwrite",
            ])
            .arg(format!("--outfile={}", js.display())),
        "esbuild (JS minification)",
    )?;
    let css = pkg.join(format!("{}.css", p.output_name));
    run(
        Command::new(&lightningcss)
            .args(["--minify", "--targets", &p.browserquery])
            .arg(&p.style_file)
            .arg("-o")
            .arg(&css),
        "lightningcss",
    )?;
    if let Some(assets) = &p.assets_dir {
        copy_dir(assets, &p.site_root)?;
    }
    step("JS, CSS and assets", t);

    if p.hash_files {
        let t = Instant::now();
        let hashes = hash_names(&pkg, &css)?;
        let line = |path: &Path| -> Result<String> {
            hashes
                .get(path)
                .cloned()
                .ok_or_else(|| anyhow!("no hash for {}", path.display()))
        };
        let hash_txt = format!(
            "js: {}\nwasm: {}\ncss: {}\n",
            line(&js)?,
            line(&wasm)?,
            line(&css)?
        );
        // beside the server binary, where the server (leptos) reads it
        let bin_dir = root.join("target/release");
        fs::create_dir_all(&bin_dir)?;
        fs::write(bin_dir.join("hash.txt"), hash_txt)?;
        step("content hashes", t);
    }

    let t = Instant::now();
    let n = precompress(&p.site_root)?;
    step(&format!("gzip and brotli copies of {n} files"), t);
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else {
            fs::copy(entry.path(), dest)?;
        }
    }
    Ok(())
}

/// Renames every file of `pkg` (except other style sheets than `css`, and
/// wasm-bindgen's `snippets` directory, which the WASM imports by name) to
/// `stem.HASH.ext`, HASH being the base64url MD5 of its content, and points
/// the main JS at the new names. Returns old path → hash.
fn hash_names(pkg: &Path, css: &Path) -> Result<BTreeMap<PathBuf, String>> {
    let mut hashes = BTreeMap::new();
    for entry in fs::read_dir(pkg)? {
        let path = entry?.path();
        if !path.is_file() || (path.extension().is_some_and(|e| e == "css") && path != css) {
            continue;
        }
        let hash = URL_SAFE_NO_PAD.encode(Md5::digest(fs::read(&path)?));
        hashes.insert(path, hash);
    }
    let mut renamed = Vec::new();
    for (path, hash) in &hashes {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let ext = path
            .extension()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let new = path.with_file_name(format!("{stem}.{hash}.{ext}"));
        fs::rename(path, &new)?;
        renamed.push((path.clone(), new));
    }
    for (old, new) in &renamed {
        if old.extension().is_some_and(|e| e == "js") {
            let mut text = fs::read_to_string(new)?;
            for (o, n) in &renamed {
                let (o, n) = (file_name(o), file_name(n));
                text = text.replace(&o, &n);
            }
            fs::write(new, text)?;
        }
    }
    Ok(hashes)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Writes `F.gz` and `F.br` beside every file `F` under `dir`; returns how
/// many files were compressed.
fn precompress(dir: &Path) -> Result<usize> {
    let mut n = 0;
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            n += precompress(&path)?;
            continue;
        }
        if path.extension().is_some_and(|e| e == "gz" || e == "br") {
            continue;
        }
        let data = fs::read(&path)?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&data)?;
        fs::write(with_suffix(&path, ".gz"), gz.finish()?)?;
        let mut br = Vec::new();
        let params = brotli::enc::BrotliEncoderParams::default(); // quality 11
        brotli::BrotliCompress(&mut data.as_slice(), &mut br, &params)?;
        fs::write(with_suffix(&path, ".br"), br)?;
        n += 1;
    }
    Ok(n)
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn server_build(root: &Path, p: &Project) -> Command {
    let mut cargo = cargo();
    cargo
        .current_dir(root)
        .args(["build", &format!("--package={}", p.bin_package)])
        .arg(format!("--bin={}", p.bin_target))
        .args(features_args(p.bin_default_features, &p.bin_features))
        .arg("--release")
        .envs(p.envs());
    cargo
}

/// The site and the server at once: the server build does not read the
/// site, and each build has single-threaded stretches (the WASM's LTO and
/// wasm-opt, the big crates' front ends) the other fills on a second core.
fn build_both(root: &Path, p: &Project) -> Result<()> {
    let t = Instant::now();
    let mut server = server_build(root, p)
        .spawn()
        .context("cannot start the server build")?;
    let site = build_site(root, p);
    if site.is_err() {
        let _ = server.kill();
    }
    let status = server.wait().context("waiting for the server build")?;
    site?;
    if !status.success() {
        bail!("the server build failed ({status})");
    }
    step("server build (alongside the site)", t);
    Ok(())
}

fn main() -> std::process::ExitCode {
    let what = std::env::args().nth(1).unwrap_or_else(|| "build".into());
    // the workspace root: this crate is scripts/site
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let result = Project::read(&root).and_then(|p| match what.as_str() {
        "site" => build_site(&root, &p),
        "build" => build_both(&root, &p),
        "server" => run(&mut server_build(&root, &p), "the server build"),
        other => Err(anyhow!(
            "usage: tessera-site [site|server|build] (not {other:?})"
        )),
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tessera-site: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_linked_wasm_bindgen_is_the_lock_files() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let lock = fs::read_to_string(root.join("Cargo.lock")).unwrap();
        assert_eq!(
            locked_version(&lock, "wasm-bindgen").as_deref(),
            Some(BINDGEN_VERSION)
        );
        assert_eq!(
            locked_version(&lock, "wasm-bindgen-cli-support").as_deref(),
            Some(BINDGEN_VERSION)
        );
    }

    #[test]
    fn reads_the_leptos_metadata() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let p = Project::read(&root).unwrap();
        assert_eq!(p.output_name, "tessera");
        assert_eq!(p.lib_package, "frontend");
        assert_eq!(p.lib_features, ["hydrate"]);
        assert!(!p.lib_default_features);
        assert_eq!(p.lib_profile, "wasm-release");
        assert_eq!(p.bin_features, ["ssr"]);
        assert!(p.hash_files);
    }

    #[test]
    fn hashed_names_are_cargo_leptos_names_and_the_js_follows() {
        let dir = std::env::temp_dir().join(format!("tessera-site-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("t.js"), "fetch('t.wasm')").unwrap();
        fs::write(dir.join("t.wasm"), b"\0asm").unwrap();
        fs::write(dir.join("t.css"), "a{}").unwrap();
        fs::write(dir.join("other.css"), "b{}").unwrap();
        let hashes = hash_names(&dir, &dir.join("t.css")).unwrap();
        let wasm_hash = URL_SAFE_NO_PAD.encode(Md5::digest(b"\0asm"));
        assert_eq!(hashes[&dir.join("t.wasm")], wasm_hash);
        assert_eq!(wasm_hash.len(), 22);
        assert!(dir.join(format!("t.{wasm_hash}.wasm")).exists());
        assert!(
            dir.join("other.css").exists(),
            "other style sheets keep their names"
        );
        let js =
            fs::read_to_string(dir.join(format!("t.{}.js", hashes[&dir.join("t.js")]))).unwrap();
        assert_eq!(js, format!("fetch('t.{wasm_hash}.wasm')"));
        assert_eq!(precompress(&dir).unwrap(), 4);
        assert!(dir.join(format!("t.{wasm_hash}.wasm.br")).exists());
        let _ = fs::remove_dir_all(&dir);
    }
}
