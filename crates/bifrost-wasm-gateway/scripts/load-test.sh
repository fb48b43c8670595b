#!/usr/bin/env bash
# Bounded loopback load test of the gateway: the same load generator, in the same run, against
#   1. the gateway with no plugin, and
#   2. the gateway with hello-world (every hook implemented, one instance),
# both on the mock provider, first under load (CONCURRENCY connections: throughput) and then
# with one connection (latency without queueing: what one plugin adds to a request); then
#   3. a chain of two plugins whose pre_hook each burns ~50 µs of CPU (fixtures/burn.wat), under
#      load, once as the gateway runs it (each plugin held only while its own hook runs) and once
#      with --serialize-steps (one lock over every whole chain step, as the gateway used to run).
# Every request carries a unique marker that the mock echoes; a lost, failed or mixed-up answer
# fails the run. Prints requests/s and latency percentiles per case and the ratios.
#
# The cases run in ROUNDS rounds, one after the other within each round, so that the load of
# a shared machine falls on all of them alike; the table shows each case's median over the
# rounds.
#
# Settings (environment): DURATION seconds per case and round (default 3), ROUNDS (default 3),
# CONCURRENCY connections (default 32), RUST_LOG for the server (default warn: the per-request
# info line is not written during the measurement), PROFILE cargo profile (default release),
# BASELINE_SERVE the `serve` example of another build (e.g. an older commit) to run cases 1
# and 2 with as well, in the same rounds.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cd "$root"

duration="${DURATION:-3}"
rounds="${ROUNDS:-3}"
concurrency="${CONCURRENCY:-32}"
profile="${PROFILE:-release}"
baseline="${BASELINE_SERVE:-}"
export RUST_LOG="${RUST_LOG:-warn}"

cargo build --quiet --profile "$profile" -p bifrost-wasm-gateway --examples
cargo rustc --quiet --lib --crate-type cdylib --profile wasm --target wasm32-unknown-unknown -p hello-world --target-dir target/plugins
dir="target/$profile"
[ "$profile" = dev ] && dir="target/debug"
serve="$dir/examples/serve"
loadgen="$dir/examples/loadgen"
plugin="target/plugins/wasm32-unknown-unknown/wasm/hello_world.wasm"
burn="$here/fixtures/burn.wat"

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

labels=()
# run_case LABEL CONNECTIONS SERVE-BINARY [serve arguments...]
run_case() {
  local label="$1"
  local conns="$2"
  local binary="$3"
  shift 3
  : >"$work/stdout"
  "$binary" --listen 127.0.0.1:0 "$@" >"$work/stdout" 2>"$work/stderr.$label" &
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
  "$loadgen" --url "$url/v1/chat/completions" --concurrency "$conns" --duration "$duration" --label "$label" \
    | tee -a "$work/result.$label" | grep '^RESULT' | cut -c1-150
  labels+=("$label")
  stop_server
}

echo "load test: $rounds rounds of $duration s per case, loopback, $(nproc) cores shared by client and server"
for round in $(seq 1 "$rounds"); do
  labels=()
  run_case "no-plugin" "$concurrency" "$serve"
  run_case "hello-world" "$concurrency" "$serve" --plugin "$plugin"
  run_case "no-plugin-c1" 1 "$serve"
  run_case "hello-world-c1" 1 "$serve" --plugin "$plugin"
  run_case "burn-x2" "$concurrency" "$serve" --plugin "$burn" --plugin "$burn"
  run_case "burn-x2-serialized" "$concurrency" "$serve" --plugin "$burn" --plugin "$burn" --serialize-steps
  if [ -n "$baseline" ]; then
    run_case "base-no-plugin" "$concurrency" "$baseline"
    run_case "base-hello-world" "$concurrency" "$baseline" --plugin "$plugin"
    run_case "base-no-plugin-c1" 1 "$baseline"
    run_case "base-hello-world-c1" 1 "$baseline" --plugin "$plugin"
  fi
done

python3 - "$work" "${labels[@]}" <<'PY'
import json, sys
work, labels = sys.argv[1], sys.argv[2:]
def load(label):
    runs = [json.loads(line[len("RESULT "):]) for line in open(f"{work}/result.{label}") if line.startswith("RESULT ")]
    if not runs:
        raise SystemExit(f"no RESULT line for {label}")
    median = lambda key: sorted(r[key] for r in runs)[len(runs) // 2]
    row = dict(runs[0])
    for key in ("rps", "p50_us", "p90_us", "p99_us"):
        row[key] = median(key)
    row["failed"] = sum(r["failed"] for r in runs)
    row["mixed_up"] = sum(r["mixed_up"] for r in runs)
    return row
rows = {l: load(l) for l in labels}
print()
print(f"medians over {len(open(f'{work}/result.{labels[0]}').read().split('RESULT ')) - 1} round(s):")
print(f"{'case':<20} {'conns':>5} {'req/s':>9} {'p50 us':>8} {'p90 us':>8} {'p99 us':>8} {'failed':>7} {'mixed':>6}")
for r in rows.values():
    print(f"{r['label']:<20} {r['concurrency']:>5} {r['rps']:>9.0f} {r['p50_us']:>8} {r['p90_us']:>8} {r['p99_us']:>8} {r['failed']:>7} {r['mixed_up']:>6}")
def compare(prefix=""):
    for base, one in ((f"{prefix}no-plugin", f"{prefix}hello-world"), (f"{prefix}no-plugin-c1", f"{prefix}hello-world-c1")):
        b, o = rows[base], rows[one]
        print(f"{prefix or 'this build: '}{b['concurrency']} connection(s): hello-world / no-plugin: throughput x{o['rps']/b['rps']:.2f}, "
              f"p50 +{o['p50_us']-b['p50_us']} us (x{o['p50_us']/max(b['p50_us'],1):.2f}), "
              f"p99 +{o['p99_us']-b['p99_us']} us (x{o['p99_us']/max(b['p99_us'],1):.2f})")
compare()
b, s = rows["burn-x2"], rows["burn-x2-serialized"]
print(f"two ~50 us plugins, {b['concurrency']} connections: per-plugin turns / one lock per step: throughput x{b['rps']/s['rps']:.2f}")
if "base-no-plugin" in rows:
    compare("base-")
PY
