"""Exactly one Authorization header, or no entry: the MCP HTTP server (``/mcp`` and its
``/metrics``), the dashboard and the memory daemon's ``/metrics`` each get real requests over a raw
socket carrying the header twice (wrong then right, empty then right, Basic then right, right then
right) and answer 400, never 200; one right header still gets in. The dashboard also refuses a
second Host, Cookie, X-CSRF-Token, Origin, Sec-Fetch-Site or Content-Type header."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator

import pytest
from testkit.ports import served_in_thread

from mahavishnu import mcp_server, telemetry
from mahavishnu.config import load_settings
from mahavishnu.memory.core import store as store_module
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.telemetry.serve import MetricsServer
from mahavishnu.ui.app import create_app
from mahavishnu.ui.memories import Library

TOKEN = "t0ken-for-tests-0123456789abcdef"
RIGHT = f"Bearer {TOKEN}"
#: Two Authorization headers, the right one last (the one ``dict(headers)`` kept) or first.
DOUBLED = {
    "wrong then right": ["Bearer wrong", RIGHT],
    "empty then right": ["", RIGHT],
    "basic then right": ["Basic dXNlcjpwYXNz", RIGHT],
    "right then wrong": [RIGHT, "Bearer wrong"],
    "right twice": [RIGHT, RIGHT],
}
INITIALIZE = (
    b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",'
    b'"capabilities":{},"clientInfo":{"name":"t"}}}'
)


def raw_request(
    port: int, method: str, path: str, headers: list[tuple[str, str]], body: bytes = b""
) -> tuple[int, str]:
    """Send one HTTP/1.1 request exactly as given (duplicate headers included); (status, body)."""
    lines = [f"{method} {path} HTTP/1.1", *(f"{name}: {value}" for name, value in headers)]
    lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall("\r\n".join(lines).encode("latin-1") + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, rest = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), rest.decode("utf-8", "replace")


@pytest.fixture
def mcp_port(isolated_home: object) -> Iterator[int]:
    assert telemetry.enable(prometheus=True) is not None
    backing = mcp_server.Backing(store=lambda: MemoryStore.open(load_settings(), embedder=FakeEmbedder()))
    app = mcp_server.http_app(mcp_server.build_server(backing), token=TOKEN, metrics=True)
    try:
        with served_in_thread(app, lifespan="on") as port:
            yield port
    finally:
        backing.close()
        telemetry.shutdown()


def mcp_post(port: int, extra: list[tuple[str, str]]) -> tuple[int, str]:
    headers = [
        ("Host", f"127.0.0.1:{port}"),
        ("Accept", "application/json, text/event-stream"),
        ("Content-Type", "application/json"),
        *extra,
    ]
    return raw_request(port, "POST", "/mcp", headers, INITIALIZE)


def mcp_metrics(port: int, extra: list[tuple[str, str]]) -> tuple[int, str]:
    return raw_request(port, "GET", "/metrics", [("Host", f"127.0.0.1:{port}"), *extra])


@pytest.mark.parametrize("values", DOUBLED.values(), ids=DOUBLED.keys())
@pytest.mark.parametrize("call", [mcp_post, mcp_metrics], ids=["mcp", "metrics"])
def test_mcp_http_refuses_two_authorization_headers(
    mcp_port: int, call: Callable[[int, list[tuple[str, str]]], tuple[int, str]], values: list[str]
) -> None:
    status, body = call(mcp_port, [("Authorization", v) for v in values])
    assert status == 400, body
    assert "more than one Authorization header" in body


@pytest.mark.parametrize("call", [mcp_post, mcp_metrics], ids=["mcp", "metrics"])
def test_mcp_http_one_right_authorization_header_gets_in_and_none_is_401(
    mcp_port: int, call: Callable[[int, list[tuple[str, str]]], tuple[int, str]]
) -> None:
    status, body = call(mcp_port, [("Authorization", RIGHT)])
    assert status == 200, body
    assert call(mcp_port, [])[0] == 401
    assert call(mcp_port, [("Authorization", "Bearer wrong")])[0] == 401


@pytest.mark.parametrize("name", ["Host", "Origin"])
def test_mcp_http_refuses_a_doubled_host_or_origin(mcp_port: int, name: str) -> None:
    value = f"127.0.0.1:{mcp_port}" if name == "Host" else f"http://127.0.0.1:{mcp_port}"
    extra = [("Authorization", RIGHT), (name, value)] + ([(name, value)] if name == "Origin" else [])
    status, body = mcp_post(mcp_port, extra)
    assert status == 400, body


# -- the memory daemon's /metrics (the standard library's server) -----------------------------------------


@pytest.fixture
def metrics_port() -> Iterator[int]:
    server = MetricsServer(0, TOKEN)
    try:
        yield server.port
    finally:
        server.close()


@pytest.mark.parametrize("values", DOUBLED.values(), ids=DOUBLED.keys())
def test_daemon_metrics_refuses_two_authorization_headers(metrics_port: int, values: list[str]) -> None:
    status, body = mcp_metrics(metrics_port, [("Authorization", v) for v in values])
    assert status == 400, body
    assert "more than one Authorization header" in body


def test_daemon_metrics_one_right_header_gets_in(metrics_port: int) -> None:
    assert mcp_metrics(metrics_port, [("Authorization", RIGHT)])[0] == 200
    assert mcp_metrics(metrics_port, [])[0] == 401


# -- the dashboard ----------------------------------------------------------------------------------------


@pytest.fixture
def dashboard(isolated_home: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())
    with MemoryStore.open() as store:
        store.store("We use httpx", "decision", project="api")
    with served_in_thread(create_app(Library(MemoryStore.open), TOKEN), lifespan="on") as port:
        yield port


def dashboard_get(port: int, extra: list[tuple[str, str]], path: str = "/memory/1") -> tuple[int, str]:
    return raw_request(port, "GET", path, [("Host", f"127.0.0.1:{port}"), *extra])


@pytest.mark.parametrize("values", DOUBLED.values(), ids=DOUBLED.keys())
def test_dashboard_refuses_two_authorization_headers(dashboard: int, values: list[str]) -> None:
    status, body = dashboard_get(dashboard, [("Authorization", v) for v in values])
    assert status == 400, body
    assert "more than one Authorization header" in body


def test_dashboard_one_right_header_gets_in(dashboard: int) -> None:
    status, body = dashboard_get(dashboard, [("Authorization", RIGHT)])
    assert status == 200 and "We use httpx" in body
    assert dashboard_get(dashboard, [("Authorization", "Bearer wrong")])[0] == 401


def login(port: int) -> tuple[str, str]:
    """Log in over a raw socket: (the session cookie, the page's CSRF token)."""
    host = ("Host", f"127.0.0.1:{port}")
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(f"GET /login?token={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        head = sock.recv(65536).decode("latin-1")
    found = re.search(r"set-cookie: (mahavishnu_ui_\d+=[^;]+)", head, re.IGNORECASE)
    assert found is not None, head
    cookie = found.group(1)
    status, page = raw_request(port, "GET", "/memory/1", [host, ("Cookie", cookie)])
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert status == 200 and csrf is not None
    return cookie, csrf.group(1)


def test_dashboard_refuses_a_doubled_cookie_host_or_csrf_header(dashboard: int) -> None:
    cookie, csrf = login(dashboard)
    host = ("Host", f"127.0.0.1:{dashboard}")
    assert raw_request(dashboard, "GET", "/memory/1", [host, ("Cookie", cookie)])[0] == 200
    doubled_cookie = [host, ("Cookie", f"mahavishnu_ui_{dashboard}=forged"), ("Cookie", cookie)]
    assert raw_request(dashboard, "GET", "/memory/1", doubled_cookie)[0] == 400
    doubled_host = [host, ("Host", "evil.example"), ("Cookie", cookie)]
    assert raw_request(dashboard, "GET", "/memory/1", doubled_host)[0] == 400
    form = [host, ("Cookie", cookie), ("Content-Type", "application/x-www-form-urlencoded")]
    delete = "/memory/1/quarantine"
    twice = [*form, ("X-CSRF-Token", "wrong"), ("X-CSRF-Token", csrf)]
    assert raw_request(dashboard, "POST", delete, twice, b"")[0] == 400
    origins = [*form, ("X-CSRF-Token", csrf), ("Origin", f"http://127.0.0.1:{dashboard}")]
    assert raw_request(dashboard, "POST", delete, [*origins, ("Origin", "http://evil.example")])[0] == 400
    once = [*form, ("X-CSRF-Token", csrf)]
    assert raw_request(dashboard, "POST", delete, once, b"")[0] == 303
