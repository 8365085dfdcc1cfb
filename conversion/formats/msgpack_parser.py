"""A small, bounds-checked msgpack parser for flax checkpoints: array payloads become views of the buffer.

Flax's layout (``flax.serialization``): ext type 1 (ndarray) and 3 (numpy scalar) hold msgpack of
``[shape, dtype name, raw C-order bytes]``; ext type 2 (complex) holds ``[real, imag]``; arrays over 2**30 bytes
are maps ``{"__msgpack_chunked_array__": True, "shape": ..., "chunks": ...}``. Parsing a mapped file with this
parser returns ``np.frombuffer`` views instead of copies; every length and the nesting depth are checked, and a
malformed file raises ``Corrupt``.
"""

from __future__ import annotations

import struct
from typing import Any

import msgpack
import numpy as np

EXT_NDARRAY, EXT_COMPLEX, EXT_NPSCALAR = 1, 2, 3
MAX_CHUNK_SIZE = 2**30
_CHUNKED = "__msgpack_chunked_array__"
_MAX_DEPTH = 128  # flax trees are under 10 deep; 3 Python frames per level


def _dtype(name: bytes | str) -> np.dtype:
    name = name.decode() if isinstance(name, bytes) else name
    if name == "bfloat16":
        import ml_dtypes  # ships with jax; only needed for bfloat16 files

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


class Corrupt(Exception):
    pass


class Parser:
    """A bounds-checked msgpack parser over a buffer; ndarray ext payloads become views (no copy)."""

    def __init__(self, buf) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, n: int, end: int) -> int:
        start = self.pos
        if n < 0 or start + n > end:
            raise Corrupt(f"truncated: needs {n} bytes at offset {start}, the data ends at {end}")
        self.pos = start + n
        return start

    def unpack(self, fmt: str, end: int):
        start = self.take(struct.calcsize(fmt), end)
        return struct.unpack_from(fmt, self.buf, start)[0]

    def bytes_(self, n: int, end: int) -> bytes:
        start = self.take(n, end)
        return bytes(self.buf[start:start + n])

    def value(self, end: int, depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            raise Corrupt("nested too deeply")
        b = self.unpack("B", end)
        if b <= 0x7F:
            return b
        if b >= 0xE0:
            return b - 0x100
        if 0x80 <= b <= 0x8F:
            return self.map(b & 0x0F, end, depth)
        if 0x90 <= b <= 0x9F:
            return self.array(b & 0x0F, end, depth)
        if 0xA0 <= b <= 0xBF:
            return self.str_(b & 0x1F, end)
        if b == 0xC0:
            return None
        if b in (0xC2, 0xC3):
            return b == 0xC3
        if b in (0xC4, 0xC5, 0xC6):
            return self.bytes_(self.unpack({0xC4: ">B", 0xC5: ">H", 0xC6: ">I"}[b], end), end)
        if b in (0xC7, 0xC8, 0xC9):
            n = self.unpack({0xC7: ">B", 0xC8: ">H", 0xC9: ">I"}[b], end)
            return self.ext(n, end)
        if b in (0xCA, 0xCB):
            return float(self.unpack(">f" if b == 0xCA else ">d", end))
        if 0xCC <= b <= 0xD3:
            return self.unpack(">" + "BHIQbhiq"[b - 0xCC], end)
        if 0xD4 <= b <= 0xD8:
            return self.ext(1 << (b - 0xD4), end)
        if b in (0xD9, 0xDA, 0xDB):
            return self.str_(self.unpack({0xD9: ">B", 0xDA: ">H", 0xDB: ">I"}[b], end), end)
        if b in (0xDC, 0xDD):
            return self.array(self.unpack(">H" if b == 0xDC else ">I", end), end, depth)
        if b in (0xDE, 0xDF):
            return self.map(self.unpack(">H" if b == 0xDE else ">I", end), end, depth)
        raise Corrupt(f"byte 0x{b:02x} at offset {self.pos - 1} is not msgpack")

    def str_(self, n: int, end: int) -> str:
        try:
            return self.bytes_(n, end).decode("utf-8")
        except UnicodeDecodeError as e:
            raise Corrupt(f"a string is not UTF-8 ({e})") from None

    def array(self, n: int, end: int, depth: int) -> list:
        if n > end - self.pos:
            raise Corrupt(f"an array of {n} items cannot fit in the {end - self.pos} bytes left")
        return [self.value(end, depth + 1) for _ in range(n)]

    def map(self, n: int, end: int, depth: int) -> dict:
        if 2 * n > end - self.pos:
            raise Corrupt(f"a map of {n} entries cannot fit in the {end - self.pos} bytes left")
        out = {}
        for _ in range(n):
            key = self.value(end, depth + 1)
            try:
                out[key] = self.value(end, depth + 1)
            except TypeError:
                raise Corrupt(f"a map key of type {type(key).__name__} cannot be used") from None
        return out

    def ext(self, n: int, end: int) -> Any:
        code = self.unpack("b", end)
        start = self.take(n, end)
        stop = start + n
        if code not in (EXT_NDARRAY, EXT_NPSCALAR):
            data = bytes(self.buf[start:stop])
            if code == EXT_COMPLEX:
                real, imag = msgpack.unpackb(data)
                return complex(real, imag)
            return msgpack.ExtType(code, data)
        self.pos = start
        arr = self.ndarray(stop)
        if self.pos != stop:
            raise Corrupt(f"an array record at offset {start} has {stop - self.pos} bytes left over")
        return arr.copy()[()] if code == EXT_NPSCALAR else arr

    def ndarray(self, end: int) -> np.ndarray:
        if self.unpack("B", end) != 0x93:
            raise Corrupt("an array record is not [shape, dtype, data]")
        shape = self.value(end, _MAX_DEPTH - 1)
        dtype_name = self.value(end, _MAX_DEPTH - 1)
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape) \
                or not isinstance(dtype_name, (str, bytes)):
            raise Corrupt(f"an array record has shape {shape!r} and dtype {dtype_name!r}")
        b = self.unpack("B", end)
        if b not in (0xC4, 0xC5, 0xC6):
            raise Corrupt("an array record's data is not a bin field")
        n = self.unpack({0xC4: ">B", 0xC5: ">H", 0xC6: ">I"}[b], end)
        start = self.take(n, end)
        try:
            dtype = _dtype(dtype_name)
        except (TypeError, ValueError, ImportError) as e:
            raise Corrupt(f"dtype {dtype_name!r} is not a numpy dtype ({e})") from None
        count = int(np.prod(shape, dtype=np.int64))
        if dtype.hasobject or count * dtype.itemsize != n:
            raise Corrupt(f"an array of shape {tuple(shape)} and dtype {dtype} cannot hold {n} bytes")
        if n == 0:
            return np.empty(shape, dtype)
        return np.frombuffer(self.buf, dtype=dtype, count=count, offset=start).reshape(shape)


def unchunk(tree: Any) -> Any:
    if isinstance(tree, dict):
        if _CHUNKED in tree:
            shape = tuple(tree["shape"][str(i)] for i in range(len(tree["shape"])))
            chunks = [tree["chunks"][str(i)] for i in range(len(tree["chunks"]))]
            return np.concatenate(chunks).reshape(shape)
        return {k: unchunk(v) for k, v in tree.items()}
    return tree
