"""Bad values raise on the host before the jitted forward (issue 11): labels outside the classes, float ids;
an attention mask keeps every nonzero position (2 == 1)."""

import numpy as np
import pytest

import bert_flax
from tests.flax.helpers import head_inputs, head_labels, max_diff, tiny_config


@pytest.fixture(scope="module")
def mlm():
    return bert_flax.FlaxBertForMaskedLM(tiny_config())


def test_masked_lm_labels_out_of_range_raise(mlm):
    inputs = head_inputs("BertForMaskedLM", batch=2, seq=5)
    labels = head_labels("BertForMaskedLM", inputs, mlm.config)["labels"]
    assert np.isfinite(float(mlm(**inputs, labels=labels).loss))  # -100 stays the ignore index
    too_big, negative = labels.copy(), labels.copy()
    too_big[0, 1], negative[1, 2] = mlm.config.vocab_size, -1
    with pytest.raises(ValueError, match=r"labels contains 99, outside the valid range \[0, 99\)"):
        mlm(**inputs, labels=too_big)
    with pytest.raises(ValueError, match="labels contains -1"):
        mlm(**inputs, labels=negative)


def test_float_ids_raise(mlm):
    inputs = head_inputs("BertForMaskedLM", batch=2, seq=5)
    assert max_diff(mlm(inputs["input_ids"].tolist()).logits, mlm(inputs["input_ids"]).logits) == 0.0  # lists ok
    with pytest.raises(TypeError, match="input_ids must hold integer ids, got dtype float32"):
        mlm(inputs["input_ids"].astype(np.float32))
    with pytest.raises(TypeError, match="token_type_ids"):
        mlm(inputs["input_ids"], token_type_ids=inputs["token_type_ids"].astype(np.float64))
    with pytest.raises(TypeError, match="integer class indices"):
        mlm(**inputs, labels=inputs["input_ids"].astype(np.float32))


@pytest.mark.parametrize("head, bad, match", [
    ("BertForSequenceClassification", {"labels": np.array([0, 3])}, r"\[0, 3\).*config.num_labels=3"),
    ("BertForTokenClassification", {"labels": np.full((2, 5), -7)}, "labels contains -7"),
    ("BertForNextSentencePrediction", {"labels": np.array([2, 0])}, r"\[0, 2\)"),
    ("BertForMultipleChoice", {"labels": np.array([3, 0])}, r"num_choices=3"),
    ("BertForPreTraining", {"labels": np.zeros((2, 5), int), "next_sentence_label": np.array([0, 5])},
     "next_sentence_label contains 5"),
])
def test_head_labels_out_of_range_raise(head, bad, match):
    model = bert_flax.MODEL_CLASSES[head](tiny_config(num_labels=3))
    inputs = head_inputs(head, batch=2, seq=5)
    with pytest.raises(ValueError, match=match):
        model(**inputs, **bad)


def test_float_labels_of_regression_are_not_class_indices():
    model = bert_flax.FlaxBertForSequenceClassification(tiny_config(num_labels=3))
    inputs = head_inputs("BertForSequenceClassification", batch=2, seq=5)
    labels = np.array([[0.5, 7.0, -2.0], [1.0, 0.0, 3.0]], np.float32)  # multi-label / regression values
    assert np.isfinite(float(model(**inputs, labels=labels).loss))


def test_mask_of_twos_equals_mask_of_ones(mlm):
    inputs = head_inputs("BertForMaskedLM", batch=3, seq=7)
    ones = mlm(**inputs, output_attentions=True)
    twos = mlm(**{**inputs, "attention_mask": inputs["attention_mask"] * 2}, output_attentions=True)
    assert max_diff(ones.logits, twos.logits) <= 1e-6
    assert max_diff(ones.attentions[-1], twos.attentions[-1]) <= 1e-6
    mixed = inputs["attention_mask"].copy()
    mixed[0] *= 5  # one row's values must not change another row's output
    out = mlm(**{**inputs, "attention_mask": mixed})
    assert max_diff(out.logits, ones.logits) <= 1e-6


def test_cross_attention_mask_nonzero_keeps():
    model = bert_flax.FlaxBertForCausalLM(tiny_config(is_decoder=True, add_cross_attention=True))
    inputs = head_inputs("BertLMHeadModel", batch=2, seq=5)
    enc = np.random.default_rng(0).standard_normal((2, 4, 32)).astype(np.float32)
    enc_mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]])
    a = model(**inputs, encoder_hidden_states=enc, encoder_attention_mask=enc_mask).logits
    b = model(**inputs, encoder_hidden_states=enc, encoder_attention_mask=enc_mask * 3).logits
    assert max_diff(a, b) <= 1e-6
