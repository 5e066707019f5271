"""An in-memory backend for the unit tests: the whole contract of ``Backend``, in plain Python.

Exact cosine over a numpy matrix and a textbook BM25 (no stemming) stand in for the real engines.
Pass the same ``FakeDatabase`` to a new ``FakeBackend`` to "reopen" a store.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

import numpy as np

from mahavishnu.errors import InvalidInputError
from mahavishnu.memory.core.backends import records
from mahavishnu.memory.core.backends.base import (
    INGESTION_COLUMNS,
    META_EMBEDDER,
    Backend,
    ImportCounts,
    Unstaged,
    foreign_vectors,
)
from mahavishnu.memory.core.migrations import Migrations
from mahavishnu.memory.core.models import Filters, Memory, MemoryDraft, MigrationState, Vector, format_time
from mahavishnu.memory.core.search import Ranked, query_terms, tokens

MIGRATIONS: Migrations[FakeDatabase] = Migrations("fake")


@dataclass
class FakeDatabase:
    rows: dict[int, Memory] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    staged: dict[int, Vector] = field(default_factory=dict)
    applied: dict[str, str] = field(default_factory=dict)
    next_id: int = 1
    ingestions: dict[int, dict[str, Any]] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@MIGRATIONS
def m001_initial(db: FakeDatabase) -> None:
    """Nothing to create in memory; recorded so ``db status`` behaves like the real backends."""


class FakeBackend(Backend):
    name = "fake"

    def __init__(self, database: FakeDatabase | None = None, *, migrate: bool = True) -> None:
        self.db = database if database is not None else FakeDatabase()
        self.closed = False
        if migrate:
            self.migrate()

    @property
    def location(self) -> str:
        return f"memory:{id(self.db):x}"

    def migration_state(self) -> MigrationState:
        pending = tuple(m.name for m in MIGRATIONS.pending(self.db.applied))
        return MigrationState(self.name, self.location, tuple(self.db.applied.items()), pending)

    def migrate(self) -> list[str]:
        done = []
        for migration in MIGRATIONS.pending(self.db.applied):
            migration.apply(self.db)
            self.db.applied[migration.name] = format_time(datetime.now())
            done.append(migration.name)
        return done

    def close(self) -> None:
        self.closed = True

    def get_meta(self, key: str) -> str | None:
        return self.db.meta.get(key)

    def meta_under(self, prefix: str) -> dict[str, str]:
        return {k: v for k, v in self.db.meta.items() if k.startswith(prefix)}

    def set_meta(self, values: Mapping[str, str | None]) -> None:
        for key, value in values.items():
            if value is None:
                self.db.meta.pop(key, None)
            else:
                self.db.meta[key] = value

    # -- rows -----------------------------------------------------------------------------
    def find_existing(self, drafts: Sequence[MemoryDraft]) -> dict[tuple[Any, ...], Memory]:
        wanted = {d.dedup_key for d in drafts}
        return {key: m for m in self.db.rows.values() if (key := _key(m)) in wanted}

    def insert(
        self, drafts: Sequence[MemoryDraft], vectors: Vector, *, model: str, now: datetime
    ) -> list[Memory]:
        self._check_model(model if drafts else "")
        existing = self.find_existing(drafts)
        out = []
        for draft, vector in zip(drafts, vectors, strict=True):
            if draft.dedup_key not in existing:
                existing[draft.dedup_key] = self._add(_from_draft(draft, vector, model, now, self.db.next_id))
            out.append(existing[draft.dedup_key])
        return out

    def insert_or_merge(
        self,
        drafts: Sequence[MemoryDraft],
        vectors: Sequence[Vector | None],
        *,
        model: str,
        now: datetime,
        merge: Callable[[Memory, MemoryDraft], Mapping[str, Any]],
    ) -> list[tuple[Memory | None, bool]]:
        """One writer at a time here: insert what is new, merge the rest."""
        self._check_model(model)
        out: list[tuple[Memory | None, bool]] = []
        for draft, vector in zip(drafts, vectors, strict=True):
            stored = self.find_existing([draft]).get(draft.dedup_key)
            if stored is None and vector is not None:
                out.append((self._add(_from_draft(draft, vector, model, now, self.db.next_id)), False))
                continue
            changes = merge(stored, draft) if stored is not None else {}
            if stored is not None and changes:
                stored = self.update(stored.id, changes, None, model="", now=now) or stored
            out.append((stored, True))
        return out

    def _check_model(self, model: str) -> None:
        """Vectors of another model than the store's are refused, as the SQL backends do."""
        if refused := foreign_vectors(self.location, self.db.meta.get(META_EMBEDDER), model):
            raise refused

    def _add(self, memory: Memory) -> Memory:
        self.db.rows[memory.id] = memory
        self.db.next_id = max(self.db.next_id, memory.id + 1)
        return memory

    def get(self, ids: Sequence[int]) -> dict[int, Memory]:
        return {i: self.db.rows[i] for i in ids if i in self.db.rows}

    def vectors(self, ids: Sequence[int]) -> dict[int, Vector]:
        return {i: _vector(self.db.rows[i]) for i in ids if i in self.db.rows}

    def update(
        self, memory_id: int, changes: Mapping[str, Any], vector: Vector | None, *, model: str, now: datetime
    ) -> Memory | None:
        self._check_model(model if vector is not None else "")
        old = self.db.rows.get(memory_id)
        if old is None:
            return None
        new = replace(old, **changes, updated_at=now)
        if vector is not None:
            new = replace(new, embedding=vector, embedding_model=model, embedding_dim=len(vector))
        clash = [m.id for m in self.db.rows.values() if m.id != memory_id and _key(m) == _key(new)]
        if clash:
            raise InvalidInputError(f"memory #{clash[0]} already holds this content in this scope")
        if "content" in changes:
            self.db.staged.pop(memory_id, None)
        self.db.rows[memory_id] = new
        return new

    def delete(self, ids: Sequence[int]) -> int:
        gone = [self.db.rows.pop(i) for i in set(ids) if i in self.db.rows]
        for memory in gone:
            self.db.staged.pop(memory.id, None)
        self._cascade({m.id for m in gone})
        return len(gone)

    def _cascade(self, ids: set[int]) -> None:
        """What the SQL schemas' foreign keys do when memories go."""
        shares = self.db.records.get(records.SHARES, [])
        shares[:] = [r for r in shares if r["memory_id"] not in ids]
        for table in (records.CONVERSATIONS, records.WORKFLOWS):
            for row in self.db.records.get(table, []):
                if row["memory_id"] in ids:
                    row["memory_id"] = None

    def delete_where(self, filters: Filters) -> int:
        if not filters:
            raise InvalidInputError("refusing to delete every memory: give at least one filter")
        return self.delete([m.id for m in self._matching(filters)])

    def recent(self, filters: Filters, limit: int, offset: int = 0) -> list[Memory]:
        rows = sorted(self._matching(filters), key=lambda m: (m.created_at, m.id), reverse=True)
        return rows[offset : offset + limit]

    def iter_all(self, batch_size: int = 500) -> Iterator[Memory]:
        for memory_id in sorted(self.db.rows):
            yield self.db.rows[memory_id]

    def import_memories(self, memories: Sequence[Memory], *, free_from: int = 1) -> ImportCounts:
        imported = skipped = renumbered = 0
        moved: dict[int, int] = {}
        for memory in memories:
            taken = self.db.rows.get(memory.id)
            same = next((m for m in self.db.rows.values() if _key(m) == _key(memory)), None)
            if same is not None:
                skipped += 1
                if same.id != memory.id:
                    moved[memory.id] = same.id
                continue
            if taken is not None:
                new_id = max(self.db.next_id, free_from)
                moved[memory.id] = new_id
                memory = replace(memory, id=new_id)
                renumbered += 1
            self._add(memory)
            imported += 1
        return ImportCounts(imported, skipped, renumbered, moved)

    def stats(self) -> dict[str, Any]:
        rows = list(self.db.rows.values())
        times = sorted(m.created_at for m in rows)
        return {
            "count": len(rows),
            "by_type": dict(Counter(m.memory_type for m in rows)),
            "by_project": dict(Counter(m.project or "" for m in rows)),
            "oldest": format_time(times[0]) if times else None,
            "newest": format_time(times[-1]) if times else None,
        }

    # -- search ---------------------------------------------------------------------------
    def _matching(self, filters: Filters) -> list[Memory]:
        projects = self._projects(filters)
        shared = self._shared_ids(projects) if filters.shared and projects is not None else set()
        origins = self._origin_ids() if filters.with_global else set()
        return [
            m
            for m in self.db.rows.values()
            if matches(m, filters)
            and (
                projects is None
                or m.project in projects
                or m.id in shared
                or (filters.with_global and m.project is None and m.id not in origins)
            )
        ]

    def _origin_ids(self) -> set[int]:
        """Insights of a known project (an ``origin`` share): not global, as ``sql.GLOBAL_IDS`` says."""
        return {r["memory_id"] for r in self.db.records.get(records.SHARES, []) if r.get("via") == "origin"}

    def _projects(self, filters: Filters) -> set[str] | None:
        if filters.group is not None:
            members = self.db.records.get(records.GROUP_MEMBERS, [])
            return {r["project"] for r in members if r["group_name"] == filters.group}
        return None if filters.project is None else {filters.project}

    def _shared_ids(self, projects: set[str]) -> set[int]:
        return {r["memory_id"] for r in self.db.records.get(records.SHARES, []) if r["project"] in projects}

    def vector_search(self, vector: Vector, filters: Filters, k: int) -> list[Ranked]:
        rows = self._matching(filters)
        if not rows:
            return []
        matrix = np.stack([_vector(m) for m in rows])
        scores = matrix @ np.asarray(vector, dtype=np.float32)
        order = sorted(range(len(rows)), key=lambda i: (-scores[i], rows[i].id))[:k]
        return [Ranked(rows[i].id, float(scores[i]), vector_score=float(scores[i])) for i in order]

    def text_search(self, text: str, filters: Filters, k: int) -> list[Ranked]:
        terms = query_terms(text)
        rows = self._matching(filters)
        docs = {m.id: Counter(tokens(m.content)) for m in rows}
        scores = bm25(terms, docs)
        order = sorted(scores, key=lambda i: (-scores[i], i))[:k]
        return [Ranked(i, scores[i], text_score=scores[i]) for i in order]

    def pair_holders(self, pairs: Sequence[tuple[str, str]]) -> list[set[int]]:
        adjacent = {i: set(itertools.pairwise(tokens(m.content))) for i, m in self.db.rows.items()}
        return [{i for i, held in adjacent.items() if pair in held} for pair in pairs]

    # -- reembed --------------------------------------------------------------------------
    def reembed_pending(self, limit: int) -> list[Unstaged]:
        ids = sorted(i for i in self.db.rows if i not in self.db.staged)[:limit]
        rows = [self.db.rows[i] for i in ids]
        return [Unstaged(m.id, m.content, m.metadata, m.project, m.memory_type) for m in rows]

    def reembed_progress(self) -> tuple[int, int]:
        return len(self.db.staged), len(self.db.rows)

    def stage_vectors(self, ids: Sequence[int], vectors: Vector) -> None:
        for memory_id, vector in zip(ids, vectors, strict=True):
            if memory_id in self.db.rows:
                self.db.staged[memory_id] = np.array(vector, dtype=np.float32)

    def finish_reembed(self, model: str, dimension: int, meta: Mapping[str, str | None]) -> bool:
        if any(i not in self.db.staged for i in self.db.rows):
            return False
        for memory_id, vector in self.db.staged.items():
            row = self.db.rows[memory_id]
            self.db.rows[memory_id] = replace(
                row, embedding=vector, embedding_model=model, embedding_dim=dimension
            )
        self.db.staged.clear()
        self.set_meta(meta)
        return True

    def clear_staging(self) -> None:
        self.db.staged.clear()

    # -- repository ingestion -------------------------------------------------------------
    def replace(
        self,
        delete_ids: Sequence[int],
        drafts: Sequence[MemoryDraft],
        vectors: Vector,
        *,
        model: str,
        now: datetime,
    ) -> list[Memory]:
        """Not atomic: the fake has no transactions."""
        self.delete(delete_ids)
        return self.insert(drafts, vectors, model=model, now=now) if drafts else []

    def add_ingestion(self, values: Mapping[str, Any]) -> int:
        run_id = max(self.db.ingestions, default=0) + 1
        row: dict[str, Any] = {name: None for name in INGESTION_COLUMNS}
        row.update(status="pending", metadata={}, id=run_id)
        row.update({k: 0 for k in INGESTION_COLUMNS if k.startswith(("files_", "chunks_"))})
        self.db.ingestions[run_id] = row
        self.update_ingestion(run_id, values)
        return run_id

    def update_ingestion(self, run_id: int, values: Mapping[str, Any]) -> None:
        unknown = sorted(set(values) - set(INGESTION_COLUMNS))
        if unknown:
            raise InvalidInputError(f"unknown ingestion column {unknown[0]!r}")
        if run_id in self.db.ingestions:
            self.db.ingestions[run_id].update(values)

    def ingestions(self, repo_id: str | None = None, limit: int = 1_000) -> list[dict[str, Any]]:
        runs = [r for _, r in sorted(self.db.ingestions.items(), reverse=True)]
        return [dict(r) for r in runs if repo_id is None or r["repo_id"] == repo_id][:limit]

    def delete_ingestions(self, repo_id: str) -> int:
        gone = [i for i, r in self.db.ingestions.items() if r["repo_id"] == repo_id]
        for run_id in gone:
            del self.db.ingestions[run_id]
        return len(gone)

    def add_metrics(self, component: str, metric_type: str, metrics: Mapping[str, Any], at: str) -> int:
        row = {
            "id": len(self.db.metrics) + 1,
            "component": component,
            "metric_type": metric_type,
            "metrics": json.loads(json.dumps(metrics)),
            "recorded_at": at,
        }
        self.db.metrics.append(row)
        return int(row["id"])

    def metrics(
        self, component: str | None, metric_type: str | None, since: str | None, limit: int
    ) -> list[dict[str, Any]]:
        rows = [
            dict(r)
            for r in self.db.metrics
            if component in (None, r["component"])
            and metric_type in (None, r["metric_type"])
            and (since is None or r["recorded_at"] >= since)
        ]
        return sorted(rows, key=lambda r: (r["recorded_at"], r["id"]), reverse=True)[:limit]

    # -- activity records -----------------------------------------------------------------
    def add_records(self, table: str, rows: Sequence[Mapping[str, Any]]) -> list[int | None]:
        spec = records.record_table(table)
        stored = self.db.records.setdefault(table, [])
        checked = [json.loads(json.dumps(records.checked_row(spec, row))) for row in rows]
        out: list[int | None] = []
        for row in checked:
            if _collides(spec, row, stored):
                out.append(None)
                continue
            row["id"] = max((r["id"] for r in stored), default=0) + 1
            stored.append(row)
            out.append(row["id"])
        return out

    def records(
        self, table: str, where: Mapping[str, Any], *, since: str | None = None, limit: int = 1_000
    ) -> list[dict[str, Any]]:
        spec = records.record_table(table)
        records.where_sql(spec, where, since, "?")  # the same column checks as the SQL backends
        rows = [dict(r) for r in self.db.records.get(table, []) if _matches(r, where, since, spec)]
        return sorted(rows, key=lambda r: (r[spec.time_column], r["id"]), reverse=True)[:limit]

    def delete_records(self, table: str, where: Mapping[str, Any]) -> int:
        spec = records.record_table(table)
        if not where:
            raise InvalidInputError(f"refusing to delete every row of {table}")
        rows = self.db.records.get(table, [])
        keep = [r for r in rows if not _matches(r, where, None, spec)]
        gone = len(rows) - len(keep)
        rows[:] = keep
        if table == records.GROUPS:  # ON DELETE CASCADE
            names = {r["name"] for r in self.db.records.get(table, [])}
            members = self.db.records.get(records.GROUP_MEMBERS, [])
            members[:] = [m for m in members if m["group_name"] in names]
        return gone


def _key(memory: Memory) -> tuple[Any, ...]:
    return (memory.content_hash, memory.memory_type, memory.project, memory.repo_id)


def _vector(memory: Memory) -> Vector:
    assert memory.embedding is not None
    return memory.embedding


def _from_draft(draft: MemoryDraft, vector: Vector, model: str, now: datetime, memory_id: int) -> Memory:
    """Every field a draft shares with ``Memory`` by name, as the SQL core writes them."""
    values = {f.name: getattr(draft, f.name) for f in fields(MemoryDraft) if f.name != "type"}
    values.update(
        id=memory_id,
        memory_type=draft.memory_type,
        content_hash=draft.content_hash,
        embedding_model=model,
        embedding_dim=len(vector),
        created_at=now,
        updated_at=now,
        tags=tuple(draft.tags),
        metadata=dict(draft.metadata),
        embedding=np.array(vector, dtype=np.float32),
    )
    return Memory(**values)


def matches(memory: Memory, filters: Filters) -> bool:
    """The reference semantics of ``Filters`` that the SQL backends reproduce."""
    return filters.admits(memory)


def bm25(
    terms: Sequence[str], docs: Mapping[int, Counter[str]], k1: float = 1.2, b: float = 0.75
) -> dict[int, float]:
    """Okapi BM25 of each document containing at least one term."""
    if not docs:
        return {}
    avg_len = sum(sum(c.values()) for c in docs.values()) / len(docs)
    scores: dict[int, float] = {}
    for term in terms:
        having = [i for i, c in docs.items() if term in c]
        idf = math.log(1 + (len(docs) - len(having) + 0.5) / (len(having) + 0.5))
        for i in having:
            tf, length = docs[i][term], sum(docs[i].values())
            scores[i] = scores.get(i, 0.0) + idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avg_len))
    return scores


def _matches(
    row: Mapping[str, Any], where: Mapping[str, Any], since: str | None, table: records.RecordTable
) -> bool:
    """The reference semantics of ``where_sql`` (the fake backend uses it)."""
    for column, value in where.items():
        if isinstance(value, (list, tuple, set, frozenset)):
            if row.get(column) not in value:
                return False
        elif row.get(column) != value:
            return False
    return since is None or str(row[table.time_column]) >= since


def _collides(table: records.RecordTable, row: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> bool:
    """Whether ``row`` breaks one of the table's unique keys against ``rows`` (NULLs never collide)."""
    for key in table.unique:
        values = [row.get(c) for c in key]
        if None not in values and any([r.get(c) for c in key] == values for r in rows):
            return True
    return False
