"""Errors and exit codes as the Typer app reports them, and the store the fast paths open."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mahavishnu.errors import MahavishnuError


def _open_store() -> Any:
    from mahavishnu.memory.core.store import MemoryStore

    return MemoryStore.open(one_command=True)


def _daemon_result(reply: dict[str, Any]) -> Any:
    """The result of a daemon's answer; its user error raised as the command raises it."""
    from mahavishnu.memory.loop import daemon

    return daemon.result(reply)


# -- errors and exit codes, as the Typer app reports them -----------------------------------------


def _run(body: Callable[[], None]) -> int:
    """Run a command body; a MahavishnuError becomes one line + hint on stderr and its exit code
    (as cli/main.py's root group does), Ctrl-C and a closed pipe end it as Click would."""
    from mahavishnu.errors import MahavishnuError, from_unexpected

    try:
        body()
    except MahavishnuError as exc:
        return _report(exc)
    except (KeyboardInterrupt, EOFError):
        sys.stderr.write("\nAborted!\n")
        return 1
    except BrokenPipeError:  # e.g. piped into `head`: quietly, like Click
        _silence_broken_pipe()
        return 1
    except Exception as exc:
        translated = from_unexpected(exc)
        if translated is None:
            raise
        return _report(translated)
    return 0


def _report(exc: MahavishnuError) -> int:
    sys.stderr.write(error_lines(exc))
    return exc.exit_code


def error_lines(exc: MahavishnuError) -> str:
    """``error: …`` and ``hint: …`` lines, as every command reports an error (this fast path and
    ``cli/main.py``'s root group), scrubbed: an error may quote what was typed (a key pasted where a
    profile's name goes: ``unknown profile 'sk-…'``; ``secrets get sk-…``)."""
    from mahavishnu.redaction.scrub import scrub

    hint = f"hint: {_shown(scrub(exc.hint))}\n" if exc.hint else ""
    return f"error: {_shown(scrub(exc.message))}\n" + hint


#: The most of an error's message or hint printed: a value it quotes may be a 100 kB paste.
ERROR_CHARS = 2_000


def _shown(text: str) -> str:
    """``text`` as it prints: what it quotes (a name typed or read from a file, a provider's answer)
    may hold escape sequences, which a terminal would obey (retitle the window, clear the screen),
    and may be so long that it buries the error (its middle left out)."""
    from mahavishnu.clean_text import ESCAPE_SEQUENCES, clipped, printable

    return clipped(printable(ESCAPE_SEQUENCES.sub("", text)), ERROR_CHARS, " … ")


def _silence_broken_pipe() -> None:
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail again
