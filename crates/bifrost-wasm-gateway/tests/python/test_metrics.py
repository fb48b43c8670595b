"""The gateway's /metrics page read by the Prometheus project's own text-format parser
(`prometheus_client.parser`), after real traffic. Run by run.sh against a started gateway."""

import json
import os
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

BASE = os.environ["BIFROST_GATEWAY_URL"].rstrip("/")
ROOT = BASE[: -len("/v1")] if BASE.endswith("/v1") else BASE


def post_chat(model, stream=False):
    body = json.dumps(
        {"model": model, "stream": stream, "messages": [{"role": "user", "content": "count me"}]}
    ).encode()
    request = urllib.request.Request(
        f"{ROOT}/v1/chat/completions", data=body, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
        return response.status


def main():
    assert post_chat("gpt-4o") == 200
    assert post_chat("mock-model") == 200
    assert post_chat("gpt-4o", stream=True) == 200
    with urllib.request.urlopen(f"{ROOT}/metrics", timeout=30) as response:
        assert response.headers["content-type"].startswith("text/plain"), response.headers
        page = response.read().decode()

    families = {f.name: f for f in text_string_to_metric_families(page)}
    # Every sample line became exactly one sample, without a timestamp (the gateway writes
    # none): the parser skipped or merged nothing.
    lines = [l for l in page.splitlines() if l.strip() and not l.startswith("#")]
    samples = [s for f in families.values() for s in f.samples]
    assert len(samples) == len(lines), (len(samples), len(lines))
    assert all(s.timestamp is None for s in samples), [s for s in samples if s.timestamp is not None]
    for name, kind in [
        ("bifrost_wasm_requests", "counter"),
        ("bifrost_wasm_hook_duration_seconds", "histogram"),
        ("bifrost_wasm_hook_calls", "counter"),
        ("bifrost_wasm_instance_replacements", "counter"),
        ("bifrost_wasm_plugin_memory_bytes", "gauge"),
        ("bifrost_wasm_upstream_duration_seconds", "histogram"),
        ("bifrost_wasm_reloads", "counter"),
    ]:
        assert name in families, f"no {name} in {sorted(families)}"
        assert families[name].type == kind, (name, families[name].type)

    def value(family, sample, **labels):
        for s in families[family].samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
        raise AssertionError(f"no {sample} {labels} in {families[family].samples}")

    assert value("bifrost_wasm_requests", "bifrost_wasm_requests_total",
                 route="/v1/chat/completions", kind="chat_completion", status="200") >= 2
    assert value("bifrost_wasm_requests", "bifrost_wasm_requests_total",
                 kind="chat_completion_stream", status="200") >= 1
    plugin = value("bifrost_wasm_hook_calls", "bifrost_wasm_hook_calls_total",
                   hook="pre_hook", outcome="short_circuited")
    assert plugin >= 1, plugin
    # Histogram invariants the parser exposes: +Inf bucket == count.
    for s in families["bifrost_wasm_hook_duration_seconds"].samples:
        if s.name.endswith("_bucket") and s.labels["le"] == "+Inf":
            count = value("bifrost_wasm_hook_duration_seconds", "bifrost_wasm_hook_duration_seconds_count",
                          plugin=s.labels["plugin"], hook=s.labels["hook"])
            assert s.value == count, (s, count)
    assert value("bifrost_wasm_plugin_memory_bytes", "bifrost_wasm_plugin_memory_bytes", instance="0") > 0

    # The parser must refuse a broken page: the check above is not vacuous.
    try:
        list(text_string_to_metric_families("bifrost_wasm_requests_total{kind=\"x} 1\n"))
    except ValueError:
        pass
    else:
        raise AssertionError("the parser accepted a malformed page")
    print(f"ok   /metrics parsed: {len(families)} families, {sum(len(f.samples) for f in families.values())} samples")
    print("1 passed, 0 failed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAIL /metrics: {e}")
        print("0 passed, 1 failed")
        sys.exit(1)
