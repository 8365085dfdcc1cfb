"""TFBert* models: fixtures of transformers 4.57.6, checkpoints, calling conventions, input checks, tf.function."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import bert_tf
from bert_core.heads import framework_class_name
from bert_tf.checkpoint import tf_variables
from conversion import WeightMismatchError
from conversion.formats import tf_h5
from tests.conftest import HEADS, TINY, random_inputs
from tests.tf.helpers import assert_close, tiny_config


def test_model_classes():
    assert list(bert_tf.MODEL_CLASSES) == list(HEADS)
    for head, cls in bert_tf.MODEL_CLASSES.items():
        assert cls.__name__ == framework_class_name(head, "tf")
        assert issubclass(cls, __import__("keras").Model)


@pytest.mark.parametrize("head", HEADS)
def test_variable_names_are_transformers_names(head):
    """The Keras variables carry exactly the weight names of transformers' TF twin (so the one table serves)."""
    model = bert_tf.MODEL_CLASSES[head](tiny_config(num_labels=5 if "Token" in head else 3,
                                                    is_decoder=head == "BertLMHeadModel"))
    fixture = {tf_h5.tf_names._strip_model_name(k) for k in tf_h5.read_tf_names(str(TINY / head / "tf"))}
    assert set(tf_variables(model)) == fixture


def test_save_and_load_every_format(tmp_path):
    model = bert_tf.TFBertForSequenceClassification.from_pretrained(TINY / "BertForSequenceClassification" / "tf")
    names = model.save_pretrained(tmp_path / "saved")
    assert names == ["config.json", "tf_model.h5"]
    again = bert_tf.TFBertForSequenceClassification.from_pretrained(tmp_path / "saved")
    ids = random_inputs(batch=2, seq=7)
    assert_close(again(ids).logits, model(ids).logits, 0.0)
    assert again.config.architectures == ["BertForSequenceClassification"]
    flax = TINY / "BertForSequenceClassification" / "flax"
    try:
        from_flax = bert_tf.TFBertForSequenceClassification.from_pretrained(flax)
    except (ImportError, ValueError) as e:  # the msgpack reader belongs to another package
        pytest.skip(f"flax_model.msgpack reader unavailable: {e}")
    assert_close(from_flax(ids).logits, model(ids).logits, 1e-6)


def test_base_checkpoint_into_head_and_mismatch(tmp_path, caplog):
    head = bert_tf.TFBertForMaskedLM.from_pretrained(TINY / "BertModel" / "pt")  # no cls.*: newly initialised
    assert "cls.predictions" in caplog.text
    base = bert_tf.TFBertModel.from_pretrained(TINY / "BertModel" / "pt")
    assert_close(head.bert.embeddings.word_embeddings.weight, base.bert.embeddings.word_embeddings.weight, 0.0)
    with pytest.raises(WeightMismatchError, match="classifier.weight"):
        bert_tf.TFBertForSequenceClassification.from_pretrained(TINY / "BertForSequenceClassification" / "pt",
                                                                num_labels=4)
    model = bert_tf.TFBertForSequenceClassification.from_pretrained(
        TINY / "BertForSequenceClassification" / "pt", num_labels=4, ignore_mismatched_sizes=True)
    assert model.classifier.kernel.shape == (32, 4)


def test_calling_conventions():
    model = bert_tf.TFBertForQuestionAnswering(tiny_config(num_labels=2))
    inputs = random_inputs(batch=2, seq=6)
    a = model(inputs)
    b = model(inputs["input_ids"], attention_mask=inputs["attention_mask"], token_type_ids=inputs["token_type_ids"])
    c = model(inputs, return_dict=False)
    assert isinstance(c, tuple) and len(c) == 2
    assert_close(a.start_logits, b.start_logits, 0.0)
    assert_close(a["end_logits"], c[1], 0.0)
    embeds = tf.gather(model.bert.embeddings.word_embeddings.weight, inputs["input_ids"])
    d = model(None, inputs_embeds=embeds, attention_mask=inputs["attention_mask"],
              token_type_ids=inputs["token_type_ids"])
    assert_close(a.start_logits, d.start_logits, 1e-6)
    with pytest.raises(TypeError, match="unexpected"):
        model(inputs, bogus=1)


def test_input_checks_eager_and_in_graph():
    model = bert_tf.TFBertModel(tiny_config())
    ids = np.array([[1, 2, 99]])
    with pytest.raises(ValueError, match="input_ids contains 99"):
        model(ids)
    with pytest.raises(ValueError, match="token_type_ids"):
        model(np.array([[1, 2]]), token_type_ids=np.array([[0, 2]]))
    with pytest.raises(ValueError, match="max_position_embeddings=64"):
        model(np.ones((1, 65), np.int32))
    with pytest.raises(ValueError, match="token_type_ids has shape"):
        model(np.array([[1, 2, 3]]), token_type_ids=np.array([[0, 1]]))

    @tf.function
    def run(input_ids):
        return model(input_ids).last_hidden_state

    with pytest.raises(tf.errors.InvalidArgumentError, match=r"input_ids must lie in \[0, 99\)"):
        run(tf.constant([[1, 2, 99]]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_position_embeddings=64"):
        run(tf.ones((1, 65), tf.int32))


def test_tf_function_and_jit_compile_match_eager():
    model = bert_tf.TFBertForPreTraining(tiny_config())
    inputs = {k: tf.constant(v, tf.int32) for k, v in random_inputs(batch=2, seq=8).items()}
    eager = model(inputs, output_hidden_states=True)
    graph = tf.function(lambda x: model(x, output_hidden_states=True))(inputs)
    jit = tf.function(lambda x: model(x).prediction_logits, jit_compile=True)(inputs)
    assert_close(graph.prediction_logits, eager.prediction_logits, 1e-6)
    assert_close(graph.hidden_states, eager.hidden_states, 1e-6)
    assert_close(jit, eager.prediction_logits, 1e-5)


def test_repr():
    assert "vocab_size=99" in repr(bert_tf.TFBertModel(tiny_config()))


def test_refuses_another_keras_backend():
    from tests.tf.helpers import run_python

    proc = run_python("import bert_tf", {"KERAS_BACKEND": "jax"})
    assert proc.returncode != 0 and "KERAS_BACKEND=tensorflow" in proc.stderr


def test_output_dataclasses_are_built_by_keyword():
    """A reorder of bert_core.outputs fields must never silently swap values: no positional ``O.X(...)`` calls."""
    import ast
    import pathlib

    import bert_tf

    for path in pathlib.Path(bert_tf.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "O":
                assert not node.args, f"{path.name}:{node.lineno} builds O.{node.func.attr} positionally"
