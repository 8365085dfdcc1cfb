"""Bad input raises a clear ValueError before any kernel runs."""

import pytest
import torch

import bert_torch
from tests.torch.helpers import tiny_config, torch_inputs


@pytest.fixture(scope="module")
def model():
    return bert_torch.BertModel(tiny_config(), seed=0).eval()


def test_token_id_out_of_range(model):
    inputs = torch_inputs()
    inputs["input_ids"][0, 3] = 99
    with pytest.raises(ValueError, match=r"input_ids contains 99, outside \[0, 99\) \(vocab_size=99\)"):
        model(**inputs)
    inputs["input_ids"][0, 3] = -1
    with pytest.raises(ValueError, match="input_ids contains -1"):
        model(**inputs)


def test_token_type_out_of_range(model):
    inputs = torch_inputs()
    inputs["token_type_ids"][1, 1] = 2
    with pytest.raises(ValueError, match="token_type_ids contains 2.*type_vocab_size=2"):
        model(**inputs)


def test_sequence_too_long(model):
    inputs = torch_inputs(seq=65)
    with pytest.raises(ValueError, match="Sequence length 65 exceeds max_position_embeddings=64"):
        model(**inputs)


def test_sequence_too_long_with_cache():
    dec = bert_torch.BertLMHeadModel(tiny_config(is_decoder=True), seed=0).eval()
    past = dec(torch_inputs(seq=60)["input_ids"]).past_key_values
    with pytest.raises(ValueError, match=r"65 \(60 cached \+ 5 new\)"):
        dec(torch_inputs(seq=5)["input_ids"], past_key_values=past)


def test_position_ids_out_of_range(model):
    with pytest.raises(ValueError, match="position_ids contains 64"):
        model(torch.tensor([[1, 2]]), position_ids=torch.tensor([[0, 64]]))


def test_mismatched_shapes(model):
    inputs = torch_inputs()
    with pytest.raises(ValueError, match=r"attention_mask has shape \(3, 10\)"):
        model(inputs["input_ids"], attention_mask=inputs["attention_mask"][:, :10])
    with pytest.raises(ValueError, match=r"token_type_ids has shape \(2, 11\)"):
        model(inputs["input_ids"], token_type_ids=inputs["token_type_ids"][:2])
    with pytest.raises(ValueError, match=r"\[batch, seq\]"):
        model(inputs["input_ids"][0])
    with pytest.raises(ValueError, match="hidden_size"):
        model(inputs_embeds=torch.zeros(1, 3, 16))


def test_missing_or_double_inputs(model):
    with pytest.raises(ValueError, match="input_ids"):
        model()
    ids = torch_inputs()["input_ids"]
    with pytest.raises(ValueError, match="not both"):
        model(ids, inputs_embeds=model.embeddings.word_embeddings(ids))


def test_multiple_choice_needs_three_dims():
    mc = bert_torch.BertForMultipleChoice(tiny_config(), seed=0)
    with pytest.raises(ValueError, match="num_choices"):
        mc(**torch_inputs())


def test_checks_run_before_kernels(model, monkeypatch):
    calls = []
    monkeypatch.setattr(model.embeddings, "forward", lambda *a, **k: calls.append(1))
    inputs = torch_inputs()
    inputs["input_ids"][0, 0] = 500
    with pytest.raises(ValueError):
        model(**inputs)
    assert not calls
