"""``TFBertKerasModel``: what makes every TFBert* class a well-behaved Keras 3 model, as transformers v4's were.

- Inputs: the first positional argument may be a dict, any mapping (``bert_core``'s ``BatchEncoding``, what
  ``tokenizer(..., return_tensors="tf")`` returns) or a list / tuple of tensors in ``input_ids, attention_mask,
  token_type_ids, ...`` order (v4's ``input_processing``), also as ``keras.Input`` placeholders (functional API).
- Outputs: ``bert_core.outputs`` classes are registered with Keras' ``keras.tree`` so ``predict`` concatenates
  them (``model.predict(x).logits``) and ``model(keras.Input(...))`` returns one holding Keras tensors.
- Built at construction (every variable is created in ``__init__``), so ``load_weights``, ``summary`` and
  ``.keras`` loading work before any call; ``get_config`` / ``from_config`` and registration under the
  ``bertzoo`` package make ``model.save("x.keras")`` / ``keras.models.load_model`` work in safe mode.
- ``fit`` / ``evaluate`` / ``predict`` take a ``BatchEncoding`` as ``x``. Metrics: with labels inside the input
  dict, a head with one label gives it to compiled metrics as ``y``.
"""

from __future__ import annotations

from collections.abc import Mapping

import keras
import numpy as np
import tensorflow as tf

from bert_core import outputs as O
from bert_core.config import BertConfig
from bert_core.heads import HEADS_BY_NAME
from bert_tf.keras_internals import (
    allow_non_tensor_positional_args, auto_name, register_tree_node, sublayers)
from bert_tf.pretrained import ARGS, TFBertPreTrainedModel


def _register_outputs() -> None:
    for name in O.__all__:
        cls = getattr(O, name)
        if cls is O.ModelOutput:
            continue

        def flatten(out):
            items = out.items()
            return [v for _, v in items], tuple(k for k, _ in items)

        def unflatten(keys, children, cls=cls):
            return cls(**dict(zip(keys, children)))

        register_tree_node(cls, flatten, unflatten)


_register_outputs()


def _is_tensor_like(x) -> bool:
    return x is None or isinstance(x, (tf.Tensor, tf.Variable, np.ndarray, keras.KerasTensor)) \
        or tf.is_tensor(x)


def normalize_first_argument(x):
    """v4's first-argument forms as something Keras accepts: a dict for mappings and lists of tensors."""
    if isinstance(x, dict):
        return x
    if isinstance(x, Mapping):
        return dict(x.items())
    if isinstance(x, (list, tuple)) and x and all(_is_tensor_like(v) for v in x):
        if len(x) > len(ARGS):
            raise ValueError(f"Got {len(x)} positional inputs in a list; the model takes at most {len(ARGS)}: "
                             f"{', '.join(ARGS)}.")
        return {name: v for name, v in zip(ARGS, x) if v is not None}
    return x


def _plain_dict(x):
    """Keras' data adapters take dicts, not other mappings (a ``BatchEncoding``)."""
    return dict(x.items()) if isinstance(x, Mapping) and not isinstance(x, dict) else x


class TFBertKerasModel(TFBertPreTrainedModel):
    """Base of the nine TFBert* classes: Keras inputs, outputs, serialization and build state (module doc)."""

    def __init__(self, config: BertConfig | Mapping, **kwargs) -> None:
        if isinstance(config, Mapping):
            config = BertConfig.from_dict(dict(config))
        if kwargs.get("name") is None:
            kwargs["name"] = auto_name(type(self))
        with keras.name_scope(kwargs["name"]):  # variable paths under the model's name, as transformers v4's
            super().__init__(config, **kwargs)
            self._build_head(config)
        allow_non_tensor_positional_args(self)
        self.built = True  # every variable exists (sublayers build themselves in __init__)

    def _build_head(self, config: BertConfig) -> None:
        """Create the head's layers (after ``bert``)."""

    def __call__(self, *args, **kwargs):
        if not args and isinstance(kwargs.get("inputs"), (Mapping, list, tuple)):  # Keras' name for argument 1
            args = (kwargs.pop("inputs"),)
        if args:
            first = normalize_first_argument(args[0])
            if isinstance(first, dict):  # flags (output_hidden_states=True, ...) go as keywords: Keras refuses
                flags = {k: v for k, v in first.items() if v is None or isinstance(v, (bool, int, float, str))}
                first = {k: v for k, v in first.items() if k not in flags}  # an argument mixing tensors and not
                kwargs = {**flags, **kwargs}
            args = (first, *args[1:])
        return super().__call__(*args, **kwargs)

    def build(self, input_shape=None) -> None:
        self.built = True

    def build_in_name_scope(self) -> None:
        """transformers v4's way to create the variables; they exist from construction here."""
        self.built = True

    # -- Keras serialization -------------------------------------------------------------------------------------
    def get_config(self) -> dict:
        return {"config": self.config.to_dict(), "name": self.name, "trainable": self.trainable,
                "dtype": keras.saving.serialize_keras_object(self.dtype_policy), "frozen": self._frozen_layers()}

    def _frozen_layers(self) -> list[str]:
        """Paths (``bert``, ``bert/embeddings``) of the sublayers set ``trainable = False``."""
        frozen: list[str] = []

        def walk(layer, prefix: str) -> None:
            for sub in sublayers(layer):
                if not sub.trainable:
                    frozen.append(prefix + sub.name)
                else:
                    walk(sub, prefix + sub.name + "/")

        walk(self, "")
        return frozen

    def _freeze(self, paths: list[str]) -> None:
        for path in paths:
            layer = self
            for name in path.split("/"):
                layer = next(sub for sub in sublayers(layer) if sub.name == name)
            layer.trainable = False

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """From ``get_config()``'s dict, a ``BertConfig`` or a plain config dict (as transformers v4 accepted)."""
        if isinstance(config, BertConfig):
            return cls(config)
        config = dict(config)
        if "config" in config and isinstance(config["config"], Mapping):
            bert, frozen = config.pop("config"), config.pop("frozen", [])
            if isinstance(config.get("dtype"), Mapping):
                config["dtype"] = keras.saving.deserialize_keras_object(config["dtype"])
            model = cls(BertConfig.from_dict(dict(bert)), **config)
            model._freeze(frozen)
            return model
        return cls(BertConfig.from_dict(config))

    @property
    def input_signature(self) -> dict[str, tf.TensorSpec]:
        """transformers v4's: int32 ``[batch, seq]`` specs of input_ids, attention_mask, token_type_ids."""
        shape = (None, None, None) if HEADS_BY_NAME[self.head].choices_axis else (None, None)
        return {name: tf.TensorSpec(shape, tf.int32, name=name)
                for name in ("input_ids", "attention_mask", "token_type_ids")}

    # -- Keras training and prediction ---------------------------------------------------------------------------
    def _labels_into_inputs(self, data):
        data = super()._labels_into_inputs(data)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if y is None and isinstance(x, Mapping):
            present = [k for k in self.label_names if x.get(k) is not None]
            if len(present) == 1:  # what compiled metrics compare with the main output (v4 did the same)
                y = x[present[0]]
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    @staticmethod
    def _match_outputs(y, y_pred):
        """transformers v4's rules pairing targets with outputs for a compiled loss: a dict of targets by output
        name (one key: that output, or the first non-loss one), a list / tuple by order, else the first output."""
        fields = [(k, v) for k, v in y_pred.items() if k != "loss"]
        if isinstance(y, Mapping) and len(y) == 1:
            (key, target), = y.items()
            return target, (y_pred[key] if key in y_pred.keys() else fields[0][1])
        if isinstance(y, Mapping):
            return dict(y), {k: v for k, v in fields if k in y}
        if isinstance(y, (list, tuple)):
            return tuple(y), tuple(v for _, v in fields[:len(y)])
        return y, fields[0][1]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if isinstance(y_pred, O.ModelOutput) and self._user_loss() and y is not None:
            y, y_pred = self._match_outputs(y, y_pred)
            return keras.Model.compute_loss(self, x, y, y_pred, sample_weight, training=training)
        return super().compute_loss(x, y, y_pred, sample_weight, training=training)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if isinstance(y_pred, O.ModelOutput) and y is not None:
            y, y_pred = self._match_outputs(y, y_pred)
        return keras.Model.compute_metrics(self, x, y, y_pred, sample_weight)

    def fit(self, x=None, *args, **kwargs):
        return super().fit(_plain_dict(x), *args, **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        return super().evaluate(_plain_dict(x), *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        return super().predict(_plain_dict(x), *args, **kwargs)

    def predict_step(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        x = normalize_first_argument(x)
        if isinstance(x, Mapping):  # labels would add a scalar loss, which cannot be concatenated over batches
            x = {k: v for k, v in x.items() if k not in self.label_names}
        return self(x, training=False)
