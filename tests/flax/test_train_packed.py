"""Packed pre-training in bert_flax: ``pretraining_loss`` (the MLM head on every position) gives the loss and
gradients of the same examples unpacked (the model's own loss), and ``train`` runs on packed batches
(``bert_core.data.packing``)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bert_core import BertConfig
from bert_core.data import batches, packed_batches
from bert_core.training import TrainingConfig
from bert_flax import FlaxBertForPreTraining
from bert_flax.train import train
from bert_flax.train_state import pretraining_loss
from tests.conftest import tiny_config_dict
from tests.core.test_packing import random_examples


@pytest.mark.parametrize("scan_layers", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_packed_loss_and_grads_equal_unpacked(scan_layers):
    examples = random_examples(n=10, seq=24)
    unpacked = {k: jnp.asarray(v) for k, v in next(batches(examples, len(examples))).items()}
    packed = {k: jnp.asarray(v) for k, v in next(packed_batches(examples, 100, 24, drop_remainder=False)).items()}
    assert packed["input_ids"].shape[0] < len(examples)
    model = FlaxBertForPreTraining(BertConfig(**tiny_config_dict()), seed=0, scan_layers=scan_layers)

    def unpacked_loss(params):
        return model(**unpacked, params=params).loss

    def packed_loss(params):
        return pretraining_loss(model, params, packed, train=False)

    want, want_grads = jax.jit(jax.value_and_grad(unpacked_loss))(model.params)  # jitted: 3 s, op by op 15 s
    got, got_grads = jax.jit(jax.value_and_grad(packed_loss))(model.params)
    np.testing.assert_allclose(float(got), float(want), rtol=1e-5)
    flat_want = jax.tree_util.tree_leaves_with_path(want_grads)
    flat_got = dict(jax.tree_util.tree_leaves_with_path(got_grads))
    for path, g in flat_want:
        np.testing.assert_allclose(np.asarray(flat_got[path]), np.asarray(g), atol=1e-5, rtol=1e-4,
                                   err_msg=jax.tree_util.keystr(path))


@pytest.mark.slow
def test_train_runs_on_packed_batches(tmp_path):
    examples = random_examples(n=60, seq=24, seed=1)
    config = TrainingConfig(total_steps=3, batch_size=4, max_seq_length=24, learning_rate=1e-3, log_every=1,
                            gradient_accumulation_steps=2, packing=True, output_dir=str(tmp_path))
    model = FlaxBertForPreTraining(BertConfig(**tiny_config_dict()), seed=0)
    result = train(model, packed_batches(examples, 4, 24), config, progress=False, save=False)
    assert result.steps == 3 and all(np.isfinite(result.losses))
