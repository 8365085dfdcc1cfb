"""HF PyTorch pickles: ``pytorch_model.bin`` and sharded ``pytorch_model.bin.index.json``.

Reading never runs code from the file: ``torch.load(weights_only=True)`` accepts tensors and plain containers
only (``mmap=True`` for the zip format, so tensors are paged in from the file). Writing is ``torch.save`` of a
plain dict of tensors (what transformers' ``save_pretrained(safe_serialization=False)`` writes). torch is imported
inside the functions.
"""

from __future__ import annotations

import os
import warnings
import zipfile

import numpy as np

from conversion.errors import CheckpointError
from conversion.formats import common
from conversion.schema import StateDict

WEIGHTS_NAME = "pytorch_model.bin"
INDEX_NAME = "pytorch_model.bin.index.json"
# Some trainers wrap the state dict: {"state_dict": {...}} or {"model": {...}}.
_WRAPPERS = ("state_dict", "model", "module")


def _import_torch():
    try:
        import torch
    except ImportError:
        raise CheckpointError(None, "reading or writing pytorch_model.bin needs PyTorch: pip install torch "
                                    "(or convert from safetensors, which needs no framework).") from None
    return torch


def _to_numpy(tensor, name: str, path: str) -> np.ndarray:
    torch = _import_torch()
    if not isinstance(tensor, torch.Tensor):
        raise CheckpointError(path, f"entry {name!r} is a {type(tensor).__name__}, not a tensor.")
    if tensor.dtype == torch.bfloat16:
        return tensor.detach().contiguous().view(torch.int16).numpy().view(common.bfloat16())
    try:
        return tensor.detach().numpy()
    except (TypeError, RuntimeError) as e:
        raise CheckpointError(path, f"tensor {name!r} of dtype {tensor.dtype} has no numpy equivalent ({e}).") \
            from None


def read_file(path: str) -> StateDict:
    """Read one ``.bin`` file with ``torch.load(weights_only=True)``; raise CheckpointError on anything else."""
    torch = _import_torch()
    common.check_file(path, "PyTorch checkpoint")
    use_mmap = zipfile.is_zipfile(path)
    if not use_mmap:
        with open(path, "rb") as f:
            if f.read(4) == b"PK\x03\x04":
                raise CheckpointError(path, "is a truncated or damaged zip archive (torch.save's format): its end, "
                                            "with the table of contents, is missing. Download or save it again.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=use_mmap)
    except Exception as e:  # noqa: BLE001 - torch raises many types; none may escape as a deep traceback
        text = str(e).strip().splitlines()
        reason = text[0] if text else type(e).__name__
        if "weights_only" in str(e) or "Unsupported global" in str(e) or "Unpickler" in type(e).__name__:
            raise CheckpointError(path, "holds pickled objects other than tensors, which bertzoo refuses to load "
                                        "(they could run code). If you trust the file, load it with torch and "
                                        f"save a plain state dict or safetensors. ({reason})") from None
        raise CheckpointError(path, f"is not a readable PyTorch checkpoint (truncated or corrupt?): {reason}") \
            from None
    while isinstance(obj, dict) and len(obj) == 1 and next(iter(obj)) in _WRAPPERS \
            and isinstance(next(iter(obj.values())), dict):
        obj = next(iter(obj.values()))
    if not isinstance(obj, dict):
        raise CheckpointError(path, f"holds a {type(obj).__name__}, not a state dict of tensors.")
    out: StateDict = {}
    for name, tensor in obj.items():
        if not isinstance(name, str):
            raise CheckpointError(path, f"has a key {name!r} that is not a tensor name.")
        out[name] = _to_numpy(tensor, name, path)
    return out


def read(path: str) -> StateDict:
    """Read ``pytorch_model.bin``, a sharded index, or a folder holding either, into the schema."""
    if os.path.isdir(path):
        index = os.path.join(path, INDEX_NAME)
        path = index if os.path.isfile(index) else os.path.join(path, WEIGHTS_NAME)
    if path.endswith(".json"):
        return common.read_sharded(path, read_file)
    return read_file(path)


def _to_torch(value: np.ndarray):
    torch = _import_torch()
    value = np.ascontiguousarray(value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # read-only (memory-mapped) arrays: torch.save only reads them
        if value.dtype.name == "bfloat16":
            return torch.from_numpy(value.view(np.int16)).view(torch.bfloat16)
        return torch.from_numpy(value)


def write_file(state_dict: StateDict, path: str) -> None:
    torch = _import_torch()
    from bert_core.files import atomic_path

    tensors = {k: _to_torch(v) for k, v in state_dict.items()}
    with atomic_path(path) as tmp:
        torch.save(tensors, tmp)


def write(state_dict: StateDict, folder: str, max_shard_size: int | None = None) -> list[str]:
    """Write ``pytorch_model.bin`` (or shards plus ``pytorch_model.bin.index.json``); returns the file names."""
    common.check_tensors(state_dict, None)
    os.makedirs(folder, exist_ok=True)
    shards = common.plan_shards(state_dict, max_shard_size)
    if len(shards) == 1:
        write_file(state_dict, os.path.join(folder, WEIGHTS_NAME))
        return [WEIGHTS_NAME]
    files = [f"pytorch_model-{i + 1:05d}-of-{len(shards):05d}.bin" for i in range(len(shards))]
    weight_map = {}
    for file, shard in zip(files, shards):
        write_file({k: state_dict[k] for k in shard}, os.path.join(folder, file))
        weight_map.update({k: file for k in shard})
    common.write_index(folder, INDEX_NAME, weight_map, common.total_bytes(state_dict))
    return [*files, INDEX_NAME]
