"""The local model, counting the texts it gives word-piece vectors of (``Embedder.token_vectors``):
how often a search or the prompt hook runs the model (``pieces.py``, ``judge.py``)."""

from __future__ import annotations

from collections.abc import Sequence

from mahavishnu.memory.core.embedders.base import TokenVectors
from mahavishnu.memory.core.embedders.local import LocalEmbedder


class Counting(LocalEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def token_vectors(self, texts: Sequence[str]) -> list[TokenVectors]:
        self.texts += texts
        return super().token_vectors(texts)
