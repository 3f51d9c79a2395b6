#!/usr/bin/env bash
# Installs the build tools Tessera needs, from package registries only, and
# only when missing: a second run installs nothing.
#   - the wasm32 target for the project toolchain
#   - the site's npm tools (scripts/site/package.json, exact versions from its
#     lock file: binaryen's wasm-opt, esbuild, lightningcss) in target/site-tools
# The site itself is built by scripts/site (`tessera-site`, a workspace
# member that links wasm-bindgen as a library at Cargo.lock's version), so
# neither cargo-leptos nor wasm-bindgen-cli is needed. `cargo leptos watch`
# (the live-reload dev loop) still works from the same metadata once you
# install cargo-leptos yourself: see README.
# `setup-tools.sh wasm32` or `setup-tools.sh npm` does one half (`make build`
# compiles the site tool while the npm half downloads).
set -euo pipefail
cd "$(dirname "$0")/.."
only=${1:-}

say() { printf '==> %s\n' "$*"; }

export PATH="$HOME/.cargo/bin:$PATH"

if [ "$only" != npm ] && ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

tools=target/site-tools
if [ "$only" != wasm32 ] && { [ ! -f "$tools/node_modules/.package-lock.json" ] || ! cmp -s scripts/site/package-lock.json "$tools/package-lock.json"; }; then
  say "installing the site's npm tools (wasm-opt, esbuild, lightningcss) into $tools"
  mkdir -p "$tools"
  cp scripts/site/package.json scripts/site/package-lock.json "$tools/"
  (cd "$tools" && npm ci --no-audit --no-fund --silent)
fi

# The OpenID Provider the single sign-on tests sign in through (panva's
# oidc-provider, scripts/idp/package-lock.json), for `make test` only.
idp=scripts/idp
if [ "$only" = "" ] || [ "$only" = idp ]; then
  if [ ! -f "$idp/node_modules/.package-lock.json" ] || [ "$idp/package-lock.json" -nt "$idp/node_modules/.package-lock.json" ]; then
    say "installing the test identity provider (oidc-provider) into $idp/node_modules"
    (cd "$idp" && npm ci --no-audit --no-fund --silent)
  fi
fi

# The SCIM client of the provisioning tests (scim2-client from PyPI, pinned
# in scripts/scim/requirements.txt) in its own virtual environment.
venv=target/scim-venv
if [ "$only" = "" ] || [ "$only" = scim ]; then
  if [ ! -x "$venv/bin/python" ] || [ scripts/scim/requirements.txt -nt "$venv/.installed" ]; then
    say "installing the SCIM client (scim2-client) into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/scim/requirements.txt
    touch "$venv/.installed"
  fi
fi
