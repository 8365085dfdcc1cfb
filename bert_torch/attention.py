"""Self and cross attention: eager and sdpa kernels, relative position scores, key/value cache.

``attn_implementation="sdpa"`` calls ``torch.nn.functional.scaled_dot_product_attention``. It falls back to the
eager path automatically, per call, wherever sdpa cannot compute what was asked:

* ``output_attentions=True`` (sdpa does not return the probabilities),
* a ``head_mask`` (it multiplies the probabilities),
* ``position_embedding_type`` ``relative_key`` / ``relative_key_query`` (extra score terms).

Both paths compute the same function (equal to ~1e-6 in float32).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

KV = tuple[torch.Tensor, torch.Tensor]


class BertSelfAttention(nn.Module):
    """Multi-head attention with transformers' parameter names (``query``, ``key``, ``value``,
    ``distance_embedding``).

    ``forward`` returns ``(context, attention_probs or None, present_key_value or None)``; ``present_key_value``
    is the ``(key, value)`` pair, each ``[batch, heads, seq, head_dim]``, to feed back as ``past_key_value``.
    For cross attention a given ``past_key_value`` is reused as is (the encoder states do not change).
    """

    def __init__(self, config, position_embedding_type: str | None = None) -> None:
        super().__init__()
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = config.hidden_size // config.num_attention_heads
        self.all_head_size = self.num_attention_heads * self.attention_head_size
        self.query = nn.Linear(config.hidden_size, self.all_head_size)
        self.key = nn.Linear(config.hidden_size, self.all_head_size)
        self.value = nn.Linear(config.hidden_size, self.all_head_size)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)
        self.position_embedding_type = position_embedding_type or config.position_embedding_type
        if self.position_embedding_type in ("relative_key", "relative_key_query"):
            self.max_position_embeddings = config.max_position_embeddings
            self.distance_embedding = nn.Embedding(2 * config.max_position_embeddings - 1, self.attention_head_size)
        self.attn_implementation = config.attn_implementation
        self.is_decoder = config.is_decoder

    def extra_repr(self) -> str:
        return (f"heads={self.num_attention_heads}, head_dim={self.attention_head_size}, "
                f"attn_implementation={self.attn_implementation!r}, "
                f"position_embedding_type={self.position_embedding_type!r}")

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], -1, self.num_attention_heads, self.attention_head_size).transpose(1, 2)

    def uses_sdpa(self, output_attentions: bool, head_mask: torch.Tensor | None) -> bool:
        """Whether this call runs the sdpa kernel (see the module docstring for the fallback rules)."""
        return (self.attn_implementation == "sdpa" and not output_attentions and head_mask is None
                and self.position_embedding_type == "absolute")

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None,
                head_mask: torch.Tensor | None = None, encoder_hidden_states: torch.Tensor | None = None,
                past_key_value: KV | None = None, output_attentions: bool = False,
                use_cache: bool = False) -> tuple[torch.Tensor, torch.Tensor | None, KV | None]:
        batch, q_len, _ = hidden_states.shape
        query = self._heads(self.query(hidden_states))
        is_cross = encoder_hidden_states is not None
        if is_cross and past_key_value is not None:
            key, value = past_key_value
        else:
            source = encoder_hidden_states if is_cross else hidden_states
            key, value = self._heads(self.key(source)), self._heads(self.value(source))
            if past_key_value is not None:
                key = torch.cat([past_key_value[0], key], dim=2)
                value = torch.cat([past_key_value[1], value], dim=2)
        present = (key, value) if use_cache else None

        if self.uses_sdpa(output_attentions, head_mask):
            context = F.scaled_dot_product_attention(
                query, key, value, attn_mask=attention_mask,
                dropout_p=self.dropout.p if self.training else 0.0)
            probs = None
        else:
            scores = torch.matmul(query, key.transpose(-1, -2))
            if self.position_embedding_type != "absolute":
                scores = scores + self._relative_scores(query, key)
            scores = scores / math.sqrt(self.attention_head_size)
            if attention_mask is not None:
                scores = scores + attention_mask
            dropped = self.dropout(torch.softmax(scores, dim=-1))
            if head_mask is not None:
                dropped = dropped * head_mask
            context = torch.matmul(dropped, value)
            probs = dropped  # as transformers returns them: after dropout and head_mask
        context = context.transpose(1, 2).reshape(batch, q_len, self.all_head_size)
        return context, (probs if output_attentions else None), present

    def _relative_scores(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        """transformers' relative_key(_query) terms; queries sit at the last positions when keys are cached."""
        q_len, k_len = query.shape[2], key.shape[2]
        device = query.device
        left = torch.arange(k_len - q_len, k_len, dtype=torch.long, device=device).view(-1, 1)
        right = torch.arange(k_len, dtype=torch.long, device=device).view(1, -1)
        table = self.distance_embedding(left - right + self.max_position_embeddings - 1).to(query.dtype)
        scores = torch.einsum("bhld,lrd->bhlr", query, table)
        if self.position_embedding_type == "relative_key_query":
            scores = scores + torch.einsum("bhrd,lrd->bhlr", key, table)
        return scores


class BertSelfOutput(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class BertAttention(nn.Module):
    """``self`` (BertSelfAttention) followed by ``output`` (projection, dropout, residual, LayerNorm)."""

    def __init__(self, config, position_embedding_type: str | None = None) -> None:
        super().__init__()
        self.self = BertSelfAttention(config, position_embedding_type=position_embedding_type)
        self.output = BertSelfOutput(config)

    def forward(self, hidden_states, attention_mask=None, head_mask=None, encoder_hidden_states=None,
                past_key_value=None, output_attentions=False, use_cache=False):
        context, probs, present = self.self(hidden_states, attention_mask, head_mask, encoder_hidden_states,
                                            past_key_value, output_attentions, use_cache)
        return self.output(context, hidden_states), probs, present
