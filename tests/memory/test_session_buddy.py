"""The Session-Buddy peer client against a loopback stand-in that behaves like the real server
(testkit/session_buddy_server.py), over streamable HTTP and stdio with the real SDK. The contract
with the real Session-Buddy 0.23 is tested in test_session_buddy_real.py."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from testkit.ports import free_port
from testkit.session_buddy_server import HANG_QUERY, HIT, command, serve_http

from mahavishnu.config import SessionBuddySettings
from mahavishnu.errors import PeerError
from mahavishnu.memory.peers import session_buddy as sb
from mahavishnu.memory.peers.session_buddy import PeerAnswer, PeerHit, SessionBuddy

SERVER = Path(__file__).resolve().parents[2] / "testkit" / "session_buddy_server.py"
TOOLS = ("quick_search", "store_reflection", "reflection_stats", "checkpoint", "health_check", "get_liveness")
#: A query that finds the reflection a ``normal`` loopback server holds.
FOUND = "fail_after"
#: The deadline is a correctness bound: a call must end within timeout + this (process start, teardown).
SLACK_SECONDS = 3.0
#: The deadline for calls that start a stdio peer: starting Python and the SDK took 8.3 s once on a
#: loaded CI machine, and these tests are not about that deadline.
START_SECONDS = 30.0


@pytest.fixture
def record(tmp_path: Path) -> Path:
    return tmp_path / "calls.jsonl"


def _lines(record: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []


def _recorded(record: Path) -> list[dict[str, Any]]:
    """The tool calls the loopback server saw."""
    return [line for line in _lines(record) if "tool" in line]


def _handshakes(record: Path) -> int:
    """How many sessions were opened: handshakes over HTTP, server processes over stdio."""
    lines = _lines(record)
    shakes = [line for line in lines if "handshake" in line]
    return len(shakes) if shakes else len({line["pid"] for line in lines})


@pytest.fixture
def http_url(record: Path) -> Iterator[str]:
    yield from serve_http("--record", str(record))


@pytest.fixture(params=["http", "stdio"])
def peer(request: pytest.FixtureRequest, record: Path) -> Iterator[SessionBuddy]:
    """The client, configured from settings, for a loopback server on each transport."""
    if request.param == "http":
        for url in serve_http("--record", str(record)):
            with SessionBuddy.from_settings(SessionBuddySettings(url=url, timeout_seconds=10)) as client:
                yield client
    else:
        argv = shlex.join(command("--record", str(record)))  # settings split a string command
        with SessionBuddy.from_settings(
            SessionBuddySettings(command=argv, timeout_seconds=START_SECONDS)
        ) as client:
            yield client


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every (tool, arguments) the client sends, as sent (the server fills in defaults)."""
    calls: list[tuple[str, dict[str, Any]]] = []
    original = Client.call_tool

    async def spy(
        self: Client, name: str, arguments: dict[str, Any] | None = None, *a: Any, **kw: Any
    ) -> Any:
        calls.append((name, dict(arguments or {})))
        return await original(self, name, arguments, *a, **kw)

    monkeypatch.setattr(Client, "call_tool", spy)
    return calls


def _schemas() -> dict[str, dict[str, Any]]:
    async def go() -> dict[str, dict[str, Any]]:
        async with Client(StdioServerParameters(command=sys.executable, args=[str(SERVER)])) as client:
            return {t.name: t.input_schema for t in (await client.list_tools()).tools}

    return anyio.run(go)


# -- the contract ---------------------------------------------------------------------------------------


def test_loopback_server_exposes_the_real_tool_names_and_argument_schemas() -> None:
    schemas = _schemas()
    assert set(TOOLS) <= set(schemas)
    assert schemas["quick_search"]["required"] == ["query"]
    assert set(schemas["quick_search"]["properties"]) == {"query", "min_score", "project"}
    assert schemas["quick_search"]["properties"]["min_score"]["default"] == 0.7
    assert set(schemas["store_reflection"]["properties"]) == {"content", "tags"}  # no `project`
    assert set(schemas["reflection_stats"]["properties"]) == {"project"}
    assert schemas["store_reflection"]["required"] == ["content"]
    assert set(schemas["checkpoint"]["properties"]) == {"working_directory"}
    assert schemas["health_check"]["properties"] == {}


def test_every_call_sends_only_arguments_of_the_tool_schema(
    peer: SessionBuddy, record: Path, sent: list[tuple[str, dict[str, Any]]]
) -> None:
    answer = peer.search("anyio fail_after", limit=5)
    assert answer.warning is None
    assert answer.hits == [
        PeerHit(
            content=HIT["content"][:147],  # the peer shows 150 characters: 147 and "..."
            score=None,
            project=None,
            timestamp=None,
            metadata={"truncated": True, "source": "quick_search", "query": "fail_after"},
        )
    ]
    assert "Reflection stored successfully" in peer.store_reflection("a decision", tags=("adr", "mcp"))
    assert peer.reflection_count() == 2
    assert "Checkpoint completed at" in peer.checkpoint(working_directory="/tmp/project")
    health = peer.health_check()
    assert health["status"] == "ok" and health["server"] == "session-buddy" and health["version"] == "0.23.0"
    assert health["info"]["platform"] == "Linux" and isinstance(health["info"]["process_id"], int)
    assert health["latency_ms"] > 0

    schemas = _schemas()
    for tool, arguments in sent:
        schema = schemas[tool]
        assert set(arguments) <= set(schema["properties"]), (tool, arguments)  # e.g. no `limit`
        assert set(schema.get("required", [])) <= set(arguments), (tool, arguments)
    searched = [arguments for tool, arguments in sent if tool == "quick_search"]
    assert searched == [{"query": q} for q in sb.peer_queries("anyio fail_after")]  # no project, no min_score
    assert [(tool, arguments) for tool, arguments in sent if tool != "quick_search"] == [
        ("store_reflection", {"content": "a decision", "tags": ["adr", "mcp"]}),
        ("reflection_stats", {}),
        ("checkpoint", {"working_directory": "/tmp/project"}),
        ("health_check", {}),
    ]
    assert [c["tool"] for c in _recorded(record)][len(searched) :] == [
        "store_reflection",
        "reflection_stats",
        "checkpoint",
        "health_check",
    ]


def test_a_question_is_asked_as_its_salient_terms_and_limit_applies_here(
    http_url: str, sent: list[tuple[str, dict[str, Any]]]
) -> None:
    peer = SessionBuddy(url=http_url)
    assert peer.quick_search("zebrafish anyio fail_after timeouts").hits == []  # one substring: no match
    assert sent == [("quick_search", {"query": "zebrafish anyio fail_after timeouts"})]
    assert peer.search("Zebrafish anyio FAIL_AFTER timeouts").hits[0].content == HIT["content"][:147]
    assert peer.search("zebrafish", limit=5).hits == []
    assert peer.search(FOUND, limit=0).hits == []
    stored = "Reflections are matched case-sensitively: Webhook and webhook are different substrings"
    peer.store_reflection(stored)
    both = peer.search("webhook anyio")  # each term finds its own reflection: two hits, no duplicate
    assert [h.content for h in both.hits] == [stored, HIT["content"][:147]]
    assert [h.metadata["query"] for h in both.hits] == ["webhook", "anyio"]


def test_salient_terms_of_a_question() -> None:
    assert sb.peer_queries("the retry budget") == [
        "the retry budget",
        "The retry budget",
        "budget",
        "Budget",
        "retry",
        "Retry",
    ]
    queries = sb.peer_queries("zebrafish retry budget webhook backoff")
    assert len(queries) == sb.MAX_PEER_QUERIES and queries[2:4] == ["zebrafish", "Zebrafish"]
    assert sb.peer_queries("DuckDB")[:3] == ["DuckDB", "duckdb", "Duckdb"]


def test_empty_answer_is_no_hits_and_no_warning(tmp_path: Path) -> None:
    peer = SessionBuddy(command=command("--mode", "empty"), timeout_seconds=START_SECONDS)
    answer = peer.quick_search(FOUND)
    assert answer == PeerAnswer([], None, answer.elapsed_ms)
    assert answer.to_dict() == {"hits": [], "warning": None, "elapsed_ms": answer.elapsed_ms}


# -- an absent, slow or failing peer ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "peer",
    [
        SessionBuddy(url="http://127.0.0.1:9/mcp", timeout_seconds=2),  # nothing listens on the discard port
        SessionBuddy(command=["/nonexistent/session-buddy", "serve"], timeout_seconds=2),
        SessionBuddy(command=[sys.executable, "-c", "import sys; sys.exit(3)"], timeout_seconds=2),
    ],
    ids=["nothing-listening", "no-such-command", "command-exits"],
)
def test_unavailable_peer_is_a_warning_within_the_timeout(peer: SessionBuddy) -> None:
    started = time.monotonic()
    answer = peer.quick_search("anything")
    assert time.monotonic() - started < peer.timeout_seconds + SLACK_SECONDS
    assert answer.hits == [] and answer.warning
    assert "Session-Buddy" in answer.warning and "session-buddy start" in answer.warning
    with pytest.raises(PeerError, match="Session-Buddy") as caught:
        peer.health_check()
    assert caught.value.hint


@pytest.mark.parametrize("transport", ["http", "stdio"])
def test_slow_peer_is_a_warning_within_the_timeout_and_its_process_is_killed(transport: str) -> None:
    timeout = 1.0
    if transport == "stdio":
        peer = SessionBuddy(command=command("--mode", "slow", "--delay", "60"), timeout_seconds=timeout)
        answer, elapsed = _timed_search(peer)
    else:
        for url in serve_http("--mode", "slow", "--delay", "60"):
            answer, elapsed = _timed_search(SessionBuddy(url=url, timeout_seconds=timeout))
    assert elapsed < timeout + SLACK_SECONDS, elapsed
    assert answer.hits == [] and answer.warning and "did not answer quick_search within 1s" in answer.warning
    left = subprocess.run(["pgrep", "-f", f"{SERVER} --mode slow"], capture_output=True, text=True).stdout
    assert not left.strip(), f"slow server left running: {left}"


def _timed_search(peer: SessionBuddy, query: str = "anything") -> tuple[PeerAnswer, float]:
    started = time.monotonic()
    answer = peer.quick_search(query)
    return answer, time.monotonic() - started


@pytest.mark.parametrize("mode", ["error", "raise"])
def test_a_failing_tool_is_a_peer_error_with_its_message(mode: str) -> None:
    peer = SessionBuddy(command=command("--mode", mode), timeout_seconds=START_SECONDS)
    expected = "Validation error" if mode == "error" else "store_reflection exploded"
    with pytest.raises(PeerError, match=expected) as caught:
        peer.store_reflection("x")
    assert caught.value.hint
    with pytest.raises(PeerError, match="not a git repository" if mode == "error" else "exploded"):
        peer.checkpoint()
    with pytest.raises(PeerError, match="server shutting down" if mode == "error" else "exploded"):
        peer.health_check()
    answer = peer.quick_search("anything")
    assert answer.hits == [] and answer.warning
    assert ("database is locked" if mode == "error" else "exploded") in answer.warning


def test_not_configured_or_disabled_says_how_to_configure() -> None:
    for settings in (
        SessionBuddySettings(),
        SessionBuddySettings(enabled=False, url="http://127.0.0.1:8678/mcp"),
    ):
        peer = SessionBuddy.from_settings(settings)
        answer = peer.quick_search("anything")
        assert answer.hits == [] and answer.warning
        assert "MAHAVISHNU_SESSION_BUDDY__URL" in answer.warning and "session_buddy.url" in answer.warning
        with pytest.raises(PeerError, match=r"not configured|disabled") as caught:
            peer.store_reflection("x")
        assert "MAHAVISHNU_SESSION_BUDDY__URL" in caught.value.hint


def test_only_loopback_urls_are_contacted_and_secrets_are_masked() -> None:
    answer = SessionBuddy(url="http://user:s3cret@example.com:8678/mcp").quick_search("x")
    assert answer.warning and "not a loopback address" in answer.warning and "s3cret" not in answer.warning
    with pytest.raises(PeerError, match="not an http"):
        SessionBuddy(url="file:///etc/passwd").health_check()
    refused = SessionBuddy(url="http://user:s3cret@127.0.0.1:9/mcp", timeout_seconds=2).quick_search("x")
    assert refused.warning and "s3cret" not in refused.warning


def test_sync_api_works_inside_a_running_event_loop(http_url: str) -> None:
    async def go() -> PeerAnswer:
        return SessionBuddy(url=http_url).quick_search(FOUND)

    assert len(anyio.run(go).hits) == 1


# -- one session kept across calls --------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with_state = Path(f"/proc/{pid}/stat")
    return not (with_state.exists() and with_state.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def _loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "session-buddy-loop"]


def test_calls_on_one_client_share_one_session(peer: SessionBuddy, record: Path) -> None:
    for _ in range(3):
        assert len(peer.quick_search(FOUND).hits) == 1
    peer.store_reflection("kept")
    assert peer.health_check()["status"] == "ok"
    with ThreadPoolExecutor(max_workers=8) as pool:  # concurrent callers share the session too
        answers = list(pool.map(lambda i: peer.quick_search("anyio" if i % 2 else FOUND), range(16)))
    assert all(a.warning is None and len(a.hits) == 1 for a in answers), answers
    assert len(_recorded(record)) == 21
    assert _handshakes(record) == 1, _lines(record)  # one handshake (HTTP), one process (stdio)
    assert peer.sessions_opened == 1


@contextmanager
def _http_on(port: int, record: Path) -> Iterator[str]:
    yield from serve_http("--record", str(record), port=port)


def test_a_restarted_http_peer_is_reconnected_to(record: Path) -> None:
    port = free_port()
    with SessionBuddy(url=f"http://127.0.0.1:{port}/mcp", timeout_seconds=5) as peer:
        with _http_on(port, record):
            assert peer.quick_search("before").warning is None
            peer.store_reflection("before")
        # Down: the kept session's call fails (a warning), and the session is dropped.
        answer = peer.quick_search("while down")
        assert answer.hits == [] and answer.warning and "unreachable" in answer.warning
        with _http_on(port, record):  # the same port, a new process that never saw the session
            # A search is safe to repeat: were the session refused, it would be sent again on a
            # fresh one, within its deadline; a store is not repeated, so it may fail once.
            assert len(peer.quick_search(FOUND).hits) == 1  # after the restart
            with suppress_peer_error():
                peer.store_reflection("maybe")
            assert "stored successfully" in peer.store_reflection("after")
        with _http_on(port, record):  # restarted while the session was open, unnoticed
            assert len(peer.quick_search(FOUND).hits) == 1  # after the second restart
            with suppress_peer_error():
                peer.store_reflection("maybe")
            assert "stored successfully" in peer.store_reflection("after the failure")
        opened = peer.sessions_opened
    assert 2 <= opened <= 3 and _handshakes(record) == opened  # (the 2026 protocol is sessionless)
    assert len({c["pid"] for c in _recorded(record)}) == 3


@contextmanager
def suppress_peer_error() -> Iterator[None]:
    try:
        yield
    except PeerError as exc:
        assert "Session-Buddy" in exc.message and exc.hint


def test_a_stdio_peer_that_died_is_started_again(record: Path) -> None:
    with SessionBuddy(command=command("--record", str(record)), timeout_seconds=START_SECONDS) as peer:
        first = peer.health_check()["info"]["process_id"]
        os.kill(first, signal.SIGKILL)
        time.sleep(0.2)
        second = peer.health_check()["info"]["process_id"]  # reconnected: a new process
        assert second != first and peer.quick_search("x").warning is None
        assert peer.sessions_opened == 2
    assert not _alive(second)


@pytest.mark.parametrize("transport", ["http", "stdio"])
def test_a_hung_call_keeps_its_deadline_and_the_next_call_gets_a_fresh_session(
    transport: str, record: Path
) -> None:
    # Opening a session (over stdio, starting the peer: 1-9 s on a loaded CI machine) gets a roomy
    # deadline, so only the hung call's own deadline is under test.
    roomy, timeout = START_SECONDS, 1.0
    args = ("--record", str(record), "--delay", "30")
    with (
        contextmanager(serve_http)(*args) if transport == "http" else _nothing() as url,
        (
            SessionBuddy(url=url, timeout_seconds=roomy)
            if url
            else SessionBuddy(command=command(*args), timeout_seconds=roomy)
        ) as peer,
    ):
        assert peer.quick_search("first").warning is None
        peer.timeout_seconds = timeout
        answer, elapsed = _timed_search(peer, HANG_QUERY)
        assert elapsed < timeout + SLACK_SECONDS, elapsed
        assert answer.warning and f"did not answer quick_search within {timeout:g}s" in answer.warning
        peer.timeout_seconds = roomy
        after = peer.quick_search(FOUND)
        assert after.warning is None and len(after.hits) == 1
        assert peer.sessions_opened == 2
    assert _handshakes(record) == 2


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def test_close_leaves_no_peer_process_and_no_thread(record: Path) -> None:
    before = len(_loop_threads())
    peer = SessionBuddy(command=command("--record", str(record)), timeout_seconds=START_SECONDS)
    pid = peer.health_check()["info"]["process_id"]
    assert _alive(pid) and len(_loop_threads()) == before + 1
    peer.close()
    assert not _alive(pid) and len(_loop_threads()) == before
    peer.close()  # idempotent
    again = peer.health_check()["info"]["process_id"]  # a closed client opens again when used
    assert again != pid
    with peer:
        assert peer.quick_search("x").warning is None
    assert not _alive(again) and len(_loop_threads()) == before
    assert peer.sessions_opened == 2


def test_a_client_left_open_is_closed_at_exit(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from mahavishnu.memory.peers.session_buddy import SessionBuddy
        peer = SessionBuddy(command={command()!r}, timeout_seconds={START_SECONDS})
        print(peer.health_check()["info"]["process_id"], flush=True)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=2 * START_SECONDS
    )
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout.split()[0])
    deadline = time.monotonic() + 2
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid), "the stdio peer outlived its parent"


# -- parsing the real text formats ------------------------------------------------------------------------


def test_parse_quick_search_current_format_with_multiline_truncated_content() -> None:
    content = "The reflection DB was locked by a second server.\nFix: one writer; readers use read_only " * 3
    text = (
        "🔍 Quick search for: 'duckdb lock'\n"
        "📊 Found results (showing top 1)\n"
        f"📝 {content[:147]}...\n"  # as Session-Buddy 0.23 cuts it: 147 characters and "..."
        "⭐ Relevance: 0.91\n"
        "📅 Date: 2026-01-12T14:30:45+00:00"
    )
    (hit,) = sb.parse_quick_search(text)
    assert hit.content == content[:147].strip() and "\nFix: one writer" in hit.content
    assert (hit.score, hit.project, hit.timestamp) == (0.91, None, "2026-01-12T14:30:45+00:00")
    assert hit.metadata["truncated"] is True
    whole = "A short reflection that ends in an ellipsis..."  # not cut: shorter than 150
    answer = f"🔍 Quick search for: 'x'\n📊 Found results (showing top 1)\n📝 {whole}"
    (short,) = sb.parse_quick_search(answer)
    assert (short.content, short.metadata["truncated"]) == (whole, False)


def test_parse_reflection_stats() -> None:
    text = (
        "📊 Reflection Database Statistics\n========================================\n"
        "📈 Total reflections: 12\n📁 Projects: 0\n🏥 Database health: ✅ Healthy"
    )
    assert sb.parse_reflection_stats(text) == 12
    with pytest.raises(PeerError, match="database is locked"):
        sb.parse_reflection_stats("❌ Failed to get reflection stats: database is locked")
    with pytest.raises(PeerError, match="no count"):
        sb.parse_reflection_stats("📊 Reflection Database Statistics")


def test_parse_quick_search_unknown_date_no_score_and_no_results() -> None:
    (hit,) = sb.parse_quick_search(
        "🔍 Quick search for: 'x'\n📊 Found results (showing top 1)\n"
        "📝 short\n📁 Project: demo\n📅 Date: Unknown"
    )
    assert (hit.content, hit.score, hit.project, hit.timestamp) == ("short", None, "demo", None)
    empty = (
        "🔍 Quick search for: 'x'\n🔍 No results found\n"
        "💡 Try adjusting your search terms or lowering min_score"
    )
    assert sb.parse_quick_search(empty) == []


def test_parse_quick_search_older_format() -> None:
    text = (
        "🔍 **3 results** for 'pool'\n\n**Top Result** (score: 0.78):\n"
        "Use a bounded worker pool...\n\n💡 Use get_more_results to see additional 2 results"
    )
    (hit,) = sb.parse_quick_search(text)
    assert (hit.content, hit.score, hit.metadata["total"]) == ("Use a bounded worker pool", 0.78, 3)
    assert sb.parse_quick_search("🔍 No results found for 'pool'") == []


@pytest.mark.parametrize(
    "text",
    [
        "❌ Quick search failed: IO Error: Could not set lock on file",
        "Reflection tools not available. Install dependencies: uv sync --extra embeddings",
        "❌ Reflection tools not available. Install dependencies: uv sync --extra embeddings",
        "Failed to perform quick search: boom",
        "something entirely different",
    ],
)
def test_parse_quick_search_failures_raise(text: str) -> None:
    with pytest.raises(PeerError):
        sb.parse_quick_search(text)


def test_parse_store_reflection_both_formats() -> None:
    current = sb.parse_store_reflection(
        "💾 Reflection stored successfully!\n📝 Content: a\n🏷️ Tags: x, y\n📅 Stored: 2026-01-12 14:30:00"
    )
    assert (current["tags"], current["timestamp"], current["id"]) == (["x", "y"], "2026-01-12 14:30:00", None)
    older = sb.parse_store_reflection("✅ Reflection stored successfully with ID: r-42 (tags: x, y)")
    assert (older["id"], older["tags"]) == ("r-42", ["x", "y"])
    with pytest.raises(PeerError, match="Validation error"):
        sb.parse_store_reflection("❌ Validation error: Store reflection - content is required")


def test_parse_health_check() -> None:
    text = (
        "🏥 MCP Server Health Check\n================================\nServer Status: ✅ Active\n"
        "Platform: Darwin\nPython: 3.13.2\nProcess ID: 4242\nWorking Directory: /Users/me\n"
        "Timestamp: 1736692245.5\n\n✅ MCP server is operational and responding to requests."
    )
    info = sb.parse_health_check(text)
    assert info["status"] == "ok" and info["process_id"] == 4242 and info["python"] == "3.13.2"
    assert info["working_directory"] == "/Users/me"
