"""``TFBertModel`` and the eight head classes: Keras 3 models called as transformers v4's TF classes were.

Every class takes ``(input_ids, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
inputs_embeds=None, ..., output_attentions=None, output_hidden_states=None, return_dict=None, labels=None,
training=False)`` or a dict of those as first argument, and returns ``bert_core.outputs`` dataclasses. Labels in
the input dict give the loss that ``model.fit`` trains on when ``compile`` had no loss (as transformers did).
"""

from __future__ import annotations

import logging

import keras
import tensorflow as tf

from bert_core import outputs as O
from bert_core.config import BertConfig
from bert_tf import losses
from bert_tf.embeddings import dense
from bert_tf.generation import TFGenerationMixin
from bert_tf.heads import TFBertMLMHead, TFBertNSPHead
from bert_tf.keras_model import TFBertKerasModel
from bert_tf.pretrained import call_doc

logger = logging.getLogger("bert_tf")


def _fields(out, **head) -> dict:
    """A head output's fields by name: the head's own plus the encoder's ``hidden_states`` and ``attentions``."""
    return dict(head, hidden_states=out.hidden_states, attentions=out.attentions)


class TFBertModel(TFBertKerasModel):
    head = "BertModel"

    def _forward(self, x: dict, training):
        return self._finish(self._bert(x, training), x)


class TFBertForPreTraining(TFBertKerasModel):
    head = "BertForPreTraining"

    def _build_head(self, config: BertConfig) -> None:
        self.nsp = TFBertNSPHead(config, name="nsp___cls")
        self.mlm = TFBertMLMHead(config, name="mlm___cls")

    def _forward(self, x: dict, training):
        out = self._bert(x, training)
        prediction = self.mlm(out.last_hidden_state, word_embeddings=self.bert.embeddings.word_embeddings.weight)
        relationship = self.nsp(out.pooler_output)
        loss = None
        if x.get("labels") is not None and x.get("next_sentence_label") is not None:
            loss = losses.pretraining_loss(prediction, relationship, x["labels"], x["next_sentence_label"])
        return self._finish(O.BertForPreTrainingOutput(
            loss=loss, prediction_logits=prediction, seq_relationship_logits=relationship,
            hidden_states=out.hidden_states, attentions=out.attentions), x)


class _MLMModel(TFBertKerasModel):

    def _build_head(self, config: BertConfig) -> None:
        self.mlm = TFBertMLMHead(config, name="mlm___cls")


class TFBertForMaskedLM(_MLMModel):
    head = "BertForMaskedLM"

    def _forward(self, x: dict, training):
        out = self._bert(x, training)
        logits = self.mlm(out.last_hidden_state, word_embeddings=self.bert.embeddings.word_embeddings.weight)
        loss = losses.masked_lm_loss(logits, x["labels"]) if x.get("labels") is not None else None
        return self._finish(O.MaskedLMOutput(**_fields(out, loss=loss, logits=logits)), x)


class TFBertLMHeadModel(TFGenerationMixin, _MLMModel):
    """Causal LM (``is_decoder=True``); ``past_key_values`` holds per-layer (key, value[, cross key, value]);
    ``generate()`` decodes greedily or by sampling over that cache (``bert_tf.generation``)."""

    head = "BertLMHeadModel"

    def _build_head(self, config: BertConfig) -> None:
        super()._build_head(config)
        if not config.is_decoder:
            logger.warning("TFBertLMHeadModel is meant to be a decoder: build it with is_decoder=True.")

    def _forward(self, x: dict, training):
        if x.get("labels") is not None:
            x["use_cache"] = False
        out = self._bert(x, training)
        logits = self.mlm(out.last_hidden_state, word_embeddings=self.bert.embeddings.word_embeddings.weight)
        loss = losses.causal_lm_loss(logits, x["labels"]) if x.get("labels") is not None else None
        return self._finish(O.CausalLMOutputWithCrossAttentions(
            loss=loss, logits=logits, past_key_values=out.past_key_values, hidden_states=out.hidden_states,
            attentions=out.attentions, cross_attentions=out.cross_attentions), x)


class TFBertForNextSentencePrediction(TFBertKerasModel):
    head = "BertForNextSentencePrediction"

    def _build_head(self, config: BertConfig) -> None:
        self.nsp = TFBertNSPHead(config, name="nsp___cls")

    def _forward(self, x: dict, training):
        out = self._bert(x, training)
        logits = self.nsp(out.pooler_output)
        labels = x.get("next_sentence_label", x.get("labels"))
        loss = losses.cross_entropy(logits, labels) if labels is not None else None
        return self._finish(O.NextSentencePredictorOutput(**_fields(out, loss=loss, logits=logits)), x)


class _Classifier(TFBertKerasModel):
    units = 1
    classifier_name = "classifier"

    def _build_head(self, config: BertConfig) -> None:
        rate = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = keras.layers.Dropout(rate)
        units = config.num_labels if self.units is None else self.units
        self.classifier = dense(config, units, self.classifier_name, config.hidden_size)


class TFBertForSequenceClassification(_Classifier):
    head = "BertForSequenceClassification"
    units = None

    def _forward(self, x: dict, training):
        out = self._bert(x, training)
        logits = self.classifier(self.dropout(out.pooler_output, training=training))
        loss = None
        if x.get("labels") is not None:
            labels = tf.convert_to_tensor(x["labels"])
            loss = losses.sequence_classification_loss(logits, labels, self.config.num_labels,
                                                       self.config.problem_type)
        return self._finish(O.SequenceClassifierOutput(**_fields(out, loss=loss, logits=logits)), x)


class TFBertForMultipleChoice(_Classifier):
    """Inputs [batch, num_choices, seq]; logits [batch, num_choices]."""

    head = "BertForMultipleChoice"

    def _forward(self, x: dict, training):
        ref = x["input_ids"] if x.get("input_ids") is not None else x["inputs_embeds"][..., 0]
        num_choices = tf.shape(ref)[1]
        flat = {}
        for name in ("input_ids", "attention_mask", "token_type_ids", "position_ids"):
            if x.get(name) is not None:
                flat[name] = tf.reshape(x[name], (-1, tf.shape(x[name])[-1]))
        if x.get("inputs_embeds") is not None:
            e = x["inputs_embeds"]
            flat["inputs_embeds"] = tf.reshape(e, (-1, tf.shape(e)[2], tf.shape(e)[3]))
        out = self._bert(x, training, **flat)
        logits = tf.reshape(self.classifier(self.dropout(out.pooler_output, training=training)), (-1, num_choices))
        loss = losses.cross_entropy(logits, x["labels"]) if x.get("labels") is not None else None
        return self._finish(O.MultipleChoiceModelOutput(**_fields(out, loss=loss, logits=logits)), x)


class TFBertForTokenClassification(_Classifier):
    head = "BertForTokenClassification"
    units = None

    def _forward(self, x: dict, training):
        out = self._bert(x, training)
        logits = self.classifier(self.dropout(out.last_hidden_state, training=training))
        loss = losses.cross_entropy(logits, x["labels"]) if x.get("labels") is not None else None
        return self._finish(O.TokenClassifierOutput(**_fields(out, loss=loss, logits=logits)), x)


class TFBertForQuestionAnswering(TFBertKerasModel):
    head = "BertForQuestionAnswering"

    def _build_head(self, config: BertConfig) -> None:
        self.qa_outputs = dense(config, config.num_labels, "qa_outputs", config.hidden_size)

    def _forward(self, x: dict, training):
        out = self._bert(x, training)
        if self.config.num_labels != 2:
            raise ValueError(f"TFBertForQuestionAnswering predicts a start and an end logit: it needs num_labels=2, "
                             f"the config has num_labels={self.config.num_labels}.")
        logits = self.qa_outputs(out.last_hidden_state)
        start, end = tf.unstack(logits, 2, axis=-1)
        loss = None
        if x.get("start_positions") is not None and x.get("end_positions") is not None:
            loss = losses.question_answering_loss(start, end, x["start_positions"], x["end_positions"])
        return self._finish(O.QuestionAnsweringModelOutput(
            **_fields(out, loss=loss, start_logits=start, end_logits=end)), x)


def _register(cls):
    """Keras-serializable as ``bertzoo>TFBert...`` (``model.save("x.keras")`` / ``keras.models.load_model``)."""
    return keras.saving.register_keras_serializable(package="bertzoo")(call_doc(cls))


MODEL_CLASSES: dict[str, type] = {cls.head: _register(cls) for cls in (
    TFBertModel, TFBertForPreTraining, TFBertLMHeadModel, TFBertForMaskedLM, TFBertForNextSentencePrediction,
    TFBertForSequenceClassification, TFBertForMultipleChoice, TFBertForTokenClassification,
    TFBertForQuestionAnswering)}
