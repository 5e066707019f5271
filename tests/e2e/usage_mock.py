"""The loopback mock LLM with chosen usage figures: each reply reports the next ``Figures`` of a
list (cycling), in each API's own shape, so the session logs the real CLIs write carry varied
input, output, cache-write and cache-read counts (the plain mock derives them from body sizes)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from itertools import cycle
from typing import Any

from mock_llm import MockLLM, RecordedRequest, Reply

__all__ = ["Figures", "UsageMockLLM"]


@dataclass(frozen=True)
class Figures:
    """One reply's usage: fresh input, output, cache-write and cache-read tokens."""

    input: int
    output: int
    cache_write: int = 0
    cache_read: int = 0


class UsageMockLLM(MockLLM):
    """``MockLLM`` whose replies report ``figures`` in turn (one per model request)."""

    def __init__(self, figures: list[Figures], reply: str = "Done.") -> None:
        super().__init__(reply=reply)
        self._figures = cycle(figures)
        self.reported: list[Figures] = []

    def _next(self) -> Figures:
        with self._lock:
            figures = next(self._figures)
            self.reported.append(figures)
            return figures

    def _handle_anthropic_messages(self, req: RecordedRequest) -> Reply:
        reply = super()._handle_anthropic_messages(req)
        f = self._next()
        start = {
            "input_tokens": f.input,
            "cache_creation_input_tokens": f.cache_write,
            "cache_read_input_tokens": f.cache_read,
            "cache_creation": {"ephemeral_5m_input_tokens": f.cache_write, "ephemeral_1h_input_tokens": 0},
            "output_tokens": 1,
        }

        def rewrite(name: str, data: dict[str, Any]) -> dict[str, Any]:
            if name == "message_start":
                data["message"]["usage"] = start
            elif name in ("message_delta", "message"):  # "message": a JSON (not streamed) reply
                data["usage"] = {**start, "output_tokens": f.output}
            return data

        reply = _rewritten(reply, rewrite)
        reply.headers["request-id"] = f"req_mock_{uuid.uuid4().hex[:24]}"  # Claude Code logs it as requestId
        return reply

    def _handle_openai_responses(self, req: RecordedRequest) -> Reply:
        reply = super()._handle_openai_responses(req)
        f = self._next()
        usage = {  # Responses counts cached tokens inside input_tokens
            "input_tokens": f.input + f.cache_read,
            "input_tokens_details": {"cached_tokens": f.cache_read},
            "output_tokens": f.output,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": f.input + f.cache_read + f.output,
        }

        def rewrite(name: str, data: dict[str, Any]) -> dict[str, Any]:
            response = data.get("response", data)
            if response.get("status") == "completed" and "usage" in response:
                response["usage"] = usage
            return data

        return _rewritten(reply, rewrite)

    def _handle_openai_chat(self, req: RecordedRequest) -> Reply:
        reply = super()._handle_openai_chat(req)
        f = self._next()
        usage = {  # Chat Completions counts cached tokens inside prompt_tokens
            "prompt_tokens": f.input + f.cache_read,
            "completion_tokens": f.output,
            "total_tokens": f.input + f.cache_read + f.output,
            "prompt_tokens_details": {"cached_tokens": f.cache_read},
        }

        def rewrite(name: str, data: dict[str, Any]) -> dict[str, Any]:
            if "usage" in data:
                data["usage"] = usage
            return data

        return _rewritten(reply, rewrite)

    def _handle_gemini(self, req: RecordedRequest) -> Reply:
        reply = super()._handle_gemini(req)
        if b"usageMetadata" not in reply.body:
            return reply  # countTokens, or an error
        f = self._next()
        usage = {  # Gemini counts cached tokens inside promptTokenCount
            "promptTokenCount": f.input + f.cache_read,
            "candidatesTokenCount": f.output,
            "cachedContentTokenCount": f.cache_read,
            "totalTokenCount": f.input + f.cache_read + f.output,
        }

        def rewrite(name: str, data: dict[str, Any]) -> dict[str, Any]:
            if "usageMetadata" in data:
                data["usageMetadata"] = usage
            return data

        return _rewritten(reply, rewrite)


def _rewritten(reply: Reply, rewrite: Any) -> Reply:
    """``reply`` with each JSON document (an SSE event's data, or the whole body) passed through
    ``rewrite(event name, data)``."""
    if reply.status != 200:
        return reply
    text = reply.body.decode()
    if reply.content_type != "text/event-stream":
        data = json.loads(text)
        items = data if isinstance(data, list) else [data]
        items = [rewrite(str(item.get("type", "")), item) for item in items]
        body = json.dumps(items if isinstance(data, list) else items[0])
        return Reply(reply.status, body.encode(), reply.content_type, reply.headers)
    out: list[str] = []
    name = ""
    for line in text.split("\n"):
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: ") and line != "data: [DONE]":
            line = "data: " + json.dumps(rewrite(name, json.loads(line[len("data: ") :].strip())))
            if text.find("\r\n") >= 0:
                line += "\r"
        out.append(line)
    return Reply(reply.status, "\n".join(out).encode(), reply.content_type, reply.headers)
