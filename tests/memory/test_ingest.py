"""Repository ingestion and knowledge-base queries, over the fake, SQLite and PostgreSQL backends."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from fake_backend import FakeBackend

from mahavishnu.config import IngestSettings, MemorySettings
from mahavishnu.errors import EmbeddingError, InvalidInputError, NotFoundError, StoreError
from mahavishnu.memory.core.backends.base import Backend
from mahavishnu.memory.core.backends.sqlite import SqliteBackend
from mahavishnu.memory.core.embedders.base import Kind, Vectors
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.models import Filters, Memory, MemoryDraft, utcnow
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.ingest import pipeline as ingest_module
from mahavishnu.memory.ingest.knowledge import forget_repo, list_repos, query_knowledge_base
from mahavishnu.memory.ingest.pipeline import IngestProgress, IngestReport, ingest_repository, was_interrupted
from mahavishnu.memory.ingest.repo_walk import WalkOptions, WalkResult

SETTINGS = IngestSettings(chunk_tokens=48, overlap_tokens=8, window_chunks=4)


class CountingEmbedder(FakeEmbedder):
    """The fake embedder, remembering every chunk text it embedded (not the stand-in's probes)."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self.fail_after: int | None = None

    def embed_batch(self, texts: Sequence[str], kind: Kind) -> Vectors:
        if self.fail_after is not None and len(self.texts) >= self.fail_after:
            raise EmbeddingError("the embedder went away")
        self.texts.extend(t for t in texts if t not in ingest_module.STANDIN_PROBES)
        return super().embed_batch(texts, kind)


@pytest.fixture
def embedder() -> CountingEmbedder:
    return CountingEmbedder()


@pytest.fixture(params=["fake", "sqlite", "postgres"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, embedder: CountingEmbedder
) -> Iterator[MemoryStore]:
    backend: Backend
    if request.param == "fake":
        backend = FakeBackend()
    elif request.param == "sqlite":
        backend = SqliteBackend(tmp_path / "memory.db")
    else:
        from mahavishnu.memory.core.backends.postgres import PostgresBackend

        backend = PostgresBackend(request.getfixturevalue("pg_dsn"))  # the session server's shared db
    with MemoryStore(backend, MemorySettings(), embedder) as opened:
        yield opened


def write(root: Path, rel: str, text: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def functions(prefix: str, n: int) -> str:
    return "\n\n".join(
        f"def {prefix}_{i}(value):\n    '''Compute {prefix} number {i}.'''\n    total = value * {i}\n"
        f"    return total + len('{prefix}')\n"
        for i in range(n)
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    write(root, "pkg/core.py", functions("core", 6))
    write(root, "pkg/util.py", functions("util", 3))
    write(root, "README.md", "# Project\n\nRetries are configured with the `retries` setting.\n")
    write(root, "docs/guide.rst", "Guide\n=====\n\nStart the server, then connect a client.\n")
    return root


def chunks(store: MemoryStore, repo_id: str = "proj") -> list[Memory]:
    return store.recent(Filters(types=("rag",), repo_id=repo_id), limit=1000)


def by_path(store: MemoryStore, repo_id: str = "proj") -> dict[str, list[Memory]]:
    """Each file's chunks of text (its outline left out: ``outlines``)."""
    out: dict[str, list[Memory]] = {}
    for memory in chunks(store, repo_id):
        if not memory.metadata.get("outline"):
            out.setdefault(memory.metadata["path"], []).append(memory)
    return out


def outlines(store: MemoryStore, repo_id: str = "proj") -> dict[str, Memory]:
    return {m.metadata["path"]: m for m in chunks(store, repo_id) if m.metadata.get("outline")}


def ingest(store: MemoryStore, root: Path, **kwargs: object) -> IngestReport:
    kwargs.setdefault("settings", SETTINGS)
    return ingest_repository(store, root, **kwargs)  # type: ignore[arg-type]


# -- a first run --------------------------------------------------------------------------------
def test_each_chunk_is_a_rag_memory_that_points_at_its_lines(store: MemoryStore, repo: Path) -> None:
    report = ingest(store, repo)

    stored = by_path(store)
    assert sorted(stored) == ["README.md", "docs/guide.rst", "pkg/core.py", "pkg/util.py"]
    assert report.status == "completed" and report.files_indexed == 4 and report.files_seen == 4
    assert report.chunks_created == len(chunks(store)) and len(stored["pkg/core.py"]) > 1
    for path, memories in stored.items():
        data = (repo / path).read_bytes()
        lines = data.decode().splitlines(keepends=True)
        for memory in memories:
            meta = memory.metadata
            assert memory.memory_type == "rag" and memory.repo_id == "proj"
            assert meta["file_hash"] == hashlib.sha256(data).hexdigest()
            assert meta["language"] == {".py": "python", ".md": "markdown", ".rst": "rst"}[Path(path).suffix]
            body = "".join(lines[meta["start_line"] - 1 : meta["end_line"]])
            assert memory.content == f"{path}\n{body}"


def test_terminal_escapes_in_a_file_are_not_stored(store: MemoryStore, tmp_path: Path) -> None:
    # A captured build log's colours were stored as they were ("\x1b[31mERROR"), in search and quotes.
    root = tmp_path / "logs"
    text = "Build\n\n\x1b[31mERROR\x1b[0m: the \x1b[1mbuild\x1b[22m failed\n\x1b]0;title\x07done\x1b\nlast\n"
    write(root, "build.md", text)

    ingest(store, root, repo_id="proj")

    (chunk,) = by_path(store)["build.md"]
    assert chunk.content == "build.md\nBuild\n\nERROR: the build failed\ndone\nlast\n"
    assert (chunk.metadata["start_line"], chunk.metadata["end_line"]) == (1, 5)  # lines as they were
    assert all("\x1b" not in m.content for m in chunks(store))  # the outline too


def test_python_chunks_start_at_function_boundaries(store: MemoryStore, repo: Path) -> None:
    ingest(store, repo)

    core = sorted(by_path(store)["pkg/core.py"], key=lambda m: m.metadata["start_line"])
    assert all(m.content.split("\n", 1)[1].startswith("def core_") for m in core)


def test_a_chunk_inside_a_method_is_headed_by_its_class_and_method(
    store: MemoryStore, tmp_path: Path
) -> None:
    steps = "\n".join(f"        total = total + {i}  # step {i} of the running total" for i in range(40))
    code = f"class Ledger:\n    def balance(self, total):\n{steps}\n        return total\n"
    write(tmp_path / "proj", "pkg/ledger.py", code)
    ingest(store, tmp_path / "proj")

    stored = sorted(by_path(store)["pkg/ledger.py"], key=lambda m: m.metadata["start_line"])
    lines = code.splitlines(keepends=True)
    assert len(stored) > 1 and "scope" not in stored[0].metadata  # the first starts with the class
    for memory in stored[1:]:
        meta = memory.metadata
        body = "".join(lines[meta["start_line"] - 1 : meta["end_line"]])
        assert meta["scope"] == "class Ledger > def balance"
        assert memory.content == f"pkg/ledger.py\n# class Ledger > def balance\n{body}"
    hits = query_knowledge_base(store, "step 39 of the running total", repo_id="proj", mode="text")
    last = next(h for h in hits if h.end_line == len(lines))
    assert last.text == "".join(lines[last.start_line - 1 :])  # what it shows is the file's lines alone


def test_identical_text_in_two_files_is_stored_for_each(store: MemoryStore, tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write(root, "a/__init__.py", "from .core import run\n")
    write(root, "b/__init__.py", "from .core import run\n")

    ingest(store, root)

    assert sorted(by_path(store)) == ["a/__init__.py", "b/__init__.py"]


# -- incremental --------------------------------------------------------------------------------
def test_an_unchanged_repository_is_not_embedded_again(
    store: MemoryStore, repo: Path, embedder: CountingEmbedder
) -> None:
    ingest(store, repo)
    before, embedded = {m.id for m in chunks(store)}, len(embedder.texts)

    report = ingest(store, repo)

    assert len(embedder.texts) == embedded
    assert {m.id for m in chunks(store)} == before
    assert (report.files_unchanged, report.files_indexed, report.chunks_created) == (4, 0, 0)
    assert report.files_skipped == 0  # unchanged is not skipped


def test_a_file_named_after_a_key_is_unchanged_when_it_is(
    store: MemoryStore, repo: Path, embedder: CountingEmbedder
) -> None:
    # Its chunks hold its name scrubbed: looked up by its own name, it was new at every run,
    # reported as removed and indexed again, and embedded again.
    names = [f"ghp_{letter}bcdefghijklmnopqrstuvwxyz0123456789.py" for letter in "ab"]
    write(repo, f"keys/{names[0]}", functions("alpha", 2))
    ingest(store, repo)
    embedded = len(embedder.texts)

    report = ingest(store, repo)

    assert (report.files_unchanged, report.files_indexed, report.files_removed) == (5, 0, 0)
    assert len(embedder.texts) == embedded
    write(repo, f"keys/{names[1]}", functions("beta", 2))  # a second name that scrubs alike
    ingest(store, repo)
    texts = "".join(m.content for m in chunks(store))
    assert "alpha_1" in texts and "beta_1" in texts and "ghp_" not in texts


def test_an_empty_file_is_skipped_as_empty_not_counted_unchanged(store: MemoryStore, repo: Path) -> None:
    write(repo, "pkg/__init__.py", "")
    write(repo, "pkg/blank.py", "\n  \n")

    first = ingest(store, repo)
    again = ingest(store, repo)

    assert (first.files_indexed, first.files_unchanged, first.skipped["empty"]) == (4, 0, 2)
    assert (again.files_indexed, again.files_unchanged, again.skipped["empty"]) == (0, 4, 2)
    assert "pkg/__init__.py" not in by_path(store)


def test_a_changed_file_is_replaced_and_the_others_are_untouched(
    store: MemoryStore, repo: Path, embedder: CountingEmbedder
) -> None:
    ingest(store, repo)
    old = by_path(store)
    embedded = len(embedder.texts)
    write(repo, "pkg/util.py", functions("helper", 2))

    report = ingest(store, repo)

    new = by_path(store)
    assert report.files_indexed == 1 and report.chunks_removed == len(old["pkg/util.py"]) + 1  # + outline
    assert all("helper" in m.content and "util_" not in m.content for m in new["pkg/util.py"])
    assert "helper_1" in outlines(store)["pkg/util.py"].content
    assert {m.id for m in new["pkg/core.py"]} == {m.id for m in old["pkg/core.py"]}
    assert all(t.startswith("pkg/util.py") for t in embedder.texts[embedded:])


def test_an_edit_embeds_only_the_chunks_whose_text_changed(
    store: MemoryStore, repo: Path, embedder: CountingEmbedder
) -> None:
    ingest(store, repo)
    before = {m.content for m in by_path(store)["pkg/core.py"]}
    embedded = len(embedder.texts)
    source = (repo / "pkg/core.py").read_text()
    write(repo, "pkg/core.py", source.replace("total = value * 3", "total = value * 33"))

    report = ingest(store, repo)

    new_texts = embedder.texts[embedded:]
    assert [t for t in new_texts if "value * 33" in t] and all("value * 33" in t for t in new_texts)
    after = by_path(store)["pkg/core.py"]
    kept = [m for m in after if m.content in before]
    assert kept and report.chunks_reused == len(kept) + 1  # + the outline, unchanged too
    assert report.chunks_embedded == len(new_texts) == len(after) - len(kept)
    assert not any(m.metadata.get("vector_pending") for m in chunks(store))
    vectors = store.backend.vectors([m.id for m in after])
    for memory in after:  # a kept vector is the vector of its text
        assert np.allclose(vectors[memory.id], embedder.embed(memory.content, kind="document"), atol=1e-6)


def test_a_new_chunker_signature_rechunks_every_file_but_embeds_no_unchanged_text(
    store: MemoryStore, repo: Path, embedder: CountingEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest(store, repo)
    embedded = len(embedder.texts)
    monkeypatch.setattr(ingest_module, "CHUNKER", "tokens-v9")

    report = ingest(store, repo)

    assert report.files_indexed == 4 and report.chunks_reused == report.chunks_created
    assert len(embedder.texts) == embedded and report.chunks_embedded == 0
    assert {m.metadata["chunker"].split(":")[0] for m in chunks(store)} == {"tokens-v9"}


def test_deleted_and_newly_ignored_files_lose_their_chunks(store: MemoryStore, repo: Path) -> None:
    ingest(store, repo)
    removed = len(by_path(store)["pkg/util.py"]) + len(by_path(store)["docs/guide.rst"]) + 2  # + outlines
    (repo / "pkg/util.py").unlink()
    write(repo, ".gitignore", "docs/\n")

    report = ingest(store, repo)

    assert sorted(by_path(store)) == ["README.md", "pkg/core.py"]
    assert (report.files_removed, report.chunks_removed) == (2, removed)


def test_changing_the_chunk_size_reindexes(store: MemoryStore, repo: Path) -> None:
    ingest(store, repo)

    report = ingest(store, repo, settings=IngestSettings(chunk_tokens=100, overlap_tokens=10))

    assert report.files_indexed == 4
    assert {m.metadata["chunker"] for m in chunks(store)} == {
        f"{ingest_module.CHUNKER}:fake/hashing-v1:90:10"
    }


# -- the run log --------------------------------------------------------------------------------
def test_each_run_is_recorded_with_its_counts(store: MemoryStore, repo: Path) -> None:
    first = ingest(store, repo)
    second = ingest(store, repo)

    runs = store.backend.ingestions("proj")
    assert [r["id"] for r in runs] == [second.run_id, first.run_id]
    latest = runs[0]
    assert latest["status"] == "completed" and latest["repo_path"] == str(repo.resolve())
    assert (latest["files_seen"], latest["files_indexed"], latest["files_skipped"]) == (4, 0, 0)
    assert latest["metadata"]["files_unchanged"] == 4
    assert runs[1]["chunks_created"] == first.chunks_created > 0
    assert latest["duration_seconds"] >= 0 and latest["finished_at"] >= latest["started_at"]


def test_a_failing_embedder_fails_the_run_and_keeps_whole_files(
    store: MemoryStore, repo: Path, embedder: CountingEmbedder
) -> None:
    embedder.fail_after = 5

    with pytest.raises(EmbeddingError):
        ingest(store, repo)

    run = store.backend.ingestions("proj")[0]
    assert run["status"] == "failed" and "went away" in run["error"]
    for path, memories in by_path(store).items():  # files committed before the failure are whole
        expected = ingest_module.file_chunks(path, (repo / path).read_text(), embedder, SETTINGS)
        assert len(memories) == len(expected)


def test_a_run_left_in_progress_by_a_dead_process_is_marked_failed(store: MemoryStore, repo: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = store.backend.add_ingestion(
        {
            "repo_id": "proj",
            "repo_path": str(repo.resolve()),
            "status": "in_progress",
            "started_at": "2025-01-01T00:00:00.000000Z",
            "metadata": {"pid": dead.pid, "host": ingest_module.socket.gethostname()},
        }
    )

    ingest(store, repo)

    run = next(r for r in store.backend.ingestions("proj") if r["id"] == stale)
    assert run["status"] == "failed" and "interrupted" in run["error"]


def test_repos_shows_a_run_whose_process_was_killed_as_interrupted(store: MemoryStore, repo: Path) -> None:
    ingest(store, repo)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        for repo_id, pid in (("proj", dead.pid), ("other", live.pid)):
            store.backend.add_ingestion(
                {
                    "repo_id": repo_id,
                    "repo_path": str(repo.resolve()),
                    "status": "in_progress",
                    "started_at": "2099-01-01T00:00:00.000000Z",
                    "metadata": {"pid": pid, "host": ingest_module.socket.gethostname()},
                }
            )
        runs = {r.repo_id: r.last_run for r in list_repos(store)}
    finally:
        live.kill()
        live.wait()

    assert runs["proj"] is not None and runs["proj"]["status"] == "interrupted"
    assert runs["other"] is not None and runs["other"]["status"] == "in_progress"  # still running


def test_a_live_run_of_the_same_repository_is_refused(store: MemoryStore, repo: Path) -> None:
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        store.backend.add_ingestion(
            {
                "repo_id": "proj",
                "repo_path": str(repo.resolve()),
                "status": "in_progress",
                "started_at": "2025-01-01T00:00:00.000000Z",
                "metadata": {"pid": live.pid, "host": ingest_module.socket.gethostname()},
            }
        )
        with pytest.raises(StoreError, match="being ingested"):
            ingest(store, repo)
    finally:
        live.kill()
        live.wait()


def test_two_runs_of_the_same_repository_at_once_one_is_refused(repo: Path) -> None:
    # Two threads of one process share a pid: the recorded run alone never told them apart.
    started, finish = threading.Event(), threading.Event()

    def hold(_progress: IngestProgress) -> None:
        started.set()
        finish.wait(30)

    with MemoryStore(FakeBackend(), MemorySettings(), CountingEmbedder()) as store:
        first = threading.Thread(target=ingest, args=(store, repo), kwargs={"progress": hold})
        first.start()
        try:
            assert started.wait(30)
            with pytest.raises(StoreError, match="being ingested by another run"):
                ingest(store, repo)
        finally:
            finish.set()
            first.join(30)
        assert [r["status"] for r in store.backend.ingestions("proj")] == ["completed"]
        assert ingest(store, repo).files_unchanged == 4  # the lock is released when a run ends


# A run that holds its lock until killed: the ingest of another machine (its own data dir).
HOLDING_RUN = """
import sys, time
from mahavishnu.config import MemorySettings
from mahavishnu.memory.core.backends.postgres import PostgresBackend
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.core.store import MemoryStore
from mahavishnu.memory.ingest.pipeline import ingest_repository

def hold(_progress):
    print("running", flush=True)
    time.sleep(60)

store = MemoryStore(PostgresBackend(sys.argv[1]), MemorySettings(), FakeEmbedder())
ingest_repository(store, sys.argv[2], repo_id="proj", progress=hold)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_two_machines_ingesting_one_repository_into_postgresql_one_is_refused(
    pg_dsn: str, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each machine's lock file let its own run go: two machines ingesting a repository into one
    PostgreSQL store both ran (the second closing the first's live run as a dead one). Now the
    store's own lock refuses the second in one line; a killed first run holds nothing."""
    env = {**os.environ, "MAHAVISHNU_HOME": str(tmp_path / "machine-a")}
    first = subprocess.Popen(
        [sys.executable, "-c", HOLDING_RUN, pg_dsn, str(repo)], stdout=subprocess.PIPE, env=env, text=True
    )
    monkeypatch.setattr(ingest_module.socket, "gethostname", lambda: "machine-b")
    from mahavishnu.memory.core.backends.postgres import PostgresBackend

    with MemoryStore(PostgresBackend(pg_dsn), MemorySettings(), CountingEmbedder()) as store:
        try:
            assert first.stdout is not None and first.stdout.readline() == "running\n"
            with pytest.raises(StoreError) as refused:
                ingest(store, repo)
            os.kill(first.pid, signal.SIGKILL)
        finally:
            first.kill()
            first.wait()
        assert str(refused.value).startswith("repository 'proj' is being ingested into ")
        assert str(refused.value).endswith(" by another run (on this machine or another)")
        assert "\n" not in str(refused.value) and "Wait for it" in refused.value.hint
        deadline = time.monotonic() + 10  # (the server notices the closed connection at once)
        while True:
            try:
                report = ingest(store, repo)
                break
            except StoreError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        assert report.status == "completed" and report.files_indexed == 4
        assert [was_interrupted(r) for r in store.backend.ingestions("proj")] == [False, True]


def test_progress_reports_files_then_chunks(store: MemoryStore, repo: Path) -> None:
    seen: list[IngestProgress] = []

    report = ingest(store, repo, progress=seen.append)

    phases = [p.phase for p in seen]
    assert phases == sorted(phases, key=["text", "vectors"].index) and phases[-1] == "vectors"
    assert seen[-1].files_done == seen[-1].files_total == 4
    assert seen[-1].chunks_done == seen[-1].chunks_total == report.chunks_created == report.chunks_embedded
    assert [p.chunks_done for p in seen] == sorted(p.chunks_done for p in seen)


# -- text first, vectors second -----------------------------------------------------------------
def test_chunks_are_searchable_by_text_before_their_vectors_are_stored(
    store: MemoryStore, repo: Path, embedder: CountingEmbedder
) -> None:
    found: list[tuple[list[str], list[str], bool, int]] = []

    def search_now(progress: IngestProgress) -> None:
        if progress.phase == "vectors" and progress.chunks_done == 0:
            embedded = len(embedder.texts)
            chunks = {"repo_id": "proj", "types": ["rag"]}
            text = store.search("retries configured", mode="text", filters=chunks)
            hybrid = query_knowledge_base(store, "how are retries configured?", repo_id="proj", limit=3)
            pending = all(h.memory.metadata.get(ingest_module.PENDING) for h in text)
            paths = [h.memory.metadata["path"] for h in text]
            found.append((paths, [h.path for h in hybrid], pending, embedded))

    ingest(store, repo, progress=search_now)

    [(text_paths, hybrid_paths, pending, embedded)] = found
    assert text_paths[0] == "README.md" and pending and embedded == 0  # found before any chunk's vector
    assert hybrid_paths[0] == "README.md"  # hybrid search uses what is ready
    assert all(ingest_module.PENDING not in m.metadata for m in chunks(store))


def test_an_interrupted_run_keeps_its_text_and_the_next_run_embeds_only_what_is_missing(
    store: MemoryStore, repo: Path, embedder: CountingEmbedder
) -> None:
    def stop_midway(progress: IngestProgress) -> None:
        if progress.phase == "vectors" and progress.chunks_done >= 4:
            raise KeyboardInterrupt

    with pytest.raises(ingest_module.IngestInterrupted) as stopped:
        ingest(store, repo, progress=stop_midway)

    first = stopped.value.report
    assert first.status == "failed" and first.files_indexed == 4
    assert first.chunks_embedded == 4 and first.chunks_pending == first.chunks_created - 4 > 0
    run = store.backend.ingestions("proj")[0]
    assert "interrupted" in run["error"] and run["metadata"]["chunks_pending"] == first.chunks_pending
    waiting = sorted(m.content for m in chunks(store) if m.metadata.get(ingest_module.PENDING))
    assert list_repos(store)[0].pending == len(waiting) == first.chunks_pending
    embedded = len(embedder.texts)

    again = ingest(store, repo)

    assert (again.files_unchanged, again.chunks_created, again.chunks_embedded) == (4, 0, len(waiting))
    assert sorted(embedder.texts[embedded:]) == waiting  # nothing chunked or embedded twice
    assert again.chunks_pending == 0 and not [m for m in chunks(store) if ingest_module.PENDING in m.metadata]


# -- bad input ----------------------------------------------------------------------------------
def test_binary_and_undecodable_files_are_skipped_with_a_warning(store: MemoryStore, repo: Path) -> None:
    write(repo, "data.json", b'{"a": 1}\x00\x00\x01')
    write(repo, "legacy.py", b"# \x81\x8d\n")  # bytes neither UTF-8 nor Windows-1252 define
    write(repo, "blob.txt", b"\x1b\x8f\xa0 header")  # no NUL, but control bytes: not text

    report = ingest(store, repo)

    assert report.status == "completed" and report.files_indexed == 4
    assert report.skipped["binary"] == 1 and report.skipped["bad encoding"] == 2
    assert any(w.startswith("legacy.py: neither UTF-8 nor Windows-1252") for w in report.warnings)
    assert "legacy.py" not in by_path(store) and "blob.txt" not in by_path(store)


def test_files_skipped_is_the_sum_of_the_skipped_breakdown(store: MemoryStore, repo: Path) -> None:
    write(repo, "data.json", b'{"a": 1}\x00')
    write(repo, "empty.py", "")
    write(repo, "image.png", b"\x89PNG")
    (repo / ".gitignore").write_text("ignored.py\n")
    write(repo, "ignored.py", "x = 1\n")

    first = ingest(store, repo)
    again = ingest(store, repo)

    for report in (first, again):
        assert report.files_skipped == sum(report.skipped.values()) > 0
        assert report.skipped["binary"] == 1 and report.skipped["empty"] == 1
    assert again.files_unchanged == 4 and again.files_skipped == first.files_skipped


def test_a_binary_file_with_an_included_extension_is_not_read_again_as_changed(
    store: MemoryStore, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(repo, "data.json", b'{"a": 1}\x00\x00\x01')
    write(repo, "legacy.py", b"# \x81\x8d\n")
    ingest(store, repo)
    reads: list[str] = []
    real_read = ingest_module.read_file
    monkeypatch.setattr(ingest_module, "read_file", lambda p, n: reads.append(p.name) or real_read(p, n))
    seen: list[IngestProgress] = []

    again = ingest(store, repo, progress=seen.append)

    assert all(p.files_total == 0 for p in seen)  # "0/0 changed files read", not "0/2"
    assert sorted(reads) == sorted(["core.py", "util.py", "README.md", "guide.rst", "data.json", "legacy.py"])
    assert (again.files_indexed, again.skipped["binary"], again.skipped["bad encoding"]) == (0, 1, 1)


def test_a_nul_past_the_sniffed_head_or_in_utf16_text_makes_the_file_binary(
    store: MemoryStore, repo: Path
) -> None:
    """A NUL is binary wherever it is: PostgreSQL refuses text holding one, which failed the run."""
    write(repo, "late.md", b"# Notes\n" + b"text line\n" * 1000 + b"\x00tail\n")  # past the 8 KiB sniffed
    write(repo, "wide.py", "x = 1\x00\x07\n".encode("utf-16"))  # a byte-order mark skips the sniff

    report = ingest(store, repo)

    assert report.status == "completed" and report.skipped["binary"] == 2, report.warnings
    assert "late.md" not in by_path(store) and "wide.py" not in by_path(store)
    assert not [m.id for m in chunks(store) if "\x00" in m.content]


def test_utf16_and_windows_1252_text_is_ingested(store: MemoryStore, repo: Path) -> None:
    """Windows editors save UTF-16 with a byte-order mark; older Latin text is Windows-1252."""
    write(repo, "NOTES.md", "# Caf\u00e9 notes\n\nThe r\u00e9sum\u00e9 parser lives here.\n".encode("utf-16"))
    write(repo, "legacy.py", "# caf\u00e9 \u2013 na\u00efve\n".encode("cp1252"))

    report = ingest(store, repo)

    assert not report.skipped["binary"] and not report.skipped["bad encoding"], report.warnings
    stored = by_path(store)
    assert "The r\u00e9sum\u00e9 parser lives here." in "".join(m.content for m in stored["NOTES.md"])
    assert "caf\u00e9 \u2013 na\u00efve" in "".join(m.content for m in stored["legacy.py"])


def test_an_unreadable_file_is_warned_about_and_keeps_its_chunks(
    store: MemoryStore, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest(store, repo)
    kept = {m.id for m in by_path(store)["pkg/util.py"]}
    write(repo, "pkg/util.py", functions("changed", 2))
    real = ingest_module.read_file

    def failing(path: Path, limit: int) -> bytes:
        if path.name == "util.py":
            raise PermissionError(13, "Permission denied")
        return real(path, limit)

    monkeypatch.setattr(ingest_module, "read_file", failing)
    report = ingest(store, repo)

    assert report.status == "completed" and report.skipped["unreadable"] == 1
    assert report.warnings == ["pkg/util.py: cannot read (Permission denied)"]
    assert {m.id for m in by_path(store)["pkg/util.py"]} == kept


@pytest.mark.skipif(os.name != "posix", reason="symlinks and FIFOs")
@pytest.mark.timeout(60)  # (a FIFO read as a file waits for a writer forever)
def test_a_file_swapped_after_the_walk_is_read_only_as_the_walk_took_it(
    store: MemoryStore, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the walk and the read, a file becomes a link out of the tree, a FIFO, or too large."""
    outside = write(tmp_path, "elsewhere/notes.md", "text from outside the repository\n")
    real_walk = ingest_module.walk

    def walk_then_swap(root: Path, options: WalkOptions) -> WalkResult:
        walked = real_walk(root, options)
        (repo / "README.md").unlink()
        (repo / "README.md").symlink_to(outside)
        (repo / "docs/guide.rst").unlink()
        os.mkfifo(repo / "docs/guide.rst")
        write(repo, "pkg/util.py", functions("grown", 400))
        return walked

    monkeypatch.setattr(ingest_module, "walk", walk_then_swap)
    report = ingest(store, repo, settings=SETTINGS.model_copy(update={"max_file_bytes": 20_000}))

    assert report.status == "completed" and report.skipped["unreadable"] == 3, report.warnings
    assert report.warnings == [
        "README.md: cannot read (a symbolic link since the walk, not followed)",
        "docs/guide.rst: cannot read (not a regular file)",
        "pkg/util.py: cannot read (larger than 20,000 bytes)",
    ]
    assert sorted(by_path(store)) == ["pkg/core.py"]
    assert not [m for m in chunks(store) if "outside the repository" in m.content]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_file_without_read_permission_does_not_stop_the_run(store: MemoryStore, repo: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    (repo / "pkg/util.py").chmod(0)

    report = ingest(store, repo)

    assert report.status == "completed" and report.skipped["unreadable"] == 1


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="names of any bytes")
def test_names_that_are_no_utf8_are_stored_with_the_bytes_written_out(
    store: MemoryStore, tmp_path: Path
) -> None:
    root = Path(os.fsdecode(bytes(tmp_path) + b"/r\xffoot"))  # a lone surrogate in Python
    write(root, "ok.py", "x = 1\n")
    write(root, os.fsdecode(b"bad\xfe.py"), "def latin_name():\n    return 1\n")
    write(root, os.fsdecode(b"d\xff/inner.py"), "y = 2\n")

    report = ingest(store, root, repo_id="odd")

    assert report.status == "completed" and report.files_indexed == 3, report.warnings
    assert sorted(by_path(store, "odd")) == ["bad\\xfe.py", "d\\xff/inner.py", "ok.py"]
    assert report.repo_path.endswith("/r\\xffoot") and list_repos(store)[0].repo_path == report.repo_path
    json.dumps(report.to_dict(), ensure_ascii=False).encode()  # no lone surrogate left
    assert ingest(store, root, repo_id="odd").files_unchanged == 3


def test_a_path_that_is_not_a_directory_is_refused(store: MemoryStore, repo: Path) -> None:
    with pytest.raises(InvalidInputError, match="is not a directory"):
        ingest(store, repo / "README.md")
    with pytest.raises(InvalidInputError, match="does not exist"):
        ingest(store, repo / "missing")
    assert store.backend.ingestions() == []


def test_a_default_repo_id_naming_another_path_is_refused(
    store: MemoryStore, repo: Path, tmp_path: Path
) -> None:
    ingest(store, repo)
    other = tmp_path / "elsewhere" / "proj"
    write(other, "x.py", "x = 1\n")

    with pytest.raises(InvalidInputError, match="already names"):
        ingest(store, other)
    ingest(store, other, repo_id="proj-2")

    assert sorted(by_path(store, "proj-2")) == ["x.py"]


# -- query, repos, forget -----------------------------------------------------------------------
def test_query_filters_by_repository_inside_the_search(
    store: MemoryStore, repo: Path, tmp_path: Path
) -> None:
    noisy = tmp_path / "noisy"
    for i in range(30):
        write(noisy, f"retry_{i}.md", f"Retries are configured here too: retries retries {i}.\n")
    ingest(store, repo)
    ingest(store, noisy)

    hits = query_knowledge_base(store, "how are retries configured?", repo_id="proj", limit=1)

    assert [h.location for h in hits] == ["README.md:1-3"]
    assert hits[0].repo_id == "proj" and hits[0].text.startswith("# Project")
    everywhere = query_knowledge_base(store, "how are retries configured?", limit=5)
    assert {h.repo_id for h in everywhere} == {"noisy"}


def test_repos_lists_counts_and_last_run_and_forget_removes_one(store: MemoryStore, repo: Path) -> None:
    report = ingest(store, repo)

    [summary] = list_repos(store)
    assert (summary.repo_id, summary.files, summary.chunks) == ("proj", 4, report.chunks_created)
    assert summary.last_run is not None and summary.last_run["id"] == report.run_id

    assert forget_repo(store, "proj") == report.chunks_created
    assert chunks(store) == [] and list_repos(store) == []
    with pytest.raises(NotFoundError):
        forget_repo(store, "proj")


def test_forget_keeps_other_memories_of_the_repository(store: MemoryStore, repo: Path) -> None:
    ingest(store, repo)
    decision = store.store("Use WAL mode", "decision", repo_id="proj")

    forget_repo(store, "proj")

    assert store.get(decision.id) == decision


def test_deleting_a_repository_chunk_is_refused_so_a_reingest_stays_whole(
    store: MemoryStore, repo: Path
) -> None:
    ingest(store, repo)
    chunk = by_path(store)["README.md"][0]
    note = store.store("a note", "note")
    manual = store.store("Deploys go through the staging cluster first.", "rag", repo_id="proj")

    with pytest.raises(InvalidInputError, match=r"is a chunk of ingested repository 'proj'") as refused:
        store.delete(chunk.id)
    assert "forget-repo proj" in refused.value.hint
    with pytest.raises(InvalidInputError, match="nothing was deleted"):
        store.delete_many([note.id, chunk.id])

    assert store.get(chunk.id) == chunk and store.get(note.id) == note
    assert store.delete_many([note.id, manual.id]) == 2  # not ingested chunks: deleted as any memory


def test_rag_memories_stored_by_hand_survive_a_reingest(store: MemoryStore, repo: Path) -> None:
    manual = store.store("Deploys go through the staging cluster first.", "rag", repo_id="proj")
    ingest(store, repo)
    (repo / "README.md").unlink()

    ingest(store, repo)

    assert store.get(manual.id) == manual


# -- the backend methods ingestion relies on ---------------------------------------------------
def test_replace_is_one_transaction(store: MemoryStore) -> None:
    if store.backend.name == "fake":
        pytest.skip("the fake backend has no constraints to fail an insert, nor transactions")
    old = store.store("def old(): pass", "rag", repo_id="proj")
    bad = MemoryDraft("def new(): pass", type="not-a-type", repo_id="proj")  # fails the type CHECK
    vectors = store.embedder.embed_many([bad.content])

    with pytest.raises((StoreError, sqlite3.IntegrityError)):
        store.backend.replace([old.id], [bad], vectors, model=store.embedder.identity, now=utcnow())

    assert store.get(old.id) == old  # the delete was rolled back with the failed insert


def test_replace_deletes_and_inserts(store: MemoryStore) -> None:
    old = store.store("def old(): pass", "rag", repo_id="proj")
    new = MemoryDraft("def new(): pass", type="rag", repo_id="proj", metadata={"path": "a.py"})
    vectors = store.embedder.embed_many([new.content])

    [made] = store.backend.replace([old.id], [new], vectors, model=store.embedder.identity, now=utcnow())

    assert store.backend.get([old.id, made.id]) == {made.id: made}
    assert (made.content, made.metadata, made.repo_id) == (new.content, {"path": "a.py"}, "proj")
    assert store.backend.replace([made.id], [], vectors[:0], model="m", now=utcnow()) == []
    assert chunks(store) == []


def test_scan_metadata_reads_what_the_generic_scan_reads(store: MemoryStore) -> None:
    store.store_many(
        [
            {"content": "one", "type": "rag", "repo_id": "proj", "metadata": {"path": "a.py", "n": 1}},
            {"content": "two", "type": "rag", "repo_id": "proj", "metadata": {"path": "b.py"}},
            {"content": "three", "type": "rag", "repo_id": "other", "metadata": {"path": "c.py"}},
            {"content": "four", "type": "note", "repo_id": "proj", "metadata": {"path": "d.py"}},
        ]
    )
    filters = Filters(types=("rag",), repo_id="proj")

    rows = store.backend.scan_metadata(filters, ["path", "n", "missing"])

    assert rows == Backend.scan_metadata(store.backend, filters, ["path", "n", "missing"])
    assert [values for _, values in rows] == [["a.py", 1, None], ["b.py", None, None]]
    assert [row[0] for row in rows] == sorted(row[0] for row in rows)


def test_the_run_log_reads_the_same_on_every_backend(store: MemoryStore) -> None:
    backend = store.backend
    first = backend.add_ingestion(
        {"repo_id": "proj", "repo_path": "/src/proj", "started_at": "2025-01-01T00:00:00.000000Z"}
    )
    second = backend.add_ingestion(
        {"repo_id": "other", "repo_path": "/src/other", "started_at": "2025-01-02T00:00:00.000000Z"}
    )
    backend.update_ingestion(
        first,
        {
            "status": "completed",
            "files_seen": 3,
            "chunks_created": 7,
            "metadata": {"pid": 12, "skipped": {"binary": 1}},
            "finished_at": "2025-01-01T00:00:02.500000Z",
            "duration_seconds": 2.5,
        },
    )

    [run] = backend.ingestions("proj")
    assert run == {
        "id": first,
        "repo_id": "proj",
        "repo_path": "/src/proj",
        "status": "completed",
        "files_seen": 3,
        "files_indexed": 0,
        "files_skipped": 0,
        "files_removed": 0,
        "chunks_created": 7,
        "chunks_removed": 0,
        "error": None,
        "metadata": {"pid": 12, "skipped": {"binary": 1}},
        "started_at": "2025-01-01T00:00:00.000000Z",
        "finished_at": "2025-01-01T00:00:02.500000Z",
        "duration_seconds": 2.5,
    }
    assert [r["id"] for r in backend.ingestions()] == [second, first]
    assert [r["id"] for r in backend.ingestions(limit=1)] == [second]
    with pytest.raises(InvalidInputError, match="unknown ingestion column"):
        backend.update_ingestion(first, {"colour": "blue"})
    assert backend.delete_ingestions("proj") == 1
    assert [r["id"] for r in backend.ingestions()] == [second]
    assert backend.delete_ingestions("proj") == 0


# -- settings -----------------------------------------------------------------------------------
def test_ingest_settings_normalise_extensions_and_refuse_a_big_overlap() -> None:
    from pydantic import ValidationError

    assert IngestSettings(extensions=["py", ".MD"]).extensions == [".py", ".md"]
    with pytest.raises(ValidationError, match="overlap_tokens"):
        IngestSettings(chunk_tokens=200, overlap_tokens=100)


def test_ingest_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from mahavishnu.config import load_settings

    monkeypatch.setenv("MAHAVISHNU_INGEST__CHUNK_TOKENS", "128")
    monkeypatch.setenv("MAHAVISHNU_INGEST__EXTENSIONS", '[".py", ".go"]')

    settings = load_settings().ingest
    assert (settings.chunk_tokens, settings.extensions) == (128, [".py", ".go"])


def test_the_configured_extensions_decide_what_is_ingested(store: MemoryStore, repo: Path) -> None:
    ingest(store, repo, settings=IngestSettings(extensions=[".md"], chunk_tokens=48, overlap_tokens=8))

    assert sorted(by_path(store)) == ["README.md"]


def test_a_directory_that_cannot_be_listed_keeps_its_chunks(
    store: MemoryStore, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mahavishnu.memory.ingest import repo_walk

    ingest(store, repo)
    kept = {m.id for m in by_path(store)["pkg/core.py"]}
    real = repo_walk.os.scandir

    def failing(path: str | os.PathLike[str]) -> object:
        if Path(path).name == "pkg":
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(repo_walk.os, "scandir", failing)
    report = ingest(store, repo)

    assert report.status == "completed" and report.files_removed == 0
    assert "pkg: cannot list (Permission denied)" in report.warnings
    assert {m.id for m in by_path(store)["pkg/core.py"]} == kept
