"""A deterministic, dependency-free embedder for unit tests.

Hashes word unigrams into a fixed number of buckets, so texts sharing words are close:
good enough to test ranking and filters without a model.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from mahavishnu.memory.core.embedders.base import Embedder, Kind, Vectors, normalise

_WORD = re.compile(r"\w+")


class FakeEmbedder(Embedder):
    name = "fake"
    # Two short texts without a shared word still meet in a bucket now and then (cosine ~0.1-0.2).
    relevance_floor = 0.2

    def __init__(self, dimension: int = 64, model: str = "hashing-v1") -> None:
        self.dimension = dimension
        self.model = model
        self.calls = 0

    def embed_batch(self, texts: Sequence[str], kind: Kind) -> Vectors:
        self.calls += 1
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
                out[row, bucket % self.dimension] += 1.0
        return normalise(out)
