"""The heart: with the same weights, bert_flax equals bert_torch (outputs to 1e-5, gradients to 1e-4 relative).

Weights go torch -> schema -> Flax through ``schema_state_dict`` / ``load_schema_state_dict``; gradients come back
to schema names through the same table. Skipped when bert_torch (or torch) is not importable.
"""

import jax
import numpy as np
import pytest

import bert_flax
from conversion.schema import normalize
from tests.conftest import ATOL, HEADS, require
from tests.flax.helpers import head_inputs, head_labels, max_diff, tiny_config

torch = require("torch")
bert_torch = require("bert_torch")

POSITIONS = ["absolute", "relative_key", "relative_key_query"]
COMPARED = ("loss", "last_hidden_state", "pooler_output", "prediction_logits", "seq_relationship_logits", "logits",
            "start_logits", "end_logits", "hidden_states", "attentions", "cross_attentions")
GRAD_RTOL = 1e-4


def _pair(head, config, seed=0, **flax_kwargs):
    tm = bert_torch.MODEL_CLASSES[head](config, seed=seed).eval()
    with torch.no_grad():  # relative position terms large enough for a mistake to show
        for name, p in tm.named_parameters():
            if "distance_embedding" in name:
                p.mul_(20)
    fm = bert_flax.MODEL_CLASSES[head](config, seed=seed + 1, **flax_kwargs)
    report = fm.load_schema_state_dict(tm.schema_state_dict())
    assert not report.missing and not report.unexpected and not report.mismatched
    return tm, fm


def _t(d):
    return {k: torch.from_numpy(np.asarray(v)) for k, v in d.items()}


def _scalar_for_base(out, rng_seed=3):
    """A loss for BertModel: fixed random projections of both outputs."""
    rng = np.random.default_rng(rng_seed)
    w1 = rng.standard_normal(out[0].shape).astype(np.float32)
    w2 = rng.standard_normal(out[1].shape).astype(np.float32)
    return w1, w2


def compare_outputs(tout, fout, atol=ATOL):
    compared = 0
    for field in COMPARED:
        t, f = getattr(tout, field, None), getattr(fout, field, None)
        if t is None or (isinstance(t, tuple) and not t):
            continue
        assert f is not None, field
        if isinstance(t, tuple):
            assert len(t) == len(f), field
            for i, (a, b) in enumerate(zip(t, f)):
                assert max_diff(a.detach().numpy(), b) <= atol, f"{field}[{i}]"
        else:
            assert max_diff(t.detach().numpy(), f) <= atol, field
        compared += 1
    return compared


def compare_grads(tm, tloss, fm, floss_fn):
    tloss.backward()
    tgrads = normalize({n: p.grad.numpy() for n, p in tm.named_parameters() if p.grad is not None})
    fgrads = fm.schema_state_dict(jax.grad(floss_fn)(fm.params))
    assert set(fgrads) == set(dict(tm.named_parameters())) | set(fgrads)  # nothing torch has is missing
    for name, g in fgrads.items():
        ref = tgrads.get(name, np.zeros_like(g))
        scale = float(np.abs(ref).max())
        assert max_diff(g, ref) <= GRAD_RTOL * scale + 1e-7, f"grad of {name}: {max_diff(g, ref)} vs scale {scale}"
    return len(fgrads)


def run_head(head, config, **flax_kwargs):
    tm, fm = _pair(head, config, **flax_kwargs)
    inputs = head_inputs(head)
    labels = head_labels(head, inputs, config)
    kw = dict(output_hidden_states=True, output_attentions=True)
    tout = tm(**_t(inputs), **_t(labels), **kw)
    fout = fm(**inputs, **labels, **kw)
    assert compare_outputs(tout, fout) >= 3
    if head == "BertModel":
        w1, w2 = _scalar_for_base(fout)
        tloss = (tout.last_hidden_state * torch.from_numpy(w1)).sum() + (tout.pooler_output * torch.from_numpy(w2)).sum()
        floss = lambda p: (fm(**inputs, params=p).last_hidden_state * w1).sum() + (  # noqa: E731
            fm(**inputs, params=p).pooler_output * w2).sum()
    else:
        tloss = tout.loss
        floss = lambda p: fm(**inputs, **labels, params=p).loss  # noqa: E731
    assert compare_grads(tm, tloss, fm, floss) > 10


@pytest.mark.parametrize("pos", POSITIONS)
@pytest.mark.parametrize("head", HEADS)
def test_head_equals_torch(head, pos):
    run_head(head, tiny_config(position_embedding_type=pos, is_decoder=head == "BertLMHeadModel",
                               num_labels=2 if head == "BertForQuestionAnswering" else 3))


@pytest.mark.parametrize("pos", POSITIONS)
def test_decoder_with_cross_attention_equals_torch(pos):
    config = tiny_config(is_decoder=True, add_cross_attention=True, position_embedding_type=pos)
    tm, fm = _pair("BertLMHeadModel", config)
    inputs = head_inputs("BertLMHeadModel")
    labels = head_labels("BertLMHeadModel", inputs, config)
    rng = np.random.default_rng(5)
    enc = rng.standard_normal((3, 5, 32)).astype(np.float32)
    enc_mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 0, 0, 0]])
    extra = dict(encoder_hidden_states=enc, encoder_attention_mask=enc_mask)
    kw = dict(output_hidden_states=True, output_attentions=True)
    tout = tm(**_t(inputs), **_t(labels), **_t(extra), **kw)
    fout = fm(**inputs, **labels, **extra, **kw)
    assert fout.cross_attentions is not None and len(fout.cross_attentions) == 2
    assert compare_outputs(tout, fout) >= 5
    compare_grads(tm, tout.loss, fm, lambda p: fm(**inputs, **labels, **extra, params=p).loss)


@pytest.mark.parametrize("shape", ["per_layer", "shared"])
def test_head_mask_equals_torch(shape):
    config = tiny_config()
    tm, fm = _pair("BertForSequenceClassification", config)
    inputs = head_inputs("BertForSequenceClassification")
    mask = np.array([[1.0, 0.0, 1.0, 0.5], [0.0, 1.0, 1.0, 1.0]], np.float32)
    if shape == "shared":
        mask = mask[0]
    tout = tm(**_t(inputs), head_mask=torch.from_numpy(mask), output_attentions=True)
    fout = fm(**inputs, head_mask=mask, output_attentions=True)
    assert compare_outputs(tout, fout) >= 2


@pytest.mark.parametrize("problem", ["regression", "multi_label_classification", "single_label_classification"])
def test_sequence_classification_problem_types_equal_torch(problem):
    config = tiny_config(num_labels=1 if problem == "regression" else 3)
    tm, fm = _pair("BertForSequenceClassification", config)
    inputs = head_inputs("BertForSequenceClassification")
    rng = np.random.default_rng(2)
    if problem == "regression":
        labels = rng.random(3).astype(np.float32)
    elif problem == "multi_label_classification":
        labels = (rng.random((3, 3)) > 0.5).astype(np.float32)
    else:
        labels = np.array([0, 2, 1])
    tout = tm(**_t(inputs), labels=torch.from_numpy(labels))
    fout = fm(**inputs, labels=labels)
    assert max_diff(tout.loss.detach().numpy(), fout.loss) <= ATOL
    compare_grads(tm, tout.loss, fm, lambda p: fm(**inputs, labels=labels, params=p).loss)


@pytest.mark.parametrize("head", ["BertForMaskedLM", "BertForPreTraining"])
def test_untied_decoder_equals_torch(head):
    """With tie_word_embeddings=False the decoder has its own kernel (cls/predictions/decoder/kernel)."""
    config = tiny_config(tie_word_embeddings=False)
    tm, fm = _pair(head, config)
    assert fm.params["cls"]["predictions"]["decoder"]["kernel"].shape == (32, 99)
    assert "cls.predictions.decoder.weight" in fm.schema_state_dict()
    inputs = head_inputs(head)
    labels = head_labels(head, inputs, config)
    tout = tm(**_t(inputs), **_t(labels))
    fout = fm(**inputs, **labels)
    assert compare_outputs(tout, fout) >= 2
    compare_grads(tm, tout.loss, fm, lambda p: fm(**inputs, **labels, params=p).loss)


def test_three_d_mask_and_position_ids_equal_torch():
    config = tiny_config(position_embedding_type="relative_key_query")
    tm, fm = _pair("BertModel", config)
    inputs = head_inputs("BertModel")
    rng = np.random.default_rng(4)
    mask3 = (rng.random((3, 11, 11)) > 0.3).astype(np.int64)
    mask3[:, :, 0] = 1
    positions = np.broadcast_to(np.arange(11)[::-1].copy(), (3, 11)).copy()
    extra = dict(attention_mask=mask3, position_ids=positions)
    ids = {k: v for k, v in inputs.items() if k != "attention_mask"}
    tout = tm(**_t(ids), **_t(extra), output_attentions=True)
    fout = fm(**ids, **extra, output_attentions=True)
    assert compare_outputs(tout, fout) >= 3
