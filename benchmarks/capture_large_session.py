"""What the capture hook costs on a long session: a Claude Code transcript of ``--mb`` MB (mostly
tool results, as long agentic sessions are), captured as the Stop hook's detached import does it
(``MAHAVISHNU_CAPTURE=detached mahavishnu memory import --tool claude -``, the daemon off), first
whole, then after each of a few more turns. Wall time and the child's peak resident memory.

    python benchmarks/capture_large_session.py [--mb 300] [--stops 3]

Issue 33 measured the old whole-file read at 1.4 s and 985 MB at every Stop of a 300 MB session.
A capture now reads from where the last one stopped, in 16 MiB pieces.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BLOB = "x" * 60_000  # one tool result's output


def line(n: int, session: str) -> str:
    if n % 50 == 0:  # now and then a real turn
        role = "user" if n % 100 == 0 else "assistant"
        text = f"turn {n}: we keep the retry policy for service {n} in config/retries.toml"
        content: object = text if role == "user" else [{"type": "text", "text": text}]
    else:
        role, content = "user", [{"type": "tool_result", "tool_use_id": f"t{n}", "content": BLOB}]
    entry = {"type": role, "uuid": f"u{n}", "sessionId": session, "cwd": "/work/shop",
             "message": {"role": role, "content": content}}  # fmt: skip
    return json.dumps(entry) + "\n"


def write_session(path: Path, megabytes: int, session: str) -> int:
    n = 0
    with path.open("w") as out:
        while out.tell() < megabytes * 1_000_000:
            out.write(line(n, session))
            n += 1
    return n


def capture(env: dict[str, str], transcript: Path) -> tuple[float, float]:
    payload = json.dumps({"hook_event_name": "Stop", "session_id": "s", "transcript_path": str(transcript)})
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "mahavishnu", "memory", "import", "--tool", "claude", "-"],
        input=payload, env=env, capture_output=True, text=True, check=False, timeout=1800,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest child so far (KiB)
    return seconds, max(peak, before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=300)
    parser.add_argument("--stops", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        env = {**os.environ, "HOME": tmp, "MAHAVISHNU_HOME": f"{tmp}/.mahavishnu", "MAHAVISHNU_DAEMON": "off",
               "MAHAVISHNU_CAPTURE": "detached"}  # fmt: skip
        transcript = home / ".claude" / "projects" / "-work-shop" / "s.jsonl"
        transcript.parent.mkdir(parents=True)
        lines = write_session(transcript, args.mb, "s")
        size = transcript.stat().st_size / 1e6
        seconds, peak = capture(env, transcript)
        print(
            f"first capture of a {size:.0f} MB session ({lines:,} lines): "
            f"{seconds:.1f} s, peak RSS {peak:.0f} MB"
        )
        for stop in range(1, args.stops + 1):
            with transcript.open("a") as out:
                out.write(line(lines, "s") + line(lines + 50, "s"))
            lines += 2
            seconds, _ = capture(env, transcript)
            print(f"Stop {stop} (2 new lines): {seconds:.2f} s")
        print("(peak RSS is the largest of the captures so far: the first one's)")


if __name__ == "__main__":
    main()
