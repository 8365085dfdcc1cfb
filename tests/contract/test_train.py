"""Each framework's own trainer (``adapter.train_steps``: ``bert_torch.train``, ``bert_tf.train``,
``bert_flax.train``) against ``bert_core.training.adamw_reference_step`` (float64 numpy, fed with the framework's
own gradients): two optimizer steps with linear decay, global-norm clipping (the norm is above the limit),
weight decay on weights only and, for pre-training, two accumulated micro-batches a step (rows with 1 to 4 MLM
labels, so the micro-batch means differ), from the same start in every framework; the loss of each step and every updated
weight to 1e-4. Then resume: two steps straight equal one step, a restart from the step-1 checkpoint in a fresh
model, and one more step.

Every framework trains pre-training (MLM + NSP, the tied decoder) in the default run; the other tasks are
``slow``, and so is Flax's resume (its jitted step compiles twice; ``tests/flax/test_train.py`` restarts from an
Orbax checkpoint with dropout on in the default run).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from bert_core.training import TASK_HEADS, TASKS, TrainingConfig, adamw_reference_step
from tests.contract.builders import head_config, max_diff, task_arrays
from tests.contract.conftest import FRAMEWORKS, get

ATOL = 1e-4
CHECKPOINT = {"pt": "checkpoint-{step}", "tf": "checkpoint-{step}", "flax": os.path.join("checkpoints", "{step}")}
"""Where each trainer writes the checkpoint of ``step`` inside ``output_dir`` (what ``resume_from`` takes)."""


def training_config(task: str, output_dir, **overrides) -> TrainingConfig:
    values = dict(task=task, total_steps=2, warmup_steps=0, batch_size=8, learning_rate=1e-2, weight_decay=0.1,
                  max_grad_norm=0.5, log_every=1, seed=0, output_dir=str(output_dir))
    return TrainingConfig(**{**values, **overrides})


def start(framework: str, task: str):
    """The task's head in ``framework`` with bert_torch's seeded weights (the same start in every framework)."""
    head = TASK_HEADS[task]
    config = head_config(head)
    pt = get("pt")
    weights = pt.state_dict(pt.build(config, head, seed=0))
    return get(framework).build(config, head, state_dict=weights), weights, config


@pytest.mark.parametrize("task", [t if t == "pretraining" else pytest.param(t, marks=pytest.mark.slow)
                                  for t in TASKS])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_steps_equal_the_adamw_reference(tmp_path, framework, task):
    adapter = get(framework)
    accumulation = 2 if task == "pretraining" else 1
    config = training_config(task, tmp_path, gradient_accumulation_steps=accumulation)
    model, weights, bert = start(framework, task)
    data = task_arrays(task, n=16, labelled=None)
    batches = [{k: v[i * 8:(i + 1) * 8] for k, v in data.items()} for i in range(2)]
    losses = adapter.train_steps(model, batches, config)
    assert len(losses) == 2
    params, state = {k: v.astype(np.float64) for k, v in weights.items()}, None
    for step, batch in enumerate(batches):
        current = adapter.build(bert, config.head, state_dict={k: v.astype(np.float32) for k, v in params.items()})
        micro = [{k: v[i * 8 // accumulation:(i + 1) * 8 // accumulation] for k, v in batch.items()}
                 for i in range(accumulation)]  # the loss of a step is the mean of its micro-batches' losses
        loss = np.mean([float(adapter.run(current, m)["loss"]) for m in micro])
        assert abs(losses[step] - loss) <= ATOL, f"loss of step {step}"
        grads = [adapter.gradients(current, m) for m in micro]
        grads = {k: np.mean([g[k] for g in grads], axis=0) for k in grads[0]}
        params, state, norm = adamw_reference_step(params, grads, state, config)
        assert norm > config.max_grad_norm  # the clipping path is exercised
    trained = adapter.state_dict(model)
    assert set(trained) == set(params)
    for name, want in params.items():
        assert max_diff(trained[name], want) <= ATOL, f"{framework} {task}: {name}"
    assert max(max_diff(trained[k], weights[k]) for k in weights) > 1e-3  # it did train


@pytest.mark.parametrize("framework", ["pt", "tf", pytest.param("flax", marks=pytest.mark.slow)])
def test_resume_continues_exactly(tmp_path, framework):
    adapter = get(framework)
    task = "sequence-classification"
    config = training_config(task, tmp_path / "straight", save_every=1)
    data = task_arrays(task, n=16, seed=2)
    batches = [{k: v[i * 8:(i + 1) * 8] for k, v in data.items()} for i in range(2)]
    straight, _, _ = start(framework, task)
    losses = adapter.train_steps(straight, batches, config, save=True)
    checkpoint = tmp_path / "straight" / CHECKPOINT[framework].format(step=1)
    assert checkpoint.is_dir()
    resumed, _, _ = start(framework, task)
    again = adapter.train_steps(resumed, batches, config.replace(output_dir=str(tmp_path / "resumed")),
                                resume_from=str(checkpoint), save=True)
    assert len(again) == 1 and abs(again[0] - losses[1]) <= 1e-6
    want, got = adapter.state_dict(straight), adapter.state_dict(resumed)
    for name, value in want.items():
        assert max_diff(got[name], value) <= 1e-6, f"{framework}: {name}"
