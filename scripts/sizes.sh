#!/usr/bin/env bash
# Builds every plugin in plugins/ for its wasm target with the workspace's `wasm` profile and
# prints its size plain and after `wasm-opt -Oz` (binaryen; skipped when wasm-opt is missing).
#
#   scripts/sizes.sh            # every plugin
#   scripts/sizes.sh hello-world serde-baseline
#
# Plugins whose Makefile, .cargo/config.toml or Cargo.toml names wasm32-wasip1 are built for it; all
# others for wasm32-unknown-unknown. Builds go to target/plugins (shared with the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET_DIR=target/plugins
WASM_OPT_FLAGS=(-Oz --enable-bulk-memory --enable-sign-ext --enable-mutable-globals
  --enable-nontrapping-float-to-int --enable-multivalue --enable-reference-types)

if [ "$#" -gt 0 ]; then
  plugins=("$@")
else
  plugins=()
  for dir in plugins/*/; do
    [ -f "$dir/Cargo.toml" ] && plugins+=("$(basename "$dir")")
  done
fi

have_opt=1
command -v wasm-opt >/dev/null 2>&1 || have_opt=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

printf '%-22s %-24s %12s %12s\n' plugin target "plain (B)" "wasm-opt (B)"
for name in "${plugins[@]}"; do
  dir="plugins/$name"
  if [ ! -f "$dir/Cargo.toml" ]; then
    echo "error: $dir/Cargo.toml not found; plugin names are the folders in plugins/" >&2
    exit 2
  fi
  package=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$dir/Cargo.toml" | head -1)
  target=wasm32-unknown-unknown
  if grep -qs "wasm32-wasip1" "$dir/Makefile" "$dir/.cargo/config.toml" "$dir/Cargo.toml"; then
    target=wasm32-wasip1
  fi
  # `rustc --crate-type cdylib`: cargo applies LTO only to a library that is not also an rlib.
  cargo rustc --quiet --lib --crate-type cdylib --profile wasm --target "$target" -p "$package" \
    --target-dir "$TARGET_DIR"
  wasm="$TARGET_DIR/$target/wasm/${package//-/_}.wasm"
  plain=$(stat -c %s "$wasm")
  optimized="-"
  if [ "$have_opt" = 1 ]; then
    wasm-opt "${WASM_OPT_FLAGS[@]}" "$wasm" -o "$tmp/opt.wasm"
    optimized=$(stat -c %s "$tmp/opt.wasm")
  fi
  printf '%-22s %-24s %12s %12s\n' "$name" "$target" "$plain" "$optimized"
done
[ "$have_opt" = 1 ] || echo "(wasm-opt not found: install binaryen for optimized sizes)" >&2
