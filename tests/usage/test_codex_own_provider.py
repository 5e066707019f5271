"""Codex logs the provider of its config (``session_meta.model_provider``): a name of the user's
own (``[model_providers.myproxy]``, Codex's ``ollama``, ``azure``) is that provider's, never
OpenAI's at OpenAI's list rates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.usage.attribution import Attribution, Switch
from mahavishnu.usage.records import Provider

runner = CliRunner()


def _codex_session(home: Path, name: str, provider: str, model: str) -> None:
    folder = home / ".codex" / "sessions" / "2026" / "11" / "25"
    folder.mkdir(parents=True, exist_ok=True)
    usage = {"input_tokens": 1_000_000, "cached_input_tokens": 0, "output_tokens": 100_000}
    lines = [
        {
            "timestamp": "2026-11-25T10:00:00Z",
            "type": "session_meta",
            "payload": {"id": name, "cwd": "/p", "model_provider": provider},
        },
        {"timestamp": "2026-11-25T10:00:01Z", "type": "turn_context", "payload": {"model": model}},
        {
            "timestamp": "2026-11-25T10:00:02Z",
            "type": "event_msg",
            "payload": {
                "type": "token_count",
                "info": {"total_token_usage": usage, "last_token_usage": usage},
            },
        },
    ]
    text = "".join(json.dumps(line) + "\n" for line in lines)
    (folder / f"rollout-2026-11-25T10-00-00-{name}.jsonl").write_text(text)


def _by_provider(*extra: str) -> dict[str, dict[str, object]]:
    result = runner.invoke(
        app, ["usage", "--tool", "codex", "--by", "provider", "--since", "2026-11-25", "--json", *extra]
    )
    assert result.exit_code == 0, result.output
    return {row["provider"]: row for row in json.loads(result.stdout)["daily"]}


def test_a_provider_of_the_user_s_own_that_codex_logs_keeps_its_name_and_is_unpriced(
    isolated_home: Path,
) -> None:
    _codex_session(isolated_home, "x", "myproxy", "gpt-5")
    _codex_session(isolated_home, "y", "ollama", "gpt-oss:20b")
    rows = _by_provider()
    assert set(rows) == {"myproxy", "ollama"}  # not openai
    for name in ("myproxy", "ollama"):
        assert rows[name]["requests"] == rows[name]["unpriced_requests"] == 1
        assert rows[name]["cost_usd"] == 0 and rows[name].get("price_source") != "provider"


def test_usage_yaml_prices_a_provider_codex_names(isolated_home: Path) -> None:
    _codex_session(isolated_home, "x", "myproxy", "gpt-5")
    usage_yaml = isolated_home / ".mahavishnu" / "usage.yaml"
    usage_yaml.parent.mkdir(parents=True, exist_ok=True)
    usage_yaml.write_text("pricing:\n  myproxy:\n    gpt-5: {input: 1, output: 10}\n")
    row = _by_provider()["myproxy"]
    assert row["unpriced_requests"] == 0 and row["cost_usd"] == pytest.approx(2.0)


def test_a_provider_the_price_data_knows_is_priced_as_that_provider() -> None:
    attribution = Attribution([], {})
    assert attribution.provider("codex", 100, None, "gpt-5", via="azure") == Provider(
        "azure", price_id="azure"
    )
    assert attribution.provider("codex", 100, None, "gpt-5", via="myproxy") == Provider("myproxy")


def test_the_name_codex_logs_wins_over_the_switch_history() -> None:
    """A Codex switched by Mahavishnu logs ``mahavishnu-<profile>``: any other name is what the user
    set by hand since, and was what Codex used."""
    attribution = Attribution([Switch(100, "codex", "gone", None, "s1")], {})
    assert attribution.provider("codex", 500, None, "gpt-5", via="myproxy") == Provider("myproxy")
    # a switch's provider whose profile is gone: the history still decides, as before
    assert attribution.provider("codex", 500, None, "gpt-5", via="mahavishnu-gone").name == "gone"
