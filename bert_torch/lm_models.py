"""The language-model heads: `BertForPreTraining`, `BertLMHeadModel` (with ``generate``), `BertForMaskedLM`."""

from __future__ import annotations

import logging

from bert_core import outputs as O
from bert_torch import losses
from bert_torch.base_model import HeadModel
from bert_torch.generation import GenerationMixin
from bert_torch.heads import BertOnlyMLMHead, BertPreTrainingHeads

logger = logging.getLogger("bert_torch")

# transformers v4.30's regexes of names a checkpoint may lack (tied or derived), and v4.31+'s tied names.
_LM_MISSING = [r"position_ids", r"predictions.decoder.bias", r"cls.predictions.decoder.weight"]
_NO_POOLER = [r"pooler"]


class BertForPreTraining(HeadModel):
    """MLM (``cls.predictions``) and next sentence (``cls.seq_relationship``) heads; the loss is their sum when
    both ``labels`` and ``next_sentence_label`` are given."""

    _keys_to_ignore_on_load_missing = _LM_MISSING
    _tied_weights_keys = ["predictions.decoder.bias", "cls.predictions.decoder.weight"]

    def _build_head(self):
        self.cls = BertPreTrainingHeads(self.config)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, next_sentence_label=None, output_attentions=None,
                output_hidden_states=None, return_dict=None):
        o = self._encode(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                         output_attentions, output_hidden_states)
        prediction, relationship = self.cls(o.last_hidden_state, o.pooler_output)
        loss = None
        if labels is not None and next_sentence_label is not None:
            loss = losses.pretraining_loss(prediction, relationship, labels, next_sentence_label,
                                           self.config.vocab_size)
        return self._finish(O.BertForPreTrainingOutput(
            loss=loss, prediction_logits=prediction, seq_relationship_logits=relationship,
            hidden_states=o.hidden_states, attentions=o.attentions), return_dict)


class BertLMHeadModel(GenerationMixin, HeadModel):
    """Causal language model (build with ``is_decoder=True``). ``labels`` are shifted inside the loss; with labels
    the cache is off. See ``BertModel`` for ``past_key_values`` / ``use_cache``, and ``generate`` for decoding."""

    _keys_to_ignore_on_load_missing = _LM_MISSING
    _keys_to_ignore_on_load_unexpected = _NO_POOLER
    _tied_weights_keys = ["cls.predictions.decoder.bias", "cls.predictions.decoder.weight"]

    def _build_head(self):
        if not self.config.is_decoder:
            logger.warning("BertLMHeadModel is meant to be a decoder: build it with is_decoder=True.")
        self.cls = BertOnlyMLMHead(self.config)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, encoder_hidden_states=None, encoder_attention_mask=None, labels=None,
                past_key_values=None, use_cache=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        if labels is not None:
            use_cache = False
        o = self._encode(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                         output_attentions, output_hidden_states, encoder_hidden_states=encoder_hidden_states,
                         encoder_attention_mask=encoder_attention_mask, past_key_values=past_key_values,
                         use_cache=use_cache)
        logits = self.cls(o.last_hidden_state)
        loss = None if labels is None else losses.causal_lm_loss(logits, labels, self.config.vocab_size)
        return self._finish(O.CausalLMOutputWithCrossAttentions(
            loss=loss, logits=logits, past_key_values=o.past_key_values, hidden_states=o.hidden_states,
            attentions=o.attentions, cross_attentions=o.cross_attentions), return_dict)


class BertForMaskedLM(HeadModel):
    """Masked language model; ``labels`` of -100 are ignored."""

    _keys_to_ignore_on_load_missing = _LM_MISSING
    _keys_to_ignore_on_load_unexpected = _NO_POOLER
    _tied_weights_keys = ["predictions.decoder.bias", "cls.predictions.decoder.weight"]

    def _build_head(self):
        if self.config.is_decoder:
            logger.warning("BertForMaskedLM attends both ways: build it with is_decoder=False.")
        self.cls = BertOnlyMLMHead(self.config)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, encoder_hidden_states=None, encoder_attention_mask=None, labels=None,
                output_attentions=None, output_hidden_states=None, return_dict=None):
        o = self._encode(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                         output_attentions, output_hidden_states, encoder_hidden_states=encoder_hidden_states,
                         encoder_attention_mask=encoder_attention_mask)
        logits = self.cls(o.last_hidden_state)
        loss = None if labels is None else losses.masked_lm_loss(logits, labels, self.config.vocab_size)
        return self._finish(O.MaskedLMOutput(loss=loss, logits=logits, hidden_states=o.hidden_states,
                                             attentions=o.attentions), return_dict)
