#!/usr/bin/env bash
# Bounded soak of the gateway (not a CI step): BATCHES x 10,000 requests (default 30, i.e.
# 300,000), every STREAM_EVERY-th a stream (default 4), through `serve` with a three-plugin
# chain (redact, cache, hello-world) on the mock provider, CONCURRENCY connections (default 16).
# After each batch it prints the gateway's resident memory and open file descriptors and the
# batch's p50/p99. It fails when any request failed or was mixed up, when RSS grew more than
# 5 MiB after the warm-up (the first WARMUP batches, default 3), or when the open descriptors
# changed after it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
batches="${BATCHES:-30}"
stream_every="${STREAM_EVERY:-4}"
concurrency="${CONCURRENCY:-16}"
warmup="${WARMUP:-3}"
per_connection=$(( 10000 / concurrency ))

cargo build --quiet --release -p bifrost-wasm-gateway --examples
for p in redact cache hello-world; do
  cargo rustc --quiet --lib --crate-type cdylib --profile wasm --target wasm32-unknown-unknown -p "$p" --target-dir target/plugins
done
wasm="target/plugins/wasm32-unknown-unknown/wasm"
work="$(mktemp -d)"
cat >"$work/config.json" <<JSON
{"plugins": [
  {"path": "$root/$wasm/redact.wasm", "name": "redact", "enabled": true},
  {"path": "$root/$wasm/cache.wasm", "name": "cache", "enabled": true},
  {"path": "$root/$wasm/hello_world.wasm", "name": "hello", "enabled": true}
]}
JSON
RUST_LOG=warn target/release/examples/serve --config "$work/config.json" --listen 127.0.0.1:0 >"$work/stdout" 2>"$work/stderr" &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
url=""
for _ in $(seq 1 600); do
  url="$(sed -n 's/^listening on //p' "$work/stdout" | head -n1)"
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "the gateway did not start"; cat "$work/stderr"; exit 1; }

rss() { awk '/^VmRSS/ {print $2}' "/proc/$server/status"; }
fds() { ls "/proc/$server/fd" | wc -l; }

printf '%-6s %9s %7s %7s %9s %5s %7s %7s\n' batch requests failed mixed rss_kib fds p50_us p99_us
total=0; failed=0; base_rss=0; base_fds=0; worst_growth=0; fd_drift=0
for b in $(seq 1 "$batches"); do
  line="$(target/release/examples/loadgen --url "$url/v1/chat/completions" --concurrency "$concurrency" \
    --requests "$per_connection" --duration 120 --model mock-echo --stream-every "$stream_every" \
    --label "soak-$b" 2>/dev/null | sed -n 's/^RESULT //p' || true)"
  ok=$(sed -n 's/.*"ok":\([0-9]*\).*/\1/p' <<<"$line"); bad=$(sed -n 's/.*"failed":\([0-9]*\).*/\1/p' <<<"$line")
  mixed=$(sed -n 's/.*"mixed_up":\([0-9]*\).*/\1/p' <<<"$line")
  p50=$(sed -n 's/.*"p50_us":\([0-9]*\).*/\1/p' <<<"$line"); p99=$(sed -n 's/.*"p99_us":\([0-9]*\).*/\1/p' <<<"$line")
  ok=${ok:-0}; bad=${bad:-1}; mixed=${mixed:-0}
  total=$((total + ok + bad)); failed=$((failed + bad + mixed))
  r=$(rss); f=$(fds)
  if [ "$b" -eq "$warmup" ]; then base_rss=$r; base_fds=$f; fi
  if [ "$b" -gt "$warmup" ]; then
    growth=$((r - base_rss)); [ "$growth" -gt "$worst_growth" ] && worst_growth=$growth
    [ "$f" -ne "$base_fds" ] && fd_drift=$((f - base_fds))
  fi
  printf '%-6s %9s %7s %7s %9s %5s %7s %7s\n' "$b" "$total" "$bad" "$mixed" "$r" "$f" "${p50:-?}" "${p99:-?}"
done
echo
echo "requests: $total, failed or mixed up: $failed, RSS growth after warm-up: ${worst_growth} KiB, fd drift: $fd_drift"
status=0
[ "$failed" -eq 0 ] || { echo "FAIL: $failed requests failed"; status=1; }
[ "$worst_growth" -le 5120 ] || { echo "FAIL: RSS grew more than 5 MiB after the warm-up"; status=1; }
[ "$fd_drift" -eq 0 ] || { echo "FAIL: open descriptors changed after the warm-up"; status=1; }
[ "$status" -eq 0 ] && echo "soak: OK"
exit "$status"
