"""Attribution reads the real switch log (``files/switch_log``, which lists its entries newest
first) in the order the switches were made: with two or more switches, each request is the
profile in force when it was made, for every assistant."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.config import load_settings
from mahavishnu.environments.profiles import all_profiles
from mahavishnu.environments.switcher import switch_llm
from mahavishnu.files import switch_log
from mahavishnu.usage.attribution import from_history
from mahavishnu.usage.pricing import Pricing
from mahavishnu.usage.records import Provider

#: Three switches an hour apart: zai, then kimi, then zai again (2026-06-01 09:00, 10:00, 11:00 UTC).
T1 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC).timestamp()
T2, T3 = T1 + 3600, T1 + 7200


@pytest.fixture
def switched(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Claude Code and Pi switched for real to zai at ``T1``, kimi at ``T2`` and zai at ``T3`` (the
    switch log stamps each with the time its clock gives)."""
    monkeypatch.setenv("ZAI_API_KEY", "sk-zai-for-tests")
    monkeypatch.setenv("MOONSHOT_API_KEY", "sk-moonshot-for-tests")
    for at, profile in ((T1, "zai"), (T2, "kimi"), (T3, "zai")):
        _switch_at(monkeypatch, at, profile)
    return isolated_home


def _switch_at(monkeypatch: pytest.MonkeyPatch, at: float, profile: str) -> None:
    class Clock(datetime):
        @classmethod
        def now(cls, tz: object = None) -> Clock:  # type: ignore[override]
            return cls.fromtimestamp(at, UTC)

    monkeypatch.setattr(switch_log, "datetime", Clock)
    for tool in ("claude", "pi"):
        result = switch_llm(profile, load_settings(), tool=tool, scope="user")
        assert result.tools == [tool], result


def test_the_switch_log_lists_newest_first_as_its_other_readers_expect(switched: Path) -> None:
    assert [r.profile for r in switch_log.records()] == ["zai", "zai", "kimi", "kimi", "zai", "zai"]
    assert switch_log.latest("pi").profile == "zai"  # type: ignore[union-attr]


@pytest.mark.parametrize("tool", ["claude", "pi"])
def test_each_request_is_the_profile_switched_to_before_it(switched: Path, tool: str) -> None:
    attribution = from_history()
    via = "mahavishnu" if tool == "pi" else ""  # the provider a switch writes into Pi's models.json

    def profile(at: float) -> str | None:
        return attribution.provider(tool, at, None, "some-model", via).profile  # type: ignore[arg-type]

    assert profile(T1 - 60) is None  # before any switch
    assert profile(T1 + 60) == "zai"
    assert profile(T2 - 60) == "zai"
    assert profile(T2 + 20 * 60) == "kimi"  # past the grace after the switch
    assert profile(T3 - 60) == "kimi"
    assert profile(T3 + 20 * 60) == "zai"


def _pi_session(home: Path, *replies: tuple[float, str]) -> None:
    """A Pi session log as Pi 0.73 writes it, one reply of 1M input and 100k output tokens each
    (at a time, of a model) from the provider a switch wrote (``mahavishnu``)."""

    def iso(at: float) -> str:
        return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    session = "5b5b5b5b-0000-4000-8000-000000000000"
    usage = {"input": 1_000_000, "output": 100_000, "cacheRead": 0, "cacheWrite": 0, "totalTokens": 1_100_000}
    lines: list[dict[str, object]] = [
        {"type": "session", "version": 3, "id": session, "timestamp": iso(T1), "cwd": "/tmp/x"}
    ]
    for n, (at, model) in enumerate(replies):
        message = {
            "role": "assistant",
            "content": [],
            "api": "openai-responses",
            "provider": "mahavishnu",
            "model": model,
            "usage": usage | {"cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0, "total": 0}},
            "stopReason": "stop",
            "timestamp": int(at * 1000),
        }
        lines.append(
            {"type": "message", "id": f"a{n:07x}", "parentId": None, "timestamp": iso(at), "message": message}
        )
    folder = home / ".pi/agent/sessions/--tmp-x--"
    folder.mkdir(parents=True)
    (folder / f"2026-06-01T09-00-00-000Z_{session}.jsonl").write_text(
        "".join(json.dumps(x) + "\n" for x in lines)
    )


def test_a_pi_report_files_each_request_under_the_profile_then_at_its_price(
    switched: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PI_CODING_AGENT_DIR", raising=False)
    _pi_session(switched, (T1 + 60, "glm-5.3"), (T2 + 20 * 60, "kimi-k3"), (T3 + 20 * 60, "glm-5.3"))
    result = CliRunner().invoke(app, ["usage", "--tool", "pi", "--by", "provider", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["provider"]: row for row in json.loads(result.output)["daily"]}
    assert sorted(rows) == ["kimi", "zai"]
    # each at its own provider's rates (genai-prices): Z.ai's GLM-5.3 and Moonshot's Kimi K3
    profiles = all_profiles(load_settings())

    def cost(name: str, model: str) -> float:
        base_url = str(profiles[name].settings.openai.base_url)  # type: ignore[union-attr]
        rates = Pricing().rates(Provider(name, name, base_url), model, T2)
        assert rates is not None
        return rates.cost(1_000_000, 100_000, 0, 0, 0)

    assert rows["zai"]["requests"] == 2 and rows["zai"]["unpriced_requests"] == 0
    assert rows["zai"]["cost_usd"] == pytest.approx(2 * cost("zai", "glm-5.3"))
    assert rows["kimi"]["requests"] == 1 and rows["kimi"]["unpriced_requests"] == 0
    assert rows["kimi"]["cost_usd"] == pytest.approx(cost("kimi", "kimi-k3"))
    assert cost("zai", "glm-5.3") != cost("kimi", "kimi-k3")
