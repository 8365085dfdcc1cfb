"""``FlaxBertForCausalLM.generate``: greedy tokens equal a full-recompute greedy loop; eos / pad / max_length;
sampling with top-k / top-p / temperature; v4's generation hooks."""

import jax
import numpy as np
import pytest

import bert_flax
from bert_flax.generation import process_logits
from tests.flax.helpers import tiny_config


@pytest.fixture(scope="module")
def lm():
    return bert_flax.FlaxBertForCausalLM(tiny_config(is_decoder=True))


def _recompute_greedy(model, ids, steps, position_ids=None, mask=None):
    """Greedy decoding without a cache: the whole sequence through the model at every step."""
    seq = np.asarray(ids)
    for _ in range(steps):
        kw = {}
        if mask is not None:
            mask = np.pad(mask, ((0, 0), (0, seq.shape[1] - mask.shape[1])), constant_values=1)
            kw = dict(attention_mask=mask, position_ids=np.maximum(np.cumsum(mask, -1) - 1, 0))
        nxt = np.asarray(model(seq, **kw).logits[:, -1].argmax(-1))
        seq = np.concatenate([seq, nxt[:, None]], axis=1)
    return seq


def test_greedy_equals_full_recompute(lm):
    ids = np.array([[5, 17, 42, 8], [60, 3, 9, 71]])
    out = lm.generate(ids, max_new_tokens=6)
    assert isinstance(out, bert_flax.FlaxGreedySearchOutput)
    np.testing.assert_array_equal(np.asarray(out.sequences), _recompute_greedy(lm, ids, 6))


@pytest.mark.slow
def test_untraced_loop_equals_traced(lm):
    ids = np.array([[5, 17, 42, 8], [60, 3, 9, 71]])
    np.testing.assert_array_equal(np.asarray(lm.generate(ids, max_length=8, trace=False).sequences),
                                  np.asarray(lm.generate(ids, max_new_tokens=4).sequences))


def test_greedy_left_padded_prompt(lm):
    ids = np.array([[0, 0, 42, 8], [60, 3, 9, 71]])
    mask = np.array([[0, 0, 1, 1], [1, 1, 1, 1]])
    out = lm.generate(ids, attention_mask=mask, max_new_tokens=4)
    np.testing.assert_array_equal(np.asarray(out.sequences), _recompute_greedy(lm, ids, 4, mask=mask))


def test_eos_then_pad_and_length_errors(lm):
    ids = np.array([[5, 17, 42, 8], [60, 3, 9, 71]])
    free = np.asarray(lm.generate(ids, max_new_tokens=5).sequences)
    eos = int(free[0, 5])
    got = np.asarray(lm.generate(ids, max_new_tokens=5, eos_token_id=eos, pad_token_id=97).sequences)
    stop = 5 + int(np.argmax(free[0, 5:] == eos))
    np.testing.assert_array_equal(got[0, :stop + 1], free[0, :stop + 1])
    assert (got[0, stop + 1:] == 97).all()
    with pytest.raises(ValueError, match="no room"):
        lm.generate(ids, max_length=4)
    with pytest.raises(ValueError, match="max_position_embeddings"):
        lm.generate(ids, max_new_tokens=lm.config.max_position_embeddings)
    with pytest.raises(TypeError, match="integer ids"):
        lm.generate(ids.astype(np.float32), max_new_tokens=2)


@pytest.mark.slow
def test_sampling_is_keyed_and_top_k_1_is_greedy(lm):
    ids = np.array([[5, 17, 42, 8], [60, 3, 9, 71]])
    kw = dict(max_new_tokens=5, do_sample=True, top_k=20, top_p=0.9, temperature=0.8)
    a = lm.generate(ids, prng_key=jax.random.PRNGKey(1), **kw)
    b = lm.generate(ids, prng_key=jax.random.PRNGKey(1), **kw)
    assert isinstance(a, bert_flax.FlaxSampleOutput)
    np.testing.assert_array_equal(np.asarray(a.sequences), np.asarray(b.sequences))
    one = lm.generate(ids, max_new_tokens=5, do_sample=True, top_k=1, prng_key=jax.random.PRNGKey(2))
    np.testing.assert_array_equal(np.asarray(one.sequences), np.asarray(lm.generate(ids, max_new_tokens=5).sequences))


def test_process_logits_filters():
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]], np.float32))
    assert np.isfinite(np.asarray(process_logits(logits, top_k=2))).tolist() == [[True, True, False, False]]
    assert np.isfinite(np.asarray(process_logits(logits, top_p=0.7))).tolist() == [[True, True, False, False]]
    assert np.isfinite(np.asarray(process_logits(logits, top_p=0.1))).sum() == 1
    np.testing.assert_allclose(np.asarray(process_logits(logits, temperature=2.0)), logits / 2, rtol=1e-6)


def test_v4_generation_hooks(lm):
    ids = np.array([[0, 7, 8]])
    kw = lm.prepare_inputs_for_generation(ids, 6, attention_mask=np.array([[0, 2, 2]]))
    np.testing.assert_array_equal(np.asarray(kw["attention_mask"]), [[0, 1, 1, 1, 1, 1]])
    np.testing.assert_array_equal(np.asarray(kw["position_ids"]), [[0, 0, 1]])
    out = lm(ids, **kw)
    kw = lm.update_inputs_for_generation(out, kw)
    np.testing.assert_array_equal(np.asarray(kw["position_ids"]), [[2]])
    assert lm.can_generate() and not bert_flax.FlaxBertModel.can_generate()
