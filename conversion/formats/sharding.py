"""Sharded checkpoints, for every format that has them: an index (``weight_map``: tensor name -> shard file) plus
shard files in the same folder.

``read_sharded`` is the one reader every sharded format uses: shard names go through ``common.shard_path`` (no
path outside the index's folder), every shard the numbering implies must be listed, and each tensor must be in
exactly the shard the index names: a tensor in two shards, or missing from its shard, is an error, never "the
later shard wins".
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping

import numpy as np

from conversion.errors import CheckpointError
from conversion.formats import common

_SHARD = re.compile(r"^(.*)-(\d{5})-of-(\d{5})(\..+)$")


def _check_numbering(index_path: str, shards: list[str]) -> None:
    numbered = [m for m in (_SHARD.match(s) for s in shards) if m]
    if not numbered:
        return
    stem, total, suffix = numbered[0].group(1), int(numbered[0].group(3)), numbered[0].group(4)
    expected = {f"{stem}-{i:05d}-of-{total:05d}{suffix}" for i in range(1, total + 1)}
    unlisted = sorted(expected - set(shards))
    if unlisted and all(m.group(1) == stem and int(m.group(3)) == total for m in numbered):
        raise CheckpointError(index_path, f"assigns no tensor to shard(s) {', '.join(unlisted)} of {total}: the "
                                          "index is incomplete or from another save. Use the index that came "
                                          "with the shards.")


def read_sharded(index_path: str, read_file: Callable[[str], Mapping[str, np.ndarray]],
                 key: Callable[[str], str] | None = None) -> dict[str, np.ndarray]:
    """Read every shard an index names with ``read_file(path) -> {name: array}``; check index and shards agree.

    ``key`` maps both the index's names and the shards' names to the names compared (transformers' sharded
    ``tf_model.h5`` index names carry the model name, its shards do not); the shards' own names are returned.
    Raises CheckpointError naming the index or the shard on any disagreement.
    """
    key = key or (lambda name: name)
    weight_map = {key(k): v for k, v in common.read_index(index_path).items()}
    shards = sorted(set(weight_map.values()))
    _check_numbering(index_path, shards)
    paths = {shard: common.shard_path(index_path, shard) for shard in shards}
    absent = [s for s in shards if not os.path.isfile(paths[s])]
    if absent:
        raise CheckpointError(index_path, f"names shard(s) {', '.join(absent)}, missing from "
                                          f"{os.path.dirname(os.path.abspath(index_path))}; download every shard "
                                          "the index lists.")
    out: dict[str, np.ndarray] = {}
    found_in: dict[str, str] = {}
    for shard in shards:
        part = read_file(paths[shard])
        for name, value in part.items():
            k = key(name)
            if k in found_in:
                raise CheckpointError(paths[shard], f"holds tensor {name}, which shard {found_in[k]} holds too; a "
                                                    "tensor must be in one shard only. The shards are from "
                                                    "different saves.")
            if weight_map.get(k) != shard:
                owner = f"to shard {weight_map[k]}" if k in weight_map else "to no shard"
                raise CheckpointError(paths[shard], f"holds tensor {name}, which the index assigns {owner}; the "
                                                    "index and the shards are from different saves.")
            found_in[k] = shard
            out[name] = value
    missing = sorted(k for k in weight_map if k not in found_in)
    if missing:
        listed = ", ".join(f"{k} (in {weight_map[k]})" for k in missing[:10])
        raise CheckpointError(index_path, f"lists tensors no shard holds: {listed}"
                                          f"{' ...' if len(missing) > 10 else ''}.")
    return out


def plan_shards(state_dict: Mapping[str, np.ndarray], max_shard_size: int | None) -> list[list[str]]:
    """Split names into shards of at most ``max_shard_size`` bytes (one shard when None or small enough)."""
    if max_shard_size is None or common.total_bytes(state_dict) <= max_shard_size:
        return [list(state_dict)]
    shards: list[list[str]] = [[]]
    size = 0
    for name, value in state_dict.items():
        if shards[-1] and size + value.nbytes > max_shard_size:
            shards.append([])
            size = 0
        shards[-1].append(name)
        size += int(value.nbytes)
    return shards


def write_index(folder: str, index_name: str, weight_map: dict[str, str], total: int) -> None:
    """Write a transformers index file (``metadata.total_size`` and the sorted ``weight_map``) atomically."""
    import json

    from bert_core.files import atomic_write_text

    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    atomic_write_text(os.path.join(folder, index_name), json.dumps(index, indent=2) + "\n")
