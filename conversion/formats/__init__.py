"""Checkpoint file formats. Each module reads a file into the interchange schema and writes one from it.

Registry: format key -> (module name, default file name). Modules are imported on first use, so reading a
safetensors file never imports h5py or msgpack, and no module here imports a framework at import time.

Every format module has the same three functions, with the same keyword-only arguments (an unknown keyword is a
TypeError, never silently dropped):

- ``read(path, *, mmap=False, verify=True, skipped=None) -> StateDict``: a folder, file or index into the
  schema. ``mmap=True`` returns read-only views of the file where the format allows; ``verify=True`` checks the
  checksums the format stores (TF1 crc32c; safetensors and msgpack store none); ``skipped``, a dict, receives
  the names left out with the reason (TF1 optimizer slots).
- ``read_shapes(path) -> dict[str, TensorSpec]``: schema name -> (shape, dtype) from the headers, no tensor data.
- ``write(state_dict, folder, *, head=None, max_shard_size=None) -> list[str]``: the file names written.
  ``head`` picks head-dependent names (TF layouts); ``max_shard_size`` splits the formats that shard
  (safetensors, bin, tf1) and is a ValueError for those written as one file (tf, flax).
"""

from __future__ import annotations

import importlib
from types import ModuleType

FORMATS: dict[str, tuple[str, str]] = {
    "safetensors": ("conversion.formats.safetensors_format", "model.safetensors"),
    "bin": ("conversion.formats.torch_bin", "pytorch_model.bin"),
    "tf": ("conversion.formats.tf_h5", "tf_model.h5"),
    "flax": ("conversion.formats.flax_msgpack", "flax_model.msgpack"),
    "tf1": ("conversion.formats.tf1_ckpt", "bert_model.ckpt"),
    # safetensors with transformers' TF / Flax names (metadata format "tf" / "flax"); any safetensors file reads
    # through "safetensors", which maps by the metadata.
    "tf-safetensors": ("conversion.formats.safetensors_tf", "model.safetensors"),
    "flax-safetensors": ("conversion.formats.safetensors_flax", "model.safetensors"),
}
# Short names the CLI accepts for --to.
ALIASES: dict[str, str] = {"pt": "safetensors"}


def format_module(key: str) -> ModuleType:
    key = ALIASES.get(key, key)
    if key not in FORMATS:
        raise ValueError(f"Unknown checkpoint format {key!r}; choose one of {', '.join(FORMATS)}.")
    return importlib.import_module(FORMATS[key][0])
