"""transformers v4's model-class API: attributes, embeddings access, _from_config, TorchScript, export, resizing."""

import io
import warnings

import pytest
import torch
from torch import nn

import bert_torch
from bert_core import HEADS
from tests.torch.helpers import tiny_config, torch_inputs

LM_HEADS = ("BertForPreTraining", "BertLMHeadModel", "BertForMaskedLM")
# tracing takes seconds per head: two fast, the rest slow
TRACE_HEADS = [h if h in ("BertModel", "BertForMaskedLM") else pytest.param(h, marks=pytest.mark.slow) for h in HEADS]


def _build(head, seed=0, **overrides):
    if head == "BertForQuestionAnswering":
        overrides.setdefault("num_labels", 2)
    if head == "BertLMHeadModel":
        overrides.setdefault("is_decoder", True)
    return bert_torch.MODEL_CLASSES[head](tiny_config(**overrides), seed=seed).eval()


def _inputs(head, **kw):
    return torch_inputs(choices=2, **kw) if head == "BertForMultipleChoice" else torch_inputs(**kw)


@pytest.mark.parametrize("head", HEADS)
def test_class_attributes(head):
    cls = bert_torch.MODEL_CLASSES[head]
    assert cls.main_input_name == "input_ids" and cls.base_model_prefix == "bert"
    assert cls.supports_gradient_checkpointing is True
    assert cls.can_generate() == (head == "BertLMHeadModel")
    assert "position_ids" in cls._keys_to_ignore_on_load_missing
    if head in LM_HEADS:
        assert r"cls.predictions.decoder.weight" in cls._keys_to_ignore_on_load_missing
        assert "cls.predictions.decoder.weight" in cls._tied_weights_keys
    no_pooler = head in ("BertLMHeadModel", "BertForMaskedLM", "BertForTokenClassification",
                         "BertForQuestionAnswering")
    assert (cls._keys_to_ignore_on_load_unexpected == [r"pooler"]) == no_pooler


@pytest.mark.parametrize("head", HEADS)
def test_get_set_embeddings(head):
    model = _build(head)
    emb = model.get_input_embeddings()
    assert emb is model.base_model.embeddings.word_embeddings
    new = nn.Embedding(99, 32)
    model.set_input_embeddings(new)
    assert model.get_input_embeddings() is new
    out = model.get_output_embeddings()
    assert (out is not None) == (head in LM_HEADS)
    if out is None:
        with pytest.raises(AttributeError, match="no output embeddings"):
            model.set_output_embeddings(nn.Linear(32, 99))
        return
    decoder = nn.Linear(32, 99)
    model.set_output_embeddings(decoder)
    assert model.get_output_embeddings() is decoder and model.cls.predictions.bias is decoder.bias


def test_from_config_copies_config_and_casts():
    config = tiny_config()
    model = bert_torch.BertForMaskedLM._from_config(config, torch_dtype=torch.float16, attn_implementation="sdpa")
    assert model.dtype == torch.float16 and model.config.attn_implementation == "sdpa"
    assert config.attn_implementation == "eager"
    base = bert_torch.BertModel._from_config(config, add_pooling_layer=False)
    assert base.pooler is None and base.dtype == torch.float32
    config.torchscript = True
    assert isinstance(bert_torch.BertModel._from_config(config).eval()(**torch_inputs()), tuple)
    with pytest.raises(ValueError, match="attn_implementation"):
        bert_torch.BertModel._from_config(config, attn_implementation="flash")


@pytest.mark.parametrize("head", TRACE_HEADS)
def test_torchscript_trace(head):
    config = tiny_config(num_labels=2 if head == "BertForQuestionAnswering" else 3,
                         is_decoder=head == "BertLMHeadModel")
    config.torchscript = True
    model = bert_torch.MODEL_CLASSES[head](config, seed=0).eval()
    if head in LM_HEADS:  # cloned, not shared, as transformers does for TorchScript
        out, emb = model.get_output_embeddings().weight, model.get_input_embeddings().weight
        assert out is not emb and torch.equal(out, emb)
    inputs = _inputs(head)
    args = (inputs["input_ids"], inputs["attention_mask"])
    with torch.no_grad():
        eager = model(*args)
        assert isinstance(eager, tuple)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # host-side input checks
            traced = torch.jit.trace(model, args)
        for a, b in zip(traced(*args), eager):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    assert isinstance(model(*args, return_dict=True), tuple) is False  # an explicit return_dict wins


def test_torchscript_from_config_json_key():
    model = bert_torch.BertModel(tiny_config(torchscript=True), seed=0).eval()
    assert isinstance(model(**torch_inputs()), tuple)


@pytest.mark.parametrize("head", TRACE_HEADS)
def test_torch_export(head):
    model = _build(head)
    inputs = _inputs(head)
    args = (inputs["input_ids"],)
    kwargs = {"attention_mask": inputs["attention_mask"], "token_type_ids": inputs["token_type_ids"]}
    exported = torch.export.export(model, args, kwargs)
    with torch.no_grad():
        expected = model(*args, **kwargs)
        got = exported.module()(*args, **kwargs)
    for key, value in expected.items():
        if isinstance(value, torch.Tensor):
            torch.testing.assert_close(got[key], value, rtol=0, atol=1e-5)
    if head == "BertForMaskedLM":  # the program saves and loads (outputs are registered by name)
        buffer = io.BytesIO()
        torch.export.save(exported, buffer)
        buffer.seek(0)
        loaded = torch.export.load(buffer).module()(*args, **kwargs)
        assert type(loaded).__name__ == "MaskedLMOutput"
        torch.testing.assert_close(loaded.logits, expected.logits, rtol=0, atol=1e-5)


@pytest.mark.parametrize("tied", [True, False])
def test_mean_resizing(tied):
    model = _build("BertForMaskedLM", tie_word_embeddings=tied)
    old = model.get_input_embeddings().weight.detach().clone()
    old_decoder = model.get_output_embeddings().weight.detach().clone()
    torch.manual_seed(0)
    emb = model.resize_token_embeddings(109)
    assert emb.weight.shape == (109, 32) and model.config.vocab_size == 109 and model.vocab_size == 109
    assert torch.equal(emb.weight[:99], old)
    # new rows sit at the old rows' mean (covariance scaled by 1e-9), as transformers' default
    torch.testing.assert_close(emb.weight[99:], old.mean(0).expand(10, -1), rtol=0, atol=1e-3)
    decoder = model.get_output_embeddings()
    assert model.weights_tied() == tied and decoder.out_features == 109
    assert decoder.bias is model.cls.predictions.bias and decoder.bias.shape == (109,)
    if not tied:
        torch.testing.assert_close(decoder.weight[99:], old_decoder.mean(0).expand(10, -1), rtol=0, atol=1e-3)
    assert model(torch.tensor([[3, 108]])).logits.shape == (1, 2, 109)
    plain = _build("BertForMaskedLM").resize_token_embeddings(200, mean_resizing=False)
    assert abs(float(plain.weight[99:].detach().std()) - 0.02) < 0.005  # N(0, initializer_range)


def test_resize_pad_to_multiple_of():
    model = _build("BertLMHeadModel")
    assert model.resize_token_embeddings(100, pad_to_multiple_of=64).num_embeddings == 128
    assert model.resize_token_embeddings(pad_to_multiple_of=48).num_embeddings == 144
    assert model.config.vocab_size == 144 and model.weights_tied()
    with pytest.raises(ValueError, match="pad_to_multiple_of"):
        model.resize_token_embeddings(100, pad_to_multiple_of=1.3)
    small = _build("BertModel").resize_token_embeddings(50)
    assert small.num_embeddings == 50
    assert model.resize_token_embeddings() is model.get_input_embeddings()


def test_resize_with_tiny_vocab_uses_the_mean():
    model = _build("BertForMaskedLM", vocab_size=4, pad_token_id=3)
    emb = model.resize_token_embeddings(14)  # 4 rows in 32 dims: covariance singular -> the mean
    torch.testing.assert_close(emb.weight[4:], emb.weight[:4].mean(0).expand(10, -1), rtol=0, atol=1e-6)
