"""Logical axis names on every parameter, and the rules that map them to a device mesh.

Each parameter is created with ``nn.with_logical_partitioning``, naming its axes (``embed``, ``mlp``, ``heads``,
``kv``, ``vocab``, ...). ``DEFAULT_RULES`` maps those names to mesh axes ``"data"`` and ``"model"``: Megatron-style
tensor parallelism (attention heads, the feed-forward width and the vocabulary split over ``"model"``), with the
batch split over ``"data"``. ``param_shardings`` turns the names into ``NamedSharding`` s for a
``jax.sharding.Mesh``; an axis that does not divide evenly stays replicated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

# logical axis name -> mesh axis (None: replicated)
DEFAULT_RULES: tuple[tuple[str, str | None], ...] = (
    ("batch", "data"),
    ("vocab", "model"),
    ("heads", "model"),
    ("mlp", "model"),
    ("embed", None),
    ("kv", None),
    ("length", None),
    ("positions", None),
    ("types", None),
    ("distance", None),
    ("embed_out", None),
    ("labels", None),
    ("layers", None),
)


def get_partition_rules() -> tuple[tuple[str, str | None], ...]:
    """The default logical-axis -> mesh-axis rules (a copy you may edit and pass back)."""
    return DEFAULT_RULES


def init_with(init: Any, names: Sequence[str | None]) -> Any:
    """An initializer that tags its parameter with logical axis ``names``."""
    return nn.with_logical_partitioning(init, tuple(names))


def normal(std: float, names: Sequence[str | None]) -> Any:
    return init_with(nn.initializers.normal(stddev=std), names)


def zeros(names: Sequence[str | None]) -> Any:
    return init_with(nn.initializers.zeros_init(), names)


def ones(names: Sequence[str | None]) -> Any:
    return init_with(nn.initializers.ones_init(), names)


def _mesh_spec(logical: PartitionSpec | None, shape: tuple[int, ...], mesh: jax.sharding.Mesh,
               rules: dict[str, str | None]) -> PartitionSpec:
    if logical is None:
        return PartitionSpec()
    axes = []
    used = set()
    for dim, name in zip(shape, tuple(logical) + (None,) * (len(shape) - len(logical))):
        axis = rules.get(name) if name is not None else None
        if axis is None or axis not in mesh.shape or axis in used or dim % mesh.shape[axis]:
            axes.append(None)
        else:
            axes.append(axis)
            used.add(axis)
    return PartitionSpec(*axes)


def param_shardings(logical_specs: Any, shapes: Any, mesh: jax.sharding.Mesh,
                    rules: Sequence[tuple[str, str | None]] | None = None) -> Any:
    """``NamedSharding`` tree for a parameter tree, from its logical specs and shapes (same structure)."""
    table = dict(DEFAULT_RULES if rules is None else rules)
    is_spec = lambda x: isinstance(x, PartitionSpec) or x is None  # noqa: E731
    return jax.tree_util.tree_map(
        lambda spec, shape: NamedSharding(mesh, _mesh_spec(spec, tuple(np.shape(shape)), mesh, table)),
        logical_specs, shapes, is_leaf=is_spec)


def batch_sharding(mesh: jax.sharding.Mesh, ndim: int = 2) -> NamedSharding:
    """Sharding for a ``[batch, ...]`` input: the batch over ``"data"``, the rest replicated."""
    return NamedSharding(mesh, PartitionSpec("data" if "data" in mesh.shape else None, *([None] * (ndim - 1))))
