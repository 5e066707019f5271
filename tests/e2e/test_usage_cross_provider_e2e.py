"""Cross-provider pricing with the real Claude Code: `mahavishnu ai switch-llm dashscope` points it
at the built-in DashScope profile (``qwen``: Anthropic-compatible endpoint, Qwen models) whose base
URL the test's settings move to the loopback mock (its replies report chosen usage figures); the
real `claude -p` runs twice (the profile's model, then `--model claude-sonnet-4-5-…` through the
same profile), and `mahavishnu usage --json` attributes every request to the profile, never to
Anthropic: even the Claude model name it served is not priced at Claude's rates.

genai-prices 0.2.3 knows no DashScope (no provider matches its base URL, and a loopback one
matches nothing): with no price of the user's, the requests are shown with their tokens and as
unpriced, listed by provider/model (the reason, in the text report); with `usage.yaml` prices
for the profile's model, its requests cost exactly those, and the Claude-named one stays unpriced
(only the profile's own price or its provider's can price it, never Anthropic's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _profiles import mahavishnu_env, store_key, switch, write_profiles
from claude_cli import find_claude, parse_result, run_claude
from typer.testing import CliRunner
from usage_mock import Figures, UsageMockLLM

from mahavishnu.cli.main import app
from mahavishnu.usage.pricing import Pricing
from mahavishnu.usage.records import Provider

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        find_claude() is None, reason="Claude Code CLI not installed: run `bash .ci/install-e2e.sh`"
    ),
]

QWEN = "qwen3.7-max"  # the catalogue's model for the qwen profile (haiku_model: qwen3.6-flash)
SONNET = "claude-sonnet-4-5-20250929"
KEY = "sk-dashscope-0123456789abcdef0123456789abcdef"
#: A user's price for DashScope's model (usage.yaml), USD per million tokens.
PRICES = {"input": 1.2, "output": 6.0, "cache_read": 0.24}
FIGURES = [Figures(1200, 340, 0, 20000), Figures(800, 120, 0, 31000), Figures(4100, 2210, 0, 0)]
runner = CliRunner()


def _usage(*args: str) -> dict[str, object]:
    result = runner.invoke(app, ["usage", "daily", "--tool", "claude", "--json", *args])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert isinstance(report, dict)
    return report


def _rows(report: dict[str, object]) -> list[dict[str, object]]:
    rows = report["daily"]
    assert isinstance(rows, list)
    return rows


def _by_model(mock: UsageMockLLM) -> dict[str, list[Figures]]:
    """The figures the mock reported, per model Claude Code asked for (in order)."""
    found: dict[str, list[Figures]] = {}
    requests = mock.requests_to("/v1/messages")
    assert len(requests) == len(mock.reported)
    for request, figures in zip(requests, mock.reported, strict=True):
        found.setdefault(str(request.body["model"]), []).append(figures)
    return found


def test_claude_code_switched_to_a_dashscope_profile_is_never_priced_as_claude(isolated_home: Path) -> None:
    work = isolated_home / "src" / "shop"
    work.mkdir(parents=True)
    mock = UsageMockLLM(FIGURES)
    with mock:
        # the catalogue's DashScope profile, models and all; only its endpoint is the mock
        write_profiles(isolated_home, {"qwen": {"anthropic": {"base_url": mock.base_url}}})
        store_key("qwen", KEY)
        switch("dashscope", "--tool", "claude")
        env = mahavishnu_env()
        first = run_claude(isolated_home, "Say hi.", extra_env=env, cwd=work)
        assert first.returncode == 0, first.stderr
        assert parse_result(first)["is_error"] is False
        second = run_claude(isolated_home, "Again.", extra_env=env, cwd=work, extra_args=["--model", SONNET])
        assert second.returncode == 0, second.stderr
        sent = _by_model(mock)
    assert {QWEN, SONNET} <= set(sent) <= {QWEN, "qwen3.6-flash", SONNET}, sent  # Claude's name too
    others = sorted(set(sent) - {QWEN})
    assert all(r.api_key == KEY for r in mock.requests_to("/v1/messages"))

    def tokens(*models: str) -> dict[str, int]:
        figures = [f for model in models for f in sent[model]]
        return {
            "input_tokens": sum(f.input for f in figures),
            "output_tokens": sum(f.output for f in figures),
            "cache_write_tokens": sum(f.cache_write for f in figures),
            "cache_read_tokens": sum(f.cache_read for f in figures),
            "requests": len(figures),
        }

    # No price of the user's: every request is DashScope's, with its tokens, unpriced.
    report = _usage("--by", "provider")
    print("\nno usage.yaml:", json.dumps(report["totals"]), report["unpriced_models"])
    assert {row["provider"] for row in _rows(report)} == {"qwen"}  # a day's row (two past midnight)
    assert report["unpriced_models"] == sorted(f"qwen/{model}" for model in sent)
    totals = report["totals"]
    assert isinstance(totals, dict)
    every = tokens(*sent)
    assert {k: totals[k] for k in every} == every
    assert totals["cost_usd"] == 0 and totals["unpriced_requests"] == totals["requests"]
    text = runner.invoke(app, ["usage", "daily", "--tool", "claude", "--by", "provider"])
    assert text.exit_code == 0, text.output
    assert "unpriced" in text.output and "no price known, not guessed" in " ".join(text.output.split())

    # Why unpriced: genai-prices (0.2.3) knows no DashScope, by its real endpoint either (if a
    # version does, this test should expect its price).
    dashscope = Provider(
        "qwen", profile="qwen", base_url="https://dashscope-intl.aliyuncs.com/apps/anthropic"
    )
    assert Pricing().rates(dashscope, QWEN, 1.8e9) is None

    # What pricing it as Anthropic's Sonnet would have said: a figure the report must never show.
    anthropic = Pricing().rates(Provider("anthropic", price_id="anthropic"), SONNET, 1.8e9)
    assert anthropic is not None
    as_claude = sum(
        anthropic.cost(f.input, f.output, f.cache_write, f.cache_read) for fs in sent.values() for f in fs
    )
    assert as_claude > 0

    # The user's price for DashScope's model: its requests cost exactly that; the Claude-named one
    # stays unpriced.
    (isolated_home / ".mahavishnu" / "usage.yaml").write_text(
        json.dumps({"pricing": {"qwen": {QWEN: PRICES}}})
    )
    report = _usage("--by", "model")
    print("usage.yaml prices:", json.dumps(report["totals"]), report["unpriced_models"])
    rows: dict[str, dict[str, float]] = {}  # per model, the days added up
    for row in _rows(report):
        into = rows.setdefault(str(row["model"]), {})
        for k, v in row.items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                into[k] = into.get(k, 0) + v
    assert set(rows) == set(sent)
    qwen = rows[QWEN]
    expected = (
        sum(
            f.input * PRICES["input"] + f.output * PRICES["output"] + f.cache_read * PRICES["cache_read"]
            for f in sent[QWEN]
        )
        / 1_000_000
    )
    assert {k: qwen[k] for k in tokens(QWEN)} == tokens(QWEN)
    assert qwen["cost_usd"] == pytest.approx(expected, abs=1e-6) and qwen["unpriced_requests"] == 0
    for model in others:
        assert rows[model]["cost_usd"] == 0 and rows[model]["unpriced_requests"] == len(sent[model])
    assert report["unpriced_models"] == [f"qwen/{model}" for model in others]
    totals = report["totals"]
    assert isinstance(totals, dict)
    assert totals["cost_usd"] == pytest.approx(expected, abs=1e-6)
    assert totals["cost_usd"] != pytest.approx(as_claude, rel=0.01)
