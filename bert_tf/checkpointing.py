"""Training checkpoints of ``bert_tf.train``: weights, AdamW moments and step, written and read back.

A folder holds ``save_pretrained``'s files (``config.json``, ``tf_model.h5``), ``tf_training_state.npz`` (step,
``m/<schema name>`` and ``v/<schema name>`` moments in Keras' layout), ``training_config.json`` and
``trainer_state.json``; ``CheckpointEvery`` writes ``checkpoint-<step>`` folders during ``fit``.
"""

from __future__ import annotations

import json
import os

import keras
import numpy as np

from bert_core.files import atomic_path, atomic_write_text
from bert_core.training import TrainingConfig
from bert_tf.keras_internals import adam_moments, iterations_variable
from bert_tf.training_module import schema_variables

STATE_NAME = "tf_training_state.npz"


class CheckpointEvery(keras.callbacks.Callback):
    """``checkpoint-<step>`` folders every ``config.save_every`` optimizer steps."""

    def __init__(self, model, optimizer, config: TrainingConfig, start: int, chief: bool, progress: keras.callbacks.Callback):
        super().__init__()
        self.bert_model, self.optimizer, self.config = model, optimizer, config
        self.start, self.chief, self.progress = start, chief, progress

    def on_train_batch_end(self, batch, logs=None):
        c = self.config
        if (batch + 1) % c.gradient_accumulation_steps:
            return
        step = self.start + (batch + 1) // c.gradient_accumulation_steps
        if c.save_every and step % c.save_every == 0 and step < c.total_steps and self.chief:
            save_checkpoint(os.path.join(c.output_dir, f"checkpoint-{step}"), self.bert_model, self.optimizer,
                            step, c, self.progress.losses)


def save_checkpoint(folder: str | os.PathLike, model, optimizer, step: int, config: TrainingConfig,
                    losses: list[float] | None = None) -> None:
    """Write ``save_pretrained`` files (``config.json``, ``tf_model.h5``), ``tf_training_state.npz`` (step and the
    AdamW moments keyed ``m/<schema name>``, ``v/<schema name>``, Keras layout), ``training_config.json`` and
    ``trainer_state.json`` into ``folder``."""
    model.save_pretrained(folder)
    state = {"step": np.asarray(step, np.int64)}
    for name, var in schema_variables(model).items():
        m, v = adam_moments(optimizer, var)
        state[f"m/{name}"] = np.asarray(m.numpy())
        state[f"v/{name}"] = np.asarray(v.numpy())
    with atomic_path(os.path.join(os.fspath(folder), STATE_NAME)) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **state)
    config.save(folder)
    atomic_write_text(os.path.join(os.fspath(folder), "trainer_state.json"),
                      json.dumps({"step": step, "losses": losses or []}, indent=1) + "\n")


def load_weights(model, folder: str | os.PathLike) -> int:
    """Load a checkpoint's weights into ``model``; returns its step."""
    import conversion

    folder = os.fspath(folder)
    path = os.path.join(folder, STATE_NAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{folder} holds no {STATE_NAME}: resume from a folder written by bertzoo train "
                                f"--framework tf (the output dir or a checkpoint-<step> folder)")
    report = model.load_schema_state_dict(conversion.load_state_dict(folder))
    if report.missing or report.unexpected:
        raise ValueError(f"the checkpoint in {folder} does not fit the model: {report.summary()}")
    with np.load(path, allow_pickle=False) as z:
        return int(z["step"])


def load_optimizer_state(model, optimizer, folder: str | os.PathLike, config: TrainingConfig) -> None:
    """Restore the step counter and AdamW moments written by ``save_checkpoint`` (inside the strategy scope)."""
    with np.load(os.path.join(os.fspath(folder), STATE_NAME), allow_pickle=False) as z:
        state = {k: z[k] for k in z.files}
    names = schema_variables(model)
    missing = [n for n in names if f"m/{n}" not in state]
    if missing:
        raise ValueError(f"the optimizer state in {folder} lacks {', '.join(missing)}")
    for name, var in names.items():
        m, v = adam_moments(optimizer, var)
        m.assign(state[f"m/{name}"])
        v.assign(state[f"v/{name}"])
    iterations_variable(optimizer).assign(int(state["step"]) * config.gradient_accumulation_steps)
