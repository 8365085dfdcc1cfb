"""Self and cross attention with relative position scores and a key/value cache for step-by-step decoding.

Parameter names follow transformers' Flax tree (``attention/self/query/kernel``, ``attention/output/dense``);
relative position types add ``attention/self/distance_embedding/embedding`` (PyTorch's ``distance_embedding``).
The cache lives in the mutable ``"cache"`` collection (``cached_key``, ``cached_value``, ``cache_index``, as in
transformers' Flax models); a cached step attends to every earlier position and equals a full forward pass.
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from bert_core.config import BertConfig
from bert_flax import partitioning as P
from bert_flax.dropout import Dropout
from bert_flax.embeddings import compute_dtype, dense, layer_norm


class BertSelfAttention(nn.Module):
    """Scaled dot-product attention over ``num_attention_heads`` heads.

    ``attention_mask`` is ``[batch, key_len]`` (nonzero keep, 0 masked); with a cache, ``key_len`` is the cache
    length.
    """

    config: BertConfig
    causal: bool = False
    is_cross_attention: bool = False
    position_embedding_type: str = "absolute"
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, hidden_states, attention_mask, layer_head_mask=None, key_value_states=None,
                 init_cache: bool = False, deterministic: bool = True, output_attentions: bool = False):
        cfg = self.config
        heads, head_dim = cfg.num_attention_heads, cfg.head_dim
        proj = lambda name: dense(cfg.hidden_size, ("embed", "heads"), cfg, self.dtype,  # noqa: E731
                                  self.param_dtype, name)
        source = key_value_states if self.is_cross_attention else hidden_states
        split = lambda x: x.reshape(x.shape[:2] + (heads, head_dim))  # noqa: E731
        query = split(proj("query")(hidden_states))
        key = split(proj("key")(source))
        value = split(proj("value")(source))
        q_len, k_len = query.shape[1], key.shape[1]
        query_pos, key_pos = jnp.arange(q_len), jnp.arange(k_len)
        if self.causal and (self.has_variable("cache", "cached_key") or init_cache):
            key, value, query_pos, key_pos = self._concatenate_to_cache(key, value, q_len)

        compute = compute_dtype(self.dtype)  # float32 for bfloat16 on CPU; the same dtype elsewhere
        query, key = query.astype(compute), key.astype(compute)
        relative = self.position_embedding_type in ("relative_key", "relative_key_query")
        if not relative:  # scale the [b, q, h, d] query, not the larger [b, h, q, k] scores (as flax does)
            query = query / jnp.asarray(math.sqrt(head_dim), query.dtype)
        scores = jnp.einsum("bqhd,bkhd->bhqk", query, key)
        if relative:
            max_pos = cfg.max_position_embeddings
            distance_table = nn.Embed(2 * max_pos - 1, head_dim, dtype=compute, param_dtype=self.param_dtype,
                                      embedding_init=P.normal(cfg.initializer_range, ("distance", "kv")),
                                      name="distance_embedding")
            distance = jnp.clip(query_pos[:, None] - key_pos[None, :] + max_pos - 1, 0, 2 * max_pos - 2)
            positional = distance_table(distance)  # [q, k, head_dim]
            scores = scores + jnp.einsum("bqhd,qkd->bhqk", query, positional)
            if self.position_embedding_type == "relative_key_query":
                scores = scores + jnp.einsum("bkhd,qkd->bhqk", key, positional)
            scores = scores / jnp.asarray(math.sqrt(head_dim), scores.dtype)

        mask = None
        if attention_mask is not None:  # [batch, key] or [batch, query, key]; nonzero = keep (project rule)
            mask = (attention_mask[:, None, None, :] if attention_mask.ndim == 2
                    else attention_mask[:, None, :, :]) != 0
            mask = mask.astype(jnp.float32)
        if self.causal and not self.is_cross_attention:
            causal = (key_pos[None, :] <= query_pos[:, None]).astype(jnp.float32)[None, None]
            mask = causal if mask is None else mask * causal
        scores = scores.astype(jnp.float32)
        if mask is not None:
            scores = scores + (1.0 - mask) * jnp.finfo(jnp.float32).min
        probs = jax.nn.softmax(scores, axis=-1).astype(self.dtype)
        probs = Dropout(rate=cfg.attention_probs_dropout_prob)(probs, deterministic=deterministic)
        if layer_head_mask is not None:
            probs = probs * layer_head_mask[None, :, None, None].astype(probs.dtype)
        context = jnp.einsum("bhqk,bkhd->bqhd", probs.astype(compute), value.astype(compute))
        context = context.reshape(context.shape[:2] + (heads * head_dim,)).astype(self.dtype)
        return context, (probs if output_attentions else None)

    def _concatenate_to_cache(self, key, value, q_len):
        """Write this step's keys and values at ``cache_index``; return them with query and key positions."""
        initialized = self.has_variable("cache", "cached_key")
        cached_key = self.variable("cache", "cached_key", jnp.zeros, key.shape, key.dtype)
        cached_value = self.variable("cache", "cached_value", jnp.zeros, value.shape, value.dtype)
        cache_index = self.variable("cache", "cache_index", lambda: jnp.array(0, dtype=jnp.int32))
        if not initialized:  # init_cache: shapes only
            return key, value, jnp.arange(q_len), jnp.arange(key.shape[1])
        index = cache_index.value
        key = lax.dynamic_update_slice(cached_key.value, key.astype(cached_key.value.dtype), (0, index, 0, 0))
        value = lax.dynamic_update_slice(cached_value.value, value.astype(cached_value.value.dtype),
                                         (0, index, 0, 0))
        cached_key.value, cached_value.value = key, value
        cache_index.value = index + q_len
        return key, value, index + jnp.arange(q_len), jnp.arange(key.shape[1])


class BertSelfOutput(nn.Module):
    """Dense, dropout, then LayerNorm of the residual sum. ``input_axis`` names the dense kernel's input axis for
    sharding: "heads" after attention; ``layers.BertOutput`` reuses this module with "mlp"."""

    config: BertConfig
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    input_axis: str = "heads"

    @nn.compact
    def __call__(self, hidden_states, input_tensor, deterministic: bool = True):
        cfg = self.config
        hidden = dense(cfg.hidden_size, (self.input_axis, "embed"), cfg, self.dtype, self.param_dtype, "dense")(
            hidden_states)
        hidden = Dropout(rate=cfg.hidden_dropout_prob)(hidden, deterministic=deterministic)
        return layer_norm(cfg, self.dtype, self.param_dtype)(hidden + input_tensor)


class BertAttention(nn.Module):
    """``self`` (BertSelfAttention) and ``output`` (BertSelfOutput)."""

    config: BertConfig
    causal: bool = False
    is_cross_attention: bool = False
    position_embedding_type: str = "absolute"
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, hidden_states, attention_mask, layer_head_mask=None, key_value_states=None,
                 init_cache: bool = False, deterministic: bool = True, output_attentions: bool = False):
        context, probs = BertSelfAttention(
            self.config, causal=self.causal, is_cross_attention=self.is_cross_attention,
            position_embedding_type=self.position_embedding_type, dtype=self.dtype, param_dtype=self.param_dtype,
            name="self")(hidden_states, attention_mask, layer_head_mask, key_value_states, init_cache=init_cache,
                         deterministic=deterministic, output_attentions=output_attentions)
        out = BertSelfOutput(self.config, dtype=self.dtype, param_dtype=self.param_dtype, name="output")(
            context, hidden_states, deterministic=deterministic)
        return out, probs
