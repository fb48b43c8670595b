#!/usr/bin/env bash
# Starts the gateway (mock provider + hello-world plugin) on a free loopback port and runs the
# unmodified `openai` and `anthropic` Python packages against it (test_openai_client.py,
# test_anthropic_client.py: every request kind), then reads its /metrics page with the
# `prometheus-client` package's parser (test_metrics.py). Then the same clients again through
# a two-plugin chain (hello-world and redact). Exit code: the tests'.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
cd "$root"

python3 -c "import openai" 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check openai
python3 -c "import anthropic" 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check anthropic
python3 -c "import prometheus_client" 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check prometheus-client

cargo build --quiet -p bifrost-wasm-gateway --example serve
cargo rustc --quiet --lib --crate-type cdylib --profile wasm --target wasm32-unknown-unknown -p hello-world --target-dir target/plugins
cargo rustc --quiet --lib --crate-type cdylib --profile wasm --target wasm32-unknown-unknown -p redact --target-dir target/plugins
plugins="target/plugins/wasm32-unknown-unknown/wasm"

servers=()
cleanup() {
  for server in "${servers[@]}"; do
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  done
}
trap cleanup EXIT

# start LOG ARGS...: starts a gateway, sets `url` to its address.
start() {
  local log="$1"
  shift
  target/debug/examples/serve "$@" --listen 127.0.0.1:0 >"$log.stdout" 2>"$log.stderr" &
  local server=$!
  servers+=("$server")
  url=""
  for _ in $(seq 1 600); do
    url="$(sed -n 's/^listening on //p' "$log.stdout" | head -n1)"
    [ -n "$url" ] && return 0
    if ! kill -0 "$server" 2>/dev/null; then
      echo "the gateway did not start:" >&2
      cat "$log.stderr" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "the gateway did not report its address within 60 s" >&2
  cat "$log.stderr" >&2
  exit 1
}

logs="$(mktemp -d)"
status=0
start "$logs/one" --plugin "$plugins/hello_world.wasm"
echo "-- hello-world"
BIFROST_GATEWAY_URL="$url" python3 "$here/test_openai_client.py" || status=$?
BIFROST_GATEWAY_URL="$url" python3 "$here/test_anthropic_client.py" || status=$?
BIFROST_GATEWAY_URL="$url" python3 "$here/test_metrics.py" || status=$?
start "$logs/two" --plugin "$plugins/hello_world.wasm" --plugin "$plugins/redact.wasm"
echo "-- hello-world + redact"
BIFROST_GATEWAY_URL="$url" python3 "$here/test_openai_client.py" || status=$?
BIFROST_GATEWAY_URL="$url" python3 "$here/test_anthropic_client.py" || status=$?
if [ "$status" -ne 0 ]; then
  for log in "$logs"/*.stderr; do
    echo "--- gateway log $log ---" >&2
    tail -n 50 "$log" >&2
  done
fi
exit "$status"
