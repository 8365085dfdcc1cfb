"""``skip_padding``: token-wise layers on real tokens only; real tokens' outputs equal the padded computation's.
Also: activations of 16-bit inputs run in float32 (speed of mixed_bfloat16 on CPUs)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import bert_tf
from tests.tf.helpers import assert_close, tiny_config


def _batch(lengths, seq=12, vocab=99, left=False):
    rng = np.random.default_rng(0)
    ids = rng.integers(1, vocab, size=(len(lengths), seq)).astype(np.int32)
    mask = np.zeros((len(lengths), seq), np.int32)
    for row, n in enumerate(lengths):
        mask[row, seq - n:] = 1 if left else 0
        mask[row, :n] = 0 if left else 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": (rng.random(ids.shape) > 0.5).astype(np.int32)}


@pytest.mark.parametrize("position_embedding_type,left", [("absolute", False), ("relative_key_query", True)])
def test_real_tokens_match_the_padded_computation(position_embedding_type, left):
    model = bert_tf.TFBertForPreTraining(tiny_config(position_embedding_type=position_embedding_type))
    x = _batch([12, 3, 7, 1], left=left)
    padded = model(x, output_hidden_states=True)
    model.skip_padding = True
    assert model.bert.skip_padding
    packed = tf.function(lambda x: model(x, output_hidden_states=True, output_attentions=True))(x)
    real = x["attention_mask"].astype(bool)
    for name in ("prediction_logits",):
        assert packed[name].shape == padded[name].shape
        assert_close(np.asarray(packed[name])[real], np.asarray(padded[name])[real], name=name)
    for i, (a, b) in enumerate(zip(packed.hidden_states, padded.hidden_states)):
        assert a.shape == b.shape
        assert_close(np.asarray(a)[real], np.asarray(b)[real], name=f"hidden_states[{i}]")
        assert not np.asarray(a)[~real].any()  # padding positions are zeros
    if not left:  # the pooler reads the first token, real with right padding
        assert_close(packed.seq_relationship_logits, padded.seq_relationship_logits)


def test_gradients_match_on_a_padded_batch():
    model = bert_tf.TFBertForMaskedLM(tiny_config())
    x = _batch([12, 5, 9])
    labels = np.where(x["attention_mask"] > 0, x["input_ids"], -100)
    grads = []
    for skip in (False, True):
        model.skip_padding = skip
        with tf.GradientTape() as tape:
            loss = model(dict(x, labels=labels)).loss
        grads.append(tape.gradient(loss, model.trainable_variables))
    for a, b, v in zip(*grads, model.trainable_variables):
        assert_close(tf.convert_to_tensor(a), tf.convert_to_tensor(b), name=v.path)


def test_activations_run_in_float32_for_bfloat16_inputs():
    from bert_tf.layers import activation

    x = tf.constant(np.linspace(-4, 4, 33), tf.float32)
    for name in ("gelu", "gelu_new", "relu"):
        out = activation(name)(tf.cast(x, tf.bfloat16))
        assert out.dtype == tf.bfloat16
        want = tf.cast(activation(name)(tf.cast(tf.cast(x, tf.bfloat16), tf.float32)), tf.bfloat16)
        np.testing.assert_array_equal(np.asarray(tf.cast(out, tf.float32)), np.asarray(tf.cast(want, tf.float32)))
