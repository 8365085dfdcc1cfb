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


def _read_index(index_path: str) -> dict[str, np.ndarray]:
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
        out.update(read_tf_names(shard_path))
    return out


def read_tf_names(path: str) -> dict[str, np.ndarray]:
    """Every weight of a tf_model.h5 (or a sharded one's index) under its TF name (model name, ``:0`` stripped)."""
    import h5py

    if os.path.isdir(path):
        index = os.path.join(path, INDEX_NAME)
        path = index if not os.path.isfile(os.path.join(path, WEIGHTS_NAME)) and os.path.isfile(index) \
            else os.path.join(path, WEIGHTS_NAME)
    if path.endswith(".json"):
        return _read_index(path)
    if not os.path.isfile(path):
        raise CheckpointError(path, "does not exist.")
    out: dict[str, np.ndarray] = {}
    try:
        with h5py.File(path, "r") as f:
            root = f["model_weights"] if "model_weights" in f else f  # a full Keras 2 model save
            layer_names = _read_attr(root, "layer_names")
            for layer in layer_names:
                group = root[layer]
                if isinstance(group, h5py.Dataset):  # a shard of a sharded save: one dataset per weight
                    out.setdefault(tf_names._strip_model_name(layer), np.asarray(group))
                    continue
                for weight_name in _read_attr(group, "weight_names"):
                    name = tf_names._strip_model_name(weight_name)
                    if name not in out:
                        out[name] = np.asarray(group[weight_name])
    except CheckpointError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as e:
        raise CheckpointError(path, f"not a readable tf_model.h5 (truncated or corrupt?): {e}") from None
    if not out:
        raise CheckpointError(path, "holds no weights: the TF model was saved unbuilt (call it on inputs once, "
                                    "or load it with from_pretrained, before save_pretrained).")
    return out


def read(path: str) -> StateDict:
    """Read a tf_model.h5 (file, or folder holding one) into the interchange schema."""
    weights = read_tf_names(path)
    try:
        return tf_names.tf_to_schema(weights)
    except (ValueError, KeyError) as e:
        raise CheckpointError(path, f"holds a weight bertzoo cannot map: {e}") from None


def write(state_dict: StateDict, folder: str, head: str | None = None) -> list[str]:
    """Write ``tf_model.h5`` in transformers' layout, atomically; ``head`` is inferred from the keys if None.

    transformers 4.x's ``TFBert*.from_pretrained`` loads the file. Returns the file names written.
    """
    import h5py

    from bert_core.files import atomic_path

    head = head or tf_names.infer_head(state_dict)
    weights = tf_names.schema_to_tf(state_dict, head)
    model_name = _model_name(head)
    layers = [layer for layer in tf_names.HEAD_LAYERS[head] if any(k.startswith(layer + "/") for k in weights)]
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, WEIGHTS_NAME)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
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
            for name, k in zip(full, names):
                group.create_dataset(name, data=weights[k])
    return [WEIGHTS_NAME]
