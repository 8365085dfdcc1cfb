"""Keras training: compile/fit on tf.data with labels inside the input dict, and mixed precision policies."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import bert_tf
from tests.conftest import random_inputs
from tests.tf.helpers import tiny_config


def _dataset(batch: int = 4, n: int = 16):
    inputs = random_inputs(batch=n, seq=8)
    inputs["attention_mask"][-1] = 1
    inputs["labels"] = (inputs["input_ids"][:, 0] % 3).astype(np.int64)
    return tf.data.Dataset.from_tensor_slices(inputs).batch(batch)


def test_fit_with_labels_in_inputs_lowers_the_loss():
    keras.utils.set_random_seed(0)
    model = bert_tf.TFBertForSequenceClassification(tiny_config())
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    data = _dataset()
    history = model.fit(data, epochs=3, verbose=0)
    losses = history.history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    assert np.isfinite(model.evaluate(data, verbose=0))


def test_fit_with_separate_targets_and_keras_loss():
    """(x, y) pairs with a compiled Keras loss train on the head's main output (logits), XLA-compiled."""
    model = bert_tf.TFBertForTokenClassification(tiny_config())
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=True)
    inputs = random_inputs(batch=4, seq=6)
    targets = inputs["input_ids"] % 3
    history = model.fit(inputs, targets, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_missing_labels_error():
    model = bert_tf.TFBertForMaskedLM(tiny_config())
    model.compile(optimizer="adam")
    data = tf.data.Dataset.from_tensor_slices(random_inputs(batch=2, seq=5)).batch(2)
    with pytest.raises(ValueError, match="no labels"):
        model.fit(data, epochs=1, verbose=0)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(policy):
    inputs = random_inputs(batch=2, seq=6)
    reference = bert_tf.TFBertForMaskedLM(tiny_config())
    expected = reference(inputs).logits.numpy()
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        model = bert_tf.TFBertForMaskedLM(tiny_config())
        model.load_schema_state_dict(reference.schema_state_dict())
        assert model.bert.embeddings.word_embeddings.weight.dtype == "float32"
        out = model(inputs, labels=inputs["input_ids"])
        assert out.logits.dtype == policy.split("_")[1]
        assert out.loss.dtype == tf.float32
        np.testing.assert_allclose(out.logits.numpy().astype(np.float32), expected, atol=0.1)
        if policy == "mixed_float16":  # Keras wraps the optimizer in a LossScaleOptimizer
            model.compile(optimizer="adam")
            data = tf.data.Dataset.from_tensor_slices({**inputs, "labels": inputs["input_ids"]}).batch(2)
            assert np.isfinite(model.fit(data, epochs=1, verbose=0).history["loss"]).all()
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
