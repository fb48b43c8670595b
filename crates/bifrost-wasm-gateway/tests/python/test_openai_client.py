"""The unmodified `openai` Python package against a running bifrost-wasm gateway.

The gateway must run the mock provider with the hello-world plugin (run.sh beside this file
starts it). BIFROST_GATEWAY_URL is the gateway's base URL, e.g. http://127.0.0.1:8080.

Runs under pytest, or directly: `python3 test_openai_client.py` prints "N passed, N failed".
"""

import os
import sys
import traceback

import openai

BASE_URL = os.environ.get("BIFROST_GATEWAY_URL", "http://127.0.0.1:8080").rstrip("/")


def client():
    # The mock provider needs no key; the client insists on one.
    return openai.OpenAI(base_url=BASE_URL + "/v1", api_key="not-needed", max_retries=0, timeout=30)


def test_chat_completion_echoes_through_the_plugin_chain():
    reply = client().chat.completions.create(
        model="mock-echo",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello from python"},
        ],
        temperature=0.2,
    )
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content == "hello from python"
    assert reply.choices[0].finish_reason == "stop"
    # hello-world's post_hook marks the model.
    assert reply.model == "mock-echo (via rust-wasm)", reply.model
    assert reply.usage.completion_tokens == 3
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + 3


def test_provider_prefixed_model_is_accepted():
    reply = client().chat.completions.create(
        model="mock/mock-echo", messages=[{"role": "user", "content": "prefixed"}]
    )
    assert reply.choices[0].message.content == "prefixed"


def test_mock_model_is_answered_by_the_plugins_short_circuit():
    reply = client().chat.completions.create(
        model="mock-model", messages=[{"role": "user", "content": "anything"}]
    )
    assert reply.choices[0].message.content == "This is a mock response!"
    assert reply.usage.total_tokens == 25


def test_streaming_yields_the_words_and_ends_cleanly():
    stream = client().chat.completions.create(
        model="mock-echo",
        messages=[{"role": "user", "content": "one two three four"}],
        stream=True,
    )
    text = ""
    finish = None
    chunks = 0
    for chunk in stream:
        chunks += 1
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
    assert text == "one two three four", text
    assert finish == "stop"
    assert chunks >= 5


def test_streaming_short_circuit_arrives_as_a_stream():
    stream = client().chat.completions.create(
        model="mock-model", messages=[{"role": "user", "content": "x"}], stream=True
    )
    text = "".join((c.choices[0].delta.content or "") for c in stream if c.choices)
    assert text == "This is a mock response!", text


def test_provider_errors_raise_the_matching_exception():
    try:
        client().chat.completions.create(
            model="mock-error-429", messages=[{"role": "user", "content": "x"}]
        )
    except openai.RateLimitError as e:
        assert e.status_code == 429
        # hello-world's post_hook annotates errors.
        assert "(via rust plugin)" in str(e), str(e)
    else:
        raise AssertionError("expected a RateLimitError")


def test_bad_request_raises_bad_request_error():
    try:
        client().chat.completions.create(model="mock-echo", messages="not a list")
    except openai.BadRequestError as e:
        assert e.status_code == 400
        assert "messages" in str(e)
    else:
        raise AssertionError("expected a BadRequestError")


def test_models_are_listed():
    ids = [m.id for m in client().models.list()]
    assert "mock/mock-model" in ids, ids


if __name__ == "__main__":
    tests = [(name, fn) for name, fn in sorted(globals().items()) if name.startswith("test_") and callable(fn)]
    passed = failed = 0
    for name, fn in tests:
        try:
            fn()
        except Exception:  # noqa: BLE001 - report every failure and go on
            failed += 1
            print(f"FAIL {name}")
            traceback.print_exc()
        else:
            passed += 1
            print(f"ok   {name}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or not passed else 0)
