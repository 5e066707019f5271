"""The real Pi and OpenCode run against the loopback mock (configured by their own files in a tmp
HOME, ``pi_opencode_config``), whose replies report chosen usage figures; then `mahavishnu usage
--tool pi|opencode --json` reports exactly what the mock reported for the requests each CLI
records (OpenCode does not record the title it asks its small model for), under the provider the
CLI named (``anthropic``), priced at its rates; a second report reads only what the CLI added."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from _cli_env import find_tool, run_cli
from mock_llm import RecordedRequest, Reply
from pi_opencode_config import OFFLINE, opencode_config, pi_config
from typer.testing import CliRunner
from usage_mock import Figures, UsageMockLLM

from mahavishnu.cli.main import app

SONNET = "claude-sonnet-4-5"
KEY = "sk-mock-usage-0123456789"
FIGURES = [Figures(1200, 340, 5000, 20000), Figures(800, 120, 0, 31000), Figures(4100, 2210, 900, 0)]

pytestmark = pytest.mark.e2e


class ModelMock(UsageMockLLM):
    """The usage mock, remembering which model each reported figure went to."""

    def __init__(self) -> None:
        super().__init__(FIGURES)
        self._asked = threading.local()
        self.by_model: list[tuple[str, Figures]] = []

    def _handle_anthropic_messages(self, req: RecordedRequest) -> Reply:
        self._asked.model = str((req.body or {}).get("model", ""))
        return super()._handle_anthropic_messages(req)

    def _next(self) -> Figures:
        figures = super()._next()
        with self._lock:
            self.by_model.append((self._asked.model, figures))
        return figures

    def sent_to(self, model: str) -> dict[str, int]:
        sent = [f for asked, f in self.by_model if asked == model]
        return {
            "input_tokens": sum(f.input for f in sent),
            "output_tokens": sum(f.output for f in sent),
            "cache_write_tokens": sum(f.cache_write for f in sent),
            "cache_read_tokens": sum(f.cache_read for f in sent),
            "requests": len(sent),
        }


def _usage(tool: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["usage", "daily", "--tool", tool, "--by", "provider", "--json"])
    assert result.exit_code == 0, result.output
    found: dict[str, Any] = json.loads(result.output)
    return found


def _run(home: Path, args: list[str]) -> None:
    proc = run_cli(args[0], args[1:], home, 180, {"MOCK_KEY": KEY, **OFFLINE}, home / "src" / "shop")
    assert proc.returncode == 0, proc.stderr[-2000:]


def _check(tool: str, mock: ModelMock) -> None:
    report = _usage(tool)
    wanted = mock.sent_to(SONNET)
    assert wanted["requests"] >= 1
    assert {k: report["totals"][k] for k in wanted} == wanted
    lines = report["daily"]  # one a day: two when the runs straddle midnight
    assert 1 <= len(lines) <= 2, lines
    assert all(line["provider"] == "anthropic" and line["unpriced_requests"] == 0 for line in lines), lines
    list_price = (  # Claude Sonnet 4.5's rates, USD per million tokens
        3 * wanted["input_tokens"]
        + 15 * wanted["output_tokens"]
        + 3.75 * wanted["cache_write_tokens"]
        + 0.3 * wanted["cache_read_tokens"]
    ) / 1e6
    assert report["totals"]["cost_usd"] == pytest.approx(list_price, abs=1e-6)


@pytest.mark.skipif(find_tool("pi") is None, reason="Pi is not installed: run `bash .ci/install-e2e.sh`")
def test_pi_usage_is_what_the_mock_reported(isolated_home: Path) -> None:
    with ModelMock() as mock:
        pi_config(isolated_home, mock.base_url)
        _run(isolated_home, ["pi", "-p", "Say hi."])
        _check("pi", mock)
        _run(isolated_home, ["pi", "-p", "-c", "And again."])  # the same session file grows
        _check("pi", mock)
    assert mock.sent_to(SONNET)["requests"] == 2


@pytest.mark.skipif(
    find_tool("opencode") is None, reason="OpenCode is not installed: run `bash .ci/install-e2e.sh`"
)
def test_opencode_usage_is_what_the_mock_reported(isolated_home: Path) -> None:
    with ModelMock() as mock:
        opencode_config(isolated_home, mock.base_url, f"anthropic/{SONNET}", "anthropic/claude-haiku-4-5")
        _run(isolated_home, ["opencode", "run", "Say hi."])
        _check("opencode", mock)
        _run(isolated_home, ["opencode", "run", "--continue", "And again."])  # rows added to the database
        _check("opencode", mock)
    assert mock.sent_to(SONNET)["requests"] == 2
    # (a title request to the small model, when OpenCode made one before it exited, is in no total)
