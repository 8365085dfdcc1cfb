"""The loss of every head, with transformers v4's semantics.

Label value -100 is ignored by every token-level and classification cross entropy. Sequence classification picks
MSE / cross entropy / BCE from ``problem_type`` (inferred by ``bert_core.heads.infer_problem_type`` when unset).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bert_core.heads import IGNORE_INDEX, infer_problem_type



def cross_entropy(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Mean cross entropy over the labels that are not -100."""
    return F.cross_entropy(logits.reshape(-1, num_classes), labels.reshape(-1).long(), ignore_index=IGNORE_INDEX)


def masked_lm_loss(logits: torch.Tensor, labels: torch.Tensor, vocab_size: int) -> torch.Tensor:
    return cross_entropy(logits, labels, vocab_size)


def causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Next-token loss: logits at position t predict ``labels[t + 1]`` (labels are shifted here, not by the
    caller), computed in float32 as transformers' ForCausalLMLoss."""
    shift_logits = logits[:, :-1, :].float()
    shift_labels = labels[:, 1:].to(logits.device)
    return cross_entropy(shift_logits, shift_labels, vocab_size)


def next_sentence_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return cross_entropy(logits, labels, 2)


def pretraining_loss(prediction_logits: torch.Tensor, seq_relationship_logits: torch.Tensor, labels: torch.Tensor,
                     next_sentence_label: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """MLM loss + NSP loss (computed only when both label sets are given, as transformers does)."""
    return (masked_lm_loss(prediction_logits, labels, vocab_size)
            + next_sentence_loss(seq_relationship_logits, next_sentence_label))


def sequence_classification_loss(logits: torch.Tensor, labels: torch.Tensor, num_labels: int,
                                 problem_type: str | None) -> tuple[torch.Tensor, str]:
    """Returns ``(loss, problem_type used)``.

    regression: MSE (logits and labels squeezed when num_labels == 1); single_label_classification: cross
    entropy on integer labels; multi_label_classification: BCE with logits on float multi-hot labels.
    """
    integer = labels.dtype in (torch.long, torch.int)
    problem_type = infer_problem_type(problem_type, num_labels, integer)
    if problem_type == "regression":
        if num_labels == 1:
            loss = F.mse_loss(logits.squeeze(), labels.squeeze().to(logits.dtype))
        else:
            loss = F.mse_loss(logits, labels.to(logits.dtype))
    elif problem_type == "single_label_classification":
        loss = cross_entropy(logits, labels, num_labels)
    else:
        loss = F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
    return loss, problem_type


def multiple_choice_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return cross_entropy(logits, labels, logits.shape[-1])


def token_classification_loss(logits: torch.Tensor, labels: torch.Tensor, num_labels: int) -> torch.Tensor:
    return cross_entropy(logits, labels, num_labels)


def question_answering_loss(start_logits: torch.Tensor, end_logits: torch.Tensor, start_positions: torch.Tensor,
                            end_positions: torch.Tensor) -> torch.Tensor:
    """Mean of start and end cross entropies. Positions outside the sequence are clamped to ``seq_len`` and
    then ignored (transformers' rule), so answers truncated away do not count."""
    if start_positions.dim() > 1:
        start_positions = start_positions.squeeze(-1)
    if end_positions.dim() > 1:
        end_positions = end_positions.squeeze(-1)
    ignored = start_logits.shape[1]
    start_positions = start_positions.clamp(0, ignored).long()
    end_positions = end_positions.clamp(0, ignored).long()
    start = F.cross_entropy(start_logits, start_positions, ignore_index=ignored)
    end = F.cross_entropy(end_logits, end_positions, ignore_index=ignored)
    return (start + end) / 2
