"""What a search returns: memories, not repository chunks, unless asked; nothing irrelevant.

Relevance floor
    Both legs always have a "best" answer, however unrelated, so a search returns only hits with
    evidence of their own: a cosine with the query of at least the embedder's floor
    (``Embedder.relevance_floor``, measured on the development data: the cosine under which a text
    is unrelated to the query; ``memory.relevance_floor`` overrides it, 0 turns it off), or a
    full-text score of at least half the query's best (the words that matter matched, not only a
    common one) with a cosine of at least half the floor: when the only words a query shares with
    the store are common ones ("use", "run"), its best full-text match is still one of them, and
    the embedder is what says it is unrelated. Text mode keeps every full-text match: a keyword
    search finds what has the words. A search for something absent returns nothing.

Kinds
    Repository chunks (``rag`` memories, what ``memory ingest`` stores) outnumber notes and
    decisions by orders of magnitude and would crowd them out, so a search without a type filter
    covers every other type. Chunks come back from ``query_knowledge_base`` (``memory query``) or
    from a search that asks for them by type (``--type rag``).
Known repositories
    A query scoped to a repository nothing was ingested or stored under is a mistake (a typo, a
    forgotten ``memory ingest``), not an empty answer: ``check_repo`` says which repositories exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from mahavishnu.errors import NotFoundError, StoreError
from mahavishnu.memory.core.models import MEMORY_TYPES, Filters, MemoryType
from mahavishnu.memory.core.search import Ranked

if TYPE_CHECKING:
    from mahavishnu.memory.core.backends.base import Backed

#: A hit found by full text alone needs at least this share of the query's best full-text score,
TEXT_SHARE = 0.5
#: and a cosine of at least this share of the floor.
TEXT_COSINE_SHARE = 0.5
REPOSITORY_KIND: MemoryType = "rag"
#: What a search without a type filter covers.
MEMORY_KINDS: tuple[MemoryType, ...] = tuple(t for t in MEMORY_TYPES if t != REPOSITORY_KIND)


def check_repo(store: Backed, repo_id: str) -> None:
    """NotFoundError unless ``repo_id`` was ingested or holds ``rag`` memories; the hint lists the
    repositories that exist."""
    backend = store.backend
    if backend.recent(Filters(types=(REPOSITORY_KIND,), repo_id=repo_id), 1):
        return
    try:
        known = sorted({run["repo_id"] for run in backend.ingestions(limit=100_000)})
    except StoreError:  # a backend without ingestion runs knows only its stored chunks
        known = []
    if repo_id in known:
        return
    listed = ", ".join(known[:20]) + (" …" if len(known) > 20 else "")
    hint = f"Known repositories: {listed}." if known else "Nothing is ingested yet."
    raise NotFoundError(
        f"no ingested repository {repo_id!r}",
        hint=f"{hint} Ingest one with `mahavishnu memory ingest PATH --repo-id {repo_id}`.",
    )


def above_floor(
    ranked: Sequence[Ranked], floor: float, cosines: Mapping[int, float] | None = None
) -> list[Ranked]:
    """The hits of a vector or hybrid search with evidence of their own (see the module
    docstring), in their order. ``cosines``: the cosine of hits the vector leg did not rank."""
    top_text = max((r.text_score for r in ranked if r.text_score is not None), default=0.0)
    known = cosines or {}

    def relevant(r: Ranked) -> bool:
        cosine = r.vector_score if r.vector_score is not None else known.get(r.id)
        if cosine is not None and cosine >= floor:
            return True
        if r.text_score is None or top_text <= 0 or r.text_score < TEXT_SHARE * top_text:
            return False
        return cosine is None or cosine >= TEXT_COSINE_SHARE * floor

    return [r for r in ranked if relevant(r)]
