"""Intermediate, output, ``BertLayer``, ``BertEncoder`` (loop, remat, or ``nn.scan`` over layers) and the pooler."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from bert_core.config import BertConfig
from bert_flax.attention import BertAttention, BertSelfOutput
from bert_flax.embeddings import activation, compute_dtype, dense


class BertIntermediate(nn.Module):
    config: BertConfig
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, hidden_states):
        cfg = self.config
        hidden = dense(cfg.intermediate_size, ("embed", "mlp"), cfg, self.dtype, self.param_dtype, "dense")(
            hidden_states)
        return activation(cfg.hidden_act)(hidden.astype(compute_dtype(self.dtype))).astype(self.dtype)


class BertOutput(BertSelfOutput):
    """The feed-forward output: BertSelfOutput's dense + dropout + residual LayerNorm, from the "mlp" axis."""

    input_axis: str = "mlp"


class BertLayer(nn.Module):
    """Self attention, optional cross attention (decoders), feed-forward. Call flags are attributes, so the
    layer can be wrapped in ``nn.remat`` / ``nn.scan`` without static arguments."""

    config: BertConfig
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    deterministic: bool = True
    output_attentions: bool = False
    init_cache: bool = False

    def setup(self):
        cfg, kw = self.config, dict(dtype=self.dtype, param_dtype=self.param_dtype)
        self.attention = BertAttention(cfg, causal=cfg.is_decoder, position_embedding_type=cfg.position_embedding_type,
                                       **kw)
        if cfg.add_cross_attention:
            self.crossattention = BertAttention(cfg, is_cross_attention=True, **kw)
        self.intermediate = BertIntermediate(cfg, **kw)
        self.output = BertOutput(cfg, **kw)

    def forward(self, hidden_states, attention_mask, layer_head_mask=None, encoder_hidden_states=None,
                encoder_attention_mask=None):
        flags = dict(deterministic=self.deterministic, output_attentions=self.output_attentions)
        hidden, attn = self.attention(hidden_states, attention_mask, layer_head_mask, init_cache=self.init_cache,
                                      **flags)
        cross = None
        if encoder_hidden_states is not None:
            if not self.config.add_cross_attention:
                raise ValueError("encoder_hidden_states were given but the model has no cross-attention layers; "
                                 "build it with config.add_cross_attention=True (and is_decoder=True).")
            hidden, cross = self.crossattention(hidden, encoder_attention_mask, layer_head_mask,
                                                key_value_states=encoder_hidden_states, **flags)
        out = self.output(self.intermediate(hidden), hidden, deterministic=self.deterministic)
        return out, attn, cross

    def __call__(self, hidden_states, attention_mask, layer_head_mask=None, encoder_hidden_states=None,
                 encoder_attention_mask=None):
        return self.forward(hidden_states, attention_mask, layer_head_mask, encoder_hidden_states,
                            encoder_attention_mask)


class ScanBertLayer(BertLayer):
    """``BertLayer`` with the ``(carry, x) -> (carry, y)`` signature ``nn.scan`` needs."""

    def __call__(self, hidden_states, layer_head_mask, attention_mask, encoder_hidden_states,
                 encoder_attention_mask):
        out, attn, cross = self.forward(hidden_states, attention_mask, layer_head_mask, encoder_hidden_states,
                                        encoder_attention_mask)
        return out, (out, attn, cross)


class BertLayerCollection(nn.Module):
    """The layers ``0 .. n-1`` in a loop (transformers' ``FlaxBertLayerCollection``), each optionally remat'd."""

    config: BertConfig
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    gradient_checkpointing: bool = False

    @nn.compact
    def __call__(self, hidden_states, attention_mask, head_mask, encoder_hidden_states, encoder_attention_mask,
                 **flags):
        cls = nn.remat(BertLayer) if self.gradient_checkpointing else BertLayer
        all_hidden, all_attn, all_cross = [], [], []
        for i in range(self.config.num_hidden_layers):
            hidden_states, attn, cross = cls(self.config, self.dtype, self.param_dtype, name=str(i), **flags)(
                hidden_states, attention_mask, None if head_mask is None else head_mask[i],
                encoder_hidden_states, encoder_attention_mask)
            all_hidden.append(hidden_states)
            all_attn.append(attn)
            all_cross.append(cross)
        return hidden_states, all_hidden, all_attn, all_cross


class BertEncoder(nn.Module):
    """``num_hidden_layers`` layers: named ``layer/0``, ``layer/1``, ... or, with ``scan_layers``, one stacked
    ``layer`` whose parameters have a leading layer axis (``checkpoint.py`` unstacks them for files)."""

    config: BertConfig
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    gradient_checkpointing: bool = False
    scan_layers: bool = False

    @nn.compact
    def __call__(self, hidden_states, attention_mask, head_mask=None, encoder_hidden_states=None,
                 encoder_attention_mask=None, init_cache: bool = False, deterministic: bool = True,
                 output_attentions: bool = False, output_hidden_states: bool = False):
        cfg = self.config
        n = cfg.num_hidden_layers
        kw = dict(deterministic=deterministic, output_attentions=output_attentions, init_cache=init_cache)
        if head_mask is not None and head_mask.shape[0] != n:
            raise ValueError(f"head_mask has {head_mask.shape[0]} rows but the model has {n} layers.")
        all_hidden, all_attn, all_cross = [hidden_states], [], []
        if self.scan_layers:
            cls = nn.remat(ScanBertLayer, prevent_cse=False) if self.gradient_checkpointing else ScanBertLayer
            scanned = nn.scan(cls, variable_axes={"params": 0, "cache": 0},
                              split_rngs={"params": True, "dropout": True},
                              in_axes=(0, nn.broadcast, nn.broadcast, nn.broadcast), length=n,
                              metadata_params={nn.PARTITION_NAME: "layers"})
            masks = head_mask if head_mask is not None else jnp.ones((n, cfg.num_attention_heads), self.dtype)
            hidden_states, (hs, attn, cross) = scanned(cfg, self.dtype, self.param_dtype, name="layer", **kw)(
                hidden_states, masks, attention_mask, encoder_hidden_states, encoder_attention_mask)
            all_hidden += [hs[i] for i in range(n)]
            all_attn = [attn[i] for i in range(n)] if attn is not None else []
            all_cross = [cross[i] for i in range(n)] if cross is not None else []
        else:
            hidden_states, hs, all_attn, all_cross = BertLayerCollection(
                cfg, self.dtype, self.param_dtype, self.gradient_checkpointing, name="layer")(
                hidden_states, attention_mask, head_mask, encoder_hidden_states, encoder_attention_mask, **kw)
            all_hidden += hs
        return {
            "last_hidden_state": hidden_states,
            "hidden_states": tuple(all_hidden) if output_hidden_states else None,
            "attentions": tuple(all_attn) if output_attentions else None,
            "cross_attentions": (tuple(all_cross) if output_attentions and encoder_hidden_states is not None
                                 else None),
        }


class BertPooler(nn.Module):
    """tanh(dense(first token))."""

    config: BertConfig
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, hidden_states):
        cfg = self.config
        first = hidden_states[:, 0]
        return jnp.tanh(dense(cfg.hidden_size, ("embed", "embed_out"), cfg, self.dtype, self.param_dtype, "dense")(
            first))
