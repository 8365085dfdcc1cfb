"""transformers' TF checkpoints: ``tf_model.h5`` (Keras 2 h5 weights layout), read and written with h5py.

Layout: the file's ``layer_names`` attribute lists the model's top-level layers (``bert``, ``mlm___cls``,
``nsp___cls``, ``classifier``, ``qa_outputs``); each layer group's ``weight_names`` attribute lists its weights as
``<model name>/<layer>/.../<weight>:0``, stored as nested h5 groups under the layer group. Names map to the schema
through ``conversion.names.tf``. Sharded saves (``tf_model.h5.index.json`` + shards holding one dataset per
weight) read too. Keras is never used to read a file (no ``load_model`` on user data).
"""

from __future__ import annotations

import os

import numpy as np

from conversion.errors import CheckpointError
from conversion.formats import common
from conversion.heads import infer_head
from conversion.names import tf as tf_names
from conversion.schema import StateDict

WEIGHTS_NAME = "tf_model.h5"
INDEX_NAME = "tf_model.h5.index.json"
# Keras splits attributes above the HDF5 object header limit into name0, name1, ...
_HEADER_LIMIT = 64512


def _model_name(head: str) -> str:
    """transformers' Keras model name: ``BertForMaskedLM -> tf_bert_for_masked_lm``."""
    import re

    return "tf_" + re.sub(r"(?<!^)(?=[A-Z][a-z])|(?<=[a-z])(?=[A-Z])", "_", head).lower()


def _read_attr(group, name: str) -> list[str]:
    if name in group.attrs:
        values = list(group.attrs[name])
    else:
        values, i = [], 0
        while f"{name}{i}" in group.attrs:
            values.extend(group.attrs[f"{name}{i}"])
            i += 1
    return [v.decode("utf8") if hasattr(v, "decode") else str(v) for v in values]


def _write_attr(group, name: str, values: list[str]) -> None:
    data = np.asarray([v.encode("utf8") for v in values])
    chunks = 1
    while data.nbytes / chunks > _HEADER_LIMIT:
        chunks += 1
    if chunks == 1:
        group.attrs[name] = data
    else:
        for i, part in enumerate(np.array_split(data, chunks)):
            group.attrs[f"{name}{i}"] = part


def _read_index(index_path: str, views: bool = False) -> dict[str, np.ndarray]:
    """A sharded checkpoint (``tf_model.h5.index.json`` naming ``tf_model-0000i-of-0000n.h5`` shards)."""
    import json

    try:
        with open(index_path, encoding="utf-8") as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise CheckpointError(index_path, f"not a valid tf_model.h5 index ({e!r}).") from None
    out: dict[str, np.ndarray] = {}
    for shard in shards:
        shard_path = os.path.join(os.path.dirname(index_path), shard)
        if not os.path.isfile(shard_path):
            raise CheckpointError(index_path, f"names shard {shard!r}, which is missing.")
        out.update(_read_views(shard_path) if views else read_tf_names(shard_path))
    return out


def _dataset_view(dataset, buf, size: int) -> np.ndarray | None:
    """A read-only view of ``dataset``'s bytes in the file mapping ``buf`` when it is stored contiguously,
    unfiltered and little-endian (what Keras and this module write); None when it must be read through h5py."""
    import h5py

    try:
        dtype = dataset.dtype
        if dtype.kind != "f" or dtype.byteorder == ">" or dataset.compression or dataset.chunks is not None:
            return None
        dcpl = dataset.id.get_create_plist()
        if dcpl.get_layout() != h5py.h5d.CONTIGUOUS or dcpl.get_nfilters() or dataset.external:
            return None
        offset = dataset.id.get_offset()
    except (AttributeError, ValueError, RuntimeError, OSError):
        return None
    count = int(np.prod(dataset.shape, dtype=np.int64))
    if offset is None or count == 0 or offset + count * dtype.itemsize > size:
        return None
    return np.frombuffer(buf, dtype=dtype, count=count, offset=offset).reshape(dataset.shape)


def _read_views(path: str) -> dict[str, np.ndarray]:
    """Every weight of one tf_model.h5 under its TF name; contiguous datasets are views of a file mapping."""
    import mmap

    import h5py

    if not os.path.isfile(path):
        raise CheckpointError(path, "does not exist.")
    out: dict[str, np.ndarray] = {}
    try:
        with h5py.File(path, "r") as f:
            size = os.path.getsize(path)
            with open(path, "rb") as raw:
                buf = common.ReadOnlyMap(raw.fileno(), 0, access=mmap.ACCESS_READ)

            def load(dataset) -> np.ndarray:
                view = _dataset_view(dataset, buf, size)
                return view if view is not None else np.asarray(dataset)

            root = f["model_weights"] if "model_weights" in f else f  # a full Keras 2 model save
            layer_names = _read_attr(root, "layer_names")
            for layer in layer_names:
                group = root[layer]
                if isinstance(group, h5py.Dataset):  # a shard of a sharded save: one dataset per weight
                    name = tf_names._strip_model_name(layer)
                    if name not in out:
                        out[name] = load(group)
                    continue
                for weight_name in _read_attr(group, "weight_names"):
                    name = tf_names._strip_model_name(weight_name)
                    if name not in out:
                        out[name] = load(group[weight_name])
    except CheckpointError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as e:
        raise CheckpointError(path, f"not a readable tf_model.h5 (truncated or corrupt?): {e}") from None
    if not out:
        raise CheckpointError(path, "holds no weights: the TF model was saved unbuilt (call it on inputs once, "
                                    "or load it with from_pretrained, before save_pretrained).")
    return out


def _resolve(path: str) -> str:
    if os.path.isdir(path):
        index = os.path.join(path, INDEX_NAME)
        path = index if not os.path.isfile(os.path.join(path, WEIGHTS_NAME)) and os.path.isfile(index) \
            else os.path.join(path, WEIGHTS_NAME)
    return path


def read_tf_names(path: str) -> dict[str, np.ndarray]:
    """Every weight of a tf_model.h5 (or a sharded one's index) under its TF name (model name, ``:0`` stripped)."""
    path = _resolve(path)
    views = _read_index(path, views=True) if path.endswith(".json") else _read_views(path)
    return {k: common.owned(v) for k, v in views.items()}


def read(path: str, mmap: bool = False) -> StateDict:
    """Read a tf_model.h5 (file, or folder holding one) into the interchange schema.

    Contiguous datasets are read through a file mapping: ``mmap=True`` returns read-only views of the file (no
    copy; used by ``conversion.convert``), kernels as transposed (F-ordered) views; otherwise C-ordered copies,
    kernels transposed into new arrays.
    """
    file = _resolve(path)
    weights = _read_index(file, views=True) if file.endswith(".json") else _read_views(file)
    try:
        out = tf_names.tf_to_schema(weights, release=True, lazy=mmap)
    except (ValueError, KeyError) as e:
        raise CheckpointError(path, f"holds a weight bertzoo cannot map: {e}") from None
    return out if mmap else {k: common.owned(v) for k, v in out.items()}


def write(state_dict: StateDict, folder: str, head: str | None = None) -> list[str]:
    """Write ``tf_model.h5`` in transformers' layout, atomically; ``head`` is inferred from the keys if None.

    transformers 4.x's ``TFBert*.from_pretrained`` loads the file. Returns the file names written.
    """
    import h5py

    from bert_core.files import atomic_path

    head = head or infer_head(None, state_dict)
    weights = tf_names.plan_schema_to_tf(state_dict, head)  # TF name -> (schema name, transposed); checked
    model_name = _model_name(head)
    layers = [layer for layer in tf_names.HEAD_LAYERS[head] if any(k.startswith(layer + "/") for k in weights)]
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, WEIGHTS_NAME)
    with atomic_path(path) as tmp:  # a fresh name: "x" creates it (no O_TRUNC wait on close, see bert_core.files)
        with h5py.File(tmp, "x") as f:
            _write_h5(f, state_dict, weights, layers, model_name)
    return [WEIGHTS_NAME]


def _write_h5(f, state_dict: StateDict, weights: dict[str, tuple[str, bool]], layers: list[str], model_name: str
              ) -> None:
    scratch = common.Scratch()
    _write_attr(f, "layer_names", layers)
    f.attrs["backend"] = b"tensorflow"
    f.attrs["keras_version"] = b"2.21.0"
    for layer in layers:
        names = [k for k in weights if k.startswith(layer + "/")]
        if layer == "mlm___cls":  # transformers' MLM head also lists the (tied) input embeddings
            names += [k for k in weights if k.startswith("bert/embeddings/")]
        group = f.create_group(layer)
        full = [f"{model_name}/{k}:0" for k in names]
        _write_attr(group, "weight_names", full)
        for name, k in zip(full, names):  # one tensor at a time: transposed, written, pages released
            source = np.asarray(state_dict[weights[k][0]])
            value = scratch.transposed(source) if weights[k][1] else np.ascontiguousarray(source)
            group.create_dataset(name, data=value)
            common.release(source)
