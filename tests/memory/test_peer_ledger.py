"""Writing ★ Insights through to the Session-Buddy peer (``peer_ledger``), against the loopback stand-in
(testkit/session_buddy_server.py); the same against the real server: test_session_buddy_real.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from testkit.ports import free_port
from testkit.session_buddy_server import serve_http

from mahavishnu.config import MemorySettings, SessionBuddySettings, Settings
from mahavishnu.health import _session_buddy_peer
from mahavishnu.memory.core.backends.sqlite import SqliteBackend
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.insights import cross_project
from mahavishnu.memory.insights.extract import insight_hash
from mahavishnu.memory.peers import peer_ledger
from mahavishnu.memory.peers.session_buddy import PeerHit, SessionBuddy

FIRST = "Insight one: filtering inside the ANN scan keeps k results; filtering after it can return fewer."
SECOND = "Insight two: a peer that is down must never block the caller; queue the write and retry it later."


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MemoryStore]:
    """One backend is enough here: the ledger only reads insights and their shares."""
    path = tmp_path / "memory.db"
    with MemoryStore(SqliteBackend(path), MemorySettings(path=path), FakeEmbedder()) as opened:
        yield opened


@pytest.fixture
def record(tmp_path: Path) -> Path:
    return tmp_path / "calls.jsonl"


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def configured(port: int, monkeypatch: pytest.MonkeyPatch) -> SessionBuddySettings:
    """The peer configured at ``port`` (whether or not anything listens there)."""
    url = f"http://127.0.0.1:{port}/mcp"
    monkeypatch.setenv("MAHAVISHNU_SESSION_BUDDY__URL", url)
    monkeypatch.setenv("MAHAVISHNU_SESSION_BUDDY__TIMEOUT_SECONDS", "10")
    return SessionBuddySettings(url=url, timeout_seconds=10)


@pytest.fixture
def up(configured: SessionBuddySettings, port: int, record: Path) -> Iterator[SessionBuddySettings]:
    for _ in serve_http("--mode", "empty", "--record", str(record), port=port):
        yield configured


def _stored(record: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
    return [line["arguments"] for line in lines if line.get("tool") == "store_reflection"]


def _settled() -> None:
    peer_ledger._SENDER.join(30)


def test_a_new_insight_is_written_through_with_its_tags(
    store: MemoryStore, up: SessionBuddySettings, record: Path
) -> None:
    memory = cross_project.store_insight(store, FIRST, project="shop", source="transcript")
    _settled()
    assert _stored(record) == [
        {
            "content": FIRST,
            "tags": [
                "mahavishnu",
                "project:shop",
                "source:transcript",
                f"mahavishnu:{insight_hash(FIRST)[:16]}",
            ],
        }
    ]
    cross_project.store_insight(store, FIRST, project="web")  # known already: not written again
    cross_project.share_insight(store, memory.id, projects=["lab"])  # nor when shared
    _settled()
    assert len(_stored(record)) == 1
    with SessionBuddy.from_settings(up) as peer:
        assert peer.search("ANN scan").hits[0].content == FIRST  # in the peer's own search
        assert peer_ledger.Ledger().counts(peer_ledger.peer_key(peer)) == {
            "queued": 0,
            "sending": 0,
            "sent": 1,
        }


def test_a_shared_insight_from_before_the_peer_was_configured_is_written_once(
    store: MemoryStore, port: int, record: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = cross_project.store_insight(store, FIRST, project="shop")  # no peer configured: nothing queued
    assert not peer_ledger.Ledger().path.exists()
    monkeypatch.setenv("MAHAVISHNU_SESSION_BUDDY__URL", f"http://127.0.0.1:{port}/mcp")
    for _ in serve_http("--mode", "empty", "--record", str(record), port=port):
        cross_project.share_insight(store, memory.id, projects=["web"])
        cross_project.share_insight(store, memory.id, projects=["lab"])
        _settled()
    assert [a["tags"][1:3] for a in _stored(record)] == [["project:shop", "project:web"]]


def test_a_peer_that_is_down_never_blocks_and_gets_the_queue_later(
    store: MemoryStore, configured: SessionBuddySettings, port: int, record: Path
) -> None:
    cross_project.store_insight(store, FIRST, project="shop")  # nothing listens: queued
    _settled()
    ledger, key = peer_ledger.Ledger(), peer_ledger.peer_key(configured)
    assert ledger.counts(key)["queued"] == 1
    for _ in serve_http("--mode", "empty", "--record", str(record), port=port):
        cross_project.store_insight(store, SECOND, project="shop")  # the next write takes the queue along
        _settled()
        assert [a["content"] for a in _stored(record)] == [FIRST, SECOND]
        assert ledger.counts(key) == {"queued": 0, "sending": 0, "sent": 2}


def test_sync_backfills_and_resend_writes_everything_again(
    store: MemoryStore, port: int, record: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for text in (FIRST, SECOND):
        cross_project.store_insight(store, text)  # before the peer was configured
    store.store("a plain note is not an insight")
    settings = SessionBuddySettings(url=f"http://127.0.0.1:{port}/mcp", timeout_seconds=10)
    for _ in serve_http("--mode", "empty", "--record", str(record), port=port):
        with SessionBuddy.from_settings(settings) as peer:
            assert peer_ledger.sync(store, peer) == peer_ledger.SyncReport(2, 0, 0)
            assert peer_ledger.sync(store, peer) == peer_ledger.SyncReport(0, 0, 0)
            assert peer_ledger.sync(store, peer, resend=True) == peer_ledger.SyncReport(2, 0, 0)
    assert sorted(a["content"] for a in _stored(record)) == sorted([FIRST, SECOND] * 2)
    with SessionBuddy.from_settings(settings) as down:
        report = peer_ledger.sync(store, down, resend=True)
    assert (report.sent, report.queued) == (0, 2) and report.error and "unreachable" in report.error


def test_a_claim_left_by_a_dead_sender_is_sent_only_if_the_peer_lacks_it(
    store: MemoryStore, port: int, record: Path
) -> None:
    settings = SessionBuddySettings(url=f"http://127.0.0.1:{port}/mcp", timeout_seconds=10)
    first, second = peer_ledger.reflections_of(
        store, [cross_project.store_insight(store, t) for t in (FIRST, SECOND)]
    )
    ledger, key = peer_ledger.Ledger(), peer_ledger.peer_key(settings)
    ledger.queue(key, [first, second])
    for _ in serve_http("--mode", "empty", "--record", str(record), port=port):
        with SessionBuddy.from_settings(settings) as peer:
            peer.store_reflection(first.content, first.tags)  # FIRST reached the peer, SECOND never did,
            with ledger._db() as db:  # and their sender died before noting either
                db.execute(
                    "UPDATE reflections SET state = 'sending', claimed_at = '2000-01-01T00:00:00+00:00'"
                )
            assert peer_ledger.flush(peer) == peer_ledger.SyncReport(sent=1, already=1, queued=0)
    assert [a["content"] for a in _stored(record)] == [FIRST, SECOND]


def test_a_fresh_claim_of_another_process_is_left_alone(
    store: MemoryStore, configured: SessionBuddySettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no background sender in this process: it would claim the row first (the race this test had)
    monkeypatch.setattr(peer_ledger._SENDER, "kick", lambda settings: None)
    ledger, key = peer_ledger.Ledger(), peer_ledger.peer_key(configured)
    [reflection] = peer_ledger.reflections_of(store, [cross_project.store_insight(store, FIRST)])
    ledger.queue(key, [reflection])
    assert ledger.claim(key) == reflection  # claimed now, by "another process"
    assert ledger.claim(key) is None


def test_our_insights_on_the_peer_are_known_by_their_text_even_cut_short(
    store: MemoryStore, up: SessionBuddySettings
) -> None:
    long = FIRST + " " + SECOND  # over 150 characters: the peer shows the first 147
    cross_project.store_insight(store, long, project="shop")
    cross_project.store_insight(store, FIRST, project="lab")
    _settled()
    with SessionBuddy.from_settings(up) as peer:
        [cut] = peer.quick_search("Insight two").hits
    assert cut.metadata["truncated"] and len(cut.content) == 147
    hits = [cut, PeerHit(FIRST, None, None, None, {}), PeerHit(FIRST[:60], None, None, None, {})]
    assert peer_ledger.projects_of(store, hits) == [{"shop"}, {"lab"}, None]  # not cut: the whole text


# -- health ---------------------------------------------------------------------------------------------


def test_health_says_when_the_peers_reflections_dropped_to_zero(
    store: MemoryStore, configured: SessionBuddySettings, port: int
) -> None:
    settings = Settings(session_buddy=configured)
    for _ in serve_http("--mode", "normal", port=port):  # holds one reflection
        before = _session_buddy_peer(settings)
    assert (before.status, before.data["reflections"]) == ("ok", 1)
    for _ in serve_http("--mode", "empty", port=port):  # restarted, and lost it
        lost = _session_buddy_peer(settings)
        again = _session_buddy_peer(settings)  # said once: 0 is the new normal until it grows
    assert lost.status == "error" and "dropped from 1 to 0" in lost.detail
    assert "`mahavishnu memory peer sync --resend`" in lost.detail  # what `health` prints: the detail
    assert "`mahavishnu memory peer sync --resend`" in lost.data["hint"]
    assert again.status == "ok" and again.data["reflections"] == 0


def test_health_with_a_slow_count_is_a_warning_not_a_failure(
    configured: SessionBuddySettings, port: int
) -> None:
    settings = Settings(session_buddy=configured.model_copy(update={"timeout_seconds": 1.0}))
    for _ in serve_http("--mode", "normal", "--slow-tool", "reflection_stats", "--delay", "5", port=port):
        component = _session_buddy_peer(settings)
    assert component.status == "ok", component
    assert (
        "reflections not counted" in component.detail
        and "did not answer reflection_stats" in component.detail
    )
    assert component.data["reflections"] is None and "sets up its database" in component.data["hint"]
