"""The benchmarks' embedding cache must not change what it measures: same vectors, same chunks."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mahavishnu.config import IngestSettings
from mahavishnu.memory.core.embedders.fake import FakeEmbedder
from mahavishnu.memory.ingest.pipeline import file_chunks

_SPEC = importlib.util.spec_from_file_location(
    "_embed_cache", Path(__file__).resolve().parents[2] / "benchmarks" / "_embed_cache.py"
)
assert _SPEC is not None and _SPEC.loader is not None
_embed_cache = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_embed_cache)
CachedEmbedder = _embed_cache.CachedEmbedder


class SmallWindow(FakeEmbedder):
    """A model with a short window and a tokenizer unlike the base class's estimate."""

    max_tokens = 40

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(text) // 3 for text in texts]


SOURCE = "\n".join(f"def step_{i}(value):\n    return value * {i} + sum(range({i}))\n" for i in range(40))


def test_a_cached_model_chunks_a_file_as_ingestion_does_with_the_model_itself(tmp_path: Path) -> None:
    inner = SmallWindow()
    cached = CachedEmbedder(inner, tmp_path)

    assert cached.max_tokens == inner.max_tokens
    assert file_chunks("steps.py", SOURCE, cached, IngestSettings()) == file_chunks(
        "steps.py", SOURCE, inner, IngestSettings()
    )


def test_cached_vectors_are_the_models_and_are_embedded_once(tmp_path: Path) -> None:
    inner = FakeEmbedder()
    texts = ["retry with backoff", "colour palette", "retry with backoff"]

    first = CachedEmbedder(inner, tmp_path).embed_many(texts)
    again = CachedEmbedder(inner, tmp_path)

    np.testing.assert_allclose(again.embed_many(texts), inner.embed_many(texts))
    np.testing.assert_allclose(first, inner.embed_many(texts))
    assert again.misses == 0
