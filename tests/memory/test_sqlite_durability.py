"""kill -9 right after a memory was acknowledged: it is on disk and the store is intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mahavishnu.config import MemorySettings
from mahavishnu.memory.core.backends.sqlite import SqliteBackend
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore

SRC = Path(__file__).resolve().parents[2] / "src"

WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from mahavishnu.config import MemorySettings
    from mahavishnu.memory.core.backends.sqlite import SqliteBackend
    from mahavishnu.memory.core.embedders.fake import FakeEmbedder
    from mahavishnu.memory.core.store import MemoryStore

    store = MemoryStore(SqliteBackend(Path(sys.argv[1])), MemorySettings(), FakeEmbedder())
    i = 0
    while True:
        if i % 10 == 9:
            drafts = [{"content": f"bulk memory {i}-{j}", "tags": ["bulk"]} for j in range(20)]
            batch = store.store_many(drafts)
            print("stored", *(m.id for m in batch), flush=True)
        else:
            print("stored", store.store(f"memory number {i}", "note", tags=[f"t{i % 3}"]).id, flush=True)
        i += 1
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("acks_before_kill", [1, 40, 400])
def test_acknowledged_memories_survive_kill_9(tmp_path: Path, acks_before_kill: int) -> None:
    path = tmp_path / "memory.db"
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert writer.stdout is not None
    acknowledged: list[int] = []
    try:
        for line in writer.stdout:
            acknowledged.extend(int(x) for x in line.split()[1:])
            if len(acknowledged) >= acks_before_kill:
                writer.send_signal(signal.SIGKILL)
                break
        rest, _ = writer.communicate(timeout=30)  # lines printed before the kill landed count too
    finally:
        writer.kill()
    acknowledged.extend(
        int(x) for line in rest.splitlines() if line.startswith("stored ") for x in line.split()[1:]
    )
    assert writer.returncode == -signal.SIGKILL and len(acknowledged) >= acks_before_kill

    with MemoryStore(SqliteBackend(path), MemorySettings(), FakeEmbedder()) as store:
        found = store.backend.get(acknowledged)
        assert sorted(found) == sorted(acknowledged)
        backend = store.backend
        assert isinstance(backend, SqliteBackend)
        assert backend.integrity_check() == "ok"
        backend.conn.execute("INSERT INTO memories_fts (memories_fts) VALUES ('integrity-check')")
        last = next(found[i] for i in reversed(acknowledged) if found[i].content.startswith("memory number"))
        assert store.search(last.content, mode="text", limit=1)[0].memory.id == last.id
        # The fake embedder's 64 buckets give some numbers one vector ("23" and "18"): the last
        # memory must be among the best hits, not necessarily first by id.
        hits = store.search(last.content, mode="vector", limit=5)
        assert last.id in [h.memory.id for h in hits if h.score == hits[0].score]
