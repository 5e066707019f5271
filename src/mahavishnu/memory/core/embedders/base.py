"""The embedder boundary: a backend implements one batch primitive, the base class does the rest.

Vectors are float32, L2-normalised, shape ``(n, dimension)``. ``kind`` tells document text from
queries, for models that embed them differently (nomic-embed-text's task prefixes).

``max_tokens`` is how much of one text the model reads (its window, special tokens excluded) and
``count_tokens`` what each text costs in those tokens: ingestion sizes chunks with them so a vector
covers all of its chunk, and ``embed_many`` groups texts of equal token length so no batch pays for
padding. An embedder with its own tokenizer counts exactly; the default estimates.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from mahavishnu.errors import DimensionMismatchError

Kind = Literal["document", "query"]
Vectors = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class TokenVectors:
    """One text as the model reads it: its word pieces (special tokens included) and each piece's
    contextual vector (the model's last hidden state, unit length), one row per piece."""

    pieces: tuple[str, ...]
    vectors: Vectors


# Roughly what a word-piece tokenizer makes of text: words and single punctuation marks.
_TOKENISH = re.compile(r"\w+|[^\w\s]")


class Embedder(ABC):
    """Turns text into unit vectors. Subclasses set ``name``, ``model``, ``dimension``."""

    name: str
    model: str
    dimension: int
    batch_size: int = 32
    #: Tokens of one text the model reads (special tokens excluded); the rest is truncated.
    max_tokens: int = 512
    #: The cosine with a query under which a text is unrelated to it (``memory/core/relevance.py``):
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

    def token_vectors(self, texts: Sequence[str]) -> list[TokenVectors] | None:
        """Each text's word pieces and their contextual vectors, for the relevance judge's
        ``covered`` feature (``memory/core/judge.py``); None: this embedder does not expose them
        (a remote API returns one vector a text)."""
        return None

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens each text costs (special tokens excluded); this default estimates them."""
        return [len(_TOKENISH.findall(text)) for text in texts]

    def token_starts(self, text: str) -> list[int] | None:
        """Where each token ``count_tokens`` counts in ``text`` starts (character offsets), from one
        pass over it: ingestion cuts a long line by them. None: not known (only estimated)."""
        return None

    def embed_many(self, texts: Sequence[str], kind: Kind = "document") -> Vectors:
        """Embed any number of texts in batches of equal token length (no padding), in input order."""
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        # One batch needs no order: skip the count (a query is embedded alone).
        tokens = self.count_tokens(texts) if len(texts) > self.batch_size else [0] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: (min(tokens[i], self.max_tokens), len(texts[i])))
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
