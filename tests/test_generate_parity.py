"""Greedy decoding gives the same tokens in PyTorch, TensorFlow and Flax, from one set of weights.

A causal LM with an eos id: rows that stop early are padded the same way in both frameworks.
"""

from __future__ import annotations

import numpy as np

from tests.conftest import require, tiny_config_dict

torch = require("torch")
bert_torch = require("bert_torch")
bert_flax = require("bert_flax")


def _twins(**overrides):
    from bert_core import BertConfig

    config = BertConfig(**tiny_config_dict(is_decoder=True, **overrides))
    pt = bert_torch.BertLMHeadModel(config, seed=0).eval()
    with torch.no_grad():  # sharper logits, so that near-ties cannot flip a token between frameworks
        pt.cls.predictions.decoder.weight.mul_(4.0)
    fx = bert_flax.FlaxBertForCausalLM(config)
    fx.load_schema_state_dict(pt.schema_state_dict())
    return pt, fx


def test_greedy_tokens_equal_torch_and_flax():
    pt, fx = _twins()
    prompt = np.array([[5, 17, 33, 2], [7, 8, 9, 10]], np.int64)
    with torch.no_grad():
        ours_pt = pt.generate(torch.from_numpy(prompt), max_new_tokens=8, do_sample=False).numpy()
    ours_fx = np.asarray(fx.generate(prompt.astype(np.int32), max_new_tokens=8).sequences)
    assert ours_pt.shape == ours_fx.shape == (2, 12)
    np.testing.assert_array_equal(ours_pt, ours_fx)


def test_eos_stops_a_row_the_same_way():
    pt, fx = _twins()
    prompt = np.array([[5, 17, 33, 2], [7, 8, 9, 10]], np.int64)
    with torch.no_grad():
        free = pt.generate(torch.from_numpy(prompt), max_new_tokens=6, do_sample=False).numpy()
    eos = int(free[0, 5])  # the token row 0 emits second: it now ends that row
    with torch.no_grad():
        ours_pt = pt.generate(torch.from_numpy(prompt), max_new_tokens=6, eos_token_id=eos, pad_token_id=0).numpy()
    ours_fx = np.asarray(fx.generate(prompt.astype(np.int32), max_new_tokens=6, eos_token_id=eos,
                                     pad_token_id=0).sequences)
    np.testing.assert_array_equal(ours_pt, ours_fx)
    assert (ours_pt[0, 6:] == 0).all()


def test_greedy_tokens_equal_tensorflow_too():
    bert_tf = require("bert_tf")
    pt, fx = _twins()
    tfm = bert_tf.TFBertLMHeadModel(pt.config)
    tfm.load_schema_state_dict(pt.schema_state_dict())
    prompt = np.array([[5, 17, 33, 2], [7, 8, 9, 10]], np.int64)
    with torch.no_grad():
        ours_pt = pt.generate(torch.from_numpy(prompt), max_new_tokens=8, do_sample=False).numpy()
    ours_tf = np.asarray(tfm.generate(prompt.astype(np.int32), max_new_tokens=8))
    np.testing.assert_array_equal(ours_pt, ours_tf)
