"""Training bert_flax models (``bertzoo train --framework flax``): the recipe of ``bert_core.training`` in JAX.

``train(model, global_batches, config)`` runs ``config.total_steps`` optimizer steps of one jitted program:
gradient accumulation over ``gradient_accumulation_steps`` micro-batches, global-norm clipping, AdamW
(``optax.adamw``; no weight decay where ``bert_core.training.decays`` says so, judged on schema names through
``conversion/names/flax.py``) with linear warmup and decay, optional bfloat16 compute (float32 master weights).
Data parallel over every device: a ``("data", "model")`` mesh of shape ``[devices, 1]`` shards each batch over
``"data"`` (each process feeds its rows, ``bert_core.training.step_batches`` with ``jax.process_index()``).
Checkpoints: ``save_pretrained`` folders plus ``training_state.msgpack`` (optimizer state and step) for resuming.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import time
from collections.abc import Iterable, Mapping
from typing import Any

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.traverse_util import flatten_dict, unflatten_dict
from jax.sharding import NamedSharding, PartitionSpec

from bert_core.files import atomic_write_bytes, atomic_write_text
from bert_core.training import INPUT_FIELDS, TrainingConfig, decays, step_batches
from conversion.names.flax import flax_path_to_schema

STATE_NAME = "training_state.msgpack"


@dataclasses.dataclass
class TrainResult:
    """Per-step losses (mean over micro-batches), global gradient norms (before clipping), steps, time."""

    steps: int
    losses: list[float]
    grad_norms: list[float]
    seconds: float
    sequences_per_second: float


def learning_rate_schedule(config: TrainingConfig):
    """``bert_core.training.learning_rate_at`` as an optax schedule (``count`` = steps already taken)."""
    warmup, total, peak = config.warmup_steps, config.total_steps, config.learning_rate

    def schedule(count):
        step = jnp.asarray(count, jnp.float32)
        warm = step / max(1, warmup)
        decay = jnp.maximum(0.0, (total - step) / max(1, total - warmup))
        return peak * jnp.where(step < warmup, warm, decay)

    return schedule


def decay_mask(params: dict) -> dict:
    """True where AdamW weight decay applies (``bert_core.training.decays`` of the schema name)."""
    flat = flatten_dict(params)
    return unflatten_dict({k: decays(flax_path_to_schema("/".join(k))[0]) for k in flat})


def build_optimizer(params: dict, config: TrainingConfig) -> optax.GradientTransformation:
    """Clip to ``max_grad_norm`` (torch's rule: scale ``min(1, max / (norm + 1e-6))``), then AdamW."""
    def clip(updates):
        if not config.max_grad_norm:
            return updates
        norm = optax.global_norm(updates)
        scale = jnp.minimum(1.0, config.max_grad_norm / (norm + 1e-6))
        return jax.tree_util.tree_map(lambda g: g * scale, updates)

    clipper = optax.GradientTransformation(lambda p: optax.EmptyState(), lambda u, s, p=None: (clip(u), s))
    return optax.chain(clipper, optax.adamw(
        learning_rate_schedule(config), b1=config.adam_beta1, b2=config.adam_beta2, eps=config.adam_epsilon,
        weight_decay=config.weight_decay, mask=decay_mask(params)))


def make_train_step(model, tx: optax.GradientTransformation, config: TrainingConfig):
    """``step(params, opt_state, micro_batches, rng) -> (params, opt_state, loss, grad_norm)``, jitted;
    ``micro_batches`` is a dict of arrays ``[accumulation, micro_batch, ...]``."""
    def loss_fn(params, batch, rng):
        return model(**batch, params=params, train=True, dropout_rng=rng).loss.astype(jnp.float32)

    def step(params, opt_state, micro_batches, rng):
        n = config.gradient_accumulation_steps

        def accumulate(carry, inputs):
            grads, loss = carry
            batch, key = inputs
            value, g = jax.value_and_grad(loss_fn)(params, batch, key)
            return (jax.tree_util.tree_map(lambda a, b: a + b / n, grads, g), loss + value / n), None

        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        keys = jax.random.split(rng, n)
        (grads, loss), _ = jax.lax.scan(accumulate, (zeros, jnp.zeros((), jnp.float32)), (micro_batches, keys))
        norm = optax.global_norm(grads)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss, norm

    return jax.jit(step, donate_argnums=(0, 1))


def data_mesh() -> jax.sharding.Mesh:
    return jax.make_mesh((jax.device_count(), 1), ("data", "model"),
                         axis_types=(jax.sharding.AxisType.Auto,) * 2)


def _global_arrays(micro: list[Mapping[str, np.ndarray]], mesh, fields: tuple[str, ...]) -> dict[str, jax.Array]:
    """This process's micro-batches stacked ``[accumulation, rows, ...]``, as global arrays sharded over "data"."""
    stacked = {k: np.stack([np.asarray(m[k]) for m in micro]) for k in micro[0] if k in fields}
    out = {}
    for k, v in stacked.items():
        v = v.astype(np.int32) if np.issubdtype(v.dtype, np.integer) else v
        sharding = NamedSharding(mesh, PartitionSpec(None, "data", *([None] * (v.ndim - 2))))
        out[k] = jax.make_array_from_process_local_data(sharding, v)
    return out


def train(model, global_batches: Iterable[Mapping[str, np.ndarray]], config: TrainingConfig, *,
          progress: bool = True, resume_from: str | os.PathLike | None = None, save: bool = True) -> TrainResult:
    """Train ``model`` (a bert_flax head matching ``config.task``; its ``params`` are updated) for
    ``config.total_steps`` steps on ``global_batches`` (dicts of numpy arrays with ``config.batch_size`` rows)."""
    if model.head != config.head:
        raise ValueError(f"task {config.task!r} trains a {config.head}, got a {type(model).__name__}")
    mesh = data_mesh()
    params = model.shard_params(mesh)
    tx = build_optimizer(params, config)
    opt_state = tx.init(params)
    start = 0
    if resume_from is not None:
        start, opt_state = load_training_state(model, resume_from, opt_state)
        params = model.shard_params(mesh)
    step_fn = make_train_step(model, tx, config)
    rank, world = jax.process_index(), jax.process_count()
    batches = step_batches(itertools.islice(global_batches, start, None), config, rank, world)
    bar = _progress_bar(config, start, progress and rank == 0)
    key = jax.random.PRNGKey(config.seed)
    fields = (*INPUT_FIELDS, *config.label_fields)
    losses, norms, t0 = [], [], time.perf_counter()
    for step in range(start, config.total_steps):
        micro = next(batches, None)
        if micro is None:
            raise ValueError(f"the training data ran out after {step} steps; total_steps is {config.total_steps}")
        params, opt_state, loss, norm = step_fn(params, opt_state, _global_arrays(micro, mesh, fields),
                                                jax.random.fold_in(key, step))
        if (step + 1) % config.log_every == 0 or step + 1 == config.total_steps:
            losses.append(float(loss))
            norms.append(float(norm))
            if bar is not None:
                bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
        if bar is not None:
            bar.update(1)
        if save and config.save_every and (step + 1) % config.save_every == 0 and step + 1 < config.total_steps:
            model.params = params
            save_checkpoint(os.path.join(config.output_dir, f"checkpoint-{step + 1}"), model, opt_state, step + 1,
                            config, losses)
    seconds = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    model.params = jax.device_get(params)
    if save:
        save_checkpoint(config.output_dir, model, opt_state, config.total_steps, config, losses)
    done = config.total_steps - start
    return TrainResult(done, losses, norms, seconds, done * config.batch_size / seconds if seconds > 0 else 0.0)


def _progress_bar(config: TrainingConfig, start: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=config.total_steps, initial=start, unit="step", desc=f"train {config.task}")


def save_checkpoint(folder: str | os.PathLike, model, opt_state, step: int, config: TrainingConfig,
                    losses: list[float] | None = None) -> None:
    """(process 0) ``save_pretrained`` + ``training_state.msgpack`` + ``training_config.json`` + trainer state."""
    if jax.process_index() != 0:
        return
    folder = os.fspath(folder)
    model.save_pretrained(folder)
    state = {"opt_state": flax.serialization.to_state_dict(jax.device_get(opt_state)), "step": step}
    atomic_write_bytes(os.path.join(folder, STATE_NAME), flax.serialization.msgpack_serialize(state))
    config.save(folder)
    atomic_write_text(os.path.join(folder, "trainer_state.json"),
                      json.dumps({"step": step, "losses": losses or []}, indent=1) + "\n")


def load_training_state(model, folder: str | os.PathLike, opt_state: Any) -> tuple[int, Any]:
    """Load the weights of checkpoint ``folder`` into ``model``; return ``(step, optimizer state)``."""
    import conversion

    folder = os.fspath(folder)
    path = os.path.join(folder, STATE_NAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{folder} holds no {STATE_NAME}: resume from a folder written by bertzoo train "
                                "--framework flax (the output dir or a checkpoint-<step> folder)")
    report = model.load_schema_state_dict(conversion.load_state_dict(folder))
    if report.missing or report.unexpected:
        raise ValueError(f"the checkpoint in {folder} does not fit the model: missing {report.missing}, "
                         f"unexpected {report.unexpected}")
    with open(path, "rb") as f:
        state = flax.serialization.msgpack_restore(f.read())
    return int(state["step"]), flax.serialization.from_state_dict(jax.device_get(opt_state), state["opt_state"])


def build_model(config: TrainingConfig, model_folder: str | None = None, model_config=None,
                num_labels: int | None = None):
    """The head for ``config.task`` (bfloat16 compute with ``config.dtype == "bfloat16"``)."""
    from bert_flax import MODEL_CLASSES

    cls = MODEL_CLASSES[config.head]
    dtype = jnp.bfloat16 if config.dtype == "bfloat16" else jnp.float32
    overrides = {} if num_labels is None else {"num_labels": num_labels}
    if config.task == "question-answering":
        overrides["num_labels"] = 2
    if model_folder is not None:
        return cls.from_pretrained(model_folder, dtype=dtype, **overrides)
    if overrides:
        model_config = model_config.copy()
        model_config.num_labels = overrides["num_labels"]
    return cls(model_config, seed=config.seed, dtype=dtype)


def main(args) -> int:
    """``bertzoo train --framework flax``: see ``bertzoo train --help`` (``--strategy``/``--device`` are ignored)."""
    from bert_core import train_cli

    config = train_cli.training_config(args)
    model = build_model(config, args.model, train_cli.model_config(args), args.num_labels)
    data = train_cli.train_data(args, config, model.config)
    result = train(model, data, config, progress=not args.no_progress, resume_from=args.resume_from)
    if jax.process_index() == 0:
        print(f"trained {result.steps} steps in {result.seconds:.1f} s ({result.sequences_per_second:.1f} "
              f"sequences/s), final loss {result.losses[-1]:.4f}; model saved in {config.output_dir}")
    return 0
