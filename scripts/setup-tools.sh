#!/usr/bin/env bash
# Installs the build tools Tessera needs, from package registries only, and
# only when missing: a second run installs nothing.
#   - the wasm32 target for the project toolchain
#   - cargo-leptos (built with `no_downloads`, so it never fetches binaries)
#   - wasm-bindgen-cli at exactly the wasm-bindgen version in Cargo.lock
#   - wasm-opt (binaryen, from npm) for release builds
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_LEPTOS_VERSION=0.3.11
# cargo-leptos 0.3.11 and its locked dependencies need a newer compiler than
# the project's; it is installed once with this toolchain.
CARGO_LEPTOS_TOOLCHAIN=1.99.1
BINARYEN_VERSION=132

say() { printf '==> %s\n' "$*"; }

export PATH="$HOME/.cargo/bin:$PATH"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! cargo leptos --version >/dev/null 2>&1; then
  say "installing cargo-leptos $CARGO_LEPTOS_VERSION (once; about 20 minutes on 2 cores)"
  rustup toolchain install "$CARGO_LEPTOS_TOOLCHAIN" --profile minimal
  (cd /tmp && cargo "+$CARGO_LEPTOS_TOOLCHAIN" install cargo-leptos \
      --version "$CARGO_LEPTOS_VERSION" --locked --features no_downloads)
fi

want_bindgen=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
have_bindgen=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$want_bindgen" != "$have_bindgen" ]; then
  say "installing wasm-bindgen-cli $want_bindgen (once; about 7 minutes)"
  # Not --locked: the registry mirror lacks a patched dependency the lock file names.
  (cd /tmp && cargo install wasm-bindgen-cli --version "$want_bindgen" --force)
fi

if ! wasm-opt --version >/dev/null 2>&1; then
  say "installing wasm-opt (binaryen $BINARYEN_VERSION from npm)"
  npm install -g "binaryen@$BINARYEN_VERSION" >/dev/null
fi
