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
from typing import TYPE_CHECKING

from mahavishnu.environments.secrets import profile_chain, resolve_chain
from mahavishnu.errors import InvalidConfigFileError

if TYPE_CHECKING:
    from mahavishnu.config import Settings
    from mahavishnu.environments.profiles import Profile

#: The comment line above every assignment Mahavishnu wrote.
MARKER = "# mahavishnu:"
_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)\s*=(?P<value>.*)$")
_PLAIN_VALUE = re.compile(r"^[A-Za-z0-9_./:@%+~,-]*$")


def parse(text: str | None) -> dict[str, str]:
    """The assignments in ``text`` (last one wins), values unquoted the way dotenv readers do."""
    found: dict[str, str] = {}
    for line in (text or "").splitlines():
        match = _ASSIGNMENT.match(line)
        if match:
            found[match["key"]] = _unquote(match["value"].strip())
    return found


def marked_keys(text: str | None) -> list[str]:
    """The keys of the assignments Mahavishnu wrote (those right below a marker line)."""
    lines = (text or "").splitlines()
    keys = []
    for before, line in itertools.pairwise(lines):
        match = _ASSIGNMENT.match(line)
        if before.startswith(MARKER) and match:
            keys.append(match["key"])
    return keys


def update(text: str | None, values: dict[str, str], *, owned: Iterable[str] = (), note: str = "") -> str:
    """``text`` with every marked line and every assignment of ``values``' or ``owned``'s keys removed,
    then ``values`` appended below a marker line (``note`` says which profile wrote them)."""
    drop = set(values) | set(owned)
    lines = (text or "").splitlines(keepends=True)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    kept: list[str] = []
    skip_next = False
    for line in lines:
        stripped = line.rstrip("\r\n")
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
        kept.append(line)
    if values and kept and not kept[-1].endswith("\n"):
        kept[-1] += newline
    for key, value in values.items():
        kept.append(f"{MARKER} {note}{newline}".replace(f" {newline}", newline))
        kept.append(f"{key}={quote(value)}{newline}")
    return "".join(kept)


def validate(text: str) -> None:
    """Refuse to write a line that no dotenv reader would take for a comment, blank or assignment.
    The error names the line, never its text: a .env holds keys, and a line that is not an
    assignment is often one written wrong (``KEY: sk-…``, the key alone)."""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and not _ASSIGNMENT.match(line):
            raise InvalidConfigFileError(
                f"refusing to write an invalid .env line {number}: it is not KEY=value, a comment "
                "or blank (its text is not shown: it may hold a key)"
            )


def quote(value: str) -> str:
    if _PLAIN_VALUE.match(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        inner = value[1:-1]
        return (
            inner.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\") if value[0] == '"' else inner
        )
    return value.split(" #", 1)[0].strip()


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
