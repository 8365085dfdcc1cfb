"""Packed pre-training in bert_tf: a packed batch gives the loss and gradients of the same examples unpacked
(``TrainingModule``), and ``train`` runs on packed batches (``bert_core.data.packing``)."""

from __future__ import annotations

import numpy as np
import pytest

import bert_tf  # noqa: F401  (sets the Keras backend)
import keras
import tensorflow as tf

from bert_core import BertConfig
from bert_core.data import PACKED_FIELDS, batches, packed_batches
from bert_core.training import TrainingConfig
from bert_tf import TFBertForPreTraining
from bert_tf import train as tf_train
from bert_tf.distributed import batch_fields
from bert_tf.training_module import TrainingModule, schema_variables
from tests.conftest import tiny_config_dict
from tests.core.test_packing import random_examples


def _loss_and_grads(module: TrainingModule, batch: dict) -> tuple[float, dict[str, np.ndarray]]:
    variables = schema_variables(module.bert_model)
    inputs = {k: tf.constant(np.asarray(v, np.int32)) for k, v in batch.items()}
    with tf.GradientTape() as tape:
        loss = module(inputs, training=False)
    grads = tape.gradient(loss, list(variables.values()))
    return float(loss), {name: tf.convert_to_tensor(g).numpy() for name, g in zip(variables, grads) if g is not None}


@pytest.mark.parametrize("position_embedding_type", ["absolute", "relative_key_query"])
def test_packed_batch_equals_unpacked(position_embedding_type):
    examples = random_examples(n=10, seq=24)
    unpacked = next(batches(examples, len(examples)))
    packed = next(packed_batches(examples, 100, 24, drop_remainder=False))
    assert len(packed["input_ids"]) < len(examples)  # rows really hold several examples
    assert int((packed["next_sentence_label"] != -100).sum()) == len(examples)
    config = BertConfig(**tiny_config_dict(position_embedding_type=position_embedding_type))
    keras.utils.set_random_seed(0)
    model = TFBertForPreTraining(config)
    unpacked = {k: unpacked[k] for k in ("input_ids", "attention_mask", "token_type_ids", "labels",
                                         "next_sentence_label")}
    want_loss, want = _loss_and_grads(TrainingModule(model, sparse_mlm=False), unpacked)  # the model's own loss
    for sparse_mlm in (False, True):  # packed rows take the packed path either way
        got_loss, got = _loss_and_grads(TrainingModule(model, sparse_mlm=sparse_mlm), packed)
        assert got_loss == pytest.approx(want_loss, rel=1e-5)
        assert set(got) == set(want)
        for name in want:
            np.testing.assert_allclose(got[name], want[name], atol=1e-5, rtol=1e-4, err_msg=name)


def test_batch_fields_keep_packed_fields():
    packed = next(packed_batches(random_examples(n=10, seq=24), 4, 24))
    assert batch_fields(packed, TrainingConfig(packing=True)) == list(PACKED_FIELDS)
    with pytest.raises(ValueError, match="lack cls_positions"):
        batch_fields({k: v for k, v in packed.items() if k != "cls_positions"}, TrainingConfig(packing=True))


@pytest.mark.parametrize("jit_compile", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_train_runs_on_packed_batches(tmp_path, jit_compile):
    examples = random_examples(n=60, seq=24, seed=1)
    config = TrainingConfig(total_steps=3, batch_size=4, max_seq_length=24, learning_rate=1e-3, log_every=1,
                            packing=True, output_dir=str(tmp_path))
    model = tf_train.build_model(config, model_config=BertConfig(**tiny_config_dict()))
    result = tf_train.train(model, list(packed_batches(examples, 4, 24)), config, progress=False, save=False,
                            jit_compile=jit_compile)
    assert result.steps == 3 and all(np.isfinite(result.losses))
