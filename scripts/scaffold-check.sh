#!/usr/bin/env bash
# Proves that `bifrost-wasm new` creates a plugin crate that builds and passes its tests as
# generated: it scaffolds one under target/scaffold-check/ and runs, in the new crate,
#   make build, make build-optimized (when wasm-opt is installed), cargo test (native tests
#   and the built .wasm through the host), cargo clippy -D warnings, bifrost-wasm check.
# Slow the first time: it compiles the crate's dev-dependencies (the host, wasmtime). The new
# crate resolves the workspace's dependency versions and shares its target directory, so a
# workspace that has already built the host reuses those artifacts.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name="${1:-scaffold-demo}"
work="$root/target/scaffold-check"
crate="$work/$name"

step() { printf '\n==> %s\n' "$*"; }

step "building bifrost-wasm"
(cd "$root" && cargo build --quiet -p bifrost-wasm-cli)
cli="$root/target/debug/bifrost-wasm"

step "bifrost-wasm new $name --path $crate"
rm -rf "$crate"
mkdir -p "$work"
"$cli" new "$name" --path "$crate"

cd "$crate"
cp "$root/Cargo.lock" Cargo.lock
export CARGO_TARGET_DIR="$root/target"

step "make build"
make build

if command -v wasm-opt >/dev/null; then
  step "make build-optimized"
  make build-optimized
else
  step "make build-optimized skipped: wasm-opt is not installed"
fi

step "cargo test"
cargo test

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --quiet --all-targets -- -D warnings

step "bifrost-wasm check build/$name.wasm"
"$cli" check "build/$name.wasm"

step "make clean"
make clean
test ! -e build

printf '\nscaffold-check: OK (%s builds, passes its tests and check as generated)\n' "$name"
