"""HF Flax checkpoints: ``flax_model.msgpack`` (transformers' Flax parameter tree, as flax.serialization writes it).

The file is one msgpack map of nested maps whose leaves are arrays in msgpack extension types, the layout of
``flax.serialization.msgpack_serialize``; we read and write it with plain ``msgpack`` and numpy, importing neither
jax nor flax:

- ext type 1 (ndarray) and 3 (numpy scalar): the payload is itself msgpack of ``[shape, dtype name, raw C-order
  bytes]`` (dtype name as bytes, e.g. ``b"float32"``; ``bfloat16`` comes from ``ml_dtypes``);
- ext type 2 (complex): msgpack of ``[real, imag]``;
- arrays over 2**30 bytes are split into a map ``{"__msgpack_chunked_array__": True, "shape": {"0": d0, ...},
  "chunks": {"0": flat_chunk, ...}}``.

Names go through ``conversion.names.flax`` (the one table shared with ``bert_flax``).
"""

from __future__ import annotations

import os
from typing import Any

import msgpack
import numpy as np

from conversion.errors import CheckpointError
from conversion.names.flax import flatten, flax_to_schema, schema_to_flax, unflatten
from conversion.schema import StateDict

WEIGHTS_NAME = "flax_model.msgpack"
EXT_NDARRAY, EXT_COMPLEX, EXT_NPSCALAR = 1, 2, 3
MAX_CHUNK_SIZE = 2**30
_CHUNKED = "__msgpack_chunked_array__"


def _dtype(name: bytes | str) -> np.dtype:
    name = name.decode() if isinstance(name, bytes) else name
    if name == "bfloat16":
        import ml_dtypes  # ships with jax; only needed for bfloat16 files

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def _array_from_bytes(data: bytes) -> np.ndarray:
    shape, dtype_name, buffer = msgpack.unpackb(data, raw=True)
    return np.frombuffer(buffer, dtype=_dtype(dtype_name)).reshape(shape, order="C").copy()


def _array_to_bytes(arr: np.ndarray) -> bytes:
    if arr.dtype.hasobject or arr.dtype.isalignedstruct:
        raise ValueError(f"cannot store dtype {arr.dtype} in msgpack.")
    return msgpack.packb((arr.shape, arr.dtype.name, arr.tobytes("C")), use_bin_type=True)


def _ext_hook(code: int, data: bytes) -> Any:
    if code == EXT_NDARRAY:
        return _array_from_bytes(data)
    if code == EXT_NPSCALAR:
        return _array_from_bytes(data)[()]
    if code == EXT_COMPLEX:
        real, imag = msgpack.unpackb(data)
        return complex(real, imag)
    return msgpack.ExtType(code, data)


def _default(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return msgpack.ExtType(EXT_NDARRAY, _array_to_bytes(x))
    if isinstance(x, np.generic):
        return msgpack.ExtType(EXT_NPSCALAR, _array_to_bytes(np.asarray(x)))
    if isinstance(x, complex):
        return msgpack.ExtType(EXT_COMPLEX, msgpack.packb((x.real, x.imag)))
    raise TypeError(f"cannot store {type(x).__name__} in a flax msgpack file.")


def _unchunk(tree: Any) -> Any:
    if isinstance(tree, dict):
        if _CHUNKED in tree:
            shape = tuple(tree["shape"][str(i)] for i in range(len(tree["shape"])))
            chunks = [tree["chunks"][str(i)] for i in range(len(tree["chunks"]))]
            return np.concatenate(chunks).reshape(shape)
        return {k: _unchunk(v) for k, v in tree.items()}
    return tree


def _chunk(arr: np.ndarray) -> Any:
    if arr.nbytes <= MAX_CHUNK_SIZE:
        return arr
    size = max(1, MAX_CHUNK_SIZE // arr.dtype.itemsize)
    flat = arr.reshape(-1)
    chunks = [flat[i:i + size] for i in range(0, flat.size, size)]
    return {_CHUNKED: True, "shape": {str(i): d for i, d in enumerate(arr.shape)},
            "chunks": {str(i): c for i, c in enumerate(chunks)}}


def read_tree(path: str) -> dict:
    """The nested parameter tree of a flax msgpack file (numpy leaves). Errors name the file."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CheckpointError(path, f"cannot be read ({e.strerror or e}).") from None
    try:
        tree = msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False)
    except (msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, ValueError, TypeError) as e:
        raise CheckpointError(path, f"is not a valid flax msgpack file; it may be truncated or corrupt ({e}).") \
            from None
    if not isinstance(tree, dict):
        raise CheckpointError(path, f"holds a {type(tree).__name__}, not a parameter tree; not a flax checkpoint.")
    tree = _unchunk(tree)
    if "params" in tree and isinstance(tree["params"], dict) and len(tree) <= 2:
        tree = tree["params"]  # a saved {"params": ...} variables dict
    return tree


def read_flat(path: str) -> dict[str, np.ndarray]:
    """``{"bert/encoder/.../kernel": array}`` from a folder or a .msgpack file."""
    if os.path.isdir(path):
        path = os.path.join(path, WEIGHTS_NAME)
    flat = flatten(read_tree(path))
    bad = [k for k, v in flat.items() if not isinstance(v, np.ndarray)]
    if bad:
        raise CheckpointError(path, f"holds non-array leaves: {', '.join(bad[:5])}.")
    return flat


def read(path: str) -> StateDict:
    """Read ``flax_model.msgpack`` (a folder holding it, or the file) into the interchange schema."""
    file = os.path.join(path, WEIGHTS_NAME) if os.path.isdir(path) else path
    flat = read_flat(path)
    try:
        return flax_to_schema(flat)
    except ValueError as e:
        raise CheckpointError(file, f"does not hold BERT parameters in transformers' Flax layout ({e}).") from None


def write_flat(flat: dict[str, np.ndarray], path: str) -> None:
    """Write ``/``-joined Flax paths as a nested flax msgpack file, atomically."""
    from bert_core.files import atomic_path

    tree = unflatten({k: _chunk(np.ascontiguousarray(np.asarray(v))) for k, v in flat.items()})
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(msgpack.packb(tree, default=_default, use_bin_type=True))


def write(state_dict: StateDict, folder: str) -> list[str]:
    """Write the schema as ``flax_model.msgpack`` in ``folder``; returns the file names written."""
    os.makedirs(folder, exist_ok=True)
    write_flat(schema_to_flax(state_dict), os.path.join(folder, WEIGHTS_NAME))
    return [WEIGHTS_NAME]
