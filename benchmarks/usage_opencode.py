"""`mahavishnu usage --tool opencode` beside `ccusage opencode daily` on a large OpenCode database:
the real OpenCode 1.18.33 schema (the test fixture's database) filled with N assistant messages
(user messages between them, a prompt's worth of parts each) in a temp HOME. In one run:

* ccusage's time (`ccusage opencode daily --json --offline`, when installed);
* ours cold (our ledger deleted: every row read), warm (nothing new: the database is not opened),
  and after 1,000 replies were added (only the rows updated since the last read are read);
* our peak RSS (the database is read a piece of rows at a time).

With ``--storage-files N``, OpenCode 0.6-1.1's older storage instead (no database): N message
files, ``storage/message/<session>/<message>.json`` as those versions wrote them (indented, a
prompt then its reply, 50 to a session, one session in 6 a subagent's), with each session's file
under ``storage/session/<project>/``; ccusage and ours cold (our cache deleted) and warm, median
and p95 of ``--runs`` each, wall and CPU, the reports' token totals beside each other.

    python benchmarks/usage_opencode.py                       # 100,000 replies
    python benchmarks/usage_opencode.py --messages 400000
    CCUSAGE=/tmp/ccu/node_modules/.bin/ccusage python benchmarks/usage_opencode.py --storage-files 6000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stats import timed_command

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "usage" / "fixtures" / "pi-opencode-home" / ".local/share/opencode/opencode.db"
CCUSAGE = Path(os.environ.get("CCUSAGE", REPO / ".e2e-tools" / "node_modules" / ".bin" / "ccusage"))
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
                "tokens": _tokens(rng),
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


PROJECT = "4f8a1c0e9b2d7f3a6c5e8d1b0a9f2e7c4d3b6a5f"
PER_SESSION = 50  # message files (a prompt, then its reply) to a session


def fill_storage(storage: Path, files: int) -> None:
    """``files`` message files of OpenCode 1.1's ``storage/`` (half prompts, half replies) in
    sessions of ``PER_SESSION``, each session's file beside them; one session in 6 a subagent's
    (its file names the session before it as its ``parentID``)."""
    rng = random.Random(files)
    for n in range(0, files, 2):
        session = f"ses_bench{n // PER_SESSION:08d}"
        at = START_MS + n * 150_000
        folder = storage / "message" / session
        if n % PER_SESSION == 0:
            folder.mkdir(parents=True)
            info: dict[str, object] = {
                "id": session,
                "slug": "quiet-lynx",
                "version": "1.1.48",
                "projectID": PROJECT,
                "directory": "/home/dev/src/shop",
                "title": "t",
                "time": {"created": at, "updated": at},
            }
            if n // PER_SESSION % 6 == 5:
                info["parentID"] = f"ses_bench{n // PER_SESSION - 1:08d}"
            _write(storage / "session" / PROJECT / f"{session}.json", info)
        provider, model = rng.choice(MODELS)
        prompt = f"msg_u{n:09d}"
        _write(
            folder / f"{prompt}.json",
            {
                "id": prompt,
                "sessionID": session,
                "role": "user",
                "time": {"created": at},
                "agent": "build",
                "model": {"providerID": provider, "modelID": model},
            },
        )
        if n + 1 >= files:
            break
        reply = f"msg_a{n:09d}"
        _write(
            folder / f"{reply}.json",
            {
                "id": reply,
                "sessionID": session,
                "role": "assistant",
                "time": {"created": at + 1000, "completed": at + 9000},
                "parentID": prompt,
                "modelID": model,
                "providerID": provider,
                "mode": "build",
                "agent": "build",
                "path": {"cwd": "/home/dev/src/shop", "root": "/home/dev/src/shop"},
                "cost": 0,
                "tokens": _tokens(rng),
                "finish": "stop",
            },
        )


def _tokens(rng: random.Random) -> dict[str, object]:
    """A reply's ``tokens``, as OpenCode records them (reasoning apart from output)."""
    return {
        "input": rng.randint(10, 5000),
        "output": rng.randint(10, 3000),
        "reasoning": rng.choice((0, 0, rng.randint(0, 2000))),
        "cache": {"read": rng.randint(0, 90000), "write": rng.choice((0, rng.randint(0, 8000)))},
    }


def _write(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2))  # (as OpenCode's JSON.stringify(value, null, 2))


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


def _row(name: str, runs: list[tuple[float, float, str]], files: int) -> None:
    walls, cpus = sorted(r[0] for r in runs), sorted(r[1] for r in runs)
    p95 = walls[min(len(walls) - 1, round(0.95 * (len(walls) - 1)))]
    median = statistics.median(walls)
    print(
        f"  {name:<44} median {median:5.2f} s  p95 {p95:5.2f} s  CPU {statistics.median(cpus):5.2f} s"
        f"  {files / median:8,.0f} files/s",
        flush=True,
    )


TOTALS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens", "requests")


def measure_storage(home: Path, env: dict[str, str], files: int, runs: int) -> None:
    """ccusage and ours on ``files`` message files of the older storage: cold and warm."""
    import compileall

    import mahavishnu  # (the tree the runs import: PYTHONPATH's)

    # bytecode as an install has it (with PYTHONDONTWRITEBYTECODE set, each run compiles it again)
    compileall.compile_dir(Path(mahavishnu.__file__).parent, quiet=1)
    fill_storage(home / ".local" / "share" / "opencode" / "storage", files)
    print(f"OpenCode 1.1 storage: {files:,} message files in {-(-files // PER_SESSION):,} sessions")
    print(f"  load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; ours: {mahavishnu.__file__}")
    ours = [sys.executable, "-m", "mahavishnu", "usage", "daily", "--tool", "opencode", "--json"]
    cold = []
    for _ in range(runs):
        shutil.rmtree(home / ".mahavishnu" / "cache", ignore_errors=True)
        cold.append(timed_command(ours, env))
    warm = [timed_command(ours, env) for _ in range(runs)]
    totals = json.loads(cold[0][2])["totals"]
    print(f"  our totals: { {k: totals[k] for k in TOTALS} }")
    if CCUSAGE.exists():
        command = [str(CCUSAGE), "opencode", "daily", "--json", "--offline"]
        theirs = [timed_command(command, env) for _ in range(runs)]
        _row("ccusage opencode daily --json --offline", theirs, files)
        print(f"  ccusage's totals: {json.loads(theirs[0][2]).get('totals')}")
    else:
        print(f"  ccusage not found at {CCUSAGE} (--ccusage PATH, or CCUSAGE=PATH)")
    _row("cold: mahavishnu usage daily --tool opencode", cold, files)
    _row("warm: mahavishnu usage daily --tool opencode", warm, files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--storage-files", type=int, default=0, help="the older storage's files instead")
    parser.add_argument("--runs", type=int, default=5, help="runs of each (--storage-files)")
    parser.add_argument("--ccusage", type=Path, help="ccusage's executable (or CCUSAGE=PATH)")
    args = parser.parse_args()
    global CCUSAGE
    CCUSAGE = args.ccusage or CCUSAGE
    home = Path(tempfile.mkdtemp(prefix="usage-opencode-bench-"))
    try:
        data = home / ".local" / "share" / "opencode"
        data.mkdir(parents=True)
        if args.storage_files:
            measure_storage(home, _env(home), args.storage_files, args.runs)
            return
        database = data / "opencode.db"
        shutil.copy(FIXTURE, database)
        fill(database, args.messages)
        env = _env(home)
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


def _env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "MAHAVISHNU_HOME": str(home / ".mahavishnu"),
        "MAHAVISHNU_DAEMON": "off",
    }


if __name__ == "__main__":
    main()
