"""Every head's loss against values computed by hand (numpy), with transformers' semantics."""

import numpy as np
import pytest
import torch

import bert_torch
from bert_torch import losses
from tests.torch.helpers import tiny_config, torch_inputs


def _ce(logits, labels, ignore=-100):
    """Mean negative log-likelihood over labels != ignore, in float64 numpy."""
    logits = np.asarray(logits, np.float64).reshape(-1, logits.shape[-1])
    labels = np.asarray(labels).reshape(-1)
    keep = labels != ignore
    logp = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) \
        - logits.max(-1, keepdims=True)
    return -logp[keep, labels[keep]].mean()


def _build(head, **overrides):
    return bert_torch.MODEL_CLASSES[head](tiny_config(**overrides), seed=0).eval()


def test_masked_lm_loss_ignores_minus_100():
    model = _build("BertForMaskedLM")
    inputs = torch_inputs()
    labels = inputs["input_ids"].clone()
    labels[:, ::2] = -100
    out = model(**inputs, labels=labels)
    assert out.loss.item() == pytest.approx(_ce(out.logits.detach().numpy(), labels.numpy()), rel=1e-5)
    all_ignored = model(**inputs, labels=torch.full_like(labels, -100)).loss
    assert torch.isnan(all_ignored)  # as torch / transformers: mean over nothing


def test_causal_lm_loss_is_shifted():
    model = _build("BertLMHeadModel", is_decoder=True)
    inputs = torch_inputs()
    labels = inputs["input_ids"].clone()
    labels[0, 4] = -100
    out = model(**inputs, labels=labels)
    logits = out.logits.detach().numpy()
    want = _ce(logits[:, :-1], labels.numpy()[:, 1:])
    assert out.loss.item() == pytest.approx(want, rel=1e-5)


def test_pretraining_loss_is_mlm_plus_nsp():
    model = _build("BertForPreTraining")
    inputs = torch_inputs()
    labels = inputs["input_ids"].clone()
    labels[:, 3:] = -100
    nsp = torch.tensor([0, 1, 1])
    out = model(**inputs, labels=labels, next_sentence_label=nsp)
    want = _ce(out.prediction_logits.detach().numpy(), labels.numpy()) + \
        _ce(out.seq_relationship_logits.detach().numpy(), nsp.numpy())
    assert out.loss.item() == pytest.approx(want, rel=1e-5)
    assert model(**inputs, labels=labels).loss is None  # both label sets are needed
    tup = model(**inputs, labels=labels, next_sentence_label=nsp, return_dict=False)
    assert tup[0].item() == pytest.approx(out.loss.item()) and len(tup) == 3


def test_next_sentence_loss_and_deprecated_name():
    model = _build("BertForNextSentencePrediction")
    inputs = torch_inputs()
    labels = torch.tensor([1, 0, 1])
    out = model(**inputs, labels=labels)
    assert out.loss.item() == pytest.approx(_ce(out.logits.detach().numpy(), labels.numpy()), rel=1e-5)
    assert model(**inputs, next_sentence_label=labels).loss.item() == pytest.approx(out.loss.item())


def test_sequence_classification_problem_types():
    inputs = torch_inputs()
    # integer labels, 3 classes -> single label cross entropy
    model = _build("BertForSequenceClassification")
    labels = torch.tensor([2, 0, 1])
    out = model(**inputs, labels=labels)
    assert model.config.problem_type == "single_label_classification"
    assert out.loss.item() == pytest.approx(_ce(out.logits.detach().numpy(), labels.numpy()), rel=1e-5)
    # float multi-hot labels -> BCE with logits
    model = _build("BertForSequenceClassification")
    multi = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    out = model(**inputs, labels=multi)
    assert model.config.problem_type == "multi_label_classification"
    x, y = out.logits.detach().double().numpy(), multi.double().numpy()
    bce = np.mean(np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x))))
    assert out.loss.item() == pytest.approx(bce, rel=1e-5)
    # one label -> regression (MSE)
    model = _build("BertForSequenceClassification", num_labels=1)
    target = torch.tensor([0.5, -1.0, 2.0])
    out = model(**inputs, labels=target)
    assert model.config.problem_type == "regression"
    mse = np.mean((out.logits.detach().numpy()[:, 0] - target.numpy()) ** 2)
    assert out.loss.item() == pytest.approx(mse, rel=1e-5)
    # an explicit problem_type wins over inference
    model = _build("BertForSequenceClassification", problem_type="regression")
    out = model(**inputs, labels=torch.ones(3, 3))
    assert out.loss.item() == pytest.approx(np.mean((out.logits.detach().numpy() - 1) ** 2), rel=1e-5)


def test_multiple_choice_loss():
    model = _build("BertForMultipleChoice")
    inputs = torch_inputs(choices=4)
    labels = torch.tensor([3, 0, 2])
    out = model(**inputs, labels=labels)
    assert out.logits.shape == (3, 4)
    assert out.loss.item() == pytest.approx(_ce(out.logits.detach().numpy(), labels.numpy()), rel=1e-5)


def test_token_classification_loss_ignores_minus_100():
    model = _build("BertForTokenClassification", num_labels=5)
    inputs = torch_inputs()
    labels = torch.randint(0, 5, (3, 11), generator=torch.Generator().manual_seed(0))
    labels[2, 8:] = -100
    out = model(**inputs, labels=labels)
    assert out.loss.item() == pytest.approx(_ce(out.logits.detach().numpy(), labels.numpy()), rel=1e-5)


def test_question_answering_loss_clamps_positions():
    model = _build("BertForQuestionAnswering", num_labels=2)
    inputs = torch_inputs()
    start, end = torch.tensor([1, 50, 3]), torch.tensor([[4], [60], [-7]])
    out = model(**inputs, start_positions=start, end_positions=end)
    s, e = out.start_logits.detach().numpy(), out.end_logits.detach().numpy()
    # 50 and 60 clamp to 11 = seq_len and are ignored; -7 clamps to 0 and counts
    want = (_ce(s, np.array([1, 11, 3]), ignore=11) + _ce(e, np.array([4, 11, 0]), ignore=11)) / 2
    assert out.loss.item() == pytest.approx(want, rel=1e-5)


def test_loss_functions_directly():
    logits = torch.tensor([[[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]]])
    labels = torch.tensor([[0, -100]])
    assert losses.masked_lm_loss(logits, labels, 3).item() == pytest.approx(_ce(logits.numpy(), labels.numpy()))
    loss, kind = losses.sequence_classification_loss(torch.zeros(2, 1), torch.tensor([1.0, 3.0]), 1, None)
    assert kind == "regression" and loss.item() == pytest.approx(5.0)
