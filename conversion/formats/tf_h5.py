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
from conversion.formats import common, sharding
from conversion.heads import infer_head
from conversion.names import tf as tf_names
from conversion.schema import StateDict, TensorSpec

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


def _link_problem(link) -> str:
    import h5py

    if isinstance(link, h5py.ExternalLink):
        return f"an external link to {link.path!r} in file {link.filename!r}"
    if isinstance(link, h5py.SoftLink):
        return f"a soft link to {link.path!r}"
    return f"a {type(link).__name__}"


def _get(group, path: str, file: str):
    """The object at ``path`` under ``group``, reached through hard links only (each step checked).

    HDF5 soft and external links may point anywhere, including other files: bytes are only ever read from inside
    the checkpoint file itself, so any link but a hard link raises CheckpointError naming the file and the object.
    """
    import h5py

    node = group
    for part in (p for p in path.split("/") if p and p != "."):
        if not isinstance(node, h5py.Group):
            raise KeyError(f"{path!r}: {part!r} is inside a dataset")
        link = node.get(part, getlink=True)
        if link is None:
            raise KeyError(f"{path!r} does not exist in the file (no {part!r})")
        if not isinstance(link, h5py.HardLink):
            raise CheckpointError(file, f"object {path!r} is reached through {_link_problem(link)}. bertzoo reads "
                                        "weights only from inside the checkpoint file and refuses links; the file "
                                        "was not written by Keras or transformers.")
        node = node[part]
    return node


def _check_dataset(dataset, name: str, file: str, size: int) -> None:
    """Refuse a dataset whose bytes live outside the file (external storage, virtual dataset), or that holds
    more bytes than the file could (a corrupt header must not make us allocate terabytes)."""
    import h5py

    dcpl = dataset.id.get_create_plist()
    if dcpl.get_layout() == h5py.h5d.VIRTUAL or dataset.is_virtual:
        raise CheckpointError(file, f"dataset {name!r} is a virtual dataset, whose data come from other files. "
                                    "bertzoo reads weights only from inside the checkpoint file.")
    if dcpl.get_external_count():
        where = ", ".join(repr(dcpl.get_external(i)[0].decode("utf8", "replace"))
                          for i in range(dcpl.get_external_count()))
        raise CheckpointError(file, f"dataset {name!r} keeps its data in external file(s) {where}. bertzoo reads "
                                    "weights only from inside the checkpoint file.")
    nbytes = int(np.prod(dataset.shape or (), dtype=np.int64)) * dataset.dtype.itemsize
    stored = dataset.id.get_storage_size()
    limit = stored * 1100 if dcpl.get_nfilters() else max(stored, size)
    if nbytes > limit:
        raise CheckpointError(file, f"dataset {name!r} claims {nbytes} bytes but the file stores {stored} for it; "
                                    "the file is truncated or corrupt.")


def _resolve(path: str) -> str:
    if os.path.isdir(path):
        index = os.path.join(path, INDEX_NAME)
        path = index if not os.path.isfile(os.path.join(path, WEIGHTS_NAME)) and os.path.isfile(index) \
            else os.path.join(path, WEIGHTS_NAME)
    return path


def _read_index(index_path: str) -> dict[str, np.ndarray]:
    """A sharded checkpoint (``tf_model.h5.index.json`` naming ``tf_model-0000i-of-0000n.h5`` shards): the index
    names weights with the model name, the shards without it."""
    return sharding.read_sharded(index_path, _read_views, key=tf_names._strip_model_name)


def _dataset_view(dataset, buf, size: int) -> np.ndarray | None:
    """A read-only view of ``dataset``'s bytes in the file mapping ``buf`` when it is stored contiguously,
    unfiltered and little-endian (what Keras and this module write); None when it must be read through h5py.
    Only called on datasets ``_get`` reached through hard links and ``_check_dataset`` passed."""
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


def _datasets(f, path: str):
    """Yield ``(TF name, dataset)`` for every weight the file lists, each reached and checked safely."""
    import h5py

    size = os.path.getsize(path)
    root = _get(f, "model_weights", path) if "model_weights" in f else f  # a full Keras 2 model save
    for layer in _read_attr(root, "layer_names"):
        group = _get(root, layer, path)
        if isinstance(group, h5py.Dataset):  # a shard of a sharded save: one dataset per weight
            pairs = [(layer, group)]
        else:
            pairs = [(w, _get(group, w, path)) for w in _read_attr(group, "weight_names")]
        for weight_name, dataset in pairs:
            if not isinstance(dataset, h5py.Dataset):
                raise KeyError(f"{weight_name!r} is a group, not a weight")
            _check_dataset(dataset, weight_name, path, size)
            yield tf_names._strip_model_name(weight_name), dataset


def _open_h5(path: str):
    import h5py

    if not os.path.isfile(path):
        raise CheckpointError(path, "does not exist.")
    return h5py.File(path, "r")


def _read_views(path: str) -> dict[str, np.ndarray]:
    """Every weight of one tf_model.h5 under its TF name; contiguous datasets are views of a file mapping."""
    import mmap

    out: dict[str, np.ndarray] = {}
    try:
        with _open_h5(path) as f:
            size = os.path.getsize(path)
            with open(path, "rb") as raw:
                buf = common.ReadOnlyMap(raw.fileno(), 0, access=mmap.ACCESS_READ)
            for name, dataset in _datasets(f, path):
                if name not in out:  # transformers' MLM head lists the tied word embeddings a second time
                    view = _dataset_view(dataset, buf, size)
                    out[name] = view if view is not None else np.asarray(dataset)
    except CheckpointError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as e:
        raise CheckpointError(path, f"not a readable tf_model.h5 (truncated or corrupt?): {e}") from None
    if not out:
        raise CheckpointError(path, "holds no weights: the TF model was saved unbuilt (call it on inputs once, "
                                    "or load it with from_pretrained, before save_pretrained).")
    return out


def read_tf_names(path: str) -> dict[str, np.ndarray]:
    """Every weight of a tf_model.h5 (or a sharded one's index) under its TF name (model name, ``:0`` stripped)."""
    path = _resolve(path)
    views = _read_index(path) if path.endswith(".json") else _read_views(path)
    return {k: common.owned(v) for k, v in views.items()}


def read(path: str, *, mmap: bool = False, verify: bool = True, skipped: dict[str, str] | None = None
         ) -> StateDict:
    """Read a tf_model.h5 (file, or folder holding one, or a sharded save's index) into the interchange schema.

    Contiguous datasets are read through a file mapping: ``mmap=True`` returns read-only views of the file (no
    copy; used by ``conversion.convert``), kernels as transposed (F-ordered) views; otherwise C-ordered copies,
    kernels transposed into new arrays. ``verify``: h5py checks the Fletcher-32 checksums of datasets that have
    them either way. ``skipped``: nothing is skipped. Links, external storage and virtual datasets are refused.
    """
    file = _resolve(path)
    weights = _read_index(file) if file.endswith(".json") else _read_views(file)
    try:
        out = tf_names.tf_to_schema(weights, release=True, lazy=mmap)
    except (ValueError, KeyError) as e:
        raise CheckpointError(path, f"holds a weight bertzoo cannot map: {e}") from None
    return out if mmap else {k: common.owned(v) for k, v in out.items()}


def read_shapes(path: str) -> dict[str, TensorSpec]:
    """Schema name -> (shape, dtype) of every weight, from the datasets' headers (no tensor data is read)."""
    file = _resolve(path)

    def one(shard: str) -> dict[str, TensorSpec]:
        try:
            with _open_h5(shard) as f:
                return {n: TensorSpec(tuple(d.shape), np.dtype(d.dtype)) for n, d in _datasets(f, shard)}
        except CheckpointError:
            raise
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as e:
            raise CheckpointError(shard, f"not a readable tf_model.h5 (truncated or corrupt?): {e}") from None

    specs = sharding.read_sharded(file, one, key=tf_names._strip_model_name) if file.endswith(".json") \
        else one(file)
    try:
        return tf_names.tf_specs_to_schema(specs)
    except (ValueError, KeyError) as e:
        raise CheckpointError(path, f"holds a weight bertzoo cannot map: {e}") from None


def write(state_dict: StateDict, folder: str, *, head: str | None = None, max_shard_size: int | None = None
          ) -> list[str]:
    """Write ``tf_model.h5`` in transformers' layout, atomically; ``head`` is inferred from the keys if None.

    transformers 4.x's ``TFBert*.from_pretrained`` loads the file. Returns the file names written. The file is
    never split: ``max_shard_size`` must be None.
    """
    common.no_sharding(WEIGHTS_NAME, max_shard_size)
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
