"""The backend boundary: what a store engine must do, and nothing about embedding or validation.

``MemoryStore`` (``store.py``) validates input, embeds text and fuses results; a backend persists
rows, applies migrations and answers filtered searches. Filters are always applied *inside* a
backend's scan, never after it, so a filtered top-k returns k rows when k exist.

Backends: ``sqlite`` (embedded default), ``fake`` (in memory, for tests), ``postgres``
(PostgreSQL + pgvector, for teams).
The hybrid search here runs the two legs and fuses them in Python; a backend that can do it in
one statement (PostgreSQL) overrides ``search``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import numpy as np

from mahavishnu.errors import StoreError
from mahavishnu.memory.models import Filters, Memory, MemoryDraft, MigrationState, SearchMode, Vector
from mahavishnu.memory.search import Fusion, Ranked

_T = TypeVar("_T")

#: Columns of ``rag_ingestions`` a backend reads and writes (besides ``id``).
INGESTION_COLUMNS = (
    "repo_id",
    "repo_path",
    "status",
    "files_seen",
    "files_indexed",
    "files_skipped",
    "files_removed",
    "chunks_created",
    "chunks_removed",
    "error",
    "metadata",
    "started_at",
    "finished_at",
    "duration_seconds",
)

#: Columns ``update`` may change (``content_hash`` comes with new content).
UPDATABLE = frozenset(
    {
        "content",
        "content_hash",
        "memory_type",
        "tags",
        "metadata",
        "project",
        "repo_id",
        "agent_id",
        "session_id",
        "workflow_id",
        "source_system",
    }
)


@dataclass(frozen=True, slots=True)
class SearchRequest:
    mode: SearchMode
    filters: Filters
    limit: int
    vector: Vector | None = None
    text: str | None = None
    fusion: Fusion = field(default_factory=Fusion)


@dataclass(frozen=True, slots=True)
class RecordCounts:
    """Activity rows of one table an import added, and those it skipped (already there)."""

    imported: int = 0
    skipped: int = 0


@dataclass(frozen=True, slots=True)
class ImportCounts:
    imported: int = 0
    skipped: int = 0
    renumbered: int = 0
    #: File id -> stored id of every memory that did not keep its id: renumbered, or skipped as a
    #: duplicate of a stored row with another id (any other file memory is stored under its own id).
    moved: Mapping[int, int] = field(default_factory=dict, compare=False, repr=False)
    #: Activity rows by table (``MemoryStore.import_`` fills it; a backend leaves it empty).
    records: Mapping[str, RecordCounts] = field(default_factory=dict)


class Backend(ABC):
    """A memory engine. Every method is one transaction: done entirely or not at all."""

    name: str

    # -- lifecycle and schema -------------------------------------------------------------
    @property
    @abstractmethod
    def location(self) -> str:
        """Where the data lives (a path, or a DSN without its password)."""

    @abstractmethod
    def migration_state(self) -> MigrationState: ...

    @abstractmethod
    def migrate(self) -> list[str]:
        """Apply pending migrations; return their names."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def get_meta(self, key: str) -> str | None: ...

    @abstractmethod
    def set_meta(self, values: Mapping[str, str | None]) -> None:
        """Set (or, for None, delete) several keys at once."""

    # -- rows -----------------------------------------------------------------------------
    @abstractmethod
    def find_existing(self, drafts: Sequence[MemoryDraft]) -> dict[tuple[Any, ...], Memory]:
        """Stored memories with the same dedup key as any draft, by ``draft.dedup_key``."""

    @abstractmethod
    def insert(
        self, drafts: Sequence[MemoryDraft], vectors: Vector, *, model: str, now: datetime
    ) -> list[Memory]:
        """Insert validated drafts (one transaction); a draft whose dedup key exists returns that row."""

    @abstractmethod
    def get(self, ids: Sequence[int]) -> dict[int, Memory]: ...

    @abstractmethod
    def update(
        self, memory_id: int, changes: Mapping[str, Any], vector: Vector | None, *, model: str, now: datetime
    ) -> Memory | None:
        """Change columns in ``UPDATABLE`` (and the vector if given); None if the id is unknown.

        Raises InvalidInputError when the change collides with another memory's dedup key."""

    @abstractmethod
    def delete(self, ids: Sequence[int]) -> int: ...

    @abstractmethod
    def delete_where(self, filters: Filters) -> int:
        """Delete every memory matching non-empty filters (forgetting a repository)."""

    @abstractmethod
    def recent(self, filters: Filters, limit: int, offset: int = 0) -> list[Memory]:
        """Newest first."""

    @abstractmethod
    def iter_all(self, batch_size: int = 500) -> Iterator[Memory]:
        """Every memory with its vector, by id: what export writes."""

    @abstractmethod
    def import_memories(self, memories: Sequence[Memory], *, free_from: int = 1) -> ImportCounts:
        """Insert memories keeping ids, times and vectors. Duplicates are skipped; a memory whose
        id is taken by other content gets a new id, at least ``free_from`` (counted as renumbered):
        the caller passes one past the file's largest id so renumbering never collides again.
        ``moved`` tells where each memory that did not keep its id went (a skipped duplicate: the
        stored row's id), so rows pointing at memories can follow."""

    @abstractmethod
    def stats(self) -> dict[str, Any]:
        """At least ``count``, ``by_type``, ``by_project``, ``oldest``, ``newest``."""

    # -- search ---------------------------------------------------------------------------
    @abstractmethod
    def vector_search(self, vector: Vector, filters: Filters, k: int) -> list[Ranked]:
        """Top-k by cosine among memories matching the filters; score = cosine."""

    @abstractmethod
    def text_search(self, text: str, filters: Filters, k: int) -> list[Ranked]:
        """Top-k by BM25 among memories matching the filters; score = BM25, higher is better."""

    def search(self, request: SearchRequest) -> list[Ranked]:
        if request.mode == "vector":
            return self.vector_search(_need(request.vector), request.filters, request.limit)
        if request.mode == "text":
            return self.text_search(_need(request.text), request.filters, request.limit)
        depth = max(request.fusion.depth, request.limit)
        vector_hits = self.vector_search(_need(request.vector), request.filters, depth)
        text_hits = self.text_search(_need(request.text), request.filters, depth)
        return request.fusion.fuse(vector_hits, text_hits, request.limit)

    # -- reembed: new vectors are staged, then swapped in all at once ---------------------
    @abstractmethod
    def reembed_pending(self, limit: int) -> list[tuple[int, str]]:
        """(id, content) of memories without a staged vector, by id."""

    @abstractmethod
    def reembed_progress(self) -> tuple[int, int]:
        """(staged, total)."""

    @abstractmethod
    def stage_vectors(self, ids: Sequence[int], vectors: Vector) -> None: ...

    @abstractmethod
    def finish_reembed(self, model: str, dimension: int, meta: Mapping[str, str | None]) -> bool:
        """If every memory has a staged vector, swap them in, set ``meta`` and return True; all in
        one transaction. False (nothing changed) if rows are still pending."""

    @abstractmethod
    def clear_staging(self) -> None: ...

    # -- repository ingestion (``ingest.py``) ---------------------------------------------
    # Not abstract: a backend gets working (if slower, or for ``replace`` not atomic) defaults
    # for the first two; the run log needs the ``rag_ingestions`` table, so the rest must be
    # overridden by a backend that supports ``memory ingest``.
    def scan_metadata(self, filters: Filters, keys: Sequence[str]) -> list[tuple[int, list[Any]]]:
        """(id, [metadata[key] for key in keys]) of every memory matching the filters, by id."""
        out: list[tuple[int, list[Any]]] = []
        offset = 0
        while page := self.recent(filters, 5_000, offset):
            out.extend((m.id, [m.metadata.get(k) for k in keys]) for m in page)
            offset += len(page)
        return sorted(out, key=lambda row: row[0])

    def replace(
        self,
        delete_ids: Sequence[int],
        drafts: Sequence[MemoryDraft],
        vectors: Vector,
        *,
        model: str,
        now: datetime,
    ) -> list[Memory]:
        """Delete ``delete_ids`` and insert ``drafts`` in one transaction (this default is not
        atomic: backends override it)."""
        self.delete(delete_ids)
        return self.insert(drafts, vectors, model=model, now=now) if drafts else []

    def add_ingestion(self, values: Mapping[str, Any]) -> int:
        """Insert a ``rag_ingestions`` row (columns by name); return its id."""
        raise StoreError(f"the {self.name} backend does not record ingestion runs")

    def update_ingestion(self, run_id: int, values: Mapping[str, Any]) -> None:
        raise StoreError(f"the {self.name} backend does not record ingestion runs")

    def ingestions(self, repo_id: str | None = None, limit: int = 1_000) -> list[dict[str, Any]]:
        """``rag_ingestions`` rows (metadata parsed), newest first."""
        raise StoreError(f"the {self.name} backend does not record ingestion runs")

    def delete_ingestions(self, repo_id: str) -> int:
        raise StoreError(f"the {self.name} backend does not record ingestion runs")

    # -- performance metrics ----------------------------------------------------------------
    def add_metrics(self, component: str, metric_type: str, metrics: Mapping[str, Any], at: str) -> int:
        """Append one ``performance_metrics`` row (``at``: ISO-8601 UTC); its id."""
        raise StoreError(f"the {self.name} backend does not record performance metrics")

    def metrics(
        self, component: str | None, metric_type: str | None, since: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """``performance_metrics`` rows, newest first: id, component, metric_type, metrics, recorded_at."""
        raise StoreError(f"the {self.name} backend does not record performance metrics")

    # -- activity records (``records.py``): conversations, workflows, groups, shares ---------
    def add_records(self, table: str, rows: Sequence[Mapping[str, Any]]) -> list[int | None]:
        """Insert rows (columns by name) in one transaction; each one's id, or None where a row
        with the same unique key was already there."""
        raise StoreError(f"the {self.name} backend does not keep activity records")

    def records(
        self, table: str, where: Mapping[str, Any], *, since: str | None = None, limit: int = 1_000
    ) -> list[dict[str, Any]]:
        """Rows matching ``where`` (scalar: equal; list: any of), newest first, JSON parsed and
        times as ISO-8601 UTC text."""
        raise StoreError(f"the {self.name} backend does not keep activity records")

    def delete_records(self, table: str, where: Mapping[str, Any]) -> int:
        raise StoreError(f"the {self.name} backend does not keep activity records")


def _need(value: _T | None) -> _T:
    if value is None:
        raise ValueError("search request is missing its vector or text")
    return value


def as_vectors(vectors: Vector | Sequence[Vector], dimension: int | None = None) -> Vector:
    """A contiguous float32 (n, dim) array."""
    array = np.ascontiguousarray(vectors, dtype=np.float32)
    return array.reshape(-1, dimension or array.shape[-1]) if array.size else array.reshape(0, dimension or 0)


def metrics_where(
    component: str | None, metric_type: str | None, since: str | None, mark: str
) -> tuple[str, list[str]]:
    """A WHERE clause over performance_metrics with ``mark`` as the parameter placeholder."""
    wanted = [("component =", component), ("metric_type =", metric_type), ("recorded_at >=", since)]
    given = [(test, value) for test, value in wanted if value is not None]
    clause = " AND ".join(f"{test} {mark}" for test, _ in given)
    return (f"WHERE {clause}" if clause else ""), [value for _, value in given]


def metrics_row(row_id: int, component: str, metric_type: str, metrics: Any, at: str) -> dict[str, Any]:
    return {
        "id": row_id,
        "component": component,
        "metric_type": metric_type,
        "metrics": metrics,
        "recorded_at": at,
    }
