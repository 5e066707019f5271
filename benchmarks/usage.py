"""`mahavishnu usage` over a year of heavy use: logs for the four assistants in a temp HOME, in the
formats the pinned CLIs write (tests/usage/fixtures), then the daily report timed cold (no ledger:
every log read), warm (ledger up to date: nothing read again) and after 1 % more lines were
appended (only those read). ccusage daily on the same Claude Code logs, when installed.

    python benchmarks/usage.py                      # 200,000 messages, 5 runs each
    python benchmarks/usage.py --messages 50000 --runs 3

Prints the logs' size and the median/p95 seconds of each, wall and CPU. Issue 36 asks ≤ 2 s warm,
≤ 5 s cold. `PYTHONPATH=other/src python benchmarks/usage.py` measures another tree (a commit's
`git archive`: the figures before a change).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CCUSAGE = REPO / ".e2e-tools" / "node_modules" / ".bin" / "ccusage"
START = 1_767_225_600  # 2026-01-01
SESSION_MESSAGES = 200


def _json(value: object) -> str:
    """One log line as the assistants write it: compact JSON (ccusage's scanner expects
    ``"type":"assistant"``, and finds nothing in ``json.dumps``' default spacing)."""
    return json.dumps(value, separators=(",", ":"))


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))


def _claude(n: int, t: float, rng: random.Random) -> str:
    return _json(
        {
            "parentUuid": None,
            "isSidechain": False,
            "userType": "external",
            "cwd": "/home/dev/src/shop",
            "sessionId": f"s{n // SESSION_MESSAGES}",
            "version": "2.1.197",
            "gitBranch": "main",
            "message": {
                "id": f"msg_{n}",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5-20250929",
                "content": [{"type": "text", "text": "Done. " * rng.randint(5, 60)}],
                "stop_reason": "end_turn",
                "usage": {
                    "input_tokens": rng.randint(1, 5000),
                    "cache_creation_input_tokens": rng.randint(0, 9000),
                    "cache_read_input_tokens": rng.randint(0, 90000),
                    "output_tokens": rng.randint(1, 3000),
                    "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                },
            },
            "requestId": f"req_{n}",
            "type": "assistant",
            "uuid": f"u{n}",
            "timestamp": _stamp(t),
        }
    )


def _codex(n: int, t: float, rng: random.Random) -> list[str]:
    usage = {
        "input_tokens": rng.randint(1000, 90000),
        "cached_input_tokens": 0,
        "cache_write_input_tokens": 0,
        "output_tokens": rng.randint(1, 3000),
        "reasoning_output_tokens": 0,
        "total_tokens": 0,
    }
    usage["cached_input_tokens"] = usage["input_tokens"] // 2
    record = {
        "timestamp": _stamp(t),
        "type": "token_usage_record",
        "payload": {"response_id": f"resp_{n}", "usage": usage},
    }
    event = {
        "timestamp": _stamp(t),
        "type": "event_msg",
        "payload": {"type": "token_count", "info": {"last_token_usage": usage, "total_token_usage": usage}},
    }
    item = {
        "timestamp": _stamp(t),
        "type": "response_item",
        "payload": {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "ok " * 40}],
        },
    }
    return [_json(item), _json(record), _json(event)]


def _qwen(n: int, t: float, rng: random.Random) -> str:
    return _json(
        {
            "uuid": f"q{n}",
            "sessionId": f"q{n // SESSION_MESSAGES}",
            "timestamp": _stamp(t),
            "type": "system",
            "cwd": "/home/dev/src/shop",
            "subtype": "ui_telemetry",
            "systemPayload": {
                "uiEvent": {
                    "event.name": "qwen-code.api_response",
                    "event.timestamp": _stamp(t),
                    "response_id": f"qr{n}",
                    "model": "qwen3-coder-plus",
                    "input_token_count": rng.randint(100, 50000),
                    "output_token_count": 50,
                    "cached_content_token_count": 0,
                }
            },
        }
    )


def _gemini(n: int, t: float, rng: random.Random) -> str:
    return _json(
        {
            "id": f"g{n}",
            "timestamp": _stamp(t),
            "type": "gemini",
            "content": "Done.",
            "model": "gemini-2.5-pro",
            "tokens": {
                "input": rng.randint(100, 50000),
                "output": 80,
                "cached": 0,
                "thoughts": 10,
                "tool": 0,
            },
        }
    )


def write_logs(home: Path, messages: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    year = 365 * 86400
    per_tool = messages // 4
    for n in range(0, per_tool, SESSION_MESSAGES):
        times = sorted(START + rng.random() * year for _ in range(min(SESSION_MESSAGES, per_tool - n)))
        s = n // SESSION_MESSAGES
        _append(
            home / f".claude/projects/-home-dev-src-shop/s{s}.jsonl",
            [_claude(n + i, t, rng) for i, t in enumerate(times)],
        )
        meta = _json(
            {
                "timestamp": _stamp(times[0]),
                "type": "session_meta",
                "payload": {
                    "id": f"c{s}",
                    "cwd": "/home/dev/src/shop",
                    "base_instructions": {"text": "x" * 20000},
                },
            }
        )
        context = _json(
            {"timestamp": _stamp(times[0]), "type": "turn_context", "payload": {"model": "gpt-5-codex"}}
        )
        lines = [meta, context] + [line for i, t in enumerate(times) for line in _codex(n + i, t, rng)]
        _append(home / f".codex/sessions/2026/01/01/rollout-2026-01-01T00-00-00-c{s}.jsonl", lines)
        _append(
            home / f".qwen/projects/-home-dev-src-shop/chats/q{s}.jsonl",
            [_qwen(n + i, t, rng) for i, t in enumerate(times)],
        )
        first = _json({"sessionId": f"g{s}", "projectHash": "h", "startTime": _stamp(times[0])})
        _append(
            home / f".gemini/tmp/shop/chats/session-g{s}.jsonl",
            [first] + [_gemini(n + i, t, rng) for i, t in enumerate(times)],
        )
    (home / ".gemini/tmp/shop/.project_root").write_text("/home/dev/src/shop")


def _append(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def _mahavishnu(env: dict[str, str]) -> tuple[float, float]:
    """One report: its wall time and its CPU time (user + system; on a machine shared with other
    work, the wall time also measures the others)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "mahavishnu", "usage", "daily", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    return elapsed, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def _figures(runs: list[tuple[float, float]]) -> str:
    def median_p95(values: list[float]) -> tuple[float, float]:
        ordered = sorted(values)
        return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    wall, cpu = median_p95([w for w, _ in runs]), median_p95([c for _, c in runs])
    return (
        f"median {wall[0]:.2f} s, p95 {wall[1]:.2f} s; CPU median {cpu[0]:.2f} s, p95 {cpu[1]:.2f} s"
        f" ({len(runs)} runs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="usage-bench-"))
    try:
        write_logs(home, args.messages)
        size = sum(p.stat().st_size for p in home.rglob("*.jsonl"))
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "MAHAVISHNU_HOME": str(home / ".mahavishnu"),
            "LANG": "C.UTF-8",
            # another tree to measure (PYTHONPATH=that/src): the figures before a change
            **({"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}),
        }
        print(f"{args.messages:,} messages, {size / 1e6:.0f} MB of logs across the four assistants")
        cold = []
        for _ in range(args.runs):
            shutil.rmtree(home / ".mahavishnu" / "cache", ignore_errors=True)
            cold.append(_mahavishnu(env))
        print(f"cold (no ledger, every log read): {_figures(cold)}")
        print(f"warm (nothing new):               {_figures([_mahavishnu(env) for _ in range(args.runs)])}")
        grown = []
        rng = random.Random(11)
        for run in range(args.runs):
            extra = [_claude(10**9 + run * 10**6 + i, START + 100, rng) for i in range(args.messages // 400)]
            _append(home / ".claude/projects/-home-dev-src-shop/s0.jsonl", extra)
            grown.append(_mahavishnu(env))
        print(f"after 1 % more lines appended:    {_figures(grown)}")
        if CCUSAGE.exists():
            runs = []
            for _ in range(args.runs):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                started = time.perf_counter()
                subprocess.run(
                    [str(CCUSAGE), "claude", "daily", "--json", "--offline"],
                    env=env,
                    capture_output=True,
                    check=True,
                )
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
                runs.append((time.perf_counter() - started, cpu))
            print(f"ccusage claude daily (Claude Code's logs only): {_figures(runs)}")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
