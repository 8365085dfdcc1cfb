"""Checkpoints of a ``bert_torch.train`` run: ``save_pretrained`` weights plus ``training_state.pt``.

``save_checkpoint`` gathers full state dicts (FSDP2 shards too) and writes, on rank 0, the model folder, the
optimizer / scheduler / step state, ``training_config.json`` and ``trainer_state.json``; ``load_training_state``
reads them back for resuming (``torch.load(weights_only=True)``: nothing is unpickled).
"""

from __future__ import annotations

import json
import os

import torch
from torch import nn

from bert_core.files import atomic_folder
from bert_core.training import TrainingConfig
from bert_torch.distributed import DistInfo
from bert_torch.distributed import unwrap as _unwrap_ddp
from bert_torch.train_state import unwrap

STATE_NAME = "training_state.pt"


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
    (optimizer, scheduler, step), ``training_config.json`` and ``trainer_state.json`` into ``folder``, as one
    atomic commit: a kill leaves the previous checkpoint or this one, never new weights beside an old state."""
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
        with atomic_folder(folder) as staging:  # weights and training state commit together, or not at all
            base.save_pretrained(staging)
            torch.save({"optimizer": optim_sd, "scheduler": scheduler.state_dict(), "step": step},
                       os.path.join(staging, STATE_NAME))
            config.save(staging)
            with open(os.path.join(staging, "trainer_state.json"), "w", encoding="utf-8") as f:
                f.write(json.dumps({"step": step, "losses": losses or []}, indent=1) + "\n")
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
