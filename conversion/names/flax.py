"""The one table between the interchange schema and transformers' Flax parameter tree.

Schema names are HF PyTorch state_dict names (``bert.encoder.layer.0.attention.self.query.weight``, Linear
weights ``[out, in]``); Flax paths are ``/``-joined (``bert/encoder/layer/0/attention/self/query/kernel``,
kernels ``[in, out]``). The rules, applied name by name:

- ``<module>.weight`` of an embedding table (``*_embeddings``, ``distance_embedding``) -> ``<module>/embedding``
- ``LayerNorm.weight`` / ``LayerNorm.bias`` -> ``LayerNorm/scale`` / ``LayerNorm/bias``
- any other ``<module>.weight`` (a Linear) -> ``<module>/kernel``, transposed
- ``<module>.bias`` -> ``<module>/bias``; ``cls.predictions.bias`` -> ``cls/predictions/bias``

The MLM decoder tied to the word embeddings is absent on both sides (transformers' Flax heads create no decoder
kernel when tied); an untied one is ``cls.predictions.decoder.weight`` <-> ``cls/predictions/decoder/kernel``.
numpy only.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from conversion.formats import common
from conversion.schema import TensorSpec

_EMBEDDINGS = ("word_embeddings", "position_embeddings", "token_type_embeddings", "distance_embedding")


def _is_embedding(module: str) -> bool:
    return module.rsplit(".", 1)[-1].rsplit("/", 1)[-1] in _EMBEDDINGS


def _module_of(name: str, sep: str) -> tuple[str, str]:
    module, _, leaf = name.rpartition(sep)
    return module, leaf


def schema_name_to_flax(name: str) -> tuple[str, bool]:
    """(Flax path, whether the value is transposed) for one schema name."""
    module, leaf = _module_of(name, ".")
    path = module.replace(".", "/")
    if leaf == "bias":
        return f"{path}/bias", False
    if leaf != "weight":
        raise ValueError(f"{name!r} is not a BERT parameter name (expected it to end in .weight or .bias).")
    if _is_embedding(module):
        return f"{path}/embedding", False
    if module.endswith("LayerNorm"):
        return f"{path}/scale", False
    return f"{path}/kernel", True


def flax_path_to_schema(path: str) -> tuple[str, bool]:
    """(schema name, whether the value is transposed) for one ``/``-joined Flax path."""
    module, leaf = _module_of(path, "/")
    name = module.replace("/", ".")
    if leaf == "bias":
        return f"{name}.bias", False
    if leaf == "embedding" and _is_embedding(module):
        return f"{name}.weight", False
    if leaf == "scale" and module.endswith("LayerNorm"):
        return f"{name}.weight", False
    if leaf == "kernel":
        return f"{name}.weight", True
    raise ValueError(f"{path!r} is not a BERT Flax parameter path (expected kernel, bias, scale or embedding).")


def _expect_ndim(name: str, value: np.ndarray, transposed: bool, leaf: str) -> None:
    want = 1 if leaf in ("bias", "scale") or (leaf == "weight" and "LayerNorm" in name) else 2
    if np.ndim(value) != want:
        raise ValueError(f"{name} has shape {tuple(np.shape(value))}; a {'vector' if want == 1 else 'matrix'} "
                         "was expected. The checkpoint does not hold a BERT model in the expected layout.")


def plan_schema_to_flax(state_dict: Mapping[str, np.ndarray]) -> dict[str, tuple[str, bool]]:
    """``{Flax path: (schema name, transposed)}`` for every schema tensor, names and ranks checked; no data
    is touched (streaming writers transpose each tensor as they write it)."""
    out: dict[str, tuple[str, bool]] = {}
    for name, value in state_dict.items():
        path, transposed = schema_name_to_flax(name)
        _expect_ndim(name, value, transposed, name.rpartition(".")[2])
        out[path] = (name, transposed)
    return out


def schema_to_flax(state_dict: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Map schema tensors to ``/``-joined Flax paths (Linear weights transposed to ``[in, out]``)."""
    out: dict[str, np.ndarray] = {}
    for path, (name, transposed) in plan_schema_to_flax(state_dict).items():
        value = np.asarray(state_dict[name])
        out[path] = common.transposed(value) if transposed else value
    return out


def flax_to_schema(flat: Mapping[str, np.ndarray], release: bool = False, lazy: bool = False
                   ) -> dict[str, np.ndarray]:
    """Map ``/``-joined Flax paths to schema names (kernels transposed to ``[out, in]``).

    ``release=True`` drops the mapped pages of a file-backed kernel once its transpose is made
    (``conversion.formats.common.release``); ``lazy=True`` returns file-backed kernels as transposed views
    (``common.lazy_transposed``: no copy, F-ordered).
    """
    out: dict[str, np.ndarray] = {}
    for path, value in flat.items():
        name, transposed = flax_path_to_schema(path)
        value = np.asarray(value)
        _expect_ndim(path, value, transposed, path.rpartition("/")[2])
        if transposed and lazy:
            out[name] = common.lazy_transposed(value)
        elif transposed:
            out[name] = common.transposed(value)
            if release:
                common.release(value)
        else:
            out[name] = value
    return out


def flax_specs_to_schema(specs: Mapping[str, TensorSpec]) -> dict[str, TensorSpec]:
    """``flax_to_schema`` for shapes only: ``/``-joined Flax paths -> schema specs, kernel shapes reversed."""
    out: dict[str, TensorSpec] = {}
    for path, spec in specs.items():
        name, transposed = flax_path_to_schema(path)
        out[name] = TensorSpec(*spec).transposed() if transposed else TensorSpec(*spec)
    return out


def flatten(tree: Mapping, prefix: str = "") -> dict[str, np.ndarray]:
    """A nested dict of arrays as ``{"a/b/c": array}``."""
    out: dict[str, np.ndarray] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, path + "/"))
        else:
            out[path] = value
    return out


def unflatten(flat: Mapping[str, np.ndarray]) -> dict:
    """Inverse of flatten."""
    tree: dict = {}
    for path, value in flat.items():
        node = tree
        *parents, leaf = path.split("/")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return tree
