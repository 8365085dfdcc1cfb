"""The optimizer, the schedule and one optimizer step of ``bert_torch.train``.

``training_module`` wraps a pre-training head so MLM logits are computed only at labelled positions
(``PretrainingLoss``); ``build_optimizer``: AdamW (torch's fused kernel where it applies) without weight decay where
``bert_core.training.decays`` says so;
``build_scheduler``: warmup + linear decay; ``train_step``: gradient accumulation over micro-batches, global-norm
clipping, optional bfloat16 autocast, one optimizer step.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from bert_core.training import TrainingConfig, decays, learning_rate_factor
from bert_torch.distributed import full_tensor, no_gradient_sync
from bert_torch.distributed import unwrap as _unwrap_ddp


class PretrainingLoss(nn.Module):
    """``BertForPreTraining``'s loss with the MLM head run only at labelled positions; packed rows too.

    The value and the gradients equal the model's own ``loss`` (MLM cross entropy over labelled tokens + NSP), but
    the vocabulary projection (``hidden x vocab`` per token, a fifth of BERT-base's FLOPs at sequence 128) runs
    on the ~15% of tokens that are predicted. The trainer wraps this module (DDP / FSDP2 see it as the root), so
    its parameters are the model's, under the prefix ``model.``.

    Packed rows (``bert_core.data.packing``: ``example_ids``, ``position_ids``, ``cls_positions`` and
    ``next_sentence_label`` ``[batch, k]``, -100 in empty slots): attention is block diagonal (a token sees only
    its own example), and NSP runs on the pooler at each example's [CLS], averaged over the real examples, so
    the loss equals that of the same examples unpacked.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None,
                next_sentence_label=None, return_dict=True, example_ids=None, cls_positions=None, **kwargs):
        from bert_core.outputs import BertForPreTrainingOutput
        from bert_torch import losses

        m = self.model
        if example_ids is not None:  # packed: block-diagonal attention (padding, id 0, sees only padding)
            attention_mask = example_ids[:, :, None] == example_ids[:, None, :]
        out = m.bert(input_ids, attention_mask, token_type_ids, return_dict=True, **kwargs)
        hidden = out.last_hidden_state
        flat = labels.reshape(-1)
        picked = (flat != losses.IGNORE_INDEX).nonzero().squeeze(-1)
        mlm = m.cls.predictions(hidden.reshape(-1, hidden.shape[-1]).index_select(0, picked))
        pooled = out.pooler_output
        if cls_positions is not None:  # the pooler at every example's [CLS]: [batch * k, hidden]
            rows = torch.arange(hidden.shape[0], device=hidden.device)[:, None]
            pooled = m.bert.pooler(hidden[rows, cls_positions].reshape(-1, 1, hidden.shape[-1]))
            next_sentence_label = next_sentence_label.reshape(-1)
        nsp = m.cls.seq_relationship(pooled)
        loss = losses.pretraining_loss(mlm, nsp, flat.index_select(0, picked), next_sentence_label,
                                       m.config.vocab_size)
        return BertForPreTrainingOutput(loss=loss, prediction_logits=None, seq_relationship_logits=nsp)


def training_module(model: nn.Module, config: TrainingConfig, sparse_mlm: bool = True) -> nn.Module:
    """What the trainer runs: ``PretrainingLoss(model)`` for pre-training (unless ``sparse_mlm`` is False), else
    the model itself."""
    if config.task == "pretraining" and sparse_mlm and not isinstance(model, PretrainingLoss):
        return PretrainingLoss(model)
    return model


def unwrap(model: nn.Module) -> nn.Module:
    """The bert_torch model inside DDP and ``PretrainingLoss`` wrappers."""
    model = _unwrap_ddp(model)
    return model.model if isinstance(model, PretrainingLoss) else model


def build_optimizer(model: nn.Module, config: TrainingConfig) -> torch.optim.AdamW:
    """AdamW with two groups: ``decays(name)`` parameters get ``config.weight_decay``, the others 0."""
    groups: dict[bool, list[nn.Parameter]] = {True: [], False: []}
    for name, p in unwrap(model).named_parameters():
        if p.requires_grad:
            groups[decays(name)].append(p)
    return torch.optim.AdamW(
        [{"params": groups[True], "weight_decay": config.weight_decay},
         {"params": groups[False], "weight_decay": 0.0}],
        lr=config.learning_rate, betas=(config.adam_beta1, config.adam_beta2), eps=config.adam_epsilon,
        fused=_can_fuse(groups[True] + groups[False]) or None)


def _can_fuse(params: list[nn.Parameter]) -> bool:
    """torch's fused AdamW (one kernel pass over parameter, gradient and both moments instead of ~8 foreach
    passes: 2-3x faster on BERT-base's 110M parameters on CPU) takes plain float tensors on CPU or CUDA; FSDP2's
    DTensor parameters and other devices keep the default (foreach)."""
    from torch.distributed.tensor import DTensor

    return bool(params) and all(type(p.data) is torch.Tensor and not isinstance(p, DTensor) and p.is_floating_point()
                                and p.device.type in ("cpu", "cuda") for p in params)


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
