#!/usr/bin/env bash
# Proves that `bifrost-wasm new` creates a plugin crate that builds and passes its tests as
# generated, anywhere and offline: it installs nothing, scaffolds into an empty folder outside
# this repository with the SDK sources the CLI carries (`--vendor`, what `new` does when the
# source tree it was built from is gone), and runs in the new crate, with CARGO_NET_OFFLINE:
#   make build, make build-optimized (when wasm-opt is installed), cargo test (native tests and
#   the built .wasm through the host), cargo clippy -D warnings, bifrost-wasm check.
# It checks that a second `new` into the now non-empty folder is refused. Then it checks the
# default mode (path dependencies into this tree) the same way, and that `cargo package`
# succeeds for the crates a registry release would publish (nothing is published).
# (`cargo test -p bifrost-wasm-cli --test new` proves the --vendor case in CI, without clippy
# and with unoptimised dependencies.)
# Slow the first time: the new crate's tests compile the host and wasmtime. It uses this
# workspace's target directory (same lock file, same profiles), so later runs reuse those
# artifacts (the workspace's own builds unify other features, so they are not reused).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name="${1:-scaffold-demo}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

step() { printf '\n==> %s\n' "$*"; }

step "building bifrost-wasm"
(cd "$root" && cargo build --quiet -p bifrost-wasm-cli)
cli="$root/target/debug/bifrost-wasm"
export CARGO_TARGET_DIR="$root/target"
export CARGO_NET_OFFLINE=true

check_crate() {
  local crate="$1"
  cd "$crate"
  step "make build ($crate)"
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
  cd - >/dev/null
}

step "bifrost-wasm new $name --vendor, in an empty folder outside the repository"
(cd "$work" && "$cli" new "$name" --vendor)
step "bifrost-wasm new $name again: refused, the folder is not empty"
if (cd "$work" && "$cli" new "$name" --vendor 2>"$work/refused.txt"); then
  echo "a second \`new\` into the same folder succeeded"; exit 1
fi
grep -q "already exists and is not empty" "$work/refused.txt"
cat "$work/refused.txt"
check_crate "$work/$name"

step "bifrost-wasm new $name-tree (path dependencies into the tree the CLI was built from)"
(cd "$work" && "$cli" new "$name-tree")
name="$name-tree" check_crate "$work/$name-tree"

step "cargo package: types, sdk, host (with verification builds)"
unset CARGO_NET_OFFLINE
(cd "$root" && cargo package --quiet --allow-dirty -p bifrost-wasm-types -p bifrost-wasm-sdk -p bifrost-wasm-host)

printf '\nscaffold-check: OK (%s builds, passes its tests and check as generated, offline, outside the repository)\n' "$name"
