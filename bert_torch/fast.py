"""Padding-free inference path of `BertModel` (``model.optimize_for_inference()``).

The real tokens of a batch are gathered into one ``[tokens, hidden]`` matrix; every token-wise op (embeddings,
the fused Q/K/V projection, output projections, GELU, LayerNorms) runs on it, so padding costs no GEMM work.
Only attention needs the sequences apart, with one of ``ATTENTION_MODES``:

* ``"padded"``: Q/K/V scattered into ``[batch, longest real length, ...]`` for one masked
  ``scaled_dot_product_attention`` call (attention is ~5% of BERT's FLOPs at seq 128, so its padding is cheap);
* ``"loop"``: one unmasked sdpa call per sequence on its own length (no padding at all, one call per sequence);
* ``"auto"``: ``"padded"`` (the faster of the two on the bench's batches, see docs/torch.md).

The Linear weights are prepared once by ``bert_torch.kernels`` (measured backend, Q/K/V concatenated,
activation fused). They are copies: call ``optimize_for_inference()`` again after changing the weights.
Results equal the padded computation on real tokens (float32: to ~1e-6); padded positions come back as zeros.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from bert_torch.kernels import KERNEL_BACKENDS, PackedLinear, choose_backend

ATTENTION_MODES = ("auto", "padded", "loop")


class _Layer:
    """One BertLayer's weights in fast-path form."""

    def __init__(self, layer, backend: str, act: str, dtype: torch.dtype):
        att = layer.attention
        cast = lambda t: None if t is None else t.detach().to(dtype)  # noqa: E731
        qkv_w = torch.cat([cast(att.self.query.weight), cast(att.self.key.weight), cast(att.self.value.weight)])
        qkv_b = torch.cat([cast(att.self.query.bias), cast(att.self.key.bias), cast(att.self.value.bias)])
        self.qkv = PackedLinear(qkv_w, qkv_b, backend)
        self.attn_out = PackedLinear(cast(att.output.dense.weight), cast(att.output.dense.bias), backend)
        self.ln1 = (cast(att.output.LayerNorm.weight), cast(att.output.LayerNorm.bias), att.output.LayerNorm.eps)
        self.up = PackedLinear(cast(layer.intermediate.dense.weight), cast(layer.intermediate.dense.bias), backend,
                               act)
        self.down = PackedLinear(cast(layer.output.dense.weight), cast(layer.output.dense.bias), backend)
        self.ln2 = (cast(layer.output.LayerNorm.weight), cast(layer.output.LayerNorm.bias), layer.output.LayerNorm.eps)


class _Segments:
    """Where each sequence's real tokens sit, shared by every layer of one forward."""

    def __init__(self, keep: Tensor | None, batch: int, seq: int, mode: str):
        self.batch, self.seq, self.mode = batch, seq, mode
        if keep is None:  # every token is real: [tokens] is a view of [batch, seq]
            self.index, self.lengths, self.longest, self.dense_index, self.key_mask = None, None, seq, None, None
            return
        flat = keep.reshape(-1)
        self.index = flat.nonzero().squeeze(1)  # row-major: each sequence's tokens stay together, in order
        counts = keep.sum(1)
        self.lengths = counts.tolist()
        self.longest = max(self.lengths)
        rank = keep.long().cumsum(1) - 1  # a real token's slot in its left-aligned sequence
        rows = torch.arange(batch, device=keep.device)[:, None] * self.longest
        self.dense_index = (rows + rank).reshape(-1)[self.index]
        self.key_mask = (torch.arange(self.longest, device=keep.device)[None, :] < counts[:, None])[:, None, None]


class FastEncoder:
    """A `BertModel`'s embeddings and encoder as a padding-free inference function (see the module docstring).

    Built by ``BertModel.optimize_for_inference``; ``backend`` is one of ``KERNEL_BACKENDS`` (``"auto"``
    measures), ``dtype`` the compute dtype (default: the model's), ``attention`` one of ``ATTENTION_MODES``.
    """

    def __init__(self, model, backend: str = "auto", dtype: torch.dtype | None = None, attention: str = "auto"):
        cfg = model.config
        if backend not in KERNEL_BACKENDS:
            raise ValueError(f"backend must be one of {KERNEL_BACKENDS}, got {backend!r}.")
        if attention not in ATTENTION_MODES:
            raise ValueError(f"attention must be one of {ATTENTION_MODES}, got {attention!r}.")
        emb = model.embeddings
        self.dtype = dtype or emb.word_embeddings.weight.dtype
        self.device = emb.word_embeddings.weight.device
        if backend == "auto":
            backend = choose_backend(cfg.hidden_size, cfg.intermediate_size, self.dtype, self.device)
        self.backend = backend
        self.attention = "padded" if attention == "auto" else attention
        self.options = {"backend": backend, "dtype": self.dtype, "attention": self.attention}  # to rebuild it
        self.heads, self.head_dim = cfg.num_attention_heads, cfg.hidden_size // cfg.num_attention_heads
        cast = lambda t: t.detach().to(self.dtype)  # noqa: E731
        self.word, self.position, self.token_type = (cast(emb.word_embeddings.weight),
                                                     cast(emb.position_embeddings.weight),
                                                     cast(emb.token_type_embeddings.weight))
        self.ln0 = (cast(emb.LayerNorm.weight), cast(emb.LayerNorm.bias), emb.LayerNorm.eps)
        self.layers = [_Layer(layer, backend, cfg.hidden_act, self.dtype) for layer in model.encoder.layer]

    def __repr__(self) -> str:
        return (f"FastEncoder(layers={len(self.layers)}, backend={self.backend!r}, dtype={self.dtype}, "
                f"attention={self.attention!r})")

    def __call__(self, input_ids: Tensor, attention_mask: Tensor | None = None, token_type_ids: Tensor | None = None,
                 position_ids: Tensor | None = None) -> Tensor:
        """``[batch, seq]`` ids (mask 0 = padding)  ->  ``last_hidden_state`` ``[batch, seq, hidden]``, zeros at
        padded positions."""
        batch, seq = input_ids.shape
        keep = None if attention_mask is None or bool(attention_mask.all()) else attention_mask != 0
        if keep is not None and not bool(keep.any()):
            return torch.zeros(batch, seq, self.word.shape[1], dtype=self.dtype, device=input_ids.device)
        segs = _Segments(keep, batch, seq, self.attention)
        if position_ids is None:
            position_ids = torch.arange(seq, device=input_ids.device).expand(batch, seq)
        pick = (lambda t: t.reshape(-1)) if segs.index is None else (lambda t: t.reshape(-1)[segs.index])
        x = self.word[pick(input_ids)] + self.position[pick(position_ids)]
        if token_type_ids is None:
            x = x + self.token_type[0]
        else:
            x = x + self.token_type[pick(token_type_ids)]
        x = F.layer_norm(x, x.shape[-1:], *self.ln0)
        for layer in self.layers:
            context = self._attention(layer.qkv(x), segs)
            x = F.layer_norm(layer.attn_out(context, residual=x), x.shape[-1:], *layer.ln1)
            x = F.layer_norm(layer.down(layer.up(x), residual=x), x.shape[-1:], *layer.ln2)
        if segs.index is None:
            return x.view(batch, seq, -1)
        out = x.new_zeros(batch * seq, x.shape[-1])
        out[segs.index] = x
        return out.view(batch, seq, -1)

    def _attention(self, qkv: Tensor, segs: _Segments) -> Tensor:
        """``[tokens, 3 * hidden]``  ->  ``[tokens, hidden]``, each sequence attending to its own tokens."""
        heads, dim = self.heads, self.head_dim
        if segs.index is not None and segs.mode == "loop":
            parts = []
            for part in qkv.split(segs.lengths):
                q, k, v = part.view(1, -1, 3, heads, dim).permute(2, 0, 3, 1, 4)
                parts.append(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(-1, heads * dim))
            return torch.cat(parts)
        if segs.index is None:
            dense = qkv
        else:
            dense = qkv.new_zeros(segs.batch * segs.longest, qkv.shape[1])
            dense[segs.dense_index] = qkv
        q, k, v = dense.view(segs.batch, segs.longest, 3, heads, dim).permute(2, 0, 3, 1, 4)
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=segs.key_mask)
        context = context.transpose(1, 2).reshape(-1, heads * dim)
        return context if segs.index is None else context[segs.dense_index]
