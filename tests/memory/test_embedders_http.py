"""Ollama and OpenAI-compatible embedders against real loopback HTTP servers speaking those APIs."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from mahavishnu.errors import DimensionMismatchError, EmbeddingError
from mahavishnu.memory.core.embedders import OllamaEmbedder, OpenAICompatibleEmbedder

API_KEY = "sk-test-0123456789abcdef"


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeServer:
    """A loopback server; ``reply`` maps a request to (status, JSON-able body or raw bytes)."""

    url: str
    requests: list[Request] = field(default_factory=list)
    reply: Callable[[Request], tuple[int, Any]] = lambda request: (500, {"error": "no reply set"})
    delay: float = 0.0


def vector(text: str, dimension: int) -> list[float]:
    """A deterministic, not normalised vector for ``text``."""
    seed = sum(text.encode()) % 1000
    return [float((seed + i) % 7 + 1) for i in range(dimension)]


def ollama_api(dimension: int = 768) -> Callable[[Request], tuple[int, Any]]:
    def reply(request: Request) -> tuple[int, Any]:
        if request.path != "/api/embed":
            return 404, "404 page not found"
        if request.body.get("model") != "nomic-embed-text":
            return 404, {"error": f'model "{request.body.get("model")}" not found, try pulling it first'}
        inputs = request.body["input"]
        return 200, {"model": "nomic-embed-text", "embeddings": [vector(t, dimension) for t in inputs]}

    return reply


def openai_api(dimension: int = 1536, shuffle: bool = False) -> Callable[[Request], tuple[int, Any]]:
    def reply(request: Request) -> tuple[int, Any]:
        if request.path != "/v1/embeddings":
            return 404, {
                "error": {"message": f"Unknown path {request.path}", "type": "invalid_request_error"}
            }
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            message = f"Incorrect API key provided: {request.headers.get('authorization', '')[7:]}"
            return 401, {
                "error": {"message": message, "type": "invalid_request_error", "code": "invalid_api_key"}
            }
        data = [
            {"object": "embedding", "index": i, "embedding": vector(t, dimension)}
            for i, t in enumerate(request.body["input"])
        ]
        return 200, {
            "object": "list",
            "data": data[::-1] if shuffle else data,
            "model": request.body["model"],
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
        }

    return reply


@pytest.fixture
def server() -> Iterator[FakeServer]:
    state = FakeServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            raw = self.rfile.read(length)
            request = Request(
                self.path, {k.lower(): v for k, v in self.headers.items()}, json.loads(raw or b"{}")
            )
            state.requests.append(request)
            if state.delay:
                time.sleep(state.delay)
            status, body = state.reply(request)
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A loopback port that is bound but not listening: connecting to it is refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


# -- Ollama ------------------------------------------------------------------------------------


def test_ollama_embeds_documents_and_queries_with_nomic_prefixes(server: FakeServer) -> None:
    server.reply = ollama_api()
    embedder = OllamaEmbedder(url=server.url)
    docs = embedder.embed_many(["first memory", "second"])
    query = embedder.embed("what was first?")
    assert docs.shape == (2, 768) and query.shape == (768,)
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, rtol=1e-5)
    sent = [r.body for r in server.requests]
    assert sent[0] == {
        "model": "nomic-embed-text",
        "input": ["search_document: second", "search_document: first memory"],
    }
    assert sent[1]["input"] == ["search_query: what was first?"]
    assert [r.path for r in server.requests] == ["/api/embed", "/api/embed"]
    # Vectors come back in input order although the batch was sent length-sorted.
    expected = np.array(vector("search_document: first memory", 768), dtype=np.float32)
    np.testing.assert_allclose(docs[0], expected / np.linalg.norm(expected), rtol=1e-5)


def test_ollama_sends_no_prefixes_for_other_models(server: FakeServer) -> None:
    server.reply = lambda r: (200, {"embeddings": [vector(t, 1024) for t in r.body["input"]]})
    OllamaEmbedder(url=server.url, model="mxbai-embed-large", dimension=1024).embed_many(["plain text"])
    assert server.requests[0].body["input"] == ["plain text"]


def test_ollama_batches_requests(server: FakeServer) -> None:
    server.reply = ollama_api()
    embedder = OllamaEmbedder(url=server.url, batch_size=2)
    assert embedder.embed_many([f"text {i}" for i in range(5)]).shape == (5, 768)
    assert [len(r.body["input"]) for r in server.requests] == [2, 2, 1]


def test_ollama_unreachable_names_the_url_and_how_to_start_it(refused_url: str) -> None:
    with pytest.raises(EmbeddingError) as caught:
        OllamaEmbedder(url=refused_url).embed("hello")
    assert f"cannot reach the Ollama server at {refused_url}" in caught.value.message
    assert "ollama serve" in caught.value.hint and "ollama pull nomic-embed-text" in caught.value.hint


def test_ollama_http_error_carries_the_servers_message(server: FakeServer) -> None:
    server.reply = lambda r: (500, {"error": "llama runner process has terminated: signal: killed"})
    with pytest.raises(EmbeddingError, match="answered HTTP 500: llama runner process has terminated"):
        OllamaEmbedder(url=server.url).embed("hello")


def test_ollama_missing_model_hints_at_pull(server: FakeServer) -> None:
    server.reply = ollama_api()
    with pytest.raises(EmbeddingError, match='HTTP 404: model "nomic-embed-text:v9" not found') as caught:
        OllamaEmbedder(url=server.url, model="nomic-embed-text:v9").embed("hello")
    assert "ollama pull nomic-embed-text:v9" in caught.value.hint


def test_ollama_timeout_is_reported(server: FakeServer) -> None:
    server.reply = ollama_api()
    server.delay = 1.0
    started = time.monotonic()
    with pytest.raises(EmbeddingError, match=r"did not answer within 0\.2 s"):
        OllamaEmbedder(url=server.url, timeout=0.2).embed("hello")
    assert time.monotonic() - started < 0.9


def test_ollama_wrong_dimension_is_a_dimension_mismatch(server: FakeServer) -> None:
    server.reply = ollama_api(dimension=1024)
    with pytest.raises(DimensionMismatchError, match=r"returned 1024-dimensional vectors .* expected 768"):
        OllamaEmbedder(url=server.url).embed_many(["hello"])


def test_ollama_reply_without_embeddings_is_an_error(server: FakeServer) -> None:
    server.reply = lambda r: (200, b"<html>proxy login</html>")
    with pytest.raises(EmbeddingError, match="unexpected reply: a body that is not JSON"):
        OllamaEmbedder(url=server.url).embed("hello")
    server.reply = lambda r: (200, {"embeddings": [[1.0, 2.0]]})
    with pytest.raises(EmbeddingError, match="unexpected reply: 1 vector for 2 texts"):
        OllamaEmbedder(url=server.url, dimension=2).embed_many(["a", "b"])


def test_ollama_dimension_unknown_is_asked_once(server: FakeServer) -> None:
    server.reply = ollama_api(dimension=12)
    embedder = OllamaEmbedder(url=server.url, dimension=None)
    assert embedder.dimension == 12
    assert embedder.dimension == 12
    assert len(server.requests) == 1
    assert embedder.embed_many(["a", "b"]).shape == (2, 12)


# -- OpenAI-compatible ------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/embeddings"])
def test_openai_accepts_root_base_or_endpoint_url(server: FakeServer, suffix: str) -> None:
    server.reply = openai_api(dimension=8)
    embedder = OpenAICompatibleEmbedder(server.url + suffix, "text-embedding-3-small", 8, api_key=API_KEY)
    assert embedder.embed_many(["hello"]).shape == (1, 8)
    assert server.requests[0].path == "/v1/embeddings"


def test_openai_sends_model_input_and_bearer_key_and_orders_by_index(server: FakeServer) -> None:
    server.reply = openai_api(dimension=8, shuffle=True)
    embedder = OpenAICompatibleEmbedder(server.url, "text-embedding-3-small", 8, api_key=API_KEY)
    vectors = embedder.embed_many(["bb", "a", "ccc"], kind="query")
    request = server.requests[0]
    assert request.body == {"model": "text-embedding-3-small", "input": ["a", "bb", "ccc"]}
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    for text, row in zip(["bb", "a", "ccc"], vectors, strict=True):
        expected = np.array(vector(text, 8), dtype=np.float32)
        np.testing.assert_allclose(row, expected / np.linalg.norm(expected), rtol=1e-5)


def test_openai_without_key_sends_no_authorization(server: FakeServer) -> None:
    server.reply = lambda r: (200, {"data": [{"index": 0, "embedding": [1.0, 0.0]}]})
    OpenAICompatibleEmbedder(server.url, "local-model", 2).embed("hi")
    assert "authorization" not in server.requests[0].headers


def test_openai_never_reveals_the_api_key(server: FakeServer) -> None:
    wrong = "sk-wrong-key-that-the-server-echoes"
    server.reply = openai_api()
    embedder = OpenAICompatibleEmbedder(server.url, "text-embedding-3-small", 1536, api_key=wrong)
    with pytest.raises(EmbeddingError) as caught:
        embedder.embed("hello")
    error = caught.value
    assert "HTTP 401: Incorrect API key provided: ****" in error.message
    assert "embedder_api_key" in error.hint
    assert wrong not in f"{error.message} {error.hint} {error!r} {embedder!r} {vars(embedder)}"


def test_openai_unreachable_names_the_url_without_credentials(refused_url: str) -> None:
    url_with_password = refused_url.replace("http://", "http://user:hunter2hunter2@")
    with pytest.raises(EmbeddingError) as caught:
        OpenAICompatibleEmbedder(url_with_password, "m", 4, api_key=API_KEY).embed("hello")
    assert "cannot reach the OpenAI-compatible server at http://user:****@127.0.0.1:" in caught.value.message
    assert "hunter2" not in caught.value.message and API_KEY not in caught.value.message


@pytest.mark.parametrize(
    "url",
    [
        "{refused}/v1?api-version=2&api_key=hunter2hunter2",  # a gateway's key in the query
        "user:hunter2hunter2@127.0.0.1/v1",  # no http://: httpx refuses it, the URL quoted
    ],
)
def test_openai_errors_show_neither_a_key_in_the_query_nor_a_password_without_a_scheme(
    refused_url: str, url: str
) -> None:
    with pytest.raises(EmbeddingError) as caught:
        OpenAICompatibleEmbedder(url.format(refused=refused_url), "m", 4).embed("hello")
    assert "cannot reach the OpenAI-compatible server at " in caught.value.message
    assert "hunter2" not in f"{caught.value.message} {caught.value.hint}"


def test_openai_http_500_carries_the_servers_message(server: FakeServer) -> None:
    server.reply = lambda r: (
        500,
        {"error": {"message": "input is too large to process", "type": "server_error"}},
    )
    with pytest.raises(EmbeddingError, match="answered HTTP 500: input is too large to process"):
        OpenAICompatibleEmbedder(server.url, "m", 4).embed("hello")


def test_openai_plain_text_error_is_shown(server: FakeServer) -> None:
    server.reply = lambda r: (503, b"Service Unavailable: loading model")
    with pytest.raises(EmbeddingError, match="HTTP 503: Service Unavailable: loading model"):
        OpenAICompatibleEmbedder(server.url, "m", 4).embed("hello")


def test_openai_timeout_is_reported(server: FakeServer) -> None:
    server.reply = openai_api(dimension=4)
    server.delay = 1.0
    with pytest.raises(EmbeddingError, match=r"OpenAI-compatible server .* did not answer within 0\.2 s"):
        OpenAICompatibleEmbedder(server.url, "m", 4, api_key=API_KEY, timeout=0.2).embed("hello")


def test_openai_wrong_dimension_is_a_dimension_mismatch(server: FakeServer) -> None:
    server.reply = openai_api(dimension=384)
    embedder = OpenAICompatibleEmbedder(server.url, "text-embedding-3-small", 1536, api_key=API_KEY)
    with pytest.raises(DimensionMismatchError, match=r"returned 384-dimensional vectors .* expected 1536"):
        embedder.embed_many(["hello"])


def test_openai_malformed_data_is_an_error(server: FakeServer) -> None:
    server.reply = lambda r: (200, {"data": [{"index": 0}]})
    with pytest.raises(EmbeddingError, match='without "embedding"'):
        OpenAICompatibleEmbedder(server.url, "m", 4).embed("hello")
    server.reply = lambda r: (200, {"data": [{"index": 0, "embedding": [1.0, float("nan")]}]})
    with pytest.raises(EmbeddingError, match="non-finite"):
        OpenAICompatibleEmbedder(server.url, "m", 2).embed("hello")
