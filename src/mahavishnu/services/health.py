"""Health checks: an HTTP GET, a TCP connect, an MCP initialize + ping, or a command's exit status."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mahavishnu.config import HealthCheckSettings
from mahavishnu.http_deadline import hung_up_after
from mahavishnu.services import procs

if TYPE_CHECKING:
    import httpx

MCP_PROTOCOL_VERSION = "2025-06-18"
#: How much of an MCP answer the check reads: an initialize or ping result is far shorter.
MCP_BODY_LIMIT = 1024 * 1024


@dataclass(frozen=True)
class Health:
    ok: bool
    kind: str  # http, tcp, mcp, command or process
    detail: str
    latency_ms: float | None = None


def check(spec: HealthCheckSettings, *, process_alive: bool = True) -> Health:
    """Run the service's health check once. A dead process is never healthy."""
    kind = spec.kind
    if not process_alive:
        return Health(False, kind, "process not running")
    if kind == "process":
        return Health(True, kind, "process running")
    started = time.perf_counter()
    try:
        detail = _CHECKS[kind](spec)
    except _Unhealthy as exc:
        return Health(False, kind, str(exc), _ms(started))
    return Health(True, kind, detail, _ms(started))


class _Unhealthy(Exception):
    pass


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _http(spec: HealthCheckSettings) -> str:
    import httpx

    headers = _auth(spec)
    try:  # the status is the answer: the body is not read (a huge one was, whole, into memory)
        with (
            hung_up_after(spec.timeout_seconds) as trace,
            httpx.Client(timeout=spec.timeout_seconds) as client,
            client.stream("GET", str(spec.http), headers=headers, extensions={"trace": trace}) as response,
        ):
            code = response.status_code
    except httpx.HTTPError as exc:
        raise _Unhealthy(f"{type(exc).__name__}: {exc}") from exc
    except (httpx.InvalidURL, UnicodeError) as exc:  # no HTTPError: a port of "87OO", a host label of 64+
        raise _Unhealthy(_bad_url(exc)) from exc
    if code >= 400:
        raise _Unhealthy(f"HTTP {code}")
    return f"HTTP {code}"


def _bad_url(exc: Exception) -> str:
    return f"not a URL that can be requested ({exc}): fix the health check's URL in the settings"


def _auth(spec: HealthCheckSettings) -> dict[str, str]:
    """The Authorization header for a server that wants a bearer token (``bearer_secret``)."""
    if not spec.bearer_secret:
        return {}
    from mahavishnu.config import load_settings
    from mahavishnu.environments.secrets import lookup
    from mahavishnu.errors import MahavishnuError

    try:
        return {"Authorization": f"Bearer {lookup(spec.bearer_secret, load_settings())}"}
    except MahavishnuError as exc:
        raise _Unhealthy(f"no bearer token: {exc.message}") from exc


def _tcp(spec: HealthCheckSettings) -> str:
    written, _, port = str(spec.tcp).rpartition(":")
    host = written.removeprefix("[").removesuffix("]") or "127.0.0.1"  # "[::1]:8080", as in a URL
    try:
        with socket.create_connection((host, int(port)), timeout=spec.timeout_seconds):
            pass
    except (OSError, ValueError) as exc:
        raise _Unhealthy(f"{written or '127.0.0.1'}:{port}: {exc}") from exc
    return f"{written or '127.0.0.1'}:{port} accepts connections"


def _mcp(spec: HealthCheckSettings) -> str:
    """The streamable-HTTP handshake, then a ping in the session it opened."""
    import httpx

    url = str(spec.mcp)
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    headers.update(_auth(spec))
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": MCP_PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "mahavishnu-health", "version": "1"},
        },
    }
    try:
        with (
            hung_up_after(spec.timeout_seconds) as trace,  # the whole handshake, however it trickles
            httpx.Client(timeout=spec.timeout_seconds, headers=headers) as client,
        ):
            traced = {"trace": trace}
            response = _send(client, "POST", url, initialize, {}, traced)
            result = _rpc_result(response, 1)
            session = response.headers.get("mcp-session-id")
            version = str(result.get("protocolVersion") or MCP_PROTOCOL_VERSION)
            extra = {"mcp-protocol-version": version, **({"mcp-session-id": session} if session else {})}
            initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
            _send(client, "POST", url, initialized, extra, traced)
            ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
            _rpc_result(_send(client, "POST", url, ping, extra, traced), 2)
            if session:
                _send(client, "DELETE", url, None, extra, traced)
    except httpx.HTTPError as exc:
        raise _Unhealthy(f"{type(exc).__name__}: {exc}") from exc
    except (httpx.InvalidURL, UnicodeError) as exc:  # no HTTPError: a port of "87OO", a host label of 64+
        raise _Unhealthy(_bad_url(exc)) from exc
    server = (
        result.get("serverInfo", {}).get("name", "?") if isinstance(result.get("serverInfo"), dict) else "?"
    )
    return f"MCP server '{server}' answers ping"


@dataclass(frozen=True)
class _Answer:
    status_code: int
    headers: dict[str, str]
    text: str  # the start of the body: ``MCP_BODY_LIMIT`` bytes at most


def _send(
    client: httpx.Client,
    method: str,
    url: str,
    body: dict[str, Any] | None,
    headers: dict[str, str],
    traced: dict[str, Any],
) -> _Answer:
    """One request of the handshake, of whose answer at most ``MCP_BODY_LIMIT`` bytes are read (a
    huge one went whole into memory, as fast as the server sent it, until the timeout)."""
    with client.stream(method, url, json=body, headers=headers, extensions=traced) as response:
        read = bytearray()
        for chunk in response.iter_bytes():
            read += chunk
            if len(read) >= MCP_BODY_LIMIT:
                break
        text = bytes(read[:MCP_BODY_LIMIT]).decode("utf-8", "replace")
        return _Answer(response.status_code, dict(response.headers), text)


def _rpc_result(response: _Answer, request_id: int) -> dict[str, Any]:
    if response.status_code >= 400:
        raise _Unhealthy(f"HTTP {response.status_code}")
    text = response.text
    if "text/event-stream" in response.headers.get("content-type", ""):
        bodies = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
    else:
        bodies = [text]
    for body in bodies:
        try:
            message = json.loads(body)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("id") == request_id:
            if "error" in message:
                error = message["error"]  # an object by the spec; some servers send a string
                said = error.get("message", error) if isinstance(error, dict) else error
                raise _Unhealthy(f"MCP error: {said}")
            result = message.get("result")
            return result if isinstance(result, dict) else {}
    raise _Unhealthy("no JSON-RPC answer")


def _command(spec: HealthCheckSettings) -> str:
    """The command's exit status by the timeout. Its stderr goes to a file: a pipe, held open by a
    process it left in the background (``daemon &``, one in a session of its own), was waited on
    past the command's exit and past the timeout, for as long as that process ran."""
    argv = list(spec.command or [])
    with tempfile.TemporaryFile() as stderr:
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,  # on timeout its whole group goes, not just the shell
            )
        except OSError as exc:
            raise _Unhealthy(f"cannot run {argv[0]}: {exc.strerror}") from exc
        try:
            code = proc.wait(timeout=spec.timeout_seconds)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # our own unreaped child: the pid cannot have been reused
            proc.wait()
            raise _Unhealthy(f"timed out after {spec.timeout_seconds:g} s") from None
        if code != 0:
            last = procs.said_last(stderr).splitlines()[-1:] or [""]
            raise _Unhealthy(f"exit status {code}" + (f": {last[0][:200]}" if last[0] else ""))
    return "exit status 0"


_CHECKS = {"http": _http, "tcp": _tcp, "mcp": _mcp, "command": _command}
