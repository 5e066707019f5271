"""The knowledge base: what ``memory ingest`` stored, queried file by file.

    for hit in query_knowledge_base(store, "how are retries configured?", repo_id="httpx"):
        print(hit.location, hit.snippet())

A question to a code base asks which file does something, so files are ranked, not chunks. Every
file with a chunk or its outline (``outline.py``) among the best ``DEPTH`` of a search leg is a
candidate, with up to four pieces of evidence:

``chunk``    the best cosine of its chunks with the query (the vector leg), less
             ``SIZE_PRIOR * ln(chunks in the file)``: the best of many chunks is an optimistic
             estimate, so without it a big file (click's core.py: 193 chunks) outranks the
             small one that answers (see ``SIZE_PRIOR``);
``outline``  the cosine of its outline: the whole file at a glance (its own vector search);
``text``     the best full-text (BM25) score of its chunks and outline;
``words``    the share of the query's words (their first ``PREFIX`` letters, each weighted by its
             rarity among the candidate files) held anywhere in the text of its chunks and outline
             that the legs returned: a chunk is judged on its own words, while a question's words
             are often spread over several chunks of the file that answers it, or sit inside
             identifiers (``_note_words``). Hybrid and text modes.

Each is standardised over the candidate files (``search.standardised``: a file counts by how far it
stands above the others, so a leg whose files all score alike barely moves the ranking; a file a
leg did not find takes that leg's lowest value), then weighted by mode (``WEIGHTS``). Measured
with ``benchmarks/retrieval.py`` on code QA over seven libraries (click, attrs, flask, httpx,
jinja2, starlette, Pillow; 193 questions), first file right, mean over libraries: chunks ranked
one by one (the old way, on larger chunks, click + attrs) 0.76 by vector, 0.66 hybrid; files
(default onnx-q8) 0.80 by vector (chunk + outline), 0.70 by text, 0.87 hybrid (0.83 without
``words``, 0.85 before chunks were headed by their scope).

Symbols, not only files (issue 35): a Python chunk that starts inside a definition is stored
with its scope on a second line (``# class CodeGenerator > def visit_Name``; ``pipeline.py``), so
the third chunk of a long method still says which method and class it belongs to, and an outline
names each definition in words too (``LRUCache (lru cache)``; ``outline.py``). On the seven
libraries (``--datasets codeqa,heldout,pillow``) hybrid top-1 went from 0.851 to 0.864 with the
weights as they were and to 0.870 with the outline's weight at 0.5 (mean reciprocal rank of the
first right file 0.905 -> 0.916), jinja2 from 0.778 to 0.815 (the lowest library now), Pillow
0.829 -> 0.886, flask 0.846 -> 0.885, click 0.840 -> 0.840, the others unchanged; top-5 0.984
either way. Either half alone, weights as they were, left the mean where it was (0.849, 0.851).
Chunks 12 or 24 tokens shorter (other boundaries, so other luck) gave 0.844 / 0.823 before and
0.847 / 0.843 after: the gain holds, smaller. The scope line is read in place of the last few
tokens of a chunk that fills the window; reserving room for it instead (the 12 tokens above)
scored lower.

A file comes back only with evidence of its own, as in memory search (``relevance.py``): a chunk or
outline cosine at or above the relevance floor, or a full-text score at least half the query's
best (text mode: any full-text match). Hits are the best chunks of the best files, files in rank
order, at most ``PER_FILE`` chunks each (the outline stands in for a file none of whose chunks was
found); a hit's score is its file's: its fused evidence through the logistic function (0.5 at the
candidates' mean; see ``_file_scores``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from mahavishnu.errors import NotFoundError
from mahavishnu.json_types import JSONObject
from mahavishnu.memory.core.backends.base import resolved
from mahavishnu.memory.core.given import check_store
from mahavishnu.memory.core.models import (
    Filters,
    Memory,
    SearchMode,
    check_label,
    check_limit,
    check_mode,
    check_query,
    scrub_memory,
)
from mahavishnu.memory.core.relevance import REPOSITORY_KIND, TEXT_SHARE
from mahavishnu.memory.core.search import Ranked, query_terms, weighted_zscores
from mahavishnu.memory.core.store import MAX_LIMIT
from mahavishnu.memory.ingest.outline import OUTLINE_KEY, OUTLINE_TAG
from mahavishnu.memory.ingest.pipeline import (
    FILE_CHUNKS,
    PENDING,
    SCOPE_KEY,
    run_process_ended,
    was_interrupted,
)

if TYPE_CHECKING:
    from mahavishnu.memory.core.store import MemoryStore

DEPTH = 100  # candidates taken from each leg
PER_FILE = 3  # chunks shown per file
#: Letters of a query word that count as the word in ``words`` evidence (its prefix, found anywhere:
#: "compiled" and "compiler" are one word, "host" meets ``TrustedHostMiddleware``), and the shortest
#: word kept.
PREFIX = 6
MIN_WORD = 3
#: Weight of each piece of evidence per mode: (chunk, outline, text, words). The outline's 0.5 in
#: hybrid (0.7 before) came with chunks headed by their scope and outlines naming definitions in
#: words (``pipeline.py``, ``outline.py``): the best mean top-1 over the seven libraries of outline
#: 0.3-0.9 x text 0.4-0.6 x words 0.2-0.4 (0.870; 0.864 at 0.7, 0.856 at 0.4); see the module
#: docstring. ``words`` (issue 35)
#: chosen by the mean top-1 over seven libraries (the six below and Pillow; benchmarks/retrieval.py
#: --datasets codeqa,heldout,pillow), hybrid at words 0, 0.2, 0.25, 0.3, 0.35, 0.4: 0.831, 0.836,
#: 0.836, 0.851, 0.845, 0.834, the lowest library 0.741 (jinja2) at 0 and 0.778 from 0.2 on; top-5
#: 0.984 throughout. Text mode at words 0, 0.3, 0.5: 0.673, 0.698, 0.694. The others as before,
#: chosen by the mean over six
#: libraries (benchmarks/retrieval.py: codeqa = click + attrs, heldout = flask, httpx, jinja2,
#: starlette; ~25 questions each, one is 0.04 of a library's top-1), onnx-q8, hybrid top-1 of
#: codeqa / heldout at a text weight of 0.2 (before), 0.35, 0.45, 0.5, 0.6, 0.8: 0.88 / 0.78,
#: 0.84 / 0.80, 0.84 / 0.82, 0.86 / 0.82, 0.86 / 0.83, 0.82 / 0.83; top-5 0.98 / 0.98 throughout.
#: Text was tuned to 0.2 on click + attrs alone, where full text is weak (0.56 alone); on the
#: held-out libraries it is nearly as good as the vectors (0.71 to 0.75).
WEIGHTS: dict[str, tuple[float, float, float, float]] = {
    "vector": (1.0, 0.7, 0.0, 0.0),
    "text": (0.0, 0.0, 1.0, 0.3),
    "hybrid": (1.0, 0.5, 0.5, 0.3),
}

#: How much a file's chunk evidence drops per e-fold of its chunks. On the development code QA
#: set (files chunked as ingestion does), hybrid top-1 at a prior of 0, 0.01, 0.0125, 0.015,
#: 0.0175, 0.02: onnx-q8 0.80, 0.90, 0.90, 0.90, 0.90, 0.88; onnx-int8 0.78, 0.86, 0.86, 0.86,
#: 0.86, 0.84; top-5 0.98 throughout (benchmarks/retrieval.py).
SIZE_PRIOR = 0.015

FileKey = tuple[str | None, str]  # (repo_id, path)
#: The status ``list_repos`` shows for a run stopped by Ctrl-C or whose process was killed (stored as
#: ``failed``, or still ``in_progress``): the same ``memory ingest`` resumes it.
INTERRUPTED = "interrupted"


@dataclass(frozen=True, slots=True)
class KnowledgeHit:
    """One knowledge-base result: where it is (``location`` = ``path:start-end``) and what it says.
    A node a LlamaIndex pipeline stored has no lines of a file (None), and perhaps no path."""

    memory_id: int
    repo_id: str | None
    path: str
    start_line: int | None
    end_line: int | None
    language: str
    score: float
    text: str

    @property
    def location(self) -> str:
        if self.start_line is None or self.end_line is None:
            return self.path or f"memory #{self.memory_id}"
        return f"{self.path}:{self.start_line}-{self.end_line}"

    @classmethod
    def from_memory(cls, memory: Memory, score: float) -> KnowledgeHit:
        meta = memory.metadata
        path = str(meta.get("path", ""))
        text = memory.content
        if path and text.startswith(path + "\n"):
            text = text[len(path) + 1 :]
        scope = meta.get(SCOPE_KEY)
        if isinstance(scope, str) and scope and text.startswith(f"# {scope}\n"):
            text = text[len(scope) + 3 :]  # the lines of the file alone, as ``location`` says
        return cls(
            memory.id,
            memory.repo_id,
            path,
            _line(meta.get("start_line")),
            _line(meta.get("end_line")),
            str(meta.get("language", "")),
            score,
            text,
        )

    def snippet(self, lines: int = 6) -> str:
        kept = [line for line in self.text.splitlines() if line.strip()][:lines]
        return "\n".join(kept)

    def to_dict(self) -> JSONObject:
        return {
            "location": self.location,
            "repo_id": self.repo_id,
            "path": self.path,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "language": self.language,
            "score": round(float(self.score), 6),
            "memory_id": self.memory_id,
            "text": self.text,
        }


def _line(value: object) -> int | None:
    """A line number from a chunk's metadata: a positive whole number, else None (a LlamaIndex
    node's has none; ``0`` was written for them before 2026-11-28)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


@dataclass
class _File:
    """A candidate file's evidence: its best score per slot, and its chunks with evidence of their
    own, each with its sort key within the file (found by vector first, by cosine; then by BM25)."""

    chunk: float | None = None
    outline: float | None = None
    text: float | None = None
    words: float | None = None  # share of the query's words the file's found text holds
    size: int = 1  # chunks in the file (1 for a store ingested before they were counted)
    outline_id: int | None = None
    chunks: dict[int, tuple[bool, float]] = field(default_factory=dict)  # id -> (text only, -score)

    def add(self, slot: str, score: float) -> None:
        best = getattr(self, slot)
        if best is None or score > best:
            setattr(self, slot, score)

    def note(self, leg: str, found: Ranked, memory: Memory, strong: bool) -> None:
        """What one leg found of this file: a chunk (kept as its own evidence when ``strong``) or
        the file's outline."""
        self.size = max(self.size, _chunk_count(memory.metadata.get(FILE_CHUNKS)))
        is_outline = bool(memory.metadata.get(OUTLINE_KEY))
        self.add("text" if leg == "text" else ("outline" if is_outline else "chunk"), found.score)
        if is_outline:
            self.outline_id = found.id
        elif strong:
            self.chunks.setdefault(found.id, (leg == "text", -found.score))  # the vector legs come first


def query_knowledge_base(
    store: MemoryStore, query: str, *, repo_id: str | None = None, limit: int = 10, mode: str = "hybrid"
) -> list[KnowledgeHit]:
    """The best chunks of the best files for ``query`` among ``rag`` memories (of one repository);
    see the module docstring."""
    check_store("query_knowledge_base", store)
    query = check_query(query)
    checked_mode = check_mode(mode)
    check_limit(limit, MAX_LIMIT)
    filters = Filters(types=(REPOSITORY_KIND,), repo_id=check_label("repo_id", repo_id))
    legs = _legs(store, query, filters, checked_mode)
    rows = store.backend.get(list({r.id for leg in legs.values() for r in leg}))
    floor = store.relevance_floor if checked_mode != "text" else None
    files = _evidence(legs, rows, floor)
    weights = WEIGHTS[checked_mode]
    if weights[3]:
        _note_words(query, files, rows)
    scores = _file_scores(files, weights)
    best_text = max((r.score for r in legs.get("text", [])), default=0.0)
    kept = {
        key: score
        for key, score in scores.items()
        if floor is None or _relevant(files[key], floor, best_text)
    }
    return _hits(files, kept, rows, limit)


def _legs(store: MemoryStore, query: str, filters: Filters, mode: SearchMode) -> dict[str, list[Ranked]]:
    """Each leg's best ``DEPTH``: chunks and outlines by vector, outlines alone by vector, both by
    text (run first: in hybrid mode the query is embedded meanwhile, see ``MemoryStore.query_vector``)."""
    backend, legs = store.backend, {}
    pending = store.query_vector(query, mode)
    text = backend.text_search(query, filters, DEPTH) if mode != "vector" else None
    if pending is not None:
        vector = resolved(pending)
        legs["vector"] = backend.vector_search(vector, filters, DEPTH)
        legs["outline"] = backend.vector_search(vector, replace(filters, tags=(OUTLINE_TAG,)), DEPTH)
    if text is not None:
        legs["text"] = text  # after the vector legs: a chunk both found sorts by its cosine
    return legs


def _evidence(
    legs: dict[str, list[Ranked]], rows: dict[int, Memory], floor: float | None
) -> dict[FileKey, _File]:
    """Every candidate file with its evidence, its chunks with evidence of their own marked
    (``floor`` None: all of them, text mode)."""
    best_text = max((r.score for r in legs.get("text", [])), default=0.0)
    files: dict[FileKey, _File] = defaultdict(_File)
    for leg, memory, r in _found(legs, rows):
        strong = floor is None or _strong(r.score, leg, floor, best_text)
        files[(memory.repo_id, str(memory.metadata.get("path", "")))].note(leg, r, memory, strong)
    return dict(files)


def _found(legs: dict[str, list[Ranked]], rows: dict[int, Memory]) -> Iterator[tuple[str, Memory, Ranked]]:
    """(leg, memory, its rank) of what each leg found, leg by leg, but what is no evidence."""
    for leg, ranked in legs.items():
        for r in ranked:
            memory = rows.get(r.id)
            if memory is None or (leg != "text" and memory.metadata.get(PENDING)):
                continue  # a pending chunk's stand-in vector is no evidence
            yield leg, memory, r


def _note_words(query: str, files: dict[FileKey, _File], rows: dict[int, Memory]) -> None:
    """Each candidate file's ``words``: the share of the query's words (their first ``PREFIX``
    letters, stopwords and words under ``MIN_WORD`` letters dropped) found anywhere in the text of
    its chunks and outline that the legs returned, each word weighted by its rarity among the
    candidate files, ``ln(1 + files / (1 + files holding it))``. A chunk is judged on its own words
    (BM25); a question's words are often spread over several chunks of the file that answers it,
    and inside identifiers ("host" in ``TrustedHostMiddleware``, "cache" in ``LRUCache``)."""
    prefixes = list(dict.fromkeys(t[:PREFIX] for t in query_terms(query) if len(t) >= MIN_WORD))
    if not prefixes:
        return
    held: dict[FileKey, set[str]] = {key: set() for key in files}
    for memory in rows.values():
        found = held.get((memory.repo_id, str(memory.metadata.get("path", ""))))
        if found is not None and len(found) < len(prefixes):
            text = memory.content.lower()
            found.update(p for p in prefixes if p not in found and p in text)
    rarity = {p: math.log(1 + len(held) / (1 + sum(p in found for found in held.values()))) for p in prefixes}
    total = sum(rarity.values())
    for key, found in held.items():
        files[key].words = sum(rarity[p] for p in found) / total


def _strong(score: float, leg: str, floor: float, best_text: float) -> bool:
    """Evidence of its own: a cosine at the floor, or half the best full-text score."""
    if leg == "text":
        return best_text > 0 and score >= TEXT_SHARE * best_text
    return score >= floor


def _relevant(entry: _File, floor: float, best_text: float) -> bool:
    cosines = [c for c in (entry.chunk, entry.outline) if c is not None]
    if any(_strong(c, "vector", floor, best_text) for c in cosines):
        return True
    return entry.text is not None and _strong(entry.text, "text", floor, best_text)


def _chunk_count(value: object) -> int:
    return value if isinstance(value, int) and value > 0 else 1


def _file_scores(
    files: dict[FileKey, _File], weights: tuple[float, float, float, float]
) -> dict[FileKey, float]:
    """Each file's z-score fusion of its evidence (``search.weighted_zscores``) over every
    candidate file, per unit of weight, through the logistic function: how far it stands above the
    candidates, 0.5 at their mean, 0.73 one standard deviation above (a file the floor drops still
    counts among the candidates). Never 0 for a file that is shown, as a rescaling of the shown
    files onto [0, 1] made the last one."""
    chunk = {key: f.chunk - SIZE_PRIOR * math.log(f.size) for key, f in files.items() if f.chunk is not None}
    outline = {key: f.outline for key, f in files.items() if f.outline is not None}
    text = {key: f.text for key, f in files.items() if f.text is not None}
    words = {key: f.words for key, f in files.items() if f.words is not None}
    fused = weighted_zscores(list(zip(weights, (chunk, outline, text, words), strict=True)))
    total = sum(weights) or 1.0
    return {key: 1 / (1 + math.exp(-value / total)) for key, value in fused.items()}


def _hits(
    files: dict[FileKey, _File], scores: dict[FileKey, float], rows: dict[int, Memory], limit: int
) -> list[KnowledgeHit]:
    """Up to ``PER_FILE`` chunks of each file, best files first, ``limit`` in all."""
    out: list[KnowledgeHit] = []
    for key in sorted(scores, key=lambda k: (-scores[k], k[0] or "", k[1])):
        entry = files[key]
        chosen: Iterable[int] = sorted(entry.chunks, key=lambda i: (*entry.chunks[i], i))[:PER_FILE]
        if not entry.chunks and entry.outline_id is not None:
            chosen = [entry.outline_id]
        for memory_id in chosen:
            out.append(KnowledgeHit.from_memory(scrub_memory(rows[memory_id]), scores[key]))
            if len(out) >= limit:
                return out
    return out


# -- repositories -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RepoSummary:
    repo_id: str
    repo_path: str | None
    files: int
    chunks: int
    last_run: JSONObject | None
    pending: int = 0  # chunks searchable by text whose vector is not computed yet

    def to_dict(self) -> JSONObject:
        return {
            "repo_id": self.repo_id,
            "repo_path": self.repo_path,
            "files": self.files,
            "chunks": self.chunks,
            "pending": self.pending,
            "last_run": self.last_run,
        }


def list_repos(store: MemoryStore) -> list[RepoSummary]:
    """Every ingested repository: its file and chunk counts now (a file's outline counts as one of
    its chunks), and its latest run. A run stopped by Ctrl-C, or still recorded as in progress
    whose process is gone (killed), shows as ``interrupted``: the next ingest resumes it."""
    check_store("list_repos", store)
    backend = store.backend
    latest: dict[str, JSONObject] = {}  # by repo_id
    for run in backend.ingestions(limit=100_000):
        if run["repo_id"] not in latest and run_process_ended(run):
            run = {**run, "status": INTERRUPTED, "error": "the process ended before the run finished"}
        elif run["repo_id"] not in latest and was_interrupted(run):
            run = {**run, "status": INTERRUPTED}
        latest.setdefault(run["repo_id"], run)
    out = []
    for repo_id in sorted(latest):
        filters = Filters(types=(REPOSITORY_KIND,), repo_id=repo_id)
        rows = backend.scan_metadata(filters, ["path", PENDING])
        run = latest[repo_id]
        files, pending = len({r[1][0] for r in rows}), sum(1 for r in rows if r[1][1])
        out.append(RepoSummary(repo_id, str(run["repo_path"]), files, len(rows), run, pending))
    return out


def forget_repo(store: MemoryStore, repo_id: str) -> int:
    """Delete a repository's chunks and run history; returns the number of memories deleted."""
    check_store("forget_repo", store)
    filters = Filters(types=(REPOSITORY_KIND,), repo_id=check_label("repo_id", repo_id))
    chunks = store.backend.delete_where(filters)
    runs = store.backend.delete_ingestions(repo_id)
    if not chunks and not runs:
        raise NotFoundError(
            f"no ingested repository {repo_id!r}", hint="List them with `mahavishnu memory repos`."
        )
    return chunks
