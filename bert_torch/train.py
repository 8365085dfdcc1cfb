"""Training bert_torch models: pre-training (MLM + NSP) and fine-tuning, on one device or many.

``train(model, global_batches, config)`` runs ``config.total_steps`` optimizer steps of AdamW (no weight decay on
biases and LayerNorm weights: ``bert_core.training.decays``), linear warmup + decay (``LambdaLR`` over
``bert_core.training.learning_rate_factor``), global-norm clipping, gradient accumulation and optional bfloat16
autocast. Under torchrun it shards each global batch by rank (``bert_core.training.step_batches``) and wraps the
model in DDP or FSDP2. Checkpoints: ``save_pretrained`` folders plus ``training_state.pt`` (optimizer, scheduler,
step; loaded with ``weights_only=True``) for resuming. ``main(args)`` is ``bertzoo train --framework pt``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import logging
import math
import os
import time
from collections.abc import Iterable, Mapping

import numpy as np
import torch
from torch import nn

from bert_core.files import atomic_path, atomic_write_text
from bert_core.training import TrainingConfig, decays, learning_rate_factor, step_batches
from bert_torch.distributed import (DistInfo, cleanup_distributed, full_tensor, mean_over_processes,
                                    no_gradient_sync, resolve_strategy, setup_distributed, wrap_model)
from bert_torch.distributed import unwrap as _unwrap_ddp
from bert_torch.train_modules import PretrainingLoss, training_module, unwrap

__all__ = ["TrainResult", "PretrainingLoss", "training_module", "unwrap", "build_optimizer", "build_scheduler",
           "to_tensors", "train_step", "train", "full_state_dicts", "save_checkpoint", "load_training_state",
           "build_model", "main", "STATE_NAME"]

logger = logging.getLogger("bert_torch")
STATE_NAME = "training_state.pt"


@dataclasses.dataclass
class TrainResult:
    """What a run did: per-step losses (mean over processes and micro-batches) and global gradient norms
    (before clipping), the steps taken, wall time and throughput."""

    steps: int
    losses: list[float]
    grad_norms: list[float]
    seconds: float
    sequences_per_second: float


def build_optimizer(model: nn.Module, config: TrainingConfig) -> torch.optim.AdamW:
    """AdamW with two groups: ``decays(name)`` parameters get ``config.weight_decay``, the others 0."""
    groups: dict[bool, list[nn.Parameter]] = {True: [], False: []}
    for name, p in unwrap(model).named_parameters():
        if p.requires_grad:
            groups[decays(name)].append(p)
    return torch.optim.AdamW(
        [{"params": groups[True], "weight_decay": config.weight_decay},
         {"params": groups[False], "weight_decay": 0.0}],
        lr=config.learning_rate, betas=(config.adam_beta1, config.adam_beta2), eps=config.adam_epsilon)


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainingConfig) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: learning_rate_factor(step, config))


def to_tensors(batch: Mapping[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    """numpy arrays -> tensors on ``device`` (integers as int64, floats as they are)."""
    out = {}
    for k, a in batch.items():
        t = torch.from_numpy(np.ascontiguousarray(a))
        if not t.is_floating_point():
            t = t.long()
        out[k] = t.to(device, non_blocking=True)
    return out


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, scheduler, micro_batches: list[dict],
               config: TrainingConfig, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step over this process's micro-batches; returns (local mean loss, global grad norm)."""
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if config.dtype == "bfloat16" \
        else contextlib.nullcontext()
    total = torch.zeros((), device=device)
    n = len(micro_batches)
    for i, batch in enumerate(micro_batches):
        with no_gradient_sync(model, sync=i == n - 1):
            with autocast:
                loss = model(**to_tensors(batch, device), return_dict=True).loss
            (loss.float() / n).backward()
        total += loss.detach().float() / n
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm or math.inf)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return total, full_tensor(norm).detach()


def train(model: nn.Module, global_batches: Iterable[Mapping[str, np.ndarray]], config: TrainingConfig, *,
          strategy: str = "auto", info: DistInfo | None = None, progress: bool = True,
          resume_from: str | os.PathLike | None = None, save: bool = True, sparse_mlm: bool = True) -> TrainResult:
    """Train ``model`` (a bert_torch head matching ``config.task``) for ``config.total_steps`` steps.

    Args:
        model: the model, unwrapped; it is moved to the device and, for ``ddp`` / ``fsdp``, wrapped (the caller's
            object is trained in place; under FSDP2 its parameters become shards).
        global_batches: dicts of numpy arrays with ``config.batch_size`` rows (the same on every process; each
            takes its rows). ``bert_core.training.pretraining_batches`` / ``array_batches`` make them.
        strategy: ``"auto"`` (DDP under torchrun, else none), ``"none"``, ``"ddp"`` or ``"fsdp"``.
        info: the process group (default ``setup_distributed()``).
        progress: a tqdm bar with loss, learning rate and sequences/s on rank 0.
        resume_from: a checkpoint folder written by this function: restores weights, optimizer, scheduler and
            step, and skips the global batches already used.
        save: write ``config.output_dir`` at the end (model, ``training_state.pt``, ``trainer_state.json``) and
            ``checkpoint-<step>`` folders every ``config.save_every`` steps.
        sparse_mlm: pre-training runs the MLM head on labelled positions only (``PretrainingLoss``; same loss).
    """
    info = setup_distributed() if info is None else info
    strategy = resolve_strategy(strategy, info)
    base = unwrap(model)
    if getattr(base, "config", None) is not None and type(base).__name__ != config.head:
        raise ValueError(f"task {config.task!r} trains a {config.head}, got a {type(base).__name__}")
    torch.manual_seed(config.seed + info.rank)  # dropout differs per process, reproducibly
    start = 0
    state = None
    if resume_from is not None:
        start, state = load_training_state(base, resume_from)
    model = wrap_model(training_module(model, config, sparse_mlm), strategy, info)
    model.train()
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config)
    if state is not None:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        set_optimizer_state_dict(unwrap(model), optimizer, state["optimizer"],
                                 options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=False))
        scheduler.load_state_dict(state["scheduler"])
    steps = step_batches(itertools.islice(global_batches, start, None), config, info.rank, info.world_size)
    bar = _progress_bar(config, start, progress and info.is_main)
    losses: list[float] = []
    norms: list[float] = []
    pending: list[tuple[torch.Tensor, torch.Tensor]] = []
    t0, done = time.perf_counter(), 0
    for step in range(start, config.total_steps):
        micro = next(steps, None)
        if micro is None:
            raise ValueError(f"the training data ran out after {step} steps; total_steps is {config.total_steps}")
        lr = scheduler.get_last_lr()[0]
        pending.append(train_step(model, optimizer, scheduler, micro, config, info.device))
        done += 1
        last = step + 1 == config.total_steps
        if (step + 1) % config.log_every == 0 or last:
            stacked = mean_over_processes(torch.stack([loss for loss, _ in pending]), info).tolist()
            losses += stacked
            norms += [float(n) for _, n in pending]
            pending = []
            rate = done * config.batch_size / (time.perf_counter() - t0)
            if bar is not None:
                bar.set_postfix(loss=f"{stacked[-1]:.4f}", lr=f"{lr:.3g}", seq_s=f"{rate:.1f}", refresh=False)
        if bar is not None:
            bar.update(1)
        if save and config.save_every and (step + 1) % config.save_every == 0 and not last:
            save_checkpoint(os.path.join(config.output_dir, f"checkpoint-{step + 1}"), model, optimizer,
                            scheduler, step + 1, config, info, losses)
    seconds = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    if save:
        save_checkpoint(config.output_dir, model, optimizer, scheduler, config.total_steps, config, info, losses)
    return TrainResult(config.total_steps - start, losses, norms, seconds,
                       done * config.batch_size / seconds if seconds > 0 else 0.0)


def _progress_bar(config: TrainingConfig, start: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=config.total_steps, initial=start, unit="step", desc=f"train {config.task}")


def full_state_dicts(model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """Model and optimizer state dicts keyed by parameter name, full (gathered) tensors on the CPU; under
    several processes every rank must call this."""
    from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                         get_optimizer_state_dict)

    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    options = StateDictOptions(full_state_dict=True, cpu_offload=distributed)
    base = unwrap(model)  # names without wrapper prefixes: the schema names
    return get_model_state_dict(base, options=options), get_optimizer_state_dict(base, optimizer, options=options)


def save_checkpoint(folder: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler,
                    step: int, config: TrainingConfig, info: DistInfo, losses: list[float] | None = None) -> None:
    """Write (rank 0) ``config.json`` + ``model.safetensors`` (``save_pretrained``), ``training_state.pt``
    (optimizer, scheduler, step), ``training_config.json`` and ``trainer_state.json`` into ``folder``."""
    model_sd, optim_sd = full_state_dicts(model, optimizer)
    if info.is_main:
        base = unwrap(model)
        if hasattr(_unwrap_ddp(model), "set_requires_gradient_sync"):  # FSDP2: write the gathered weights from a plain copy
            plain = type(base)(base.config)
            missing, unexpected = plain.load_state_dict(model_sd, strict=False)
            if unexpected or [k for k in missing if "decoder" not in k]:
                raise RuntimeError(f"could not rebuild the model to save it: missing {missing}, "
                                   f"unexpected {unexpected}")
            plain.tie_weights()
            base = plain
        base.save_pretrained(folder)
        with atomic_path(os.path.join(os.fspath(folder), STATE_NAME)) as tmp:
            torch.save({"optimizer": optim_sd, "scheduler": scheduler.state_dict(), "step": step}, tmp)
        config.save(folder)
        atomic_write_text(os.path.join(os.fspath(folder), "trainer_state.json"),
                          json.dumps({"step": step, "losses": losses or []}, indent=1) + "\n")
    if info.distributed:
        torch.distributed.barrier()


def load_training_state(model: nn.Module, folder: str | os.PathLike) -> tuple[int, dict]:
    """Load the weights of checkpoint ``folder`` into ``model`` and return ``(step, state)`` (``state`` holds the
    optimizer and scheduler state; read with ``torch.load(weights_only=True)``)."""
    import conversion

    folder = os.fspath(folder)
    path = os.path.join(folder, STATE_NAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{folder} holds no {STATE_NAME}: resume from a folder written by bertzoo train "
                                f"(the output dir or a checkpoint-<step> folder)")
    report = model.load_schema_state_dict(conversion.load_state_dict(folder))
    if report.missing or report.unexpected:
        raise ValueError(f"the checkpoint in {folder} does not fit the model: missing {report.missing}, "
                         f"unexpected {report.unexpected}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    return int(state["step"]), state


def build_model(config: TrainingConfig, model_folder: str | None = None, model_config=None,
                num_labels: int | None = None) -> nn.Module:
    """The head for ``config.task``: from a pretrained folder, or newly initialised (seeded) from a config."""
    from bert_torch import MODEL_CLASSES

    cls = MODEL_CLASSES[config.head]
    overrides = {} if num_labels is None else {"num_labels": num_labels}
    if config.task == "question-answering":
        overrides["num_labels"] = 2
    if model_folder is not None:
        return cls.from_pretrained(model_folder, **overrides)
    if overrides:
        model_config = model_config.copy()
        model_config.num_labels = overrides["num_labels"]
    return cls(model_config, seed=config.seed)


def main(args) -> int:
    """``bertzoo train --framework pt``: see ``bertzoo train --help``."""
    from bert_core import train_cli

    config = train_cli.training_config(args)
    info = setup_distributed(device=getattr(args, "device", None))
    try:
        model = build_model(config, args.model, train_cli.model_config(args), args.num_labels)
        data = train_cli.train_data(args, config, model.config)
        result = train(model, data, config, strategy=args.strategy, info=info, progress=not args.no_progress,
                       resume_from=args.resume_from)
        if info.is_main:
            print(f"trained {result.steps} steps in {result.seconds:.1f} s ({result.sequences_per_second:.1f} "
                  f"sequences/s), final loss {result.losses[-1]:.4f}; model saved in {config.output_dir}")
    finally:
        cleanup_distributed()
    return 0
