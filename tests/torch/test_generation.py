"""BertLMHeadModel.generate: greedy and sampling on the key/value cache, lengths, eos and padding."""

import pytest
import torch

import bert_torch
from bert_core.generation import GenerationConfig
from bert_torch.generation import warp_logits
from tests.torch.helpers import tiny_config, torch_inputs


def _decoder(**overrides):
    overrides.setdefault("is_decoder", True)
    return bert_torch.BertLMHeadModel(tiny_config(**overrides), seed=0).eval()


def _prompt(batch=2, seq=5):
    return torch_inputs(batch=batch, seq=seq)["input_ids"]


@pytest.mark.parametrize("pos", ["absolute", "relative_key_query"])
def test_greedy_with_cache_equals_recomputing(pos):
    model = _decoder(position_embedding_type=pos)
    ids = _prompt()
    cached = model.generate(ids, max_new_tokens=8)
    full = model.generate(ids, max_new_tokens=8, use_cache=False)
    assert cached.shape == (2, 13) and torch.equal(cached[:, :5], ids)
    assert torch.equal(cached, full)
    # and each token is the argmax of a full forward pass over what precedes it
    with torch.no_grad():
        logits = model(cached[:, :-1]).logits
    assert torch.equal(logits[:, 4:].argmax(-1), cached[:, 5:])


def test_sampling_is_reproducible_under_manual_seed():
    model = _decoder()
    ids = _prompt()
    runs = []
    for _ in range(2):
        torch.manual_seed(123)
        runs.append(model.generate(ids, do_sample=True, max_new_tokens=10, top_k=20, top_p=0.9, temperature=1.5))
    assert torch.equal(runs[0], runs[1])
    torch.manual_seed(124)
    assert not torch.equal(model.generate(ids, do_sample=True, max_new_tokens=10, top_k=0), runs[0])
    torch.manual_seed(0)
    greedy_like = model.generate(ids, do_sample=True, top_k=1, max_new_tokens=6)
    assert torch.equal(greedy_like, model.generate(ids, max_new_tokens=6))


def test_eos_stops_a_row_and_pads_it():
    model = _decoder()
    ids = _prompt()
    free = model.generate(ids, max_new_tokens=8)
    eos = int(free[0, 7])  # row 0 emits it at its third new token
    out = model.generate(ids, max_new_tokens=8, eos_token_id=eos, pad_token_id=98)
    row0 = out[0, 5:].tolist()
    stop = row0.index(eos)
    assert all(t == 98 for t in row0[stop + 1:])
    if eos not in free[1, 5:].tolist():  # the other row runs to the length limit
        assert out.shape[1] == 13 and torch.equal(out[1], free[1])
    both = model.generate(ids, max_new_tokens=8, eos_token_id=[int(free[0, 5]), int(free[1, 5])])
    assert both.shape == (2, 6)  # every row finished at its first token: the loop stops


def test_lengths_and_attention_mask():
    model = _decoder()
    ids = _prompt()
    assert model.generate(ids, max_length=9).shape == (2, 9)
    assert model.generate(ids, max_length=9, max_new_tokens=2).shape == (2, 7)  # max_new_tokens wins
    assert model.generate(ids).shape == (2, 20)  # transformers' default max_length
    with pytest.raises(ValueError, match="nothing to generate"):
        model.generate(ids, max_length=5)
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model.generate(ids, max_new_tokens=100)
    with pytest.raises(TypeError, match="num_beams"):
        model.generate(ids, num_beams=4)
    # a masked prompt token changes nothing once masked, whatever its value (nonzero = keep)
    mask = torch.tensor([[1, 1, 1, 1, 1], [0, 1, 1, 1, 1]])
    a = model.generate(ids, attention_mask=mask, max_new_tokens=4)
    other = ids.clone()
    other[1, 0] = (ids[1, 0] + 7) % 99
    b = model.generate(other, attention_mask=mask * 2, max_new_tokens=4)
    assert torch.equal(a[:, 5:], b[:, 5:])
    with torch.no_grad():  # the mask reaches every step: first new token = masked forward's argmax
        first = model(ids, attention_mask=mask).logits[:, -1].argmax(-1)
    assert torch.equal(a[:, 5], first)


def test_generate_from_bos_and_with_cross_attention():
    model = _decoder(bos_token_id=2)
    assert model.generate(max_new_tokens=3).tolist()[0][0] == 2
    cross = _decoder(add_cross_attention=True)
    states = torch.randn(2, 4, 32, generator=torch.Generator().manual_seed(0))
    ids = _prompt()
    out = cross.generate(ids, encoder_hidden_states=states, max_new_tokens=4)
    full = cross.generate(ids, encoder_hidden_states=states, max_new_tokens=4, use_cache=False)
    assert torch.equal(out, full)


def test_warpers_follow_transformers():
    scores = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    top_k = warp_logits(scores, GenerationConfig(top_k=2))
    assert torch.isinf(top_k[0, 2:]).all() and torch.isfinite(top_k[0, :2]).all()
    top_p = warp_logits(scores, GenerationConfig(top_k=0, top_p=0.7))  # 0.5 + 0.3 reach 0.7
    assert torch.isfinite(top_p[0, :2]).all() and torch.isinf(top_p[0, 2:]).all()
    hot = warp_logits(scores, GenerationConfig(top_k=0, temperature=2.0))
    torch.testing.assert_close(hot, scores / 2)


def test_generation_config_validation():
    assert GenerationConfig().max_length == 20 and GenerationConfig().top_k == 50
    for bad in ({"temperature": 0}, {"top_p": 0.0}, {"top_k": -1}, {"max_new_tokens": 0}, {"eos_token_id": "x"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            GenerationConfig(**bad)
    config = GenerationConfig.from_model_config(tiny_config(eos_token_id=3, pad_token_id=None), max_new_tokens=2)
    assert config.eos_ids == (3,) and config.fill_id == 3 and config.max_new_tokens == 2
    assert GenerationConfig(eos_token_id=[4, 5]).eos_ids == (4, 5)


def test_model_generation_config_and_inputs_alias():
    model = _decoder(eos_token_id=5)
    assert model.generation_config.eos_token_id == 5 and model.generation_config.max_length == 20
    model.generation_config.max_new_tokens = 3
    ids = _prompt()
    out = model.generate(inputs=ids)
    assert out.shape[1] <= 8 and torch.equal(out, model.generate(ids, max_new_tokens=3))
    model.generation_config = GenerationConfig(max_new_tokens=2)
    assert model.generate(ids).shape == (2, 7)
    with pytest.raises(TypeError, match="GenerationConfig"):
        model.generation_config = {"max_new_tokens": 2}

