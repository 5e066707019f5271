"""Five-hour windows (``usage blocks``) and Claude Code's status line (``usage statusline``)."""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.usage.blocks import MEASURED, WINDOW, blocks
from mahavishnu.usage.records import UsageRecord
from mahavishnu.usage.report import day_start

runner = CliRunner()
T0 = 1_780_308_000  # 2026-06-01 10:00 UTC


def _request(at: float, tokens: int = 1000, model: str = "claude-sonnet-4-5") -> UsageRecord:
    return UsageRecord("claude", f"k{at}", at, model, tokens, 0, 0, 0, "s", "shop")


def test_a_window_opens_at_its_first_request_s_hour_and_lasts_five_hours() -> None:
    at = [T0 + 1200, T0 + 3600, T0 + 4 * 3600 + 3000, T0 + 5 * 3600 + 300, T0 + 20 * 3600]
    found = blocks([(_request(t), 0.5) for t in at], now=T0 + 30 * 3600)
    assert [(b.start - T0, b.requests) for b in found] == [(0, 3), (5 * 3600, 1), (20 * 3600, 1)]
    assert found[0].end == T0 + WINDOW and found[0].cost == pytest.approx(1.5)
    assert not any(b.active for b in found)


def test_the_open_window_burns_and_projects_at_its_rate() -> None:
    now = T0 + 3 * 3600
    found = blocks(
        [(_request(T0, 6000), 1.0), (_request(T0 + 3600, 6000), 1.0), (_request(now - 60, 6000), None)], now
    )
    [window] = found
    assert window.active and window.unpriced_requests == 1 and window.cost == 2.0
    tokens_a_minute, usd_an_hour = window.burn(now)
    assert tokens_a_minute == pytest.approx(18000 / 180) and usd_an_hour == pytest.approx(2.0 / 3)
    tokens, cost = window.projected(now)  # two hours left at that rate
    assert tokens == 18000 + 12000 and cost == pytest.approx(2.0 + 4.0 / 3)


def test_a_window_too_young_to_measure_has_no_burn_rate_and_no_projection() -> None:
    """One 26,600-token request in the first minute projected 7.6M tokens at the window's end."""
    [window] = blocks([(_request(T0, 26_600), 0.1)], now=T0 + 30)
    assert window.active and window.burn(T0 + 30) is None and window.projected(T0 + 30) is None
    assert window.burn(T0 + 3 * 3600) is None  # one request, however long ago: no rate either
    [window] = blocks([(_request(T0, 26_600), 0.1), (_request(T0 + 60, 26_600), 0.1)], now=T0 + 120)
    assert window.burn(T0 + 120) is None  # two requests, two minutes
    assert window.to_json(T0 + 120)["projected_tokens"] is None
    assert window.burn(T0 + MEASURED) == pytest.approx((53_200 / 5, 0.2 / 5 * 60))


def test_a_window_idle_for_five_hours_is_not_open() -> None:
    [window] = blocks([(_request(T0), 1.0)], now=T0 + 4 * 3600)
    assert window.active
    [window] = blocks([(_request(T0), 1.0)], now=T0 + WINDOW)
    assert not window.active


def _claude_log(home: Path, *moments: float) -> None:
    folder = home / ".claude" / "projects" / "-home-dev-src-shop"
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        {
            "type": "assistant",
            "sessionId": "sess-1",
            "cwd": "/home/dev/src/shop",
            "requestId": f"r{n}",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(at)),
            "message": {
                "id": f"m{n}",
                "model": "claude-sonnet-4-5",
                "usage": {"input_tokens": 100_000, "output_tokens": 10_000},
            },
        }
        for n, at in enumerate(moments)
    ]
    (folder / "sess-1.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def _today(*moments: float) -> list[float]:
    """``moments``, none before local midnight (the status line's "today" starts there)."""
    midnight = day_start(date.today())
    return [max(at, midnight) for at in moments]


def test_usage_blocks_lists_the_open_window_with_its_burn_rate(isolated_home: Path) -> None:
    now = time.time()
    _claude_log(isolated_home, now - 3 * 86400, now - 1800, now - 600)
    result = runner.invoke(app, ["usage", "blocks", "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)["blocks"]
    assert [b["requests"] for b in found] == [1, 2] and found[-1]["active"] is True
    # 100k input at $3 + 10k output at $15 per million: $0.45 a request
    assert found[-1]["cost_usd"] == pytest.approx(0.9) and found[-1]["usd_per_hour"] > 0
    assert found[-1]["projected_cost_usd"] >= found[-1]["cost_usd"]
    active = runner.invoke(app, ["usage", "blocks", "--active"], env={"COLUMNS": "160"})
    assert active.exit_code == 0 and "(open)" in active.output and "/h" in active.output
    yesterday = time.strftime("%Y-%m-%d", time.localtime(now - 86400))
    recent = runner.invoke(app, ["usage", "blocks", "--since", yesterday, "--json"])
    assert recent.exit_code == 0, recent.output
    assert [b["requests"] for b in json.loads(recent.stdout)["blocks"]] == [2]  # not three days ago's


def test_usage_blocks_timezone_names_since_s_day_and_the_windows_hours_as_ccusage_z_does(
    isolated_home: Path,
) -> None:
    """A request at 20:40 UTC on June 1st is on June 2nd in Tokyo (05:40) and Kolkata (02:10): its
    window opens at 20:00 UTC whatever the zone (ccusage's too), and is shown at that zone's hours."""
    _claude_log(isolated_home, T0 - 2 * 86400, T0 + 10 * 3600 + 2400)

    def since(*args: str) -> list[float]:
        result = runner.invoke(app, ["usage", "blocks", "--since", "2026-06-02", "--json", *args])
        assert result.exit_code == 0, result.output
        return [block["start"] - T0 for block in json.loads(result.stdout)["blocks"]]

    assert since("-z", "UTC") == []
    assert since("-z", "Asia/Tokyo") == since("--timezone", "asia/kolkata") == [10 * 3600]
    shown = runner.invoke(app, ["usage", "blocks", "-z", "Asia/Kolkata"], env={"COLUMNS": "160"})
    assert shown.exit_code == 0, shown.output
    assert "Window (Asia/Kolkata)" in shown.output and "2026-06-02 01:30–06:30" in shown.output
    assert "2026-05-30 15:30–20:30" in shown.output  # (10:00 UTC, two days before)
    wrong = runner.invoke(app, ["usage", "blocks", "-z", "Mars/Olympus"])
    assert wrong.exit_code == 2 and "unknown time zone 'Mars/Olympus'" in wrong.output
    assert "Traceback" not in wrong.output


def test_usage_blocks_since_keeps_windows_whole_and_takes_those_that_open_on_its_days(
    isolated_home: Path,
) -> None:
    """A window opened at 22:00 UTC runs to 03:00: cut at --since's midnight, its requests after it
    were shown as a window from 00:00 to 05:00 that never was. A window is its day's, the one it
    opens on, as ccusage's blocks --since takes it."""
    evening = T0 + 12 * 3600 + 1800  # 2026-06-01 22:30 UTC
    _claude_log(isolated_home, evening, evening + 2 * 3600, evening + 2 * 3600 + 1800)

    def windows(day: str) -> list[tuple[float, int]]:
        result = runner.invoke(app, ["usage", "blocks", "--since", day, "-z", "UTC", "--json"])
        assert result.exit_code == 0, result.output
        return [(b["start"] - T0, b["requests"]) for b in json.loads(result.stdout)["blocks"]]

    assert windows("2026-06-01") == [(12 * 3600, 3)]
    assert windows("2026-06-02") == []
    shown = runner.invoke(app, ["usage", "blocks", "--since", "2026-06-02", "-z", "UTC"])
    assert shown.exit_code == 0 and "No five-hour window opened in this period." in shown.output


def test_usage_blocks_until_takes_the_windows_that_open_up_to_its_day_whole(isolated_home: Path) -> None:
    """ccusage's blocks take --until as the daily report does; ours had no --until."""
    evening, later = T0 + 12 * 3600 + 1800, T0 + 2 * 86400  # 2026-06-01 22:30, 2026-06-03 10:00 UTC
    _claude_log(isolated_home, evening, evening + 2 * 3600, later)

    def windows(*days: str) -> list[tuple[float, int]]:
        result = runner.invoke(app, ["usage", "blocks", *days, "-z", "UTC", "--json"])
        assert result.exit_code == 0, result.output
        return [(b["start"] - T0, b["requests"]) for b in json.loads(result.stdout)["blocks"]]

    assert windows("--until", "2026-06-01") == windows("--until", "20260602") == [(12 * 3600, 2)]
    assert windows("--since", "2026-06-02", "--until", "2026-06-03") == [(2 * 86400, 1)]
    swapped = runner.invoke(app, ["usage", "blocks", "--since", "2026-06-03", "--until", "2026-06-01"])
    assert swapped.exit_code == 2 and "--since 2026-06-03 is after --until 2026-06-01" in swapped.output
    wrong = runner.invoke(app, ["usage", "blocks", "--until", "someday"])
    assert wrong.exit_code == 2 and "not a date: 'someday'" in wrong.output
    assert "Traceback" not in wrong.output


def test_usage_blocks_says_when_the_open_window_is_too_young_for_a_rate(isolated_home: Path) -> None:
    _claude_log(isolated_home, time.time() - 5)  # one request just now
    active = runner.invoke(app, ["usage", "blocks", "--active"], env={"COLUMNS": "200"})
    assert active.exit_code == 0, active.output
    assert "tok/min" not in active.output and "too early" in active.output
    assert "a burn rate needs two requests and 5 minutes" in active.output
    [block] = json.loads(runner.invoke(app, ["usage", "blocks", "--active", "--json"]).stdout)["blocks"]
    assert block["tokens_per_minute"] is None and block["projected_cost_usd"] is None


def test_the_status_line_shows_the_session_today_and_the_open_window(isolated_home: Path) -> None:
    now = time.time()
    _claude_log(isolated_home, *_today(now - 600, now - 60))
    stdin = json.dumps(
        {"session_id": "sess-1", "model": {"id": "claude-sonnet-4-5", "display_name": "Sonnet 4.5"}}
    )
    result = runner.invoke(app, ["usage", "statusline"], input=stdin)
    assert result.exit_code == 0, result.output
    line = result.stdout.strip()
    assert line.startswith("Sonnet 4.5 · session $0.90 · today $0.90 · block $0.90 (")
    assert "m left, $" in line and line.endswith("/h)")


def test_the_status_line_shows_no_burn_rate_for_a_window_too_young_to_measure(isolated_home: Path) -> None:
    _claude_log(isolated_home, *_today(time.time() - 5))
    result = runner.invoke(app, ["usage", "statusline", "--refresh"])
    assert result.exit_code == 0, result.output
    line = runner.invoke(app, ["usage", "statusline"], input="").stdout.strip()
    assert "block $0.45 (" in line and line.endswith("m left)")


def test_the_status_line_answers_from_its_summary_and_refreshes_it_when_stale(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mahavishnu.usage import statusline

    first, second = _today(time.time() - 90, time.time() - 60)
    _claude_log(isolated_home, first)
    assert "today $0.45" in statusline.line(("sess-1", "Opus"), time.time())  # no summary: computed first
    now = json.loads(statusline.summary_file().read_text())["at"]  # the summary's own clock
    _claude_log(isolated_home, first, second)  # a new request, not in the summary yet
    started: list[list[str]] = []
    monkeypatch.setattr(statusline.subprocess, "Popen", lambda argv, **_: started.append(argv))
    assert "today $0.45" in statusline.line(("sess-1", "Opus"), now + 5)  # fresh: as it was
    assert started == []
    assert "today $0.45" in statusline.line(("sess-1", "Opus"), now + statusline.STALE + 1)  # stale
    assert started and started[0][-3:] == ["usage", "statusline", "--refresh"]
    statusline.line(("sess-1", "Opus"), now + statusline.STALE + 2)
    assert len(started) == 1  # one refresh at a time
    statusline.write_summary()  # what the background refresh does
    assert "today $0.90" in statusline.line(("sess-1", "Opus"), time.time())


def test_the_status_line_never_shows_an_earlier_day_s_costs_as_today_s(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first turn of a day answers from the summary of the last one: its today and session
    figures are that day's, left out until the background refresh has today's."""
    from mahavishnu.usage import statusline

    _claude_log(isolated_home, *_today(time.time() - 90, time.time() - 60))
    assert "session $0.90 · today $0.90" in statusline.line(("sess-1", "Opus"), time.time())
    written = json.loads(statusline.summary_file().read_text())["at"]
    started: list[list[str]] = []
    monkeypatch.setattr(statusline.subprocess, "Popen", lambda argv, **_: started.append(argv))
    assert statusline.line(("sess-1", "Opus"), written + 86_400) == "Opus"
    assert started and started[0][-1] == "--refresh"


def test_the_status_line_s_session_cost_counts_from_the_session_s_start_before_midnight(
    isolated_home: Path,
) -> None:
    """A session that ran across midnight costs what all its requests cost; today's cost is still
    the requests since midnight."""
    from mahavishnu.usage import statusline

    last_evening = day_start(date.today()) - 3600
    _claude_log(isolated_home, last_evening, *_today(time.time() - 60))
    shown = statusline.line(("sess-1", "Opus"), time.time())
    assert "session $0.90 · today $0.45" in shown


@pytest.mark.parametrize("stdin", ["", "not json", "[1, 2]", '{"model": {"display_name": "\\u001b[31mX"}}'])
def test_the_status_line_never_fails_on_what_claude_code_sends(isolated_home: Path, stdin: str) -> None:
    result = runner.invoke(app, ["usage", "statusline"], input=stdin)
    assert result.exit_code == 0 and "Traceback" not in result.output
    assert "\x1b" not in result.stdout and "today $0.00" in result.stdout
