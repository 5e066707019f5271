"""Attribution: the profile in force when a request was made, from the switch history, decides
the provider and so the price; the model name alone decides only when nothing was switched."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.usage.attribution import Attribution, ProfileEndpoints, Provider, Switch

DASHSCOPE = "https://dashscope-intl.aliyuncs.com/apps/anthropic"
PROFILES = {
    "qwen": ProfileEndpoints(stock=(), base_urls={"anthropic": DASHSCOPE, "openai": None}),
    "claude": ProfileEndpoints(stock=("claude",), base_urls={}),
}


def test_a_request_is_the_provider_s_the_assistant_was_switched_to_then() -> None:
    history = [Switch(100, "claude", "qwen", None, "s1"), Switch(200, "claude", "claude", None, "s2")]
    attribution = Attribution(history, PROFILES)
    model = "claude-sonnet-4-5"
    assert attribution.provider("claude", 50, "shop", model) == Provider("anthropic", price_id="anthropic")
    assert attribution.provider("claude", 150, "shop", model) == Provider("qwen", "qwen", DASHSCOPE)
    assert attribution.provider("claude", 250, "shop", model) == Provider(
        "anthropic", "claude", None, "anthropic"
    )
    assert attribution.provider("codex", 150, "shop", "gpt-5") == Provider("openai", price_id="openai")


def test_a_rollback_brings_back_the_profile_before_the_switch_it_undid() -> None:
    history = [
        Switch(100, "claude", "claude", None, "s1"),
        Switch(200, "claude", "qwen", None, "s2"),
        Switch(300, "claude", None, None, "s3", undoes="s2"),
    ]
    attribution = Attribution(history, PROFILES)
    assert attribution.provider("claude", 350, None, "glm-5.3").name == "anthropic"


def test_a_project_scope_switch_holds_in_its_project_only() -> None:
    attribution = Attribution([Switch(100, "claude", "qwen", "api", "s1")], PROFILES)
    assert attribution.provider("claude", 150, "api", "x").name == "qwen"
    assert attribution.provider("claude", 150, "web", "claude-opus-4-1").name == "anthropic"


def test_a_deleted_profile_keeps_its_name_and_has_no_price_source() -> None:
    attribution = Attribution([Switch(100, "claude", "gone", None, "s1")], PROFILES)
    assert attribution.provider("claude", 150, None, "claude-opus-4-1") == Provider("gone", "gone")


def _claude_request(home: Path, model: str, tokens: int) -> None:
    folder = home / ".claude" / "projects" / "-home-dev-src-shop"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + 2))
    entry = {
        "type": "assistant",
        "sessionId": "s",
        "requestId": "r",
        "timestamp": stamp,
        "message": {
            "id": f"m-{model}",
            "model": model,
            "usage": {"input_tokens": tokens, "output_tokens": 0},
        },
    }
    with (folder / "s.jsonl").open("a") as handle:
        handle.write(json.dumps(entry) + "\n")


def test_after_switch_llm_claude_code_s_requests_are_the_profile_s_priced_at_its_own_rates(
    isolated_home: Path,
) -> None:
    runner = CliRunner()
    settings = isolated_home / ".mahavishnu" / "mahavishnu.yaml"
    settings.parent.mkdir(parents=True, exist_ok=True)
    lab = {"requires_key": False, "anthropic": {"base_url": "http://127.0.0.1:9", "model": "qwen3.7-max"}}
    settings.write_text(yaml.safe_dump({"profiles": {"dashlab": lab}}))
    switched = runner.invoke(app, ["ai", "switch-llm", "dashlab", "--tool", "claude"])
    assert switched.exit_code == 0, switched.output
    _claude_request(isolated_home, "qwen3.7-max", 1_000_000)
    _claude_request(isolated_home, "claude-sonnet-4-5-20250929", 1_000_000)  # a Claude name, same provider

    result = runner.invoke(app, ["usage", "--by", "provider", "--json"])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)["daily"]
    # dashlab is the user's own profile at a URL nobody knows: a gateway. Its Claude-named request
    # is priced at Sonnet's list price (1M fresh input: the long-context $6) and marked so;
    # qwen3.7-max, which no price data knows, stays unpriced
    assert row["provider"] == "dashlab" and row["unpriced_requests"] == 1
    assert row["cost_usd"] == pytest.approx(6.0) and row["price_source"] == "list"
    assert json.loads(result.output)["unpriced_models"] == ["dashlab/qwen3.7-max"]
    listed = runner.invoke(app, ["usage", "--unpriced", "--json"])
    assert json.loads(listed.output) == {
        "unpriced": [{"model": "dashlab/qwen3.7-max", "requests": 1, "tokens": 1_000_000}]
    }
    table = runner.invoke(app, ["usage", "--by", "provider"], env={"COLUMNS": "160"})
    assert "6.00 (list)" in table.output and "list price" in table.output

    (isolated_home / ".mahavishnu" / "usage.yaml").write_text(
        yaml.safe_dump({"pricing": {"dashlab": {"qwen3.7-max": {"input": 1.2, "output": 6.0}}}})
    )
    [row] = json.loads(runner.invoke(app, ["usage", "--by", "model", "--json", "--tool", "claude"]).output)[
        "daily"
    ][1:]
    assert row["model"] == "qwen3.7-max" and row["cost_usd"] == 1.2 and row["unpriced_requests"] == 0


def test_a_profile_declares_its_own_prices_and_usage_yaml_wins_over_them(isolated_home: Path) -> None:
    runner = CliRunner()
    settings = isolated_home / ".mahavishnu" / "mahavishnu.yaml"
    settings.parent.mkdir(parents=True, exist_ok=True)
    lab = {
        "requires_key": False,
        "anthropic": {"base_url": "http://127.0.0.1:9", "model": "qwen3.7-max"},
        "pricing": {"qwen3.7-max": {"input": 2.0, "output": 6.0}},
    }
    settings.write_text(yaml.safe_dump({"profiles": {"dashlab": lab}}))
    assert runner.invoke(app, ["ai", "switch-llm", "dashlab", "--tool", "claude"]).exit_code == 0
    _claude_request(isolated_home, "qwen3.7-max", 1_000_000)

    def cost() -> float:
        result = runner.invoke(app, ["usage", "--by", "model", "--json", "--tool", "claude"])
        assert result.exit_code == 0, result.output
        [row] = [r for r in json.loads(result.output)["daily"] if r.get("model") == "qwen3.7-max"]
        assert row["unpriced_requests"] == 0
        return float(row["cost_usd"])

    assert cost() == 2.0  # the profile's own input price, never Claude's
    (isolated_home / ".mahavishnu" / "usage.yaml").write_text(
        yaml.safe_dump({"pricing": {"dashlab": {"qwen3.7-max": {"input": 1.2, "output": 6.0}}}})
    )
    assert cost() == 1.2
    bad = {**lab, "pricing": {"qwen3.7-max": {"input": -1, "output": 6.0}}}
    settings.write_text(yaml.safe_dump({"profiles": {"dashlab": bad}}))
    refused = runner.invoke(app, ["ai", "list-llms"])
    assert refused.exit_code != 0 and "pricing" in (refused.stderr + refused.output)


def test_a_report_splits_one_day_at_the_switch_made_that_day() -> None:
    from mahavishnu.usage.pricing import Pricing
    from mahavishnu.usage.records import UsageRecord
    from mahavishnu.usage.report import build

    day = 1_780_000_000.0
    attribution = Attribution([Switch(day + 60, "claude", "qwen", None, "s1")], PROFILES)

    def request(at: float) -> UsageRecord:
        return UsageRecord("claude", f"k{at}", at, "claude-sonnet-4-5", 1000, 10, 0, 0, "s", "shop")

    report = build([request(day), request(day + 120)], attribution, Pricing(), "daily", "provider")
    assert [(line.group, line.unpriced_requests) for line in report.lines] == [("anthropic", 0), ("qwen", 1)]
