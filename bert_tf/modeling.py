"""``TFBertModel`` and the eight head classes: Keras 3 models called as transformers v4's TF classes were.

Every class takes ``(input_ids, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
inputs_embeds=None, ..., output_attentions=None, output_hidden_states=None, return_dict=None, labels=None,
training=False)`` or a dict of those as first argument, and returns ``bert_core.outputs`` dataclasses. Labels in
the input dict give the loss that ``model.fit`` trains on when ``compile`` had no loss (as transformers did).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import keras
import numpy as np
import tensorflow as tf

from bert_core import outputs as O
from bert_core.checks import check_model_inputs
from bert_core.config import BertConfig
from bert_core.heads import framework_class_name
from bert_tf import losses
from bert_tf.attention import _dense
from bert_tf.checkpoint import TFCheckpointMixin
from bert_tf.embeddings import TFBertEmbeddings
from bert_tf.heads import TFBertMLMHead, TFBertNSPHead
from bert_tf.layers import TFBertEncoder, TFBertPooler

def _tf_flatten(self):
    names = tuple(f.name for f in dataclasses.fields(self))
    return names, tuple(getattr(self, n) for n in names)


def _tf_unflatten(cls, names, components):
    return cls(**dict(zip(names, components)))


# tf.nest's custom-class protocol, so tf.function and Keras can return bert_core's output dataclasses.
O.ModelOutput.__tf_flatten__ = _tf_flatten
O.ModelOutput.__tf_unflatten__ = classmethod(_tf_unflatten)

_LABELS = ("labels", "next_sentence_label", "start_positions", "end_positions")
ARGS = ("input_ids", "attention_mask", "token_type_ids", "position_ids", "head_mask", "inputs_embeds",
        "encoder_hidden_states", "encoder_attention_mask", "past_key_values", "use_cache", "output_attentions",
        "output_hidden_states", "return_dict")


def _is_concrete(*tensors) -> bool:
    return tf.executing_eagerly() and all(t is None or hasattr(t, "numpy") for t in tensors)


def _extended_mask(mask: tf.Tensor) -> tf.Tensor:
    """[batch, keys] (or [batch, queries, keys]) 1/0 mask -> [batch, 1, queries or 1, keys] 1/0 float mask.

    It stays 1/0 (not additive) because Keras casts float layer inputs to the compute dtype, and float16 cannot
    hold float32's most negative value; attention applies it in float32.
    """
    mask = tf.cast(mask, tf.float32)
    return mask[:, None, None, :] if mask.shape.rank == 2 else mask[:, None, :, :]


class TFBertMainLayer(keras.layers.Layer):
    """Embeddings, encoder and (optional) pooler: transformers' ``bert`` layer."""

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.embeddings = TFBertEmbeddings(config, name="embeddings")
        self.encoder = TFBertEncoder(config, name="encoder")
        self.pooler = TFBertPooler(config, name="pooler") if add_pooling_layer else None
        self.built = True

    def _check(self, input_ids, token_type_ids, position_ids, seq_len, past_len):
        """Eagerly: ValueError from bert_core.checks. In a graph: assertions the lookups depend on."""
        c = self.config
        if _is_concrete(input_ids, token_type_ids, position_ids) and isinstance(past_len, int):
            np_ = [None if t is None else np.asarray(t) for t in (input_ids, token_type_ids, position_ids)]
            check_model_inputs(c, *np_, seq_len=int(seq_len), past_len=past_len)
            return input_ids, token_type_ids, position_ids
        asserts = []
        for t, limit, name, field in ((input_ids, c.vocab_size, "input_ids", "vocab_size"),
                                      (token_type_ids, c.type_vocab_size, "token_type_ids", "type_vocab_size"),
                                      (position_ids, c.max_position_embeddings, "position_ids",
                                       "max_position_embeddings")):
            if t is not None:
                msg = (f"{name} must lie in [0, {limit}) ({field}={limit}). Check that the tokenizer matches "
                       "the model.")
                asserts.append(tf.debugging.assert_non_negative(t, message=msg))
                asserts.append(tf.debugging.assert_less(tf.cast(t, tf.int64), tf.constant(limit, tf.int64),
                                                        message=msg))
        asserts.append(tf.debugging.assert_less_equal(
            tf.cast(seq_len + past_len, tf.int32), tf.constant(c.max_position_embeddings, tf.int32),
            message=f"Sequence length exceeds max_position_embeddings={c.max_position_embeddings}. Truncate the "
                    f"input (max_length={c.max_position_embeddings})."))
        with tf.control_dependencies([a for a in asserts if a is not None]):
            return tuple(None if t is None else tf.identity(t) for t in (input_ids, token_type_ids, position_ids))

    def call(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
             inputs_embeds=None, encoder_hidden_states=None, encoder_attention_mask=None, past_key_values=None,
             use_cache=False, output_attentions=False, output_hidden_states=False, training=False):
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Give exactly one of input_ids and inputs_embeds.")
        shape = tf.shape(input_ids) if input_ids is not None else tf.shape(inputs_embeds)[:-1]
        static = input_ids.shape if input_ids is not None else inputs_embeds.shape[:-1]
        batch, seq_len = shape[0], (static[-1] if static[-1] is not None else shape[-1])
        past_len = 0
        if past_key_values is not None:
            past_len = past_key_values[0][0].shape[2]
            past_len = tf.shape(past_key_values[0][0])[2] if past_len is None else int(past_len)
        input_ids, token_type_ids, position_ids = self._check(input_ids, token_type_ids, position_ids, seq_len,
                                                              past_len)
        if attention_mask is None:
            attention_mask = tf.ones((batch, seq_len + past_len), tf.int32)
        mask = tf.cast(attention_mask, tf.float32)
        if self.config.is_decoder:
            queries = tf.range(seq_len)[:, None] + past_len
            causal = tf.cast(tf.range(seq_len + past_len)[None, :] <= queries, tf.float32)
            mask = mask[:, None, :] * causal[None]
        extended = _extended_mask(mask)
        encoder_extended = None
        if encoder_hidden_states is not None:
            if encoder_attention_mask is None:
                encoder_attention_mask = tf.ones(tf.shape(encoder_hidden_states)[:2], tf.int32)
            encoder_extended = _extended_mask(encoder_attention_mask)
            encoder_hidden_states = tf.cast(encoder_hidden_states, self.compute_dtype)
        if head_mask is not None:
            head_mask = tf.cast(head_mask, self.compute_dtype)
            if head_mask.shape.rank == 1:
                head_mask = tf.tile(head_mask[None], (self.config.num_hidden_layers, 1))
            head_mask = head_mask[:, None, :, None, None]
        embeddings = self.embeddings(input_ids, token_type_ids=token_type_ids, position_ids=position_ids,
                                     inputs_embeds=inputs_embeds, past_length=past_len, training=training)
        hidden, all_hidden, all_attn, all_cross, presents = self.encoder(
            embeddings, attention_mask=extended, head_mask=head_mask, encoder_hidden_states=encoder_hidden_states,
            encoder_attention_mask=encoder_extended, past_key_values=past_key_values, use_cache=use_cache,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states, training=training)
        pooled = self.pooler(hidden) if self.pooler is not None else None
        return O.BaseModelOutputWithPoolingAndCrossAttentions(
            last_hidden_state=hidden, pooler_output=pooled, hidden_states=all_hidden, past_key_values=presents,
            attentions=all_attn, cross_attentions=all_cross)


class TFBertPreTrainedModel(TFCheckpointMixin, keras.Model):
    """Base of every TFBert* class: input unpacking, output packing, Keras training hooks, checkpoints."""

    label_names: tuple[str, ...] = ("labels",)
    add_pooling_layer = True

    def __init__(self, config: BertConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.bert = TFBertMainLayer(config, add_pooling_layer=self.add_pooling_layer, name="bert")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"

    # -- inputs and outputs ---------------------------------------------------------------------------------
    def call(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
             inputs_embeds=None, encoder_hidden_states=None, encoder_attention_mask=None, past_key_values=None,
             use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None, labels=None,
             next_sentence_label=None, start_positions=None, end_positions=None, training=False):
        """Run the model (arguments as transformers v4's TF classes; a dict of them may come first)."""
        given = dict(locals())
        kwargs = {k: given[k] for k in (*ARGS[1:], *_LABELS) if given[k] is not None}
        return self._forward(self._inputs(input_ids, kwargs), training)

    def _forward(self, x: dict, training):
        raise NotImplementedError

    def _inputs(self, input_ids, kwargs: dict) -> dict:
        if isinstance(input_ids, Mapping):
            merged = dict(input_ids)
            merged.update(kwargs)
        else:
            merged = dict(kwargs, input_ids=input_ids)
        unknown = set(merged) - set(ARGS) - set(self.label_names) - {"training"}
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected inputs: {', '.join(sorted(unknown))}.")
        c = self.config
        for name, default in (("output_attentions", c.output_attentions),
                              ("output_hidden_states", c.output_hidden_states), ("return_dict", c.return_dict)):
            if merged.get(name) is None:
                merged[name] = default
        use_cache = c.use_cache if merged.get("use_cache") is None else merged["use_cache"]
        merged["use_cache"] = bool(c.is_decoder and use_cache)
        return merged

    def _bert(self, x: dict, training, **overrides):
        args = {k: x.get(k) for k in ARGS if k != "return_dict"}
        args.update(overrides)
        return self.bert(**args, training=training)

    @staticmethod
    def _finish(output, x: dict):
        return output if x.get("return_dict", True) else output.to_tuple()

    # -- Keras training ------------------------------------------------------------------------------------
    def _user_loss(self) -> bool:
        return getattr(self, "_compile_loss", None) is not None

    def _labels_into_inputs(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if y is not None and not self._user_loss() and isinstance(x, Mapping):
            x = dict(x)
            x.update(y if isinstance(y, Mapping) else {self.label_names[0]: y})
            y = None
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    def train_step(self, data):
        return super().train_step(self._labels_into_inputs(data))

    def test_step(self, data):
        return super().test_step(self._labels_into_inputs(data))

    def _main_output(self, y_pred):
        fields = [v for k, v in y_pred.items() if k != "loss"]
        return fields[0]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if isinstance(y_pred, O.ModelOutput):
            if self._user_loss() and y is not None:
                return super().compute_loss(x, y, self._main_output(y_pred), sample_weight, training=training)
            if y_pred.loss is None:
                raise ValueError(f"{type(self).__name__} got no labels, so it has no loss to train on: put "
                                 f"{' and '.join(self.label_names)} in the input dict, or compile with a loss.")
            loss = y_pred.loss
            if self.losses:
                loss = loss + tf.add_n([tf.cast(v, loss.dtype) for v in self.losses])
            return loss
        return super().compute_loss(x, y, y_pred, sample_weight, training=training)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if isinstance(y_pred, O.ModelOutput):
            y_pred = self._main_output(y_pred)
        return super().compute_metrics(x, y, y_pred, sample_weight)

    @property
    def _default_save_signature(self):
        return None  # Keras' float32 guess cannot feed token ids; bert_tf.export writes real signatures

    def get_input_embeddings(self):
        return self.bert.embeddings.word_embeddings

    @property
    def dummy_inputs(self) -> dict:
        return {"input_ids": tf.constant([[7, 6, 0, 0, 1], [1, 2, 3, 0, 0]], tf.int32)}


def _call_doc(cls):
    cls.__doc__ = (cls.__doc__ or f"transformers' {framework_class_name(cls.head, 'tf')}.") + (
        f" Call returns {cls.output_class.__name__} (its tuple with return_dict=False).")
    return cls


class TFBertModel(TFBertPreTrainedModel):
    head = "BertModel"
    output_class = O.BaseModelOutputWithPoolingAndCrossAttentions

    def _forward(self, x: dict, training):
        return self._finish(self._bert(x, training), x)


class TFBertForPreTraining(TFBertPreTrainedModel):
    head = "BertForPreTraining"
    output_class = O.BertForPreTrainingOutput
    label_names = ("labels", "next_sentence_label")

    def __init__(self, config: BertConfig, **kwargs) -> None:
        super().__init__(config, **kwargs)
        self.nsp = TFBertNSPHead(config, name="nsp___cls")
        self.mlm = TFBertMLMHead(config, name="mlm___cls")

    def _forward(self, x: dict, training):
        out = self._bert(x, training)
        prediction = self.mlm(out.last_hidden_state, word_embeddings=self.bert.embeddings.word_embeddings.weight)
        relationship = self.nsp(out.pooler_output)
        loss = None
        if x.get("labels") is not None and x.get("next_sentence_label") is not None:
            loss = losses.pretraining_loss(prediction, relationship, x["labels"], x["next_sentence_label"])
        return self._finish(O.BertForPreTrainingOutput(loss, prediction, relationship, out.hidden_states,
                                                       out.attentions), x)


class TFBertForMaskedLM(TFBertPreTrainedModel):
    head = "BertForMaskedLM"
    output_class = O.MaskedLMOutput
    add_pooling_layer = False

    def __init__(self, config: BertConfig, **kwargs) -> None:
        super().__init__(config, **kwargs)
        self.mlm = TFBertMLMHead(config, name="mlm___cls")

    def _forward(self, x: dict, training):
        out = self._bert(x, training)
        logits = self.mlm(out.last_hidden_state, word_embeddings=self.bert.embeddings.word_embeddings.weight)
        loss = losses.masked_lm_loss(logits, x["labels"]) if x.get("labels") is not None else None
        return self._finish(O.MaskedLMOutput(loss, logits, out.hidden_states, out.attentions), x)


class TFBertLMHeadModel(TFBertForMaskedLM):
    """Causal LM (``is_decoder=True``); ``past_key_values`` holds per-layer (key, value[, cross key, value])."""

    head = "BertLMHeadModel"
    output_class = O.CausalLMOutputWithCrossAttentions

    def _forward(self, x: dict, training):
        if x.get("labels") is not None:
            x["use_cache"] = False
        out = self._bert(x, training)
        logits = self.mlm(out.last_hidden_state, word_embeddings=self.bert.embeddings.word_embeddings.weight)
        loss = losses.causal_lm_loss(logits, x["labels"]) if x.get("labels") is not None else None
        return self._finish(O.CausalLMOutputWithCrossAttentions(
            loss, logits, out.past_key_values, out.hidden_states, out.attentions, out.cross_attentions), x)


class TFBertForNextSentencePrediction(TFBertPreTrainedModel):
    head = "BertForNextSentencePrediction"
    output_class = O.NextSentencePredictorOutput
    label_names = ("next_sentence_label", "labels")

    def __init__(self, config: BertConfig, **kwargs) -> None:
        super().__init__(config, **kwargs)
        self.nsp = TFBertNSPHead(config, name="nsp___cls")

    def _forward(self, x: dict, training):
        out = self._bert(x, training)
        logits = self.nsp(out.pooler_output)
        labels = x.get("next_sentence_label", x.get("labels"))
        loss = losses.cross_entropy(logits, labels) if labels is not None else None
        return self._finish(O.NextSentencePredictorOutput(loss, logits, out.hidden_states, out.attentions), x)


class _Classifier(TFBertPreTrainedModel):
    units = 1
    classifier_name = "classifier"

    def __init__(self, config: BertConfig, **kwargs) -> None:
        super().__init__(config, **kwargs)
        rate = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = keras.layers.Dropout(rate)
        units = config.num_labels if self.units is None else self.units
        self.classifier = _dense(config, units, self.classifier_name, config.hidden_size)


class TFBertForSequenceClassification(_Classifier):
    head = "BertForSequenceClassification"
    output_class = O.SequenceClassifierOutput
    units = None

    def _forward(self, x: dict, training):
        out = self._bert(x, training)
        logits = self.classifier(self.dropout(out.pooler_output, training=training))
        loss = None
        if x.get("labels") is not None:
            labels = tf.convert_to_tensor(x["labels"])
            loss = losses.sequence_classification_loss(logits, labels, self.config.num_labels,
                                                       self.config.problem_type)
        return self._finish(O.SequenceClassifierOutput(loss, logits, out.hidden_states, out.attentions), x)


class TFBertForMultipleChoice(_Classifier):
    """Inputs [batch, num_choices, seq]; logits [batch, num_choices]."""

    head = "BertForMultipleChoice"
    output_class = O.MultipleChoiceModelOutput

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
        return self._finish(O.MultipleChoiceModelOutput(loss, logits, out.hidden_states, out.attentions), x)


class TFBertForTokenClassification(_Classifier):
    head = "BertForTokenClassification"
    output_class = O.TokenClassifierOutput
    add_pooling_layer = False
    units = None

    def _forward(self, x: dict, training):
        out = self._bert(x, training)
        logits = self.classifier(self.dropout(out.last_hidden_state, training=training))
        loss = losses.cross_entropy(logits, x["labels"]) if x.get("labels") is not None else None
        return self._finish(O.TokenClassifierOutput(loss, logits, out.hidden_states, out.attentions), x)


class TFBertForQuestionAnswering(TFBertPreTrainedModel):
    head = "BertForQuestionAnswering"
    output_class = O.QuestionAnsweringModelOutput
    add_pooling_layer = False
    label_names = ("start_positions", "end_positions")

    def __init__(self, config: BertConfig, **kwargs) -> None:
        super().__init__(config, **kwargs)
        self.qa_outputs = _dense(config, config.num_labels, "qa_outputs", config.hidden_size)

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
        return self._finish(O.QuestionAnsweringModelOutput(loss, start, end, out.hidden_states, out.attentions), x)


MODEL_CLASSES: dict[str, type] = {cls.head: _call_doc(cls) for cls in (
    TFBertModel, TFBertForPreTraining, TFBertLMHeadModel, TFBertForMaskedLM, TFBertForNextSentencePrediction,
    TFBertForSequenceClassification, TFBertForMultipleChoice, TFBertForTokenClassification,
    TFBertForQuestionAnswering)}
