"""The recall hook, ``mahavishnu memory context --tool T``: the daemon answers, or this process."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mahavishnu.cli.params import Values

from mahavishnu.cli.fast.common import _daemon_result, _open_store, _run
from mahavishnu.cli.fast.hook_input import (
    HOOK_TOOLS,
    _interactive,
    hook_stdin,
    never_blocking,
    read_hook_payload,
)


def parse_memory_context(args: list[str]) -> Values | None:
    """``memory context``'s options (``params.MEMORY_CONTEXT``), or None when Typer must parse."""
    from mahavishnu.cli.params import MEMORY_CONTEXT, parse_plain

    parsed = parse_plain(MEMORY_CONTEXT, args)
    return None if parsed is None or parsed[0] else parsed[1]


def memory_context(args: list[str]) -> int | None:
    """``mahavishnu memory context --tool T`` (the recall hook) without Typer: the warm daemon
    answers, or, when none does, the same work in this process; without ``--tool``, for the
    assistant the hook's JSON says sent it. None when Typer must parse."""
    values = parse_memory_context(args)
    if values is None:
        return None
    tool = values["tool"]

    def body() -> None:
        with never_blocking():
            run_memory_context(tool, ask_daemon=True)

    return _run(body)


def run_memory_context(
    tool: str | None, *, ask_daemon: bool, open_store: Callable[[], Any] | None = None
) -> None:
    """The body of ``memory context`` (both paths): check the assistant and the hook's JSON (the
    assistant, when ``tool`` is None, told from it: ``session_logs.hook_sender``), then print the
    answer of ``recall.build_context`` (asked of the daemon first when ``ask_daemon``), nothing
    when there is nothing to add. A failure is also written to the hook log (one line, what the
    command says), unless the command was run by hand at a terminal: an assistant shows little of
    it (Codex only "SessionStart Failed"), ``memory hooks status`` shows the last one until a later
    recall succeeds."""
    from mahavishnu.memory.loop.hook_log import log_hook_line, mark_success

    name = tool or "?"  # the assistant, once known
    try:
        payload = _context_payload(tool)
        if tool is None:
            name = _hook_sender(payload)
        _memory_context(name, payload, ask_daemon=ask_daemon, open_store=open_store)
    except BaseException as exc:
        if not isinstance(exc, (KeyboardInterrupt, SystemExit, BrokenPipeError)) and not _interactive():
            log_hook_line(name, "recall", f"error: {_one_line(exc)}")
        raise
    mark_success(name, "recall")


def _one_line(exc: BaseException) -> str:
    """What a hook log line says of a failure: the command's own message (as it prints it), or,
    for anything unexpected, only its type (whose text could hold anything)."""
    from mahavishnu.errors import MahavishnuError, from_unexpected

    known = exc if isinstance(exc, MahavishnuError) else None
    if known is None and isinstance(exc, Exception):
        known = from_unexpected(exc)
    if known is None:
        return f"{type(exc).__name__} (unexpected: see the assistant's output of the hook)"
    text = " ".join(str(known.message).split())
    return text if len(text) <= 300 else text[:299] + "…"


def _context_payload(tool: str | None) -> dict[str, str]:
    """The recall hook's JSON, once ``tool`` (when given) is known to be an assistant."""
    if tool is not None and tool not in HOOK_TOOLS:
        from mahavishnu.memory.loop.session_logs import check_tool

        check_tool(tool)  # raises the command's error
    example = '{"hook_event_name": "SessionStart", "cwd": "/path/to/project"}'
    by_hand = f"echo '{example}' | mahavishnu memory context --tool {tool or 'claude'}"
    return read_hook_payload(hook_stdin(f"Pipe one in, e.g. {by_hand}"))


def _memory_context(
    name: str, payload: dict[str, str], *, ask_daemon: bool, open_store: Callable[[], Any] | None
) -> None:
    import json

    reply = None
    busy: list[float] = []
    served = False  # a daemon serves this home (on, not stopped by the user)
    if ask_daemon:
        from mahavishnu.memory.loop import daemon

        request = {"payload": payload, "tool": name}
        reply = daemon.ask("context", request, timeout=daemon.RECALL_SECONDS, on_silence=busy.append)
        served = reply is None and daemon.enabled() and not daemon.stopped_by_user()
    prompt = payload.get("hook_event_name") == "UserPromptSubmit"
    if reply is not None:
        answer = _daemon_result(reply)
    elif served and (busy or prompt) and _through_daemon_only():  # (no connection of each hook's own)
        if busy:
            _say_busy(name, busy[0], "no recall for this prompt")
        answer = None
    else:
        if busy:
            _say_busy(name, busy[0], "recalled without it")
        answer = _recall_here(name, payload, open_store)
    if answer is not None:
        sys.stdout.write(json.dumps(answer, ensure_ascii=False) + "\n")


def _say_busy(name: str, seconds: float, what: str) -> None:
    from mahavishnu.memory.loop.hook_log import log_hook_line

    log_hook_line(name, "recall", f"the memory daemon did not answer within {seconds:g} s: {what}")


def _through_daemon_only() -> bool:
    """Whether a recall the daemon did not answer is left out rather than done here: on a
    PostgreSQL store, where the daemon's small pool serves every terminal of the machine
    (``memory.daemon_pool_size``) and a hook of its own would open another server connection (and
    load the model) just when the machine is busiest. So a prompt's recall is the daemon's or none
    (a daemon that is down is started for the next prompt); a session start's, when the daemon is
    down rather than busy, is still done here, once per session, while the daemon warms up."""
    from mahavishnu.config import load_settings

    return bool(load_settings().memory.backend == "postgres")


def _recall_here(name: str, payload: dict[str, str], open_store: Callable[[], Any] | None) -> Any:
    """The recall in this process. A team store found unreachable a moment ago is not waited for,
    one that does not answer now is waited for ``HOOK_CONNECT_SECONDS`` at most: the answer is then
    empty (at session start, one line saying so: ``sync.unreachable_answer``), never an error."""
    import os

    from mahavishnu.config import load_settings
    from mahavishnu.errors import ServerUnreachableError
    from mahavishnu.memory.loop import sync
    from mahavishnu.memory.loop.recall import build_context

    settings = load_settings()
    target = _team_location(settings)
    if target is not None and sync.recently_unreachable(target):
        return sync.unreachable_answer(payload, target)
    os.environ.setdefault("MAHAVISHNU_PG_CONNECT_TIMEOUT", str(HOOK_CONNECT_SECONDS))
    try:
        # (a store for this one command: a server its open found unreachable is not waited for again)
        with (open_store or _open_store)() as store:
            return build_context(store, payload, name, settings.recall)
    except ServerUnreachableError:
        if target is None:
            raise
        return sync.unreachable_answer(payload, target)


#: The most a recall hook run in-process waits for a PostgreSQL server to answer a connection
#: (libpq waits 2 s at the least: it takes a shorter ``connect_timeout`` as 2).
HOOK_CONNECT_SECONDS = 1


def _team_location(settings: Any) -> str | None:
    """The PostgreSQL store's location (None for the embedded store)."""
    if settings.memory.backend != "postgres":
        return None
    from mahavishnu.memory.core.backends.postgres import configured_location

    location: str | None = configured_location(settings.memory)
    return location


def _hook_sender(payload: dict[str, str]) -> str:
    """The assistant whose hook sent ``payload`` (``memory context`` without ``--tool``), or the
    command's error (exit 1: never a usage error, which an assistant reads as "block")."""
    from mahavishnu.errors import MahavishnuError
    from mahavishnu.memory.loop.session_logs import TOOLS, hook_sender

    found = hook_sender(payload)
    if found is None:
        raise MahavishnuError(
            "memory context: cannot tell which assistant sent this hook's JSON (no transcript_path "
            "under one assistant's session folder), and no --tool names it",
            hint=f"Add --tool ({', '.join(TOOLS)}) to the hook's command, or run "
            "`mahavishnu memory hooks install --tool all`, which writes it.",
        )
    return found
