"""Weights as the service takes and gives them: layers of numpy arrays <-> JSON lists, and <->
little-endian float32/float64 bytes (streamed in chunks over the arrays' own memory)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Dtype = Literal["float32", "float64"]
Layout = Literal["vector", "layers"]
FloatArray = npt.NDArray[Any]

DTYPES: tuple[Dtype, ...] = ("float32", "float64")

#: The service refuses |value| > 1e150 (so that sums of weighted updates stay finite).
MAX_MAGNITUDE = 1e150

#: Bytes per chunk when streaming an upload: large enough that Python's per-chunk cost vanishes,
#: small enough that converting a chunk (another dtype, another byte order) costs little memory.
UPLOAD_CHUNK_BYTES = 4 * 1024 * 1024


def little_endian(dtype: Dtype) -> np.dtype[Any]:
    return np.dtype("<f4") if dtype == "float32" else np.dtype("<f8")


@dataclass(frozen=True)
class PreparedWeights:
    """Weights ready to send: the caller's arrays (not copied), their shapes, layout and dtype."""

    layers: tuple[FloatArray, ...]
    shapes: tuple[tuple[int, ...], ...]
    layout: Layout
    dtype: Dtype

    @property
    def length(self) -> int:
        return sum(int(layer.size) for layer in self.layers)

    @property
    def nbytes(self) -> int:
        return self.length * little_endian(self.dtype).itemsize

    def to_json(self) -> list[Any]:
        """The weights as the JSON routes take them: a flat list (vector) or a list of nested lists."""
        target = little_endian(self.dtype)
        if self.layout == "vector":
            return np.asarray(self.layers[0], dtype=target).reshape(-1).tolist()  # type: ignore[no-any-return]
        return [np.asarray(layer, dtype=target).reshape(shape).tolist() for layer, shape in zip(self.layers, self.shapes)]

    def chunks(self, chunk_bytes: int = UPLOAD_CHUNK_BYTES) -> Iterator[FloatArray]:
        """The values, in order, as little-endian arrays of at most `chunk_bytes`: views of the
        caller's memory where it already has the dtype and byte order, else converted a chunk at a time."""
        target = little_endian(self.dtype)
        step = max(1, chunk_bytes // target.itemsize)
        for layer in self.layers:
            # A view when the layer is C-contiguous; a non-contiguous layer is copied (that layer only).
            flat = np.ascontiguousarray(layer).reshape(-1)
            for start in range(0, flat.size, step):
                part = flat[start : start + step]
                yield part if part.dtype == target else part.astype(target)

    def sha256_checked(self) -> str:
        """The bytes' SHA-256, checking on the way that every value is finite and within 1e150."""
        digest = hashlib.sha256()
        for part in self.chunks():
            if part.size and not float(np.max(np.abs(part))) <= MAX_MAGNITUDE:
                raise ValueError(f"weights must be finite and within ±{MAX_MAGNITUDE:g} (the service refuses others)")
            digest.update(part.data.cast("B"))
        return digest.hexdigest()

    def body(self) -> "ChunkedBody":
        return ChunkedBody(self)


class ChunkedBody:
    """A PUT body over the weights' memory: requests reads its length (Content-Length, no chunked
    encoding) and iterates it, afresh on each attempt, one chunk's memoryview at a time."""

    def __init__(self, weights: PreparedWeights) -> None:
        self.weights = weights

    def __len__(self) -> int:
        return self.weights.nbytes

    def __iter__(self) -> Iterator[memoryview]:
        for part in self.weights.chunks():
            yield part.data.cast("B")


def _is_number(value: object) -> bool:
    return isinstance(value, (Real, np.number)) and not isinstance(value, bool)


def _layer(value: Any) -> FloatArray:
    array = value if isinstance(value, np.ndarray) else np.asarray(value, dtype=np.float64)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"a layer must hold numbers, not {array.dtype}")
    # JSON cannot hold a 0-d layer (a layer is a list): it goes as one value of shape (1,) either way.
    return array.reshape(1) if array.ndim == 0 else array


def prepare_weights(weights: Any, dtype: str | None = None) -> PreparedWeights:
    """Reads the forms `send_update` takes:

    - a numpy array: 1-d is a flat vector, n-d one layer of that shape;
    - a flat list of numbers: a vector (as FMA's JSON);
    - a list or tuple of arrays (or nested lists): layers, any shapes;
    - a mapping name -> array: its layers in the mapping's order (names are not sent).

    The dtype is `dtype` when given, else float32 when every layer is float32, else float64.
    """
    layout: Layout
    if isinstance(weights, PreparedWeights):
        if dtype is None or dtype == weights.dtype:
            return weights
        return PreparedWeights(weights.layers, weights.shapes, weights.layout, _check_dtype(dtype))
    if isinstance(weights, np.ndarray):
        array = _layer(weights)
        layers: list[FloatArray] = [array]
        layout = "vector" if array.ndim == 1 else "layers"
    elif isinstance(weights, Mapping):
        layers = [_layer(value) for value in weights.values()]
        layout = "layers"
    elif isinstance(weights, Sequence) and not isinstance(weights, (str, bytes)):
        if len(weights) > 0 and all(_is_number(item) for item in weights):
            layers = [np.asarray(weights, dtype=np.float64)]
            layout = "vector"
        else:
            layers = [_layer(item) for item in weights]
            layout = "layers"
    else:
        raise TypeError(f"weights must be an array, a list of arrays or a mapping of arrays, not {type(weights).__name__}")
    if not layers:
        raise ValueError("weights must hold at least one layer")
    if dtype is None:
        chosen: Dtype = "float32" if all(layer.dtype == np.float32 for layer in layers) else "float64"
    else:
        chosen = _check_dtype(dtype)
    shapes = tuple(tuple(int(d) for d in layer.shape) for layer in layers)
    return PreparedWeights(tuple(layers), shapes, layout, chosen)


def _check_dtype(dtype: str) -> Dtype:
    if dtype == "float32":
        return "float32"
    if dtype == "float64":
        return "float64"
    raise ValueError(f"dtype must be 'float32' or 'float64' (or an encoding: 'float16', 'bfloat16', 'int8'), not {dtype!r}")


def split_layers(flat: FloatArray, shapes: Sequence[Sequence[int]]) -> list[FloatArray]:
    """Views of `flat` cut and shaped by `shapes` (no copy)."""
    layers: list[FloatArray] = []
    offset = 0
    for shape in shapes:
        size = int(np.prod(shape, dtype=np.int64)) if len(shape) else 1
        layers.append(flat[offset : offset + size].reshape(tuple(shape)))
        offset += size
    if offset != flat.size:
        raise ValueError(f"the shapes hold {offset} values, the weights {flat.size}")
    return layers


def layers_from_json(values: Any) -> list[FloatArray]:
    """JSON weights as arrays: a flat list is one 1-d array, a list of layers one array per layer."""
    if not isinstance(values, list) or not values:
        raise ValueError("weights must be a non-empty list")
    if all(_is_number(item) for item in values):
        return [np.asarray(values, dtype=np.float64)]
    return [np.asarray(layer, dtype=np.float64) for layer in values]


def layers_to_json(layers: Sequence[FloatArray], layout: str) -> list[Any]:
    """Arrays back as the JSON routes give weights (FMA's nested lists of Python floats)."""
    if layout == "vector":
        return layers[0].reshape(-1).tolist()  # type: ignore[no-any-return]
    return [layer.tolist() for layer in layers]
