"""bert_tf.train: schedule and AdamW against bert_core.training, one step against bert_torch.train, the CLI, and
MirroredStrategy on two logical CPUs against one device (in a subprocess: logical devices must be set before TF
initialises)."""

from __future__ import annotations

import json
import os
import textwrap

import numpy as np
import pytest

import bert_tf  # noqa: F401  (sets the Keras backend)
import keras
import tensorflow as tf

from bert_core import BertConfig
from bert_core.training import TrainingConfig, adamw_reference_step, decays, learning_rate_at
from bert_tf import train as tf_train
from bert_tf.schedules import LinearWarmupDecay, build_optimizer
from tests.conftest import tiny_config_dict
from tests.tf.helpers import run_python, torch_available

VOCAB, SEQ = 99, 10


def task_arrays(task: str, n: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """Random rows for ``task``; pre-training rows have 1 to 4 MLM labels, so micro-batch means differ."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, VOCAB, (n, SEQ)).astype(np.int64)
    mask = np.ones((n, SEQ), np.int64)
    mask[::3, SEQ - 3:] = 0
    types = np.zeros((n, SEQ), np.int64)
    types[:, SEQ // 2:] = 1
    out = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    if task == "pretraining":
        labels = np.full((n, SEQ), -100, np.int64)
        for row in range(n):
            pos = rng.choice(np.arange(1, SEQ - 3), 1 + row % 4, replace=False)
            labels[row, pos] = ids[row, pos]
            ids[row, pos] = 3
        out.update(labels=labels, next_sentence_label=rng.integers(0, 2, n))
    elif task == "sequence-classification":
        out["labels"] = rng.integers(0, 3, n)
    elif task == "token-classification":
        out["labels"] = np.where(mask == 1, rng.integers(0, 3, (n, SEQ)), -100)
    else:
        out.update(start_positions=rng.integers(0, SEQ, n), end_positions=rng.integers(0, SEQ, n))
    return out


def global_batches(arrays: dict, batch_size: int) -> list[dict]:
    n = len(arrays["input_ids"])
    return [{k: v[i:i + batch_size] for k, v in arrays.items()} for i in range(0, n, batch_size)]


def training_config(task: str, **overrides) -> TrainingConfig:
    values = dict(task=task, total_steps=2, warmup_steps=1, batch_size=4, learning_rate=1e-2, weight_decay=0.1,
                  max_grad_norm=0.5, log_every=1, seed=0)
    values.update(overrides)
    return TrainingConfig(**values)


def test_schedule_is_learning_rate_at_per_optimizer_step():
    config = TrainingConfig(learning_rate=3e-4, warmup_steps=3, total_steps=10, gradient_accumulation_steps=2,
                            batch_size=4)
    schedule = LinearWarmupDecay.from_training_config(config)
    for micro in range(24):
        assert float(schedule(micro)) == pytest.approx(learning_rate_at(micro // 2, config), rel=1e-6, abs=1e-12)
    restored = LinearWarmupDecay.from_config(schedule.get_config())
    assert float(restored(7)) == float(schedule(7))


def test_adamw_is_the_reference_step():
    """Two clipped steps with and without weight decay equal bert_core.training.adamw_reference_step (torch's)."""
    config = TrainingConfig(learning_rate=0.1, warmup_steps=0, total_steps=4, weight_decay=0.3, max_grad_norm=0.5,
                            adam_epsilon=1e-3)
    rng = np.random.default_rng(0)
    params = {"bert.encoder.layer.0.output.dense.weight": rng.normal(size=(3, 2)),
              "bert.encoder.layer.0.output.dense.bias": rng.normal(size=(3,)),
              "bert.embeddings.LayerNorm.weight": rng.normal(size=(2,))}
    variables = {k: keras.Variable(v.astype(np.float32), name=k.replace(".", "_")) for k, v in params.items()}
    optimizer = build_optimizer(variables, config)
    state = None
    for step in range(2):
        grads = {k: rng.normal(size=v.shape) * 1e-3 ** step for k, v in params.items()}
        params, state, _ = adamw_reference_step(params, grads, state, config)
        optimizer.apply([tf.constant(grads[k], tf.float32) for k in variables], list(variables.values()))
        for k, var in variables.items():
            np.testing.assert_allclose(var.numpy(), params[k], rtol=1e-5, atol=1e-6, err_msg=f"{k} step {step}")
    assert [k for k in params if not decays(k)] == list(params)[1:]


@pytest.mark.skipif(not torch_available(), reason="needs torch and bert_torch")
@pytest.mark.parametrize("task,accum", [("pretraining", 2), ("sequence-classification", 1),
                                        ("token-classification", 1), ("question-answering", 1)])
def test_steps_equal_bert_torch(task, accum):
    """The same data and weights give bert_torch.train's losses and weights after 2 steps (warmup, decay,
    clipping, weight decay, accumulation), to 1e-4."""
    import torch

    import bert_torch
    from bert_torch.train import build_optimizer as torch_optimizer
    from bert_torch.train import build_scheduler, train_step, training_module

    config = training_config(task, gradient_accumulation_steps=accum)
    bert_config = BertConfig(**tiny_config_dict(num_labels=2 if task == "question-answering" else 3))
    batches = global_batches(task_arrays(task), config.batch_size)

    torch_model = bert_torch.MODEL_CLASSES[config.head](bert_config, seed=0)
    weights = torch_model.schema_state_dict()
    module = training_module(torch_model, config)
    module.train()
    optimizer, device = torch_optimizer(module, config), torch.device("cpu")
    scheduler = build_scheduler(optimizer, config)
    torch_losses = []
    for batch in batches:
        micro = [{k: v[i * 4 // accum:(i + 1) * 4 // accum] for k, v in batch.items()} for i in range(accum)]
        loss, _ = train_step(module, optimizer, scheduler, micro, config, device)
        torch_losses.append(float(loss))

    model = tf_train.build_model(config, model_config=bert_config)
    model.load_schema_state_dict(weights)
    result = tf_train.train(model, batches, config, strategy="none", progress=False, save=False)
    np.testing.assert_allclose(result.losses, torch_losses, atol=1e-4)
    trained, expected = model.schema_state_dict(), torch_model.schema_state_dict()
    assert set(trained) == set(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(trained[name], value, atol=1e-4, err_msg=name)
    assert max(float(np.max(np.abs(expected[k] - weights[k]))) for k in weights) > 1e-3  # it did train
