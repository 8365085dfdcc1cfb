"""Packed sequences (block-diagonal attention, restarting positions) equal the padded batch on real tokens."""

import numpy as np
import pytest

import bert_flax
from bert_flax.packing import pack, packed_forward, plan
from tests.flax.helpers import max_diff, tiny_config


def _sequences(lengths, seed=0, vocab=99):
    rng = np.random.default_rng(seed)
    ids = [rng.integers(1, vocab, size=n).tolist() for n in lengths]
    types = [[0] * (n // 2) + [1] * (n - n // 2) for n in lengths]
    return ids, types


def _padded(model, ids, types):
    width = max(len(s) for s in ids)
    batch = {k: np.zeros((len(ids), width), np.int32) for k in ("input_ids", "token_type_ids", "attention_mask")}
    for j, (s, t) in enumerate(zip(ids, types)):
        batch["input_ids"][j, :len(s)], batch["token_type_ids"][j, :len(s)] = s, t
        batch["attention_mask"][j, :len(s)] = 1
    return model(**batch)


def test_plan_packs_the_spread_batch_without_padding():
    rows, length, members = plan([16, 32, 48, 64, 80, 96, 112, 128])
    assert (rows, length) == (4, 144) and sorted(i for row in members for i in row) == list(range(8))


def test_plan_reuses_a_compiled_shape_that_costs_little_more():
    assert plan([16, 32, 48, 64, 80, 96, 112, 128], known={(3, 192)})[:2] == (3, 192)
    assert plan([16, 32, 48, 64, 80, 96, 112, 128], known={(8, 128)})[:2] == (4, 144)


def test_pack_layout_restarts_positions_per_segment():
    packed = pack([[5, 6, 7], [8, 9]], [[0, 0, 1], [1, 1]], row_lengths=(8,))
    assert packed.input_ids.shape == (1, 8)
    assert packed.position_ids[0].tolist() == [0, 1, 2, 0, 1, 0, 0, 0]
    assert packed.segment_ids[0].tolist() == [1, 1, 1, 2, 2, 0, 0, 0]
    assert packed.token_type_ids[0].tolist() == [0, 0, 1, 1, 1, 0, 0, 0]
    assert [p.tolist() for p in packed.unpack(packed.input_ids)] == [[5, 6, 7], [8, 9]]


def test_packed_base_model_equals_padded_batch():
    model = bert_flax.FlaxBertModel(tiny_config(), seed=3)
    ids, types = _sequences([3, 17, 9, 40, 1, 26, 12])
    out = _padded(model, ids, types)
    packed = packed_forward(model, ids, types, row_lengths=(32, 48, 64))
    for j, (s, res) in enumerate(zip(ids, packed)):
        assert res["last_hidden_state"].shape == (len(s), 32)
        assert max_diff(res["last_hidden_state"], out.last_hidden_state[j, :len(s)]) <= 1e-5
        assert max_diff(res["pooler_output"], out.pooler_output[j]) <= 1e-5


def test_packed_token_head_equals_padded_batch():
    model = bert_flax.FlaxBertForTokenClassification(tiny_config(), seed=4)
    ids, types = _sequences([5, 21, 8, 13], seed=1)
    out = _padded(model, ids, types)
    for j, (s, res) in enumerate(zip(ids, packed_forward(model, ids, types))):
        assert max_diff(res["logits"], out.logits[j, :len(s)]) <= 1e-5


def test_bad_input_is_named():
    model = bert_flax.FlaxBertForSequenceClassification(tiny_config())
    with pytest.raises(ValueError, match="pooled per row"):
        packed_forward(model, [[1, 2]])
    with pytest.raises(ValueError, match="empty"):
        pack([[1], []])
    with pytest.raises(ValueError, match="token_type_ids"):
        pack([[1, 2]], [[0]])
    with pytest.raises(ValueError, match="longest row length"):
        pack([[1] * 40], row_lengths=(32,))
