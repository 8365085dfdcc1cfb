"""``TFBertPreTrainedModel``: what every TFBert* class shares -- transformers' call convention (a dict of inputs
may come first), output dataclasses that tf.function and Keras can return, Keras ``fit`` hooks (labels inside the
input dict give the head's own loss when ``compile`` had none), and checkpoints (``TFCheckpointMixin``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import keras
import tensorflow as tf

from bert_core import outputs as O
from bert_core.config import BertConfig
from bert_core.heads import HEADS_BY_NAME, framework_class_name
from bert_tf.checkpoint import TFCheckpointMixin
from bert_tf.keras_internals import compiled_with_loss
from bert_tf.layers import TFBertMainLayer


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


class TFBertPreTrainedModel(TFCheckpointMixin, keras.Model):
    """Base of every TFBert* class: input unpacking, output packing, Keras training hooks, checkpoints."""

    head: str = "BertModel"
    label_names: tuple[str, ...] = ()
    add_pooling_layer = True

    def __init_subclass__(cls, **kwargs) -> None:
        """The head's output class, label arguments and pooler come from the head table (``bert_core.heads``)."""
        super().__init_subclass__(**kwargs)
        row = HEADS_BY_NAME[cls.head]
        cls.output_class = getattr(O, row.output_class)
        cls.label_names = row.tf_label_names or row.label_names
        cls.add_pooling_layer = row.pooled

    def __init__(self, config: BertConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        config.validate_for_model()
        self.config = config
        self.bert = TFBertMainLayer(config, add_pooling_layer=self.add_pooling_layer, name="bert")

    @property
    def skip_padding(self) -> bool:
        """Run token-wise layers on real tokens only (``TFBertMainLayer``); set it before tracing the model."""
        return self.bert.skip_padding

    @skip_padding.setter
    def skip_padding(self, value: bool) -> None:
        self.bert.skip_padding = bool(value)

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

    def encode(self, inputs: dict, training=False):
        """The ``bert`` main layer's output (``BaseModelOutputWithPoolingAndCrossAttentions``) for a dict of model
        inputs, without any head (labels are not allowed in ``inputs``)."""
        return self._bert(self._inputs(inputs, {}), training)

    def _bert(self, x: dict, training, **overrides):
        args = {k: x.get(k) for k in ARGS if k != "return_dict"}
        args.update(overrides)
        return self.bert(**args, training=training)

    @staticmethod
    def _finish(output, x: dict):
        return output if x.get("return_dict", True) else output.return_tuple()

    # -- Keras training ------------------------------------------------------------------------------------
    def _user_loss(self) -> bool:
        return compiled_with_loss(self)  # compile(optimizer) after compile(optimizer, loss): the model's own loss

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
            # Keras sums replica gradients and unscales the logged loss; its compiled losses are divided by the
            # replica count, and so must the model's own loss be (else gradients are R times too large).
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            return loss / replicas if replicas > 1 else loss
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


def call_doc(cls):
    """Append what ``call`` returns to a TFBert* class docstring."""
    cls.__doc__ = (cls.__doc__ or f"transformers' {framework_class_name(cls.head, 'tf')}.") + (
        f" Call returns {cls.output_class.__name__} (its tuple with return_dict=False).")
    return cls
