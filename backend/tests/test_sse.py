"""The server's event streams as clients read them (web/sse.py frames every event)."""
import json

OLLAMA_CHAT = "http://localhost:11434/api/chat"


def test_a_proxied_stream_turns_a_lone_surrogate_the_backend_sent_into_u_fffd_and_ends_cleanly(client, requests_mock):
    """JSON may carry an escaped lone surrogate (a model cut in the middle of a UTF-16 pair), which
    UTF-8 cannot: the client gets the replacement character instead, and the stream goes on."""
    client.post("/api/settings/llm", json={"backend_type": "ollama", "config": {"url": "http://localhost:11434"},
                                           "default_model": "llama3.2:3b"})
    requests_mock.post(OLLAMA_CHAT, text=(
        '{"message":{"role":"assistant","content":"half \\ud83d"},"done":false}\n'
        '{"message":{"role":"assistant","content":""},"done":true,"done_reason":"stop"}\n'))

    response = client.post("/proxy/llm/v1/chat/completions",
                           json={"messages": [{"role": "user", "content": "Go."}], "stream": True})

    events = [block[len("data: "):] for block in response.get_data(as_text=True).split("\n\n") if block]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert "error" not in chunks[-1]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == "half \ufffd"
