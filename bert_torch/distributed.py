"""Process groups and model wrapping for training: single process, DDP, or FSDP2 (``fully_shard``).

Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) ``setup_distributed`` joins the process group: NCCL
when CUDA is available (one GPU per process: ``cuda:LOCAL_RANK``), gloo on CPU.
"""

from __future__ import annotations

import dataclasses
import os

import torch
import torch.distributed as dist
from torch import nn

STRATEGIES = ("auto", "none", "ddp", "fsdp")


@dataclasses.dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size``, its ``device``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str | torch.device | None = None, backend: str | None = None) -> DistInfo:
    """Join the process group torchrun describes (or reuse one already initialised); a single process
    otherwise. ``device`` defaults to ``cuda:LOCAL_RANK`` when CUDA is available, else the CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        device = torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, device)
    if world > 1:
        if backend is None:
            backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, device_id=device if device.type == "cuda" else None)
        return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, device)
    return DistInfo(0, 1, 0, device)


def cleanup_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def resolve_strategy(strategy: str, info: DistInfo) -> str:
    """``"auto"``: DDP when several processes run, else none."""
    if strategy not in STRATEGIES:
        raise ValueError(f"PyTorch training takes strategy {', '.join(STRATEGIES)}, got {strategy!r} (mirrored, "
                         f"multi-worker and tpu are TensorFlow strategies)")
    if strategy == "auto":
        return "ddp" if info.distributed else "none"
    if strategy in ("ddp", "fsdp") and not (dist.is_available() and dist.is_initialized()):
        raise RuntimeError(f"strategy {strategy!r} needs a process group: launch with torchrun "
                           f"(e.g. torchrun --nproc-per-node=2 -m bertzoo.cli train ...)")
    return strategy


def wrap_model(model: nn.Module, strategy: str, info: DistInfo) -> nn.Module:
    """Move ``model`` to ``info.device`` and wrap it: DDP, or FSDP2 with one shard group per encoder layer plus
    the root (embeddings and heads, which keeps the tied MLM decoder with the word embeddings)."""
    model = model.to(info.device)
    if strategy == "none":
        return model
    if strategy == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        ids = [info.device.index] if info.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    import warnings

    # The model's output dataclass holds views (e.g. split logits); the trainer only reads the loss, out of place.
    warnings.filterwarnings("ignore", message=r"FSDP2-wrapped module .* returned a view tensor")
    mesh = init_device_mesh(info.device.type, (info.world_size,))
    inner = getattr(model, "model", model)  # bert_torch.train.PretrainingLoss holds the model
    for layer in inner.base_model.encoder.layer:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def unwrap(model: nn.Module) -> nn.Module:
    """The bert_torch model inside a DDP wrapper (FSDP2 keeps the model's own class)."""
    return getattr(model, "module", model)


def no_gradient_sync(model: nn.Module, sync: bool):
    """Context manager: skip the gradient all-reduce of this backward unless ``sync`` (accumulation)."""
    import contextlib

    if sync:
        return contextlib.nullcontext()
    if hasattr(model, "no_sync"):  # DDP
        return model.no_sync()
    if hasattr(model, "set_requires_gradient_sync"):  # FSDP2
        @contextlib.contextmanager
        def _fsdp():
            model.set_requires_gradient_sync(False)
            try:
                yield
            finally:
                model.set_requires_gradient_sync(True)
        return _fsdp()
    return contextlib.nullcontext()


def mean_over_processes(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Average a tensor over processes (SUM / world: gloo has no AVG)."""
    if not info.distributed:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / info.world_size


def full_tensor(t: torch.Tensor) -> torch.Tensor:
    """A DTensor (FSDP2) gathered to a plain tensor; other tensors as they are."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t
