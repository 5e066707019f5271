"""A store on a read-only mount (issue 48, item 5): reads work (search, list, export, db check, db
status, the daemon's searches and recalls), a write says "on a read-only filesystem" and what to do.

A chmod does not stop root, and on a real read-only mount SQLite fails differently from a folder
without write permission ("unable to open database file", not "readonly"): so these tests mount a
real tmpfs and remount it read-only. That needs root (CAP_SYS_ADMIN); elsewhere they skip and say
so. The wording is also pinned without a mount, with ``statvfs`` answering read-only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mahavishnu.memory.core.backends import read_only
from mahavishnu.memory.core.store import MemoryStore


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30, check=False)


@pytest.fixture
def mount(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh tmpfs holding the store (memory.path), writable until ``_freeze``; the rest of the
    home stays writable, as for a store on a read-only data disk."""
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only filesystem needs root (CAP_SYS_ADMIN); not root here")
    point = Path(tempfile.mkdtemp(prefix="mahavishnu-ro-"))
    done = _mount("-t", "tmpfs", "-o", "size=64m,mode=0700", "tmpfs", str(point))
    if done.returncode != 0:
        point.rmdir()
        pytest.skip(f"this machine does not let root mount a tmpfs here: {done.stderr.strip()}")
    try:
        monkeypatch.setenv("MAHAVISHNU_MEMORY__PATH", str(point / "store" / "memory.db"))
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], capture_output=True, timeout=30, check=False)
        point.rmdir()


def _freeze(point: Path) -> None:
    done = _mount("-o", "remount,ro", str(point))
    assert done.returncode == 0, done.stderr
    assert read_only.on_read_only_filesystem(point / "store" / "memory.db")


def _fill(count: int = 3) -> list[int]:
    with MemoryStore.open() as store:  # the real local embedder, as the commands use
        return [
            store.store(f"Use PostgreSQL {16 + i} for the team store", "decision").id for i in range(count)
        ]


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mahavishnu", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


def _assert_read_only_error(proc: subprocess.CompletedProcess[str], point: Path) -> None:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("hint: "), proc.stderr
    assert lines[0].startswith(
        f"error: the store at {point / 'store' / 'memory.db'} is on a read-only filesystem"
    )
    assert f"mount -o remount,rw {point}" in lines[1] and "memory.path" in lines[1]


def test_every_read_works_and_a_write_says_read_only_filesystem(mount: Path, isolated_home: Path) -> None:
    ids = _fill()
    _freeze(mount)
    files = sorted(p.name for p in (mount / "store").iterdir())

    found = _run("memory", "search", "postgres team store", "--json")
    assert found.returncode == 0, found.stderr
    assert {hit["memory"]["id"] for hit in json.loads(found.stdout)} == set(ids)
    text = _run("memory", "search", "postgresql", "--mode", "text", "--json")
    assert text.returncode == 0 and len(json.loads(text.stdout)) == 3, text.stderr
    listed = _run("memory", "list", "--json")
    assert listed.returncode == 0 and len(json.loads(listed.stdout)) == 3, listed.stderr
    checked = _run("db", "check")
    assert checked.returncode == 0, checked.stderr
    assert "quick_check ok" in checked.stdout + checked.stderr
    assert f"on a read-only filesystem ({mount})" in checked.stderr and "damaged" not in checked.stdout
    status = _run("db", "status")
    assert status.returncode == 0, status.stderr
    assert "read-only: reads work, writes fail, on a read-only filesystem" in " ".join(status.stdout.split())
    exported = _run("memory", "export", str(isolated_home / "out.jsonl"))
    assert exported.returncode == 0, exported.stderr
    assert len((isolated_home / "out.jsonl").read_text().splitlines()) >= 3

    _assert_read_only_error(_run("memory", "store", "a new fact"), mount)
    _assert_read_only_error(_run("memory", "delete", str(ids[0])), mount)
    assert sorted(p.name for p in (mount / "store").iterdir()) == files


def test_a_large_index_is_built_in_memory_not_saved_beside_the_store(
    mount: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``memory.ann_threshold`` the vector index is saved to a sidecar beside the store: on a
    read-only mount the search keeps it in memory instead of failing on the write."""
    ids = _fill()
    _freeze(mount)
    monkeypatch.setenv("MAHAVISHNU_MEMORY__ANN_THRESHOLD", "1")
    found = _run("memory", "search", "postgres team store", "--json")
    assert found.returncode == 0 and "Traceback" not in found.stderr, found.stderr
    assert {hit["memory"]["id"] for hit in json.loads(found.stdout)} == set(ids)
    assert not list((mount / "store").glob("*.ann*"))


def test_the_daemon_answers_searches_and_recalls_from_a_read_only_store(
    mount: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mahavishnu.config import load_settings
    from mahavishnu.memory.loop import daemon
    from mahavishnu.services.supervisor import Supervisor

    ids = _fill()
    _freeze(mount)
    monkeypatch.setenv(daemon.DISABLE_ENV, "on")
    supervisor = Supervisor(load_settings())
    supervisor.start(daemon.SERVICE)
    try:
        answer = daemon.request("search", {"query": "postgres team store", "limit": 5}, timeout=30)
        assert answer is not None and answer["ok"], answer
        assert {hit["memory"]["id"] for hit in answer["result"]} == set(ids)
        prompt = {
            "session_id": "s1",
            "hook_event_name": "UserPromptSubmit",
            "cwd": os.getcwd(),
            "prompt": "which PostgreSQL version do we use for the team store?",
        }
        recalled = _run("memory", "context", "--tool", "claude", stdin=json.dumps(prompt))
        assert recalled.returncode == 0, recalled.stderr
        assert "Use PostgreSQL 1" in recalled.stdout
        # the capture hook: acknowledged at once, its outcome (the write refused) in the hook log
        session = Path.home() / ".claude" / "projects" / "-work" / "s1.jsonl"
        session.parent.mkdir(parents=True)
        turns = [("user", "Which database?"), ("assistant", "We decided to use PostgreSQL 18 for the team.")]
        session.write_text(
            "".join(
                json.dumps(
                    {
                        "type": role,
                        "sessionId": "s1",
                        "uuid": f"u{i}",
                        "cwd": os.getcwd(),
                        "timestamp": f"2026-11-24T10:00:0{i}Z",
                        "message": {"role": role, "content": text},
                    }
                )
                + "\n"
                for i, (role, text) in enumerate(turns)
            )
        )
        hook = {
            "session_id": "s1",
            "transcript_path": str(session),
            "hook_event_name": "Stop",
            "cwd": os.getcwd(),
        }
        captured = _run("memory", "import", "--tool", "claude", "-", stdin=json.dumps(hook))
        assert captured.returncode == 0 and captured.stderr == "", captured.stderr
        deadline = time.monotonic() + 60
        said = ""
        while "read-only filesystem" not in said and time.monotonic() < deadline:
            time.sleep(0.2)
            said = "".join(p.read_text() for p in Path(os.environ["MAHAVISHNU_HOME"]).rglob("*.log"))
        assert f"error: the store at {mount / 'store' / 'memory.db'} is on a read-only filesystem" in said
        assert "Traceback" not in said
    finally:
        supervisor.stop(daemon.SERVICE)


def test_the_wording_names_the_mount_and_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a mount: ``statvfs`` says read-only (as it does on one), the error says so."""
    store = tmp_path / "memory.db"
    store.write_bytes(b"")
    real = os.statvfs

    class ReadOnly:
        def __init__(self, path: object) -> None:
            self._real = real(path)  # type: ignore[arg-type]

        def __getattr__(self, name: str) -> object:
            return getattr(self._real, name)

        f_flag = os.ST_RDONLY

    monkeypatch.setattr(os, "statvfs", ReadOnly)
    error = read_only.read_only_error(store)
    mount = read_only.mount_point(store)
    assert str(error) == f"the store at {store} is on a read-only filesystem ({mount}): nothing was written"
    assert f"mount -o remount,rw {mount}" in (error.hint or "")
    monkeypatch.setattr(os, "statvfs", real)
    assert "chmod u+w" in (read_only.read_only_error(store).hint or "")
