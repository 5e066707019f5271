"""One search over everything the assistants have learnt: memories, ★ Insights and the Session-Buddy
peer (``memory search --everywhere``).

The peer is asked in a background thread while the local store is searched, and waited for only
until its timeout: an absent, slow or failing peer costs nothing but a warning in the result.

Scores become comparable by max-normalisation per source: each hit's score is divided by the best
score its source gave this query (the normalisation hybrid search already applies to its two legs),
so every source's best hit scores 1.0 and the rest say how close they come to it. Hits are merged by
that score; the same text found twice (compared with whitespace folded; the peer cuts long content
short with ``...``, so a prefix match counts) is kept once, labelled with every source that found it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mahavishnu.memory.models import Memory

if TYPE_CHECKING:
    from mahavishnu.config import Settings
    from mahavishnu.memory.session_buddy import PeerAnswer, PeerHit, SessionBuddy
    from mahavishnu.memory.store import MemoryStore

MEMORY, INSIGHT, PEER = "memory", "insight", "session-buddy"
_CUT = "..."


@dataclass(frozen=True, slots=True)
class UnifiedHit:
    source: str  # memory | insight | session-buddy
    score: float  # normalised: 1.0 is the best its source found
    raw_score: float | None  # as the source gave it
    content: str
    memory: Memory | None = None
    peer: PeerHit | None = None
    also_in: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {
            "source": self.source,
            "score": round(self.score, 6),
            "raw_score": None if self.raw_score is None else round(self.raw_score, 6),
            "content": self.content,
            "also_in": list(self.also_in),
            "memory": self.memory.to_dict() if self.memory else None,
            "peer": asdict(self.peer) if self.peer else None,
        }


@dataclass(frozen=True, slots=True)
class UnifiedResult:
    hits: list[UnifiedHit]
    warnings: list[str] = field(default_factory=list)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)  # per source: status, count, ms

    def to_dict(self) -> dict[str, Any]:
        return {"hits": [h.to_dict() for h in self.hits], "warnings": self.warnings, "sources": self.sources}


def search_everywhere(
    store: MemoryStore,
    query: str,
    *,
    filters: Mapping[str, Any] | None = None,
    limit: int = 10,
    mode: str = "hybrid",
    peer: SessionBuddy | None = None,
    settings: Settings | None = None,
) -> UnifiedResult:
    """Search the store (memories and insights) and the Session-Buddy peer together.

    ``peer`` defaults to the one configured in ``settings`` (``session_buddy``); ``filters`` scope
    the local search, and their ``project`` is passed to the peer."""
    peer = peer if peer is not None else _configured_peer(settings)
    project = (filters or {}).get("project")
    # Not a `with` block: leaving one would wait for a late peer, which then ends on its own deadline.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="session-buddy")
    try:
        started = time.perf_counter()
        asked = (
            pool.submit(peer.quick_search, query, project=project, limit=limit) if peer.configured else None
        )
        local = store.search(query, mode=mode, filters=filters, limit=limit)
        local_ms = (time.perf_counter() - started) * 1000
        answer, peer_status = _peer_answer(asked, peer, started)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    warnings = [answer.warning] if answer and answer.warning else []
    if not peer.configured:
        warnings.append(
            f"{PEER} is not configured: searched memories and insights only "
            "(set session_buddy.url in mahavishnu.yaml, or MAHAVISHNU_SESSION_BUDDY__URL)"
        )
    hits = _merge(_local_hits(local), _peer_hits(answer.hits if answer else []), limit)
    sources = {
        "store": {"status": "ok", "count": len(local), "elapsed_ms": round(local_ms, 2)},
        PEER: peer_status,
    }
    return UnifiedResult(hits, warnings, sources)


def _configured_peer(settings: Settings | None) -> SessionBuddy:
    from mahavishnu.memory.session_buddy import SessionBuddy

    if settings is None:
        from mahavishnu.config import load_settings

        settings = load_settings()
    return SessionBuddy.from_settings(settings)


def _peer_answer(
    asked: Future[PeerAnswer] | None, peer: SessionBuddy, started: float
) -> tuple[PeerAnswer | None, dict[str, Any]]:
    """The peer's answer, waiting no longer than its timeout from ``started``."""
    from mahavishnu.memory.session_buddy import PeerAnswer

    if asked is None:
        return None, {"status": "not configured", "count": 0}
    left = peer.timeout_seconds - (time.perf_counter() - started)  # the whole search keeps the deadline
    try:
        answer = asked.result(timeout=max(0.0, left))
    except FutureTimeout:
        waited = (time.perf_counter() - started) * 1000
        answer = PeerAnswer([], f"{PEER} did not answer within {peer.timeout_seconds:g}s", waited)
    status = "unavailable" if answer.warning else "ok"
    return answer, {"status": status, "count": len(answer.hits), "elapsed_ms": round(answer.elapsed_ms, 2)}


def _local_hits(hits: list[Any]) -> list[UnifiedHit]:
    return [
        UnifiedHit(
            INSIGHT if h.memory.memory_type == "insight" else MEMORY, 0.0, h.score, h.memory.content, h.memory
        )
        for h in hits
    ]


def _peer_hits(hits: list[PeerHit]) -> list[UnifiedHit]:
    # A hit without a score ranks by position: 1, 1/2, 1/3… of the best.
    return [
        UnifiedHit(PEER, 0.0, h.score if h.score is not None else 1.0 / (rank + 1), h.content, peer=h)
        for rank, h in enumerate(hits)
    ]


def _normalised(hits: list[UnifiedHit]) -> list[UnifiedHit]:
    best = max((h.raw_score or 0.0 for h in hits), default=0.0)
    return [_with(h, score=(h.raw_score or 0.0) / best if best > 0 else 0.0) for h in hits]


def _merge(local: list[UnifiedHit], peer: list[UnifiedHit], limit: int) -> list[UnifiedHit]:
    # Memories and insights come from one search: one scale, normalised together.
    ranked = sorted(_normalised(local) + _normalised(peer), key=lambda h: -h.score)
    kept: list[UnifiedHit] = []
    for hit in ranked:
        twin = next((i for i, k in enumerate(kept) if _same_text(k.content, hit.content)), None)
        if twin is None:
            kept.append(hit)
        elif hit.source != kept[twin].source and hit.source not in kept[twin].also_in:
            kept[twin] = _with(kept[twin], also_in=(*kept[twin].also_in, hit.source))
    return kept[:limit]


def _same_text(a: str, b: str) -> bool:
    left, right = _folded(a), _folded(b)
    if left == right:
        return True
    for cut, whole in ((left, right), (right, left)):
        if cut.endswith(_CUT) and len(cut) > len(_CUT) + 20 and whole.startswith(cut[: -len(_CUT)].rstrip()):
            return True
    return False


def _folded(text: str) -> str:
    return " ".join(text.split())


def _with(hit: UnifiedHit, **changes: Any) -> UnifiedHit:
    from dataclasses import replace

    return replace(hit, **changes)
