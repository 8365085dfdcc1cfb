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
from conversion.formats.msgpack_parser import (
    _CHUNKED, EXT_COMPLEX, EXT_NDARRAY, EXT_NPSCALAR, MAX_CHUNK_SIZE, Corrupt, Parser, unchunk)
from conversion.names.flax import (
    flatten, flax_path_to_schema, flax_specs_to_schema, flax_to_schema, plan_schema_to_flax, unflatten)
from conversion.schema import StateDict, TensorSpec

WEIGHTS_NAME = "flax_model.msgpack"


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
    # atomic_path hands out a fresh name: "xb" creates it (a truncated file would make close() wait on ext4)
    with atomic_path(path) as tmp, open(tmp, "xb") as f:
        _write_node(f, packer, tree, leaf)


def write_flat(flat: Mapping[str, np.ndarray], path: str) -> None:
    """Write ``/``-joined Flax paths as a nested flax msgpack file, atomically, one array at a time."""
    _write_tree(unflatten(flat), path, lambda v: (np.asarray(v) if not isinstance(v, np.generic) else v, None))


def write(state_dict: StateDict, folder: str, *, head: str | None = None, max_shard_size: int | None = None
          ) -> list[str]:
    """Write the schema as ``flax_model.msgpack`` in ``folder``; returns the file names written.

    Streams: each kernel is transposed just before it is written and dropped after, and the pages of a
    file-backed source tensor are released once written. ``head`` is not needed (the names say it); the file is
    never split: ``max_shard_size`` must be None.
    """
    common.no_sharding(WEIGHTS_NAME, max_shard_size)
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
    parser = Parser(buf)
    try:
        tree = parser.value(size)
        if parser.pos != size:
            raise Corrupt(f"{size - parser.pos} bytes follow the parameter tree")
        tree = unchunk(tree)
    except (Corrupt, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError, TypeError, KeyError,
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


def read(path: str, *, mmap: bool = False, verify: bool = True, skipped: dict[str, str] | None = None
         ) -> StateDict:
    """Read ``flax_model.msgpack`` (a folder holding it, or the file) into the interchange schema.

    ``mmap=True`` returns read-only views of the file (no copy; used by ``conversion.convert``), kernels as
    transposed (F-ordered) views; otherwise C-ordered copies, kernels transposed into new arrays. ``verify``:
    msgpack stores no checksums (the structure is bounds-checked either way). ``skipped``: nothing is skipped.
    """
    file, flat = _flat_views(path)
    try:
        for key in flat:
            flax_path_to_schema(key)  # names checked before any work
        out = flax_to_schema(flat, release=True, lazy=mmap)
    except ValueError as e:
        raise CheckpointError(file, f"does not hold BERT parameters in transformers' Flax layout ({e}).") from None
    return out if mmap else {k: common.owned(v) for k, v in out.items()}


def read_shapes(path: str) -> dict[str, TensorSpec]:
    """Schema name -> (shape, dtype) of every parameter; arrays stay views of the mapped file (no data read)."""
    file, flat = _flat_views(path)
    try:
        return flax_specs_to_schema({k: TensorSpec(tuple(v.shape), v.dtype) for k, v in flat.items()})
    except ValueError as e:
        raise CheckpointError(file, f"does not hold BERT parameters in transformers' Flax layout ({e}).") from None
