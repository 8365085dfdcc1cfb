"""Attention masks: what `BertModel` adds to the attention scores (padding, causal order, cross attention).

Rule (the same in every bertzoo framework): an ``attention_mask`` value that is nonzero keeps its token, 0 masks
it. A mask of 2s therefore equals a mask of 1s, and no row's values can scale another row's scores.
"""

from __future__ import annotations

import torch
from torch import Tensor


def tracing() -> bool:
    """True under ``torch.jit.trace``, ``torch.compile`` or ``torch.export``: no host reads of tensor values."""
    return torch.jit.is_tracing() or torch.compiler.is_compiling()


def additive(keep: Tensor, dtype: torch.dtype) -> Tensor:
    """Keep mask (nonzero = attend)  ->  0 where kept, the dtype's most negative value where masked."""
    return (keep == 0).to(dtype) * torch.finfo(dtype).min


def _expand(mask: Tensor, name: str) -> Tensor:
    """``[batch, keys]`` or ``[batch, queries, keys]``  ->  ``[batch, 1, queries or 1, keys]``."""
    if mask.dim() == 2:
        return mask[:, None, None, :]
    if mask.dim() == 3:
        return mask[:, None, :, :]
    raise ValueError(f"{name} must be [batch, seq] or [batch, seq, seq], got {tuple(mask.shape)}.")


def self_attention_mask(attention_mask: Tensor | None, batch: int, seq: int, past_len: int, is_decoder: bool,
                        dtype: torch.dtype, device: torch.device) -> Tensor | None:
    """Additive ``[batch, 1, seq, past + seq]`` mask (causal for decoders), or None when nothing is masked.

    An all-nonzero 2-D mask of an encoder becomes None so that sdpa runs unmasked; never under tracing, where
    the check would be baked into the graph.
    """
    if attention_mask is not None and attention_mask.dim() == 2 and not tracing() and bool(attention_mask.all()):
        attention_mask = None
    if attention_mask is None and not is_decoder:
        return None
    if attention_mask is None:
        keep = torch.ones(batch, 1, 1, past_len + seq, dtype=torch.bool, device=device)
    else:
        keep = _expand(attention_mask, "attention_mask") != 0
    if is_decoder:
        q = torch.arange(past_len, past_len + seq, device=device)
        k = torch.arange(past_len + seq, device=device)
        keep = keep & (k[None, :] <= q[:, None])[None, None]
    return additive(keep, dtype)


def cross_attention_mask(encoder_attention_mask: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    """Additive ``[batch, 1, 1 or seq, encoder_seq]`` mask over the encoder states, or None."""
    if encoder_attention_mask is None:
        return None
    return additive(_expand(encoder_attention_mask, "encoder_attention_mask") != 0, dtype)
