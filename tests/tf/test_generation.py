"""TFBertLMHeadModel.generate: greedy equals a full-recompute greedy loop, sampling is seeded, stopping rules."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import bert_tf
from bert_tf.generation import top_k_top_p_filter
from tests.tf.helpers import tiny_config


@pytest.fixture(scope="module")
def model():
    import keras

    keras.utils.set_random_seed(3)
    return bert_tf.TFBertLMHeadModel(tiny_config(is_decoder=True, initializer_range=0.5))


def _greedy_reference(model, ids, steps):
    ids = np.asarray(ids)
    for _ in range(steps):
        logits = model(ids, use_cache=False).logits[:, -1].numpy()
        ids = np.concatenate([ids, logits.argmax(-1)[:, None]], axis=1)
    return ids


def test_greedy_with_cache_equals_full_recompute(model):
    prompt = np.array([[5, 17, 42], [8, 9, 10]], np.int32)
    out = model.generate(prompt, max_new_tokens=6)
    assert out.shape == (2, 9) and out.dtype == tf.int32
    np.testing.assert_array_equal(out.numpy(), _greedy_reference(model, prompt, 6))
    np.testing.assert_array_equal(model.generate(input_ids=prompt, max_length=9, use_cache=False).numpy(),
                                  out.numpy())
    assert model.generate(prompt).shape == (2, 20)  # transformers' default max_length


def test_eos_stops_and_pads(model):
    prompt = np.array([[5, 17, 42], [8, 9, 10]], np.int32)
    free = model.generate(prompt, max_new_tokens=6).numpy()
    eos = int(free[0, 4])  # a token row 0 generates second (or first)
    out = model.generate(prompt, max_new_tokens=6, eos_token_id=eos, pad_token_id=0).numpy()
    for row in range(2):
        generated = list(free[row, 3:])
        stop = generated.index(eos) + 1 if eos in generated else len(generated)
        expected = generated[:stop] + [0] * (len(generated) - stop)
        assert list(out[row, 3:3 + len(expected)]) == expected[:out.shape[1] - 3]
    single = model.generate(prompt[:1], max_new_tokens=6, eos_token_id=eos).numpy()
    assert single.shape == (1, 3 + list(free[0, 3:]).index(eos) + 1)  # all finished: stops early


def test_sampling_is_seeded_and_respects_top_k(model):
    prompt = np.array([[5, 17, 42]], np.int32)
    a = model.generate(prompt, do_sample=True, max_new_tokens=8, seed=7, temperature=1.5, top_k=5).numpy()
    b = model.generate(prompt, do_sample=True, max_new_tokens=8, seed=7, temperature=1.5, top_k=5).numpy()
    np.testing.assert_array_equal(a, b)
    greedy = model.generate(prompt, max_new_tokens=8).numpy()
    top1 = model.generate(prompt, do_sample=True, max_new_tokens=8, seed=1, top_k=1).numpy()
    np.testing.assert_array_equal(top1, greedy)  # top_k=1 sampling is greedy
    tiny_p = model.generate(prompt, do_sample=True, max_new_tokens=8, seed=2, top_p=1e-6).numpy()
    np.testing.assert_array_equal(tiny_p, greedy)  # the most likely token alone passes a tiny top_p
    with pytest.raises(ValueError, match="temperature"):
        model.generate(prompt, do_sample=True, temperature=0.0)
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model.generate(prompt, max_length=1000)


def test_top_k_top_p_filter():
    logits = tf.constant([[1.0, 4.0, 3.0, 2.0]])
    np.testing.assert_array_equal(np.isfinite(top_k_top_p_filter(logits, top_k=2).numpy()),
                                  [[False, True, True, False]])
    probs = tf.nn.softmax(logits).numpy()[0]  # sorted: 4 -> .64, 3 -> .24, ...
    kept = np.isfinite(top_k_top_p_filter(logits, top_p=float(probs[1] + 0.01)).numpy())
    np.testing.assert_array_equal(kept, [[False, True, True, False]])
