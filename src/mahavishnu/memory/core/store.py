"""``MemoryStore``: the one way in to memory, whatever the backend.

The facade validates input, embeds text (only what is new: a duplicate returns the stored row
before any embedding), binds a store to one embedder's vector space, and turns backend answers
into ``SearchHit``s. Backends (``backends/``) only persist and search.

    with MemoryStore.open() as store:
        store.store("Use WAL mode", "decision", tags=["sqlite"], project="mahavishnu")
        hits = store.search("sqlite journal mode", filters={"project": "mahavishnu"})
"""

from __future__ import annotations

import functools
import importlib
import itertools
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple

from mahavishnu import telemetry, wording
from mahavishnu.clean_text import clean_text, printable
from mahavishnu.errors import (
    ConnectionLimitError,
    DimensionMismatchError,
    EmbedderMismatchError,
    EmbeddingError,
    InvalidInputError,
    NotFoundError,
    NotYoursError,
    QueuedOfflineError,
    ServerUnreachableError,
    StoreClosedError,
    StoreDamagedError,
    StoreError,
    from_unexpected,
    given_path,
    wrong_type,
)
from mahavishnu.memory.core import outbox, provenance, transfer
from mahavishnu.memory.core.authors import authors, on_team_store, others, require_mine
from mahavishnu.memory.core.backends.base import META_EMBEDDER as META_EMBEDDER  # (the store's embedder)
from mahavishnu.memory.core.backends.base import (
    UPDATABLE,
    Backend,
    ImportCounts,
    SearchRequest,
    query_worker,
)
from mahavishnu.memory.core.judge import Candidate, coverages, dropped, judge, model, read_closer
from mahavishnu.memory.core.kinds import asks_for_a_kind, holds_asked_kind
from mahavishnu.memory.core.models import (
    DESCRIBED_TYPES,
    INGEST_SOURCE,
    NAMED_FIELDS,
    PROJECT_ABOUT_CHARS,
    QUESTIONS,
    SCOPE_FIELDS,
    Filters,
    Memory,
    MemoryDraft,
    MigrationState,
    SearchHit,
    SearchMode,
    Vector,
    check_content,
    check_insight,
    check_label,
    check_limit,
    check_metadata,
    check_mode,
    check_name,
    check_query,
    check_tags,
    check_type,
    content_hash,
    edit_changes,
    embedding_text,
    format_time,
    parse_time,
    project_context,
    project_name,
    scrub_draft,
    scrub_memory,
    utcnow,
    with_questions,
)
from mahavishnu.memory.core.pieces import Pieces, reranked
from mahavishnu.memory.core.relevance import MEMORY_KINDS, REPOSITORY_KIND, is_chatter
from mahavishnu.memory.core.search import EVIDENCE_DEPTH, Fusion, Ranked, text_evidence
from mahavishnu.memory.core.supersede import arranged, comparable, link_new, record
from mahavishnu.paths import make_dir
from mahavishnu.redaction.scrub import scrub, scrub_tree

if TYPE_CHECKING:
    from mahavishnu.config import MemorySettings, Settings
    from mahavishnu.memory.core.embedders.base import Embedder

META_DIMENSION = "dimension"
META_REEMBED = "reembed_target"
#: ``META_ABOUT + project``: what the project is (``MemoryStore.describe_project``).
META_ABOUT = "project_about:"
#: What a memory's vector is made from: content, metadata, project, type (``models.embedding_text``).
EmbeddedFrom = tuple[str, Mapping[str, Any], str | None, str]
#: The ``Memory`` fields ``EmbeddedFrom`` reads.
_EMBEDDED_FIELDS = ("content", "metadata", "project", "memory_type")
#: Memories an export asks the authors of at once (a team member's file leaves teammates' out).
_EXPORT_BATCH = 500
#: What an ingested repository chunk takes from its file: no edit changes it.
_FROM_FILES = {"content", "memory_type", "project", "repo_id"}
#: What a memory of (project, type) is read with (``MemoryStore.project_contexts``).
Contexts = Callable[[str | None, str], str | None]
MAX_LIMIT = 1_000
#: How many times deeper a hybrid search reads its fused ranking when its first candidates hold turns,
#: which rank lower (``_ranked``): chosen on the development set's tuning half (1.5: hit@3 0.78, 3: 0.79).
TURNS_DEEPER = 3
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class Stored:
    """What ``MemoryStore.add`` did: the memory, and whether the same memory was already stored."""

    memory: Memory
    duplicate: bool


@dataclass(frozen=True, slots=True)
class Delivery:
    """What ``MemoryStore.deliver_queued`` did: memories delivered from the outbox now, how many it
    found delivered already (skipped), and how many still wait; ``busy``: another process delivers;
    ``refused``: set aside now, the store refusing them for what they hold (``outbox.RefusedError``)."""

    delivered: int
    skipped: int
    waiting: int
    busy: bool = False
    refused: int = 0


@dataclass(frozen=True, slots=True)
class Deletion:
    """What ``delete_each`` did: the ids deleted, those that name no memory the caller sees, and
    those another team member wrote (their authors), which stay."""

    deleted: tuple[int, ...]
    missing: tuple[int, ...]
    not_yours: Mapping[int, str]


@dataclass(frozen=True, slots=True)
class ReembedReport:
    embedder: str
    dimension: int
    embedded: int
    total: int
    done: bool


class MemoryStore:
    """Store, search and move memories. Open with ``MemoryStore.open()``; close (or use ``with``)."""

    def __init__(self, backend: Backend, settings: MemorySettings, embedder: Embedder | None = None) -> None:
        self._backend: Backend | None = backend  # None once closed
        self.settings = settings
        self._embedder: Embedder | None = None
        if embedder is not None:
            self._bind(embedder)

    @classmethod
    def open(
        cls,
        settings: MemorySettings | Settings | None = None,
        *,
        embedder: Embedder | None = None,
        backend: Backend | None = None,
        one_command: bool = False,
    ) -> MemoryStore:
        """Open (creating and migrating) the configured store. An explicit ``embedder`` is checked
        against the store's at once; otherwise the configured one is checked on first use.
        ``one_command``: the store serves one command and is closed after it (a CLI's): a team
        server found unreachable is not waited for again in it (``PostgresBackend``)."""
        memory = _memory_settings(settings)
        from mahavishnu.memory.core.embedders.base import Embedder

        if embedder is not None and not isinstance(embedder, Embedder):  # (a name: an AttributeError)
            raise InvalidInputError(
                f"MemoryStore.open takes an embedder, not {type(embedder).__name__}",
                hint="Make one with mahavishnu.get_embedder(settings), or leave it out: the configured one.",
            )
        return cls(backend or open_backend(memory, one_command=one_command), memory, embedder)

    @property
    def backend(self) -> Backend:
        """The backend of an open store: a closed one's is refused, for every method that reads or
        writes it (its SQLite connection raised ``ProgrammingError``, naming no store)."""
        if self._backend is None:
            raise _closed()
        return self._backend

    def close(self) -> None:
        """Close the backend (a second close does nothing)."""
        backend, self._backend = self._backend, None
        if backend is not None:
            backend.close()

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.close()

    # -- the embedder this store is bound to ----------------------------------------------
    @property
    def embedder(self) -> Embedder:
        if self._backend is None:  # bound or not: a closed store embeds nothing either
            raise _closed()
        if self._embedder is None:
            self._bind(default_embedder(self._embedder_settings()))
        assert self._embedder is not None
        return self._embedder

    def _embedder_settings(self) -> MemorySettings:
        """The settings, with the store's own model when none is configured: a store built with an
        earlier default local model keeps using it, and a store its owner moved (``memory
        reembed``; a team store's members) is used with the model it moved to, when that needs
        nothing but its name (a local model, or a hub model: ``memory.embedder: fastembed``)."""
        if self.settings.embedder != "local" or self.settings.embedder_model is not None:
            return self.settings
        from mahavishnu.memory.core.embedders.local import MODEL_NAMES

        name, _, model = (self.backend.get_meta(META_EMBEDDER) or "").partition("/")
        if not self.backend.recent(Filters(), 1):
            return self.settings
        if name == "local" and model in MODEL_NAMES.values():
            return self.settings.model_copy(update={"embedder_model": model})
        if name == "fastembed" and model and "embedder" not in self.settings.model_fields_set:
            return self.settings.model_copy(update={"embedder": "fastembed", "embedder_model": model})
        return self.settings

    def embedder_moved(self) -> bool:
        """Whether the store was moved to another embedder (``memory reembed`` in another process)
        since this one bound its own: its queries, and the vectors it holds in memory, are then of
        the old space (the daemon reopens such a store). A server that does not answer has not
        moved it, as far as anyone here can tell: a daemon asked to store while the team's server
        was down answered with the error of this question, and the memory was neither stored nor
        queued."""
        bound = self._embedder
        if bound is None:
            return False
        try:
            recorded = self.backend.get_meta(META_EMBEDDER)
        except ServerUnreachableError:  # cannot tell: the request itself queues (a store) or says so
            return False
        return recorded not in (None, bound.identity)

    def _bind(self, embedder: Embedder) -> None:
        """Accept an embedder only if it produces the store's vector space (an empty store adopts it)."""
        stored, dimension = self.backend.get_meta(META_EMBEDDER), self.backend.get_meta(META_DIMENSION)
        same = stored == embedder.identity and dimension == str(embedder.dimension)
        if not same and (stored is None or not self.backend.recent(Filters(), 1)):
            self.backend.set_meta({META_EMBEDDER: embedder.identity, META_DIMENSION: str(embedder.dimension)})
        elif not same:
            raise _mismatch(stored, int(dimension or 0), embedder)
        self._embedder = embedder

    # -- writing --------------------------------------------------------------------------
    def store(
        self,
        content: str,
        type: str = "note",
        *,
        tags: Sequence[str] = (),
        metadata: Mapping[str, Any] | None = None,
        project: str | None = None,
        repo_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        workflow_id: str | None = None,
        source_system: str | None = None,
        questions: Sequence[str] | str = (),
    ) -> Memory:
        """Store one memory; the same content, type, project and repo returns the stored row."""
        return self.add(
            content,
            type,
            tags=tags,
            metadata=metadata,
            project=project,
            repo_id=repo_id,
            agent_id=agent_id,
            session_id=session_id,
            workflow_id=workflow_id,
            source_system=source_system,
            questions=questions,
        ).memory

    def add(
        self,
        content: str,
        type: str = "note",
        *,
        tags: Sequence[str] = (),
        metadata: Mapping[str, Any] | None = None,
        project: str | None = None,
        repo_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        workflow_id: str | None = None,
        source_system: str | None = None,
        questions: Sequence[str] | str = (),
    ) -> Stored:
        """``store``, telling whether the memory was already stored (then the new record's tags and
        metadata are merged into the stored row: see ``merged_duplicate``). Its provenance is
        ``kept`` whatever ``metadata`` says (``provenance.py``): a caller cannot pass text off as
        the user's own words. ``questions``: those it answers, as someone would ask them later
        (``models.QUESTIONS``: its vector reads them after its content)."""
        metadata = with_questions(metadata, questions)
        draft = MemoryDraft(
            content,
            type,
            tags,
            _kept(type, check_metadata({} if metadata is None else metadata)),  # (a list: AttributeError)
            project,
            repo_id,
            agent_id,
            session_id,
            workflow_id,
            source_system,
        )
        return self.store_many_checked([draft])[0]

    def stored_as(
        self, content: str, memory_type: str, *, project: str | None = None, repo_id: str | None = None
    ) -> Memory | None:
        """The stored memory that ``add`` would merge this one into (the same content, scrubbed as it
        would be, type, project and repo), or None."""
        draft = MemoryDraft(content, memory_type, project=project, repo_id=repo_id)
        draft = scrub_draft(draft).checked(self.settings.max_content_chars)
        found = self.backend.find_existing([draft]).get(draft.dedup_key)
        return None if found is None else scrub_memory(found)

    def store_many(
        self, items: Iterable[MemoryDraft | Mapping[str, Any]], *, batch_size: int = 256
    ) -> list[Memory]:
        """Store many, embedding in batches; each batch is one transaction. All are validated first,
        and scrubbed of secrets (``scrub.py``) before anything is hashed, embedded or written.
        A memory stored before (or earlier in ``items``) keeps its row and gains the new tags and
        metadata (``merged_duplicate``)."""
        return [s.memory for s in self.store_many_checked(items, batch_size=batch_size)]

    def store_many_checked(
        self, items: Iterable[MemoryDraft | Mapping[str, Any]], *, batch_size: int = 256
    ) -> list[Stored]:
        """``store_many``, telling for each item whether it was already stored. A PostgreSQL store
        that does not answer gets nothing lost: what was not stored is queued in the outbox
        (``outbox.py``, scrubbed as it would have been stored) and ``QueuedOfflineError`` says so;
        memories queued earlier are delivered first once it answers again."""
        limit = self.settings.max_content_chars
        _check_batch_size(batch_size)  # (0: a ValueError from range(), "64": a TypeError)
        if not isinstance(items, Iterable) or isinstance(items, str | Mapping):  # (5: "not iterable")
            raise wrong_type("store_many", "a list of memories", items, hint='e.g. [{"content": "..."}].')
        with telemetry.measure("memory.store", backend=self.backend.name) as measured:
            drafts = [
                scrub_draft(_insight_checked(MemoryDraft.coerce(item))).checked(limit) for item in items
            ]
            out: list[Stored] = []
            try:
                self._deliver_before_storing()
                for start in range(0, len(drafts), batch_size):
                    out.extend(self._store_batch(drafts[start : start + batch_size]))
            except ServerUnreachableError as exc:
                raise self._queued(drafts[len(out) :], exc) from exc
            duplicates = sum(1 for s in out if s.duplicate)
            measured.count("stored", len(out) - duplicates)
            measured.count("duplicates", duplicates)
        return out

    # -- the outbox: what waits while the PostgreSQL server is unreachable -----------------------
    @property
    def outbox_target(self) -> str | None:
        """The name of this store in the outbox (its location), when it can queue (PostgreSQL)."""
        return self.backend.location if hasattr(self.backend, "deliver") else None

    def queued(self) -> outbox.Waiting:
        """What waits in this machine's outbox for this store."""
        target = self.outbox_target
        if target is None:
            return outbox.Waiting(0, None)
        with outbox.Outbox() as box:
            return box.waiting(target)

    def _queued(self, drafts: Sequence[MemoryDraft], cause: ServerUnreachableError) -> ServerUnreachableError:
        """Queue ``drafts`` (checked and scrubbed) for this store: the error saying they wait."""
        target = self.outbox_target
        if target is None or isinstance(cause, QueuedOfflineError):
            return cause
        with outbox.Outbox() as box:
            ids = box.put(target, "memory", [_draft_body(d) for d in drafts])
            waiting = box.waiting(target).count
        if isinstance(cause, ConnectionLimitError):  # it answered: not "unreachable", and why not now
            return QueuedOfflineError(
                f"queued: {cause.message}; {waiting} waiting, delivered once it lets you in",
                hint=cause.hint,
                client_ids=tuple(ids),
                waiting=waiting,
            )
        return QueuedOfflineError(
            f"queued: the team store {target} is unreachable; {waiting} waiting, delivered when it is back",
            hint="`mahavishnu team status` shows what waits; `mahavishnu team sync` delivers it now.",
            client_ids=tuple(ids),
            waiting=waiting,
        )

    def _deliver_before_storing(self) -> None:
        """Memories queued earlier go first, in order (a server still down: the new ones are
        queued behind them)."""
        target = self.outbox_target
        if target is None or not outbox.outbox_path().exists():
            return
        with outbox.Outbox() as box:
            pending = box.waiting(target).count
        if pending:
            self.deliver_queued()

    def deliver_queued(self, *, batch_size: int = 64) -> Delivery:
        """Deliver what waits in the outbox for this store, oldest first, a batch per transaction;
        each batch leaves the outbox only once committed. Exactly once: each memory is written with
        its client id (``memories.client_id``), and an id found delivered is skipped. One deliverer
        at a time per machine; a failure midway leaves the rest queued. A memory the store refuses
        for what it holds is set aside (``_deliver_alone``): it holds up none of the others."""
        target = self.outbox_target
        if target is None or not outbox.outbox_path().exists():
            return Delivery(0, 0, 0)
        written: list[bool | None] = []  # per item: written now, delivered before, or (None) set aside
        with outbox.Outbox() as box, box.delivering() as mine:
            if not mine:
                return Delivery(0, 0, box.waiting(target).count, busy=True)
            while items := box.items(target, "memory", batch_size):
                try:
                    done: list[bool | None] = [*self._deliver_batch(items)]
                except outbox.RefusedError:  # one of them at least: each alone tells which
                    done = [self._deliver_alone(box, item) for item in items]
                box.remove([item.client_id for item in items])
                written += done
            waiting = box.waiting(target).count
        return Delivery(written.count(True), written.count(False), waiting, refused=written.count(None))

    def _deliver_alone(self, box: outbox.Outbox, item: outbox.Item) -> bool | None:
        """Deliver ``item`` in a transaction of its own: whether it was written now, or None when the
        store refused it for what it holds, and it was set aside with the store's reason (sent again
        only when the user asks: ``team sync --retry-refused``)."""
        try:
            return self._deliver_batch([item])[0]
        except outbox.RefusedError as refused:
            box.set_aside(item, refused.message)
            return None

    def _deliver_batch(self, items: Sequence[outbox.Item]) -> list[bool]:
        drafts = [scrub_draft(MemoryDraft(**item.body)) for item in items]  # (scrubbed when queued too)
        known = self.backend.find_existing(drafts)
        fresh: dict[tuple[Any, ...], MemoryDraft] = {}
        for d in drafts:
            if d.dedup_key not in known:
                fresh.setdefault(d.dedup_key, d)
        model, by_key = "", {}
        if fresh:
            texts = self._embedding_texts([_drafted(d) for d in fresh.values()])
            vectors = self.embedder.embed_many(texts, kind="document")
            model, by_key = self.embedder.identity, dict(zip(fresh, vectors, strict=True))
        wanted = [by_key[d.dedup_key] if fresh.get(d.dedup_key) is d else None for d in drafts]
        written: list[bool] = self.backend.deliver(  # type: ignore[attr-defined]  # (outbox_target: it has)
            [item.client_id for item in items],
            drafts,
            wanted,
            model=model,
            now=utcnow(),
            merge=merged_duplicate,
        )
        for draft, was_written in zip(drafts, written, strict=True):  # a repeat's questions, as _store_batch
            if was_written and (before := known.get(draft.dedup_key)) is not None:
                self._with_questions(draft, before, self.backend.get([before.id]).get(before.id), True)
        return written

    def _store_batch(self, drafts: Sequence[MemoryDraft]) -> list[Stored]:
        """Embed the drafts not stored yet, then insert them and merge the duplicates in one
        transaction of the backend's, so a memory another process stored meanwhile is merged into
        (and reported as already stored), and concurrent merges of one memory each keep the
        others' tags (``insert_or_merge``)."""
        known = self.backend.find_existing(drafts)
        fresh: dict[tuple[Any, ...], MemoryDraft] = {}
        for d in drafts:
            if d.dedup_key not in known:
                fresh.setdefault(d.dedup_key, d)
        model = ""
        by_key: dict[tuple[Any, ...], Vector] = {}
        if fresh:
            embedder = self.embedder
            texts = self._embedding_texts([_drafted(d) for d in fresh.values()])
            vectors = embedder.embed_many(texts, kind="document")
            model = embedder.identity
            by_key = dict(zip(fresh, vectors, strict=True))
        wanted = [by_key[d.dedup_key] if fresh.get(d.dedup_key) is d else None for d in drafts]
        done = self.backend.insert_or_merge(drafts, wanted, model=model, now=utcnow(), merge=merged_duplicate)
        done = [
            self._with_questions(d, known.get(d.dedup_key), *one) for d, one in zip(drafts, done, strict=True)
        ]
        new = [(m, v) for (m, seen), v in zip(done, wanted, strict=True) if m and not seen and v is not None]
        self._link_newer(new)
        return [
            Stored(memory if memory is not None else known[d.dedup_key], duplicate)
            for d, (memory, duplicate) in zip(drafts, done, strict=True)
        ]

    def _with_questions(
        self, draft: MemoryDraft, before: Memory | None, memory: Memory | None, duplicate: bool
    ) -> tuple[Memory | None, bool]:
        """A duplicate of a memory stored without questions takes the draft's, and is embedded
        again with them: storing a note again with the question it answers (an assistant that
        writes one now, ``memory.question_writer`` set since) is how an older note gets one. A
        memory that has questions keeps them (its vector read them; ``merged_duplicate``)."""
        asked = draft.metadata.get(QUESTIONS)
        if not (duplicate and memory and before and asked) or before.metadata.get(QUESTIONS):
            return memory, duplicate
        metadata = dict(memory.metadata)
        if isinstance(filed := metadata.pop(ALSO_STORED, None), list):  # (merged_duplicate filed them)
            kept = [_without(entry, QUESTIONS, asked) for entry in filed]
            if kept := [entry for entry in kept if entry]:
                metadata[ALSO_STORED] = kept
        try:
            return self.update(memory.id, metadata={**metadata, QUESTIONS: asked}), duplicate
        except NotYoursError:  # a team member's memory: theirs to change
            return memory, duplicate

    def _link_newer(self, stored: Sequence[tuple[Memory, Vector]]) -> None:
        """Mark what each new decision supersedes or duplicates (``supersede.py``)."""
        for memory, vector in stored:
            if comparable(memory):
                link = link_new(self.backend, memory, vector)
                if link is not None:
                    record(self.backend, link, utcnow())

    def get(self, memory_id: int) -> Memory:
        found = self.backend.get([memory_id]).get(memory_id) if _valid_id(memory_id) else None
        if found is None:
            raise _no_memory(memory_id)
        return scrub_memory(found)

    def get_many(self, ids: Sequence[int]) -> dict[int, Memory]:
        """The memories of ``ids`` that exist, by id (an unknown id is simply absent)."""
        found = self.backend.get(_row_ids(ids))
        return {memory_id: scrub_memory(memory) for memory_id, memory in found.items()}

    def update(self, memory_id: int, **changes: Any) -> Memory:
        """Change content, type, tags, metadata or scope labels (None clears a label).
        New content is re-embedded; a change that duplicates another memory is refused."""
        if not _valid_id(memory_id):
            raise _no_memory(memory_id)
        checked = self._checked_changes(scrub_tree(changes))
        require_mine(self.backend, [memory_id], "edit")
        if {"content", "memory_type"} & checked.keys():  # (measured before scrubbing, as when stored)
            current = self.get(memory_id)
            kind = checked.get("memory_type", current.memory_type)
            check_insight(kind, changes.get("content", current.content))
        if _FROM_FILES & checked.keys():  # the next ingest would not put the file's text back
            self._refuse_repository_chunks([memory_id], undone="changed")
        for name, kind in NAMED_FIELDS.items():
            check_name(kind, checked.get(name))
        if checked.get("tags"):  # a tag the memory has already stays, whatever its name
            have = set(self.get(memory_id).tags)
            for tag in checked["tags"]:
                if tag not in have:
                    check_name("tag", tag, slash=True)
        vector = None
        if set(_EMBEDDED_FIELDS) & checked.keys():  # what the vector reads may have changed
            current = self.get(memory_id)
            after = replace(current, **{k: checked[k] for k in _EMBEDDED_FIELDS if k in checked})
            # new text (content, questions) is screened as when stored; a trust mark was for the old
            said = provenance.screened_text(after.content, after.metadata)
            if said != provenance.screened_text(current.content, current.metadata):
                tags = checked.get("tags", current.tags)
                if (screened := provenance.screened_tags(tags, said)) != tuple(tags):
                    checked["tags"] = screened
            if "content" in checked:
                checked["content_hash"] = content_hash(checked["content"])
            before, text = self._embedding_texts([_read(current), _read(after)])
            if text != before:
                vector = self.embedder.embed_many([text], kind="document")[0]
        model = self.embedder.identity if vector is not None else ""
        updated = self.backend.update(memory_id, checked, vector, model=model, now=utcnow())
        if updated is None:
            raise _no_memory(memory_id)
        return updated

    def edit(self, memory_id: int, wanted: Mapping[str, Any]) -> tuple[Memory, list[str]]:
        """``update`` with what ``wanted`` (``models.EDITABLE``) changes of the memory
        (``models.edit_changes``): the memory after, and the fields that changed (``questions`` for
        the metadata key); nothing is written when none did."""
        if not isinstance(wanted, Mapping):  # (None: "'NoneType' object is not iterable")
            raise wrong_type("edit", "the fields to change", wanted, hint='e.g. {"tags": ["db"]}.')
        current = self.get(memory_id)
        changes = edit_changes(current, wanted)
        memory = self.update(memory_id, **changes) if changes else current
        return memory, sorted("questions" if key == "metadata" else key for key in changes)

    def describe_project(
        self, project: str, description: str | None, *, progress: Progress | None = None
    ) -> int:
        """Say what ``project`` is (None: forget it), and embed its memories again: a decision,
        note, insight or workflow of a described project is read with ``project_context`` (see
        ``models.embedding_text``). The description is cleaned (one line, nothing a terminal would
        act on), scrubbed of secrets and cut at ``PROJECT_ABOUT_CHARS``; the number of memories
        embedded again is returned (0 when the description is the one stored), with
        ``progress(done, total)`` after each batch. On a team store only its owner describes, and
        every memory is embedded again (``reembed``: row-level security lets no other statement
        rewrite the members' private rows)."""
        project = project_name(project)
        if description is not None and not isinstance(description, str):
            raise wrong_type("describe_project", "a description (text, or None to forget it)", description)
        text = None if description is None else checked_about(description)
        if self.backend.get_meta(META_ABOUT + project) == text:
            return 0
        self.backend.set_meta({META_ABOUT + project: text})  # (a team member may not: refused)
        if on_team_store(self.backend):  # every member's rows: only the owner's reembed rewrites them
            return self.reembed(self.embedder, progress=progress).embedded
        return self._embed_project(project, progress)

    def project_description(self, project: str) -> str | None:
        """What ``project`` is, as ``describe_project`` stored it; None when it is not described."""
        return self.backend.get_meta(META_ABOUT + project_name(project))

    def _embed_project(self, project: str, progress: Progress | None, batch: int = 64) -> int:
        """Embed every memory of ``project`` whose vector reads its description again."""
        filters = Filters(types=DESCRIBED_TYPES, project=project)
        memories: list[Memory] = []
        while page := self.backend.recent(filters, MAX_LIMIT, offset=len(memories)):
            memories.extend(page)
        for start in range(0, len(memories), batch):
            part = memories[start : start + batch]
            texts = self._embedding_texts([_read(m) for m in part])
            vectors = self.embedder.embed_many(texts, kind="document")
            for memory, vector in zip(part, vectors, strict=True):  # (not an edit: its time stays)
                self.backend.update(
                    memory.id, {}, vector, model=self.embedder.identity, now=memory.updated_at
                )
            if progress is not None:
                progress(start + len(part), len(memories))
        return len(memories)

    def _embedding_texts(self, items: Sequence[EmbeddedFrom], about: Contexts | None = None) -> list[str]:
        """The text each memory is embedded from (``models.embedding_text``), its project read with
        ``about`` (``project_contexts``: read again when not given)."""
        about = about or self.project_contexts()
        return [embedding_text(c, meta, about(p, kind)) for c, meta, p, kind in items]

    def project_contexts(self) -> Contexts:
        """What a memory of (project, type) is read with (``models.project_context``), None for a
        type or a project not described; every description read at once, when first needed (one
        round trip to a PostgreSQL store, however many projects a search meets)."""
        described: dict[str, str] | None = None

        def about(project: str | None, kind: str) -> str | None:
            nonlocal described
            if project is None or kind not in DESCRIBED_TYPES:
                return None
            if described is None:
                described = project_descriptions(self.backend)
            return _context(described, project, kind)

        return about

    def _checked_changes(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        changes = {("memory_type" if k == "type" else k): v for k, v in changes.items()}
        unknown = sorted(set(changes) - (UPDATABLE - {"content_hash"}))
        if unknown:
            raise InvalidInputError(
                f"cannot update {unknown[0]!r}",
                hint=f"Updatable: content, type, tags, metadata, {', '.join(SCOPE_FIELDS)}.",
            )
        if not changes:
            raise InvalidInputError("nothing to update")
        checks: dict[str, Callable[[Any], Any]] = {
            "content": lambda v: check_content(v, self.settings.max_content_chars),
            "memory_type": check_type,
            "tags": check_tags,
            "metadata": check_metadata,
        }
        return {k: checks[k](v) if k in checks else check_label(k, v) for k, v in changes.items()}

    def quarantine(self, memory_id: int, *, release: bool = False) -> Memory:
        """Keep a memory but never recall it into a session (``provenance.py``); ``release``: recall
        it again, even if it reads like an instruction (``trust``)."""
        memory = self.get(memory_id)
        require_mine(self.backend, [memory_id], "trust" if release else "quarantine")
        return self.update(memory_id, tags=provenance.quarantine_tags(memory.tags, release=release))

    def trust(self, memory_id: int) -> Memory:
        """The user read this memory and trusts it: recall may add it although it reads like an
        instruction, and storing the same text again keeps it trusted (``provenance.py``)."""
        return self.quarantine(memory_id, release=True)

    def delete(self, memory_id: int) -> None:
        """Delete one memory; a repository chunk is refused (see ``delete_many``)."""
        if _valid_id(memory_id):
            require_mine(self.backend, [memory_id], "delete")
            self._refuse_repository_chunks([memory_id])
        if not _valid_id(memory_id) or not self.backend.delete([memory_id]):
            raise _no_memory(memory_id)

    def delete_many(self, ids: Sequence[int]) -> int:
        """Delete memories by id; how many were deleted. Repository chunks (``memory ingest``) are
        refused, and then nothing is deleted: without its chunk a file would stay out of the index,
        since the next ingest sees the file unchanged. ``forget-repo`` removes a repository."""
        valid = _row_ids(ids)
        self._refuse_repository_chunks(valid)
        return self.backend.delete(valid) if valid else 0

    def delete_each(self, ids: Sequence[int]) -> Deletion:
        """Delete the memories of ``ids`` the caller may delete; on a team store another member's
        stay (row-level security would keep them anyway) and are reported, never counted as
        deleted. Repository chunks are refused as by ``delete_many``."""
        known = self.get_many(ids)
        theirs = others(authors(self.backend, known))
        mine = [i for i in known if i not in theirs]
        count = self.delete_many(mine) if mine else 0
        kept = set(self.backend.get(mine)) if count != len(mine) else set()  # (gone or changed meanwhile)
        return Deletion(
            tuple(sorted(set(mine) - kept)),
            tuple(sorted(set(ids) - set(known))),
            dict(sorted(theirs.items())),
        )

    def _refuse_repository_chunks(self, ids: Sequence[int], undone: str = "deleted") -> None:
        valid = [i for i in ids if _valid_id(i)]
        if not valid:
            return
        chunks = sorted(
            (
                m
                for m in self.backend.get(valid).values()
                if m.memory_type == "rag" and m.source_system == INGEST_SOURCE
            ),
            key=lambda m: m.id,
        )
        if not chunks:
            return
        first = chunks[0]
        repos = sorted({m.repo_id or "?" for m in chunks})
        named = ", ".join(f"#{m.id}" for m in chunks[:5]) + (" …" if len(chunks) > 5 else "")
        where = f" ({first.metadata.get('path')})" if len(chunks) == 1 and first.metadata.get("path") else ""
        raise InvalidInputError(
            f"{named}{where} {'is a chunk' if len(chunks) == 1 else 'are chunks'} of ingested "
            f"repository {', '.join(repr(r) for r in repos)}; nothing was {undone}",
            hint=f"Remove a repository with `mahavishnu memory forget-repo {repos[0]}`; "
            "`mahavishnu memory ingest PATH` again keeps it up to date with its files.",
        )

    def delete_where(self, filters: Filters | Mapping[str, Any]) -> int:
        """Delete every memory matching (non-empty) filters, e.g. one repository's chunks."""
        return self.backend.delete_where(Filters.coerce(filters))

    # -- reading --------------------------------------------------------------------------
    def recent(
        self,
        filters: Filters | Mapping[str, Any] | None = None,
        *,
        limit: int = 50,
        offset: int = 0,
        include_shared: bool = True,
    ) -> list[Memory]:
        """Memories matching the filters, newest first. A project or group scope also takes in
        the insights shared with it, unless ``include_shared`` is false."""
        scoped = self._scoped(filters, include_shared)
        if not isinstance(offset, int) or isinstance(offset, bool):  # ("10": a TypeError from max())
            raise InvalidInputError(f"offset must be a whole number, not {offset!r}")
        return [scrub_memory(m) for m in self.backend.recent(scoped, _checked_limit(limit), max(0, offset))]

    def search(
        self,
        query: str,
        *,
        mode: str = "hybrid",
        filters: Filters | Mapping[str, Any] | None = None,
        min_score: float | None = None,
        limit: int = 10,
        fusion: Fusion | None = None,
        include_shared: bool = True,
        covered: bool = False,
        quiet: bool = False,
    ) -> list[SearchHit]:
        """Best memories for ``query``, filtered inside the search. A project or group scope also
        takes in the insights shared with it and the memories of no project (stored without
        ``--project``: they hold everywhere), unless ``include_shared`` is false: a scope narrows
        what competes, it never hides an answer the project sees. Scores: see ``SearchHit``;
        ``relevant``: the relevance judge's verdict (``judge.py``), with ``covered`` weighing how
        well each of the first hits covers the query's words (a run of the model for each: the
        prompt hook, which decides what enters a prompt, asks for it; a search marks its hits
        without). A hybrid search says nothing when nothing is close to the query; when nothing
        in its project or group scope is, it shows those of the scope's hits the search without
        the scope shows, dimmed (``_shown_without_scope``: the answer ``--project`` hid at a
        cosine of 0.12 while the search without it showed it third); ``quiet`` (the prompt hook's
        search) keeps to its scope, at a stricter bar (``judge.py``), as ``include_shared=False``
        does."""
        query = check_query(query)  # cleaned, at most QUERY_CHARS
        if min_score is not None and not (_is_number(min_score) and math.isfinite(min_score)):
            raise InvalidInputError(
                f"min_score must be a number, not {min_score!r}", hint="Scores are 0 to 1."
            )  # ("0.5": a TypeError from isfinite())
        if fusion is not None and not isinstance(fusion, Fusion):  # ("'int' object has no attribute 'depth'")
            raise wrong_type("search", "a Fusion (or None: the configured one)", fusion)
        checked_mode = check_mode(mode)
        with telemetry.measure("memory.search", mode=checked_mode) as measured:
            request = SearchRequest(
                mode=checked_mode,
                filters=self._scoped(filters, include_shared, with_global=include_shared),
                limit=_checked_limit(limit),
                vector=self.query_vector(query, checked_mode),
                text=query if mode != "vector" else None,
                fusion=fusion or self.fusion,
            )
            ranked, rows = self._ranked(request, deeper=not quiet)
            cosines: dict[int, float] = {}
            relevant: dict[int, bool] = {}
            probability: dict[int, float] = {}
            floor = self.relevance_floor
            if checked_mode == "vector":  # the vector leg alone: its cosine is all there is to judge
                ranked = [r for r in ranked if floor <= 0 or (r.vector_score or 0.0) >= floor]
            elif checked_mode == "hybrid":  # (a keyword search keeps every match, needs no embedder)
                cosines = self._cosines(ranked, request)
                pieces, about = Pieces(self.embedder), self.project_contexts()
                ranked = self._reranked(query, ranked, rows, cosines, pieces, about)
                relevant, probability, close = self._judged(
                    query, ranked, rows, cosines, pieces if covered else None, quiet, about
                )
                if floor > 0 and not close:  # nothing in scope is close: what the search without it shows
                    widen = bool(ranked) and include_shared and not quiet
                    shown = self._shown_without_scope(query, request, about) if widen else set()
                    ranked = [r for r in ranked if r.id in shown]
            ranked = ranked[: request.limit]
            hits = [
                SearchHit(
                    scrub_memory(rows[r.id]),
                    r.score,
                    r.modes,
                    "memory",
                    r.vector_score if r.vector_score is not None else cosines.get(r.id),
                    r.text_score,
                    relevant.get(r.id, checked_mode != "hybrid"),
                    probability.get(r.id),
                )
                for r in ranked
                if min_score is None or r.score >= min_score
            ]
            hits = arranged(hits, self.get_many, request.filters)[: request.limit]  # newer first
            measured.count("hits", len(hits))
        return hits

    def _shown_without_scope(self, query: str, request: SearchRequest, about: Contexts) -> set[int]:
        """The memories a scoped search's query shows without its project or group scope: the
        first ``limit`` of that search's fused ranking when anything there is close, none else.
        Of a scope holding nothing close, those are shown, dimmed, rather than nothing: a scope
        narrows what competes, it never hides what the search without it shows (a scope of
        labels alone, a repository or a session, is not widened)."""
        scope = request.filters
        if scope.project is None and scope.group is None:
            return set()
        unscoped = replace(scope, project=None, group=None, shared=False, with_global=False)
        wider = replace(request, filters=unscoped)
        ranked, rows = self._ranked(wider, deeper=True)
        cosines = self._cosines(ranked, wider)
        close = self._judged(query, ranked, rows, cosines, None, quiet=False, about=about).close
        return {r.id for r in ranked[: request.limit]} if close else set()

    def _judged(
        self,
        query: str,
        ranked: list[Ranked],
        rows: Mapping[int, Memory],
        cosines: Mapping[int, float],
        pieces: Pieces | None,
        quiet: bool,
        about: Contexts,
    ) -> _Verdicts:
        """The relevance judge's verdict on each hit (``judge.py``): those it accepts (relevant),
        its probability of each with evidence of its own (the prompt hook's operating point reads
        it) and those close enough for a search to return (``quiet``: at the prompt hook's bar).
        Captured conversation turns are judged among themselves, every other memory among the
        rest (``covered`` read only for those: the prompt hook takes a turn by its cosine). The
        judge weighs a hit against the other candidates (its margin, its z-scores) and is fitted
        on notes and decisions: judged among a project's captured turns, which a store gathers by
        the hundred, a note stood out from them as an answer does (with 300 coding turns in each
        of the development set's projects, the hook added something for 0.19 / 0.12 of the
        questions nothing stored answers, tuning / validation half, against 0.06 / 0.06 without
        the turns; ``docs/benchmarks.md``). Turns are not judged at all when no candidate holds a
        word of the query (``worded``): a turn is taken by its cosine, and a query none of whose
        words the store holds ("oauth2 PKCE code verifier") was put at 0.48 from a turn about a
        config loader."""
        verdicts = _Verdicts({}, {}, set())
        worded = any(r.text_score is not None for r in ranked)
        for turns in (False, True):
            kind = [r for r in ranked if (rows[r.id].memory_type == "agent") == turns]
            if kind and (worded or not turns):
                got = self._judged_among(query, kind, rows, cosines, None if turns else pieces, quiet, about)
                verdicts.relevant.update(got.relevant)
                verdicts.probability.update(got.probability)
                verdicts.close.update(got.close)
        return verdicts

    def _judged_among(
        self,
        query: str,
        first: list[Ranked],
        rows: Mapping[int, Memory],
        cosines: Mapping[int, float],
        pieces: Pieces | None,
        quiet: bool,
        about: Contexts,
    ) -> _Verdicts:
        """``_judged`` of hits of one kind, each weighed against the others."""
        candidates = [
            Candidate(
                r.vector_score if r.vector_score is not None else cosines.get(r.id),
                r.text_score,
                judged_text(rows[r.id], about),
            )
            for r in first
        ]
        floor = self.relevance_floor
        covered = drops = None
        # the first candidates with evidence of their own, read closer (both features; a search's
        # for the kind of answer its question asks for)
        kind_asked = not quiet and asks_for_a_kind(query)
        chosen = read_closer(query, candidates, floor) if pieces or kind_asked else []
        if pieces:
            covered = coverages(query, candidates, floor, pieces, chosen)
            if covered is not None and model(plain=False).dropped > 0:  # (the prompt hook's: judge.py)
                drops = dropped(query, candidates, floor, self.embedder, chosen)
        verdicts = judge(query, candidates, floor, covered, drops)
        # (a keyword search's hits holding every word are relevant to a search, not to the hook:
        # a prompt of one word, "continue", is no keyword search; nor is the kind of answer asked
        # for, which the hook weighs under its own setting: loop/recall._opens)
        asked = _asked_kind(query, [(n, rows[first[n].id].content) for n in chosen]) if kind_asked else set()
        relevant = {
            r.id: v.relevant or (not quiet and (v.keyword or n in asked))
            for n, (r, v) in enumerate(zip(first, verdicts, strict=True))
        }
        probability = {r.id: v.probability for r, v in zip(first, verdicts, strict=True) if v.evidence}
        close = {r.id for r, v in zip(first, verdicts, strict=True) if (v.hook_close if quiet else v.close)}
        return _Verdicts(relevant, probability, close)

    def _reranked(
        self,
        query: str,
        ranked: list[Ranked],
        rows: Mapping[int, Memory],
        cosines: Mapping[int, float],
        pieces: Pieces,
        about: Contexts,
    ) -> list[Ranked]:
        """The first ``memory.rerank_depth`` hits reordered by how the query's word pieces meet
        theirs (``pieces.reranked``), when the query is the vector leg's: none of the text leg's
        first hits holds ``memory.rerank_evidence`` of its words (``search.text_evidence``). A query
        the text leg matches well keeps the fused order: reordering by the vector leg's cosine
        there lost SciFact's nDCG@10 0.751 -> 0.711, whose claims share their words with the
        abstracts that answer them."""
        s = self.settings
        if s.rerank_depth < 2 or s.rerank_weight <= 0:
            return ranked
        by_text = sorted(
            (r for r in ranked if r.text_score is not None), key=lambda r: -(r.text_score or 0.0)
        )
        evidence = text_evidence(query, [rows[r.id].content for r in by_text[:EVIDENCE_DEPTH]])
        if evidence >= s.rerank_evidence:
            return ranked
        texts = {r.id: judged_text(rows[r.id], about) for r in ranked[: s.rerank_depth]}
        return reranked(query, ranked, texts, cosines, pieces, s.rerank_depth, s.rerank_weight)

    def _cosines(self, ranked: list[Ranked], request: SearchRequest) -> dict[int, float]:
        """The cosine with the query of the hits the vector leg did not rank (found by text alone
        beyond its depth), for the relevance floor."""
        missing = [r.id for r in ranked if r.vector_score is None]
        if not missing or request.vector is None:
            return {}
        return self.backend.cosines(request.query_vector(), missing)

    def query_vector(self, query: str, mode: SearchMode) -> Vector | Future[Vector] | None:
        """In hybrid mode a future: the query is embedded on a worker thread while the backend runs
        the full-text leg (onnxruntime and SQLite both let go of the GIL), which takes the
        embedding off a hybrid search's latency (benchmarks/memory_ops.py)."""
        if mode == "text":
            return None
        embedder = self.embedder  # bound here: binding reads the store
        if mode == "vector":
            return embedder.embed(query, kind="query")
        return query_worker().submit(embedder.embed, query, kind="query")

    def _ranked(self, request: SearchRequest, deeper: bool = False) -> tuple[list[Ranked], dict[int, Memory]]:
        """The backend's answer (at least ``limit`` when it has them, maybe more: the caller
        cuts it after the floor) and its rows, chatter left out (``relevance.is_chatter``). Without
        a type filter, repository chunks are left out too (``relevance.py``): the unfiltered search
        (the fastest path) is asked for a few more, and only when chunks crowd out the memories
        does it run again filtered by type; chatter crowding them out asks for more, once. A hybrid
        search ranks captured turns lower (``_turns_lowered``), and ``deeper`` (a search, not the
        prompt hook's) reads ``TURNS_DEEPER`` times as far when its first candidates hold turns."""
        typed = bool(request.filters.types)
        wide = replace(request, limit=min(MAX_LIMIT, request.limit * 2 + 10))
        if typed:  # no deeper than the fusion's depth: the candidates, and so the ranking, stay the same
            wide = replace(wide, limit=min(wide.limit, max(request.fusion.depth, request.limit)))
        penalty = self.settings.hybrid_turn_penalty if request.mode == "hybrid" else 0.0
        asked = (
            replace(wide, limit=min(MAX_LIMIT, wide.limit * TURNS_DEEPER))
            if penalty and deeper and not typed
            else wide
        )
        ranked = self.backend.search(asked)
        head = ranked[: wide.limit]
        rows = self.backend.get([r.id for r in head])
        if len(ranked) > len(head) and any(rows[r.id].memory_type == "agent" for r in head if r.id in rows):
            # turns rank lower: a note they pushed past the first candidates can come back before
            # them (read only then; as many are judged as without: the judge compares them). Not
            # for the prompt hook: the notes it then judged opened it for more prompts nothing
            # stored answers (coding sessions: 0.786 -> 0.679 of them given nothing)
            rows.update(self.backend.get([r.id for r in ranked[len(head) :]]))
            head = ranked
        kept = [r for r in head if r.id in rows and _searchable(rows[r.id], typed)]
        if penalty > 0:
            kept = _turns_lowered(kept, rows, penalty)[: wide.limit]
        if len(kept) >= request.limit or len(head) == len(ranked) < asked.limit:  # (all there is)
            return kept, rows
        if not typed:
            return self._ranked(
                replace(request, filters=replace(request.filters, types=MEMORY_KINDS)), deeper
            )
        if request.limit < MAX_LIMIT // 4:
            return self._ranked(replace(request, limit=MAX_LIMIT // 4), deeper)
        return kept, rows

    def _scoped(
        self, filters: Filters | Mapping[str, Any] | None, include_shared: bool, *, with_global: bool = False
    ) -> Filters:
        scoped = Filters.coerce(filters)
        if scoped.group is not None:
            from mahavishnu.memory.core.sharing import get_group

            get_group(self, scoped.group)  # an unknown group is a mistake, not an empty result
        if include_shared and (scoped.project is not None or scoped.group is not None):
            return replace(scoped, shared=True, with_global=scoped.with_global or with_global)
        return scoped

    @property
    def relevance_floor(self) -> float:
        """The cosine under which a hit found by the vector leg alone is not returned."""
        if self.settings.relevance_floor is not None:
            return self.settings.relevance_floor
        return self.embedder.relevance_floor

    @property
    def fusion(self) -> Fusion:
        return settings_fusion(self.settings)

    def stats(self) -> dict[str, Any]:
        stats = self.backend.stats()
        target = self.backend.get_meta(META_REEMBED)
        stats.update(
            backend=self.backend.name,
            location=self.backend.location,
            embedder=self.backend.get_meta(META_EMBEDDER),
            dimension=int(self.backend.get_meta(META_DIMENSION) or 0) or None,
            reembed_in_progress=target,
        )
        return stats

    def migration_state(self) -> MigrationState:
        return self.backend.migration_state()

    # -- performance metrics --------------------------------------------------------------
    def store_performance_metrics(self, component: str, metric_type: str, metrics: Mapping[str, Any]) -> int:
        """Record one measurement (probe latency, health, …) in ``performance_metrics``; its id."""
        label = check_label("component", component)
        kind = check_label("metric_type", metric_type)
        if not label or not kind:
            raise InvalidInputError("a performance metric needs a component and a metric_type")
        if not isinstance(metrics, Mapping):
            raise InvalidInputError(f"metrics must be a JSON object, got {type(metrics).__name__}")
        return self.backend.add_metrics(label, kind, check_metadata(metrics), format_time(utcnow()))

    def performance_metrics(
        self,
        *,
        component: str | None = None,
        metric_type: str | None = None,
        since: datetime | str | None = None,
        limit: int = 1_000,
    ) -> list[dict[str, Any]]:
        """Recorded measurements, newest first, optionally of one component/type and since a time."""
        for name, value in (("component", component), ("metric_type", metric_type)):
            if value is not None and not isinstance(value, str):  # (sqlite3: "Error binding parameter")
                raise wrong_type("performance_metrics", f"text or None as {name}", value)
        after = format_time(parse_time(since)) if since is not None else None
        return self.backend.metrics(component, metric_type, after, _checked_limit(limit))

    # -- moving data ----------------------------------------------------------------------
    def export(self, path: Path | str) -> transfer.ExportCounts:
        """Write every memory (ids, times, vectors), then every activity row (conversations,
        workflow runs, project groups and members, insight shares, performance metrics, ingestion
        runs) as JSONL; returns the counts. On a team store, a member's file leaves out the
        memories teammates shared with them, and the rows pointing at those (``theirs`` counts
        them): a file has no author, and a store importing it would make the importer theirs."""
        target = _export_target(Path(given_path("export", path)), self.backend.location)
        header = transfer.Header(self.backend.get_meta(META_EMBEDDER), self.backend.get_meta(META_DIMENSION))
        theirs: set[int] = set()
        counts = transfer.write(
            target,
            header,
            self._own_memories(theirs),
            (r for r in transfer.dump_records(self.backend) if r[1].get("memory_id") not in theirs),
            project_descriptions(self.backend),
        )
        return replace(counts, theirs=len(theirs))

    def _own_memories(self, theirs: set[int]) -> Iterator[Memory]:
        """Every memory the caller wrote (on a team store; every memory elsewhere), adding the ids of
        those another member wrote to ``theirs`` (the records after them read it once it is whole)."""
        memories = self.backend.iter_all()
        while batch := list(itertools.islice(memories, _EXPORT_BATCH)):
            others_wrote = others(authors(self.backend, [m.id for m in batch]))
            theirs.update(others_wrote)
            yield from (m for m in batch if m.id not in others_wrote)

    def import_(self, path: Path | str, *, keep_trust: bool = False) -> ImportCounts:
        """Read an export exactly (ids, times, vectors), then its activity rows with their
        ``memory_id`` following the memories (renumbered, or the stored duplicate). The whole file
        is checked before anything is written; the vectors must come from this store's embedder (an
        empty store adopts it). What is already stored is skipped: importing twice adds nothing.
        A memory that reads like an instruction to an agent is quarantined, a trust mark the file
        gives it is dropped and text it calls the user's own words is ``kept`` (anyone can write
        a file), unless ``keep_trust`` (a file this store wrote itself: the dashboard's undo).
        Each memory's ``content_hash`` is worked out from its (scrubbed) content, never taken from
        the file: a forged one would skip new text as a stored memory's duplicate, or stay on the
        row. The file's project descriptions are taken for the projects this store does not
        describe (not on a team's store: its owner describes); a memory whose vector was made
        with another description of its project than the one this store reads it with is embedded
        again."""
        contents = transfer.read(Path(given_path("import_", path)))
        header = contents.header
        stored = self.backend.get_meta(META_EMBEDDER)
        if header.embedder is not None and header.embedder != stored:
            if stored is not None and self.backend.recent(Filters(), 1):
                raise EmbedderMismatchError(
                    f"the file holds vectors from {header.embedder}, this store uses {stored}",
                    hint="Import into an empty store, then `mahavishnu memory reembed --embedder NAME`.",
                )
            self._adopt_embedder(contents)
        elif header.embedder is not None and header.dimension is not None:
            dimension = self.backend.get_meta(META_DIMENSION)
            if dimension is not None and dimension != header.dimension:
                raise EmbedderMismatchError(
                    f"the file holds {header.dimension}-dim vectors from {header.embedder}, "
                    f"this store holds {dimension}-dim vectors from it"
                )
        adopted, kept_own = self._adopt_descriptions(contents.descriptions)
        imported = skipped = renumbered = 0
        moved: dict[int, int] = {}
        for batch in contents.memory_batches():
            if not keep_trust:
                batch = [_screened(memory) for memory in batch]
            batch = [_hashed(memory) for memory in self._scrubbed(batch, contents.descriptions)]
            got = self.backend.import_memories(batch, free_from=header.max_id + 1)
            imported, skipped, renumbered = (
                imported + got.imported,
                skipped + got.skipped,
                renumbered + got.renumbered,
            )
            moved.update(got.moved)
        records = transfer.load_records(
            self.backend, (replace(r, row=scrub_tree(r.row)) for r in contents.records()), moved
        )
        return ImportCounts(
            imported,
            skipped,
            renumbered,
            records=records,
            descriptions_adopted=adopted,
            descriptions_kept_own=kept_own,
        )

    def _adopt_embedder(self, contents: transfer.Contents) -> None:
        """An empty store takes the embedder of the file's vectors; refused, before anything is
        written, when a memory of the file must be embedded again (a secret scrubbed from it, its
        project described otherwise) and this store embeds with another model: its vector would
        come from that model among the file's."""
        header = contents.header
        ours = self._embedder or default_embedder(self.settings)
        if ours.identity != header.embedder:  # (an identity names the model: its dimension may need a probe)
            have = project_descriptions(self.backend)
            taken = self._new_descriptions(_cleaned(contents.descriptions), have)
            after = functools.partial(_context, {**taken, **have})
            again = sum(
                len(self._embedded_again(batch, contents.descriptions, after)[1])
                for batch in contents.memory_batches()
            )
            if again:
                raise EmbedderMismatchError(
                    f"{wording.count(again, 'memory', 'memories')} of the file must be embedded again (a "
                    f"secret scrubbed, or its project described otherwise), and its vectors come from "
                    f"{header.embedder} where this store embeds with {ours.identity}",
                    hint=f"Configure the file's embedder for the import ({_settings_of(header.embedder)}), "
                    f"or import it into a store of {ours.identity} after `mahavishnu memory reembed` where "
                    "it was exported.",
                )
        self.backend.set_meta({META_EMBEDDER: header.embedder, META_DIMENSION: header.dimension})
        self._embedder = ours if ours.identity == header.embedder else None

    def _new_descriptions(self, cleaned: Mapping[str, str], have: Mapping[str, str]) -> dict[str, str]:
        """Of a file's descriptions (``_cleaned``), those of projects the store does not describe
        (``have``) that it takes: none on a team's store, whose owner describes."""
        if on_team_store(self.backend):
            return {}
        return {p: t for p, t in cleaned.items() if t and p not in have}

    def _adopt_descriptions(self, descriptions: Mapping[str, str]) -> tuple[int, int]:
        """Describe the projects of a file's ``descriptions`` this store does not describe (none on
        a team's store); how many it took, and how many it describes otherwise (or leaves to the
        team's owner)."""
        have = project_descriptions(self.backend)
        cleaned = _cleaned(descriptions)
        new = self._new_descriptions(cleaned, have)
        if new:
            self.backend.set_meta({META_ABOUT + p: t for p, t in new.items()})
        return len(new), sum(bool(t) and p not in new and have.get(p) != t for p, t in cleaned.items())

    def _scrubbed(self, batch: list[Memory], made_with: Mapping[str, str]) -> list[Memory]:
        """An imported batch with secrets scrubbed; a changed memory is embedded again (its vector
        in the file was made from the secret), and so is one this store reads with another project
        description than its vector was made with (``made_with``: the file's, as written)."""
        about = self.project_contexts()
        scrubbed, changed = self._embedded_again(batch, made_with, about)
        if changed:
            texts = self._embedding_texts([_read(scrubbed[i]) for i in changed], about)
            vectors = self.embedder.embed_many(texts, kind="document")
            for i, vector in zip(changed, vectors, strict=True):
                scrubbed[i] = scrubbed[i].with_embedding(vector)
        return scrubbed

    @staticmethod
    def _embedded_again(
        batch: list[Memory], made_with: Mapping[str, str], about: Contexts
    ) -> tuple[list[Memory], list[int]]:
        """A batch scrubbed, and which of it must be embedded again: a secret scrubbed from it, or
        read with another project description (``about``, as ``project_contexts``) than its vector
        was made with (``made_with``: the file's descriptions)."""
        scrubbed = [scrub_memory(m) for m in batch]
        changed = [
            i
            for i, (old, new) in enumerate(zip(batch, scrubbed, strict=True))
            if old is not new
            or _context(made_with, new.project, new.memory_type) != about(new.project, new.memory_type)
        ]
        return scrubbed, changed

    def reembed(
        self, embedder: Embedder, *, batch_size: int = 64, progress: Progress | None = None
    ) -> ReembedReport:
        """Move the store to ``embedder``'s vector space in place. New vectors are staged batch by
        batch (each batch committed, so a killed run resumes where it stopped) and swapped in with
        one transaction at the end; until then searches keep using the old, complete space."""
        from mahavishnu.memory.core.embedders.base import Embedder

        if not isinstance(embedder, Embedder):
            raise wrong_type(
                "reembed", "an embedder", embedder, hint="Make one with mahavishnu.get_embedder(settings)."
            )
        _check_batch_size(batch_size)
        self.backend.may_reembed()
        with self.backend.reembed_lock():  # one at a time: else each stages into the other's batch
            return self._reembed(embedder, batch_size, progress)

    def _reembed(self, embedder: Embedder, batch_size: int, progress: Progress | None) -> ReembedReport:
        target = f"{embedder.identity}:{embedder.dimension}"
        if self.backend.get_meta(META_REEMBED) != target:
            # reached before the store is marked as moving: an embedder that cannot be reached
            # (a wrong --url) leaves no unfinished move behind for doctor to report
            embedder.embed_many(["mahavishnu"], kind="document")
            self.backend.clear_staging()
            self.backend.set_meta({META_REEMBED: target})
        embedded = 0
        while True:
            pending = self.backend.reembed_pending(batch_size)
            if not pending:
                meta = {
                    META_EMBEDDER: embedder.identity,
                    META_DIMENSION: str(embedder.dimension),
                    META_REEMBED: None,
                }
                if self.backend.finish_reembed(embedder.identity, embedder.dimension, meta):
                    break
                continue
            texts = self._embedding_texts(
                [(u.content, u.metadata, u.project, u.memory_type) for u in pending]
            )
            vectors = embedder.embed_many(texts, kind="document")
            self.backend.stage_vectors([u.id for u in pending], vectors)
            embedded += len(pending)
            if progress is not None:
                progress(*self.backend.reembed_progress())
        self._embedder = embedder
        total = self.backend.reembed_progress()[1]
        return ReembedReport(embedder.identity, embedder.dimension, embedded, total, True)


def _kept(memory_type: str, metadata: Mapping[str, Any]) -> dict[str, Any]:
    """``metadata`` recording the provenance ``kept`` (a caller's own ``provenance`` dropped)."""
    kept = {key: value for key, value in metadata.items() if key != provenance.KEY}
    if provenance.provenance_of(memory_type, kept) != "kept":
        kept[provenance.KEY] = "kept"
    return kept


def _screened(memory: Memory) -> Memory:
    """An imported memory as a file anyone can write leaves it: quarantined (and not trusted) if it
    reads like an instruction, and ``kept`` where the file says the text is the user's own words
    (recall labels those the user's: only the capture of the user's turn may say so)."""
    said = provenance.screened_text(memory.content, memory.metadata)
    tags = provenance.screened_tags(provenance.untrusted(memory.tags), said)
    metadata = memory.metadata
    if provenance.provenance_of(memory.memory_type, metadata) == "user":
        metadata = {**metadata, provenance.KEY: "kept"}
    if tags == memory.tags and metadata is memory.metadata:
        return memory
    return replace(memory, tags=tags, metadata=metadata)


def _hashed(memory: Memory) -> Memory:
    """``memory`` with the hash of its own content (the dedup key), whatever the file said."""
    digest = content_hash(memory.content)
    return memory if digest == memory.content_hash else replace(memory, content_hash=digest)


def _draft_body(draft: MemoryDraft) -> dict[str, Any]:
    """A checked, scrubbed draft as the outbox keeps it (``MemoryDraft(**body)`` again)."""
    return {
        "content": draft.content,
        "type": draft.type,
        "tags": list(draft.tags),
        "metadata": dict(draft.metadata),
        **{name: getattr(draft, name) for name in SCOPE_FIELDS},
    }


def _export_target(path: Path, store: str) -> Path:
    """Where ``export`` writes ``path``: a file, replaced when it exists (as ``open(path, "w")``),
    but never the store's own file or its journals (the JSONL took the database's place: every
    memory lost), a folder, or what is no regular file (a device such as /dev/null, which the
    export's rename replaced). ``memory export`` checks more (``cli/target_file.py``)."""
    real, own = path.resolve(), Path(store).resolve()
    if real in {own, *(own.with_name(own.name + end) for end in ("-wal", "-shm", "-journal"))}:
        raise InvalidInputError(
            f"{path} is the memory store's own file: nothing was written",
            hint="Name another file, e.g. memories.jsonl.",
        )
    if real.is_dir():
        raise InvalidInputError(
            f"{path} is a folder", hint=f"Name a file to write inside it, e.g. {path / 'export.jsonl'}."
        )
    if real.exists() and not real.is_file():
        raise InvalidInputError(f"{path} is not a regular file", hint="Name a file to write.")
    return real


def _closed() -> StoreClosedError:
    return StoreClosedError("the memory store is closed")


def _no_memory(memory_id: object) -> NotFoundError | InvalidInputError:
    """The error of an id that names no memory (or none of this member's), with where ids are; of
    one that is no whole number, that it is not (``"1"`` read "no memory #1" where #1 was stored)."""
    if not isinstance(memory_id, int) or isinstance(memory_id, bool):
        return InvalidInputError(
            f"a memory id is a whole number, not {memory_id!r}", hint="Pass the id as an int: get(1)."
        )
    return NotFoundError(f"no memory #{memory_id}", hint="Find ids with `mahavishnu memory search`.")


def _valid_id(memory_id: int) -> bool:
    """Whether ``memory_id`` can name a row at all (SQLite and PostgreSQL ids are 64-bit); an id
    that is no whole number ("1", 1.5, True: a caller's slip the types did not catch) names none."""
    return isinstance(memory_id, int) and not isinstance(memory_id, bool) and 0 < memory_id < 2**63


def _row_ids(ids: Sequence[int]) -> list[int]:
    """The ``ids`` that can name a row (an id past 64 bits names none: absent). One that is no whole
    number is refused, as ``get`` refuses it: ``get_many(["1"])`` answered {} and ``delete_many``
    deleted nothing where #1 was stored, and a string of digits was read digit by digit."""
    if isinstance(ids, str | bytes) or not isinstance(ids, Iterable):
        raise InvalidInputError(f"memory ids are a list of whole numbers, not {ids!r}", hint="e.g. [1, 2].")
    ids = list(ids)
    for memory_id in ids:
        if not isinstance(memory_id, int) or isinstance(memory_id, bool):
            raise _no_memory(memory_id)
    return [i for i in ids if _valid_id(i)]


def _check_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise InvalidInputError(f"batch_size must be a whole number of 1 or more, not {batch_size!r}")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _without(entry: object, key: str, value: object) -> object:
    """``entry`` without ``key`` when it holds ``value`` there (an ``also_stored`` record)."""
    if isinstance(entry, dict) and entry.get(key) == value:
        return {k: v for k, v in entry.items() if k != key}
    return entry


#: Where a duplicate's differing metadata goes (``merged_duplicate``).
ALSO_STORED = "also_stored"


def merged_duplicate(memory: Memory, draft: MemoryDraft) -> dict[str, Any]:
    """The changes that keep a duplicate draft's record in the stored ``memory``: its tags join the
    stored ones, its metadata keys the stored row lacks are added, and whatever differs from the
    stored row (metadata values, agent, session, workflow, source) is appended to
    ``metadata["also_stored"]``. Empty when the draft adds nothing."""
    new_tags = draft.tags
    if provenance.TRUSTED in memory.tags:  # the user trusted this text: storing it again keeps that
        new_tags = tuple(tag for tag in new_tags if tag != provenance.QUARANTINED)
    tags = tuple(dict.fromkeys([*memory.tags, *new_tags]))
    metadata = dict(memory.metadata)
    differing: dict[str, Any] = {}
    for key, value in draft.metadata.items():
        if key not in metadata and key != QUESTIONS:  # (the vector read the stored row's questions)
            metadata[key] = value
        elif metadata.get(key) != value and key != ALSO_STORED:
            differing[key] = value
    for name in ("agent_id", "session_id", "workflow_id", "source_system"):
        value = getattr(draft, name)
        if value is not None and value != getattr(memory, name):
            differing[name] = value
    earlier = metadata.get(ALSO_STORED)
    earlier = earlier if isinstance(earlier, list) else []
    if differing and differing not in earlier:  # the same record again (a delivery retried) adds nothing
        metadata[ALSO_STORED] = [*earlier, differing]
    changes: dict[str, Any] = {}
    if tags != tuple(memory.tags):
        changes["tags"] = tags
    if metadata != dict(memory.metadata):
        changes["metadata"] = metadata
    return changes


def _asked_kind(query: str, closer: Sequence[tuple[int, str]]) -> set[int]:
    """Which of the first hits with evidence of their own (``closer``: place and text) hold the
    kind of answer the query asks for (``kinds.py``: "who owns the deploy tool?" of "Nadia Haddad
    maintains skiff"): a search marks them relevant, as the prompt hook adds them, however low the
    judge weighs them."""
    return {n for n, text in closer if holds_asked_kind(query, text)}


class _Verdicts(NamedTuple):
    """The relevance judge's verdicts on a search's hits (``MemoryStore._judged``): those it accepts,
    its probability of each with evidence of its own, and those close enough to return."""

    relevant: dict[int, bool]
    probability: dict[int, float]
    close: set[int]


def _turns_lowered(ranked: list[Ranked], rows: Mapping[int, Memory], penalty: float) -> list[Ranked]:
    """``ranked`` reordered as if each captured conversation turn's fused score were ``penalty``
    lower, each hit taking the score of the place it takes (as ``Fusion.fuse`` places a hit it
    keeps: scores stay in order, and a list of one kind keeps its order and its scores). A project's
    sessions leave its turns by the hundred, and one that talked about a topic ("Can you add tests
    for the rate limiter?") came before the note holding the fact asked about (with 300 coding turns
    in each of the development set's projects, an answer was in the first three for 0.88 of the
    validation half's questions with ``--project``, 0.93 without the turns, and is for 0.92 with
    them 0.2 lower; without ``--project``, the search reading three times as deep, 0.82 -> 0.86; on
    the coding sessions, whose notes and turns share projects, recall@10 0.882 -> 0.918:
    ``docs/benchmarks.md``)."""
    if penalty <= 0:
        return ranked
    turns = {r.id for r in ranked if rows[r.id].memory_type == "agent"}
    order = sorted(ranked, key=lambda r: -(r.score - penalty if r.id in turns else r.score))  # (stable)
    placed = sorted((r.score for r in ranked), reverse=True)
    return [replace(r, score=placed[n]) for n, r in enumerate(order)]


def _searchable(memory: Memory, typed: bool) -> bool:
    """Whether a search returns ``memory``: never chatter, a repository chunk only when asked by
    type (``relevance.py``)."""
    if not typed and memory.memory_type == REPOSITORY_KIND:
        return False
    return not is_chatter(memory.memory_type, memory.content)


def _insight_checked(draft: MemoryDraft) -> MemoryDraft:
    check_insight(draft.type, draft.content)
    return draft


def _checked_limit(limit: int) -> int:
    return check_limit(limit, MAX_LIMIT)


def _mismatch(stored: str | None, dimension: int, embedder: Embedder) -> EmbeddingError:
    hint = _mismatch_hint(stored, embedder)
    if dimension != embedder.dimension:
        return DimensionMismatchError(
            f"this store holds {dimension}-dim vectors from {stored}; {embedder.identity} makes "
            f"{embedder.dimension}-dim vectors",
            hint=hint,
        )
    return EmbedderMismatchError(
        f"this store's vectors come from {stored}, not {embedder.identity}", hint=hint
    )


def _mismatch_hint(stored: str | None, embedder: Embedder) -> str:
    """Which setting to put back (the embedder, or only its model), or the reembed to run."""
    name, _, model = (stored or "").partition("/")
    runtime = getattr(embedder, "runtime", None)  # the local embedder's models are set by runtime
    if name and name != embedder.name:
        back = f"memory.embedder back to {name}"
    elif runtime:
        from mahavishnu.memory.core.embedders.local import MODEL_NAMES

        setting = next((r for r, m in MODEL_NAMES.items() if m == model), model)
        back = f"memory.embedder_model back to {setting}"
    else:
        back = f"memory.embedder_model back to {model}"
    target = f"--embedder {embedder.name} --model {runtime or embedder.model}"
    return (
        f"Set {back} (the store's vectors come from {stored}), or move the store to the new one with "
        f"`mahavishnu memory reembed {target}`."
    )


def _memory_settings(settings: MemorySettings | Settings | None) -> MemorySettings:
    from mahavishnu.config import MemorySettings, Settings, load_settings

    if settings is None:
        return load_settings().memory
    if isinstance(settings, Settings):
        return settings.memory
    if not isinstance(settings, MemorySettings):  # (a path: "'str' object has no attribute 'backend'")
        raise InvalidInputError(
            f"MemoryStore.open takes settings, not {type(settings).__name__}",
            hint="Open a store file with MemoryStore.open(MemorySettings(path=...)) (mahavishnu.config).",
        )
    return settings


def _settings_of(identity: str | None) -> str:
    """The settings that select the embedder ``identity`` names (``local/onnx-int8``)."""
    name, _, model = (identity or "").partition("/")
    return f"memory.embedder: {name}" + (f", memory.embedder_model: {model}" if model else "")


def default_store_path() -> Path:
    from mahavishnu.paths import data_dir

    return data_dir() / "memory.db"


def superseded(store: MemoryStore) -> bool:
    """Whether a store a long-lived process keeps open (the daemon's, the MCP server's, the
    dashboard's) is no longer the one its settings name, so it must be opened anew: moved to
    another embedder by a reembed elsewhere (its queries and the vectors it holds are of the old
    space), or its file replaced (a copy moved in by hand or by a file sync: what it reads and
    writes is a file no one else sees any more)."""
    return store.backend.replaced() or store.embedder_moved()


def open_backend(settings: MemorySettings, *, migrate: bool = True, one_command: bool = False) -> Backend:
    """The configured backend, migrated unless told otherwise (``db status`` looks first).
    A backend module ``backends/<name>.py`` other than sqlite exposes
    ``open_backend(settings, *, migrate, one_command) -> Backend`` (``MemoryStore.open``)."""
    if settings.backend == "sqlite":
        from mahavishnu.memory.core.backends.sqlite import SqliteBackend

        path = settings.path or default_store_path()
        _private_dir(path.parent)
        try:
            sqlite = SqliteBackend(
                path,
                ann_threshold=settings.ann_threshold,
                posting_budget=settings.text_posting_budget,
                migrate=migrate,
            )
        except StoreError as exc:  # a corrupt file says so, with what to do about it
            damaged = from_unexpected(exc.__cause__) if exc.__cause__ is not None else None
            if isinstance(damaged, StoreDamagedError):
                raise StoreDamagedError(f"the memory store {path} is damaged ({exc.__cause__})") from exc
            raise
        _private_files(path)
        return sqlite
    try:
        module = importlib.import_module(f"mahavishnu.memory.core.backends.{settings.backend}")
    except ImportError as exc:
        raise StoreError(f"the {settings.backend} backend is not available: {exc}") from exc
    backend: Backend = module.open_backend(settings, migrate=migrate, one_command=one_command)
    return backend


def _private_dir(directory: Path) -> None:
    """Create the store's directory 0700 wherever it is (it holds everything remembered; an existing
    one is the user's choice and is left as it is)."""
    with suppress(OSError):  # an unusable directory is reported by the open that follows
        make_dir(directory)


def _private_files(path: Path) -> None:
    """The store file and its WAL side files readable by their owner only (0600): group and
    other bits are dropped, the owner's are kept (a store the user made read-only stays so)."""
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with suppress(OSError):
            if (mode := file.stat().st_mode & 0o777) & 0o077:
                file.chmod(mode & 0o700)


def default_embedder(settings: MemorySettings) -> Embedder:
    """The configured embedder (``memory.embedder``)."""
    from mahavishnu.memory.core.embedders import get_embedder

    embedder: Embedder = get_embedder(settings)
    return embedder


def settings_fusion(s: MemorySettings) -> Fusion:
    """The hybrid fusion the ``memory.hybrid_*`` settings describe."""
    return Fusion(
        method=s.hybrid_fusion,
        alpha=s.hybrid_alpha,
        rrf_k=s.hybrid_rrf_k,
        depth=s.hybrid_depth,
        proximity=s.hybrid_proximity,
        evidence=s.hybrid_evidence,
        words=s.hybrid_words,
        keep=s.hybrid_keep,
        keep_text=s.hybrid_keep_text,
        keep_vector=s.hybrid_keep_vector,
    )


def project_descriptions(backend: Backend) -> dict[str, str]:
    """Every described project and what it is (``MemoryStore.describe_project``), in one read."""
    return {key[len(META_ABOUT) :]: text for key, text in backend.meta_under(META_ABOUT).items()}


def about_text(description: str) -> str:
    """A project's description as stored (``MemoryStore.describe_project``): one printable line,
    scrubbed of secrets, at most ``PROJECT_ABOUT_CHARS``; empty when nothing is left."""
    return scrub(" ".join(printable(clean_text(description)).split()))[:PROJECT_ABOUT_CHARS].strip()


def checked_about(description: str) -> str:
    """``about_text``, refused when nothing is left of it or it was not UTF-8 text."""
    try:
        description.encode("utf-8")
    except UnicodeEncodeError as exc:  # an argument's bytes that were not UTF-8: stored as U+FFFD
        raise InvalidInputError(
            f"project description is not UTF-8 text (at character {exc.start})",
            hint="Convert it first, e.g. `iconv -f latin1 -t utf-8`.",
        ) from exc
    text = about_text(description)
    if not text:
        raise InvalidInputError(
            "empty project description", hint="Say in a few words what the project is, or use --clear."
        )
    return text


def _cleaned(descriptions: Mapping[str, str]) -> dict[str, str]:
    """A file's project descriptions as the store would keep them (``about_text``)."""
    return {p: about_text(t) for p, t in descriptions.items()}


def _context(descriptions: Mapping[str, str], project: str | None, kind: str) -> str | None:
    """What a memory of (project, type) is read with under ``descriptions`` (project -> what it
    is): ``models.project_context``, None for a type or a project not described."""
    text = descriptions.get(project) if project is not None and kind in DESCRIBED_TYPES else None
    return project_context(project, text) if project is not None and text else None


def _drafted(draft: MemoryDraft) -> EmbeddedFrom:
    """What ``MemoryStore._embedding_texts`` reads of a memory about to be stored."""
    return draft.content, draft.metadata, draft.project, draft.type


def _read(memory: Memory) -> EmbeddedFrom:
    """What ``MemoryStore._embedding_texts`` reads of a stored memory."""
    return memory.content, memory.metadata, memory.project, memory.memory_type


def judged_text(memory: Memory, about: Contexts | None = None) -> str:
    """A memory's text as the judge and the rerank read it: what its vector reads before its
    content when its project is described (``about``: ``MemoryStore.project_contexts``), else its
    project's name, then its content, unless the content names it. A question often names the
    project ("when does the orchard export job run?", "which DB backs the refunds backend?") where
    a note stored with ``--project orchard`` does not: the project answers for those words."""
    context = about(memory.project, memory.memory_type) if about is not None else None
    if context:
        return f"{context}: {memory.content}"
    project = memory.project
    if not project or re.search(rf"(?<!\w){re.escape(project)}(?!\w)", memory.content, re.IGNORECASE):
        return memory.content
    return f"{project}: {memory.content}"
