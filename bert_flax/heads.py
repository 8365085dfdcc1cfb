"""Prediction heads, with transformers' Flax parameter names (``cls/predictions/...``, ``cls/seq_relationship``)."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from bert_core.config import BertConfig
from bert_flax import partitioning as P
from bert_flax.embeddings import activation, dense, layer_norm


class BertPredictionHeadTransform(nn.Module):
    config: BertConfig
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, hidden_states):
        cfg = self.config
        hidden = dense(cfg.hidden_size, ("embed", "embed_out"), cfg, self.dtype, self.param_dtype, "dense")(
            hidden_states)
        return layer_norm(cfg, self.dtype, self.param_dtype)(activation(cfg.hidden_act)(hidden))


class BertLMPredictionHead(nn.Module):
    """Transform, then the decoder: the word embeddings (tied, no kernel of its own) or ``decoder/kernel``."""

    config: BertConfig
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, hidden_states, shared_embedding=None):
        cfg = self.config
        hidden = BertPredictionHeadTransform(cfg, self.dtype, self.param_dtype, name="transform")(hidden_states)
        if shared_embedding is not None:
            logits = hidden @ jnp.asarray(shared_embedding, self.dtype).T
        else:
            logits = dense(cfg.vocab_size, ("embed", "vocab"), cfg, self.dtype, self.param_dtype, "decoder",
                           use_bias=False)(hidden)
        bias = self.param("bias", P.zeros(("vocab",)), (cfg.vocab_size,), self.param_dtype)
        return logits + jnp.asarray(bias, self.dtype)


class BertOnlyMLMHead(nn.Module):
    config: BertConfig
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, hidden_states, shared_embedding=None):
        return BertLMPredictionHead(self.config, self.dtype, self.param_dtype, name="predictions")(
            hidden_states, shared_embedding)


class BertOnlyNSPHead(nn.Module):
    config: BertConfig
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, pooled_output):
        return dense(2, ("embed", "labels"), self.config, self.dtype, self.param_dtype, "seq_relationship")(
            pooled_output)


class BertPreTrainingHeads(nn.Module):
    config: BertConfig
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, hidden_states, pooled_output, shared_embedding=None):
        logits = BertLMPredictionHead(self.config, self.dtype, self.param_dtype, name="predictions")(
            hidden_states, shared_embedding)
        nsp = dense(2, ("embed", "labels"), self.config, self.dtype, self.param_dtype, "seq_relationship")(
            pooled_output)
        return logits, nsp
