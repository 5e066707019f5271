"""The status line says when part of a cost is unpriced, as ``usage`` does ("0.45 + unpriced"):
a ``+`` after the figure (the cost is at least that)."""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

from typer.testing import CliRunner

from mahavishnu.cli.main import app
from mahavishnu.usage.report import day_start

runner = CliRunner()


def _requests(home: Path, session: str, *models: str) -> None:
    folder = home / ".claude" / "projects" / "-home-dev-src-shop"
    folder.mkdir(parents=True, exist_ok=True)
    at = max(time.time() - 120, day_start(date.today()))
    lines = [
        {
            "type": "assistant",
            "sessionId": session,
            "cwd": "/home/dev/src/shop",
            "requestId": f"{session}-r{n}",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(at + n)),
            "message": {
                "id": f"{session}-m{n}",
                "model": model,
                "usage": {"input_tokens": 100_000, "output_tokens": 10_000},
            },
        }
        for n, model in enumerate(models)
    ]
    with (folder / f"{session}.jsonl").open("a") as handle:
        handle.write("".join(json.dumps(line) + "\n" for line in lines))


def _line(session: str) -> str:
    result = runner.invoke(app, ["usage", "statusline"], input=json.dumps({"session_id": session}))
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_a_session_partly_on_an_unpriced_model_is_marked(isolated_home: Path) -> None:
    _requests(isolated_home, "att1", "my-local-model", "my-local-model", "claude-sonnet-4-5")
    line = _line("att1")
    assert line.startswith("session $0.45+ · today $0.45+ · block $0.45+ ("), line


def test_a_wholly_priced_session_is_not_marked_even_when_today_is(isolated_home: Path) -> None:
    _requests(isolated_home, "priced", "claude-sonnet-4-5")
    _requests(isolated_home, "local", "my-local-model")
    assert _line("priced").startswith("session $0.45 · today $0.45+ · block $0.45+ (")
