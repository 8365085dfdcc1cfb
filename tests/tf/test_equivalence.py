"""bert_tf against bert_torch (the reference): every head and option, outputs to 1e-5, gradients to 1e-4 relative.

Float32 on CPU with padded attention masks; hidden states and attentions compared too.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import bert_tf
from tests.conftest import HEADS, random_inputs
from tests.tf.helpers import assert_close, tiny_config, torch_available

pytestmark = pytest.mark.skipif(not torch_available(), reason="bert_torch (the reference) is not importable")

ATOL = 1e-5


def _twins(head: str, **config):
    import bert_torch

    if head == "BertForQuestionAnswering":
        config["num_labels"] = 2
    config = tiny_config(**config)
    pt = bert_torch.MODEL_CLASSES[head](config, seed=0).eval()
    tf_model = bert_tf.MODEL_CLASSES[head](config)
    report = tf_model.load_schema_state_dict(pt.schema_state_dict())
    assert not report.missing and not report.unexpected, report.summary()
    return pt, tf_model


def _torch_inputs(inputs: dict):
    import torch

    return {k: (torch.from_numpy(np.asarray(v)) if isinstance(v, np.ndarray) else v) for k, v in inputs.items()}


def _labels(head: str, inputs: dict, rng) -> dict:
    shape = inputs["input_ids"].shape
    if head in ("BertForMaskedLM", "BertLMHeadModel", "BertForPreTraining"):
        labels = rng.integers(0, 99, size=shape)
        labels[:, ::3] = -100
        out = {"labels": labels}
        if head == "BertForPreTraining":
            out["next_sentence_label"] = rng.integers(0, 2, size=shape[:1])
        return out
    if head == "BertForNextSentencePrediction":
        return {"labels": rng.integers(0, 2, size=shape[:1])}
    if head == "BertForSequenceClassification":
        return {"labels": np.array([0, 2, -100])[: shape[0]]}
    if head == "BertForMultipleChoice":
        return {"labels": rng.integers(0, shape[1], size=shape[:1])}
    if head == "BertForTokenClassification":
        labels = rng.integers(0, 3, size=shape)
        labels[-1, -3:] = -100
        return {"labels": labels}
    if head == "BertForQuestionAnswering":
        return {"start_positions": np.array([1, 40, -3]), "end_positions": np.array([3, 5, 100])}
    return {}


def _compare(pt_out, tf_out, atol=ATOL):
    for key in pt_out.keys():
        assert key in tf_out.keys(), key
        assert_close(tf_out[key], pt_out[key], atol, key)


@pytest.mark.parametrize("head", HEADS)
def test_every_head_outputs_and_loss(head):
    import torch

    pt, tfm = _twins(head, is_decoder=head == "BertLMHeadModel")
    choices = 2 if head == "BertForMultipleChoice" else None
    inputs = random_inputs(batch=3, seq=9, choices=choices)
    inputs.update(_labels(head, inputs, np.random.default_rng(1)))
    kw = dict(output_hidden_states=True, output_attentions=True)
    with torch.no_grad():
        pt_out = pt(**_torch_inputs(inputs), **kw)
    tf_out = tfm(inputs, **kw)
    _compare(pt_out, tf_out)
    if head != "BertModel":
        assert tf_out.loss.shape == ()


@pytest.mark.parametrize("position", ["relative_key", "relative_key_query"])
def test_relative_positions(position):
    import torch

    pt, tfm = _twins("BertForTokenClassification", position_embedding_type=position)
    inputs = random_inputs(batch=2, seq=7)
    head_mask = np.ones((2, 4), np.float32)
    head_mask[1, 2] = 0.0
    with torch.no_grad():
        pt_out = pt(**_torch_inputs(inputs), head_mask=torch.from_numpy(head_mask), output_attentions=True)
    _compare(pt_out, tfm(inputs, head_mask=head_mask, output_attentions=True))


@pytest.mark.parametrize("position", ["absolute", "relative_key_query"])
def test_decoder_cross_attention_and_cache(position):
    """Causal decoder with cross attention: equal to torch, and a cached second step equals the full pass."""
    import torch

    pt, tfm = _twins("BertLMHeadModel", is_decoder=True, add_cross_attention=True,
                     position_embedding_type=position)
    rng = np.random.default_rng(2)
    inputs = random_inputs(batch=2, seq=8)
    inputs["attention_mask"][:] = 1
    enc = rng.standard_normal((2, 5, 32)).astype(np.float32)
    enc_mask = np.ones((2, 5), np.int64)
    enc_mask[1, -2:] = 0
    extra = dict(encoder_hidden_states=enc, encoder_attention_mask=enc_mask)
    with torch.no_grad():
        pt_out = pt(**_torch_inputs({**inputs, **extra}), output_attentions=True, output_hidden_states=True)
    full = tfm({**inputs, **extra}, output_attentions=True, output_hidden_states=True)
    _compare(pt_out, full)
    first = {k: v[:, :5] for k, v in inputs.items()}
    second = {k: v[:, 5:] for k, v in inputs.items() if k != "attention_mask"}
    step1 = tfm(first, **extra, use_cache=True)
    step2 = tfm(second, attention_mask=inputs["attention_mask"], past_key_values=step1.past_key_values,
                **extra, use_cache=True)
    assert_close(step2.logits, full.logits[:, 5:], ATOL, "cached logits")
    assert len(step2.past_key_values[0]) == 4 and step2.past_key_values[0][0].shape[2] == 8


@pytest.mark.parametrize("problem", ["regression", "multi_label_classification"])
def test_sequence_classification_problem_types(problem):
    import torch

    num_labels = 1 if problem == "regression" else 3
    pt, tfm = _twins("BertForSequenceClassification", num_labels=num_labels)
    inputs = random_inputs(batch=3, seq=6)
    rng = np.random.default_rng(3)
    labels = (rng.standard_normal(3).astype(np.float32) if problem == "regression"
              else rng.integers(0, 2, size=(3, 3)).astype(np.float32))
    with torch.no_grad():
        pt_out = pt(**_torch_inputs(inputs), labels=torch.from_numpy(labels))
    _compare(pt_out, tfm(inputs, labels=labels))


@pytest.mark.parametrize("head", ["BertForPreTraining", "BertForQuestionAnswering", "BertLMHeadModel"])
def test_gradients(head):
    """d loss / d every weight equals torch's to 1e-4 relative (mapped through the schema names)."""
    pt, tfm = _twins(head, is_decoder=head == "BertLMHeadModel")
    inputs = random_inputs(batch=2, seq=7)
    inputs.update(_labels(head, inputs, np.random.default_rng(4)))
    inputs = {k: v[:2] for k, v in inputs.items()}
    pt.zero_grad()
    pt(**_torch_inputs(inputs)).loss.backward()
    pt_grads = {name: p.grad.numpy() for name, p in pt.named_parameters() if p.grad is not None}
    variables = tfm.schema_variables()
    with tf.GradientTape() as tape:
        loss = tfm(inputs, training=False).loss
    names = list(variables)
    grads = tape.gradient(loss, [variables[n][0] for n in names])
    # Relative to each tensor's largest gradient, floored at 1e-3 of the largest gradient anywhere: some tensors
    # (the last LayerNorm bias before a softmax-invariant head) have gradients that are zero up to rounding.
    floor = 1e-3 * max(float(np.abs(g).max()) for g in pt_grads.values())
    checked = 0
    for name, grad in zip(names, grads):
        if name not in pt_grads:
            continue
        g = np.asarray(tf.convert_to_tensor(grad))
        g = g.T if variables[name][1] else g
        ref = pt_grads[name]
        scale = max(float(np.abs(ref).max()), floor)
        assert float(np.abs(g - ref).max()) / scale <= 1e-4, name
        checked += 1
    assert checked == len(pt_grads)


@pytest.mark.parametrize("act", ["gelu_new", "relu"])
def test_embeds_position_ids_3d_mask_and_activations(act):
    """inputs_embeds, explicit position_ids and a [batch, seq, seq] mask, with other activations."""
    import torch

    pt, tfm = _twins("BertModel", hidden_act=act)
    inputs = random_inputs(batch=2, seq=6)
    embeds = np.random.default_rng(5).standard_normal((2, 6, 32)).astype(np.float32)
    position_ids = np.array([[5, 4, 3, 2, 1, 0], [0, 2, 4, 6, 8, 10]])
    mask3 = np.tril(np.ones((6, 6), np.int64))[None].repeat(2, 0)
    feeds = dict(inputs_embeds=embeds, position_ids=position_ids, attention_mask=mask3,
                 token_type_ids=inputs["token_type_ids"])
    with torch.no_grad():
        pt_out = pt(**_torch_inputs(feeds), output_attentions=True)
    _compare(pt_out, tfm(None, **feeds, output_attentions=True))
