"""What a search returns: memories, not repository chunks, unless asked; nothing irrelevant.

Relevance
    Whether a hit answers the query is the relevance judge's call (``judge.py``): one logistic
    model over what the search has for each hit (each leg's score and z-score, the margin to the
    other hits, the query's words and word pairs it holds), fitted on the development set by
    ``benchmarks/fit_judge.py``. A hybrid search returns its best hits when one is close, each
    marked relevant or not; the prompt hook injects only the relevant ones. A vector search keeps
    the hits whose cosine reaches the embedder's floor (``Embedder.relevance_floor``, measured on
    the development data: the cosine under which a text is unrelated to the query;
    ``memory.relevance_floor`` overrides it, 0 turns it off). Text mode keeps every full-text
    match: a keyword search finds what has the words. (This replaced a stack of seven cosine and
    word-share thresholds, each fitted to one SciFact or code example; issue 46.)

Chatter
    Greetings, thanks and acknowledgements ("hi", "ok thanks", "continue", "yes do it", "Sure! How
    can I help?") are kept as conversation but are not knowledge: a captured turn (an ``agent``
    memory) made only of such words (``is_chatter``) is never returned by a search, in any mode.
    Short as they are, their vectors sit close to any short query: before, a search for "xyzzy"
    returned "hi" and "hello" (cosine 0.34 and 0.32, above the floor).

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

import re
from typing import TYPE_CHECKING

from mahavishnu.clean_text import shell_word
from mahavishnu.errors import NotFoundError, StoreError
from mahavishnu.memory.core.models import MEMORY_TYPES, Filters, MemoryType
from mahavishnu.memory.core.search import stem, stems

__all__ = ["stem", "stems"]  # (as supersede.py compares words: one spelling for both)

if TYPE_CHECKING:
    from mahavishnu.memory.core.backends.base import Backed

#: A file found by full text alone needs at least this share of the query's best full-text score
#: (``ingest/knowledge.py``: the knowledge-base query's own evidence rule).
TEXT_SHARE = 0.5
REPOSITORY_KIND: MemoryType = "rag"
#: The kind of memory a captured conversation turn is: the one chatter is looked for in.
TURN_KIND: MemoryType = "agent"
#: A turn of more words than this is never chatter.
CHATTER_WORDS = 12
#: The words chatter is made of: greetings, thanks, acknowledgements, go-aheads, an assistant's
#: offer of help, and the small words between them.
_CHATTER_TEXT = """
    hi hello hey hiya yo howdy morning afternoon evening good bye goodbye cheers see later
    thanks thank thx ty tyvm much very so lot you your youre welcome np problem
    ok okay k kk alright right fine cool nice great awesome perfect excellent wonderful amazing
    sure yes yeah yep yup ya no nope nah agreed correct exactly indeed absolutely definitely
    got it that this done makes sense sounds looks works lgtm lol haha wow hmm oh ah well
    continue go ahead on keep going proceed next please pls do carry again try retry now
    let me know how can i help assist with anything else what would like to today there
    a an the and all just s m re ll ve d
"""
CHATTER = frozenset(_CHATTER_TEXT.split())
_WORD = re.compile(r"[^\W_]+")
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
        hint=f"{hint} Ingest one with `mahavishnu memory ingest PATH --repo-id {shell_word(repo_id)}`.",
    )


def words(text: str) -> set[str]:
    """The lower-cased words of ``text`` as the full-text index splits them (letters and digits)."""
    return {w.lower() for w in _WORD.findall(text)}


def is_chatter(memory_type: str, text: str) -> bool:
    """Whether a memory is a turn of chatter (see the module docstring): a captured turn of at
    most ``CHATTER_WORDS`` words, all of them ``CHATTER`` (an emoji or a lone "?" too)."""
    if memory_type != TURN_KIND:
        return False
    found = _WORD.findall(text.lower())
    return len(found) <= CHATTER_WORDS and all(w in CHATTER for w in found)
