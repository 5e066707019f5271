"""A log line whose text holds a lone surrogate escape (``"cut \\ud83d here"``: an emoji cut in two,
as Node's ``JSON.stringify`` writes it) is JSON; orjson refuses it, and the billed request on that
line was skipped as "not JSON"."""

from __future__ import annotations

import json
from pathlib import Path

from mahavishnu.usage.logfile import parse_object
from mahavishnu.usage.report import collect


def test_a_request_whose_text_holds_a_lone_surrogate_is_counted(isolated_home: Path) -> None:
    entry = {
        "type": "assistant",
        "timestamp": "2026-11-21T10:00:00Z",
        "sessionId": "s1",
        "requestId": "req-1",
        "message": {
            "id": "msg-1",
            "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "PLACEHOLDER"}],
            "usage": {"input_tokens": 100, "output_tokens": 10},
        },
    }
    line = json.dumps(entry).replace("PLACEHOLDER", "cut \\ud83d here")
    assert json.loads(line)  # (Python's own reader takes it, as Node's does)
    folder = isolated_home / ".claude" / "projects" / "-home-dev-shop"
    folder.mkdir(parents=True)
    (folder / "s1.jsonl").write_text(line + "\n")
    records, _, skipped = collect(["claude"], None, None)
    assert [(r.input, r.output) for r in records] == [(100, 10)] and skipped == 0


def test_only_unpaired_halves_are_replaced() -> None:
    found, _ = parse_object(b'{"a": "x \\ud83d\\ude00 \\ud83d y \\ude00"}')
    assert found == {"a": "x \U0001f600 \ufffd y \ufffd"}
    assert parse_object(b'{"a": nope')[1] == "not JSON"
