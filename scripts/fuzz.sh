#!/usr/bin/env bash
# Fuzzes the guest's decoding entry points (guest_hooks), the host's reading of guest
# output (host_output), the wire types' decoding and editing (wire_types) and the guest's
# JSON scanner and deserializer against serde_json (json_scan), the SDK's lazy envelope,
# pass-through splice and context edits against serde_json (lazy_paths), and the gateway's
# reading of client requests: OpenAI bodies of every route, Anthropic Messages, transcription
# uploads and an Anthropic upstream's events (gateway_requests).
#
#   scripts/fuzz.sh            # 60 s per target
#   scripts/fuzz.sh 600        # 10 min per target
#   FUZZ_TARGETS=gateway_requests scripts/fuzz.sh 900   # one target
#
# Needs the nightly toolchain and cargo-fuzz (installed on first use).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-60}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
targets="${FUZZ_TARGETS:-guest_hooks host_output wire_types json_scan lazy_paths gateway_requests}"
for target in $targets; do
  mkdir -p "corpus/$target"
  # Seed with the hello-world fixtures so the fuzzer starts from real envelopes.
  cp ../plugins/hello-world/tests/fixtures/*.json "corpus/$target/" 2>/dev/null || true
  cp seeds/"$target"/* "corpus/$target/" 2>/dev/null || true
  echo "== $target for ${seconds}s"
  cargo +nightly fuzz run -O "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 2>&1 \
    | grep -E "^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==|SUMMARY|Done)" || true
  if ls "artifacts/$target"/crash-* >/dev/null 2>&1; then
    echo "crash found in $target: fuzz/artifacts/$target/"; exit 1
  fi
done
echo "fuzzing finished without crashes"
