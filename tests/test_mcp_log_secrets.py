"""What the MCP SDK logs is scrubbed of secrets: it logs a refused Origin or Host header as the
request sent it (``mcp.server.transport_security``), and a key pasted there reached stderr whole."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from mahavishnu import mcp_server

KEY = "sk-ant-api03-" + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" * 2
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture
def scrubbed() -> Iterator[None]:
    made = logging.getLogRecordFactory()
    mcp_server.scrub_sdk_logs()
    mcp_server.scrub_sdk_logs()  # (once: not wrapped twice)
    try:
        yield
    finally:
        logging.setLogRecordFactory(made)


def test_the_sdks_records_are_scrubbed_whatever_logger_and_handler(
    scrubbed: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="mcp"):
        logging.getLogger("mcp.server.transport_security").warning(f"Invalid Origin header: http://{KEY}")
        logging.getLogger("mcp.server.transport_security").warning("Invalid Host header: %s", f"{KEY}:8680")
    assert KEY not in caplog.text and caplog.text.count("[REDACTED:anthropic-key]") == 2
    assert "Invalid Origin header: http://[REDACTED:anthropic-key]" in caplog.text
    logging.getLogger("elsewhere").warning(f"not the SDK's: {KEY}")  # (other loggers untouched)
    assert KEY in caplog.text


@contextmanager
def _serving() -> Iterator[tuple[int, list[str]]]:
    """``mcp serve --http --no-auth`` on a free port, answering: its port, and its stderr once stopped."""
    port, err = _free_port(), []
    proc = subprocess.Popen(
        [sys.executable, "-m", "mahavishnu", "mcp", "serve", "--http", "--no-auth", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                # (a GET opens an event stream, which outlasts the timeout: each test waited out the deadline)
                httpx.post(f"http://127.0.0.1:{port}/mcp", json={}, headers=ACCEPT, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield port, err
    finally:
        proc.terminate()
        err.append(proc.communicate(timeout=10)[1])


def test_a_key_in_the_origin_or_host_header_never_reaches_the_servers_stderr() -> None:
    with _serving() as (port, stderr):
        url = f"http://127.0.0.1:{port}/mcp"
        origin = httpx.post(url, json={}, headers={**ACCEPT, "Origin": f"http://{KEY}"}, timeout=10)
        host = httpx.post(url, json={}, headers={**ACCEPT, "Host": f"{KEY}:{port}"}, timeout=10)
        assert (origin.status_code, host.status_code) == (403, 421)
    [err] = stderr
    assert "Invalid Origin header: http://[REDACTED" in err and "Invalid Host header: [REDACTED" in err
    assert KEY not in err and "sk-ant-api03" not in err


def test_an_origin_names_the_port_served_not_any_local_server() -> None:
    """A page of another server on this machine (its Origin ``http://127.0.0.1:OTHER``), or an Origin
    that only starts like ours, is refused; one naming the port served is taken."""
    with _serving() as (port, _):
        url = f"http://127.0.0.1:{port}/mcp"

        def status(origin: str) -> int:
            return httpx.post(url, json={}, headers={**ACCEPT, "Origin": origin}, timeout=10).status_code

        for refused in (
            f"http://127.0.0.1:{port + 1}",
            "http://localhost:3000",
            f"http://127.0.0.1:{port}@evil.example",
        ):
            assert status(refused) == 403, refused
        for ours in (f"http://127.0.0.1:{port}", f"http://localhost:{port}"):
            assert status(ours) != 403, ours


def test_a_client_that_drops_its_request_midway_leaves_no_traceback_on_stderr() -> None:
    """A review: each POST whose client closed its connection before the whole body was sent (a
    cancelled call) put an ERROR and a ten-line traceback (``ClientDisconnect``) on the server's stderr."""
    import socket

    call = b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_llms"}}'
    with _serving() as (port, stderr):
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", port)) as sock:
                head = f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {len(call)}\r\n"
                sock.sendall(head.encode() + b"Content-Type: application/json\r\n" + _SSE + call[:20])
        time.sleep(0.5)
        served = httpx.post(f"http://127.0.0.1:{port}/mcp", content=call, headers=ACCEPT, timeout=30)
        assert served.status_code == 200  # (the next call is served, as before)
    [err] = stderr
    assert "Traceback" not in err and "ClientDisconnect" not in err and "ERROR" not in err, err


_SSE = b"Accept: application/json, text/event-stream\r\n\r\n"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
