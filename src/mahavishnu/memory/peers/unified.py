"""One search over everything the assistants have learnt: memories, ★ Insights and the Session-Buddy
peer (``memory search --everywhere``).

The peer is asked in a background thread while the local store is searched, and waited for only
until its timeout: an absent, slow or failing peer costs nothing but a warning in the result.

Scores: local hits are max-normalised (each divided by the best score the store gave this query, so
its best hit scores 1.0). The peer gives no score (Session-Buddy 0.23 matches one substring), so its
hits are re-scored here against the query with our own scorers, weighted as the search mode weighs
its legs: the cosine of our embedder (vector leg) and the share of the query's terms the hit
contains (text leg). A peer hit thus ranks first only when it matches as well as the best local hit.
Below ``session_buddy.min_score`` it is dropped.

Project scope: the peer ignores ``project``, so a project-scoped search filters its hits here: a hit
showing another project, or one of our own insights written through to it (``peer_ledger``) that
the project does not see, is dropped; a peer reflection of no known project is kept.

The same text found twice (compared with whitespace folded; a peer hit cut short at 150 characters
counts as a prefix) is kept once, labelled with every source that found it.

On a team store each memory and insight names its author (``core/authors``), as ``memory search``
does; the peer's hits have none.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from mahavishnu.errors import wrong_type
from mahavishnu.json_types import JSONObject
from mahavishnu.memory.core.authors import Author, authors
from mahavishnu.memory.core.given import check_store
from mahavishnu.memory.core.models import Memory

if TYPE_CHECKING:
    from mahavishnu.config import Settings
    from mahavishnu.memory.core.models import SearchHit
    from mahavishnu.memory.core.store import MemoryStore
    from mahavishnu.memory.peers.session_buddy import PeerAnswer, PeerHit, SessionBuddy

MEMORY, INSIGHT, PEER = "memory", "insight", "session-buddy"
#: How long importing the MCP SDK may take before the peer's own budget starts (seconds).
IMPORT_GRACE_SECONDS = 30.0
#: A cut text shorter than this (folded) is too little to call a longer one the same.
_MIN_PREFIX = 20


@dataclass(frozen=True, slots=True)
class UnifiedHit:
    source: str  # memory | insight | session-buddy
    score: float  # normalised: 1.0 is the best its source found
    raw_score: float | None  # as the source gave it
    content: str
    memory: Memory | None = None
    peer: PeerHit | None = None
    also_in: tuple[str, ...] = ()
    author: Author | None = None  # a team store's memory: who wrote it
    relevant: bool = True  # False: the relevance judge doubts the memory answers (a peer's: no verdict)

    def to_dict(self) -> JSONObject:
        from dataclasses import asdict

        memory: JSONObject | None = None
        if self.memory:  # with its author on a team store, as `memory search --json` gives it
            memory = {**self.memory.to_dict(), **(self.author.to_dict() if self.author else {})}
        return {
            "source": self.source,
            "score": round(self.score, 6),
            "raw_score": None if self.raw_score is None else round(self.raw_score, 6),
            "content": self.content,
            "also_in": list(self.also_in),
            "relevant": self.relevant,
            "memory": memory,
            "peer": asdict(self.peer) if self.peer else None,
        }


@dataclass(frozen=True, slots=True)
class UnifiedResult:
    hits: list[UnifiedHit]
    warnings: list[str] = field(default_factory=list)
    sources: dict[str, JSONObject] = field(default_factory=dict)  # per source: status, count, ms

    def to_dict(self) -> JSONObject:
        return {
            "hits": [h.to_dict() for h in self.hits],
            "warnings": [*self.warnings],  # copies typed as JSON (list and dict are invariant)
            "sources": {**self.sources},
        }


def search_everywhere(
    store: MemoryStore,
    query: str,
    *,
    filters: Mapping[str, object] | None = None,
    limit: int = 10,
    mode: str = "hybrid",
    peer: SessionBuddy | None = None,
    settings: Settings | None = None,
) -> UnifiedResult:
    """Search the store (memories and insights) and the Session-Buddy peer together.

    ``peer`` defaults to the one configured in ``settings`` (``session_buddy``); ``filters`` scope
    the local search, and their ``project`` the peer's hits (filtered here)."""
    from mahavishnu.memory.core.models import Filters, check_query

    check_store("search_everywhere", store)
    query = check_query(query)  # cleaned and clipped: the peer is sent no more than the store reads
    peer = peer if peer is not None else _configured_peer(settings)
    scope = Filters.coerce(filters)  # (a list: "'list' object has no attribute 'get'")
    project = scope.project  # applied to the peer's hits here: it ignores one
    # Not a `with` block: leaving one would wait for a late peer, which then ends on its own deadline.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="session-buddy")
    try:
        started = time.perf_counter()
        clock = _PeerClock()
        asked = pool.submit(_ask, peer, query, limit, clock) if peer.configured else None
        local = store.search(query, mode=mode, filters=scope, limit=limit)
        local_ms = (time.perf_counter() - started) * 1000
        answer, peer_status = _peer_answer(asked, peer, clock)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    warnings = [answer.warning] if answer and answer.warning else []
    if not peer.configured:
        warnings.append(
            f"{PEER} is not configured: searched memories and insights only "
            "(set session_buddy.url in mahavishnu.yaml, or MAHAVISHNU_SESSION_BUDDY__URL)"
        )
    found = _in_scope(store, answer.hits if answer else [], project)
    peer_hits = [h for h in _rescored(store, query, found, mode) if h.score >= peer.min_score]
    written_by = authors(store.backend, (h.memory.id for h in local))  # a team store: who wrote each
    hits = _merge(_normalised(_local_hits(local, written_by)), peer_hits, limit)
    sources: dict[str, JSONObject] = {
        "store": {"status": "ok", "count": len(local), "elapsed_ms": round(local_ms, 2)},
        PEER: peer_status,
    }
    return UnifiedResult(hits, warnings, sources)


def _configured_peer(settings: Settings | None) -> SessionBuddy:
    from mahavishnu.config import Settings, load_settings
    from mahavishnu.memory.peers.session_buddy import SessionBuddy

    if settings is None:
        settings = load_settings()
    elif not isinstance(settings, Settings):  # ("'int' object has no attribute 'url'")
        raise wrong_type("search_everywhere", "settings (or None: the configured ones)", settings)
    return SessionBuddy.from_settings(settings)


class _PeerClock:
    """When the peer's budget started: once the MCP SDK is imported (in the worker, while the store is
    searched), so a cold process does not spend the budget on its imports."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.started = 0.0

    def start(self) -> None:
        self.started = time.perf_counter()
        self.ready.set()


def _ask(peer: SessionBuddy, query: str, limit: int, clock: _PeerClock) -> PeerAnswer:
    try:
        peer.prepare()
    finally:
        clock.start()
    return peer.search(query, limit=limit)


def _peer_answer(
    asked: Future[PeerAnswer] | None, peer: SessionBuddy, clock: _PeerClock
) -> tuple[PeerAnswer | None, JSONObject]:
    """The peer's answer, waiting no longer than its timeout once its clock started."""
    from mahavishnu.memory.peers.session_buddy import PeerAnswer

    if asked is None:
        return None, {"status": "not configured", "count": 0}
    clock.ready.wait(IMPORT_GRACE_SECONDS)
    left = peer.timeout_seconds - (time.perf_counter() - clock.started)
    try:
        answer = asked.result(timeout=max(0.0, left))
    except FutureTimeout:
        waited = (time.perf_counter() - clock.started) * 1000
        answer = PeerAnswer([], f"{PEER} did not answer within {peer.timeout_seconds:g}s", waited)
    status = "unavailable" if answer.warning else "ok"
    return answer, {"status": status, "count": len(answer.hits), "elapsed_ms": round(answer.elapsed_ms, 2)}


def _local_hits(hits: list[SearchHit], written_by: Mapping[int, Author]) -> list[UnifiedHit]:
    return [
        UnifiedHit(
            INSIGHT if h.memory.memory_type == "insight" else MEMORY,
            0.0,
            h.score,
            h.memory.content,
            h.memory,
            author=written_by.get(h.memory.id),
            relevant=h.relevant,
        )
        for h in hits
    ]


def _in_scope(store: MemoryStore, hits: list[PeerHit], project: object) -> list[PeerHit]:
    """The peer's hits a search scoped to ``project`` may show (all of them when it is not scoped)."""
    if not project or not hits:
        return hits
    from mahavishnu.memory.peers.peer_ledger import projects_of

    seen_by = projects_of(store, hits)
    return [
        h
        for h, ours in zip(hits, seen_by, strict=True)
        if (h.project is None or h.project == project) and (ours is None or project in ours)
    ]


def _rescored(store: MemoryStore, query: str, hits: list[PeerHit], mode: str) -> list[UnifiedHit]:
    """Peer hits scored against ``query`` by our scorers (see the module docstring)."""
    from mahavishnu.memory.core.search import query_terms, tokens

    alpha = {"text": 0.0, "vector": 1.0}.get(mode, store.fusion.alpha)
    cosines = _cosines(store, query, [h.content for h in hits]) if alpha > 0 and hits else [0.0] * len(hits)
    wanted = set(query_terms(query))
    scored = []
    for hit, cosine in zip(hits, cosines, strict=True):
        # The substring that found it is in the whole text, also past the peer's 150-character cut.
        present = set(tokens(hit.content)) | set(tokens(str(hit.metadata.get("query", ""))))
        coverage = len(wanted & present) / len(wanted) if wanted else 0.0
        score = alpha * max(0.0, cosine) + (1 - alpha) * coverage
        scored.append(UnifiedHit(PEER, score, hit.score, hit.content, peer=hit))
    return scored


def _cosines(store: MemoryStore, query: str, texts: list[str]) -> list[float]:
    embedder = store.embedder
    vectors = embedder.embed_many(texts, kind="document")
    return [float(v) for v in vectors @ embedder.embed(query, kind="query")]


def _normalised(hits: list[UnifiedHit]) -> list[UnifiedHit]:
    best = max((h.raw_score or 0.0 for h in hits), default=0.0)
    return [replace(h, score=(h.raw_score or 0.0) / best if best > 0 else 0.0) for h in hits]


def _merge(local: list[UnifiedHit], peer: list[UnifiedHit], limit: int) -> list[UnifiedHit]:
    """Best first; a text found by several sources is kept once (the best-scored), with their labels."""
    ranked = sorted(local + peer, key=lambda h: -h.score)
    kept: list[UnifiedHit] = []
    for hit in ranked:
        twin = next((i for i, k in enumerate(kept) if _same_text(k, hit)), None)
        if twin is None:
            kept.append(hit)
        elif hit.source != kept[twin].source and hit.source not in kept[twin].also_in:
            kept[twin] = replace(kept[twin], also_in=(*kept[twin].also_in, hit.source))
    return kept[:limit]


def _same_text(a: UnifiedHit, b: UnifiedHit) -> bool:
    left, right = _folded(a.content), _folded(b.content)
    if left == right:
        return True
    for cut, whole in ((a, right), (b, left)):
        prefix = _folded(cut.content)
        if _is_cut(cut) and len(prefix) >= _MIN_PREFIX and whole.startswith(prefix):
            return True
    return False


def _is_cut(hit: UnifiedHit) -> bool:
    """Whether the peer showed only the beginning of this hit's text."""
    return hit.peer is not None and bool(hit.peer.metadata.get("truncated"))


def _folded(text: str) -> str:
    return " ".join(text.split())
