"""HF Flax checkpoints: ``flax_model.msgpack`` (transformers' Flax parameter tree, as flax.serialization writes it).

The file is one msgpack map of nested maps whose leaves are arrays in msgpack extension types, the layout of
``flax.serialization.msgpack_serialize``; we read and write it with plain ``msgpack`` and numpy, importing neither
jax nor flax:

- ext type 1 (ndarray) and 3 (numpy scalar): the payload is itself msgpack of ``[shape, dtype name, raw C-order
  bytes]`` (dtype name as bytes, e.g. ``b"float32"``; ``bfloat16`` comes from ``ml_dtypes``);
- ext type 2 (complex): msgpack of ``[real, imag]``;
- arrays over 2**30 bytes are split into a map ``{"__msgpack_chunked_array__": True, "shape": {"0": d0, ...},
  "chunks": {"0": flat_chunk, ...}}``.

Streaming, so a conversion holds about one checkpoint in memory, not three:

- the writer emits the map headers and keys with ``msgpack.Packer`` and each array as its ext record header
  followed by the array's bytes written straight to the file, one tensor at a time (kernels transposed just
  before they are written); the bytes equal ``msgpack_serialize``'s for the same tree;
- the reader maps the file and parses it with a small msgpack parser of its own (every msgpack type, bounds
  checked), so array payloads become ``np.frombuffer`` views of the mapping: ``mmap=True`` returns them as they
  are, otherwise each is copied and its pages dropped.

Names go through ``conversion.names.flax`` (the one table shared with ``bert_flax``).
"""

from __future__ import annotations

import mmap as mmap_module
import os
import struct
from collections.abc import Callable, Mapping
from typing import Any

import msgpack
import numpy as np

from conversion.errors import CheckpointError
from conversion.formats import common
from conversion.names.flax import flatten, flax_path_to_schema, flax_to_schema, plan_schema_to_flax, unflatten
from conversion.schema import StateDict

WEIGHTS_NAME = "flax_model.msgpack"
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


# ----------------------------------------------------------------------------------------------------- writing


def _ext_header(code: int, length: int) -> bytes:
    """The msgpack ext header msgpack's packer writes before a ``length``-byte payload of type ``code``."""
    fixed = {1: b"\xd4", 2: b"\xd5", 4: b"\xd6", 8: b"\xd7", 16: b"\xd8"}
    if length in fixed:
        head = fixed[length]
    elif length <= 0xFF:
        head = struct.pack(">BB", 0xC7, length)
    elif length <= 0xFFFF:
        head = struct.pack(">BH", 0xC8, length)
    elif length <= 0xFFFFFFFF:
        head = struct.pack(">BI", 0xC9, length)
    else:
        raise ValueError(f"an ext record of {length} bytes is too large for msgpack.")
    return head + struct.pack("b", code)


def _bin_header(length: int) -> bytes:
    if length <= 0xFF:
        return struct.pack(">BB", 0xC4, length)
    if length <= 0xFFFF:
        return struct.pack(">BH", 0xC5, length)
    if length <= 0xFFFFFFFF:
        return struct.pack(">BI", 0xC6, length)
    raise ValueError("bin is too large for msgpack.")


def _array_record_header(arr: np.ndarray, code: int = EXT_NDARRAY) -> bytes:
    """Everything of ``ExtType(code, packb((shape, dtype name, raw bytes)))`` before the raw bytes."""
    if arr.dtype.hasobject or arr.dtype.isalignedstruct:
        raise ValueError(f"cannot store dtype {arr.dtype} in msgpack.")
    inner = b"\x93" + msgpack.packb(tuple(int(d) for d in arr.shape), use_bin_type=True) \
        + msgpack.packb(arr.dtype.name, use_bin_type=True) + _bin_header(arr.nbytes)
    return _ext_header(code, len(inner) + arr.nbytes) + inner


def _raw(arr: np.ndarray) -> memoryview | bytes:
    """The C-order bytes of ``arr`` without a copy when it is contiguous."""
    if arr.nbytes == 0:
        return b""
    if not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr)
    return memoryview(arr.reshape(-1).view(np.uint8))


def _array_to_bytes(arr: np.ndarray) -> bytes:
    if arr.dtype.hasobject or arr.dtype.isalignedstruct:
        raise ValueError(f"cannot store dtype {arr.dtype} in msgpack.")
    return msgpack.packb((arr.shape, arr.dtype.name, arr.tobytes("C")), use_bin_type=True)


def _default(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return msgpack.ExtType(EXT_NDARRAY, _array_to_bytes(x))
    if isinstance(x, np.generic):
        return msgpack.ExtType(EXT_NPSCALAR, _array_to_bytes(np.asarray(x)))
    if isinstance(x, complex):
        return msgpack.ExtType(EXT_COMPLEX, msgpack.packb((x.real, x.imag)))
    raise TypeError(f"cannot store {type(x).__name__} in a flax msgpack file.")


def _chunk(arr: np.ndarray) -> Any:
    if arr.nbytes <= MAX_CHUNK_SIZE:
        return arr
    size = max(1, MAX_CHUNK_SIZE // arr.dtype.itemsize)
    flat = np.ascontiguousarray(arr).reshape(-1)
    chunks = [flat[i:i + size] for i in range(0, flat.size, size)]
    return {_CHUNKED: True, "shape": {str(i): d for i, d in enumerate(arr.shape)},
            "chunks": {str(i): c for i, c in enumerate(chunks)}}


def _write_node(f, packer: msgpack.Packer, node: Any, leaf: Callable[[Any], Any]) -> None:
    if isinstance(node, dict):
        f.write(packer.pack_map_header(len(node)))
        for key, value in node.items():
            f.write(packer.pack(key))
            _write_node(f, packer, value, leaf)
        return
    value, done = leaf(node)
    value = _chunk(value) if isinstance(value, np.ndarray) else value
    if isinstance(value, dict):  # a chunked array: its map holds plain arrays
        _write_node(f, packer, value, lambda v: (v, None))
    elif isinstance(value, np.ndarray):
        f.write(_array_record_header(value))
        f.write(_raw(value))
    else:
        f.write(packer.pack(value))
    if done is not None:
        done()


def _write_tree(tree: dict, path: str, leaf: Callable[[Any], Any]) -> None:
    """Write a nested dict atomically; ``leaf(x) -> (value, done)`` turns each leaf into what is stored just
    before it is written (``done``, if not None, runs after)."""
    from bert_core.files import atomic_path

    packer = msgpack.Packer(default=_default, use_bin_type=True)
    # "r+b", not "wb": the temporary file is new and empty, and on ext4 writing a file just truncated with O_TRUNC
    # makes close() wait for writeback (auto_da_alloc), which costs as much as writing the file.
    with atomic_path(path) as tmp, open(tmp, "r+b") as f:
        _write_node(f, packer, tree, leaf)


def write_flat(flat: Mapping[str, np.ndarray], path: str) -> None:
    """Write ``/``-joined Flax paths as a nested flax msgpack file, atomically, one array at a time."""
    _write_tree(unflatten(flat), path, lambda v: (np.asarray(v) if not isinstance(v, np.generic) else v, None))


def write(state_dict: StateDict, folder: str) -> list[str]:
    """Write the schema as ``flax_model.msgpack`` in ``folder``; returns the file names written.

    Streams: each kernel is transposed just before it is written and dropped after, and the pages of a
    file-backed source tensor are released once written.
    """
    plan = plan_schema_to_flax(state_dict)  # flax path -> (schema name, transposed); names and ranks checked
    os.makedirs(folder, exist_ok=True)
    scratch = common.Scratch()

    def leaf(item: tuple[str, bool]):
        source = np.asarray(state_dict[item[0]])
        value = scratch.transposed(source) if item[1] else source
        return value, lambda: common.release(source)

    _write_tree(unflatten(plan), os.path.join(folder, WEIGHTS_NAME), leaf)
    return [WEIGHTS_NAME]


# ----------------------------------------------------------------------------------------------------- reading


class _Corrupt(Exception):
    pass


class _Parser:
    """A bounds-checked msgpack parser over a buffer; ndarray ext payloads become views (no copy)."""

    def __init__(self, buf) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, n: int, end: int) -> int:
        start = self.pos
        if n < 0 or start + n > end:
            raise _Corrupt(f"truncated: needs {n} bytes at offset {start}, the data ends at {end}")
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
            raise _Corrupt("nested too deeply")
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
        raise _Corrupt(f"byte 0x{b:02x} at offset {self.pos - 1} is not msgpack")

    def str_(self, n: int, end: int) -> str:
        try:
            return self.bytes_(n, end).decode("utf-8")
        except UnicodeDecodeError as e:
            raise _Corrupt(f"a string is not UTF-8 ({e})") from None

    def array(self, n: int, end: int, depth: int) -> list:
        if n > end - self.pos:
            raise _Corrupt(f"an array of {n} items cannot fit in the {end - self.pos} bytes left")
        return [self.value(end, depth + 1) for _ in range(n)]

    def map(self, n: int, end: int, depth: int) -> dict:
        if 2 * n > end - self.pos:
            raise _Corrupt(f"a map of {n} entries cannot fit in the {end - self.pos} bytes left")
        out = {}
        for _ in range(n):
            key = self.value(end, depth + 1)
            try:
                out[key] = self.value(end, depth + 1)
            except TypeError:
                raise _Corrupt(f"a map key of type {type(key).__name__} cannot be used") from None
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
            raise _Corrupt(f"an array record at offset {start} has {stop - self.pos} bytes left over")
        return arr.copy()[()] if code == EXT_NPSCALAR else arr

    def ndarray(self, end: int) -> np.ndarray:
        if self.unpack("B", end) != 0x93:
            raise _Corrupt("an array record is not [shape, dtype, data]")
        shape = self.value(end, _MAX_DEPTH - 1)
        dtype_name = self.value(end, _MAX_DEPTH - 1)
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape) \
                or not isinstance(dtype_name, (str, bytes)):
            raise _Corrupt(f"an array record has shape {shape!r} and dtype {dtype_name!r}")
        b = self.unpack("B", end)
        if b not in (0xC4, 0xC5, 0xC6):
            raise _Corrupt("an array record's data is not a bin field")
        n = self.unpack({0xC4: ">B", 0xC5: ">H", 0xC6: ">I"}[b], end)
        start = self.take(n, end)
        try:
            dtype = _dtype(dtype_name)
        except (TypeError, ValueError, ImportError) as e:
            raise _Corrupt(f"dtype {dtype_name!r} is not a numpy dtype ({e})") from None
        count = int(np.prod(shape, dtype=np.int64))
        if dtype.hasobject or count * dtype.itemsize != n:
            raise _Corrupt(f"an array of shape {tuple(shape)} and dtype {dtype} cannot hold {n} bytes")
        if n == 0:
            return np.empty(shape, dtype)
        return np.frombuffer(self.buf, dtype=dtype, count=count, offset=start).reshape(shape)


def _unchunk(tree: Any) -> Any:
    if isinstance(tree, dict):
        if _CHUNKED in tree:
            shape = tuple(tree["shape"][str(i)] for i in range(len(tree["shape"])))
            chunks = [tree["chunks"][str(i)] for i in range(len(tree["chunks"]))]
            return np.concatenate(chunks).reshape(shape)
        return {k: _unchunk(v) for k, v in tree.items()}
    return tree


def _read_views(path: str) -> dict:
    """The nested tree of a flax msgpack file; array leaves are read-only views of a file mapping."""
    try:
        size = os.path.getsize(path)
        if size == 0:
            raise CheckpointError(path, "is empty (0 bytes); not a flax msgpack file.")
        with open(path, "rb") as f:
            buf = common.ReadOnlyMap(f.fileno(), 0, access=mmap_module.ACCESS_READ)
    except OSError as e:
        raise CheckpointError(path, f"cannot be read ({e.strerror or e}).") from None
    parser = _Parser(buf)
    try:
        tree = parser.value(size)
        if parser.pos != size:
            raise _Corrupt(f"{size - parser.pos} bytes follow the parameter tree")
        tree = _unchunk(tree)
    except (_Corrupt, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError, TypeError, KeyError,
            RecursionError) as e:
        raise CheckpointError(path, f"is not a valid flax msgpack file; it may be truncated or corrupt ({e}).") \
            from None
    if not isinstance(tree, dict):
        raise CheckpointError(path, f"holds a {type(tree).__name__}, not a parameter tree; not a flax checkpoint.")
    if "params" in tree and isinstance(tree["params"], dict) and len(tree) <= 2:
        tree = tree["params"]  # a saved {"params": ...} variables dict
    return tree


def read_tree(path: str) -> dict:
    """The nested parameter tree of a flax msgpack file (numpy leaves). Errors name the file."""
    def own(tree):
        return {k: own(v) for k, v in tree.items()} if isinstance(tree, dict) else common.owned(tree)

    return own(_read_views(path))


def _flat_views(path: str) -> tuple[str, dict[str, np.ndarray]]:
    if os.path.isdir(path):
        path = os.path.join(path, WEIGHTS_NAME)
    flat = flatten(_read_views(path))
    bad = [k for k, v in flat.items() if not isinstance(v, np.ndarray)]
    if bad:
        raise CheckpointError(path, f"holds non-array leaves: {', '.join(bad[:5])}.")
    return path, flat


def read_flat(path: str) -> dict[str, np.ndarray]:
    """``{"bert/encoder/.../kernel": array}`` from a folder or a .msgpack file."""
    _, flat = _flat_views(path)
    return {k: common.owned(v) for k, v in flat.items()}


def read(path: str, mmap: bool = False) -> StateDict:
    """Read ``flax_model.msgpack`` (a folder holding it, or the file) into the interchange schema.

    ``mmap=True`` returns read-only views of the file (no copy; used by ``conversion.convert``), kernels as
    transposed (F-ordered) views; otherwise C-ordered copies, kernels transposed into new arrays.
    """
    file, flat = _flat_views(path)
    try:
        for key in flat:
            flax_path_to_schema(key)  # names checked before any work
        out = flax_to_schema(flat, release=True, lazy=mmap)
    except ValueError as e:
        raise CheckpointError(file, f"does not hold BERT parameters in transformers' Flax layout ({e}).") from None
    return out if mmap else {k: common.owned(v) for k, v in out.items()}
