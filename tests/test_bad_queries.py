"""Bad queries on every surface that searches: ``memory search`` (the console script's fast path and
the Typer command), the daemon's search, MCP ``search_memory``, the dashboard's search and the
recall hook. Empty, only stopwords, only punctuation, 10,000 words, bytes that are not UTF-8 (as
Python hands them over: lone surrogates) and a NUL each get an empty answer or one clear line, with
exit 0 or 1: never a traceback, never a hang. A query (or a prompt) of any size is read only up to
``clean_text.QUERY_CHARS``: the embedder never sees more, and a 10 MB prompt reaches the daemon
under its request cap."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from testkit.ports import served_in_thread

from mahavishnu import mcp_server
from mahavishnu.clean_text import QUERY_CHARS
from mahavishnu.cli import entry
from mahavishnu.memory.core import store as store_module
from mahavishnu.memory.core.embedders.base import Kind, Vectors
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore
from mcp_calls import run

WORDS = ["why", "does", "the", "nightly", "export", "time", "out", "on", "the", "ledger", "service"]
BAD = {
    "empty": "",
    "blank": " \t ",
    "stopwords": "the of and to is a in that it",
    "punctuation": "?!... ,;: -- () [] {} '\"",
    "10,000 words": " ".join(WORDS[i % len(WORDS)] for i in range(10_000)),
    "not utf-8": "caf\udce9 \udcff\udcfe ledger",  # b"caf\xe9 \xff\xfe" as sys.argv holds it
    "nul": "ledger\x00 storage",
}
EMPTY = {"empty", "blank"}


class Recording(FakeEmbedder):
    """The fake embedder, refusing what the real tokenizer refuses, and keeping each text's length."""

    seen: list[int] = []  # noqa: RUF012 (one list for the test, reset by the fixture)
    queries: list[str] = []  # noqa: RUF012

    def embed_batch(self, texts: Sequence[str], kind: Kind) -> Vectors:
        for text in texts:
            text.encode("utf-8")  # a lone surrogate: UnicodeEncodeError, as the tokenizer's TypeError
            assert "\0" not in text
            Recording.seen.append(len(text))
            if kind == "query":
                Recording.queries.append(text)
        return super().embed_batch(texts, kind)


@pytest.fixture(autouse=True)
def stored(monkeypatch: pytest.MonkeyPatch, isolated_home: Path) -> None:
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: Recording())
    Recording.seen, Recording.queries = [], []
    with MemoryStore.open() as store:
        store.store("Ledger storage is PostgreSQL 15, not DynamoDB.", "decision", project=isolated_home.name)
        store.store("The nightly export of the ledger runs at 02:00 UTC.", "note", project=isolated_home.name)


def said_once(code: int, stderr: str, name: str) -> None:
    assert code == (1 if name in EMPTY else 0), (name, code, stderr)
    assert "Traceback" not in stderr and "unexpectedly" not in stderr, stderr
    if name in EMPTY:
        assert "error: the search query is empty" in stderr and "hint: " in stderr, stderr


# -- memory search ---------------------------------------------------------------------------------
def cli(args: list[str], *, typer: bool = False) -> tuple[int, str, str]:
    saved = sys.argv, sys.stdout, sys.stderr
    out, err = io.StringIO(), io.StringIO()
    sys.argv = ["mahavishnu", *args]
    sys.stdout, sys.stderr = out, err
    code: Any = 0
    try:
        if typer:
            from mahavishnu.cli.main import app

            app(args=args, prog_name="mahavishnu")
        else:
            entry.run()
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv, sys.stdout, sys.stderr = saved
    return 0 if code is None else int(code), out.getvalue(), err.getvalue()


@pytest.mark.parametrize("typer", [False, True], ids=["fast-path", "typer"])
@pytest.mark.parametrize("name", list(BAD))
def test_memory_search_answers_a_bad_query_with_nothing_or_one_clear_line(name: str, typer: bool) -> None:
    code, stdout, stderr = cli(["memory", "search", BAD[name], "--json"], typer=typer)
    said_once(code, stderr, name)
    if name not in EMPTY:
        assert isinstance(json.loads(stdout), list)
    assert all(seen <= QUERY_CHARS for seen in Recording.seen), Recording.seen


def test_the_daemons_search_says_an_empty_query_as_the_cli_does() -> None:
    from mahavishnu import settings_snapshot
    from mahavishnu.memory.loop import daemon

    served = daemon.Daemon()
    for name, query in BAD.items():
        args = {"query": query, "limit": 5}
        key = settings_snapshot.process_key()
        answer = served.handle(
            {"protocol": daemon.PROTOCOL, "op": "search", "args": args, "cwd": "/", "settings_key": key}
        )
        if name in EMPTY:
            assert answer["ok"] is False and answer["exit_code"] == 1, answer
            assert "empty" in answer["error"]
        else:
            assert answer["ok"] is True and isinstance(answer["result"], list), (name, answer)
    assert max(Recording.seen) <= QUERY_CHARS


def test_a_long_query_is_read_by_its_ends() -> None:
    with MemoryStore.open() as store:
        hits = store.search("x " * 50_000 + "DynamoDB", mode="text", limit=5)
        head = store.search("DynamoDB " + "x " * 50_000, mode="text", limit=5)
        middle = store.search("x " * 25_000 + "DynamoDB " + "x " * 25_000, mode="text", limit=5)
    assert (
        [h.memory.content for h in hits]
        == [h.memory.content for h in head]
        == ["Ledger storage is PostgreSQL 15, not DynamoDB."]
    )
    assert middle == []  # (what lies between the ends is not read)


# -- MCP search_memory ----------------------------------------------------------------------------
def test_mcp_search_memory_answers_a_bad_query_with_a_list_or_one_clear_error() -> None:
    backing = mcp_server.Backing(store=lambda: MemoryStore.open(embedder=Recording()))
    try:
        results = run(backing, [("search_memory", {"query": q, "limit": 5}) for q in BAD.values()])
    finally:
        backing.close()
    for name, result in zip(BAD, results, strict=True):
        text = " ".join(getattr(c, "text", "") for c in result.content)
        assert "Traceback" not in text, text
        if name in EMPTY:
            assert result.is_error and "the search query is empty" in text, (name, text)
        else:
            assert not result.is_error, (name, text)
    assert max(Recording.seen, default=0) <= QUERY_CHARS


# -- the dashboard --------------------------------------------------------------------------------
@pytest.fixture
def dashboard_url() -> Iterator[tuple[str, str]]:
    from mahavishnu.ui.app import create_app
    from mahavishnu.ui.memories import Library

    token = "test-token-" + os.urandom(8).hex()
    with served_in_thread(create_app(Library(MemoryStore.open), token)) as port:
        yield f"http://127.0.0.1:{port}", token


RAW = {  # what a browser or a script may put in the URL, percent-encoded as it arrives
    "stopwords": "the+of+and+to+is",
    "punctuation": "%3F%21...+%2C%3B%3A",
    "10,000 words": "+".join(WORDS[i % len(WORDS)] for i in range(10_000)),
    "not utf-8": "caf%E9+%FF%FE+ledger",
    "nul": "ledger%00+storage",
    "only a nul": "%00",
}


@pytest.mark.parametrize("name", list(RAW))
def test_the_dashboard_search_answers_a_bad_query_with_a_page(
    dashboard_url: tuple[str, str], name: str
) -> None:
    import httpx

    url, token = dashboard_url
    answer = httpx.get(
        f"{url}/memory/hits?q={RAW[name]}", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    # a refused query (nothing left to search for) is 400 with the page saying why, as every refusal
    assert answer.status_code == (400 if name == "only a nul" else 200), answer.text[:500]
    assert answer.status_code == 200 or 'class="error"' in answer.text
    assert "Traceback" not in answer.text and "Internal Server Error" not in answer.text
    assert max(Recording.seen, default=0) <= QUERY_CHARS


# -- the recall hook ------------------------------------------------------------------------------
def hook(prompt: str) -> tuple[int, str, str]:
    payload = {"hook_event_name": "UserPromptSubmit", "session_id": "s", "cwd": os.environ["HOME"]}
    data = json.dumps({**payload, "prompt": prompt}).encode("utf-8", "surrogatepass")
    saved = sys.argv, sys.stdin, sys.stdout, sys.stderr
    out, err = io.StringIO(), io.StringIO()
    sys.argv = ["mahavishnu", "memory", "context", "--tool", "claude"]
    sys.stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    sys.stdout, sys.stderr = out, err
    code: Any = 0
    try:
        entry.run()
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv, sys.stdin, sys.stdout, sys.stderr = saved
    return 0 if code is None else int(code), out.getvalue(), err.getvalue()


@pytest.mark.parametrize("name", [*BAD, "10 MB"])
def test_the_recall_hook_answers_a_bad_prompt_with_nothing_or_its_memories(name: str) -> None:
    prompt = "log line\n" * 1_200_000 + "where is ledger storage?" if name == "10 MB" else BAD[name]
    code, stdout, stderr = hook(prompt)
    assert code == 0 and "Traceback" not in stderr and not stderr.strip(), (name, stderr)
    if stdout:
        assert json.loads(stdout)["hookSpecificOutput"]["additionalContext"]
    assert all(seen <= QUERY_CHARS for seen in Recording.seen), (name, Recording.seen)
    if name == "10 MB":  # its tail is read: the question at the end of a pasted log
        assert Recording.queries and Recording.queries[-1].endswith("log line\nwhere is ledger storage?")


def test_a_10_mb_prompt_reaches_the_daemon_under_its_request_cap() -> None:
    from mahavishnu.memory.loop import daemon

    sent: list[int] = []

    def ask(op: str, request: dict[str, Any], **_: Any) -> None:
        sent.append(len(json.dumps(request)))

    with mock.patch.object(daemon, "ask", ask), contextlib.suppress(SystemExit):
        hook("pasted\n" * 1_500_000 + "where is ledger storage?")
    assert sent and sent[0] < daemon.MAX_REQUEST_BYTES, sent


def test_mcp_sends_the_daemon_no_more_of_a_query_than_a_search_reads() -> None:
    sent: list[dict[str, Any]] = []

    def daemon(op: str, request: dict[str, Any], seconds: float) -> None:
        sent.append(request)

    backing = mcp_server.Backing(store=lambda: MemoryStore.open(embedder=Recording()))
    try:
        with mock.patch.object(backing, "daemon", daemon):
            (result,) = run(
                backing, [("search_memory", {"query": "pasted " * 1_500_000 + "ledger", "limit": 5})]
            )
    finally:
        backing.close()
    assert not result.is_error
    assert sent and len(str(sent[0]["query"])) == QUERY_CHARS and str(sent[0]["query"]).endswith("ledger")


def test_the_real_command_takes_bytes_that_are_not_utf_8_and_10_000_words(tmp_path: Path) -> None:
    """As a shell passes them (argv bytes; a NUL cannot be in argv), to the real local model."""
    import subprocess

    words = " ".join(WORDS[i % len(WORDS)] for i in range(10_000)).encode()
    from mahavishnu.config import MemorySettings
    from mahavishnu.memory.core.embedders.local import LocalEmbedder

    with MemoryStore.open(MemorySettings(path=tmp_path / "real.db"), embedder=LocalEmbedder()) as store:
        store.store("Ledger storage is PostgreSQL 15, not DynamoDB.", "decision")
    for query in (b"caf\xe9 \xff\xfe ledger storage", words, b"?!... ,;:", b" "):
        done = subprocess.run(
            [sys.executable, "-m", "mahavishnu", "memory", "search", query, "--json"],
            env={**os.environ, "MAHAVISHNU_MEMORY__PATH": str(tmp_path / "real.db")},  # the real model's
            capture_output=True,
            timeout=120,
            check=False,
        )
        stderr = done.stderr.decode("utf-8", "replace")
        assert "Traceback" not in stderr, stderr
        if query.strip():
            assert done.returncode == 0 and isinstance(json.loads(done.stdout), list), stderr
        else:
            assert done.returncode == 1 and "the search query is empty" in stderr


def test_search_everywhere_sends_the_peer_the_clipped_query_only() -> None:
    from mahavishnu.memory.peers import unified
    from mahavishnu.memory.peers.session_buddy import PeerAnswer

    asked: list[str] = []

    class Peer:
        configured = True
        timeout_seconds = 5.0
        min_score = 0.0

        def prepare(self) -> None:
            return None

        def search(self, query: str, *, limit: int = 10) -> PeerAnswer:
            asked.append(query)
            return PeerAnswer([], None, 0.0)

    with MemoryStore.open() as store:
        unified.search_everywhere(store, "x " * 50_000 + "which database?", peer=Peer())  # type: ignore[arg-type]
    assert asked and len(asked[0]) <= QUERY_CHARS and asked[0].endswith("which database?")


def test_printable_drops_what_a_terminal_obeys_and_keeps_text() -> None:
    from mahavishnu.clean_text import printable

    hostile = "a\x1b]0;title\x07b\rc\u202eevil\u2066d\u061ce\u200ff\x9bg"
    assert printable(hostile) == "a]0;titlebcevildefg"
    assert printable("tab\tand\nnewline, ünïcode, 漢字") == "tab\tand\nnewline, ünïcode, 漢字"
