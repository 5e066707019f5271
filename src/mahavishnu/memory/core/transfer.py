"""Export/import as JSONL: a header line, one memory per line, then the activity rows, exact to the bit.

Ids and times are kept; vectors travel as base64 of little-endian float32, so a round trip
(also embedded -> PostgreSQL -> embedded) reproduces them exactly. Export writes a temp file and
renames it, so a crash never leaves half a file under the target name.

    {"format": "mahavishnu-memories", "version": 3, "embedder": "local/...", "dimension": "384"}
    {"described": "ledgerd", "about": "service: the payments ledger (Python, FastAPI)"}
    {"id": 1, "content": "...", ..., "embedding": "AAB/Pw..."}
    {"record": "insight_shares", "id": 7, "memory_id": 1, "project": "p", "via": "origin", ...}

Version 2 added the record lines, version 3 the project descriptions (``memory describe``), each a
line before the memories: a memory's vector is made with its project's description, so a store
that reads the file must know it (versions 1 and 2 still import). Record lines come
after every memory line, a table's rows in id order, tables in ``RECORD_ORDER`` (a group before its
members). A record keeps its columns and times; its own ``id`` is informative only: import gives
each row a new one (nothing points at record ids), and remaps ``memory_id`` to where the memory
ended up (renumbered, or the stored duplicate). A row already in the store (the same columns after
remapping, or the same unique key) is skipped, so importing a file twice adds nothing the second time.
"""

from __future__ import annotations

import base64
import json
import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import numpy as np

from mahavishnu.errors import InvalidInputError, MahavishnuError, NotFoundError
from mahavishnu.files.private_file import write_whole
from mahavishnu.json_types import JSONArray, JSONObject, JSONValue
from mahavishnu.memory.core.backends.base import INGESTION_COLUMNS, RecordCounts
from mahavishnu.memory.core.backends.records import (
    CONVERSATIONS,
    GROUP_MEMBERS,
    GROUPS,
    RECORD_TABLES,
    SHARES,
    WORKFLOWS,
)
from mahavishnu.memory.core.models import (
    NAMED_FIELDS,
    Memory,
    check_content,
    check_name,
    check_type,
    format_time,
    parse_time,
    project_name,
)
from mahavishnu.paths import make_dir

if TYPE_CHECKING:
    from mahavishnu.memory.core.backends.base import Backend

FORMAT = "mahavishnu-memories"
VERSION = 3
READABLE = frozenset({1, 2, 3})  # versions import reads
_BATCH = 500
_ALL = 2**62  # "no limit" for the backends' list methods

METRICS = "performance_metrics"
INGESTIONS = "rag_ingestions"
#: Every table of activity rows an export carries, in the order they are written and imported.
RECORD_ORDER = (GROUPS, GROUP_MEMBERS, SHARES, CONVERSATIONS, WORKFLOWS, METRICS, INGESTIONS)


@dataclass(frozen=True, slots=True)
class Header:
    embedder: str | None
    dimension: str | None
    max_id: int = 0
    version: int = VERSION


@dataclass(frozen=True, slots=True)
class Record:
    """One activity row of a file: its table, its checked columns (``memory_id`` as in the file)."""

    table: str
    row: JSONObject
    where: str  # path:line


@dataclass(frozen=True, slots=True)
class ExportCounts:
    memories: int
    records: dict[str, int]  # rows written, by table (every table of ``RECORD_ORDER``)
    descriptions: int = 0  # project descriptions written
    theirs: int = 0  # memories teammates shared with a team member, left out of their file


@dataclass(frozen=True, slots=True)
class About:
    """One project description line of a file: the project and what it is, as written."""

    project: str
    about: str
    where: str  # path:line


def write(
    path: Path,
    header: Header,
    memories: Iterable[Memory],
    records: Iterable[tuple[str, Mapping[str, JSONValue]]] = (),
    descriptions: Mapping[str, str] | None = None,
) -> ExportCounts:
    """Write the header, the project ``descriptions``, the memories, then the ``(table, row)``
    records."""
    descriptions = descriptions or {}
    make_dir(path.parent)  # 0700, as the file is 0600
    count = 0
    written = dict.fromkeys(RECORD_ORDER, 0)

    def fill(tmp: Path) -> None:
        nonlocal count
        with tmp.open("w", encoding="utf-8") as out:
            head = {
                "format": FORMAT,
                "version": VERSION,
                "embedder": header.embedder,
                "dimension": header.dimension,
            }
            out.write(json.dumps(head) + "\n")
            for project, about in sorted(descriptions.items()):
                out.write(json.dumps({"described": project, "about": about}, ensure_ascii=False) + "\n")
            for memory in memories:
                out.write(json.dumps(_line(memory), ensure_ascii=False) + "\n")
                count += 1
            for table, row in records:
                out.write(json.dumps({"record": table, **row}, ensure_ascii=False) + "\n")
                written[table] += 1
            out.flush()
            os.fsync(out.fileno())

    write_whole(path, fill)  # (a killed export's file is removed by the next one)
    return ExportCounts(count, written, len(descriptions))


def dump_records(backend: Backend) -> Iterator[tuple[str, JSONObject]]:
    """Every activity row of the store, table by table in ``RECORD_ORDER``, each table by id."""
    for table in RECORD_ORDER:
        if table == METRICS:
            rows = backend.metrics(None, None, None, _ALL)
        elif table == INGESTIONS:
            rows = backend.ingestions(None, _ALL)
        else:
            rows = backend.records(table, {}, limit=_ALL)
        for row in sorted(rows, key=lambda r: int(r["id"])):
            yield table, {"id": int(row["id"]), **{c: row[c] for c in _CHECKS[table]}}


def shares_of(backend: Backend, memory_ids: Iterable[int]) -> Iterator[tuple[str, JSONObject]]:
    """The insight shares of these memories, as ``dump_records`` writes them: what a file of some
    memories needs to put them back seen where they were (the dashboard's undo)."""
    ids = sorted(set(memory_ids))
    rows = backend.records(SHARES, {"memory_id": ids}, limit=_ALL) if ids else []
    for row in sorted(rows, key=lambda r: int(r["id"])):
        yield SHARES, {"id": int(row["id"]), **{c: row[c] for c in _CHECKS[SHARES]}}


def _line(memory: Memory) -> JSONObject:
    assert memory.embedding is not None
    vector = np.ascontiguousarray(memory.embedding, dtype="<f4").tobytes()
    return {**memory.to_dict(), "embedding": base64.b64encode(vector).decode("ascii")}


@dataclass(frozen=True, slots=True)
class Contents:
    """A checked export file: its header and project descriptions (project -> what it is, as
    written), then (reading the file again) its memories and records."""

    path: Path
    header: Header
    descriptions: dict[str, str] = field(default_factory=dict)

    def memory_batches(self) -> Iterator[list[Memory]]:
        return _batches(m for _, m in _entries(self.path, self.header) if isinstance(m, Memory))

    def records(self) -> Iterator[Record]:
        return (r for _, r in _entries(self.path, self.header, memories=False) if isinstance(r, Record))


def read(path: Path) -> Contents:
    """The file, every line of it checked before this returns (nothing is written if one is bad):
    memories and records parse, project descriptions come before the memories and once each,
    record lines after the memories, a ``memory_id`` names a memory of the file, a group member's
    group comes before it."""
    if not path.is_file():
        if path.exists():
            raise InvalidInputError(f"not a file: {path}", hint="Give the path of a `memory export` file.")
        raise NotFoundError(f"no such file: {path}")
    header = _header(path)
    seen = _Seen()
    for where, entry in _entries(path, header):
        if isinstance(entry, Memory):
            seen.memory(where, entry)
        elif isinstance(entry, About):
            seen.about(entry)
        else:
            seen.record(where, entry)
    head = Header(header.embedder, header.dimension, max(seen.ids, default=0), header.version)
    return Contents(path, head, seen.descriptions)


@dataclass
class _Seen:
    """What ``read`` has met so far in the file, to check each next line against it."""

    ids: set[int] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    descriptions: dict[str, str] = field(default_factory=dict)
    in_records: bool = False

    def about(self, about: About) -> None:
        if self.ids or self.in_records:
            raise InvalidInputError(f"{about.where}: a project description after the memory lines")
        if about.project in self.descriptions:
            raise InvalidInputError(f"{about.where}: project {about.project!r} is described twice")
        self.descriptions[about.project] = about.about

    def memory(self, where: str, memory: Memory) -> None:
        if self.in_records:
            raise InvalidInputError(f"{where}: a memory line after the record lines")
        if memory.id in self.ids:
            raise InvalidInputError(f"{where}: memory id {memory.id} appears twice")
        self.ids.add(memory.id)

    def record(self, where: str, record: Record) -> None:
        self.in_records = True
        memory_id = record.row.get("memory_id")
        if memory_id is not None and memory_id not in self.ids:
            raise InvalidInputError(
                f"{where}: {record.table}.memory_id {memory_id} is not a memory of this file"
            )
        if record.table == GROUPS:
            self.groups.add(str(record.row["name"]))  # checked: a name
        elif record.table == GROUP_MEMBERS and record.row["group_name"] not in self.groups:
            raise InvalidInputError(
                f"{where}: project group {record.row['group_name']!r} is not in the file before its member"
            )


_HEADER_BYTES = 1 << 16  # a header line is short; a longer first line is not an export


def _header(path: Path) -> Header:
    head = _head(path)
    version = head.get("version")
    if isinstance(version, bool) or not isinstance(version, int | float) or version not in READABLE:
        raise InvalidInputError(
            f"{path} is export version {version}; this Mahavishnu reads "
            f"{', '.join(map(str, sorted(READABLE)))}"
        )
    embedder = head.get("embedder")
    return Header(None if embedder is None else str(embedder), _dimension(path, head), version=int(version))


def _head(path: Path) -> JSONObject:
    """The file's first line, when it is an export's header."""
    with path.open("rb") as lines:
        first = lines.readline(_HEADER_BYTES)
    head: JSONValue
    try:
        head = json.loads(first.decode("utf-8"))
    except ValueError:  # JSONDecodeError and UnicodeDecodeError (a binary file) both derive from it
        head = None
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise InvalidInputError(
            f"{path} is not a Mahavishnu memory export", hint="Create one with `memory export`."
        )
    return head


def _dimension(path: Path, head: JSONObject) -> str | None:
    """The header's vector size as text (None when it has none)."""
    dimension = None if head.get("dimension") is None else str(head["dimension"])
    if dimension is not None and not (dimension.isascii() and dimension.isdigit() and int(dimension) > 0):
        raise InvalidInputError(
            f"{path}:1: the header's dimension {head['dimension']!r} is not a vector size"
        )
    return dimension


def _entries(
    path: Path, header: Header, *, memories: bool = True
) -> Iterator[tuple[str, Memory | Record | About]]:
    """(where, memory, record or description) of every line after the header, in file order (without
    ``memories``, memory lines are not decoded: for a file already checked). Every vector must have
    the header's dimension (or, without one, the first vector's): a file whose vectors disagree
    with it would break every search of the store it is imported into."""
    size = None if header.dimension is None else int(header.dimension)
    said = "the file's header says" if size is not None else "the file's first vector has"
    for where, data in _json_lines(path):
        if isinstance(data, dict) and "record" in data:
            yield where, _parse_record(data, where)
        elif isinstance(data, dict) and "described" in data:
            yield where, _parse_about(data, where)
        elif memories:
            memory = _parse(data, where)
            size = _vector_size(memory, header, size, f"{where}: ", said)
            yield where, memory


def _json_lines(path: Path) -> Iterator[tuple[str, JSONValue]]:
    """(where, decoded JSON) of every line after the header that is not blank."""
    with path.open("rb") as lines:
        next(lines)
        for number, raw in enumerate(lines, start=2):
            where = f"{path}:{number}"
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidInputError(f"{where}: not UTF-8 text (byte {exc.start + 1})") from exc
            if not text.strip():
                continue
            try:
                data: JSONValue = json.loads(text)
            except ValueError as exc:
                raise InvalidInputError(f"{where}: not a JSON line ({exc})") from exc
            yield where, data


def _vector_size(memory: Memory, header: Header, size: int | None, at: str, said: str) -> int:
    """The size every vector of the file must have: ``size``, or this first memory's. Raises when the
    memory's vector is from another embedder than the header's, or of another size."""
    if header.embedder is not None and memory.embedding_model != header.embedder:
        raise InvalidInputError(
            f"{at}vector from {memory.embedding_model}, the file's header says {header.embedder}"
        )
    if size is None:
        return memory.embedding_dim
    if memory.embedding_dim != size:
        raise InvalidInputError(
            f"{at}the vector has {memory.embedding_dim} dimensions, {said} {size}",
            hint="The file was edited or mixes stores; export it again with `memory export`.",
        )
    return size


def _parse(data: JSONValue, where: str) -> Memory:
    try:
        if not isinstance(data, dict):
            raise TypeError(f"a JSON {type(data).__name__}, not an object")
        vector = np.frombuffer(base64.b64decode(_base64(data.pop("embedding")), validate=True), dtype="<f4")
        memory = Memory.from_dict(data, embedding=vector.astype(np.float32))
        check_type(memory.memory_type)
        if (content := check_content(memory.content, max_chars=10**9)) != memory.content:
            # (an export of a store that kept a NUL: dropped, as a store drops it now)
            memory = replace(memory, content=content)  # (its hash is the importing store's to work out)
        for name, kind in NAMED_FIELDS.items():
            check_name(kind, getattr(memory, name))
        for tag in memory.tags:
            check_name("tag", tag, slash=True)
    except MahavishnuError as exc:
        raise InvalidInputError(f"{where}: {exc.message}") from exc
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidInputError(f"{where}: not a valid memory line ({exc})") from exc
    if len(vector) != memory.embedding_dim:
        raise InvalidInputError(
            f"{where}: vector has {len(vector)} values, embedding_dim says {memory.embedding_dim}"
        )
    if not np.isfinite(vector).all():  # checked with the whole file, before anything is written
        raise InvalidInputError(f"{where}: the vector has NaN or infinite values")
    return memory


def _parse_about(data: JSONObject, where: str) -> About:
    project, about = data.get("described"), data.get("about")
    if set(data) != {"described", "about"} or not isinstance(project, str):
        shape = '{"described": NAME, "about": TEXT}'
        raise InvalidInputError(f"{where}: a project description line is {shape}")
    try:
        project = project_name(project)
    except MahavishnuError as exc:
        raise InvalidInputError(f"{where}: {exc.message}") from exc
    if not isinstance(about, str) or not about.strip():
        raise InvalidInputError(f"{where}: project {project!r} is described by no text")
    return About(project, about, where)


def _base64(value: JSONValue) -> str:
    if not isinstance(value, str):  # what base64 itself says
        raise TypeError(
            f"argument should be a bytes-like object or ASCII string, not {type(value).__name__!r}"
        )
    return value


def _batches(memories: Iterator[Memory]) -> Iterator[list[Memory]]:
    batch: list[Memory] = []
    for memory in memories:
        batch.append(memory)
        if len(batch) == _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


# -- activity records -----------------------------------------------------------------------------
#: A file value -> the value stored; ValueError/TypeError if it is bad.
Check: TypeAlias = Callable[[JSONValue], JSONValue]


def _text(value: JSONValue) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"needs non-empty text, got {value!r}")
    return value


def _label(value: JSONValue) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"needs a non-blank name, got {value!r}")
    return value


def _string(value: JSONValue) -> str:
    if not isinstance(value, str):
        raise ValueError(f"needs text, got {value!r}")
    return value


def _optional(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


def _one_of(*allowed: str) -> Check:
    def check(value: JSONValue) -> str:
        if value not in allowed:
            raise ValueError(f"needs one of {', '.join(allowed)}, got {value!r}")
        return str(value)

    return check


def _time(value: JSONValue) -> str:
    if not isinstance(value, str):
        raise ValueError(f"needs an ISO-8601 time, got {value!r}")
    return format_time(parse_time(value))


def _json(value: JSONValue) -> JSONValue:
    json.dumps(value, allow_nan=False)  # ValueError for NaN/Infinity, which PostgreSQL refuses
    return value


def _object(value: JSONValue) -> JSONObject:
    if not isinstance(value, dict):
        raise ValueError(f"needs a JSON object, got {value!r}")
    _json(value)
    return dict(value)


def _array(value: JSONValue) -> JSONArray:
    if not isinstance(value, list):
        raise ValueError(f"needs a JSON array, got {value!r}")
    _json(value)
    return list(value)


def _memory_id(value: JSONValue) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"needs a memory id, got {value!r}")
    return value


def _count(value: JSONValue) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise ValueError(f"needs a count >= 0, got {value!r}")
    return value


def _seconds(value: JSONValue) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"needs a number of seconds >= 0, got {value!r}")
    return float(value)


_ROLES = ("user", "assistant")  # as the schemas' CHECKs (conversations.ROLES, workflows.STATUSES)
_RUN_STATUSES = ("pending", "running", "completed", "failed", "cancelled")
_INGESTION_STATUSES = ("pending", "in_progress", "completed", "failed")

#: Each table's columns (besides ``id``) and what a file value must be: what the schemas accept,
#: so a checked file never fails half-way through the import.
_CHECKS: dict[str, dict[str, Check]] = {
    GROUPS: {"name": _label, "description": _optional(_string), "created_at": _time},
    GROUP_MEMBERS: {"group_name": _label, "project": _label, "added_at": _time},
    SHARES: {"memory_id": _memory_id, "project": _label, "via": _string, "shared_at": _time},
    CONVERSATIONS: {
        "agent_id": _text,
        "session_id": _text,
        "role": _one_of(*_ROLES),
        "content": _text,
        "metadata": _object,
        "memory_id": _optional(_memory_id),
        "external_id": _optional(_string),
        "created_at": _time,
    },
    WORKFLOWS: {
        "workflow_id": _text,
        "adapter": _text,
        "repos": _array,
        "status": _one_of(*_RUN_STATUSES),
        "result": _json,
        "duration_seconds": _optional(_seconds),
        "error": _optional(_string),
        "memory_id": _optional(_memory_id),
        "created_at": _time,
    },
    METRICS: {"component": _text, "metric_type": _text, "metrics": _object, "recorded_at": _time},
    INGESTIONS: {
        "repo_id": _text,
        "repo_path": _string,
        "status": _one_of(*_INGESTION_STATUSES),
        **{c: _count for c in INGESTION_COLUMNS if c.startswith(("files_", "chunks_"))},
        "error": _optional(_string),
        "metadata": _object,
        "started_at": _time,
        "finished_at": _optional(_time),
        "duration_seconds": _optional(_seconds),
    },
}
#: The columns that name what the dashboard puts in an address: an imported name is a new one
#: (``check_name``); the rows already stored are compared as they are.
_NAMES: dict[str, dict[str, str]] = {
    GROUPS: {"name": "group"},
    GROUP_MEMBERS: {"group_name": "group", "project": "project"},
    SHARES: {"project": "project"},
    CONVERSATIONS: {"session_id": "session"},
    INGESTIONS: {"repo_id": "repository"},
}
assert all(tuple(_CHECKS[t.name]) == t.columns for t in RECORD_TABLES.values())
assert tuple(_CHECKS[INGESTIONS]) == INGESTION_COLUMNS
assert set(_CHECKS) == set(RECORD_ORDER)


def _checked(table: str, row: Mapping[str, JSONValue]) -> JSONObject:
    """Every column of the table, checked and in its stored form (times as ``format_time`` text)."""
    checks = _CHECKS[table]
    unknown = sorted(set(row) - set(checks))
    if unknown:
        raise ValueError(f"{table} has no column {unknown[0]!r}")
    out: JSONObject = {}
    for column, check in checks.items():
        try:
            out[column] = check(row.get(column))
        except (ValueError, TypeError, MahavishnuError) as exc:
            message = exc.message if isinstance(exc, MahavishnuError) else str(exc)
            raise ValueError(f"{table}.{column} {message}") from exc
    return out


def _parse_record(data: JSONObject, where: str) -> Record:
    table = data.pop("record")
    if not isinstance(table, str) or table not in _CHECKS:
        raise InvalidInputError(
            f"{where}: unknown record table {table!r}", hint=f"Known: {', '.join(RECORD_ORDER)}."
        )
    data.pop("id", None)  # the source's row id: an imported row gets a new one
    try:
        row = _checked(table, data)
        for column, kind in _NAMES.get(table, {}).items():
            check_name(kind, str(row[column]))
        return Record(table, row, where)
    except ValueError as exc:
        raise InvalidInputError(f"{where}: {exc}") from exc
    except MahavishnuError as exc:
        raise InvalidInputError(f"{where}: {exc.message}", hint=exc.hint) from exc


def load_records(
    backend: Backend, records: Iterable[Record], moved: Mapping[int, int]
) -> dict[str, RecordCounts]:
    """Add the records, ``memory_id`` following ``moved`` (file id -> stored id). A row the store
    already has (the same columns, counted: two equal rows in the file need two in the store) or
    whose unique key is taken is skipped. Rows go in batches of one table, each one transaction."""
    counts = {table: [0, 0] for table in RECORD_ORDER}
    present: dict[str, Counter[str]] = {}
    batch: list[JSONObject] = []
    table = ""

    def flush() -> None:
        if batch:
            added = _add(backend, table, batch)
            counts[table][0] += added
            counts[table][1] += len(batch) - added
            batch.clear()

    for record in records:
        if record.table != table or len(batch) == _BATCH:
            flush()
            table = record.table
        row = dict(record.row)
        memory_id = row.get("memory_id")
        if isinstance(memory_id, int):  # checked: a memory id, or None
            row["memory_id"] = moved.get(memory_id, memory_id)
        if table not in present:
            present[table] = Counter(_stored_key(table, r) for r in _stored(backend, table))
        key = _key(table, row)
        if present[table][key] > 0:
            present[table][key] -= 1
            counts[table][1] += 1
            continue
        batch.append(row)
    flush()
    return {t: RecordCounts(*c) for t, c in counts.items()}


def _stored(backend: Backend, table: str) -> list[JSONObject]:
    if table == METRICS:
        return backend.metrics(None, None, None, _ALL)
    if table == INGESTIONS:
        return backend.ingestions(None, _ALL)
    return backend.records(table, {}, limit=_ALL)


def _key(table: str, row: Mapping[str, JSONValue]) -> str:
    """A row's columns in one canonical text (stored rows are normalised like file rows)."""
    values = _checked(table, {c: row.get(c) for c in _CHECKS[table]})
    return json.dumps(list(values.values()), sort_keys=True, ensure_ascii=False)


def _stored_key(table: str, row: Mapping[str, JSONValue]) -> str:
    try:
        return _key(table, row)
    except ValueError:  # a stored row the file format would refuse: no file row equals it
        return repr(row)


def _add(backend: Backend, table: str, rows: list[JSONObject]) -> int:
    """Insert rows of one table; how many were added (a taken unique key skips a row)."""
    if table == METRICS:
        for row in rows:
            _add_metrics(backend, row)
        return len(rows)
    if table == INGESTIONS:
        for row in rows:
            backend.add_ingestion(row)
        return len(rows)
    return sum(i is not None for i in backend.add_records(table, rows))


def _add_metrics(backend: Backend, row: JSONObject) -> None:
    """One checked ``performance_metrics`` row (texts, and ``metrics`` an object)."""
    metrics = row["metrics"]
    assert isinstance(metrics, dict)  # _object checked it
    backend.add_metrics(str(row["component"]), str(row["metric_type"]), metrics, str(row["recorded_at"]))
