"""Repository ingestion (RAG); ``knowledge.py`` queries what it stores.

    with MemoryStore.open() as store:
        report = ingest_repository(store, "~/src/httpx", repo_id="httpx")

A run walks the tree (``repo_walk.py``), hashes every file and compares the hash (and the chunker
signature) with what its stored chunks record: an unchanged file costs one read and one SHA-256,
never an embedding. Then two phases:

1. *Text.* Changed files are chunked (``chunking.py``) to the embedder's window, measured in its
   own tokens, so each chunk's vector covers all of its text. Window by window, their chunks are
   swapped in with one transaction (old chunks deleted, new ones inserted) carrying a stand-in
   vector and ``vector_pending`` in their metadata: within seconds the whole repository answers
   full-text search, and hybrid search uses what is ready (the stand-in points away from every
   text, see ``standin_vector``, so it adds nothing to a vector match).
   A new chunk whose text the file already held (an edit elsewhere in the file, a new chunker
   signature) keeps that text's stored vector and is not pending.
2. *Vectors.* Every pending chunk of the repository (this run's, and any a stopped run left) is
   embedded in batches of equal token length and swapped for itself with its real vector, one
   transaction per window.

A run killed at any moment leaves every file wholly old or wholly new and every chunk either
pending or embedded; the next run picks up where it stopped. Ctrl-C raises ``IngestInterrupted``,
which carries the report of what was kept.

Each chunk is a ``rag`` memory scoped by ``repo_id``, its content the file's path on the first line
then the chunk text (so chunks of different files never collide as duplicates, and the path is
searchable); a Python chunk that starts inside a definition has the definitions it lies in on a
second line (``# class CodeGenerator > def visit_Name``, also its ``scope`` in the metadata), so a
method's later chunks still say whose they are. Metadata holds ``path``, ``start_line``,
``end_line``, ``language``, ``file_hash``, ``file_chunks`` (how many chunks the file has) and the
``chunker`` signature. The scope line is not counted in the chunk's size: where the chunk fills the
embedder's window, the scope is read and the chunk's last few tokens are not (their words are still
found by full text); code QA over seven libraries chose that (``knowledge.py``). Next to its chunks,
each file has its outline (``outline.py``): a ``rag`` memory tagged ``file-outline`` with
``outline: true``, for ranking files. Each run is a ``rag_ingestions`` row: pending ->
in_progress -> completed | failed, with counts and duration; a run whose process died is marked
failed by the next.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import hashlib
import os
import re
import socket
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from mahavishnu import paths, telemetry
from mahavishnu.clean_text import without_escapes
from mahavishnu.errors import InvalidInputError, StoreError, given_path, wrong_type
from mahavishnu.json_types import JSONObject
from mahavishnu.memory.core.embedders.base import normalise
from mahavishnu.memory.core.given import check_store
from mahavishnu.memory.core.models import (
    INGEST_SOURCE,
    Filters,
    Memory,
    MemoryDraft,
    check_label,
    check_list,
    check_name,
    format_time,
    scrub_draft,
    utcnow,
)
from mahavishnu.memory.ingest.chunking import Chunk, chunk_text, language_for
from mahavishnu.memory.ingest.outline import OUTLINE_KEY, OUTLINE_TAG, file_outline, python_scopes, scope_at
from mahavishnu.memory.ingest.repo_walk import (
    Candidate,
    WalkOptions,
    WalkResult,
    as_text,
    read_regular,
    walk,
)
from mahavishnu.redaction.scrub import scrub

if TYPE_CHECKING:
    from mahavishnu.config import IngestSettings
    from mahavishnu.memory.core.backends.base import Backend
    from mahavishnu.memory.core.embedders.base import Embedder, Vectors
    from mahavishnu.memory.core.store import MemoryStore
    from mahavishnu.telemetry import Measured

# A new one re-chunks every file (same text keeps its vector).
CHUNKER = "tokens-v1+scope+outline-words+count+no-escapes"
SCOPE_KEY = "scope"  # metadata key: the definitions a chunk starts inside, on its second line (knowledge.py)
FILE_CHUNKS = "file_chunks"  # metadata key: how many chunks the chunk's file has (knowledge.py)
PENDING = "vector_pending"  # metadata key of a chunk stored with a stand-in vector
_META_KEYS = ("path", "file_hash", "chunker", PENDING)
_MAX_WARNINGS = 100
_PENDING_BLOCK = 2_048  # pending chunks read at a time (and sorted by length)
# Generic code and prose: the stand-in vector points away from their mean (see standin_vector).
STANDIN_PROBES = (
    "import os",
    "def main():\n    return None",
    "class Config:\n    name: str",
    "# Usage\n\nRun the command with a path.",
    "A short note about the project.",
    "error: the request failed",
    "for item in items:\n    print(item)",
    '{"key": "value"}',
    "The study found a significant effect in patients.",
    "We decided to use PostgreSQL for the team server.",
    "Yesterday I went hiking with my family.",
    "How do I configure the timeout?",
)

Phase = Literal["text", "vectors"]


@dataclass(frozen=True, slots=True)
class IngestProgress:
    phase: Phase  # "text": changed files are chunked and stored; "vectors": chunks are embedded
    files_done: int
    files_total: int
    chunks_done: int  # chunks embedded
    chunks_total: int  # chunks to embed (an estimate until the last file is chunked)


ProgressFn = Callable[[IngestProgress], None]


@dataclass
class IngestReport:
    """What one run did; ``to_dict`` is the ``--json`` summary."""

    run_id: int
    repo_id: str
    repo_path: str
    status: str = "pending"
    files_seen: int = 0
    files_indexed: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    chunks_created: int = 0
    chunks_removed: int = 0
    chunks_embedded: int = 0  # this run's new chunks, and any a stopped run left without a vector
    chunks_reused: int = 0  # new chunks whose text a file already held: they keep its vector
    chunks_pending: int = 0  # chunks still waiting for their vector when the run ended
    skipped: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    duration_seconds: float = 0.0
    text_seconds: float = 0.0  # from the start until every changed file was searchable by text
    embed_seconds: float = 0.0

    @property
    def files_skipped(self) -> int:
        """Files left out, for any of the reasons ``skipped`` counts (ignored, binary, unreadable...);
        unchanged files are ``files_unchanged``, not skipped."""
        return sum(self.skipped.values())

    def warn(self, message: str) -> None:
        if len(self.warnings) < _MAX_WARNINGS:
            self.warnings.append(message)

    def to_dict(self) -> JSONObject:
        rate = self.chunks_embedded / self.embed_seconds if self.embed_seconds else 0.0
        return {
            "run_id": self.run_id,
            "repo_id": self.repo_id,
            "repo_path": self.repo_path,
            "status": self.status,
            "files_seen": self.files_seen,
            "files_indexed": self.files_indexed,
            "files_unchanged": self.files_unchanged,
            "files_skipped": self.files_skipped,
            "files_removed": self.files_removed,
            "chunks_created": self.chunks_created,
            "chunks_removed": self.chunks_removed,
            "chunks_embedded": self.chunks_embedded,
            "chunks_reused": self.chunks_reused,
            "chunks_pending": self.chunks_pending,
            "skipped": dict(self.skipped),
            "warnings": list(self.warnings),
            "error": self.error,
            "duration_seconds": round(self.duration_seconds, 3),
            "text_seconds": round(self.text_seconds, 3),
            "embed_seconds": round(self.embed_seconds, 3),
            "chunks_per_second": round(rate, 2),
        }


class IngestInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run; ``report`` tells what was kept (running it again resumes)."""

    def __init__(self, report: IngestReport) -> None:
        super().__init__("ingestion interrupted")
        self.report = report


@dataclass
class _Stored:
    """A file's chunks as the store holds them."""

    ids: list[int] = field(default_factory=list)
    hashes: set[str] = field(default_factory=set)
    chunkers: set[str] = field(default_factory=set)


@dataclass
class _Window:
    """Files chunked and waiting to be committed together."""

    old_ids: list[int] = field(default_factory=list)
    drafts: list[MemoryDraft] = field(default_factory=list)
    vectors: list[Vectors | None] = field(default_factory=list)  # a reused vector, or None: pending
    files: int = 0  # files committed by this window
    indexed: int = 0  # of which text files (the others, binary or undecodable, only lose old chunks)


def read_file(path: Path, limit: int) -> bytes:
    """The file's bytes (a seam: tests make it fail), only as the walk took it: a regular file of at
    most ``limit`` bytes, not through a link. A file swapped after the walk for a FIFO waited forever,
    one for a link out of the tree was read (``/etc/passwd``), one that grew was read whole."""
    try:
        return read_regular(path, limit)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # (its strerror says "Too many levels of symbolic links")
            raise OSError(errno.ELOOP, "a symbolic link since the walk, not followed") from None
        raise


# -- ingest -------------------------------------------------------------------------------------
def ingest_repository(
    store: MemoryStore,
    path: Path | str,
    *,
    repo_id: str | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    settings: IngestSettings | None = None,
    progress: ProgressFn | None = None,
) -> IngestReport:
    """Bring the store's ``rag`` memories of one repository in line with the tree at ``path``."""
    check_store("ingest_repository", store)
    with telemetry.measure("memory.ingest", backend=store.backend.name) as measured:
        try:
            report = _ingest(store, path, repo_id, include, exclude, settings, progress)
        except IngestInterrupted as stopped:
            _measured(measured, stopped.report, "interrupted")
            raise
        _measured(measured, report, "ok")
    return report


def _measured(measured: Measured, report: IngestReport, outcome: str) -> None:
    measured.set(outcome=outcome)
    measured.count("files_indexed", report.files_indexed)
    measured.count("chunks_created", report.chunks_created)
    measured.count("chunks_embedded", report.chunks_embedded)


def _ingest(
    store: MemoryStore,
    path: Path | str,
    repo_id: str | None,
    include: Sequence[str],
    exclude: Sequence[str],
    settings: IngestSettings | None,
    progress: ProgressFn | None,
) -> IngestReport:
    from mahavishnu.config import IngestSettings, load_settings

    if settings is None:
        settings = load_settings().ingest
    elif not isinstance(settings, IngestSettings):  # ("'int' object has no attribute ...")
        raise wrong_type("ingest_repository", "IngestSettings (or None)", settings)
    include = check_list("include must be a list of glob patterns", include)
    exclude = check_list("exclude must be a list of glob patterns", exclude)
    root = checked_root(path)
    backend = store.backend
    repo_id = _repo_id(backend, root, repo_id)
    embedder = store.embedder  # binds (or refuses) the embedder before anything is recorded
    with _one_run(backend, repo_id):
        _close_stale_runs(backend, repo_id)
        started, now = time.monotonic(), utcnow()
        meta: JSONObject = {"pid": os.getpid(), "host": socket.gethostname(), "embedder": embedder.identity}
        if include or exclude:  # what resuming needs besides the path and the id (`memory repos` shows it)
            meta |= {"include": [*include], "exclude": [*exclude]}
        run_id = backend.add_ingestion(
            {
                "repo_id": repo_id,
                "repo_path": scrub(as_text(str(root))),  # a folder named after a pasted key: scrubbed
                "status": "pending",
                "started_at": format_time(now),
                "metadata": meta,
            }
        )
        report = IngestReport(run_id, repo_id, as_text(str(root)))
        run = _Run(store, embedder, root, settings, report, progress)
        try:
            run.run(tuple(include), tuple(exclude))
        except KeyboardInterrupt:
            report.status, report.error = "failed", "interrupted (Ctrl-C); running it again resumes"
            report.chunks_pending = len(run.pending)
            _finish(backend, report, started, meta)
            raise IngestInterrupted(report) from None
        except BaseException as exc:
            report.status, report.error = "failed", str(exc) or type(exc).__name__
            report.chunks_pending = len(run.pending)
            _finish(backend, report, started, meta)
            raise
        report.status, report.chunks_pending = "completed", len(run.pending)
        _finish(backend, report, started, meta)
        return report


def checked_root(path: Path | str) -> Path:
    root = Path(given_path("ingest_repository", path)).expanduser()
    if not root.exists():
        raise InvalidInputError(f"{root} does not exist", hint="Pass the path of a repository directory.")
    if not root.is_dir():
        raise InvalidInputError(f"{root} is not a directory", hint="Pass the repository's top directory.")
    return root.resolve()


def _repo_id(backend: Backend, root: Path, repo_id: str | None) -> str:
    if repo_id is not None:
        checked = check_name("repository", check_label("repo_id", repo_id))
        assert checked is not None
        return scrub(checked)
    derived = scrub(root.name or "root")
    try:
        check_name("repository", derived)
    except InvalidInputError as exc:
        raise InvalidInputError(exc.message, hint="Name it with --repo-id NAME.") from None
    last = backend.ingestions(derived, limit=1)
    if last and last[0]["repo_path"] != scrub(as_text(str(root))):
        raise InvalidInputError(
            f"repository id {derived!r} already names {last[0]['repo_path']}",
            hint="Name this one with --repo-id (or pass --repo-id to move that one here).",
        )
    return derived


@contextlib.contextmanager
def _one_run(backend: Backend, repo_id: str) -> Iterator[None]:
    """Hold the repository's ingest lock for the whole run: the store's own (PostgreSQL, shared by
    machines), else a lock file on this machine. Looking for a live run and recording this one are
    two steps: two runs started together both found none and both ran (two threads of one
    process, with one pid, were never told apart at all)."""
    from mahavishnu.files.safe_write import held_now

    shared = backend.ingest_lock(repo_id)
    if shared is not None:
        with shared:
            yield
        return
    locks = paths.make_dir(paths.data_dir() / "ingest" / "locks")
    key = hashlib.sha256(f"{backend.location}\0{repo_id}".encode()).hexdigest()[:32]
    refused = StoreError(
        f"repository {repo_id!r} is being ingested by another run on this machine",
        hint="Wait for it to finish, or stop it and run again.",
    )
    with held_now(locks / f"{key}.lock", refused):
        yield


def _close_stale_runs(backend: Backend, repo_id: str) -> None:
    """Mark runs whose process died as failed; refuse to run beside a live one."""
    for run in backend.ingestions(repo_id, limit=20):
        if run["status"] not in ("pending", "in_progress"):
            continue
        meta = run["metadata"]
        if meta.get("host") == socket.gethostname() and _alive(meta.get("pid")):
            raise StoreError(
                f"repository {repo_id!r} is being ingested by process {meta['pid']} (run #{run['id']})",
                hint="Wait for it to finish, or stop it and run again.",
            )
        backend.update_ingestion(
            run["id"],
            {
                "status": "failed",
                "error": "interrupted: the process ended before the run finished",
                "finished_at": format_time(utcnow()),
            },
        )


def was_interrupted(run: Mapping[str, object]) -> bool:
    """Whether a finished run was stopped (Ctrl-C, or its process killed and the run closed by the
    next one) rather than failed: what it did is kept and the same ingest resumes it."""
    return run.get("status") == "failed" and str(run.get("error") or "").startswith("interrupted")


def run_process_ended(run: Mapping[str, object]) -> bool:
    """Whether a run still recorded as pending or in progress was started on this host by a
    process that is gone (killed): it will never finish. A run of another host, or of this very
    process, cannot be told from here and counts as going on."""
    if run.get("status") not in ("pending", "in_progress"):
        return False
    meta = run.get("metadata") or {}
    if not isinstance(meta, Mapping):  # a run's metadata is a JSON object
        return False
    pid = meta.get("pid")
    if meta.get("host") != socket.gethostname() or not isinstance(pid, int) or pid == os.getpid():
        return False
    return not _alive(pid)


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _finish(backend: Backend, report: IngestReport, started: float, meta: JSONObject) -> None:
    report.duration_seconds = time.monotonic() - started
    details: JSONObject = {
        **meta,
        "chunker": CHUNKER,
        "files_unchanged": report.files_unchanged,
        "skipped": {**report.skipped},
        "warnings": [*report.warnings],
        "chunks_embedded": report.chunks_embedded,
        "chunks_pending": report.chunks_pending,
        "text_seconds": round(report.text_seconds, 3),
        "embed_seconds": round(report.embed_seconds, 3),
    }
    backend.update_ingestion(
        report.run_id,
        {
            "status": report.status,
            "files_seen": report.files_seen,
            "files_indexed": report.files_indexed,
            "files_skipped": report.files_skipped,
            "files_removed": report.files_removed,
            "chunks_created": report.chunks_created,
            "chunks_removed": report.chunks_removed,
            "error": report.error,
            "metadata": details,
            "finished_at": format_time(utcnow()),
            "duration_seconds": report.duration_seconds,
        },
    )


def chunk_limit(embedder: Embedder, settings: IngestSettings) -> int:
    """Tokens a chunk may hold before its overlap: what the embedder reads, less the overlap."""
    return max(8, min(settings.chunk_tokens, embedder.max_tokens) - settings.overlap_tokens)


def file_chunks(path: str, text: str, embedder: Embedder, settings: IngestSettings) -> list[Chunk]:
    """The chunks of one file, each of which, with the path line before it, fits the embedder (a
    scope line, ``_drafts``, takes the place of the last few tokens when it does not)."""
    heading_tokens = embedder.count_tokens([f"{path}\n"])[0]
    limit = max(8, chunk_limit(embedder, settings) - heading_tokens)
    return chunk_text(
        text, language_for(path), limit, settings.overlap_tokens, embedder.count_tokens, embedder.token_starts
    )


def standin_vector(embedder: Embedder) -> Vectors:
    """The vector a chunk holds until its own is computed: the unit vector opposite the mean of a
    few generic texts. Embeddings share a common direction, so its cosine with a real query is
    at most about zero: fusion counts that as no similarity, and a vector search ranks it last."""
    mean = embedder.embed_many(list(STANDIN_PROBES), kind="document").mean(axis=0, keepdims=True)
    standin: Vectors = normalise(-mean)[0]
    return standin


class _Run:
    """One ingestion: decide what changed, store its text window by window, then embed it."""

    def __init__(
        self,
        store: MemoryStore,
        embedder: Embedder,
        root: Path,
        settings: IngestSettings,
        report: IngestReport,
        progress: ProgressFn | None,
    ) -> None:
        self.store, self.backend, self.embedder = store, store.backend, embedder
        self.root, self.settings, self.report = root, settings, report
        self.progress = progress
        limit = chunk_limit(embedder, settings)
        self.signature = f"{CHUNKER}:{embedder.identity}:{limit}:{settings.overlap_tokens}"
        self.started = time.monotonic()
        self.phase: Phase = "text"
        self.standin: Vectors | None = None
        self.pending: set[int] = set()  # ids of the repository's chunks still without their vector
        self.files_total = self.files_done = self.chunks_done = 0
        self.carried = 0  # chunks a stopped run left without their vector
        self.bytes_total = self.bytes_chunked = self.chunks_made = 0

    def run(self, include: tuple[str, ...], exclude: tuple[str, ...]) -> None:
        walked = self._walk(include, exclude)
        report = self.report
        stored = self._stored()
        todo, keep = self._changed(walked.files, stored)
        keep.update(p for p in stored if _under_any(p, walked.unlisted))  # unseen is not deleted
        changed = {scrub(path) for path in todo}
        self._remove([path for path in stored if path not in keep and path not in changed], stored)
        self.carried = len(self.pending - {i for path in changed if path in stored for i in stored[path].ids})
        self.files_total = len(todo)
        self.bytes_total = sum(c.size for c in todo.values())
        self._notify()
        self._store_text(todo, stored)
        report.text_seconds = time.monotonic() - self.started
        self._embed_pending()

    def _walk(self, include: tuple[str, ...], exclude: tuple[str, ...]) -> WalkResult:
        """The repository's files to consider, counted in the report (and the run's row)."""
        options = WalkOptions(
            extensions=frozenset(self.settings.extensions),
            max_file_bytes=self.settings.max_file_bytes,
            exclude=(*self.settings.exclude, *exclude),
            include=include,
        )
        walked = walk(self.root, options)
        report = self.report
        report.skipped.update(walked.skipped)
        for message in walked.warnings:
            report.warn(message)
        report.files_seen = len(walked.files)
        self.backend.update_ingestion(
            report.run_id, {"status": "in_progress", "files_seen": report.files_seen}
        )
        return walked

    # -- what changed -------------------------------------------------------------------------
    def _stored(self) -> dict[str, _Stored]:
        """Chunks this repository's ingestions stored (rag memories stored by hand are left alone),
        by their file's path as stored: scrubbed (``scrub(candidate.path)`` finds a file's)."""
        filters = Filters(types=("rag",), repo_id=self.report.repo_id, source_system=INGEST_SOURCE)
        files: dict[str, _Stored] = defaultdict(_Stored)
        for memory_id, (path, file_hash, chunker, pending) in self.backend.scan_metadata(filters, _META_KEYS):
            if not isinstance(path, str):
                continue
            if pending:
                self.pending.add(memory_id)
            entry = files[path]
            entry.ids.append(memory_id)
            entry.hashes.add(str(file_hash))
            entry.chunkers.add(str(chunker))
        return dict(files)

    def _changed(
        self, files: list[Candidate], stored: dict[str, _Stored]
    ) -> tuple[dict[str, Candidate], set[str]]:
        """Files to (re)index, and paths (as stored) whose stored chunks stay as they are."""
        todo: dict[str, Candidate] = {}
        keep: set[str] = set()
        # A file named after a key is stored under its scrubbed name: found by it, not re-indexed
        # (files whose names scrub alike share their chunks' path: they are indexed together).
        names = Counter(scrub(candidate.path) for candidate in files)
        for candidate in files:
            name = scrub(candidate.path)
            if names[name] == 1 and self._stays(candidate, stored.get(name)):
                keep.add(name)
            else:
                todo[candidate.path] = candidate
        return todo, keep

    def _stays(self, candidate: Candidate, old: _Stored | None) -> bool:
        """Whether a file's stored chunks (``old``, None when it has none) stay as they are: it could
        not be read (maybe passing trouble), has nothing to store, or is unchanged."""
        try:
            data = read_file(candidate.source, self.settings.max_file_bytes)
        except OSError as exc:
            self._skip(candidate.path, "unreadable", f"cannot read ({exc.strerror or exc})")
            return True
        if old is None:
            return self._nothing_to_store(candidate.path, data)
        if old.hashes == {hashlib.sha256(data).hexdigest()} and old.chunkers == {self.signature}:
            self.report.files_unchanged += 1
            return True
        return False

    def _nothing_to_store(self, path: str, data: bytes) -> bool:
        """An empty or binary file (counted as skipped), now as before."""
        if not data.strip():
            self._skip(path, "empty")
            return True
        return self._text(path, data) is None

    def _text(self, path: str, data: bytes) -> str | None:
        """A file's text to chunk; None, counted as skipped, for a binary or undecodable one."""
        try:
            text = decode_text(data)
        except UnicodeDecodeError as exc:
            reason = f"neither UTF-8 nor Windows-1252 text (byte {exc.start}), skipped"
            self._skip(path, "bad encoding", reason)
            return None
        if text is None:
            self._skip(path, "binary")
        return text

    def _skip(self, path: str, reason: str, message: str | None = None) -> None:
        self.report.skipped[reason] += 1
        if message:
            self.report.warn(f"{path}: {message}")

    def _remove(self, paths: list[str], stored: dict[str, _Stored]) -> None:
        ids = [i for path in paths for i in stored[path].ids]
        if ids:
            self.backend.replace(ids, [], _no_vectors(self.embedder), model="", now=utcnow())
            self.pending.difference_update(ids)
        self.report.files_removed += len(paths)
        self.report.chunks_removed += len(ids)

    # -- phase 1: text ------------------------------------------------------------------------
    def _store_text(self, todo: dict[str, Candidate], stored: dict[str, _Stored]) -> None:
        window = _Window()
        for path, candidate in todo.items():
            self._add_file(window, candidate, stored.pop(scrub(path), None))  # (two names, one scrubbed)
            if len(window.drafts) >= self.settings.window_chunks:
                self._commit_text(window)
                window = _Window()
        self._commit_text(window)

    def _add_file(self, window: _Window, candidate: Candidate, old: _Stored | None) -> None:
        """Chunk one file into the window; a file that cannot be read keeps its chunks."""
        self.bytes_chunked += candidate.size
        try:
            data = read_file(candidate.source, self.settings.max_file_bytes)
        except OSError as exc:
            self._skip(candidate.path, "unreadable", f"cannot read ({exc.strerror or exc})")
            self.files_done += 1
            return
        window.files += 1
        window.old_ids.extend(old.ids if old else ())
        try:
            drafts = self._drafts(candidate.path, data)
        except Exception as exc:  # a file must never stop the run
            self._skip(candidate.path, "failed to chunk", f"cannot be chunked ({exc!r})")
            return
        if drafts is not None:
            window.indexed += 1
            known = self._known_vectors(old)
            for draft in drafts:
                vector = known.get(draft.content)
                window.drafts.append(draft if vector is None else _embedded_draft(draft))
                window.vectors.append(vector)
            self.chunks_made += len(drafts)

    def _known_vectors(self, old: _Stored | None) -> dict[str, Vectors]:
        """The vectors of a file's stored chunks, by their text: a chunk whose text is unchanged
        (an edit elsewhere in the file, a new chunker signature) is not embedded again."""
        ids = [i for i in (old.ids if old else ()) if i not in self.pending]
        if not ids:
            return {}
        rows, vectors = self.backend.get(ids), self.backend.vectors(ids)
        model = self.embedder.identity
        return {m.content: vectors[i] for i, m in rows.items() if i in vectors and m.embedding_model == model}

    def _drafts(self, path: str, data: bytes) -> list[MemoryDraft] | None:
        """The file's chunks as drafts; None for a file that is not text (see ``decode_text``)."""
        text = self._text(path, data)
        if text is None:
            return None
        text = without_escapes(text)  # a log's colour codes are no words to find, nor text to quote
        language = language_for(path)
        scopes = python_scopes(text) if language == "python" else []
        pieces: dict[str, tuple[Chunk, str]] = {}
        for chunk in file_chunks(path, text, self.embedder, self.settings):
            scope = scope_at(scopes, chunk.start_line)
            heading = f"{path}\n# {scope}\n" if scope else f"{path}\n"
            pieces.setdefault(scrub(heading + chunk.text), (chunk, scope))  # secrets never reach the store
        common: JSONObject = {
            "path": path,
            "language": language,
            "file_hash": hashlib.sha256(data).hexdigest(),
            "chunker": self.signature,
            FILE_CHUNKS: len(pieces),
            PENDING: True,
        }
        drafts: dict[str, MemoryDraft] = {}
        for content, (chunk, scope) in pieces.items():
            meta: JSONObject = {**common, "start_line": chunk.start_line, "end_line": chunk.end_line}
            if scope:
                meta[SCOPE_KEY] = scope
            drafts[content] = self._draft(content, meta)
        if drafts:
            embedder = self.embedder
            outline = scrub(file_outline(path, text, language, embedder.max_tokens, embedder.count_tokens))
            meta = {**common, "start_line": 1, "end_line": max(1, len(text.splitlines())), OUTLINE_KEY: True}
            drafts.setdefault(outline, self._draft(outline, meta, (OUTLINE_TAG,)))
        max_chars = self.store.settings.max_content_chars
        return [d.checked(max_chars) for d in drafts.values()]

    def _draft(self, content: str, meta: JSONObject, tags: tuple[str, ...] = ()) -> MemoryDraft:
        repo = self.report.repo_id
        draft = MemoryDraft(
            content, "rag", tags=tags, metadata=meta, repo_id=repo, source_system=INGEST_SOURCE
        )
        return scrub_draft(draft)  # the file's path too (``content`` is scrubbed already: the dedup key)

    def _commit_text(self, window: _Window) -> None:
        """Swap the window's files in at once, their chunks searchable by text from now on."""
        if not window.files:
            return
        vectors = _no_vectors(self.embedder)
        if window.drafts:
            vectors = np.stack([self._standin() if v is None else v for v in window.vectors])
        made = self.backend.replace(
            window.old_ids, window.drafts, vectors, model=self.embedder.identity, now=utcnow()
        )
        self.pending.difference_update(window.old_ids)
        self.pending.update(m.id for m, v in zip(made, window.vectors, strict=True) if v is None)
        self.report.files_indexed += window.indexed
        self.report.chunks_created += len(window.drafts)
        self.report.chunks_reused += sum(v is not None for v in window.vectors)
        self.report.chunks_removed += len(window.old_ids)
        self.files_done += window.files
        self._notify()

    def _standin(self) -> Vectors:
        if self.standin is None:
            self.standin = standin_vector(self.embedder)
        return self.standin

    # -- phase 2: vectors ---------------------------------------------------------------------
    def _embed_pending(self) -> None:
        """Embed every pending chunk of the repository (a stopped run's too), window by window."""
        self.phase = "vectors"
        pending = sorted(self.pending)
        self._notify()
        step = self.settings.window_chunks
        for start in range(0, len(pending), _PENDING_BLOCK):
            # Windows of similar length: the batches inside embed_many then carry no padding.
            memories = self.backend.get(pending[start : start + _PENDING_BLOCK]).values()
            block = sorted(memories, key=lambda m: len(m.content))
            for first in range(0, len(block), step):
                self._embed_window(block[first : first + step])

    def _embed_window(self, memories: list[Memory]) -> None:
        began = time.monotonic()
        vectors = self.embedder.embed_many([m.content for m in memories], kind="document")
        self.report.embed_seconds += time.monotonic() - began
        drafts = [_embedded(m) for m in memories]
        ids = [m.id for m in memories]
        self.backend.replace(ids, drafts, vectors, model=self.embedder.identity, now=utcnow())
        self.pending.difference_update(ids)
        self.report.chunks_embedded += len(memories)
        self.chunks_done += len(memories)
        self._notify()

    def _notify(self) -> None:
        if self.progress is None:
            return
        if self.phase == "vectors":
            total = self.chunks_done + len(self.pending)
        else:  # the chunks still to make, estimated from the bytes chunked so far
            per_byte = self.chunks_made / self.bytes_chunked if self.bytes_chunked else 1 / 900
            made = self.chunks_made + round((self.bytes_total - self.bytes_chunked) * per_byte)
            total = self.carried + made
        self.progress(
            IngestProgress(
                self.phase, self.files_done, self.files_total, self.chunks_done, max(total, self.chunks_done)
            )
        )


def _embedded_draft(draft: MemoryDraft) -> MemoryDraft:
    """A new chunk that carries its vector already (not pending)."""
    return replace(draft, metadata={k: v for k, v in draft.metadata.items() if k != PENDING})


def _embedded(memory: Memory) -> MemoryDraft:
    """The chunk as it is once its vector is stored."""
    metadata = {k: v for k, v in memory.metadata.items() if k != PENDING}
    return MemoryDraft(
        memory.content,
        memory.memory_type,
        memory.tags,
        metadata,
        memory.project,
        memory.repo_id,
        memory.agent_id,
        memory.session_id,
        memory.workflow_id,
        memory.source_system,
    )


def decode_text(data: bytes) -> str | None:
    """A file's text: UTF-16 with its byte-order mark (Windows editors write it), UTF-8, or else
    Windows-1252 (legacy Latin text, where UTF-8 fails on an accent). None when a NUL says it is
    binary, wherever it is (PostgreSQL refuses text holding one: the whole run failed);
    UnicodeDecodeError when no encoding fits or the Windows-1252 reading has control characters
    (binary after all)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = data.decode("utf-16")
        return None if "\x00" in text else text
    if b"\x00" in data:  # (memchr: a megabyte in microseconds)
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as not_utf8:
        text = data.decode("cp1252")  # raises on the five bytes it leaves undefined
        control = _CONTROL.search(text)
        if control is not None:
            at = control.start()
            raise UnicodeDecodeError("cp1252", data, at, at + 1, "control character") from not_utf8
        return text


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _no_vectors(embedder: Embedder) -> Vectors:
    return np.empty((0, embedder.dimension), np.float32)


def _under_any(path: str, directories: list[str]) -> bool:
    return any(not d or path.startswith(d + "/") for d in directories)
