"""Options of every head on tiny configs: attention kernels, positions, dropout, dtypes, training helpers."""

import logging
import warnings

import pytest
import torch

import bert_torch
from bert_core import HEADS
from tests.torch.helpers import tiny_config, torch_inputs


def _inputs_for(head, **kw):
    return torch_inputs(choices=2, **kw) if head == "BertForMultipleChoice" else torch_inputs(**kw)


def _build(head, seed=0, **overrides):
    if head == "BertForQuestionAnswering":
        overrides.setdefault("num_labels", 2)
    return bert_torch.MODEL_CLASSES[head](tiny_config(**overrides), seed=seed).eval()


def _main(out):
    return out[0] if not hasattr(out, "logits") or out.logits is None else out.logits


@pytest.mark.parametrize("head", HEADS)
def test_eager_equals_sdpa(head):
    eager, sdpa = _build(head), _build(head, attn_implementation="sdpa")
    sdpa.load_state_dict(eager.state_dict())
    inputs = _inputs_for(head)
    with torch.no_grad():
        a, b = eager(**inputs), sdpa(**inputs)
    for x, y in zip(a.to_tuple(), b.to_tuple()):
        torch.testing.assert_close(x, y, rtol=0, atol=1e-5)


@pytest.mark.parametrize("decoder", [False, True])
def test_sdpa_falls_back_to_eager(decoder):
    eager = _build("BertModel", is_decoder=decoder)
    sdpa = _build("BertModel", is_decoder=decoder, attn_implementation="sdpa")
    sdpa.load_state_dict(eager.state_dict())
    layer = sdpa.encoder.layer[0].attention.self
    assert layer.uses_sdpa(False, None)
    assert not layer.uses_sdpa(True, None) and not layer.uses_sdpa(False, torch.ones(4))
    inputs = torch_inputs()
    head_mask = torch.tensor([[1.0, 0.0, 1.0, 1.0], [1.0, 1.0, 0.5, 1.0]])
    with torch.no_grad():
        a = eager(**inputs, output_attentions=True, head_mask=head_mask)
        b = sdpa(**inputs, output_attentions=True, head_mask=head_mask)  # served by the eager path
    assert len(b.attentions) == 2
    torch.testing.assert_close(a.last_hidden_state, b.last_hidden_state, rtol=0, atol=1e-6)
    torch.testing.assert_close(a.attentions[1], b.attentions[1], rtol=0, atol=1e-6)
    assert torch.all(b.attentions[0][:, 1] == 0)  # the masked head


@pytest.mark.parametrize("pos", ["relative_key", "relative_key_query"])
def test_relative_positions_run_and_differ(pos):
    absolute = _build("BertModel")
    relative = _build("BertModel", position_embedding_type=pos)
    rel_sdpa = _build("BertModel", position_embedding_type=pos, attn_implementation="sdpa")
    names = set(relative.state_dict())
    assert "encoder.layer.0.attention.self.distance_embedding.weight" in names
    assert relative.encoder.layer[0].attention.self.distance_embedding.weight.shape == (2 * 64 - 1, 8)
    assert not rel_sdpa.encoder.layer[0].attention.self.uses_sdpa(False, None)
    missing, unexpected = relative.load_state_dict(absolute.state_dict(), strict=False)
    assert all("distance_embedding" in n for n in missing) and not unexpected
    rel_sdpa.load_state_dict(relative.state_dict())
    inputs = torch_inputs()
    with torch.no_grad():
        a, r, s = absolute(**inputs), relative(**inputs), rel_sdpa(**inputs)
    assert not torch.allclose(a.last_hidden_state, r.last_hidden_state, atol=1e-3)
    torch.testing.assert_close(r.last_hidden_state, s.last_hidden_state, rtol=0, atol=1e-6)


def test_return_dict_false_gives_tuples():
    model = _build("BertForSequenceClassification")
    inputs = torch_inputs()
    with torch.no_grad():
        out = model(**inputs, labels=torch.tensor([0, 1, 2]), output_hidden_states=True)
        tup = model(**inputs, labels=torch.tensor([0, 1, 2]), output_hidden_states=True, return_dict=False)
    assert isinstance(tup, tuple) and len(tup) == 3
    torch.testing.assert_close(tup[1], out.logits)
    assert isinstance(_build("BertModel")(**inputs, return_dict=False), tuple)


def test_dropout_only_in_train_mode():
    model = _build("BertForSequenceClassification", hidden_dropout_prob=0.3, attention_probs_dropout_prob=0.3)
    inputs = torch_inputs()
    with torch.no_grad():
        e1, e2 = model(**inputs).logits, model(**inputs).logits
        model.train()
        t1, t2 = model(**inputs).logits, model(**inputs).logits
    torch.testing.assert_close(e1, e2, rtol=0, atol=0)
    assert not torch.allclose(t1, t2)


def test_classifier_dropout_overrides_hidden_dropout():
    model = _build("BertForTokenClassification", classifier_dropout=0.7)
    assert model.dropout.p == 0.7
    assert _build("BertForMultipleChoice", hidden_dropout_prob=0.2).dropout.p == 0.2


def test_gradient_checkpointing_gives_same_grads():
    plain = _build("BertForMaskedLM", hidden_dropout_prob=0.2, attention_probs_dropout_prob=0.2).train()
    ckpt = _build("BertForMaskedLM", hidden_dropout_prob=0.2, attention_probs_dropout_prob=0.2).train()
    ckpt.gradient_checkpointing_enable({"preserve_rng_state": True})
    assert ckpt.bert.encoder.checkpoint_kwargs == {"use_reentrant": False, "preserve_rng_state": True}
    assert ckpt.is_gradient_checkpointing and not plain.is_gradient_checkpointing
    inputs = torch_inputs()
    for model in (plain, ckpt):  # same dropout masks: the recomputation replays the RNG state
        torch.manual_seed(0)
        model(**inputs, labels=inputs["input_ids"]).loss.backward()
    for (name, p), q in zip(plain.named_parameters(), ckpt.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-7, msg=name)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_half_precision_runs(dtype, impl):
    ref = _build("BertForMaskedLM")
    model = bert_torch.BertForMaskedLM(tiny_config(attn_implementation=impl), torch_dtype=dtype, seed=0).eval()
    assert model.dtype == dtype
    inputs = torch_inputs()
    with torch.no_grad():
        out = model(**inputs).logits
        want = ref(**inputs).logits
    assert out.dtype == dtype and torch.isfinite(out).all()
    torch.testing.assert_close(out.float(), want, rtol=0, atol=0.1)


def test_string_dtype_and_bad_dtype():
    assert bert_torch.BertModel(tiny_config(), torch_dtype="bfloat16").dtype == torch.bfloat16
    with pytest.raises(ValueError, match="torch_dtype"):
        bert_torch.BertModel(tiny_config(), torch_dtype="int3")


def test_seeded_init_does_not_depend_on_the_global_rng():
    torch.manual_seed(1)
    a = _build("BertModel", seed=7)
    torch.manual_seed(2)
    b = _build("BertModel", seed=7)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name


def test_meta_device_construction():
    with torch.device("meta"):
        model = bert_torch.BertForMaskedLM(tiny_config(), seed=0)
    assert model.device.type == "meta" and model.weights_tied()


def test_init_as_transformers_and_seedable():
    a = _build("BertForPreTraining", seed=3, initializer_range=0.05, vocab_size=3000, hidden_size=64)
    b = _build("BertForPreTraining", seed=3, initializer_range=0.05, vocab_size=3000, hidden_size=64)
    c = _build("BertForPreTraining", seed=4, initializer_range=0.05, vocab_size=3000, hidden_size=64)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name
    assert not torch.equal(a.bert.embeddings.word_embeddings.weight, c.bert.embeddings.word_embeddings.weight)
    emb = a.bert.embeddings.word_embeddings.weight
    assert abs(emb[1:].std().item() - 0.05) < 0.003 and torch.all(emb[0] == 0)  # padding row zero
    assert torch.all(a.bert.pooler.dense.bias == 0) and torch.all(a.cls.predictions.bias == 0)
    ln = a.bert.encoder.layer[0].output.LayerNorm
    assert torch.all(ln.weight == 1) and torch.all(ln.bias == 0)


def test_state_dict_names_are_transformers_names():
    model = _build("BertForPreTraining")
    names = set(model.state_dict())
    for name in ("bert.embeddings.word_embeddings.weight", "bert.embeddings.position_embeddings.weight",
                 "bert.embeddings.token_type_embeddings.weight", "bert.embeddings.LayerNorm.weight",
                 "bert.encoder.layer.1.attention.self.key.bias", "bert.encoder.layer.0.attention.output.dense.weight",
                 "bert.encoder.layer.0.intermediate.dense.weight", "bert.encoder.layer.0.output.LayerNorm.bias",
                 "bert.pooler.dense.weight", "cls.predictions.transform.dense.weight",
                 "cls.predictions.transform.LayerNorm.weight", "cls.predictions.decoder.weight",
                 "cls.predictions.bias", "cls.seq_relationship.weight"):
        assert name in names, name
    assert not any("position_ids" in n for n in names)
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    assert model.cls.predictions.decoder.bias is model.cls.predictions.bias
    assert "classifier.weight" in _build("BertForSequenceClassification").state_dict()
    assert "qa_outputs.bias" in _build("BertForQuestionAnswering").state_dict()
    assert "pooler.dense.weight" in _build("BertModel").state_dict()
    assert "pooler.dense.weight" not in bert_torch.BertModel(tiny_config(), add_pooling_layer=False).state_dict()


def test_num_parameters_and_repr():
    model = _build("BertForMaskedLM")
    n = model.num_parameters()
    assert n == sum(p.numel() for p in model.parameters())  # tied decoder counted once
    assert model.num_parameters(exclude_embeddings=True) < n
    assert "BertForMaskedLM" in repr(model) and "word_embeddings" in repr(model)


@pytest.mark.parametrize("tied", [True, False])
def test_resize_token_embeddings(tied):
    model = _build("BertForMaskedLM", tie_word_embeddings=tied)
    old = model.bert.embeddings.word_embeddings.weight.detach().clone()
    emb = model.resize_token_embeddings(120)
    assert emb.num_embeddings == 120 and model.config.vocab_size == 120
    assert torch.equal(emb.weight[:99], old)
    assert model.weights_tied() == tied
    assert model.cls.predictions.decoder.weight.shape == (120, 32)
    assert model.cls.predictions.decoder.bias is model.cls.predictions.bias
    logits = model(torch.tensor([[5, 119, 7]])).logits
    assert logits.shape == (1, 3, 120)
    model.resize_token_embeddings(50, pad_to_multiple_of=16)
    assert model.config.vocab_size == 64 and model.weights_tied() == tied


def test_lm_head_warns_when_not_decoder(caplog):
    with caplog.at_level(logging.WARNING, logger="bert_torch"):
        _build("BertLMHeadModel")
    assert "is_decoder=True" in caplog.text


def test_inputs_embeds_equal_input_ids():
    model = _build("BertModel")
    inputs = torch_inputs()
    embeds = model.embeddings.word_embeddings(inputs["input_ids"])
    with torch.no_grad():
        a = model(**inputs).last_hidden_state
        b = model(inputs_embeds=embeds, attention_mask=inputs["attention_mask"],
                  token_type_ids=inputs["token_type_ids"]).last_hidden_state
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_question_answering_needs_two_labels():
    model = bert_torch.BertForQuestionAnswering(tiny_config(num_labels=3))
    with pytest.raises(ValueError, match="num_labels=2"):
        model(**torch_inputs())


def test_feed_forward_chunking_gives_same_outputs():
    plain = _build("BertModel")
    chunked = _build("BertModel", chunk_size_feed_forward=4)
    chunked.load_state_dict(plain.state_dict())
    inputs = torch_inputs()
    with torch.no_grad():
        torch.testing.assert_close(plain(**inputs).last_hidden_state, chunked(**inputs).last_hidden_state,
                                   rtol=0, atol=1e-6)


def test_traced_model_keeps_the_attention_mask():
    model = _build("BertModel", attn_implementation="sdpa")
    ids = torch_inputs()["input_ids"]
    ones = torch.ones_like(ids)
    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids, attention_mask=attention_mask).last_hidden_state

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # the input checks are host-side
        traced = torch.jit.trace(Wrapper(), (ids, ones), check_trace=False)
    padded = ones.clone()
    padded[:, -3:] = 0
    with torch.no_grad():
        torch.testing.assert_close(traced(ids, padded), model(ids, attention_mask=padded).last_hidden_state,
                                   rtol=0, atol=1e-5)


def test_switch_attention_implementation_at_runtime():
    model = _build("BertForMaskedLM")
    inputs = torch_inputs()
    with torch.no_grad():
        eager = model(**inputs).logits
        model.set_attn_implementation("sdpa")
        assert "attn_implementation='sdpa'" in repr(model) and model.config.attn_implementation == "sdpa"
        torch.testing.assert_close(model(**inputs).logits, eager, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="attn_implementation"):
        model.set_attn_implementation("flash")
    assert model.config.attn_implementation == "sdpa"
