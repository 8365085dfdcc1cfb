"""Training bert_tf models with ``model.fit``: pre-training (MLM + NSP) and fine-tuning, under tf.distribute.

``train(model, global_batches, config)`` runs ``config.total_steps`` optimizer steps of ``bert_tf.schedules.AdamW``
(torch's AdamW update; no weight decay where ``bert_core.training.decays`` says so; global-norm clipping of the
all-reduced gradient; gradient accumulation that works under strategies) on ``LinearWarmupDecay``
(``learning_rate_at``), with ``keras.Model.fit`` under a ``tf.distribute`` strategy (``MirroredStrategy``,
``MultiWorkerMirroredStrategy``, ``TPUStrategy``, or none) and ``mixed_bfloat16`` for ``dtype="bfloat16"``.
The model is wrapped in ``TrainingModule`` (``bert_tf.training_module``), a Keras model whose output is the
loss (for pre-training the MLM head runs on the labelled positions only, as in ``bert_torch.train``: same loss,
fewer FLOPs). Each replica runs the rows of each global batch that ``bert_core.training.step_batches`` gives its
rank (``bert_tf.distributed``), so a run matches ``bert_torch`` on as many processes. Checkpoints are
``bert_tf.checkpointing``'s. ``main(args)`` is ``bertzoo train --framework tf``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable

import keras
import numpy as np
import tensorflow as tf

from bert_core.training import TrainingConfig, learning_rate_at
from bert_tf.checkpointing import (  # noqa: F401  (re-exported: bert_tf.train.save_checkpoint, ...)
    STATE_NAME, CheckpointEvery, load_optimizer_state, load_weights, save_checkpoint)
from bert_tf.distributed import is_chief, make_dataset, resolve_strategy
from bert_tf.schedules import build_optimizer
from bert_tf.training_module import TrainingModule, schema_variables  # noqa: F401  (re-exported)

logger = logging.getLogger("bert_tf")


@dataclasses.dataclass
class TrainResult:
    """What a run did: per-step losses (mean over replicas and micro-batches), steps, wall time, throughput."""

    steps: int
    losses: list[float]
    seconds: float
    sequences_per_second: float


@contextlib.contextmanager
def dtype_policy(dtype: str):
    """Build layers under Keras' ``mixed_bfloat16`` policy for ``dtype="bfloat16"`` (float32 variables)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16" if dtype == "bfloat16" else "float32")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


# -- callbacks -------------------------------------------------------------------------------------------------
class Throughput(keras.callbacks.Callback):
    """Collects per-step losses and shows sequences/s and the learning rate in Keras' progress bar (``seq_s``,
    ``lr``); with ``print_every`` it also prints a line every that many optimizer steps."""

    def __init__(self, config: TrainingConfig, start: int = 0, print_every: int = 0) -> None:
        super().__init__()
        self.config, self.start, self.print_every = config, start, print_every
        self.losses: list[float] = []
        self._pending: list[float] = []
        self.seconds = 0.0

    def on_train_begin(self, logs=None):
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        logs = logs if logs is not None else {}
        config = self.config
        self._pending.append(float(logs.get("step_loss", np.nan)))
        self.seconds = time.perf_counter() - self._t0
        rows = (batch + 1) * config.batch_size / config.gradient_accumulation_steps
        logs["seq_s"] = rows / self.seconds if self.seconds > 0 else 0.0
        if len(self._pending) == config.gradient_accumulation_steps:
            self.losses.append(float(np.mean(self._pending)))
            self._pending = []
            step = self.start + len(self.losses)
            logs["lr"] = learning_rate_at(step - 1, config)
            if self.print_every and (step % self.print_every == 0 or step == config.total_steps):
                print(f"step {step}/{config.total_steps}  loss {self.losses[-1]:.4f}  lr {logs['lr']:.3g}  "
                      f"{logs['seq_s']:.1f} sequences/s", flush=True)

    def on_train_end(self, logs=None):
        self.seconds = time.perf_counter() - self._t0


# -- the run ---------------------------------------------------------------------------------------------------
def train(model: keras.Model, global_batches: Iterable | Callable[[], Iterable], config: TrainingConfig, *,
          strategy: str | tf.distribute.Strategy = "auto", progress: bool = True, save: bool = True,
          resume_from: str | os.PathLike | None = None, sparse_mlm: bool | None = None,
          jit_compile: bool = False) -> TrainResult:
    """Train ``model`` (a ``TFBert*`` head for ``config.task``) for ``config.total_steps`` steps with ``fit``.

    Args:
        model: built inside ``strategy.scope()`` (``build_model`` does it) and, for ``dtype="bfloat16"``, under
            the ``mixed_bfloat16`` policy.
        global_batches: dicts of numpy arrays with ``config.batch_size`` rows, or a callable returning a fresh
            iterable of them (``bert_core.training.pretraining_batches`` / ``array_batches`` make them).
        strategy: a ``tf.distribute.Strategy`` or a name for ``resolve_strategy``; the model's if it has one.
        progress: Keras' progress bar (loss, step_loss, seq_s, lr); otherwise a line every ``log_every`` steps.
        save: write ``config.output_dir`` at the end (chief only): ``save_pretrained`` files, optimizer state
            (``tf_training_state.npz``), ``training_config.json``, ``trainer_state.json``; and checkpoints.
        resume_from: a folder written by this function: weights, optimizer state and step; the global batches
            already used are skipped.
        sparse_mlm: pre-training runs the MLM head on labelled positions only (default: yes, except on TPUs,
            which need static shapes).
        jit_compile: XLA-compile the train step (needs ``sparse_mlm=False`` for pre-training).
    """
    if type(model).head != config.head:
        raise ValueError(f"task {config.task!r} trains a {config.head}, got a {type(model).__name__}")
    own = getattr(model, "_distribute_strategy", None)  # the strategy whose scope built the model
    if isinstance(strategy, str) and strategy == "auto":
        strategy = own or tf.distribute.get_strategy()
    strategy = resolve_strategy(strategy)
    if config.dtype == "bfloat16" and model.dtype_policy.name != "mixed_bfloat16":
        raise ValueError("dtype bfloat16 needs a model built under the mixed_bfloat16 policy: use "
                         "bert_tf.train.build_model or bert_tf.train.dtype_policy('bfloat16')")
    if sparse_mlm is None:
        sparse_mlm = not isinstance(strategy, tf.distribute.TPUStrategy) and not jit_compile
    keras.utils.set_random_seed(config.seed)  # dropout
    start = 0
    if resume_from is not None:
        start = load_weights(model, resume_from)
    with strategy.scope():
        module = TrainingModule(model, sparse_mlm=sparse_mlm)
        optimizer = build_optimizer(schema_variables(model), config)
        if resume_from is not None:
            load_optimizer_state(model, optimizer, resume_from, config)
        module.compile(optimizer=optimizer, jit_compile=jit_compile)
    if callable(global_batches):
        factory = global_batches
        data = (lambda: itertools.islice(factory(), start, None)) if start else factory
    else:
        data = itertools.islice(global_batches, start, None) if start else global_batches
    dataset = make_dataset(data, config, strategy)
    chief = is_chief(strategy)
    meter = Throughput(config, start, print_every=0 if progress else config.log_every * chief)
    callbacks: list = [meter]
    if save and config.save_every:
        callbacks.append(CheckpointEvery(model, optimizer, config, start, chief, meter))
    remaining = config.total_steps - start
    if remaining > 0:
        module.fit(dataset, epochs=1, steps_per_epoch=remaining * config.gradient_accumulation_steps,
                   callbacks=callbacks, verbose=1 if progress and chief else 0, shuffle=False)
    if len(meter.losses) < remaining:
        raise ValueError(f"the training data ran out after {start + len(meter.losses)} steps; total_steps is "
                         f"{config.total_steps}")
    if save and chief:
        save_checkpoint(config.output_dir, model, optimizer, config.total_steps, config, meter.losses)
    seconds = meter.seconds
    return TrainResult(remaining, meter.losses, seconds,
                       remaining * config.batch_size / seconds if seconds > 0 else 0.0)


def build_model(config: TrainingConfig, model_folder: str | None = None, model_config=None,
                num_labels: int | None = None, strategy: str | tf.distribute.Strategy | None = None):
    """The ``TFBert*`` head for ``config.task`` inside ``strategy.scope()`` and ``config.dtype``'s policy: from a
    pretrained folder, or newly initialised (seeded by ``config.seed``) from a ``BertConfig``."""
    from bert_tf import MODEL_CLASSES

    cls = MODEL_CLASSES[config.head]
    overrides = {} if num_labels is None else {"num_labels": num_labels}
    if config.task == "question-answering":
        overrides["num_labels"] = 2
    strategy = tf.distribute.get_strategy() if strategy is None else resolve_strategy(strategy)
    with strategy.scope(), dtype_policy(config.dtype):
        keras.utils.set_random_seed(config.seed)
        if model_folder is not None:
            return cls.from_pretrained(model_folder, **overrides)
        if overrides:
            model_config = model_config.copy()
            model_config.num_labels = overrides["num_labels"]
        return cls(model_config)


def main(args) -> int:
    """``bertzoo train --framework tf``: see ``bertzoo train --help``."""
    from bert_core import train_args

    config = train_args.training_config(args)
    try:
        strategy = resolve_strategy(args.strategy)
    except ValueError as e:
        print(f"bertzoo train: {e}", file=sys.stderr)
        return 2
    model = build_model(config, args.model, train_args.model_config(args), args.num_labels, strategy)
    result = train(model, lambda: train_args.train_data(args, config, model.config), config, strategy=strategy,
                   progress=not args.no_progress, resume_from=args.resume_from)
    if is_chief(strategy):
        print(f"trained {result.steps} steps in {result.seconds:.1f} s ({result.sequences_per_second:.1f} "
              f"sequences/s), final loss {result.losses[-1]:.4f}; model saved in {config.output_dir}")
    return 0
