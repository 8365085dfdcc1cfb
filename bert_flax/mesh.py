"""Device meshes and multi-host plumbing for ``bert_flax.train``.

- ``parse_mesh("data=4,model=2")`` -> ``{"data": 4, "model": 2}``; ``-1`` (or a missing axis) takes the devices
  left over, so ``"model=2"`` on 8 devices is ``data=4,model=2`` and the default ``""`` is pure data parallel.
- ``build_mesh(spec)``: a ``jax.sharding.Mesh`` with axes ``("data", "model")`` of Auto type (JAX 0.10's
  ``jax.make_mesh`` defaults to Explicit axes), over every device of every process.
- ``initialize_distributed()``: ``jax.distributed.initialize`` for several hosts (a TPU pod slice; or a
  coordinator given by ``JAX_COORDINATOR_ADDRESS`` / ``JAX_NUM_PROCESSES`` / ``JAX_PROCESS_ID``).
- ``global_batch`` (each process's rows -> one global array sharded over ``"data"``) and ``host_tree`` (a possibly
  multi-host sharded tree -> numpy on every process).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

AXES = ("data", "model")


def parse_mesh(spec: str | Mapping[str, int] | None, device_count: int | None = None) -> dict[str, int]:
    """Axis sizes ``{"data": d, "model": m}`` with ``d * m == device_count`` from ``"data=4,model=2"``."""
    n = jax.device_count() if device_count is None else device_count
    if isinstance(spec, Mapping):
        sizes = {k: int(v) for k, v in spec.items()}
    else:
        sizes = {}
        for part in (spec or "").replace(" ", "").split(","):
            if not part:
                continue
            name, sep, value = part.partition("=")
            if not sep or name not in AXES or not value.lstrip("-").isdigit():
                raise ValueError(f"bad mesh {spec!r}: write axis=size pairs over {AXES}, e.g. data=4,model=2")
            sizes[name] = int(value)
    unknown = set(sizes) - set(AXES)
    if unknown:
        raise ValueError(f"unknown mesh axes {sorted(unknown)}; the axes are {AXES}")
    free = [a for a in AXES if sizes.get(a, -1) == -1]
    fixed = int(np.prod([sizes[a] for a in AXES if a not in free])) if len(free) < len(AXES) else 1
    if any(sizes.get(a, 1) == 0 or sizes.get(a, 1) < -1 for a in AXES) or n % fixed:
        raise ValueError(f"mesh {spec!r} does not fit {n} devices (sizes must be positive and divide {n})")
    for i, a in enumerate(free):  # the first free axis takes what is left, the others 1
        sizes[a] = n // fixed if i == 0 else 1
    if sizes["data"] * sizes["model"] != n:
        raise ValueError(f"mesh {spec!r} has {sizes['data'] * sizes['model']} devices, there are {n}: "
                         f"data x model must equal the device count")
    return {a: sizes[a] for a in AXES}


def build_mesh(spec: str | Mapping[str, int] | None = None, devices=None) -> jax.sharding.Mesh:
    """A ``("data", "model")`` mesh (Auto axes) over ``devices`` (default: all devices of all processes)."""
    if devices is not None:
        sizes = parse_mesh(spec, len(devices))
        return jax.sharding.Mesh(np.asarray(devices).reshape(sizes["data"], sizes["model"]), AXES,
                                 axis_types=(jax.sharding.AxisType.Auto,) * 2)
    sizes = parse_mesh(spec)
    return jax.make_mesh((sizes["data"], sizes["model"]), AXES, axis_types=(jax.sharding.AxisType.Auto,) * 2)


def initialize_distributed(coordinator_address: str | None = None, num_processes: int | None = None,
                           process_id: int | None = None) -> None:
    """Connect the processes of a multi-host run (call before any other JAX work). With no arguments: the
    ``JAX_COORDINATOR_ADDRESS`` / ``JAX_NUM_PROCESSES`` / ``JAX_PROCESS_ID`` environment variables if set, else
    JAX's cluster auto-detection (Cloud TPU pod slices, SLURM, ...). On CPU the collectives use gloo."""
    env = os.environ
    coordinator_address = coordinator_address or env.get("JAX_COORDINATOR_ADDRESS")
    if num_processes is None and env.get("JAX_NUM_PROCESSES"):
        num_processes = int(env["JAX_NUM_PROCESSES"])
    if process_id is None and env.get("JAX_PROCESS_ID"):
        process_id = int(env["JAX_PROCESS_ID"])
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU backend only; TPUs use ICI / DCN
    jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes,
                               process_id=process_id)


def batch_spec(ndim: int, leading: int = 1) -> PartitionSpec:
    """``leading`` unsharded axes (accumulation), then the batch over ``"data"``, the rest replicated."""
    return PartitionSpec(*([None] * leading), "data", *([None] * (ndim - leading - 1)))


def global_batch(local: Mapping[str, np.ndarray], mesh: jax.sharding.Mesh, leading: int = 1) -> dict[str, jax.Array]:
    """Global arrays from this process's rows (``[accumulation, local_rows, ...]``), rows sharded over ``"data"``:
    the global batch is the processes' rows in process order (``jax.make_array_from_process_local_data``)."""
    out = {}
    for k, v in local.items():
        v = np.asarray(v)
        v = v.astype(np.int32) if np.issubdtype(v.dtype, np.integer) else v
        out[k] = jax.make_array_from_process_local_data(NamedSharding(mesh, batch_spec(v.ndim, leading)), v)
    return out


def host_tree(tree):
    """Every leaf as a numpy array on every process (gathers shards other processes hold)."""
    def get(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable and not x.is_fully_replicated:
            from jax.experimental import multihost_utils
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(jax.device_get(x))
    return jax.tree_util.tree_map(get, tree)
