"""Training bert_tf models with ``model.fit``: pre-training (MLM + NSP) and fine-tuning, under tf.distribute.

``train(model, global_batches, config)`` runs ``config.total_steps`` optimizer steps of ``bert_tf.schedules.AdamW``
(torch's AdamW update; no weight decay where ``bert_core.training.decays`` says so; global-norm clipping of the
all-reduced gradient; gradient accumulation that works under strategies) on ``LinearWarmupDecay``
(``learning_rate_at``), with ``keras.Model.fit`` under a ``tf.distribute`` strategy (``MirroredStrategy``,
``MultiWorkerMirroredStrategy``, ``TPUStrategy``, or none) and ``mixed_bfloat16`` for ``dtype="bfloat16"``.
The model is wrapped in ``TrainingModule``, a Keras model whose output is the loss (for pre-training the MLM head
runs on the labelled positions only, as in ``bert_torch.train``: same loss, fewer FLOPs). Each replica runs the
rows of each global batch that ``bert_core.training.step_batches`` gives its rank (``bert_tf.distributed``), so
a run matches ``bert_torch`` on as many processes. ``main(args)`` is ``bertzoo train --framework tf``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable

import keras
import numpy as np
import tensorflow as tf

from bert_core.files import atomic_path, atomic_write_text
from bert_core.training import TrainingConfig, learning_rate_at
from bert_tf import losses
from bert_tf.distributed import is_chief, make_dataset, resolve_strategy
from bert_tf.schedules import build_optimizer

logger = logging.getLogger("bert_tf")
STATE_NAME = "tf_training_state.npz"


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


# -- the Keras model that fit trains ---------------------------------------------------------------------------
class _StepLoss(keras.metrics.Metric):
    """The last step's loss (already averaged over replicas), for the progress bar and ``TrainResult``."""

    def __init__(self, name: str = "step_loss", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.value = self.add_variable((), "zeros", dtype="float32", aggregation="mean", name="value")

    def update_state(self, value):
        self.value.assign(tf.cast(value, "float32"))

    def result(self):
        return self.value

    def reset_state(self):
        self.value.assign(0.0)


class TrainingModule(keras.Model):
    """Wraps a ``TFBert*`` head for ``fit``: its output is the head's loss (a float32 scalar per replica).

    ``compute_loss`` divides it by the number of replicas, so summing gradients over replicas gives the gradient of
    the mean loss; ``sparse_mlm`` runs the MLM head of ``TFBertForPreTraining`` on labelled positions only.
    """

    def __init__(self, model: keras.Model, sparse_mlm: bool = False, **kwargs) -> None:
        super().__init__(name="bertzoo_training", **kwargs)
        self.bert_model = model
        self.sparse_mlm = sparse_mlm and model.head == "BertForPreTraining"
        self.step_loss = _StepLoss()
        if all(layer.built for layer in model._flatten_layers(include_self=False)):
            model.built = True  # every variable exists: Keras must not trace a symbolic build under a strategy
        self.built = True

    def call(self, inputs, training=False):
        if self.sparse_mlm:
            return self._sparse_pretraining_loss(dict(inputs), training)
        return self.bert_model(dict(inputs), training=training, return_dict=True).loss

    def _sparse_pretraining_loss(self, inputs: dict, training):
        m = self.bert_model
        labels = tf.reshape(inputs.pop("labels"), (-1,))
        next_sentence_label = inputs.pop("next_sentence_label")
        out = m._bert(m._inputs(inputs, {}), training)
        hidden = out.last_hidden_state
        picked = tf.reshape(tf.where(tf.not_equal(labels, losses.IGNORE_INDEX)), (-1,))
        selected = tf.gather(tf.reshape(hidden, (-1, tf.shape(hidden)[-1])), picked)
        mlm = m.mlm(selected, word_embeddings=m.bert.embeddings.word_embeddings.weight)
        nsp = m.nsp(out.pooler_output)
        return losses.pretraining_loss(mlm, nsp, tf.gather(labels, picked), next_sentence_label)

    def train_step(self, data):
        logs = super().train_step(data)
        strategy = tf.distribute.get_strategy()
        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) \
                and strategy.extended._in_multi_worker_mode():
            # Keras reduces multi-worker logs with reduce(MEAN, axis=0), which needs a batch axis
            logs = {k: tf.reshape(v, (1,)) for k, v in logs.items()}
        return logs

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Every variable (the head's, the optimizer's) exists: nothing to build. Keras would otherwise read a batch
        # and reduce it over replicas, which fails for dict inputs under MultiWorkerMirroredStrategy.
        if self.built and self.bert_model.built and self.optimizer is not None and self.optimizer.built:
            return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return y_pred / replicas if replicas > 1 else y_pred

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        loss = y_pred
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            loss = context.all_reduce(tf.distribute.ReduceOp.MEAN, loss)
        self.step_loss.update_state(loss)
        return self.get_metrics_result()


def schema_variables(model: keras.Model) -> dict[str, tf.Variable]:
    """The model's trainable variables keyed by interchange-schema name (``conversion/names/tf.py``)."""
    return {name: var for name, (var, _) in model._schema_variables().items() if var.trainable}


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


class _Checkpoints(keras.callbacks.Callback):
    """``checkpoint-<step>`` folders every ``config.save_every`` optimizer steps."""

    def __init__(self, model, optimizer, config: TrainingConfig, start: int, chief: bool, progress: Throughput):
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
        callbacks.append(_Checkpoints(model, optimizer, config, start, chief, meter))
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


# -- checkpoints -----------------------------------------------------------------------------------------------
def save_checkpoint(folder: str | os.PathLike, model, optimizer, step: int, config: TrainingConfig,
                    losses: list[float] | None = None) -> None:
    """Write ``save_pretrained`` files (``config.json``, ``tf_model.h5``), ``tf_training_state.npz`` (step and the
    AdamW moments keyed ``m/<schema name>``, ``v/<schema name>``, Keras layout), ``training_config.json`` and
    ``trainer_state.json`` into ``folder``."""
    model.save_pretrained(folder)
    state = {"step": np.asarray(step, np.int64)}
    for name, var in schema_variables(model).items():
        index = optimizer._get_variable_index(var)
        state[f"m/{name}"] = np.asarray(optimizer._momentums[index].numpy())
        state[f"v/{name}"] = np.asarray(optimizer._velocities[index].numpy())
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
        index = optimizer._get_variable_index(var)
        optimizer._momentums[index].assign(state[f"m/{name}"])
        optimizer._velocities[index].assign(state[f"v/{name}"])
    optimizer._iterations.assign(int(state["step"]) * config.gradient_accumulation_steps)


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
