"""Same answers on every backend (issue 46): the embedded store and PostgreSQL (the team store's
backend) rank the same memories the same way, with the real local model, ties aside."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from mahavishnu.config import MemorySettings
from mahavishnu.memory.core.backends.base import Backend
from mahavishnu.memory.core.backends.postgres import PostgresBackend
from mahavishnu.memory.core.backends.sqlite import SqliteBackend
from mahavishnu.memory.core.embedders.local import LocalEmbedder
from mahavishnu.memory.core.store import MemoryStore

DECISIONS = [
    "We chose PostgreSQL with pgvector for ACID guarantees.",
    "The frontend is React 18 with Vite; no Next.js.",
    "Deploys go through Argo CD from the gitops repository.",
    "Use UTC everywhere for timestamps.",
    "Redis is only a cache: nothing in it may be the only copy of data.",
    "API errors follow RFC 9457 problem+json.",
]
QUESTIONS = [
    ("which database did we choose", 0),
    ("how do we ship to production?", 2),
    ("what time zone do we store dates in?", 3),
]


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    return LocalEmbedder()


@pytest.fixture(params=["sqlite", "postgres"])
def stores(request: pytest.FixtureRequest, tmp_path: Path, embedder: LocalEmbedder) -> Iterator[MemoryStore]:
    """The real engines (the fake backend's textbook BM25 is not one of them)."""
    backend: Backend = SqliteBackend(tmp_path / "memory.db")
    if request.param == "postgres":
        backend = PostgresBackend(request.getfixturevalue("pg_dsn"))
    with MemoryStore(backend, MemorySettings(), embedder) as store:
        for text in DECISIONS:
            store.store(text, "decision", project="api")
        yield store


@pytest.mark.parametrize("scope", [{}, {"project": "api"}])
def test_the_stored_decision_answers_on_every_backend(stores: MemoryStore, scope: dict[str, str]) -> None:
    for question, answer in QUESTIONS:
        hits = stores.search(question, filters=scope, limit=3)

        assert hits, question
        assert hits[0].memory.content == DECISIONS[answer], question
        assert hits[0].relevant or question != "which database did we choose"


def test_postgres_ranks_as_the_embedded_store(tmp_path: Path, pg_dsn: str, embedder: LocalEmbedder) -> None:
    rankings = []
    for backend in (SqliteBackend(tmp_path / "m.db"), PostgresBackend(pg_dsn)):
        with MemoryStore(backend, MemorySettings(), embedder) as store:
            for text in DECISIONS:
                store.store(text, "decision", project="api")
            rankings.append([[h.memory.content for h in store.search(q, limit=3)] for q, _ in QUESTIONS])

    assert rankings[0] == rankings[1]


def test_a_project_scope_still_finds_what_holds_everywhere(stores: MemoryStore) -> None:
    """Scope never hides an answer (issue 46): a decision stored without --project holds in every
    project, so `--project web` answers with it as the unscoped search does."""
    stores.store("We chose Redis Streams for the job queue.", "decision")  # no project: global
    stores.store("The web app's queue page lists failed jobs.", "note", project="web")

    scoped = stores.search("which message broker did we pick for background work", filters={"project": "web"})
    bare = stores.search("which message broker did we pick for background work")

    assert scoped and scoped[0].memory.content == "We chose Redis Streams for the job queue."
    assert bare[0].memory.content == scoped[0].memory.content
    narrow = stores.search("job queue", filters={"project": "web"}, include_shared=False)
    assert all(h.memory.project == "web" for h in narrow)


def test_a_paraphrase_the_text_leg_matches_by_one_word_keeps_the_vectors_answer(stores: MemoryStore) -> None:
    """The text leg holds one word of three ('data', in the Redis note): the question is the vector
    leg's, whose first stays first (memory.hybrid_keep, search.py)."""
    hits = stores.search("what did we pick as our data store?", filters={"project": "api"}, limit=3)

    assert hits[0].memory.content == DECISIONS[0]


NOTES = [
    "Deploy the API with the deploy script; every deploy runs the smoke tests first.",
    "Kubernetes runs the batch workers in their own namespace.",
    "The deploy pipeline publishes images to the internal registry.",
    "Rollbacks redeploy the previous image tag from the registry.",
    "Smoke tests call the health endpoint and one read query.",
    "The registry keeps ninety days of images.",
    "Feature flags live in the settings service.",
    "On-call hands over on Mondays at ten.",
    "The billing export runs nightly.",
    "Logs ship to the central collector.",
]
TEXT_QUERIES = ["kubernetes deploy", "registry images", "smoke tests deploy", "rollbacks"]


def test_the_text_leg_ranks_as_the_embedded_store_on_postgres(tmp_path: Path, pg_dsn: str) -> None:
    """PostgreSQL's text leg is FTS5's bm25(): a rare word ("kubernetes", one note) outweighs a
    common one said three times ("deploy", three notes), where ts_rank_cd counted the repeats. The
    same matches in the same order on both backends, ties aside, with or without a project filter;
    unfiltered, the same scores but for the mean length (the matches' on PostgreSQL, the whole
    table's in FTS5: a fifth at most on these notes)."""
    scores = []
    for backend in (SqliteBackend(tmp_path / "m.db"), PostgresBackend(pg_dsn)):
        with MemoryStore(backend, MemorySettings(), LocalEmbedder()) as store:
            ids = [store.store(t, "note", project="api" if n % 2 else "web").id for n, t in enumerate(NOTES)]
            scores.append(
                {
                    (q, scope): [
                        (ids.index(h.memory.id), h.score) for h in store.search(q, mode="text", filters=f)
                    ]
                    for q in TEXT_QUERIES
                    for scope, f in (("all", {}), ("api", {"project": "api"}))
                }
            )
    embedded, postgres = scores
    for (query, scope), ranked in embedded.items():
        got = dict(postgres[query, scope])
        assert got.keys() == dict(ranked).keys(), (query, scope)
        assert scope == "api" or all(got[n] == pytest.approx(want, rel=0.2) for n, want in ranked), query
        place = [n for n, _ in postgres[query, scope]]
        for (first, high), (then, low) in itertools.combinations(ranked, 2):
            assert high < low * 1.1 or place.index(first) < place.index(then), (query, scope)  # ties aside
    assert postgres["kubernetes deploy", "all"][0][0] == 1
    assert [n for n, _ in postgres["registry images", "api"]] == [5, 3]  # the api notes alone
