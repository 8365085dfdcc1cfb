"""The task heads: next sentence, sequence / token classification, multiple choice, question answering."""

from __future__ import annotations

from torch import nn

from bert_core import outputs as O
from bert_torch import losses
from bert_torch.base_model import HeadModel
from bert_torch.heads import BertOnlyNSPHead

_NO_POOLER = [r"pooler"]  # transformers v4's _keys_to_ignore_on_load_unexpected for heads without a pooler


class BertForNextSentencePrediction(HeadModel):
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
        return self._finish(O.NextSentencePredictorOutput(loss=loss, logits=logits, hidden_states=o.hidden_states,
                                                          attentions=o.attentions), return_dict)


class BertForSequenceClassification(HeadModel):
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
        return self._finish(O.SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=o.hidden_states,
                                                       attentions=o.attentions), return_dict)


class BertForMultipleChoice(HeadModel):
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
        return self._finish(O.MultipleChoiceModelOutput(loss=loss, logits=logits, hidden_states=o.hidden_states,
                                                        attentions=o.attentions), return_dict)


class BertForTokenClassification(HeadModel):
    """Per-token classifier; ``labels`` of -100 are ignored."""

    _keys_to_ignore_on_load_unexpected = _NO_POOLER

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
        return self._finish(O.TokenClassifierOutput(loss=loss, logits=logits, hidden_states=o.hidden_states,
                                                    attentions=o.attentions), return_dict)


class BertForQuestionAnswering(HeadModel):
    """Span start / end logits (``qa_outputs``); positions outside the sequence are clamped and ignored."""

    _keys_to_ignore_on_load_unexpected = _NO_POOLER

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
        return self._finish(O.QuestionAnsweringModelOutput(
            loss=loss, start_logits=start, end_logits=end, hidden_states=o.hidden_states, attentions=o.attentions),
            return_dict)
