"""The embedded backend's own promises: schema, migrations, constraints, FTS sync, the vector cache."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from mahavishnu.config import MemorySettings
from mahavishnu.errors import MigrationError, StoreError
from mahavishnu.memory.core.backends import sqlite_index
from mahavishnu.memory.core.backends.base import query_worker, stored_cosines
from mahavishnu.memory.core.backends.sqlite import SqliteBackend
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.migrations.sqlite import MIGRATIONS
from mahavishnu.memory.core.models import Filters
from mahavishnu.memory.core.store import MemoryStore


def open_store(path: Path, **settings: object) -> MemoryStore:
    backend = SqliteBackend(path, ann_threshold=int(settings.pop("ann_threshold", 50_000)))  # type: ignore[call-overload]
    return MemoryStore(backend, MemorySettings(**settings), FakeEmbedder())  # type: ignore[arg-type]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "memory.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[MemoryStore]:
    with open_store(db_path) as opened:
        yield opened


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


# -- schema and migrations --------------------------------------------------------------------------
FINAL_SCHEMA = {
    "_migrations": ["name", "applied_at"],
    "meta": ["key", "value"],
    "memories": [
        "id",
        "content",
        "memory_type",
        "source_system",
        "agent_id",
        "workflow_id",
        "repo_id",
        "session_id",
        "project",
        "tags",
        "metadata",
        "content_hash",
        "embedding",
        "embedding_model",
        "embedding_dim",
        "created_at",
        "updated_at",
    ],
    "memory_tags": ["tag", "memory_id"],
    "memories_fts": ["content"],
    "vector_changes": ["seq", "memory_id"],
    "embedding_staging": ["memory_id", "embedding"],
    "agent_conversations": [
        "id",
        "agent_id",
        "session_id",
        "role",
        "content",
        "metadata",
        "memory_id",
        "created_at",
        "external_id",
    ],
    "rag_ingestions": [
        "id",
        "repo_id",
        "repo_path",
        "status",
        "files_seen",
        "files_indexed",
        "files_skipped",
        "files_removed",
        "chunks_created",
        "chunks_removed",
        "error",
        "metadata",
        "started_at",
        "finished_at",
        "duration_seconds",
    ],
    "workflow_executions": [
        "id",
        "workflow_id",
        "adapter",
        "repos",
        "status",
        "result",
        "duration_seconds",
        "error",
        "memory_id",
        "created_at",
    ],
    "performance_metrics": ["id", "component", "metric_type", "metrics", "recorded_at"],
    "project_groups": ["id", "name", "description", "created_at"],
    "project_group_members": ["id", "group_name", "project", "added_at"],
    "insight_shares": ["id", "memory_id", "project", "via", "shared_at"],
}
FINAL_TRIGGERS = {
    "memory_tags_ai",
    "memory_tags_au",
    "memory_tags_ad",
    "memories_fts_ai",
    "memories_fts_ad",
    "memories_fts_au",
    "vector_changes_ai",
    "vector_changes_au",
    "vector_changes_ad",
    "embedding_staging_au",
    "embedding_staging_ad",
}


def test_the_final_schema(store: MemoryStore, db_path: Path) -> None:
    conn = raw(db_path)
    tables = {
        name
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if not name.startswith(("sqlite_", "memories_fts_"))
    }
    assert tables == set(FINAL_SCHEMA)
    for table, columns in FINAL_SCHEMA.items():
        assert [row[1] for row in conn.execute(f"PRAGMA table_info({table})")] == columns, table
    triggers = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert triggers == FINAL_TRIGGERS


def test_every_migration_is_recorded_once_in_order(store: MemoryStore, db_path: Path) -> None:
    names = [name for (name,) in raw(db_path).execute("SELECT name FROM _migrations ORDER BY rowid")]

    assert names == MIGRATIONS.names
    state = store.migration_state()
    assert state.pending == () and [n for n, _ in state.applied] == names


def test_opening_without_migrating_shows_what_is_pending(db_path: Path) -> None:
    backend = SqliteBackend(db_path, migrate=False)

    assert backend.migration_state().pending == tuple(MIGRATIONS.names)
    assert backend.migrate() == MIGRATIONS.names
    assert backend.migrate() == []
    backend.close()


def test_a_store_migrated_by_a_newer_version_is_refused(store: MemoryStore, db_path: Path) -> None:
    store.close()
    raw(db_path).execute("INSERT INTO _migrations VALUES ('m999_from_the_future', '2030-01-01')")

    with pytest.raises(MigrationError, match=r"newer Mahavishnu.*m999_from_the_future"):
        SqliteBackend(db_path)


def test_a_failing_migration_leaves_nothing_behind(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        conn.execute("THIS IS NOT SQL")

    monkeypatch.setattr(
        MIGRATIONS, "_items", [*MIGRATIONS._items, type(MIGRATIONS._items[0])("m999_broken", broken)]
    )

    with pytest.raises(MigrationError, match="m999_broken failed"):
        SqliteBackend(db_path)
    conn = raw(db_path)
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM _migrations").fetchone() == (len(MIGRATIONS.names) - 1,)


def test_pragmas_for_durability(store: MemoryStore) -> None:
    backend = store.backend
    assert isinstance(backend, SqliteBackend)
    assert backend.conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert backend.conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    assert backend.conn.execute("PRAGMA foreign_keys").fetchone() == (1,)


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"
    path.write_bytes(b"this is not sqlite" * 100)

    with pytest.raises(StoreError, match="cannot open the memory store"):
        SqliteBackend(path)


_MEMORY = (
    "INSERT INTO memories (content, memory_type, content_hash, embedding, embedding_model, embedding_dim, "
    "created_at, updated_at, metadata) VALUES ('x', {type}, printf('%064d', 1), zeroblob({bytes}), 'm', 1, "
    "'t', 't', {metadata})"
)


@pytest.mark.parametrize(
    "statement",
    [
        _MEMORY.format(type="'memo'", bytes=4, metadata="'{}'"),
        _MEMORY.format(type="'note'", bytes=8, metadata="'{}'"),
        _MEMORY.format(type="'note'", bytes=4, metadata="'[]'"),
        "INSERT INTO agent_conversations (agent_id, session_id, role, content, created_at) "
        "VALUES ('a', 's', 'system', 'hi', 't')",
        "INSERT INTO rag_ingestions (repo_id, repo_path, status, started_at) "
        "VALUES ('r', '/r', 'running', 't')",
        "INSERT INTO workflow_executions (workflow_id, adapter, status, created_at) "
        "VALUES ('w', 'a', 'done', 't')",
        "INSERT INTO workflow_executions (workflow_id, adapter, status, created_at, duration_seconds) "
        "VALUES ('w', 'a', 'failed', 't', -1)",
        "INSERT INTO performance_metrics (component, metric_type, metrics, recorded_at) "
        "VALUES ('c', 'm', '[1]', 't')",
    ],
)
def test_check_constraints_guard_enums_json_and_vector_sizes(
    store: MemoryStore, db_path: Path, statement: str
) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
        raw(db_path).execute(statement)


def test_the_activity_tables_accept_valid_rows(store: MemoryStore, db_path: Path) -> None:
    conn = raw(db_path)
    conn.execute(
        "INSERT INTO agent_conversations (agent_id, session_id, role, content, created_at) "
        "VALUES ('claude', 's1', 'assistant', 'hello', 't')"
    )
    conn.execute(
        "INSERT INTO workflow_executions (workflow_id, adapter, repos, status, result, created_at) "
        "VALUES ('w', 'prefect', '[\"a\"]', 'completed', '{\"ok\": true}', 't')"
    )
    conn.execute(
        "INSERT INTO performance_metrics (component, metric_type, metrics, recorded_at) "
        "VALUES ('search', 'latency', '{\"p95\": 3.1}', 't')"
    )
    conn.execute("INSERT INTO rag_ingestions (repo_id, repo_path, started_at) VALUES ('r', '/r', 't')")
    assert conn.execute("SELECT status FROM rag_ingestions").fetchone() == ("pending",)


# -- full text and tags stay in sync ----------------------------------------------------------------
def test_fts_and_tag_tables_follow_inserts_updates_and_deletes(store: MemoryStore, db_path: Path) -> None:
    memory = store.store("the cache uses redis", "decision", tags=["cache"])
    store.update(memory.id, content="the cache uses memcached", tags=["cache", "ops"])
    other = store.store("unrelated", "note", tags=["ops"])
    store.delete(other.id)

    conn = raw(db_path)
    conn.execute("INSERT INTO memories_fts (memories_fts) VALUES ('integrity-check')")
    assert conn.execute("SELECT rowid FROM memories_fts WHERE memories_fts MATCH 'memcached'").fetchall() == [
        (memory.id,)
    ]
    assert conn.execute("SELECT rowid FROM memories_fts WHERE memories_fts MATCH 'redis'").fetchall() == []
    assert conn.execute("SELECT tag, memory_id FROM memory_tags ORDER BY tag").fetchall() == [
        ("cache", memory.id),
        ("ops", memory.id),
    ]


def test_text_search_survives_fts_syntax_in_the_query(store: MemoryStore) -> None:
    memory = store.store('he said "NEAR" AND (maybe) NOT col:value*', "note")

    for query in ['"NEAR"', "AND OR NOT", "col:value*", "(maybe", "^", "snake_case-thing"]:
        store.search(query, mode="text")
    assert store.search("maybe NOT", mode="text")[0].memory.id == memory.id


def test_text_search_stems_english(store: MemoryStore) -> None:
    memory = store.store("Retries back off exponentially", "note")

    assert [h.memory.id for h in store.search("exponential retry", mode="text")] == [memory.id]


# -- the vector cache -------------------------------------------------------------------------------
def test_a_long_lived_reader_sees_writes_from_another_connection(db_path: Path) -> None:
    with open_store(db_path) as reader, open_store(db_path) as writer:
        first = writer.store("alpha beta gamma", "note")
        assert [h.memory.id for h in reader.search("alpha beta", mode="vector")] == [first.id]

        second = writer.store("delta epsilon", "note")
        writer.update(first.id, content="zeta eta theta")

        assert reader.search("delta epsilon", mode="vector", limit=1)[0].memory.id == second.id
        assert reader.search("zeta eta", mode="vector", limit=1)[0].memory.id == first.id
        writer.delete(second.id)
        assert reader.search("delta epsilon", mode="vector") == []  # gone, and nothing else is relevant


def test_a_large_index_is_saved_beside_the_database_and_loaded_on_reopen(db_path: Path) -> None:
    with open_store(db_path, ann_threshold=20) as store:
        ids = store.store_many([{"content": f"memory number {i} about topic {i % 7}"} for i in range(40)])
        store.search("topic 3", mode="vector")
        seq = store.backend.get_meta("vector_sidecar_seq")
        assert seq is not None and (db_path.parent / "memory.db.ann").exists()

    with open_store(db_path, ann_threshold=20) as store:
        store.store("one more memory about topic 3", "note")  # replayed from the log on top of the sidecar
        backend = store.backend
        assert isinstance(backend, SqliteBackend)
        hits = store.search("memory number 5 about topic 5", mode="vector", limit=5)
        best = [h.memory.id for h in hits if h.score == hits[0].score]  # the fake model's hashes may tie
        assert ids[5].id in best
        assert backend.index.describe()["size"] == 41


def test_the_change_log_is_pruned_and_a_reader_behind_the_floor_rebuilds(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_index, "_PRUNE_EVERY", 5)
    with open_store(db_path) as reader, open_store(db_path) as writer:
        writer.store("the first memory", "note")
        reader.search("first", mode="vector")
        later = writer.store_many([{"content": f"later memory {i}"} for i in range(10)])
        writer.search("later", mode="vector")  # the writer catches up and prunes the log behind it

        assert int(writer.backend.get_meta("vector_log_floor") or 0) >= 5
        hits = reader.search("later memory 9", mode="vector", limit=11)
        assert len(hits) == 11 and hits[0].memory.id == later[9].id


def test_integrity_check_is_ok_after_work(store: MemoryStore) -> None:
    store.store_many([{"content": f"memory {i}", "tags": [f"t{i % 3}"]} for i in range(50)])
    store.delete_where({"tags": ["t1"]})
    backend = store.backend
    assert isinstance(backend, SqliteBackend)
    assert backend.integrity_check() == "ok"


def test_text_search_matches_the_rarest_terms_within_the_posting_budget(db_path: Path) -> None:
    """Terms are counted as the index stems them ('runs' counts documents holding 'running');
    the rarest come first, and the rarest always stays (a second as common as 'runs' would cost
    what the budget is there to bound); a query of two terms is matched whole."""
    backend = SqliteBackend(db_path, posting_budget=12)
    with MemoryStore(backend, MemorySettings(), FakeEmbedder()) as store:
        store.store_many([{"content": f"running alpha beta gamma note {i}"} for i in range(9)])
        rare = store.store("running alpha zeta", "note")

        with backend.read() as conn:
            assert backend._informative(conn, ["runs", "zeta", "gamma", "unseen"]) == [
                "zeta",
                "gamma",
                "unseen",
            ]
            assert backend._informative(conn, ["runs", "alpha", "beta"]) == ["beta"]
            assert backend._informative(conn, ["runs", "alpha"]) == ["runs", "alpha"]  # two: whole
            assert backend._informative(conn, ["runs", "alpha", "beta"], 2) == ["runs", "beta"]
        assert store.search("runs alpha zeta", mode="text")[0].memory.id == rare.id


def test_word_pairs_are_stemmed_budgeted_and_read_beside_the_text_leg(db_path: Path) -> None:
    """'colorectal cancers' holds the pair (colorectal, cancer) as the index stems it; with the
    budget for 12 postings, 'note' (in 10 rows) is too common to look for; and the lookup runs on
    the side connection while another read holds the main one (as hybrid search runs it)."""
    backend = SqliteBackend(db_path, posting_budget=12)
    with MemoryStore(backend, MemorySettings(), FakeEmbedder()) as store:
        store.store_many([{"content": f"beta note {i}"} for i in range(9)])
        held = store.store("colorectal cancers note beta", "note")
        pairs = [("colorectal", "cancer"), ("note", "beta"), ("cancers", "note")]

        with backend.read():
            found = query_worker().submit(backend.pair_holders, pairs).result(timeout=10)

        assert found == [{held.id}, set(), set()]


def test_a_two_word_query_over_the_budget_still_finds_the_row_holding_both(db_path: Path) -> None:
    """On a store where both words are common, "machine learning" matches both words and its pair
    is still looked up (a phrase lookup keeps the two rarest words)."""
    backend = SqliteBackend(db_path, posting_budget=12)
    with MemoryStore(backend, MemorySettings(), FakeEmbedder()) as store:
        store.store_many([{"content": f"machine note {i}"} for i in range(6)])
        store.store_many([{"content": f"learning memo {i}"} for i in range(6)])
        both = store.store("machine learning pipeline", "note")

        assert store.search("machine learning", mode="text")[0].memory.id == both.id
        with backend.read():
            found = query_worker().submit(backend.pair_holders, [("machine", "learning")]).result(timeout=10)
        assert found == [{both.id}]


def test_a_side_read_after_a_restore_opens_the_store_anew(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The side connection (a hybrid search's vector leg and word pairs) is not one opened before a
    `db restore`: the first side read after it opens the store anew, its vector index too."""
    backend = SqliteBackend(db_path)
    with MemoryStore(backend, MemorySettings(), FakeEmbedder()) as store:
        store.store("before the restore", "note")
        with backend.side_read() as conn:
            first = conn
        index = backend.index
        gate = backend._gate
        assert gate is not None
        restores = gate.generation() + 1
        monkeypatch.setattr(type(gate), "generation", lambda self: restores)

        with backend.side_read() as conn:
            assert conn is not first
        assert backend.index is not index


@pytest.mark.parametrize("with_global", [False, True])
def test_a_project_filter_reads_indexes_not_every_row(store: MemoryStore, with_global: bool) -> None:
    """A recall's scope (its project, and with it the memories of no project) must not scan the
    store: at 100k memories a scan took ~100 ms of a hook's 150 ms."""
    from mahavishnu.memory.core.models import Filters

    backend = store.backend
    assert isinstance(backend, SqliteBackend)
    where, params = backend.dialect.filter_sql(Filters(project="api", with_global=with_global))
    with backend.read() as conn:
        plan = conn.execute(f"EXPLAIN QUERY PLAN SELECT id FROM memories AS m WHERE {where}", params)
        steps = [row[3] for row in plan.fetchall()]
    assert not [s for s in steps if s.startswith("SCAN") and "USING" not in s], steps


def test_cosines_come_from_the_index_caught_up_with_the_table(db_path: Path) -> None:
    """The embedded backend reads the cosines of hybrid search's text-only hits from its vector
    index: they equal those of the stored vectors, follow an edit, and leave out a deleted memory."""
    with MemoryStore(SqliteBackend(db_path), MemorySettings(), FakeEmbedder()) as store:
        a, b, c = store.store_many([{"content": f"memory about topic {i}"} for i in range(3)])
        query = store.embedder.embed("topic", kind="query")
        backend = store.backend
        assert backend.cosines(query, [a.id, b.id]) == pytest.approx(
            stored_cosines(backend, query, [a.id, b.id])
        )

        store.update(a.id, content="something else entirely")
        store.delete(c.id)

        got = backend.cosines(query, [a.id, b.id, c.id])
        assert got == pytest.approx(stored_cosines(backend, query, [a.id, b.id]))
        assert set(got) == {a.id, b.id}


def test_unfiltered_text_search_ranks_as_a_filtered_one(db_path: Path) -> None:
    """Unfiltered, the text leg asks the FTS index alone (no join with the table): same ranking,
    and a deleted memory's words are gone from the index with it."""
    with MemoryStore(SqliteBackend(db_path), MemorySettings(), FakeEmbedder()) as store:
        stored = store.store_many(
            [{"content": f"deploy pipeline retry step {i} " + "retry " * (i % 4)} for i in range(12)]
        )
        store.delete(stored[5].id)
        backend = store.backend
        everything = Filters(types=tuple({m.memory_type for m in stored}))

        plain = backend.text_search("retry deploy", Filters(), 20)

        assert plain == backend.text_search("retry deploy", everything, 20)
        assert len(plain) == 11 and stored[5].id not in {r.id for r in plain}


def test_a_text_leg_that_fails_leaves_no_vector_leg_running(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the full-text leg raises, the hybrid search waits for the vector leg it started on the
    query worker before it raises: nothing of it still reads the store afterwards."""
    import threading
    import time

    backend = SqliteBackend(db_path)
    with MemoryStore(backend, MemorySettings(), FakeEmbedder()) as store:
        store.store("a note to find", "note")
        started, finished = threading.Event(), threading.Event()
        vector_search = SqliteBackend.vector_search

        def slow_vector_search(self: SqliteBackend, *args: object) -> object:
            started.set()
            time.sleep(0.3)
            finished.set()
            return vector_search(self, *args)  # type: ignore[arg-type]

        def failing_text_search(self: SqliteBackend, *args: object) -> object:
            started.wait(5)
            raise RuntimeError("the text leg failed")

        monkeypatch.setattr(SqliteBackend, "vector_search", slow_vector_search)
        monkeypatch.setattr(SqliteBackend, "text_search", failing_text_search)
        with pytest.raises(RuntimeError, match="text leg failed"):
            store.search("a note", mode="hybrid")

        assert finished.is_set()


def test_text_scores_are_the_text_legs_own_scores_of_exactly_those_memories(db_path: Path) -> None:
    """Z-score fusion's BM25 of the vector leg's candidates (``text_scores``): each memory asked
    for that matches gets the score the text leg gives it, however far down the text leg it ranks
    (here past its first 3); one that does not match, or was not asked for, gets none."""
    with MemoryStore(SqliteBackend(db_path), MemorySettings(), FakeEmbedder()) as store:
        stored = store.store_many(
            [{"content": f"retry the deploy step {i} " + "retry " * (i % 5)} for i in range(12)]
        )
        other = store.store("nothing in common here", "note")
        backend = store.backend
        every = {r.id: r.score for r in backend.text_search("retry deploy", Filters(), 50)}
        asked = [m.id for m in stored[::2]] + [other.id]

        with backend.read():  # (beside the text leg, which holds the main connection)
            scoring = query_worker().submit(backend.text_scores, "retry deploy", asked)
            got = scoring.result(timeout=10)

        first = {r.id for r in backend.text_search("retry deploy", Filters(), 3)}
        assert set(got) == {m.id for m in stored[::2]} and not first.issuperset(got)
        assert got == pytest.approx({i: every[i] for i in got})


def test_the_vector_index_is_caught_up_beside_reads_that_hold_the_other_connections(db_path: Path) -> None:
    """A hybrid search's vector leg runs on the query worker while its text leg holds the main
    connection (and its cosines while the word pairs hold the side one): the vector index catches
    up on a connection of its own, so neither waits, and nothing stored is missed."""
    with MemoryStore(SqliteBackend(db_path), MemorySettings(), FakeEmbedder()) as store:
        store.store("a first note", "note")
        backend = store.backend
        query = store.embedder.embed("a note", kind="query")
        backend.vector_search(query, Filters(), 5)  # the index, built
        added = store.store("a second note, stored since", "note")

        with backend.read(), backend.side_read():
            hits = query_worker().submit(backend.vector_search, query, Filters(), 5).result(timeout=5)

        assert added.id in {r.id for r in hits}


def test_the_terms_kept_follow_writes_through_any_connection(db_path: Path) -> None:
    """Each connection keeps the document counts it read between searches: they are read again once
    the store changed, whether this backend wrote it (main connection), another process did, or
    the read is on the side connection; never a count from before a write."""
    backend = SqliteBackend(db_path, posting_budget=12)
    with MemoryStore(backend, MemorySettings(), FakeEmbedder()) as store:
        store.store_many([{"content": f"alpha beta note {i}"} for i in range(6)])
        store.store_many([{"content": f"gamma memo {i}"} for i in range(3)])

        def kept(side: bool = False) -> list[str]:
            with backend.side_read() if side else backend.read() as conn:
                return backend._informative(conn, ["alpha", "gamma", "zeta"])

        # (the rarest first while their postings fit the budget of 12, the rarest always)
        assert kept() == kept(side=True) == ["alpha", "gamma", "zeta"]  # 6, 3, 0
        store.store_many([{"content": f"zeta gamma {i}"} for i in range(10)])  # this backend writes
        assert kept() == kept(side=True) == ["alpha"]  # 6, 13, 10
        with open_store(db_path) as other:  # another connection writes
            other.store_many([{"content": f"alpha {i}"} for i in range(10)])
        assert kept() == kept(side=True) == ["zeta"]  # 16, 13, 10


def test_the_change_log_floor_never_goes_back(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache that read the log's floor before another moved it on prunes nothing and leaves the
    floor where it is (lowered, a reader between the two floors would replay a log with a hole)."""
    monkeypatch.setattr(sqlite_index, "_PRUNE_EVERY", 5)
    with open_store(db_path) as store:
        store.store_many([{"content": f"memory {i}"} for i in range(12)])
        store.search("memory", mode="vector")  # caught up to the 12th change (a small index)
        store.backend.set_meta({"vector_log_floor": "40"})  # another cache pruned further meanwhile

        store.backend.index._maybe_compact(0, 0)  # what this one read before

        assert store.backend.get_meta("vector_log_floor") == "40"
        store.backend.set_meta({"vector_log_floor": "3"})
        store.backend.index._maybe_compact(0, 0)
        assert store.backend.get_meta("vector_log_floor") == "12"


def test_closing_waits_for_the_vector_index_catching_up(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The capture thread may be catching the vector index up when the store is closed: the close
    waits for it, and a read after it is refused rather than opening the store again."""
    import threading
    import time

    backend = SqliteBackend(db_path)
    store = MemoryStore(backend, MemorySettings(), FakeEmbedder())
    store.store("a first note", "note")
    loading, load = threading.Event(), sqlite_index._load

    def slow_load(*args: object) -> object:
        loading.set()
        time.sleep(0.3)
        return load(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(sqlite_index, "_load", slow_load)
    caught_up = query_worker().submit(backend.index.current)
    assert loading.wait(5)
    store.close()

    assert caught_up.result(timeout=5) is not None  # finished, not broken by the close
    with pytest.raises(sqlite3.ProgrammingError), backend.index_read():
        pass


def test_an_index_cache_from_before_a_restore_answers_with_the_restored_store(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read that finds the store restored opens it anew with a vector index cache of its own;
    the cache that asked answers with that one, never with the vectors it held before."""
    backend = SqliteBackend(db_path)
    with MemoryStore(backend, MemorySettings(), FakeEmbedder()) as store:
        store.store("before the restore", "note")
        old = backend.index
        old.current()
        gate = backend._gate
        assert gate is not None
        restores = gate.generation() + 1
        monkeypatch.setattr(type(gate), "generation", lambda self: restores)

        found = old.current()

        assert backend.index is not old and found is backend.index.current() and found is not old._index
