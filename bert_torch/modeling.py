"""`BertModel` and the eight head classes, with transformers v4's names, arguments and outputs."""

from __future__ import annotations

import logging

import torch
from torch import Tensor, nn

from bert_core import outputs as O
from bert_core.checks import check_model_inputs, check_same_shape
from bert_torch import losses
from bert_torch.embeddings import BertEmbeddings
from bert_torch.heads import BertOnlyMLMHead, BertOnlyNSPHead, BertPreTrainingHeads
from bert_torch.layers import BertEncoder, BertPooler
from bert_torch.pretrained import BertPreTrainedModel

logger = logging.getLogger("bert_torch")


def _additive(keep: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Nonzero = attend, 0 = masked  ->  0 / most negative value, added to the attention scores.

    Any nonzero value keeps its token (the project-wide rule, in every framework), so a mask of 2s equals a mask
    of 1s and one row's values never scale another row's scores."""
    return (keep == 0).to(dtype) * torch.finfo(dtype).min


def _tracing() -> bool:
    return torch.jit.is_tracing() or torch.compiler.is_compiling()


class BertModel(BertPreTrainedModel):
    """The BERT encoder (or decoder, with ``config.is_decoder``; cross attention with
    ``config.add_cross_attention``).

    Args:
        config: a ``bert_core.BertConfig`` (or a dict of its fields).
        add_pooling_layer: build ``pooler`` (tanh(dense(first token))).
        torch_dtype: cast the model to this dtype after initialisation (``torch.bfloat16``, ``"float16"``).
        seed: seed the weight initialisation (private generator).

    ``forward`` takes transformers' arguments. ``past_key_values`` (decoders) is a tuple with one entry per
    layer, ``(key, value)`` or ``(key, value, cross_key, cross_value)``, each ``[batch, heads, seq, head_dim]``
    (transformers' legacy layout); with ``use_cache`` (default ``config.use_cache`` for decoders) the output's
    ``past_key_values`` holds the updated cache. With ``attn_implementation="sdpa"`` the fused kernel runs
    unless attentions are requested, a ``head_mask`` is given or positions are relative (then eager runs).
    Inputs are checked before any kernel: out-of-range ids, too long sequences and mismatched shapes raise
    ``ValueError``.
    """

    def __init__(self, config, add_pooling_layer: bool = True, *, torch_dtype=None, seed: int | None = None,
                 _init: bool = True):
        super().__init__(config)
        self.embeddings = BertEmbeddings(self.config)
        self.encoder = BertEncoder(self.config)
        self.pooler = BertPooler(self.config) if add_pooling_layer else None
        if _init:  # a head model initialises everything once, itself
            self.post_init(torch_dtype, seed)

    def _check(self, input_ids, inputs_embeds, attention_mask, token_type_ids, position_ids, past_key_values):
        if input_ids is not None and inputs_embeds is not None:
            raise ValueError("Give input_ids or inputs_embeds, not both.")
        if input_ids is None and inputs_embeds is None:
            raise ValueError("Give input_ids (or inputs_embeds).")
        shape = tuple(input_ids.shape) if input_ids is not None else tuple(inputs_embeds.shape[:-1])
        if len(shape) != 2:
            raise ValueError(f"input_ids must have shape [batch, seq], got {shape}.")
        if inputs_embeds is not None and inputs_embeds.shape[-1] != self.config.hidden_size:
            raise ValueError(f"inputs_embeds has width {inputs_embeds.shape[-1]}, the model's hidden_size is "
                             f"{self.config.hidden_size}.")
        past_len = 0
        if past_key_values is not None:
            if len(past_key_values) != self.config.num_hidden_layers:
                raise ValueError(f"past_key_values has {len(past_key_values)} entries; the model has "
                                 f"{self.config.num_hidden_layers} layers (one (key, value[, cross_key, "
                                 "cross_value]) tuple per layer).")
            past_len = int(past_key_values[0][0].shape[-2])
        name = "input_ids" if input_ids is not None else "inputs_embeds[..., 0]"
        check_same_shape(name, shape, token_type_ids=token_type_ids, position_ids=position_ids)
        if attention_mask is not None and attention_mask.dim() == 2:
            check_same_shape(f"past + {name}", (shape[0], past_len + shape[1]), attention_mask=attention_mask)
        check_model_inputs(self.config, input_ids, token_type_ids, position_ids, seq_len=shape[1],
                           past_len=past_len)
        return shape, past_len

    def _self_mask(self, attention_mask, batch, seq, past_len, dtype, device):
        """Additive [batch, 1, seq, past + seq] mask (causal for decoders), or None when nothing is masked."""
        if (attention_mask is not None and attention_mask.dim() == 2 and not _tracing()
                and bool(attention_mask.all())):
            attention_mask = None  # nothing masked: let sdpa run unmasked (never baked into a trace)
        if attention_mask is None and not self.config.is_decoder:
            return None
        if attention_mask is None:
            mask = torch.ones(batch, 1, 1, past_len + seq, device=device)
        elif attention_mask.dim() == 2:
            mask = attention_mask[:, None, None, :]
        elif attention_mask.dim() == 3:
            mask = attention_mask[:, None, :, :]
        else:
            raise ValueError(f"attention_mask must be [batch, seq] or [batch, seq, seq], got "
                             f"{tuple(attention_mask.shape)}.")
        if self.config.is_decoder:
            q = torch.arange(past_len, past_len + seq, device=device)
            k = torch.arange(past_len + seq, device=device)
            mask = (mask != 0) & (k[None, :] <= q[:, None])[None, None]
        return _additive(mask, dtype)

    def forward(self, input_ids: Tensor | None = None, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None, position_ids: Tensor | None = None,
                head_mask: Tensor | None = None, inputs_embeds: Tensor | None = None,
                encoder_hidden_states: Tensor | None = None, encoder_attention_mask: Tensor | None = None,
                past_key_values: tuple[tuple[Tensor, ...], ...] | None = None, use_cache: bool | None = None,
                output_attentions: bool | None = None, output_hidden_states: bool | None = None,
                return_dict: bool | None = None) -> O.BaseModelOutputWithPoolingAndCrossAttentions | tuple:
        """Encode ``input_ids`` ``[batch, seq]`` (or ``inputs_embeds`` ``[batch, seq, hidden]``).

        ``attention_mask`` is 1 for tokens to attend to, 0 for padding (``[batch, past + seq]``, or
        ``[batch, seq, past + seq]``); ``head_mask`` is ``[heads]`` or ``[layers, heads]`` (1 keeps a head).
        Decoders add the causal mask themselves. Returns the output dataclass, or its tuple with
        ``return_dict=False``.
        """
        cfg = self.config
        output_attentions = cfg.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = cfg.output_hidden_states if output_hidden_states is None else output_hidden_states
        return_dict = cfg.return_dict if return_dict is None else return_dict
        use_cache = (cfg.use_cache if use_cache is None else use_cache) if cfg.is_decoder else False
        (batch, seq), past_len = self._check(input_ids, inputs_embeds, attention_mask, token_type_ids,
                                             position_ids, past_key_values)
        hidden = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds, past_len)
        mask = self._self_mask(attention_mask, batch, seq, past_len, hidden.dtype, hidden.device)
        enc_mask = None
        if cfg.is_decoder and encoder_hidden_states is not None and encoder_attention_mask is not None:
            m = encoder_attention_mask
            enc_mask = _additive(m[:, None, None, :] if m.dim() == 2 else m[:, None, :, :], hidden.dtype)
        if head_mask is not None:
            head_mask = head_mask.to(hidden.dtype)
            if head_mask.dim() == 1:
                head_mask = head_mask.expand(cfg.num_hidden_layers, -1)
            head_mask = head_mask[:, None, :, None, None]  # [layers, 1, heads, 1, 1]
        seq_out, presents, all_hidden, all_attn, all_cross = self.encoder(
            hidden, mask, head_mask, encoder_hidden_states, enc_mask, past_key_values, use_cache,
            output_attentions, output_hidden_states)
        out = O.BaseModelOutputWithPoolingAndCrossAttentions(
            last_hidden_state=seq_out, pooler_output=self.pooler(seq_out) if self.pooler is not None else None,
            hidden_states=all_hidden, past_key_values=presents, attentions=all_attn, cross_attentions=all_cross)
        return out if return_dict else out.return_tuple()


def _finish(out: O.ModelOutput, return_dict: bool | None, config):
    return out if (config.return_dict if return_dict is None else return_dict) else out.return_tuple()


class _HeadModel(BertPreTrainedModel):
    """A head on ``self.bert``; subclasses set ``_pooling`` and build their head in ``_build_head``."""

    _pooling = True

    def __init__(self, config, *, torch_dtype=None, seed: int | None = None):
        super().__init__(config)
        self.bert = BertModel(self.config, add_pooling_layer=self._pooling, _init=False)
        self._build_head()
        self.post_init(torch_dtype, seed)

    def _build_head(self) -> None:
        raise NotImplementedError

    def _classifier_dropout(self) -> nn.Dropout:
        p = self.config.classifier_dropout
        return nn.Dropout(self.config.hidden_dropout_prob if p is None else p)

    def _encode(self, input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                output_attentions, output_hidden_states, **extra):
        return self.bert(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                         output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                         return_dict=True, **extra)


class BertForPreTraining(_HeadModel):
    """MLM (``cls.predictions``) and next sentence (``cls.seq_relationship``) heads; the loss is their sum when
    both ``labels`` and ``next_sentence_label`` are given."""

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
        return _finish(O.BertForPreTrainingOutput(loss=loss, prediction_logits=prediction,
                                                  seq_relationship_logits=relationship,
                                                  hidden_states=o.hidden_states, attentions=o.attentions),
                       return_dict, self.config)


class BertLMHeadModel(_HeadModel):
    """Causal language model (build with ``is_decoder=True``). ``labels`` are shifted inside the loss; with labels
    the cache is off. See ``BertModel`` for ``past_key_values`` / ``use_cache``."""

    _pooling = False

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
        return _finish(O.CausalLMOutputWithCrossAttentions(
            loss=loss, logits=logits, past_key_values=o.past_key_values, hidden_states=o.hidden_states,
            attentions=o.attentions, cross_attentions=o.cross_attentions), return_dict, self.config)


class BertForMaskedLM(_HeadModel):
    """Masked language model; ``labels`` of -100 are ignored."""

    _pooling = False

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
        return _finish(O.MaskedLMOutput(loss=loss, logits=logits, hidden_states=o.hidden_states,
                                        attentions=o.attentions), return_dict, self.config)


class BertForNextSentencePrediction(_HeadModel):
    """Next sentence head on the pooled output (``labels``: 0 = B follows A, 1 = random)."""

    def _build_head(self):
        self.cls = BertOnlyNSPHead(self.config)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        if "next_sentence_label" in kwargs:  # transformers' deprecated name
            labels = kwargs.pop("next_sentence_label")
        if kwargs:
            raise TypeError(f"Unexpected arguments: {', '.join(kwargs)}.")
        o = self._encode(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                         output_attentions, output_hidden_states)
        logits = self.cls(o.pooler_output)
        loss = None if labels is None else losses.next_sentence_loss(logits, labels)
        return _finish(O.NextSentencePredictorOutput(loss=loss, logits=logits, hidden_states=o.hidden_states,
                                                     attentions=o.attentions), return_dict, self.config)


class BertForSequenceClassification(_HeadModel):
    """Classifier (or regressor) on the pooled output. The loss follows ``config.problem_type``; when unset it is
    inferred as transformers does (num_labels 1: regression; integer labels: single label; float labels: multi
    label) and, as in transformers, stored in ``config.problem_type``."""

    def _build_head(self):
        self.num_labels = self.config.num_labels
        self.dropout = self._classifier_dropout()
        self.classifier = nn.Linear(self.config.hidden_size, self.config.num_labels)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        o = self._encode(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                         output_attentions, output_hidden_states)
        logits = self.classifier(self.dropout(o.pooler_output))
        loss = None
        if labels is not None:
            loss, self.config.problem_type = losses.sequence_classification_loss(
                logits, labels, self.num_labels, self.config.problem_type)
        return _finish(O.SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=o.hidden_states,
                                                  attentions=o.attentions), return_dict, self.config)


class BertForMultipleChoice(_HeadModel):
    """Scores each choice: inputs are ``[batch, num_choices, seq]``, logits ``[batch, num_choices]``."""

    def _build_head(self):
        self.dropout = self._classifier_dropout()
        self.classifier = nn.Linear(self.config.hidden_size, 1)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        ref = input_ids if input_ids is not None else (inputs_embeds[..., 0] if inputs_embeds is not None else None)
        if ref is None or ref.dim() != 3:
            raise ValueError("BertForMultipleChoice takes input_ids of shape [batch, num_choices, seq], got "
                             f"{None if ref is None else tuple(ref.shape)}.")
        num_choices = ref.shape[1]
        flat = [None if t is None else t.reshape(-1, t.shape[-1])
                for t in (input_ids, attention_mask, token_type_ids, position_ids)]
        if inputs_embeds is not None:
            inputs_embeds = inputs_embeds.reshape(-1, inputs_embeds.shape[-2], inputs_embeds.shape[-1])
        o = self._encode(*flat, head_mask, inputs_embeds, output_attentions, output_hidden_states)
        logits = self.classifier(self.dropout(o.pooler_output)).view(-1, num_choices)
        loss = None if labels is None else losses.multiple_choice_loss(logits, labels)
        return _finish(O.MultipleChoiceModelOutput(loss=loss, logits=logits, hidden_states=o.hidden_states,
                                                   attentions=o.attentions), return_dict, self.config)


class BertForTokenClassification(_HeadModel):
    """Per-token classifier; ``labels`` of -100 are ignored."""

    _pooling = False

    def _build_head(self):
        self.num_labels = self.config.num_labels
        self.dropout = self._classifier_dropout()
        self.classifier = nn.Linear(self.config.hidden_size, self.config.num_labels)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        o = self._encode(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                         output_attentions, output_hidden_states)
        logits = self.classifier(self.dropout(o.last_hidden_state))
        loss = None if labels is None else losses.token_classification_loss(logits, labels, self.num_labels)
        return _finish(O.TokenClassifierOutput(loss=loss, logits=logits, hidden_states=o.hidden_states,
                                               attentions=o.attentions), return_dict, self.config)


class BertForQuestionAnswering(_HeadModel):
    """Span start / end logits (``qa_outputs``); positions outside the sequence are clamped and ignored."""

    _pooling = False

    def _build_head(self):
        self.num_labels = self.config.num_labels
        self.qa_outputs = nn.Linear(self.config.hidden_size, self.config.num_labels)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, start_positions=None, end_positions=None, output_attentions=None,
                output_hidden_states=None, return_dict=None):
        o = self._encode(input_ids, attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                         output_attentions, output_hidden_states)
        if self.qa_outputs.out_features != 2:
            raise ValueError(f"BertForQuestionAnswering predicts a start and an end logit: it needs num_labels=2, "
                             f"the config has num_labels={self.qa_outputs.out_features}.")
        start, end = self.qa_outputs(o.last_hidden_state).split(1, dim=-1)
        start, end = start.squeeze(-1).contiguous(), end.squeeze(-1).contiguous()
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = losses.question_answering_loss(start, end, start_positions, end_positions)
        return _finish(O.QuestionAnsweringModelOutput(loss=loss, start_logits=start, end_logits=end,
                                                      hidden_states=o.hidden_states, attentions=o.attentions),
                       return_dict, self.config)
