"""The contract with the real Session-Buddy 0.23.0, over streamable HTTP (see real_session_buddy.py).

One server for the module, started in a temp HOME; the tests run in file order: the first meets the
server as it starts (its first database call takes seconds), the last restarts it. Skipped, with the
reason in the summary, where Python 3.13 or the install is missing (``.ci/install-session-buddy.sh``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from real_session_buddy import RealServer, missing

from mahavishnu.config import MemorySettings, SessionBuddySettings, Settings
from mahavishnu.health import _session_buddy_peer
from mahavishnu.memory.core.backends.sqlite import SqliteBackend
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.insights import cross_project
from mahavishnu.memory.insights.extract import insight_hash
from mahavishnu.memory.peers import peer_ledger
from mahavishnu.memory.peers.session_buddy import SessionBuddy
from mahavishnu.memory.peers.unified import search_everywhere

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(missing() is not None, reason=f"real Session-Buddy tests skipped: {missing()}"),
]

LONG = (
    "Retry budget: cap webhook retries at three with exponential backoff starting at 200 ms, because the "
    "upstream payment provider rate-limits bursts and double-charges on duplicate deliveries."
)
OTHER = (
    "Keep DuckDB single-writer: a second process opening reflection.duckdb for writing fails with a lock "
    "error, so readers must open it read_only and retry with backoff."
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    real = RealServer(tmp_path_factory.mktemp("session-buddy-home"))
    real.start()
    try:
        yield real
    finally:
        real.stop()


@pytest.fixture
def peer_env(server: RealServer, monkeypatch: pytest.MonkeyPatch) -> SessionBuddySettings:
    """The real server configured as the peer (for write-through and the CLI), with a budget that fits
    a loaded CI machine."""
    monkeypatch.setenv("MAHAVISHNU_SESSION_BUDDY__URL", server.url)
    monkeypatch.setenv("MAHAVISHNU_SESSION_BUDDY__TIMEOUT_SECONDS", "20")
    return SessionBuddySettings(url=server.url, timeout_seconds=20)


@pytest.fixture
def peer(peer_env: SessionBuddySettings) -> Iterator[SessionBuddy]:
    with SessionBuddy.from_settings(peer_env) as client:
        yield client


def _sqlite_store(tmp_path: Path) -> MemoryStore:
    path = tmp_path / "memory.db"  # the CLI opens it too (`_cli`)
    return MemoryStore(SqliteBackend(path), MemorySettings(path=path), FakeEmbedder())


def _written_through() -> None:
    peer_ledger._SENDER.join(60)


# -- first contact ---------------------------------------------------------------------------------------


def test_the_first_answer_after_a_start_is_slow_and_the_warning_says_so(server: RealServer) -> None:
    assert server.starts == 1, "run the module in file order: this test needs the server as it starts"
    with SessionBuddy(url=server.url, timeout_seconds=2) as fresh:
        answer = fresh.quick_search("anything")
        assert answer.hits == [] and answer.warning, answer
        assert "did not answer quick_search within 2s" in answer.warning
        assert "sets up its database" in answer.warning  # says why, and what to do
    started = time.monotonic()
    with SessionBuddy(url=server.url, timeout_seconds=120) as patient:
        assert patient.reflection_count() == 0  # the database is set up now
        warm = time.monotonic()
        assert patient.quick_search("anything").warning is None
    print(f"first reflection_stats after the timed-out search: {warm - started:.1f}s")


def test_handshake_is_server_discover_refused_then_initialize(
    peer: SessionBuddy, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx2

    seen: list[tuple[str, int]] = []
    send = httpx2.AsyncClient.send

    async def recording(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        response = await send(self, request, *args, **kwargs)
        body = json.loads(request.content) if request.method == "POST" and request.content else {}
        seen.append((body.get("method", request.method), response.status_code))
        return response

    monkeypatch.setattr(httpx2.AsyncClient, "send", recording)
    for _ in range(3):
        assert peer.quick_search("anything").warning is None
    methods = [m for m, _ in seen]
    # One session: the SDK's server/discover is refused, it falls back to initialize (one extra round trip).
    assert seen[:3] == [("server/discover", 400), ("initialize", 200), ("notifications/initialized", 202)]
    assert methods.count("server/discover") == methods.count("initialize") == 1, seen
    assert methods.count("tools/call") == 3 and methods.count("tools/list") <= 1, seen  # the list: once
    assert peer.sessions_opened == 1


def test_a_budget_smaller_than_importing_the_sdk_still_answers(server: RealServer) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from mahavishnu.memory.peers.session_buddy import SessionBuddy
        assert "mcp" not in sys.modules
        started = time.perf_counter()
        with SessionBuddy(url={server.url!r}, timeout_seconds=1.0) as peer:
            peer.health_check()
        print(round(time.perf_counter() - started, 2))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    print(f"health_check with a 1 s budget, SDK import included: {done.stdout.strip()}s")


# -- search --------------------------------------------------------------------------------------------


def test_quick_search_is_one_case_sensitive_substring_ignoring_project_and_min_score(
    peer: SessionBuddy,
) -> None:
    peer.store_reflection(LONG, ["project:shop"])
    asked = {"project": "elsewhere", "min_score": 0.99}
    assert "No results found" in peer._call("quick_search", {"query": "retry budget", **asked})  # case
    assert "No results found" in peer._call("quick_search", {"query": "Retry webhook", **asked})  # order
    text = peer._call("quick_search", {"query": "Retry budget", **asked})
    assert "📝 " + LONG[:147] + "..." in text  # project and min_score ignored, content cut at 150
    assert "Relevance" not in text and "Project:" not in text and "📅 Date: Unknown" in text
    with pytest.raises(Exception, match="project"):
        peer._call("store_reflection", {"content": "x" * 40, "project": "shop"})


def test_a_multi_word_question_finds_the_reflection_by_its_salient_terms(
    peer: SessionBuddy, tmp_path: Path
) -> None:
    question = "zebrafish retry budget webhook backoff"
    assert peer.quick_search(question).hits == []  # as one substring: nothing
    answer = peer.search(question)
    assert answer.warning is None and [h.content for h in answer.hits] == [LONG[:147]]
    assert answer.hits[0].metadata["truncated"] is True
    with _sqlite_store(tmp_path) as store:
        store.store("zebrafish husbandry notes: water at 28 degrees", project="lab")
        result = search_everywhere(store, question, mode="text", peer=peer)
    peer_hit = next(h for h in result.hits if h.source == "session-buddy")
    assert 0 < peer_hit.score < 1.0  # re-scored here: 4 of its 5 terms (the cut hides none that count)
    assert peer_hit.score == pytest.approx(4 / 5)


def test_a_cut_hit_of_our_own_insight_is_one_merged_result(
    peer_env: SessionBuddySettings, peer: SessionBuddy, tmp_path: Path
) -> None:
    with _sqlite_store(tmp_path) as store:
        insight = cross_project.store_insight(store, OTHER, project="shop")
        _written_through()
        assert peer.quick_search("Keep DuckDB single-writer").hits[0].metadata["truncated"] is True
        result = search_everywhere(store, "DuckDB single-writer lock", mode="text", peer=peer)
    [hit] = [h for h in result.hits if h.memory is not None and h.memory.id == insight.id]
    assert (hit.source, hit.also_in) == ("insight", ("session-buddy",))
    assert not [h for h in result.hits if h.source == "session-buddy"]  # not a second copy


def test_a_project_scoped_search_filters_the_peers_hits_here(
    peer_env: SessionBuddySettings, peer: SessionBuddy, tmp_path: Path
) -> None:
    theirs = "Project zebra decided: every webhook consumer is idempotent, keyed by the delivery id header."
    with _sqlite_store(tmp_path) as store:
        cross_project.store_insight(store, theirs, project="zebra")
        _written_through()
        assert peer.search("webhook consumer").hits  # the peer itself finds it for anyone
        question = "webhook consumer"
        scoped = search_everywhere(store, question, filters={"project": "shop"}, mode="text", peer=peer)
        mine = search_everywhere(store, question, filters={"project": "zebra"}, mode="text", peer=peer)
    assert all("zebra" not in h.content for h in scoped.hits), scoped.hits
    assert any("Project zebra" in h.content for h in mine.hits)


# -- write-through -----------------------------------------------------------------------------------------


def test_an_insight_is_written_once_and_visible_in_the_peers_own_search(
    peer_env: SessionBuddySettings, peer: SessionBuddy, tmp_path: Path
) -> None:
    text = "Write-through test: the outbox survives a restart of Mahavishnu, so nothing is sent twice."
    tag = f"mahavishnu:{insight_hash(text)[:16]}"
    before = peer.reflection_count()
    with _sqlite_store(tmp_path) as store:
        insight = cross_project.store_insight(store, text, project="shop", source="transcript")
        _written_through()
        assert peer.reflection_count() == before + 1
        [hit] = peer.quick_search(tag).hits  # the peer's own search, by our id
        assert hit.content == text
        cross_project.share_insight(store, insight.id, projects=["web"])  # shared: not written again
        cross_project.store_insight(store, text, project="web")  # the same insight again: neither
        _written_through()
        assert peer.reflection_count() == before + 1
    # A restart of our side: a new process backfills, and sends nothing twice.
    done = _cli(tmp_path, "memory", "peer", "sync", "--json")
    assert json.loads(done.stdout) == {"sent": 0, "already": 0, "queued": 0, "error": None}
    assert peer.reflection_count() == before + 1


def test_a_send_that_died_half_way_is_not_repeated(
    peer_env: SessionBuddySettings, peer: SessionBuddy, tmp_path: Path
) -> None:
    sent = "Half-way test: this insight reached the peer, but its sender died before noting it was sent."
    lost = "Half-way test: this insight never reached the peer, its sender died before the call went out."
    before = peer.reflection_count()
    with _sqlite_store(tmp_path) as store:
        memories = [cross_project.store_insight(store, t, project="shop") for t in (sent, lost)]
    _written_through()
    ledger, key = peer_ledger.Ledger(), peer_ledger.peer_key(peer)
    assert ledger.counts(key)["sent"] >= 2 and peer.reflection_count() == before + 2
    with ledger._db() as db:  # as a process that died after (or before) its call leaves them
        stale = "2000-01-01T00:00:00+00:00"
        for memory in memories:
            db.execute(
                "UPDATE reflections SET state = 'sending', claimed_at = ? WHERE insight_hash = ?",
                (stale, memory.metadata["insight_hash"]),
            )
    report = peer_ledger.flush(peer)
    assert (report.sent, report.already, report.error) == (0, 2, None)  # both are there already
    assert peer.reflection_count() == before + 2


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, "MAHAVISHNU_MEMORY__PATH": str(tmp_path / "memory.db")}
    done = subprocess.run(
        [sys.executable, "-m", "mahavishnu", *args], capture_output=True, text=True, timeout=180, env=env
    )
    assert done.returncode == 0, done.stderr
    return done


# -- the peer's own failures ------------------------------------------------------------------------------


def test_health_reports_the_peer_losing_its_reflections_on_restart(
    server: RealServer, peer_env: SessionBuddySettings
) -> None:
    settings = Settings(session_buddy=peer_env)
    first = _session_buddy_peer(settings)
    assert first.status == "ok" and first.data["reflections"] > 0, first
    server.restart()  # offline, its DuckDB cannot replay the WAL: every reflection is gone
    with SessionBuddy.from_settings(peer_env.model_copy(update={"timeout_seconds": 120})) as warm:
        assert warm.reflection_count() == 0
    after = _session_buddy_peer(settings)
    assert after.status == "error", after
    assert f"dropped from {first.data['reflections']} to 0" in after.detail
    assert "memory peer sync --resend" in after.data["hint"]
