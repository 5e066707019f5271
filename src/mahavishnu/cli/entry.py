"""Console-script entry point, kept free of imports so the fast paths below stay fast.

Every command is measured here, once (``cli/command_span.py``, ``telemetry.command``); telemetry off,
that costs one look at the environment and the settings snapshot, and no OpenTelemetry module is
imported; on, none until the command ends, and none at all when the memory daemon answered it.
"""

from __future__ import annotations

import errno
import sys


def run() -> None:
    _bytes_pass_through()
    try:
        try:
            _measured(sys.argv[1:])
        # written out now, where a failure can still be said in one line (at the interpreter's
        # exit it printed "Exception ignored" and a traceback); None: started with descriptor 1
        # closed (`mahavishnu … >&-`), where print() writes nothing
        finally:
            if sys.stdout is not None:
                sys.stdout.flush()
    except OSError as exc:
        if exc.errno not in _UNWRITABLE:
            raise
        _cannot_write(exc)


def _bytes_pass_through() -> None:
    """A name that is not UTF-8 (a file ``caf\xe9.json`` from a Latin-1 system) printed as the
    bytes it is, as ``ls`` prints it: under a UTF-8 locale Python's standard output refuses it
    (``strict``), and a command that had done its work ended in an encoding error."""
    if sys.stdout is not None and getattr(sys.stdout, "errors", None) == "strict":
        reconfigure = getattr(sys.stdout, "reconfigure", None)  # (a replaced stream may have none)
        if reconfigure is not None:
            reconfigure(errors="surrogateescape")


def _measured(argv: list[str]) -> None:
    from mahavishnu import telemetry
    from mahavishnu.cli import command_span

    with telemetry.command(command=command_span.fast_name(argv)) as command_span.current:
        try:
            _dispatch(argv)
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 0 if done.code is None else 1
            command_span.current.set(outcome="ok" if code == 0 else "error", exit_code=code)
            raise


#: What writing the output meets when it cannot go where it was sent: a full disk (``> /dev/full``),
#: a quota, a device error, a reader that went away (``| head``).
_UNWRITABLE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG, errno.EPIPE})


def _cannot_write(exc: OSError) -> None:
    """Exit 1 with one line on standard error: the output could not be written (nothing for a
    reader that went away, as every command-line tool does)."""
    import contextlib
    import os

    with contextlib.suppress(OSError, ValueError):  # the interpreter's last flush finds nowhere to fail
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if exc.errno != errno.EPIPE:
        sys.stderr.write(
            f"error: cannot write the output: {exc.strerror}\n"
            "hint: Send it where there is room (another file or disk), or to the terminal.\n"
        )
    raise SystemExit(1)


def _dispatch(argv: list[str]) -> None:
    # Claude Code runs `mahavishnu secrets get NAME` (its apiKeyHelper) whenever it needs a key:
    # answer it without loading Typer, Rich and every command group.
    if len(argv) == 3 and argv[:2] == ["secrets", "get"] and not argv[2].startswith("-"):
        from mahavishnu.cli.fast.secret import secrets_get

        sys.exit(secrets_get(argv[2]))
    # `mahavishnu ai switch-llm NAME [options]`, plainly spelled: the same code without Typer.
    if argv[:2] == ["ai", "switch-llm"]:
        from mahavishnu.cli.fast.switch import switch_llm

        code = switch_llm(argv[2:])
        if code is not None:
            sys.exit(code)
    # `mahavishnu memory search QUERY [options]`: answered by the warm memory daemon when it runs.
    if argv[:2] == ["memory", "search"]:
        from mahavishnu.cli.fast.search import memory_search

        code = memory_search(argv[2:])
        if code is not None:
            sys.exit(code)
    # `mahavishnu memory store TEXT [options]`: on a PostgreSQL store, stored by the memory daemon.
    if argv[:2] == ["memory", "store"]:
        from mahavishnu.cli.fast.store import memory_store

        code = memory_store(argv[2:])
        if code is not None:
            sys.exit(code)
    # The memory loop's hooks, run by the assistants at session start, on every prompt and after
    # every turn: `memory context --tool T` and `memory import --tool T -`, as the hooks spell them.
    if argv[:2] == ["memory", "context"]:
        from mahavishnu.cli.fast.recall import memory_context

        code = memory_context(argv[2:])
        if code is not None:
            sys.exit(code)
    if argv[:2] == ["memory", "import"]:
        from mahavishnu.cli.fast.capture import memory_import_hook

        code = memory_import_hook(argv[2:])
        if code is not None:
            sys.exit(code)
    # Claude Code's statusLine runs `mahavishnu usage statusline` after every turn: from a summary.
    if argv == ["usage", "statusline"]:
        from mahavishnu.usage.statusline import main

        sys.exit(main([]))
    # `mahavishnu usage [daily|monthly|sessions] [options]`: a report, without Typer's 0.1 s.
    if argv[:1] == ["usage"]:
        from mahavishnu.cli.fast.usage import usage_report

        code = usage_report(argv[1:])
        if code is not None:
            sys.exit(code)
    from mahavishnu.cli.main import app

    app()


if __name__ == "__main__":  # python -m mahavishnu.cli.entry ...: exactly what the console script runs
    run()
