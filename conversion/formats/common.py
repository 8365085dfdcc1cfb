"""Helpers every format shares: file checks (missing, empty, Git LFS pointers), dtype rules, progress bars.

numpy only at import time; ``ml_dtypes`` (bfloat16) and ``tqdm`` are imported when first needed.
"""

from __future__ import annotations

import mmap
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from conversion.errors import CheckpointError

LFS_MAGIC = b"version https://git-lfs"
# Below this many bytes a conversion shows no progress bar.
PROGRESS_MIN_BYTES = 256 * 2**20


def bfloat16() -> np.dtype:
    """numpy's bfloat16 dtype (from ml_dtypes, which TensorFlow and JAX use too)."""
    import ml_dtypes

    return np.dtype(ml_dtypes.bfloat16)


def is_float_dtype(dtype: np.dtype) -> bool:
    """float16/32/64 and bfloat16 (ml_dtypes' float types report kind 'V', so check by name too)."""
    dtype = np.dtype(dtype)
    return dtype.kind == "f" or dtype.name in ("bfloat16", "float8_e4m3fn", "float8_e5m2")


def check_file(path: str, what: str = "checkpoint file") -> None:
    """Raise CheckpointError if ``path`` is missing, empty, or a Git LFS pointer instead of real weights."""
    if not os.path.exists(path):
        raise CheckpointError(path, f"{what} does not exist.")
    if not os.path.isfile(path):
        raise CheckpointError(path, f"{what} is not a regular file.")
    size = os.path.getsize(path)
    if size == 0:
        raise CheckpointError(path, f"{what} is empty (0 bytes); the download or save did not complete.")
    if size < 2048:
        with open(path, "rb") as f:
            head = f.read(len(LFS_MAGIC) + 8)
        if head.lstrip().startswith(LFS_MAGIC):
            raise CheckpointError(path, "this is a Git LFS pointer, not the weights: run `git lfs pull` in the "
                                        "repository (or download the file itself) and try again.")


def check_tensors(state_dict: Mapping[str, Any], path: str | None) -> None:
    """Every entry must be a floating point numpy array with a string name; raise naming the offenders."""
    bad = []
    for name, value in state_dict.items():
        if not isinstance(name, str):
            bad.append(f"{name!r} (the name is a {type(name).__name__}, not a string)")
        elif not isinstance(value, np.ndarray):
            bad.append(f"{name} (a {type(value).__name__}, not a tensor)")
        elif not is_float_dtype(value.dtype):
            bad.append(f"{name} (dtype {value.dtype}; BERT weights are float16, bfloat16, float32 or float64)")
        if len(bad) >= 10:
            break
    if bad:
        raise CheckpointError(path, "holds entries that are not floating point weights: " + "; ".join(bad) + ".")


class ReadOnlyMap(mmap.mmap):
    """A read-only file mapping made by a bertzoo reader; ``release`` may drop its pages from memory."""


def _mapping_of(array: np.ndarray):
    base = array
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, memoryview):
        base = base.obj
    return base


def file_backed(array) -> bool:
    """True for a view of a ``ReadOnlyMap`` (an array a bertzoo reader returned without copying)."""
    return isinstance(array, np.ndarray) and isinstance(_mapping_of(array), ReadOnlyMap)


def owned(array):
    """A private copy of a file-backed array, its mapped pages released; anything else as it is."""
    if not file_backed(array):
        return array
    copy = array.copy()
    release(array)
    return copy


def release(array: np.ndarray) -> None:
    """Drop the resident pages behind a read-only file-backed array (a ``ReadOnlyMap`` view) once consumed.

    The data stays in the file (and the OS page cache); touching the array again reads it back. Streaming
    writers call this after each tensor so converting a mapped checkpoint does not keep it all resident.
    Anything else (ordinary arrays, other mappings) is left alone.
    """
    base = _mapping_of(array)
    if not isinstance(base, ReadOnlyMap) or array.nbytes == 0 or not hasattr(base, "madvise"):
        return
    start = np.frombuffer(base, np.uint8).ctypes.data
    begin = array.ctypes.data - start
    page = mmap.PAGESIZE
    first = -(-begin // page) * page  # only pages wholly inside the array
    end = (begin + array.nbytes) // page * page
    if end > first:
        try:
            base.madvise(mmap.MADV_DONTNEED, first, end - first)
        except (OSError, ValueError):
            pass


def aligned_empty(shape: tuple[int, ...], dtype: np.dtype, align: int = 64) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on an ``align``-byte boundary (TensorFlow and XLA
    share such buffers instead of copying them)."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + align, np.uint8)
    start = (-raw.ctypes.data) % align
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def transposed(array: np.ndarray, block: int = 16, out: np.ndarray | None = None) -> np.ndarray:
    """A C-contiguous, 64-byte aligned copy of a 2-D array's transpose, built in row blocks (several times
    faster than ``np.ascontiguousarray(array.T)`` on large matrices, which strides through memory). ``out``, if
    given, receives it (C-contiguous, shape ``array.shape[::-1]``)."""
    if out is None:
        out = aligned_empty(array.shape[::-1], array.dtype)
    if array.ndim != 2 or array.size < 65536 or array.T.flags.c_contiguous:  # the last: a plain copy
        out[...] = array.T
        return out
    for i in range(0, array.shape[0], block):
        out[:, i:i + block] = array[i:i + block].T
    return out


class Scratch:
    """Reusable output buffers for streaming writers: ``scratch.transposed(a)`` returns the transpose in a buffer
    kept per shape and dtype, valid until the next call with that shape (a fresh allocation per tensor costs
    page faults that take longer than the transpose itself)."""

    def __init__(self) -> None:
        self._buffers: dict[tuple, np.ndarray] = {}

    def transposed(self, array: np.ndarray) -> np.ndarray:
        if array.ndim == 2 and array.T.flags.c_contiguous:  # a transposed view (see ``lazy_transposed``)
            return array.T
        key = (array.shape[::-1], array.dtype.str)
        if key not in self._buffers:
            self._buffers[key] = aligned_empty(array.shape[::-1], array.dtype)
        return transposed(array, out=self._buffers[key])


def lazy_transposed(array: np.ndarray) -> np.ndarray:
    """The transpose of a file-backed 2-D array as a view (F-ordered, no copy), else a ``transposed`` copy.

    Readers return kernels this way with ``mmap=True``: a writer that stores them transposed back writes the file
    bytes as they are (``Scratch.transposed`` and ``transposed`` see the view), and ``contiguous`` turns them into
    C-ordered arrays for the writers that need them.
    """
    if array.ndim == 2 and file_backed(array) and array.flags.c_contiguous:
        return array.T
    return transposed(array)


def contiguous(state_dict: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``state_dict`` with every transposed view (``lazy_transposed``) made a C-ordered array, pages released.

    The transposes run on up to 4 threads (numpy releases the GIL while copying): about twice as fast on 2 cores.
    """
    out = dict(state_dict)
    views = [k for k, v in out.items()
             if isinstance(v, np.ndarray) and not v.flags.c_contiguous and v.T.flags.c_contiguous]
    workers = min(4, os.cpu_count() or 1, len(views))
    if workers <= 1:
        out.update({k: _c_order(out[k]) for k in views})
        return out
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers) as pool:
        out.update(zip(views, pool.map(lambda k: _c_order(state_dict[k]), views)))
    return out


def _c_order(view: np.ndarray) -> np.ndarray:
    out = transposed(view.T)  # C-ordered [out, in] from the C-ordered [in, out] file bytes
    release(view)
    return out


def total_bytes(state_dict: Mapping[str, np.ndarray]) -> int:
    return sum(int(v.nbytes) for v in state_dict.values())


def progress(items: Iterable[tuple[str, np.ndarray]], total: int, desc: str) -> Iterator[tuple[str, np.ndarray]]:
    """Iterate ``(name, array)`` pairs with a byte-counting tqdm bar on a terminal for large checkpoints."""
    if total < PROGRESS_MIN_BYTES or not sys.stderr.isatty():
        yield from items
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False) as bar:
        for name, value in items:
            yield name, value
            bar.update(int(value.nbytes))


def shard_path(index_path: str, shard: object) -> str:
    """The path of ``shard``, named by the index file ``index_path``, checked to lie in the index's folder.

    The one check every sharded format uses. A shard must be a plain file name: no folder part, not absolute,
    not ``.``/``..``. A symbolic link is followed only when its target is in the same folder, or, in a Hugging
    Face hub cache, in the repository's ``blobs`` folder (``<repo>/snapshots/<rev>/x -> <repo>/blobs/<hash>``).
    Anything else raises CheckpointError naming the index: a hostile index must not read files elsewhere.
    """
    if not isinstance(shard, str) or shard in ("", ".", "..") or "\0" in shard or os.path.isabs(shard) \
            or os.path.basename(shard) != shard or "/" in shard or "\\" in shard:
        raise CheckpointError(index_path, f"names shard {shard!r}, which is not a plain file name in the index's "
                                          "folder; bertzoo reads shards only from that folder.")
    folder = os.path.dirname(os.path.abspath(index_path))
    path = os.path.join(folder, shard)
    if os.path.islink(path):
        target = os.path.realpath(path)
        real_folder = os.path.realpath(folder)
        snapshots = os.path.dirname(real_folder)
        hub_blobs = os.path.join(os.path.dirname(snapshots), "blobs")
        inside = os.path.dirname(target) == real_folder or (
            os.path.basename(snapshots) == "snapshots" and os.path.dirname(target) == hub_blobs)
        if not inside:
            raise CheckpointError(index_path, f"names shard {shard!r}, a symbolic link to {target}, outside the "
                                              "checkpoint folder; bertzoo reads shards only from that folder. Copy "
                                              "the shard into the folder if you trust it.")
    return path


def read_index(index_path: str) -> dict[str, str]:
    """The ``weight_map`` (tensor name -> shard file) of a transformers index file, every shard name checked."""
    import json

    check_file(index_path, "index file")
    try:
        with open(index_path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise CheckpointError(index_path, f"is not a valid JSON index ({e}).") from None
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                   for k, v in weight_map.items()):
        raise CheckpointError(index_path, "is not a valid index: it needs a \"weight_map\" object mapping tensor "
                                          "names to shard file names.")
    for shard in set(weight_map.values()):
        shard_path(index_path, shard)
    return weight_map


def no_sharding(file_name: str, max_shard_size: int | None) -> None:
    """Raise ValueError for a ``max_shard_size`` given to a writer that always writes one file."""
    if max_shard_size is not None:
        raise ValueError(f"{file_name} is always written as one file; max_shard_size={max_shard_size} cannot be "
                         "honoured. Write safetensors, bin or tf1 to split a checkpoint into shards.")
