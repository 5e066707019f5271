"""Regenerate ``tests/usage/fixtures/pi-opencode-home/``: the sessions the real pinned Pi and
OpenCode write against the loopback mock (``tests/e2e/usage_mock.py``) with varied usage figures.

    python tests/usage/make_pi_opencode_fixtures.py  # needs .ci/install-e2e.sh's CLIs; not your HOME

Pi: Claude Sonnet through its built-in ``anthropic`` provider pointed at the mock, GPT-5 through
``openai`` (so Pi records its own list-price cost), then a custom ``lab`` provider (its cost 0, as
Pi records a model with no ``cost``), continued once (``-c``). OpenCode: Claude Sonnet through
``anthropic``, then ``gpt-5`` through a custom ``lab`` provider (``@ai-sdk/openai-compatible``,
no cost: OpenCode records 0), each run also asking a small model for the session's title (a
request OpenCode does not record). The temp HOME's path is replaced by ``/home/dev``; OpenCode's
database is copied whole into one file (its WAL folded in) with the same replacement.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from contextlib import closing
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
OUT = HERE / "fixtures" / "pi-opencode-home"
KEY = "sk-usage-fixture-0123456789"
FIGURES = [
    (1200, 340, 5000, 20000),
    (800, 120, 0, 31000),
    (15, 7, 0, 0),
    (4100, 2210, 900, 0),
    (60, 9, 0, 70000),
]


def run(home: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    from _cli_env import run_cli
    from pi_opencode_config import OFFLINE

    proc = run_cli(args[0], args[1:], home, 180, {"MOCK_KEY": KEY, **OFFLINE}, cwd)
    if proc.returncode != 0:
        raise SystemExit(f"{args[:3]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc


def main() -> None:
    sys.path[:0] = [str(REPO / "tests" / "e2e")]
    from pi_opencode_config import opencode_config, pi_config
    from usage_mock import Figures, UsageMockLLM

    home = Path(tempfile.mkdtemp(prefix="usage-fixture-home-"))
    work = home / "src" / "shop"
    work.mkdir(parents=True)
    with UsageMockLLM([Figures(*f) for f in FIGURES]) as mock:
        pi_config(home, mock.base_url)
        run(home, ["pi", "-p", "Say hi."], work)
        run(home, ["pi", "-p", "--provider", "openai", "--model", "gpt-5", "Other model."], work)
        run(home, ["pi", "-p", "--provider", "lab", "--model", "qwen3-coder-plus", "Lab."], work)
        run(home, ["pi", "-p", "-c", "Continue."], work)
        opencode_config(home, mock.base_url, "anthropic/claude-sonnet-4-5")
        run(home, ["opencode", "run", "Say hi."], work)
        opencode_config(home, mock.base_url, "lab/gpt-5")
        run(home, ["opencode", "run", "Other model."], work)
        print("reported:", mock.reported)
    copy(home)
    shutil.rmtree(home, ignore_errors=True)


def copy(home: Path) -> None:
    """Pi's session files and OpenCode's database, with the temp HOME spelled /home/dev."""
    shutil.rmtree(OUT, ignore_errors=True)
    for path in home.glob(".pi/agent/sessions/*/*.jsonl"):
        relative = str(path.relative_to(home)).replace(str(home).replace("/", "-").lstrip("-"), "home-dev")
        target = OUT / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        text = path.read_text(encoding="utf-8").replace(str(home), "/home/dev")
        assert KEY not in text, f"the key leaked into {path}"
        target.write_text(text, encoding="utf-8")
        print(target.relative_to(REPO), len(text))
    source = home / ".local" / "share" / "opencode" / "opencode.db"
    target = OUT / ".local" / "share" / "opencode" / "opencode.db"
    target.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(source)) as db, closing(sqlite3.connect(target)) as copied:
        db.backup(copied)
    with closing(sqlite3.connect(target, isolation_level=None)) as db:
        db.execute("BEGIN")
        _respell(db, str(home), "/home/dev")
        db.execute("COMMIT")
        db.execute("PRAGMA journal_mode = DELETE")  # one file, no -wal or -shm beside it
        db.execute("VACUUM")
    assert KEY.encode() not in target.read_bytes(), "the key leaked into OpenCode's database"
    print(target.relative_to(REPO), os.path.getsize(target))


def _respell(db: sqlite3.Connection, old: str, new: str) -> None:
    """Every text value in every table with ``old`` spelled ``new``."""
    tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:
        for _, column, kind, *_ in db.execute(f'PRAGMA table_info("{table}")').fetchall():
            if kind.lower() == "text":
                db.execute(f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?)', (old, new))


if __name__ == "__main__":
    main()
