"""The memory API's behaviour, run over every backend (the fake, SQLite and PostgreSQL + pgvector).

The ``store`` and ``backend_factory`` fixtures (conftest.py, ``_backends.py``) run each test on
every backend.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _backends import Factory, open_store
from fake_backend import FakeBackend

from mahavishnu.config import MemorySettings
from mahavishnu.errors import (
    DimensionMismatchError,
    EmbedderMismatchError,
    EmbeddingError,
    InvalidInputError,
    NotFoundError,
    StoreClosedError,
    StoreError,
)
from mahavishnu.memory.core import store as store_module
from mahavishnu.memory.core.backends.base import stored_cosines
from mahavishnu.memory.core.backends.sqlite import SqliteBackend
from mahavishnu.memory.core.embedders.base import Kind, Vectors
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.models import Filters, MemoryDraft, content_hash
from mahavishnu.memory.core.search import TEXT_COMPLETION_DEPTH, Fusion
from mahavishnu.memory.core.store import MemoryStore


# -- storing ------------------------------------------------------------------------------------
def test_store_returns_the_memory_and_get_reads_it_back(store: MemoryStore) -> None:
    memory = store.store(
        "Use WAL mode",
        "decision",
        tags=["sqlite", "db"],
        metadata={"why": "durability", "n": 1},
        project="mahavishnu",
        repo_id="repo1",
        agent_id="a",
        session_id="s",
        workflow_id="w",
        source_system="cli",
    )

    assert memory.id > 0
    assert memory.memory_type == "decision"
    assert memory.tags == ("sqlite", "db")
    assert dict(memory.metadata) == {"why": "durability", "n": 1}
    assert memory.embedding_model == "fake/hashing-v1" and memory.embedding_dim == 64
    assert memory.created_at == memory.updated_at and memory.created_at.tzinfo is not None
    assert store.get(memory.id) == memory


def test_same_content_in_the_same_scope_is_stored_once_without_embedding_again(store: MemoryStore) -> None:
    embedder = store.embedder
    assert isinstance(embedder, FakeEmbedder)
    first = store.store("Remember the milk", "note", project="home")
    calls = embedder.calls

    again = store.add("Remember the milk", "note", project="home", tags=["other"])

    assert again.duplicate and again.memory.id == first.id
    assert embedder.calls == calls
    assert store.stats()["count"] == 1


def test_storing_a_duplicate_keeps_both_records_tags_and_metadata(store: MemoryStore) -> None:
    first = store.add(
        "Use WAL mode", "decision", tags=["db"], metadata={"why": "durability", "by": "ana"}, agent_id="a1"
    )
    again = store.add(
        "Use WAL mode",
        "decision",
        tags=["sqlite", "db"],
        metadata={"by": "bo", "ticket": 7},
        agent_id="a2",
        session_id="s2",
    )

    assert not first.duplicate and again.duplicate and again.memory.id == first.memory.id
    kept = store.get(first.memory.id)
    assert kept.tags == ("db", "sqlite")
    assert dict(kept.metadata) == {
        "why": "durability",
        "by": "ana",
        "ticket": 7,
        "also_stored": [{"by": "bo", "agent_id": "a2", "session_id": "s2"}],
    }
    assert kept.agent_id == "a1"
    assert store.search("WAL mode", filters={"tags": ["sqlite"]})[0].memory.id == kept.id


def test_storing_the_same_record_again_changes_nothing(store: MemoryStore) -> None:
    first = store.add("Use WAL mode", "decision", tags=["db"], metadata={"why": "durability"})
    again = store.add("Use WAL mode", "decision", tags=["db"], metadata={"why": "durability"})

    assert again.duplicate and store.get(first.memory.id) == first.memory


def test_duplicates_within_one_batch_are_one_memory_with_both_records(store: MemoryStore) -> None:
    stored = store.store_many_checked(
        [
            {"content": "same turn", "metadata": {"turn": "D1:1"}},
            {"content": "same turn", "metadata": {"turn": "D7:3"}},
        ]
    )

    assert [s.duplicate for s in stored] == [False, True]
    assert stored[0].memory.id == stored[1].memory.id
    assert store.get(stored[0].memory.id).metadata["also_stored"] == [{"turn": "D7:3"}]


@pytest.mark.parametrize(
    "scope",
    [{"project": "work"}, {"repo_id": "r"}, {"type": "decision"}, {"project": "home", "repo_id": "r"}],
)
def test_a_different_type_project_or_repo_is_a_different_memory(
    store: MemoryStore, scope: dict[str, str]
) -> None:
    first = store.store("Remember the milk", "note", project="home")
    kwargs: dict[str, Any] = {"project": "home", **scope}
    memory_type = kwargs.pop("type", "note")

    other = store.store("Remember the milk", memory_type, **kwargs)

    assert other.id != first.id


def test_store_many_embeds_in_batches_and_dedups_within_the_batch(store: MemoryStore) -> None:
    embedder = store.embedder
    assert isinstance(embedder, FakeEmbedder)
    items: list[MemoryDraft | dict[str, object]] = [
        {"content": f"fact number {i}", "type": "note", "tags": ["bulk"]} for i in range(10)
    ]
    items.append(MemoryDraft("fact number 3", "note"))

    stored = store.store_many(items, batch_size=4)

    assert len(stored) == 11 and stored[10].id == stored[3].id
    assert len({m.id for m in stored}) == 10
    assert embedder.calls == 3  # ceil(10 / 4) batches; the in-batch duplicate was not embedded


def test_store_many_validates_everything_before_writing(store: MemoryStore) -> None:
    with pytest.raises(InvalidInputError, match="empty"):
        store.store_many([{"content": "fine"}, {"content": "   "}])
    for size in (0, "64"):  # a ValueError from range(), a TypeError
        with pytest.raises(InvalidInputError, match=rf"^batch_size must be .* 1 or more, not {size!r}$"):
            store.store_many([{"content": "fine"}], batch_size=size)  # type: ignore[arg-type]

    assert store.stats()["count"] == 0
    with pytest.raises(InvalidInputError, match=r"^offset must be a whole number, not '10'$"):  # a TypeError
        store.recent(offset="10")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"content": ""}, "empty"),
        ({"content": " \n\t "}, "empty"),
        ({"content": 5}, "^memory content must be text, not int$"),  # it said "memory content is empty"
        ({"content": b"hello"}, "^memory content must be text, not bytes$"),
        ({"content": "x" * 2_001}, "2,001 characters, over the limit of 2,000"),
        ({"type": "memo"}, "invalid memory type 'memo'"),
        ({"tags": ["ok", ""]}, "invalid tag"),
        ({"tags": "not-a-list"}, "tags must be a list"),
        ({"tags": 5}, "tags must be a list"),
        ({"project": 5}, "project must be a non-empty string"),
        ({"metadata": {"when": datetime.now()}}, "not JSON-serialisable"),
        ({"metadata": ["why", "durability"]}, "^metadata must be a JSON object, got list$"),  # AttributeError
        ({"questions": 5}, "must be a list of questions"),  # it was a TypeError from list(5)
        ({"project": ""}, "project must be a non-empty string"),
    ],
)
def test_invalid_input_is_refused_with_a_clear_message(
    store: MemoryStore, kwargs: dict[str, object], message: str
) -> None:
    values: dict[str, object] = {"content": "hello", "type": "note", **kwargs}
    content, memory_type = values.pop("content"), values.pop("type")

    with pytest.raises(InvalidInputError, match=message):
        store.store(content, memory_type, **values)  # type: ignore[arg-type]


def test_a_nul_in_the_text_is_dropped_alike_on_every_backend(store: MemoryStore) -> None:
    """PostgreSQL refuses a NUL in text, where SQLite kept it: the same note (a pasted log, a piped
    file) stored on one and refused on the other. It is dropped before either sees it."""
    stored = store.store("deploy\0 on tuesdays\0")
    assert store.get(stored.id).content == "deploy on tuesdays"
    assert store.add("deploy on tuesdays").duplicate
    edited = store.update(stored.id, content="deploy\0 on fridays")
    assert edited.content == "deploy on fridays"
    with pytest.raises(InvalidInputError, match="empty"):
        store.store("\0\0")


def test_metadata_that_is_not_utf8_text_is_refused_and_the_store_stays_exportable(
    store: MemoryStore, tmp_path: Path
) -> None:
    """A lone surrogate in metadata (a key or a value, at any depth; ``-m k=`` with a byte that is
    not UTF-8 gives one) is refused as content's is: stored, it made every ``--json``, each MCP
    answer holding the memory and ``memory export`` of the whole store fail with UnicodeEncodeError."""
    kept = store.store("kept", "note", metadata={"k": "fine ü 日本"})
    for metadata in ({"k\ud800": "v"}, {"k": ["v\udcff"]}):
        with pytest.raises(InvalidInputError, match="metadata is not UTF-8 text"):
            store.store("hello", "note", metadata=metadata)
    with pytest.raises(InvalidInputError, match="metadata is not UTF-8 text"):
        store.update(kept.id, metadata={"a": "\ud800"})
    store.export(tmp_path / "all.jsonl")
    assert json.loads((tmp_path / "all.jsonl").read_text(encoding="utf-8").splitlines()[-1])


def test_metadata_larger_than_a_memory_keeps_is_refused(store: MemoryStore) -> None:
    """Content has its limit (``memory.max_content_chars``); metadata had none: a 5 MB value was
    stored into the row and went out in every answer and export."""
    from mahavishnu.memory.core.models import METADATA_CHARS

    store.store("small", "note", metadata={"k": "v" * (METADATA_CHARS - 20)})
    with pytest.raises(InvalidInputError, match="characters of JSON, more than"):
        store.store("big", "note", metadata={"k": "v" * METADATA_CHARS})
    assert [m.content for m in store.recent()] == ["small"]


# -- get / update / delete --------------------------------------------------------------------------
def test_an_unknown_id_is_not_found_with_where_ids_are_whatever_is_asked(store: MemoryStore) -> None:
    """`memory get` said where to find ids; delete and update of the same id did not."""
    for asked in (store.get, store.delete, lambda i: store.update(i, tags=["x"])):
        with pytest.raises(NotFoundError, match="no memory #999") as found:
            asked(999)
        assert found.value.hint and "memory search" in found.value.hint


@pytest.mark.parametrize("asked", ["1", 1.0, True, None])
def test_an_id_that_is_no_whole_number_says_so(store: MemoryStore, asked: Any) -> None:
    """``get("1")`` said "no memory #1" though #1 was stored (``True`` found it: a bool is an int);
    ``get_many(["1"])`` answered {} and ``delete_many(["1"])`` 0, as though there were no #1."""
    stored = store.store("the deploy uses blue green", "decision")
    assert stored.id == 1
    calls: list[Callable[[Any], object]] = [store.get, store.delete, lambda i: store.update(i, tags=["x"])]
    calls += [lambda i: store.get_many([1, i]), lambda i: store.delete_many([1, i])]
    for call in calls:
        with pytest.raises(InvalidInputError, match="a memory id is a whole number, not") as refused:
            call(asked)
        assert refused.value.hint == "Pass the id as an int: get(1)."
    for call in (store.get_many, store.delete_many):  # a string of digits was read digit by digit
        with pytest.raises(InvalidInputError, match=r"^memory ids are a list of whole numbers, not '1'$"):
            call("1")  # type: ignore[arg-type]
    assert store.get(1).content == "the deploy uses blue green"
    assert store.get_many([1, 2**70]).keys() == {1}  # an id past 64 bits names no row: absent


def test_update_reembeds_new_content_and_keeps_the_id(store: MemoryStore) -> None:
    memory = store.store("the deploy uses blue green", "decision", tags=["ops"])

    updated = store.update(memory.id, content="the deploy uses canary releases", tags=["ops", "deploy"])

    assert updated.id == memory.id and updated.updated_at > memory.updated_at
    assert updated.created_at == memory.created_at
    assert updated.tags == ("ops", "deploy")
    assert [h.memory.id for h in store.search("canary", mode="text")] == [memory.id]
    assert store.search("blue green", mode="text") == []
    assert store.search("canary releases", mode="vector", limit=1)[0].score == pytest.approx(0.7, abs=0.3)


def test_update_can_change_type_metadata_and_clear_a_label(store: MemoryStore) -> None:
    memory = store.store("text", "note", project="p", metadata={"a": 1})

    updated = store.update(memory.id, type="decision", metadata={"b": 2}, project=None)

    assert (updated.memory_type, dict(updated.metadata), updated.project) == ("decision", {"b": 2}, None)
    assert store.get(memory.id) == updated


def test_update_refuses_a_duplicate_of_another_memory(store: MemoryStore) -> None:
    store.store("first", "note")
    second = store.store("second", "note")

    with pytest.raises(InvalidInputError, match="already holds this content"):
        store.update(second.id, content="first")
    assert store.get(second.id).content == "second"


@pytest.mark.parametrize(
    ("changes", "error"),
    [({"colour": "red"}, InvalidInputError), ({}, InvalidInputError), ({"type": "memo"}, InvalidInputError)],
)
def test_update_validates_its_changes(store: MemoryStore, changes: dict[str, object], error: type) -> None:
    memory = store.store("text", "note")
    with pytest.raises(error):
        store.update(memory.id, **changes)


def test_update_of_an_unknown_id_is_not_found(store: MemoryStore) -> None:
    with pytest.raises(NotFoundError):
        store.update(42, tags=["x"])


def test_delete_removes_it_from_get_and_every_search(store: MemoryStore) -> None:
    keep = store.store("keep this sqlite note", "note")
    gone = store.store("delete this sqlite note", "note")

    store.delete(gone.id)

    with pytest.raises(NotFoundError):
        store.get(gone.id)
    for mode in ("vector", "text", "hybrid"):
        assert [h.memory.id for h in store.search("sqlite note", mode=mode)] == [keep.id]
    with pytest.raises(NotFoundError):
        store.delete(gone.id)


def test_delete_where_forgets_one_repository_and_refuses_no_filter(store: MemoryStore) -> None:
    store.store_many(
        [{"content": f"chunk {i}", "type": "rag", "repo_id": "a" if i % 2 else "b"} for i in range(6)]
    )

    assert store.delete_where({"repo_id": "a"}) == 3
    assert {m.repo_id for m in store.recent(limit=10)} == {"b"}
    with pytest.raises(InvalidInputError, match="refusing"):
        store.delete_where({})


# -- search -------------------------------------------------------------------------------------
CORPUS = [
    ("SQLite in WAL mode survives a crash", "decision", "alpha"),
    ("pytest fixtures keep tests small", "note", "alpha"),
    ("the retry policy backs off exponentially", "decision", "beta"),
    ("bananas are yellow and rich in potassium", "note", "beta"),
]


def fill(store: MemoryStore) -> list[int]:
    return [store.store(text, kind, project=project).id for text, kind, project in CORPUS]


@pytest.mark.parametrize("mode", ["vector", "text", "hybrid"])
def test_every_mode_ranks_the_matching_memory_first(store: MemoryStore, mode: str) -> None:
    ids = fill(store)

    hits = store.search("retry policy with exponential back off", mode=mode)

    assert hits[0].memory.id == ids[2]
    assert hits[0].source == "memory"
    assert mode in hits[0].modes or (mode == "hybrid" and set(hits[0].modes) == {"vector", "text"})
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)


def test_hybrid_hits_carry_both_leg_scores_and_a_score_in_0_1(store: MemoryStore) -> None:
    fill(store)

    hits = store.search("SQLite crash", mode="hybrid")

    top = hits[0]
    assert top.modes == ("vector", "text") and top.vector_score is not None and top.text_score is not None
    assert all(0.0 <= h.score <= 1.0 for h in hits)
    assert top.to_dict()["memory"]["content"].startswith("SQLite")


def test_min_score_drops_weaker_hits(store: MemoryStore) -> None:
    fill(store)
    hits = store.search("bananas", mode="vector")
    cutoff = (hits[0].score + hits[1].score) / 2

    assert [h.memory.id for h in store.search("bananas", mode="vector", min_score=cutoff)] == [
        hits[0].memory.id
    ]


@pytest.mark.parametrize("mode", ["vector", "text", "hybrid"])
@pytest.mark.parametrize(
    ("filters", "field", "expected"),
    [
        ({"project": "rare"}, "project", "rare"),
        ({"repo_id": "rare"}, "repo_id", "rare"),
        ({"agent_id": "rare"}, "agent_id", "rare"),
        ({"session_id": "rare"}, "session_id", "rare"),
        ({"type": "insight"}, "memory_type", "insight"),
        ({"tags": ["rare", "x"]}, "tags", ("rare", "x")),
    ],
)
def test_a_filtered_top_k_returns_k_rows_when_k_exist(
    store: MemoryStore, mode: str, filters: dict[str, object], field: str, expected: object
) -> None:
    """60 memories match the query better than the 12 rare ones: filtering after a top-k would
    return none of the rare ones; filtering inside the search returns 10. (The 60 belong to
    another project: a project scope also sees the memories of no project.)"""
    common = [
        {"content": f"deploy pipeline deploy pipeline step {i}", "type": "note", "project": "busy"}
        for i in range(60)
    ]
    rare = [
        {
            "content": f"deploy pipeline notes {i}: what the release taught us",
            "type": "insight",
            "project": "rare",
            "repo_id": "rare",
            "agent_id": "rare",
            "session_id": "rare",
            "tags": ["rare", "x"],
        }
        for i in range(12)
    ]
    decoy = [{"content": "deploy decoy", "type": "note", "project": "busy", "tags": ["rare"]}]  # 1 tag of 2
    store.store_many([*common, *rare, *decoy])

    hits = store.search("deploy pipeline", mode=mode, filters=filters, limit=10)

    assert len(hits) == 10
    assert all(getattr(h.memory, field) == expected for h in hits)


@pytest.mark.parametrize("mode", ["vector", "text", "hybrid"])
def test_time_range_filters_apply_inside_the_search(
    store: MemoryStore, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for day in range(10):
        monkeypatch.setattr(store_module, "utcnow", lambda day=day: start + timedelta(days=day))
        store.store(f"daily standup notes day {day}", "note")

    since, until = start + timedelta(days=3), start + timedelta(days=6)
    hits = store.search("standup notes", mode=mode, filters={"since": since, "until": until.isoformat()})

    assert sorted(h.memory.created_at.day for h in hits) == [4, 5, 6]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"query": " "}, "query is empty"),
        ({"query": 5}, "^the search query must be text, not int$"),  # it said "the search query is empty"
        ({"min_score": "0.5"}, "^min_score must be a number, not '0.5'$"),  # a TypeError from isfinite()
        ({"mode": "fuzzy"}, "invalid search mode"),
        ({"limit": 0}, "limit must be between"),
        ({"limit": 5_000}, "limit must be between"),
        ({"filters": {"colour": "red"}}, "unknown filter 'colour'"),
        ({"filters": {"type": "memo"}}, "invalid memory type"),
        ({"filters": {"since": "yesterday"}}, "not a date/time"),
        ({"filters": {"since": 12345}}, r"not a date/time: 12345 \(int, not ISO 8601 text\)"),
        ({"filters": {"until": ["2025-01-01"]}}, "not a date/time"),
        ({"filters": {"since": "2025-02-01", "until": "2025-01-01"}}, "'since' must be before 'until'"),
        ({"filters": {"project": 3}}, "project must be a non-empty string"),
        ({"filters": ["project"]}, "filters must be a mapping"),
    ],
)
def test_invalid_searches_are_refused(store: MemoryStore, kwargs: dict[str, object], message: str) -> None:
    options = dict(kwargs)
    query = options.pop("query", "hello")
    with pytest.raises(InvalidInputError, match=message):
        store.search(query, **options)  # type: ignore[arg-type]


class _WaitsForTheTextLeg(FakeEmbedder):
    """Embeds a query only once the backend's full-text leg has run (or after a while, saying
    the text leg had not run): the two overlap only if the query is embedded off the caller's thread."""

    def __init__(self, text_leg_ran: threading.Event) -> None:
        super().__init__()
        self.text_leg_ran = text_leg_ran
        self.overlapped: list[bool] = []

    def embed_batch(self, texts: Sequence[str], kind: Kind) -> Vectors:
        if kind == "query":
            self.overlapped.append(self.text_leg_ran.wait(timeout=5))
        return super().embed_batch(texts, kind)


def test_a_hybrid_search_embeds_the_query_while_the_full_text_leg_runs(
    backend_factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    text_leg_ran = threading.Event()
    embedder = _WaitsForTheTextLeg(text_leg_ran)
    with open_store(backend_factory, embedder) as opened:
        opened.store("the deploy script lives in ops/deploy.sh", "note")
        text_search = opened.backend.text_search

        def text_leg(*args: Any) -> Any:
            found = text_search(*args)
            text_leg_ran.set()
            return found

        monkeypatch.setattr(opened.backend, "text_search", text_leg)
        hits = opened.search("where is the deploy script?")

    assert embedder.overlapped == [True]
    assert [h.memory.content for h in hits] == ["the deploy script lives in ops/deploy.sh"]


def test_a_query_that_cannot_be_embedded_fails_the_hybrid_search(store: MemoryStore) -> None:
    store.store("a note", "note")

    def broken(texts: Sequence[str], kind: Kind) -> Vectors:
        raise EmbeddingError("the embedder is down", hint="Start it.")

    store.embedder.embed_batch = broken  # type: ignore[method-assign]
    with pytest.raises(EmbeddingError, match="the embedder is down"):
        store.search("a note")


def _search_in_a_fresh_store(path: Path) -> None:
    with MemoryStore(SqliteBackend(path), MemorySettings(), FakeEmbedder()) as child:
        child.store("the deploy script lives in ops/deploy.sh", "note")
        found = bool(child.search("where is the deploy script?"))
    # os._exit: a forked child must not run the parent's exit handlers (Prefect's, when its tests ran
    # earlier in this process, end a child with status 1 whatever it did)
    os._exit(0 if found else 1)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_child_forked_after_a_search_can_search(tmp_path: Path) -> None:
    """Hybrid search embeds the query on a worker thread; a forked child has no such thread and
    must start its own rather than wait forever for the parent's."""
    with MemoryStore(SqliteBackend(tmp_path / "parent.db"), MemorySettings(), FakeEmbedder()) as parent:
        parent.store("a note", "note")
        assert parent.search("a note")
    child = multiprocessing.get_context("fork").Process(
        target=_search_in_a_fresh_store, args=(tmp_path / "c.db",)
    )
    child.start()
    child.join(timeout=60)
    if child.is_alive():
        child.kill()
    assert child.exitcode == 0


def test_search_on_an_empty_store_finds_nothing(store: MemoryStore) -> None:
    assert store.search("anything") == []
    assert store.search("the of and", mode="text") == []


def test_list_is_newest_first_and_filtered(store: MemoryStore) -> None:
    ids = fill(store)

    assert [m.id for m in store.recent({"project": "beta"})] == [ids[3], ids[2]]
    assert [m.id for m in store.recent(limit=2)] == [ids[3], ids[2]]


def test_stats_count_by_type_and_project(store: MemoryStore) -> None:
    fill(store)

    stats = store.stats()

    assert stats["count"] == 4
    assert stats["by_type"] == {"decision": 2, "note": 2}
    assert stats["by_project"] == {"alpha": 2, "beta": 2}
    assert stats["embedder"] == "fake/hashing-v1" and stats["dimension"] == 64
    assert stats["reembed_in_progress"] is None


# -- reopening, embedders -----------------------------------------------------------------------
def test_reopening_finds_everything(backend_factory: Factory) -> None:
    with open_store(backend_factory) as first:
        ids = fill(first)
    with open_store(backend_factory) as again:
        assert [again.get(i).content for i in ids] == [c for c, _, _ in CORPUS]
        assert again.search("bananas", mode="vector")[0].memory.id == ids[3]
        assert again.migration_state().pending == ()


def test_open_given_a_path_or_an_embedders_name_says_what_it_takes(tmp_path: Path) -> None:
    """``MemoryStore.open("memory.db")`` raised "'str' object has no attribute 'backend'", and
    ``open(embedder="ollama")`` "'str' object has no attribute 'identity'"."""
    with pytest.raises(InvalidInputError, match=r"^MemoryStore.open takes settings, not PosixPath$") as path:
        MemoryStore.open(tmp_path / "memory.db")  # type: ignore[arg-type]
    assert "MemorySettings(path=" in path.value.hint
    with pytest.raises(InvalidInputError, match=r"^MemoryStore.open takes an embedder, not str$") as named:
        MemoryStore.open(MemorySettings(path=tmp_path / "memory.db"), embedder="ollama")  # type: ignore[arg-type]
    assert "get_embedder" in named.value.hint
    with MemoryStore.open(MemorySettings(path=tmp_path / "memory.db"), embedder=FakeEmbedder()) as store:
        assert store.stats()["location"] == str(tmp_path / "memory.db")


def test_a_store_refuses_an_embedder_of_another_dimension(backend_factory: Factory) -> None:
    with open_store(backend_factory) as first:
        fill(first)

    with pytest.raises(DimensionMismatchError, match="64-dim vectors from fake/hashing-v1") as info:
        open_store(backend_factory, FakeEmbedder(dimension=32))
    assert "reembed" in info.value.hint


def test_a_store_refuses_another_model_of_the_same_dimension(backend_factory: Factory) -> None:
    with open_store(backend_factory) as first:
        fill(first)

    with pytest.raises(EmbedderMismatchError, match="not fake/other"):
        open_store(backend_factory, FakeEmbedder(model="other"))


def test_an_empty_store_adopts_a_new_embedder(backend_factory: Factory) -> None:
    open_store(backend_factory).close()

    with open_store(backend_factory, FakeEmbedder(dimension=32)) as store:
        assert store.store("hello", "note").embedding_dim == 32
        assert store.stats()["dimension"] == 32


class Exploding(FakeEmbedder):
    """Fails after ``budget`` batches: a reembed killed half-way."""

    def __init__(self, budget: int, dimension: int = 32) -> None:
        super().__init__(dimension=dimension, model="v2")
        self.budget = budget

    def embed_batch(self, texts: Sequence[str], kind: Kind) -> Vectors:
        if self.calls >= self.budget:
            raise RuntimeError("killed")
        return super().embed_batch(texts, kind)


def test_reembed_moves_the_store_to_another_embedder(backend_factory: Factory) -> None:
    with open_store(backend_factory) as store:
        ids = fill(store)
        seen: list[tuple[int, int]] = []
        report = store.reembed(
            FakeEmbedder(dimension=32, model="v2"), batch_size=3, progress=lambda *p: seen.append(p)
        )

        assert (report.embedded, report.total, report.embedder) == (4, 4, "fake/v2")
        assert seen == [(3, 4), (4, 4)]
        assert {store.get(i).embedding_model for i in ids} == {"fake/v2"}
        assert store.search("bananas", mode="vector")[0].memory.id == ids[3]
    with pytest.raises(DimensionMismatchError):
        open_store(backend_factory)
    with open_store(backend_factory, FakeEmbedder(dimension=32, model="v2")) as again:
        assert again.stats()["embedder"] == "fake/v2"


def test_an_interrupted_reembed_keeps_the_old_space_usable_and_resumes(backend_factory: Factory) -> None:
    with open_store(backend_factory) as store:
        ids = store.store_many([{"content": f"memory about topic {i}"} for i in range(10)])
        with pytest.raises(RuntimeError, match="killed"):
            store.reembed(Exploding(budget=3), batch_size=3)  # (the first call checks it answers)

    with open_store(backend_factory) as store:  # the old embedder still works meanwhile
        assert store.stats()["reembed_in_progress"] == "fake/v2:32"
        assert store.search("topic 7", mode="vector")[0].memory.id == ids[7].id
        late = store.store("memory stored during the reembed", "note")
        report = store.reembed(FakeEmbedder(dimension=32, model="v2"), batch_size=3)

    assert report.embedded == 5  # 10 + 1 memories, 6 already staged before the "kill"
    with open_store(backend_factory, FakeEmbedder(dimension=32, model="v2")) as store:
        assert store.get(late.id).embedding_dim == 32
        assert store.stats()["reembed_in_progress"] is None


def test_a_reembed_whose_embedder_never_answers_leaves_no_move_behind(backend_factory: Factory) -> None:
    """A reembed to an Ollama at a wrong --url failed at once, but left the store marked as moving
    to it: doctor then warned of an unfinished reembed until the store was moved back."""
    with open_store(backend_factory) as store:
        fill(store)
        with pytest.raises(RuntimeError, match="killed"):
            store.reembed(Exploding(budget=0), batch_size=3)
        assert store.stats()["reembed_in_progress"] is None


def test_a_second_reembed_while_one_runs_is_refused_and_the_first_completes(
    backend_factory: Factory, request: pytest.FixtureRequest
) -> None:
    """A reembed started while another ran staged its vectors among the first's: the first then
    failed at its swap with sqlite3's IntegrityError (the dimensions differed), or swapped in two
    models' vectors (the same dimension). Now the second is refused, in one line, and nothing of
    it is done; once the first is over another may run."""
    if "fake" in request.node.callspec.id:
        pytest.skip("the fake store lives in one process: nothing to lock")
    refusals: list[StoreError] = []

    class Racing(FakeEmbedder):  # a second reembed starts, on its own connection, half-way through
        def embed_batch(self, texts: Sequence[str], kind: Kind) -> Vectors:
            if self.calls == 2:
                with open_store(backend_factory) as other, pytest.raises(StoreError) as info:
                    other.reembed(FakeEmbedder(dimension=32, model="v3"), batch_size=3)
                refusals.append(info.value)
            return super().embed_batch(texts, kind)

    with open_store(backend_factory) as store:
        ids = fill(store)
        report = store.reembed(Racing(dimension=32, model="v2"), batch_size=3)
    assert report.done and len(refusals) == 1
    assert str(refusals[0]).startswith("another `memory reembed` is moving the memory store ")
    assert "\n" not in str(refusals[0]) and "memory stats" in refusals[0].hint
    with open_store(backend_factory, FakeEmbedder(dimension=32, model="v2")) as store:
        assert {store.get(i).embedding_model for i in ids} == {"fake/v2"}
        assert store.stats()["reembed_in_progress"] is None
        assert store.reembed(FakeEmbedder(dimension=48, model="v3")).done  # the lock was let go


def test_a_store_opened_before_a_reembed_elsewhere_writes_no_vector_of_the_old_model(
    backend_factory: Factory,
) -> None:
    """A process holding a store opened before another moved it (``memory reembed``, a model of the
    same dimension) went on storing and updating with its old model: vectors of two spaces in one
    store, searched as one. Now the backend refuses them, in the transaction, in one line."""
    with open_store(backend_factory) as early:
        ids = fill(early)
        with open_store(backend_factory) as other:
            assert other.reembed(FakeEmbedder(model="v2"), batch_size=3).done
        count = early.stats()["count"]
        for write in (
            lambda: early.store("written after the move", "note"),
            lambda: early.store_many([{"content": "also after the move"}]),
            lambda: early.update(ids[0], content="changed after the move"),
        ):
            with pytest.raises(
                EmbedderMismatchError, match=r"^the memory store .* now holds vectors of fake/v2 "
            ):
                write()
        assert early.stats()["count"] == count
        assert early.get(ids[0]).embedding_model == "fake/v2"
        assert early.update(ids[0], tags=["kept"]).tags == ("kept",)  # no vector: written
    with open_store(backend_factory, FakeEmbedder(model="v2")) as moved:
        assert moved.store("stored with the store's model", "note").embedding_model == "fake/v2"


def test_a_closed_store_says_so_on_every_method(backend_factory: Factory, tmp_path: Path) -> None:
    """Used after ``close()`` (a ``with`` block left), each method raised sqlite3's
    ``ProgrammingError: Cannot operate on a closed database``; now the tool's own error, in one line."""
    store = open_store(backend_factory)
    memory_id = store.store("Use WAL mode", "decision", project="p").id
    store.export(tmp_path / "export.jsonl")
    store.close()
    calls: dict[str, Callable[[], object]] = {
        "store": lambda: store.store("more", "note"),
        "add": lambda: store.add("more", "note"),
        "store_many": lambda: store.store_many([{"content": "more"}]),
        "store_many_checked": lambda: store.store_many_checked([{"content": "more"}]),
        "stored_as": lambda: store.stored_as("Use WAL mode", "decision", project="p"),
        "get": lambda: store.get(memory_id),
        "get_many": lambda: store.get_many([memory_id]),
        "update": lambda: store.update(memory_id, tags=["x"]),
        "edit": lambda: store.edit(memory_id, {"tags": ["x"]}),
        "quarantine": lambda: store.quarantine(memory_id),
        "trust": lambda: store.trust(memory_id),
        "delete": lambda: store.delete(memory_id),
        "delete_many": lambda: store.delete_many([memory_id]),
        "delete_each": lambda: store.delete_each([memory_id]),
        "delete_where": lambda: store.delete_where({"project": "p"}),
        "recent": lambda: store.recent(),
        "search": lambda: store.search("WAL"),
        "query_vector": lambda: store.query_vector("WAL", "vector"),
        "embedder": lambda: store.embedder,
        "embedder_moved": lambda: store.embedder_moved(),
        "relevance_floor": lambda: store.relevance_floor,
        "describe_project": lambda: store.describe_project("p", "a project"),
        "project_description": lambda: store.project_description("p"),
        "project_contexts": lambda: store.project_contexts()("p", "decision"),  # read when first needed
        "stats": lambda: store.stats(),
        "migration_state": lambda: store.migration_state(),
        "store_performance_metrics": lambda: store.store_performance_metrics("probe", "latency", {"ms": 1}),
        "performance_metrics": lambda: store.performance_metrics(),
        "export": lambda: store.export(tmp_path / "again.jsonl"),
        "import_": lambda: store.import_(tmp_path / "export.jsonl"),
        "reembed": lambda: store.reembed(FakeEmbedder(dimension=32)),
        "outbox_target": lambda: store.outbox_target,
        "queued": lambda: store.queued(),
        "deliver_queued": lambda: store.deliver_queued(),
    }
    public = {n for n in dir(MemoryStore) if not n.startswith("_")} - {"open", "close", "backend", "fusion"}
    assert public == set(calls)  # a method added since is tried here too
    for name, call in calls.items():
        with pytest.raises(StoreClosedError, match=r"^the memory store is closed$") as info:
            call()
            pytest.fail(f"{name} did not say the store is closed")
        assert "MemoryStore.open()" in info.value.hint, name
    store.close()  # a second close does nothing
    assert not (tmp_path / "again.jsonl").exists()


# -- export / import ----------------------------------------------------------------------------
def test_an_export_is_private_and_the_next_one_removes_what_a_killed_one_left(
    backend_factory: Factory, tmp_path: Path
) -> None:
    """A kill -9 during `memory export` left a 9 MB ``export.jsonl.XXXX.tmp`` that nothing removed."""
    import os
    import stat
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()
    left = tmp_path / f"export.jsonl.{gone.pid}.abc123.tmp"  # a writer that died
    left.write_text("half an export")
    older = tmp_path / "export.jsonl.k2j4h3.tmp"  # named before the pid was, two hours old
    older.write_text("half an export")
    os.utime(older, (older.stat().st_mtime - 7200,) * 2)
    running = tmp_path / f"export.jsonl.{os.getpid()}.def456.tmp"  # a writer still at work
    running.write_text("being written")
    with open_store(backend_factory) as store:
        fill(store)
        store.export(tmp_path / "export.jsonl")
    assert not left.exists() and not older.exists() and running.exists()
    assert stat.S_IMODE((tmp_path / "export.jsonl").stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.glob("export.jsonl*")) == sorted(["export.jsonl", running.name])


def test_export_refuses_the_stores_own_file_a_folder_and_what_is_no_regular_file(tmp_path: Path) -> None:
    """``export(path)`` of the store's own file put the JSONL in the database's place (every memory
    lost); a folder raised IsADirectoryError; a device or a pipe was replaced by the export's rename."""
    path = tmp_path / "memory.db"
    with MemoryStore(SqliteBackend(path), MemorySettings(), FakeEmbedder()) as store:
        store.store("keep me", "note")
        (tmp_path / "link.jsonl").symlink_to(path)
        for own in (path, tmp_path / "memory.db-wal", tmp_path / "link.jsonl"):
            with pytest.raises(InvalidInputError, match="is the memory store's own file: nothing was"):
                store.export(own)
        with pytest.raises(InvalidInputError, match=r"is a folder$") as folder:
            store.export(tmp_path)
        assert folder.value.hint == f"Name a file to write inside it, e.g. {tmp_path / 'export.jsonl'}."
        os.mkfifo(tmp_path / "pipe")
        with pytest.raises(InvalidInputError, match=r"pipe is not a regular file$"):
            store.export(tmp_path / "pipe")
        assert (tmp_path / "pipe").is_fifo()
        (tmp_path / "old.jsonl").write_text("an earlier export\n")
        assert store.export(tmp_path / "old.jsonl").memories == 1  # a file is replaced, as open(path, "w")
    with MemoryStore(SqliteBackend(path), MemorySettings(), FakeEmbedder()) as store:
        assert [m.content for m in store.recent()] == ["keep me"]


def test_export_then_import_round_trips_exactly(backend_factory: Factory, tmp_path: Path) -> None:
    path = tmp_path / "out" / "memories.jsonl"
    with open_store(backend_factory) as source:
        ids = fill(source)
        source.update(ids[1], tags=["t1", "t2"], metadata={"nested": {"k": [1, 2.5, None]}})
        source.delete(ids[0])
        originals = list(source.backend.iter_all())
        assert source.export(path).memories == 3

    with open_store(lambda: FakeBackend()) as target:
        counts = target.import_(path)
        copies = list(target.backend.iter_all())
        again = target.import_(path)

    assert (counts.imported, counts.skipped, counts.renumbered) == (3, 0, 0)
    assert copies == originals  # ids, content, scope, tags, metadata, timestamps
    assert all(np.array_equal(a.embedding, b.embedding) for a, b in zip(copies, originals, strict=True))  # type: ignore[arg-type]
    assert (again.imported, again.skipped) == (0, 3)


def test_import_into_a_store_keeps_ids_or_renumbers_on_collision(
    backend_factory: Factory, tmp_path: Path
) -> None:
    with open_store(lambda: FakeBackend()) as source:
        fill(source)
        source.export(tmp_path / "m.jsonl")

    with open_store(backend_factory) as target:
        local = target.store("already here, with id 1", "note")
        counts = target.import_(tmp_path / "m.jsonl")
        assert (counts.imported, counts.renumbered) == (4, 1)
        assert target.get(local.id).content == "already here, with id 1"
        assert target.stats()["count"] == 5


def _with_lines(path: Path, *changes: dict[str, Any]) -> None:
    """The export at ``path`` with its first memory's line followed by copies changed as given."""
    header, first, *rest = path.read_text().splitlines()
    copies = [json.dumps(json.loads(first) | change) for change in changes]
    path.write_text("\n".join([header, first, *copies, *rest]) + "\n")


def test_an_export_holding_a_nul_imports_without_it(backend_factory: Factory, tmp_path: Path) -> None:
    """A store kept a NUL in a memory's text before it was dropped on the way in: its export
    imports on every backend (PostgreSQL refused the line), the NUL dropped there too."""
    path = tmp_path / "m.jsonl"
    with open_store(lambda: FakeBackend()) as source:
        source.store("deploy on tuesdays", "note")
        source.export(path)
    path.write_text(path.read_text().replace("deploy on tuesdays", "deploy\\u0000 on tuesdays"))
    with open_store(backend_factory) as target:
        assert target.import_(path).imported == 1
        [memory] = target.backend.iter_all()
        assert (memory.content, memory.content_hash) == (
            "deploy on tuesdays",
            content_hash("deploy on tuesdays"),
        )


def test_import_works_out_each_content_hash_never_trusting_the_files(
    backend_factory: Factory, tmp_path: Path
) -> None:
    path = tmp_path / "m.jsonl"
    with open_store(backend_factory) as store:
        kept = store.store("something", "note")
        store.export(path)
        _with_lines(
            path,
            {"id": 5, "content": "a different memory"},  # the hash of "something"
            {"id": 6, "content": "zero hash", "content_hash": "0" * 64},
            {"id": 7, "content_hash": "0" * 64},  # "something" again, under another hash
        )
        store.delete(kept.id)
        counts = store.import_(path)
        assert (counts.imported, counts.skipped) == (3, 1)
        assert {m.content: m.content_hash for m in store.backend.iter_all()} == {
            text: content_hash(text) for text in ("something", "a different memory", "zero hash")
        }


def test_import_refuses_vectors_from_another_embedder(backend_factory: Factory, tmp_path: Path) -> None:
    with open_store(lambda: FakeBackend(), FakeEmbedder(model="other")) as source:
        source.store("from elsewhere", "note")
        source.export(tmp_path / "m.jsonl")

    with open_store(backend_factory) as target:
        target.store("mine", "note")
        with pytest.raises(EmbedderMismatchError, match="fake/other"):
            target.import_(tmp_path / "m.jsonl")


def _tampered_export(path: Path, embedder: FakeEmbedder) -> None:
    """An export of ``embedder``'s store whose first memory was given a secret after its vector was
    made: the import scrubs it and must embed that memory again."""
    with open_store(lambda: FakeBackend(), embedder) as source:
        source.store("Storage is PostgreSQL 16", "decision", project="ledger")
        source.store("The cache is Redis", "note", project="ledger")
        source.describe_project("ledger", "the payments service")
        source.export(path)
    text = path.read_text().replace(
        "Storage is PostgreSQL 16", "Storage is PostgreSQL 16, password=hunter2xyz42"
    )
    path.write_text(text)


def test_an_import_that_must_embed_with_another_model_than_the_files_writes_nothing(
    backend_factory: Factory, tmp_path: Path
) -> None:
    """An empty store adopts the file's embedder; a memory the import must embed again would get
    its vector from this store's model among the file's: refused before anything is written."""
    path = tmp_path / "m.jsonl"
    _tampered_export(path, FakeEmbedder(model="other"))

    with open_store(backend_factory, FakeEmbedder(model="mine")) as target:
        before = target.backend.get_meta(store_module.META_EMBEDDER)
        with pytest.raises(
            EmbedderMismatchError, match=r"1 memory of the file must be embedded again.*fake/other"
        ) as refused:
            target.import_(path)
        assert "memory.embedder: fake, memory.embedder_model: other" in (refused.value.hint or "")
        assert target.stats()["count"] == 0
        assert target.backend.get_meta(store_module.META_EMBEDDER) == before != "fake/other"
        assert target.project_description("ledger") is None


def test_import_of_a_bad_file_writes_nothing(backend_factory: Factory, tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    with open_store(lambda: FakeBackend()) as source:
        source.store_many([{"content": f"memory {i}"} for i in range(600)])
        source.export(path)
    lines = path.read_text().splitlines()
    lines[550] = lines[550].replace('"note"', '"memo"')
    path.write_text("\n".join(lines) + "\n")

    with open_store(backend_factory) as target:
        with pytest.raises(InvalidInputError, match=r"m.jsonl:551: invalid memory type"):
            target.import_(path)
        assert target.stats()["count"] == 0

    path.write_text("not json\n")
    with (
        open_store(backend_factory) as target,
        pytest.raises(InvalidInputError, match="not a Mahavishnu memory export"),
    ):
        target.import_(path)


def test_import_of_a_binary_file_is_not_an_export(backend_factory: Factory, tmp_path: Path) -> None:
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe binary")

    with (
        open_store(backend_factory) as target,
        pytest.raises(InvalidInputError, match="not a Mahavishnu memory export"),
    ):
        target.import_(path)


def test_import_of_a_file_with_a_non_utf8_line_names_the_line(
    backend_factory: Factory, tmp_path: Path
) -> None:
    path = tmp_path / "m.jsonl"
    with open_store(lambda: FakeBackend()) as source:
        source.store("a memory", "note")
        source.export(path)
    path.write_bytes(path.read_bytes() + b'{"id": 9, "content": "\xff"}\n')

    with open_store(backend_factory) as target:
        with pytest.raises(InvalidInputError, match=r"m.jsonl:3: not UTF-8 text"):
            target.import_(path)
        assert target.stats()["count"] == 0


def test_import_refuses_vectors_that_do_not_have_the_headers_dimension(
    backend_factory: Factory, tmp_path: Path
) -> None:
    path = tmp_path / "m.jsonl"
    with open_store(lambda: FakeBackend()) as source:
        source.store_many([{"content": f"memory {i}"} for i in range(3)])
        source.export(path)
    lines = path.read_text().splitlines()
    dimension = json.loads(lines[0])["dimension"]
    path.write_text("\n".join([lines[0].replace(f'"{dimension}"', '"768"'), *lines[1:]]) + "\n")

    with open_store(backend_factory) as target:
        with pytest.raises(
            InvalidInputError, match=rf"m.jsonl:2: the vector has {dimension} dimensions, .* 768"
        ):
            target.import_(path)
        assert target.stats()["count"] == 0


def test_import_refuses_vectors_of_another_dimension_from_the_same_embedder(
    backend_factory: Factory, tmp_path: Path
) -> None:
    with open_store(lambda: FakeBackend(), FakeEmbedder(dimension=32)) as source:
        source.store("from a 32-dim store", "note")
        source.export(tmp_path / "m.jsonl")

    with open_store(backend_factory, FakeEmbedder(dimension=16)) as target:
        target.store("mine", "note")
        with pytest.raises(EmbedderMismatchError, match="32-dim"):
            target.import_(tmp_path / "m.jsonl")
        assert target.stats()["count"] == 1


def test_performance_metrics_are_recorded_and_filtered(store: MemoryStore) -> None:
    first = store.store_performance_metrics("provider:qwen", "probe", {"latency_ms": 12.5, "ok": True})
    store.store_performance_metrics("provider:zai", "probe", {"latency_ms": 40.0, "ok": False})
    store.store_performance_metrics("store", "health", {"status": "ok"})
    probes = store.performance_metrics(metric_type="probe")
    assert [row["component"] for row in probes] == ["provider:zai", "provider:qwen"]  # newest first
    [qwen] = store.performance_metrics(component="provider:qwen")
    assert qwen["id"] == first and qwen["metrics"] == {"latency_ms": 12.5, "ok": True}
    assert qwen["recorded_at"].endswith("Z")
    assert store.performance_metrics(since=qwen["recorded_at"], limit=10)[-1]["id"] == first
    assert store.performance_metrics(since="2999-01-01T00:00:00Z") == []


@pytest.mark.parametrize(
    ("component", "metric_type", "metrics"),
    [("", "probe", {}), ("store", " ", {}), ("store", "probe", ["not", "an", "object"])],
)
def test_invalid_performance_metrics_are_refused(
    store: MemoryStore, component: str, metric_type: str, metrics: object
) -> None:
    with pytest.raises(InvalidInputError):
        store.store_performance_metrics(component, metric_type, metrics)  # type: ignore[arg-type]


def test_backends_find_the_query_word_pairs_each_memory_holds_adjacent(store: MemoryStore) -> None:
    texts = [
        "colorectal cancer risk fell with daily aspirin",
        "risk of cancer found at colorectal screening",
        "cancer risk rose on the colorectal ward",
        "colorectal-cancer: a risk",
    ]
    ids = [m.id for m in store.store_many([{"content": t, "type": "note"} for t in texts])]
    pairs = [("colorectal", "cancer"), ("cancer", "risk")]

    assert store.backend.pair_holders(pairs) == [{ids[0], ids[3]}, {ids[0], ids[2]}]


def test_hybrid_search_ranks_the_query_words_in_order_first(store: MemoryStore) -> None:
    """The same words in another order tie in both legs (the fake embedder hashes words, BM25
    counts them), so without the word-pair leg the older memory comes first by its id."""
    texts = ["risk cancer colorectal", "colorectal cancer risk", "deploy the api gateway", "green tea"]
    ids = [m.id for m in store.store_many([{"content": t, "type": "note"} for t in texts])]
    assert store.fusion.proximity == MemorySettings().hybrid_proximity > 0

    in_order = store.search("colorectal cancer risk", limit=2)
    without_pairs = store.search("colorectal cancer risk", limit=2, fusion=replace(store.fusion, proximity=0))

    assert [h.memory.id for h in in_order] == [ids[1], ids[0]]
    assert [h.memory.id for h in without_pairs] == [ids[0], ids[1]]


def test_hybrid_search_scores_each_candidate_in_both_legs(store: MemoryStore) -> None:
    """Legs 2 deep: every backend fuses the union with a text candidate's cosine read from its
    stored vector and a vector candidate's BM25 from the text leg read deeper, which here ranks
    other memories than giving a candidate a leg did not return that leg's lowest value."""
    texts = [
        "deploy the api gateway with blue green rollout",
        "gateway timeout after deploy, rollback the release",
        "the release notes mention the new api",
        "blue green deploy keeps two environments alive",
        "api keys rotate every ninety days",
        "rollback plan: keep the previous release image",
        "green tea in the kitchen",
        "deploy deploy deploy checklist",
    ]
    store.store_many([{"content": t, "type": "note"} for t in texts])
    query, fusion = "release api gateway", Fusion("zscore", alpha=0.5, depth=2)
    query_vector = store.embedder.embed(query, kind="query")
    vector = store.backend.vector_search(query_vector, Filters(), 2)
    text = store.backend.text_search(query, Filters(), TEXT_COMPLETION_DEPTH)
    cosines = stored_cosines(store.backend, query_vector, fusion.text_only(vector, text, 2))
    complete = [r.id for r in fusion.fuse(vector, text, 2, cosines)]
    assert complete != [r.id for r in fusion.fuse(vector, text[:2], 2)]

    # A type filter: the store asks the backend for 2 (unfiltered, it asks for more, to drop chunks).
    hits = store.search(query, filters={"type": "note"}, limit=2, fusion=fusion)

    assert [h.memory.id for h in hits] == complete


def test_a_hybrid_hit_found_by_text_alone_carries_its_cosine(store: MemoryStore) -> None:
    """Legs 2 deep: the two closer vectors share only the query's stopwords, so the text leg's one
    hit is another memory, whose cosine the hit still carries (the recall hook's relevance floor
    reads it), that of its stored vector."""
    store.store_many(
        [
            {"content": "where is the config file, where is the log file, where is it", "type": "note"},
            {"content": "where is it, where is the key", "type": "note"},
            {"content": "jitter on retry backoff avoids thundering herds", "type": "note"},
        ]
    )
    query = "where is the retry backoff jitter configured"

    hits = store.search(query, filters={"type": "note"}, limit=2, fusion=Fusion("zscore", depth=2))

    text_only = [h for h in hits if h.modes == ("text",)]
    assert [h.memory.content for h in text_only] == ["jitter on retry backoff avoids thundering herds"]
    found = text_only[0].memory.id
    expected = stored_cosines(store.backend, store.embedder.embed(query, kind="query"), [found])
    assert text_only[0].vector_score == pytest.approx(expected[found], abs=1e-5)


def test_content_over_the_limit_says_a_team_store_takes_no_more_than_the_default() -> None:
    """Raising the setting cannot help past a team store's bound (``team/bounds.MEMORY_CHARS``): the
    hint says so rather than lead to the team store's own refusal."""
    from mahavishnu.memory.core.models import check_content
    from mahavishnu.memory.team.bounds import MEMORY_CHARS

    with pytest.raises(InvalidInputError) as refused:
        check_content("x" * 11, 10)
    assert f"a team store takes no more than its default, {MEMORY_CHARS:,}" in (refused.value.hint or "")
