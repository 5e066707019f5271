"""Several processes on one embedded store at once (issue 14): every acknowledged memory is there
afterwards, once, and an ingestion running meanwhile completes with every chunk."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.models import Filters
from mahavishnu.memory.core.store import MemoryStore

WRITER = textwrap.dedent(
    """
    import json, sys
    from mahavishnu.memory.core.embedders.fake import FakeEmbedder
    from mahavishnu.memory.core.store import MemoryStore
    writer, count = int(sys.argv[1]), int(sys.argv[2])
    acked = []
    with MemoryStore.open(embedder=FakeEmbedder()) as store:
        for i in range(count):
            acked.append(store.store(f"writer {writer} memory {i}", "note", tags=[f"w{writer}"]).id)
    print(json.dumps(acked))
    """
)
INGESTER = textwrap.dedent(
    """
    import json, sys
    from mahavishnu.memory.core.embedders.fake import FakeEmbedder
    from mahavishnu.memory.ingest.pipeline import ingest_repository
    from mahavishnu.memory.core.store import MemoryStore
    with MemoryStore.open(embedder=FakeEmbedder()) as store:
        report = ingest_repository(store, sys.argv[1], repo_id="big")
    print(json.dumps(report.to_dict()))
    """
)


def _start(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(proc: subprocess.Popen[str]) -> object:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return json.loads(out)


def test_concurrent_writer_processes_lose_no_acknowledged_memory(isolated_home: Path) -> None:
    MemoryStore.open(embedder=FakeEmbedder()).close()  # one store, created before the race
    writers = [_start(WRITER, str(w), "40") for w in range(6)]
    acked = {w: _finish(p) for w, p in enumerate(writers)}
    with MemoryStore.open(embedder=FakeEmbedder()) as store:
        for writer, ids in acked.items():
            assert isinstance(ids, list) and len(set(ids)) == 40
            found = store.recent(Filters(tags=(f"w{writer}",)), limit=1000)
            assert sorted(m.id for m in found) == sorted(ids)
        assert store.stats()["count"] == 6 * 40


def test_stores_during_an_ingestion_are_all_kept_and_the_ingestion_completes(isolated_home: Path) -> None:
    repo = isolated_home / "big"
    for i in range(60):
        module = repo / f"pkg{i % 6}" / f"module_{i}.py"
        module.parent.mkdir(parents=True, exist_ok=True)
        module.write_text("".join(f"def function_{i}_{j}(x):\n    return x + {j}\n\n\n" for j in range(40)))
    MemoryStore.open(embedder=FakeEmbedder()).close()
    ingest = _start(INGESTER, str(repo))
    writers = [_start(WRITER, str(w), "30") for w in range(3)]
    acked = [_finish(p) for p in writers]
    report = _finish(ingest)
    assert isinstance(report, dict) and report["status"] == "completed"
    assert report["files_indexed"] == 60
    with MemoryStore.open(embedder=FakeEmbedder()) as store:
        notes = store.recent(Filters(types=("note",)), limit=1000)
        assert sorted(m.id for m in notes) == sorted(i for ids in acked for i in ids)  # type: ignore[attr-defined]
        chunks = store.recent(Filters(types=("rag",), repo_id="big"), limit=1000)
        assert len(chunks) == report["chunks_created"]
        assert {m.metadata.get("path") for m in chunks} >= {f"pkg{i % 6}/module_{i}.py" for i in range(60)}
