"""The usage page's figures without a browser: a day of recall only, the axes' units, the choices."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from mahavishnu.ui import usage_view
from mahavishnu.usage.report import Line


def test_a_day_with_recall_tokens_but_no_request_is_the_memory_loop_s_not_a_provider_s() -> None:
    recall_only = Line("2026-06-01", "anthropic", recalls=2, memory_tokens=300, memory_unpriced_tokens=300)
    row = usage_view._row(recall_only)
    assert row.group == "memory loop (no request logged)" and row.cost == "-" and row.memory_tokens == 300
    listed = Line("2026-06-02", "proxy", input=1000, units=500_000_000_000, requests=1, price_kinds={"list"})
    assert usage_view._row(listed).cost == "0.5000 (list)"


def test_recall_tokens_of_sessions_with_no_logged_request_are_not_said_to_be_of_the_total(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The page said "recall added 5,300 of those tokens" of a total of 1,200: most were added to
    sessions whose requests no log read here holds."""
    from mahavishnu.usage.report import Report

    lines = [
        Line("2026-06-01", "anthropic", input=1000, output=200, requests=2, recalls=1, memory_tokens=300),
        Line("2026-06-02", "anthropic", recalls=4, memory_tokens=5000),
    ]
    total = Line("total", "", input=1000, output=200, memory_tokens=5300)
    made = Report("daily", "assistant", lines, total, [])
    monkeypatch.setattr(usage_view, "report", lambda *args, **kwargs: made)
    view = usage_view.build(7, dt.date(2026, 6, 3))
    assert (view.recall_tokens, view.recall_unlogged, view.total_tokens) == (300, 5000, 1200)


@pytest.mark.parametrize(
    ("metric", "peak", "labels"),
    [("tokens", 2_400_000, ["0", "1.2M", "2.4M"]), ("cost", 3.5, ["$0.00", "$1.75", "$3.50"])],
)
def test_the_y_axis_is_labelled_in_the_metric_s_unit(
    metric: usage_view.Metric, peak: float, labels: list[str]
) -> None:
    ticks = usage_view._y_ticks(peak, metric)
    assert [t.label for t in ticks] == labels
    assert ticks[0].at == usage_view.BOTTOM and ticks[-1].at == usage_view.TOP


def test_every_day_of_a_long_window_has_its_bar_inside_the_plot(isolated_home: object) -> None:
    values = {"2026-06-01": {"a": 10.0, "b": 30.0}, "2026-06-30": {"a": 40.0}}
    dates = [f"2026-06-{d:02d}" for d in range(1, 31)]
    bars = usage_view._bars(dates, values, 40.0, ["a", "b"], {"a": "c0", "b": "c1"}, "tokens")
    assert len(bars) == 3
    assert all(b.x >= usage_view.LEFT and b.x + b.width <= usage_view.RIGHT for b in bars)
    assert all(b.y >= usage_view.TOP - 0.01 and b.y + b.height <= usage_view.BOTTOM + 0.01 for b in bars)


@pytest.mark.parametrize("until", ["0001-01-01", "1900-01-01", "9999-12-31"])
def test_a_day_out_of_range_is_a_one_line_error_not_a_server_error(until: str) -> None:
    from starlette.testclient import TestClient

    from mahavishnu.memory.core.store import MemoryStore
    from mahavishnu.ui.app import create_app
    from mahavishnu.ui.memories import Library

    app = create_app(Library(MemoryStore.open), "t0ken")
    with TestClient(app, base_url="http://127.0.0.1:8690", raise_server_exceptions=False) as client:
        answer = client.get(f"/usage?until={until}", headers={"authorization": "Bearer t0ken"})
    assert answer.status_code == 400, answer.text
    assert (
        f"until: {until} is out of range" in answer.text
        and "A day from 1971-01-01 to 9999-12-30" in answer.text
    )


def _usage_page(path: str = "/usage") -> str:
    from starlette.testclient import TestClient

    from mahavishnu.memory.core.store import MemoryStore
    from mahavishnu.ui.app import create_app
    from mahavishnu.ui.memories import Library

    app = create_app(Library(MemoryStore.open), "t0ken")
    with TestClient(app, base_url="http://127.0.0.1:8690") as client:
        answer = client.get(path, headers={"authorization": "Bearer t0ken"})
    assert answer.status_code == 200, answer.text
    return answer.text


def test_days_without_usage_say_so_without_empty_tables() -> None:
    """The page said "No usage in these days" over two tables of headers and no row."""
    page = _usage_page()
    assert 'id="no-usage">No usage in these days.' in page
    assert "<table" not in page and "Per day" not in page and "Per project" not in page


def test_days_of_recall_only_show_their_lines_not_no_usage(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing to chart (no request logged) is not no usage: the table shows what recall added."""
    from mahavishnu.usage.report import Report

    lines = [Line("2026-06-02", "anthropic", recalls=4, memory_tokens=5000)]
    made = Report("daily", "assistant", lines, Line("total", "", memory_tokens=5000), [])
    monkeypatch.setattr(usage_view, "report", lambda *args, **kwargs: made)
    page = _usage_page("/usage?until=2026-06-03&days=7")
    assert 'id="no-chart">Nothing to chart in tokens per day' in page and "No usage" not in page
    assert 'id="usage-table"' in page and "memory loop (no request logged)" in page
    assert "Per project" not in page


def test_a_recall_of_absurd_tokens_is_a_damaged_line_skipped_and_counted_not_shown() -> None:
    """A hand-edited recall log line of 10^30 tokens was added up and shown as 30-digit figures."""
    import time

    from mahavishnu.memory.loop import recall_log
    from mahavishnu.usage.records import TOOLS
    from mahavishnu.usage.report import report

    recall_log.append("codex", "UserPromptSubmit", "api", None, [1], 1234)
    absurd = {"at": time.time(), "tool": "codex", "event": "UserPromptSubmit", "ids": [1], "tokens": 10**30}
    with (recall_log.log_dir() / recall_log.LOG_NAME).open("a") as log:
        log.write(json.dumps(absurd) + "\n")

    page = _usage_page()
    assert 'id="recall-unlogged">1,234<' in page and "1,000,000" not in page
    assert 'id="skipped">1 damaged, hostile or oversized log line skipped' in page
    made = report("daily", "assistant", TOOLS, verbose=True)
    assert made.totals.memory_tokens == 1234 and made.skipped_lines == 1
    assert made.bad_lines == [
        (str(recall_log.log_dir() / recall_log.LOG_NAME), 2, "not a recall the hook wrote")
    ]


@pytest.mark.parametrize(
    ("address", "said"),
    [
        ("/usage?days=7&until=2024-05-01&by=bogus&metric=cost", "by: not one of assistant, provider, model"),
        ("/usage?days=7&until=someday&by=model&metric=cost", "until: not a date &#39;someday&#39;"),
        ("/usage?days=7&until=0001-01-01&by=model&metric=cost", "until: 0001-01-01 is out of range"),
    ],
)
def test_a_refused_choice_is_said_above_the_page_of_the_choices_kept(address: str, said: str) -> None:
    """A refused choice answered the bare error page: the window, the stacking and the metric
    chosen were lost (its one link led to the memory page). Now the page shows the choices kept,
    the refused one at its default, and says why above it."""
    from starlette.testclient import TestClient

    from mahavishnu.memory.core.store import MemoryStore
    from mahavishnu.ui.app import create_app
    from mahavishnu.ui.memories import Library

    app = create_app(Library(MemoryStore.open), "t0ken")
    with TestClient(app, base_url="http://127.0.0.1:8690") as client:
        answer = client.get(address, headers={"authorization": "Bearer t0ken"})
    assert answer.status_code == 400, answer.text
    page = answer.text
    assert f'class="error" id="error">{said}<' in page and 'id="toggles"' in page
    assert 'id="window">7 days to ' in page and 'id="metric-cost" class="on"' in page
    assert ("2024-05-01" in page) == ("2024-05-01" in address)
    assert ('id="by-model" class="on"' in page) == ("by=model" in address)
