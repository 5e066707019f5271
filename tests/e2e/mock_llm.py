"""A loopback mock LLM server for end-to-end tests of real assistant CLIs.

Stdlib only. It binds 127.0.0.1 on an ephemeral port, records every request and
answers like the provider API the path belongs to::

    with MockLLM(reply="pong") as mock:
        run_some_cli(base_url=mock.base_url)
        [req] = mock.requests_to("/v1/messages")
        assert req.headers["x-api-key"] == "sk-test"

Implemented: the Anthropic Messages API (``POST /v1/messages``, streaming SSE
or JSON, plus ``/v1/messages/count_tokens``) and ``HEAD``/``GET /`` (Claude Code
probes the base URL with ``HEAD /`` first). Anything else gets a 404 in
Anthropic's error shape, and is recorded too. Other wire formats are hooks in
``MockLLM.ROUTES`` that answer 501 until someone implements them: OpenAI Chat
Completions (``/v1/chat/completions``), OpenAI Responses (``/v1/responses``)
and Gemini (``/v1beta/models/<model>:generateContent`` and
``:streamGenerateContent``). To add one, write a ``_handle_x(self, req)`` method
returning a ``Reply`` and point its route at it.
"""

from __future__ import annotations

import json
import threading
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
        """The credential the client sent: x-api-key, else the Bearer token."""
        if "x-api-key" in self.headers:
            return self.headers["x-api-key"]
        auth = self.headers.get("authorization", "")
        return auth[len("Bearer ") :] if auth.startswith("Bearer ") else None


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
        # Hooks for later: implement the handler and the CLI tests can use it.
        ("POST", "/v1/chat/completions", "_handle_openai_chat"),
        ("POST", "/v1/responses", "_handle_openai_responses"),
        ("POST", "/v1beta/models/*", "_handle_gemini"),
    ]

    def __init__(self, reply: str = DEFAULT_REPLY, host: str = "127.0.0.1") -> None:
        self.reply = reply
        self._host = host
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> MockLLM:
        self._server = ThreadingHTTPServer((self._host, 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="mock-llm", daemon=True)
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

    # -- hooks for other providers (not implemented yet) -----------------------

    def _not_implemented(self, req: RecordedRequest, api: str) -> Reply:
        message = f"mock LLM: {api} is not implemented yet"
        return Reply.json({"error": {"message": message, "path": req.path}}, 501)

    def _handle_openai_chat(self, req: RecordedRequest) -> Reply:
        return self._not_implemented(req, "OpenAI Chat Completions")

    def _handle_openai_responses(self, req: RecordedRequest) -> Reply:
        return self._not_implemented(req, "OpenAI Responses")

    def _handle_gemini(self, req: RecordedRequest) -> Reply:
        return self._not_implemented(req, "Gemini generateContent")


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
