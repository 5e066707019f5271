"""What the memory loop itself costs: the tokens a real recall added to a session (the recall log
``build_context`` writes) shown by `mahavishnu usage` apart from the requests', priced at the input
rate of the session's requests, unpriced when the session made no request in the logs read."""

from __future__ import annotations

import json
import time
from pathlib import Path

from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import MemorySettings, RecallSettings
from mahavishnu.memory.core.backends.sqlite import SqliteBackend
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.loop import recall_log
from mahavishnu.memory.loop.recall import build_context

runner = CliRunner()
#: a Claude Code session of the fixture logs (a resumed one), its requests claude-sonnet-4-5's
#: (USD 3 per million input tokens)
SESSION = "80863d8a-6140-42ed-af45-fb8d04991dbb"
SONNET_INPUT = 3.0


def _json(*args: str) -> dict[str, object]:
    result = runner.invoke(app, ["usage", *args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert isinstance(data, dict)
    return data


def _recall(store: MemoryStore, tool: str, session: str) -> recall_log.Recalled:
    payload = {
        "hook_event_name": "UserPromptSubmit",
        "session_id": session,
        "cwd": "/home/dev/src/shop",
        "prompt": "which HTTP client call do we use?",
    }
    assert build_context(store, payload, tool, RecallSettings()) is not None
    return recall_log.read(1)[0]


def test_recalled_tokens_are_their_own_figure_priced_like_the_session(logs: Path, tmp_path: Path) -> None:
    before = _json()["totals"]
    session_before = {r["session"]: r for r in _json("sessions", "--tool", "claude")["sessions"]}[SESSION]  # type: ignore[union-attr]
    store = MemoryStore(SqliteBackend(tmp_path / "m.db"), MemorySettings(), FakeEmbedder())
    store.store("We use httpx for every HTTP client call", "decision", project="shop")
    claude = _recall(store, "claude", SESSION)
    codex = _recall(store, "codex", "a-session-not-in-any-log")
    assert claude.tokens > 0 and codex.tokens > 0
    claude_cost = round(claude.tokens * SONNET_INPUT / 1_000_000, 6)

    sessions = {row["session"]: row for row in _json("sessions", "--tool", "claude")["sessions"]}  # type: ignore[union-attr]
    row = sessions[SESSION]
    assert (row["memory_tokens"], row["memory_cost_usd"], row["recalls"]) == (claude.tokens, claude_cost, 1)
    assert row["memory_unpriced_tokens"] == 0
    assert {k: v for k, v in row.items() if not k.startswith(("memory", "recalls", "last"))} == {
        k: v for k, v in session_before.items() if not k.startswith(("memory", "recalls", "last"))
    }  # the session's own figures are unchanged (its last moment is the recall's)

    daily = _json()
    totals = daily["totals"]
    assert isinstance(totals, dict) and isinstance(before, dict)
    assert totals["memory_tokens"] == claude.tokens + codex.tokens and totals["recalls"] == 2
    assert totals["memory_unpriced_tokens"] == codex.tokens  # its session made no request: unpriced
    assert totals["memory_cost_usd"] == claude_cost
    # already part of the input the assistant sent on: never added to the requests' figures again
    for key in ("input_tokens", "total_tokens", "cost_usd", "requests"):
        assert totals[key] == before[key]
    today = time.strftime("%Y-%m-%d", time.localtime(claude.at))
    (day,) = [r for r in daily["daily"] if r["date"] == today]  # type: ignore[union-attr]
    assert day["memory_tokens"] == claude.tokens + codex.tokens

    by_source = _json("--by", "source")["daily"]
    (memory,) = [r for r in by_source if r["source"] == "memory"]  # type: ignore[union-attr]
    assert (memory["date"], memory["memory_tokens"], memory["input_tokens"]) == (
        today,
        claude.tokens + codex.tokens,
        0,
    )
    helped = runner.invoke(app, ["usage", "--help"], terminal_width=200)
    assert all(source in helped.output for source in ("main", "helper", "memory")), helped.output
    by_source_table = runner.invoke(app, ["usage", "--by", "source"])
    assert by_source_table.exit_code == 0, by_source_table.output
    (memory_line,) = [line for line in by_source_table.output.splitlines() if "│ memory │" in line]
    assert "unpriced" not in memory_line.split("│")[-2], memory_line  # no request: costs 0, not unpriced
    by_provider = {r["provider"]: r for r in _json("--by", "provider", "--since", today)["daily"]}  # type: ignore[union-attr]
    assert by_provider["anthropic"]["memory_tokens"] == claude.tokens
    assert by_provider["openai"]["memory_unpriced_tokens"] == codex.tokens

    only_claude = _json("--tool", "claude")["totals"]
    assert isinstance(only_claude, dict) and only_claude["memory_tokens"] == claude.tokens

    table = runner.invoke(app, ["usage", "--tool", "claude"])
    assert table.exit_code == 0, table.output
    assert "Memory" in table.output and f"{claude.tokens:,} ({claude_cost:.4f})" in table.output


def test_without_recalls_the_memory_figures_are_zero_and_the_table_has_no_memory_column(logs: Path) -> None:
    totals = _json()["totals"]
    assert isinstance(totals, dict)
    assert (totals["memory_tokens"], totals["recalls"], totals["memory_cost_usd"]) == (0, 0, 0)
    table = runner.invoke(app, ["usage"])
    assert table.exit_code == 0 and "Memory" not in table.output
