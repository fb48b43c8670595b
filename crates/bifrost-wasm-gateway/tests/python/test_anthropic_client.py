"""The unmodified `anthropic` Python package against a running bifrost-wasm gateway.

The gateway must run the mock provider with the hello-world plugin (run.sh beside this file
starts it); the client talks to its Anthropic-compatible route, /anthropic/v1/messages.
BIFROST_GATEWAY_URL is the gateway's base URL, e.g. http://127.0.0.1:8080.

Runs under pytest, or directly: `python3 test_anthropic_client.py` prints "N passed, N failed".
"""

import os

import anthropic

BASE_URL = os.environ.get("BIFROST_GATEWAY_URL", "http://127.0.0.1:8080").rstrip("/")


def client():
    return anthropic.Anthropic(base_url=BASE_URL + "/anthropic", api_key="not-needed", max_retries=0, timeout=30)


def test_message_echoes_through_the_plugin_chain():
    reply = client().messages.create(
        model="mock-echo",
        max_tokens=64,
        system="be brief",
        messages=[{"role": "user", "content": "hello from anthropic"}],
    )
    assert reply.type == "message" and reply.role == "assistant"
    assert [b.type for b in reply.content] == ["text"]
    assert reply.content[0].text == "hello from anthropic", reply.content
    assert reply.stop_reason == "end_turn"
    # hello-world's post_hook marks the model of the Responses response it sees.
    assert reply.model == "mock-echo (via rust-wasm)", reply.model
    assert reply.usage.output_tokens == 3


def test_content_blocks_are_read():
    reply = client().messages.create(
        model="mock-echo",
        max_tokens=64,
        messages=[{"role": "user", "content": [{"type": "text", "text": "block one"}, {"type": "text", "text": "two"}]}],
    )
    assert reply.content[0].text == "block one two", reply.content


def test_streaming_yields_anthropic_events_and_the_text():
    with client().messages.stream(
        model="mock-echo", max_tokens=64, messages=[{"role": "user", "content": "stream to anthropic"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "stream to anthropic", text
    assert final.content[0].text == "stream to anthropic"
    assert final.stop_reason == "end_turn"


def test_raw_stream_events_come_in_anthropic_order():
    events = list(
        client().messages.create(
            model="mock-echo", max_tokens=64, stream=True, messages=[{"role": "user", "content": "order check"}]
        )
    )
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop", kinds
    assert kinds.count("content_block_start") == kinds.count("content_block_stop") == 1, kinds
    assert "message_delta" in kinds


def test_short_circuit_of_the_mock_model_answers_as_a_message():
    reply = client().messages.create(
        model="mock-model", max_tokens=64, messages=[{"role": "user", "content": "anything"}]
    )
    assert reply.content[0].text == "This is a mock response!", reply.content


def test_provider_errors_raise_the_matching_exception():
    try:
        client().messages.create(
            model="mock-error-429", max_tokens=8, messages=[{"role": "user", "content": "x"}]
        )
    except anthropic.RateLimitError as e:
        assert e.status_code == 429
        assert e.body["type"] == "error", e.body
    else:
        raise AssertionError("expected a RateLimitError")


def test_a_request_without_max_tokens_is_refused_as_bad():
    try:
        client().messages.with_raw_response.create(
            model="mock-echo", max_tokens=0, messages=[{"role": "user", "content": "x"}]
        )
    except anthropic.BadRequestError as e:
        assert e.status_code == 400
        assert "max_tokens" in str(e), str(e)
    else:
        raise AssertionError("expected a BadRequestError")


if __name__ == "__main__":
    import runner

    runner.run(globals())
