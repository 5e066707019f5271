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
