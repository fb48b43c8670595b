#!/usr/bin/env bash
# Starts the gateway (mock provider + hello-world plugin) on a free loopback port and runs the
# unmodified `openai` Python package against it (test_openai_client.py), then reads its
# /metrics page with the `prometheus-client` package's parser (test_metrics.py). Exit code:
# the tests'.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
cd "$root"

python3 -c "import openai" 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check openai
python3 -c "import prometheus_client" 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check prometheus-client

cargo build --quiet -p bifrost-wasm-gateway --example serve
cargo rustc --quiet --lib --crate-type cdylib --profile wasm --target wasm32-unknown-unknown -p hello-world --target-dir target/plugins
plugin="target/plugins/wasm32-unknown-unknown/wasm/hello_world.wasm"

log="$(mktemp -d)"
target/debug/examples/serve --plugin "$plugin" --listen 127.0.0.1:0 >"$log/stdout" 2>"$log/stderr" &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
}
trap cleanup EXIT

url=""
for _ in $(seq 1 600); do
  url="$(sed -n 's/^listening on //p' "$log/stdout" | head -n1)"
  [ -n "$url" ] && break
  if ! kill -0 "$server" 2>/dev/null; then
    echo "the gateway did not start:" >&2
    cat "$log/stderr" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$url" ]; then
  echo "the gateway did not report its address within 60 s" >&2
  cat "$log/stderr" >&2
  exit 1
fi

status=0
BIFROST_GATEWAY_URL="$url" python3 "$here/test_openai_client.py" || status=$?
BIFROST_GATEWAY_URL="$url" python3 "$here/test_metrics.py" || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- gateway log ---" >&2
  tail -n 50 "$log/stderr" >&2
fi
exit "$status"
