"""Each assistant's file format (strict JSON, JSONC, TOML), edited one MCP-server entry at a time.

Every edit is a pure function of the text on disk, so it can run inside :func:`safe_write.apply` and
the rest of the file stays byte-identical.
"""

from __future__ import annotations

import json
import tomllib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

import tomlkit
from tomlkit.items import InlineTable, Table
from tomlkit.toml_document import TOMLDocument

from mahavishnu.environments.mcp_servers.locations import Location
from mahavishnu.environments.mcp_servers.shapes import NativeEntry, RawEntry
from mahavishnu.environments.mcp_servers.toml_sections import drop_sections, sections
from mahavishnu.errors import InvalidConfigFileError
from mahavishnu.files.json_document import JsonDocument
from mahavishnu.files.safe_write import keep_final_newlines

__all__ = ["CODECS", "Codec", "NewEntry"]


@dataclass(frozen=True)
class NewEntry:
    """An entry to set: its fields, the keys the model owns, and whether an entry already there is the
    same kind of server (then only the owned keys change; timeouts, trust, cwd ... stay)."""

    name: str
    fields: NativeEntry
    owned: frozenset[str]
    same_kind: Callable[[RawEntry], bool]


class Codec(ABC):
    @abstractmethod
    def servers(self, text: str | None, loc: Location) -> Mapping[str, object]:
        """The map of servers as plain data ({} when the file or the map is missing)."""

    @abstractmethod
    def put(self, text: str | None, loc: Location, entry: NewEntry) -> tuple[str, int | None]:
        """Set one entry: merged into a same-kind entry already there, else replacing it whole. Also
        returns the index of the first of ``loc.keys`` that had to be created (None: none)."""

    @abstractmethod
    def delete(self, text: str | None, loc: Location, name: str, created_from: int | None) -> str:
        """Remove one entry, and the containers the matching ``put`` created once they are empty."""

    @abstractmethod
    def validate(self, text: str) -> None:
        """Raise InvalidConfigFileError unless ``text`` is a file the assistant can read."""


@dataclass(frozen=True)
class _JsonCodec(Codec):
    comments: bool  # JSONC (Qwen, Gemini) or strict JSON (Claude Code)

    def _doc(self, text: str | None, loc: Location) -> JsonDocument:
        own_reader = _own_reader(loc.tool)
        if own_reader is not None:
            return own_reader(text, loc.path)
        return JsonDocument.parse(text or "", source=str(loc.path), comments=self.comments)

    def servers(self, text: str | None, loc: Location) -> Mapping[str, object]:
        return _server_map(self._doc(text, loc).get(loc.keys), loc)

    def put(self, text: str | None, loc: Location, entry: NewEntry) -> tuple[str, int | None]:
        doc = self._doc(text, loc)
        current = _server_map(doc.get(loc.keys), loc).get(entry.name)
        created_from = _first_missing(lambda depth: doc.get(loc.keys[:depth]) is not None, len(loc.keys))
        if isinstance(current, dict) and entry.same_kind(current):
            for key in sorted(entry.owned & (current.keys() - entry.fields.keys())):
                doc.delete([*loc.keys, entry.name, key])
            for key, value in entry.fields.items():
                doc.set([*loc.keys, entry.name, key], value)
        else:
            doc.set([*loc.keys, entry.name], entry.fields)
        return doc.dumps(), created_from

    def delete(self, text: str | None, loc: Location, name: str, created_from: int | None) -> str:
        doc = self._doc(text, loc)
        doc.delete([*loc.keys, name])
        if created_from is not None:
            top = list(loc.keys[: created_from + 1])
            if _hollow(doc.get(top)):
                doc.delete(top)
        return doc.dumps()

    def validate(self, text: str) -> None:
        if self.comments:
            JsonDocument.parse(text, source="the new content", comments=True)
            return
        try:
            data = json.loads(text)
        except ValueError as exc:  # a bug of ours, never the user's: refuse to write it
            raise InvalidConfigFileError(f"refusing to write invalid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise InvalidConfigFileError("refusing to write JSON whose top level is not an object")


class _TomlCodec(Codec):
    """Codex's config.toml through tomlkit: comments, order and formatting of everything else stay.

    Codex reads servers written in any TOML form: ``[mcp_servers.<name>]`` tables (what ``codex mcp
    add`` writes), an ``[mcp_servers]`` table of dotted keys or inline tables, top-level dotted keys
    (``mcp_servers.<name>.command = ...``) and ``mcp_servers = {...}``. tomlkit edits some of them
    wrongly, so every edit is checked to mean exactly what it should (the file as ``tomllib`` reads
    it, with only that entry changed) and tried another way, or refused, when it does not.
    """

    def _doc(self, text: str | None, loc: Location) -> TOMLDocument:
        from mahavishnu.environments.assistants import codex

        return codex.parse(text, loc.path)

    def servers(self, text: str | None, loc: Location) -> Mapping[str, object]:
        value = self._doc(text, loc).unwrap().get(loc.keys[0])
        return _server_map(value, loc)

    def put(self, text: str | None, loc: Location, entry: NewEntry) -> tuple[str, int | None]:
        """(A leading BOM, which Codex's reader skips, is kept; the same in ``delete``.)"""
        from mahavishnu.environments.assistants.codex import keep_markers, split_bom

        bom, rest = split_bom(text or "")
        new_text, created_from = self._put_entry(rest if text is not None else None, loc, entry)
        return bom + keep_markers(rest, new_text), created_from

    def _put_entry(self, text: str | None, loc: Location, entry: NewEntry) -> tuple[str, int | None]:
        self._doc(text, loc)  # a clear error naming the line
        before = _toml_data(text, loc)
        servers = _server_map(before.get(loc.keys[0]), loc)
        current = servers.get(entry.name)
        fields = dict(entry.fields)
        if isinstance(current, dict) and entry.same_kind(current):
            fields = {k: v for k, v in current.items() if k not in entry.owned or k in entry.fields}
            fields.update(entry.fields)
        wanted = {**before, loc.keys[0]: {**servers, entry.name: fields}}
        for inline_maps in (False, True):
            new_text, created_from = self._put(text, loc, entry, inline_maps=inline_maps)
            if _reads_as(new_text, wanted, loc.keys[0]):
                return keep_final_newlines(text, new_text), created_from
        raise InvalidConfigFileError(
            f"cannot set '{entry.name}' in {loc.path} without changing something else",
            hint=f"Write it there by hand as an [{loc.keys[0]}.{entry.name}] table; nothing was written.",
        )

    def _put(
        self, text: str | None, loc: Location, entry: NewEntry, *, inline_maps: bool
    ) -> tuple[str, int | None]:
        doc = self._doc(text, loc)
        key = loc.keys[0]
        table = doc.get(key)
        created_from: int | None = None
        if table is None:
            created_from = 0
            doc[key] = tomlkit.table(is_super_table=True)
            table = doc[key]
        if not isinstance(table, dict):
            _server_map(table, loc)  # raises: not a table
            raise AssertionError("unreachable")
        current = table.get(entry.name)
        unwrapped = _unwrap(current)  # a tomlkit table's plain dict
        if isinstance(current, dict) and isinstance(unwrapped, dict) and entry.same_kind(unwrapped):
            _merge_toml_entry(current, entry, inline_maps=inline_maps)
        elif isinstance(table, InlineTable):
            table[entry.name] = _toml_entry(entry.fields, inline=True)
        elif _one_header_table(doc, key):
            table[entry.name] = _toml_entry(entry.fields, inline=False, inline_maps=inline_maps)
        else:  # dotted keys, or tables in several places: a table of its own at the end
            if entry.name in table:
                del table[entry.name]
            outer = tomlkit.table(is_super_table=True)
            outer[entry.name] = _toml_entry(entry.fields, inline=False, inline_maps=inline_maps)
            doc.append(key, outer)
        return doc.as_string(), created_from

    def delete(self, text: str | None, loc: Location, name: str, created_from: int | None) -> str:
        from mahavishnu.environments.assistants.codex import keep_markers, split_bom

        bom, rest = split_bom(text or "")
        new_text = self._delete_entry(rest if text is not None else None, loc, name, created_from)
        return bom + keep_markers(rest, new_text)

    def _delete_entry(self, text: str | None, loc: Location, name: str, created_from: int | None) -> str:
        self._doc(text, loc)  # a clear error naming the line
        key = loc.keys[0]
        before = _toml_data(text, loc)
        servers = _server_map(before.get(key), loc)
        if text is None or name not in servers:
            return text or ""
        wanted = {**before, key: {k: v for k, v in servers.items() if k != name}}
        attempts: tuple[Callable[[], str | None], ...] = (
            lambda: drop_sections(text, lambda section, _: section.path[:2] == (key, name)),
            lambda: self._delete_in_document(text, loc, name, created_from),
        )
        for attempt in attempts:
            new_text = attempt()
            if new_text is None:
                continue
            if not wanted[key]:
                new_text = _drop_emptied_header(text, new_text, key)
            if _reads_as(new_text, wanted, key):
                return keep_final_newlines(text, new_text)
        raise InvalidConfigFileError(
            f"cannot take '{name}' out of {loc.path} without changing something else",
            hint="Remove it by hand (or with `codex mcp remove`); nothing was written.",
        )

    def _delete_in_document(self, text: str, loc: Location, name: str, created_from: int | None) -> str:
        doc = self._doc(text, loc)
        table = doc.get(loc.keys[0])
        if isinstance(table, dict) and name in table:
            del table[name]
            if created_from is not None and not table:
                del doc[loc.keys[0]]
        return doc.as_string()

    def validate(self, text: str) -> None:
        try:
            data = tomllib.loads(text.removeprefix("\ufeff"))
        except tomllib.TOMLDecodeError as exc:  # a bug of ours: refuse to write it
            raise InvalidConfigFileError(f"refusing to write invalid TOML: {exc}") from exc
        if not isinstance(data.get("mcp_servers", {}), dict):
            raise InvalidConfigFileError("refusing to write a config.toml whose mcp_servers is not a table")


def _own_reader(tool: str) -> Callable[[str | None, Path | str], JsonDocument] | None:
    """The settings reader of an assistant that refuses more than JSON with comments: Qwen Code and
    Gemini CLI hand the file to ``JSON.parse`` once comments are gone (no trailing commas, no JSON5),
    so a file they cannot read is refused here too, as ``switch-llm`` refuses it, not written to."""
    from mahavishnu.environments.assistants import gemini, qwen

    readers: dict[str, Callable[[str | None, Path | str], JsonDocument]] = {
        "qwen": qwen.load,
        "gemini": gemini.load,
    }
    return readers.get(tool)


def _toml_data(text: str | None, loc: Location) -> dict[str, object]:
    try:
        return tomllib.loads(text or "")
    except tomllib.TOMLDecodeError as exc:
        raise InvalidConfigFileError(f"invalid TOML in {loc.path}: {exc}") from exc


def _reads_as(text: str, wanted: Mapping[str, object], key: str) -> bool:
    """``text`` is TOML holding exactly ``wanted`` (an empty map of servers counting as none)."""

    def normal(data: Mapping[str, object]) -> dict[str, object]:
        return {k: v for k, v in data.items() if not (k == key and v == {})}

    try:
        got = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False
    return normal(got) == normal(wanted)


def _one_header_table(doc: TOMLDocument, key: str) -> bool:
    """``key`` is one table written with headers (``[key]`` or ``[key.<name>]``), no dotted keys."""
    found = [(k, v) for k, v in doc.body if k is not None and k.key == key]
    return len(found) == 1 and isinstance(found[0][1], Table) and not found[0][0].is_dotted()


def _drop_emptied_header(before: str, after: str, key: str) -> str:
    """Without an ``[mcp_servers]`` header that held servers before and holds nothing now."""
    lines = before.splitlines(keepends=True)
    held = any(s.path == (key,) and not s.empty(lines) for s in sections(lines))
    if not held:
        return after
    dropped = drop_sections(after, lambda section, now: section.path == (key,) and section.empty(now))
    return after if dropped is None else dropped


def _merge_toml_entry(
    current: MutableMapping[str, object], entry: NewEntry, *, inline_maps: bool = False
) -> None:
    """Change only the owned keys of an entry, and only those whose value differs (keeps layout)."""
    for key in sorted(entry.owned & (set(current.keys()) - entry.fields.keys())):
        del current[key]
    for key, value in entry.fields.items():
        if _unwrap(current.get(key)) != value:
            inline = (
                inline_maps or isinstance(current, InlineTable) or isinstance(current.get(key), InlineTable)
            )
            current[key] = _toml_value(value, inline=inline)


def _unwrap(value: object) -> object:
    return value.unwrap() if hasattr(value, "unwrap") else value


def _toml_value(value: object, *, inline: bool) -> object:
    if isinstance(value, dict):
        container = tomlkit.inline_table() if inline else tomlkit.table()
        for key, item in value.items():
            container[key] = item
        return container
    return value


def _toml_entry(
    fields: Mapping[str, object], *, inline: bool, inline_maps: bool = False
) -> Table | InlineTable:
    """A new ``[mcp_servers.<name>]`` table laid out as ``codex mcp add`` writes it (env as a sub-table)."""
    container: Table | InlineTable = tomlkit.inline_table() if inline else tomlkit.table()
    for key, value in fields.items():
        container[key] = _toml_value(value, inline=inline or inline_maps)
    if isinstance(container, Table):
        container.add(tomlkit.nl())  # a blank line before whatever table follows (trimmed at the end)
    return container


def _server_map(value: object, loc: Location) -> Mapping[str, object]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidConfigFileError(
            f"{loc.path}: {'.'.join(loc.keys)} is {type(value).__name__}, not a map of MCP servers",
            hint="Fix it by hand; nothing was written.",
        )
    return value


def _first_missing(exists: Callable[[int], bool], depth: int) -> int | None:
    """The index of the first key on the path whose object does not exist yet (None: all exist)."""
    for index in range(depth):
        if not exists(index + 1):
            return index
    return None


def _hollow(value: object) -> bool:
    """An object holding nothing but empty objects (what a ``put`` creates, emptied again)."""
    return isinstance(value, dict) and all(_hollow(item) for item in value.values())


CODECS: dict[str, Codec] = {
    "claude": _JsonCodec(comments=False),
    "codex": _TomlCodec(),
    "qwen": _JsonCodec(comments=True),
    "gemini": _JsonCodec(comments=True),
    "opencode": _JsonCodec(comments=True),  # (OpenCode's jsonc-parser: comments, trailing commas)
}
