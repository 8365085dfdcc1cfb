"""``bert_flax.dropout.Dropout``: the masks, values and gradients of ``flax.linen.Dropout`` for the same rng."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bert_flax.dropout import Dropout


@pytest.mark.parametrize("rate", [0.1, 0.5, 1.0])
def test_same_as_flax_dropout(rate):
    x = jax.random.normal(jax.random.key(1), (4, 16, 32))
    rngs = {"dropout": jax.random.key(7)}

    def loss(module, x):
        y = module.apply({}, x, deterministic=False, rngs=rngs)
        return jnp.sum(y * jnp.arange(y.size, dtype=y.dtype).reshape(y.shape)), y

    (ours, y_ours), g_ours = jax.value_and_grad(lambda x: loss(Dropout(rate), x), has_aux=True)(x)
    (ref, y_ref), g_ref = jax.value_and_grad(lambda x: loss(nn.Dropout(rate), x), has_aux=True)(x)
    np.testing.assert_array_equal(np.asarray(y_ours) == 0, np.asarray(y_ref) == 0)  # the same mask
    # values and gradients to an ulp (under autodiff x / keep may be evaluated as x * (1 / keep) on one side)
    np.testing.assert_allclose(np.asarray(y_ours), np.asarray(y_ref), rtol=3e-7, atol=0)
    np.testing.assert_allclose(np.asarray(g_ours), np.asarray(g_ref), rtol=3e-7, atol=0)
    np.testing.assert_allclose(float(ours), float(ref), rtol=1e-6)
    if rate < 1.0:
        assert 0 < float(jnp.mean(y_ours == 0)) < 1  # some dropped, some kept


def test_deterministic_is_identity():
    x = jnp.ones((2, 3))
    assert Dropout(0.3).apply({}, x, deterministic=True) is x
