"""The backend boundary: what a store engine must do, and nothing about embedding or validation.

``MemoryStore`` (``store.py``) validates input, embeds text and fuses results; a backend persists
rows, applies migrations and answers filtered searches. Filters are always applied *inside* a
backend's scan, never after it, so a filtered top-k returns k rows when k exist.

The interface is split by concern into small protocols; ``Backend`` is all of them. Every method
is one transaction: done entirely or not at all.

    Schema        where it lives, migrations, key/value meta
    Rows          memories: insert (deduplicated), read, change, delete, import, stats
    Search        filtered vector and text top-k; hybrid fuses them (one statement on PostgreSQL)
    Reembedding   new vectors staged, then swapped in all at once
    IngestionLog  repository ingestion: metadata scan, atomic replace, the run log
    ActivityLog   performance metrics and activity records (``records.py``)

Backends: ``sqlite`` (embedded default) and ``postgres`` (PostgreSQL + pgvector, for teams), both
on the SQL core in ``sql.py``; the tests add an in-memory fake.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, NamedTuple, Protocol, TypeVar, runtime_checkable

from mahavishnu.errors import EmbedderMismatchError
from mahavishnu.memory.core.models import Filters, Memory, MemoryDraft, MigrationState, SearchMode, Vector
from mahavishnu.memory.core.search import (
    EVIDENCE_DEPTH,
    TEXT_COMPLETION_DEPTH,
    Fusion,
    Ranked,
    held_counts,
    pair_shares,
    query_pairs,
    text_evidence,
)

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

#: Columns ``update`` may change (``content_hash`` comes with new content): a draft's fields, with
#: ``type`` under its column name.
UPDATABLE = frozenset({"memory_type", "content_hash"} | {f.name for f in fields(MemoryDraft)} - {"type"})


@dataclass(frozen=True, slots=True)
class SearchRequest:
    mode: SearchMode
    filters: Filters
    limit: int
    vector: Vector | Future[Vector] | None = None  # a future: the query is still being embedded
    text: str | None = None
    fusion: Fusion = field(default_factory=Fusion)

    def query_vector(self) -> Vector:
        """The query's vector, waiting for it if it is still being embedded."""
        return _need(None if self.vector is None else resolved(self.vector))


#: The ``meta`` key naming the embedder (its identity) whose vector space the store holds.
META_EMBEDDER = "embedder"


def foreign_vectors(location: str, recorded: str | None, model: str) -> EmbedderMismatchError | None:
    """The error for vectors of ``model`` written to a store that holds ``recorded``'s (a process
    that opened it before a ``memory reembed`` elsewhere moved it), else None: a backend refuses
    them in the transaction that would write them."""
    if not model or recorded is None or recorded == model:
        return None
    return EmbedderMismatchError(
        f"the memory store {location} now holds vectors of {recorded} (`memory reembed` moved it "
        f"since this process opened it): vectors of {model} were not written",
        hint=f"Open the store again (run the command again; restart a server that keeps it open) "
        f"so it embeds with {recorded}.",
    )


class Unstaged(NamedTuple):
    """A memory ``reembed`` has not embedded yet: what its vector is made from."""

    id: int
    content: str
    metadata: Mapping[str, Any]
    project: str | None
    memory_type: str


def resolved(vector: Vector | Future[Vector]) -> Vector:
    """A query's vector, waiting for it if it is still being embedded (``MemoryStore.query_vector``)."""
    return vector.result() if isinstance(vector, Future) else vector


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
    #: The file's project descriptions the store took (it described none of those projects) and
    #: those it did not (it describes the project otherwise, or is a team's store: its owner's
    #: ``memory describe`` says what a team's project is). ``MemoryStore.import_`` fills them.
    descriptions_adopted: int = 0
    descriptions_kept_own: int = 0


class Schema(Protocol):
    name: str

    @property
    def location(self) -> str:
        """Where the data lives (a path, or a DSN without its password)."""
        ...

    def migration_state(self) -> MigrationState: ...

    def migrate(self) -> list[str]:
        """Apply pending migrations; return their names."""
        ...

    def replaced(self) -> bool:
        """Whether what this backend opened is no longer what its settings name (an embedded store's
        file removed, or another renamed into its place): a long-lived process then opens the store
        anew. (Here never: a server's store is the same wherever it is asked.)"""
        return False

    def close(self) -> None: ...

    def get_meta(self, key: str) -> str | None: ...

    def meta_under(self, prefix: str) -> dict[str, str]:
        """Every key starting with ``prefix`` and its value, in one read."""
        ...

    def set_meta(self, values: Mapping[str, str | None]) -> None:
        """Set (or, for None, delete) several keys at once."""
        ...


class Rows(Protocol):
    def find_existing(self, drafts: Sequence[MemoryDraft]) -> dict[tuple[Any, ...], Memory]:
        """Stored memories with the same dedup key as any draft, by ``draft.dedup_key``."""
        ...

    def insert(
        self, drafts: Sequence[MemoryDraft], vectors: Vector, *, model: str, now: datetime
    ) -> list[Memory]:
        """Insert validated drafts (one transaction); a draft whose dedup key exists returns that row."""
        ...

    def insert_or_merge(
        self,
        drafts: Sequence[MemoryDraft],
        vectors: Sequence[Vector | None],
        *,
        model: str,
        now: datetime,
        merge: Callable[[Memory, MemoryDraft], Mapping[str, Any]],
    ) -> list[tuple[Memory | None, bool]]:
        """Insert the drafts that have a vector, merge the others (and any whose dedup key a
        concurrent writer stored first) into the stored row with ``merge``'s changes, in one
        transaction: (memory, whether it was already stored) per draft (see ``SqlBackend``)."""
        ...

    def get(self, ids: Sequence[int]) -> dict[int, Memory]: ...

    def contents(self, ids: Sequence[int]) -> dict[int, str]:
        """The text of these memories (unknown ids left out): what a search reads of its ~100
        candidates (the SQL backends without making each a ``Memory``)."""
        return {i: m.content for i, m in self.get(ids).items()}

    def vectors(self, ids: Sequence[int]) -> dict[int, Vector]:
        """The stored vectors of these memories (unknown ids left out)."""
        ...

    def update(
        self, memory_id: int, changes: Mapping[str, Any], vector: Vector | None, *, model: str, now: datetime
    ) -> Memory | None:
        """Change columns in ``UPDATABLE`` (and the vector if given); None if the id is unknown.

        Raises InvalidInputError when the change collides with another memory's dedup key."""
        ...

    def delete(self, ids: Sequence[int]) -> int: ...

    def delete_where(self, filters: Filters) -> int:
        """Delete every memory matching non-empty filters (forgetting a repository)."""
        ...

    def recent(self, filters: Filters, limit: int, offset: int = 0) -> list[Memory]:
        """Newest first."""
        ...

    def iter_all(self, batch_size: int = 500) -> Iterator[Memory]:
        """Every memory with its vector, by id: what export writes."""
        ...

    def import_memories(self, memories: Sequence[Memory], *, free_from: int = 1) -> ImportCounts:
        """Insert memories keeping ids, times and vectors. Duplicates are skipped; a memory whose
        id is taken by other content gets a new id, at least ``free_from`` (counted as renumbered):
        the caller passes one past the file's largest id so renumbering never collides again.
        ``moved`` tells where each memory that did not keep its id went (a skipped duplicate: the
        stored row's id), so rows pointing at memories can follow."""
        ...

    def stats(self) -> dict[str, Any]:
        """At least ``count``, ``by_type``, ``by_project``, ``oldest``, ``newest``."""
        ...


class Search(Rows, Protocol):  # hybrid search reads stored vectors
    def vector_search(self, vector: Vector, filters: Filters, k: int) -> list[Ranked]:
        """Top-k by cosine among memories matching the filters; score = cosine."""
        ...

    def text_search(self, text: str, filters: Filters, k: int) -> list[Ranked]:
        """Top-k by BM25 among memories matching the filters; score = BM25, higher is better."""
        ...

    def pair_holders(self, pairs: Sequence[tuple[str, str]]) -> list[set[int]]:
        """For each pair, the memories holding its words adjacent, by the full-text index's own
        stemming (a backend may leave out a pair too common to look for). Hybrid search runs it on
        a worker thread beside the text leg, so it must not wait for that leg to finish."""
        ...

    def cosines(self, vector: Vector, ids: Sequence[int]) -> dict[int, float]:
        """The cosine with ``vector`` of these memories' stored vectors (``stored_cosines``); the
        embedded backend reads them from its in-memory vector index instead."""
        return stored_cosines(self, vector, ids)

    #: Whether ``text_scores`` is cheaper than reading the text leg deep (the embedded store's).
    scores_text: bool = False

    def text_scores(self, text: str, ids: Sequence[int]) -> dict[int, float]:
        """The text leg's score (``text_search``'s) of those of these memories that match ``text``:
        z-score fusion's BM25 of the vector leg's candidates, where ``scores_text`` (else the search
        reads the text leg ``TEXT_COMPLETION_DEPTH`` deep instead). Hybrid search runs it on its
        worker thread beside the text leg, so it must not wait for that leg to finish. (Here, as
        a backend without it would: those among an unfiltered text leg's first
        ``TEXT_COMPLETION_DEPTH``.)"""
        wanted = set(ids)
        deep = self.text_search(text, Filters(), TEXT_COMPLETION_DEPTH)
        return {r.id: r.score for r in deep if r.id in wanted}

    def search(self, request: SearchRequest) -> list[Ranked]:
        """Runs the two legs and fuses them in Python; PostgreSQL overrides it with one statement."""
        if request.mode == "vector":
            return self.vector_search(request.query_vector(), request.filters, request.limit)
        if request.mode == "text":
            return self.text_search(_need(request.text), request.filters, request.limit)
        fusion = request.fusion
        depth = max(fusion.depth, request.limit)
        # Z-score fusion scores every candidate in both legs (search.py): the vector leg's by their
        # BM25, read from the text leg deeper or scored on their own (``scores_text``).
        scored_apart = fusion.method == "zscore" and self.scores_text
        read_deep = fusion.method == "zscore" and not scored_apart
        text_depth = max(depth, TEXT_COMPLETION_DEPTH) if read_deep else depth
        # Full text first: meanwhile the query worker embeds the query (MemoryStore.search),
        # searches the vectors (and scores their text) and looks the query's word pairs up (~5 ms
        # at 100k rows together): only their sum, not each, adds to the text leg.
        vector_leg = query_worker().submit(self._vector_leg, request, depth, scored_apart)
        word_pairs = query_pairs(_need(request.text)) if fusion.reads_pairs else []
        holders = query_worker().submit(self.pair_holders, word_pairs) if word_pairs else None
        try:
            text_hits = self.text_search(_need(request.text), request.filters, text_depth)
            if holders is not None and holders.cancel():  # not begun on the worker: looked up here
                holders = _done(self.pair_holders(word_pairs))
            return self._fused(request, text_hits, vector_leg, word_pairs, holders)
        except BaseException:  # nothing runs on after the search: wait for what has begun
            legs: list[Future[Any] | None] = [vector_leg, holders]
            wait([leg for leg in legs if leg is not None and not leg.cancel()])
            raise

    def _fused(
        self,
        request: SearchRequest,
        text_hits: list[Ranked],
        vector_leg: Future[tuple[list[Ranked], dict[int, float]]],
        word_pairs: list[tuple[str, str]],
        holders: Future[list[set[int]]] | None,
    ) -> list[Ranked]:
        """The legs fused (``Fusion.fuse``), with what z-score fusion reads besides."""
        fusion, text = request.fusion, _need(request.text)
        vector = request.query_vector()
        vector_hits, scored = vector_leg.result()
        found = {r.id for r in text_hits}
        further = [Ranked(i, s, text_score=s) for i, s in scored.items() if i not in found]
        # the text leg as if read deeper: its hits, then the vector candidates it did not return
        deep = [*text_hits, *sorted(further, key=lambda r: (-r.score, r.id))]
        cosines = pairs = held = None
        evidence = 1.0
        if fusion.method == "zscore":
            cosines = self.cosines(vector, fusion.text_only(vector_hits, text_hits, request.limit))
            wanted = [r.id for r in text_hits[:EVIDENCE_DEPTH]]
            if fusion.reads_held:  # the candidates the text leg lifts, for the query words they hold
                wanted = list(dict.fromkeys([*wanted, *fusion.lifted(vector_hits, deep, request.limit)]))
            texts = self.contents(wanted)
            evidence = text_evidence(text, [texts[r.id] for r in text_hits[:EVIDENCE_DEPTH] if r.id in texts])
            if fusion.reads_held:
                held = held_counts(text, texts)
        if holders is not None:
            candidates = fusion.candidates(vector_hits, text_hits, request.limit)
            pairs = pair_shares(word_pairs, holders.result(), candidates)
        return fusion.fuse(vector_hits, deep, request.limit, cosines, pairs, evidence, held)

    def _vector_leg(
        self, request: SearchRequest, depth: int, scored: bool
    ) -> tuple[list[Ranked], dict[int, float]]:
        """The vector leg's first ``depth`` and, when ``scored``, their text scores (read through
        another snapshot than the text leg's: a write between the two can move which query terms
        fit the posting budget, and with them these scores, for this one search)."""
        hits = self.vector_search(request.query_vector(), request.filters, depth)
        return hits, self.text_scores(_need(request.text), [r.id for r in hits]) if scored else {}


def _done(value: _T) -> Future[_T]:
    done: Future[_T] = Future()
    done.set_result(value)
    return done


@functools.cache
def query_worker() -> ThreadPoolExecutor:
    """The one thread a hybrid search runs beside its text leg: the query's embedding
    (``MemoryStore.query_vector``), its vector leg (with its candidates' text scores), then its word
    pairs, in that order (the vector leg finds the embedding done; the search looks the pairs up
    itself when they have not begun by the end of its text leg). One, not two: on two cores a third
    thread would slow the text leg down. Its tasks take a backend's locks (the vector index's and
    its connection's, the side connection's, and the main one's to save or prune the index's
    files): never wait on one of them while holding a backend's lock."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="query-worker")


if hasattr(os, "register_at_fork"):  # a forked child has none of its parent's threads: its own executor
    os.register_at_fork(after_in_child=query_worker.cache_clear)


def stored_cosines(rows: Rows, vector: Vector, ids: Sequence[int]) -> dict[int, float]:
    """The cosine with ``vector`` of these memories (stored vectors are unit, as the query's); one
    of another dimension (a row the vector leg skips too) is left out."""
    if not ids:
        return {}
    import numpy as np

    query = np.asarray(vector, dtype=np.float32)
    found = ((i, np.asarray(v, dtype=np.float32)) for i, v in rows.vectors(ids).items())
    return {i: float(np.dot(v, query)) for i, v in found if v.shape == query.shape}


class Reembedding(Protocol):
    def may_reembed(self) -> None:
        """Raise if this login may not move the store to another embedder (a team store's member):
        asked first, so the refusal comes before the new embedder is loaded or reached."""
        ...

    def reembed_lock(self) -> AbstractContextManager[None]:
        """Held for a whole reembed: a second one, in any process, is refused (``StoreError``)
        rather than staging its vectors among the first's. The lock dies with its process, so a
        killed run never blocks its resume. (Here none: a store no other process opens.)"""
        return nullcontext()

    def reembed_pending(self, limit: int) -> list[Unstaged]:
        """What a vector is made from (``models.embedding_text``) of the memories without a staged
        vector, by id: read here, since on a team store the owner reads the members' private rows
        only through the reembed's own policy."""
        ...

    def reembed_progress(self) -> tuple[int, int]:
        """(staged, total)."""
        ...

    def stage_vectors(self, ids: Sequence[int], vectors: Vector) -> None: ...

    def finish_reembed(self, model: str, dimension: int, meta: Mapping[str, str | None]) -> bool:
        """If every memory has a staged vector, swap them in, set ``meta`` and return True; all in
        one transaction. False (nothing changed) if rows are still pending."""
        ...

    def clear_staging(self) -> None: ...


class IngestionLog(Protocol):
    def scan_metadata(self, filters: Filters, keys: Sequence[str]) -> list[tuple[int, list[Any]]]:
        """(id, [metadata[key] for key in keys]) of every memory matching the filters, by id."""
        ...

    def replace(
        self,
        delete_ids: Sequence[int],
        drafts: Sequence[MemoryDraft],
        vectors: Vector,
        *,
        model: str,
        now: datetime,
    ) -> list[Memory]:
        """Delete ``delete_ids`` and insert ``drafts`` in one transaction."""
        ...

    def add_ingestion(self, values: Mapping[str, Any]) -> int:
        """Insert a ``rag_ingestions`` row (columns by name); return its id."""
        ...

    def update_ingestion(self, run_id: int, values: Mapping[str, Any]) -> None: ...

    def ingestions(self, repo_id: str | None = None, limit: int = 1_000) -> list[dict[str, Any]]:
        """``rag_ingestions`` rows (metadata parsed, times as ISO-8601 UTC text), newest first."""
        ...

    def delete_ingestions(self, repo_id: str) -> int: ...

    def ingest_lock(self, repo_id: str) -> AbstractContextManager[None] | None:
        """Held for a whole ingest of ``repo_id``, by any machine writing this store: a second run
        is refused (``StoreError``); it dies with its process. None where the store keeps no such
        lock (one machine's store: the pipeline holds a lock file on it)."""
        return None


class ActivityLog(Protocol):
    def add_metrics(self, component: str, metric_type: str, metrics: Mapping[str, Any], at: str) -> int:
        """Append one ``performance_metrics`` row (``at``: ISO-8601 UTC); its id."""
        ...

    def metrics(
        self, component: str | None, metric_type: str | None, since: str | None, limit: int
    ) -> list[dict[str, Any]]:
        """``performance_metrics`` rows, newest first: id, component, metric_type, metrics, recorded_at."""
        ...

    def add_records(self, table: str, rows: Sequence[Mapping[str, Any]]) -> list[int | None]:
        """Insert rows (columns by name) in one transaction; each one's id, or None where a row
        with the same unique key was already there."""
        ...

    def records(
        self, table: str, where: Mapping[str, Any], *, since: str | None = None, limit: int = 1_000
    ) -> list[dict[str, Any]]:
        """Rows matching ``where`` (scalar: equal; list: any of), newest first, JSON parsed and
        times as ISO-8601 UTC text."""
        ...

    def delete_records(self, table: str, where: Mapping[str, Any]) -> int: ...


class Backend(Schema, Search, Reembedding, IngestionLog, ActivityLog, Protocol):  # Search is Rows too
    """A memory engine: every concern above."""

    def scan_metadata(self, filters: Filters, keys: Sequence[str]) -> list[tuple[int, list[Any]]]:
        """The reference scan, over ``recent`` (the SQL core reads the JSON in the database)."""
        out: list[tuple[int, list[Any]]] = []
        offset = 0
        while page := self.recent(filters, 5_000, offset):
            out.extend((m.id, [m.metadata.get(k) for k in keys]) for m in page)
            offset += len(page)
        return sorted(out, key=lambda row: row[0])


@runtime_checkable  # (``given.check_store``: a store, not None or a path, passed to the API)
class Backed(Protocol):
    """Anything that reaches a backend (``MemoryStore``): what the helpers below the store take."""

    @property
    def backend(self) -> Backend: ...


def _need(value: _T | None) -> _T:
    if value is None:
        raise ValueError("search request is missing its vector or text")
    return value
