"""SavedModel export: raw strings -> head outputs in one graph, reloaded without bertzoo; TF Serving layout."""

from __future__ import annotations

import json

import numpy as np
import tensorflow as tf

import bert_tf
from bert_tf.tokenizer import TFBertTokenizer
from tests.conftest import FIXTURES
from tests.tf.helpers import run_python, tiny_config

TEXTS = ["Hello, world!", "A much longer sentence that goes on and on, well past sixteen word pieces for sure."]


def test_strings_in_logits_out_in_a_fresh_process(tmp_path):
    tokenizer = TFBertTokenizer.from_pretrained(FIXTURES / "minilm-tokenizer", max_length=16)
    model = bert_tf.TFBertForSequenceClassification(tiny_config(vocab_size=30522))
    expected = model(tokenizer(tf.constant(TEXTS))).logits.numpy()
    path = bert_tf.export_saved_model(model, tokenizer, tmp_path / "exported")
    code = f"""
import json, sys
import tensorflow as tf
import tensorflow_text  # registers the tokenizer ops
loaded = tf.saved_model.load({str(path)!r})
out = loaded.signatures["serving_default"](text=tf.constant({TEXTS!r}))
assert not any(m.split(".")[0] in ("bert_tf", "bert_core", "conversion") for m in sys.modules)
print("RESULT" + json.dumps(out["logits"].numpy().tolist()))
"""
    proc = run_python(code, {"KERAS_BACKEND": "tensorflow"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = np.array(json.loads(proc.stdout.split("RESULT", 1)[1]))
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_serving_export_of_the_model_alone(tmp_path):
    model = bert_tf.TFBertForQuestionAnswering(tiny_config(num_labels=2))
    ids = {"input_ids": tf.constant([[2, 5, 7, 0]], tf.int32), "attention_mask": tf.constant([[1, 1, 1, 0]], tf.int32),
           "token_type_ids": tf.zeros((1, 4), tf.int32)}
    folder = bert_tf.export_serving_model(model, tmp_path / "serving", version=7)
    assert (tmp_path / "serving" / "7" / "saved_model.pb").is_file()
    out = tf.saved_model.load(folder).signatures["serving_default"](**ids)
    expected = model(ids)
    np.testing.assert_allclose(out["start_logits"].numpy(), expected.start_logits.numpy(), atol=1e-6)
    np.testing.assert_allclose(out["end_logits"].numpy(), expected.end_logits.numpy(), atol=1e-6)


def test_pair_export(tmp_path):
    tokenizer = TFBertTokenizer.from_pretrained(FIXTURES / "minilm-tokenizer")
    model = bert_tf.TFBertForNextSentencePrediction(tiny_config(vocab_size=30522))
    first, second = tf.constant(TEXTS), tf.constant(["A reply.", "Another one, longer than the first reply."])
    expected = model(tokenizer(first, second)).logits.numpy()
    loaded = tf.saved_model.load(bert_tf.export_saved_model(model, tokenizer, tmp_path / "pairs", pair=True))
    got = loaded.signatures["serving_default"](text=first, text_pair=second)["logits"].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
