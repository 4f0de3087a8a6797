"""The compact encodings of issue #26: float16, bfloat16 and blockwise int8, as the service defines them.

Byte layouts (little-endian):

- ``float16``: IEEE 754 binary16, 2 bytes a value (numpy's own conversion: round to nearest, ties to even).
- ``bfloat16``: the upper 16 bits of the value as float32, rounded to nearest even on the float32's bits.
- ``int8``: blocks of ``INT8_BLOCK_VALUES`` = 64 values over the flat vector (layers concatenated),
  each block its float32 scale ``s = float32(max|x| / 127)`` then its 64 signed bytes
  ``q = rint(x / s)`` clipped to ±127 (the last block holds the remaining values); an all-zero block
  has ``s = 0``. P values take ``P + 4 * ceil(P / 64)`` bytes. The value of ``q`` is ``float32(q) * s``
  in float32. Optional stochastic rounding (``q = floor(x / s + u)``, u uniform) is client side only.

Every function works on whole numpy arrays (no Python loop over values).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

EncodedDtype = Literal["float16", "bfloat16", "int8"]
ENCODED_DTYPES: tuple[EncodedDtype, ...] = ("float16", "bfloat16", "int8")
INT8_BLOCK_VALUES = 64
INT8_BLOCK_BYTES = INT8_BLOCK_VALUES + 4


def encoded_nbytes(dtype: str, length: int) -> int:
    """Bytes that `length` values take in `dtype`, int8 scales included."""
    if dtype == "int8":
        return length + 4 * -(-length // INT8_BLOCK_VALUES)
    return length * {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}[dtype]


def _bfloat16_bits(values: npt.NDArray[Any]) -> npt.NDArray[np.uint16]:
    with np.errstate(over="ignore"):
        single = np.asarray(values).astype(np.float32)
    bits = single.view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    rounded[np.isnan(single)] = 0x7FC0
    return rounded


def encode(
    values: npt.ArrayLike,
    dtype: str,
    *,
    stochastic: bool = False,
    rng: np.random.Generator | None = None,
) -> bytes:
    """The values (any shape, flattened in C order) as `dtype`'s bytes. They must be finite.

    `stochastic` (int8 only) rounds up with probability equal to the fraction, from `rng`
    (default: a fresh ``np.random.default_rng()``), so the quantised values are unbiased.
    """
    flat = np.ascontiguousarray(values).reshape(-1)
    if flat.dtype.kind not in "fiu":
        raise TypeError(f"values must be numbers, not {flat.dtype}")
    if flat.dtype.kind == "f" and flat.size and not np.isfinite(flat).all():
        raise ValueError(f"value {int(np.argmin(np.isfinite(flat)))} is not finite: weights must be finite")
    if dtype == "float16":
        with np.errstate(over="ignore"):
            return flat.astype("<f2").tobytes()
    if dtype == "bfloat16":
        return _bfloat16_bits(flat).astype("<u2").tobytes()
    if dtype in ("float32", "float64"):
        return flat.astype("<f4" if dtype == "float32" else "<f8").tobytes()
    if dtype != "int8":
        raise ValueError(f"dtype must be one of float32, float64, float16, bfloat16, int8, not {dtype!r}")
    x = flat.astype(np.float64)
    blocks = -(-x.size // INT8_BLOCK_VALUES)
    padded = np.zeros(blocks * INT8_BLOCK_VALUES, dtype=np.float64)
    padded[: x.size] = x
    grid = padded.reshape(blocks, INT8_BLOCK_VALUES)
    scales = (np.abs(grid).max(axis=1) / 127.0).astype(np.float32)
    divisor = np.where(scales == 0, 1.0, scales.astype(np.float64))[:, None]
    scaled = grid / divisor
    if stochastic:
        generator = rng if rng is not None else np.random.default_rng()
        rounded = np.floor(scaled + generator.random(scaled.shape))
    else:
        rounded = np.rint(scaled)
    q = np.clip(rounded, -127, 127).astype(np.int8)
    q[scales == 0] = 0
    out = np.empty((blocks, INT8_BLOCK_BYTES), dtype=np.uint8)
    out[:, :4] = scales.astype("<f4").view(np.uint8).reshape(blocks, 4)
    out[:, 4:] = q.view(np.uint8)
    return out.reshape(-1)[: encoded_nbytes("int8", x.size)].tobytes()


def decode(data: bytes | bytearray | memoryview | npt.NDArray[Any], dtype: str, length: int) -> npt.NDArray[Any]:
    """`length` values from `dtype`'s bytes: float16, bfloat16 and int8 as float32; float32/float64 as they are."""
    raw = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data.reshape(-1).view(np.uint8)
    if raw.size != encoded_nbytes(dtype, length):
        raise ValueError(f"{raw.size} bytes are not {length} {dtype} values ({encoded_nbytes(dtype, length)} bytes)")
    if dtype == "float16":
        return raw.view("<f2").astype(np.float32)
    if dtype == "bfloat16":
        return (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)
    if dtype == "float32":
        return raw.view("<f4")
    if dtype == "float64":
        return raw.view("<f8")
    if dtype != "int8":
        raise ValueError(f"unknown dtype {dtype!r}")
    blocks = -(-length // INT8_BLOCK_VALUES)
    padded = np.zeros(blocks * INT8_BLOCK_BYTES, dtype=np.uint8)
    padded[: raw.size] = raw
    grid = padded.reshape(blocks, INT8_BLOCK_BYTES)
    scales = np.ascontiguousarray(grid[:, :4]).view("<f4").reshape(blocks, 1)
    q = np.ascontiguousarray(grid[:, 4:]).view(np.int8)
    return (q.astype(np.float32) * scales.astype(np.float32)).reshape(-1)[:length]


class ErrorFeedback:
    """Error feedback for the lossy encodings: keeps the residual ``e = (x + e) - decode(encode(x + e))``
    of the last update and adds it to the next one before encoding, so quantisation errors do not
    accumulate over rounds (the literature's fix for biased compressors; Seide et al. 2014,
    Karimireddy et al. 2019). One instance per client and model; pass it to
    ``FmaClient.send_update(..., error_feedback=...)``. Worth it for int8 (and bfloat16) when the
    updates are deltas or small steps whose errors should cancel across rounds; call ``reset()``
    after a skipped round or a new model.
    """

    def __init__(self, dtype: EncodedDtype, *, stochastic: bool = False, rng: np.random.Generator | None = None) -> None:
        if dtype not in ENCODED_DTYPES:
            raise ValueError(f"error feedback is for {', '.join(ENCODED_DTYPES)}, not {dtype!r}")
        self.dtype: EncodedDtype = dtype
        self.stochastic = stochastic
        self.rng = rng
        self.residual: npt.NDArray[np.float64] | None = None

    def encode(self, values: npt.ArrayLike) -> bytes:
        """Encodes values + residual as ``dtype`` and keeps the new residual."""
        flat = np.asarray(values, dtype=np.float64).reshape(-1)
        if self.residual is not None and self.residual.size != flat.size:
            raise ValueError(f"the residual holds {self.residual.size} values, the update {flat.size}")
        compensated = flat if self.residual is None else flat + self.residual
        data = encode(compensated, self.dtype, stochastic=self.stochastic, rng=self.rng)
        self.residual = compensated - decode(data, self.dtype, flat.size).astype(np.float64)
        return data

    def reset(self) -> None:
        self.residual = None
