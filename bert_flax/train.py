"""Training bert_flax models (``bertzoo train --framework flax``): the recipe of ``bert_core.training`` in JAX,
on one device, a data x tensor parallel mesh, or a multi-host TPU pod slice.

``train(model, global_batches, config, mesh=...)`` runs ``config.total_steps`` optimizer steps of one jitted
step (``bert_flax.train_state``; pre-training runs the MLM head only at labelled positions, a static number per
row, so a run compiles a few programs): gradient accumulation over ``gradient_accumulation_steps`` micro-batches,
global-norm clipping, AdamW with linear warmup and decay and the schema's weight-decay rule, optional bfloat16
compute (float32 master weights). The mesh has axes ``("data", "model")`` (``bert_flax.mesh``, e.g.
``"data=4,model=2"``): parameters and optimizer state are sharded by their logical axis names
(``bert_flax.partitioning``: heads, feed-forward width and vocabulary over ``"model"``), each batch over
``"data"``; each process feeds its rows of every global batch (``bert_core.training.step_batches`` with
``jax.process_index()``). Scan over layers and remat are model options (``build_model(..., scan_layers=True,
remat=True)``). Checkpoints are Orbax (``bert_flax.checkpointing``: ``output_dir/checkpoints/<step>``) and resume
exactly; the final model is written with ``save_pretrained`` (``flax_model.msgpack``) for every framework.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import time
from collections.abc import Iterable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from bert_core.data.packing import PACKED_FIELDS
from bert_core.training import INPUT_FIELDS, TrainingConfig, step_batches
from bert_flax import checkpointing
from bert_flax.mesh import build_mesh, global_batch, host_tree, initialize_distributed
from bert_flax.train_state import (build_optimizer, decay_mask, init_state, learning_rate_schedule,  # noqa: F401
                                   make_train_step, prediction_slots, state_shardings)


@dataclasses.dataclass
class TrainResult:
    """Per-step losses (mean over micro-batches), global gradient norms (before clipping), steps, time."""

    steps: int
    losses: list[float]
    grad_norms: list[float]
    seconds: float
    sequences_per_second: float


def train(model, global_batches: Iterable[Mapping[str, np.ndarray]], config: TrainingConfig, *,
          progress: bool = True, resume_from: str | os.PathLike | None = None, save: bool = True,
          mesh: jax.sharding.Mesh | str | None = None, rules=None, sparse_mlm: bool = True) -> TrainResult:
    """Train ``model`` (a bert_flax head matching ``config.task``; its ``params`` are updated, as numpy) for
    ``config.total_steps`` steps on ``global_batches`` (dicts of numpy arrays with ``config.batch_size`` rows;
    every process iterates the same global batches and keeps its rows).

    Args:
        mesh: a ``("data", "model")`` ``Mesh`` or its shape (``"data=4,model=2"``); default: data parallel over
            every device.
        rules: logical-axis -> mesh-axis rules (default ``bert_flax.partitioning.DEFAULT_RULES``).
        resume_from: an output dir (or ``checkpoints/<step>`` folder) of an earlier run: continue from its step.
        save: write Orbax checkpoints (every ``config.save_every`` steps and at the end) and the final model.
        sparse_mlm: pre-training runs the MLM head on labelled positions only (``train_state.PretrainingLoss``;
            same loss), with a static number of positions per row from each global batch (``prediction_slots``:
            the same program on every process, a few programs over a run).
    """
    if model.head != config.head:
        raise ValueError(f"task {config.task!r} trains a {config.head}, got a {type(model).__name__}")
    mesh = mesh if isinstance(mesh, jax.sharding.Mesh) else build_mesh(mesh)
    rank, world = jax.process_index(), jax.process_count()
    micro_rows = config.micro_batch_size(world)
    if (micro_rows * world) % mesh.shape["data"]:
        raise ValueError(f"a micro-batch of {micro_rows * world} rows does not split over the mesh's "
                         f"data axis of {mesh.shape['data']}: change --batch-size, --grad-accum or --mesh")
    tx = build_optimizer(model.params, config)
    shardings = state_shardings(model, tx, mesh, rules)
    state = init_state(model, tx, shardings)
    start, losses, norms = 0, [], []
    if resume_from is not None:
        start, state, meta = checkpointing.restore(resume_from, checkpointing.abstract(state))
        losses = list(meta.get("losses", []))
    fields = (*INPUT_FIELDS, *config.label_fields)
    step_fn = None
    mngr = checkpointing.manager(os.path.join(config.output_dir, checkpointing.CHECKPOINTS)) if save else None
    slots = [None]  # sparse MLM: the prediction slots of the global batch step_batches read last
    sparse = sparse_mlm and model.head == "BertForPreTraining"

    def counted(source):
        for b in source:
            slots[0] = prediction_slots(b["labels"]) if sparse else None
            yield b

    batches = step_batches(counted(itertools.islice(global_batches, start, None)), config, rank, world)
    bar = _progress_bar(config, start, progress and rank == 0)
    key = jax.random.PRNGKey(config.seed)
    new_losses, t0 = [], time.perf_counter()
    for step in range(start, config.total_steps):
        micro = next(batches, None)
        if micro is None:
            raise ValueError(f"the training data ran out after {step} steps; total_steps is {config.total_steps}")
        keep = PACKED_FIELDS if "example_ids" in micro[0] else fields  # packed rows: bert_core.data.packing
        local = {k: np.stack([np.asarray(m[k]) for m in micro]) for k in micro[0] if k in keep}
        if step_fn is None:
            step_fn = make_train_step(model, tx, config, shardings, mesh, {k: v.ndim for k, v in local.items()},
                                      sparse_mlm=sparse_mlm)
        params, opt_state, loss, norm = step_fn(state["params"], state["opt_state"], global_batch(local, mesh),
                                                jax.random.fold_in(key, step), slots[0])
        state = {"params": params, "opt_state": opt_state}
        if (step + 1) % config.log_every == 0 or step + 1 == config.total_steps:
            losses.append(float(loss))
            new_losses.append(losses[-1])
            norms.append(float(norm))
            if bar is not None:
                rate = (step + 1 - start) * config.batch_size / max(time.perf_counter() - t0, 1e-9)
                bar.set_postfix(loss=f"{losses[-1]:.4f}", seq_per_s=f"{rate:.1f}", refresh=False)
        if bar is not None:
            bar.update(1)
        if mngr is not None and config.save_every and (step + 1) % config.save_every == 0 \
                and step + 1 < config.total_steps:
            checkpointing.save(mngr, step + 1, state, _meta(step + 1, config, losses))
    jax.block_until_ready(state)
    seconds = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    model.params = host_tree(state["params"])
    if mngr is not None:
        checkpointing.save(mngr, config.total_steps, state, _meta(config.total_steps, config, losses))
        mngr.close()
        if rank == 0:
            model.save_pretrained(config.output_dir)
            config.save(config.output_dir)
    done = config.total_steps - start
    return TrainResult(done, new_losses, norms, seconds, done * config.batch_size / seconds if seconds > 0 else 0.0)


def _meta(step: int, config: TrainingConfig, losses: list[float]) -> dict:
    return {"step": step, "losses": losses, "training_config": config.to_dict()}


def _progress_bar(config: TrainingConfig, start: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=config.total_steps, initial=start, unit="step", desc=f"train {config.task}")


def build_model(config: TrainingConfig, model_folder: str | None = None, model_config=None,
                num_labels: int | None = None, scan_layers: bool = False, remat: bool = False):
    """The head for ``config.task`` (bfloat16 compute with ``config.dtype == "bfloat16"``; ``scan_layers``:
    one ``nn.scan`` over the layers; ``remat``: recompute each layer's activations in the backward pass)."""
    from bert_flax import MODEL_CLASSES

    cls = MODEL_CLASSES[config.head]
    dtype = jnp.bfloat16 if config.dtype == "bfloat16" else jnp.float32
    options = dict(dtype=dtype, scan_layers=scan_layers, gradient_checkpointing=remat)
    overrides = {} if num_labels is None else {"num_labels": num_labels}
    if config.task == "question-answering":
        overrides["num_labels"] = 2
    if model_folder is not None:
        return cls.from_pretrained(model_folder, **options, **overrides)
    if overrides:
        model_config = model_config.copy()
        model_config.num_labels = overrides["num_labels"]
    return cls(model_config, seed=config.seed, **options)


def main(args) -> int:
    """``bertzoo train --framework flax``: see ``bertzoo train --help`` (``--strategy``/``--device`` are ignored;
    ``--mesh``, ``--scan-layers``, ``--remat``, ``--distributed`` are Flax's)."""
    from bert_core import train_args

    if getattr(args, "distributed", False):
        initialize_distributed()
    config = train_args.training_config(args)
    model = build_model(config, args.model, train_args.model_config(args), args.num_labels,
                        scan_layers=getattr(args, "scan_layers", False), remat=getattr(args, "remat", False))
    data = train_args.train_data(args, config, model.config)
    result = train(model, data, config, progress=not args.no_progress, resume_from=args.resume_from,
                   mesh=getattr(args, "mesh", None))
    if jax.process_index() == 0:
        print(f"trained {result.steps} steps in {result.seconds:.1f} s ({result.sequences_per_second:.1f} "
              f"sequences/s), final loss {result.losses[-1]:.4f}; model saved in {config.output_dir}")
    return 0
