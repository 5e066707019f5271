"""``usage.budgets`` (usage.yaml): `mahavishnu doctor` and `mahavishnu health` warn, one line per
budget naming it, the spend and the period, when a budget is passed, and not when it is not. The
spend is the cost of requests Claude Code logged today (a log written in the tmp HOME)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from mahavishnu import health
from mahavishnu.cli.main import app
from mahavishnu.usage import settings
from mahavishnu.usage.budgets import spends

runner = CliRunner()
#: one claude-sonnet-4-5 request: 1,200 input, 340 output, 5,000 cache-write and 20,000 cache-read
#: tokens at USD 3, 15, 3.75 and 0.30 per million
REQUEST_USD = (1200 * 3 + 340 * 15 + 5000 * 3.75 + 20000 * 0.3) / 1_000_000


def _request(home: Path, at: datetime, n: int) -> None:
    """A Claude Code assistant line (as 2.1.197 writes it) of one request at ``at``."""
    log = home / ".claude" / "projects" / "-home-dev-src-shop" / "5b0e2c1a-0000-4000-8000-000000000001.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    line = {
        "type": "assistant",
        "isSidechain": False,
        "requestId": f"req_budget_{n}",
        "timestamp": at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "cwd": "/home/dev/src/shop",
        "sessionId": "5b0e2c1a-0000-4000-8000-000000000001",
        "message": {
            "id": f"msg_budget_{n}",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "usage": {
                "input_tokens": 1200,
                "cache_creation_input_tokens": 5000,
                "cache_read_input_tokens": 20000,
                "output_tokens": 340,
            },
        },
    }
    with log.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line, separators=(",", ":")) + "\n")


def _budgets(*budgets: dict[str, Any]) -> None:
    file = settings.settings_file()
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(yaml.safe_dump({"budgets": list(budgets)}), encoding="utf-8")


@pytest.fixture
def spent_today(isolated_home: Path, budget_day: date, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    _request(isolated_home, datetime.combine(budget_day, time(12)).astimezone(), 1)
    return isolated_home


PASSED = (
    {"period": "day", "usd": 0.01},  # overall, passed
    {"period": "month", "usd": 100},  # not passed
    {"period": "day", "usd": 0.01, "provider": "anthropic"},  # passed
    {"period": "day", "usd": 0.01, "provider": "zai"},  # nothing spent with zai
)


def _doctor_budgets() -> dict[str, dict[str, str]]:
    result = runner.invoke(app, ["doctor", "--json"])
    findings = json.loads(result.stdout)["findings"]
    return {f["check"]: f for f in findings if f["check"].startswith("budget")}


def test_doctor_warns_of_each_budget_passed_naming_it_the_spend_and_the_period(
    spent_today: Path, budget_day: date
) -> None:
    _budgets(*PASSED)
    today = budget_day.isoformat()
    found = _doctor_budgets()
    assert {k: f["status"] for k, f in found.items()} == {
        "budget:day": "warn",
        "budget:month": "ok",
        "budget:day:anthropic": "warn",
        "budget:day:zai": "ok",
    }
    spent = f"USD {REQUEST_USD:.2f}"
    assert found["budget:day"]["detail"] == f"daily budget (USD 0.01) passed: {spent} spent on {today}"
    assert found["budget:day:anthropic"]["detail"] == (
        f"daily budget for anthropic (USD 0.01) passed: {spent} spent on {today}"
    )
    assert (
        found["budget:month"]["detail"] == f"monthly budget (USD 100.00) within: {spent} spent on {today[:7]}"
    )
    assert (
        found["budget:day:zai"]["detail"]
        == f"daily budget for zai (USD 0.01) within: USD 0.00 spent on {today} (no request of zai this month:"
        " `mahavishnu usage --by provider` names the providers)"
    )
    assert "mahavishnu usage --by provider" in found["budget:day"]["hint"]

    table = runner.invoke(app, ["doctor"], terminal_width=400)
    assert table.exit_code == 1  # a warning: not all is well
    assert f"daily budget (USD 0.01) passed: {spent} spent on {today}" in table.stdout


def test_doctor_says_nothing_of_budgets_not_passed_or_not_set(spent_today: Path) -> None:
    assert _doctor_budgets() == {}  # no usage.yaml: no budget, no finding
    _budgets({"period": "day", "usd": 5}, {"period": "month", "usd": 50, "provider": "anthropic"})
    found = _doctor_budgets()
    assert {k: f["status"] for k, f in found.items()} == {"budget:day": "ok", "budget:month:anthropic": "ok"}


def _health(monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    """`mahavishnu health` with the components budgets do not touch left out (no embedding model
    loaded, no service started, nothing recorded)."""
    for name in ("_memory", "_postgres", "_session_buddy", "_services", "_assistants"):
        monkeypatch.setattr(health, name, lambda *_: [])
    monkeypatch.setattr(health, "_record", lambda report: None)
    return runner.invoke(app, ["health", "--no-probe", *args], terminal_width=400)


def test_health_warns_of_each_budget_passed_and_stays_healthy(
    spent_today: Path, budget_day: date, monkeypatch: pytest.MonkeyPatch
) -> None:
    _budgets(*PASSED)
    today = budget_day.isoformat()
    result = _health(monkeypatch, "--json")
    assert result.exit_code == 0, result.output  # a warning, not an error
    components = {c["component"]: c for c in json.loads(result.stdout)["components"]}
    assert {k: c["status"] for k, c in components.items()} == {
        "budget:day": "warn",
        "budget:month": "ok",
        "budget:day:anthropic": "warn",
        "budget:day:zai": "ok",
    }
    day = components["budget:day"]
    assert day["detail"] == f"daily budget (USD 0.01) passed: USD {REQUEST_USD:.2f} spent on {today}"
    assert day["data"] == {"period": today, "usd": 0.01, "spent_usd": round(REQUEST_USD, 6)}

    table = _health(monkeypatch)
    assert table.exit_code == 0 and "healthy" in table.stdout
    assert (
        f"daily budget for anthropic (USD 0.01) passed: USD {REQUEST_USD:.2f} spent on {today}"
        in table.stdout
    )


def test_health_without_budgets_passed(spent_today: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert json.loads(_health(monkeypatch, "--json").stdout)["components"] == []  # no budget
    _budgets({"period": "month", "usd": 50})
    (component,) = json.loads(_health(monkeypatch, "--json").stdout)["components"]
    assert (component["component"], component["status"]) == ("budget:month", "ok")


def test_a_month_adds_up_its_days_and_a_day_is_today_only(spent_today: Path, budget_day: date) -> None:
    today = budget_day
    first = datetime(today.year, today.month, 1, 0, 30).astimezone()
    _request(spent_today, first, 2)
    own = settings.UsageSettings(
        budgets=[settings.Budget(period="day", usd=1), settings.Budget(period="month", usd=1)]
    )
    day, month = spends(own)
    assert (day.period, round(day.spent, 6)) == (today.isoformat(), round(REQUEST_USD, 6))
    assert (month.period, round(month.spent, 6)) == (today.isoformat()[:7], round(2 * REQUEST_USD, 6))
    assert not day.passed and not month.passed


def test_a_budget_for_a_provider_with_no_request_says_so(spent_today: Path) -> None:
    """A misspelt provider's budget could never pass: its line says no request of it was seen."""
    own = settings.UsageSettings(
        budgets=[
            settings.Budget(period="month", usd=1, provider="anthropic"),
            settings.Budget(period="month", usd=1, provider="antropic"),
        ]
    )
    spelt, misspelt = spends(own)
    assert not spelt.unseen and "no request" not in spelt.line()
    assert misspelt.unseen and "(no request of antropic this month" in misspelt.line()


def test_a_broken_usage_yaml_is_an_error_of_the_budget_check(spent_today: Path) -> None:
    file = settings.settings_file()
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text("budgets: [{period: week, usd: 5}]\n", encoding="utf-8")
    result = runner.invoke(app, ["doctor", "--json"])
    (finding,) = [f for f in json.loads(result.stdout)["findings"] if f["check"] == "budget"]
    assert finding["status"] == "error" and "usage.yaml is invalid" in finding["detail"]
