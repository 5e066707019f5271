"""What the readers find in the logs the real Claude Code 2.1.197, Codex 0.169, Qwen Code 0.24.4 and
Gemini CLI 0.61 wrote against the mock, whose replies reported (input, output, cache write, cache
read): (1200, 340, 5000, 20000), (800, 120, 0, 31000), (15, 7, 0, 0), (4100, 2210, 900, 0),
(60, 9, 0, 70000), then again from the first (``make_fixtures.py``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mahavishnu.usage.records import UsageRecord
from mahavishnu.usage.report import collect


def _figures(records: list[UsageRecord]) -> list[tuple[str, int, int, int, int]]:
    return [(r.model, r.input, r.output, r.cache_write, r.cache_read) for r in records]


def test_claude_code_counts_each_api_message_once_across_a_forked_session(logs: Path) -> None:
    records, refreshed, skipped = collect(["claude"], None, None)
    # the fork's file repeats the first message (the same message id): counted once
    assert _figures(records) == [
        ("claude-sonnet-4-5-20250929", 1200, 340, 5000, 20000),
        ("claude-sonnet-4-5-20250929", 800, 120, 0, 31000),
        ("claude-opus-4-8", 15, 7, 0, 0),
    ]
    assert refreshed.read == 3 and skipped == 0 and not refreshed.problems
    assert {r.project for r in records} == {"shop"}
    assert all(r.key.startswith("claude:msg_mock_") for r in records)


def test_codex_splits_cached_tokens_out_of_its_inclusive_input_and_takes_the_turn_model(logs: Path) -> None:
    records, _, _ = collect(["codex"], None, None)
    assert _figures(records) == [
        ("gpt-5-codex", 4100, 2210, 0, 0),  # the mock's 900 cache-write is not in OpenAI's shape
        ("gpt-5-codex", 60, 9, 0, 70000),  # the resumed session, same rollout file
        ("gpt-5", 1200, 340, 0, 20000),  # `-m gpt-5`
    ]
    assert all(r.key.startswith("codex:resp_mock_") for r in records)


def test_qwen_code_counts_its_memory_extractor_as_a_helper(logs: Path) -> None:
    records, _, _ = collect(["qwen"], None, None)
    assert _figures(records) == [("gpt-5-codex", 800, 120, 0, 31000), ("gpt-5-codex", 15, 7, 0, 0)]
    assert [r.source for r in records] == ["main", "helper"]
    assert {r.project for r in records} == {"shop"}


def _qwen_reply(line: dict[str, object], response: str, auth: str, figures: tuple[int, ...]) -> str:
    inclusive, cached, output, thoughts, total = figures
    event = dict(line["systemPayload"]["uiEvent"])  # type: ignore[index]
    event |= {
        "response_id": response,
        "model": "gemini-2.5-pro" if auth == "gemini" else "qwen3-max",
        "auth_type": auth,
        "input_token_count": inclusive,
        "cached_content_token_count": cached,
        "output_token_count": output,
        "thoughts_token_count": thoughts,
        "total_token_count": total,
    }
    return json.dumps(line | {"uuid": response, "systemPayload": {"uiEvent": event}}) + "\n"


def test_qwen_code_counts_the_gemini_api_s_thoughts_as_output_and_an_openai_provider_s_once(
    logs: Path,
) -> None:
    """Through the Gemini API (``auth_type`` ``gemini``) a reply's output leaves its thoughts out
    and its total has them; from an OpenAI-compatible provider Qwen Code takes the output with the
    reasoning in it and repeats the reasoning as thoughts (its total counts them once)."""
    [path] = (logs / ".qwen/projects").glob("*/chats/*.jsonl")
    telemetry = json.loads(path.read_text().splitlines()[2])
    with path.open("a") as handle:
        handle.write(_qwen_reply(telemetry, "gemini-1", "gemini", (5000, 1000, 200, 350, 5550)))
        handle.write(_qwen_reply(telemetry, "openai-1", "openai", (5000, 1000, 550, 350, 5550)))
    records, _, skipped = collect(["qwen"], None, None)
    assert skipped == 0
    assert {r.key: (r.input, r.output, r.cache_read) for r in records if "-1" in r.key} == {
        "qwen:gemini-1": (4000, 200 + 350, 1000),
        "qwen:openai-1": (4000, 550, 1000),
    }


def test_an_older_qwen_code_s_usage_metadata_counts_the_gemini_api_s_thoughts_too(logs: Path) -> None:
    """A file with no telemetry (an older Qwen Code): the replies' own ``usageMetadata``."""
    [path] = (logs / ".qwen/projects").glob("*/chats/*.jsonl")
    [reply] = [json.loads(line) for line in path.read_text().splitlines() if '"usageMetadata"' in line]
    usage = {
        "promptTokenCount": 3000,
        "candidatesTokenCount": 90,
        "thoughtsTokenCount": 410,
        "totalTokenCount": 3500,
        "cachedContentTokenCount": 0,
    }
    path.write_text(json.dumps(reply | {"model": "gemini-2.5-flash", "usageMetadata": usage}) + "\n")
    [record] = collect(["qwen"], None, None)[0]
    assert (record.input, record.output) == (3000, 500)


def test_qwen_code_through_the_gemini_api_counts_tool_use_prompt_tokens_as_input(isolated_home: Path) -> None:
    """Qwen Code 0.24.4 with ``auth_type`` ``gemini`` against the mock, whose replies reported
    (prompt, cached, candidates, thoughts, toolUsePromptTokenCount) (500, 0, 45, 5, 900) and, to
    the memory extractor, (3000, 2000, 90, 10, 300): its telemetry has no field for the tool-use
    prompt, only the total (1450, 3400) that counts it. They were not counted at all."""
    folder = isolated_home / ".qwen" / "projects" / "-home-dev-src-shop" / "chats"
    folder.mkdir(parents=True)
    shutil.copytree(Path(__file__).parent / "fixtures" / "qwen-gemini-api", folder, dirs_exist_ok=True)
    records, _, skipped = collect(["qwen"], None, None)
    assert skipped == 0
    assert [(r.input, r.output, r.cache_read, r.source) for r in records] == [
        (500 + 900, 45 + 5, 0, "main"),
        (1000 + 300, 90 + 10, 2000, "helper"),
    ]


def test_gemini_cli_splits_cached_tokens_and_reads_the_project_root(logs: Path) -> None:
    records, _, _ = collect(["gemini"], None, None)
    assert _figures(records) == [("gemini-2.5-pro", 4100, 2210, 0, 0)]
    assert records[0].project == "shop" and records[0].session.startswith("8d67cf96")


def test_a_gemini_cli_subagent_s_own_session_file_is_read_as_a_helper_s(logs: Path) -> None:
    """Gemini CLI writes a subagent's session under ``chats/<parent session id>/<id>.jsonl``, one
    folder deeper than the main sessions: its requests were not counted at all."""
    chats = logs / ".gemini/tmp/shop/chats"
    lines = [
        {
            "sessionId": "sub-1",
            "projectHash": "3a62",
            "startTime": "2026-11-23T15:23:00Z",
            "kind": "subagent",
        },
        {
            "id": "m-sub-1",
            "timestamp": "2026-11-23T15:23:01Z",
            "type": "gemini",
            "content": "",
            "model": "gemini-2.5-flash",
            "tokens": {"input": 900, "output": 40, "cached": 100, "thoughts": 5, "tool": 0, "total": 945},
        },
    ]
    sub = chats / "8d67cf96-18bc-46c5-a4bf-b5c87203539c" / "sub-1.jsonl"
    sub.parent.mkdir()
    sub.write_text("".join(json.dumps(line) + "\n" for line in lines))
    records, _, _ = collect(["gemini"], None, None)
    assert _figures(records) == [("gemini-2.5-pro", 4100, 2210, 0, 0), ("gemini-2.5-flash", 800, 45, 0, 100)]
    assert [r.source for r in records] == ["main", "helper"]
    assert records[1].project == "shop" and records[1].session == "sub-1"


def test_every_request_the_mock_answered_is_counted_once(logs: Path) -> None:
    records, _, _ = collect(["claude", "codex", "qwen", "gemini"], None, None)
    assert len(records) == 9  # the mock answered 9 model requests (make_fixtures.py printed them)
    assert len({r.key for r in records}) == 9


def test_codex_s_repeated_token_count_is_no_new_request(isolated_home: Path) -> None:
    """A Codex without ``token_usage_record`` writes a ``token_count`` again when only its rate
    limits changed: the same total, the same ``last_token_usage``. It is counted once (as
    ``ccusage codex`` counts it), not as a second request. Its ``output_tokens`` hold the reasoning
    (OpenAI's ``output_tokens_details.reasoning_tokens``, which Codex copies to
    ``reasoning_output_tokens``): the output is not added to again."""
    import json

    def usage(fresh: int, cached: int, output: int) -> dict[str, int]:
        reasoning = output // 2
        return {
            "input_tokens": fresh,
            "cached_input_tokens": cached,
            "output_tokens": output,
            "reasoning_output_tokens": reasoning,
            "total_tokens": fresh + output,
        }

    def count(second: int, total: dict[str, int], last: dict[str, int]) -> dict[str, object]:
        info = {"total_token_usage": total, "last_token_usage": last}
        payload = {"type": "token_count", "info": info, "rate_limits": {}}
        return {"timestamp": f"2026-11-24T10:00:{second:02}Z", "type": "event_msg", "payload": payload}

    first = usage(1000, 0, 100)
    lines = [
        {"timestamp": "2026-11-24T10:00:00Z", "type": "session_meta", "payload": {"id": "s", "cwd": "/x"}},
        {"timestamp": "2026-11-24T10:00:00Z", "type": "turn_context", "payload": {"model": "gpt-5-codex"}},
        count(5, first, first),
        count(6, first, first),  # a rate-limit update: the same snapshot
        count(9, usage(3000, 800, 300), usage(2000, 800, 200)),
    ]
    folder = isolated_home / ".codex" / "sessions" / "2026" / "11" / "24"
    folder.mkdir(parents=True)
    (folder / "rollout-2026-11-24T10-00-00-s.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    records, _, skipped = collect(["codex"], None, None)
    assert _figures(records) == [("gpt-5-codex", 1000, 100, 0, 0), ("gpt-5-codex", 1200, 200, 0, 800)]
    assert skipped == 0


def test_an_archived_codex_session_still_counts_once(isolated_home: Path) -> None:
    """Archiving a Codex session moves its rollout from ``sessions/YYYY/MM/DD`` to
    ``archived_sessions/`` (ccusage reads both): its requests were gone from the report."""
    import json

    def rollout(session: str, response: str) -> str:
        usage = {"input_tokens": 1000, "cached_input_tokens": 0, "output_tokens": 100}
        lines = [
            {
                "timestamp": "2026-11-24T10:00:00Z",
                "type": "session_meta",
                "payload": {"id": session, "cwd": "/x"},
            },
            {
                "timestamp": "2026-11-24T10:00:00Z",
                "type": "turn_context",
                "payload": {"model": "gpt-5-codex"},
            },
            {
                "timestamp": "2026-11-24T10:00:05Z",
                "type": "token_usage_record",
                "payload": {"response_id": response, "usage": usage},
            },
        ]
        return "".join(json.dumps(line) + "\n" for line in lines)

    archived = isolated_home / ".codex" / "archived_sessions"
    archived.mkdir(parents=True)
    (archived / "rollout-2026-11-24T10-00-00-a.jsonl").write_text(rollout("a", "resp_a"))
    active = isolated_home / ".codex" / "sessions" / "2026" / "11" / "24"
    active.mkdir(parents=True)
    (active / "rollout-2026-11-24T10-00-00-b.jsonl").write_text(rollout("b", "resp_b"))
    (archived / "rollout-2026-11-24T10-00-00-b.jsonl").write_text(rollout("b", "resp_b"))  # in both
    records, _, _ = collect(["codex"], None, None)
    assert sorted(r.key for r in records) == ["codex:resp_a", "codex:resp_b"]


def _claude_session(folder: Path, message: str, output: int) -> None:
    """One Claude Code session file with one request (``message``) of ``output`` tokens."""
    folder.mkdir(parents=True, exist_ok=True)
    line = {
        "type": "assistant",
        "sessionId": message,
        "requestId": f"req-{message}",
        "timestamp": "2026-06-01T10:00:00Z",
        "message": {
            "id": message,
            "model": "claude-sonnet-4-5",
            "usage": {"input_tokens": 1, "output_tokens": output},
        },
    }
    (folder / f"{message}.jsonl").write_text(json.dumps(line) + "\n")


def test_claude_code_sessions_under_the_xdg_config_folder_are_read_too(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Releases of Claude Code in mid-2025 kept their sessions under ``~/.config/claude/projects``
    (ccusage reads it beside ``~/.claude/projects``): both are read; a copy of a session in both is
    counted once; ``CLAUDE_CONFIG_DIR`` names the one folder."""
    from mahavishnu.usage.report import report

    _claude_session(isolated_home / ".claude" / "projects" / "-home-dev-shop", "m1", 10)
    _claude_session(isolated_home / ".config" / "claude" / "projects" / "-home-dev-shop", "m2", 200)
    _claude_session(isolated_home / ".config" / "claude" / "projects" / "-home-dev-old", "m1", 10)
    assert report("daily", None, ["claude"]).totals.output == 210

    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(isolated_home / ".claude"))
    assert report("daily", None, ["claude"]).totals.output == 10
