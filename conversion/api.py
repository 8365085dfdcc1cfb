"""Entry points: detect a checkpoint's format, load it into the schema, save the schema in any format."""

from __future__ import annotations

import contextlib
import glob
import os

from conversion.errors import CheckpointError, WeightMismatchError
from conversion.formats import ALIASES, FORMATS, common, format_module
from conversion.schema import StateDict, TensorSpec, is_dropped_buffer, normalize

# Which file names announce which format, in order of preference when a folder holds several.
_DETECT_ORDER: tuple[tuple[str, str], ...] = (
    ("model.safetensors.index.json", "safetensors"),
    ("model.safetensors", "safetensors"),
    ("pytorch_model.bin.index.json", "bin"),
    ("pytorch_model.bin", "bin"),
    ("flax_model.msgpack", "flax"),
    ("tf_model.h5", "tf"),
    ("tf_model.h5.index.json", "tf"),
    ("bert_model.ckpt.index", "tf1"),
)


def detect_format(path: str | os.PathLike) -> str:
    """The format key (see ``conversion.formats.FORMATS``) of a checkpoint folder or file."""
    path = os.fspath(path)
    if os.path.isdir(path):
        for name, key in _DETECT_ORDER:
            if os.path.exists(os.path.join(path, name)):
                return key
        if glob.glob(os.path.join(glob.escape(path), "*.ckpt*.index")):
            return "tf1"
        found = ", ".join(sorted(os.listdir(path))) or "nothing: the folder is empty"
        raise CheckpointError(path, f"holds no checkpoint bertzoo knows (found: {found}). Expected one of "
                                    f"{', '.join(n for n, _ in _DETECT_ORDER)}.")
    base = os.path.basename(path)
    for name, key in _DETECT_ORDER:
        if base == name:
            return key
    if base.endswith(".safetensors") or base.endswith(".safetensors.index.json"):
        return "safetensors"
    if base.endswith(".bin.index.json"):
        return "bin"
    if base.endswith(".h5.index.json"):
        return "tf"
    if ".ckpt" in base or os.path.exists(path + ".index") or base.endswith(".index"):
        return "tf1"
    if base.endswith(".h5"):
        return "tf"
    if base.endswith(".msgpack"):
        return "flax"
    if base.endswith(".bin"):
        return "bin"
    if not os.path.exists(path):
        raise CheckpointError(path, "does not exist.")
    raise CheckpointError(path, "is not a checkpoint format bertzoo knows (safetensors, bin, h5, msgpack, TF1 ckpt).")


def _weights_file(path: str, fmt: str) -> str | None:
    """The single file a non-sharded checkpoint of ``fmt`` at ``path`` reads (for up-front checks)."""
    if fmt == "tf1":
        return None
    if os.path.isdir(path):
        return os.path.join(path, FORMATS[fmt][1])
    return path


def load_state_dict(path: str | os.PathLike, *, fmt: str | None = None, mmap: bool = False, verify: bool = True,
                    skipped: dict[str, str] | None = None) -> StateDict:
    """Read a checkpoint folder or file in any supported format into the interchange schema (normalised).

    Every tensor is checked to be floating point. Any failure is a ``CheckpointError`` naming the file and the
    problem (a Git LFS pointer, a truncated file, a pickle with code in it, ...). ``mmap``, ``verify`` and
    ``skipped`` are the format readers' (see ``conversion.formats``): file-backed read-only arrays, checksum
    checks (on by default; ``verify=False`` skips them), and a dict receiving the names left out.
    """
    path = os.fspath(path)
    fmt = ALIASES.get(fmt, fmt) if fmt else detect_format(path)
    module = format_module(fmt)
    file = _weights_file(path, fmt)
    with _clear_errors(fmt, file or path):
        state_dict = module.read(path, mmap=mmap, verify=verify, skipped=skipped)
    if not isinstance(state_dict, dict):
        raise CheckpointError(file or path, f"did not read as a state dict (got {type(state_dict).__name__}).")
    # Integer buffers such as embeddings.position_ids are not weights: drop them before the dtype check.
    state_dict = {k: v for k, v in state_dict.items() if not (isinstance(k, str) and is_dropped_buffer(k))}
    common.check_tensors(state_dict, file or path)
    return normalize(state_dict)


def read_shapes(path: str | os.PathLike, *, fmt: str | None = None) -> dict[str, TensorSpec]:
    """Schema name -> ``TensorSpec(shape, dtype)`` of every tensor of a checkpoint, from its headers alone.

    No tensor data is read (safetensors header, h5 dataset headers, the msgpack structure, the TF1 index, a
    mapped ``torch.load``), so it is cheap on any size; names and kernel shapes are those ``load_state_dict``
    returns. Errors are ``CheckpointError`` naming the file.
    """
    path = os.fspath(path)
    fmt = ALIASES.get(fmt, fmt) if fmt else detect_format(path)
    module = format_module(fmt)
    file = _weights_file(path, fmt)
    with _clear_errors(fmt, file or path):
        specs = module.read_shapes(path)
    return normalize({k: v for k, v in specs.items() if not is_dropped_buffer(k)})


@contextlib.contextmanager
def _clear_errors(fmt: str, file: str):
    """Turn a reader library's own exception into a CheckpointError naming ``file`` (no deep traceback)."""
    if not file.endswith(".json") and os.path.exists(file) and fmt != "tf1":
        common.check_file(file)
    try:
        yield
    except (CheckpointError, WeightMismatchError, MemoryError, KeyboardInterrupt):
        raise
    except FileNotFoundError as e:
        raise CheckpointError(e.filename or file, "does not exist.") from None
    except Exception as e:  # noqa: BLE001 - a reader's library error must not surface as a deep traceback
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CheckpointError(file, f"cannot be read as a {fmt} checkpoint ({type(e).__name__}: {reason})."
                                    " The file is corrupt, truncated or not a BERT checkpoint.") from None


def save_state_dict(state_dict: StateDict, folder: str | os.PathLike, fmt: str = "safetensors", *,
                    head: str | None = None, max_shard_size: int | None = None) -> list[str]:
    """Write the schema into ``folder`` in format ``fmt``; returns the file names written.

    ``head`` picks the head-dependent names of the TF layouts (inferred from the names when None);
    ``max_shard_size`` splits safetensors, bin and tf1 into shards and is a ValueError for tf and flax, which are
    always one file.
    """
    fmt = ALIASES.get(fmt, fmt)
    if fmt not in FORMATS:
        raise ValueError(f"Unknown checkpoint format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    module = format_module(fmt)
    return module.write(state_dict, os.fspath(folder), head=head, max_shard_size=max_shard_size)
