"""The mock speaks OpenAI Responses, Chat Completions and Gemini as the CLIs read them (no CLI needed)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from mock_llm import MockLLM


def _post(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[str, str]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["Content-Type"], response.read().decode()


def _sse_data(text: str) -> list[str]:
    return [line[len("data: ") :] for line in text.splitlines() if line.startswith("data: ")]


def test_responses_stream_and_json() -> None:
    with MockLLM(reply="hello there") as mock:
        kind, text = _post(f"{mock.base_url}/v1/responses", {"model": "m", "stream": True, "input": []})
        assert kind == "text/event-stream"
        events = [json.loads(d) for d in _sse_data(text)]
        assert events[0]["type"] == "response.created"
        assert events[-1]["type"] == "response.completed"
        assert events[-1]["response"]["output"][0]["content"][0]["text"] == "hello there"
        assert [e["sequence_number"] for e in events] == list(range(len(events)))
        deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
        assert "".join(deltas) == "hello there"
        _, text = _post(f"{mock.base_url}/responses", {"model": "m"}, {"Authorization": "Bearer sk-1"})
        assert json.loads(text)["output"][0]["content"][0]["text"] == "hello there"
        assert [r.api_key for r in mock.requests] == [None, "sk-1"]


def test_chat_completions_stream_and_json() -> None:
    with MockLLM(reply="hi") as mock:
        _, text = _post(
            f"{mock.base_url}/v1/chat/completions", {"model": "m", "stream": True, "messages": []}
        )
        data = _sse_data(text)
        assert data[-1] == "[DONE]"
        chunks = [json.loads(d) for d in data[:-1]]
        assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "hi"
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
        _, text = _post(f"{mock.base_url}/v1/chat/completions", {"model": "m", "messages": []})
        assert json.loads(text)["choices"][0]["message"] == {"role": "assistant", "content": "hi"}


def test_gemini_stream_generate_content_and_generate_content() -> None:
    with MockLLM(reply="yo") as mock:
        base = f"{mock.base_url}/v1beta/models/gem-1"
        kind, text = _post(
            f"{base}:streamGenerateContent?alt=sse", {"contents": []}, {"x-goog-api-key": "g-1"}
        )
        assert kind == "text/event-stream"
        [chunk] = [json.loads(d) for d in _sse_data(text)]
        assert chunk["candidates"][0]["content"]["parts"] == [{"text": "yo"}]
        _, text = _post(f"{base}:streamGenerateContent", {"contents": []})
        assert json.loads(text)[0]["candidates"][0]["finishReason"] == "STOP"
        _, text = _post(f"{base}:generateContent?key=g-2", {"contents": []})
        assert json.loads(text)["modelVersion"] == "gem-1"
        assert [r.api_key for r in mock.requests] == ["g-1", None, "g-2"]
        assert mock.requests[0].query == {"alt": ["sse"]}
