"""The same memory stored by several writers at the same moment (each with its own connection):
one stores it, the others are told it was already stored, and every writer's tags and metadata are
kept. Every writer looks for the memory before any of them writes (a barrier right after
``find_existing``), which is the race capture hooks of several assistants sharing a store run into."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from _backends import Factory, open_store

from mahavishnu.memory.core.store import MemoryStore, Stored

WRITERS = 3
CONTENT = "Race2: gunicorn workers = 2*cores+1"


def _racing_stores(
    request: pytest.FixtureRequest, factory: Factory, count: int = WRITERS
) -> list[MemoryStore]:
    if request.node.callspec.params["backend_factory"] == "fake":
        pytest.skip("the in-memory fake has no concurrent connections")
    stores = [open_store(factory) for _ in range(count)]
    barrier = threading.Barrier(count, timeout=30)
    for store in stores:
        look = store.backend.find_existing

        def find_then_wait(drafts: Any, look: Callable[[Any], Any] = look) -> Any:
            found = look(drafts)
            barrier.wait()  # every writer has looked before any writes
            return found

        store.backend.find_existing = find_then_wait  # type: ignore[method-assign]
    return stores


def _race(stores: list[MemoryStore], work: Callable[[MemoryStore, int], Stored]) -> list[Stored]:
    with ThreadPoolExecutor(len(stores)) as pool:
        futures = [pool.submit(work, store, i) for i, store in enumerate(stores)]
        results = [f.result(timeout=60) for f in futures]
    for store in stores:
        store.close()
    return results


def test_concurrent_stores_of_one_memory_merge_every_writers_tags(
    request: pytest.FixtureRequest, backend_factory: Factory
) -> None:
    stores = _racing_stores(request, backend_factory)

    def work(store: MemoryStore, i: int) -> Stored:
        return store.add(CONTENT, "note", tags=[f"t{i}"], metadata={f"k{i}": i}, project="api")

    results = _race(stores, work)
    assert len({r.memory.id for r in results}) == 1
    assert sorted(r.duplicate for r in results) == [False] + [True] * (WRITERS - 1)
    with open_store(backend_factory) as store:
        (memory,) = store.recent({"project": "api"})
        assert sorted(memory.tags) == [f"t{i}" for i in range(WRITERS)]
        assert memory.metadata == {f"k{i}": i for i in range(WRITERS)}


def test_concurrent_merges_into_a_stored_memory_keep_every_writers_tags(
    request: pytest.FixtureRequest, backend_factory: Factory
) -> None:
    with open_store(backend_factory) as first:
        stored = first.store(CONTENT, "note", tags=["t0"], project="api")
    stores = _racing_stores(request, backend_factory)

    def work(store: MemoryStore, i: int) -> Stored:
        return store.add(CONTENT, "note", tags=[f"t{i + 1}"], project="api")

    results = _race(stores, work)
    assert all(r.duplicate and r.memory.id == stored.id for r in results)
    with open_store(backend_factory) as store:
        (memory,) = store.recent({"project": "api"})
        assert sorted(memory.tags) == [f"t{i}" for i in range(WRITERS + 1)]


def test_concurrent_batches_each_report_what_was_already_stored(
    request: pytest.FixtureRequest, backend_factory: Factory
) -> None:
    stores = _racing_stores(request, backend_factory, 2)

    def work(store: MemoryStore, i: int) -> Stored:
        drafts = [{"content": f"shared {n}", "tags": [f"w{i}"], "project": "api"} for n in range(5)]
        got = store.store_many_checked(drafts)
        assert len(got) == 5
        return Stored(got[0].memory, all(s.duplicate for s in got))

    results = _race(stores, work)
    assert sorted(r.duplicate for r in results) == [False, True]
    with open_store(backend_factory) as store:
        memories = store.recent({"project": "api"})
        assert len(memories) == 5
        assert all(sorted(m.tags) == ["w0", "w1"] for m in memories)
