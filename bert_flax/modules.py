"""Linen modules of the base model and the eight heads: the math, without parameters held.

Each returns a dict of outputs keyed by transformers' field names (``logits``, ``hidden_states``, ...); the
wrapper classes in ``modeling.py`` add losses and build the output dataclasses.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from bert_core.config import BertConfig
from bert_flax.embeddings import BertEmbeddings, dense
from bert_flax.heads import BertOnlyMLMHead, BertOnlyNSPHead, BertPreTrainingHeads
from bert_flax.layers import BertEncoder, BertPooler

_PASSED = ("hidden_states", "attentions", "cross_attentions")


class BertModule(nn.Module):
    """Embeddings, encoder and (optionally) pooler: transformers' ``FlaxBertModule`` tree."""

    config: BertConfig
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    add_pooling_layer: bool = True
    gradient_checkpointing: bool = False
    scan_layers: bool = False

    def setup(self):
        kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
        self.embeddings = BertEmbeddings(self.config, **kw)
        self.encoder = BertEncoder(self.config, gradient_checkpointing=self.gradient_checkpointing,
                                   scan_layers=self.scan_layers, **kw)
        if self.add_pooling_layer:
            self.pooler = BertPooler(self.config, **kw)

    def __call__(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                 encoder_hidden_states=None, encoder_attention_mask=None, init_cache: bool = False,
                 deterministic: bool = True, output_attentions: bool = False, output_hidden_states: bool = False):
        if token_type_ids is None:
            token_type_ids = jnp.zeros_like(input_ids)
        if position_ids is None:
            position_ids = jnp.broadcast_to(jnp.arange(input_ids.shape[-1]), input_ids.shape)
        if attention_mask is None:
            attention_mask = jnp.ones_like(input_ids)
        hidden = self.embeddings(input_ids, token_type_ids, position_ids, deterministic=deterministic)
        out = self.encoder(hidden, attention_mask, head_mask, encoder_hidden_states, encoder_attention_mask,
                           init_cache=init_cache, deterministic=deterministic, output_attentions=output_attentions,
                           output_hidden_states=output_hidden_states)
        out["pooler_output"] = self.pooler(out["last_hidden_state"]) if self.add_pooling_layer else None
        return out

    def word_embeddings(self):
        """The word embedding table (for the tied MLM decoder), unboxed."""
        return nn.meta.unbox(self.embeddings.variables["params"]["word_embeddings"]["embedding"])


class _HeadModule(nn.Module):
    config: BertConfig
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    gradient_checkpointing: bool = False
    scan_layers: bool = False
    add_pooling_layer = True

    def _bert(self, *args, **kwargs):
        bert = BertModule(self.config, dtype=self.dtype, param_dtype=self.param_dtype,
                          add_pooling_layer=self.add_pooling_layer, gradient_checkpointing=self.gradient_checkpointing,
                          scan_layers=self.scan_layers, name="bert")
        return bert, bert(*args, **kwargs)

    def _dense(self, features, name):
        return dense(features, ("embed", "labels"), self.config, self.dtype, self.param_dtype, name)

    def _dropout(self, x, deterministic):
        cfg = self.config
        rate = cfg.classifier_dropout if cfg.classifier_dropout is not None else cfg.hidden_dropout_prob
        return nn.Dropout(rate=rate)(x, deterministic=deterministic)

    def _shared(self, bert):
        return bert.word_embeddings() if self.config.tie_word_embeddings else None


def _keep(out: dict, **fields) -> dict:
    return {**{k: out.get(k) for k in _PASSED}, **fields}


class BertForPreTrainingModule(_HeadModule):
    @nn.compact
    def __call__(self, *args, deterministic: bool = True, **kwargs):
        bert, out = self._bert(*args, deterministic=deterministic, **kwargs)
        mlm, nsp = BertPreTrainingHeads(self.config, self.dtype, self.param_dtype, name="cls")(
            out["last_hidden_state"], out["pooler_output"], self._shared(bert))
        return _keep(out, prediction_logits=mlm, seq_relationship_logits=nsp)


class BertForMaskedLMModule(_HeadModule):
    add_pooling_layer = False

    @nn.compact
    def __call__(self, *args, deterministic: bool = True, **kwargs):
        bert, out = self._bert(*args, deterministic=deterministic, **kwargs)
        logits = BertOnlyMLMHead(self.config, self.dtype, self.param_dtype, name="cls")(
            out["last_hidden_state"], self._shared(bert))
        return _keep(out, logits=logits)


class BertForCausalLMModule(BertForMaskedLMModule):
    pass


class BertForNextSentencePredictionModule(_HeadModule):
    @nn.compact
    def __call__(self, *args, deterministic: bool = True, **kwargs):
        _, out = self._bert(*args, deterministic=deterministic, **kwargs)
        logits = BertOnlyNSPHead(self.config, self.dtype, self.param_dtype, name="cls")(out["pooler_output"])
        return _keep(out, logits=logits)


class BertForSequenceClassificationModule(_HeadModule):
    @nn.compact
    def __call__(self, *args, deterministic: bool = True, **kwargs):
        _, out = self._bert(*args, deterministic=deterministic, **kwargs)
        pooled = self._dropout(out["pooler_output"], deterministic)
        return _keep(out, logits=self._dense(self.config.num_labels, "classifier")(pooled))


class BertForMultipleChoiceModule(_HeadModule):
    """Inputs ``[batch, num_choices, seq]`` are flattened to ``[batch * num_choices, seq]``."""

    @nn.compact
    def __call__(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, *args,
                 deterministic: bool = True, **kwargs):
        num_choices = input_ids.shape[1]
        flat = lambda x: None if x is None else x.reshape(-1, x.shape[-1])  # noqa: E731
        _, out = self._bert(flat(input_ids), flat(attention_mask), flat(token_type_ids), flat(position_ids), *args,
                            deterministic=deterministic, **kwargs)
        pooled = self._dropout(out["pooler_output"], deterministic)
        logits = self._dense(1, "classifier")(pooled).reshape(-1, num_choices)
        return _keep(out, logits=logits)


class BertForTokenClassificationModule(_HeadModule):
    add_pooling_layer = False

    @nn.compact
    def __call__(self, *args, deterministic: bool = True, **kwargs):
        _, out = self._bert(*args, deterministic=deterministic, **kwargs)
        hidden = self._dropout(out["last_hidden_state"], deterministic)
        return _keep(out, logits=self._dense(self.config.num_labels, "classifier")(hidden))


class BertForQuestionAnsweringModule(_HeadModule):
    add_pooling_layer = False

    @nn.compact
    def __call__(self, *args, deterministic: bool = True, **kwargs):
        _, out = self._bert(*args, deterministic=deterministic, **kwargs)
        logits = self._dense(self.config.num_labels, "qa_outputs")(out["last_hidden_state"])
        return _keep(out, start_logits=logits[..., 0], end_logits=logits[..., 1])
