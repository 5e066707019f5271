"""`mahavishnu usage` beside ccusage over a year of heavy use: logs for the six assistants in a
temp HOME, in the shapes the pinned CLIs write (Claude Code's answers streamed as 1-3 lines that
repeat the message and request id, prompts and tool results between them, three models, 5-minute
and 1-hour cache writes, sidechains, resumed sessions that copy earlier lines; Codex token_count
events with cumulative totals; Qwen Code, Gemini CLI and Pi sessions; OpenCode's SQLite database).
In one run, at each ``--scale`` (1: 120,000 Claude Code messages, ~375 MB, and 20,000 requests of
each other assistant; 4: four times that), the same report of each, median and p95 of wall and
CPU seconds (CPU: ours counts the worker processes that read logs on every core):

* `ccusage claude daily --json --offline` vs `mahavishnu usage daily --tool claude --json`;
* `ccusage daily --json --offline` vs `mahavishnu usage daily --json` over the same five assistants
  (`--tool` each of Claude Code, Codex, Gemini CLI, Pi and OpenCode: ccusage does not read Qwen
  Code's logs), and ours over all six beside it (more logs than ccusage reads);

ours cold (our ledger deleted: every log read) and warm (nothing new), with the ratio to ccusage;
then 1,000 messages appended to a live session file (only they are read).

    python benchmarks/usage.py                          # scale 1 then 4 (a few minutes)
    python benchmarks/usage.py --scale 4 --runs 2       # 480,000 Claude Code messages only
    python benchmarks/usage.py --claude-messages 20000 --others 2000 --scale 1 --runs 1  # a look
    python benchmarks/usage.py --scale 1 --runs 7 --alternate   # ccusage and ours cold in turn
    python benchmarks/usage.py --claude-messages 20000 --others 0 --session-messages 1 --scale 1  # 20k files

Issue 49 asks cold <= ccusage's time, warm <= a third of it, the append <= 50 ms more.
`PYTHONPATH=other/src python benchmarks/usage.py` measures another tree (a commit's `git archive`:
the figures before a change). Wall time counts whatever else the machine runs; CPU does not.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stats import timed_command
from usage_opencode import FIXTURE as OPENCODE_FIXTURE
from usage_opencode import fill as fill_opencode

REPO = Path(__file__).resolve().parents[1]
CCUSAGE = REPO / ".e2e-tools" / "node_modules" / ".bin" / "ccusage"
START = 1_767_225_600  # 2026-01-01
#: The assistants whose logs `ccusage daily` reads (not Qwen Code's).
CCUSAGE_READS = ("claude", "codex", "gemini", "pi", "opencode")
SESSION_MESSAGES = 200


def _json(value: object) -> str:
    """One log line as the assistants write it: compact JSON (ccusage's scanner expects
    ``"type":"assistant"``, and finds nothing in ``json.dumps``' default spacing)."""
    return json.dumps(value, separators=(",", ":"))


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))


MODELS = ("claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805", "claude-haiku-4-5-20251001")


def _claude(n: int, t: float, rng: random.Random) -> list[str]:
    """One exchange as Claude Code writes it: the user's prompt, the answer streamed as 1-3 lines
    that repeat the message and request id (one per content block, the same usage on each), and a
    tool result; a tenth are a subagent's (sidechain); cache writes to the 5-minute and 1-hour
    caches."""
    session = f"s{n // SESSION_MESSAGES}"
    common = {"cwd": "/home/dev/src/shop", "sessionId": session, "version": "2.1.197", "gitBranch": "main"}
    five, hour = rng.randint(0, 6000), rng.randint(0, 6000) if rng.random() < 0.3 else 0
    usage = {
        "input_tokens": rng.randint(1, 5000),
        "cache_creation_input_tokens": five + hour,
        "cache_read_input_tokens": rng.randint(0, 90000),
        "output_tokens": rng.randint(1, 3000),
        "service_tier": "standard",
        "cache_creation": {"ephemeral_5m_input_tokens": five, "ephemeral_1h_input_tokens": hour},
    }
    sidechain = rng.random() < 0.1
    prompt = {
        **common,
        "isSidechain": sidechain,
        "type": "user",
        "uuid": f"p{n}",
        "timestamp": _stamp(t - 5),
        "message": {
            "role": "user",
            "content": "Please fix the failing test in " + "tests/x.py " * rng.randint(5, 30),
        },
    }
    lines = [_json(prompt)]
    for block in range(rng.randint(1, 3)):
        content = (
            {"type": "text", "text": "Done. " * rng.randint(10, 60)}
            if block == 0
            else {"type": "tool_use", "id": f"t{n}_{block}", "name": "Edit", "input": {"patch": "+x\n" * 100}}
        )
        answer = {
            **common,
            "parentUuid": f"p{n}",
            "isSidechain": sidechain,
            "userType": "external",
            "message": {
                "id": f"msg_{n}",
                "type": "message",
                "role": "assistant",
                "model": MODELS[n % 3],
                "content": [content],
                "stop_reason": None,
                "usage": usage,
            },
            "requestId": f"req_{n}",
            "type": "assistant",
            "uuid": f"u{n}_{block}",
            "timestamp": _stamp(t),
        }
        lines.append(_json(answer))
    result = {
        **common,
        "type": "user",
        "uuid": f"r{n}",
        "timestamp": _stamp(t + 1),
        "message": {
            "role": "user",
            "content": [{"type": "tool_result", "content": "ok\n" * rng.randint(30, 190)}],
        },
        "toolUseResult": {"stdout": "passed"},
    }
    lines.append(_json(result))
    return lines


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


def _pi(n: int, t: float, rng: random.Random) -> list[str]:
    """A prompt and Pi's reply (the provider and model it was sent to, the provider's response id)."""
    stamp = _stamp(t)
    prompt = {
        "type": "message",
        "id": f"u{n:x}",
        "parentId": None,
        "timestamp": stamp,
        "message": {"role": "user", "content": [{"type": "text", "text": "Continue."}]},
    }
    fresh, output = rng.randint(100, 20000), rng.randint(10, 3000)
    reply = {
        "type": "message",
        "id": f"a{n:x}",
        "parentId": f"u{n:x}",
        "timestamp": stamp,
        "message": {
            "role": "assistant",
            "content": [{"type": "text", "text": "Done. " * 20}],
            "api": "openai-completions",
            "provider": "openai",
            "model": "gpt-5",
            "usage": {
                "input": fresh,
                "output": output,
                "cacheRead": 0,
                "cacheWrite": 0,
                "totalTokens": fresh + output,
                "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0, "total": 0},
            },
            "stopReason": "stop",
            "responseId": f"chatcmpl-{n}",
        },
    }
    return [_json(prompt), _json(reply)]


def write_logs(home: Path, claude: int, others: int, seed: int = 7) -> None:
    """``claude`` exchanges of Claude Code and ``others`` requests of each of Codex, Qwen Code,
    Gemini CLI, Pi and OpenCode over a year, in sessions of ``SESSION_MESSAGES``; every tenth
    Claude Code session is a resumed one that starts with a copy of the one before's first lines."""
    rng = random.Random(seed)
    year = 365 * 86400
    before: list[str] = []
    for n in range(0, claude, SESSION_MESSAGES):
        times = sorted(START + rng.random() * year for _ in range(min(SESSION_MESSAGES, claude - n)))
        lines = [line for i, t in enumerate(times) for line in _claude(n + i, t, rng)]
        s = n // SESSION_MESSAGES
        copied = before[:150] if s % 10 == 9 else []
        _append(home / f".claude/projects/-home-dev-src-shop/s{s}.jsonl", copied + lines)
        before = lines
    for n in range(0, others, SESSION_MESSAGES):
        times = sorted(START + rng.random() * year for _ in range(min(SESSION_MESSAGES, others - n)))
        s = n // SESSION_MESSAGES
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
        pi_session = {"type": "session", "version": 3, "id": f"p{s}", "timestamp": _stamp(times[0])}
        _append(
            home / f".pi/agent/sessions/--home-dev-src-shop--/2026-01-01T00-00-00-000Z_p{s}.jsonl",
            [_json({**pi_session, "cwd": "/home/dev/src/shop"})]
            + [line for i, t in enumerate(times) for line in _pi(n + i, t, rng)],
        )
    if others:
        (home / ".gemini/tmp/shop/.project_root").write_text("/home/dev/src/shop")
        database = home / ".local/share/opencode/opencode.db"
        database.parent.mkdir(parents=True)
        shutil.copy(OPENCODE_FIXTURE, database)
        fill_opencode(database, others)


def _append(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def _median_p95(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _row(name: str, runs: list[tuple[float, float]], anchor: float | None = None) -> float:
    wall, cpu = _median_p95([w for w, _ in runs]), _median_p95([c for _, c in runs])
    ratio = f"  {wall[0] / anchor:.2f}x ccusage" if anchor else ""
    print(
        f"  {name:<34} median {wall[0]:6.2f} s  p95 {wall[1]:6.2f} s  CPU {cpu[0]:6.2f} s{ratio}",
        flush=True,
    )
    return wall[0]


def _compare(
    home: Path,
    env: dict[str, str],
    ours: list[str],
    theirs: list[str] | float | None,
    runs: int,
    alternate: bool = False,
) -> float | None:
    """ccusage's report and ours on the same logs: cold (our ledger deleted) and warm. ``theirs``:
    ccusage's arguments, or its time measured already (None: none). ccusage's time. ``alternate``:
    ccusage and our cold report in turn (else ccusage's runs first)."""
    anchor = theirs if not isinstance(theirs, list) else None
    command = [sys.executable, "-m", "mahavishnu", *ours]
    theirs_runs: list[tuple[float, float]] = []
    cold = []
    for _ in range(runs):  # in turn when alternating: what one leaves behind (pages to write) is the other's
        if isinstance(theirs, list) and CCUSAGE.exists() and (alternate or not theirs_runs):
            ccusage = [str(CCUSAGE), *theirs]
            theirs_runs += [timed_command(ccusage, env)[:2] for _ in range(1 if alternate else runs)]
        shutil.rmtree(home / ".mahavishnu" / "cache", ignore_errors=True)
        cold.append(timed_command(command, env)[:2])
    if isinstance(theirs, list) and theirs_runs:
        anchor = _row("ccusage " + " ".join(theirs), theirs_runs)
    _row("cold: mahavishnu " + " ".join(ours), cold, anchor)
    _row("warm: mahavishnu " + " ".join(ours), [timed_command(command, env)[:2] for _ in range(runs)], anchor)
    return anchor


def main() -> None:
    global SESSION_MESSAGES  # (the writers' session size, for this run)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, nargs="+", default=[1, 4], help="sizes to measure (1: 120k)")
    parser.add_argument("--claude-messages", type=int, default=120_000, help="at scale 1")
    parser.add_argument(
        "--others", type=int, default=20_000, help="requests of each other assistant, at scale 1"
    )
    parser.add_argument(
        "--session-messages",
        type=int,
        default=200,
        help="exchanges a session file (1: a file a request, as many small subagents' files)",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--alternate",
        action="store_true",
        help="time ccusage and our cold report in turn (ccusage's time moves with what ran before it)",
    )
    args = parser.parse_args()
    SESSION_MESSAGES = max(1, args.session_messages)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for scale in args.scale:
        measure(args.claude_messages * scale, args.others * scale, args.runs, args.alternate)


def measure(claude_messages: int, others: int, runs: int, alternate: bool = False) -> None:
    """Both reports, cold and warm, then an append, at one size."""
    home = Path(tempfile.mkdtemp(prefix="usage-bench-"))
    try:
        write_logs(home, claude_messages, others)
        claude = sum(p.stat().st_size for p in (home / ".claude").rglob("*.jsonl"))
        size = sum(p.stat().st_size for p in home.rglob("*") if p.is_file())
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "MAHAVISHNU_HOME": str(home / ".mahavishnu"),
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            # another tree to measure (PYTHONPATH=that/src): the figures before a change
            **({"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}),
        }
        print(
            f"Claude Code: {claude_messages:,} messages, {claude / 1e6:.0f} MB; "
            f"all six assistants ({others:,} requests of each other): {size / 1e6:.0f} MB"
        )
        json_flags = ["--json", "--offline"]
        print("Claude Code only:")
        _compare(
            home,
            env,
            ["usage", "daily", "--tool", "claude", "--json"],
            ["claude", "daily", *json_flags],
            runs,
            alternate,
        )
        print("every assistant ccusage reads (all but Qwen Code), like for like:")
        five = [flag for tool in CCUSAGE_READS for flag in ("--tool", tool)]
        anchor = _compare(
            home, env, ["usage", "daily", *five, "--json"], ["daily", *json_flags], runs, alternate
        )
        print("all six assistants (ours reads Qwen Code's logs too; ccusage's time as above):")
        _compare(home, env, ["usage", "daily", "--json"], anchor, runs)
        command = [sys.executable, "-m", "mahavishnu", "usage", "daily", "--json"]
        warm, grown = [], []
        rng = random.Random(11)
        live = home / ".claude/projects/-home-dev-src-shop/s0.jsonl"
        for run in range(runs + 1):  # (the first makes the index of key checksums: apart)
            # in turn: each append beside a warm report of its time
            warm.append(timed_command(command, env)[:2])
            extra = [line for i in range(1000) for line in _claude(10**9 + run * 10**6 + i, START + 100, rng)]
            _append(live, extra)
            grown.append(timed_command(command, env)[:2])
        print("1,000 messages appended to a live session, then the every-assistant report:")
        _row("warm, nothing new", warm[1:])
        _row("after the append", grown[1:])
        costs = [after[0] - before[0] for before, after in zip(warm[1:], grown[1:], strict=True)]
        cost, worst = _median_p95(costs)
        print(f"  the append costs {1000 * cost:.0f} ms (median of each append's; p95 {1000 * worst:.0f})")
        print(f"  the first append after the first read: {grown[0][0] - warm[0][0]:.2f} s more", flush=True)
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
