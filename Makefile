# Tessera — the two commands: `make run` and `make test`.
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
# Same value the site build (and cargo-leptos) sets, so `cargo test` reuses
# the release artifacts of `make build`.
export LEPTOS_OUTPUT_NAME := tessera

PORT ?= 3000
ADDR ?= 127.0.0.1:$(PORT)

.PHONY: run test lint setup build test-rust test-pgbouncer test-faults test-replicas test-restore test-api-fuzz test-e2e bench fuzz clean

## Build (release) and serve on http://127.0.0.1:3000 with SQLite under ./data/
run: build
	TESSERA_ADDR=$${TESSERA_ADDR:-$(ADDR)} TESSERA_SITE_ROOT=target/site ./target/release/tessera

## Everything: unit and integration tests (SQLite, and Postgres when reachable), then Playwright
test: build test-rust test-pgbouncer test-faults test-replicas test-restore test-api-fuzz test-e2e

## What CI checks before the tests: formatting, and clippy with warnings as
## errors (the app with and without `ssr`, and the server)
lint:
	python3 scripts/module-loops.py
	cargo fmt --all --check
	cargo clippy --quiet -p app --all-targets -- -D warnings
	cargo clippy --quiet -p app -p tessera --all-targets --features app/ssr -- -D warnings

setup:
	@./scripts/setup-tools.sh

## The site (WASM, JS, CSS: hashed, precompressed) and the server, as
## `cargo leptos build --release --precompress` would, by scripts/site
## (the tool compiles while setup fetches the wasm32 target and the npm tools)
build:
	@./scripts/setup-tools.sh wasm32
	@./scripts/setup-tools.sh npm & npm=$$!; \
	  cargo build --quiet --profile site-tool -p tessera-site; built=$$?; \
	  wait $$npm && [ $$built = 0 ]
	cargo run --quiet --profile site-tool -p tessera-site -- build

test-rust: setup
	cargo test --release -p app -p tessera --features app/ssr
	cargo test --profile site-tool -p tessera-site

## the Postgres integration tests again, through PgBouncer in transaction pooling mode
test-pgbouncer: setup
	./scripts/pgbouncer-tests.sh

## token checks from a real streaming replica (pg_basebackup -R; root), two instances behind nginx
test-replicas: build
	python3 scripts/replica-check.py

## Postgres stopped under load, kill -9 during creates (needs a local cluster; root)
test-faults: build
	python3 scripts/fault-postgres.py

## a backup taken while Tessera runs restores into a fresh database whose tokens verify
test-restore: build
	python3 scripts/restore-check.py

## schemathesis from the OpenAPI document: no 5xx, every answer matches its schema
test-api-fuzz: build
	./scripts/schemathesis.sh

test-e2e: build
	cd end2end && ./run.sh

## Not in `make test`: every cargo-fuzz target for FUZZ_SECONDS (default 60) each
fuzz:
	./scripts/fuzz.sh

clean:
	cargo clean
	rm -rf end2end/node_modules end2end/test-results end2end/playwright-report
