"""What the dashboard's memory pages ask of the store: a search with the page's filters, the
memories a bulk forget would remove, the forget itself and its undo.

Every read and change goes through ``MemoryStore`` as the CLI's do (scrubbed, validated,
re-embedded on a content change): no SQL here. Filters the store has (project, group, type,
assistant, dates) filter inside its scan; provenance and quarantine, which are read from each
memory, are applied to what it returns (a search over-fetches for them).

A bulk forget, and a delete, first writes what it removes to an undo file (the store's export format, vectors
included, under ``$MAHAVISHNU_HOME/ui/trash/``, 0600): undo imports it back with its ids and times
(``MemoryStore.import_``), and the file is deleted once ``UNDO_SECONDS`` have passed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from mahavishnu import paths
from mahavishnu.errors import InvalidInputError, NotFoundError
from mahavishnu.memory.core import transfer
from mahavishnu.memory.core.authors import authors, others
from mahavishnu.memory.core.elsewhere import SCOPES, outside_scope, sentence
from mahavishnu.memory.core.models import INGEST_SOURCE, MEMORY_TYPES, SEARCH_MODES, questions_of
from mahavishnu.memory.core.provenance import PROVENANCES, QUARANTINED, held_back, provenance_of
from mahavishnu.memory.core.store import META_DIMENSION, META_EMBEDDER, project_descriptions, superseded

if TYPE_CHECKING:
    from mahavishnu.memory.core.models import Memory
    from mahavishnu.memory.core.store import MemoryStore

UNDO_SECONDS = 15 * 60
PAGE = 50
#: The last page of the newest memories a link may ask for (200,000 memories at ``PAGE``).
MAX_PAGE = 4_000
#: The most memories one bulk forget removes (a larger selection is narrowed first).
FORGET_CAP = 5_000
_UNDO_ID = re.compile(r"[0-9a-f]{16}")


class Library:
    """One store for the dashboard's lifetime (the embedder stays warm), used by one request at a
    time; opened anew once a ``memory reembed`` elsewhere moved it to another embedder, or its file
    was replaced (``superseded``)."""

    def __init__(self, open_store: Callable[[], MemoryStore]) -> None:
        self._open = open_store
        self._store: MemoryStore | None = None
        self._lock = threading.RLock()
        self._warming: threading.Thread | None = None

    @contextlib.contextmanager
    def store(self) -> Iterator[MemoryStore]:
        with self._lock:
            if self._store is not None and superseded(self._store):
                stale, self._store = self._store, None
                stale.close()
            if self._store is None:
                self._store = self._open()
            yield self._store

    def warm(self) -> threading.Thread:
        """Once, on a worker thread: open the store and run one vector search, so the search a
        person types next finds the embedding model loaded, the vector index read and, in a large
        store, its graph being built (the store starts it on its first search; until it is built a
        search scans every vector). Started by the Memory page once it has answered: the page
        itself needs none of it, and its first answer does not wait for it."""
        with self._lock:
            if self._warming is None:
                self._warming = threading.Thread(target=self._warm_up, name="ui-warm-up", daemon=True)
                self._warming.start()
            return self._warming

    def _warm_up(self) -> None:
        with contextlib.suppress(Exception), self.store() as store:  # a broken store: its pages say so
            store.search("warm up", mode="vector", limit=1)

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


#: The filters ``Query.from_params`` refuses a value of (what it says, the values it takes); the
#: others fall back to their default.
_REFUSED: dict[str, tuple[str, Collection[str]]] = {
    "type": ("memory type", MEMORY_TYPES),
    "provenance": ("provenance", PROVENANCES),
}


@dataclass(frozen=True, slots=True)
class Query:
    """The memory page's search box and filters, as its URL carries them."""

    q: str = ""
    mode: str = "hybrid"
    project: str = ""
    group: str = ""
    type: str = ""
    agent: str = ""
    since: str = ""
    until: str = ""
    provenance: str = ""
    quarantined: str = ""  # "", "only", "hide"
    page: str = ""  # of the newest memories (no search text): "2" is the 51st to the 100th

    @property
    def filtered(self) -> bool:
        """Whether a filter narrows the list (then an empty one says none match, not none yet)."""
        narrowing = ("project", "group", "type", "agent", "since", "until", "provenance", "quarantined")
        return any(getattr(self, name) for name in narrowing)

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Query:
        values = {f.name: (params.get(f.name) or "").strip() for f in fields(cls)}
        query = cls(**values)
        page = query.page
        if not (page.isascii() and page.isdigit() and len(page) < 8 and 1 < int(page) <= MAX_PAGE):
            query = replace(query, page="")
        if query.mode not in SEARCH_MODES:
            query = replace(query, mode="hybrid")
        for name, (said, allowed) in _REFUSED.items():
            value = getattr(query, name)
            if value and value not in allowed:
                raise InvalidInputError(f"no {said} {value!r}")
        if query.quarantined not in ("", "only", "hide"):
            query = replace(query, quarantined="")
        return query

    @classmethod
    def as_typed(cls, params: Mapping[str, str]) -> Query:
        """What ``from_params`` refused, without the values it refuses: the form shown again beside
        the error keeps the search text and the other filters (it came back blank)."""
        return cls.from_params(
            {k: v for k, v in params.items() if k not in _REFUSED or v.strip() in _REFUSED[k][1]}
        )

    def params(self) -> dict[str, str]:
        """The fields that are set (for links, forms and the address bar), a default mode left out:
        every search's address said ``mode=hybrid``, and a cleared search box ``/memory?mode=hybrid``."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) not in ("", f.default)
        }

    def filter_params(self) -> dict[str, str]:
        """The filters that are set, without the search text, mode and page."""
        return {k: v for k, v in self.params().items() if k not in ("q", "mode", "page")}

    @property
    def page_number(self) -> int:
        return int(self.page) if self.page else 1

    def at_page(self, number: int) -> str:
        """This query's address parameters on page ``number`` (the Older and Newer links)."""
        params = {k: v for k, v in self.params().items() if k != "page"}
        return urlencode({**params, "page": str(number)} if number > 1 else params)

    def store_filters(self) -> dict[str, object]:
        filters: dict[str, object] = {}
        for name, key in (("project", "project"), ("group", "group"), ("agent", "agent_id")):
            if getattr(self, name):
                filters[key] = getattr(self, name)
        if self.type:
            filters["types"] = (self.type,)
        if self.since:
            filters["since"] = self.since
        if self.until:
            filters["until"] = self.until
        if self.quarantined == "only":
            filters["tags"] = (QUARANTINED,)
        return filters

    def keeps(self, memory: Memory) -> bool:
        """The filters read from the memory itself: provenance, quarantine."""
        if self.provenance and provenance_of(memory.memory_type, memory.metadata) != self.provenance:
            return False
        return not (self.quarantined == "hide" and QUARANTINED in memory.tags)


@dataclass(frozen=True, slots=True)
class Row:
    """One memory as the pages show it, with its search score and legs when it came from a search,
    and the relevance judge's verdict (``relevant``: False for a hit it doubts, shown dimmed)."""

    memory: Memory
    score: float | None = None
    modes: tuple[str, ...] = ()
    vector_score: float | None = None
    text_score: float | None = None
    relevant: bool = True

    @property
    def provenance(self) -> str:
        return provenance_of(self.memory.memory_type, self.memory.metadata)

    @property
    def held_back(self) -> str | None:
        """Why recall leaves it out (why it reads like an instruction, or its quarantine mark)."""
        return held_back(self.memory.tags, self.memory.content, metadata=self.memory.metadata)

    @property
    def quarantined(self) -> bool:
        return self.held_back is not None

    @property
    def version(self) -> str:
        return edit_version(self.memory)

    @property
    def ingested(self) -> bool:
        """A chunk of an ingested repository: the store refuses to edit or delete one (its file's
        ``memory ingest`` again, or ``forget-repo``, does), so the page offers neither."""
        return self.memory.memory_type == "rag" and self.memory.source_system == INGEST_SOURCE

    @property
    def questions(self) -> list[str]:
        """The questions it answers (``models.QUESTIONS``), one a line in the edit form."""
        return questions_of(self.memory.metadata)


def edit_version(memory: Memory) -> str:
    """A digest of what the edit form shows (content, type, tags, project, questions), posted back
    with it: the save is refused when the memory changed since the form was made (the CLI, an agent,
    another tab, a quarantine, which is a tag), or the form's stale fields would overwrite that change."""
    shown = json.dumps(
        [memory.content, memory.memory_type, list(memory.tags), memory.project, questions_of(memory.metadata)]
    )
    return hashlib.sha256(shown.encode()).hexdigest()[:32]


def find(store: MemoryStore, query: Query, limit: int = PAGE) -> tuple[list[Row], bool]:
    """The best ``limit`` memories for the query, or without search text the newest of its page,
    and whether older ones follow (a search shows its best ``limit`` only: False)."""
    post = bool(query.provenance or query.quarantined == "hide")
    if not query.q:
        start = (query.page_number - 1) * limit
        found = _newest(store, query, start + limit + 1) if post else None
        if found is None:
            found = store.recent(query.store_filters(), limit=limit + 1, offset=start, include_shared=False)
            start = 0
        page = [Row(m) for m in found[start:]]
        return page[:limit], len(page) > limit
    fetch = min(1_000, limit * 5) if post else limit
    hits = store.search(query.q, mode=query.mode, filters=query.store_filters(), limit=fetch)
    rows = [
        Row(h.memory, h.score, h.modes, h.vector_score, h.text_score, h.relevant)
        for h in hits
        if query.keeps(h.memory)
    ]
    return rows[:limit], False


def _newest(store: MemoryStore, query: Query, count: int) -> list[Memory]:
    """The newest ``count`` memories that the filters read from each memory keep (provenance,
    hidden quarantine): the store cannot count them, so it is read in batches until there are."""
    kept: list[Memory] = []
    offset = 0
    while len(kept) < count:
        batch = store.recent(query.store_filters(), limit=1_000, offset=offset, include_shared=False)
        kept += [m for m in batch if query.keeps(m)]
        if len(batch) < 1_000:
            break
        offset += len(batch)
    return kept[:count]


@dataclass(frozen=True, slots=True)
class Outside:
    """A scoped search whose answer may lie outside its scope: ``memory/core/elsewhere.py``'s
    sentence and the same search without the scope (the page's link)."""

    sentence: str
    scope: str  # the filter the link leaves out: project or group
    link: str


def outside(store: MemoryStore, query: Query, rows: Sequence[Row]) -> Outside | None:
    """When a project or group search shows nothing the judge accepts, how many memories outside
    the scope the same search accepts (as ``memory search`` hints on the command line)."""
    if not query.q:
        return None

    def searched(filters: dict[str, Any]) -> list[dict[str, Any]]:
        hits = store.search(query.q, mode=query.mode, filters=filters, limit=PAGE)
        return [_judged(h.memory, h.relevant) for h in hits if query.keeps(h.memory)]

    filters = query.store_filters()
    found = outside_scope([_judged(row.memory, row.relevant) for row in rows], filters, searched)
    if found is None:
        return None
    scope, n = found
    wider = {k: v for k, v in query.params().items() if k not in SCOPES}
    return Outside(sentence(scope, filters[scope], n), scope, urlencode(wider))


def _judged(memory: Memory, relevant: bool) -> dict[str, Any]:
    """A hit as ``outside_scope`` reads it."""
    return {"memory": {"id": memory.id, "project": memory.project}, "relevant": relevant}


@dataclass(frozen=True, slots=True)
class Selection:
    """What a bulk forget with these filters would remove, and what it leaves."""

    memories: list[Memory]
    chunks: int  # repository chunks matched: only ``memory forget-repo`` removes them
    capped: bool  # more than ``FORGET_CAP`` matched: only the first are listed

    @property
    def digest(self) -> str:
        """Which memories the preview showed, for the forget to check it removes those."""
        ids = ",".join(str(m.id) for m in self.memories)
        return hashlib.sha256(ids.encode()).hexdigest()[:32]


def selection(store: MemoryStore, query: Query) -> Selection:
    """Every memory the filters match (never the search text: a forget is by filter only)."""
    if not query.filter_params():
        raise InvalidInputError("choose at least one filter to forget by", hint="A forget never takes all.")
    chosen: list[Memory] = []
    chunks = offset = 0
    while len(chosen) <= FORGET_CAP:
        batch = store.recent(query.store_filters(), limit=1_000, offset=offset, include_shared=False)
        theirs = others(authors(store.backend, (m.id for m in batch)))  # a team member's: not ours
        for memory in batch:
            if not query.keeps(memory) or memory.id in theirs:
                continue
            if memory.memory_type == "rag" and memory.source_system == INGEST_SOURCE:
                chunks += 1
            else:
                chosen.append(memory)
        if len(batch) < 1_000:
            break
        offset += len(batch)
    return Selection(chosen[:FORGET_CAP], chunks, len(chosen) > FORGET_CAP)


def trash_dir() -> Path:
    return paths.data_dir() / "ui" / "trash"


def forget(store: MemoryStore, ids: list[int]) -> tuple[int, str]:
    """Delete these memories, keeping them in an undo file first: (how many, the undo id)."""
    sweep_trash()
    found = store.get_many(ids)
    for memory_id in others(authors(store.backend, found)):  # another member's: theirs to delete
        del found[memory_id]
    kept, memories = _keep(store, found)
    deleted = store.delete_many([m.id for m in memories])
    return deleted, kept.stem


def delete(store: MemoryStore, memory_id: int) -> str:
    """Delete one memory as ``MemoryStore.delete`` does (an unknown id, another member's memory or a
    repository chunk refused), kept in an undo file first, as a forget is: its undo id ("" for a
    memory without a vector yet, which an undo could not put back as it was)."""
    sweep_trash()
    kept, memories = _keep(store, {memory_id: store.get(memory_id)})
    try:
        store.delete(memory_id)
    except BaseException:
        kept.unlink(missing_ok=True)  # refused: nothing was deleted, nothing to undo
        raise
    if not memories:
        kept.unlink(missing_ok=True)
        return ""
    return kept.stem


def _keep(store: MemoryStore, found: Mapping[int, Memory]) -> tuple[Path, list[Memory]]:
    """Write these memories, with their vectors, to a new undo file: (the file, named by its undo
    id, and those written)."""
    vectors = store.backend.vectors(list(found))
    memories = [m.with_embedding(vectors[i]) for i, m in sorted(found.items()) if i in vectors]
    undo_id = secrets.token_hex(8)
    path = paths.make_dir(trash_dir()) / f"{undo_id}.jsonl"
    header = transfer.Header(
        store.backend.get_meta(META_EMBEDDER),
        store.backend.get_meta(META_DIMENSION),
        max((m.id for m in memories), default=0),
    )
    # with the descriptions the vectors were made with: undo keeps them as they were (``import_``)
    # and the projects an insight was shared with: deleting it took its shares with it
    shares = transfer.shares_of(store.backend, [m.id for m in memories])
    transfer.write(path, header, memories, shares, descriptions=project_descriptions(store.backend))
    path.chmod(0o600)
    return path, memories


def undo(store: MemoryStore, undo_id: str) -> int:
    """Put back what the forget ``undo_id`` removed: how many memories came back."""
    path = _undo_file(undo_id)
    counts = store.import_(path, keep_trust=True)  # (written by this store: its trust marks hold)
    path.unlink(missing_ok=True)
    return counts.imported


def undo_left(undo_id: str) -> float:
    """Seconds left to undo ``undo_id`` (0: gone)."""
    with contextlib.suppress(InvalidInputError, NotFoundError, OSError):
        return max(0.0, UNDO_SECONDS - (time.time() - _undo_file(undo_id).stat().st_mtime))
    return 0.0


def _undo_file(undo_id: str) -> Path:
    if not _UNDO_ID.fullmatch(undo_id):
        raise InvalidInputError("not an undo id")
    path = trash_dir() / f"{undo_id}.jsonl"
    if not path.is_file() or time.time() - path.stat().st_mtime > UNDO_SECONDS:
        raise NotFoundError(  # (an undo removes its file: a second one finds none either)
            f"nothing to undo: this was undone already, or its {UNDO_SECONDS // 60} minutes are up",
            hint="What was undone is back in the Memory list.",
        )
    return path


def sweep_trash() -> None:
    """Delete the undo files whose time is up."""
    cutoff = time.time() - UNDO_SECONDS
    for path in trash_dir().glob("*.jsonl"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < cutoff:
                path.unlink()
