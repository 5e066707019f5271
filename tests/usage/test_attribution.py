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
from mahavishnu.usage.attribution import GRACE, Attribution, ProfileEndpoints, Provider, Switch

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


LAB = "http://127.0.0.1:4000"
SERVING = {
    "dashscope": ProfileEndpoints(
        stock=(), base_urls={"anthropic": DASHSCOPE}, models=frozenset({"qwen3-coder-plus", "qwen3.6-flash"})
    ),
    "lab": ProfileEndpoints(
        stock=(), base_urls={"anthropic": LAB}, models=frozenset({"qwen3.7-max"}), own=True
    ),
    "claude": ProfileEndpoints(stock=("claude",), base_urls={}),
}


def test_a_request_sent_before_a_switch_and_logged_after_it_is_the_earlier_profile_s() -> None:
    # four requests on DashScope, a switch to the lab at 1000, the last DashScope answer logged
    # five seconds later: it is DashScope's (the lab serves no qwen3-coder-plus), then the lab's own
    history = [Switch(100, "claude", "dashscope", None, "s1"), Switch(1000, "claude", "lab", None, "s2")]
    attribution = Attribution(history, SERVING)
    names = [attribution.provider("claude", t, "shop", "qwen3-coder-plus").name for t in (200, 400, 600, 800)]
    assert names == ["dashscope"] * 4
    assert attribution.provider("claude", 1005, "shop", "qwen3-coder-plus").name == "dashscope"
    assert attribution.provider("claude", 1006, "shop", "qwen3.7-max").name == "lab"
    # long after the switch a request is the lab's whatever its model (it answered it)
    assert attribution.provider("claude", 1000 + 3600, "shop", "qwen3-coder-plus").name == "lab"
    # a model neither names (Claude Code's background haiku) is the profile in force's
    assert attribution.provider("claude", 1005, "shop", "claude-haiku-4-5").name == "lab"


def test_requests_of_one_era_and_model_share_a_provider_inside_and_outside_the_grace() -> None:
    history = [Switch(100, "claude", "dashscope", None, "s1"), Switch(1000, "claude", "lab", None, "s2")]
    attribution = Attribution(history, SERVING)
    assert attribution.era("claude", "shop", 1005) != attribution.era("claude", "shop", 1000 + 3600)
    assert attribution.era("claude", "shop", 1005) == attribution.era("claude", "shop", 1010)


def test_two_switches_within_one_second_keep_the_journal_s_order() -> None:
    history = [
        Switch(100, "claude", "dashscope", None, "s1"),
        Switch(500, "claude", "claude", None, "s2"),
        Switch(500, "claude", "lab", None, "s3"),  # the same second: the journal says it came last
    ]
    attribution = Attribution(history, SERVING)
    assert attribution.provider("claude", 500, None, "qwen3.7-max").name == "lab"
    assert attribution.provider("claude", 2000, None, "qwen3.7-max").name == "lab"


def test_a_switch_stamped_before_the_one_logged_ahead_of_it_follows_it() -> None:
    # the clock went back a minute between the two switches: the journal's order is what happened
    history = [Switch(1000, "claude", "dashscope", None, "s1"), Switch(940, "claude", "lab", None, "s2")]
    attribution = Attribution(history, SERVING)
    assert attribution.provider("claude", 1005, None, "qwen3.7-max").name == "lab"  # not by time: dashscope
    assert attribution.provider("claude", 1005, None, "qwen3-coder-plus").name == "dashscope"  # just before
    assert attribution.provider("claude", 1000 + GRACE, None, "qwen3.7-max").name == "lab"
    assert attribution.provider("claude", 5000, None, "qwen3-coder-plus").name == "lab"


def test_every_request_is_filed_under_exactly_one_provider() -> None:
    from mahavishnu.usage.pricing import Pricing
    from mahavishnu.usage.records import UsageRecord
    from mahavishnu.usage.report import build

    history = [
        Switch(100, "claude", "dashscope", None, "s1"),
        Switch(1000, "claude", "lab", None, "s2"),
        Switch(1000, "claude", "claude", None, "s3"),
        Switch(900, "claude", "lab", None, "s4"),
    ]
    models = ("qwen3-coder-plus", "qwen3.7-max", "claude-sonnet-4-5")
    records = [
        UsageRecord("claude", f"k{t}", float(t), models[t % 3], 1, 1, 0, 0, "s", "shop")
        for t in range(50, 5000, 7)
    ]
    report = build(records, Attribution(history, SERVING), Pricing(), "daily", "provider")
    assert sum(line.requests for line in report.lines) == len(records) == report.totals.requests


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
    # thousands separated, as in the other usage tables
    assert "1,000,000" in runner.invoke(app, ["usage", "--unpriced"], env={"COLUMNS": "160"}).output
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
    listed = runner.invoke(app, ["ai", "list-llms"])  # (the others still listed: only dashlab refused)
    assert listed.exit_code == 0 and "profiles.dashlab.pricing" in listed.stderr
    refused = runner.invoke(app, ["ai", "show", "dashlab"])
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


def test_the_provider_a_log_names_wins_over_the_switch_history() -> None:
    history = [Switch(100, "codex", "dashscope", None, "s1")]
    attribution = Attribution(history, SERVING)
    assert attribution.provider("codex", 500, None, "gpt-5", via="mahavishnu-lab").name == "lab"
    assert attribution.provider("codex", 500, None, "gpt-5", via="openai") == Provider(
        "openai", price_id="openai"
    )
    assert attribution.provider("codex", 500, None, "gpt-5", via="mahavishnu-gone").name == "dashscope"
    assert attribution.provider("codex", 500, None, "gpt-5").name == "dashscope"


def test_codex_s_session_names_its_provider_in_the_records(isolated_home: Path) -> None:
    from mahavishnu.usage.report import collect

    folder = isolated_home / ".codex" / "sessions" / "2026" / "06" / "01"
    folder.mkdir(parents=True)
    lines = [
        {
            "timestamp": "2026-06-01T10:00:00Z",
            "type": "session_meta",
            "payload": {"id": "s", "model_provider": "mahavishnu-lab"},
        },
        {"timestamp": "2026-06-01T10:00:01Z", "type": "turn_context", "payload": {"model": "qwen3.7-max"}},
        {
            "timestamp": "2026-06-01T10:00:02Z",
            "type": "token_usage_record",
            "payload": {"response_id": "r1", "usage": {"input_tokens": 10, "output_tokens": 2}},
        },
    ]
    (folder / "rollout-2026-06-01-s.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    [record] = collect(["codex"], None, None)[0]
    assert record.via == "mahavishnu-lab" and record.model == "qwen3.7-max"


def test_with_no_switch_a_model_only_another_provider_lists_is_that_provider_s() -> None:
    """``glm-4.6`` has the name of Zhipu's models, but only Z.ai's list has it: a Claude Code log
    of it (pointed at Z.ai by hand) is Z.ai's and priced so, not Anthropic's and unpriced."""
    from mahavishnu.usage.pricing import Pricing

    provider = Attribution([], {}).provider("claude", 100, "shop", "glm-4.6")
    assert provider == Provider("zai", price_id="zai")
    assert Pricing().rates(provider, "glm-4.6", 1_780_000_000) is not None
    gateway = Provider("proxy", profile="proxy", base_url="http://127.0.0.1:4000", gateway=True)
    listed = Pricing().rates(gateway, "glm-4.6", 1_780_000_000)
    assert listed is not None and listed.kind == "list"


def test_with_no_switch_a_labs_models_are_filed_under_one_of_its_brands() -> None:
    """Claude Code on Z.ai's plan logs ``glm-4.6`` (Sonnet's tier) and ``glm-4.5-air`` (Haiku's):
    Z.ai's list has both, Zhipu's (the lab's other brand) the second, and filed by whichever
    listed it first they came out as two providers: a budget for ``zai`` missed the second. A
    model only Zhipu's list has stays Zhipu's."""
    from mahavishnu.usage.pricing import Pricing

    attribution = Attribution([], {})
    plan = {
        attribution.provider("claude", 100, "shop", model) for model in ("glm-4.6", "glm-4.5-air", "glm-5")
    }
    assert plan == {Provider("zai", price_id="zai")}
    assert Pricing().rates(Provider("zai", price_id="zai"), "glm-4.5-air", 1_780_000_000) is not None
    assert attribution.provider("claude", 100, "shop", "glm-4-plus") == Provider(
        "zhipuai", price_id="zhipuai"
    )


def test_with_no_switch_a_model_no_provider_names_is_unknown_never_the_assistant_s_own() -> None:
    """Claude Code pointed at a local model by hand logs a name no price list has and no provider's
    names match: Anthropic did not serve it, and its prices are not looked up for it. A ``claude-``
    model newer than the price data stays Anthropic's, a name another provider's match is theirs
    (both unpriced); Qwen Code's own login's models and a provider Pi names keep theirs."""
    from mahavishnu.usage.pricing import Pricing

    attribution = Attribution([], {})
    assert attribution.provider("claude", 100, "shop", "my-local-model") == Provider("unknown")
    assert attribution.provider("claude", 100, "shop", "claude-opus-9-20300101") == Provider(
        "anthropic", price_id="anthropic"
    )
    assert attribution.provider("claude", 100, "shop", "glm-5.9") == Provider("zai", price_id="zai")
    assert attribution.provider("qwen", 100, "shop", "coder-model").name == "qwen-code"
    assert attribution.provider("pi", 100, "shop", "glm-5.9", via="my-proxy") == Provider("my-proxy")
    assert attribution.provider("claude", 100, "shop", "") == Provider("anthropic", price_id="anthropic")
    assert Pricing().rates(Provider("unknown"), "my-local-model", 1_780_000_000) is None


def test_a_claude_code_request_of_a_model_nobody_prices_is_filed_as_unknown_and_unpriced(
    isolated_home: Path,
) -> None:
    _claude_request(isolated_home, "my-local-model", 1000)
    _claude_request(isolated_home, "claude-sonnet-4-5-20250929", 1000)
    result = CliRunner().invoke(app, ["usage", "--by", "provider", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["provider"]: row for row in json.loads(result.output)["daily"]}
    assert rows["unknown"]["requests"] == rows["unknown"]["unpriced_requests"] == 1
    assert rows["anthropic"]["requests"] == 1 and rows["anthropic"]["unpriced_requests"] == 0
    assert json.loads(result.output)["unpriced_models"] == ["unknown/my-local-model"]
