"""A killed `db backup`/`db restore` on PostgreSQL leaves nothing behind: its pg_dump/pg_restore die
with it, the temporary file it was filling is private from its first byte, and the next run removes it.

A fake ``pg_dump`` on PATH (its ``--version`` newer than any real one) writes into ``--file`` and
sleeps; the command running it is killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mahavishnu.files import private_file
from mahavishnu.memory.ops import backup

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG)")

FAKE_PG_DUMP = """#!/bin/sh
if [ "$1" = "--version" ]; then echo "pg_dump (PostgreSQL) 999"; exit 0; fi
for arg in "$@"; do case "$arg" in --file=*) out="${arg#--file=}";; esac; done
echo "partial dump" > "$out"
echo $$ > "$PID_FILE"
exec sleep 60
"""

DRIVER = """
import sys
from pathlib import Path
from mahavishnu.files import private_file
from mahavishnu.memory.ops import backup
target = Path(sys.argv[1])
env = dict(__import__("os").environ)
private_file.write_whole(target, lambda tmp: backup._pg_dump("host=127.0.0.1", env, tmp))
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as proc:  # a zombie waiting for its reaper is dead too
        return proc.read().split(") ", 1)[1][0] != "Z"


def test_a_killed_dump_leaves_no_child_and_no_readable_temporary(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pg_dump").write_text(FAKE_PG_DUMP)
    (bin_dir / "pg_dump").chmod(0o755)
    pid_file = tmp_path / "pg_dump.pid"
    target = tmp_path / "out" / "store.dump"
    target.parent.mkdir()
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PID_FILE": str(pid_file),
        "PYTHONPATH": str(Path(backup.__file__).parents[2]),
    }
    old_umask = os.umask(0o022)
    try:
        driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(target)], env=env)
    finally:
        os.umask(old_umask)
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() or not pid_file.read_text().strip():
            assert driver.poll() is None and time.monotonic() < deadline, "the fake pg_dump never started"
            time.sleep(0.05)
        child = int(pid_file.read_text())
        [temporary] = list(target.parent.glob("store.dump.*.tmp"))
        assert stat.S_IMODE(temporary.stat().st_mode) == 0o600  # private while it is being written

        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        orphan = _alive(child)
    finally:
        if driver.poll() is None:
            driver.kill()
        if pid_file.exists() and _alive(child := int(pid_file.read_text())):
            os.kill(child, signal.SIGKILL)
    assert not orphan, "pg_dump outlived the killed command"

    private_file.write_whole(target, lambda tmp: tmp.write_bytes(b"a complete dump"))  # the next run

    assert sorted(p.name for p in target.parent.iterdir()) == ["store.dump"]
    assert target.read_bytes() == b"a complete dump"


RESTORE_DRIVER = """
import sys
from pathlib import Path
from mahavishnu.config import load_settings
from mahavishnu.memory.ops import backup
backup.restore(load_settings().memory, Path(sys.argv[1]))
"""

#: pg_restore as it is, but the script it writes for the restore itself drops the memories and
#: then waits (its output still open), as a long restore does halfway.
FAKE_PG_RESTORE = """#!/bin/sh
if [ "$1" = "--version" ]; then echo "pg_restore (PostgreSQL) 999"; exit 0; fi
case " $* " in *" --clean "*)
    echo "DROP TABLE IF EXISTS public.memories CASCADE;"
    echo $$ > "$PID_FILE"
    exec sleep 60;;
esac
exec {real} "$@"
"""


def test_a_killed_restore_leaves_the_store_as_it_was(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pg_dsn: str
) -> None:
    """psql runs pg_restore's script in a transaction whose COMMIT it reads last: with the restore
    killed halfway (its memories dropped, in that transaction), psql ends without it and nothing
    is committed. (``psql --single-transaction`` would commit what it read at the end of its input.)"""
    psycopg = pytest.importorskip("psycopg")
    from mahavishnu.config import load_settings
    from mahavishnu.memory.core.embedders.fake import FakeEmbedder
    from mahavishnu.memory.core.store import MemoryStore

    monkeypatch.setenv("MAHAVISHNU_MEMORY__BACKEND", "postgres")
    monkeypatch.setenv("MAHAVISHNU_MEMORY__DSN", pg_dsn)
    with MemoryStore.open(embedder=FakeEmbedder()) as store:
        kept = [store.store(f"kept note {i}").id for i in range(3)]
    backup.backup(load_settings().memory, tmp_path / "old.backup")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "pg_restore"
    fake.write_text(FAKE_PG_RESTORE.format(real=backup.pg_tool_path("pg_restore")))
    fake.chmod(0o755)
    pid_file = tmp_path / "pg_restore.pid"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PID_FILE": str(pid_file),
        "PYTHONPATH": str(Path(backup.__file__).parents[3]),
    }
    dropped = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE state = 'idle in transaction' AND query LIKE 'DROP TABLE%'"
    )
    with psycopg.connect(pg_dsn, autocommit=True) as watcher:
        driver = subprocess.Popen(
            [sys.executable, "-c", RESTORE_DRIVER, str(tmp_path / "old.backup")], env=env
        )
        try:
            deadline = time.monotonic() + 60
            while not watcher.execute(dropped).fetchone()[0]:
                assert driver.poll() is None and time.monotonic() < deadline, "the restore never dropped"
                time.sleep(0.05)
            driver.send_signal(signal.SIGKILL)
            driver.wait(timeout=10)
            deadline = time.monotonic() + 10
            while watcher.execute(dropped).fetchone()[0] and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            if driver.poll() is None:
                driver.kill()
            if pid_file.exists() and _alive(child := int(pid_file.read_text())):
                os.kill(child, signal.SIGKILL)
        rows = [r[0] for r in watcher.execute("SELECT id FROM public.memories ORDER BY id").fetchall()]
    assert rows == kept
