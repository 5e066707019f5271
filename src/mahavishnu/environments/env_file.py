"""Edit ``.env`` files (``KEY=value`` lines) that assistants read, touching only the keys we own.

Codex (``~/.codex/.env``), Qwen Code (``~/.qwen/.env``) and Gemini CLI (``~/.gemini/.env``) read
dotenv files. Every line Mahavishnu writes follows a marker comment, so the next switch finds and
removes it; the user's own lines, comments and blank lines stay byte for byte. A key we are told
to own is removed wherever it appears, marked or not: two assignments of one key would leave the
choice to the reader's dotenv flavour.

Two readers, which quote differently (``READERS``; their rules are modelled in ``dotenv_readers``,
from their source, and checked against the real CLIs):

* ``"dotenv"``, the npm package Gemini CLI 0.61 and Qwen Code 0.24 bundle (its ``parse``): a value in
  single quotes or backticks is taken as it is; in double quotes only ``\\n`` and ``\\r`` become
  line breaks (``\\"`` and ``\\\\`` stay as written); a bare value ends at ``#``; ``$`` is plain text.
* ``"dotenvy"``, the Rust crate (0.15.7) Codex 0.169 reads ``.env`` with: like a shell line, a value
  in single quotes is taken as it is; in double quotes and bare, a backslash escapes ``\\ ' " $``
  and space (``\\n`` is a line break, any other escape drops the line) and ``$NAME`` is replaced by
  that variable's value.

A value is written the first way (``written_as``) that both its reader and ``parse`` read back as
it is: bare when it is plain, else in single quotes (as it is: no escapes, no ``$``), else in double
quotes with that reader's escapes, else (dotenv) in backticks or bare. Only a value no way carries
is refused: for dotenvy one with a NUL; for dotenv also a few that mix kinds of quote with a ``#`` or
a line break, or end with a backslash and cannot go bare.

Our lines go last, below the user's, so the user's can still change how they are read: a quote one of
them opens that the reader takes for still open at their end (dotenvy: ``NOTE=it's``) reads our lines
on as part of its value. ``check_read_back`` reads the text a switch would write as the reader and the
next switch will, and refuses it, naming that line, unless every key comes back as written.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mahavishnu.environments.dotenv_readers import JS_SPACE, READERS, Reader, entry_lines, read_as
from mahavishnu.environments.secrets import profile_chain, resolve_chain
from mahavishnu.errors import InvalidConfigFileError, InvalidInputError
from mahavishnu.files.safe_write import read_text
from mahavishnu.masking import mask

if TYPE_CHECKING:
    from mahavishnu.config import Settings
    from mahavishnu.environments.profiles import Profile

#: The comment line above every assignment Mahavishnu wrote.
MARKER = "# mahavishnu:"
_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)\s*=(?P<value>.*)$", re.DOTALL)
_PLAIN_VALUE = re.compile(r"^[A-Za-z0-9_./:@%+~,-]*$")
#: A line with its end, as ``_entries`` splits a text: at ``\r\n``, ``\r`` or ``\n`` only (``str.splitlines``
#: also ends one at a form feed, ``\x1c``, U+0085, U+2028…, where neither reader ends a value).
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
#: The escapes ``parse`` takes within double quotes: dotenvy's and the npm package's line breaks, so it
#: reads back what either way of writing gave (and what Mahavishnu wrote before: ``\\ \" \n``).
_ESCAPES = {"n": "\n", "r": "\r", "\\": "\\", '"': '"', "$": "$"}


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


def update(
    text: str | None,
    values: dict[str, str],
    *,
    owned: Iterable[str] = (),
    note: str = "",
    reader: Reader = "dotenv",
) -> str:
    """``text`` with every marked line and every assignment of ``values``' or ``owned``'s keys removed,
    then ``values`` appended below a marker line (``note`` says which profile wrote them), each
    written so that ``reader`` reads it back as it is (``quote``). A file whose last line has no line
    break keeps it so (our lines last, the last without one), so taking our lines out again gives its
    bytes back."""
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
        kept.append(f"{key}={quote(value, reader)}{newline}")
    out = "".join(kept)
    if text and not text.endswith(("\n", "\r")):
        return out.removesuffix("\n").removesuffix("\r")
    return out


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


def check_read_back(text: str, values: Mapping[str, str], reader: Reader, path: Path | None = None) -> None:
    """Refuse ``text``, ``update``'s with ``values`` written last, unless ``reader`` reads each of them
    back as written and the next switch finds it again (``parse``, ``marked_keys``): a line of the
    user's above ours whose quote one of them takes for still open reads on into our lines (Codex:
    ``NOTE=it's``). The error names that line, never its text; the user's lines are theirs to fix."""
    lost = _lost(text, values, reader)
    if lost is None:
        return
    key, by = lost
    where = f"{path}" if path else "a .env file"
    who = READERS[by] if by else "Mahavishnu"
    opener = _opener(text, values, reader, by)
    if opener is None:  # (no line of the user's: dotenvy and a value of several lines in a CRLF file)
        raise InvalidConfigFileError(
            f"refusing to write {where}: {who} would not read {key}, written at its end, back as written "
            "(its text is not shown: it may hold a key)",
            hint="Set the key in the environment of the assistant instead; nothing was written.",
        )
    lost_how = f"it would not read {key} as written" if by else "the next switch would not find that line"
    raise InvalidConfigFileError(
        f"refusing to write {where}: {who} takes the quote opened on its line {opener} for still open "
        f"at the {key} line written below it, so {lost_how}; close that quote on line {opener} or "
        "remove the line (its text is not shown: it may hold a key)",
        hint=f"{_OPENING_QUOTES[by]}; nothing was written.",
    )


#: What opens a quote that runs on, as each reader (None: ``_entries``) reads a line.
_OPENING_QUOTES: dict[Reader | None, str] = {
    "dotenvy": "For Codex an apostrophe in a value without quotes (NOTE=it's) opens a quote, and a quote "
    "after a backslash closes none",
    "dotenv": "A quote after a backslash closes none",
    None: "A quote after a backslash closes none within double quotes",
}


def _lost(text: str, values: Mapping[str, str], reader: Reader) -> tuple[str, Reader | None] | None:
    """The first key of ``values`` that ``reader`` (or, None, the next switch) would not read back
    from ``text`` as written, and which."""
    theirs, ours, marked = read_as(reader, text), parse(text), set(marked_keys(text))
    for key, value in values.items():
        if theirs.get(key) != value:
            return key, reader
        if ours.get(key) != value or key not in marked:
            return key, None
    return None


def _opener(text: str, values: Mapping[str, str], reader: Reader, by: Reader | None) -> int | None:
    """The line (from 1) of the entry that runs on from above into the block ``update`` wrote last,
    as ``by`` (None: ``_entries``) reads ``text``; None when none does."""
    first = len(_LINE.findall(text)) - _block_lines(values, reader)
    spans = entry_lines(by, text) if by else _entry_lines(text)
    return next((span.start + 1 for span in spans if span.start < first < span.stop), None)


def _block_lines(values: Mapping[str, str], reader: Reader) -> int:
    """How many lines ``update`` writes last for ``values``: a marker line, then ``KEY=value``, each."""
    return sum(1 + len(_LINE.findall(f"{key}={quote(value, reader)}")) for key, value in values.items())


def quote(value: str, reader: Reader = "dotenv") -> str:
    """``value`` as written after ``KEY=`` (``written_as``); InvalidInputError when no way of writing
    it lets ``reader`` read it back as it is (the assistants refuse such a key before they get here).
    The value itself is never in the error."""
    written = written_as(value, reader)
    if written is None:
        raise InvalidInputError(
            f"a value cannot be written into a .env file so that {READERS[reader]} reads it back as it is "
            "(its text is not shown: it may be a key)",
            hint="Set it in the environment of the assistant instead; nothing was written.",
        )
    return written


def written_as(value: str, reader: Reader) -> str | None:
    """How ``value`` is written after ``KEY=`` so that ``reader`` and ``parse`` both read it back as it
    is: the first of ``_ways`` that does. None when none does: a NUL (no environment variable holds
    one); for dotenv also a value that ends with a backslash and cannot go bare, or that mixes kinds
    of quote with a ``#`` or a line break."""
    if "\0" in value:
        return None
    return next((way for way in _ways(value, reader) if _reads_back(way, value, reader)), None)


def _ways(value: str, reader: Reader) -> Iterator[str]:
    """The ways of writing ``value`` ``written_as`` tries, in its order: bare when plain; for dotenvy,
    in single quotes, then in double quotes with its escapes; for dotenv, enclosed in each kind of
    quote the value does not hold (single, double with ``\\r``/``\\n`` for line breaks, backticks),
    bare, then enclosed in a kind it does hold (the npm reader takes the whole text then, as long as
    it ends the line, and takes the outer quotes off)."""
    if _PLAIN_VALUE.match(value):
        yield value
    if reader == "dotenvy":
        yield f"'{value}'"
        for char, escaped in (("\\", "\\\\"), ('"', '\\"'), ("$", "\\$"), ("\n", "\\n")):
            value = value.replace(char, escaped)
        yield f'"{value}"'  # (a carriage return as it is: dotenvy has no escape for it)
        return
    enclosed = (f"'{value}'", '"' + value.replace("\r", "\\r").replace("\n", "\\n") + '"', f"`{value}`")
    yield from (way for way in enclosed if way[0] not in value)
    yield value
    yield from (way for way in enclosed if way[0] in value)


def _reads_back(written: str, value: str, reader: Reader) -> bool:
    """Whether ``reader`` and ``parse`` both read ``value`` from ``KEY=written``, in a file with either
    line end and a line after it (which the value must leave alone)."""
    if reader == "dotenv" and written[:1] in "'\"`" and written[-2:-1] == "\\":
        # within quotes the npm reader's pattern takes a backslash and a quote for an escaped quote:
        # it would read such a value on to the next quote that ends a line below, when one does
        return False
    if reader == "dotenv" and written == value and written[:1] and written[0] in JS_SPACE + "'\"`":
        return False  # (bare: its pattern would try the value as a quoted one first, over many lines)
    for newline in ("\n", "\r\n"):
        text = f"K={written}{newline}Z=1{newline}"
        expected = {"K": value, "Z": "1"}
        if read_as(reader, text) != expected or parse(text) != expected or not _valid(text):
            return False
    return True


def _valid(text: str) -> bool:
    try:
        validate(text)
    except InvalidConfigFileError:
        return False
    return True


def _entries(text: str) -> list[list[str]]:
    """``text``'s lines (with their ends), grouped by entry: an assignment whose quoted value spans
    lines (``KEY="-----BEGIN…`` up to the line that closes the quote) is one entry of several lines;
    every other line is an entry of its own. An unclosed quote runs to the end of the text."""
    entries: list[list[str]] = []
    quote: str | None = None
    for line in _LINE.findall(text):
        if quote is not None:
            entries[-1].append(line)
            if _closing(line.rstrip("\r\n"), quote) >= 0:
                quote = None
            continue
        entries.append([line])
        quote = _opens(line.rstrip("\r\n"))
    return entries


def _entry_lines(text: str) -> list[range]:
    """The lines (counted from 0) of each of ``_entries``, as ``dotenv_readers.entry_lines``."""
    spans: list[range] = []
    for entry in _entries(text):
        at = spans[-1].stop if spans else 0
        spans.append(range(at, at + len(entry)))
    return spans


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
    """An entry's lines as one text, without the last line's end; a value's own lines end in ``\\n``
    (``\\r\\n`` in a file with those), a carriage return alone stays as it is."""
    joined = "".join(entry).replace("\r\n", "\n")
    return joined.removesuffix("\n") if joined.endswith("\n") else joined.removesuffix("\r")


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'`":
        inner = value[1:-1]
        return _unescape(inner) if value[0] == '"' else inner
    return value.split(" #", 1)[0].strip()


def _unescape(inner: str) -> str:
    """A double-quoted value's text with its escapes (``_ESCAPES``) replaced, left to right; any other
    backslash stays as it is."""
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[0]), inner, flags=re.DOTALL)


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
