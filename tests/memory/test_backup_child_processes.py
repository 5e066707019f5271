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
