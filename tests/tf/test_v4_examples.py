"""transformers v4's nine TF BERT docstring examples, as written there (a tiny model and tokenizer instead of the
hub checkpoints): the call forms, output fields and label shapes they use."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import bert_tf
from bert_core import BertConfig, BertTokenizer
from tests.tf.helpers import WORDS


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    vocab = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    vocab.write_text("\n".join(WORDS) + "\n")
    return BertTokenizer(str(vocab))


def _model(cls, **overrides):
    keras.utils.set_random_seed(0)
    return cls(BertConfig(vocab_size=len(WORDS), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                          intermediate_size=37, max_position_embeddings=64, **overrides))


def test_base_pretraining_and_lm_head_take_the_tokenizer_output(tokenizer):
    inputs = tokenizer("Hello, my dog is cute", return_tensors="tf")
    outputs = _model(bert_tf.TFBertModel)(inputs)
    assert outputs.last_hidden_state.shape == (1, inputs["input_ids"].shape[1], 32)
    input_ids = tokenizer("Hello, my dog is cute", add_special_tokens=True, return_tensors="tf")
    prediction_logits, seq_relationship_logits = _model(bert_tf.TFBertForPreTraining)(input_ids)[:2]
    assert seq_relationship_logits.shape == (1, 2)
    logits = _model(bert_tf.TFBertLMHeadModel, is_decoder=True)(inputs).logits
    assert logits.shape[-1] == len(WORDS)


def test_masked_lm_and_token_classification(tokenizer):
    inputs = tokenizer("The dog is [MASK].", return_tensors="tf")
    model = _model(bert_tf.TFBertForMaskedLM)
    logits = model(**inputs).logits
    mask_token_index = tf.where((inputs.input_ids == tokenizer.mask_token_id)[0])
    selected_logits = tf.gather_nd(logits[0], indices=mask_token_index)
    predicted_token_id = tf.math.argmax(selected_logits, axis=-1)
    labels = tokenizer("The dog is cute.", return_tensors="tf")["input_ids"]
    labels = tf.where(inputs.input_ids == tokenizer.mask_token_id, labels, -100)
    assert model(**inputs, labels=labels).loss.shape == () and predicted_token_id.shape == (1,)

    model = _model(bert_tf.TFBertForTokenClassification, num_labels=3)
    logits = model(**inputs, training=False).logits
    predicted_token_class_ids = tf.math.argmax(logits, axis=-1)
    assert np.isfinite(model(**inputs, labels=predicted_token_class_ids).loss.numpy())


def test_next_sentence_sequence_classification_multiple_choice_qa(tokenizer):
    encoding = tokenizer("my dog", "is cute", return_tensors="tf")
    logits = _model(bert_tf.TFBertForNextSentencePrediction)(encoding["input_ids"],
                                                             token_type_ids=encoding["token_type_ids"])[0]
    assert logits.shape == (1, 2)

    inputs = tokenizer("Hello, my dog is cute", return_tensors="tf")
    model = _model(bert_tf.TFBertForSequenceClassification, num_labels=2)
    predicted_class_id = int(tf.math.argmax(model(**inputs).logits, axis=-1)[0])
    assert model.config.id2label[predicted_class_id].startswith("LABEL_")
    assert model(**inputs, labels=tf.constant(1)).loss.shape == ()

    encoding = tokenizer(["my dog", "my dog"], ["is cute", "was bad"], return_tensors="tf", padding=True)
    inputs = {k: tf.expand_dims(v, 0) for k, v in encoding.items()}
    outputs = _model(bert_tf.TFBertForMultipleChoice)(inputs)  # batch size is 1
    assert outputs.logits.shape == (1, 2)

    inputs = tokenizer("my dog", "is cute", return_tensors="tf")
    model = _model(bert_tf.TFBertForQuestionAnswering, num_labels=2)
    outputs = model(**inputs)
    answer_start_index = int(tf.math.argmax(outputs.start_logits, axis=-1)[0])
    answer_end_index = int(tf.math.argmax(outputs.end_logits, axis=-1)[0])
    predict_answer_tokens = inputs.input_ids[0, answer_start_index: answer_end_index + 1]
    assert tokenizer.decode(predict_answer_tokens.numpy()) is not None
    loss = model(**inputs, start_positions=tf.constant([1]), end_positions=tf.constant([2])).loss
    assert np.isfinite(loss.numpy())
