"""Word + position + token type embeddings, LayerNorm and dropout (transformers' ``FlaxBertEmbeddings`` tree)."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from bert_core.config import BertConfig
from bert_flax import partitioning as P
from bert_flax.dropout import Dropout


def layer_norm(config: BertConfig, dtype: Any, param_dtype: Any, name: str = "LayerNorm") -> nn.LayerNorm:
    """LayerNorm tagged ``embed``, with the one-pass variance ``E[x^2] - E[x]^2`` (transformers' Flax BERT and
    Flax's default): XLA's CPU reductions fuse ``x`` and ``x * x`` directly, while the two-pass form first writes
    ``x - mean`` to memory (a full extra pass over the activations at every one of the 2L+1 LayerNorms). It matches
    torch's two-pass LayerNorm to 1e-5 on BERT activations (tests/flax/test_equivalence.py)."""
    return nn.LayerNorm(epsilon=config.layer_norm_eps, dtype=dtype, param_dtype=param_dtype, use_fast_variance=True,
                        scale_init=P.ones(("embed",)), bias_init=P.zeros(("embed",)), name=name)


def compute_dtype(dtype: Any) -> Any:
    """The dtype the math runs in: ``dtype``, except bfloat16 on a CPU backend, which runs in float32.

    XLA's CPU backend has no fast bfloat16 matmul: it converts bfloat16 dots to float32 (weights included, at every
    call) and YNNPACK's bfloat16 GEMM is slower than its float32 one (measured on an AVX512-BF16 Xeon, issue 15:
    real bfloat16 compute 1.13-1.65x the float32 time). So on CPU, values are still rounded to bfloat16 where Flax
    stores them (Dense outputs, attention probabilities and context, LayerNorm outputs; outputs are bfloat16), but
    the arithmetic between those points is float32: bfloat16's precision at float32's speed.
    """
    if dtype is not None and jnp.dtype(dtype) == jnp.bfloat16 and jax.default_backend() == "cpu":
        return jnp.float32
    return dtype


class Dense(nn.Dense):
    """``nn.Dense`` computing in ``dtype`` and rounding its output to ``out_dtype`` (when set)."""

    out_dtype: Any = None

    def __call__(self, inputs):
        out = super().__call__(inputs)
        return out if self.out_dtype is None else out.astype(self.out_dtype)


def dense(features: int, names: tuple[str | None, str | None], config: BertConfig, dtype: Any, param_dtype: Any,
          name: str, use_bias: bool = True) -> nn.Dense:
    """A Dense layer with BERT's initialisation and logical axis names ``(in, out)`` (see ``compute_dtype``)."""
    compute = compute_dtype(dtype)
    return Dense(features, use_bias=use_bias, dtype=compute, param_dtype=param_dtype,
                 precision=None, kernel_init=P.normal(config.initializer_range, names),
                 bias_init=P.zeros((names[1],)), name=name, out_dtype=None if compute == dtype else dtype)


def activation(name: str):
    """transformers' ACT2FN for the activations BertConfig allows."""
    acts = {
        "gelu": lambda x: jax.nn.gelu(x, approximate=False),
        "gelu_new": lambda x: jax.nn.gelu(x, approximate=True),
        "gelu_pytorch_tanh": lambda x: jax.nn.gelu(x, approximate=True),
        "gelu_fast": lambda x: jax.nn.gelu(x, approximate=True),
        "quick_gelu": lambda x: x * jax.nn.sigmoid(1.702 * x),
        "relu": jax.nn.relu,
        "silu": jax.nn.silu,
        "swish": jax.nn.silu,
        "tanh": jnp.tanh,
    }
    return acts[name]


class BertEmbeddings(nn.Module):
    """Sum of word, (absolute) position and token type embeddings, then LayerNorm and dropout."""

    config: BertConfig
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, input_ids, token_type_ids, position_ids, deterministic: bool = True):
        cfg = self.config
        init = cfg.initializer_range

        def embed(num, names, name):
            return nn.Embed(num, cfg.hidden_size, dtype=compute_dtype(self.dtype), param_dtype=self.param_dtype,
                            embedding_init=P.normal(init, names), name=name)

        words = embed(cfg.vocab_size, ("vocab", "embed"), "word_embeddings")(input_ids.astype("i4"))
        positions = embed(cfg.max_position_embeddings, ("positions", "embed"), "position_embeddings")(
            position_ids.astype("i4"))
        types = embed(cfg.type_vocab_size, ("types", "embed"), "token_type_embeddings")(token_type_ids.astype("i4"))
        hidden = words + types
        if cfg.position_embedding_type == "absolute":  # relative types keep the table (checkpoints hold it) unused
            hidden = hidden + positions
        hidden = layer_norm(cfg, self.dtype, self.param_dtype)(hidden)
        return Dropout(rate=cfg.hidden_dropout_prob)(hidden, deterministic=deterministic)
