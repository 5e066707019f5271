"""The embedder boundary: a backend implements one batch primitive, the base class does the rest.

Vectors are float32, L2-normalised, shape ``(n, dimension)``. ``kind`` tells document text from
queries, for models that embed them differently (nomic-embed-text's task prefixes).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

from mahavishnu.errors import DimensionMismatchError

Kind = Literal["document", "query"]
Vectors = npt.NDArray[np.float32]


class Embedder(ABC):
    """Turns text into unit vectors. Subclasses set ``name``, ``model``, ``dimension``."""

    name: str
    model: str
    dimension: int
    batch_size: int = 32
    #: The cosine with a query under which a text is unrelated to it (``memory/relevance.py``):
    #: measured per model on the development data; 0 where nothing was measured (no floor).
    relevance_floor: float = 0.0

    @abstractmethod
    def embed_batch(self, texts: Sequence[str], kind: Kind) -> Vectors:
        """Embed one batch; the only method a backend must implement."""

    @property
    def identity(self) -> str:
        """What a store records to refuse vectors from a different model: ``name/model``."""
        return f"{self.name}/{self.model}"

    def embed(self, text: str, kind: Kind = "query") -> Vectors:
        vector: Vectors = self.embed_many([text], kind=kind)[0]
        return vector

    def embed_many(self, texts: Sequence[str], kind: Kind = "document") -> Vectors:
        """Embed any number of texts in length-sorted batches (less padding), in input order."""
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            out[idx] = self._checked(self.embed_batch([texts[i] for i in idx], kind), len(idx))
        return out

    def _checked(self, vectors: Vectors, expected_rows: int) -> Vectors:
        if vectors.ndim != 2 or vectors.shape != (expected_rows, self.dimension):
            raise DimensionMismatchError(
                f"embedder {self.identity} returned shape {vectors.shape}, "
                f"expected ({expected_rows}, {self.dimension})",
                hint="Check the embedder's model setting: its dimension must match the store's.",
            )
        return vectors


def normalise(vectors: npt.NDArray[np.floating]) -> Vectors:
    """Scale rows to unit length (zero rows stay zero)."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    unit: Vectors = v / np.maximum(norms, 1e-12)
    return unit
