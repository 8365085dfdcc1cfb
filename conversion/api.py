"""Entry points: detect a checkpoint's format, load it into the schema, save the schema in any format."""

from __future__ import annotations

import os
from typing import Any

from conversion.errors import CheckpointError
from conversion.formats import FORMATS, format_module
from conversion.schema import StateDict, normalize

# Which file names announce which format, in order of preference when a folder holds several.
_DETECT_ORDER: tuple[tuple[str, str], ...] = (
    ("model.safetensors.index.json", "safetensors"),
    ("model.safetensors", "safetensors"),
    ("pytorch_model.bin.index.json", "bin"),
    ("pytorch_model.bin", "bin"),
    ("flax_model.msgpack", "flax"),
    ("tf_model.h5", "tf"),
    ("bert_model.ckpt.index", "tf1"),
)


def detect_format(path: str | os.PathLike) -> str:
    """The format key (see ``conversion.formats.FORMATS``) of a checkpoint folder or file."""
    path = os.fspath(path)
    if os.path.isdir(path):
        for name, key in _DETECT_ORDER:
            if os.path.exists(os.path.join(path, name)):
                return key
        found = ", ".join(sorted(os.listdir(path))) or "nothing"
        raise CheckpointError(path, f"holds no checkpoint bertzoo knows (found: {found}). Expected one of "
                                    f"{', '.join(n for n, _ in _DETECT_ORDER)}.")
    base = os.path.basename(path)
    for name, key in _DETECT_ORDER:
        if base == name:
            return key
    if base.endswith(".safetensors"):
        return "safetensors"
    if base.endswith(".ckpt") or os.path.exists(path + ".index"):
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


def load_state_dict(path: str | os.PathLike, *, fmt: str | None = None, **kwargs: Any) -> StateDict:
    """Read a checkpoint folder or file in any supported format into the interchange schema (normalised)."""
    path = os.fspath(path)
    fmt = fmt or detect_format(path)
    return normalize(format_module(fmt).read(path, **kwargs))


def save_state_dict(state_dict: StateDict, folder: str | os.PathLike, fmt: str = "safetensors",
                    **kwargs: Any) -> list[str]:
    """Write the schema into ``folder`` in format ``fmt``; returns the file names written."""
    if fmt not in FORMATS:
        raise ValueError(f"Unknown checkpoint format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    return format_module(fmt).write(state_dict, os.fspath(folder), **kwargs)
