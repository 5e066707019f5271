"""Each kind of health check against a real endpoint: HTTP, TCP, an MCP server, a command."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress

import pytest
from testkit.ports import free_port

from mahavishnu.config import HealthCheckSettings, load_settings
from mahavishnu.services.health import check
from mahavishnu.services.supervisor import Supervisor

from .helpers import HERE, ours, services_settings, web_service, write_settings


def test_tcp_check_needs_a_listener() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert check(HealthCheckSettings(tcp=str(port))).ok
        assert check(HealthCheckSettings(tcp=f"127.0.0.1:{port}")).ok
    down = check(HealthCheckSettings(tcp=str(port), timeout_seconds=0.5))
    assert not down.ok and down.kind == "tcp"


def test_tcp_check_of_an_ipv6_address_written_in_brackets() -> None:
    """``[::1]:PORT``, as a URL writes an IPv6 host, never passed: the brackets went to the resolver."""
    with socket.socket(socket.AF_INET6) as listener:
        try:
            listener.bind(("::1", 0))
        except OSError:
            pytest.skip("this machine has no IPv6 loopback")
        listener.listen()
        port = listener.getsockname()[1]
        found = check(HealthCheckSettings(tcp=f"[::1]:{port}"))
        assert found.ok, found.detail
        assert found.detail == f"[::1]:{port} accepts connections"


def test_command_check_uses_the_exit_status_and_a_timeout() -> None:
    assert check(HealthCheckSettings(command="true")).ok
    failed = check(HealthCheckSettings(command=[sys.executable, "-c", "import sys; sys.exit('not ready')"]))
    assert not failed.ok and failed.detail == "exit status 1: not ready"
    began = time.monotonic()
    slow = check(HealthCheckSettings(command="sleep 30", timeout_seconds=0.2))
    assert not slow.ok and "timed out" in slow.detail and time.monotonic() - began < 5


@pytest.mark.parametrize("left", ["sleep 30 &", "setsid sleep 30 &"])
def test_a_command_check_that_leaves_a_process_behind_is_its_exit_status(left: str) -> None:
    """A process left in the background held the check's stderr pipe: a check that exited 0 at once
    said 'timed out', and one whose process left its group held it until that process ended."""
    began = time.monotonic()
    try:
        result = check(HealthCheckSettings(command=["sh", "-c", f"{left} exit 0"]))
        assert (result.ok, result.detail) == (True, "exit status 0")
        assert time.monotonic() - began < 5
        failed = check(HealthCheckSettings(command=["sh", "-c", f"{left} echo not ready >&2; exit 3"]))
        assert (failed.ok, failed.detail) == (False, "exit status 3: not ready")
    finally:
        time.sleep(0.2)
        for pid in ours():  # the sleeps it left: ours by the test's MAHAVISHNU_HOME
            os.kill(pid, signal.SIGKILL)


def test_a_dead_process_is_never_healthy_and_one_check_at_most() -> None:
    assert not check(HealthCheckSettings(), process_alive=False).ok
    assert check(HealthCheckSettings()).kind == "process"
    with pytest.raises(ValueError, match="one of http, tcp, mcp or command"):
        HealthCheckSettings(http="http://127.0.0.1:1/", tcp="1")


def test_mcp_check_handshakes_with_a_real_mcp_server_and_rejects_a_plain_http_one() -> None:
    mcp_port, web_port = free_port(), free_port()
    mcp_service = {
        "command": [sys.executable, str(HERE / "mcp_service.py"), str(mcp_port)],
        "health": {"mcp": f"http://127.0.0.1:{mcp_port}/mcp"},
    }
    write_settings(services_settings({"mcp": mcp_service, "web": web_service(web_port)}))
    supervisor = Supervisor(load_settings())
    try:
        started = supervisor.start("mcp")
        assert started.health == "MCP server 'health-test' answers ping"
        supervisor.start("web")
        not_mcp = check(HealthCheckSettings(mcp=f"http://127.0.0.1:{web_port}/mcp"))
        assert not not_mcp.ok and not_mcp.kind == "mcp"
    finally:
        supervisor.stop("mcp")
        supervisor.stop("web")


def test_configured_session_buddy_is_checked_with_its_health_check_tool() -> None:
    from pathlib import Path

    from mahavishnu.config import SessionBuddySettings, Settings
    from mahavishnu.health import _session_buddy

    server = Path(__file__).resolve().parents[2] / "testkit" / "session_buddy_server.py"
    peer = SessionBuddySettings(command=[sys.executable, str(server)], timeout_seconds=30)  # starts Python
    (component,) = _session_buddy(Settings(session_buddy=peer))
    assert (component.component, component.status) == ("session-buddy", "ok")
    assert component.detail.startswith("session-buddy 0.23.0 at stdio")
    assert component.latency_ms and component.data["check"] == "mcp-tool"

    began = time.monotonic()
    absent = SessionBuddySettings(url="http://127.0.0.1:9/mcp", timeout_seconds=1)
    (down,) = _session_buddy(Settings(session_buddy=absent))
    assert down.status == "error" and "unreachable" in down.detail and time.monotonic() - began < 5


@pytest.mark.parametrize("kind", ["http", "mcp"])
def test_a_trickling_answer_is_given_up_on_at_the_checks_timeout(kind: str) -> None:
    """Each header line came within httpx's read timeout: a check of 0.5 s waited for all of them,
    holding `service start` (its service's lock) and the watcher as long as the server trickled."""
    import contextlib
    import threading

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def trickle() -> None:
            conn, _ = listener.accept()
            with conn, contextlib.suppress(OSError):
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                for _ in range(40):  # 4 s of headers
                    conn.sendall(b"X-Slow: 1\r\n")
                    time.sleep(0.1)

        threading.Thread(target=trickle, daemon=True).start()
        began = time.monotonic()
        result = check(HealthCheckSettings(**{kind: f"http://127.0.0.1:{port}/"}, timeout_seconds=0.5))
        assert time.monotonic() - began < 2
    assert not result.ok and "ReadTimeout" in result.detail


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:87OO/health", "http://[::1/", f"http://{'a' * 70}.example/"]
)
@pytest.mark.parametrize("kind", ["http", "mcp"])
def test_a_url_that_cannot_be_requested_is_unhealthy_not_a_traceback(kind: str, url: str) -> None:
    """httpx's InvalidURL (and the IDNA codec's UnicodeError) are no HTTPError: a typo in the port
    was a traceback from `service start` and `service status`."""
    result = check(HealthCheckSettings(**{kind: url}, timeout_seconds=0.5))
    assert not result.ok and result.detail.startswith("not a URL that can be requested (")


@contextmanager
def answering(head: bytes, body: Iterable[bytes]) -> Iterator[int]:
    """A loopback port whose server answers one request with ``head``, then each part of ``body``."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()

        def serve() -> None:
            conn, _ = listener.accept()
            with conn, suppress(OSError):
                conn.recv(65536)
                conn.sendall(head)
                for part in body:
                    conn.sendall(part)

        threading.Thread(target=serve, daemon=True).start()
        yield listener.getsockname()[1]


def test_an_mcp_error_that_is_no_object_is_unhealthy_not_a_traceback() -> None:
    """A server answering ``"error": "boom"`` (the spec's is an object) was an AttributeError
    traceback from `service start`, `status` and `health`."""
    answer = b'{"jsonrpc": "2.0", "id": 1, "error": "boom"}'
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(answer)
    with answering(head, [answer]) as port:
        result = check(HealthCheckSettings(mcp=f"http://127.0.0.1:{port}/mcp", timeout_seconds=2))
    assert not result.ok and result.detail == "MCP error: boom"


def test_an_mcp_check_reads_no_more_than_the_start_of_a_huge_answer() -> None:
    """The whole answer was read into memory, as fast as the server sent it, until the timeout."""
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        while sent < 64 * 1024 * 1024:  # then it holds the connection, without a word
            sent += 65536
            yield b" " * 65536
        time.sleep(5)

    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n"
    with answering(head, body()) as port:
        began = time.monotonic()
        result = check(HealthCheckSettings(mcp=f"http://127.0.0.1:{port}/mcp", timeout_seconds=3))
        assert time.monotonic() - began < 2
    assert (result.ok, result.detail) == (False, "no JSON-RPC answer")
    assert sent < 16 * 1024 * 1024
