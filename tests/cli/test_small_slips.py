"""The small slips a new user met (issue 48, item 12), each with its family: "is a agent" (every
"a" before a word the code does not know in advance), "1 insights" (every count), one wording for
a search with no hit, an empty filtered listing that says nothing is recorded, the MCP health
check and `mahavishnu health` disagreeing, the dashboard calling itself stopped, and
`import-transcript` dropping the decisions `memory import --tool claude` keeps."""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner, Result

from mahavishnu import mcp_server, wording
from mahavishnu.cli import memory as memory_cli
from mahavishnu.cli.main import app
from mahavishnu.memory.core import store as store_module
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.core.workflows import store_workflow_execution
from mahavishnu.memory.loop.capture import import_session

runner = CliRunner()
SRC = Path(mcp_server.__file__).parent
INSIGHT = "Codex reads provider keys from env_key, so a profile never needs the key in config.toml."
BLOCK = f"`★ Insight ─────────────────────────────────────`\n{INSIGHT}\n`─────────────────────────────`"
DECISION = "We decided to use PostgreSQL 16 for the team store."


@pytest.fixture(autouse=True)
def fake_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())


def memory(*args: str) -> Result:
    result = runner.invoke(memory_cli.app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result


# -- a / an -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "said"),
    [
        ("agent", "an agent"),
        ("insight", "an insight"),
        ("note", "a note"),
        ("openai", "an openai"),
        ("anthropic", "an anthropic"),
        ("gemini", "a gemini"),
        ("AWS Secrets Manager", "an AWS Secrets Manager"),
        ("GCP Secret Manager", "a GCP Secret Manager"),
        ("MCP server", "an MCP server"),
        ("user", "a user"),
        ("UserPromptSubmit", "a UserPromptSubmit"),
        ("embedded (SQLite)", "an embedded (SQLite)"),
        ("OpenCode", "an OpenCode"),
    ],
)
def test_the_article_fits_the_word(word: str, said: str) -> None:
    assert wording.a(word) == said


def test_no_message_puts_a_bare_a_before_a_word_it_does_not_know() -> None:
    """The family of "is a agent": an f-string with "a {…}" names a word the code does not know."""
    bare = re.compile(r"""f["'][^"'\n]*\ba \{""")
    found = [
        f"{path.relative_to(SRC)}:{number}: {line.strip()}"
        for path in SRC.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if bare.search(line)
    ]
    assert not found, found


def test_sharing_an_agent_turn_as_an_insight_says_an_agent() -> None:
    with MemoryStore.open() as store:
        turn = store.store("the agent said something", "agent").id
    result = runner.invoke(memory_cli.app, ["share", str(turn), "--project", "web"])
    assert result.exit_code != 0
    assert f"memory #{turn} is an agent, not an insight" in str(result.exception)


# -- counts ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "noun", "said"),
    [
        (1, "insight", "1 insight"),
        (0, "insight", "0 insights"),
        (2, "memory", "2 memories"),
        (1, "memory", "1 memory"),
    ],
)
def test_counts_agree_with_their_number(n: int, noun: str, said: str) -> None:
    assert wording.count(n, noun) == said


def test_no_message_counts_with_a_parenthesised_plural() -> None:
    """The family of "1 insights": "{n} migration(s)" is what ``wording.count`` says properly."""
    hedged = re.compile(r"""f["'].*\}\s(?:\w+\s)?\w+\((?:e)?s\)""")  # "{n} [older] backup(s)"
    found = [
        f"{path.relative_to(SRC)}:{number}: {line.strip()}"
        for path in SRC.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if hedged.search(line)
    ]
    assert not found, found


def _claude_session(folder: Path, *user_says: str, assistant_says: str = BLOCK) -> Path:
    session = folder / "s-1.jsonl"
    session.parent.mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, Any]] = [
        {
            "type": "user",
            "uuid": f"u{i}",
            "sessionId": "s-1",
            "cwd": "/w/api",
            "message": {"role": "user", "content": said},
        }
        for i, said in enumerate(user_says)
    ]
    entries.append(
        {
            "type": "assistant",
            "uuid": "a1",
            "sessionId": "s-1",
            "cwd": "/w/api",
            "message": {
                "id": "m1",
                "role": "assistant",
                "content": [{"type": "text", "text": assistant_says}],
            },
        }
    )
    session.write_text("".join(json.dumps(e) + "\n" for e in entries))
    return session


def test_one_insight_is_one_insight(tmp_path: Path) -> None:
    session = _claude_session(tmp_path, "why env_key?")
    said = memory("import-transcript", str(session)).stdout
    assert "2 of 2 turns added, 1 insight (api)" in said, said


# -- a search with no hit -----------------------------------------------------------------------------------


def test_every_search_with_no_hit_says_the_same_words(backing: mcp_server.Backing) -> None:
    from tests.mcp_calls import run

    memory("store", "We use httpx for HTTP calls", "--project", "api")
    typer_path = memory("search", "kubernetes helm chart", "--mode", "text").stdout.strip()
    everywhere = memory("search", "kubernetes helm chart", "--mode", "text", "--everywhere").stdout.strip()
    (mcp,) = run(backing, [("search_memory", {"query": "kubernetes helm chart", "mode": "text"})])
    assert typer_path == everywhere == mcp.content[0].text == "no relevant memories"  # type: ignore[union-attr]


# -- an empty filtered listing ------------------------------------------------------------------------------


def test_a_filter_that_matches_nothing_does_not_say_nothing_is_recorded() -> None:
    assert memory("workflows").stdout.strip() == "no workflow executions recorded"
    assert memory("workflows", "--status", "failed").stdout.strip() == "no workflow executions recorded"
    with MemoryStore.open() as store:
        store_workflow_execution(store, "lint", "local", status="completed")
    said = memory("workflows", "--status", "failed").stdout.strip()
    assert said == "no workflow executions match --status failed"
    assert memory("insights", "--project", "nowhere").stdout.strip() == "no insights yet"
    with MemoryStore.open() as store:
        store.store_performance_metrics("store", "health", {"rows": 3})
    assert (
        memory("metrics", "--component", "embedder").stdout.strip() == "no metrics match --component embedder"
    )


# -- health: one source of truth ---------------------------------------------------------------------------


def _claude_on_a_dead_provider(home: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing answers there
    settings = home / ".mahavishnu" / "mahavishnu.yaml"
    settings.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "secret": ["env:DEAD_KEY"],
        "anthropic": {"base_url": f"http://127.0.0.1:{port}", "model": "m"},
    }
    settings.write_text(json.dumps({"profiles": {"dead": profile}, "services": {"builtins": True}}))
    switched = runner.invoke(app, ["ai", "switch-llm", "dead", "--tool", "claude"])
    assert switched.exit_code == 0, switched.output


def test_mcp_health_check_says_what_mahavishnu_health_says(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, backing: mcp_server.Backing
) -> None:
    from tests.mcp_calls import run

    monkeypatch.setenv("DEAD_KEY", "sk-dead-0123456789abcdef")
    _claude_on_a_dead_provider(isolated_home)
    cli = runner.invoke(app, ["health", "--json"])
    (tool,) = run(backing, [("health_check", {})])
    told, asked = json.loads(cli.stdout), tool.structured_content
    assert asked is not None
    assert told["ok"] is False and asked["ok"] is False and cli.exit_code == 1
    statuses = lambda report: {c["component"]: c["status"] for c in report["components"]}  # noqa: E731
    assert statuses(asked) == statuses(told)
    assert statuses(told)["assistant:claude"] == "error"


def test_the_dashboard_does_not_call_itself_stopped(isolated_home: Path) -> None:
    """Started by `mahavishnu ui`, not by the supervisor: its page and `mahavishnu health` both say
    it runs (the dashboard's own record, ``ui/server.json``, names this process)."""
    from mahavishnu.ui.app import create_app
    from mahavishnu.ui.memories import Library
    from mahavishnu.ui.server import _remember

    _remember(8690, "http://127.0.0.1:8690/login?token=t0ken")  # what `mahavishnu ui` records
    app_ = create_app(Library(MemoryStore.open), "t0ken")
    with TestClient(app_, base_url="http://127.0.0.1:8690") as client:
        assert client.get("/login?token=t0ken", follow_redirects=False).status_code == 303
        page = client.get("/health?probe=0").text
    row = re.search(r'<tr data-component="service:mahavishnu-ui" data-status="(\w+)">(.*?)</tr>', page, re.S)
    assert row is not None, page
    assert row.group(1) == "ok" and f"running (pid {os.getpid()}, started by" in row.group(2)
    told = json.loads(runner.invoke(app, ["health", "--no-probe", "--json"]).stdout)
    [cli_row] = [c for c in told["components"] if c["component"] == "service:mahavishnu-ui"]
    assert cli_row["status"] == "ok" and cli_row["data"]["pid"] == os.getpid()
    mcp = re.search(r'<tr data-component="service:mahavishnu-mcp" data-status="(\w+)">', page)
    assert mcp is not None and mcp.group(1) == "stopped"  # the others as the supervisor knows them


# -- one decision extractor ----------------------------------------------------------------------------------


def test_import_transcript_keeps_the_decisions_the_capture_keeps(isolated_home: Path) -> None:
    folder = isolated_home / ".claude" / "projects" / "-w-api"
    session = _claude_session(folder, f"{DECISION} Which driver?", assistant_says="psycopg 3.")
    memory("import-transcript", str(session))
    by_transcript = [m["content"] for m in json.loads(memory("list", "--type", "decision", "--json").stdout)]
    assert by_transcript == [DECISION]
    with MemoryStore.open() as store:
        import_session(store, "claude", session)
        decisions = [m for m in store.recent({"types": ["decision"]}, limit=10)]
    assert {m.content for m in decisions} == {DECISION}


_SIZES = [(0, "0 bytes"), (1, "1 byte"), (999, "999 bytes"), (1_000, "1.0 KB"), (9_949, "9.9 KB")]
_SIZES += [(200_704, "201 KB"), (999_499, "999 KB"), (999_500, "1.0 MB"), (2_100_000_000, "2.1 GB")]


@pytest.mark.parametrize(("n_bytes", "said"), [*_SIZES, (5 * 10**15, "5000 TB")])
def test_a_size_is_said_as_a_file_manager_says_it(n_bytes: int, said: str) -> None:
    assert wording.size(n_bytes) == said


def test_the_dashboards_record_goes_when_it_is_stopped_with_sigterm(isolated_home: Path) -> None:
    """A supervisor stops with SIGTERM: uvicorn shuts down, raises it again, and the process must
    still remove ``ui/server.json`` (else `health` and a second `mahavishnu ui` read a dead URL)."""
    import signal
    import subprocess
    import sys
    import time

    from mahavishnu.ui.server import server_file

    served = subprocess.Popen(
        [sys.executable, "-m", "mahavishnu", "ui", "--port", "0", "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not server_file().exists() and time.monotonic() < deadline and served.poll() is None:
            time.sleep(0.1)
        assert server_file().exists(), served.stderr.read() if served.poll() is not None else "not started"
        assert json.loads(server_file().read_text())["pid"] == served.pid
        time.sleep(1)  # serving
        served.send_signal(signal.SIGTERM)
        _, err = served.communicate(timeout=30)
    finally:
        served.kill()
    assert not server_file().exists()
    assert served.returncode == 128 + signal.SIGTERM and "Traceback" not in err


def test_memory_get_shows_a_texts_terminal_controls_instead_of_running_them(isolated_home: Path) -> None:
    """A captured page can hold OSC 52 (write the clipboard), OSC 8 (a fake link), a screen clear
    and a direction override; `memory get`, which recall's block tells the user to run, wrote
    them to the terminal as they were."""
    hostile = "page says: \x1b]52;c;cm0gLXJmIH4K\x1b\\ \x1b[2J docs\u202e \x9b31m done"
    with MemoryStore.open() as store:
        memory_id = store.store(hostile, "note", project="p").id
    shown = memory("get", str(memory_id))
    assert shown.exit_code == 0, shown.output
    assert (
        not any(c in shown.output for c in "\x1b\u202e\x9b")
        and "page says: ]52;c;cm0gLXJmIH4K" in shown.output
    )


def test_a_dashboard_that_stops_leaves_the_record_of_another_running_one(isolated_home: Path) -> None:
    """Two dashboards on two ports: the second's record replaced the first's, and the first one's
    exit removed it, so `health` and `mahavishnu ui` lost the running dashboard's URL."""
    import os

    from mahavishnu.ui import server

    server._remember(8691, "http://127.0.0.1:8691/login?token=other")
    record = json.loads(server.server_file().read_text())
    server.server_file().write_text(json.dumps({**record, "pid": os.getpid() + 1}))  # another process's
    server._forget()
    assert server.server_file().exists()
    server._remember(8690, "http://127.0.0.1:8690/login?token=mine")
    server._forget()
    assert not server.server_file().exists()


def test_a_second_dashboard_on_a_taken_port_opens_the_running_one_only_if_its_record_is_live(
    isolated_home: Path,
) -> None:
    """`mahavishnu ui` on a port that is taken opens the dashboard recorded there; a record left by
    a killed dashboard whose pid now names a process started since is no dashboard (it was believed
    by ``os.kill(pid, 0)`` alone)."""
    import os
    import socket
    import subprocess
    import time

    from mahavishnu.errors import MahavishnuError
    from mahavishnu.ui import server

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        server._remember(port, f"http://127.0.0.1:{port}/login?token=t")  # this process: alive, older
        said: list[str] = []
        server.serve(port=port, open_browser=False, announce=said.append)
        assert said == [
            f"The dashboard already runs on 127.0.0.1:{port}: http://127.0.0.1:{port}/login?token=t"
        ]

        record = json.loads(server.server_file().read_text())
        later = subprocess.Popen(["sleep", "30"])
        try:
            server.server_file().write_text(json.dumps({**record, "pid": later.pid}))
            past = time.time() - 3600  # the record outlived its dashboard; the pid is the sleep's now
            os.utime(server.server_file(), (past, past))
            with pytest.raises(MahavishnuError, match="cannot serve on"):
                server.serve(port=port, open_browser=False, announce=said.append)
        finally:
            later.kill()
            later.wait()
