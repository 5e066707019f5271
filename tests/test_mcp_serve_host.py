"""`mahavishnu mcp serve --http --host H`: a host that does not resolve is said to be one, with a hint
about --host (it used to be warned about as reachable by other machines, then refused with a hint to
choose another port); a name that resolves to this machine only is not warned about."""

from __future__ import annotations

import socket
import subprocess
import sys
from typing import Any

import pytest

from mahavishnu.cli import mcp as mcp_cli
from mahavishnu.errors import InvalidInputError


def test_a_host_that_does_not_resolve_is_refused_with_a_hint_about_host(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(InvalidInputError) as refused:
        mcp_cli._check_host("not a host", no_auth=False)
    assert "cannot serve on not a host: no such host" in refused.value.message
    assert refused.value.hint is not None and "--host" in refused.value.hint
    assert "--port" not in refused.value.hint
    assert capsys.readouterr().err == ""  # no warning about other machines


def test_the_command_says_so_in_one_line_and_a_hint() -> None:
    argv = ["mcp", "serve", "--http", "--port", "0", "--host", "not a host"]
    proc = subprocess.run(
        [sys.executable, "-m", "mahavishnu", *argv], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode != 0
    assert "WARNING" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert "error:" in proc.stderr and "--host" in proc.stderr and "--port" not in proc.stderr, proc.stderr


def test_a_name_of_this_machine_only_is_not_warned(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def resolve(host: str, *args: Any, **kwargs: Any) -> list[Any]:
        assert host == "devbox"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.1.1", 0))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    mcp_cli._check_host("devbox", no_auth=False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("options", [["--port", "9000"], ["--host", "0.0.0.0", "--no-auth"]])
def test_http_options_without_http_are_refused_rather_than_dropped(options: list[str]) -> None:
    """`mcp serve --port 9000` without --http served stdio, the port dropped: it exits 0 as its stdin ends
    (in a terminal, it waits there), where an HTTP server was meant."""
    proc = subprocess.run(
        [sys.executable, "-m", "mahavishnu", "mcp", "serve", *options],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    first, hint = proc.stderr.splitlines()
    assert first.startswith(f"error: {options[0]} ") and "with --http" in first
    assert hint.startswith("hint: Add --http")


def test_an_address_that_is_not_this_machines_is_said_to_be_so_not_a_port_in_use() -> None:
    from mahavishnu import mcp_server
    from mahavishnu.errors import MahavishnuError

    with pytest.raises(MahavishnuError) as refused:
        mcp_server.bind("192.0.2.1", 0)  # (TEST-NET-1: documentation only, no machine's)
    assert refused.value.hint is not None and "not one of this machine's" in refused.value.hint
    assert "--port" not in refused.value.hint


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_an_ipv6_host_in_brackets_is_served() -> None:
    """`--host [::1]`, as a URL writes it, passed the loopback check and then failed to bind ("Name
    or service not known", with a hint to choose another port)."""
    argv = ["mcp", "serve", "--http", "--port", "0", "--host", "[::1]"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mahavishnu", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        said: list[str] = []
        while (line := proc.stderr.readline()) and "serving" not in line:  # ('' once it ended)
            said.append(line)
        assert "serving http://[::1]:" in line, said
    finally:
        proc.terminate()
        proc.wait(timeout=30)
