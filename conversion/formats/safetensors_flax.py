"""HF Flax safetensors: ``model.safetensors`` with metadata format "flax" and transformers' Flax names.

Reading is the same as any safetensors file (``safetensors_format.read`` maps by the metadata); writing names the
tensors as transformers' Flax ``save_pretrained(safe_serialization=True)`` does.
"""

from __future__ import annotations

from conversion.formats.safetensors_format import read, read_shapes, write_named
from conversion.schema import StateDict

__all__ = ["read", "read_shapes", "write"]


def write(state_dict: StateDict, folder: str, *, head: str | None = None, max_shard_size: int | None = None
          ) -> list[str]:
    """Write ``model.safetensors`` (or shards) with Flax names; ``head`` is inferred from the names when None."""
    return write_named(state_dict, folder, "flax", head=head, max_shard_size=max_shard_size)
