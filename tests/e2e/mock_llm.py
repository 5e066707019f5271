"""A loopback mock LLM server for end-to-end tests of real assistant CLIs.

Stdlib only. It binds 127.0.0.1 on an ephemeral port, records every request and
answers like the provider API the path belongs to::

    with MockLLM(reply="pong") as mock:
        run_some_cli(base_url=mock.base_url)
        [req] = mock.requests_to("/v1/messages")
        assert req.headers["x-api-key"] == "sk-test"

Implemented:

* the Anthropic Messages API (``POST /v1/messages``, streaming SSE or JSON, plus
  ``/v1/messages/count_tokens``) and ``HEAD``/``GET /`` (Claude Code probes the base
  URL with ``HEAD /`` first);
* OpenAI Responses (``POST /v1/responses`` and ``POST /responses``, streaming SSE
  ``response.*`` events or one JSON response), as Codex speaks it;
* OpenAI Chat Completions (``POST /v1/chat/completions`` and ``/chat/completions``,
  SSE ``chat.completion.chunk``s ending in ``[DONE]``, or JSON), as Qwen Code speaks it;
* Gemini (``POST /v1beta/models/<model>:streamGenerateContent`` (SSE with ``?alt=sse``,
  else a JSON array) and ``:generateContent``; ``:countTokens``), as Gemini CLI speaks it;
* ``GET /v1/models`` (and ``/models``): an OpenAI model list naming the requested models.

Anything else gets a 404 (in Anthropic's error shape) and is recorded too. To add an
API, write a ``_handle_x(self, req)`` method returning a ``Reply`` and route to it.

``mock.fail_with(503)`` makes every request from then on fail with that status (still
recorded); ``mock.fail_with(None)`` makes it answer normally again.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

__all__ = ["DEFAULT_REPLY", "MockLLM", "RecordedRequest", "Reply"]

DEFAULT_REPLY = "Hello from the mock LLM."


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the mock saw it. Header names are lower-case."""

    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any  # parsed JSON, or None when the body was empty or not JSON
    raw_body: bytes = b""

    @property
    def api_key(self) -> str | None:
        """The credential the client sent: x-api-key, else x-goog-api-key (Gemini), else the
        Bearer token, else a ``?key=`` query parameter (Gemini's other way)."""
        for header in ("x-api-key", "x-goog-api-key"):
            if header in self.headers:
                return self.headers[header]
        auth = self.headers.get("authorization", "")
        if auth.startswith("Bearer "):
            return auth[len("Bearer ") :]
        return self.query["key"][0] if self.query.get("key") else None


@dataclass
class Reply:
    """What a route handler answers."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, obj: Any, status: int = 200) -> Reply:
        return cls(status, json.dumps(obj).encode(), "application/json")


def _sse(events: list[tuple[str, dict[str, Any]]]) -> bytes:
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()


def _anthropic_error(status: int, kind: str, message: str) -> Reply:
    return Reply.json({"type": "error", "error": {"type": kind, "message": message}}, status)


class MockLLM:
    """A threaded HTTP server on 127.0.0.1:<ephemeral> that fakes LLM providers."""

    # (method, exact path or path prefix ending in "*", handler method name).
    # Checked in order; the first match wins.
    ROUTES: ClassVar[list[tuple[str, str, str]]] = [
        ("POST", "/v1/messages/count_tokens", "_handle_anthropic_count_tokens"),
        ("POST", "/v1/messages", "_handle_anthropic_messages"),
        # Claude Code sends `HEAD /` to the base URL before its first request.
        ("HEAD", "/", "_handle_root"),
        ("GET", "/", "_handle_root"),
        # OpenAI: clients append the path to a base URL that may or may not end in /v1.
        ("POST", "/v1/chat/completions", "_handle_openai_chat"),
        ("POST", "/chat/completions", "_handle_openai_chat"),
        ("POST", "/v1/responses", "_handle_openai_responses"),
        ("POST", "/responses", "_handle_openai_responses"),
        ("GET", "/v1/models", "_handle_openai_models"),
        ("GET", "/models", "_handle_openai_models"),
        ("POST", "/v1beta/models/*", "_handle_gemini"),
        ("POST", "/v1/models/*", "_handle_gemini"),
    ]

    def __init__(self, reply: str = DEFAULT_REPLY, host: str = "127.0.0.1") -> None:
        self.reply = reply
        self._host = host
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._failure: int | None = None

    # -- failure on demand -----------------------------------------------------

    def fail_with(self, status: int | None) -> None:
        """Answer every request with HTTP ``status`` (an error body in Anthropic's shape) until
        called with None."""
        with self._lock:
            self._failure = status

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> MockLLM:
        self._server = ThreadingHTTPServer((self._host, 0), _make_handler(self))
        self._server.daemon_threads = True
        server = self._server
        self._thread = threading.Thread(  # a short poll interval keeps stop() quick
            target=lambda: server.serve_forever(poll_interval=0.05), name="mock-llm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> MockLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- inspection ------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("MockLLM is not running")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """The root URL, without a trailing slash and without /v1."""
        return f"http://{self._host}:{self.port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str, method: str | None = "POST") -> list[RecordedRequest]:
        """Requests whose path (query string ignored) equals ``path``."""
        return [r for r in self.requests if r.path == path and (method is None or r.method == method)]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- dispatch --------------------------------------------------------------

    def _record(self, req: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(req)

    def _dispatch(self, req: RecordedRequest) -> Reply:
        with self._lock:
            failure = self._failure
        if failure is not None:
            return _anthropic_error(failure, "api_error", f"mock LLM: failing with {failure} on demand")
        for method, pattern, handler_name in self.ROUTES:
            if req.method != method:
                continue
            prefix = pattern[:-1] if pattern.endswith("*") else None
            if req.path == pattern or (prefix is not None and req.path.startswith(prefix)):
                handler: Callable[[RecordedRequest], Reply] = getattr(self, handler_name)
                return handler(req)
        return self._handle_unknown(req)

    def _handle_unknown(self, req: RecordedRequest) -> Reply:
        return _anthropic_error(404, "not_found_error", f"mock LLM: no route for {req.method} {req.path}")

    def _handle_root(self, req: RecordedRequest) -> Reply:
        return Reply(200, b"", "text/plain")

    # -- Anthropic Messages API ------------------------------------------------

    def _handle_anthropic_messages(self, req: RecordedRequest) -> Reply:
        body = req.body if isinstance(req.body, dict) else {}
        model = str(body.get("model", "mock-model"))
        msg_id = f"msg_mock_{uuid.uuid4().hex[:20]}"
        input_tokens = max(1, len(req.raw_body) // 4)
        output_tokens = max(1, len(self.reply.split()))
        if not body.get("stream"):
            return Reply.json(
                {
                    "id": msg_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [{"type": "text", "text": self.reply}],
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
                }
            )
        events: list[tuple[str, dict[str, Any]]] = [
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": msg_id,
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {"input_tokens": input_tokens, "output_tokens": 1},
                    },
                },
            ),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            ("ping", {"type": "ping"}),
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": self.reply},
                },
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": output_tokens},
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        return Reply(200, _sse(events), "text/event-stream", {"Cache-Control": "no-cache"})

    def _handle_anthropic_count_tokens(self, req: RecordedRequest) -> Reply:
        return Reply.json({"input_tokens": max(1, len(req.raw_body) // 4)})

    # -- OpenAI Responses API -------------------------------------------------

    def _handle_openai_responses(self, req: RecordedRequest) -> Reply:
        body = req.body if isinstance(req.body, dict) else {}
        model = str(body.get("model", "mock-model"))
        resp_id = f"resp_mock_{uuid.uuid4().hex[:20]}"
        item_id = f"msg_mock_{uuid.uuid4().hex[:20]}"
        input_tokens = max(1, len(req.raw_body) // 4)
        output_tokens = max(1, len(self.reply.split()))
        text_part = {"type": "output_text", "text": self.reply, "annotations": []}
        item = {
            "id": item_id,
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [text_part],
        }
        usage = {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + output_tokens,
        }

        def response(status: str, output: list[Any], usage_: Any) -> dict[str, Any]:
            return {
                "id": resp_id,
                "object": "response",
                "created_at": int(time.time()),
                "status": status,
                "model": model,
                "output": output,
                "usage": usage_,
            }

        if not body.get("stream"):
            return Reply.json(response("completed", [item], usage))
        events: list[tuple[str, dict[str, Any]]] = [
            ("response.created", {"response": response("in_progress", [], None)}),
            ("response.in_progress", {"response": response("in_progress", [], None)}),
            (
                "response.output_item.added",
                {"output_index": 0, "item": {**item, "status": "in_progress", "content": []}},
            ),
            (
                "response.content_part.added",
                {
                    "item_id": item_id,
                    "output_index": 0,
                    "content_index": 0,
                    "part": {**text_part, "text": ""},
                },
            ),
            (
                "response.output_text.delta",
                {"item_id": item_id, "output_index": 0, "content_index": 0, "delta": self.reply},
            ),
            (
                "response.output_text.done",
                {"item_id": item_id, "output_index": 0, "content_index": 0, "text": self.reply},
            ),
            (
                "response.content_part.done",
                {"item_id": item_id, "output_index": 0, "content_index": 0, "part": text_part},
            ),
            ("response.output_item.done", {"output_index": 0, "item": item}),
            ("response.completed", {"response": response("completed", [item], usage)}),
        ]
        numbered = [
            (name, {"type": name, "sequence_number": i, **data}) for i, (name, data) in enumerate(events)
        ]
        return Reply(200, _sse(numbered), "text/event-stream", {"Cache-Control": "no-cache"})

    # -- OpenAI Chat Completions ----------------------------------------------

    def _handle_openai_chat(self, req: RecordedRequest) -> Reply:
        body = req.body if isinstance(req.body, dict) else {}
        model = str(body.get("model", "mock-model"))
        chat_id = f"chatcmpl-mock{uuid.uuid4().hex[:20]}"
        created = int(time.time())
        prompt_tokens = max(1, len(req.raw_body) // 4)
        completion_tokens = max(1, len(self.reply.split()))
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if not body.get("stream"):
            return Reply.json(
                {
                    "id": chat_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": self.reply},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                }
            )

        def chunk(delta: dict[str, Any], finish: str | None, usage_: Any = None) -> dict[str, Any]:
            data: dict[str, Any] = {
                "id": chat_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if usage_ is not None:
                data["usage"] = usage_
            return data

        chunks = [
            chunk({"role": "assistant", "content": ""}, None),
            chunk({"content": self.reply}, None),
            chunk({}, "stop", usage),
        ]
        payload = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        return Reply(200, payload.encode(), "text/event-stream", {"Cache-Control": "no-cache"})

    def _handle_openai_models(self, req: RecordedRequest) -> Reply:
        return Reply.json(
            {"object": "list", "data": [{"id": "mock-model", "object": "model", "owned_by": "mock"}]}
        )

    # -- Gemini generateContent ------------------------------------------------

    def _handle_gemini(self, req: RecordedRequest) -> Reply:
        model, _, method = req.path.rsplit("/", 1)[-1].partition(":")
        if method == "countTokens":
            return Reply.json({"totalTokens": max(1, len(req.raw_body) // 4)})
        if method not in ("generateContent", "streamGenerateContent"):
            message = f"mock LLM: no Gemini method '{method}'"
            return Reply.json({"error": {"code": 404, "message": message, "status": "NOT_FOUND"}}, 404)
        prompt_tokens = max(1, len(req.raw_body) // 4)
        output_tokens = max(1, len(self.reply.split()))
        answer = {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": self.reply}]},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": prompt_tokens,
                "candidatesTokenCount": output_tokens,
                "totalTokenCount": prompt_tokens + output_tokens,
            },
            "modelVersion": model,
            "responseId": f"mock-{uuid.uuid4().hex[:16]}",
        }
        if method == "generateContent":
            return Reply.json(answer)
        if req.query.get("alt") == ["sse"]:
            return Reply(200, f"data: {json.dumps(answer)}\r\n\r\n".encode(), "text/event-stream")
        return Reply.json([answer])


def _make_handler(mock: MockLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "MockLLM/1"

        def _serve(self) -> None:
            raw = self._read_body()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            parts = urlsplit(self.path)
            req = RecordedRequest(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                raw_body=raw,
            )
            mock._record(req)
            try:
                reply = mock._dispatch(req)
            except Exception as exc:  # a bug in a handler must not hang the client
                reply = _anthropic_error(500, "api_error", f"mock LLM handler failed: {exc!r}")
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)
            self.wfile.flush()

        def _read_body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()  # the CRLF after each chunk
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
