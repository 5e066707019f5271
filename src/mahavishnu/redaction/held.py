"""The secret values this machine holds, which text could quote verbatim whatever their shape, and
the 0600 secrets file they are read from (``environments.secrets`` stores keys in it)."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from mahavishnu import paths
from mahavishnu.errors import SecretStoreError
from mahavishnu.redaction.shapes import is_secret, is_secret_name

# -- values held here: text quoting one verbatim is redacted, whatever its shape -------------

_HELD_MIN_LENGTH = 8  # shorter values are words too: redacting them would eat ordinary text
_HELD_RECHECK_SECONDS = 1.0  # the scrubber runs per text: look again at most this often
_held: tuple[float, object, frozenset[str]] | None = None  # (checked at, sources' signature, values)
#: Values another process holds, for what is done on its behalf here (``also_held``).
_also: ContextVar[frozenset[str]] = ContextVar("also_held", default=frozenset())
_unions: dict[tuple[frozenset[str], frozenset[str]], frozenset[str]] = {}
#: The most values ``also_held`` takes from one request, and their longest.
HANDED_VALUES = 256
HANDED_CHARS = 4096


def held_values() -> frozenset[str]:
    """The secret values this machine holds and that text could quote verbatim: the secrets file's
    values (the MCP server's token among them when there is no keyring) and those of environment
    variables named as secrets (``GITHUB_TOKEN``, ``DASHSCOPE_API_KEY``, ``DB_PASSWORD``). The
    memory scrubber redacts them wherever they appear, a key of no known format included. Not the
    OS keyring's: reading it can ask to unlock it, and a hook must never wait on a prompt. Looked
    at again when the file or the environment changed, at most once a second (at once after
    ``store_secret``/``delete_secret`` here). Within ``also_held``, the values it was handed too."""
    global _held
    now = time.monotonic()
    if _held is not None and now - _held[0] < _HELD_RECHECK_SECONDS:
        return _with_handed(_held[2])
    signature = (_file_signature(paths.secrets_file()), frozenset(os.environ.items()))
    if _held is None or _held[1] != signature:
        _held = (now, signature, frozenset(_held_in_file()) | frozenset(_held_in_environment()))
    else:
        _held = (now, signature, _held[2])
    return _with_handed(_held[2])


def _with_handed(own: frozenset[str]) -> frozenset[str]:
    """``own`` and the values ``also_held`` hands in, as one set that stays the same object while
    both do (the scrubber remembers clean texts for as long as it gets the same set)."""
    handed = _also.get()
    if handed <= own:
        return own
    key = (own, handed)
    if key not in _unions:
        if len(_unions) >= 16:
            _unions.clear()
        _unions[key] = own | handed
    return _unions[key]


@contextmanager
def also_held(values: Iterable[object]) -> Iterator[None]:
    """Within it (in this thread), ``held_values`` holds ``values`` too: those of the process the
    memory daemon works for, whose environment may hold secrets the daemon's does not (a token
    exported in one terminal). Values that are not strings of a held value's length are ignored,
    and at most ``HANDED_VALUES`` taken."""
    taken = frozenset(
        v
        for v in list(values)[:HANDED_VALUES]
        if isinstance(v, str) and _HELD_MIN_LENGTH <= len(v) <= HANDED_CHARS
    )
    token = _also.set(taken)
    try:
        yield
    finally:
        _also.reset(token)


def forget_held_values() -> None:
    """Make the next ``held_values`` look again (a secret was stored or deleted, the home moved)."""
    global _held
    _held = None


def _file_signature(path: Path) -> tuple[int, int, int] | None:
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_ino, found.st_size, found.st_mtime_ns


def _held_in_file() -> Iterator[str]:
    try:
        data = _secrets_toml()
    except SecretStoreError:  # unreadable or damaged: the commands that use it say so
        return
    # Every text in it, a table's by hand too: an entry ``read_secrets_file`` refuses must not
    # leave the other keys unscrubbed.
    yield from (v for v in _texts(data) if len(v) >= _HELD_MIN_LENGTH)


def _texts(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict | list):
        for each in value.values() if isinstance(value, dict) else value:
            yield from _texts(each)


def held_in_environment() -> list[str]:
    """The values of this process's environment variables named as secrets (``held_values``): what
    a client of the memory daemon hands it with each request (``also_held``)."""
    return sorted(set(_held_in_environment()))


def _held_in_environment() -> Iterator[str]:
    for name, value in os.environ.items():
        text = value.strip()
        if len(text) < _HELD_MIN_LENGTH or any(c.isspace() for c in text) or text.startswith(("/", "~", ".")):
            continue  # a path or a sentence, not a credential
        if is_secret_name(name) and is_secret(name, text):
            yield text


def read_secrets_file() -> dict[str, str]:
    """The 0600 secrets file (``secrets set --store file``) as names to values; {} when there is none."""
    path = paths.secrets_file()
    found: dict[str, str] = {}
    for name, value in _secrets_toml().items():  # (a table or a number by hand: its repr was the key)
        if not isinstance(value, str):
            raise SecretStoreError(
                f"the value of '{name}' in {path} is not a quoted string ({_toml_kind(value)})",
                hint=f'Quote it, on one line: {name} = "KEY".',
            )
        found[name] = value
    return found


def _secrets_toml() -> dict[str, object]:
    """The secrets file's TOML as it is; {} when there is none."""
    path = paths.secrets_file()
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):  # (MAHAVISHNU_HOME a file: none can be there)
        return {}
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretStoreError(
            f"{path} is readable by other users (mode {stat.S_IMODE(mode):o})",
            hint=f"Run `chmod 600 {path}`.",
        )
    import tomllib

    repair = f"Fix {path}, or move it aside and store the keys again (`mahavishnu secrets set NAME`)."
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SecretStoreError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise SecretStoreError(f"{path} is not UTF-8 text", hint=repair) from exc
    except tomllib.TOMLDecodeError as exc:  # its message is a position, never the text
        raise SecretStoreError(f"invalid TOML in {path}: {exc}", hint=repair) from exc
    return data


def _toml_kind(value: object) -> str:
    kinds = {dict: "a table", list: "an array", bool: "a boolean", int: "a number", float: "a number"}
    return kinds.get(type(value), "a date or time")
