"""The unmodified `openai` Python package against a running bifrost-wasm gateway.

The gateway must run the mock provider with the hello-world plugin (run.sh beside this file
starts it). BIFROST_GATEWAY_URL is the gateway's base URL, e.g. http://127.0.0.1:8080.

Runs under pytest, or directly: `python3 test_openai_client.py` prints "N passed, N failed".
"""

import os

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


# --- every other request kind -------------------------------------------------------------


def test_text_completion_echoes_each_prompt():
    reply = client().completions.create(model="mock-echo", prompt=["first prompt", "second one"])
    assert [c.text for c in reply.choices] == ["first prompt", "second one"]
    assert [c.index for c in reply.choices] == [0, 1]
    assert reply.object == "text_completion"
    assert reply.model == "mock-echo (via rust-wasm)", reply.model


def test_text_completion_streams_word_by_word():
    stream = client().completions.create(model="mock-echo", prompt="stream these words", stream=True)
    text = "".join(c.choices[0].text for c in stream if c.choices)
    assert text == "stream these words", text


def test_embeddings_decode_to_deterministic_unit_vectors():
    import math

    # The client asks for base64 by default and decodes it to floats.
    first = client().embeddings.create(model="mock-embed", input=["alpha", "beta"], dimensions=16)
    again = client().embeddings.create(model="mock-embed", input="alpha", dimensions=16)
    vectors = [d.embedding for d in first.data]
    assert len(vectors) == 2 and all(len(v) == 16 for v in vectors)
    assert abs(math.sqrt(sum(x * x for x in vectors[0])) - 1.0) < 1e-5
    assert vectors[0] == again.data[0].embedding
    assert vectors[0] != vectors[1]
    floats = client().embeddings.create(model="mock-embed", input="alpha", dimensions=16, encoding_format="float")
    assert all(abs(a - b) < 1e-6 for a, b in zip(floats.data[0].embedding, vectors[0]))


def test_responses_api_answers_with_output_text():
    reply = client().responses.create(model="mock-echo", input="hello responses", instructions="be brief")
    assert reply.output_text == "hello responses", reply.output_text
    assert reply.status == "completed"
    assert reply.usage.output_tokens == 2


def test_responses_api_streams_its_events():
    events = list(client().responses.create(model="mock-echo", input="streamed responses api", stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed", kinds
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == "streamed responses api", deltas
    assert events[-1].response.output_text == "streamed responses api"


def test_speech_returns_a_wav_the_wave_module_reads():
    import io
    import wave

    audio = client().audio.speech.create(model="mock-tts", voice="alloy", input="read this aloud", response_format="wav")
    data = audio.read()
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        assert w.getnframes() > 0


def test_speech_streams_as_events():
    import base64

    with client().audio.speech.with_streaming_response.create(
        model="mock-tts", voice="alloy", input="streamed speech", stream_format="sse"
    ) as response:
        body = response.read().decode()
    audio = b""
    for line in body.splitlines():
        if line.startswith("data: "):
            event = __import__("json").loads(line[6:])
            if event["type"] == "speech.audio.delta":
                audio += base64.b64decode(event["audio"])
    assert audio.startswith(b"RIFF") and b"WAVE" in audio[:12]


def test_transcription_reads_back_what_speech_said():
    audio = client().audio.speech.create(model="mock-tts", voice="alloy", input="round trip words", response_format="wav")
    wav = audio.read()
    text = client().audio.transcriptions.create(model="mock-whisper", file=("speech.wav", wav, "audio/wav"))
    assert text.text == "round trip words", text
    plain = client().audio.transcriptions.create(
        model="mock-whisper", file=("speech.wav", wav, "audio/wav"), response_format="text"
    )
    assert str(plain).strip() == "round trip words", plain
    verbose = client().audio.transcriptions.create(
        model="mock-whisper", file=("speech.wav", wav, "audio/wav"), response_format="verbose_json", language="en"
    )
    assert verbose.text == "round trip words" and verbose.duration > 0


def test_transcription_streams_text_deltas():
    stream = client().audio.transcriptions.create(
        model="mock-whisper", file=("note.txt", b"typed words instead", "text/plain"), stream=True
    )
    events = list(stream)
    deltas = "".join(e.delta for e in events if e.type == "transcript.text.delta")
    assert deltas == "typed words instead", deltas
    assert events[-1].type == "transcript.text.done" and events[-1].text == "typed words instead"


def test_images_are_valid_pngs():
    import base64

    reply = client().images.generate(model="mock-image", prompt="a red square", n=2, response_format="b64_json")
    assert len(reply.data) == 2
    for image in reply.data:
        png = base64.b64decode(image.b64_json)
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
    url = client().images.generate(model="mock-image", prompt="a red square")
    assert url.data[0].url.startswith("data:image/png;base64,")


if __name__ == "__main__":
    import runner

    runner.run(globals())
