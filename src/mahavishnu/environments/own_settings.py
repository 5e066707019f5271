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
lines, or the merge is not a file the assistant can read, the stock switch removes the owned keys
as before and says where the kept file is.

Whether a file's owned keys are Mahavishnu's is recorded by each switch (a provider switch: ours; a
stock switch: the user's); for a file switched before this record existed, the switch log answers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mahavishnu import paths
from mahavishnu.environments import safe_write, switch_log
from mahavishnu.environments.safe_write import Transform, Validate
from mahavishnu.errors import MahavishnuError

if TYPE_CHECKING:
    from mahavishnu.environments.json_document import JsonDocument


def _record_file(path: Path) -> Path:
    key = safe_write.source_key(path)
    return paths.backups_dir() / "own" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


def _read(path: Path) -> dict[str, object]:
    try:
        data = json.loads(_record_file(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, *, ours: bool, kept: tuple[str, str] | None) -> None:
    own, base = kept or (None, None)
    record = {"path": safe_write.source_key(path), "ours": ours, "kept": own, "base": base}
    target = _record_file(path)
    paths.make_dir(target.parent)
    safe_write.write_private(target, json.dumps(record, indent=1) + "\n")  # may hold a key: mode 600


def kept_file(path: Path) -> Path:
    """Where the user's own copy of ``path`` is kept (a JSON record holding the file's text)."""
    return _record_file(path)


def kept(path: Path) -> tuple[str, str] | None:
    """The file as it was before a switch replaced the user's own settings, if it was kept, and
    what a switch and a stock switch made of it (what differs is what to put back)."""
    record = _read(path)
    own, base = record.get("kept"), record.get("base")
    return (own, base) if isinstance(own, str) and isinstance(base, str) else None


def ours(path: Path) -> bool:
    """Whether the owned keys in ``path`` are the ones a provider switch of Mahavishnu wrote."""
    record = _read(path)
    if isinstance(record.get("ours"), bool):
        return bool(record["ours"])
    key = safe_write.source_key(path)  # switched before records were kept: the newest switch says
    for switch in switch_log.records():  # newest first
        if any(safe_write.source_key(entry.path) == key for entry in switch.files):
            return not switch.profile.startswith("rollback of ")
    return False


def mark(path: Path, *, ours: bool) -> None:
    """After a switch: a provider switch leaves Mahavishnu's keys (the kept copy stays for the way
    back); a stock switch leaves the user's own (nothing kept any more)."""
    _write(path, ours=ours, kept=kept(path) if ours else None)


def keep(path: Path, own: str, base: str) -> None:
    _write(path, ours=False, kept=(own, base))


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
    if path.suffix == ".json":
        try:
            parsed = [_parse_json(text, path).data for text in (base, own)]
        except MahavishnuError:
            return base != own
        return bool(_changed(parsed[0], parsed[1]))
    import difflib

    matcher = difflib.SequenceMatcher(None, own.splitlines(), base.splitlines(), autojunk=False)
    return any(tag in ("delete", "replace") for tag, *_ in matcher.get_opcodes())


def _merge_lines(base: str, own: str, current: str) -> str | None:
    """Line by line (TOML, dotenv: files their readers do not reformat); None on a conflict."""
    import merge3

    lines = [text.splitlines(keepends=True) for text in (base, own, current)]
    merge = merge3.Merge3(lines[0], lines[1], lines[2])
    if any(region[0] == "conflict" for region in merge.merge_regions()):
        return None
    return "".join(merge.merge_lines())


def _merge_json(base: str, own: str, current: str, path: Path) -> str:
    """Key by key (assistants rewrite their JSON settings whole, so lines would not match): every
    value the user's file has where its stock form differs is set in the current file."""
    doc = _parse_json(current, path)
    for keys, value in _changed(_parse_json(base, path).data, _parse_json(own, path).data):
        doc.set(keys, value)
    return doc.dumps()


def _parse_json(text: str, path: Path) -> JsonDocument:
    """Strict JSON first (Claude Code's files: no JSON5 parser loaded), then JSON with comments."""
    from mahavishnu.environments.json_document import JsonDocument

    try:
        return JsonDocument.parse(text, source=str(path), comments=False)
    except MahavishnuError:
        return JsonDocument.parse(text, source=str(path))


def _changed(base: object, own: object, keys: tuple[str, ...] = ()) -> list[tuple[list[str], object]]:
    """The (keys, value) pairs where ``own`` has a value ``base`` lacks or holds otherwise."""
    if isinstance(base, dict) and isinstance(own, dict):
        return [pair for key, value in own.items() for pair in _changed(base.get(key), value, (*keys, key))]
    return [] if base == own else [(list(keys), own)]
