"""kill -9 in either phase of an ingestion, then run it again: no duplicate, no partial file, and
every chunk ends with its own vector."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from mahavishnu.config import IngestSettings, MemorySettings
from mahavishnu.memory.core.backends.sqlite import SqliteBackend
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.models import Filters
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.ingest.pipeline import file_chunks, ingest_repository

SETTINGS = IngestSettings(chunk_tokens=48, overlap_tokens=8, window_chunks=6)

# The child is slow where the test wants to kill it: chunking (phase 1) or embedding (phase 2).
CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from mahavishnu.config import IngestSettings, MemorySettings
    from mahavishnu.memory.core.backends.sqlite import SqliteBackend
    from mahavishnu.memory.core.embedders.fake import FakeEmbedder
    from mahavishnu.memory.ingest.pipeline import ingest_repository
    from mahavishnu.memory.core.store import MemoryStore

    slow = sys.argv[3]

    class Slow(FakeEmbedder):
        batch_size = 4
        def count_tokens(self, texts):
            if slow == "text" and len(texts) > 1:  # a file's lines, measured to chunk it
                time.sleep(0.05)
            return super().count_tokens(texts)
        def embed_batch(self, texts, kind):
            if slow == "vectors":
                time.sleep(0.02)
            return super().embed_batch(texts, kind)

    store = MemoryStore(SqliteBackend(Path(sys.argv[1])), MemorySettings(), Slow())
    settings = IngestSettings(chunk_tokens=48, overlap_tokens=8, window_chunks=6)
    ingest_repository(store, sys.argv[2], repo_id="proj", settings=settings)
    print("finished", flush=True)
    """
)

Row = tuple[str, int, int, str, str, int | None, bytes, int | None]


def make_repo(root: Path, files: int) -> None:
    for n in range(files):
        body = "\n\n".join(
            f"def f{n}_{i}(x):\n    '''Step {i} of module {n}.'''\n    return x * {i} + {n}\n"
            for i in range(8)
        )
        path = root / f"pkg{n % 5}" / f"mod{n}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")


def stored_rows(db: Path) -> list[Row]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT json_extract(metadata, '$.path'), json_extract(metadata, '$.start_line'), "
            "json_extract(metadata, '$.end_line'), json_extract(metadata, '$.file_hash'), content, "
            "json_extract(metadata, '$.vector_pending'), embedding, json_extract(metadata, '$.outline') "
            "FROM memories WHERE memory_type = 'rag'"
        ).fetchall()
    finally:
        conn.close()


def assert_whole_files(root: Path, rows: list[Row]) -> None:
    """Every stored file has exactly the chunks a full ingestion makes, once each."""
    assert not [k for k, n in Counter(r[4] for r in rows).items() if n > 1], "duplicate chunks"
    by_path: dict[str, set[tuple[int, int]]] = {}
    outlined: Counter[str] = Counter()
    for path, start, end, *_, outline in rows:
        if outline:
            outlined[path] += 1
        else:
            by_path.setdefault(path, set()).add((start, end))
    assert outlined == Counter(dict.fromkeys(by_path, 1)), "a file without its outline, or with two"
    for path, ranges in by_path.items():
        expected = file_chunks(path, (root / path).read_text(), FakeEmbedder(), SETTINGS)
        assert ranges == {(c.start_line, c.end_line) for c in expected}, f"partial file {path}"


def kill_when(db: Path, root: Path, slow: str, ready: str) -> list[Row]:
    """Run the child, kill -9 it once ``ready`` holds for the stored rows; the rows at the kill."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(root), slow], stdout=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = stored_rows(db)
            files = {r[0] for r in rows}
            pending = sum(1 for r in rows if r[5])
            if ready == "some files" and len(files) >= 10:
                break
            if ready == "some vectors" and len(files) == 60 and 0 < pending < len(rows) - 10:
                break
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL, "the child finished before it was killed"
    return stored_rows(db)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
@pytest.mark.parametrize(
    ("slow", "ready"), [("text", "some files"), ("vectors", "some vectors")], ids=["text", "vectors"]
)
def test_kill_9_mid_run_then_rerun_leaves_no_duplicate_and_no_partial_file(
    tmp_path: Path, slow: str, ready: str
) -> None:
    root, db = tmp_path / "proj", tmp_path / "memory.db"
    make_repo(root, 60)
    SqliteBackend(db).close()  # migrated before the child starts, so polling can read the tables

    at_kill = kill_when(db, root, slow, ready)

    files_at_kill = {r[0] for r in at_kill}
    assert_whole_files(root, at_kill)
    if slow == "text":
        assert 10 <= len(files_at_kill) < 60
    else:  # every file was stored; the kill fell among the vectors
        assert len(files_at_kill) == 60 and 0 < sum(1 for r in at_kill if r[5]) < len(at_kill)

    embedder = FakeEmbedder()
    with MemoryStore(SqliteBackend(db), MemorySettings(), embedder) as store:
        report = ingest_repository(store, root, repo_id="proj", settings=SETTINGS)
        runs = store.backend.ingestions("proj")
        total = len(store.recent(Filters(types=("rag",), repo_id="proj"), limit=1000))

    assert report.status == "completed" and report.chunks_pending == 0
    assert report.files_unchanged == len(files_at_kill) and report.files_indexed == 60 - len(files_at_kill)
    assert report.chunks_embedded == sum(1 for r in at_kill if r[5]) + report.chunks_created
    assert [r["status"] for r in runs] == ["completed", "failed"]
    assert "interrupted" in runs[1]["error"]
    final = stored_rows(db)
    assert {r[0] for r in final} == {p.relative_to(root).as_posix() for p in root.rglob("*.py")}
    assert_whole_files(root, final)
    expected = sum(
        len(file_chunks(p.relative_to(root).as_posix(), p.read_text(), embedder, SETTINGS)) + 1  # + outline
        for p in root.rglob("*.py")
    )
    assert total == len(final) == expected
    assert not [r for r in final if r[5]], "a chunk was left without its vector"
    vectors = np.frombuffer(b"".join(r[6] for r in final), dtype="<f4").reshape(len(final), -1)
    assert np.allclose(vectors, embedder.embed_many([r[4] for r in final]), atol=1e-6)
