"""Google's original TF1 BERT checkpoints: ``bert_model.ckpt.index`` + ``bert_model.ckpt.data-00000-of-00001``.

Names follow ``conversion.names.tf1``. Reading uses ``tf.train.load_checkpoint`` (tensor by tensor; optimizer
slots are skipped); writing uses ``tf.raw_ops.SaveV2``, the op behind ``tf.compat.v1.train.Saver``, so Google's
``modeling.py`` / ``run_classifier.py`` restore the result with ``init_checkpoint``. TensorFlow is imported inside
the functions. ``bert_config.json`` is handled by ``conversion.convert``.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile

import numpy as np

from conversion.errors import CheckpointError
from conversion.formats import common
from conversion.formats.tf1_native import DATA_FILE, native_reader
from conversion.names import tf1 as names
from conversion.schema import StateDict, TensorSpec

PREFIX_NAME = "bert_model.ckpt"
WEIGHTS_NAME = PREFIX_NAME  # the registry's "file name": a prefix
_DATA = DATA_FILE


def _import_tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError:
        raise CheckpointError(None, "TF1 checkpoints need TensorFlow to read or write: pip install tensorflow.") \
            from None
    return tf


def resolve_prefix(path: str) -> str:
    """The checkpoint prefix of a folder, a prefix, or one of its ``.index`` / ``.data-*`` files; files checked."""
    path = os.fspath(path)
    if os.path.isdir(path):
        preferred = os.path.join(path, PREFIX_NAME)
        if os.path.isfile(preferred + ".index"):
            path = preferred
        else:
            found = sorted(glob.glob(os.path.join(glob.escape(path), "*.index")))
            if len(found) != 1:
                what = "no" if not found else f"{len(found)}"
                raise CheckpointError(path, f"holds {what} TF1 checkpoint index files; name the checkpoint prefix "
                                            "(for example folder/bert_model.ckpt).")
            path = found[0][: -len(".index")]
    elif path.endswith(".index"):
        path = path[: -len(".index")]
    elif _DATA.search(path):
        path = _DATA.sub("", path)
    common.check_file(path + ".index", "TF1 checkpoint index")
    data = sorted(glob.glob(glob.escape(path) + ".data-?????-of-?????"))
    if not data:
        raise CheckpointError(path, "has an index but no .data-00000-of-0000N file; copy the data file(s) too.")
    total = int(_DATA.search(data[0]).group(2))
    for i in range(total):
        common.check_file(f"{path}.data-{i:05d}-of-{total:05d}", "TF1 checkpoint data file")
    return path


def _reader(prefix: str):
    tf = _import_tf()
    try:
        return tf.train.load_checkpoint(prefix)
    except Exception as e:  # noqa: BLE001 - TF raises its own error types from C++
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CheckpointError(prefix, f"is not a readable TF1 checkpoint (corrupt or truncated?): {reason}") \
            from None


def list_variables(path: str) -> dict[str, tuple[int, ...]]:
    """TF1 variable names and shapes (optimizer slots included), without reading tensor data."""
    return {k: shape for k, (shape, _) in _variables(resolve_prefix(path), verify=False)[0].items()}


def _variables(prefix: str, verify: bool):
    """(TF1 name -> (shape, numpy dtype or None), get_tensor): the direct reader, else TensorFlow's."""
    native = native_reader(prefix, verify)
    if native is not None:
        return native
    reader = _reader(prefix)  # TensorFlow's reader checks every tensor's crc32c itself
    dtypes = reader.get_variable_to_dtype_map()
    specs = {}
    for k, shape in reader.get_variable_to_shape_map().items():
        try:
            dtype = np.dtype(dtypes[k].as_numpy_dtype)
        except (TypeError, AttributeError):
            dtype = None
        specs[k] = (tuple(shape), dtype)
    return specs, reader.get_tensor


def _plan(prefix: str, shapes: dict[str, tuple[int, ...]]):
    try:
        plan, skip = names.plan_read(shapes)
    except ValueError as e:
        raise CheckpointError(prefix, f"does not hold BERT weights in Google's layout: {e}") from None
    if not plan:
        raise CheckpointError(prefix, "holds no BERT variables (expected names like bert/embeddings/"
                                      "word_embeddings).")
    return plan, skip


def read_shapes(path: str) -> dict[str, TensorSpec]:
    """Schema name -> (shape, dtype) of every BERT variable, from the index alone (no tensor data is read)."""
    prefix = resolve_prefix(path)
    specs, _ = _variables(prefix, verify=False)
    plan, _ = _plan(prefix, {k: shape for k, (shape, _) in specs.items()})
    return {schema: TensorSpec(*specs[k]).transposed() if transposed else TensorSpec(*specs[k])
            for k, (schema, transposed) in plan.items()}


def read(path: str, *, mmap: bool = False, verify: bool = True, skipped: dict[str, str] | None = None
         ) -> StateDict:
    """Read a TF1 checkpoint (folder, prefix or file) into the schema, tensor by tensor.

    Kernels are transposed to ``[out, in]``; names the table does not know (and optimizer slots) are left out and,
    when ``skipped`` is a dict, recorded there with the reason. The index is parsed and the data files mapped
    directly (no TensorFlow): ``mmap=True`` returns read-only views of the data file, kernels as transposed
    (F-ordered) views; otherwise C-ordered copies. ``verify=True`` (the default) checks every tensor read, and the
    index's blocks, against their stored crc32c (a mismatch raises CheckpointError naming the variable);
    ``verify=False`` skips the checks. A checkpoint the direct reader does not handle is read through
    TensorFlow's reader, which always checks.
    """
    prefix = resolve_prefix(path)
    specs, get_tensor = _variables(prefix, verify)
    shapes = {k: shape for k, (shape, _) in specs.items()}
    plan, skip = _plan(prefix, shapes)
    if skipped is not None:
        skipped.update(skip)
    total = sum(int(np.prod(shapes[k])) * 4 for k in plan)
    out: StateDict = {}
    for tf1_name, _ in common.progress(((k, _Sized(shapes[k])) for k in plan), total, "read TF1"):
        schema, transposed = plan[tf1_name]
        try:
            value = np.asarray(get_tensor(tf1_name))
        except CheckpointError:
            raise
        except Exception as e:  # noqa: BLE001
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise CheckpointError(prefix, f"cannot read variable {tf1_name}: {reason}") from None
        if transposed and mmap:
            out[schema] = common.lazy_transposed(value)
        elif transposed:
            out[schema] = common.transposed(value)
            common.release(value)
        else:
            out[schema] = value if mmap else common.owned(value)
    return out


class _Sized:
    """Stands in for an array in progress bars before the tensor is read."""

    def __init__(self, shape):
        self.nbytes = int(np.prod(shape)) * 4


CHUNK_BYTES = 128 * 2**20


def _to_tensor(tf, value: np.ndarray, transpose: bool):
    """An eager tensor holding ``value`` (transposed if asked) with one copy at most.

    ``tf.convert_to_tensor`` copies a numpy array and then, unless the copy is 64-byte aligned, copies it again;
    an aligned array handed to ``EagerTensor`` directly is shared instead. Falls back to the public API.
    """
    if transpose:
        data = common.transposed(value)
    else:
        data = common.aligned_empty(value.shape, value.dtype)
        np.copyto(data, value)
    try:
        from tensorflow.python.eager import context
        from tensorflow.python.framework import ops

        ctx = context.context()
        ctx.ensure_initialized()
        return ops.EagerTensor(data, ctx.device_name)
    except Exception:  # noqa: BLE001 - private API moved: take the public path
        return tf.convert_to_tensor(data)


def _chunks(order: list[str], state_dict: StateDict, chunk_bytes: int) -> list[list[str]]:
    chunks: list[list[str]] = [[]]
    size = 0
    for name in order:
        if chunks[-1] and size + state_dict[name].nbytes > chunk_bytes:
            chunks.append([])
            size = 0
        chunks[-1].append(name)
        size += int(state_dict[name].nbytes)
    return chunks


def write(state_dict: StateDict, folder: str, *, head: str | None = None, max_shard_size: int | None = None
          ) -> list[str]:
    """Write ``folder/bert_model.ckpt.index`` and ``.data-0000i-of-0000N`` in Google's names; returns file names.

    Tensors are saved ``max_shard_size`` bytes at a time (default 128 MiB) with ``tf.raw_ops.SaveV2`` and the
    parts merged with ``MergeV2Checkpoints``, as ``tf.compat.v1.train.Saver(sharded=True)`` does, so memory stays
    bounded: a checkpoint up to that size is one ``.data-00000-of-00001`` file, a larger one has N data shards
    (TF reads both alike). Every tensor must have a TF1 name (an untied decoder, relative position or
    cross-attention weights raise CheckpointError). Files are written in a temporary folder and renamed into
    place. ``head`` is not needed (the names say it).
    """
    prefix = PREFIX_NAME
    common.check_tensors(state_dict, None)
    try:
        plan = names.schema_to_tf1(state_dict)
    except (KeyError, ValueError) as e:
        raise CheckpointError(folder, f"cannot be written as a TF1 checkpoint: {str(e).strip(chr(39))}") from None
    tf = _import_tf()
    os.makedirs(folder, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tf1.", suffix=".tmp", dir=folder)
    try:
        order = sorted(plan, key=lambda k: plan[k][0])
        chunks = _chunks(order, state_dict, max_shard_size or CHUNK_BYTES)
        parts = [os.path.join(tmp, "part", f"{i:05d}", prefix) for i in range(len(chunks))]
        for part in parts:
            os.makedirs(os.path.dirname(part))
        total = common.total_bytes(state_dict)
        items = ((str(i), _Sized((sum(state_dict[k].nbytes for k in c) // 4,))) for i, c in enumerate(chunks))
        with tf.device("/cpu:0"):
            for (i, _), chunk in zip(common.progress(items, total, "write TF1"), chunks):
                tensors = []
                for name in chunk:
                    value = state_dict[name]
                    tensors.append(_to_tensor(tf, value, plan[name][1]))
                    common.release(value)
                tf.raw_ops.SaveV2(prefix=parts[int(i)], tensor_names=[plan[k][0] for k in chunk],
                                  shape_and_slices=[""] * len(chunk), tensors=tensors)
                del tensors
            final = os.path.join(tmp, prefix)
            if len(parts) == 1:
                for file in os.listdir(os.path.dirname(parts[0])):
                    os.replace(os.path.join(os.path.dirname(parts[0]), file), os.path.join(tmp, file))
            else:
                tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=parts, destination_prefix=final,
                                              delete_old_dirs=True)
        shutil.rmtree(os.path.join(tmp, "part"), ignore_errors=True)
        written = sorted(f for f in os.listdir(tmp) if os.path.isfile(os.path.join(tmp, f)))
        for file in written:
            os.replace(os.path.join(tmp, file), os.path.join(folder, file))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return written
