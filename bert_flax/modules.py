"""Linen modules of the base model and the eight heads, with transformers v4's Flax names (``FlaxBertModule``,
``FlaxBertForMaskedLMModule``, ...) and call signatures.

Each returns its ``bert_flax.outputs`` class (a pytree) or, with ``return_dict=False``, v4's tuple, so
``model.module.apply({"params": params}, input_ids, attention_mask, ...)`` gives what the wrapper gives (less the
loss, which the wrappers in ``modeling.py`` add). The attention mask keeps every nonzero position.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from bert_core.config import BertConfig
from bert_core.heads import HEADS_BY_NAME, head_from_class_name
from bert_flax import outputs as O
from bert_flax.dropout import Dropout
from bert_flax.embeddings import BertEmbeddings, dense
from bert_flax.heads import BertOnlyMLMHead, BertOnlyNSPHead, BertPreTrainingHeads
from bert_flax.layers import BertEncoder, BertPooler

_PASSED = ("hidden_states", "attentions", "cross_attentions")


def _finish(output_class: type, fields: dict, return_dict: bool):
    names = {f for f in output_class.__dataclass_fields__}
    out = output_class(**{k: v for k, v in fields.items() if k in names})
    return out if return_dict else out.return_tuple()


class FlaxBertModule(nn.Module):
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
                 deterministic: bool = True, output_attentions: bool = False, output_hidden_states: bool = False,
                 return_dict: bool = True):
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
        return _finish(O.FlaxBaseModelOutputWithPoolingAndCrossAttentions, out, return_dict)

    def word_embeddings(self):
        """The word embedding table (for the tied MLM decoder), unboxed."""
        return nn.meta.unbox(self.embeddings.variables["params"]["word_embeddings"]["embedding"])


class _HeadModule(nn.Module):
    def __init_subclass__(cls, **kwargs: Any) -> None:
        """``add_pooling_layer`` and ``output_class`` from the head table, keyed by the class name
        (``FlaxBertForMaskedLMModule``)."""
        super().__init_subclass__(**kwargs)
        name = cls.__name__.removesuffix("Module")
        if name.startswith("FlaxBert"):
            row = HEADS_BY_NAME[head_from_class_name(name)]
            cls.add_pooling_layer = row.pooled
            cls.output_class = getattr(O, "Flax" + row.output_class)

    """A head over ``bert``: subclasses give ``output_class`` and ``head(bert, out, deterministic) -> fields``."""

    config: BertConfig
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    gradient_checkpointing: bool = False
    scan_layers: bool = False
    add_pooling_layer = True
    output_class = O.FlaxMaskedLMOutput

    @nn.compact
    def __call__(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                 encoder_hidden_states=None, encoder_attention_mask=None, init_cache: bool = False,
                 deterministic: bool = True, output_attentions: bool = False, output_hidden_states: bool = False,
                 return_dict: bool = True):
        return self._forward(input_ids, attention_mask, token_type_ids, position_ids, head_mask,
                             encoder_hidden_states, encoder_attention_mask, init_cache, deterministic,
                             output_attentions, output_hidden_states, return_dict)

    def _forward(self, input_ids, attention_mask, token_type_ids, position_ids, head_mask, encoder_hidden_states,
                 encoder_attention_mask, init_cache, deterministic, output_attentions, output_hidden_states,
                 return_dict):
        bert = FlaxBertModule(self.config, dtype=self.dtype, param_dtype=self.param_dtype,
                              add_pooling_layer=self.add_pooling_layer,
                              gradient_checkpointing=self.gradient_checkpointing, scan_layers=self.scan_layers,
                              name="bert")
        out = bert(input_ids, attention_mask, token_type_ids, position_ids, head_mask, encoder_hidden_states,
                   encoder_attention_mask, init_cache=init_cache, deterministic=deterministic,
                   output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        fields = {k: getattr(out, k) for k in _PASSED}
        fields.update(self.head(bert, out, deterministic))
        return _finish(self.output_class, fields, return_dict)

    def head(self, bert, out, deterministic: bool) -> dict:
        raise NotImplementedError

    def _dense(self, features, name):
        return dense(features, ("embed", "labels"), self.config, self.dtype, self.param_dtype, name)

    def _dropout(self, x, deterministic):
        cfg = self.config
        rate = cfg.classifier_dropout if cfg.classifier_dropout is not None else cfg.hidden_dropout_prob
        return Dropout(rate=rate)(x, deterministic=deterministic)

    def _shared(self, bert):
        return bert.word_embeddings() if self.config.tie_word_embeddings else None


class FlaxBertForPreTrainingModule(_HeadModule):

    def head(self, bert, out, deterministic):
        mlm, nsp = BertPreTrainingHeads(self.config, self.dtype, self.param_dtype, name="cls")(
            out.last_hidden_state, out.pooler_output, self._shared(bert))
        return dict(prediction_logits=mlm, seq_relationship_logits=nsp)


class FlaxBertForMaskedLMModule(_HeadModule):

    def head(self, bert, out, deterministic):
        return dict(logits=BertOnlyMLMHead(self.config, self.dtype, self.param_dtype, name="cls")(
            out.last_hidden_state, self._shared(bert)))


class FlaxBertForCausalLMModule(FlaxBertForMaskedLMModule):
    """The MLM head over a decoder. v4's argument order: ``(input_ids, attention_mask, position_ids, ...)``."""


    @nn.compact
    def __call__(self, input_ids, attention_mask=None, position_ids=None, token_type_ids=None, head_mask=None,
                 encoder_hidden_states=None, encoder_attention_mask=None, init_cache: bool = False,
                 deterministic: bool = True, output_attentions: bool = False, output_hidden_states: bool = False,
                 return_dict: bool = True):
        return self._forward(input_ids, attention_mask, token_type_ids, position_ids, head_mask,
                             encoder_hidden_states, encoder_attention_mask, init_cache, deterministic,
                             output_attentions, output_hidden_states, return_dict)


class FlaxBertForNextSentencePredictionModule(_HeadModule):

    def head(self, bert, out, deterministic):
        return dict(logits=BertOnlyNSPHead(self.config, self.dtype, self.param_dtype, name="cls")(out.pooler_output))


class FlaxBertForSequenceClassificationModule(_HeadModule):

    def head(self, bert, out, deterministic):
        pooled = self._dropout(out.pooler_output, deterministic)
        return dict(logits=self._dense(self.config.num_labels, "classifier")(pooled))


class FlaxBertForMultipleChoiceModule(_HeadModule):
    """Inputs ``[batch, num_choices, seq]`` are flattened to ``[batch * num_choices, seq]``."""


    @nn.compact
    def __call__(self, input_ids, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                 encoder_hidden_states=None, encoder_attention_mask=None, init_cache: bool = False,
                 deterministic: bool = True, output_attentions: bool = False, output_hidden_states: bool = False,
                 return_dict: bool = True):
        num_choices = input_ids.shape[1]
        flat = lambda x: None if x is None else x.reshape(-1, x.shape[-1])  # noqa: E731
        out = self._forward(flat(input_ids), flat(attention_mask), flat(token_type_ids), flat(position_ids),
                            head_mask, encoder_hidden_states, encoder_attention_mask, init_cache, deterministic,
                            output_attentions, output_hidden_states, True)
        out = dataclasses.replace(out, logits=out.logits.reshape(-1, num_choices))
        return out if return_dict else out.return_tuple()

    def head(self, bert, out, deterministic):
        pooled = self._dropout(out.pooler_output, deterministic)
        return dict(logits=self._dense(1, "classifier")(pooled))


class FlaxBertForTokenClassificationModule(_HeadModule):

    def head(self, bert, out, deterministic):
        hidden = self._dropout(out.last_hidden_state, deterministic)
        return dict(logits=self._dense(self.config.num_labels, "classifier")(hidden))


class FlaxBertForQuestionAnsweringModule(_HeadModule):

    def head(self, bert, out, deterministic):
        logits = self._dense(self.config.num_labels, "qa_outputs")(out.last_hidden_state)
        return dict(start_logits=logits[..., 0], end_logits=logits[..., 1])


# the names before v4's (kept for code that imported them)
BertModule = FlaxBertModule
BertForPreTrainingModule = FlaxBertForPreTrainingModule
BertForMaskedLMModule = FlaxBertForMaskedLMModule
BertForCausalLMModule = FlaxBertForCausalLMModule
BertForNextSentencePredictionModule = FlaxBertForNextSentencePredictionModule
BertForSequenceClassificationModule = FlaxBertForSequenceClassificationModule
BertForMultipleChoiceModule = FlaxBertForMultipleChoiceModule
BertForTokenClassificationModule = FlaxBertForTokenClassificationModule
BertForQuestionAnsweringModule = FlaxBertForQuestionAnsweringModule
