"""`mahavishnu usage --tool opencode` beside `ccusage opencode daily` on a large OpenCode database:
the real OpenCode 1.18.33 schema (the test fixture's database) filled with N assistant messages
(user messages between them, a prompt's worth of parts each) in a temp HOME. In one run:

* ccusage's time (`ccusage opencode daily --json --offline`, when installed);
* ours cold (our ledger deleted: every row read), warm (nothing new: the database is not opened),
  and after 1,000 replies were added (only the rows updated since the last read are read);
* our peak RSS (the database is read a piece of rows at a time).

    python benchmarks/usage_opencode.py                       # 100,000 replies
    python benchmarks/usage_opencode.py --messages 400000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "usage" / "fixtures" / "pi-opencode-home" / ".local/share/opencode/opencode.db"
CCUSAGE = REPO / ".e2e-tools" / "node_modules" / ".bin" / "ccusage"
START_MS = 1_767_225_600_000  # 2026-01-01
MODELS = [("anthropic", "claude-sonnet-4-5"), ("openai", "gpt-5"), ("lab", "qwen3-coder-plus")]


def fill(database: Path, replies: int, first: int = 0) -> None:
    """``replies`` assistant messages (and a user message before each) in one session per 50."""
    rng = random.Random(first)
    with closing(sqlite3.connect(database, isolation_level=None)) as db:
        db.execute("PRAGMA journal_mode = WAL")
        project = db.execute("SELECT id FROM project LIMIT 1").fetchone()[0]
        db.execute("BEGIN")
        for n in range(first, first + replies):
            at = START_MS + n * 300_000  # one every 5 minutes
            session = f"ses_bench{n // 50:08d}"
            if n % 50 == 0:
                db.execute(
                    "INSERT OR IGNORE INTO session (id, project_id, slug, directory, title, version,"
                    " time_created, time_updated)"
                    " VALUES (?, ?, 's', '/home/dev/src/shop', 't', '1.18.33', ?, ?)",
                    (session, project, at, at),
                )
            provider, model = rng.choice(MODELS)
            user = {"role": "user", "time": {"created": at}, "agent": "build"}
            reply = {
                "parentID": f"msg_u{n:09d}",
                "role": "assistant",
                "mode": "build",
                "agent": "build",
                "path": {"cwd": "/home/dev/src/shop", "root": "/"},
                "cost": 0,
                "tokens": {
                    "input": rng.randint(10, 5000),
                    "output": rng.randint(10, 3000),
                    "reasoning": rng.choice((0, 0, rng.randint(0, 2000))),
                    "cache": {"read": rng.randint(0, 90000), "write": rng.choice((0, rng.randint(0, 8000)))},
                },
                "modelID": model,
                "providerID": provider,
                "time": {"created": at + 1000, "completed": at + 9000},
                "finish": "stop",
            }
            for mid, data, when in ((f"msg_u{n:09d}", user, at), (f"msg_a{n:09d}", reply, at + 9000)):
                db.execute(
                    "INSERT INTO message (id, session_id, time_created, time_updated, data)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (mid, session, when, when, json.dumps(data)),
                )
        db.execute("COMMIT")


def ours(env: dict[str, str]) -> tuple[float, dict[str, int]]:
    started = time.perf_counter()
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("mahavishnu")), "usage", "daily", "--tool", "opencode", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    took = time.perf_counter() - started
    totals = json.loads(proc.stdout)["totals"]
    return took, {k: totals[k] for k in ("input_tokens", "output_tokens", "cache_read_tokens", "requests")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="usage-opencode-bench-"))
    try:
        data = home / ".local" / "share" / "opencode"
        data.mkdir(parents=True)
        database = data / "opencode.db"
        shutil.copy(FIXTURE, database)
        fill(database, args.messages)
        env = {
            **os.environ,
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "MAHAVISHNU_HOME": str(home / ".mahavishnu"),
            "MAHAVISHNU_DAEMON": "off",
        }
        size = sum(p.stat().st_size for p in data.iterdir()) / 2**20
        print(f"OpenCode database: {args.messages:,} replies, {size:.0f} MB")
        if CCUSAGE.exists():
            started = time.perf_counter()
            subprocess.run(
                [str(CCUSAGE), "opencode", "daily", "--json", "--offline"],
                env=env,
                capture_output=True,
                check=True,
            )
            print(f"ccusage opencode daily --json --offline: {time.perf_counter() - started:.2f} s")
        cold, totals = ours(env)
        print(f"mahavishnu usage daily --tool opencode --json, cold: {cold:.2f} s  {totals}")
        warm, _ = ours(env)
        print(f"  warm (nothing new): {warm:.2f} s")
        fill(database, 1000, first=args.messages)
        grown, totals = ours(env)
        print(f"  after 1,000 replies added: {grown:.2f} s  {totals}")
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"  peak RSS of our runs: {peak:.0f} MB")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
