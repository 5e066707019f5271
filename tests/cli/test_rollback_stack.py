"""`ai rollback` walks back a stack, as "undo" does: a second rollback undoes the switch before the
last, not the first rollback; a new switch after a rollback is undone first; once everything is
undone it says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app

runner = CliRunner()


def _model(home: Path) -> str | None:
    path = home / ".claude" / "settings.json"
    if not path.exists():
        return None
    env = json.loads(path.read_text()).get("env", {})
    return str(env.get("ANTHROPIC_BASE_URL")) if env.get("ANTHROPIC_BASE_URL") else None


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch, isolated_home: Path) -> Path:
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-dash-0123456789abc")
    monkeypatch.setenv("ZAI_API_KEY", "sk-zai-0123456789abc")
    settings = isolated_home / ".claude" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text('{\n  "model": "opus"\n}\n')
    return isolated_home


def test_two_rollbacks_step_back_twice(keys: Path) -> None:
    _ok("ai", "switch-llm", "qwen")
    qwen = _model(keys)
    _ok("ai", "switch-llm", "zai")
    assert "undid the switch of" in (first := _ok("ai", "rollback")) and "to zai" in first
    assert _model(keys) == qwen
    assert "to qwen" in _ok("ai", "rollback")
    assert (keys / ".claude" / "settings.json").read_text() == '{\n  "model": "opus"\n}\n'
    done = runner.invoke(app, ["ai", "rollback"])
    assert done.exit_code == 1 and "nothing left to undo" in done.output
    assert (keys / ".claude" / "settings.json").read_text() == '{\n  "model": "opus"\n}\n'


def test_a_switch_after_a_rollback_is_undone_first_then_the_older_ones(keys: Path) -> None:
    _ok("ai", "switch-llm", "qwen")
    qwen = _model(keys)
    _ok("ai", "switch-llm", "zai")
    _ok("ai", "rollback")  # zai undone: qwen
    _ok("ai", "switch-llm", "zai")
    assert "to zai" in _ok("ai", "rollback")
    assert _model(keys) == qwen
    assert "to qwen" in _ok("ai", "rollback")  # not the rollback, not the undone zai
    assert _model(keys) is None


def test_a_rollback_refused_never_says_it_undid_the_switch(keys: Path) -> None:
    """A read-only settings file (written with --force) refuses the rollback: it printed "undoing
    the switch of …" first, a claim of what it then did not do."""
    _ok("ai", "switch-llm", "qwen")
    settings = keys / ".claude" / "settings.json"
    settings.chmod(0o444)
    written = settings.read_text()
    refused = runner.invoke(app, ["ai", "rollback"])
    assert refused.exit_code != 0 and "read-only" in refused.output
    assert "undid" not in refused.output and "undoing" not in refused.output
    assert settings.read_text() == written
    settings.chmod(0o644)
    assert "undid the switch of" in _ok("ai", "rollback")
