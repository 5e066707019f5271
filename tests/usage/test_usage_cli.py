"""`mahavishnu usage` on the real CLIs' logs: tables for people, --json for machines, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mahavishnu.cli.main import app

runner = CliRunner()


def _json(*args: str) -> dict[str, object]:
    result = runner.invoke(app, ["usage", *args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert isinstance(data, dict)
    return data


def test_daily_by_assistant_adds_up_every_assistant_s_requests(logs: Path) -> None:
    rows = {row["assistant"]: row for row in _json("daily", "--by", "assistant")["daily"]}  # type: ignore[union-attr]
    assert {a: (r["input_tokens"], r["output_tokens"], r["requests"]) for a, r in rows.items()} == {
        "claude-code": (2015, 467, 3),
        "codex": (5360, 2559, 3),
        "qwen-code": (815, 127, 2),
        "gemini-cli": (4100, 2210, 1),
    }
    assert (
        rows["claude-code"]["cache_write_tokens"] == 5000
        and rows["claude-code"]["cache_read_tokens"] == 51000
    )


def test_the_bare_command_is_the_daily_report_and_monthly_and_sessions_split_it(logs: Path) -> None:
    daily = _json()
    assert daily["period"] == "daily" and daily["totals"] == _json("monthly")["totals"]
    sessions = _json("sessions", "--tool", "codex")["sessions"]
    assert [s["requests"] for s in sessions] == [2, 1]  # type: ignore[index]
    assert _json("--since", "2026-11-24")["daily"] == []
    assert len(_json("--until", "20261123", "--tool", "gemini")["daily"]) == 1  # type: ignore[arg-type]


def test_the_table_names_unpriced_models(logs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mahavishnu.usage import pricing

    monkeypatch.setattr(pricing, "_genai_model", lambda provider, model: None)  # nothing is priced
    result = runner.invoke(app, ["usage", "--by", "model", "--tool", "gemini"])
    assert result.exit_code == 0
    assert "unpriced" in result.output and "google/gemini-2.5-pro" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--by", "colour"], "error: cannot split by 'colour'"),
        (["--tool", "cursor"], "error: unknown assistant 'cursor'"),
        (["--since", "yesterday"], "error: not a date: 'yesterday'"),
        (["--until", "9999-12-31"], "error: 9999-12-31 is out of range"),  # (it reads the day after)
        (["daily", "--since", "00010101"], "error: 00010101 is out of range"),
    ],
)
def test_a_wrong_option_is_one_error_line_and_a_hint(
    isolated_home: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["usage", *args])
    assert result.exit_code != 0
    assert result.output.splitlines()[0] == message and result.output.splitlines()[1].startswith("hint: ")


def test_a_since_after_the_until_is_one_line_not_an_empty_report(logs: Path) -> None:
    result = runner.invoke(app, ["usage", "daily", "--since", "2026-03-03", "--until", "20260301"])
    assert result.exit_code == 2, result.output
    assert (
        "--since 2026-03-03 is after --until 20260301" in result.output and "No requests" not in result.output
    )


def test_no_logs_at_all_is_an_empty_report(isolated_home: Path) -> None:
    result = runner.invoke(app, ["usage"])
    assert result.exit_code == 0 and "No requests" in result.output


@pytest.mark.parametrize("rate", [".inf", "1e308", ".nan", "-1"])
def test_a_price_no_bill_can_have_is_one_line_naming_usage_yaml(logs: Path, rate: str) -> None:
    """A rate that cannot be priced with (infinite, or so high a request's cost overflows) is
    refused where it is written, as a negative one is, never a traceback of the report."""
    usage_yaml = logs / ".mahavishnu" / "usage.yaml"
    usage_yaml.parent.mkdir(parents=True, exist_ok=True)
    usage_yaml.write_text(f"pricing:\n  anthropic:\n    claude-sonnet-4-5: {{input: {rate}, output: 1}}\n")
    result = runner.invoke(app, ["usage", "daily"])
    assert result.exit_code == 1, result.output
    assert "usage.yaml is invalid" in result.output and "claude-sonnet-4-5.input" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("pooled", [False, True])
def test_a_broken_usage_yaml_is_one_line_and_the_logs_read_meanwhile_are_not_kept(
    logs: Path, monkeypatch: pytest.MonkeyPatch, pooled: bool
) -> None:
    """The prices are made ready while the logs are read (by worker processes, or here as the
    first are added up): a usage.yaml that cannot be read stops the report there, and what was
    read is rolled back (the next report reads it)."""
    import os
    import threading

    from mahavishnu.usage import ledger

    if pooled:
        monkeypatch.setattr(ledger, "POOL_MIN", 1)
        monkeypatch.setattr(threading, "active_count", lambda: 1)  # (pytest's own threads: none fork here)
        monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1}, raising=False)
    usage_yaml = logs / ".mahavishnu" / "usage.yaml"
    usage_yaml.parent.mkdir(parents=True, exist_ok=True)
    usage_yaml.write_text("pricing: [not, a, mapping]\n")
    result = runner.invoke(app, ["usage", "daily", "--json"])
    assert result.exit_code != 0 and "usage.yaml" in result.output and "Traceback" not in result.output
    with ledger.opened() as db:
        stored = db.execute("SELECT COUNT(*) FROM reads").fetchone()[0]
    assert stored == 0
    usage_yaml.unlink()
    assert _json("daily")["totals"]["requests"] == 9  # type: ignore[index]


def _claude_requests(home: Path, times: list[str]) -> None:
    folder = home / ".claude" / "projects" / "-home-dev-src-shop"
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        {
            "type": "assistant",
            "sessionId": "s1",
            "cwd": "/home/dev/src/shop",
            "timestamp": at,
            "message": {
                "id": f"msg_{n}",
                "model": "claude-sonnet-4-5-20250929",
                "usage": {"input_tokens": 100 * (n + 1), "output_tokens": 10},
            },
        }
        for n, at in enumerate(times)
    ]
    (folder / "s1.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_timezone_groups_days_and_months_in_that_zone_as_ccusage_z_does(isolated_home: Path) -> None:
    """The same requests, by UTC's days and by Tokyo's (+09:00), as ``ccusage claude daily -z``
    and ``monthly -z`` print them on these logs (20.0.24); --since and --until are Tokyo's days."""
    _claude_requests(
        isolated_home,
        ["2026-03-01T14:30:00Z", "2026-03-01T16:00:00Z", "2026-03-02T00:01:00Z", "2026-03-31T15:30:00Z"],
    )

    def inputs(*args: str) -> dict[str, int]:
        data = _json(*args, "--tool", "claude")
        key = "date" if data["period"] == "daily" else "month"
        return {row[key]: row["input_tokens"] for row in data[str(data["period"])]}  # type: ignore[union-attr,index]

    assert (
        inputs("daily")
        == inputs("daily", "-z", "UTC")
        == {"2026-03-01": 300, "2026-03-02": 300, "2026-03-31": 400}
    )
    tokyo = {"2026-03-01": 100, "2026-03-02": 500, "2026-04-01": 400}
    assert inputs("daily", "--timezone", "Asia/Tokyo") == inputs("daily", "-z", "asia/tokyo") == tokyo
    assert inputs("monthly", "-z", "Asia/Tokyo") == {"2026-03": 600, "2026-04": 400}
    assert inputs("-z", "Asia/Tokyo", "--since", "2026-03-02", "--until", "2026-03-31") == {"2026-03-02": 500}
    first = _json("sessions", "-z", "Asia/Tokyo")["sessions"][0]["first"]  # type: ignore[index]
    assert first == "2026-03-01T23:30:00+09:00"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "Asia", "/etc/passwd", "../UTC", "+09:00", ""])
def test_an_unknown_timezone_is_one_error_line_and_a_hint(isolated_home: Path, zone: str) -> None:
    result = runner.invoke(app, ["usage", "daily", "--timezone", zone])
    assert result.exit_code == 2, result.output
    assert result.output.splitlines()[0] == f"error: unknown time zone {zone!r}"
    assert result.output.splitlines()[1].startswith("hint: Use an IANA name")
