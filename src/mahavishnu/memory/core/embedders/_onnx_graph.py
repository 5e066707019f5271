"""all-MiniLM-L6-v2's BERT encoder as an in-memory ONNX model, built from its weights (fp32 or int8).

No torch export and no ``onnx`` package: the few protobuf messages ONNX needs (ModelProto, GraphProto,
NodeProto, TensorProto, ...) are written by hand below, following onnx/onnx.proto, and a packaged
model's weights are read back the same way (``read_initializers``). onnxruntime then
runs the exact fp32 model about as fast as torch does. The graph mirrors ``transformers``' BertModel
(absolute positions, token type 0, post-LayerNorm, exact erf GELU) and outputs ``last_hidden_state``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

#: A numeric array: the graph's initializers are float32, int8 or int64 (``_DATA_TYPES``).
Tensor: TypeAlias = npt.NDArray[np.number]
#: BERT's weights under their ``transformers`` names.
Weights: TypeAlias = Mapping[str, Tensor]

_FLOAT, _INT8, _INT64 = 1, 3, 7  # onnx.TensorProto.DataType
_ATTR_FLOAT, _ATTR_INT, _ATTR_INTS = 1, 2, 7  # onnx.AttributeProto.AttributeType
IR_VERSION = 8
OPSET = 17  # LayerNormalization
_MS_DOMAIN = "com.microsoft"  # onnxruntime's contrib operators (DynamicQuantizeMatMul, MultiHeadAttention)


# -- protobuf wire format -----------------------------------------------------------------------


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64s are sent as their two's complement
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _bytes(field: int, value: bytes | str) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _float(field: int, value: float) -> bytes:
    return _varint(field << 3 | 5) + struct.pack("<f", value)


_DATA_TYPES: dict[np.dtype[np.number], int] = {
    np.dtype(np.float32): _FLOAT,
    np.dtype(np.int8): _INT8,
    np.dtype(np.int64): _INT64,
}


def _read_varint(data: memoryview, pos: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it."""
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def _fields(data: memoryview) -> Iterator[tuple[int, int | memoryview]]:
    """(field number, value) of each field of one message: an int, or the bytes of a nested one."""
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(data, pos)
            yield field, value
        elif wire == 2:
            size, pos = _read_varint(data, pos)
            yield field, data[pos : pos + size]
            pos += size
        elif wire in (1, 5):  # fixed 64/32-bit: nothing we read
            pos += 8 if wire == 1 else 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")


def _packed_varints(data: memoryview) -> list[int]:
    values, pos = [], 0
    while pos < len(data):
        value, pos = _read_varint(data, pos)
        values.append(value)
    return values


_NUMPY_TYPES: dict[int, np.dtype[np.number]] = {code: dtype for dtype, code in _DATA_TYPES.items()}


def read_initializers(model: bytes) -> dict[str, Tensor]:
    """The weights (graph initializers with raw data) of a serialized ONNX ModelProto, by name."""
    tensors: dict[str, Tensor] = {}
    for field, graph in _fields(memoryview(model)):
        if field != 7 or isinstance(graph, int):  # ModelProto.graph
            continue
        for g_field, tensor in _fields(graph):
            if g_field != 5 or isinstance(tensor, int):  # GraphProto.initializer
                continue
            name, data_type, dims, raw = _tensor_fields(tensor)
            if raw and data_type in _NUMPY_TYPES:
                dtype = _NUMPY_TYPES[data_type].newbyteorder("<")
                tensors[name] = np.frombuffer(raw, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))
    return tensors


def _tensor_fields(tensor: memoryview) -> tuple[str, int, list[int], bytes]:
    """A TensorProto's name, data type, dims and raw data (empty when it has none)."""
    dims: list[int] = []
    name, data_type, raw = "", 0, b""
    for t_field, value in _fields(tensor):
        if t_field == 1:  # dims: one varint each, or packed
            dims += [value] if isinstance(value, int) else _packed_varints(value)
        elif t_field == 2 and isinstance(value, int):
            data_type = value
        elif t_field == 8 and not isinstance(value, int):
            name = bytes(value).decode()
        elif t_field == 9 and not isinstance(value, int):
            raw = bytes(value)
    return name, data_type, dims, raw


# -- ONNX messages ---------------------------------------------------------------------------------


def _key(field: int, size: int) -> bytes:
    """The key and length of a length-delimited field, without its data."""
    return _varint(field << 3 | 2) + _varint(size)


def _tensor(name: str, array: Tensor) -> list[bytes]:
    """A TensorProto as parts to join: its raw data (megabytes for the embeddings) is never copied
    into a bigger message (each copy of the whole model cost ~50 ms)."""
    data_type = _DATA_TYPES[array.dtype]
    dims = b"".join(_int(1, d) for d in array.shape)
    raw = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    return [dims + _int(2, data_type) + _bytes(8, name) + _key(9, len(raw)), raw]


def _attribute(name: str, value: float | int | list[int]) -> bytes:
    if isinstance(value, list):
        return _bytes(1, name) + b"".join(_int(8, v) for v in value) + _int(20, _ATTR_INTS)
    if isinstance(value, float):
        return _bytes(1, name) + _float(2, value) + _int(20, _ATTR_FLOAT)
    return _bytes(1, name) + _int(3, value) + _int(20, _ATTR_INT)


def _value_info(name: str, elem_type: int, dims: list[str | int]) -> bytes:
    shape = b"".join(
        _bytes(1, _bytes(2, d) if isinstance(d, str) else _int(1, d)) for d in dims
    )  # TensorShapeProto.dim: dim_param | dim_value
    tensor_type = _int(1, elem_type) + _bytes(2, shape)
    return _bytes(1, name) + _bytes(2, _bytes(1, tensor_type))


class _Graph:
    def __init__(self) -> None:
        self.nodes: list[bytes] = []
        self.initializers: list[list[bytes]] = []
        self._count = 0

    def const(self, name: str, array: Tensor | float | list[int]) -> str:
        if isinstance(array, float):
            array = np.array(array, dtype=np.float32)
        elif isinstance(array, list):
            array = np.array(array, dtype=np.int64)
        self.initializers.append(_tensor(name, array))
        return name

    def op(self, op_type: str, *inputs: str, domain: str = "", **attributes: float | int | list[int]) -> str:
        """A node of one output; the output's name."""
        return self.ops(op_type, *inputs, outputs=1, domain=domain, **attributes)[0]

    def ops(
        self,
        op_type: str,
        *inputs: str,
        outputs: int,
        domain: str = "",
        **attributes: float | int | list[int],
    ) -> list[str]:
        """A node of several outputs; their names."""
        self._count += 1
        names = [
            f"{op_type.lower()}_{self._count}" + (f"_{i}" if outputs > 1 else "") for i in range(outputs)
        ]
        node = b"".join(_bytes(1, i) for i in inputs)
        node += b"".join(_bytes(2, o) for o in names)
        node += _bytes(3, names[0]) + _bytes(4, op_type)
        node += b"".join(_bytes(5, _attribute(k, v)) for k, v in attributes.items())
        node += _bytes(7, domain) if domain else b""
        self.nodes.append(node)
        return names

    def model(self, inputs: list[bytes], outputs: list[bytes]) -> bytes:
        graph = [_bytes(1, n) for n in self.nodes] + [_bytes(2, "minilm")]
        for parts in self.initializers:
            graph += [_key(5, sum(map(len, parts))), *parts]
        graph += [_bytes(11, i) for i in inputs] + [_bytes(12, o) for o in outputs]
        opsets = _bytes(8, _bytes(1, "") + _int(2, OPSET)) + _bytes(8, _bytes(1, _MS_DOMAIN) + _int(2, 1))
        head = _int(1, IR_VERSION) + _bytes(2, "mahavishnu") + _key(7, sum(map(len, graph)))
        return b"".join([head, *graph, opsets])


def quantize_columns(weight_t: Tensor) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float32]]:
    """Symmetric int8 per output column: (q, scale) with weight_t ≈ q * scale."""
    scale = (np.abs(weight_t).max(axis=0) / 127.0).astype(np.float32)
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(weight_t / scale), -127, 127).astype(np.int8)
    return q, scale


# -- the model -------------------------------------------------------------------------------------


def bert_model(
    w: Weights, layers: int = 6, heads: int = 12, eps: float = 1e-12, quantized: bool = False
) -> bytes:
    """Serialized ONNX ModelProto: input_ids int64 [batch, seq] → last_hidden_state float32
    [batch, seq, hidden]. Every token is attended to: there is no padding mask, so a batch holds
    texts of one length (local.py runs one text at a time).

    ``quantized``: every dense layer's weights in int8 (symmetric, one scale per output column)
    and its input quantized per run, which local.py makes one text (onnxruntime's
    ``DynamicQuantizeMatMul``, what ``quantize_dynamic(per_channel=True)`` produces): about twice
    the tokens per CPU-second with VNNI, and vectors close to, but not equal to, the exact ones."""
    g = _Graph()
    hidden = int(w["embeddings.word_embeddings.weight"].shape[1])

    def dense(x: str, name: str, weight_t: Tensor, bias: Tensor) -> str:
        """x @ weight_t + bias, weight_t of shape (in, out)."""
        b = g.const(name + ".bias", bias)
        if not quantized:
            return g.op("Add", g.op("MatMul", x, g.const(name + ".weight.T", weight_t)), b)
        q, scale = quantize_columns(weight_t)
        zero = g.const(name + ".weight.zero", np.zeros(q.shape[1], dtype=np.int8))
        qw, qs = g.const(name + ".weight.q", q), g.const(name + ".weight.scale", scale)
        return g.op("DynamicQuantizeMatMul", x, qw, qs, zero, b, domain=_MS_DOMAIN)

    def linear(x: str, prefix: str) -> str:
        weight_t = np.ascontiguousarray(w[prefix + ".weight"].T)
        return dense(x, prefix, weight_t, w[prefix + ".bias"])

    def layer_norm(x: str, prefix: str) -> str:
        gamma = g.const(prefix + ".weight", w[prefix + ".weight"])
        beta = g.const(prefix + ".bias", w[prefix + ".bias"])
        return g.op("LayerNormalization", x, gamma, beta, axis=-1, epsilon=eps)

    # Embeddings: words + positions 0..seq-1 + token type 0.
    words = g.op("Gather", g.const("word_embeddings", w["embeddings.word_embeddings.weight"]), "input_ids")
    seq_len = g.op("Slice", g.op("Shape", "input_ids"), g.const("one", [1]), g.const("two", [2]))
    positions = g.op(
        "Slice",
        g.const("position_embeddings", w["embeddings.position_embeddings.weight"]),
        g.const("zero", [0]),
        seq_len,
        g.const("axis0", [0]),
    )
    token_type = g.const("token_type_0", w["embeddings.token_type_embeddings.weight"][0])
    x = layer_norm(g.op("Add", g.op("Add", words, positions), token_type), "embeddings.LayerNorm")

    # onnxruntime's fused attention (scale and softmax in one kernel): ~15 % fewer CPU-seconds per
    # token at 256 tokens than the same steps as separate MatMul/Softmax nodes, and without a
    # padding mask another ~8 % (its unmasked kernel; measured on 2 cores, 96-256 tokens).
    sqrt2, one, half = g.const("sqrt2", float(np.sqrt(2.0))), g.const("one_g", 1.0), g.const("half", 0.5)
    for n in range(layers):
        p = f"encoder.layer.{n}."
        attn = p + "attention.self."
        qkv_w = np.concatenate([w[attn + name + ".weight"] for name in ("query", "key", "value")]).T
        qkv_b = np.concatenate([w[attn + name + ".bias"] for name in ("query", "key", "value")])
        q, k, v = g.ops("Split", dense(x, p + "qkv", np.ascontiguousarray(qkv_w), qkv_b), axis=2, outputs=3)
        context = g.op("MultiHeadAttention", q, k, v, num_heads=heads, domain=_MS_DOMAIN)
        attended = linear(context, p + "attention.output.dense")
        x = layer_norm(g.op("Add", attended, x), p + "attention.output.LayerNorm")
        mid = linear(x, p + "intermediate.dense")
        gelu = g.op("Mul", g.op("Mul", mid, g.op("Add", g.op("Erf", g.op("Div", mid, sqrt2)), one)), half)
        x = layer_norm(g.op("Add", linear(gelu, p + "output.dense"), x), p + "output.LayerNorm")
    g.nodes.append(
        _bytes(1, x) + _bytes(2, "last_hidden_state") + _bytes(3, "output") + _bytes(4, "Identity")
    )

    inputs = [_value_info("input_ids", _INT64, ["batch", "sequence"])]
    outputs = [_value_info("last_hidden_state", _FLOAT, ["batch", "sequence", hidden])]
    return g.model(inputs, outputs)
