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
from conversion.formats import common, sharding
from conversion.schema import StateDict, TensorSpec

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


# Globals torch.save's own pickles name (weights_only=True allows these); any other global could run code.
_TORCH_GLOBALS = ("torch.", "torch", "collections", "_codecs")


class _Bounded:
    """A read-only stream that never asks for more than ``size`` bytes in all (a length field in a damaged pickle
    must not make ``read`` allocate gigabytes)."""

    def __init__(self, stream, size: int) -> None:
        self.stream, self.left = stream, size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        data = self.stream.read(n)
        self.left -= len(data)
        return data

    def readline(self) -> bytes:
        line = self.stream.readline(self.left)
        self.left -= len(line)
        return line


def _pickle_kind(stream) -> str:
    """'code' when ``stream`` starts with a well-formed pickle naming globals other than torch's own (objects
    that could run code), 'data' for another well-formed pickle, 'garbage' when it is no pickle. Parsed with
    pickletools: nothing is imported or run."""
    import pickletools

    foreign, strings = False, ["", ""]
    try:
        for count, (op, arg, _) in enumerate(pickletools.genops(stream)):
            if op.name == "GLOBAL" or op.name == "STACK_GLOBAL" or op.name == "INST":
                module = str(arg).split(" ")[0] if op.name != "STACK_GLOBAL" else strings[-2]
                foreign = foreign or not (module in _TORCH_GLOBALS or module.startswith("torch."))
            elif isinstance(arg, str):
                strings = [strings[-1], arg]
            if op.name == "STOP":
                return "code" if foreign else "data"
            if count > 10_000_000:
                break
    except Exception:  # noqa: BLE001 - any parse failure means: not a pickle
        return "garbage"
    return "garbage"


def _payload_kind(path: str) -> str:
    """``_pickle_kind`` of a checkpoint's pickle: ``data.pkl`` inside torch.save's zip, else the file itself."""
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                pkl = [n for n in z.namelist() if n.endswith("data.pkl")]
                if not pkl:
                    return "garbage"
                with z.open(pkl[0]) as f:
                    return _pickle_kind(_Bounded(f, z.getinfo(pkl[0]).file_size))
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            return "garbage"
    with open(path, "rb") as f:
        return _pickle_kind(_Bounded(f, os.path.getsize(path)))


def _load_error(path: str, e: Exception) -> CheckpointError:
    text = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
    # torch's weights_only message starts with advice to pass weights_only=False; the cause is further down
    cause = [line for line in text if line.startswith("Unsupported") or "WeightsUnpickler error:" in line[:30]]
    reason = (cause[-1] if cause else text[0] if text else type(e).__name__).removeprefix("WeightsUnpickler error:")
    reason = reason.strip() or type(e).__name__
    if "Unsupported global" in str(e) or "not an allowed global" in str(e) or _payload_kind(path) == "code":
        return CheckpointError(path, "holds pickled objects other than tensors, which bertzoo refuses to load "
                                     "(they could run code). If you trust the file, load it with torch and save a "
                                     f"plain state dict or safetensors. ({reason})")
    return CheckpointError(path, "is not a valid PyTorch checkpoint: it is neither a torch.save zip archive nor a "
                                 f"pickle of tensors (truncated, corrupt or another kind of file). ({reason})")


def _load(path: str):
    """``torch.load(weights_only=True)`` of one file (mapped when it is a zip); raise CheckpointError otherwise."""
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
        raise _load_error(path, e) from None
    while isinstance(obj, dict) and len(obj) == 1 and next(iter(obj)) in _WRAPPERS \
            and isinstance(next(iter(obj.values())), dict):
        obj = next(iter(obj.values()))
    if not isinstance(obj, dict):
        raise CheckpointError(path, f"holds a {type(obj).__name__}, not a state dict of tensors.")
    bad = next((name for name in obj if not isinstance(name, str)), None)
    if bad is not None:
        raise CheckpointError(path, f"has a key {bad!r} that is not a tensor name.")
    return obj


def read_file(path: str) -> StateDict:
    """Read one ``.bin`` file with ``torch.load(weights_only=True)``; raise CheckpointError on anything else."""
    return {name: _to_numpy(tensor, name, path) for name, tensor in _load(path).items()}


def _resolve(path: str) -> str:
    if os.path.isdir(path):
        index = os.path.join(path, INDEX_NAME)
        path = index if os.path.isfile(index) else os.path.join(path, WEIGHTS_NAME)
    return path


def read(path: str, *, mmap: bool = False, verify: bool = True, skipped: dict[str, str] | None = None
         ) -> StateDict:
    """Read ``pytorch_model.bin``, a sharded index, or a folder holding either, into the schema.

    ``mmap``: torch maps zip checkpoints itself either way (tensors are paged in from the file). ``verify``: the
    zip's CRC-32s are not checked. ``skipped``: nothing is skipped.
    """
    path = _resolve(path)
    if path.endswith(".json"):
        return sharding.read_sharded(path, read_file)
    return read_file(path)


def read_shapes(path: str) -> dict[str, TensorSpec]:
    """Schema name -> (shape, dtype) of every tensor; a zip checkpoint is mapped, so no tensor data is read."""
    def one(file: str) -> dict[str, TensorSpec]:
        out = {}
        for name, tensor in _load(file).items():
            if not isinstance(tensor, _import_torch().Tensor):
                raise CheckpointError(file, f"entry {name!r} is a {type(tensor).__name__}, not a tensor.")
            dtype = str(tensor.dtype).removeprefix("torch.")
            out[name] = TensorSpec(tuple(tensor.shape), common.bfloat16() if dtype == "bfloat16" else np.dtype(dtype))
        return out

    path = _resolve(path)
    return sharding.read_sharded(path, one) if path.endswith(".json") else one(path)


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


def write(state_dict: StateDict, folder: str, *, head: str | None = None, max_shard_size: int | None = None
          ) -> list[str]:
    """Write ``pytorch_model.bin`` (or shards plus ``pytorch_model.bin.index.json``); returns the file names.

    ``head`` is not needed (schema names are stored as they are).
    """
    common.check_tensors(state_dict, None)
    os.makedirs(folder, exist_ok=True)
    shards = sharding.plan_shards(state_dict, max_shard_size)
    if len(shards) == 1:
        write_file(state_dict, os.path.join(folder, WEIGHTS_NAME))
        return [WEIGHTS_NAME]
    files = [f"pytorch_model-{i + 1:05d}-of-{len(shards):05d}.bin" for i in range(len(shards))]
    weight_map = {}
    for file, shard in zip(files, shards):
        write_file({k: state_dict[k] for k in shard}, os.path.join(folder, file))
        weight_map.update({k: file for k in shard})
    sharding.write_index(folder, INDEX_NAME, weight_map, common.total_bytes(state_dict))
    return [*files, INDEX_NAME]
