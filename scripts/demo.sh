#!/usr/bin/env bash
# The main job: build the hello-world plugin, start the local gateway (`bifrost-wasm serve`) with
# it on the offline mock provider, send sample requests through it, and show what every hook did
# (the gateway logs one line per request with each plugin hook's outcome and time).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

rustup target add wasm32-unknown-unknown wasm32-wasip1 >/dev/null 2>&1 || true
command -v curl >/dev/null || { echo "the demo needs curl (apt install curl)"; exit 1; }

say "building plugins/hello-world/build/hello-world.wasm and the bifrost-wasm CLI"
make -s -C plugins/hello-world build
cargo build -q -p bifrost-wasm-cli
bin="$root/target/debug/bifrost-wasm"
wasm="$root/plugins/hello-world/build/hello-world.wasm"

say "bifrost-wasm inspect hello-world.wasm"
"$bin" inspect "$wasm"

work=$(mktemp -d)
log="$work/gateway.log"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/config.json" <<JSON
{
  "plugins": [
    {
      "path": "$wasm",
      "name": "hello-world-wasm-rust",
      "enabled": true,
      "config": { "custom_option": "value", "rate_limit": { "budget": 3 } }
    }
  ],
  "gateway": { "listen": "127.0.0.1:$port" }
}
JSON

say "bifrost-wasm serve $work/config.json  (mock provider, listening on 127.0.0.1:$port)"
"$bin" serve "$work/config.json" >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$port/health" >/dev/null || { cat "$log"; echo "gateway did not start"; exit 1; }

seen=0
show_log() {
  # Print the gateway's log lines written since the last call.
  sleep 0.2
  local total; total=$(wc -l <"$log")
  if [ "$total" -gt "$seen" ]; then
    echo "-- gateway log:"
    sed -n "$((seen + 1)),${total}p" "$log" | sed 's/^/   /'
  fi
  seen=$total
}
show_log

chat() {
  # chat TITLE BODY [extra curl args]
  local title=$1 body=$2; shift 2
  say "$title"
  echo "POST /v1/chat/completions $body"
  echo "-- response:"
  curl -s "http://127.0.0.1:$port/v1/chat/completions" -H 'content-type: application/json' \
       -H "x-request-id: demo-$RANDOM" "$@" -d "$body" | sed 's/^/   /'
  echo
  show_log
}

chat "1. a chat request: the mock provider answers, post_hook appends ' (via rust-wasm)' to the model" \
  '{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"Hello from the demo"}]}'

chat "2. model mock-model: pre_hook short-circuits with the seed's mock response (no provider call)" \
  '{"model":"mock-model","messages":[{"role":"user","content":"Hello"}]}'

chat "3. streaming: http_stream_chunk_hook sees every chunk (http_post_hook is not called for streams)" \
  '{"model":"openai/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"stream these four words"}]}' -N

chat "4. the rate limiter's budget (3 requests) is spent: pre_hook answers 429 Rate limit exceeded" \
  '{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"one too many"}]}' -w '\n   HTTP %{http_code}'

call() {
  # call TITLE PATH BODY: another request kind, under its own virtual key (its own rate budget)
  local title=$1 path=$2 body=$3
  say "$title"
  echo "POST $path $body"
  echo "-- response:"
  curl -s "http://127.0.0.1:$port$path" -H 'content-type: application/json' -H 'x-bf-vk: demo-kinds' \
       -H "x-request-id: demo-$RANDOM" -N -d "$body" | sed 's/^/   /'
  echo
  show_log
}

call "5. a text completion: plugins see a TextCompletionRequest (kind=text_completion in the log)" \
  /v1/completions '{"model":"openai/gpt-3.5-turbo-instruct","prompt":"Once upon a time"}'

call "6. the Responses API, streamed: its typed events, each through post_hook and http_stream_chunk_hook" \
  /v1/responses '{"model":"openai/gpt-4o-mini","input":"three short words","stream":true}'

call "7. an Anthropic client's message: plugins see a ResponsesRequest, the client gets Anthropic JSON" \
  /anthropic/v1/messages '{"model":"anthropic/claude-sonnet-4","max_tokens":64,"messages":[{"role":"user","content":"Hello, Claude"}]}'

say "done: the same plugin file runs unchanged in Bifrost (config.json 'plugins' entry above)"
