"""``bert_tf.kernels``: which units carry out a 16-bit policy's matmuls (measured, cached, switchable)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import bert_tf
from bert_tf import kernels
from bert_tf.embeddings import Float32UnitsDense
from tests.tf.helpers import tiny_config


@pytest.fixture(autouse=True)
def _restore_mode():
    yield
    kernels.set_low_precision_matmul("auto")
    keras.config.set_dtype_policy("float32")


def _build(policy: str, mode: str, weights=None):
    kernels.set_low_precision_matmul(mode)
    keras.config.set_dtype_policy(policy)
    try:
        model = bert_tf.TFBertForMaskedLM(tiny_config())
    finally:
        keras.config.set_dtype_policy("float32")
    if weights is not None:
        model.load_schema_state_dict(weights)
    return model


def _inputs():
    rng = np.random.default_rng(0)
    mask = np.ones((3, 10), np.int32)
    mask[1, 6:] = 0
    return {"input_ids": tf.constant(rng.integers(1, 99, (3, 10)), tf.int32), "attention_mask": tf.constant(mask)}


def _denses(model):
    return [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.Dense)]


def test_modes_pick_the_dense_class_and_keep_the_variables():
    reference = _build("float32", "auto")
    weights = reference.schema_state_dict()
    native, upcast = _build("mixed_bfloat16", "native", weights), _build("mixed_bfloat16", "float32", weights)
    assert not any(isinstance(d, Float32UnitsDense) for d in _denses(native))
    assert _denses(upcast) and all(isinstance(d, Float32UnitsDense) for d in _denses(upcast))
    assert not any(isinstance(d, Float32UnitsDense) for d in _denses(reference))  # float32 models: never
    names = lambda m: [v.path.split("/", 1)[1] for v in m.weights]  # noqa: E731  (below the model's own name)
    assert names(upcast) == names(native)  # same checkpoint names
    assert all(v.dtype == "float32" for v in upcast.weights)
    x = _inputs()
    want = reference(x).logits.numpy()
    real = x["attention_mask"].numpy().astype(bool)
    for model in (native, upcast):
        got = model(x).logits
        assert got.dtype == tf.bfloat16  # outputs stay in the policy's compute dtype
        diff = np.abs(tf.cast(got, tf.float32).numpy() - want)[real]
        assert diff.max() < 0.1, diff.max()
    # the float32 units read unrounded float32 weights: no further from float32 than native bf16 on real tokens
    diffs = [np.abs(tf.cast(m(x).logits, tf.float32).numpy() - want)[real].mean() for m in (native, upcast)]
    assert diffs[1] <= diffs[0] * 1.5, diffs


def test_float32_units_dense_rounds_like_the_policy():
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        layer = Float32UnitsDense(5)
        layer.build((None, 4))
    finally:
        keras.config.set_dtype_policy("float32")
    layer.kernel.assign(np.linspace(-1, 1, 20, dtype=np.float32).reshape(4, 5) / 3)
    layer.bias.assign(np.full(5, 0.1, np.float32))
    x = np.linspace(-2, 2, 8, dtype=np.float32).reshape(2, 4)
    out = layer(tf.constant(x))
    assert out.dtype == tf.bfloat16
    rounded_x = tf.cast(tf.cast(x, tf.bfloat16), tf.float32).numpy()
    want = tf.cast(tf.constant(rounded_x @ layer.kernel.numpy() + layer.bias.numpy()), tf.bfloat16)
    np.testing.assert_array_equal(tf.cast(out, tf.float32).numpy(), tf.cast(want, tf.float32).numpy())


def test_auto_measures_once_per_dtype_and_caches(monkeypatch):
    kernels.clear_dispatch_cache()
    calls = []
    real = kernels._measure
    monkeypatch.setattr(kernels, "_measure", lambda *a, **k: calls.append(a) or real(*a, tokens=16, reps=1))
    assert kernels.float32_units("float32") is False and not calls  # float32 compute: nothing to choose
    first = kernels.float32_units("bfloat16")
    assert kernels.float32_units("bfloat16") == first and len(calls) == 1
    (key, (choice, timings)), = kernels.dispatch_table().items()
    assert key[0] == "bfloat16" and choice == first and set(timings) == {"float32", "bfloat16"}
    assert choice == (timings["float32"] < timings["bfloat16"])
    kernels.set_low_precision_matmul("native")
    assert kernels.float32_units("bfloat16") is False
    kernels.set_low_precision_matmul("float32")
    assert kernels.float32_units("float16") is True and len(calls) == 1


def test_bad_mode_is_named():
    with pytest.raises(ValueError, match="must be one of"):
        kernels.set_low_precision_matmul("fp32")


def test_mlm_decoder_on_the_float32_units_reads_the_float32_table():
    """The tied decoder under mixed_bfloat16 on the float32 units: bf16 activations times the float32 word table
    (no 16-bit copy of the table), plus the bias, rounded once (the head called inside the model, as always)."""
    weights = _build("float32", "auto").schema_state_dict()
    model = _build("mixed_bfloat16", "float32", weights)
    head, table = model.mlm.predictions, model.bert.embeddings.word_embeddings.weight
    x = _inputs()
    got = tf.cast(model(x).logits, tf.float32).numpy()
    transformed = tf.cast(head.transform(model.bert(**x).last_hidden_state), tf.float32).numpy()
    want = transformed @ table.numpy().T + head.bias.numpy()
    rounded = tf.cast(tf.cast(want, tf.bfloat16), tf.float32).numpy()
    assert np.mean(got == rounded) > 0.95  # the rest: float32 sums in another order, across a bf16 boundary
    np.testing.assert_allclose(got, want, rtol=2 ** -7, atol=1e-3)
    bf16_table = tf.cast(tf.cast(table, tf.bfloat16), tf.float32).numpy()
    other = tf.cast(tf.cast(transformed @ bf16_table.T + head.bias.numpy(), tf.bfloat16), tf.float32).numpy()
    assert np.mean(got == other) < np.mean(got == rounded)  # a 16-bit table would show
