"""The real Session-Buddy 0.23.0 for the contract tests (test_session_buddy_real.py).

``.ci/install-session-buddy.sh`` installs it in its own virtual environment under Python 3.13, cached
outside HOME in ``/var/tmp/mahavishnu-e2e/session-buddy-0.23.0`` (``MAHAVISHNU_E2E_CACHE`` overrides
it); ``RealServer`` starts it on loopback in a temp HOME (its data:
``$HOME/.claude/data/reflection.duckdb``). On its documented port 8678 it is started
the documented way, ``session-buddy start``; when that port is taken (a developer's own Session-Buddy),
``session_buddy.server_optimized.run_server(port=...)``, what ``start`` calls, on a free port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

VERSION = "0.23.0"
# Read at import, before the autouse fixture clears MAHAVISHNU_* variables (the same default as .ci/env.sh).
CACHE = Path(os.environ.get("MAHAVISHNU_E2E_CACHE") or "/var/tmp/mahavishnu-e2e")
VENV = CACHE / f"session-buddy-{VERSION}"
PYTHON_313 = Path(os.environ.get("SESSION_BUDDY_PYTHON") or "/root/.pyenv/versions/3.13.0/bin/python3")
DOCUMENTED_PORT = 8678
START_SECONDS = 180.0  # ~19 s on a quiet machine, a minute or more when 2 cores are shared


def missing() -> str | None:
    """Why the real server cannot run here, or None."""
    if (VENV / ".installed").exists():
        return None
    if not PYTHON_313.exists():
        return f"Python 3.13 is absent ({PYTHON_313}); Session-Buddy {VERSION} needs it"
    return f"Session-Buddy {VERSION} is not installed in {VENV}: run `bash .ci/install-session-buddy.sh`"


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RealServer:
    """One Session-Buddy process with its own HOME; ``restart()`` keeps the HOME (and its data)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = DOCUMENTED_PORT if port_is_free(DOCUMENTED_PORT) else free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.log = home / "session-buddy.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def argv(self) -> list[str]:
        if self.port == DOCUMENTED_PORT:
            return [str(VENV / "bin" / "session-buddy"), "start"]
        code = f"from session_buddy.server_optimized import run_server; run_server(port={self.port})"
        return [str(VENV / "bin" / "python"), "-c", code]

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MAHAVISHNU_", "PYTHON"))}
        env.update(HOME=str(self.home), NO_COLOR="1")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv, cwd=self.home, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True,
            )  # fmt: skip
        self.starts += 1
        deadline = time.monotonic() + START_SECONDS
        while not self._listening():
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"Session-Buddy did not start on port {self.port}:\n{tail}")
            time.sleep(0.2)

    def _listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
        except OSError:
            return False
        return True

    def stop(self) -> None:
        """SIGTERM to its process group, SIGKILL after 20 s."""
        if self.process is None:
            return
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        self.process = None
        deadline = time.monotonic() + 10
        while self._listening() and time.monotonic() < deadline:
            time.sleep(0.1)

    def restart(self) -> None:
        self.stop()
        self.start()
