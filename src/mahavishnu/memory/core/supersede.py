"""Older versus newer: a decision that replaces an older one, and one stored twice (issue 35).

When a decision is stored in a project, its nearest decisions of the same project and repository
(and, on a team store, the same author and visibility) are looked at once, on store:

* a newer memory that says the subject changed ("switched the queue from RabbitMQ to Redis streams",
  "use pnpm instead of npm from now on", "Postgres 16 → 18": a replacement cue, ``CUE``) and is
  close in meaning (cosine ≥ ``REPLACED``) *supersedes* it; so does one that says the same with
  other numbers (cosine ≥ ``SAME``: "workers: c6i.xlarge" then "workers: c7g.xlarge");
* a newer memory as close (cosine ≥ ``SAME``) with neither is a *duplicate* of it.

The older one is kept and marked in its metadata (``superseded_by`` / ``duplicate_of``: the newer
one's id), the newer one lists it (``supersedes`` / ``duplicates``). Marking on store costs one
vector search in one project's decisions per decision stored (2.4 ms with 8,000 decisions in one
project on SQLite), none for notes, captured turns, insights or repository chunks: a note holds
whatever it says, not a choice a later one replaces (and SciFact's abstracts are notes). Deciding
at search time instead would compare every pair of hits on every prompt, and ``memory list``
could not show it. The thresholds come from the sweep ``benchmarks/retrieval.py --datasets
supersede`` prints on ``benchmarks/data/supersede_pairs.json``.

A search then puts the newest memory of a chain right before the older one it found (fetched when
the search did not find it itself), keeps a superseded memory after it (the CLI says "superseded by
#N") and shows a duplicate once (its newer twin, "also #N"). Recall leaves out a memory whose
newer one exists (``current``).

The same decision is often said again in words too far apart in meaning to be marked (MiniLM puts
"Use next/image for all images instead of plain img elements" 0.67 from "Images go through the
next/image component", and 11 of the set's 31 duplicates are under ``SAME``), while two
decisions on one topic that both hold can be as close ("Refunds over $500 need approval from
finance" and "Refunds under $500 are automatic through the support tool" 0.78). So recall, which
only chooses what to add to one context, also adds once two decisions of a scope (``once``) at a
cosine of at least ``ALIKE`` (0.65) that share at least ``ALIKE_WORDS`` (0.4) of their words
(``shared_words``), unless they hold different numbers (``changed_numbers``) or each names
something the other does not (``changed_names``: "Android ... Firebase" and "iOS ... APNs"); the
first found (the better-ranked at a prompt, the newer at session start) is the one added, and
nothing is marked. ``benchmarks/retrieval.py --datasets supersede`` prints the sweep of both
(``alike_sweep``): duplicates recalled once 20/31 -> 28/31, distractor pairs the hook adds both of
27/36 as without it, the newer of each supersede pair added 34/34 as without it; the coding and
LoCoMo prompts unchanged. A cosine alone (0.65, no words) gave 28/31 but collapsed 4 distractor
pairs; without the names, 0.65 / 0.4 collapsed one (Android and iOS).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from mahavishnu.memory.core.authors import authors

if TYPE_CHECKING:  # (the CLI's fast path reads ``note``: nothing heavy is imported here)
    from mahavishnu.memory.core.backends.base import Backend
    from mahavishnu.memory.core.models import Filters, Memory, SearchHit, Vector

SUPERSEDED_BY = "superseded_by"  # on the older memory: the id of the newer one replacing it
SUPERSEDES = "supersedes"  # on the newer memory: the ids it replaces
DUPLICATE_OF = "duplicate_of"  # on the older memory: the id of the newer one saying the same
DUPLICATES = "duplicates"  # on the newer memory: the ids saying the same
#: The kinds compared: what someone decided (a choice a later one replaces).
KINDS = frozenset({"decision"})
#: Cosine from which a memory with a replacement cue supersedes its neighbour (the sweep's choice).
REPLACED = 0.5
#: Cosine from which two memories say the same thing (with other numbers: the newer supersedes).
SAME = 0.8
#: Cosine from which recall adds only the first of two decisions of one scope (``once``) that also
#: share ``ALIKE_WORDS`` of their words: the same decision in other words, too far apart in meaning
#: to be marked on store (the sweep's choice).
ALIKE = 0.65
ALIKE_WORDS = 0.4
NEIGHBOURS = 5  # the nearest memories of the scope compared with a new one
_CHAIN = 8  # at most this many newer memories followed from one found
#: "switched/moved/migrated/replaced …", "instead of", "no longer", "not … anymore", "from now on",
#: "rather than", "dropped", "bumped/raised/upgraded", "… is gone", "removed/deleted",
#: "(was 100)", "X → Y".
CUE = re.compile(
    r"\b(?:switch(?:ed|ing)?|mov(?:ed|ing)|migrat(?:ed|ing)|replac(?:ed|ing)|instead|no longer|"
    r"no more|anymore|dropp(?:ed|ing)|bump(?:ed|ing)|rais(?:ed|ing)|lowered|upgrad(?:ed|ing)|"
    r"downgrad(?:ed|ing)|from now on|rather than|gone|removed|deleted|stopped|decommissioned|"
    r"deprecated|now)\b|\(was\b|→|->",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d+(?:\.\d+)*")
_NAME = re.compile(r"[A-Za-z][\w.+/-]*")  # a word, with the dots, slashes and dashes inside a name
Relation = Literal["supersedes", "duplicate"]


@dataclass(frozen=True, slots=True)
class Thresholds:
    replaced: float
    same: float

    @classmethod
    def default(cls) -> Thresholds:
        return cls(REPLACED, SAME)  # (read when asked: a benchmark's sweep sets them)


@dataclass(frozen=True, slots=True)
class Link:
    """``newer`` supersedes or duplicates ``older`` (memory ids)."""

    older: int
    newer: int
    relation: Relation


def relation(newer: str, older: str, cosine: float, limits: Thresholds | None = None) -> Relation | None:
    """How ``newer`` (stored after ``older``, in its scope) relates to it, or None."""
    limits = limits or Thresholds.default()
    if cosine >= limits.replaced and CUE.search(newer):
        return "supersedes"
    if cosine >= limits.same:
        return "supersedes" if changed_numbers(newer, older) else "duplicate"
    return None


def changed_numbers(newer: str, older: str) -> bool:
    """Whether each text holds a number the other lacks (a version, a size, a limit changed)."""
    new, old = set(_NUMBER.findall(newer)), set(_NUMBER.findall(older))
    return bool(new - old) and bool(old - new)


def changed_names(one: str, other: str) -> bool:
    """Whether each text names something the other does not: a product, a platform, a region, an
    identifier ("Android ... Firebase Cloud Messaging" and "iOS ... APNs", "PagerDuty" and "Slack"):
    two decisions about different things, however alike their sentences (``names``)."""
    a, b = _content_words(one, stop=False), _content_words(other, stop=False)
    return any(not _content_words(n, stop=False) <= b for n in names(one)) and any(
        not _content_words(n, stop=False) <= a for n in names(other)
    )


def names(text: str) -> set[str]:
    """The words of ``text`` that name something: capitalised inside a sentence, with a capital
    past their first letter ("iOS", "PagerDuty"), a digit ("us-east-1") or a ``/`` or ``_``."""
    found = set()
    for match in _NAME.finditer(text):
        word = match.group().rstrip(".-/")
        opening = not text[: match.start()].strip() or text[: match.start()].rstrip()[-1] in ".:;!?"
        if (
            any(c.isupper() for c in word[1:])
            or (word[0].isupper() and not opening)
            or any(c.isdigit() or c in "/_" for c in word)
        ):
            found.add(word)
    return found


def comparable(memory: Memory) -> bool:
    """Whether a stored memory is compared with its neighbours: a decision of a project."""
    return memory.memory_type in KINDS and memory.project is not None


def marked(memory: Memory) -> int | None:
    """The id of the newer memory superseding or duplicating ``memory``, if any."""
    value = memory.metadata.get(SUPERSEDED_BY, memory.metadata.get(DUPLICATE_OF))
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# -- on store -------------------------------------------------------------------------------------
def scope_of(memory: Memory) -> Filters:
    """The memories ``memory`` is compared with: its project, type and repository."""
    from mahavishnu.memory.core.models import Filters

    return Filters(types=(memory.memory_type,), project=memory.project, repo_id=memory.repo_id)  # type: ignore[arg-type]


def find_link(
    memory: Memory,
    neighbours: Sequence[tuple[Memory, float]],
    same_author: Callable[[int], bool],
    limits: Thresholds | None = None,
) -> Link | None:
    """The nearest older neighbour ``memory`` supersedes or duplicates (``neighbours``: memories
    with their cosine, nearest first), skipping those already marked and another author's."""
    for other, cosine in neighbours:
        if other.id >= memory.id or marked(other) is not None or not same_author(other.id):
            continue
        found = relation(memory.content, other.content, cosine, limits)
        if found is not None:
            return Link(other.id, memory.id, found)
    return None


def link_new(
    backend: Backend, memory: Memory, vector: Vector, limits: Thresholds | None = None
) -> Link | None:
    """Compare a just-stored ``memory`` with its neighbours and record what it replaces, if any."""
    from mahavishnu.memory.core.backends.base import SearchRequest

    request = SearchRequest(mode="vector", filters=scope_of(memory), limit=NEIGHBOURS + 1, vector=vector)
    ranked = [r for r in backend.search(request) if r.id != memory.id and r.vector_score is not None]
    rows = backend.get([r.id for r in ranked])
    neighbours = [(rows[r.id], float(r.vector_score or 0.0)) for r in ranked if r.id in rows]
    link = find_link(
        memory, neighbours, _same_author(backend, memory.id, [m.id for m, _ in neighbours]), limits
    )
    return link


def _same_author(backend: Backend, memory_id: int, others: Iterable[int]) -> Callable[[int], bool]:
    """Whether another memory has the same author and visibility as ``memory_id`` (always, off a
    team store): a team's memories are never linked across members."""
    found = authors(backend, [memory_id, *others])
    mine = found.get(memory_id)
    return lambda other: found.get(other) == mine


def link_changes(older: Memory, newer: Memory, link: Link) -> tuple[dict[str, object], dict[str, object]]:
    """The metadata of ``older`` and ``newer`` recording ``link``."""
    back, forth = (SUPERSEDED_BY, SUPERSEDES) if link.relation == "supersedes" else (DUPLICATE_OF, DUPLICATES)
    listed = newer.metadata.get(forth)
    ids = [*(listed if isinstance(listed, list) else []), older.id]
    return {**older.metadata, back: newer.id}, {**newer.metadata, forth: ids}


def record(backend: Backend, link: Link, now: datetime) -> None:
    """Write ``link`` into both memories' metadata (neither content nor vector changes)."""
    rows = backend.get([link.older, link.newer])
    if link.older not in rows or link.newer not in rows:
        return
    older, newer = link_changes(rows[link.older], rows[link.newer], link)
    backend.update(link.older, {"metadata": older}, None, model="", now=now)
    backend.update(link.newer, {"metadata": newer}, None, model="", now=now)


# -- on search and recall -------------------------------------------------------------------------
Lookup = Callable[[list[int]], Mapping[int, "Memory"]]


def arranged(hits: Sequence[SearchHit], lookup: Lookup, filters: Filters) -> list[SearchHit]:
    """``hits`` with the newest memory of each chain right before the older one found (fetched
    when the search did not return it, and only when it matches ``filters``); a superseded hit
    stays after it, a duplicate is left out when its newer twin is shown."""
    heads = _heads([h.memory for h in hits], lookup)
    found = {h.memory.id: h for h in hits}
    out: list[SearchHit] = []
    shown: set[int] = set()
    for hit in hits:
        head = heads.get(hit.memory.id)
        if head is not None and head.id not in shown and filters.admits(head):
            out.append(_standing_for(found.get(head.id), hit, head))
            shown.add(head.id)
        collapsed = head is not None and head.id in shown and DUPLICATE_OF in hit.memory.metadata
        if hit.memory.id not in shown and not collapsed:
            out.append(hit)
            shown.add(hit.memory.id)
    return out


def _standing_for(own: SearchHit | None, older: SearchHit, head: Memory) -> SearchHit:
    """The hit of the newest memory ``head``, in the place of the ``older`` hit it replaces: its
    own scores when better, else the older one's (it answers what the older one answered)."""
    if own is None:
        return replace(older, memory=head, modes=("newer",))
    return replace(
        own,
        score=max(own.score, older.score),
        vector_score=max((s for s in (own.vector_score, older.vector_score) if s is not None), default=None),
        relevant=own.relevant or older.relevant,
    )


def _heads(memories: Sequence[Memory], lookup: Lookup) -> dict[int, Memory]:
    """For each marked memory, the newest memory of its chain (following the marks), if stored."""
    known = {m.id: m for m in memories}
    heads: dict[int, Memory] = {}
    current = {m.id: m for m in memories if marked(m) is not None}
    for _ in range(_CHAIN):
        wanted = sorted({n for m in current.values() if (n := marked(m)) is not None} - set(known))
        known.update(lookup(wanted) if wanted else {})
        step = {i: known[n] for i, m in current.items() if (n := marked(m)) is not None and n in known}
        heads.update(step)
        current = {i: m for i, m in step.items() if marked(m) is not None}
        if not current:
            break
    return heads


def current(memories: Sequence[Memory], lookup: Lookup) -> list[Memory]:
    """``memories`` without those a stored newer memory supersedes or duplicates (recall)."""
    targets = sorted({n for m in memories if (n := marked(m)) is not None})
    if not targets:
        return list(memories)
    existing = set(lookup(targets))
    return [m for m in memories if marked(m) not in existing]


def once(
    memories: Sequence[Memory],
    vectors: Mapping[int, Vector],
    alike: float | None = None,
    shared: float | None = None,
) -> list[Memory]:
    """``memories`` (best first) without a decision that says what an earlier one of the same
    project and repository (``comparable``, ``scope_of``) says: a cosine of at least ``alike``
    (``ALIKE``) and at least a ``shared`` (``ALIKE_WORDS``) share of their words in common
    (``shared_words``). What recall adds of a decision stored twice in other words (``vectors``:
    the stored vectors of the comparable ones; one without a vector is kept)."""
    cosine_limit = ALIKE if alike is None else alike
    words_limit = ALIKE_WORDS if shared is None else shared
    kept: list[Memory] = []
    seen: list[tuple[tuple[object, ...], Vector, str]] = []
    for memory in memories:
        vector = vectors.get(memory.id) if comparable(memory) else None
        norm = float(vector @ vector) ** 0.5 if vector is not None else 0.0
        if vector is None or norm <= 0:
            kept.append(memory)
            continue
        unit = vector / norm
        scope = (memory.memory_type, memory.project, memory.repo_id)
        if any(
            other == scope
            and float(unit @ earlier) >= cosine_limit
            and shared_words(memory.content, text) >= words_limit
            and not changed_numbers(memory.content, text)
            and not changed_names(memory.content, text)
            for other, earlier, text in seen
        ):
            continue
        kept.append(memory)
        seen.append((scope, unit, memory.content))
    return kept


def shared_words(one: str, other: str) -> float:
    """The share of their words two texts have in common, of the wordier one's (stopwords aside,
    words compared by their first five letters): "Images go through the next/image component,
    never raw <img> tags" and "Use next/image for all images instead of plain img elements" 0.33,
    "Refunds over $500 need approval from finance" and "Refunds under $500 are automatic through
    the support tool" 0.29."""
    a, b = _content_words(one), _content_words(other)
    return len(a & b) / max(len(a), len(b)) if a and b else 0.0


def _content_words(text: str, *, stop: bool = True) -> set[str]:
    """The words of ``text`` as the relevance floor compares them (``relevance.stem``: their
    first five letters), its stopwords left out unless ``stop`` is false."""
    from mahavishnu.memory.core.relevance import stem, stems, words
    from mahavishnu.memory.core.search import STOPWORDS

    return {stem(w) for w in words(text) if w not in STOPWORDS} if stop else stems(text)


def note(metadata: Mapping[str, object]) -> str:
    """What the CLI shows beside a memory's text: "superseded by #N", "same as #N", "also #N"."""
    parts = []
    for key, label in ((SUPERSEDED_BY, "superseded by"), (DUPLICATE_OF, "same as")):
        if isinstance(value := metadata.get(key), int):
            parts.append(f"{label} #{value}")
    for key, label in ((SUPERSEDES, "supersedes"), (DUPLICATES, "also")):
        if isinstance(ids := metadata.get(key), list) and ids:
            parts.append(f"{label} " + ", ".join(f"#{i}" for i in ids))
    return "; ".join(parts)
