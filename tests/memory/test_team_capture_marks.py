"""A team member's captures: the mark saying how far a session file was read is kept on the member's
machine (the team store's ``meta`` is read-only to members, and shared by every machine), so each
capture of a growing session stores the new turns, once, and fails on nothing. Found by
``benchmarks/team.py --load``: every member's capture ended in "permission denied for table meta".
On the embedded PostgreSQL 18, a member made by ``team add``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("psycopg")

import psycopg
from psycopg.conninfo import make_conninfo
from testkit.embedded_pg import PgServer
from testkit.team_pg import TeamCluster

from mahavishnu import paths
from mahavishnu.config import MemorySettings
from mahavishnu.memory.core.backends.postgres import PostgresBackend
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.loop.capture import capture_hook
from mahavishnu.memory.loop.session_logs import session_root

SETTINGS = MemorySettings(max_content_chars=2_000, relevance_floor=0.0)


@pytest.fixture
def team(team: TeamCluster) -> TeamCluster:
    """The shared fixture's team store (tests/conftest.py), initialised."""
    team.init()
    return team


def _append(transcript: Path, first: int, count: int) -> None:
    with transcript.open("a", encoding="utf-8") as handle:
        for n in range(first, first + count):
            role = "user" if n % 2 == 0 else "assistant"
            message = {"role": role, "content": f"member turn {n} about the retry budget"}
            line = {"type": role, "uuid": f"u{n}", "sessionId": "s-1", "cwd": "/work/api", "message": message}
            handle.write(json.dumps(line) + "\n")


def test_a_members_captures_of_a_growing_session_store_each_turn_once(
    team: TeamCluster, pg_server: PgServer
) -> None:
    ticket = team.add("capturer")
    transcript = session_root("claude") / "-work-api" / "s-1.jsonl"
    transcript.parent.mkdir(parents=True)
    payload = {"hook_event_name": "Stop", "session_id": "s-1", "transcript_path": str(transcript)}
    with MemoryStore(PostgresBackend(ticket.dsn(), pool_size=1), SETTINGS, FakeEmbedder()) as store:
        _append(transcript, 0, 4)
        first = capture_hook(store, "claude", payload)
        _append(transcript, 4, 2)
        second = capture_hook(store, "claude", payload)
    assert (first.added, second.added) == (4, 2)
    assert second.turns == 2  # the second capture read on from where the first stopped
    assert list((paths.data_dir() / "capture" / "marks").rglob("capture-claude-*"))  # kept on this machine
    with psycopg.connect(make_conninfo(pg_server.dsn, dbname=team.database)) as conn:
        turns = conn.execute("SELECT content, owner_role FROM agent_conversations ORDER BY id").fetchall()
        marks = conn.execute("SELECT count(*) FROM meta WHERE key LIKE 'capture:%'").fetchone()
    assert [t for t, _ in turns] == [f"member turn {n} about the retry budget" for n in range(6)]
    assert {owner for _, owner in turns} == {ticket.user}
    assert marks is not None and marks[0] == 0
