"""An on-disk embedding cache for benchmarks: the same model never embeds the same text twice.

``CachedEmbedder(inner, directory)`` is an ``Embedder`` with ``inner``'s identity (stores record the
real model) whose vectors come from a SQLite file keyed by (model identity, kind, SHA-256 of the
text); only texts missing there reach ``inner``. Benchmarks embed SciFact's 5,183 abstracts once per
model, then every later run (other fusions, other datasets' stores) reads them in milliseconds.
``searched_once(store)``: within it, a store's repeated searches (a sweep's) are answered from memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from mahavishnu.memory.core.embedders.base import Embedder, Kind, TokenVectors, Vectors


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mahavishnu-benchmarks"


class CachedEmbedder(Embedder):
    """``inner``'s vectors, remembered on disk (see the module docstring)."""

    def __init__(self, inner: Embedder, directory: Path) -> None:
        self.inner = inner
        self.name, self.model, self.dimension = inner.name, inner.model, inner.dimension
        self.relevance_floor = inner.relevance_floor
        # Ingestion sizes chunks by these: the inner model's window and its own tokenizer.
        self.max_tokens = inner.max_tokens
        self.batch_size = max(inner.batch_size, 256)  # the inner embedder batches what is missing itself
        directory.mkdir(parents=True, exist_ok=True)
        # A hybrid search embeds its query on a worker thread (MemoryStore.query_vector).
        self.db = sqlite3.connect(directory / "embeddings.db", check_same_thread=False)
        self.lock = threading.Lock()
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB) WITHOUT ROWID"
        )
        self.misses = 0

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.inner.count_tokens(texts)

    def token_vectors(self, texts: Sequence[str]) -> list[TokenVectors] | None:
        return self.inner.token_vectors(texts)  # not kept: the judge asks for a few texts a query

    def _keys(self, texts: Sequence[str], kind: Kind) -> list[bytes]:
        prefix = f"{self.inner.identity}:{self.dimension}:{kind}:".encode()
        return [hashlib.sha256(prefix + t.encode("utf-8")).digest() for t in texts]

    def embed_batch(self, texts: Sequence[str], kind: Kind) -> Vectors:
        with self.lock:
            return self._embed_batch(texts, kind)

    def _embed_batch(self, texts: Sequence[str], kind: Kind) -> Vectors:
        keys = self._keys(texts, kind)
        found: dict[bytes, bytes] = {}
        for start in range(0, len(keys), 500):
            part = keys[start : start + 500]
            marks = ",".join("?" * len(part))
            found.update(self.db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", part))
        missing = [i for i, k in enumerate(keys) if k not in found]
        if missing:
            self.misses += len(missing)
            vectors = self.inner.embed_many([texts[i] for i in missing], kind=kind)
            rows = [(keys[i], v.astype(np.float32).tobytes()) for i, v in zip(missing, vectors, strict=True)]
            with self.db:
                self.db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", rows)
            found.update(rows)
        return np.stack([np.frombuffer(found[k], dtype=np.float32) for k in keys]).reshape(-1, self.dimension)


@contextmanager
def searched_once(store: Any) -> Iterator[None]:
    """``store.search`` answering a repeated call from memory (a sweep asks the same searches)."""
    search, answers = store.search, {}

    def remembered(query: str, **options: Any) -> Any:
        key = (query, json.dumps(options, sort_keys=True, default=str))
        if key not in answers:
            answers[key] = search(query, **options)
        return answers[key]

    store.search = remembered
    try:
        yield
    finally:
        del store.search
