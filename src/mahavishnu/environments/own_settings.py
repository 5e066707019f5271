"""The user's own provider settings: kept when a switch replaces them, put back by a stock switch.

A switch to a provider profile replaces the keys a profile owns in an assistant's files (base URL,
model, key helper, ``GEMINI_API_KEY``…). When those keys held the user's own set-up rather than a
profile Mahavishnu wrote (a corporate gateway in Claude Code, their own LM Studio provider in Codex,
their own key in ``~/.gemini/.env``), the file as it was is kept here, apart from the backup ring
(which trims), and a stock switch (``switch-llm stock``, ``claude``…) puts those keys back instead of
leaving the assistant on its bare login.

Putting back is a three-way merge: what the kept file has beyond what a switch and then a stock
switch make of it (the user's own keys) is applied to the current file's stock form, so hooks,
permissions or comments edited since stay. JSON settings are merged key by key (the assistants
rewrite them whole), TOML and dotenv files line by line (``merge3``). If the two touch the same
lines (in JSON, the same keys: a model picked since the switch), or the merge is not a file the
assistant can read, the stock switch removes the owned keys as before and says where the kept file
is.

Whether a file's owned keys are Mahavishnu's is told by a fingerprint of their values: each provider
switch records the fingerprint of what it wrote, so a set-up edited in by hand after a switch is the
user's own, and one a rollback brings back is still Mahavishnu's. Records from before fingerprints
say ours or not per file; for a file switched before any record, the switch log answers.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mahavishnu import paths
from mahavishnu.errors import MahavishnuError
from mahavishnu.files import safe_write, switch_log
from mahavishnu.files.safe_write import Transform, Validate
from mahavishnu.json_types import JSONObject, JSONValue

if TYPE_CHECKING:
    from mahavishnu.files.json_document import JsonDocument

#: A JSON setting a stock switch takes out: its keys, and its value.
_Pair = tuple[list[str], JSONValue]


def _record_file(path: Path) -> Path:
    key = safe_write.source_key(path)
    return paths.backups_dir() / "own" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


@dataclass
class _Known:
    """What this switch knows of a file's record: its fields but the kept texts (``texts``: whether
    it holds them), and whether this switch wrote it (``ours``: then the file holds what ``_write``
    dumped, to the byte)."""

    fields: dict[str, object]
    texts: bool
    ours: bool


#: The records read or written during one switch (``one_switch``), by record file.
_known: ContextVar[dict[Path, _Known] | None] = ContextVar("own_settings_known", default=None)
#: What a record holds of the user's file: two copies of it (60 MB for a settings.json of 30 MB).
_TEXTS = ("kept", "base")


@contextlib.contextmanager
def one_switch() -> Iterator[None]:
    """Within this block, what a file's record says (but the kept texts) is read once, and the record
    is not written again as it is: a switch asks three or four times (whose settings, what is kept,
    ``mark`` before the write and after it), and once the user's own settings are kept each read
    decodes two copies of the file. For a block in which no other process writes the records: a
    switch holds the transaction lock (a dry run writes none)."""
    token = _known.set({})
    try:
        yield
    finally:
        _known.reset(token)


def _read(path: Path) -> dict[str, object]:
    """The whole record, kept texts included, read from its file."""
    target = _record_file(path)
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    record = data if isinstance(data, dict) else {}
    _remember(target, record, ours=False)
    return record


def _fields(path: Path) -> dict[str, object]:
    """The record without its kept texts when this switch knows it already, else read (whole)."""
    known = _known.get()
    hit = known.get(_record_file(path)) if known is not None else None
    return hit.fields if hit is not None else _read(path)


def _remember(target: Path, record: dict[str, object], *, ours: bool) -> None:
    known = _known.get()
    if known is not None:
        fields = {key: value for key, value in record.items() if key not in _TEXTS}
        known[target] = _Known(fields, texts=_kept(record) is not None, ours=ours)


def _kept_texts(path: Path, record: dict[str, object]) -> tuple[str, str] | None:
    """The kept texts of a record ``_fields`` gave: read again only when they were left out of it."""
    if any(key in record for key in _TEXTS):
        return _kept(record)
    known = _known.get()
    hit = known.get(_record_file(path)) if known is not None else None
    return None if hit is not None and not hit.texts else _kept(_read(path))


def _write(path: Path, *, ours: bool, kept: tuple[str, str] | None, written: list[str]) -> None:
    own, base = kept or (None, None)
    record: dict[str, object] = {
        "path": safe_write.source_key(path),
        "ours": ours,
        "kept": own,
        "base": base,
        "written": written,
    }
    target = _record_file(path)
    paths.make_dir(target.parent)
    safe_write.write_private(target, json.dumps(record, indent=1) + "\n")  # may hold a key: mode 600
    _remember(target, record, ours=True)


def _holds_already(path: Path, *, ours: bool, written: list[str]) -> bool:
    """Whether this switch wrote the record as ``mark`` would write it now (the same kept texts: a
    provider switch writes the record's own back, a stock switch none)."""
    known = _known.get()
    last = known.get(_record_file(path)) if known is not None else None
    if last is None or not last.ours or (not ours and last.texts):
        return False
    return last.fields == {"path": safe_write.source_key(path), "ours": ours, "written": written}


def _written(record: dict[str, object]) -> list[str] | None:
    written = record.get("written")
    return [str(d) for d in written] if isinstance(written, list) else None


def kept_file(path: Path) -> Path:
    """Where the user's own copy of ``path`` is kept (a JSON record holding the file's text)."""
    return _record_file(path)


def kept(path: Path) -> tuple[str, str] | None:
    """The file as it was before a switch replaced the user's own settings, if it was kept, and
    what a switch and a stock switch made of it (what differs is what to put back)."""
    return _kept(_read(path))


def _kept(record: dict[str, object]) -> tuple[str, str] | None:
    own, base = record.get("kept"), record.get("base")
    return (own, base) if isinstance(own, str) and isinstance(base, str) else None


def owned_digest(text: str, stock_text: str, path: Path) -> str:
    """A fingerprint of the provider settings ``text`` holds: what its stock form (``stock_text``)
    takes out of it. Values, not layout: the (keys, value) pairs are hashed sorted, objects with
    their keys sorted, so an assistant rewriting its JSON file in its own key order (Claude Code
    does) keeps the fingerprint. Fingerprints recorded by earlier versions (the pairs in the file's
    order) are still recognised, see ``ours``."""
    if path.suffix != ".json":
        part = "\n".join(_taken_lines(text, stock_text))
        return Fingerprint(_sha(part), lambda: iter((_sha(part),)))
    try:
        taken = _taken_settings(text, stock_text, path)
    except MahavishnuError:
        return Fingerprint(_sha(text), lambda: iter((_sha(text),)))
    canonical = sorted(json.dumps(pair, sort_keys=True, ensure_ascii=False) for pair in taken)
    return Fingerprint(_sha(_CANONICAL + json.dumps(canonical)), lambda: _file_order_digests(taken))


class Fingerprint(str):
    """``owned_digest``'s value (the hex digest recorded from now on), which also knows the ones
    an earlier version may have recorded for the same settings (``legacy``)."""

    legacy: Callable[[], Iterator[str]]

    def __new__(cls, digest: str, legacy: Callable[[], Iterator[str]]) -> Fingerprint:
        made = super().__new__(cls, digest)
        made.legacy = legacy
        return made


#: Set before the canonical form, so that no fingerprint of it equals one of the file-order form.
_CANONICAL = "mahavishnu fingerprint 2\n"
#: How many orders of the pairs are tried for a fingerprint of the file-order form (~2 ms).
_MAX_ORDERS = 2000


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _file_order_digests(taken: list[_Pair]) -> Iterator[str]:
    """The fingerprints earlier versions recorded for ``taken``: ``json.dumps`` of the pairs in the
    order the file held them. The file may have been rewritten in another order since (Claude Code
    moves top-level keys): every order of the pairs, grouped by top-level key, while there are at
    most ``_MAX_ORDERS`` of them; else the groups' orders alone, else the order the file has now."""
    groups = _by_top_key(taken)
    orders = math.factorial(len(groups))
    if orders > _MAX_ORDERS:
        yield _sha(json.dumps(taken))
        return
    inner = math.prod(math.factorial(len(group)) for group in groups.values())
    for order in itertools.permutations(groups.values()):
        if orders * inner > _MAX_ORDERS:
            yield _sha(json.dumps([pair for group in order for pair in group]))
        else:
            yield from _inner_orders(order)


def _by_top_key(taken: list[_Pair]) -> dict[str, list[_Pair]]:
    groups: dict[str, list[_Pair]] = {}
    for keys, value in taken:
        groups.setdefault(keys[0] if keys else "", []).append((keys, value))
    return groups


def _inner_orders(order: tuple[list[_Pair], ...]) -> Iterator[str]:
    """The fingerprint of every order of the pairs within each group, the groups in ``order``."""
    for pairs in itertools.product(*(itertools.permutations(group) for group in order)):
        yield _sha(json.dumps([pair for group in pairs for pair in group]))


def ours(path: Path, digest: str) -> bool:
    """Whether the provider settings in ``path`` (``owned_digest``) are ones a switch of Mahavishnu
    wrote there: a set-up edited in by hand since, or by another tool, is the user's own."""
    record = _fields(path)
    written = _written(record)
    if written is not None:
        if digest in written:
            return True
        legacy = getattr(digest, "legacy", None)  # recorded by a version before canonical fingerprints
        return legacy is not None and any(d in written for d in legacy())
    if isinstance(record.get("ours"), bool):  # recorded before the fingerprints were
        return bool(record["ours"])
    key = safe_write.source_key(path)  # switched before records were kept: the newest switch says
    for switch in switch_log.records():  # newest first
        if any(safe_write.source_key(entry.path) == key for entry in switch.files):
            return not switch.profile.startswith("rollback of ")
    return False


def mark(path: Path, *, ours: bool, digest: str) -> None:
    """After a switch: a provider switch leaves Mahavishnu's keys (their fingerprint is added to
    the ones it wrote; the kept copy stays for the way back); a stock switch leaves the user's own
    (nothing kept any more)."""
    record = _fields(path)
    written = [d for d in _written(record) or [] if d != digest]
    if ours:
        written = [*written, digest][-_FINGERPRINTS:]  # a rollback may bring back an older one
    if _holds_already(path, ours=ours, written=written):  # the mark after the write, as before it
        return
    _write(path, ours=ours, kept=_kept_texts(path, record) if ours else None, written=written)


def keep(path: Path, own: str, base: str) -> None:
    _write(path, ours=False, kept=(own, base), written=_written(_fields(path)) or [])


def holds_a_profile(own: str, base: str, path: Path) -> bool:
    """Whether the provider settings ``own`` holds beyond ``base`` name Mahavishnu (its key helper
    ``… mahavishnu secrets get NAME``, a ``mahavishnu-NAME`` provider): a profile's set-up edited by
    hand (a model changed), not one the user had before any switch."""
    try:
        taken = _taken_out(own, base, path)
    except MahavishnuError:
        return False
    return "mahavishnu" in json.dumps(taken, ensure_ascii=False).lower()


def forget(path: Path) -> None:
    """``path`` holds no provider settings of the user's own any more (taken out by hand after a
    rollback brought them back, or the file deleted): a copy kept earlier is no longer theirs to put
    back."""
    record = _fields(path)
    if _kept_texts(path, record) is not None:
        _write(path, ours=False, kept=None, written=_written(record) or [])


#: How many fingerprints of what switches wrote into one file are remembered.
_FINGERPRINTS = 50


@dataclass
class Restore:
    """A stock switch's edit of one file: its own settings back when they merge, else just stock."""

    path: Path
    stock: Transform
    validate: Validate
    own: str
    base: str  # ``own`` after a switch and a stock switch: what is not in it is to be put back
    merged: bool = False  # set by ``transform``: whether the user's settings went back

    def transform(self, text: str | None) -> str:
        bare = self.stock(text)
        result: str | None
        try:
            if self.path.suffix == ".json":
                result = _merge_json(self.base, self.own, bare, self.path)
            else:
                result = _merge_lines(self.base, self.own, bare)
            if result is None:
                return bare
            self.validate(result)
        except MahavishnuError:
            return bare
        self.merged = True
        return result


def loses(own: str, base: str, path: Path) -> bool:
    """Whether ``base`` (``own`` after a switch and a stock switch) lacks a setting ``own`` has."""
    try:
        return bool(_taken_out(own, base, path))
    except MahavishnuError:
        return base != own


def _taken_out(text: str, stock_text: str, path: Path) -> list[_Pair] | list[str]:
    """What ``stock_text`` lacks of ``text``: (keys, value) pairs of JSON settings (raises
    MahavishnuError when either does not parse), else lines."""
    if path.suffix == ".json":
        return _taken_settings(text, stock_text, path)
    return _taken_lines(text, stock_text)


def _taken_settings(text: str, stock_text: str, path: Path) -> list[_Pair]:
    return _changed(_json_data(stock_text, path), _json_data(text, path))


def _taken_lines(text: str, stock_text: str) -> list[str]:
    """The lines of ``text`` that ``stock_text`` lacks, in order: those of no block that difflib's
    ``SequenceMatcher(None, lines, stock_lines, autojunk=False)`` matches (its non-equal opcodes).
    Fingerprints recorded hash these lines, so which lines they are must not change: the blocks are
    difflib's, found as difflib finds them (``_matching_blocks``), only each longest match faster.
    difflib's own search takes ~3 s on a Codex config.toml of 4,000 ``[projects."..."]`` tables (each
    ``trust_level`` line and blank line matches 4,000 lines of the other text, and autojunk, which
    would skip them, changes which lines match)."""
    if text == stock_text:
        return []
    lines = text.splitlines()
    ids: dict[str, int] = {}  # each distinct line a number: the same equalities, compared as ints
    a = [ids.setdefault(line, len(ids) + 1) for line in lines]
    b = [ids.setdefault(line, len(ids) + 1) for line in stock_text.splitlines()]
    matched = bytearray(len(a))
    for i, k in _matching_blocks(a, b):
        matched[i : i + k] = b"\x01" * k
    return [line for line, hit in zip(lines, matched, strict=True) if not hit]


def _matching_blocks(a: list[int], b: list[int]) -> Iterator[tuple[int, int]]:
    """Where (start in ``a``, length) difflib's ``get_matching_blocks`` (no junk, autojunk off)
    matches ``a`` with ``b``: the longest match of the two, then the same again left and right of it
    (adjacent blocks left apart: which lines are matched is the same)."""
    windows = _Windows(a, b)
    queue = [(0, len(a), 0, len(b))]
    while queue:
        alo, ahi, blo, bhi = queue.pop()
        i, j, k = windows.longest_match(alo, ahi, blo, bhi)
        if k:
            yield i, k
            if alo < i and blo < j:
                queue.append((alo, i, blo, j))
            if i + k < ahi and j + k < bhi:
                queue.append((i + k, ahi, j + k, bhi))


class _Windows:
    """The longest matches of two lists of ints, as difflib's ``find_longest_match`` (no junk)
    returns them: the longest ``(i, j, k)`` with ``a[i:i+k] == b[j:j+k]`` in the ranges, of those
    the one with the smallest ``i``, then the smallest ``j``. Found by the lengths a match can have:
    the windows of one length are compared by a polynomial hash of their lines (each hit checked
    line by line, so a collision costs time, never a wrong match), and a match of length ``k`` holds
    one of every shorter length, so a binary search over ``k`` finds the longest in ~log2(n)
    passes of O(n) each, where difflib's search costs, for each line of ``a``, the lines of ``b``
    equal to it."""

    _MOD = (1 << 61) - 1
    _BASE = 1_000_003

    def __init__(self, a: list[int], b: list[int]) -> None:
        self.a, self.b = a, b
        self.ha, self.hb = self._prefixes(a), self._prefixes(b)
        powers = [1]
        for _ in range(max(len(a), len(b))):
            powers.append(powers[-1] * self._BASE % self._MOD)
        self.powers = powers

    def _prefixes(self, seq: list[int]) -> list[int]:
        """``out[t]``: the hash of ``seq[:t]``."""
        out = [0]
        for value in seq:
            out.append((out[-1] * self._BASE + value) % self._MOD)
        return out

    def longest_match(self, alo: int, ahi: int, blo: int, bhi: int) -> tuple[int, int, int]:
        a, b = self.a, self.b
        most = min(ahi - alo, bhi - blo)
        # A lower bound: the ranges' common start and common end are matches.
        least = 0
        while least < most and a[alo + least] == b[blo + least]:
            least += 1
        end = 0
        while end < most and a[ahi - 1 - end] == b[bhi - 1 - end]:
            end += 1
        least = max(least, end)
        best = None if least else self._first(1, alo, ahi, blo, bhi)
        if least == 0:
            if best is None:
                return alo, blo, 0
            least = 1
        found, missing = least, most + 1  # a match of ``found`` lines is known, none of ``missing``
        while missing - found > 1:
            size = (found + missing) // 2
            hit = self._first(size, alo, ahi, blo, bhi)
            if hit is None:
                missing = size
            else:
                found, best = size, hit
        if best is None or best[2] != found:
            best = self._first(found, alo, ahi, blo, bhi)
        assert best is not None  # a match of ``found`` lines is known to exist
        return best

    def _first(self, size: int, alo: int, ahi: int, blo: int, bhi: int) -> tuple[int, int, int] | None:
        """The match of ``size`` lines with the smallest start in ``a``, then in ``b``; None if none."""
        a, b, ha, hb, mod = self.a, self.b, self.ha, self.hb, self._MOD
        power = self.powers[size]
        starts = range(blo, bhi - size + 1)
        b_hashes = [(hb[j + size] - hb[j] * power) % mod for j in starts]
        first = dict(zip(reversed(b_hashes), reversed(starts), strict=True))  # the smallest j wins
        for i in range(alo, ahi - size + 1):
            h = (ha[i + size] - ha[i] * power) % mod
            j = first.get(h)
            if j is None:
                continue
            window = a[i : i + size]
            if b[j : j + size] == window:
                return i, j, size
            for j in starts:  # a collision: every window of b with that hash
                if b_hashes[j - blo] == h and b[j : j + size] == window:
                    return i, j, size
        return None


def _merge_lines(base: str, own: str, current: str) -> str | None:
    """Line by line (TOML, dotenv: files their readers do not reformat); None on a conflict. Where
    only line endings differ (an editor rewrote them since the switch, or ``base`` was kept by a
    version that mixed LF into a CRLF file), the lines are merged with LF endings: the write gives
    the file its own back (``safe_write.keep_line_endings``)."""
    merged = _merge3(base, own, current)
    if merged is None and "\r\n" in base + own + current:
        merged = _merge3(*(text.replace("\r\n", "\n") for text in (base, own, current)))
    if merged is None and (fewer := _without_dropped_blanks(base, current)) != base:
        merged = _merge_lines(fewer, own, current)
    return merged


def _without_dropped_blanks(base: str, current: str) -> str:
    """``base`` without the blank lines ``current`` has not kept (and nothing else of it changed
    there): a base kept by a version whose switch wrote a blank line of its own above the first
    table (tomlkit's, before ``codex._with_root_keys``) told the user's line over it from a change."""
    import difflib

    lines, now = base.splitlines(keepends=True), current.splitlines(keepends=True)
    plain = difflib.SequenceMatcher(
        None, [line.rstrip("\r\n") for line in lines], [line.rstrip("\r\n") for line in now]
    )
    drop = {
        index
        for tag, start, end, _, _ in plain.get_opcodes()
        if tag == "delete" and not "".join(lines[start:end]).strip()
        for index in range(start, end)
    }
    return "".join(line for index, line in enumerate(lines) if index not in drop)


def _merge3(base: str, own: str, current: str) -> str | None:
    import merge3

    lines = [text.splitlines(keepends=True) for text in (base, own, current)]
    merge = merge3.Merge3(lines[0], lines[1], lines[2])
    if any(region[0] == "conflict" for region in merge.merge_regions()):
        return None
    return "".join(merge.merge_lines())


def _merge_json(base: str, own: str, current: str, path: Path) -> str | None:
    """Key by key (assistants rewrite their JSON settings whole, so lines would not match): every
    value the user's file has where its stock form differs is set in the current file, an object
    member by member into an object the current file has (its comments and order stay). When the
    file is what the switch left (its stock form is ``base`` to the byte), the user's file comes
    back as it was: comments, key order and layout included. None on a conflict: a value set since
    the switch where the user's file had another (Pi's model picker writes ``defaultModel``)."""
    if current == base:
        return own
    doc = _parse_json(current, path)
    before = _parse_json(base, path).data
    mine = _parse_json(own, path)
    pairs = _changed(before, mine.data)
    if any(_set_since(doc.data, before, keys, value) for keys, value in pairs):
        return None
    for keys, value in pairs:
        _set_into(doc, keys, value, mine)
    return doc.dumps()


def _set_since(now: JSONValue, base: JSONValue, keys: list[str], value: JSONValue) -> bool:
    """Whether ``now`` holds at ``keys`` a value neither the stock form of the switched file
    (``base``) nor the user's file (``value``) has there: one chosen since, which putting the
    user's back would undo (an object is compared member by member, as ``_set_into`` sets it)."""
    found, held = _at(now, keys)
    if not found:
        return False
    if isinstance(value, dict) and value and isinstance(held, dict):
        return any(_set_since(now, base, [*keys, key], inner) for key, inner in value.items())
    return held != value and _at(base, keys) != (True, held)


def _at(data: JSONValue, keys: list[str]) -> tuple[bool, JSONValue]:
    """(whether ``data`` has a value at ``keys``, that value)."""
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return False, None
        data = data[key]
    return True, data


def _set_into(doc: JsonDocument, keys: list[str], value: JSONValue, own: JsonDocument) -> None:
    """``value`` set at ``keys``; a key the file lacks goes back where the user's file (``own``) had
    it, as it was laid out there: after an assistant rewrote the file since (Qwen Code adds
    ``$version``), it came back last, spread over lines."""
    if isinstance(value, dict) and value and isinstance(doc.get(keys), dict):
        for key, inner in value.items():
            _set_into(doc, [*keys, key], inner, own)
    else:
        doc.set(keys, value, like=own)


def _json_data(text: str, path: Path) -> JSONObject:
    """What ``_parse_json(text, path).data`` is, without building the model that edits keep."""
    from mahavishnu.files.json_document import json_data

    try:
        return json_data(text, source=str(path), comments=False)
    except MahavishnuError:
        return json_data(text, source=str(path))


def _parse_json(text: str, path: Path) -> JsonDocument:
    """Strict JSON first (Claude Code's files: no JSON5 parser loaded), then JSON with comments."""
    from mahavishnu.files.json_document import JsonDocument

    try:
        return JsonDocument.parse(text, source=str(path), comments=False)
    except MahavishnuError:
        return JsonDocument.parse(text, source=str(path))


def _changed(base: JSONValue, own: JSONValue, keys: tuple[str, ...] = ()) -> list[_Pair]:
    """The (keys, value) pairs where ``own`` has a value ``base`` lacks or holds otherwise."""
    if isinstance(base, dict) and isinstance(own, dict):
        return [pair for key, value in own.items() for pair in _changed(base.get(key), value, (*keys, key))]
    return [] if base == own else [(list(keys), own)]
