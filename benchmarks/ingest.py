"""Repository ingestion: incremental re-ingest time, and throughput against the bare embedder.

    PYTHONPATH=src python benchmarks/ingest.py [--repo PATH] [--files 1000] [--runtime onnx-int8] [--rounds 4]

1. Re-ingest of an unchanged 1,000-file repository: ``--files`` real source files (copied from this
   Python's site-packages) are ingested once (fake embedder: the embedding is not what is timed),
   then ingested again unchanged; prints the library call's time and the CLI's wall time
   (``python -m mahavishnu memory ingest``, interpreter start-up included).
2. Throughput on a real repository (``--repo``, default: the installed httpx package's source): a
   full ingestion with the local embedder into a fresh store (chunks/s over the whole run: walk,
   hashing, chunking, embedding, commits), then the bare embedder's ``embed_many`` over exactly the
   chunk texts stored, in alternating order; prints the median and best ratio ingest / bare, and
   the pipeline's own cost per chunk (an ingestion with an embedder that costs nothing).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mahavishnu.config import IngestSettings, MemorySettings
from mahavishnu.memory.backends.sqlite import SqliteBackend
from mahavishnu.memory.embedders.base import Embedder, Kind, Vectors
from mahavishnu.memory.embedders.fake import FakeEmbedder
from mahavishnu.memory.embedders.local import LocalEmbedder
from mahavishnu.memory.ingest import ingest_repository
from mahavishnu.memory.models import Filters, Memory
from mahavishnu.memory.store import MemoryStore


def copy_sources(target: Path, count: int) -> int:
    """``count`` .py files from site-packages, their relative layout kept."""
    site = Path(sysconfig.get_paths()["purelib"])
    copied = 0
    for path in sorted(site.rglob("*.py")):
        if copied >= count:
            break
        if "__pycache__" in path.parts or not 200 < path.stat().st_size < 200_000:
            continue
        dest = target / path.relative_to(site)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        copied += 1
    return copied


def reingest(files: int, work: Path) -> None:
    repo = work / "thousand"
    copied = copy_sources(repo, files)
    db = work / "reingest.db"
    settings = IngestSettings()
    with MemoryStore(SqliteBackend(db), MemorySettings(), FakeEmbedder()) as store:
        first = ingest_repository(store, repo, repo_id="thousand", settings=settings)
        start = time.perf_counter()
        again = ingest_repository(store, repo, repo_id="thousand", settings=settings)
        library = time.perf_counter() - start
    env = {**os.environ, "MAHAVISHNU_HOME": str(work / "home"), "MAHAVISHNU_MEMORY__PATH": str(db)}
    env["MAHAVISHNU_MEMORY__EMBEDDER"] = "local"  # the store holds fake vectors: pin the CLI to them
    start = time.perf_counter()
    cli = subprocess.run(
        [sys.executable, "-c", CLI_WITH_FAKE, str(repo)], env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - start
    print(f"re-ingest, unchanged repository of {copied} files ({first.chunks_created} chunks):")
    print(f"  first ingest (fake embedder)      {first.duration_seconds:7.2f} s")
    print(
        f"  re-ingest, library call           {library:7.2f} s   ({again.files_unchanged} unchanged, "
        f"{again.chunks_created} embedded)"
    )
    status = "ok" if cli.returncode == 0 else f"exit {cli.returncode}: {cli.stderr.strip()[-200:]}"
    print(f"  re-ingest, CLI wall time          {wall:7.2f} s   ({status})")


# The CLI as a user runs it, with the fake embedder the store was filled with.
CLI_WITH_FAKE = """
import sys
from mahavishnu.memory import store
from mahavishnu.memory.embedders.base import Embedder, Kind, Vectors
from mahavishnu.memory.embedders.fake import FakeEmbedder
store.default_embedder = lambda settings: FakeEmbedder()
from mahavishnu.cli.entry import run
sys.argv = ["mahavishnu", "memory", "ingest", sys.argv[1], "--repo-id", "thousand", "--json"]
run()
"""


class _FreeEmbedder(FakeEmbedder):
    """Costs nothing: what is left of an ingestion's time is the pipeline's own overhead."""

    def embed_batch(self, texts: Sequence[str], kind: Kind) -> Vectors:
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        vectors[:, 0] = 1.0
        return vectors


def _ingest_rate(embedder: Embedder, repo: Path, db: Path) -> tuple[float, float, list[str]]:
    """Chunks/s of a full ingestion into a fresh store (wall clock, and per CPU second of this
    process), and the chunk texts it stored."""
    with MemoryStore(SqliteBackend(db), MemorySettings(), embedder) as store:
        wall, cpu = time.perf_counter(), time.process_time()
        report = ingest_repository(store, repo, repo_id="bench", settings=IngestSettings())
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        texts = [m.content for _, m in sorted((m.id, m) for m in _all_rag(store))]
    return report.chunks_created / wall, report.chunks_created / cpu, texts


def _all_rag(store: MemoryStore) -> list[Memory]:
    out: list[Memory] = []
    while page := store.backend.recent(Filters(types=("rag",)), 1000, len(out)):
        out.extend(page)
    return out


def throughput(repo: Path, runtime: str, rounds: int, work: Path) -> None:
    free_rate, _, texts = _ingest_rate(_FreeEmbedder(384), repo, work / "free.db")
    embedder = LocalEmbedder(runtime)  # type: ignore[arg-type]
    embedder.embed_many(texts[:64])  # load and warm up the model
    ingest: list[tuple[float, float]] = []
    bare: list[tuple[float, float]] = []
    for round_ in range(rounds):

        def run_bare() -> None:
            wall, cpu = time.perf_counter(), time.process_time()
            embedder.embed_many(texts, kind="document")
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            bare.append((len(texts) / wall, len(texts) / cpu))

        if round_ % 2:  # alternate the order: the machine's other load drifts
            run_bare()
        ingest.append(_ingest_rate(embedder, repo, work / f"throughput-{round_}.db")[:2])
        if not round_ % 2:
            run_bare()
        print(
            f"  round {round_ + 1}: ingest {ingest[-1][0]:6.1f} chunks/s ({ingest[-1][1]:5.1f} per CPU s), "
            f"bare {bare[-1][0]:6.1f} chunks/s ({bare[-1][1]:5.1f} per CPU s)"
        )
    wall_ratios = [i[0] / b[0] for i, b in zip(ingest, bare, strict=True)]
    cpu_ratios = [i[1] / b[1] for i, b in zip(ingest, bare, strict=True)]
    median = statistics.median
    print(f"throughput on {repo} ({len(texts)} chunks, {embedder.identity}, {embedder.threads} threads):")
    print(f"  ingest (whole run), median        {median(i[0] for i in ingest):7.1f} chunks/s")
    print(f"  bare embed_many, same chunks      {median(b[0] for b in bare):7.1f} chunks/s")
    print(f"  ingest / bare, wall clock: median {median(wall_ratios):.1%}, best round {max(wall_ratios):.1%}")
    print(f"  ingest / bare, per CPU second of this process: median {median(cpu_ratios):.1%}")
    print(
        f"  pipeline overhead without embedding: {1000 / free_rate:.2f} ms/chunk "
        f"(bare embedding: {1000 / median(b[0] for b in bare):.1f} ms/chunk)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, help="repository for the throughput run (default: httpx)")
    parser.add_argument("--files", type=int, default=1000, help="files in the re-ingest repository")
    parser.add_argument("--runtime", default="onnx-int8", help="local embedder runtime")
    parser.add_argument("--rounds", type=int, default=4, help="throughput rounds")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        reingest(args.files, work)
        if not args.skip_throughput:
            import httpx

            repo = args.repo or Path(httpx.__file__).parent
            throughput(repo.resolve(), args.runtime, args.rounds, work)


if __name__ == "__main__":
    main()
