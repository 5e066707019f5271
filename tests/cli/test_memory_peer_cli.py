"""``mahavishnu memory peer``: sync, status and checkpoint against the loopback Session-Buddy stand-in."""

from __future__ import annotations

import json

import pytest
from testkit.ports import free_port
from testkit.session_buddy_server import serve_http
from typer.testing import CliRunner, Result

from mahavishnu.cli.main import app as main_app
from mahavishnu.memory.core import store as store_module
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.insights import cross_project

runner = CliRunner()
INSIGHT = "A peer that lost its reflections gets them back with `memory peer sync --resend`, once each."


@pytest.fixture(autouse=True)
def fake_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "default_embedder", lambda settings: FakeEmbedder())


def peer(*args: str) -> Result:
    return runner.invoke(main_app, ["memory", "peer", *args])


def test_without_a_peer_every_command_says_how_to_configure_one() -> None:
    for args in (["sync"], ["status"], ["checkpoint"]):
        result = peer(*args)
        assert result.exit_code != 0, args
        assert "not configured" in result.output and "MAHAVISHNU_SESSION_BUDDY__URL" in result.output
        assert "Traceback" not in result.output


def test_sync_backfills_then_status_counts_and_a_down_peer_fails_cleanly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with MemoryStore.open() as store:
        cross_project.store_insight(store, INSIGHT, project="shop")  # before the peer was configured
    port = free_port()
    monkeypatch.setenv("MAHAVISHNU_SESSION_BUDDY__URL", f"http://127.0.0.1:{port}/mcp")
    monkeypatch.setenv("MAHAVISHNU_SESSION_BUDDY__TIMEOUT_SECONDS", "10")
    for _ in serve_http("--mode", "empty", port=port):
        first = peer("sync", "--json")
        assert first.exit_code == 0, first.output
        assert json.loads(first.stdout) == {"sent": 1, "already": 0, "queued": 0, "error": None}
        assert json.loads(peer("sync", "--json").stdout)["sent"] == 0  # once
        status = peer("status", "--json")
        assert json.loads(status.stdout) == {
            "peer": f"http://127.0.0.1:{port}/mcp", "queued": 0, "sending": 0, "sent": 1,
        }  # fmt: skip
        checkpoint = peer("checkpoint", "--dir", ".")
        assert checkpoint.exit_code == 0 and "Checkpoint completed at" in checkpoint.stdout
    down = peer("sync", "--resend")
    assert down.exit_code != 0 and "1 insight waits for Session-Buddy" in down.output
    assert "unreachable" in down.output and "Traceback" not in down.output
