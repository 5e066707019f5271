"""The outbox's set-aside items (``core/outbox.py``): what the store refused for what it holds leaves
the queue, kept with the store's reason, until sent again (in its place) or dropped; an outbox file
written before there was such a thing opens as it is."""

from __future__ import annotations

import sqlite3

from mahavishnu.memory.core.outbox import Outbox, outbox_path
from mahavishnu.memory.loop import sync

TARGET = "postgresql://alice@db:5432/team"


def test_an_item_set_aside_leaves_the_queue_and_comes_back_in_its_place() -> None:
    with Outbox() as box:
        box.put(TARGET, "memory", [{"content": f"note {i}", "type": "note"} for i in range(3)])
        first, refused, last = box.items(TARGET, "memory", 10)
        box.set_aside(refused, "PostgreSQL at db:5432: a team store takes at most 100,000 characters")
        assert box.items(TARGET, "memory", 10) == [first, last] and box.waiting(TARGET).count == 2
        [aside] = box.refused(TARGET)
        assert aside.item == refused and aside.reason.endswith("at most 100,000 characters")
        assert box.refused("postgresql://bob@db:5432/team") == []
        assert box.retry_refused(TARGET) == 1
        assert box.items(TARGET, "memory", 10) == [first, refused, last] and box.refused(TARGET) == []
        box.set_aside(refused, "refused again")
        assert box.drop_refused(TARGET) == 1
        assert box.items(TARGET, "memory", 10) == [first, last] and box.refused(TARGET) == []


def test_a_capture_queued_again_while_set_aside_comes_back_once() -> None:
    capture = {"tool": "claude", "path": "/home/a/.claude/projects/p/s.jsonl"}
    with Outbox() as box:
        box.put(TARGET, "capture", [capture])
        [item] = box.items(TARGET, "capture", 10)
        box.set_aside(item, "refused")
        box.put(TARGET, "capture", [capture])  # the session's next turn: queued again
        assert box.retry_refused(TARGET) == 1
        assert [i.client_id for i in box.items(TARGET, "capture", 10)] == [item.client_id]


def test_an_outbox_file_from_before_opens_and_keeps_its_items() -> None:
    outbox_path().parent.mkdir(parents=True, mode=0o700)
    with sqlite3.connect(outbox_path()) as old:
        old.executescript(
            "CREATE TABLE items (seq INTEGER PRIMARY KEY AUTOINCREMENT, client_id TEXT NOT NULL UNIQUE, "
            "target TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL, queued_at REAL NOT NULL);"
            f"INSERT INTO items VALUES (1, 'c1', '{TARGET}', 'memory', '{{\"content\": \"kept\"}}', 0);"
        )
    with Outbox() as box:
        assert [i.body["content"] for i in box.items(TARGET, "memory", 10)] == ["kept"]
        assert box.refused(TARGET) == []


def test_the_notice_is_one_line_whatever_the_stores_reason_holds() -> None:
    """PostgreSQL's DETAIL of a refused row repeats the row (the memory's text): kept with the item for
    ``team status --json``, left out of the one-line notice."""
    reason = (
        'PostgreSQL at db:5432: new row violates check constraint "c"\nDETAIL: Failing row contains (a note).'
    )
    with Outbox() as box:
        box.put(TARGET, "memory", [{"content": "a note", "type": "note"}])
        [item] = box.items(TARGET, "memory", 10)
        box.set_aside(item, reason)
        [aside] = box.refused(TARGET)
    assert aside.reason == reason
    notice = sync.refused_notice([aside])
    assert notice is not None and "\n" not in notice and "Failing row" not in notice
    assert '(PostgreSQL at db:5432: new row violates check constraint "c");' in notice
