"""Sparse MLM in bert_flax's trainer (``sparse_mlm``): ``PretrainingLoss`` with the MLM head only at labelled
positions gives the loss and gradients of the dense head (the model's own loss, with dropout), for unpacked and
packed rows, and the jitted step compiles one program per ``prediction_slots`` bucket, not one per batch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bert_core import BertConfig
from bert_core.data import batches, packed_batches
from bert_core.heads import IGNORE_INDEX
from bert_core.training import TrainingConfig
from bert_flax import FlaxBertForPreTraining, train_state
from bert_flax.mesh import build_mesh, global_batch
from bert_flax.train_state import (build_optimizer, init_state, make_train_step, prediction_slots,
                                   pretraining_loss, state_shardings)
from tests.conftest import tiny_config_dict
from tests.core.test_packing import random_examples

SEQ = 24


def _model(dropout: float = 0.0, **options) -> FlaxBertForPreTraining:
    config = BertConfig(**tiny_config_dict(hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout))
    return FlaxBertForPreTraining(config, seed=0, **options)


def _grad(loss, params):
    return jax.jit(jax.value_and_grad(loss))(params)


def _assert_close(got, want):
    got_loss, got_grads = got
    want_loss, want_grads = want
    np.testing.assert_allclose(float(got_loss), float(want_loss), rtol=1e-5, atol=1e-5)
    flat_got = dict(jax.tree_util.tree_leaves_with_path(got_grads))
    for path, g in jax.tree_util.tree_leaves_with_path(want_grads):
        np.testing.assert_allclose(np.asarray(flat_got[path]), np.asarray(g), atol=1e-5, rtol=1e-4,
                                   err_msg=jax.tree_util.keystr(path))


def test_sparse_equals_the_model_loss_and_gradients_with_dropout():
    examples = random_examples(n=6, seq=SEQ)
    batch = {k: jnp.asarray(v) for k, v in next(batches(examples, len(examples))).items()}
    slots = prediction_slots(batch["labels"])
    assert slots < SEQ  # the head really runs on fewer positions
    model, rng = _model(dropout=0.1), jax.random.PRNGKey(3)
    want = _grad(lambda p: model(**batch, params=p, train=True, dropout_rng=rng).loss, model.params)
    for s in (slots, None):  # the bucket, the dense head
        _assert_close(_grad(lambda p: pretraining_loss(model, p, batch, rng, slots=s), model.params), want)
    no_dropout = jax.jit(lambda p: pretraining_loss(model, p, batch, rng, slots=slots, train=False))
    assert abs(float(no_dropout(model.params)) - float(want[0])) > 1e-4  # dropout was on, and the same masks


@pytest.mark.parametrize("scan_layers", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_sparse_packed_rows_equal_the_unpacked_model_loss(scan_layers):
    examples = random_examples(n=10, seq=SEQ)
    unpacked = {k: jnp.asarray(v) for k, v in next(batches(examples, len(examples))).items()}
    packed = {k: jnp.asarray(v) for k, v in next(packed_batches(examples, 100, SEQ, drop_remainder=False)).items()}
    slots = prediction_slots(packed["labels"])
    assert packed["input_ids"].shape[0] < len(examples) and slots < SEQ
    model = _model(scan_layers=scan_layers)
    want = _grad(lambda p: model(**unpacked, params=p).loss, model.params)
    _assert_close(_grad(lambda p: pretraining_loss(model, p, packed, train=False, slots=slots), model.params), want)


def test_prediction_slots_are_a_few_buckets_that_hold_every_label():
    seq = 512
    values = set()
    for count in range(seq + 1):
        labels = np.full((3, seq), IGNORE_INDEX)
        labels[1, :count] = 7
        slots = prediction_slots(labels)
        assert count <= slots <= max(8, count * 1.25), count
        values.add(slots)
    assert len(values) <= 4 * int(np.log2(seq // 8)) + 1  # 4 per doubling above 8
    assert prediction_slots(np.full((2, 4), 5)) == 4  # never more than the sequence


def _labels_with(max_count: int, rows: int, rng) -> np.ndarray:
    labels = np.full((rows, SEQ), IGNORE_INDEX, np.int32)
    for r in range(rows):
        n = max_count if r == 0 else int(rng.integers(0, max_count + 1))
        labels[r, rng.choice(np.arange(1, SEQ), n, replace=False)] = rng.integers(5, 99, n)
    return labels


def test_the_step_compiles_once_per_slots_bucket(monkeypatch):
    traces = []
    real = train_state.pretraining_loss
    monkeypatch.setattr(train_state, "pretraining_loss", lambda *a, **k: (traces.append(k["slots"]), real(*a, **k))[1])
    model, rng = _model(), np.random.default_rng(0)
    config = TrainingConfig(total_steps=10, batch_size=4, max_seq_length=SEQ, learning_rate=1e-3)
    mesh = build_mesh(None, devices=jax.devices()[:1])
    tx = build_optimizer(model.params, config)
    shardings = state_shardings(model, tx, mesh)
    state = init_state(model, tx, shardings)
    counts = [3, 9, 7, 10, 2]  # buckets 8, 10, 8, 10, 8
    step_fn = None
    for count in counts:
        data = next(batches(random_examples(n=4, seq=SEQ, seed=count), 4))
        data["labels"] = _labels_with(count, 4, rng)
        local = {k: np.asarray(v)[None] for k, v in data.items()}
        if step_fn is None:
            step_fn = make_train_step(model, tx, config, shardings, mesh, {k: v.ndim for k, v in local.items()})
        params, opt_state, loss, _ = step_fn(state["params"], state["opt_state"], global_batch(local, mesh),
                                             jax.random.PRNGKey(0))
        state = {"params": params, "opt_state": opt_state}
        assert np.isfinite(float(loss))
    assert traces == [8, 10]  # one trace (one compilation) per bucket, in order of first use
