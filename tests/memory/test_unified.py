"""``search_everywhere``: memories, insights and the Session-Buddy peer in one ranked, labelled list."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from testkit.ports import free_port
from testkit.session_buddy_server import HIT, serve_http

from mahavishnu.config import SessionBuddySettings, Settings
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.insights import cross_project
from mahavishnu.memory.peers.session_buddy import PeerAnswer, PeerHit, SessionBuddy
from mahavishnu.memory.peers.unified import search_everywhere

INSIGHT = "Filtering inside the ANN scan keeps k results; filtering after it can return fewer."


@dataclass
class StubPeer:
    """A peer answering from a list (the contract with the real client is tested in test_session_buddy)."""

    hits: list[PeerHit] = field(default_factory=list)
    warning: str | None = None
    delay: float = 0.0
    prepare_seconds: float = 0.0  # importing the MCP SDK
    timeout_seconds: float = 2.0
    min_score: float = 0.0
    configured: bool = True
    asked: list[dict[str, Any]] = field(default_factory=list)

    def prepare(self) -> None:
        time.sleep(self.prepare_seconds)
        self.asked.append({"prepared": True})

    def search(self, query: str, *, limit: int = 10) -> PeerAnswer:
        self.asked.append({"query": query, "limit": limit})
        time.sleep(self.delay)
        return PeerAnswer(list(self.hits), self.warning, self.delay * 1000)


def _peer_hit(content: str, score: float | None = None, project: str | None = None, **meta: Any) -> PeerHit:
    return PeerHit(content, score, project, None, meta)


def test_sources_are_labelled_normalised_and_merged_by_score(store: MemoryStore) -> None:
    note = store.store("ANN filtering notes for the shop", project="shop")
    insight = cross_project.store_insight(store, INSIGHT, project="shop")
    peer = StubPeer([_peer_hit("Peer says: ANN filtering must happen in the scan", 0.5)])

    result = search_everywhere(store, "ANN filtering", filters={"project": "shop"}, mode="text", peer=peer)  # type: ignore[arg-type]

    assert {h.source for h in result.hits} == {"memory", "insight", "session-buddy"}
    assert {h.memory.id for h in result.hits if h.memory} == {note.id, insight.id}
    peer_hit = next(h for h in result.hits if h.source == "session-buddy")
    assert peer_hit.score == 1.0 and peer_hit.raw_score == 0.5  # re-scored here: it has every term
    assert max(h.score for h in result.hits if h.memory) == 1.0
    assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)
    assert peer.asked == [{"prepared": True}, {"query": "ANN filtering", "limit": 10}]  # no project
    assert result.warnings == [] and result.sources["session-buddy"]["status"] == "ok"


def test_the_same_text_from_two_sources_is_kept_once_with_both_labels(store: MemoryStore) -> None:
    insight = cross_project.store_insight(store, INSIGHT)
    cut = INSIGHT[:40]  # the peer shows long content cut short (the parser drops its "...")
    peer = StubPeer([_peer_hit(cut, truncated=True), _peer_hit("something else about ANN scans entirely")])

    result = search_everywhere(store, "ANN scan filtering", mode="text", peer=peer)  # type: ignore[arg-type]

    [merged] = [h for h in result.hits if h.memory is not None]
    assert merged.memory is not None and merged.memory.id == insight.id
    assert set((merged.source, *merged.also_in)) == {"insight", "session-buddy"}
    assert len(result.hits) == 2


def test_a_cut_text_is_only_a_prefix_when_the_peer_says_it_cut_it(store: MemoryStore) -> None:
    insight = cross_project.store_insight(store, INSIGHT)
    peer = StubPeer([_peer_hit(INSIGHT[:40])])  # a reflection that is just the beginning: not cut

    result = search_everywhere(store, "ANN scan filtering", mode="text", peer=peer)  # type: ignore[arg-type]

    assert sorted(h.source for h in result.hits) == ["insight", "session-buddy"]
    assert next(h for h in result.hits if h.memory).memory.id == insight.id  # type: ignore[union-attr]


def test_peer_hits_are_rescored_against_the_query_and_min_score_drops_weak_ones(store: MemoryStore) -> None:
    store.store("ANN filtering inside the scan keeps k results")
    hits = [_peer_hit("ANN filtering in the scan", query="ANN"), _peer_hit("ANN only", query="ANN")]

    result = search_everywhere(store, "ANN scan filtering", mode="text", peer=StubPeer(hits))  # type: ignore[arg-type]
    scores = {h.content: h.score for h in result.hits if h.source == "session-buddy"}
    assert scores == {"ANN filtering in the scan": 1.0, "ANN only": pytest.approx(1 / 3)}

    strict = StubPeer(hits, min_score=0.5)
    result = search_everywhere(store, "ANN scan filtering", mode="text", peer=strict)  # type: ignore[arg-type]
    assert [h.content for h in result.hits if h.source == "session-buddy"] == ["ANN filtering in the scan"]


def test_vector_and_hybrid_modes_rescore_peer_hits_with_the_embedder_too(store: MemoryStore) -> None:
    store.store("ANN filtering notes")
    peer = StubPeer([_peer_hit("ANN filtering notes from the peer")])
    for mode in ("vector", "hybrid"):
        result = search_everywhere(store, "ANN filtering notes", mode=mode, peer=peer)  # type: ignore[arg-type]
        [hit] = [h for h in result.hits if h.source == "session-buddy"]
        assert 0.0 < hit.score < 1.0, (mode, hit.score)  # a cosine below 1 weighs in


def test_a_project_scope_drops_peer_hits_of_other_projects(store: MemoryStore) -> None:
    store.store("ANN notes for the shop", project="shop")
    peer = StubPeer(
        [
            _peer_hit("ANN hit of another project", project="lab"),
            _peer_hit("ANN hit of this project", project="shop"),
            _peer_hit("ANN hit of no known project"),
        ]
    )

    result = search_everywhere(store, "ANN", filters={"project": "shop"}, mode="text", peer=peer)  # type: ignore[arg-type]

    shown = {h.content for h in result.hits if h.source == "session-buddy"}
    assert shown == {"ANN hit of this project", "ANN hit of no known project"}


def test_an_unavailable_peer_is_a_warning_not_a_failure(store: MemoryStore) -> None:
    store.store("ANN notes")
    peer = StubPeer(warning="Session-Buddy at http://127.0.0.1:9/mcp is unreachable")

    result = search_everywhere(store, "ANN", mode="text", peer=peer)  # type: ignore[arg-type]

    assert [h.source for h in result.hits] == ["memory"]
    assert result.warnings == ["Session-Buddy at http://127.0.0.1:9/mcp is unreachable"]
    assert result.sources["session-buddy"]["status"] == "unavailable"


def test_a_slow_peer_is_not_waited_for_beyond_its_timeout(store: MemoryStore) -> None:
    store.store("ANN notes")
    peer = StubPeer([_peer_hit("late", 1.0)], delay=3.0, timeout_seconds=0.3)

    started = time.perf_counter()
    result = search_everywhere(store, "ANN", mode="text", peer=peer)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - started

    assert elapsed < 2.0  # the peer's 0.3 s timeout plus slack, not its 3 s
    assert [h.source for h in result.hits] == ["memory"]
    assert "did not answer within 0.3s" in result.warnings[0]


def test_the_peers_budget_starts_after_it_imported_the_sdk(store: MemoryStore) -> None:
    store.store("ANN notes")
    peer = StubPeer([_peer_hit("ANN from the peer")], delay=0.2, prepare_seconds=1.0, timeout_seconds=0.5)

    result = search_everywhere(store, "ANN", mode="text", peer=peer)  # type: ignore[arg-type]

    assert result.warnings == [] and {h.source for h in result.hits} == {"memory", "session-buddy"}


def test_without_a_configured_peer_the_result_says_so(store: MemoryStore) -> None:
    store.store("ANN notes")

    result = search_everywhere(store, "ANN", mode="text", settings=Settings())

    assert [h.source for h in result.hits] == ["memory"]
    assert "not configured" in result.warnings[0] and "session_buddy.url" in result.warnings[0]
    assert result.sources["session-buddy"]["status"] == "not configured"


# -- against the loopback Session-Buddy over MCP --------------------------------------------------
@pytest.fixture
def peer_url() -> Iterator[str]:
    yield from serve_http()


def test_a_real_mcp_peer_is_searched_with_the_store(store: MemoryStore, peer_url: str) -> None:
    store.store("use fail_after around every MCP client call", project="mahavishnu")
    settings = Settings(session_buddy=SessionBuddySettings(url=peer_url, timeout_seconds=10))

    result = search_everywhere(store, "fail_after MCP zebrafish", mode="text", settings=settings)

    assert {h.source for h in result.hits} == {"memory", "session-buddy"}
    [peer_hit] = [h for h in result.hits if h.source == "session-buddy"]
    assert peer_hit.content == HIT["content"][:147] and peer_hit.raw_score is None  # no relevance line
    assert peer_hit.peer is not None and peer_hit.peer.metadata["query"] == "fail_after"
    assert peer_hit.score == pytest.approx(2 / 3)  # re-scored: 2 of the 3 terms
    assert result.warnings == []


def test_a_peer_that_is_not_listening_only_adds_a_warning(store: MemoryStore) -> None:
    store.store("ANN notes")
    peer = SessionBuddy(url=f"http://127.0.0.1:{free_port()}/mcp", timeout_seconds=5)

    result = search_everywhere(store, "ANN", mode="text", peer=peer)

    assert [h.source for h in result.hits] == ["memory"]
    assert len(result.warnings) == 1 and "Session-Buddy" in result.warnings[0]
