"""kill -9 in the middle of an ingestion, then run it again: no duplicate, no partial file."""

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

import pytest

from mahavishnu.config import IngestSettings, MemorySettings
from mahavishnu.memory.backends.sqlite import SqliteBackend
from mahavishnu.memory.chunking import chunk_text, language_for
from mahavishnu.memory.embedders.fake import FakeEmbedder
from mahavishnu.memory.ingest import ingest_repository
from mahavishnu.memory.models import Filters
from mahavishnu.memory.store import MemoryStore

SETTINGS = IngestSettings(chunk_chars=200, overlap_chars=40, window_chunks=6)

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from mahavishnu.config import IngestSettings, MemorySettings
    from mahavishnu.memory.backends.sqlite import SqliteBackend
    from mahavishnu.memory.embedders.fake import FakeEmbedder
    from mahavishnu.memory.ingest import ingest_repository
    from mahavishnu.memory.store import MemoryStore

    class Slow(FakeEmbedder):
        batch_size = 4
        def embed_batch(self, texts, kind):
            time.sleep(0.02)
            return super().embed_batch(texts, kind)

    store = MemoryStore(SqliteBackend(Path(sys.argv[1])), MemorySettings(), Slow())
    settings = IngestSettings(chunk_chars=200, overlap_chars=40, window_chunks=6)
    ingest_repository(store, sys.argv[2], repo_id="proj", settings=settings)
    print("finished", flush=True)
    """
)


def make_repo(root: Path, files: int) -> None:
    for n in range(files):
        body = "\n\n".join(
            f"def f{n}_{i}(x):\n    '''Step {i} of module {n}.'''\n    return x * {i} + {n}\n"
            for i in range(8)
        )
        path = root / f"pkg{n % 5}" / f"mod{n}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")


def stored_rows(db: Path) -> list[tuple[str, int, int, str, str]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT json_extract(metadata, '$.path'), json_extract(metadata, '$.start_line'), "
            "json_extract(metadata, '$.end_line'), json_extract(metadata, '$.file_hash'), content "
            "FROM memories WHERE memory_type = 'rag'"
        ).fetchall()
    finally:
        conn.close()


def assert_whole_files(root: Path, rows: list[tuple[str, int, int, str, str]]) -> None:
    """Every stored file has exactly the chunks a full ingestion makes, once each."""
    assert not [k for k, n in Counter(r[4] for r in rows).items() if n > 1], "duplicate chunks"
    by_path: dict[str, set[tuple[int, int]]] = {}
    for path, start, end, _, _ in rows:
        by_path.setdefault(path, set()).add((start, end))
    for path, ranges in by_path.items():
        expected = chunk_text((root / path).read_text(), language_for(path), 200, 40)
        assert ranges == {(c.start_line, c.end_line) for c in expected}, f"partial file {path}"


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_kill_9_mid_run_then_rerun_leaves_no_duplicate_and_no_partial_file(tmp_path: Path) -> None:
    root, db = tmp_path / "proj", tmp_path / "memory.db"
    make_repo(root, 60)
    SqliteBackend(db).close()  # migrated before the child starts, so polling can read the tables
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(root)], stdout=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len({r[0] for r in stored_rows(db)}) < 10:
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL, "the child finished before it was killed"

    at_kill = stored_rows(db)
    files_at_kill = {r[0] for r in at_kill}
    assert 10 <= len(files_at_kill) < 60
    assert_whole_files(root, at_kill)

    embedder = FakeEmbedder()
    with MemoryStore(SqliteBackend(db), MemorySettings(), embedder) as store:
        report = ingest_repository(store, root, repo_id="proj", settings=SETTINGS)
        runs = store.backend.ingestions("proj")
        total = len(store.recent(Filters(types=("rag",), repo_id="proj"), limit=1000))

    assert report.status == "completed"
    assert report.files_unchanged == len(files_at_kill) and report.files_indexed == 60 - len(files_at_kill)
    assert [r["status"] for r in runs] == ["completed", "failed"]
    assert "interrupted" in runs[1]["error"]
    final = stored_rows(db)
    assert {r[0] for r in final} == {p.relative_to(root).as_posix() for p in root.rglob("*.py")}
    assert_whole_files(root, final)
    assert (
        total
        == len(final)
        == sum(len(chunk_text(p.read_text(), "python", 200, 40)) for p in root.rglob("*.py"))
    )
