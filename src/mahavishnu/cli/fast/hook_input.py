"""What the memory loop's hooks read: the assistant (``--tool``), the hook's JSON on stdin, and
never blocking the assistant."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

# -- the memory loop's hooks: recall (memory context) and capture (memory import --tool T -) -------

#: Set by a capture hook for the detached process it hands the import to (see ``capture.memory_import_hook``).
CAPTURE_ENV = "MAHAVISHNU_CAPTURE"
#: A detached capture still running after this long (stuck in a read on a hung mount, say) is
#: ended by SIGALRM; a capture reads for at most ``capture.CAPTURE_SECONDS`` when it can.
DETACHED_CAPTURE_SECONDS = 900
#: ``memory.session_logs.TOOLS`` (a test keeps them equal), spelled here so that a hook need not
#: import that module (dataclasses, datetime and the log readers) to check its own name.
HOOK_TOOLS = ("claude", "codex", "qwen", "gemini", "pi", "opencode")


def hook_tool(args: list[str], tail: tuple[str, ...] = ()) -> str | None:
    """The assistant of a hook command line spelled as the hooks install it (``--tool T`` or
    ``--tool=T``, then ``tail``); None for anything else (Typer then parses it)."""
    if len(args) >= 2 and args[0] == "--tool" and tuple(args[2:]) == tail:
        tool = args[1]
    elif args and args[0].startswith("--tool=") and tuple(args[1:]) == tail:
        tool = args[0].removeprefix("--tool=")
    else:
        return None
    return tool if tool and not tool.startswith("-") else None


@contextlib.contextmanager
def never_blocking() -> Iterator[None]:
    """A hook command's errors exit 1, never 2: all four assistants read exit code 2 as "block"
    (Claude Code drops the prompt on UserPromptSubmit and keeps the agent going on Stop; Gemini
    CLI blocks the turn on BeforeAgent), and a memory hook that fails must only be reported.
    Whatever the hook's input: what the environment raises (``from_unexpected``: input nested too
    deeply, a damaged store ...) is said in its one line, and so is a bug (its type and first
    line, no traceback: an assistant shows a hook's stderr), each exiting 1."""
    from mahavishnu.errors import MahavishnuError, from_unexpected

    try:
        yield
    except MahavishnuError as error:
        error.exit_code = min(error.exit_code, 1)  # (0: acknowledged, e.g. queued in the outbox)
        raise
    except Exception as exc:
        if type(exc).__module__.split(".")[0] == "click":  # typer.Exit, click.Abort: Click's own
            raise
        said = from_unexpected(exc) or MahavishnuError(
            f"the memory hook failed unexpectedly: {_first_line(exc)}",
            hint="This is a bug in Mahavishnu; the assistant goes on without the memory hook.",
        )
        said.exit_code = 1
        raise said from exc


def _first_line(exc: BaseException) -> str:
    """``Type: the first line of its text``, cut to 200 characters."""
    text = str(exc).strip().splitlines()
    said = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    return said if len(said) <= 200 else said[:199] + "…"


def hook_stdin(hint: str) -> str:
    """Standard input, which holds the hook's JSON; a clear error instead of waiting for input when
    it is a terminal (someone trying the command by hand). A closed or unreadable standard input
    reads as an empty one (``read_hook_payload`` then says that it holds no JSON)."""
    from mahavishnu.errors import InvalidInputError

    if _interactive():
        raise InvalidInputError(
            "this command reads an assistant hook's JSON on standard input, and none was piped in",
            hint=hint,
        )
    return read_stdin()


#: The most of standard input a hook reads: far more than any assistant's hook JSON (a prompt
#: with the files an `@` mention folds in); an endless input (``< /dev/zero``) took all the
#: memory there was until the assistant's timeout ended the hook.
HOOK_JSON_BYTES = 64 * 1024 * 1024


def read_stdin() -> str:
    """All of standard input as text; bytes that are not UTF-8 read as U+FFFD (the rest of a
    hook's JSON still counts), a closed or unreadable standard input as nothing. More than
    ``HOOK_JSON_BYTES`` is refused, not read on."""
    stdin = sys.stdin
    if stdin is None:  # started with file descriptor 0 closed
        return ""
    try:
        raw = getattr(stdin, "buffer", None)
        if raw is None:  # a text stream only (a test's): characters for bytes
            data: str | bytes = str(stdin.read(HOOK_JSON_BYTES + 1))
        else:
            data = bytes(raw.read(HOOK_JSON_BYTES + 1))
    except (OSError, ValueError):  # a descriptor that cannot be read (or was closed meanwhile)
        return ""
    if len(data) > HOOK_JSON_BYTES:
        from mahavishnu.errors import InvalidInputError

        raise InvalidInputError(
            f"standard input holds over {HOOK_JSON_BYTES >> 20} MB, more than any assistant's hook JSON",
            hint="This command is run by an assistant's hook; see `mahavishnu memory hooks install`.",
        )
    return data if isinstance(data, str) else data.decode("utf-8", "replace").removeprefix("\ufeff")


def _interactive() -> bool:
    """Whether standard input is a terminal (the command run by hand, not by a hook)."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (OSError, ValueError):
        return False


#: The fields of a hook's JSON that the hooks read (recall: event, session, project, prompt;
#: capture: the session file): each a string, or absent.
HOOK_FIELDS = (
    "hook_event_name",
    "session_id",
    "cwd",
    "source",
    "prompt",
    "submitted_prompt",
    "transcript_path",
)


def read_hook_payload(text: str) -> dict[str, str]:
    """The JSON object an assistant's hook gives on standard input, as the hooks read it: only
    ``HOOK_FIELDS``, each a string (a field of another type counts as absent), with a lone
    surrogate (half of an emoji Node's ``JSON.stringify`` cut) as U+FFFD. Small and flat, so the
    daemon and the recall take it as it is whatever the hook sent."""
    import json

    from mahavishnu.clean_text import clean_text, clipped
    from mahavishnu.errors import InvalidInputError
    from mahavishnu.paths import MAX_PATH_CHARS

    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):  # (RecursionError: nested too deeply to be a hook's)
        payload = None
    if not isinstance(payload, dict):
        raise InvalidInputError(
            "standard input holds no hook JSON object",
            hint="This command is run by an assistant's hook; see `mahavishnu memory hooks install`.",
        )
    fields = {name: value for name in HOOK_FIELDS if isinstance(value := payload.get(name), str)}
    for name in PATH_FIELDS & fields.keys():  # longer than any path: no folder, no file
        if len(fields[name]) > MAX_PATH_CHARS:
            del fields[name]
    for name in PROMPT_FIELDS & fields.keys():  # a prompt of any size: what recall reads of it
        fields[name] = clipped(fields[name], HOOK_PROMPT_CHARS)
    return {name: clean_text(value) for name, value in fields.items()}


#: The fields holding a path (the session's folder, its session file): one longer than
#: ``paths.MAX_PATH_CHARS`` counts as absent (read as a path, a 4 MB one cost the recall hook
#: minutes and was kept in ``projects.json``).
PATH_FIELDS = frozenset({"cwd", "transcript_path"})
#: The fields holding a prompt: only their head and tail are read (``clean_text.clipped``), so a
#: 10 MB paste costs the hook what a short prompt does, and reaches the daemon under its size cap.
PROMPT_FIELDS = frozenset({"prompt", "submitted_prompt"})
#: Generous beside the ``QUERY_CHARS`` recall reads: the context blocks Gemini CLI folds into a
#: prompt must arrive whole for recall to remove them before it takes the prompt's ends.
HOOK_PROMPT_CHARS = 64_000
