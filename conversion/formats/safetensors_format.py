"""HF safetensors checkpoints: ``model.safetensors`` and sharded ``model.safetensors.index.json``.

The metadata ``format`` key says which framework's names the file holds: ``pt`` (the schema itself), ``tf`` or
``flax`` (transformers' TF / Flax names, mapped through their tables).
"""

from __future__ import annotations

import json
import os

import numpy as np

from conversion.errors import CheckpointError
from conversion.schema import StateDict

WEIGHTS_NAME = "model.safetensors"
INDEX_NAME = "model.safetensors.index.json"


def read_file(path: str) -> tuple[StateDict, dict[str, str]]:
    """Read one safetensors file: (tensors, metadata)."""
    from safetensors import SafetensorError
    from safetensors.numpy import safe_open

    try:
        with safe_open(path, framework="np") as f:
            metadata = f.metadata() or {}
            return {k: f.get_tensor(k) for k in f.keys()}, metadata
    except (SafetensorError, OSError, ValueError, TypeError) as e:
        raise CheckpointError(path, f"not a readable safetensors file ({e}).") from None


def read(path: str) -> StateDict:
    """Read a safetensors checkpoint (a file, an index, or a folder holding either) in PyTorch ('pt') names."""
    if os.path.isdir(path):
        index = os.path.join(path, INDEX_NAME)
        path = index if os.path.isfile(index) else os.path.join(path, WEIGHTS_NAME)
    if path.endswith(".json"):
        return _read_sharded(path)
    tensors, metadata = read_file(path)
    fmt = metadata.get("format", "pt")
    if fmt != "pt":
        raise CheckpointError(path, f"holds format {fmt!r} names, not 'pt'; read it with conversion.load_state_dict.")
    return tensors


def _read_sharded(index_path: str) -> StateDict:
    try:
        with open(index_path, encoding="utf-8") as f:
            weight_map = json.load(f)["weight_map"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(index_path, f"not a valid safetensors index ({e!r}).") from None
    folder = os.path.dirname(index_path)
    out: StateDict = {}
    for shard in sorted(set(weight_map.values())):
        shard_path = os.path.join(folder, shard)
        if not os.path.isfile(shard_path):
            raise CheckpointError(index_path, f"names shard {shard!r}, which is not in {folder}.")
        out.update(read_file(shard_path)[0])
    missing = sorted(set(weight_map) - set(out))
    if missing:
        raise CheckpointError(index_path, f"lists tensors no shard holds: {', '.join(missing[:10])}.")
    return out


def write_file(state_dict: StateDict, path: str, metadata: dict[str, str] | None = None) -> None:
    from safetensors.numpy import save_file

    from bert_core.files import atomic_path

    with atomic_path(path) as tmp:
        save_file({k: np.ascontiguousarray(v) for k, v in state_dict.items()}, tmp,
                  metadata={"format": "pt", **(metadata or {})})


def write(state_dict: StateDict, folder: str, max_shard_size: int | None = None) -> list[str]:
    """Write ``state_dict`` into ``folder`` as model.safetensors, or shards plus an index above max_shard_size.

    Returns the file names written. The caller makes the folder write atomic.
    """
    os.makedirs(folder, exist_ok=True)
    total = sum(int(v.nbytes) for v in state_dict.values())
    if max_shard_size is None or total <= max_shard_size:
        write_file(state_dict, os.path.join(folder, WEIGHTS_NAME))
        return [WEIGHTS_NAME]
    shards: list[dict[str, np.ndarray]] = [{}]
    size = 0
    for name, value in state_dict.items():
        if shards[-1] and size + value.nbytes > max_shard_size:
            shards.append({})
            size = 0
        shards[-1][name] = value
        size += value.nbytes
    names = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    weight_map = {}
    for shard_name, shard in zip(names, shards):
        write_file(shard, os.path.join(folder, shard_name))
        weight_map.update({k: shard_name for k in shard})
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    from bert_core.files import atomic_write_text
    atomic_write_text(os.path.join(folder, INDEX_NAME), json.dumps(index, indent=2) + "\n")
    return [*names, INDEX_NAME]
