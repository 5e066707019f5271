"""A forked Codex session's rollout, and a spawned subagent's, begin with a copy of the parent's
history, token counts included, under the child's own session id: with the parent's times, or all
stamped when the copy was made. Each request is counted once (as ``ccusage codex`` counts them):
the copies were counted again, a subagent's whole parent history twice (a new user's probe)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mahavishnu.usage.report import collect

PARENT, CHILD = "019a0000-0000-7000-8000-000000000001", "019a0000-0000-7000-8000-000000000002"


def _usage(fresh: int, cached: int, output: int) -> dict[str, int]:
    return {"input_tokens": fresh, "cached_input_tokens": cached, "output_tokens": output}


def _count(when: str, total: dict[str, int], last: dict[str, int]) -> dict[str, object]:
    info = {"total_token_usage": total, "last_token_usage": last}
    return {"timestamp": when, "type": "event_msg", "payload": {"type": "token_count", "info": info}}


def _meta(when: str, session: str, **more: object) -> dict[str, object]:
    payload = {"id": session, "cwd": "/home/dev/shop", "model_provider": "openai", **more}
    return {"timestamp": when, "type": "session_meta", "payload": payload}


CONTEXT = {"timestamp": "2026-11-21T09:00:00.000Z", "type": "turn_context", "payload": {"model": "gpt-5"}}
PARENT_COUNTS = [
    _count("2026-11-21T09:01:00.000Z", _usage(100_000, 50_000, 2_000), _usage(100_000, 50_000, 2_000)),
    _count("2026-11-21T09:05:00.000Z", _usage(250_000, 180_000, 5_000), _usage(150_000, 130_000, 3_000)),
    _count("2026-11-21T09:09:00.000Z", _usage(450_000, 380_000, 9_000), _usage(200_000, 200_000, 4_000)),
]
OWN = _count("2026-11-21T10:02:00.000Z", _usage(470_000, 400_000, 9_500), _usage(20_000, 20_000, 500))


def _write(home: Path, session: str, hour: str, lines: list[dict[str, object]]) -> None:
    folder = home / ".codex" / "sessions" / "2026" / "11" / "21"
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(line) + "\n" for line in lines)
    (folder / f"rollout-2026-11-21T{hour}-00-00-{session}.jsonl").write_text(text)


@pytest.mark.parametrize("child", ["fork", "subagent"])
@pytest.mark.parametrize("times", ["kept", "stamped at the copy"])
def test_a_childs_copy_of_its_parents_history_is_counted_once(
    isolated_home: Path, child: str, times: str
) -> None:
    _write(isolated_home, PARENT, "09", [_meta("2026-11-21T09:00:00.000Z", PARENT), CONTEXT, *PARENT_COUNTS])
    spawned = {"subagent": {"thread_spawn": {"parent_thread_id": PARENT, "depth": 1}}}
    link = {"forked_from_id": PARENT} if child == "fork" else {"source": spawned}
    copied = [
        count if times == "kept" else {**count, "timestamp": "2026-11-21T10:00:00.400Z"}
        for count in PARENT_COUNTS
    ]
    embedded = [_meta("2026-11-21T09:00:00.000Z", PARENT)] if child == "fork" else []
    own_context = {**CONTEXT, "timestamp": "2026-11-21T10:01:00.000Z"}
    lines = [_meta("2026-11-21T10:00:00.000Z", CHILD, **link), *embedded, CONTEXT, *copied, own_context, OWN]
    _write(isolated_home, CHILD, "10", lines)

    records, _, skipped = collect(["codex"], None, None)
    assert sorted((r.session, r.input + r.cache_read, r.output) for r in records) == [
        (PARENT, 100_000, 2_000),
        (PARENT, 150_000, 3_000),
        (PARENT, 200_000, 4_000),
        (CHILD, 20_000, 500),  # the child's own request, under its own session
    ]
    assert skipped == 0


def test_a_session_with_no_parent_counts_every_request_from_its_first_second(isolated_home: Path) -> None:
    """No parent, no copy: a request in the second its rollout began is one (the rule applies to a
    child's file alone)."""
    first = _count("2026-11-21T09:00:00.900Z", _usage(1_000, 0, 10), _usage(1_000, 0, 10))
    _write(isolated_home, PARENT, "09", [_meta("2026-11-21T09:00:00.000Z", PARENT), CONTEXT, first])
    records, _, _ = collect(["codex"], None, None)
    assert [(r.input, r.output) for r in records] == [(1_000, 10)]
