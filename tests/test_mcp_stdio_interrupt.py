"""Ctrl-C ends `mahavishnu mcp serve` (stdio) at once, cleanly, while its client keeps stdin open:
the SDK read stdin in a worker thread its event loop waited for, so SIGINT left it running until
stdin closed. Started by hand in a terminal, it says on stderr what it waits for (stdout carries
only the protocol, so nothing there)."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time

from test_mcp_stdio_hostile import INIT

SERVE = [sys.executable, "-m", "mahavishnu", "mcp", "serve"]


def _ended_by_sigint(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    """SIGINT sent to ``proc``: its exit code (within a few seconds) and its stderr."""
    proc.send_signal(signal.SIGINT)
    began = time.monotonic()
    try:
        code = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert time.monotonic() - began < 10
    assert proc.stderr is not None
    return code, proc.stderr.read().decode(errors="replace")


def test_sigint_ends_the_server_while_stdin_is_open() -> None:
    proc = subprocess.Popen(SERVE, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(INIT).encode() + b"\n")
    proc.stdin.flush()
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    assert ready and json.loads(proc.stdout.readline())["id"] == 0  # serving
    code, err = _ended_by_sigint(proc)
    assert code == 130, err  # (as `mcp serve --http` ends at Ctrl-C)
    assert "Traceback" not in err and "Aborted" not in err, err
    assert proc.stdout.read() == b""  # nothing after the answer: stdout is the protocol's
    assert "waiting for an MCP client" not in err  # (stdin is a pipe: a client started it)
    proc.stdin.close()


def test_started_in_a_terminal_it_says_what_it_waits_for_on_stderr() -> None:
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(SERVE, stdin=follower, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stderr is not None and proc.stdout is not None
        ready, _, _ = select.select([proc.stderr], [], [], 60)
        assert ready
        said = proc.stderr.readline().decode()
        assert "waiting for an MCP client on standard input (Ctrl-C to stop)" in said
        assert "mahavishnu mcp install" in said
        time.sleep(0.5)  # (the server is past its start-up: its Ctrl-C handling is in place)
        code, err = _ended_by_sigint(proc)
        assert code == 130 and "Traceback" not in err, err
        assert proc.stdout.read() == b""
    finally:
        os.close(follower)
        os.close(leader)
