"""``db restore`` under concurrent writer processes (issue 33, item 8): a write either lands before
the restore (and is in the copy kept of the store it replaced) or after it (and is in the restored
store); it waits for the restore meanwhile, and never fails with "no such table: memories"."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from mahavishnu.config import load_settings
from mahavishnu.memory.core.backends.sqlite import SqliteBackend
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.models import MemoryDraft
from mahavishnu.memory.core.store import MemoryStore, default_store_path
from mahavishnu.memory.ops.backup import backup, restore

WRITERS = 20
# Each store opens the store anew, as `mahavishnu memory store` does. A writer starts when all are
# ready and goes on until the restore is over (at least 12 stores), so writes run through it.
WRITER = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    from mahavishnu.memory.core.embedders.fake import FakeEmbedder
    from mahavishnu.memory.core.store import MemoryStore, default_store_path
    writer, ready, done = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    (ready / str(writer)).touch()
    while len(os.listdir(ready)) < int(sys.argv[4]):  # all started
        time.sleep(0.005)
    acked, errors, i = [], [], 0
    while i < 12 or not done.exists():
        try:
            with MemoryStore.open(embedder=FakeEmbedder()) as store:
                store.store(f"writer {writer} memory {i}", "note")
            acked.append([f"writer {writer} memory {i}", time.time()])
            (ready / f"{writer}.wrote").touch()
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        i += 1
        time.sleep(0.01)
    print(json.dumps({"acked": acked, "errors": errors}))
    """
)


def _contents(path: Path) -> set[str]:
    with MemoryStore(SqliteBackend(path), load_settings().memory, FakeEmbedder()) as store:
        return {m.content for m in store.backend.iter_all()}


def test_writers_wait_for_a_restore_and_lose_no_acknowledged_write(isolated_home: Path) -> None:
    with MemoryStore.open(embedder=FakeEmbedder()) as store:  # big enough for the copy to take a while
        store.store_many([MemoryDraft(f"old memory {i} " + "x" * 200, "note") for i in range(3000)])
    settings = load_settings().memory
    saved = isolated_home / "saved.db"
    backup(settings, saved)
    ready, done = isolated_home / "ready", isolated_home / "done"
    ready.mkdir()
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(w), str(ready), str(done), str(WRITERS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(WRITERS)
    ]
    while len(list(ready.glob("*.wrote"))) < WRITERS:  # every writer has written once
        time.sleep(0.005)
    restored = restore(settings, saved)
    ended = time.time()
    done.touch()
    reports = []
    for proc in writers:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        reports.append(json.loads(out))

    errors = [e for r in reports for e in r["errors"]]
    acked = [(text, at) for r in reports for text, at in r["acked"]]
    assert errors == [], errors[:3]  # none failed: each waited for the restore
    assert len(acked) >= WRITERS * 12
    assert restored.previous is not None
    kept, now = _contents(restored.previous), _contents(settings.path or default_store_path())
    assert all(text in now for text, at in acked if at > ended)  # stored after: in the restored store
    assert all(text in now or text in kept for text, _ in acked)  # before: in the copy kept of it
    assert any(at > ended for _, at in acked) and any(text in kept for text, _ in acked)
