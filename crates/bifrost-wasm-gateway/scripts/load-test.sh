#!/usr/bin/env bash
# Bounded loopback load test of the gateway: the same load generator, in the same run, against
#   1. the gateway with no plugin, and
#   2. the gateway with hello-world (every hook implemented),
# both on the mock provider, first under load (CONCURRENCY connections: throughput) and then
# with one connection (latency without queueing: what one plugin adds to a request).
# Every request carries a unique marker that the mock echoes; a lost, failed or mixed-up answer
# fails the run. Prints requests/s and latency percentiles per case and the ratios.
#
# Settings (environment): DURATION seconds per case (default 5), CONCURRENCY connections
# (default 32), RUST_LOG for the server (default warn: the per-request info line is not
# written during the measurement), PROFILE cargo profile (default release).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cd "$root"

duration="${DURATION:-5}"
concurrency="${CONCURRENCY:-32}"
profile="${PROFILE:-release}"
export RUST_LOG="${RUST_LOG:-warn}"

cargo build --quiet --profile "$profile" -p bifrost-wasm-gateway --examples
cargo build --quiet --profile wasm --target wasm32-unknown-unknown -p hello-world --target-dir target/plugins
dir="target/$profile"
[ "$profile" = dev ] && dir="target/debug"
serve="$dir/examples/serve"
loadgen="$dir/examples/loadgen"
plugin="target/plugins/wasm32-unknown-unknown/wasm/hello_world.wasm"

work="$(mktemp -d)"
server=""
stop_server() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=""
  fi
}
trap stop_server EXIT

run_case() {
  local label="$1"
  local conns="$2"
  shift 2
  : >"$work/stdout"
  "$serve" --listen 127.0.0.1:0 "$@" >"$work/stdout" 2>"$work/stderr.$label" &
  server=$!
  local url=""
  for _ in $(seq 1 600); do
    url="$(sed -n 's/^listening on //p' "$work/stdout" | head -n1)"
    [ -n "$url" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$work/stderr.$label" >&2; exit 1; }
    sleep 0.1
  done
  [ -n "$url" ] || { echo "server did not start" >&2; exit 1; }
  # Warm up (connections, instance memory), then measure.
  "$loadgen" --url "$url/v1/chat/completions" --concurrency "$conns" --duration 1 --label "warmup-$label" >/dev/null
  "$loadgen" --url "$url/v1/chat/completions" --concurrency "$conns" --duration "$duration" --label "$label" | tee "$work/result.$label"
  stop_server
}

echo "load test: $duration s per case, loopback, $(nproc) cores shared by client and server"
run_case "no-plugin" "$concurrency"
run_case "hello-world" "$concurrency" --plugin "$plugin"
run_case "no-plugin-c1" 1
run_case "hello-world-c1" 1 --plugin "$plugin"

python3 - "$work" <<'PY'
import json, sys
def load(label):
    for line in open(f"{sys.argv[1]}/result.{label}"):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise SystemExit(f"no RESULT line for {label}")
rows = [load(l) for l in ("no-plugin", "hello-world", "no-plugin-c1", "hello-world-c1")]
print()
print(f"{'case':<15} {'conns':>5} {'req/s':>9} {'p50 us':>8} {'p90 us':>8} {'p99 us':>8} {'failed':>7} {'mixed':>6}")
for r in rows:
    print(f"{r['label']:<15} {r['concurrency']:>5} {r['rps']:>9.0f} {r['p50_us']:>8} {r['p90_us']:>8} {r['p99_us']:>8} {r['failed']:>7} {r['mixed_up']:>6}")
for base, one in ((rows[0], rows[1]), (rows[2], rows[3])):
    print(f"{base['concurrency']} connection(s): hello-world / no-plugin: throughput x{one['rps']/base['rps']:.2f}, "
          f"p50 +{one['p50_us']-base['p50_us']} us (x{one['p50_us']/max(base['p50_us'],1):.2f}), "
          f"p99 +{one['p99_us']-base['p99_us']} us (x{one['p99_us']/max(base['p99_us'],1):.2f})")
PY
