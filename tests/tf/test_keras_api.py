"""transformers v4 TF code runs unchanged on Keras 3: input forms, predict, functional API, .keras saving,
ModelCheckpoint, load_weights, summary, trainable weights, freezing, get_config, the attention mask rule."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import bert_tf
from bert_core.tokenization.batch import BatchEncoding
from conversion.formats import tf_h5
from tests.conftest import HEADS, TINY, random_inputs
from tests.tf.helpers import assert_close, tiny_config


def _config(head: str, **overrides):
    return tiny_config(num_labels=2 if head == "BertForQuestionAnswering" else 3,
                       is_decoder=head == "BertLMHeadModel", **overrides)


def _inputs(head: str, batch: int = 4, seq: int = 6) -> dict:
    choices = 2 if head == "BertForMultipleChoice" else None
    return {k: tf.constant(v, tf.int32) for k, v in random_inputs(batch=batch, seq=seq, choices=choices).items()}


def _main(out):
    return out[0]


# -- attention_mask: nonzero = keep -----------------------------------------------------------------------------
@pytest.mark.parametrize("decoder", [False, True])
def test_attention_mask_nonzero_means_keep(decoder):
    config = tiny_config(is_decoder=decoder, add_cross_attention=decoder)
    model = bert_tf.TFBertModel(config)
    x = random_inputs(batch=3, seq=7)
    binary = x["attention_mask"].astype(np.float32)
    extra = {}
    if decoder:
        extra = {"encoder_hidden_states": tf.random.stateless_normal((3, 5, 32), (1, 2)),
                 "encoder_attention_mask": np.array([[1, 1, 1, 0, 0]] * 3, np.float32)}
    ref = model(x["input_ids"], attention_mask=binary, **extra).last_hidden_state
    for value in (2.0, 0.5, -1.0, 1e-3):
        scaled = {**extra}
        if decoder:
            scaled["encoder_attention_mask"] = extra["encoder_attention_mask"] * value
        out = model(x["input_ids"], attention_mask=binary * value, **scaled).last_hidden_state
        assert_close(out, ref, 0.0, f"mask * {value}")
    ints = model(x["input_ids"], attention_mask=(x["attention_mask"] * 2).astype(np.int32), **extra)
    assert_close(ints.last_hidden_state, ref, 0.0)
    # and a zero still masks: a row with fewer kept keys differs
    fewer = binary.copy()
    fewer[0, 1] = 0.0
    assert not np.allclose(model(x["input_ids"], attention_mask=fewer, **extra).last_hidden_state[0], ref[0])


# -- v4's first-argument forms -----------------------------------------------------------------------------------
def test_batch_encoding_dict_and_list_as_first_argument():
    model = bert_tf.TFBertForSequenceClassification(tiny_config())
    x = random_inputs(batch=2, seq=5)
    expected = model(x["input_ids"], attention_mask=x["attention_mask"], token_type_ids=x["token_type_ids"]).logits
    encoding = BatchEncoding(dict(x), tensor_type="tf")
    assert isinstance(encoding["input_ids"], tf.Tensor)
    tensors = [tf.constant(x[k]) for k in ("input_ids", "attention_mask", "token_type_ids")]
    for given in (encoding, dict(x), tensors, tuple(tensors), [tf.constant(x["input_ids"])] + tensors[1:]):
        assert_close(model(given).logits, expected, 0.0, type(given).__name__)
    assert_close(model(encoding, output_hidden_states=True).logits, expected, 0.0)
    assert_close(model({**x, "output_hidden_states": True}).logits, expected, 0.0)  # flags inside the dict


# -- predict ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("head", HEADS)
def test_predict_every_head(head):
    model = bert_tf.MODEL_CLASSES[head](_config(head))
    x = _inputs(head, batch=5)
    eager = model(x)
    predicted = model.predict(x, batch_size=2, verbose=0)
    assert type(predicted) is type(eager)
    assert list(predicted.keys()) == list(eager.keys())
    for key in eager.keys():
        if key != "past_key_values":
            assert isinstance(predicted[key], np.ndarray)
            assert_close(predicted[key], eager[key], 1e-5, key)
    assert_close(predicted[0], _main(eager), 1e-5)
    field = {"BertModel": "last_hidden_state", "BertForPreTraining": "prediction_logits",
             "BertForQuestionAnswering": "start_logits"}.get(head, "logits")
    assert_close(getattr(predicted, field), eager[field], 1e-5)


def test_training_flag_and_return_dict_false():
    model = bert_tf.TFBertForTokenClassification(tiny_config(hidden_dropout_prob=0.5))
    x = random_inputs(batch=2, seq=5)
    assert_close(model(x).logits, model(x, training=False).logits, 0.0)  # training defaults to False
    assert not np.allclose(model(x, training=True).logits, model(x, training=True).logits)
    as_tuple = model(x, labels=x["input_ids"] % 3, return_dict=False)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 2 and as_tuple[0].shape == ()


def test_predict_ignores_labels_and_takes_datasets():
    model = bert_tf.TFBertForSequenceClassification(tiny_config())
    x = random_inputs(batch=4, seq=5)
    data = tf.data.Dataset.from_tensor_slices({**x, "labels": np.zeros(4, np.int32)}).batch(3)
    predicted = model.predict(data, verbose=0)
    assert predicted.loss is None
    assert_close(predicted.logits, model(x).logits, 1e-5)
    encoding = BatchEncoding(dict(x), tensor_type="tf")
    assert_close(model.predict(encoding, verbose=0).logits, model(x).logits, 1e-5)
    assert np.isfinite(model.compile(optimizer="sgd") or model.evaluate(
        BatchEncoding({**x, "labels": np.zeros(4, np.int32)}), verbose=0))


# -- functional API ---------------------------------------------------------------------------------------------
def test_functional_api_trains_and_saves(tmp_path):
    """v4's compile_tf_model pattern: a TFBert model inside a functional model, compiled, fitted, saved."""
    keras.utils.set_random_seed(0)
    bert = bert_tf.TFBertModel(tiny_config())
    input_ids = keras.Input(shape=(None,), dtype="int32", name="input_ids")
    hidden_states = bert(input_ids)[0]
    logits = keras.layers.Dense(3, name="tagger")(hidden_states)
    model = keras.Model(inputs=[input_ids], outputs=[logits])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.SparseCategoricalCrossentropy(True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")])
    x = random_inputs(batch=4, seq=6)["input_ids"]
    history = model.fit(x, x % 3, epochs=2, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all() and "accuracy" in history.history
    model.save(tmp_path / "functional.keras")
    again = keras.models.load_model(tmp_path / "functional.keras")
    assert_close(again(x), model(x), 1e-6)

    # the dict-of-Inputs form with transformers' input_signature, pooled output
    inputs = {name: keras.Input(shape=spec.shape[1:], dtype=spec.dtype, name=name)
              for name, spec in bert.input_signature.items()}
    pooled = keras.Model(inputs, bert(inputs).pooler_output)
    feed = random_inputs(batch=2, seq=5)
    assert_close(pooled.predict(feed, verbose=0), bert(feed).pooler_output, 1e-5)


# -- saving -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("head", ["BertForSequenceClassification", "BertLMHeadModel", "BertForMultipleChoice"])
def test_keras_save_and_load_model(head, tmp_path):
    model = bert_tf.MODEL_CLASSES[head](_config(head))
    x = _inputs(head, batch=2)
    model.save(tmp_path / "model.keras")
    again = keras.models.load_model(tmp_path / "model.keras")  # safe mode: no lambdas, no pickle
    assert type(again) is type(model) and again.config == model.config
    assert_close(_main(again(x)), _main(model(x)), 0.0)


@pytest.mark.slow
def test_compiled_model_saves_with_optimizer_and_resumes(tmp_path):
    model = bert_tf.TFBertForSequenceClassification(tiny_config())
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    data = tf.data.Dataset.from_tensor_slices({**random_inputs(batch=4, seq=5),
                                               "labels": np.array([0, 1, 2, 0])}).batch(2)
    model.fit(data, epochs=1, verbose=0)
    model.save(tmp_path / "model.keras")
    again = keras.models.load_model(tmp_path / "model.keras")
    assert int(again.optimizer.iterations.numpy()) == 2
    assert np.isfinite(again.fit(data, epochs=1, verbose=0).history["loss"]).all()


def test_model_checkpoint_and_load_weights_after_construction(tmp_path):
    model = bert_tf.TFBertForTokenClassification(tiny_config())
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    x = random_inputs(batch=4, seq=5)
    data = tf.data.Dataset.from_tensor_slices({**x, "labels": x["input_ids"] % 3}).batch(2)
    callbacks = [keras.callbacks.ModelCheckpoint(str(tmp_path / "w-{epoch}.weights.h5"), save_weights_only=True),
                 keras.callbacks.ModelCheckpoint(str(tmp_path / "m-{epoch}.keras"))]
    model.fit(data, epochs=2, verbose=0, callbacks=callbacks)
    fresh = bert_tf.TFBertForTokenClassification(tiny_config())
    assert fresh.built
    fresh.load_weights(tmp_path / "w-2.weights.h5")
    assert_close(fresh(x).logits, model(x).logits, 0.0)
    whole = keras.models.load_model(tmp_path / "m-2.keras")
    assert_close(whole(x).logits, model(x).logits, 0.0)
    pretrained = bert_tf.TFBertForTokenClassification.from_pretrained(TINY / "BertForTokenClassification" / "pt",
                                                                       num_labels=3, ignore_mismatched_sizes=True)
    pretrained.load_weights(tmp_path / "w-2.weights.h5")
    assert_close(pretrained(x).logits, model(x).logits, 0.0)


def test_get_config_round_trip():
    model = bert_tf.TFBertForMaskedLM(tiny_config())
    config = model.get_config()
    json.dumps(config)
    x = random_inputs(batch=2, seq=5)
    for source in (config, model.config, model.config.to_dict()):
        twin = bert_tf.TFBertForMaskedLM.from_config(source)
        twin.set_weights(model.get_weights())
        assert_close(twin(x).logits, model(x).logits, 0.0)


# -- summary, trainable weights, freezing -----------------------------------------------------------------------
def test_summary_and_v4_weight_names():
    model = bert_tf.TFBertForSequenceClassification(tiny_config(), name="tf_bert_for_sequence_classification")
    lines = []
    model.summary(print_fn=lambda line, *a, **k: lines.append(line))
    text = "\n".join(lines)
    assert "bert (TFBertMainLayer)" in text and "classifier (Dense)" in text
    assert f"{model.count_params():,}" in text and model.count_params() > 0
    # trainable_weights carry transformers v4's names (v4's ``w.name`` less ":0" is Keras 3's ``w.path``)
    v4_names = {model.name + "/" + n for n in tf_h5.read_tf_names(str(TINY / "BertForSequenceClassification" / "tf"))}
    assert {w.path for w in model.trainable_weights} == v4_names
    assert bert_tf.TFBertModel(tiny_config()).trainable_weights[0].path.startswith("tf_bert_model")


def test_freezing_the_encoder_under_fit(tmp_path):
    keras.utils.set_random_seed(0)
    model = bert_tf.TFBertForSequenceClassification(tiny_config())
    model.bert.trainable = False
    assert len(model.trainable_weights) == 2  # classifier kernel and bias
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = [w.numpy().copy() for w in model.bert.weights]
    head_before = model.classifier.kernel.numpy().copy()
    x = random_inputs(batch=4, seq=5)
    model.fit({**x, "labels": np.array([0, 1, 2, 0])}, batch_size=2, epochs=1, verbose=0)
    for w, b in zip(model.bert.weights, before):
        np.testing.assert_array_equal(w.numpy(), b)
    assert not np.allclose(model.classifier.kernel.numpy(), head_before)
    # a whole-model save keeps the freeze (and the optimizer state of the head's variables)
    model.save(tmp_path / "frozen.keras")
    again = keras.models.load_model(tmp_path / "frozen.keras")
    assert not again.bert.trainable and len(again.trainable_weights) == 2
    assert len(again.optimizer.variables) == len(model.optimizer.variables)


def test_labels_in_inputs_or_as_y_give_the_same_history_keys():
    model = bert_tf.TFBertForSequenceClassification(tiny_config())
    model.compile(optimizer=keras.optimizers.SGD(0.0), metrics=[keras.metrics.SparseCategoricalAccuracy()])
    x = random_inputs(batch=4, seq=5)
    labels = np.array([0, 1, 2, 0], np.int32)
    h1 = model.fit({**x, "labels": labels}, validation_data={**x, "labels": labels}, epochs=1, verbose=0)
    h2 = model.fit(x, labels, validation_data=(x, labels), epochs=1, verbose=0)
    assert h1.history.keys() == h2.history.keys()
    assert "sparse_categorical_accuracy" in h1.history
    np.testing.assert_allclose(h1.history["val_loss"], h2.history["val_loss"], rtol=1e-5)


def test_compiled_losses_pair_targets_with_outputs_as_v4():
    """v4's train_step rules: targets by output name (dict), by order (list), or the labels into the inputs."""
    x = random_inputs(batch=4, seq=6)
    start, end = np.array([1, 2, 3, 0]), np.array([2, 3, 4, 1])
    scce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    cases = [({"start_logits": scce, "end_logits": scce}, {"start_logits": start, "end_logits": end},
              {"loss", "start_logits_loss", "end_logits_loss"}),
             ([scce, scce], (start, end), None),
             (scce, {"start_logits": start}, {"loss"}),
             (None, {"start_positions": start, "end_positions": end}, {"loss"})]
    model = bert_tf.TFBertForQuestionAnswering(tiny_config(num_labels=2))
    for loss, y, keys in cases:  # recompiling the same model: Keras' previous loss must not stick
        model.compile(optimizer=keras.optimizers.SGD(0.0), loss=loss)
        history = model.fit(x, y, batch_size=2, epochs=1, verbose=0).history
        assert np.isfinite(history["loss"]).all()
        assert keys is None or set(history) == keys, history.keys()
    own = model(x, start_positions=start, end_positions=end).loss.numpy()
    np.testing.assert_allclose(model.evaluate(x, {"start_positions": start, "end_positions": end}, verbose=0),
                               own, rtol=1e-5)
