"""`mahavishnu usage statusline` as Claude Code's statusLine runs it after every turn: the console
script with the session's JSON on stdin, warm (its summary fresh), beside a bare `python -c pass`.

    python benchmarks/usage_statusline.py           # 40 runs each
    python benchmarks/usage_statusline.py --runs 100

Prints median and p95 wall milliseconds of each. Issue 49 asks p95 <= 50 ms warm.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from usage import write_logs


def _times(command: list[str], env: dict[str, str], stdin: str, runs: int) -> list[float]:
    found = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, env=env, input=stdin, capture_output=True, text=True, check=True)
        found.append((time.perf_counter() - started) * 1000)
    return found


def _row(name: str, values: list[float]) -> None:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(f"  {name:<44} median {statistics.median(ordered):6.1f} ms  p95 {p95:6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="usage-statusline-"))
    try:
        write_logs(home, 20_000, 2_000)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "MAHAVISHNU_HOME": str(home / ".mahavishnu"),
            "LANG": "C.UTF-8",
        }
        script = shutil.which("mahavishnu") or sys.exit("the mahavishnu console script is not on PATH")
        stdin = json.dumps(
            {"session_id": "s0", "model": {"id": "claude-sonnet-4-5", "display_name": "Sonnet"}}
        )
        subprocess.run([script, "usage", "statusline", "--refresh"], env=env, check=True)
        print("warm (a fresh summary), 20,000 Claude Code messages in the logs:")
        _row("python -c pass", _times([sys.executable, "-c", "pass"], env, "", args.runs))
        _row("mahavishnu usage statusline", _times([script, "usage", "statusline"], env, stdin, args.runs))
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
