"""Edit ``.env`` files (``KEY=value`` lines) that assistants read, touching only the keys we own.

Codex (``~/.codex/.env``), Qwen Code (``~/.qwen/.env``) and Gemini CLI (``~/.gemini/.env``) read
dotenv files. Every line Mahavishnu writes follows a marker comment, so the next switch finds and
removes it; the user's own lines, comments and blank lines stay byte for byte. A key we are told
to own is removed wherever it appears, marked or not: two assignments of one key would leave the
choice to the reader's dotenv flavour.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mahavishnu.environments.secrets import profile_chain, resolve_chain
from mahavishnu.errors import InvalidConfigFileError
from mahavishnu.files.safe_write import read_text
from mahavishnu.masking import mask

if TYPE_CHECKING:
    from mahavishnu.config import Settings
    from mahavishnu.environments.profiles import Profile

#: The comment line above every assignment Mahavishnu wrote.
MARKER = "# mahavishnu:"
_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)\s*=(?P<value>.*)$", re.DOTALL)
_PLAIN_VALUE = re.compile(r"^[A-Za-z0-9_./:@%+~,-]*$")


def parse(text: str | None) -> dict[str, str]:
    """The assignments in ``text`` (last one wins), values unquoted the way dotenv readers do."""
    found: dict[str, str] = {}
    for entry in _entries(text or ""):
        match = _ASSIGNMENT.match(_joined(entry))
        if match:
            found[match["key"]] = _unquote(match["value"].strip())
    return found


def marked_keys(text: str | None) -> list[str]:
    """The keys of the assignments Mahavishnu wrote (those right below a marker line)."""
    keys = []
    for before, entry in itertools.pairwise(_entries(text or "")):
        match = _ASSIGNMENT.match(entry[0].rstrip("\r\n"))
        if before[0].startswith(MARKER) and match:
            keys.append(match["key"])
    return keys


def update(text: str | None, values: dict[str, str], *, owned: Iterable[str] = (), note: str = "") -> str:
    """``text`` with every marked line and every assignment of ``values``' or ``owned``'s keys removed,
    then ``values`` appended below a marker line (``note`` says which profile wrote them)."""
    drop = set(values) | set(owned)
    entries = _entries(text or "")
    newline = "\r\n" if entries and entries[0][0].endswith("\r\n") else "\n"
    kept: list[str] = []
    skip_next = False
    for entry in entries:
        stripped = entry[0].rstrip("\r\n")
        if stripped.startswith(MARKER):
            skip_next = True
            continue
        match = _ASSIGNMENT.match(stripped)
        if skip_next and match:
            skip_next = False
            continue
        skip_next = False
        if match and match["key"] in drop:
            continue
        kept.extend(entry)
    if values and kept and not kept[-1].endswith("\n"):
        kept[-1] += newline
    for key, value in values.items():
        kept.append(f"{MARKER} {note}{newline}".replace(f" {newline}", newline))
        kept.append(f"{key}={quote(value)}{newline}")
    return "".join(kept)


def validate(text: str, path: Path | None = None) -> None:
    """Refuse to write a line that no dotenv reader would take for a comment, blank or assignment
    (a quoted value may span lines, as dotenv readers allow, but must close). The error names the
    file and line, never its text: a .env holds keys, and a line that is not an assignment is often
    one written wrong (``KEY: sk-…``, the key alone)."""
    where = f"{path}" if path else "a .env file"
    number = 1
    for entry in _entries(text):
        first = entry[0].rstrip("\r\n")
        stripped = first.strip()
        if stripped and not stripped.startswith("#") and not _ASSIGNMENT.match(first):
            raise InvalidConfigFileError(
                f"refusing to write {where}: its line {number} is not KEY=value, a comment or blank "
                "(its text is not shown: it may hold a key)",
                hint="Correct or remove that line of the file yourself; nothing was written.",
            )
        if not _closed(entry):
            raise InvalidConfigFileError(
                f"refusing to write {where}: the quoted value of its line {number} never closes (its "
                "text is not shown: it may hold a key)",
                hint="Add the closing quote to that value in the file yourself; nothing was written.",
            )
        number += len(entry)


def quote(value: str) -> str:
    if _PLAIN_VALUE.match(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _entries(text: str) -> list[list[str]]:
    """``text``'s lines (with their ends), grouped by entry: an assignment whose quoted value spans
    lines (``KEY="-----BEGIN…`` up to the line that closes the quote) is one entry of several lines;
    every other line is an entry of its own. An unclosed quote runs to the end of the text."""
    entries: list[list[str]] = []
    quote: str | None = None
    for line in text.splitlines(keepends=True):
        if quote is not None:
            entries[-1].append(line)
            if _closing(line.rstrip("\r\n"), quote) >= 0:
                quote = None
            continue
        entries.append([line])
        quote = _opens(line.rstrip("\r\n"))
    return entries


def _opens(line: str) -> str | None:
    """The quote an assignment's value opens and leaves open at the end of ``line``, if any."""
    match = _ASSIGNMENT.match(line)
    value = match["value"].lstrip() if match else ""
    if not value or value[0] not in "\"'`":
        return None
    return value[0] if _closing(value[1:], value[0]) < 0 else None


def _closing(text: str, quote: str) -> int:
    """Where ``quote`` closes in ``text`` (a backslash escapes it within double quotes), or -1."""
    escaped = False
    for at, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\" and quote == '"':
            escaped = True
        elif char == quote:
            return at
    return -1


def _closed(entry: list[str]) -> bool:
    """Whether the quote an entry's first line leaves open (if any) closes on a later line."""
    quote = _opens(entry[0].rstrip("\r\n"))
    return quote is None or (len(entry) > 1 and _closing(entry[-1].rstrip("\r\n"), quote) >= 0)


def _joined(entry: list[str]) -> str:
    return "\n".join(line.rstrip("\r\n") for line in entry)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'`":
        inner = value[1:-1]
        return (
            inner.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\") if value[0] == '"' else inner
        )
    return value.split(" #", 1)[0].strip()


def key_source(var: str, path: Path) -> str:
    """How ``ai current`` shows a key read from variable ``var``: its mask and ``path`` when that
    .env file sets it (as ``secrets delete`` finds a copy left in the clear), else the variable."""
    value = parse(read_text(path)).get(var)
    return f"{var} {mask(value)} in {path}" if value else var


# -- where a profile's key comes from ----------------------------------------------------------


@dataclass(frozen=True)
class ProfileKey:
    """A profile's key as resolved now: the value (never printed) and, when it came from an
    environment variable, that variable's name (so a config file can name it instead)."""

    value: str
    env_var: str | None


def profile_key(profile: Profile, settings: Settings) -> ProfileKey | None:
    """The first reference of the profile's chain that resolves; None when it needs no key."""
    if not profile.needs_secret:
        return None
    chain = profile_chain(profile)
    for ref in chain:
        if (value := ref.read()) is not None:
            return ProfileKey(value, ref.name if ref.kind == "env" else None)
    resolve_chain(chain, f"profile '{profile.name}'")  # raises SecretNotFoundError naming the chain
    raise AssertionError("unreachable")


def default_env_var(profile: Profile) -> str:
    """The variable a key written into a .env file goes under: the profile's own ``env:`` reference,
    else ``MAHAVISHNU_<PROFILE>_API_KEY``."""
    for ref in profile.settings.secret:
        if ref.startswith("env:"):
            return ref.removeprefix("env:")
    return "MAHAVISHNU_" + re.sub(r"[^A-Z0-9]", "_", profile.name.upper()) + "_API_KEY"
