"""The capture hook, ``mahavishnu memory import --tool T -``: handed to the daemon or a detached
process, so the assistant never waits."""

from __future__ import annotations

import io
import sys
from typing import Any

from mahavishnu.cli.fast.common import _daemon_result, _run
from mahavishnu.cli.fast.hook_input import (
    CAPTURE_ENV,
    DETACHED_CAPTURE_SECONDS,
    HOOK_TOOLS,
    hook_stdin,
    hook_tool,
    never_blocking,
    read_hook_payload,
    read_stdin,
)


def memory_import_hook(args: list[str]) -> int | None:
    """``mahavishnu memory import --tool T -`` (the capture hook, after every turn) without making
    the assistant wait: the hook's JSON is checked here (a bad one is reported at once, as Typer
    would), then taken by the warm daemon, which acknowledges it at once and writes the outcome to
    the hook log, or, when no daemon takes it, handed to a detached ``memory import`` (which asks
    the daemon, or imports in-process when none runs) and this process exits. Nothing is lost
    when that process or the daemon dies: the hook's JSON only names the assistant's own session
    file, which stays, and the next capture of the session (or ``memory import --tool all``)
    re-reads it; import is idempotent. None when Typer must run the command (another spelling, ``all``)."""
    import os

    tool = hook_tool(args, ("-",))
    if tool is None or tool not in HOOK_TOOLS:
        return None
    if os.environ.get(CAPTURE_ENV) == "detached":
        return _capture_now(tool)
    by_hand = f"Pass the session file instead of '-': mahavishnu memory import --tool {tool} FILE"

    def body() -> None:
        with never_blocking():
            _hand_off_capture(tool, hook_stdin(by_hand))

    return _run(body)


def _hand_off_capture(tool: str, text: str) -> None:
    import json
    import os
    import subprocess
    import tempfile

    from mahavishnu.memory.loop.hook_log import capture_log, open_log, rotate
    from mahavishnu.site_on_demand import started_as_hook

    payload = read_hook_payload(text)
    if _taken_by_daemon(tool, payload):
        return
    from mahavishnu import paths

    log = capture_log()
    spool = paths.make_dir(log.parent)
    rotate(log)
    argv, env = started_as_hook(["memory", "import", "--tool", tool, "-"])
    # the payload's spool file is 0600 and has no name
    with os.fdopen(open_log(log), "ab") as errors, tempfile.TemporaryFile(dir=spool) as handle:
        handle.write(json.dumps(payload, ensure_ascii=False).encode())
        handle.seek(0)
        subprocess.Popen(
            argv,
            stdin=handle,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            env={**env, CAPTURE_ENV: "detached"},
            start_new_session=True,
            close_fds=True,
        )


#: How long the capture hook waits for the daemon to take its capture before handing it to a
#: detached process (the daemon's reading thread answers at once; a capture taken twice is read once).
HAND_OFF_SECONDS = 1.0


def _taken_by_daemon(tool: str, payload: dict[str, str]) -> bool:
    """The warm daemon took the capture (it writes the outcome to the hook log): no process of its
    own needed. False when it runs with other settings, is down or does not answer at once."""
    from mahavishnu.memory.loop import daemon

    request = {"payload": payload, "tool": tool, "root": _session_root(tool), "detach": True}
    reply, _why = daemon.exchange("capture", request, HAND_OFF_SECONDS)
    return reply is not None and reply.get("ok") is True


def _capture_now(tool: str) -> int | None:
    """The detached capture: through the warm daemon (one writer, the embedder loaded), else None
    and the Typer command imports in-process (it reads the hook's JSON from stdin again)."""
    import signal

    from mahavishnu.errors import MahavishnuError
    from mahavishnu.memory.loop import daemon

    signal.alarm(DETACHED_CAPTURE_SECONDS)
    from mahavishnu.memory.loop.hook_log import StampedErrors, mark_success

    sys.stderr = StampedErrors(sys.stderr, tool)
    text = read_stdin()
    try:
        payload: dict[str, Any] | None = read_hook_payload(text)
    except MahavishnuError:  # (the hook's process checked it) the command says what is wrong
        payload = None
    # Detached: nobody waits, so a long first import of a session may take its time (a client that
    # gave up would import it a second time in-process).
    # The session folder the transcript must lie under, as this hook's environment (the assistant's:
    # CLAUDE_CONFIG_DIR, CODEX_HOME...) says, not the daemon's.
    request = {"payload": payload, "tool": tool, "root": _session_root(tool)}
    reply = daemon.ask("capture", request, timeout=600) if payload is not None else None
    if reply is None:
        sys.stdin = io.StringIO(text)  # the Typer command reads it again
        return None

    def show() -> None:
        with never_blocking():  # the daemon's user error says exit 2, as the command would
            _daemon_result(reply)
        mark_success(tool, "capture")

    return _run(show)


def _session_root(tool: str) -> str:
    from mahavishnu.memory.loop.session_logs import check_tool, session_root

    return str(session_root(check_tool(tool)))
