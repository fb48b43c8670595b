#!/usr/bin/env bash
# Runs the whole test suite: unit, integration, wasm ABI, host, CLI and gateway tests.
# Tests build the plugins they load from source (into target/plugins).
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-unknown-unknown wasm32-wasip1 >/dev/null 2>&1 || true
cargo test --workspace "$@"
