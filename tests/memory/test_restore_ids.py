"""`db restore` of an older backup never hands out an id again: the recall log, Session-Buddy tags
and the user's own notes ("see memory #412") still name the ids of the store it replaced, so a new
memory, conversation turn or workflow run must get an id above every one that store handed out."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mahavishnu.config import MemorySettings, load_settings
from mahavishnu.errors import StoreError
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore, default_store_path
from mahavishnu.memory.core.workflows import store_workflow_execution
from mahavishnu.memory.loop.conversations import store_conversation
from mahavishnu.memory.ops import backup as backup_module
from mahavishnu.memory.ops.backup import backup, restore

#: What hands out ids people quote: memories, conversation turns (`memory conversations`), workflow runs.
Ids = dict[str, list[int]]


@pytest.fixture(params=["sqlite", "postgres"])
def settings(
    request: pytest.FixtureRequest, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> MemorySettings:
    if request.param == "postgres":
        pytest.importorskip("psycopg")
        monkeypatch.setenv("MAHAVISHNU_MEMORY__BACKEND", "postgres")
        monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", request.getfixturevalue("pg_dsn"))
    return load_settings().memory


def _hand_out(count: int, label: str, *, drop_last: bool = False) -> Ids:
    """Store ``count`` turns, workflow runs and notes; ``drop_last``: delete the last note again
    (its id was handed out all the same)."""
    ids: Ids = {"memories": [], "conversations": [], "workflows": []}
    with MemoryStore.open(embedder=FakeEmbedder()) as store:
        for i in range(count):
            turn = store_conversation(store, "claude", f"session-{label}", "user", f"{label}: turn {i}")
            run = store_workflow_execution(store, f"{label}-{i}", "local")
            note = store.store(f"{label}: note {i}")
            ids["conversations"] += [c for c in turn.conversation_ids if c is not None]
            ids["workflows"].append(run.id)
            ids["memories"] += [*turn.memory_ids, run.memory.id, note.id]
        if drop_last:
            store.delete(ids["memories"][-1])
    return ids


def _merged(*handed: Ids) -> Ids:
    return {kind: [i for ids in handed for i in ids[kind]] for kind in handed[0]}


def _assert_above(new: Ids, before: Ids) -> None:
    assert all(new.values())
    reused = {
        kind: (fresh, max(before[kind])) for kind, fresh in new.items() if min(fresh) <= max(before[kind])
    }
    assert reused == {}  # kind: (new ids, the highest handed out before)


def test_ids_continue_above_the_replaced_store_after_restoring_an_older_backup(
    settings: MemorySettings, tmp_path: Path
) -> None:
    early = _hand_out(2, "early")
    backup(settings, tmp_path / "old.backup")
    late = _hand_out(3, "late", drop_last=True)

    restore(settings, tmp_path / "old.backup")
    new = _hand_out(1, "after the restore")

    _assert_above(new, _merged(early, late))


def test_ids_continue_above_a_store_that_was_itself_restored(
    settings: MemorySettings, tmp_path: Path
) -> None:
    """Back and forth (restore the copy kept of the replaced store): each restore keeps the highest,
    also the ids handed out between the two restores (more than the kept store ever had)."""
    early = _hand_out(1, "early")
    backup(settings, tmp_path / "old.backup")
    late = _hand_out(1, "late")
    kept = restore(settings, tmp_path / "old.backup").previous
    between = _hand_out(3, "between")
    assert kept is not None

    restore(settings, kept)
    new = _hand_out(1, "after both")

    _assert_above(new, _merged(early, late, between))


def _sqlite_store() -> Path:
    return load_settings().memory.path or default_store_path()


def test_ids_continue_above_the_rows_when_the_replaced_stores_sequence_lags(tmp_path: Path) -> None:
    """An id in use counts even where ``sqlite_sequence`` no longer says so (edited by hand, say)."""
    early = _hand_out(1, "early")
    settings = load_settings().memory
    backup(settings, tmp_path / "old.backup")
    late = _hand_out(3, "late")
    conn = sqlite3.connect(_sqlite_store())
    conn.execute("DELETE FROM sqlite_sequence")
    conn.commit()
    conn.close()

    restore(settings, tmp_path / "old.backup")
    new = _hand_out(1, "after the restore")

    _assert_above(new, _merged(early, late))


def test_a_restore_that_cannot_move_the_ids_leaves_the_live_store_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _hand_out(1, "early")
    settings = load_settings().memory
    backup(settings, tmp_path / "old.backup")
    _hand_out(2, "late")
    live = _sqlite_store().read_bytes()

    def fail(*_: object) -> None:
        raise StoreError("disk full")

    monkeypatch.setattr(backup_module, "_sqlite_continue_ids", fail)
    with pytest.raises(StoreError, match="disk full"):
        restore(settings, tmp_path / "old.backup")

    assert _sqlite_store().read_bytes() == live


def _waiting(conn: Any) -> int:
    """How many sessions wait for a lock on a table (pg_locks: a relation lock not granted)."""
    query = "SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted AND relation IS NOT NULL"
    return int(conn.execute(query).fetchone()[0])


def _until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60
    while not check():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.02)


def test_a_writer_waiting_on_the_restore_gets_an_id_above_the_replaced_stores(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_dsn: str
) -> None:
    """A store written to while it is restored (a team's members capture sessions): a writer
    waits on the locks the restore holds and inserts the moment it commits. pg_restore committed
    on its own, with the backup's sequence values, and the ids were moved on only after: the
    waiting writer took an id the replaced store had handed out. Here the restore is held (a
    session of the test holds a lock on a table it drops after the memories' indexes) while a
    writer, its store already open, queues behind it."""
    psycopg = pytest.importorskip("psycopg")
    monkeypatch.setenv("MAHAVISHNU_MEMORY__BACKEND", "postgres")
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", pg_dsn)
    settings = load_settings().memory
    early = _hand_out(1, "early")
    backup(settings, tmp_path / "old.backup")
    late = _hand_out(3, "late")

    holder = psycopg.connect(pg_dsn, autocommit=True)
    watcher = psycopg.connect(pg_dsn, autocommit=True)
    opened, go = threading.Event(), threading.Event()
    written: list[int] = []
    failed: list[BaseException] = []

    def restoring() -> None:
        try:
            restore(settings, tmp_path / "old.backup")
        except BaseException as exc:  # (seen by the test's thread)
            failed.append(exc)

    def writing() -> None:
        try:
            with MemoryStore.open(embedder=FakeEmbedder()) as store:
                written.append(store.store("opened before the restore").id)
                opened.set()
                go.wait(60)
                written.append(store.store("written while the store was restored").id)
        except BaseException as exc:
            failed.append(exc)
            opened.set()

    writer = threading.Thread(target=writing)
    writer.start()
    assert opened.wait(60) and not failed, failed
    late["memories"] += written  # (the note the writer stored first)
    holder.execute("BEGIN")
    holder.execute("LOCK TABLE public._migrations IN ACCESS SHARE MODE")  # (dropped late)
    restorer = threading.Thread(target=restoring)
    restorer.start()
    _until(lambda: _waiting(watcher) == 1, "the restore waits on the held table")
    go.set()
    _until(lambda: _waiting(watcher) == 2, "the writer waits on the restore")
    holder.execute("COMMIT")
    for thread in (restorer, writer):
        thread.join(120)
    holder.close()
    watcher.close()

    assert failed == []
    handed = max(_merged(early, late)["memories"])
    assert len(written) == 2 and written[1] > handed, (written, handed)
    new = _hand_out(1, "after the restore")
    _assert_above(new, _merged(early, late))
