"""The Embedder base class: batching, input order, shape checks, normalisation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from mahavishnu.errors import DimensionMismatchError
from mahavishnu.memory.core.embedders import Embedder, FakeEmbedder, Kind, Vectors, normalise


class RecordingEmbedder(Embedder):
    """Encodes each text's length in its vector, and records every batch it is given."""

    name = "recording"
    model = "len-v1"

    def __init__(self, dimension: int = 4, batch_size: int = 3, rows_off_by: int = 0) -> None:
        self.dimension = dimension
        self.batch_size = batch_size
        self.rows_off_by = rows_off_by
        self.batches: list[tuple[list[str], Kind]] = []

    def embed_batch(self, texts: Sequence[str], kind: Kind) -> Vectors:
        self.batches.append((list(texts), kind))
        out = np.zeros((len(texts) + self.rows_off_by, self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row, 0] = len(text)
            out[row, 1] = 1.0
        return out


def test_embed_many_returns_vectors_in_input_order() -> None:
    texts = ["ccc", "a", "bbbbb", "dd", "", "eeee", "f"]
    vectors = RecordingEmbedder().embed_many(texts)
    assert vectors.shape == (7, 4)
    assert vectors.dtype == np.float32
    assert vectors[:, 0].tolist() == [len(t) for t in texts]


def test_batches_hold_texts_of_similar_length_and_respect_batch_size() -> None:
    embedder = RecordingEmbedder(batch_size=3)
    embedder.embed_many(["x" * n for n in (9, 1, 7, 3, 5, 2, 8)])
    assert [[len(t) for t in batch] for batch, _ in embedder.batches] == [[1, 2, 3], [5, 7, 8], [9]]


def test_kind_reaches_the_backend() -> None:
    embedder = RecordingEmbedder()
    embedder.embed_many(["a document"])
    embedder.embed("a query")
    assert [kind for _, kind in embedder.batches] == ["document", "query"]


def test_embed_returns_one_vector() -> None:
    vector = RecordingEmbedder().embed("four")
    assert vector.shape == (4,)
    assert vector[0] == 4


def test_nothing_to_embed_calls_nothing() -> None:
    embedder = RecordingEmbedder()
    assert embedder.embed_many([]).shape == (0, 4)
    assert embedder.batches == []


def test_a_backend_returning_the_wrong_number_of_rows_is_refused() -> None:
    with pytest.raises(DimensionMismatchError, match=r"returned shape \(4, 4\), expected \(3, 4\)"):
        RecordingEmbedder(rows_off_by=1).embed_many(["a", "b", "c"])


def test_a_backend_returning_the_wrong_dimension_is_refused() -> None:
    class Wide(RecordingEmbedder):
        def embed_batch(self, texts: Sequence[str], kind: Kind) -> Vectors:
            return np.ones((len(texts), self.dimension + 1), dtype=np.float32)

    with pytest.raises(DimensionMismatchError) as caught:
        Wide().embed_many(["a"])
    assert caught.value.hint


def test_normalise_makes_unit_rows_and_keeps_zero_rows_zero() -> None:
    out = normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)


def test_fake_embedder_is_deterministic_and_counts_batches() -> None:
    fake = FakeEmbedder(dimension=32)
    fake.batch_size = 2
    first = fake.embed_many(["the cat", "a dog", "the cat sat"])
    assert fake.calls == 2
    np.testing.assert_array_equal(
        first, FakeEmbedder(dimension=32).embed_many(["the cat", "a dog", "the cat sat"])
    )
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-6)
    assert first[0] @ first[2] > first[0] @ first[1]
    assert fake.identity == "fake/hashing-v1"
