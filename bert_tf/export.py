"""SavedModel export: strings in, head outputs out (tokenizer + model in one graph), and TF Serving layouts.

``export_saved_model(model, tokenizer, path)`` writes a SavedModel whose ``serving_default`` signature takes a
batch of raw strings (and ``text_pair`` with ``pair=True``) and returns the head's outputs (``logits``, ...).
Load it anywhere with ``import tensorflow_text`` (registers the tokenizer ops) and ``tf.saved_model.load`` --
bertzoo itself is not needed. ``export_serving_model(model, export_dir, version)`` writes the model alone under
``<export_dir>/<version>/`` with a ``serving_default`` signature on int32 ``input_ids`` / ``attention_mask`` /
``token_type_ids``, the layout TF Serving watches.
"""

from __future__ import annotations

import os

import tensorflow as tf

from bert_core.files import atomic_folder
from bert_core.heads import HEADS_BY_NAME


def _tensors(output) -> dict[str, tf.Tensor]:
    """The head's output fields that are single tensors (loss, caches and tuples left out)."""
    return {k: v for k, v in output.items() if isinstance(v, tf.Tensor) and k != "loss"}


class _Exported(tf.Module):
    def __init__(self, model, tokenizer=None) -> None:
        super().__init__(name="bertzoo_export")
        self.model = model
        self.tokenizer = tokenizer


def _save(module: tf.Module, path: str, signatures: dict) -> str:
    path = os.fspath(path)
    with atomic_folder(path) as tmp:
        tf.saved_model.save(module, tmp, signatures=signatures)
    return path


def export_saved_model(model, tokenizer, path: str | os.PathLike, *, pair: bool = False,
                       max_length: int | None = None) -> str:
    """Write a SavedModel at ``path`` that maps raw strings to ``model``'s outputs; returns ``path``.

    ``tokenizer`` is a ``TFBertTokenizer``; ``max_length`` (default: the tokenizer's, else the model's
    ``max_position_embeddings``) truncates long inputs so they always fit the model.
    """
    limit = max_length or tokenizer.max_length or model.config.max_position_embeddings
    module = _Exported(model, tokenizer)
    multiple_choice = HEADS_BY_NAME[model.head].choices_axis

    def run(text, text_pair=None):
        enc = tokenizer(text, text_pair, max_length=limit, truncation=tokenizer.truncation or True)
        if multiple_choice:  # one question per row, choices along the batch: [1, choices, seq]
            enc = {k: v[None] for k, v in enc.items()}
        return _tensors(model(enc, training=False))

    if pair:
        spec = (tf.TensorSpec([None], tf.string, name="text"), tf.TensorSpec([None], tf.string, name="text_pair"))
        serve = tf.function(lambda text, text_pair: run(text, text_pair), input_signature=spec)
    else:
        serve = tf.function(lambda text: run(text), input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    module.serve = serve
    module.tokenize = tf.function(
        lambda text: tokenizer(text, max_length=limit, truncation=tokenizer.truncation or True),
        input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    return _save(module, path, {"serving_default": serve})


def export_serving_model(model, export_dir: str | os.PathLike, version: int = 1) -> str:
    """Write the model alone as ``<export_dir>/<version>/`` (TF Serving's layout); returns that folder."""
    rank = 3 if HEADS_BY_NAME[model.head].choices_axis else 2
    shape = [None] * rank
    spec = {name: tf.TensorSpec(shape, tf.int32, name=name)
            for name in ("input_ids", "attention_mask", "token_type_ids")}

    def serve(input_ids, attention_mask, token_type_ids):
        return _tensors(model({"input_ids": input_ids, "attention_mask": attention_mask,
                               "token_type_ids": token_type_ids}, training=False))

    module = _Exported(model)
    module.serve = tf.function(serve, input_signature=[spec["input_ids"], spec["attention_mask"],
                                                       spec["token_type_ids"]])
    return _save(module, os.path.join(os.fspath(export_dir), str(int(version))), {"serving_default": module.serve})
