"""What a search returns: memories, not repository chunks, unless asked; nothing irrelevant.

Relevance floor
    Both legs always have a "best" answer, however unrelated, so a search returns only hits with
    evidence of their own: a cosine with the query of at least the embedder's floor
    (``Embedder.relevance_floor``, measured on the development data: the cosine under which a text
    is unrelated to the query; ``memory.relevance_floor`` overrides it, 0 turns it off), or a
    full-text score of at least half the query's best (the words that matter matched, not only a
    common one) and either every word of the query (stopwords aside) in its text, or a cosine of
    at least half the floor. When the only words a query shares with the store are common ones
    ("use", "run"), its best full-text match is still one of them, and the embedder is what says
    it is unrelated; when a hit holds all of the query's words (an identifier, an error message, a
    flag name: "retries", "max_retries"), it is the hit a keyword search finds, however far the
    embedder puts it (a word alone and a block of code are rarely close in meaning: "retries"
    and httpx's transport that holds ``retries`` have a cosine of 0.03). Words are compared as the
    full-text index splits them: letters and digits, ``_`` and punctuation between words, any case.
    A query is answered at all only when one of these hits is clearly close to it (a cosine of
    ``ANSWER_FLOOR`` times the floor: 0.40 for the local model) or holds every word of it: in a
    store of 5,000 captured turns, the nearest of thousands of unrelated texts is often above the
    floor (MiniLM gives unrelated English sentences cosines of 0.1-0.35), so a question about
    something absent found a "hit" for 0.78 of 50 such queries, 0.06 with this rule; the hits of a
    query that is answered are those above the floor, as before (LoCoMo evidence recall@10 0.673
    before, 0.672 with it: ``benchmarks/retrieval.py --datasets locomo,absent``). In hybrid search,
    a query of which ``UNSEEN_SHARE`` (two thirds) or more of the words no relevant hit holds (by
    their first five letters, as the stemming index matches them) is about something the store does
    not hold, unless a hit is very close (a cosine of ``CLOSE_FLOOR`` times the floor, 0.50) or is
    close (``ANSWER_FLOOR``) and holds ``HELD_WORDS`` (two) of the query's words: "bazel remote
    cache" is 0.45 from "Can you document the cache layer in app/cache.py?" and "passport renewal
    form" 0.43 from a turn about the login form, each sharing one common word, while "stack traces in
    sentry are minified for the last release" is answered by "Sentry: source maps are uploaded by
    the vite plugin in the release job" (0.41, two of its six words). Counted in the relevant hits,
    not in every candidate: a candidate holding "renewal" far from the query in meaning says the
    word is stored, not that anything about it is. Absent queries answered 0.04 -> 0.00 in hybrid
    search and in the prompt hook; LoCoMo recall@10 0.672, its prompt-hook recall 0.661 and the
    coding prompts' 0.566 unchanged (``benchmarks/retrieval.py --datasets locomo,coding,absent``).
    Before, a cosine answered a query up to two thirds of whose words no candidate held, and none
    past that ("oauth2 PKCE code verifier" is 0.48 from "simplify the config loader in
    app/auth.py"). ``--unseen-sweep`` prints the variants (absent answered in hybrid search and
    the hook / coding prompt-hook recall; LoCoMo stays 0.671-0.672 / 0.660-0.661 in all): no cosine
    answering past two thirds 0.00 / 0.514; a close cosine of 1.8 times the floor 0.04 / 0.566, of
    2.2 0.00 / 0.558; three words held 0.00 / 0.556; a share of a half 0.00 / 0.546, of three
    quarters 0.04 / 0.566. Replayed on those sets' recorded searches and not kept either: two
    thirds counted in every candidate, as before, left "passport renewal form" answered; unseen
    words weighted by their rarity in the store (log N/df, a word no memory holds weighing most)
    lost 38-197 of LoCoMo's 1,994 searches at shares of two thirds to a half.
    In hybrid search a query no hit is close to (``ANSWER_FLOOR``) is still answered by a hit that
    holds ``HELD_WORDS`` (two) of its words and ``MATCHED_SHARE`` (a quarter) of them at a cosine of
    ``MATCHED_COSINE`` times the floor (0.20): the question's rare words found together, where the
    model alone is unsure. MiniLM puts 12 of SciFact's 300 claims under 0.40 from every abstract
    ("Ivermectin is used to treat lymphatic filariasis" is 0.35 from the abstract that answers it,
    which says "lymphatic filariasis"), and they were not answered: hybrid nDCG@10 0.722, 0.751
    with this rule; absent queries stay 0/50 (the two hits of theirs holding two words are 0.10 from
    the query), LoCoMo unchanged, the coding prompts' hook recall 0.566 -> 0.638 while those it
    should leave empty get nothing 0.714 (0.821 before). ``--unseen-sweep`` prints the variants
    (SciFact / coding hook recall / rightly nothing): a share of 0.4 0.749 / 0.633 / 0.786, of 0.5
    0.745 / 0.623 / 0.786; a cosine of 0.6 the same as 0.8, of 1.0 0.748 / 0.638 / 0.714.
    Vector mode, without that leg, cannot tell. Text mode keeps every full-text match: a keyword
    search finds what has the words.

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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mahavishnu.errors import NotFoundError, StoreError
from mahavishnu.memory.core.models import MEMORY_TYPES, Filters, MemoryType
from mahavishnu.memory.core.search import Ranked, query_terms

if TYPE_CHECKING:
    from mahavishnu.memory.core.backends.base import Backed

#: A hit found by full text alone needs at least this share of the query's best full-text score,
TEXT_SHARE = 0.5
#: and a cosine of at least this share of the floor, or every word of the query.
TEXT_COSINE_SHARE = 0.5
#: A query is answered at all only when one of its hits has a cosine of this many times the floor
#: (0.40 for the local model), or holds every word of the query.
ANSWER_FLOOR = 1.6
#: A query at least this share of whose words no relevant hit of a hybrid search holds is about
#: something the store does not hold (see the module docstring): a cosine of ``ANSWER_FLOOR`` answers
#: it only in a hit holding ``HELD_WORDS`` of its words, else only one of ``CLOSE_FLOOR`` (0.50).
UNSEEN_SHARE = 2 / 3
CLOSE_FLOOR = 2.0
HELD_WORDS = 2
#: A query no hit is close to is still answered by a hybrid search's hit that holds ``HELD_WORDS``
#: and this share of its words and has a cosine of ``MATCHED_COSINE`` times the floor (0.20).
MATCHED_SHARE = 0.25
MATCHED_COSINE = 0.8
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
        hint=f"{hint} Ingest one with `mahavishnu memory ingest PATH --repo-id {repo_id}`.",
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


def query_share(query: str, text: str) -> float:
    """The share of the words of ``query`` but its stopwords (``search.query_terms``) that ``text``
    holds (0 for a query of stopwords only)."""
    wanted = {w for term in query_terms(query) for w in words(term)}
    return len(wanted & words(text)) / len(wanted) if wanted else 0.0


def unseen_share(query: str, texts: Iterable[str]) -> float:
    """The share of the query's words (``query_share``'s, compared by ``stem``) that none of
    ``texts`` holds."""
    wanted = query_stems(query)
    if not wanted:
        return 0.0
    unseen = set(wanted)
    for text in texts:  # (on every hybrid search: stop as soon as every word was seen)
        unseen -= stems(text)
        if not unseen:
            break
    return len(unseen) / len(wanted)


def query_stems(query: str) -> set[str]:
    """The query's words but its stopwords, as ``stem`` compares them."""
    return {stem(w) for term in query_terms(query) for w in words(term)}


def stems(text: str) -> set[str]:
    """The words of ``text`` (``words``) as ``stem`` compares them."""
    return {stem(w) for w in words(text)}


def stem(word: str) -> str:
    """A word's first five letters: the full-text index stems ("stored" finds "store", "timestamps"
    "timestamp"), and a coarser match only makes a word count as held, never as unseen."""
    return word[:5]


@dataclass(frozen=True, slots=True)
class Candidates:
    """A hybrid search's query and the text of its candidates (by id): what the unseen-words rule
    reads (see the module docstring)."""

    query: str
    texts: Mapping[int, str]

    def unseen(self, ids: Iterable[int]) -> float:
        """The share of the query's words that none of these candidates holds."""
        return unseen_share(self.query, (self.texts[i] for i in ids if i in self.texts))

    def held(self, memory_id: int) -> int:
        """How many of the query's words candidate ``memory_id`` holds."""
        text = self.texts.get(memory_id, "")
        return len(query_stems(self.query) & stems(text))

    def matches(self, memory_id: int) -> bool:
        """Whether candidate ``memory_id`` holds ``HELD_WORDS`` of the query's words and
        ``MATCHED_SHARE`` of them."""
        wanted = query_stems(self.query)
        held = self.held(memory_id)
        return held >= HELD_WORDS and held >= MATCHED_SHARE * len(wanted)


def above_floor(
    ranked: Sequence[Ranked],
    floor: float,
    cosines: Mapping[int, float] | None = None,
    shares: Mapping[int, float] | None = None,
    candidates: Candidates | None = None,
) -> list[Ranked]:
    """The hits of a vector or hybrid search with evidence of their own (see the module
    docstring), in their order. ``cosines``: the cosine of hits the vector leg did not rank;
    ``shares``: the share of the query's words each full-text hit holds (``query_share``);
    ``candidates``: a hybrid search's texts, for the unseen-words rule (None: no such rule)."""
    top_text = max((r.text_score for r in ranked if r.text_score is not None), default=0.0)
    known, held = cosines or {}, shares or {}

    def cosine_of(r: Ranked) -> float | None:
        return r.vector_score if r.vector_score is not None else known.get(r.id)

    def relevant(r: Ranked) -> bool:
        cosine = cosine_of(r)
        if cosine is not None and cosine >= floor:
            return True
        if r.text_score is None or top_text <= 0 or r.text_score < TEXT_SHARE * top_text:
            return False
        return cosine is None or cosine >= TEXT_COSINE_SHARE * floor or held.get(r.id, 0.0) >= 1.0

    kept = [r for r in ranked if relevant(r)]
    if floor <= 0 or any(r.text_score is not None and held.get(r.id, 0.0) >= 1.0 for r in kept):
        return kept  # (a hit holding every word of the query answers it)
    close = [(r.id, c) for r in kept if (c := cosine_of(r)) is not None and c >= ANSWER_FLOOR * floor]
    if not close:
        matched = candidates is not None and any(
            (c := cosine_of(r)) is not None and c >= MATCHED_COSINE * floor and candidates.matches(r.id)
            for r in kept
        )
        return kept if matched else []
    if candidates is None or candidates.unseen(r.id for r in kept) < UNSEEN_SHARE - 1e-9:
        return kept
    answered = any(c >= CLOSE_FLOOR * floor or candidates.held(i) >= HELD_WORDS for i, c in close)
    return kept if answered else []
