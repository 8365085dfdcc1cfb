"""Framework-free training rules shared by bert_torch, bert_tf and bert_flax, so one step matches everywhere.

- ``TrainingConfig``: the hyper-parameters of a run (frozen; ``batch_size`` is the global batch per optimizer step).
- ``learning_rate_at(step, config)``: linear warmup from 0 then linear decay to 0 at ``total_steps``
  (transformers' ``get_linear_schedule_with_warmup``); ``step`` counts optimizer steps already taken, so the
  first update uses ``learning_rate_at(0, config)``.
- ``decays(name)``: AdamW weight decay applies to every parameter except biases and LayerNorm weights (the rule of
  transformers' examples), judged on the interchange-schema name (``bert.encoder.layer.0.output.LayerNorm.weight``).
- ``adamw_reference_step``: one AdamW update in numpy, the definition every framework's optimizer must follow::

      m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2;   t = step + 1
      p <- p - lr_t * (m / (1 - b1^t) / (sqrt(v / (1 - b2^t)) + eps) + wd * p)   (wd = 0 where not decays(name))

  with ``g`` the gradient after clipping to global norm ``max_grad_norm`` (one norm over all parameters). This is
  ``torch.optim.AdamW`` and ``optax.adamw``; Keras' ``AdamW`` adds ``eps`` before the second-moment bias
  correction, which differs by about ``eps`` relative.
- ``step_batches``: global batches -> the micro-batches one rank runs in one optimizer step (contiguous rows).

Loss convention: the loss of a step is the mean of the mean losses of its ``world_size * accumulation``
micro-batches (what DDP plus accumulation computes); a token-level loss (MLM) with unequal label counts per
micro-batch therefore differs slightly from the mean over the whole global batch.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

TASKS = ("pretraining", "sequence-classification", "token-classification", "question-answering")
TASK_HEADS = {"pretraining": "BertForPreTraining", "sequence-classification": "BertForSequenceClassification",
              "token-classification": "BertForTokenClassification",
              "question-answering": "BertForQuestionAnswering"}
TASK_LABELS = {"pretraining": ("labels", "next_sentence_label"), "sequence-classification": ("labels",),
               "token-classification": ("labels",), "question-answering": ("start_positions", "end_positions")}
INPUT_FIELDS = ("input_ids", "attention_mask", "token_type_ids")
DTYPES = ("float32", "bfloat16")

Batch = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Hyper-parameters of a training run, the same for every framework.

    Args:
        task: one of ``TASKS`` (the head: ``TASK_HEADS[task]``).
        learning_rate: peak learning rate (reached after ``warmup_steps``).
        warmup_steps: optimizer steps of linear warmup from 0.
        total_steps: optimizer steps of the run; the rate decays linearly to 0 there.
        weight_decay: AdamW decoupled weight decay, on parameters where ``decays(name)``.
        adam_beta1, adam_beta2, adam_epsilon: AdamW moments and epsilon (BERT's 0.9, 0.999, 1e-6).
        max_grad_norm: clip gradients to this global norm (0 or None: no clipping).
        gradient_accumulation_steps: micro-batches per optimizer step on each process.
        batch_size: global batch: sequences per optimizer step over all processes and micro-batches.
        max_seq_length: tokens per sequence.
        seed: seeds data order, masking, dropout and random initialisation.
        dtype: ``"float32"``, or ``"bfloat16"`` compute (autocast / mixed precision; float32 master weights).
        log_every: steps between loss logs (and cross-process loss averaging).
        save_every: steps between checkpoints (0: only at the end).
        output_dir: where checkpoints and the final model go.
        packing: pre-training rows pack up to 3 examples each (``bert_core.data.packing``; same loss per example).
    """

    task: str = "pretraining"
    learning_rate: float = 1e-4
    warmup_steps: int = 0
    total_steps: int = 1000
    weight_decay: float = 0.01
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-6
    max_grad_norm: float | None = 1.0
    gradient_accumulation_steps: int = 1
    batch_size: int = 32
    max_seq_length: int = 128
    seed: int = 0
    dtype: str = "float32"
    log_every: int = 10
    save_every: int = 0
    output_dir: str = "bertzoo-output"
    packing: bool = False

    def __post_init__(self) -> None:
        problems = []
        if self.task not in TASKS:
            problems.append(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.dtype not in DTYPES:
            problems.append(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        for name in ("total_steps", "gradient_accumulation_steps", "batch_size", "max_seq_length", "log_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                problems.append(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        for name in ("warmup_steps", "save_every", "seed"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                problems.append(f"{name} must be a non-negative integer, got {getattr(self, name)!r}")
        if not self.learning_rate >= 0 or not self.weight_decay >= 0 or not self.adam_epsilon > 0:
            problems.append("learning_rate and weight_decay must be >= 0 and adam_epsilon > 0")
        if not (0 <= self.adam_beta1 < 1 and 0 <= self.adam_beta2 < 1):
            problems.append(f"adam betas must lie in [0, 1), got {self.adam_beta1}, {self.adam_beta2}")
        if self.max_grad_norm is not None and not self.max_grad_norm >= 0:
            problems.append(f"max_grad_norm must be >= 0 (0 or None: no clipping), got {self.max_grad_norm}")
        if isinstance(self.batch_size, int) and isinstance(self.gradient_accumulation_steps, int) \
                and self.gradient_accumulation_steps > 0 and self.batch_size % self.gradient_accumulation_steps:
            problems.append(f"batch_size {self.batch_size} is not a multiple of gradient_accumulation_steps "
                            f"{self.gradient_accumulation_steps}")
        if self.packing and self.task != "pretraining":
            problems.append(f"packing applies to pretraining only, not to task {self.task!r}")
        if problems:
            raise ValueError("Invalid TrainingConfig: " + "; ".join(problems) + ".")

    @property
    def head(self) -> str:
        """The model class name for ``task`` (``"BertForPreTraining"``...)."""
        return TASK_HEADS[self.task]

    @property
    def label_fields(self) -> tuple[str, ...]:
        return TASK_LABELS[self.task]

    def micro_batch_size(self, world_size: int = 1) -> int:
        """Sequences per forward pass on one process; raises unless ``batch_size`` divides evenly."""
        parts = world_size * self.gradient_accumulation_steps
        if self.batch_size % parts:
            raise ValueError(f"The global batch_size {self.batch_size} must be a multiple of processes x "
                             f"gradient_accumulation_steps = {world_size} x {self.gradient_accumulation_steps}; "
                             f"change --batch-size or --grad-accum.")
        return self.batch_size // parts

    def replace(self, **changes: Any) -> TrainingConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainingConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown TrainingConfig fields: {', '.join(unknown)}.")
        return cls(**values)

    def save(self, folder: str | os.PathLike) -> str:
        """Write ``training_config.json`` into ``folder`` (atomically); returns its path."""
        from bert_core.files import atomic_write_text

        path = os.path.join(os.fspath(folder), "training_config.json")
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> TrainingConfig:
        path = os.fspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, "training_config.json")
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))


def learning_rate_factor(step: int, config: TrainingConfig) -> float:
    """The multiplier of ``config.learning_rate`` after ``step`` optimizer steps (a ``LambdaLR`` lambda)."""
    if step < config.warmup_steps:
        return float(step) / float(max(1, config.warmup_steps))
    return max(0.0, float(config.total_steps - step) / float(max(1, config.total_steps - config.warmup_steps)))


def learning_rate_at(step: int, config: TrainingConfig) -> float:
    """Learning rate of the update made after ``step`` steps: linear warmup, then linear decay to 0."""
    return config.learning_rate * learning_rate_factor(step, config)


def decays(name: str) -> bool:
    """Whether AdamW weight decay applies to the schema parameter ``name``: not to biases (``*.bias``,
    ``cls.predictions.bias``) nor to LayerNorm weights (``*.LayerNorm.weight``; legacy ``gamma`` / ``beta`` too)."""
    parts = name.split(".")
    if parts[-1] in ("bias", "beta"):
        return False
    return not (parts[-1] in ("weight", "gamma") and len(parts) > 1 and parts[-2] == "LayerNorm")


def clip_scale(global_norm: float, max_grad_norm: float | None) -> float:
    """Factor applied to every gradient: ``min(1, max_norm / (norm + 1e-6))`` (torch's ``clip_grad_norm_``)."""
    if not max_grad_norm:
        return 1.0
    return min(1.0, max_grad_norm / (global_norm + 1e-6))


def adamw_reference_step(params: dict[str, np.ndarray], grads: dict[str, np.ndarray],
                         state: dict[str, Any] | None, config: TrainingConfig) -> tuple[dict, dict, float]:
    """One clipped AdamW step in float64 numpy: ``(new params, new state, global grad norm)``.

    ``state`` is None at the start, else the returned one (``{"step": int, "m": {...}, "v": {...}}``).
    """
    step = 0 if state is None else state["step"]
    m = {k: np.zeros_like(v, dtype=np.float64) for k, v in params.items()} if state is None else state["m"]
    v = {k: np.zeros_like(p, dtype=np.float64) for k, p in params.items()} if state is None else state["v"]
    norm = math.sqrt(sum(float(np.sum(np.square(g.astype(np.float64)))) for g in grads.values()))
    scale = clip_scale(norm, config.max_grad_norm)
    lr, b1, b2, t = learning_rate_at(step, config), config.adam_beta1, config.adam_beta2, step + 1
    new_params, new_m, new_v = {}, {}, {}
    for k, p in params.items():
        g = grads[k].astype(np.float64) * scale
        new_m[k] = b1 * m[k] + (1 - b1) * g
        new_v[k] = b2 * v[k] + (1 - b2) * g * g
        update = new_m[k] / (1 - b1 ** t) / (np.sqrt(new_v[k] / (1 - b2 ** t)) + config.adam_epsilon)
        wd = config.weight_decay if decays(k) else 0.0
        p64 = p.astype(np.float64)
        new_params[k] = p64 - lr * (update + wd * p64)
    return new_params, {"step": t, "m": new_m, "v": new_v}, norm


def step_batches(global_batches: Iterable[Mapping[str, np.ndarray]], config: TrainingConfig, rank: int = 0,
                 world_size: int = 1) -> Iterator[list[Batch]]:
    """For each global batch of ``config.batch_size`` rows, the ``gradient_accumulation_steps`` micro-batches of
    process ``rank``: rank r takes the r-th contiguous block of rows, cut into consecutive micro-batches. A single
    process with ``gradient_accumulation_steps * world_size`` accumulation therefore runs the same micro-batches.
    Smaller (last) batches are skipped."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in [0, {world_size})")
    micro = config.micro_batch_size(world_size)
    accum = config.gradient_accumulation_steps
    for batch in global_batches:
        rows = len(next(iter(batch.values())))
        if rows != config.batch_size:
            if rows < config.batch_size:
                continue
            raise ValueError(f"a global batch has {rows} rows, the config's batch_size is {config.batch_size}")
        start = rank * micro * accum
        yield [{k: np.asarray(a[start + i * micro:start + (i + 1) * micro]) for k, a in batch.items()}
               for i in range(accum)]


def repeat_epochs(make_epoch, total_batches: int | None = None) -> Iterator[Any]:
    """Call ``make_epoch(epoch)`` for epoch 0, 1, ... and chain what they yield (forever, or ``total_batches``);
    raises if an epoch yields nothing."""
    produced, epoch = 0, 0
    while True:
        empty = True
        for item in make_epoch(epoch):
            empty = False
            yield item
            produced += 1
            if total_batches is not None and produced >= total_batches:
                return
        if empty:
            raise ValueError(f"epoch {epoch} of the training data gave no full batch: use more data or a smaller "
                             f"--batch-size")
        epoch += 1


def pretraining_batches(files: Any, tokenizer: Any, config: TrainingConfig, **data_kwargs: Any) -> Iterator[Batch]:
    """Endless global batches of MLM + NSP examples (``bert_core.data``; packed rows with ``config.packing``)."""
    from bert_core.data import PretrainingExamples, batches, packed_batches

    examples = PretrainingExamples(files, tokenizer, max_seq_length=config.max_seq_length, seed=config.seed,
                                   **data_kwargs)
    if config.packing:
        pad = examples.special_ids["pad"]
        return repeat_epochs(lambda e: packed_batches(examples.epoch(e), config.batch_size, config.max_seq_length,
                                                      seed=[config.seed, 3, e], pad_token_id=pad))
    return repeat_epochs(lambda e: batches(examples.epoch(e), config.batch_size, drop_remainder=True))


def array_batches(arrays: Mapping[str, np.ndarray], config: TrainingConfig, shuffle: bool = True) -> Iterator[Batch]:
    """Endless global batches from in-memory arrays (``[n, ...]`` each), reshuffled each epoch by ``(seed, epoch)``."""
    needed = ("input_ids", *TASK_LABELS[config.task])
    missing = [k for k in needed if k not in arrays]
    if missing:
        raise ValueError(f"the {config.task} data lacks {', '.join(missing)} (it has {', '.join(sorted(arrays))})")
    n = {len(a) for a in arrays.values()}
    if len(n) != 1:
        raise ValueError(f"the data's arrays have different lengths: "
                         f"{ {k: len(a) for k, a in arrays.items()} }")
    (count,) = n

    def epoch(e: int) -> Iterator[Batch]:
        order = np.random.default_rng([config.seed, e]).permutation(count) if shuffle else np.arange(count)
        for i in range(0, count - config.batch_size + 1, config.batch_size):
            idx = order[i:i + config.batch_size]
            yield {k: a[idx] for k, a in arrays.items()}

    return repeat_epochs(epoch)


def load_npz_arrays(paths: Iterable[str | os.PathLike]) -> dict[str, np.ndarray]:
    """Concatenate the arrays of ``.npz`` files (fine-tuning data: ``input_ids``, ``attention_mask``,
    ``token_type_ids`` and the task's labels). Refuses pickled object arrays."""
    parts: dict[str, list[np.ndarray]] = {}
    for path in paths:
        with np.load(os.fspath(path), allow_pickle=False) as z:
            for k in z.files:
                parts.setdefault(k, []).append(z[k])
    if not parts:
        raise ValueError("no training data: give --train-files")
    return {k: np.concatenate(v) for k, v in parts.items()}
