"""Peak memory of `mahavishnu usage` on a hostile log: one Claude Code session file of ~1 GB made of
4 MB lines that each hold a usage record (a pasted image per message, say), and the same report
with every kind of bad line mixed in (NaN and int64-max counts, a year-1 timestamp, a line nested
100,000 deep, control characters in the model name).

    python benchmarks/usage_hostile.py              # 1 GB, cold report, peak RSS and seconds
    python benchmarks/usage_hostile.py --mb 256

Prints the log's size, the report's wall seconds and its peak RSS (the child's ru_maxrss), and
how many lines it skipped. Issue 49 asks RSS <= 200 MB whatever the file sizes.
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

LINE_BYTES = 4 * 1024 * 1024


def _line(n: int, *, model: str = "claude-sonnet-4-5", count: object = 1000, when: str = "") -> bytes:
    entry = {
        "type": "assistant",
        "sessionId": "big",
        "cwd": "/home/dev/src/shop",
        "requestId": f"req_{n}",
        "timestamp": when or f"2026-01-{1 + n % 28:02d}T10:00:00.000Z",
        "message": {
            "id": f"msg_{n}",
            "model": model,
            "usage": {"input_tokens": 0, "output_tokens": 10},
            "content": [{"type": "text", "text": ""}],
        },
    }
    raw = json.dumps(entry, separators=(",", ":"))
    raw = raw.replace('"input_tokens":0', f'"input_tokens":{count}')
    pad = LINE_BYTES - len(raw) - 1
    return raw.replace('"text":""', '"text":"' + "x" * max(0, pad - 2) + '"').encode() + b"\n"


def _hostile() -> list[bytes]:
    return [
        _line(10**6, count="NaN"),
        _line(10**6 + 1, count=2**63 - 1),
        _line(10**6 + 2, when="0001-01-01T00:00:00Z"),
        b'{"usage":' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
        _line(10**6 + 3, model="evil\x1b]0;pwned\x07\r\nrow"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=int, default=1024, help="size of the log (MB)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mahavishnu-usage-hostile-") as tmp:
        home = Path(tmp)
        folder = home / ".claude" / "projects" / "-home-dev-src-shop"
        folder.mkdir(parents=True)
        log = folder / "big.jsonl"
        lines = args.mb * 1024 * 1024 // LINE_BYTES
        with log.open("wb") as handle:
            for n in range(lines):
                handle.write(_line(n))
                if n % max(1, lines // 5) == 0:
                    handle.write(_hostile()[n * 5 // lines % 5])
        env = {
            **os.environ,
            "HOME": str(home),
            "MAHAVISHNU_HOME": str(home / ".mahavishnu"),
            "XDG_CACHE_HOME": str(home / ".cache"),
        }
        for name in ("CLAUDE_CONFIG_DIR", "CODEX_HOME", "QWEN_HOME", "GEMINI_CLI_HOME"):
            env.pop(name, None)
        command = [sys.executable, "-m", "mahavishnu", "usage", "daily", "--tool", "claude", "--json"]
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if done.returncode != 0:
            sys.exit(f"usage failed ({done.returncode}): {done.stderr.strip()}")
        report = json.loads(done.stdout)
        print(f"log: {log.stat().st_size / 2**20:,.0f} MB in {lines + 5} lines of ~4 MB")
        print(f"usage daily --tool claude --json: {wall:.1f} s wall, peak RSS {peak_mb:,.0f} MB")
        print(
            f"requests {report['totals']['requests']:,}, input tokens {report['totals']['input_tokens']:,}, "
            f"skipped lines {report['skipped_lines']}"
        )


if __name__ == "__main__":
    main()
