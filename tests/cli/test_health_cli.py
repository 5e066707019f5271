"""`mahavishnu health`: every component, a table or --json, exit 1 when one is in error, metrics recorded."""

from __future__ import annotations

import json
import sys
from typing import Any

import yaml
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.paths import user_settings_file
from mahavishnu.services import metrics

runner = CliRunner()


def settings(data: dict[str, Any]) -> None:
    path = user_settings_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


def test_json_report_covers_every_component_and_is_recorded() -> None:
    settings({"services": {"builtins": False, "definitions": {"idle": {"command": [sys.executable, "-V"]}}}})
    result = runner.invoke(app, ["health", "--json", "--no-probe"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    by_name = {c["component"]: c for c in report["components"]}
    assert set(by_name) == {
        "store",
        "embedder",
        "session-buddy",
        "service:idle",
        "assistant:claude",
        "assistant:codex",
        "assistant:qwen",
        "assistant:gemini",
        "assistant:opencode",
        "assistant:pi",
    }
    store = by_name["store"]
    assert store["status"] == "ok" and store["latency_ms"] is not None
    assert {"backend", "rows", "size_bytes", "migrations_applied", "migrations_pending"} <= set(store["data"])
    assert store["data"]["migrations_pending"] == []
    embedder = by_name["embedder"]
    assert embedder["data"]["dimension"] == 384 and embedder["latency_ms"] > 0
    assert by_name["service:idle"]["status"] == "stopped"
    assert by_name["assistant:claude"]["detail"] == "no provider configured"
    recorded = {row["component"] for row in metrics.read(metric_type="health")}
    assert recorded == set(by_name)


def test_table_and_exit_status_when_a_component_fails() -> None:
    settings({"memory": {"backend": "postgres", "dsn": "postgresql://me:s3cretpassword@127.0.0.1:9/none"}})
    result = runner.invoke(app, ["health", "--no-probe"])
    assert result.exit_code == 1
    assert "postgres" in result.stdout and "unhealthy" in result.stdout
    assert "s3cretpassword" not in result.stdout


def test_active_provider_is_reported_without_a_probe(monkeypatch: Any) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0123456789")
    assert runner.invoke(app, ["ai", "switch-llm", "anthropic", "--tool", "claude"]).exit_code == 0
    result = runner.invoke(app, ["health", "--json", "--no-probe"])
    claude = next(c for c in json.loads(result.stdout)["components"] if c["component"] == "assistant:claude")
    assert claude["data"]["profile"] == "anthropic"
    assert claude["status"] == "skipped" and "not probed" in claude["detail"]


def _claude(result: Any) -> dict[str, Any]:
    return next(c for c in json.loads(result.stdout)["components"] if c["component"] == "assistant:claude")


def test_health_reports_the_file_that_wins_where_it_runs(monkeypatch: Any, isolated_home: Any) -> None:
    monkeypatch.setenv("ZAI_API_KEY", "sk-zai-test-0123456789")
    (isolated_home / "app" / ".git").mkdir(parents=True)
    monkeypatch.chdir(isolated_home / "app")
    assert runner.invoke(app, ["ai", "switch-llm", "zai", "--scope", "project"]).exit_code == 0

    claude = _claude(runner.invoke(app, ["health", "--json", "--no-probe"]))

    assert claude["data"]["profile"] == "zai" and claude["data"]["path"].startswith(
        str(isolated_home / "app")
    )


def test_an_unreadable_assistant_file_is_an_error_in_health(isolated_home: Any) -> None:
    (isolated_home / ".claude").mkdir()
    (isolated_home / ".claude" / "settings.json").write_text('{"env": {')

    result = runner.invoke(app, ["health", "--json", "--no-probe"])

    claude = _claude(result)
    assert result.exit_code == 1 and claude["status"] == "error" and "invalid JSON" in claude["detail"]
